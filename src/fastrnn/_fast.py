"""The fast functional API: the reference's signatures, computed by the C kernels.

Arguments go through the same checks as in ``fastrnn.reference`` (``_contract``), then
straight to the binding, which releases the GIL for the whole kernel call.
"""

from __future__ import annotations

import numpy as np

from . import _contract, _kernels
from ._contract import (
    GRUCache,
    GRUGrads,
    LSTMCache,
    LSTMGrads,
    RNNCache,
    RNNGrads,
    SoftmaxLoss,
)


def rnn_forward(x, s0, U, W, b=None, *, nonlinearity="tanh", need_cache=True):
    """Run s_t = f(U x_t + W s_{t-1} + b) over T steps (C kernel).

    Same contract as ``fastrnn.reference.rnn_forward``: x (T,B,D), s0 (B,H) or None,
    U (H,D) or None (x is then the input projection U x_t, (T,B,H)), W (H,H), b (H,) or
    None; returns s (T,B,H) and an RNNCache, or None with ``need_cache=False`` (inference
    keeps nothing for backward).
    """
    plain = _kernels.rnn_forward_plain(x, s0, U, W, b, nonlinearity)  # the common case
    if plain is None:
        x, s0, U, W, b = _contract.check_rnn_forward(x, s0, U, W, b, nonlinearity)
        s = _kernels.rnn_forward(x, s0, U, W, b, nonlinearity)
    else:
        s0, s = plain
    cache = RNNCache(x, s0, U, W, b, s, nonlinearity) if need_cache else None
    return s, cache


def rnn_backward(ds, cache, *, truncate=None, ds_last=None):
    """Backpropagation through time for rnn_forward (C kernel).

    Same contract as ``fastrnn.reference.rnn_backward``: ds (T,B,H) arriving at every
    step, the cache of the forward call, truncate None (full BPTT) or K >= 0 (per-output
    window), ds_last (B,H) or None more gradient on the final state (the kernel adds it,
    ds is not copied); returns RNNGrads (dx, ds0, dU, dW, db), dU None without U, db None
    without b.
    """
    grads = _kernels.rnn_backward_plain(ds, cache, truncate, ds_last)  # the common case
    if grads is None:
        ds, cache, K = _contract.check_rnn_backward(ds, cache, truncate)
        ds_last = _contract.check_last_state_gradient("ds_last", ds_last, cache.s)
        x, s0, U, W, b, s, nonlinearity = cache
        full = K is None or K >= x.shape[0] - 1  # also keeps a huge K out of int64
        grads = _kernels.rnn_backward(
            x, s0, U, W, s, ds, b is not None, nonlinearity, -1 if full else K, ds_last
        )
    return RNNGrads(*grads)


# ---- language-model kernels (issue 3) -------------------------------------------------


def embedding_forward(ids, U):
    """Token input x_t = U[:, ids_t] (C kernel).

    Same contract as ``fastrnn.reference.embedding_forward``: ids int (T,B) in [0, D),
    U (H,D); returns x (T,B,H) in U's dtype.
    """
    ids, U = _contract.check_embedding_forward(ids, U)
    return _kernels.embedding_forward(ids, U)


def embedding_backward(dx, ids, D, *, out=None):
    """Scatter-add of dx (T,B,H) into the columns of ids (T,B): dU (H,D) (C kernel).

    Same contract as ``fastrnn.reference.embedding_backward``, ``out`` included.
    """
    dx, ids, D = _contract.check_embedding_backward(dx, ids, D)
    out = _contract.check_output(
        "out", out, (dx.shape[2], D), "(H, D)", dx.dtype, {"dx": dx, "ids": ids}
    )
    return _kernels.embedding_backward(dx, ids, D, out)


def softmax_forward(s, V, c=None):
    """Probabilities o_t = softmax(V s_t + c), (T,B,K) (C kernel).

    Same contract as ``fastrnn.reference.softmax_forward``.
    """
    s, V, c = _contract.check_softmax(s, V, c)
    return _kernels.softmax_forward(s, V, c)


def softmax_loss(s, V, c, targets, mask=None, *, reduction="mean", dV_out=None):
    """Cross-entropy of softmax(V s_t + c) against targets, fused with its gradients
    (C kernel: one GEMM each for the logits, dV and ds; a few float64 rows against a
    large V in one fused pass over V).

    Same contract as ``fastrnn.reference.softmax_loss``: s (T,B,H), V (K,H), c (K,) or
    None, targets int (T,B) in [0, K), mask (T,B) of 0/1 or None, reduction "mean" (per
    unmasked target; 0 when all are masked) or "sum"; returns SoftmaxLoss(loss, ds, dV,
    dc) with the loss a float accumulated in float64, ``dV_out`` included.
    """
    s, V, c, targets, mask, reduction = _contract.check_softmax_loss(
        s, V, c, targets, mask, reduction
    )
    inputs = {"s": s, "V": V, "c": c, "targets": targets, "mask": mask}
    dV_out = _contract.check_output("dV_out", dV_out, V.shape, "(K, H)", s.dtype, inputs)
    loss, ds, dV, dc = _kernels.softmax_loss(s, V, c, targets, mask, reduction, dV_out)
    return SoftmaxLoss(loss, ds, dV, dc)


# ---- LSTM and GRU (issue 4) -----------------------------------------------------------


def _window(K: int | None, T: int) -> int:
    """The binding's truncate: -1 for full BPTT (None or K >= T-1, which also keeps a huge
    K out of int64), else K."""
    return -1 if K is None or K >= T - 1 else K


def lstm_forward(x, s0, c0, U, W, b_ih=None, b_hh=None, *, need_cache=True, last_c_only=False):
    """Run PyTorch's LSTM cell over T steps (C kernel).

    Same contract as ``fastrnn.reference.lstm_forward``: x (T,B,D), s0 and c0 (B,H) or
    None, U (4H,D) or None (x is then the input projection, (T,B,4H)), W (4H,H) with the
    gates i, f, g, o stacked, b_ih and b_hh (4H,) or None; returns s (T,B,H), c (T,B,H),
    or c_T (B,H) with ``last_c_only=True`` (then inference holds two (B,H) cell states,
    not T), and an LSTMCache, or None with ``need_cache=False``.
    """
    x, s0, c0, U, W, b_ih, b_hh = _contract.check_lstm_forward(x, s0, c0, U, W, b_ih, b_hh)
    s, c, gates = _kernels.lstm_forward(x, s0, c0, U, W, b_ih, b_hh, need_cache, last_c_only)
    cache = LSTMCache(x, s0, c0, U, W, b_ih, b_hh, s, c, gates) if need_cache else None
    if need_cache and last_c_only:  # the cache keeps every c; the caller gets a copy of c_T
        c = c[-1].copy()
    return s, c, cache


def lstm_backward(ds, cache, *, dc=None, truncate=None, ds_last=None, dc_last=None):
    """Backpropagation through time for lstm_forward (C kernel).

    Same contract as ``fastrnn.reference.lstm_backward``: ds (T,B,H) and dc (T,B,H) or
    None arriving at every step, the cache of the forward call, truncate None (full BPTT)
    or K >= 0 (per-output window), ds_last and dc_last (B,H) or None added at the last
    step; returns LSTMGrads (dx, ds0, dc0, dU, dW, db_ih, db_hh), dU None without U, the
    bias gradients None without biases.
    """
    ds, dc, cache, K, ds_last, dc_last = _contract.check_lstm_backward(
        ds, dc, cache, truncate, ds_last, dc_last
    )
    x, s0, c0, U, W, b_ih, b_hh, s, c, gates = cache
    dx, ds0, dc0, dU, dW, db = _kernels.lstm_backward(
        x, s0, c0, U, W, s, c, gates, ds, dc, b_ih is not None, _window(K, x.shape[0]),
        ds_last, dc_last,
    )  # fmt: skip
    return LSTMGrads(dx, ds0, dc0, dU, dW, db, None if db is None else db.copy())


def gru_forward(x, s0, U, W, b_ih=None, b_hh=None, *, need_cache=True):
    """Run PyTorch's GRU cell over T steps (C kernel).

    Same contract as ``fastrnn.reference.gru_forward``: x (T,B,D), s0 (B,H) or None,
    U (3H,D) or None (x is then the input projection, (T,B,3H)), W (3H,H) with the gates
    r, z, n stacked, b_ih and b_hh (3H,) or None; returns s (T,B,H) and a GRUCache, or
    None with ``need_cache=False``.
    """
    x, s0, U, W, b_ih, b_hh = _contract.check_gru_forward(x, s0, U, W, b_ih, b_hh)
    s, gates = _kernels.gru_forward(x, s0, U, W, b_ih, b_hh, need_cache)
    cache = GRUCache(x, s0, U, W, b_ih, b_hh, s, gates) if need_cache else None
    return s, cache


def gru_backward(ds, cache, *, truncate=None, ds_last=None):
    """Backpropagation through time for gru_forward (C kernel).

    Same contract as ``fastrnn.reference.gru_backward``: ds (T,B,H) arriving at every
    step, the cache of the forward call, truncate None or K >= 0, ds_last (B,H) or None
    added at the last step; returns GRUGrads
    (dx, ds0, dU, dW, db_ih, db_hh), dU None without U, the bias gradients None without
    biases.
    """
    ds, cache, K, ds_last = _contract.check_gru_backward(ds, cache, truncate, ds_last)
    x, s0, U, W, _, b_hh, s, gates = cache
    dx, ds0, dU, dW, db_ih, db_hh = _kernels.gru_backward(
        x, s0, U, W, b_hh, s, gates, ds, _window(K, x.shape[0]), ds_last
    )
    return GRUGrads(dx, ds0, dU, dW, db_ih, db_hh)


# ---- generation (issue 7) --------------------------------------------------------------


def sample_tokens(cell, nonlinearity, weights, V, c, state, prime, uniforms, top_k=None):
    """Run the prime, then draw ``len(uniforms)`` tokens of one stream, in one C call:
    ``RNNLM.sample``'s loop (softmax, inverse-CDF draw, one step per token) for the C
    kernels.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    nonlinearity : {"tanh", "relu"}
        The vanilla RNN's.
    weights : list of (U, W, b_ih, b_hh), one per layer
        As ``RNNLM._layer`` gives them but with layer 0's U the embedding (G*H, K); the
        biases None without bias; the vanilla RNN's b_ih is the sum b_ih + b_hh, b_hh None.
    V : array (K, H), c : array (K,) or None
        The output layer, already divided by the temperature.
    state : tuple of arrays (num_layers, 1, H)
        (h,), or the LSTM's (h, c): the state before the prime.
    prime : int array (P,) or None
        Token ids in [0, K) run first, as ``RNNLM._run`` runs them (None: the state's top
        layer gives the first token).
    uniforms : float64 array (length,)
        One uniform in [0, 1) per token, as ``rng.random()`` would give them one by one.
    top_k : int >= 1 or None

    Returns
    -------
    ids : int64 array (length,), of which the first ``drawn`` entries are drawn
    drawn : int
        Fewer than length when the kernel left token ``drawn`` to ``lm.draw`` (non-finite
        probabilities, or a top_k cut inside a tie of probabilities).
    probs : array (K,)
        The probabilities of the last token considered (of token ``drawn`` when it
        stopped early), bit for bit those of ``softmax_forward``.
    state : tuple of arrays (num_layers, 1, H)
        New arrays: the state that gave ``probs``.
    """
    dtype = V.dtype
    arrays = [V, c, *state] + [a for layer in weights for a in layer]
    for a in arrays:
        if a is not None and a.dtype != dtype:
            raise TypeError(f"every weight and state must be {dtype}; got one of {a.dtype}")
    U, W, b_ih, b_hh = ([_contiguous(layer[i]) for layer in weights] for i in range(4))
    uniforms = np.ascontiguousarray(uniforms, dtype=np.float64)
    ids, drawn, probs, h_n, c_n = _kernels.generate(
        cell,
        nonlinearity,
        U,
        W,
        None if b_ih[0] is None else b_ih,
        None if b_hh[0] is None else b_hh,
        _contiguous(V),
        _contiguous(c),
        _contiguous(state[0]),
        _contiguous(state[1]) if len(state) > 1 else None,
        None if prime is None else np.ascontiguousarray(prime, dtype=np.int64),
        uniforms,
        top_k,
    )
    return ids, drawn, probs, (h_n,) if c_n is None else (h_n, c_n)


def _contiguous(a):
    return None if a is None else np.ascontiguousarray(a)
