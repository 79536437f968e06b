"""What both backends agree on: argument checks, conversions and result types.

``fastrnn`` (C kernels) and ``fastrnn.reference`` (NumPy) call the same checks before any
arithmetic, so a bad argument gets the same exception from either, and both hand the
kernels the same thing: C-contiguous float32 or float64 arrays of checked shapes.

dtype rules. float32 and float64 are both first class and never mixed: every argument
that arrives with a floating dtype of its own (an array) must share it (else TypeError
naming both). Lists, Python numbers and integer or boolean arrays are converted to that
dtype (float64 when no argument is floating). float16, longdouble, complex and object
arrays raise TypeError.

NaN and Inf are not rejected: they propagate through the arithmetic as in NumPy.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

NONLINEARITIES = ("tanh", "relu")
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward: its (converted) inputs and the states."""

    x: np.ndarray  # (T, B, D)
    s0: np.ndarray  # (B, H)
    U: np.ndarray  # (H, D)
    W: np.ndarray  # (H, H)
    b: np.ndarray | None  # (H,)
    s: np.ndarray  # (T, B, H)
    nonlinearity: str


class RNNGrads(NamedTuple):
    """Gradients of rnn_backward; db is None when the forward call had no bias."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dU: np.ndarray  # (H, D)
    dW: np.ndarray  # (H, H)
    db: np.ndarray | None  # (H,)


def _shape(a: np.ndarray) -> str:
    return str(tuple(int(n) for n in a.shape))


def common_float_dtype(arrays: dict, untyped: frozenset = frozenset()) -> np.dtype:
    """The one floating dtype the arrays share, float64 when none is floating.

    Arrays named in ``untyped`` came from lists or Python numbers: they take the others'
    dtype instead of voting for one. Raises TypeError for unsupported dtypes or two
    different floating dtypes."""
    found: dict[np.dtype, str] = {}
    for name, a in arrays.items():
        if a is None:
            continue
        dtype = a.dtype
        if dtype.kind == "f" and name not in untyped:
            if dtype not in SUPPORTED_DTYPES:
                raise TypeError(
                    f"{name} has dtype {dtype}; fastrnn computes in float32 or float64: "
                    f"convert it with {name}.astype(np.float32) or .astype(np.float64)"
                )
            found.setdefault(dtype, name)
        elif dtype.kind not in "fiub":
            raise TypeError(
                f"{name} has dtype {dtype}; expected a real floating array (float32 or float64)"
            )
    if len(found) > 1:
        (d1, n1), (d2, n2) = list(found.items())[:2]
        raise TypeError(
            f"{n1} has dtype {d1} but {n2} has dtype {d2}; fastrnn never mixes precisions: "
            f"convert one of them, e.g. {n2}.astype(np.{d1})"
        )
    return next(iter(found), np.dtype(np.float64))


def as_arrays(**values) -> tuple[dict[str, np.ndarray | None], frozenset]:
    """np.asarray of each value (None stays None), and the names of those that had no
    dtype of their own (lists, Python numbers). Objects NumPy cannot read raise."""
    out = {}
    for name, v in values.items():
        if v is None:
            out[name] = None
            continue
        try:
            out[name] = np.asarray(v)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name} could not be read as an array: {e}") from None
    untyped = frozenset(n for n, v in values.items() if v is not None and not hasattr(v, "dtype"))
    return out, untyped


def as_float(a: np.ndarray | None, dtype: np.dtype) -> np.ndarray | None:
    """a as a C-contiguous array of dtype (no copy when it already is one)."""
    return None if a is None else np.ascontiguousarray(a, dtype=dtype)


def check_nonlinearity(nonlinearity) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
    return nonlinearity


def check_x(x: np.ndarray) -> tuple[int, int, int]:
    """(T, B, D) of the time-major input x, each >= 1, or ValueError."""
    if x.ndim != 3:
        raise ValueError(
            f"x must have shape (T, B, D) (time-major); got {x.ndim} dimensions, shape {_shape(x)}"
        )
    T, B, D = x.shape
    if T == 0 or B == 0 or D == 0:
        raise ValueError(f"x must have shape (T, B, D) with T, B, D >= 1; got {_shape(x)}")
    return T, B, D


def check_rnn_forward(x, s0, U, W, b, nonlinearity):
    """Checked and converted (x, s0, U, W, b) for rnn_forward; s0=None becomes zeros."""
    check_nonlinearity(nonlinearity)
    a, untyped = as_arrays(x=x, s0=s0, U=U, W=W, b=b)
    dtype = common_float_dtype(a, untyped)
    x, s0, U, W, b = a["x"], a["s0"], a["U"], a["W"], a["b"]
    T, B, D = check_x(x)
    if U.ndim != 2 or U.shape[1] != D or U.shape[0] == 0:
        raise ValueError(
            f"U must have shape (H, D) = (H, {D}) with H >= 1 to match x (T, B, D) = "
            f"{_shape(x)}; got {_shape(U)}"
        )
    H = U.shape[0]
    if W.shape != (H, H):
        raise ValueError(
            f"W must have shape (H, H) = ({H}, {H}) to match U (H, D) = {_shape(U)}; "
            f"got {_shape(W)}"
        )
    if s0 is not None and s0.shape != (B, H):
        raise ValueError(
            f"s0 must have shape (B, H) = ({B}, {H}) to match x (T, B, D) = {_shape(x)} and "
            f"U (H, D) = {_shape(U)}; got {_shape(s0)}"
        )
    if b is not None and b.shape != (H,):
        raise ValueError(
            f"b must have shape (H,) = ({H},) to match U (H, D) = {_shape(U)}; got {_shape(b)}"
        )
    s0 = np.zeros((B, H), dtype=dtype) if s0 is None else as_float(s0, dtype)
    return as_float(x, dtype), s0, as_float(U, dtype), as_float(W, dtype), as_float(b, dtype)


def check_truncate(truncate) -> int | None:
    """None (full BPTT) or a window K >= 0 as a Python int."""
    if truncate is None:
        return None
    if isinstance(truncate, bool):
        raise TypeError(f"truncate must be None or an int K >= 0; got {truncate!r}")
    try:
        K = operator.index(truncate)
    except TypeError:
        raise TypeError(f"truncate must be None or an int K >= 0; got {truncate!r}") from None
    if K < 0:
        raise ValueError(f"truncate must be None (full BPTT) or an int K >= 0; got {K}")
    return K


def check_cache(cache, cache_type: type, forward_name: str) -> None:
    """TypeError unless cache is a cache_type, as forward_name returns it."""
    if not isinstance(cache, cache_type):
        hint = (
            f" ({forward_name}(..., need_cache=False) keeps none: call it with need_cache=True)"
            if cache is None
            else ""
        )
        raise TypeError(
            f"cache must be the {cache_type.__name__} returned by {forward_name}; "
            f"got {type(cache).__name__}{hint}"
        )


def check_state_gradient(name: str, g, states: np.ndarray, *, optional: bool = False):
    """g, a gradient arriving for the (T, B, H) states of a forward call, converted to their
    dtype: the same shape, and a floating dtype only if it is theirs. None stays None when
    optional."""
    arrays, untyped = as_arrays(**{name: g})
    g = arrays[name]
    if g is None:
        if optional:
            return None
        raise TypeError(f"{name} must be an array of shape (T, B, H); got None")
    dtype = states.dtype
    if g.dtype.kind == "f" and g.dtype != dtype and not untyped:
        raise TypeError(
            f"{name} has dtype {g.dtype} but the forward pass (cache.s) ran in {dtype}; "
            f"convert it with {name}.astype(np.{dtype})"
        )
    common_float_dtype(arrays, untyped)
    if g.shape != states.shape:
        T, B, H = states.shape
        raise ValueError(
            f"{name} must have shape (T, B, H) = ({T}, {B}, {H}) like the states of the forward "
            f"call; got {_shape(g)}"
        )
    return as_float(g, dtype)


def check_rnn_backward(ds, cache, truncate):
    """Checked (ds, cache, K) for rnn_backward; ds gets the cache's dtype or raises."""
    check_cache(cache, RNNCache, "rnn_forward")
    K = check_truncate(truncate)
    return check_state_gradient("ds", ds, cache.s), cache, K


# ---- LSTM and GRU (issue 4) -----------------------------------------------------------
#
# PyTorch's gate order and layout: the gates' weights are stacked along the rows, so U is
# (G*H, D) and W (G*H, H) with G = 4 (LSTM: i, f, g, o) or G = 3 (GRU: r, z, n). Both
# biases b_ih and b_hh (G*H,) are kept, as in PyTorch; either both or neither.

LSTM_GATES = "i, f, g, o"
GRU_GATES = "r, z, n"


class LSTMCache(NamedTuple):
    """What lstm_backward needs from lstm_forward: its (converted) inputs, the states and
    the gate values."""

    x: np.ndarray  # (T, B, D)
    s0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)
    U: np.ndarray  # (4H, D)
    W: np.ndarray  # (4H, H)
    b_ih: np.ndarray | None  # (4H,)
    b_hh: np.ndarray | None  # (4H,)
    s: np.ndarray  # (T, B, H) hidden states
    c: np.ndarray  # (T, B, H) cell states
    gates: np.ndarray  # (T, B, 4H): i, f, g, o after their sigmoid or tanh


class LSTMGrads(NamedTuple):
    """Gradients of lstm_backward; db_ih and db_hh are None when the forward call had no
    biases (with biases they are equal: both enter the gates as b_ih + b_hh)."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dc0: np.ndarray  # (B, H)
    dU: np.ndarray  # (4H, D)
    dW: np.ndarray  # (4H, H)
    db_ih: np.ndarray | None  # (4H,)
    db_hh: np.ndarray | None  # (4H,)


class GRUCache(NamedTuple):
    """What gru_backward needs from gru_forward: its (converted) inputs, the states, the
    gate values and the recurrent part of n's pre-activation, which r multiplies."""

    x: np.ndarray  # (T, B, D)
    s0: np.ndarray  # (B, H)
    U: np.ndarray  # (3H, D)
    W: np.ndarray  # (3H, H)
    b_ih: np.ndarray | None  # (3H,)
    b_hh: np.ndarray | None  # (3H,)
    s: np.ndarray  # (T, B, H)
    gates: np.ndarray  # (T, B, 3H): r, z, n after their sigmoid or tanh
    hn: np.ndarray  # (T, B, H): W_hn s_{t-1} + b_hn


class GRUGrads(NamedTuple):
    """Gradients of gru_backward; db_ih and db_hh are None when the forward call had no
    biases (with biases they differ in the n block, where b_hn sits inside r * (...))."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dU: np.ndarray  # (3H, D)
    dW: np.ndarray  # (3H, H)
    db_ih: np.ndarray | None  # (3H,)
    db_hh: np.ndarray | None  # (3H,)


def check_gated_forward(gate_names: str, x, states: dict, U, W, b_ih, b_hh):
    """Checked and converted arguments of a gated cell's forward pass.

    gate_names is LSTM_GATES or GRU_GATES (G = its number of gates); states maps the names
    of the initial states (s0, and c0 for the LSTM) to arrays or None (zeros). Returns
    (x, states, U, W, b_ih, b_hh) with every array C-contiguous in the common dtype."""
    G = len(gate_names.split(", "))
    a, untyped = as_arrays(x=x, **states, U=U, W=W, b_ih=b_ih, b_hh=b_hh)
    dtype = common_float_dtype(a, untyped)
    x, U, W, b_ih, b_hh = a["x"], a["U"], a["W"], a["b_ih"], a["b_hh"]
    T, B, D = check_x(x)
    if U.ndim != 2 or U.shape[1] != D or U.shape[0] == 0 or U.shape[0] % G != 0:
        raise ValueError(
            f"U must have shape ({G}H, D) = ({G}H, {D}) with H >= 1 (the gates {gate_names} "
            f"stacked) to match x (T, B, D) = {_shape(x)}; got {_shape(U)}"
        )
    H = U.shape[0] // G
    if W.shape != (G * H, H):
        raise ValueError(
            f"W must have shape ({G}H, H) = ({G * H}, {H}) to match U ({G}H, D) = {_shape(U)}; "
            f"got {_shape(W)}"
        )
    for name in states:
        if a[name] is not None and a[name].shape != (B, H):
            raise ValueError(
                f"{name} must have shape (B, H) = ({B}, {H}) to match x (T, B, D) = "
                f"{_shape(x)} and U ({G}H, D) = {_shape(U)}; got {_shape(a[name])}"
            )
    for name, other in (("b_ih", "b_hh"), ("b_hh", "b_ih")):
        if a[name] is None and a[other] is not None:
            raise TypeError(
                f"{name} must be an array of shape ({G}H,) = ({G * H},) when {other} is given "
                f"(PyTorch's cells have both biases or neither); got None"
            )
        if a[name] is not None and a[name].shape != (G * H,):
            raise ValueError(
                f"{name} must have shape ({G}H,) = ({G * H},) to match U ({G}H, D) = "
                f"{_shape(U)}; got {_shape(a[name])}"
            )
    states = {
        name: np.zeros((B, H), dtype=dtype) if a[name] is None else as_float(a[name], dtype)
        for name in states
    }
    x, U, W, b_ih, b_hh = (as_float(v, dtype) for v in (x, U, W, b_ih, b_hh))
    return x, states, U, W, b_ih, b_hh


def check_lstm_forward(x, s0, c0, U, W, b_ih, b_hh):
    """Checked and converted (x, s0, c0, U, W, b_ih, b_hh) for lstm_forward; s0=None and
    c0=None become zeros."""
    x, states, U, W, b_ih, b_hh = check_gated_forward(
        LSTM_GATES, x, {"s0": s0, "c0": c0}, U, W, b_ih, b_hh
    )
    return x, states["s0"], states["c0"], U, W, b_ih, b_hh


def check_gru_forward(x, s0, U, W, b_ih, b_hh):
    """Checked and converted (x, s0, U, W, b_ih, b_hh) for gru_forward; s0=None becomes
    zeros."""
    x, states, U, W, b_ih, b_hh = check_gated_forward(GRU_GATES, x, {"s0": s0}, U, W, b_ih, b_hh)
    return x, states["s0"], U, W, b_ih, b_hh


def check_lstm_backward(ds, dc, cache, truncate):
    """Checked (ds, dc, cache, K) for lstm_backward; dc=None stays None (no gradient
    arrives for the cell states)."""
    check_cache(cache, LSTMCache, "lstm_forward")
    K = check_truncate(truncate)
    ds = check_state_gradient("ds", ds, cache.s)
    dc = check_state_gradient("dc", dc, cache.s, optional=True)
    return ds, dc, cache, K


def check_gru_backward(ds, cache, truncate):
    """Checked (ds, cache, K) for gru_backward."""
    check_cache(cache, GRUCache, "gru_forward")
    K = check_truncate(truncate)
    return check_state_gradient("ds", ds, cache.s), cache, K
