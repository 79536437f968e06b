"""lstm_forward / gru_forward with U=None: x is the input projection U x_t of every gate,
(T, B, G*H), as an embedding lookup gives it for token input (the language model's first
layer). dU is then None and dx is the gradient on the projection.

The oracle: the float64 reference with U=None, which must equal the reference fed the
same x with U the identity (G*H, G*H), an independent reading of "x is U x_t already".
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import (
    CANDIDATES,
    CELL_GRAD_NAMES,
    GATES,
    assert_close,
    cast,
    cell_backward,
    cell_forward,
    cell_problem,
    run_raw_binding_calls,
)
from numpy.testing import assert_array_equal

from fastrnn import reference

CELLS = ["lstm", "gru"]


def projected_problem(rng, cell, T, B, H, bias=True) -> dict:
    """A cell_problem whose x is a projection (T, B, G*H) and whose U is None."""
    G = GATES[cell]
    p = cell_problem(rng, cell, T, B, G * H, H, bias=bias)
    p["x"] = p["x"] / np.sqrt(G * H) * 4  # of the size of U x_t in cell_problem
    p["x"] = p["x"].astype(np.float32).astype(np.float64)
    p["U"] = None
    return p


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_reference_none_equals_identity(cell, bias, rng):
    p = projected_problem(rng, cell, T=6, B=3, H=4, bias=bias)
    identity = {**p, "U": np.eye(GATES[cell] * 4)}
    for K in (None, 2):
        states, cache = cell_forward(reference, cell, p)
        states_eye, cache_eye = cell_forward(reference, cell, identity)
        got = cell_backward(reference, cell, p, cache, truncate=K)
        want = cell_backward(reference, cell, identity, cache_eye, truncate=K)
        for name, s in states_eye.items():
            assert_array_equal(states[name], s, err_msg=name)
        assert got.dU is None and want.dU is not None
        for name in CELL_GRAD_NAMES[cell]:
            if name != "dU" and getattr(want, name) is not None:
                assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T, B, H", [(1, 1, 1), (7, 3, 4), (9, 2, 9)])
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_matches_float64_reference(cell, impl, dtype, T, B, H, rng):
    p = projected_problem(rng, cell, T, B, H)
    states_want, cache_want = cell_forward(reference, cell, p)
    states, cache = cell_forward(impl, cell, cast(p, dtype))
    assert cache.U is None
    for name, want in states_want.items():
        assert_close(states[name], want, dtype, name)
    for K in (None, 0, 1, T - 1):
        want = cell_backward(reference, cell, p, cache_want, truncate=K)
        got = cell_backward(impl, cell, cast(p, dtype), cache, truncate=K)
        assert got.dU is None
        assert got.dx.shape == (T, B, GATES[cell] * H)
        for name in CELL_GRAD_NAMES[cell]:
            if name != "dU":
                assert_close(getattr(got, name), getattr(want, name), dtype, f"{name}, K={K}")


@pytest.mark.parametrize("cell", CELLS)
def test_shape_errors_name_the_projection(backend, cell):
    G = GATES[cell]
    W = np.zeros((G * 4, 4))
    forward = getattr(backend, f"{cell}_forward")
    states = (None, None) if cell == "lstm" else (None,)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"x must have shape (T, B, {G}H) = (7, 3, {G * 4}) to match W ({G}H, H) = "
            f"({G * 4}, 4) when U is None (x is then the input projection U x_t of the {G} "
            "gates); got (7, 3, 5)"
        ),
    ):
        forward(np.zeros((7, 3, 5)), *states, None, W)
    with pytest.raises(
        ValueError, match=re.escape(f"W must have shape ({G}H, H) with H >= 1 (the gates")
    ):
        forward(np.zeros((7, 3, G * 4)), *states, None, np.zeros((4, 4)))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"s0 must have shape (B, H) = (3, 4) to match x (T, B, D) = (7, 3, {G * 4})"
            f" and W ({G}H, H) = ({G * 4}, 4); got (3, 5)"
        ),
    ):
        forward(np.zeros((7, 3, G * 4)), np.zeros((3, 5)), *states[1:], None, W)


def test_raw_binding_checks_the_projection_width():
    calls = {
        "lstm": "F.lstm_forward(z(T, B, D), z(B, H), z(B, H), None, z(4 * H, H), None, None)",
        "gru": "F.gru_backward(z(T, B, D), z(B, H), None, z(3 * H, H), None, z(T, B, H), "
        "z(T, B, 3 * H), z(T, B, H), -1)",
    }
    returncode, stderr, outcomes = run_raw_binding_calls(calls, (7, 3, 5, 4))
    assert returncode == 0, stderr
    assert outcomes["lstm"] == (
        "ValueError\tx (U is None) must have shape (T, B, 4H) = (7, 3, 16); got (7, 3, 5)"
    )
    assert outcomes["gru"] == (
        "ValueError\tx (U is None) must have shape (T, B, 3H) = (7, 3, 12); got (7, 3, 5)"
    )
