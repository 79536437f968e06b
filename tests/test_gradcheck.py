"""The reference's gradients against central finite differences, in float64.

This is what makes the float64 reference an oracle for the fast kernels. The loss is
L = sum(ds * s) for a random ds, so dL/ds = ds is what rnn_backward receives.

Truncated BPTT is checked against a definition written here, independent of the
reference's loops: with a window of K, the output at step t sees the recurrence only
from step j0 = max(0, t - K) on, started from the state s_{j0-1} of the full forward run
taken as a constant (s0 itself when j0 = 0, the only case in which s0 gets a gradient).
The truncated gradient is the sum over t of the exact gradients of those windowed losses.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import GRAD_NAMES, GRAD_TOL, numerical_gradient, rnn_problem
from numpy.testing import assert_allclose

from fastrnn import reference

T, B, D, H = 5, 2, 3, 4
INPUTS = {"dx": "x", "ds0": "s0", "dU": "U", "dW": "W", "db": "b"}


def activation(nonlinearity, a):
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)


def run_window(x, s_start, U, W, b, nonlinearity, start, stop):
    """The state s_{stop-1}: the recurrence s_j = f(U x_j + W s_{j-1} + b) run over steps
    start..stop-1 from s_{start-1} = s_start. Written from the math, not the reference."""
    s = s_start
    for j in range(start, stop):
        s = activation(nonlinearity, x[j] @ U.T + s @ W.T + b)
    return s


def pre_activations(p, nonlinearity):
    """a_t = U x_t + W s_{t-1} + b for every step of the full forward run, (T, B, H)."""
    s, _ = reference.rnn_forward(**forward_args(p), nonlinearity=nonlinearity)
    s_prev = np.concatenate([p["s0"][None], s[:-1]])
    return p["x"] @ p["U"].T + s_prev @ p["W"].T + p["b"]


def forward_args(p):
    return {name: p[name] for name in ("x", "s0", "U", "W", "b")}


@pytest.fixture(params=["tanh", "relu"])
def problem(request, rng):
    """A small problem and its nonlinearity; for relu, no pre-activation lies within a
    finite-difference step of the kink at 0 (checked, not hoped for)."""
    nonlinearity = request.param
    p = rnn_problem(rng, T, B, D, H)
    assert np.abs(pre_activations(p, nonlinearity)).min() > 1e-3
    return p, nonlinearity


def test_window_recurrence_is_the_forward_pass(problem):
    """run_window, on which the truncated oracle rests, agrees with rnn_forward."""
    p, nonlinearity = problem
    s, _ = reference.rnn_forward(**forward_args(p), nonlinearity=nonlinearity)
    for t in range(T):
        state = run_window(p["x"], p["s0"], p["U"], p["W"], p["b"], nonlinearity, 0, t + 1)
        assert_allclose(state, s[t], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_full_bptt_matches_finite_differences(problem, bias):
    p, nonlinearity = problem
    if not bias:
        p = {**p, "b": None}

    def loss(arrays):
        x, s0, U, W, b = (arrays.get(name) for name in ("x", "s0", "U", "W", "b"))
        s, _ = reference.rnn_forward(x, s0, U, W, b, nonlinearity=nonlinearity)
        return np.sum(p["ds"] * s)

    arrays = {name: a.copy() for name, a in forward_args(p).items() if a is not None}
    want = numerical_gradient(loss, arrays)
    _, cache = reference.rnn_forward(**forward_args(p), nonlinearity=nonlinearity)
    got = reference.rnn_backward(p["ds"], cache)
    if not bias:
        assert got.db is None
    for name in want:
        assert_allclose(getattr(got, name), want[name], **GRAD_TOL, err_msg=name)


def truncated_gradient(p, nonlinearity, K):
    """The truncated BPTT gradient by its definition (see the module docstring), from
    central differences of every windowed loss L_t = <ds[t], s_t>."""
    s_full, _ = reference.rnn_forward(**forward_args(p), nonlinearity=nonlinearity)
    total = {"d" + name: np.zeros_like(a) for name, a in forward_args(p).items()}
    for t in range(T):
        start = max(0, t - K)
        s_start_constant = s_full[start - 1] if start > 0 else None

        def loss(arrays, t=t, start=start, s_start_constant=s_start_constant):
            s_start = arrays["s0"] if s_start_constant is None else s_start_constant
            x, U, W, b = arrays["x"], arrays["U"], arrays["W"], arrays["b"]
            s_t = run_window(x, s_start, U, W, b, nonlinearity, start, t + 1)
            return np.sum(p["ds"][t] * s_t)

        arrays = {name: a.copy() for name, a in forward_args(p).items()}
        for name, g in numerical_gradient(loss, arrays).items():
            total[name] += g
    return total


@pytest.mark.parametrize("K", [0, 1, 2, T - 1])
def test_truncated_bptt_matches_its_definition(problem, K):
    p, nonlinearity = problem
    want = truncated_gradient(p, nonlinearity, K)
    _, cache = reference.rnn_forward(**forward_args(p), nonlinearity=nonlinearity)
    got = reference.rnn_backward(p["ds"], cache, truncate=K)
    for name in GRAD_NAMES:
        assert_allclose(getattr(got, name), want[name], **GRAD_TOL, err_msg=f"{name}, K={K}")
    if K < T - 1:
        # The window really cuts something off: this is not full BPTT in disguise.
        assert not np.allclose(got.dW, reference.rnn_backward(p["ds"], cache).dW)
