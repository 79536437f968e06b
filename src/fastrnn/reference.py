"""The reference: vanilla RNN and BPTT in plain NumPy, the executable specification.

Every fast kernel in ``fastrnn`` is tested against the functions here, which are written
to be read against the math, not to be fast. When the two disagree, the kernel is
presumed wrong.

Legend (the article's notation): x inputs, s hidden states (s0 before step 0), U
input-to-hidden, W hidden-to-hidden, b bias; T steps, B batch rows, D input size, H hidden
size. Arrays are time-major: x (T, B, D), s (T, B, H); weights are (out, in): U (H, D),
W (H, H), so U x_t reads x[t] @ U.T when batched. Gradients are "d" + name.

    s_t = f(U x_t + W s_{t-1} + b),   f = tanh or relu,   s_{-1} = s0

The layer class ``RNN`` here is the same class as ``fastrnn.RNN``, bound to these kernels.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _contract, layers
from ._contract import RNNCache, RNNGrads, SoftmaxLoss

__all__ = [
    "RNN",
    "RNNCache",
    "RNNGrads",
    "rnn_backward",
    "rnn_forward",
    # language-model kernels (issue 3)
    "SoftmaxLoss",
    "embedding_backward",
    "embedding_forward",
    "softmax_forward",
    "softmax_loss",
]


def _activation(nonlinearity: str, a: np.ndarray) -> np.ndarray:
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


def _derivative(nonlinearity: str, s: np.ndarray) -> np.ndarray:
    """f'(a) written through the output s = f(a)."""
    if nonlinearity == "tanh":
        return 1 - s**2
    return (s > 0).astype(s.dtype)


def rnn_forward(x, s0, U, W, b=None, *, nonlinearity="tanh", need_cache=True):
    """Run s_t = f(U x_t + W s_{t-1} + b) over T steps.

    Parameters
    ----------
    x : array (T, B, D)
    s0 : array (B, H) or None
        State before step 0; None means zeros.
    U : array (H, D) or None
        None means x already holds the input projection U x_t, shape (T, B, H) (an
        embedding lookup, say); dU is then None.
    W : array (H, H)
    b : array (H,) or None
    nonlinearity : {"tanh", "relu"}
    need_cache : bool
        False for inference: returns None instead of the cache backward needs.

    Returns
    -------
    s : array (T, B, H)
        Every hidden state, in the inputs' dtype (float32 or float64).
    cache : RNNCache or None
    """
    x, s0, U, W, b = _contract.check_rnn_forward(x, s0, U, W, b, nonlinearity)
    T, B, _ = x.shape
    H = W.shape[0]
    s = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        s_prev = s[t - 1] if t > 0 else s0
        Ux_t = x[t] @ U.T if U is not None else x[t]
        a = Ux_t + s_prev @ W.T
        if b is not None:
            a += b
        s[t] = _activation(nonlinearity, a)
    cache = RNNCache(x, s0, U, W, b, s, nonlinearity) if need_cache else None
    return s, cache


def rnn_backward(ds, cache, *, truncate=None):
    """Backpropagation through time for rnn_forward.

    Parameters
    ----------
    ds : array (T, B, H)
        dL/ds_t arriving at every step from above (the last entry is the gradient on
        the final state).
    cache : RNNCache
        From ``rnn_forward(..., need_cache=True)``.
    truncate : int K >= 0 or None
        None is full BPTT. K is the per-output window of the classic tutorial: the
        gradient injected at step t flows back through at most K applications of W,
        reaching steps t, t-1, ..., max(0, t-K) (and s0 only when the window reaches
        step 0). K >= T-1 equals full BPTT.

    Returns
    -------
    RNNGrads (dx (T,B,D), ds0 (B,H), dU (H,D) or None, dW (H,H), db (H,) or None)
        dU is None when the forward call had U=None, db when it had b=None.
    """
    ds, cache, K = _contract.check_rnn_backward(ds, cache, truncate)
    x, s0, U, W, b, s, nonlinearity = cache
    T = x.shape[0]
    dx = np.zeros_like(x)
    ds0 = np.zeros_like(s0)
    dU = np.zeros_like(U) if U is not None else None
    dW = np.zeros_like(W)
    db = np.zeros(W.shape[0], dtype=x.dtype)

    if K is None or K >= T - 1:
        ds_next = np.zeros_like(s0)  # what reaches s_t from step t+1
        for t in reversed(range(T)):
            s_prev = s[t - 1] if t > 0 else s0
            da = (ds[t] + ds_next) * _derivative(nonlinearity, s[t])  # through f
            if U is not None:
                dU += da.T @ x[t]
            dW += da.T @ s_prev
            db += da.sum(axis=0)
            dx[t] = da @ U if U is not None else da
            ds_next = da @ W
        ds0 = ds_next
    else:
        for t in reversed(range(T)):
            da = ds[t] * _derivative(nonlinearity, s[t])  # the gradient injected at t
            for j in range(t, max(0, t - K) - 1, -1):  # the steps its window reaches
                s_prev = s[j - 1] if j > 0 else s0
                if U is not None:
                    dU += da.T @ x[j]
                dW += da.T @ s_prev
                db += da.sum(axis=0)
                dx[j] += da @ U if U is not None else da
                if j > 0:
                    da = (da @ W) * _derivative(nonlinearity, s[j - 1])
                else:
                    ds0 += da @ W
    return RNNGrads(dx, ds0, dU, dW, db if b is not None else None)


# ---- language-model layers (issue 3) ------------------------------------------------


def embedding_forward(ids, U):
    """Token input: the columns of U for the ids, x_t = U[:, ids_t] (a one-hot times U).

    Parameters
    ----------
    ids : int array (T, B)
        Token ids in [0, D).
    U : array (H, D)
        Input weights over a vocabulary of D tokens.

    Returns
    -------
    x : array (T, B, H)
        The input projections U x_t, time-major, in U's dtype.
    """
    ids, U = _contract.check_embedding_forward(ids, U)
    return U.T[ids]


def embedding_backward(dx, ids, D):
    """Gradient of embedding_forward: dx scatter-added into the columns of the ids.

    Parameters
    ----------
    dx : array (T, B, H)
        dL/dx, the gradient on the looked-up columns.
    ids : int array (T, B)
        The ids of the forward call, in [0, D).
    D : int
        The vocabulary size (U's second dimension).

    Returns
    -------
    dU : array (H, D)
        Repeated ids accumulate; columns of ids that never occur are zero.
    """
    dx, ids, D = _contract.check_embedding_backward(dx, ids, D)
    dU = np.zeros((dx.shape[2], D), dtype=dx.dtype)
    np.add.at(dU.T, ids, dx)  # dU.T[ids[t, n]] += dx[t, n], repeats included
    return dU


def _logits(s, V, c):
    """z_t = V s_t + c for every step, (T, B, K), max-shifted row by row: exp(z) cannot
    overflow and softmax(z) is unchanged."""
    z = s @ V.T
    if c is not None:
        z += c
    return z - z.max(axis=-1, keepdims=True)


def softmax_forward(s, V, c=None):
    """Output probabilities o_t = softmax(V s_t + c) at every step.

    Parameters
    ----------
    s : array (T, B, H)
    V : array (K, H)
    c : array (K,) or None

    Returns
    -------
    probs : array (T, B, K)
        Each row sums to one.
    """
    s, V, c = _contract.check_softmax(s, V, c)
    e = np.exp(_logits(s, V, c))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_loss(s, V, c, targets, mask=None, *, reduction="mean"):
    """Cross-entropy of o_t = softmax(V s_t + c) against the targets, with its gradients.

        loss = -sum_{t,n} mask[t,n] * log o_t[n, targets[t,n]] / N

    N is the number of unmasked targets for ``reduction="mean"`` (a per-token loss that
    does not depend on batch size or sequence length, like torch's CrossEntropyLoss), 1
    for ``"sum"`` (the classic tutorials' total). With every target masked the mean is 0,
    with zero gradients.

    Parameters
    ----------
    s : array (T, B, H)
    V : array (K, H)
    c : array (K,) or None
    targets : int array (T, B)
        Class ids in [0, K) (masked entries too).
    mask : array (T, B) of 0/1 or bool, or None
        0 drops a step of a row from the loss (padding, or every step but the last for a
        many-to-one model); None counts every step.
    reduction : {"mean", "sum"}

    Returns
    -------
    SoftmaxLoss (loss float, ds (T,B,H), dV (K,H), dc (K,) or None)
        The loss is accumulated in float64; the gradients are exact and in s's dtype,
        zero in ds at masked steps. dc is None when c is None.
    """
    s, V, c, targets, mask, reduction = _contract.check_softmax_loss(
        s, V, c, targets, mask, reduction
    )
    T, B, H = s.shape
    keep = np.ones((T, B), dtype=bool) if mask is None else mask.astype(bool)
    count = int(keep.sum())
    scale = 1.0 if reduction == "sum" else (1.0 / count if count else 0.0)
    z = _logits(s, V, c)
    log_norm = np.log(np.exp(z).sum(axis=-1))  # log sum_j exp(z_j), (T, B)
    z_target = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    loss = scale * float(np.sum(np.where(keep, log_norm - z_target, 0), dtype=np.float64))
    dz = np.exp(z - log_norm[..., None])  # o_t
    dz[np.arange(T)[:, None], np.arange(B), targets] -= 1  # o_t - onehot(target)
    dz *= np.where(keep, scale, 0).astype(s.dtype)[..., None]  # dL/dz
    K = V.shape[0]
    ds = dz @ V
    dV = dz.reshape(T * B, K).T @ s.reshape(T * B, H)
    dc = dz.sum(axis=(0, 1)) if c is not None else None
    return SoftmaxLoss(loss, ds, dV, dc)


# ---- LSTM and GRU (issue 4) -----------------------------------------------------------

# ---- classes bound to these kernels ---------------------------------------------------

RNN = layers.bind(layers.RNNBase, sys.modules[__name__], __name__)
