"""The reference's LSTM and GRU gradients against central finite differences, in float64.

This is what makes the float64 reference an oracle for the fast kernels. The loss is
L = sum(ds * s) + sum(dc * c) (the LSTM) or sum(ds * s) (the GRU), so ds and dc are what
the backward passes receive. The recurrences here are written from PyTorch's equations,
independent of the reference's code.

Truncated BPTT is checked against the definition of test_gradcheck.py: with a window of K,
the output at step t (s_t, and c_t for the LSTM) sees the recurrence only from step
j0 = max(0, t - K) on, started from the states of step j0 - 1 of the full run taken as
constants (s0 and c0 themselves when j0 = 0, the only case in which they get a gradient).
The truncated gradient is the sum over t of the exact gradients of those windowed losses.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import (
    CELL_GRAD_NAMES,
    CELL_INPUTS,
    GRAD_TOL,
    cell_forward,
    cell_forward_backward,
    cell_problem,
    numerical_gradient,
)
from numpy.testing import assert_allclose, assert_array_equal

from fastrnn import reference

T, B, D, H = 5, 2, 3, 2
CELLS = ["lstm", "gru"]


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def gate_blocks(a, count):
    """The count gate blocks (each (B, H)) of pre-activations a (B, count*H)."""
    return [a[:, k * H : (k + 1) * H] for k in range(count)]


def lstm_step(x_t, states, U, W, b_ih, b_hh):
    """(s_t, c_t) from (s_{t-1}, c_{t-1}): torch.nn.LSTM's equations."""
    s, c = states
    a_i, a_f, a_g, a_o = gate_blocks(x_t @ U.T + b_ih + s @ W.T + b_hh, 4)
    c = sigmoid(a_f) * c + sigmoid(a_i) * np.tanh(a_g)
    return sigmoid(a_o) * np.tanh(c), c


def gru_step(x_t, states, U, W, b_ih, b_hh):
    """(s_t,) from (s_{t-1},): torch.nn.GRU's equations, b_hn inside the r product."""
    (s,) = states
    x_r, x_z, x_n = gate_blocks(x_t @ U.T + b_ih, 3)
    h_r, h_z, h_n = gate_blocks(s @ W.T + b_hh, 3)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * s,)


STEPS = {"lstm": lstm_step, "gru": gru_step}
STATES = {"lstm": ("s0", "c0"), "gru": ("s0",)}  # initial states, in the steps' order
ARRIVING = {"lstm": ("ds", "dc"), "gru": ("ds",)}  # the gradients arriving for them


def run(cell, arrays, states, start, stop):
    """The states of every step start..stop-1, run from ``states`` (those of step
    start-1) with the inputs and weights in arrays; missing biases are zero."""
    weights = [arrays.get(name) for name in ("U", "W", "b_ih", "b_hh")]
    weights[2:] = [0.0 if b is None else b for b in weights[2:]]
    out = []
    for j in range(start, stop):
        states = STEPS[cell](arrays["x"][j], states, *weights)
        out.append(states)
    return out


def loss_at(cell, p, t, states):
    """L_t = <ds[t], s_t> (+ <dc[t], c_t>) for the states of step t."""
    return sum(
        np.sum(p[name][t] * state) for name, state in zip(ARRIVING[cell], states, strict=True)
    )


def full_loss(cell, p, arrays):
    states = tuple(arrays[name] for name in STATES[cell])
    steps = run(cell, arrays, states, 0, T)
    return sum(loss_at(cell, p, t, steps[t]) for t in range(T))


def inputs(p, cell):
    return {name: p[name].copy() for name in CELL_INPUTS[cell] if p[name] is not None}


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_independent_recurrence_is_the_forward_pass(cell, bias, rng):
    """run(), on which the oracles below rest, agrees with the reference's forward pass."""
    p = cell_problem(rng, cell, T, B, D, H, bias=bias)
    want, _ = cell_forward(reference, cell, p)
    arrays = inputs(p, cell)
    steps = run(cell, arrays, tuple(arrays[name] for name in STATES[cell]), 0, T)
    for k, name in enumerate(want):  # s, then c
        got = np.stack([states[k] for states in steps])
        assert_allclose(got, want[name], rtol=1e-14, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_full_bptt_matches_finite_differences(cell, bias, rng):
    p = cell_problem(rng, cell, T, B, D, H, bias=bias)
    want = numerical_gradient(lambda arrays: full_loss(cell, p, arrays), inputs(p, cell))
    _, got = cell_forward_backward(reference, cell, p)
    for name in CELL_GRAD_NAMES[cell]:
        if not bias and name.startswith("db"):
            assert getattr(got, name) is None, name
            continue
        assert_allclose(getattr(got, name), want[name], **GRAD_TOL, err_msg=name)


def truncated_gradient(cell, p, K):
    """The truncated BPTT gradient by its definition (module docstring), from central
    differences of every windowed loss L_t."""
    arrays = inputs(p, cell)
    full_run = run(cell, arrays, tuple(arrays[name] for name in STATES[cell]), 0, T)
    total = {"d" + name: np.zeros_like(a) for name, a in arrays.items()}
    for t in range(T):
        start = max(0, t - K)

        def loss(arrays, t=t, start=start):
            if start > 0:
                states = full_run[start - 1]  # constants: no gradient flows past them
            else:
                states = tuple(arrays[name] for name in STATES[cell])
            return loss_at(cell, p, t, run(cell, arrays, states, start, t + 1)[-1])

        for name, g in numerical_gradient(loss, arrays).items():
            total[name] += g
    return total


@pytest.mark.parametrize("K", [0, 1, 2, T - 1])
def test_truncated_bptt_matches_its_definition(cell, K, rng):
    p = cell_problem(rng, cell, T, B, D, H)
    want = truncated_gradient(cell, p, K)
    _, got = cell_forward_backward(reference, cell, p, truncate=K)
    for name in CELL_GRAD_NAMES[cell]:
        assert_allclose(getattr(got, name), want[name], **GRAD_TOL, err_msg=f"{name}, K={K}")
    if K < T - 1:
        # The window really cuts something off: this is not full BPTT in disguise.
        _, full = cell_forward_backward(reference, cell, p)
        assert not np.allclose(got.dW, full.dW)


def test_lstm_biases_get_equal_gradients_gru_biases_differ_in_n(rng):
    """Both LSTM biases enter as b_ih + b_hh; the GRU's b_hn sits inside r * (...), so its
    n block differs from b_in's while the r and z blocks agree."""
    p = cell_problem(rng, "lstm", T, B, D, H)
    _, g = cell_forward_backward(reference, "lstm", p)
    assert_array_equal(g.db_ih, g.db_hh)
    assert g.db_ih is not g.db_hh
    p = cell_problem(rng, "gru", T, B, D, H)
    _, g = cell_forward_backward(reference, "gru", p)
    assert_allclose(g.db_ih[: 2 * H], g.db_hh[: 2 * H], rtol=1e-14)
    assert not np.allclose(g.db_ih[2 * H :], g.db_hh[2 * H :])
