"""Property-based tests (hypothesis) of the functional RNN API.

1. Random valid problems, in random dtypes and memory layouts (C order, Fortran order,
   strided slices, read-only, misaligned, zero-stride broadcasts): the fast backend agrees
   with the float64 reference.
2. Random invalid arguments: both backends raise the documented exception type. The fast
   backend runs in a worker process, so that a crash is reported as a failure with the
   input that caused it instead of killing the test run.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import numpy as np
import pytest
from _reliability import relayout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fastrnn
from fastrnn import reference

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
LAYOUTS = ["C", "F", "strided", "readonly", "misaligned"]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def problems(draw):
    T = draw(st.integers(1, 9))
    B = draw(st.integers(1, 5))
    D = draw(st.integers(1, 12))
    H = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p = {
        "x": rng.standard_normal((T, B, D)),
        "s0": 0.5 * rng.standard_normal((B, H)) if draw(st.booleans()) else None,
        "U": rng.standard_normal((H, D)) / np.sqrt(D),
        "W": 0.5 * rng.standard_normal((H, H)) / np.sqrt(H),
        "b": 0.1 * rng.standard_normal(H) if draw(st.booleans()) else None,
        "ds": rng.standard_normal((T, B, H)),
    }
    if draw(st.booleans()):  # a zero-stride input: one step repeated T times
        p["x"] = np.broadcast_to(p["x"][:1], p["x"].shape)
    options = {
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "layouts": {name: draw(st.sampled_from(LAYOUTS)) for name in p},
        "nonlinearity": draw(st.sampled_from(["tanh", "relu"])),
        "truncate": draw(st.one_of(st.none(), st.integers(0, T + 1))),
    }
    return p, options


@PROPERTY_SETTINGS
@given(problems())
def test_fast_agrees_with_reference_for_any_layout(problem):
    p, o = problem
    want_s, want_cache = reference.rnn_forward(
        p["x"], p["s0"], p["U"], p["W"], p["b"], nonlinearity=o["nonlinearity"]
    )
    want = reference.rnn_backward(p["ds"], want_cache, truncate=o["truncate"])

    dtype = o["dtype"]
    q = {
        name: None if a is None else relayout(a.astype(dtype), o["layouts"][name])
        for name, a in p.items()
    }
    s, cache = fastrnn.rnn_forward(
        q["x"], q["s0"], q["U"], q["W"], q["b"], nonlinearity=o["nonlinearity"]
    )
    got = fastrnn.rnn_backward(q["ds"], cache, truncate=o["truncate"])

    assert s.dtype == dtype
    assert_allclose(s, want_s, **TOL[dtype], err_msg="s")
    for name in ("dx", "ds0", "dU", "dW", "db"):
        g, w = getattr(got, name), getattr(want, name)
        if w is None:
            assert g is None, name
            continue
        assert g.dtype == dtype, name
        assert_allclose(g, w, **TOL[dtype], err_msg=name)


# ---- invalid arguments ---------------------------------------------------------------

GOOD = {"T": 4, "B": 3, "D": 5, "H": 6}


def _good_arrays(dtype=np.float64):
    T, B, D, H = GOOD["T"], GOOD["B"], GOOD["D"], GOOD["H"]
    return {
        "x": np.ones((T, B, D), dtype),
        "s0": np.zeros((B, H), dtype),
        "U": np.ones((H, D), dtype) * 0.1,
        "W": np.ones((H, H), dtype) * 0.1,
        "b": np.zeros(H, dtype),
    }


BAD_VALUES = {
    "wrong rank": (lambda a: a[..., None], ValueError),
    "one size too few": (lambda a: a[..., :-1] if a.shape[-1] > 1 else a[..., :0], ValueError),
    "one size too many": (lambda a: np.concatenate([a, a[..., :1]], axis=-1), ValueError),
    "empty": (lambda a: a[:0], ValueError),
    "float16": (lambda a: a.astype(np.float16), TypeError),
    "complex": (lambda a: a.astype(np.complex128), TypeError),
    "object": (lambda a: a.astype(object), TypeError),
    "string": (lambda a: a.astype(str), TypeError),
    "mixed precision": (lambda a: a.astype(np.float32), TypeError),
    "not an array": (lambda a: {"not": "an array"}, TypeError),
}


@st.composite
def invalid_calls(draw):
    target = draw(st.sampled_from(["x", "s0", "U", "W", "b"]))
    corruption = draw(st.sampled_from(sorted(BAD_VALUES)))
    nonlinearity = draw(st.sampled_from(["tanh", "relu"]))
    return target, corruption, nonlinearity


def _call_with_invalid_argument(backend_name, target, corruption, nonlinearity):
    """Runs in the worker: returns the exception type's name (or 'no error')."""
    import fastrnn as fast
    from fastrnn import reference as ref

    backend = fast if backend_name == "fast" else ref
    args = _good_arrays()
    corrupt, _ = BAD_VALUES[corruption]
    args[target] = corrupt(args[target])
    try:
        s, cache = backend.rnn_forward(
            args["x"], args["s0"], args["U"], args["W"], args["b"], nonlinearity=nonlinearity
        )
        backend.rnn_backward(np.ones_like(s), cache)
    except Exception as e:  # noqa: BLE001 - the type is the result
        return type(e).__name__
    return "no error"


@pytest.fixture(scope="module")
def worker():
    """One spawned process that runs the calls; replaced if a call kills it."""
    context = multiprocessing.get_context("spawn")
    pool = {"executor": concurrent.futures.ProcessPoolExecutor(1, mp_context=context)}
    yield pool
    pool["executor"].shutdown(cancel_futures=True)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(invalid_calls())
def test_invalid_arguments_raise_the_documented_exception(worker, call):
    target, corruption, nonlinearity = call
    _, expected = BAD_VALUES[corruption]
    for backend_name in ("reference", "fast"):
        future = worker["executor"].submit(
            _call_with_invalid_argument, backend_name, target, corruption, nonlinearity
        )
        try:
            raised = future.result(timeout=60)
        except concurrent.futures.process.BrokenProcessPool:
            context = multiprocessing.get_context("spawn")
            worker["executor"] = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
            pytest.fail(f"{backend_name} crashed the process on {corruption} {target}")
        assert raised == expected.__name__, (backend_name, target, corruption, raised)


def test_misaligned_input_is_copied_before_the_kernel():
    """A view that starts one byte into its buffer is C-contiguous but misaligned."""
    from fastrnn import _contract

    a = relayout(np.arange(12.0).reshape(3, 4), "misaligned")
    assert not a.flags.aligned and a.flags.c_contiguous
    b = _contract.as_float(a, np.dtype(np.float64))
    assert b.flags.aligned and b.flags.c_contiguous
    np.testing.assert_array_equal(b, a)
