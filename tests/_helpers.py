"""Shared test helpers: random RNN problems, dtype casts and the tolerances of the oracle.

Imported by the test modules as ``from _helpers import ...``; conftest.py puts this
directory on sys.path, so it works whatever pytest's import mode.
"""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

# How close a backend computing in dtype must come to the float64 reference. The inputs of
# rnn_problem are exactly representable in float32, so the float32 gap is arithmetic only.
# atol covers entries that are sums of many terms of either sign (dU, dW, db) and so end up
# much smaller than the terms themselves.
TOL = {
    np.float32: dict(rtol=1e-5, atol=1e-5),
    np.float64: dict(rtol=1e-12, atol=1e-12),
}

GRAD_NAMES = ("dx", "ds0", "dU", "dW", "db")


def _float32_exact(a: np.ndarray) -> np.ndarray:
    """a rounded to float32, as float64: the same numbers in both precisions."""
    return a.astype(np.float32).astype(np.float64)


def rnn_problem(rng, T, B, D, H, bias=True) -> dict:
    """Float64 inputs of one RNN call, x (T,B,D), s0 (B,H), U (H,D), W (H,H), b (H,) or
    None, and ds (T,B,H) for the backward pass.

    Weights are N(0, 1) / sqrt(fan_in) (W halved) so that the pre-activations stay of order
    one: tanh is not saturated and relu is active on about half of the units. Every value
    is exactly representable in float32."""
    p = {
        "x": rng.standard_normal((T, B, D)),
        "s0": 0.5 * rng.standard_normal((B, H)),
        "U": rng.standard_normal((H, D)) / np.sqrt(D),
        "W": 0.5 * rng.standard_normal((H, H)) / np.sqrt(H),
        "b": 0.1 * rng.standard_normal(H) if bias else None,
        "ds": rng.standard_normal((T, B, H)),
    }
    return {name: None if a is None else _float32_exact(a) for name, a in p.items()}


def cast(p: dict, dtype) -> dict:
    """p with every array converted to dtype (None stays None)."""
    return {name: None if a is None else a.astype(dtype) for name, a in p.items()}


def forward(backend, p: dict, nonlinearity="tanh", **kwargs):
    """backend.rnn_forward on the problem p: (s, cache)."""
    return backend.rnn_forward(
        p["x"], p["s0"], p["U"], p["W"], p["b"], nonlinearity=nonlinearity, **kwargs
    )


def forward_backward(backend, p: dict, nonlinearity="tanh", truncate=None):
    """s and the RNNGrads of one forward and backward call of backend on p."""
    s, cache = forward(backend, p, nonlinearity)
    return s, backend.rnn_backward(p["ds"], cache, truncate=truncate)


def assert_close(got: np.ndarray, want: np.ndarray, dtype, name: str) -> None:
    """got (computed in dtype) agrees with the float64 oracle want, and has dtype."""
    assert got.dtype == dtype, f"{name} has dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert_allclose(got, want, **TOL[dtype], err_msg=name)


def numerical_gradient(f, a: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() over every entry of a, perturbed in place
    (and restored): error ~ step**2 from curvature, ~1e-16 / step from rounding."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        original = a[i]
        a[i] = original + step
        up = f()
        a[i] = original - step
        down = f()
        a[i] = original
        g[i] = (up - down) / (2 * step)
    return g
