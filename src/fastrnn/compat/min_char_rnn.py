"""Andrej Karpathy's min-char-rnn (gist d4dee566867f8291f086), computed by fastrnn's kernels.

The gist's character-level model, in its column-vector shapes (V the vocabulary size,
H the hidden size):

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh),   x_t one-hot,   h_{-1} = hprev
    y_t = Why h_t + by,   p_t = softmax(y_t)

    Wxh (H, V), Whh (H, H), Why (V, H), bh (H, 1), by (V, 1), hprev and h (H, 1)

``lossFun`` is the gist's contract: the loss summed over the chunk, exact BPTT inside it,
no gradient into hprev (so consecutive chunks give truncated BPTT with the state carried
forward), every gradient clipped element-wise to [-5, 5]. ``adagrad_update`` is its update
statement and ``sample`` its sampler, consuming NumPy's global RandomState exactly as the
gist does, so a seeded run draws the same indices. Instead of Python loops over one-hot
vectors, ``lossFun`` is five kernel calls (embedding_forward, rnn_forward, softmax_loss
"sum", rnn_backward, embedding_backward).

Deliberate differences from the gist:

- The parameters are arguments, after the gist's own ones, instead of module globals:
  ``lossFun(inputs, targets, hprev, Wxh, Whh, Why, bh, by)`` and
  ``sample(h, seed_ix, n, Wxh, Whh, Why, bh, by)``.
- The softmax is max-shifted: the gist's exp(y) / sum(exp(y)) overflows to NaN once a
  logit exceeds about 709; below that the two agree to rounding.
- inputs and targets must have the same length and hold indices in [0, V).
- An empty chunk gives loss 0, zero gradients and a copy of hprev; the gist raises
  KeyError there (its backward pass starts from ``np.zeros_like(hs[0])``).

dtypes follow fastrnn's rule: float32 or float64 parameters, never mixed (TypeError).
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from .. import _contract, _fast
from ._indices import token_indices

__all__ = ["adagrad_update", "lossFun", "sample"]

CLIP = 5.0  # the gist clips every gradient element to [-CLIP, CLIP]
ADAGRAD_EPSILON = 1e-8  # inside the square root, as in the gist


class _Parameters(NamedTuple):
    """The model's arrays, checked and converted to one dtype, and its sizes."""

    Wxh: np.ndarray  # (H, V)
    Whh: np.ndarray  # (H, H)
    Why: np.ndarray  # (V, H)
    bh: np.ndarray  # (H, 1)
    by: np.ndarray  # (V, 1)
    h: np.ndarray  # (H, 1): hprev of lossFun, h of sample
    H: int
    V: int


def _check_parameters(h_name, h, Wxh, Whh, Why, bh, by) -> _Parameters:
    """The arrays as C-contiguous float32 or float64, shapes checked against Wxh (H, V)."""
    arrays, untyped = _contract.as_arrays(Wxh=Wxh, Whh=Whh, Why=Why, bh=bh, by=by, **{h_name: h})
    for name, a in arrays.items():
        if a is None:
            raise TypeError(f"{name} must be an array; got None")
    dtype = _contract.common_float_dtype(arrays, untyped)
    Wxh = arrays["Wxh"]
    if Wxh.ndim != 2 or 0 in Wxh.shape:
        raise ValueError(f"Wxh must have shape (H, V) with H, V >= 1; got {Wxh.shape}")
    H, V = Wxh.shape
    expected = {
        "Whh": ("(H, H)", (H, H)),
        "Why": ("(V, H)", (V, H)),
        "bh": ("(H, 1)", (H, 1)),
        "by": ("(V, 1)", (V, 1)),
        h_name: ("(H, 1)", (H, 1)),
    }
    for name, (letters, shape) in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} must have shape {letters} = {shape} to match Wxh (H, V) = {(H, V)}; "
                f"got {arrays[name].shape}"
            )
    converted = {name: _contract.as_float(a, dtype) for name, a in arrays.items()}
    return _Parameters(
        converted["Wxh"],
        converted["Whh"],
        converted["Why"],
        converted["bh"],
        converted["by"],
        converted[h_name],
        H,
        V,
    )


def _character_indices(values, name: str, V: int) -> np.ndarray:
    return token_indices(values, name, V, "V", "character")


def lossFun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """Loss and clipped gradients of one chunk, the gist's ``lossFun``.

    Parameters
    ----------
    inputs, targets : sequences of int, length T
        Character indices; targets[t] is the character after inputs[t].
    hprev : array (H, 1)
        State before the chunk; not modified, and receives no gradient.
    Wxh (H, V), Whh (H, H), Why (V, H), bh (H, 1), by (V, 1) : arrays
        The parameters.

    Returns
    -------
    loss : float
        sum over t of -log p_t[targets[t]] (summed over the chunk, not averaged).
    dWxh, dWhh, dWhy, dbh, dby : arrays
        Exact BPTT gradients of loss within the chunk, in the parameters' shapes, each
        clipped element-wise to [-5, 5].
    h : array (H, 1)
        The state after the last step (a copy of hprev for an empty chunk), to pass as
        the next chunk's hprev.
    """
    p = _check_parameters("hprev", hprev, Wxh, Whh, Why, bh, by)
    ids = _character_indices(inputs, "inputs", p.V)
    target_ids = _character_indices(targets, "targets", p.V)
    if len(ids) != len(target_ids):
        raise ValueError(
            "inputs and targets must have the same length; got "
            f"len(inputs) = {len(ids)}, len(targets) = {len(target_ids)}"
        )
    if len(ids) == 0:  # nothing to sum: loss 0, zero gradients, the state unchanged
        zeros = [np.zeros_like(a) for a in (p.Wxh, p.Whh, p.Why, p.bh, p.by)]
        return (0.0, *zeros, p.h.copy())

    ids, target_ids = ids[:, None], target_ids[:, None]  # (T, B=1)
    x = _fast.embedding_forward(ids, p.Wxh)  # (T, 1, H): Wxh x_t is the column Wxh[:, x_t]
    s, cache = _fast.rnn_forward(x, p.h.reshape(1, p.H), None, p.Whh, p.bh.reshape(p.H))
    out = _fast.softmax_loss(s, p.Why, p.by.reshape(p.V), target_ids, reduction="sum")
    grads = _fast.rnn_backward(out.ds, cache)  # full BPTT; grads.ds0 (into hprev) is dropped
    dWxh = _fast.embedding_backward(grads.dx, ids, p.V)
    gradients = [dWxh, grads.dW, out.dV, grads.db.reshape(p.H, 1), out.dc.reshape(p.V, 1)]
    for d in gradients:  # after the whole backward pass, as in the gist
        np.clip(d, -CLIP, CLIP, out=d)
    return (out.loss, *gradients, s[-1, 0].reshape(p.H, 1).copy())


def adagrad_update(params, grads, mems, learning_rate):
    """The gist's Adagrad step, in place: for each (param, dparam, mem),

        mem += dparam * dparam
        param += -learning_rate * dparam / sqrt(mem + 1e-8)

    Parameters
    ----------
    params, grads, mems : sequences of arrays, matched by position
        Typically [Wxh, Whh, Why, bh, by], the gradients from lossFun, and the squared
        gradient memories (zeros at the start). params and mems are updated in place.
    learning_rate : float
        0.1 in the gist.
    """
    params, grads, mems = list(params), list(grads), list(mems)
    if not len(params) == len(grads) == len(mems):
        raise ValueError(
            "params, grads and mems must have the same length; got "
            f"{len(params)}, {len(grads)} and {len(mems)}"
        )
    for param, dparam, mem in zip(params, grads, mems, strict=True):
        mem += dparam * dparam
        # The gist's expression, in its order: the same floats bit for bit.
        param += -learning_rate * dparam / np.sqrt(mem + ADAGRAD_EPSILON)


def sample(h, seed_ix, n, Wxh, Whh, Why, bh, by):
    """n character indices drawn from the model, the gist's ``sample``.

    Starting from state h, feeds seed_ix, draws the next index from p_t with
    ``np.random.choice`` (one uniform draw from NumPy's global RandomState per index, as
    in the gist, so the same seed gives the same indices), feeds it back, n times.

    Parameters
    ----------
    h : array (H, 1)
        Starting state; not modified.
    seed_ix : int
        The first input, in [0, V); not part of the result.
    n : int
        Number of indices to draw.
    Wxh (H, V), Whh (H, H), Why (V, H), bh (H, 1), by (V, 1) : arrays

    Returns
    -------
    list of int
        The n drawn indices.
    """
    p = _check_parameters("h", h, Wxh, Whh, Why, bh, by)
    ix = operator.index(seed_ix)
    if not 0 <= ix < p.V:
        raise ValueError(f"seed_ix = {ix} is not a character index in [0, V) = [0, {p.V})")
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be an int >= 0; got {n}")
    state = p.h.reshape(1, p.H)  # s0 (B=1, H); the caller's h is never written
    bh, by = p.bh.reshape(p.H), p.by.reshape(p.V)
    ixes = []
    for _ in range(n):
        x = _fast.embedding_forward(np.array([[ix]], dtype=np.int64), p.Wxh)  # (1, 1, H)
        s, _ = _fast.rnn_forward(x, state, None, p.Whh, bh, need_cache=False)
        probabilities = _fast.softmax_forward(s, p.Why, by)[0, 0]  # (V,)
        # The global legacy RandomState, as the gist (hence the noqa); choice(V, p) draws
        # like its choice(range(V), p): one uniform sample.
        ix = int(np.random.choice(p.V, p=probabilities))  # noqa: NPY002
        state = s[0]
        ixes.append(ix)
    return ixes
