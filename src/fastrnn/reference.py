"""The reference: vanilla RNN and BPTT in plain NumPy, the executable specification.

Every fast kernel in ``fastrnn`` is tested against the functions here, which are written
to be read against the math, not to be fast. When the two disagree, the kernel is
presumed wrong.

Legend (the article's notation): x inputs, s hidden states (s0 before step 0), U
input-to-hidden, W hidden-to-hidden, b bias; T steps, B batch rows, D input size, H hidden
size. Arrays are time-major: x (T, B, D), s (T, B, H); weights are (out, in): U (H, D),
W (H, H), so U x_t reads x[t] @ U.T when batched. Gradients are "d" + name.

    s_t = f(U x_t + W s_{t-1} + b),   f = tanh or relu,   s_{-1} = s0

The classes ``RNN``, ``LSTM``, ``GRU`` and ``RNNLM`` here are the same classes as
``fastrnn.RNN`` etc., bound to these kernels.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _contract, layers, lm
from ._contract import (
    GRUCache,
    GRUGrads,
    LSTMCache,
    LSTMGrads,
    RNNCache,
    RNNGrads,
    SoftmaxLoss,
)

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "RNNLM",
    "GRUCache",
    "GRUGrads",
    "LSTMCache",
    "LSTMGrads",
    "RNNCache",
    "RNNGrads",
    "SoftmaxLoss",
    "embedding_backward",
    "embedding_forward",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
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


def rnn_backward(ds, cache, *, truncate=None, ds_last=None):
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
    ds_last : array (B, H) or None
        More gradient on the final state s_{T-1} (a layer's dh_n), arriving with ds[-1]:
        the same as passing ds with ds[-1] + ds_last, without the caller's copy of ds.

    Returns
    -------
    RNNGrads (dx (T,B,D), ds0 (B,H), dU (H,D) or None, dW (H,H), db (H,) or None)
        dU is None when the forward call had U=None, db when it had b=None.
    """
    ds, cache, K = _contract.check_rnn_backward(ds, cache, truncate)
    ds_last = _contract.check_last_state_gradient("ds_last", ds_last, cache.s)
    if ds_last is not None:
        ds = ds.copy()
        ds[-1] += ds_last
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


def embedding_backward(dx, ids, D, *, out=None):
    """Gradient of embedding_forward: dx scatter-added into the columns of the ids.

    Parameters
    ----------
    dx : array (T, B, H)
        dL/dx, the gradient on the looked-up columns.
    ids : int array (T, B)
        The ids of the forward call, in [0, D).
    D : int
        The vocabulary size (U's second dimension).
    out : array (H, D) or None
        Written with dU (overwritten, not accumulated into) and returned: a caller that
        computes gradients repeatedly can reuse one array instead of a fresh one each
        call. C-contiguous, writeable, dx's dtype, sharing no memory with dx or ids.

    Returns
    -------
    dU : array (H, D)
        Repeated ids accumulate; columns of ids that never occur are zero.
    """
    dx, ids, D = _contract.check_embedding_backward(dx, ids, D)
    out = _contract.check_output(
        "out", out, (dx.shape[2], D), "(H, D)", dx.dtype, {"dx": dx, "ids": ids}
    )
    dU = np.zeros((dx.shape[2], D), dtype=dx.dtype)
    np.add.at(dU.T, ids, dx)  # dU.T[ids[t, n]] += dx[t, n], repeats included
    if out is None:
        return dU
    out[...] = dU
    return out


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


def softmax_loss(s, V, c, targets, mask=None, *, reduction="mean", dV_out=None):
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
    dV_out : array (K, H) or None
        Written with dV and returned as it (see embedding_backward's ``out``); sharing no
        memory with s, V, c, targets or mask.

    Returns
    -------
    SoftmaxLoss (loss float, ds (T,B,H), dV (K,H), dc (K,) or None)
        The loss is accumulated in float64; the gradients are exact and in s's dtype,
        zero in ds at masked steps. dc is None when c is None.
    """
    s, V, c, targets, mask, reduction = _contract.check_softmax_loss(
        s, V, c, targets, mask, reduction
    )
    inputs = {"s": s, "V": V, "c": c, "targets": targets, "mask": mask}
    dV_out = _contract.check_output("dV_out", dV_out, V.shape, "(K, H)", s.dtype, inputs)
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
    # dL/dz, exactly 0 at masked steps (selected, not multiplied, as in the kernel: a NaN
    # or Inf logit at a padded step stays out of dz)
    dz = np.where(keep[..., None], dz * s.dtype.type(scale), 0)
    K = V.shape[0]
    ds = dz @ V
    dV = dz.reshape(T * B, K).T @ s.reshape(T * B, H)
    if dV_out is not None:
        dV_out[...] = dV
        dV = dV_out
    dc = dz.sum(axis=(0, 1)) if c is not None else None
    return SoftmaxLoss(loss, ds, dV, dc)


# ---- LSTM and GRU (issue 4) -----------------------------------------------------------
#
# PyTorch's cells, gate order and weight layout: the gates' rows are stacked in U (G*H, D)
# and W (G*H, H), G = 4 for the LSTM (i, f, g, o) and 3 for the GRU (r, z, n), and both
# biases b_ih, b_hh (G*H,) are kept. sigma is the logistic sigmoid; a_* pre-activations.
#
#   LSTM  [i, f, g, o] = [sigma, sigma, tanh, sigma](U x_t + b_ih + W s_{t-1} + b_hh)
#         c_t = f * c_{t-1} + i * g,    s_t = o * tanh(c_t)
#   GRU   [r, z] = sigma(U_rz x_t + b_ih_rz + W_rz s_{t-1} + b_hh_rz)
#         n = tanh(U_n x_t + b_in + r * hn_t),    hn_t = W_n s_{t-1} + b_hn
#         s_t = (1 - z) * n + z * s_{t-1}


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)) without overflow: exp only ever sees -|a|."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _affine(v: np.ndarray, M: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """v @ M.T + b for a batch of row vectors v; b may be None, and M None means v is the
    product already (the input projection of an embedding lookup)."""
    Mv = v if M is None else v @ M.T
    return Mv if b is None else Mv + b


def _backpropagate(step_backward, injected: list, K: int | None, per_step: list) -> list:
    """BPTT over T steps for a cell whose step_backward(t, arriving) returns
    (grads_t, reaching): the gradients of step t's pre-activations and what reaches the
    states of step t-1, given the gradients ``arriving`` on the states of step t.

    injected: one (T, B, H) array per state (ds; and dc for the LSTM), the gradient
        injected at each step from outside the recurrence.
    K: None (full BPTT) or the window of rnn_backward: the gradient injected at step t
        flows back through at most K steps, reaching steps t..max(0, t-K), and the
        initial states only when the window reaches step 0.
    per_step: zero (T, ...) arrays, one per entry of grads_t; step t's grads are added
        into [t] of each.
    Returns the gradients on the initial states, one (B, H) array per state."""
    T = injected[0].shape[0]
    if K is None or K >= T - 1:
        reaching = [np.zeros_like(d[0]) for d in injected]
        for t in reversed(range(T)):
            arriving = [d[t] + r for d, r in zip(injected, reaching, strict=True)]
            grads_t, reaching = step_backward(t, arriving)
            for total, g in zip(per_step, grads_t, strict=True):
                total[t] += g
        return reaching
    initial = [np.zeros_like(d[0]) for d in injected]
    for t in reversed(range(T)):
        arriving = [d[t] for d in injected]  # the gradient injected at t
        for j in range(t, max(0, t - K) - 1, -1):  # the steps its window reaches
            grads_t, arriving = step_backward(j, arriving)
            for total, g in zip(per_step, grads_t, strict=True):
                total[j] += g
        if t - K <= 0:
            initial = [i + a for i, a in zip(initial, arriving, strict=True)]
    return initial


def _weight_and_input_grads(dgx, dgh, x, s0, s, U):
    """dU, dW, dx from the gradients of the pre-activations of every step, dgx (T, B, G*H)
    of U x_t + b_ih and dgh of W s_{t-1} + b_hh (the same array unless the cell scales
    W s_{t-1} + b_hh before adding it, as the GRU's n gate does). U None (x was the input
    projection itself): dU is None and dx is dgx."""
    s_prev = np.concatenate([s0[None], s[:-1]])  # s_{t-1} for every t, (T, B, H)
    dW = np.einsum("tbg,tbh->gh", dgh, s_prev)  # sum over t of dgh[t].T @ s_{t-1}
    if U is None:
        return None, dW, dgx.copy()
    dU = np.einsum("tbg,tbd->gd", dgx, x)  # sum over t of dgx[t].T @ x[t]
    dx = dgx @ U
    return dU, dW, dx


def lstm_forward(x, s0, c0, U, W, b_ih=None, b_hh=None, *, need_cache=True, last_c_only=False):
    """Run PyTorch's LSTM cell over T steps (equations above).

    Parameters
    ----------
    x : array (T, B, D)
    s0, c0 : array (B, H) or None
        Hidden and cell state before step 0; None means zeros.
    U : array (4H, D) or None
        Input-to-hidden weights of the gates i, f, g, o stacked (torch's weight_ih). None
        means x already holds the input projection U x_t, shape (T, B, 4H) (an embedding
        lookup, say); dU is then None.
    W : array (4H, H)
        Hidden-to-hidden weights, same order (torch's weight_hh).
    b_ih, b_hh : array (4H,) or None
        Both or neither.
    need_cache : bool
        False for inference: returns None instead of the cache backward needs.
    last_c_only : bool
        True: c is the last cell state c_T only (what a layer passes on), so that
        inference need not hold every step's (the C kernel then keeps two).

    Returns
    -------
    s : array (T, B, H)
        Every hidden state, in the inputs' dtype (float32 or float64).
    c : array (T, B, H), or (B, H) with last_c_only
        Every cell state, or the last one.
    cache : LSTMCache or None
    """
    x, s0, c0, U, W, b_ih, b_hh = _contract.check_lstm_forward(x, s0, c0, U, W, b_ih, b_hh)
    T, B, _ = x.shape
    H = W.shape[1]
    s = np.empty((T, B, H), dtype=x.dtype)
    c = np.empty_like(s)
    gates = np.empty((T, B, 4 * H), dtype=x.dtype)
    for t in range(T):
        s_prev, c_prev = (s[t - 1], c[t - 1]) if t > 0 else (s0, c0)
        a_i, a_f, a_g, a_o = np.split(_affine(x[t], U, b_ih) + _affine(s_prev, W, b_hh), 4, axis=1)
        i, f, g, o = _sigmoid(a_i), _sigmoid(a_f), np.tanh(a_g), _sigmoid(a_o)
        c[t] = f * c_prev + i * g
        s[t] = o * np.tanh(c[t])
        gates[t] = np.concatenate([i, f, g, o], axis=1)
    cache = LSTMCache(x, s0, c0, U, W, b_ih, b_hh, s, c, gates) if need_cache else None
    return s, c[-1].copy() if last_c_only else c, cache


def lstm_backward(ds, cache, *, dc=None, truncate=None, ds_last=None, dc_last=None):
    """Backpropagation through time for lstm_forward.

    Parameters
    ----------
    ds : array (T, B, H)
        dL/ds_t arriving at every step from outside the recurrence (the last entry is the
        gradient on the final hidden state).
    cache : LSTMCache
        From ``lstm_forward(..., need_cache=True)``.
    dc : array (T, B, H) or None
        dL/dc_t arriving at every step from outside the recurrence, usually zero but for
        the gradient on the final cell state; None means zeros.
    truncate : int K >= 0 or None
        None is full BPTT. K is the per-output window of ``rnn_backward``: what is
        injected at step t (ds[t] and dc[t]) flows back through at most K steps, reaching
        steps t..max(0, t-K), and s0, c0 only when the window reaches step 0. K >= T-1
        equals full BPTT.
    ds_last, dc_last : array (B, H) or None
        dL/ds_{T-1} and dL/dc_{T-1} on the final states, added to ds[-1] and dc[-1] (so
        that a caller need not copy ds to add them); None means zeros.

    Returns
    -------
    LSTMGrads (dx (T,B,D), ds0 (B,H), dc0 (B,H), dU (4H,D) or None, dW (4H,H), db_ih (4H,)
    or None, db_hh (4H,) or None)
        dU is None when the forward call had U=None (dx is then the gradient on the input
        projection), the bias gradients when it had no biases.
    """
    ds, dc, cache, K, ds_last, dc_last = _contract.check_lstm_backward(
        ds, dc, cache, truncate, ds_last, dc_last
    )
    x, s0, c0, U, W, b_ih, b_hh, s, c, gates = cache
    tanh_c = np.tanh(c)

    def step_backward(t, arriving):
        ds_t, dc_t = arriving
        i, f, g, o = np.split(gates[t], 4, axis=1)
        c_prev = c[t - 1] if t > 0 else c0
        dc_t = dc_t + ds_t * o * (1 - tanh_c[t] ** 2)  # through s_t = o * tanh(c_t)
        da_i = dc_t * g * i * (1 - i)  # through c_t = f * c_{t-1} + i * g
        da_f = dc_t * c_prev * f * (1 - f)
        da_g = dc_t * i * (1 - g**2)
        da_o = ds_t * tanh_c[t] * o * (1 - o)
        da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
        return [da], [da @ W, dc_t * f]  # what reaches s_{t-1} and c_{t-1}

    da = np.zeros_like(gates)  # dL/d(pre-activations) of every step, (T, B, 4H)
    injected = [ds, np.zeros_like(ds) if dc is None else dc]
    for k, last in enumerate([ds_last, dc_last]):
        if last is not None:
            injected[k] = injected[k].copy()
            injected[k][-1] += last
    ds0, dc0 = _backpropagate(step_backward, injected, K, [da])
    dU, dW, dx = _weight_and_input_grads(da, da, x, s0, s, U)
    db = None if b_ih is None else da.sum(axis=(0, 1))
    return LSTMGrads(dx, ds0, dc0, dU, dW, db, None if db is None else db.copy())


def gru_forward(x, s0, U, W, b_ih=None, b_hh=None, *, need_cache=True):
    """Run PyTorch's GRU cell over T steps (equations above).

    Parameters
    ----------
    x : array (T, B, D)
    s0 : array (B, H) or None
        State before step 0; None means zeros.
    U : array (3H, D) or None
        Input-to-hidden weights of the gates r, z, n stacked (torch's weight_ih). None
        means x already holds the input projection U x_t, shape (T, B, 3H); dU is then
        None.
    W : array (3H, H)
        Hidden-to-hidden weights, same order (torch's weight_hh).
    b_ih, b_hh : array (3H,) or None
        Both or neither; b_hn (the n block of b_hh) sits inside r * (W_n s_{t-1} + b_hn).
    need_cache : bool
        False for inference: returns None instead of the cache backward needs.

    Returns
    -------
    s : array (T, B, H)
        Every hidden state, in the inputs' dtype (float32 or float64).
    cache : GRUCache or None
    """
    x, s0, U, W, b_ih, b_hh = _contract.check_gru_forward(x, s0, U, W, b_ih, b_hh)
    T, B, _ = x.shape
    H = W.shape[1]
    s = np.empty((T, B, H), dtype=x.dtype)
    gates = np.empty((T, B, 3 * H), dtype=x.dtype)
    for t in range(T):
        s_prev = s[t - 1] if t > 0 else s0
        gx_r, gx_z, gx_n = np.split(_affine(x[t], U, b_ih), 3, axis=1)
        gh_r, gh_z, gh_n = np.split(_affine(s_prev, W, b_hh), 3, axis=1)
        r = _sigmoid(gx_r + gh_r)
        z = _sigmoid(gx_z + gh_z)
        n = np.tanh(gx_n + r * gh_n)
        s[t] = (1 - z) * n + z * s_prev
        gates[t] = np.concatenate([r, z, n], axis=1)
    cache = GRUCache(x, s0, U, W, b_ih, b_hh, s, gates) if need_cache else None
    return s, cache


def gru_backward(ds, cache, *, truncate=None, ds_last=None):
    """Backpropagation through time for gru_forward.

    Parameters
    ----------
    ds : array (T, B, H)
        dL/ds_t arriving at every step from outside the recurrence (the last entry is the
        gradient on the final state).
    cache : GRUCache
        From ``gru_forward(..., need_cache=True)``.
    truncate : int K >= 0 or None
        None is full BPTT; K the per-output window of ``rnn_backward`` (K >= T-1 equals
        full BPTT).
    ds_last : array (B, H) or None
        dL/ds_{T-1} on the final state, added to ds[-1] (so that a caller need not copy ds
        to add it); None means zeros.

    Returns
    -------
    GRUGrads (dx (T,B,D), ds0 (B,H), dU (3H,D) or None, dW (3H,H), db_ih (3H,) or None,
    db_hh (3H,) or None)
        dU is None when the forward call had U=None (dx is then the gradient on the input
        projection), the bias gradients when it had no biases.
    """
    ds, cache, K, ds_last = _contract.check_gru_backward(ds, cache, truncate, ds_last)
    x, s0, U, W, b_ih, b_hh, s, gates = cache
    # hn_t = W_n s_{t-1} + b_hn, which r multiplies, recomputed (the cache does not keep it)
    H = W.shape[1]
    s_prev_all = np.concatenate([s0[None], s[:-1]])
    hn = _affine(s_prev_all, W[2 * H :], None if b_hh is None else b_hh[2 * H :])

    def step_backward(t, arriving):
        (ds_t,) = arriving
        r, z, n = np.split(gates[t], 3, axis=1)
        s_prev = s[t - 1] if t > 0 else s0
        da_n = ds_t * (1 - z) * (1 - n**2)  # through s_t = (1 - z) * n + z * s_{t-1}
        da_z = ds_t * (s_prev - n) * z * (1 - z)
        da_r = da_n * hn[t] * r * (1 - r)  # through a_n = U_n x_t + b_in + r * hn_t
        dgx = np.concatenate([da_r, da_z, da_n], axis=1)  # of U x_t + b_ih
        dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)  # of W s_{t-1} + b_hh
        return [dgx, dgh], [ds_t * z + dgh @ W]  # what reaches s_{t-1}

    dgx = np.zeros_like(gates)  # (T, B, 3H)
    dgh = np.zeros_like(gates)
    if ds_last is not None:
        ds = ds.copy()
        ds[-1] += ds_last
    (ds0,) = _backpropagate(step_backward, [ds], K, [dgx, dgh])
    dU, dW, dx = _weight_and_input_grads(dgx, dgh, x, s0, s, U)
    if b_ih is None:
        return GRUGrads(dx, ds0, dU, dW, None, None)
    return GRUGrads(dx, ds0, dU, dW, dgx.sum(axis=(0, 1)), dgh.sum(axis=(0, 1)))


# ---- classes bound to these kernels ---------------------------------------------------

RNN = layers.bind(layers.RNNBase, sys.modules[__name__], __name__)
LSTM = layers.bind(layers.LSTMBase, sys.modules[__name__], __name__)
GRU = layers.bind(layers.GRUBase, sys.modules[__name__], __name__)
RNNLM = layers.bind(lm.RNNLMBase, sys.modules[__name__], __name__)
