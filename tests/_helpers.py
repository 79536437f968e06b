"""Shared test helpers: random RNN problems, dtype casts and the tolerances of the oracle.

Imported by the test modules as ``from _helpers import ...``; conftest.py puts this
directory on sys.path, so it works whatever pytest's import mode.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastrnn
from fastrnn import reference

# How close a backend computing in dtype must come to the float64 reference. The inputs of
# rnn_problem are exactly representable in float32, so the float32 gap is arithmetic only.
# atol covers entries that are sums of many terms of either sign (dU, dW, db) and so end up
# much smaller than the terms themselves.
TOL = {
    np.float32: dict(rtol=1e-5, atol=1e-5),
    np.float64: dict(rtol=1e-12, atol=1e-12),
}

GRAD_NAMES = ("dx", "ds0", "dU", "dW", "db")
DTYPES = [np.float32, np.float64]

# (T, B, D, H): the edge sizes 1, and sizes off every vector width.
SIZES = [
    (1, 1, 1, 1),
    (1, 3, 5, 4),
    (2, 3, 5, 4),
    (7, 1, 5, 4),
    (7, 3, 1, 4),
    (7, 3, 5, 1),
    (7, 3, 5, 4),
    (13, 5, 17, 33),
    (17, 1, 3, 20),  # one row over 16 steps or more: the packed products (packed_gemm.h)
]

# What is compared with the float64 reference; (reference, float64) would be the oracle.
CANDIDATES = [
    pytest.param(fastrnn, np.float32, id="fast-float32"),
    pytest.param(fastrnn, np.float64, id="fast-float64"),
    pytest.param(reference, np.float32, id="reference-float32"),
]

# Central differences: error ~ STEP**2 from curvature, ~1e-16 / STEP from rounding.
STEP = 1e-6
GRAD_TOL = dict(rtol=1e-6, atol=1e-8)


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


def numerical_gradient(loss, arrays: dict) -> dict:
    """Central differences of loss(arrays) with respect to every entry of every array,
    as {"d" + name: gradient}. The arrays are perturbed in place and restored."""
    grads = {}
    for name, a in arrays.items():
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            original = a[i]
            a[i] = original + STEP
            up = loss(arrays)
            a[i] = original - STEP
            down = loss(arrays)
            a[i] = original
            g[i] = (up - down) / (2 * STEP)
        grads["d" + name] = g
    return grads


def truncations(T):
    """The windows worth checking for a sequence of T steps: full BPTT, the shortest
    windows, the longest window that still truncates, and windows that do not."""
    candidates = [None, 0, 1, 2, T - 2, T - 1, T + 5]
    return list(dict.fromkeys(K for K in candidates if K is None or K >= 0))


def strided(a):
    """A non-contiguous view holding a's values: every other element of a larger array,
    reversed along the first axis."""
    big = np.full(tuple(2 * n for n in a.shape), np.nan, dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)][::-1]
    view[...] = a
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def fortran(a):
    """a in Fortran order (a copy that is not C-contiguous when a has 2 or more axes)."""
    f = np.asfortranarray(a)
    assert a.ndim < 2 or not f.flags.c_contiguous
    return f


_RAW_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import fastrnn  # installs the BLAS, so that an unchecked call would really compute
    from fastrnn import _kernels as F

    T, B, D, H = {sizes}

    def z(*shape):
        return np.zeros(shape)

    for line in sys.stdin:
        name, call = line.rstrip("\\n").split("\\t")
        try:
            eval(call)
        except ValueError as e:
            print(name, "ValueError", e, sep="\\t", flush=True)
        else:
            print(name, "no error", sep="\\t", flush=True)
    """
)


def run_raw_binding_calls(calls: dict[str, str], sizes: tuple) -> tuple[int, str, dict]:
    """Evaluate each call (an expression on fastrnn._kernels as F, with the ints T, B, D,
    H = sizes and z(*shape) a float64 zero array) in one fresh interpreter, where a call
    that reached C unchecked could crash without taking pytest down. Returns the return
    code, stderr, and for each name "ValueError", a tab and the message, or "no error"."""
    done = subprocess.run(
        [sys.executable, "-c", _RAW_SCRIPT.format(sizes=sizes)],
        input="".join(f"{name}\t{call}\n" for name, call in calls.items()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes = dict(line.split("\t", 1) for line in done.stdout.splitlines())
    return done.returncode, done.stderr, outcomes


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


def numerical_gradient_of(f, a: np.ndarray, step: float = 1e-6) -> np.ndarray:
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


# ---- LSTM and GRU (issue 4) -----------------------------------------------------------

GATES = {"lstm": 4, "gru": 3}
# Arguments of lstm_forward / gru_forward, in order, and the fields of their grads.
CELL_INPUTS = {
    "lstm": ("x", "s0", "c0", "U", "W", "b_ih", "b_hh"),
    "gru": ("x", "s0", "U", "W", "b_ih", "b_hh"),
}
CELL_GRAD_NAMES = {
    "lstm": ("dx", "ds0", "dc0", "dU", "dW", "db_ih", "db_hh"),
    "gru": ("dx", "ds0", "dU", "dW", "db_ih", "db_hh"),
}


def cell_problem(rng, cell, T, B, D, H, bias=True) -> dict:
    """Float64 inputs of one LSTM or GRU call (CELL_INPUTS[cell]: U (G*H, D), W (G*H, H),
    b_ih and b_hh (G*H,) or None) and the gradients arriving for its backward pass, ds
    (T,B,H) and, for the LSTM, dc (T,B,H).

    Scaled like rnn_problem, so that the gates are neither saturated nor linear; every
    value is exactly representable in float32."""
    G = GATES[cell]
    p = {
        "x": rng.standard_normal((T, B, D)),
        "s0": 0.5 * rng.standard_normal((B, H)),
        "U": rng.standard_normal((G * H, D)) / np.sqrt(D),
        "W": 0.5 * rng.standard_normal((G * H, H)) / np.sqrt(H),
        "b_ih": 0.1 * rng.standard_normal(G * H) if bias else None,
        "b_hh": 0.1 * rng.standard_normal(G * H) if bias else None,
        "ds": rng.standard_normal((T, B, H)),
    }
    if cell == "lstm":
        p["c0"] = 0.5 * rng.standard_normal((B, H))
        p["dc"] = rng.standard_normal((T, B, H))
    return {name: None if a is None else _float32_exact(a) for name, a in p.items()}


def cell_forward(backend, cell, p: dict, **kwargs):
    """backend.lstm_forward or gru_forward on the problem p: (states, cache), states a
    dict with s (and c for the LSTM)."""
    args = [p[name] for name in CELL_INPUTS[cell]]
    if cell == "lstm":
        s, c, cache = backend.lstm_forward(*args, **kwargs)
        return {"s": s, "c": c}, cache
    s, cache = backend.gru_forward(*args, **kwargs)
    return {"s": s}, cache


def cell_backward(backend, cell, p: dict, cache, truncate=None):
    """backend.lstm_backward or gru_backward with the gradients of p (p["dc"] may be
    absent or None for the LSTM)."""
    if cell == "lstm":
        return backend.lstm_backward(p["ds"], cache, dc=p.get("dc"), truncate=truncate)
    return backend.gru_backward(p["ds"], cache, truncate=truncate)


def cell_forward_backward(backend, cell, p: dict, truncate=None):
    """The states and the grads of one forward and backward call of backend on p."""
    states, cache = cell_forward(backend, cell, p)
    return states, cell_backward(backend, cell, p, cache, truncate)


# ---- layer classes (issue 4) -----------------------------------------------------------


def states_of(cell):
    return ("h", "c") if cell == "LSTM" else ("h",)


def layer_data(rng, cell, num_layers, bidirectional, *, T, B, D, H):
    """float64 x (T,B,D), dout (T,B,directions*H), and per state name its initial value
    and the gradient on its final value, each (num_layers*directions, B, H)."""
    directions = 2 if bidirectional else 1
    L = num_layers * directions
    d = {"x": rng.standard_normal((T, B, D)), "dout": rng.standard_normal((T, B, directions * H))}
    for name in states_of(cell):
        d[f"{name}0"] = 0.5 * rng.standard_normal((L, B, H))
        d[f"d{name}_n"] = rng.standard_normal((L, B, H))
    return d


def layer_run(model, d, lengths=None, truncate=None):
    """Forward then backward through model; everything returned or stored, by name."""
    if type(model).__name__ == "LSTM":
        out, (h_n, c_n) = model(d["x"], (d["h0"], d["c0"]), lengths)
        dx, (dh0, dc0) = model.backward(d["dout"], (d["dh_n"], d["dc_n"]), truncate=truncate)
        results = {"out": out, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
    else:
        out, h_n = model(d["x"], d["h0"], lengths)
        dx, dh0 = model.backward(d["dout"], d["dh_n"], truncate=truncate)
        results = {"out": out, "h_n": h_n, "dx": dx, "dh0": dh0}
    results.update({f"grads[{name!r}]": g for name, g in model.grads.items()})
    return results


def interrupt_training(command: list, timeout: float, **popen) -> tuple[int, str, str]:
    """Start a ``fastrnn train`` command, send it SIGINT (Ctrl-C) half a second after it
    prints its "train " line, and return (exit status, stdout, stderr)."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    try:
        for line in proc.stdout:  # the header, then training starts
            if line.startswith("train "):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr
