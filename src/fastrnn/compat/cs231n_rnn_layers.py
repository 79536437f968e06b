"""The vanilla-RNN layers of CS231n assignment 3 (``cs231n/rnn_layers.py``) on fastrnn.

The assignment's layout: batch-first, row vectors, weights (in, out),

    x (N, T, D), h0 (N, H), h (N, T, H), Wx (D, H), Wh (H, H), b (H,)
    next_h = tanh(x @ Wx + prev_h @ Wh + b)

and its function names, arguments and returns. fastrnn's kernels are time-major with
(out, in) weights; the functions here transpose at the boundary (x -> (T, N, D),
Wx -> U = Wx.T, Wh -> W = Wh.T) and back.

Where the kernels are used:

- ``rnn_forward`` / ``rnn_backward`` run the whole sequence in one kernel call each
  (full BPTT, no truncation); ``rnn_step_forward`` / ``rnn_step_backward`` are the same
  kernels with T = 1, so the two pairs cannot disagree.
- ``word_embedding_*``, ``temporal_affine_*`` and ``temporal_softmax_loss`` are one
  gather, scatter-add or GEMM each, in NumPy: a kernel has nothing to win there. The
  kernels' embedding layout is (H, D), the transpose of the assignment's (V, D); and
  fastrnn's softmax_loss takes states, not scores (it computes V s_t + c itself). Fusing
  temporal_affine + temporal_softmax_loss + their backward into that kernel was measured
  (N=25, T=16, H=512, M=1004, 1 thread): 38 ms against 42 ms in float32, 83 against
  77 ms in float64, all of it in the same three GEMMs; not worth a function of its own.

Caches (the assignment leaves their contents to the implementer; pass them back
unchanged):

- ``rnn_step_forward``, ``rnn_forward``: fastrnn's ``RNNCache`` of the kernel call, in
  the kernels' layout: x (T, N, D) (T = 1 for a step), s0 = h0 (N, H), U = Wx.T, W = Wh.T,
  b, and the states s (T, N, H).
- ``word_embedding_forward``: (x, W).
- ``temporal_affine_forward``: (x, w, b, out).

dtypes: the RNN functions take float32 or float64 arrays, never mixed (TypeError naming
both), as everywhere in fastrnn, so the course's float32 model and its float64 gradient
checks both work; the NumPy layers follow NumPy's type promotion.
"""

from __future__ import annotations

import numpy as np

from .. import _contract, _fast
from .._contract import RNNCache

__all__ = [
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
    "temporal_softmax_loss",
    "word_embedding_backward",
    "word_embedding_forward",
]


def _rnn_arguments(x, h_name: str, h, Wx, Wh, b, x_letters: str) -> dict:
    """The arguments of a forward call, shapes checked in the assignment's letters and
    converted to one dtype (float32 or float64, C-contiguous)."""
    arrays, untyped = _contract.as_arrays(**{"x": x, h_name: h, "Wx": Wx, "Wh": Wh, "b": b})
    for name, a in arrays.items():
        if a is None:
            raise TypeError(f"{name} must be an array; got None")
    dtype = _contract.common_float_dtype(arrays, untyped)
    x = arrays["x"]
    if x.ndim != x_letters.count(",") + 1 or 0 in x.shape:
        raise ValueError(f"x must have shape {x_letters} with every size >= 1; got {x.shape}")
    N, D = x.shape[0], x.shape[-1]
    Wx = arrays["Wx"]
    if Wx.ndim != 2 or Wx.shape[0] != D or Wx.shape[1] == 0:
        raise ValueError(
            f"Wx must have shape (D, H) = ({D}, H) with H >= 1 to match x {x_letters} = "
            f"{x.shape}; got {Wx.shape}"
        )
    H = Wx.shape[1]
    expected = {h_name: ("(N, H)", (N, H)), "Wh": ("(H, H)", (H, H)), "b": ("(H,)", (H,))}
    for name, (letters, shape) in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} must have shape {letters} = {shape} to match x {x_letters} = "
                f"{x.shape} and Wx (D, H) = {Wx.shape}; got {arrays[name].shape}"
            )
    return {name: _contract.as_float(a, dtype) for name, a in arrays.items()}


def _upstream(d, name: str, cache, step: bool) -> np.ndarray:
    """The upstream gradient d, (N, H) for a step or (N, T, H) for a sequence, checked
    against the forward call of cache."""
    if not isinstance(cache, RNNCache):
        raise TypeError(
            f"cache must be the cache returned by the matching forward function; "
            f"got {type(cache).__name__}"
        )
    T, N, H = cache.s.shape
    letters, shape = ("(N, H)", (N, H)) if step else ("(N, T, H)", (N, T, H))
    d = np.asarray(d)
    if d.shape != shape:
        raise ValueError(
            f"{name} must have shape {letters} = {shape} like the forward call's output; "
            f"got {d.shape}"
        )
    dtype = cache.s.dtype
    if d.dtype.kind == "f" and d.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {d.dtype} but the forward call ran in {dtype}; "
            f"convert it with {name}.astype(np.{dtype})"
        )
    return d.astype(dtype, copy=False)


# ---- vanilla RNN ------------------------------------------------------------------------


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One step, next_h = tanh(x @ Wx + prev_h @ Wh + b).

    Parameters
    ----------
    x : array (N, D)
    prev_h : array (N, H)
    Wx : array (D, H)
    Wh : array (H, H)
    b : array (H,)

    Returns
    -------
    next_h : array (N, H)
    cache : RNNCache
        The T = 1 kernel call (see the module docstring).
    """
    a = _rnn_arguments(x, "prev_h", prev_h, Wx, Wh, b, "(N, D)")
    s, cache = _fast.rnn_forward(a["x"][None], a["prev_h"], a["Wx"].T, a["Wh"].T, a["b"])
    return s[0], cache


def rnn_step_backward(dnext_h, cache):
    """Backward of one step.

    Parameters
    ----------
    dnext_h : array (N, H)
        Gradient on next_h.
    cache : RNNCache
        From rnn_step_forward.

    Returns
    -------
    dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,) : arrays
    """
    dnext_h = _upstream(dnext_h, "dnext_h", cache, step=True)
    dx, dprev_h, dU, dW, db = _fast.rnn_backward(dnext_h[None], cache)
    return dx[0], dprev_h, np.ascontiguousarray(dU.T), np.ascontiguousarray(dW.T), db


def rnn_forward(x, h0, Wx, Wh, b):
    """The RNN over a whole sequence, one kernel call.

    Parameters
    ----------
    x : array (N, T, D)
        Batch-first inputs.
    h0 : array (N, H)
        Initial hidden state.
    Wx : array (D, H)
    Wh : array (H, H)
    b : array (H,)

    Returns
    -------
    h : array (N, T, H)
        h[:, t] is the hidden state after step t.
    cache : RNNCache
        The kernel call, time-major (see the module docstring).
    """
    a = _rnn_arguments(x, "h0", h0, Wx, Wh, b, "(N, T, D)")
    x_time_major = np.swapaxes(a["x"], 0, 1)  # (T, N, D), made contiguous by the kernel
    s, cache = _fast.rnn_forward(x_time_major, a["h0"], a["Wx"].T, a["Wh"].T, a["b"])
    return np.ascontiguousarray(np.swapaxes(s, 0, 1)), cache


def rnn_backward(dh, cache):
    """Full BPTT over the sequence of rnn_forward, one kernel call.

    Parameters
    ----------
    dh : array (N, T, H)
        The upstream gradient on every h[:, t] only; the gradient each step passes to
        the previous one is added here, as the assignment specifies.
    cache : RNNCache
        From rnn_forward.

    Returns
    -------
    dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,) : arrays
    """
    dh = _upstream(dh, "dh", cache, step=False)
    dx, dh0, dU, dW, db = _fast.rnn_backward(np.swapaxes(dh, 0, 1), cache)
    dx = np.ascontiguousarray(np.swapaxes(dx, 0, 1))
    return dx, dh0, np.ascontiguousarray(dU.T), np.ascontiguousarray(dW.T), db


# ---- word embedding ---------------------------------------------------------------------


def word_embedding_forward(x, W):
    """Look up word vectors: out[n, t] = W[x[n, t]].

    Parameters
    ----------
    x : int array (N, T)
        Word indices in [0, V).
    W : array (V, D)
        One row per word.

    Returns
    -------
    out : array (N, T, D)
    cache : (x, W)
    """
    x = np.asarray(x)
    W = np.asarray(W)
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    """Gradient of the lookup: dW[v] sums dout over every position holding word v.

    Parameters
    ----------
    dout : array (N, T, D)
    cache : (x, W)
        From word_embedding_forward.

    Returns
    -------
    dW : array (V, D)
    """
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)  # unbuffered: a word repeated in x accumulates every time
    return dW


# ---- temporal affine and softmax loss ---------------------------------------------------


def temporal_affine_forward(x, w, b):
    """The same affine map at every step: out[n, t] = x[n, t] @ w + b.

    Parameters
    ----------
    x : array (N, T, D)
    w : array (D, M)
    b : array (M,)

    Returns
    -------
    out : array (N, T, M)
    cache : (x, w, b, out)
    """
    N, T, D = x.shape
    out = (x.reshape(N * T, D) @ w + b).reshape(N, T, -1)  # one GEMM over every step
    return out, (x, w, b, out)


def temporal_affine_backward(dout, cache):
    """Backward of temporal_affine_forward.

    Parameters
    ----------
    dout : array (N, T, M)
    cache : (x, w, b, out)

    Returns
    -------
    dx (N, T, D), dw (D, M), db (M,) : arrays
        db sums over both N and T.
    """
    x, w, _, _ = cache
    N, T, D = x.shape
    dout_rows = dout.reshape(N * T, -1)
    dx = (dout_rows @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout_rows
    return dx, dw, dout_rows.sum(axis=0)


def temporal_softmax_loss(x, y, mask, verbose=False):
    """Masked softmax cross-entropy at every step, summed over time, averaged over N.

    loss = -sum over n, t of mask[n, t] * log softmax(x[n, t])[y[n, t]], divided by N
    (the batch size only, not the number of unmasked steps).

    Parameters
    ----------
    x : array (N, T, V)
        Scores.
    y : int array (N, T)
        Targets in [0, V).
    mask : bool array (N, T)
        Which steps count.
    verbose : bool
        Print the shape of the flattened gradient, as the assignment's version does.

    Returns
    -------
    loss : float
    dx : array (N, T, V)
        (softmax(x) - onehot(y)) * mask / N.
    """
    N, T, V = x.shape
    scores = x.reshape(N * T, V)
    rows = np.arange(N * T)
    targets = np.asarray(y).reshape(N * T)
    weights = np.asarray(mask).reshape(N * T)
    shifted = scores - scores.max(axis=1, keepdims=True)  # stable: exp never overflows
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.sum(weights * log_probabilities[rows, targets]) / N
    dx_rows = np.exp(log_probabilities)
    dx_rows[rows, targets] -= 1
    dx_rows *= (weights / N)[:, None].astype(dx_rows.dtype, copy=False)
    if verbose:
        print("dx_flat: ", dx_rows.shape)
    return float(loss), dx_rows.reshape(N, T, V)
