"""fastrnn.compat.cs231n_rnn_layers against the assignment's semantics.

Two independent oracles (_compat_oracles.py): the assignment's step functions and the
sequence functions built from them by looping over time (the way the assignment asks
for them), and the course's own finite-difference helpers with its thresholds.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _compat_oracles import (
    assignment_rnn_backward,
    assignment_rnn_forward,
    assignment_rnn_step_backward,
    assignment_rnn_step_forward,
    assignment_temporal_softmax_loss,
    assignment_word_embedding_backward,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from numpy.testing import assert_allclose, assert_array_equal

from fastrnn.compat import cs231n_rnn_layers as layers

TOL = dict(rtol=1e-10, atol=1e-12)
N, T, D, H = 3, 5, 4, 6  # batch, steps, input size, hidden size
NUMERICAL = 1e-7  # the notebook expects relative errors around 1e-8 or below


def rnn_problem(seed=0, dtype=np.float64):
    """x (N,T,D), h0 (N,H), Wx (D,H), Wh (H,H), b (H,) and an upstream dh (N,T,H)."""
    rng = np.random.default_rng(seed)
    p = {
        "x": rng.standard_normal((N, T, D)),
        "h0": rng.standard_normal((N, H)),
        "Wx": rng.standard_normal((D, H)) / np.sqrt(D),
        "Wh": rng.standard_normal((H, H)) / np.sqrt(H),
        "b": 0.1 * rng.standard_normal(H),
        "dh": rng.standard_normal((N, T, H)),
    }
    return {name: a.astype(dtype) for name, a in p.items()}


FORWARD_ARGS = ("x", "h0", "Wx", "Wh", "b")


# ---- vanilla RNN -------------------------------------------------------------------------


def test_rnn_step_matches_the_assignment():
    p = rnn_problem()
    x, prev_h, dnext_h = p["x"][:, 0], p["h0"], p["dh"][:, 0]
    next_h, cache = layers.rnn_step_forward(x, prev_h, p["Wx"], p["Wh"], p["b"])
    next_h_want, cache_want = assignment_rnn_step_forward(x, prev_h, p["Wx"], p["Wh"], p["b"])
    assert next_h.shape == (N, H)
    assert_allclose(next_h, next_h_want, **TOL)
    got = layers.rnn_step_backward(dnext_h, cache)
    want = assignment_rnn_step_backward(dnext_h, cache_want)
    for name, g, w in zip(("dx", "dprev_h", "dWx", "dWh", "db"), got, want, strict=True):
        assert g.shape == w.shape, name
        assert_allclose(g, w, **TOL, err_msg=name)


def test_rnn_step_backward_numerically():
    """The notebook's check: each gradient against eval_numerical_gradient_array."""
    p = rnn_problem(seed=1)
    args = {"x": p["x"][:, 0], "prev_h": p["h0"], "Wx": p["Wx"], "Wh": p["Wh"], "b": p["b"]}
    dnext_h = p["dh"][:, 0]
    _, cache = layers.rnn_step_forward(**args)
    grads = dict(
        zip(("x", "prev_h", "Wx", "Wh", "b"), layers.rnn_step_backward(dnext_h, cache), strict=True)
    )
    for name, a in args.items():

        def f(value, name=name):
            return layers.rnn_step_forward(**{**args, name: value})[0]

        numerical = eval_numerical_gradient_array(f, a.copy(), dnext_h)
        assert rel_error(grads[name], numerical) < NUMERICAL, name


def test_rnn_forward_backward_match_the_step_loop():
    p = rnn_problem()
    h, cache = layers.rnn_forward(*(p[k] for k in FORWARD_ARGS))
    h_want, caches = assignment_rnn_forward(*(p[k] for k in FORWARD_ARGS))
    assert h.shape == (N, T, H) and h.flags.c_contiguous
    assert_allclose(h, h_want, **TOL)
    got = layers.rnn_backward(p["dh"], cache)
    want = assignment_rnn_backward(p["dh"], caches)
    for name, g, w in zip(("dx", "dh0", "dWx", "dWh", "db"), got, want, strict=True):
        assert g.shape == w.shape and g.flags.c_contiguous, name
        assert_allclose(g, w, **TOL, err_msg=name)


def test_rnn_backward_numerically():
    """Full BPTT: every gradient against the course's finite differences."""
    p = rnn_problem(seed=2)
    args = {k: p[k] for k in FORWARD_ARGS}
    _, cache = layers.rnn_forward(**args)
    grads = dict(zip(FORWARD_ARGS, layers.rnn_backward(p["dh"], cache), strict=True))
    for name, a in args.items():

        def f(value, name=name):
            return layers.rnn_forward(**{**args, name: value})[0]

        numerical = eval_numerical_gradient_array(f, a.copy(), p["dh"])
        assert rel_error(grads[name], numerical) < NUMERICAL, name


def test_rnn_float32_stays_float32():
    p = rnn_problem(dtype=np.float32)
    h, cache = layers.rnn_forward(*(p[k] for k in FORWARD_ARGS))
    grads = layers.rnn_backward(p["dh"], cache)
    assert h.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    p64 = {k: a.astype(np.float64) for k, a in p.items()}
    assert_allclose(
        h, assignment_rnn_forward(*(p64[k] for k in FORWARD_ARGS))[0], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            {"Wx": np.zeros((D + 1, H))},
            ValueError,
            f"Wx must have shape (D, H) = ({D}, H) with H >= 1 to match x (N, T, D) = "
            f"({N}, {T}, {D}); got ({D + 1}, {H})",
        ),
        ({"h0": np.zeros((N + 1, H))}, ValueError, f"h0 must have shape (N, H) = ({N}, {H})"),
        ({"b": np.zeros(H + 1)}, ValueError, f"b must have shape (H,) = ({H},)"),
        ({"x": np.zeros((N, D))}, ValueError, "x must have shape (N, T, D)"),
        (
            {"Wh": np.zeros((H, H), dtype=np.float32)},
            TypeError,
            "x has dtype float64 but Wh has dtype float32",
        ),
    ],
)
def test_rnn_forward_bad_arguments(change, error, message):
    args = {k: rnn_problem()[k] for k in FORWARD_ARGS}
    with pytest.raises(error, match=re.escape(message)):
        layers.rnn_forward(**{**args, **change})


def test_rnn_backward_bad_upstream():
    p = rnn_problem()
    _, cache = layers.rnn_forward(*(p[k] for k in FORWARD_ARGS))
    with pytest.raises(
        ValueError, match=re.escape(f"dh must have shape (N, T, H) = ({N}, {T}, {H})")
    ):
        layers.rnn_backward(p["dh"][:, :-1], cache)
    with pytest.raises(TypeError, match="dh has dtype float32 but the forward call ran in float64"):
        layers.rnn_backward(p["dh"].astype(np.float32), cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by"):
        layers.rnn_backward(p["dh"], None)


# ---- word embedding ----------------------------------------------------------------------


def test_word_embedding():
    rng = np.random.default_rng(3)
    vocabulary, wordvec = 7, 4
    x = rng.integers(0, vocabulary, size=(N, T))
    x[0, :3] = 2  # a repeated word must accumulate
    W = rng.standard_normal((vocabulary, wordvec))
    out, cache = layers.word_embedding_forward(x, W)
    assert out.shape == (N, T, wordvec)
    assert_array_equal(out, np.stack([[W[x[n, t]] for t in range(T)] for n in range(N)]))
    dout = rng.standard_normal(out.shape)
    dW = layers.word_embedding_backward(dout, cache)
    assert_allclose(dW, assignment_word_embedding_backward(dout, x, vocabulary), **TOL)
    numerical = eval_numerical_gradient_array(
        lambda value: layers.word_embedding_forward(x, value)[0], W.copy(), dout
    )
    assert rel_error(dW, numerical) < NUMERICAL


# ---- temporal affine and softmax loss ----------------------------------------------------


def test_temporal_affine():
    rng = np.random.default_rng(4)
    M = 7
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    out, cache = layers.temporal_affine_forward(x, w, b)
    assert out.shape == (N, T, M)
    assert_allclose(out, np.einsum("ntd,dm->ntm", x, w) + b, **TOL)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.temporal_affine_backward(dout, cache)
    for name, a, g in (("x", x, dx), ("w", w, dw), ("b", b, db)):
        args = {"x": x, "w": w, "b": b}

        def f(value, name=name, args=args):
            return layers.temporal_affine_forward(**{**args, name: value})[0]

        assert g.shape == a.shape, name
        assert rel_error(g, eval_numerical_gradient_array(f, a.copy(), dout)) < NUMERICAL, name


def softmax_problem(seed=5, M=9):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, M))
    y = rng.integers(0, M, size=(N, T))
    mask = rng.random((N, T)) > 0.3
    mask[0, 0], mask[1, 0] = True, False  # both kinds present whatever the seed
    return x, y, mask


def test_temporal_softmax_loss():
    x, y, mask = softmax_problem()
    loss, dx = layers.temporal_softmax_loss(x, y, mask)
    loss_want, dx_want = assignment_temporal_softmax_loss(x, y, mask)
    assert isinstance(loss, float) and dx.shape == x.shape
    assert_allclose(loss, loss_want, **TOL)
    assert_allclose(dx, dx_want, **TOL)
    assert_array_equal(dx[~mask], 0.0)
    numerical = eval_numerical_gradient(
        lambda value: layers.temporal_softmax_loss(value, y, mask)[0], x.copy()
    )
    assert rel_error(dx, numerical) < NUMERICAL


@pytest.mark.parametrize(
    "N_, T_, keep, expected", [(100, 1, 1.0, 2.3), (100, 10, 1.0, 23.0), (5000, 10, 0.1, 2.3)]
)
def test_temporal_softmax_loss_sanity(N_, T_, keep, expected):
    """The notebook's sanity checks: tiny random scores over 10 classes give log(10) per
    unmasked step, summed over time and averaged over the batch only."""
    rng = np.random.default_rng(6)
    x = 0.001 * rng.standard_normal((N_, T_, 10))
    y = rng.integers(0, 10, size=(N_, T_))
    mask = rng.random((N_, T_)) <= keep
    loss, _ = layers.temporal_softmax_loss(x, y, mask)
    assert abs(loss - expected) < 0.05 * expected


def test_temporal_softmax_loss_verbose(capsys):
    x, y, mask = softmax_problem()
    layers.temporal_softmax_loss(x, y, mask, verbose=True)
    assert capsys.readouterr().out == f"dx_flat:  ({N * T}, {x.shape[2]})\n"
