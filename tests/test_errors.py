"""Bad arguments: the exception type and a message naming the argument and what it needs.

Both backends run the same checks (fastrnn._contract), so every case runs against both.
The raw binding (fastrnn._kernels) repeats the shape checks so that nothing reaches C
unchecked; those calls run in a subprocess, where a missing check would crash (or read
out of bounds) without taking pytest down.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import run_raw_binding_calls

T, B, D, H = 7, 3, 5, 4


def good_inputs(dtype=np.float64):
    """Zero arrays of the right shapes: x (T,B,D), s0 (B,H), U (H,D), W (H,H), b (H,)."""
    shapes = {"x": (T, B, D), "s0": (B, H), "U": (H, D), "W": (H, H), "b": (H,)}
    return {name: np.zeros(shape, dtype=dtype) for name, shape in shapes.items()}


def call_forward(backend, **changes):
    args = {**good_inputs(), **changes}
    return backend.rnn_forward(args["x"], args["s0"], args["U"], args["W"], args["b"])


SHAPE_CASES = [
    pytest.param(
        {"x": np.zeros((T, B))},
        "x must have shape (T, B, D) (time-major); got 2 dimensions, shape (7, 3)",
        id="x-rank-2",
    ),
    pytest.param(
        {"x": np.zeros((T, B, D, 1))},
        "x must have shape (T, B, D) (time-major); got 4 dimensions, shape (7, 3, 5, 1)",
        id="x-rank-4",
    ),
    pytest.param(
        {"x": np.zeros((0, B, D)), "s0": None},
        "x must have shape (T, B, D) with T, B, D >= 1; got (0, 3, 5)",
        id="T=0",
    ),
    pytest.param(
        {"x": np.zeros((T, 0, D)), "s0": np.zeros((0, H))},
        "x must have shape (T, B, D) with T, B, D >= 1; got (7, 0, 5)",
        id="B=0",
    ),
    pytest.param(
        {"x": np.zeros((T, B, 0)), "U": np.zeros((H, 0))},
        "x must have shape (T, B, D) with T, B, D >= 1; got (7, 3, 0)",
        id="D=0",
    ),
    pytest.param(
        {"U": np.zeros((H, D + 1))},
        "U must have shape (H, D) = (H, 5) with H >= 1 to match x (T, B, D) = (7, 3, 5); "
        "got (4, 6)",
        id="U-wrong-D",
    ),
    pytest.param(
        {"U": np.zeros((0, D)), "W": np.zeros((0, 0)), "s0": None, "b": None},
        "U must have shape (H, D) = (H, 5) with H >= 1 to match x (T, B, D) = (7, 3, 5); "
        "got (0, 5)",
        id="U-no-rows",
    ),
    pytest.param(
        {"U": np.zeros(D)},
        "U must have shape (H, D) = (H, 5) with H >= 1 to match x (T, B, D) = (7, 3, 5); got (5,)",
        id="U-rank-1",
    ),
    pytest.param(
        {"W": np.zeros((H, H + 1))},
        "W must have shape (H, H) = (4, 4) to match U (H, D) = (4, 5); got (4, 5)",
        id="W-not-square",
    ),
    pytest.param(
        {"W": np.zeros((H, H, 1))},
        "W must have shape (H, H) = (4, 4) to match U (H, D) = (4, 5); got (4, 4, 1)",
        id="W-rank-3",
    ),
    pytest.param(
        {"s0": np.zeros((H, B))},
        "s0 must have shape (B, H) = (3, 4) to match x (T, B, D) = (7, 3, 5) and "
        "U (H, D) = (4, 5); got (4, 3)",
        id="s0-transposed",
    ),
    pytest.param(
        {"s0": np.zeros(H)},
        "s0 must have shape (B, H) = (3, 4) to match x (T, B, D) = (7, 3, 5) and "
        "U (H, D) = (4, 5); got (4,)",
        id="s0-rank-1",
    ),
    pytest.param(
        {"b": np.zeros(H + 1)},
        "b must have shape (H,) = (4,) to match U (H, D) = (4, 5); got (5,)",
        id="b-too-long",
    ),
    pytest.param(
        {"b": np.zeros((1, H))},
        "b must have shape (H,) = (4,) to match U (H, D) = (4, 5); got (1, 4)",
        id="b-rank-2",
    ),
]


@pytest.mark.parametrize("changes, message", SHAPE_CASES)
def test_forward_shape_mismatch(backend, changes, message):
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        call_forward(backend, **changes)


@pytest.mark.parametrize("bad_shape", [(T, B, H + 1), (T - 1, B, H), (B, H), (T, B, H, 1)])
def test_backward_ds_shape_mismatch(backend, bad_shape):
    _, cache = call_forward(backend)
    message = (
        f"ds must have shape (T, B, H) = (7, 3, 4) like the states of the forward call; "
        f"got {bad_shape}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        backend.rnn_backward(np.zeros(bad_shape), cache)


@pytest.mark.parametrize("odd_one", ["x", "s0", "U", "W", "b"])
def test_mixed_precisions_name_both_arguments(backend, odd_one):
    args = good_inputs(np.float32)
    args[odd_one] = args[odd_one].astype(np.float64)
    # The message names the first floating argument and the first that disagrees with it.
    if odd_one == "x":
        message = "x has dtype float64 but s0 has dtype float32"
    else:
        message = f"x has dtype float32 but {odd_one} has dtype float64"
    with pytest.raises(TypeError, match=re.escape(message) + "; fastrnn never mixes"):
        call_forward(backend, **args)


@pytest.mark.parametrize("name", ["x", "s0", "U", "W", "b"])
def test_float16_is_rejected_with_a_remedy(backend, name):
    args = {name: good_inputs()[name].astype(np.float16)}
    message = (
        f"{name} has dtype float16; fastrnn computes in float32 or float64: "
        f"convert it with {name}.astype(np.float32)"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        call_forward(backend, **args)


@pytest.mark.skipif(
    np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 on this platform"
)
def test_longdouble_is_rejected(backend):
    x = good_inputs()["x"].astype(np.longdouble)
    with pytest.raises(TypeError, match=re.escape(f"x has dtype {x.dtype}; fastrnn computes")):
        call_forward(backend, x=x)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, np.str_])
@pytest.mark.parametrize("name", ["x", "U", "b"])
def test_non_real_dtypes_are_rejected(backend, name, dtype):
    value = good_inputs()[name].astype(dtype)
    message = f"{name} has dtype {value.dtype}; expected a real floating array"
    with pytest.raises(TypeError, match=re.escape(message)):
        call_forward(backend, **{name: value})


def test_ragged_list_is_rejected(backend):
    with pytest.raises(TypeError, match=re.escape("W could not be read as an array")):
        call_forward(backend, W=[[0.0] * H] * (H - 1) + [[0.0]])


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "TANH", "", None])
def test_unknown_nonlinearity(backend, nonlinearity):
    args = good_inputs()
    message = f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        backend.rnn_forward(**args, nonlinearity=nonlinearity)


@pytest.mark.parametrize(
    "truncate, error, message",
    [
        (-1, ValueError, "truncate must be None (full BPTT) or an int K >= 0; got -1"),
        (np.int64(-3), ValueError, "truncate must be None (full BPTT) or an int K >= 0; got -3"),
        (1.5, TypeError, "truncate must be None or an int K >= 0; got 1.5"),
        (2.0, TypeError, "truncate must be None or an int K >= 0; got 2.0"),
        (True, TypeError, "truncate must be None or an int K >= 0; got True"),
        ("2", TypeError, "truncate must be None or an int K >= 0; got '2'"),
    ],
)
def test_bad_truncate(backend, truncate, error, message):
    _, cache = call_forward(backend)
    with pytest.raises(error, match=re.escape(message)):
        backend.rnn_backward(np.zeros((T, B, H)), cache, truncate=truncate)


def test_backward_without_cache_points_to_need_cache(backend):
    s, cache = backend.rnn_forward(**good_inputs(), need_cache=False)
    assert cache is None
    message = (
        "cache must be the RNNCache returned by rnn_forward; got NoneType "
        "(rnn_forward(..., need_cache=False) keeps none: call it with need_cache=True)"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        backend.rnn_backward(np.zeros_like(s), cache)


def test_backward_rejects_other_caches(backend):
    _, cache = call_forward(backend)
    with pytest.raises(TypeError, match=re.escape("got tuple") + "$"):
        backend.rnn_backward(np.zeros((T, B, H)), tuple(cache))


@pytest.mark.parametrize(
    "forward_dtype, ds_dtype",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.float32, np.float16),
        (np.float64, np.float16),
    ],
)
def test_ds_must_have_the_forward_dtype(backend, forward_dtype, ds_dtype):
    args = good_inputs(forward_dtype)
    _, cache = backend.rnn_forward(**args)
    ds = np.zeros((T, B, H), dtype=ds_dtype)
    message = (
        f"ds has dtype {ds.dtype} but the forward pass (cache.s) ran in "
        f"{np.dtype(forward_dtype)}; convert it with ds.astype(np.{np.dtype(forward_dtype)})"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        backend.rnn_backward(ds, cache)


@pytest.mark.parametrize(
    "ds, message",
    [
        (None, "ds must be an array of shape (T, B, H); got None"),
        (np.zeros((T, B, H), np.complex128), "ds has dtype complex128; expected a real floating"),
    ],
    ids=["None", "complex"],
)
def test_ds_none_or_complex(backend, ds, message):
    _, cache = call_forward(backend)
    with pytest.raises(TypeError, match=re.escape(message)):
        backend.rnn_backward(ds, cache)


# The raw binding, called with what the Python API would have refused. z(*shape) makes a
# float64 zero array. Each call is run in one subprocess; its expected ValueError message.
RAW_CASES = {
    "forward-T0": (
        "F.rnn_forward(z(0, B, D), z(B, H), z(H, D), z(H, H), z(H), 'tanh')",
        "x must have shape (T, B, D) with T, B, D >= 1; got (0, 3, 5)",
    ),
    "forward-B0": (
        "F.rnn_forward(z(T, 0, D), z(0, H), z(H, D), z(H, H), None, 'tanh')",
        "x must have shape (T, B, D) with T, B, D >= 1; got (7, 0, 5)",
    ),
    "forward-D0": (
        "F.rnn_forward(z(T, B, 0), z(B, H), z(H, 0), z(H, H), None, 'tanh')",
        "x must have shape (T, B, D) with T, B, D >= 1; got (7, 3, 0)",
    ),
    "forward-H0": (
        "F.rnn_forward(z(T, B, D), z(B, 0), z(0, D), z(0, 0), None, 'relu')",
        "the hidden size H must be >= 1; got 0",
    ),
    "forward-U": (
        "F.rnn_forward(z(T, B, D), z(B, H), z(H, D + 1), z(H, H), None, 'tanh')",
        "U must have shape (H, D) = (4, 5); got (4, 6)",
    ),
    "forward-W": (
        "F.rnn_forward(z(T, B, D), z(B, H), z(H, D), z(H - 1, H), None, 'tanh')",
        "W must have shape (H, H) = (3, 3); got (3, 4)",
    ),
    "forward-U-rows": (
        "F.rnn_forward(z(T, B, D), z(B, H), z(H + 1, D), z(H, H), None, 'tanh')",
        "U must have shape (H, D) = (4, 5); got (5, 5)",
    ),
    "forward-no-U": (
        "F.rnn_forward(z(T, B, D), z(B, H), None, z(H, H), None, 'tanh')",
        "x must have shape (T, B, H) = (7, 3, 4) when U is None (x is the input projection);"
        " got (7, 3, 5)",
    ),
    "backward-no-U": (
        "F.rnn_backward(z(T, B, D), z(B, H), None, z(H, H), z(T, B, H), z(T, B, H),"
        " True, 'tanh', -1)",
        "x must have shape (T, B, H) = (7, 3, 4) when U is None (x is the input projection);"
        " got (7, 3, 5)",
    ),
    "forward-s0": (
        "F.rnn_forward(z(T, B, D), z(B - 1, H), z(H, D), z(H, H), None, 'tanh')",
        "s0 must have shape (B, H) = (3, 4); got (2, 4)",
    ),
    "forward-b": (
        "F.rnn_forward(z(T, B, D), z(B, H), z(H, D), z(H, H), z(H - 1), 'tanh')",
        "b must have shape (H,) = (4,); got (3,)",
    ),
    "backward-T0": (
        "F.rnn_backward(z(0, B, D), z(B, H), z(H, D), z(H, H), z(0, B, H), z(0, B, H),"
        " True, 'tanh', -1)",
        "x must have shape (T, B, D) with T, B, D >= 1; got (0, 3, 5)",
    ),
    "backward-W": (
        "F.rnn_backward(z(T, B, D), z(B, H), z(H, D), z(H, 1), z(T, B, H), z(T, B, H),"
        " True, 'tanh', -1)",
        "W must have shape (H, H) = (4, 4); got (4, 1)",
    ),
    "backward-s0": (
        "F.rnn_backward(z(T, B, D), z(1, H), z(H, D), z(H, H), z(T, B, H), z(T, B, H),"
        " True, 'tanh', 2)",
        "s0 must have shape (B, H) = (3, 4); got (1, 4)",
    ),
    "backward-s": (
        "F.rnn_backward(z(T, B, D), z(B, H), z(H, D), z(H, H), z(T - 1, B, H), z(T, B, H),"
        " True, 'tanh', 2)",
        "s must have shape (T, B, H) = (7, 3, 4); got (6, 3, 4)",
    ),
    "backward-ds": (
        "F.rnn_backward(z(T, B, D), z(B, H), z(H, D), z(H, H), z(T, B, H), z(T, 1, H),"
        " False, 'relu', -1)",
        "ds must have shape (T, B, H) = (7, 3, 4); got (7, 1, 4)",
    ),
    "backward-nonlinearity": (
        "F.rnn_backward(z(T, B, D), z(B, H), z(H, D), z(H, H), z(T, B, H), z(T, B, H),"
        " False, 'sigmoid', -1)",
        "nonlinearity must be 'tanh' or 'relu'; got 'sigmoid'",
    ),
}


@pytest.fixture(scope="module")
def raw_results():
    """The outcome of every RAW_CASES call, run in one fresh interpreter."""
    return run_raw_binding_calls(
        {name: call for name, (call, _) in RAW_CASES.items()}, (T, B, D, H)
    )


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_raw_binding_rejects_bad_shapes(raw_results, case):
    returncode, stderr, outcomes = raw_results
    assert returncode == 0, f"the subprocess died (return code {returncode}):\n{stderr}"
    assert outcomes.get(case) == f"ValueError\t{RAW_CASES[case][1]}", stderr


def test_raw_binding_rejects_mixed_precisions_and_layouts():
    """The fused signatures refuse what the Python API would have converted."""
    from fastrnn import _kernels

    x, s0, U, W, b = good_inputs().values()
    with pytest.raises(ValueError, match=re.escape("Buffer dtype mismatch")):
        _kernels.rnn_forward(x, s0.astype(np.float32), U, W, b, "tanh")
    with pytest.raises(ValueError, match=re.escape("Buffer dtype mismatch")):
        _kernels.rnn_forward(x, s0, U, W, b.astype(np.float32), "tanh")
    with pytest.raises(ValueError, match="not C-contiguous"):
        _kernels.rnn_forward(x, s0, np.asfortranarray(U), W, b, "tanh")


def test_projected_input_must_have_H_columns(backend):
    x, W = np.zeros((7, 3, 5)), np.zeros((4, 4))
    message = "x must have shape (T, B, H) = (7, 3, 4) to match W (H, H) = (4, 4) when U is None"
    with pytest.raises(ValueError, match=re.escape(message)):
        backend.rnn_forward(x, None, None, W)
    with pytest.raises(ValueError, match=re.escape("W must have shape (H, H) with H >= 1")):
        backend.rnn_forward(np.zeros((7, 3, 4)), None, None, np.zeros((4, 5)))


def test_absurd_sizes_raise_memory_error_before_allocating(backend):
    """A zero-stride W of H = 10^6 costs nothing to pass, but the call would need TiBs."""
    H = 10**6
    W = np.broadcast_to(np.zeros(1), (H, H))
    U = np.broadcast_to(np.zeros(1), (H, 3))
    with pytest.raises(MemoryError, match=re.escape("rnn_forward needs about")):
        backend.rnn_forward(np.zeros((2, 1, 3)), None, U, W)
