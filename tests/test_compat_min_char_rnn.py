"""fastrnn.compat.min_char_rnn against an independent implementation of Karpathy's gist.

The oracles (``gist_lossFun``, ``gist_sample``, ``gist_adagrad`` in _compat_oracles.py)
run the gist's loops over one-hot column vectors in float64. lossFun must agree to
~1e-10 with clipping idle and active, sample must draw the same indices from the same
seed and leave the global RandomState in the same place, and the Adagrad update must be
the gist's statement bit for bit; a short run of the gist's main loop ties them together.
"""

# The legacy np.random calls are the point: the gist draws from NumPy's
# global legacy RandomState.
# ruff: noqa: NPY002

from __future__ import annotations

import re

import numpy as np
import pytest
from _compat_oracles import gist_adagrad, gist_lossFun, gist_sample
from numpy.testing import assert_allclose, assert_array_equal

from fastrnn.compat.min_char_rnn import adagrad_update, lossFun, sample

TOL = dict(rtol=1e-10, atol=1e-12)
H, V = 11, 13  # hidden size, vocabulary size: small and odd
PARAMETER_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


@pytest.fixture(autouse=True)
def global_random_state():
    """sample draws from NumPy's global RandomState: leave it as it was found."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def gist_parameters(seed=0, scale=1.0):
    """The gist's initialization (randn * 0.01 in the order Wxh, Whh, Why, zero biases)
    from a seeded global RandomState, the weights times scale; hprev random (H, 1)."""
    np.random.seed(seed)
    Wxh = np.random.randn(H, V) * 0.01 * scale
    Whh = np.random.randn(H, H) * 0.01 * scale
    Why = np.random.randn(V, H) * 0.01 * scale
    bh = 0.1 * np.random.randn(H, 1)
    by = 0.1 * np.random.randn(V, 1)
    hprev = 0.5 * np.random.randn(H, 1)
    return [Wxh, Whh, Why, bh, by], hprev


def chunk(T=25, seed=0):
    """Inputs and targets of T characters (the gist's seq_length is 25), with repeats."""
    text = np.random.default_rng(seed).integers(0, V, size=T + 1)
    return [int(c) for c in text[:-1]], [int(c) for c in text[1:]]


def assert_same_result(got, want, tol=TOL):
    loss, *grads, h = got
    loss_want, *grads_want, h_want = want
    assert isinstance(loss, float)
    assert_allclose(loss, loss_want, **tol, err_msg="loss")
    for name, g, g_want in zip(PARAMETER_NAMES, grads, grads_want, strict=True):
        assert g.shape == g_want.shape, f"d{name} shape"
        assert_allclose(g, g_want, **tol, err_msg=f"d{name}")
    assert h.shape == (H, 1)
    assert_allclose(h, h_want, **tol, err_msg="h")


# ---- lossFun -----------------------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 25])
def test_lossFun_matches_the_gist(T):
    params, hprev = gist_parameters(scale=30.0)  # weights large enough to matter
    inputs, targets = chunk(T)
    raw = gist_lossFun(inputs, targets, hprev, *params, clip=False)
    assert all(np.abs(g).max() < 5 for g in raw[1:6]), "clipping must be idle here"
    assert_same_result(lossFun(inputs, targets, hprev, *params), raw)


def test_lossFun_clips_like_the_gist():
    params, hprev = gist_parameters(scale=300.0)
    params[2] *= 10.0  # large logits: large output-layer gradients
    inputs, targets = chunk(25, seed=1)
    raw = gist_lossFun(inputs, targets, hprev, *params, clip=False)
    clipped_names = [
        n for n, g in zip(PARAMETER_NAMES, raw[1:6], strict=True) if np.abs(g).max() > 5
    ]
    assert len(clipped_names) >= 2, "clipping must act on several gradients here"
    got = lossFun(inputs, targets, hprev, *params)
    assert_same_result(got, gist_lossFun(inputs, targets, hprev, *params))
    for g in got[1:6]:
        assert np.abs(g).max() <= 5.0


def test_lossFun_leaves_hprev_alone():
    """hprev is read, never written, and the returned state is a new array."""
    params, hprev = gist_parameters(scale=30.0)
    hprev_before = hprev.copy()
    inputs, targets = chunk(25)
    *_, h = lossFun(inputs, targets, hprev, *params)
    assert_array_equal(hprev, hprev_before)
    assert not np.shares_memory(h, hprev)


def test_lossFun_of_an_empty_chunk():
    params, hprev = gist_parameters()
    loss, *grads, h = lossFun([], [], hprev, *params)
    assert loss == 0.0
    for name, g, p in zip(PARAMETER_NAMES, grads, params, strict=True):
        assert g.shape == p.shape, name
        assert_array_equal(g, 0.0, err_msg=name)
    assert_array_equal(h, hprev)
    assert h is not hprev


def test_lossFun_in_float32():
    """float32 parameters compute in float32, close to the float64 gist."""
    params, hprev = gist_parameters(scale=30.0)
    inputs, targets = chunk(25)
    got = lossFun(
        inputs, targets, hprev.astype(np.float32), *(p.astype(np.float32) for p in params)
    )
    for a in got[1:]:
        assert a.dtype == np.float32
    assert_same_result(
        got, gist_lossFun(inputs, targets, hprev, *params), tol=dict(rtol=1e-4, atol=1e-5)
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda a: {**a, "Whh": np.zeros((H, H + 1))},
            ValueError,
            f"Whh must have shape (H, H) = ({H}, {H}) to match Wxh (H, V) = ({H}, {V}); "
            f"got ({H}, {H + 1})",
        ),
        (lambda a: {**a, "by": np.zeros(V)}, ValueError, f"by must have shape (V, 1) = ({V}, 1)"),
        (lambda a: {**a, "hprev": np.zeros((1, H))}, ValueError, "hprev must have shape (H, 1)"),
        (
            lambda a: {**a, "Why": a["Why"].astype(np.float32)},
            TypeError,
            "Wxh has dtype float64 but Why has dtype float32",
        ),
        (
            lambda a: {**a, "inputs": [0, V]},
            ValueError,
            f"inputs[1] = {V} is not a character index in [0, V) = [0, {V})",
        ),
        (lambda a: {**a, "targets": [0]}, ValueError, "len(inputs) = 2, len(targets) = 1"),
    ],
)
def test_lossFun_bad_arguments(change, error, message):
    params, hprev = gist_parameters()
    arguments = {"inputs": [0, 1], "targets": [1, 2], "hprev": hprev}
    arguments.update(zip(PARAMETER_NAMES, params, strict=True))
    with pytest.raises(error, match=re.escape(message)):
        lossFun(**change(arguments))


# ---- Adagrad -----------------------------------------------------------------------------


def test_adagrad_update_is_the_gists_statement():
    params, hprev = gist_parameters(scale=30.0)
    params_want = [p.copy() for p in params]
    mems = [np.zeros_like(p) for p in params]
    mems_want = [np.zeros_like(p) for p in params]
    for step in range(3):
        inputs, targets = chunk(25, seed=step)
        _, *grads, _ = lossFun(inputs, targets, hprev, *params)
        adagrad_update(params, grads, mems, 0.1)
        gist_adagrad(params_want, grads, mems_want, 0.1)
        for name, p, p_want, m, m_want in zip(
            PARAMETER_NAMES, params, params_want, mems, mems_want, strict=True
        ):
            assert_array_equal(p, p_want, err_msg=f"{name}, step {step}")
            assert_array_equal(m, m_want, err_msg=f"mem {name}, step {step}")
    assert not np.array_equal(params[0], gist_parameters(scale=30.0)[0][0])  # it moved


def test_adagrad_update_refuses_unmatched_lists():
    params, _ = gist_parameters()
    with pytest.raises(ValueError, match=re.escape("got 5, 4 and 5")):
        adagrad_update(params, params[:4], params, 0.1)


# ---- sample ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 200])
def test_sample_draws_the_gists_indices(n):
    params, h = gist_parameters(scale=100.0)  # peaked enough that the draws are not uniform
    h_before = h.copy()
    np.random.seed(1234)
    got = sample(h, 3, n, *params)
    after = np.random.random_sample()
    np.random.seed(1234)
    want = gist_sample(h, 3, n, *params)
    after_want = np.random.random_sample()
    assert got == [int(i) for i in want]
    assert len(got) == n and all(type(i) is int for i in got)
    assert after == after_want  # the same number of draws from the global stream
    assert_array_equal(h, h_before)


def test_sample_bad_seed():
    params, h = gist_parameters()
    with pytest.raises(ValueError, match=re.escape(f"seed_ix = {V} is not a character index")):
        sample(h, V, 5, *params)
    with pytest.raises(ValueError, match=re.escape("n must be an int >= 0; got -1")):
        sample(h, 0, -1, *params)


# ---- the gist's main loop ----------------------------------------------------------------


def run_main_loop(loss_function, update, data, params, iterations, seq_length=25):
    """The gist's training loop, bounded: chunk, loss, smoothed loss, Adagrad, with the
    state carried across chunks and reset at the data's end. Returns the final params,
    memories, hprev, position and smoothed loss."""
    params = [p.copy() for p in params]
    mems = [np.zeros_like(p) for p in params]
    smooth_loss = -np.log(1.0 / V) * seq_length
    p = 0
    hprev = None
    for n in range(iterations):
        if n == 0 or p + seq_length + 1 >= len(data):
            hprev = np.zeros((H, 1))
            p = 0
        inputs, targets = data[p : p + seq_length], data[p + 1 : p + seq_length + 1]
        loss, *grads, hprev = loss_function(inputs, targets, hprev, *params)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        update(params, grads, mems, 1e-1)
        p += seq_length
    return params, mems, hprev, p, smooth_loss


def test_main_loop_matches_the_gist():
    """40 iterations over 260 characters: the data wraps once (state reset), the state is
    carried between chunks otherwise, Adagrad moves every parameter."""
    params, _ = gist_parameters()
    data = [int(c) for c in np.random.default_rng(7).integers(0, V, size=260)]
    got = run_main_loop(lossFun, adagrad_update, data, params, 40)
    want = run_main_loop(gist_lossFun, gist_adagrad, data, params, 40)
    for name, a, b in zip(PARAMETER_NAMES, got[0], want[0], strict=True):
        assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)
    for name, a, b in zip(PARAMETER_NAMES, got[1], want[1], strict=True):
        assert_allclose(a, b, rtol=1e-9, atol=1e-13, err_msg=f"mem {name}")
    assert_allclose(got[2], want[2], rtol=1e-9, atol=1e-11, err_msg="hprev")
    assert got[3] == want[3]
    assert_allclose(got[4], want[4], rtol=1e-12, err_msg="smooth_loss")
