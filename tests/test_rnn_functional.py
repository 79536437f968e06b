"""rnn_forward / rnn_backward of both backends against the float64 reference.

The oracle is fastrnn.reference in float64 (itself checked against finite differences in
test_gradcheck.py). Every other combination, the C kernels in float32 and float64 and the
reference in float32, must agree with it within TOL and keep the inputs' dtype.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import (
    CANDIDATES,
    DTYPES,
    GRAD_NAMES,
    SIZES,
    assert_close,
    cast,
    fortran,
    forward,
    forward_backward,
    rnn_problem,
    strided,
    truncations,
)
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import reference

NONLINEARITIES = ["tanh", "relu"]


def assert_same_results(got, want):
    """Two (s, grads) pairs are equal bit for bit."""
    (s_got, g_got), (s_want, g_want) = got, want
    assert_array_equal(s_got, s_want, err_msg="s")
    for name in GRAD_NAMES:
        assert_array_equal(getattr(g_got, name), getattr(g_want, name), err_msg=name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_matches_float64_reference(impl, dtype, T, B, D, H, nonlinearity, bias, rng):
    p = rnn_problem(rng, T, B, D, H, bias=bias)
    s_want, cache_want = forward(reference, p, nonlinearity)
    s, cache = forward(impl, cast(p, dtype), nonlinearity)
    assert s.shape == (T, B, H)
    assert_close(s, s_want, dtype, "s")
    assert cache.s is s
    for K in truncations(T):
        want = reference.rnn_backward(p["ds"], cache_want, truncate=K)
        got = impl.rnn_backward(p["ds"].astype(dtype), cache, truncate=K)
        for name in GRAD_NAMES:
            if name == "db" and not bias:
                assert got.db is None, f"db with truncate={K}"
                continue
            assert_close(getattr(got, name), getattr(want, name), dtype, f"{name}, truncate={K}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_s0_none_means_zeros(backend, dtype, rng):
    p = cast(rnn_problem(rng, T=6, B=3, D=5, H=4), dtype)
    with_zeros = forward_backward(backend, {**p, "s0": np.zeros((3, 4), dtype)})
    with_none = forward_backward(backend, {**p, "s0": None})
    assert_same_results(with_none, with_zeros)
    assert with_none[1].ds0.shape == (3, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_need_cache_false_returns_same_states_and_no_cache(backend, dtype, rng):
    p = cast(rnn_problem(rng, T=6, B=3, D=5, H=4), dtype)
    s, cache = forward(backend, p)
    s_inference, no_cache = forward(backend, p, need_cache=False)
    assert no_cache is None
    assert s_inference.dtype == dtype
    assert_array_equal(s_inference, s)
    assert cache is not None


@pytest.mark.parametrize("layout", [strided, fortran])
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_memory_layout_does_not_change_results(backend, dtype, nonlinearity, layout, rng):
    p = cast(rnn_problem(rng, T=7, B=3, D=5, H=4), dtype)
    relaid = {name: layout(a) for name, a in p.items()}
    for K in (None, 1):
        got = forward_backward(backend, relaid, nonlinearity, truncate=K)
        want = forward_backward(backend, p, nonlinearity, truncate=K)
        assert_same_results(got, want)


def test_lists_and_integer_arrays_become_float64(backend, rng):
    p = rnn_problem(rng, T=4, B=2, D=3, H=5)
    ints = {name: np.round(4 * a).astype(np.int64) for name, a in p.items()}
    as_float = forward_backward(backend, {n: a.astype(np.float64) for n, a in ints.items()})
    as_lists = {name: a.tolist() for name, a in ints.items()}
    for inputs in (ints, as_lists):
        s, grads = forward_backward(backend, inputs)
        assert s.dtype == np.float64
        for name in GRAD_NAMES:
            assert getattr(grads, name).dtype == np.float64, name
        assert_same_results((s, grads), as_float)


def test_integer_arrays_take_the_floating_dtype_of_the_others(backend, rng):
    p = cast(rnn_problem(rng, T=4, B=2, D=3, H=5), np.float32)
    x_int = np.round(4 * p["x"]).astype(np.int32)
    s, cache = forward(backend, {**p, "x": x_int})
    assert s.dtype == np.float32
    s_want, _ = forward(backend, {**p, "x": x_int.astype(np.float32)})
    assert_array_equal(s, s_want)
    grads = backend.rnn_backward(np.ones((4, 2, 5), dtype=np.int64), cache)
    assert grads.dU.dtype == np.float32


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_nan_in_x_propagates(backend, nonlinearity, rng):
    """NaN is not rejected: it propagates through the arithmetic as in NumPy, forward into
    every later state of its batch row, and backward into the gradients, without an
    exception or a warning. The fast backend puts NaN where the reference does."""
    p = rnn_problem(rng, T=7, B=3, D=5, H=4)
    p["x"][2, 1, 0] = np.nan
    s, grads = forward_backward(backend, p, nonlinearity)
    assert np.isfinite(s[:2]).all()
    assert np.isnan(s[2:, 1]).all()
    assert np.isfinite(s[:, [0, 2]]).all()
    assert np.isnan(grads.dU).any()
    s_want, grads_want = forward_backward(reference, p, nonlinearity)
    assert_array_equal(np.isnan(s), np.isnan(s_want))
    for name in GRAD_NAMES:
        got, want = getattr(grads, name), getattr(grads_want, name)
        assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_window_of_t_minus_1_or_more_is_full_bptt(backend, dtype, nonlinearity, rng):
    T = 6
    p = cast(rnn_problem(rng, T=T, B=3, D=5, H=4), dtype)
    s, cache = forward(backend, p, nonlinearity)
    full = backend.rnn_backward(p["ds"], cache)
    for K in (T - 1, T, T + 5, 10**6):
        assert_same_results((s, backend.rnn_backward(p["ds"], cache, truncate=K)), (s, full))
    # ...while one step less does cut something off (so the comparison above can fail).
    shorter = backend.rnn_backward(p["ds"], cache, truncate=T - 2)
    assert not np.allclose(shorter.dW, full.dW)


def test_window_beyond_int64_is_full_bptt(backend, rng):
    """Any int K >= 0 is accepted; K >= T-1 is full BPTT even past the C int64 range."""
    p = rnn_problem(rng, T=4, B=2, D=3, H=5)
    s, cache = forward(backend, p)
    full = backend.rnn_backward(p["ds"], cache)
    assert_same_results((s, backend.rnn_backward(p["ds"], cache, truncate=2**63)), (s, full))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lists_of_floats_adopt_the_arrays_dtype(backend, dtype, rng):
    """A list has no dtype of its own: it takes the arrays' precision instead of float64."""
    p = cast(rnn_problem(rng, T=3, B=2, D=4, H=5), dtype)
    s_arrays, _ = backend.rnn_forward(p["x"], p["s0"], p["U"], p["W"], p["b"])
    s_list, cache = backend.rnn_forward(p["x"].tolist(), p["s0"], p["U"], p["W"], p["b"])
    assert s_list.dtype == dtype
    assert_array_equal(s_list, s_arrays)
    grads = backend.rnn_backward(p["ds"].tolist(), cache)
    assert grads.dU.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_of_negative_pre_activations_is_zero(backend, dtype, rng):
    p = cast(rnn_problem(rng, T=5, B=3, D=4, H=6), dtype)
    p["s0"] = -np.abs(p["s0"])
    p["b"] = np.full(6, -100, dtype=dtype)  # every pre-activation is negative
    s, grads = forward_backward(backend, p, "relu")
    assert s.dtype == dtype
    assert_array_equal(s, np.zeros_like(s))
    for name in GRAD_NAMES:
        assert_array_equal(getattr(grads, name), 0, err_msg=name)


def test_relu_passes_positive_and_blocks_negative_units(backend, rng):
    """Half the units get a large positive bias, half a large negative one: the former
    behave linearly, the latter are exactly zero and pass no gradient."""
    p = rnn_problem(rng, T=5, B=3, D=4, H=6)
    p["b"] = np.array([50.0, -50.0] * 3)
    s, grads = forward_backward(backend, p, "relu")
    assert (s[..., 0::2] > 0).all()
    assert_array_equal(s[..., 1::2], 0)
    assert_array_equal(grads.dU[1::2], 0)
    assert_array_equal(grads.db[1::2], 0)
    assert_array_equal(grads.dW[1::2], 0)
    assert (grads.db[0::2] != 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_calls_equal_sequential_calls(dtype, rng):
    """The fast kernels release the GIL: 8 threads sharing the weights, each call with its
    own inputs, must give bit for bit what the same calls give one after another."""
    T, B, D, H = 13, 5, 17, 33
    weights = cast(rnn_problem(rng, T, B, D, H), dtype)
    problems = []
    for _ in range(160):  # 8 threads x 20 calls
        own = cast(rnn_problem(rng, T, B, D, H), dtype)
        problems.append({**weights, "x": own["x"], "s0": own["s0"], "ds": own["ds"]})

    def call(i):
        nonlinearity = NONLINEARITIES[i % 2]
        truncate = (None, 3)[i // 2 % 2]
        return forward_backward(fastrnn, problems[i], nonlinearity, truncate)

    sequential = [call(i) for i in range(len(problems))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(call, range(len(problems))))
    for got, want in zip(concurrent, sequential, strict=True):
        assert_same_results(got, want)


def projected(p: dict) -> dict:
    """p with x replaced by its input projection x @ U.T and U by None."""
    return {**p, "x": p["x"] @ p["U"].T, "U": None}


@pytest.mark.parametrize("K", [None, 0, 2])
@pytest.mark.parametrize("backend, dtype", CANDIDATES)
def test_projected_input_matches_the_float64_reference(backend, dtype, K, rng):
    """U=None (x is U x_t already, as after an embedding lookup): fast vs reference."""
    p = projected(rnn_problem(rng, T=7, B=3, D=5, H=4))
    s_want, g_want = forward_backward(reference, p, truncate=K)
    s_got, g_got = forward_backward(backend, cast(p, dtype), truncate=K)
    assert_close(s_got, s_want, dtype, "s")
    assert g_got.dU is None and g_want.dU is None
    for name in ("dx", "ds0", "dW", "db"):
        assert_close(getattr(g_got, name), getattr(g_want, name), dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_projected_input_is_the_same_recurrence(backend, dtype, rng):
    """Projecting x outside gives the same states; the gradient on the projection (dx)
    is the pre-activation gradient, from which dU and dx of the full call follow."""
    p = cast(rnn_problem(rng, T=6, B=2, D=5, H=4), dtype)
    s_full, g_full = forward_backward(backend, p, truncate=1)
    s_proj, g_proj = forward_backward(backend, projected(p), truncate=1)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}
    np.testing.assert_allclose(s_proj, s_full, **tol)
    da = g_proj.dx.reshape(-1, 4)
    np.testing.assert_allclose(da.T @ p["x"].reshape(-1, 5), g_full.dU, **tol)
    np.testing.assert_allclose(g_proj.dx @ p["U"], g_full.dx, **tol)
