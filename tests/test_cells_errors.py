"""Bad arguments to the LSTM and GRU kernels: the exception type and a message naming the
argument and what it needs, from both backends (they share fastrnn._contract).

The raw binding (fastrnn._kernels) repeats the shape checks so that nothing reaches C
unchecked; those calls run in a subprocess, where a missing check would crash (or read
out of bounds) without taking pytest down.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import CELL_INPUTS, GATES, run_raw_binding_calls

T, B, D, H = 7, 3, 5, 4
CELLS = ["lstm", "gru"]
GATE_NAMES = {"lstm": "i, f, g, o", "gru": "r, z, n"}


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param


def good_inputs(cell, dtype=np.float64):
    """Zero arrays of the right shapes for lstm_forward or gru_forward, by name."""
    G = GATES[cell]
    shapes = {
        "x": (T, B, D),
        "s0": (B, H),
        "c0": (B, H),
        "U": (G * H, D),
        "W": (G * H, H),
        "b_ih": (G * H,),
        "b_hh": (G * H,),
    }
    return {name: np.zeros(shapes[name], dtype=dtype) for name in CELL_INPUTS[cell]}


def call_forward(backend, cell, **changes):
    args = {**good_inputs(cell), **changes}
    return getattr(backend, f"{cell}_forward")(*(args[name] for name in CELL_INPUTS[cell]))


def forward_cache(backend, cell, dtype=np.float64):
    return call_forward(backend, cell, **good_inputs(cell, dtype))[-1]


def call_backward(backend, cell, ds, cache, **kwargs):
    return getattr(backend, f"{cell}_backward")(ds, cache, **kwargs)


def shape_cases(cell):
    """(changes to the good inputs, expected message) for every shape rule of the cell."""
    G, gates = GATES[cell], GATE_NAMES[cell]
    U_rule = (
        f"U must have shape ({G}H, D) = ({G}H, 5) with H >= 1 (the gates {gates} stacked) to "
        f"match x (T, B, D) = (7, 3, 5); got "
    )
    W_rule = f"W must have shape ({G}H, H) = ({G * H}, 4) to match U ({G}H, D) = ({G * H}, 5); got "
    state_rule = (
        "must have shape (B, H) = (3, 4) to match x (T, B, D) = (7, 3, 5) and "
        f"U ({G}H, D) = ({G * H}, 5); got "
    )
    bias_rule = f"must have shape ({G}H,) = ({G * H},) to match U ({G}H, D) = ({G * H}, 5); got "
    cases = [
        ({"x": np.zeros((T, B))}, "x must have shape (T, B, D) (time-major); got 2 dimensions"),
        (
            {"x": np.zeros((0, B, D))},
            "x must have shape (T, B, D) with T, B, D >= 1; got (0, 3, 5)",
        ),
        ({"U": np.zeros((G * H, D + 1))}, U_rule + f"({G * H}, 6)"),
        ({"U": np.zeros((G * H - 1, D))}, U_rule + f"({G * H - 1}, 5)"),
        ({"U": np.zeros((0, D))}, U_rule + "(0, 5)"),
        ({"U": np.zeros(D)}, U_rule + "(5,)"),
        ({"W": np.zeros((G * H, H + 1))}, W_rule + f"({G * H}, 5)"),
        ({"W": np.zeros((H, G * H))}, W_rule + f"(4, {G * H})"),
        ({"s0": np.zeros((H, B))}, "s0 " + state_rule + "(4, 3)"),
        ({"b_ih": np.zeros(H)}, "b_ih " + bias_rule + "(4,)"),
        ({"b_hh": np.zeros((1, G * H))}, "b_hh " + bias_rule + f"(1, {G * H})"),
    ]
    if cell == "lstm":
        cases.append(({"c0": np.zeros(H)}, "c0 " + state_rule + "(4,)"))
    return cases


ALL_SHAPE_CASES = [
    pytest.param(cell, changes, message, id=f"{cell}-{i}")
    for cell in CELLS
    for i, (changes, message) in enumerate(shape_cases(cell))
]


@pytest.mark.parametrize("cell, changes, message", ALL_SHAPE_CASES)
def test_forward_shape_mismatch(backend, cell, changes, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call_forward(backend, cell, **changes)


@pytest.mark.parametrize("missing, given", [("b_ih", "b_hh"), ("b_hh", "b_ih")])
def test_one_bias_without_the_other(backend, cell, missing, given):
    G = GATES[cell]
    message = (
        f"{missing} must be an array of shape ({G}H,) = ({G * H},) when {given} is given "
        "(PyTorch's cells have both biases or neither); got None"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        call_forward(backend, cell, **{missing: None})


@pytest.mark.parametrize("odd_one", ["x", "s0", "U", "W", "b_ih", "b_hh"])
def test_mixed_precisions_name_both_arguments(backend, cell, odd_one):
    args = good_inputs(cell, np.float32)
    args[odd_one] = args[odd_one].astype(np.float64)
    if odd_one == "x":
        message = "x has dtype float64 but s0 has dtype float32"
    else:
        message = f"x has dtype float32 but {odd_one} has dtype float64"
    with pytest.raises(TypeError, match=re.escape(message) + "; fastrnn never mixes"):
        call_forward(backend, cell, **args)


@pytest.mark.parametrize("name", ["x", "W", "b_hh"])
@pytest.mark.parametrize("dtype", [np.float16, np.complex128])
def test_unsupported_dtypes_are_rejected(backend, cell, name, dtype):
    value = good_inputs(cell)[name].astype(dtype)
    message = f"{name} has dtype {value.dtype}; "
    with pytest.raises(TypeError, match=re.escape(message)):
        call_forward(backend, cell, **{name: value})


@pytest.mark.parametrize(
    "truncate, error, message",
    [
        (-1, ValueError, "truncate must be None (full BPTT) or an int K >= 0; got -1"),
        (1.5, TypeError, "truncate must be None or an int K >= 0; got 1.5"),
        (True, TypeError, "truncate must be None or an int K >= 0; got True"),
    ],
)
def test_bad_truncate(backend, cell, truncate, error, message):
    cache = forward_cache(backend, cell)
    with pytest.raises(error, match=re.escape(message)):
        call_backward(backend, cell, np.zeros((T, B, H)), cache, truncate=truncate)


def test_backward_without_cache_points_to_need_cache(backend, cell):
    Cache = "LSTMCache" if cell == "lstm" else "GRUCache"
    message = (
        f"cache must be the {Cache} returned by {cell}_forward; got NoneType "
        f"({cell}_forward(..., need_cache=False) keeps none: call it with need_cache=True)"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        call_backward(backend, cell, np.zeros((T, B, H)), None)


def test_backward_rejects_the_other_cells_cache(backend):
    lstm_cache, gru_cache = forward_cache(backend, "lstm"), forward_cache(backend, "gru")
    ds = np.zeros((T, B, H))
    with pytest.raises(TypeError, match=re.escape("returned by lstm_forward; got GRUCache") + "$"):
        backend.lstm_backward(ds, gru_cache)
    with pytest.raises(TypeError, match=re.escape("returned by gru_forward; got LSTMCache") + "$"):
        backend.gru_backward(ds, lstm_cache)
    _, rnn_cache = backend.rnn_forward(
        np.zeros((T, B, D)), None, np.zeros((H, D)), np.zeros((H, H))
    )
    with pytest.raises(TypeError, match=re.escape("got RNNCache") + "$"):
        backend.gru_backward(ds, rnn_cache)


@pytest.mark.parametrize("bad_shape", [(T, B, H + 1), (T - 1, B, H), (B, H)])
def test_backward_gradient_shape_mismatch(backend, cell, bad_shape):
    cache = forward_cache(backend, cell)
    rule = "must have shape (T, B, H) = (7, 3, 4) like the states of the forward call; got "
    with pytest.raises(ValueError, match=re.escape("ds " + rule + str(bad_shape))):
        call_backward(backend, cell, np.zeros(bad_shape), cache)
    if cell == "lstm":
        with pytest.raises(ValueError, match=re.escape("dc " + rule + str(bad_shape))):
            backend.lstm_backward(np.zeros((T, B, H)), cache, dc=np.zeros(bad_shape))


@pytest.mark.parametrize("name", ["ds", "dc"])
@pytest.mark.parametrize(
    "forward_dtype, other", [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_gradients_must_have_the_forward_dtype(backend, name, forward_dtype, other):
    cache = forward_cache(backend, "lstm", forward_dtype)
    grads = {"ds": np.zeros((T, B, H), forward_dtype), "dc": None}
    grads[name] = np.zeros((T, B, H), other)
    message = (
        f"{name} has dtype {np.dtype(other)} but the forward pass (cache.s) ran in "
        f"{np.dtype(forward_dtype)}; convert it with {name}.astype(np.{np.dtype(forward_dtype)})"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        backend.lstm_backward(grads["ds"], cache, dc=grads["dc"])


def test_ds_none(backend, cell):
    cache = forward_cache(backend, cell)
    with pytest.raises(
        TypeError, match=re.escape("ds must be an array of shape (T, B, H); got None")
    ):
        call_backward(backend, cell, None, cache)


# The raw binding, called with what the Python API would have refused. z(*shape) makes a
# float64 zero array. Each call runs in one subprocess; its expected ValueError message.
LSTM_BACKWARD = (
    "F.lstm_backward(z(T, B, D), z(B, H), z(B, H), z(4 * H, D), z(4 * H, H), {s}, z(T, B, H), "
    "{gates}, z(T, B, H), {dc}, True, {K})"
)
GRU_BACKWARD = (
    "F.gru_backward(z(T, B, D), z(B, H), z(3 * H, D), z(3 * H, H), {b_hh}, z(T, B, H), {gates}, "
    "{ds}, {K})"
)
RAW_CASES = {
    "lstm-forward-T0": (
        "F.lstm_forward(z(0, B, D), z(B, H), z(B, H), z(4 * H, D), z(4 * H, H), None, None)",
        "x must have shape (T, B, D) with T, B, D >= 1; got (0, 3, 5)",
    ),
    "lstm-forward-H0": (
        "F.lstm_forward(z(T, B, D), z(B, 0), z(B, 0), z(0, D), z(0, 0), None, None)",
        "W must have shape (4H, H) with H >= 1; got (0, 0)",
    ),
    "lstm-forward-W": (
        "F.lstm_forward(z(T, B, D), z(B, H), z(B, H), z(4 * H, D), z(3 * H, H), None, None)",
        "W must have shape (4H, H) = (16, 4); got (12, 4)",
    ),
    "lstm-forward-U": (
        "F.lstm_forward(z(T, B, D), z(B, H), z(B, H), z(H, D), z(4 * H, H), None, None)",
        "U must have shape (4H, D) = (16, 5); got (4, 5)",
    ),
    "lstm-forward-c0": (
        "F.lstm_forward(z(T, B, D), z(B, H), z(B - 1, H), z(4 * H, D), z(4 * H, H), None, None)",
        "c0 must have shape (B, H) = (3, 4); got (2, 4)",
    ),
    "lstm-forward-b_hh": (
        "F.lstm_forward(z(T, B, D), z(B, H), z(B, H), z(4 * H, D), z(4 * H, H), z(4 * H), z(H))",
        "b_hh must have shape (4H,) = (16,); got (4,)",
    ),
    "lstm-backward-s": (
        LSTM_BACKWARD.format(s="z(T, B, H + 1)", gates="z(T, B, 4 * H)", dc="None", K=-1),
        "s must have shape (T, B, H) = (7, 3, 4); got (7, 3, 5)",
    ),
    "lstm-backward-gates": (
        LSTM_BACKWARD.format(s="z(T, B, H)", gates="z(T, B, 3 * H)", dc="None", K=2),
        "gates must have shape (T, B, 4H) = (7, 3, 16); got (7, 3, 12)",
    ),
    "lstm-backward-dc": (
        LSTM_BACKWARD.format(s="z(T, B, H)", gates="z(T, B, 4 * H)", dc="z(T - 1, B, H)", K=-1),
        "dc must have shape (T, B, H) = (7, 3, 4); got (6, 3, 4)",
    ),
    "gru-forward-U": (
        "F.gru_forward(z(T, B, D), z(B, H), z(3 * H, D + 1), z(3 * H, H), None, None)",
        "U must have shape (3H, D) = (12, 5); got (12, 6)",
    ),
    "gru-forward-s0": (
        "F.gru_forward(z(T, B, D), z(H, B), z(3 * H, D), z(3 * H, H), None, None)",
        "s0 must have shape (B, H) = (3, 4); got (4, 3)",
    ),
    "gru-forward-b_ih": (
        "F.gru_forward(z(T, B, D), z(B, H), z(3 * H, D), z(3 * H, H), z(4 * H), None)",
        "b_ih must have shape (3H,) = (12,); got (16,)",
    ),
    "gru-backward-gates": (
        GRU_BACKWARD.format(b_hh="z(3 * H)", gates="z(T, B, 4 * H)", ds="z(T, B, H)", K=-1),
        "gates must have shape (T, B, 3H) = (7, 3, 12); got (7, 3, 16)",
    ),
    "gru-backward-b_hh": (
        GRU_BACKWARD.format(b_hh="z(H)", gates="z(T, B, 3 * H)", ds="z(T, B, H)", K=1),
        "b_hh must have shape (3H,) = (12,); got (4,)",
    ),
    "gru-backward-ds": (
        GRU_BACKWARD.format(b_hh="None", gates="z(T, B, 3 * H)", ds="z(T, B, 1)", K=-1),
        "ds must have shape (T, B, H) = (7, 3, 4); got (7, 3, 1)",
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

    x, s0, c0, U, W, b_ih, b_hh = good_inputs("lstm").values()
    with pytest.raises(ValueError, match=re.escape("Buffer dtype mismatch")):
        _kernels.lstm_forward(x, s0, c0.astype(np.float32), U, W, b_ih, b_hh)
    with pytest.raises(ValueError, match=re.escape("Buffer dtype mismatch")):
        _kernels.lstm_forward(x, s0, c0, U, W, b_ih, b_hh.astype(np.float32))
    with pytest.raises(ValueError, match="not C-contiguous"):
        _kernels.lstm_forward(x, s0, c0, U, np.asfortranarray(W), b_ih, b_hh)
