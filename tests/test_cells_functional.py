"""lstm_forward / lstm_backward and gru_forward / gru_backward of both backends against the
float64 reference.

The oracle is fastrnn.reference in float64 (itself checked against finite differences in
test_cells_gradcheck.py). The C kernels in float32 and float64 and the reference in
float32 must agree with it within TOL and keep the inputs' dtype.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import (
    CANDIDATES,
    CELL_GRAD_NAMES,
    CELL_INPUTS,
    DTYPES,
    GATES,
    SIZES,
    assert_close,
    cast,
    cell_backward,
    cell_forward,
    cell_forward_backward,
    cell_problem,
    fortran,
    strided,
    truncations,
)
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import reference

CELLS = ["lstm", "gru"]


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param


def assert_same_results(got, want, cell):
    """Two (states, grads) pairs are equal bit for bit."""
    (states_got, g_got), (states_want, g_want) = got, want
    assert list(states_got) == list(states_want)
    for name in states_want:
        assert_array_equal(states_got[name], states_want[name], err_msg=name)
    for name in CELL_GRAD_NAMES[cell]:
        assert_array_equal(getattr(g_got, name), getattr(g_want, name), err_msg=name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_matches_float64_reference(cell, impl, dtype, T, B, D, H, bias, rng):
    p = cell_problem(rng, cell, T, B, D, H, bias=bias)
    states_want, cache_want = cell_forward(reference, cell, p)
    states, cache = cell_forward(impl, cell, cast(p, dtype))
    for name, want in states_want.items():
        assert states[name].shape == (T, B, H)
        assert_close(states[name], want, dtype, name)
    assert cache.s is states["s"]
    assert cache.gates.shape == (T, B, GATES[cell] * H)
    assert_close(cache.gates, cache_want.gates, dtype, "gates")
    for K in truncations(T):
        want = cell_backward(reference, cell, p, cache_want, truncate=K)
        got = cell_backward(impl, cell, cast(p, dtype), cache, truncate=K)
        for name in CELL_GRAD_NAMES[cell]:
            if name.startswith("db") and not bias:
                assert getattr(got, name) is None, f"{name} with truncate={K}"
                continue
            assert_close(getattr(got, name), getattr(want, name), dtype, f"{name}, truncate={K}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_initial_states_none_mean_zeros(backend, cell, dtype, rng):
    p = cast(cell_problem(rng, cell, T=6, B=3, D=5, H=4), dtype)
    initial = ["s0", "c0"] if cell == "lstm" else ["s0"]
    zeros = {name: np.zeros((3, 4), dtype) for name in initial}
    with_zeros = cell_forward_backward(backend, cell, {**p, **zeros})
    with_none = cell_forward_backward(backend, cell, {**p, **dict.fromkeys(initial)})
    assert_same_results(with_none, with_zeros, cell)
    assert with_none[1].ds0.shape == (3, 4)


@pytest.mark.parametrize("K", [None, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_dc_none_means_zeros(backend, dtype, K, rng):
    p = cast(cell_problem(rng, "lstm", T=6, B=3, D=5, H=4), dtype)
    with_zeros = cell_forward_backward(backend, "lstm", {**p, "dc": np.zeros_like(p["dc"])}, K)
    with_none = cell_forward_backward(backend, "lstm", {**p, "dc": None}, K)
    assert_same_results(with_none, with_zeros, "lstm")
    # ...while a non-zero dc does change every gradient (so the comparison above can fail)
    with_dc = cell_forward_backward(backend, "lstm", p, K)
    for name in CELL_GRAD_NAMES["lstm"]:
        assert not np.allclose(getattr(with_dc[1], name), getattr(with_none[1], name)), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_need_cache_false_returns_same_states_and_no_cache(backend, cell, dtype, rng):
    p = cast(cell_problem(rng, cell, T=6, B=3, D=5, H=4), dtype)
    states, cache = cell_forward(backend, cell, p)
    states_inference, no_cache = cell_forward(backend, cell, p, need_cache=False)
    assert no_cache is None
    assert cache is not None
    for name, a in states.items():
        assert states_inference[name].dtype == dtype
        assert_array_equal(states_inference[name], a, err_msg=name)


# (T, B, D, H) of inference calls long enough that the C kernels project the input in
# chunks of about 512 rows (cells.h): chunks with a remainder step (301 x 2: 151 + 150
# steps; 1100 x 1: 367 + 367 + 366; 45 x 13: 23 + 22), equal chunks (40 x 20), one chunk
# (T = 1, B = 1).
INFERENCE_SIZES = [(301, 2, 3, 5), (1100, 1, 4, 3), (45, 13, 6, 4), (40, 20, 2, 3), (1, 1, 3, 2)]


@pytest.mark.parametrize("projected", [False, True], ids=["U", "U-None"])
@pytest.mark.parametrize("T, B, D, H", INFERENCE_SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_inference_matches_float64_reference(cell, impl, dtype, T, B, D, H, projected, rng):
    p = cell_problem(rng, cell, T, B, D, H)
    if projected:  # x is the input projection itself, (T, B, G*H)
        p["x"] = p["x"] @ p["U"].T
        p["U"] = None
    states_want, _ = cell_forward(reference, cell, p)
    states, cache = cell_forward(impl, cell, cast(p, dtype), need_cache=False)
    assert cache is None
    for name, want in states_want.items():
        assert states[name].dtype == dtype
        assert_close(states[name], want, dtype, name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("projected", [False, True], ids=["U", "U-None"])
@pytest.mark.parametrize("T, B, D, H", INFERENCE_SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_full_bptt_in_chunks_matches_float64_reference(
    cell, impl, dtype, T, B, D, H, projected, bias, rng
):
    # The C kernels' full BPTT keeps the gates' gradients for a chunk of steps, as the
    # inference kernels keep the gates, and sums dU, dW and the bias gradients chunk by
    # chunk: the same sizes cross the chunks' edges.
    p = cell_problem(rng, cell, T, B, D, H, bias=bias)
    if projected:
        p["x"] = p["x"] @ p["U"].T
        p["U"] = None
    _, cache_want = cell_forward(reference, cell, p)
    want = cell_backward(reference, cell, p, cache_want)
    _, cache = cell_forward(impl, cell, cast(p, dtype))
    got = cell_backward(impl, cell, cast(p, dtype), cache)
    for name in CELL_GRAD_NAMES[cell]:
        if getattr(want, name) is None:
            assert getattr(got, name) is None, name
            continue
        assert_close(getattr(got, name), getattr(want, name), dtype, name)


@pytest.mark.parametrize("layout", [strided, fortran])
@pytest.mark.parametrize("dtype", DTYPES)
def test_memory_layout_does_not_change_results(backend, cell, dtype, layout, rng):
    p = cast(cell_problem(rng, cell, T=7, B=3, D=5, H=4), dtype)
    relaid = {name: layout(a) for name, a in p.items()}
    for K in (None, 1):
        got = cell_forward_backward(backend, cell, relaid, truncate=K)
        want = cell_forward_backward(backend, cell, p, truncate=K)
        assert_same_results(got, want, cell)


def test_lists_and_integer_arrays_become_float64(backend, cell, rng):
    p = cell_problem(rng, cell, T=4, B=2, D=3, H=5)
    ints = {name: np.round(4 * a).astype(np.int64) for name, a in p.items()}
    as_float = cell_forward_backward(
        backend, cell, {n: a.astype(np.float64) for n, a in ints.items()}
    )
    as_lists = {name: a.tolist() for name, a in ints.items()}
    for inputs in (ints, as_lists):
        states, grads = cell_forward_backward(backend, cell, inputs)
        assert all(a.dtype == np.float64 for a in states.values())
        for name in CELL_GRAD_NAMES[cell]:
            assert getattr(grads, name).dtype == np.float64, name
        assert_same_results((states, grads), as_float, cell)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lists_of_floats_adopt_the_arrays_dtype(backend, cell, dtype, rng):
    p = cast(cell_problem(rng, cell, T=3, B=2, D=4, H=5), dtype)
    states, _ = cell_forward(backend, cell, p)
    states_list, cache = cell_forward(backend, cell, {**p, "x": p["x"].tolist()})
    for name, a in states.items():
        assert states_list[name].dtype == dtype
        assert_array_equal(states_list[name], a, err_msg=name)
    lists = {name: p[name].tolist() for name in ("ds", "dc") if name in p}
    grads = cell_backward(backend, cell, lists, cache)
    assert grads.dU.dtype == dtype


def test_nan_in_x_propagates(backend, cell, rng):
    """NaN is not rejected: it propagates forward into every later state of its batch row
    and backward into the gradients, without an exception or a warning, and the fast
    backend puts NaN where the reference does."""
    p = cell_problem(rng, cell, T=7, B=3, D=5, H=4)
    p["x"][2, 1, 0] = np.nan
    states, grads = cell_forward_backward(backend, cell, p)
    s = states["s"]
    assert np.isfinite(s[:2]).all()
    assert np.isnan(s[2:, 1]).all()
    assert np.isfinite(s[:, [0, 2]]).all()
    assert np.isnan(grads.dU).any()
    states_want, grads_want = cell_forward_backward(reference, cell, p)
    for name in states:
        assert_array_equal(np.isnan(states[name]), np.isnan(states_want[name]), err_msg=name)
    for name in CELL_GRAD_NAMES[cell]:
        got, want = getattr(grads, name), getattr(grads_want, name)
        assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)


def test_saturated_gates_stay_finite(backend, cell, rng):
    """Pre-activations of +-1000 saturate every sigmoid and tanh without overflow
    warnings (warnings are errors here) and agree with the reference."""
    p = cell_problem(rng, cell, T=5, B=2, D=3, H=4)
    p["b_ih"] = np.where(np.arange(p["b_ih"].size) % 2 == 0, 1000.0, -1000.0)
    states, grads = cell_forward_backward(backend, cell, p)
    states_want, grads_want = cell_forward_backward(reference, cell, p)
    for name in states:
        assert np.isfinite(states[name]).all()
        assert_close(states[name], states_want[name], np.float64, name)
    for name in CELL_GRAD_NAMES[cell]:
        assert_close(getattr(grads, name), getattr(grads_want, name), np.float64, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_window_of_t_minus_1_or_more_is_full_bptt(backend, cell, dtype, rng):
    T = 6
    p = cast(cell_problem(rng, cell, T=T, B=3, D=5, H=4), dtype)
    states, cache = cell_forward(backend, cell, p)
    full = cell_backward(backend, cell, p, cache)
    for K in (T - 1, T, T + 5, 10**6, 2**63):  # even past the C int64 range
        windowed = cell_backward(backend, cell, p, cache, truncate=K)
        assert_same_results((states, windowed), (states, full), cell)
    # ...while one step less does cut something off (so the comparison above can fail).
    shorter = cell_backward(backend, cell, p, cache, truncate=T - 2)
    assert not np.allclose(shorter.dW, full.dW)


def test_biases_are_used_as_given(backend, cell, rng):
    """b_ih and b_hh each change the result, and for the LSTM only their sum matters;
    for the GRU moving b_hn into b_in changes it (b_hn sits inside r * (...))."""
    p = cell_problem(rng, cell, T=4, B=2, D=3, H=5)
    s, _ = cell_forward(backend, cell, p)
    total = p["b_ih"] + p["b_hh"]
    moved = {**p, "b_ih": total, "b_hh": np.zeros_like(total)}
    s_moved, _ = cell_forward(backend, cell, moved)
    if cell == "lstm":
        assert np.allclose(s_moved["s"], s["s"], rtol=1e-13, atol=1e-14)
    else:
        assert not np.allclose(s_moved["s"], s["s"])
        H = 5
        moved["b_ih"][2 * H :], moved["b_hh"][2 * H :] = p["b_ih"][2 * H :], p["b_hh"][2 * H :]
        s_rz_moved, _ = cell_forward(backend, cell, moved)  # only the r, z blocks moved
        assert np.allclose(s_rz_moved["s"], s["s"], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_calls_equal_sequential_calls(cell, dtype, rng):
    """The fast kernels release the GIL: 8 threads sharing the weights, each call with its
    own inputs, must give bit for bit what the same calls give one after another."""
    T, B, D, H = 13, 5, 17, 33
    weights = cast(cell_problem(rng, cell, T, B, D, H), dtype)
    own_names = [n for n in ("x", "s0", "c0", "ds", "dc") if n in weights]
    problems = []
    for _ in range(80):  # 8 threads x 10 calls
        own = cast(cell_problem(rng, cell, T, B, D, H), dtype)
        problems.append({**weights, **{name: own[name] for name in own_names}})

    def call(i):
        return cell_forward_backward(fastrnn, cell, problems[i], (None, 3)[i % 2])

    sequential = [call(i) for i in range(len(problems))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(call, range(len(problems))))
    for got, want in zip(concurrent, sequential, strict=True):
        assert_same_results(got, want, cell)


@pytest.mark.parametrize("dtype", DTYPES)
def test_calls_of_changing_sizes_in_one_thread(cell, dtype, rng):
    """The binding reuses a thread's workspace (dirty, and larger than a smaller call
    needs): calls that grow, shrink and switch between full and windowed BPTT still agree
    with the reference, and the same call twice gives the same bits."""
    runs = []
    for T, B, D, H, truncate in [(9, 4, 6, 7, None), (2, 1, 3, 2, 0), (9, 4, 6, 7, 2),
                                 (5, 3, 4, 11, None), (2, 1, 3, 2, 0)]:  # fmt: skip
        p = cell_problem(rng, cell, T, B, D, H)
        want_states, want_grads = cell_forward_backward(reference, cell, p, truncate)
        got = cell_forward_backward(fastrnn, cell, cast(p, dtype), truncate)
        for name in want_states:
            assert_close(got[0][name], want_states[name], dtype, name)
        for name in CELL_GRAD_NAMES[cell]:
            want = getattr(want_grads, name)
            if want is not None:
                assert_close(getattr(got[1], name), want, dtype, name)
        runs.append((p, truncate, got))
    p, truncate, first = runs[1]
    assert_same_results(cell_forward_backward(fastrnn, cell, cast(p, dtype), truncate), first, cell)


def test_cell_inputs_are_the_forward_arguments_in_order():
    """The helpers call the kernels positionally: keep them in step with the signatures."""
    import inspect

    for cell in CELLS:
        for backend in (fastrnn, reference):
            parameters = inspect.signature(getattr(backend, f"{cell}_forward")).parameters
            assert tuple(parameters)[: len(CELL_INPUTS[cell])] == CELL_INPUTS[cell]
