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

import contextlib
import contextvars
import math
import operator
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

NONLINEARITIES = ("tanh", "relu")
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = SUPPORTED_DTYPES  # arrays of these dtypes usually hold these very objects


class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward: its (converted) inputs and the states."""

    x: np.ndarray  # (T, B, D), or (T, B, H) when U is None
    s0: np.ndarray  # (B, H)
    U: np.ndarray | None  # (H, D)
    W: np.ndarray  # (H, H)
    b: np.ndarray | None  # (H,)
    s: np.ndarray  # (T, B, H)
    nonlinearity: str


class RNNGrads(NamedTuple):
    """Gradients of rnn_backward; dU is None when U was None, db when b was None."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dU: np.ndarray | None  # (H, D)
    dW: np.ndarray  # (H, H)
    db: np.ndarray | None  # (H,)


def _shape(a: np.ndarray) -> str:
    return str(tuple(int(n) for n in a.shape))


def common_float_dtype(arrays: dict, untyped: frozenset = frozenset()) -> np.dtype:
    """The one floating dtype the arrays share, float64 when none is floating.

    Arrays named in ``untyped`` came from lists or Python numbers: they take the others'
    dtype instead of voting for one. Raises TypeError for unsupported dtypes or two
    different floating dtypes."""
    if not untyped:  # the common case, kept cheap: one supported dtype throughout
        common = None
        for a in arrays.values():
            if a is None:
                continue
            dtype = a.dtype
            if (dtype is not _F32 and dtype is not _F64) or (
                common is not None and dtype is not common
            ):
                break
            common = dtype
        else:
            if common is not None:
                return common
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
    untyped = []
    for name, v in values.items():
        if v is None or type(v) is np.ndarray:  # the common case, kept cheap
            out[name] = v
            continue
        if not hasattr(v, "dtype"):
            untyped.append(name)
        try:
            out[name] = np.asarray(v)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name} could not be read as an array: {e}") from None
    return out, frozenset(untyped)


def check_required(arrays: dict, *names: str) -> None:
    """TypeError unless every named array was given (not None)."""
    for name in names:
        if arrays[name] is None:
            raise TypeError(f"{name} must be an array; got None")


def as_float(a: np.ndarray | None, dtype: np.dtype) -> np.ndarray | None:
    """a as an aligned, C-contiguous array of dtype (no copy when it already is one).

    Alignment matters: a view that starts mid-element is C-contiguous too, and C may not
    read a float through a misaligned pointer."""
    if a is None:
        return None
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.aligned else a.copy()


# Below this, a call's memory is not worth a look at /proc/meminfo.
_MEMORY_CHECK_THRESHOLD = 256 * 2**20


def available_memory() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# Set by memory_budget: a bound below the system's, for building what a file describes.
_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar("budget", default=None)


@contextlib.contextmanager
def memory_budget(nbytes: int):
    """Within the block, ensure_memory also refuses anything above nbytes: a model built
    from a file's hyper-parameters may not take more memory than the file's arrays fill."""
    token = _budget.set(nbytes)
    try:
        yield
    finally:
        _budget.reset(token)


def ensure_memory(
    kernel: str,
    nbytes: int,
    what: str = "its outputs and workspace",
    remedy: str = "use a smaller batch, a shorter sequence or a smaller hidden size",
) -> None:
    """Raise MemoryError before allocating when a call cannot fit in memory, so that an
    absurd size is an exception instead of the system's out-of-memory killer."""
    budget = _budget.get()
    if budget is not None and nbytes > budget:
        raise MemoryError(
            f"{kernel} needs about {nbytes:,} bytes for {what}, more than the {budget:,} "
            "allowed here"
        )
    if nbytes < _MEMORY_CHECK_THRESHOLD:
        return
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(
            f"{kernel} needs about {nbytes / 2**30:.1f} GiB for {what}, but only "
            f"{available / 2**30:.1f} GiB of memory is available; {remedy}"
        )


def ensure_parameter_memory(owner: str, shapes: dict, dtype: np.dtype) -> None:
    """MemoryError before a model draws parameters of these shapes that cannot fit (the
    draw is in float64, then cast to dtype)."""
    count = sum(math.prod(shape) for shape in shapes.values())
    ensure_memory(
        owner, (dtype.itemsize + 8) * count, "its parameters", "use a smaller hidden size"
    )


def check_nonlinearity(nonlinearity) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
    return nonlinearity


def _source(U, W) -> str:
    """The weight that fixed H, for error messages."""
    return f"U (H, D) = {_shape(U)}" if U is not None else f"W (H, H) = {_shape(W)}"


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
    """Checked and converted (x, s0, U, W, b) for rnn_forward; s0=None becomes zeros.
    U=None means x is the input projection U x_t already, of shape (T, B, H)."""
    check_nonlinearity(nonlinearity)
    a, untyped = as_arrays(x=x, s0=s0, U=U, W=W, b=b)
    check_required(a, "x", "W")
    dtype = common_float_dtype(a, untyped)
    x, s0, U, W, b = a["x"], a["s0"], a["U"], a["W"], a["b"]
    T, B, D = check_x(x)
    if U is not None:
        if U.ndim != 2 or U.shape[1] != D or U.shape[0] == 0:
            raise ValueError(
                f"U must have shape (H, D) = (H, {D}) with H >= 1 to match x (T, B, D) = "
                f"{_shape(x)}; got {_shape(U)}"
            )
        H = U.shape[0]
        if W.shape != (H, H):
            raise ValueError(
                f"W must have shape (H, H) = ({H}, {H}) to match {_source(U, W)}; got {_shape(W)}"
            )
    else:  # x holds the input projection U x_t itself: H comes from W
        if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
            raise ValueError(f"W must have shape (H, H) with H >= 1; got {_shape(W)}")
        H = W.shape[0]
        if D != H:
            raise ValueError(
                f"x must have shape (T, B, H) = ({T}, {B}, {H}) to match {_source(U, W)} when U is "
                f"None (x is then the input projection U x_t); got {_shape(x)}"
            )
    if s0 is not None and s0.shape != (B, H):
        raise ValueError(
            f"s0 must have shape (B, H) = ({B}, {H}) to match x (T, B, D) = {_shape(x)} and "
            f"{_source(U, W)}; got {_shape(s0)}"
        )
    if b is not None and b.shape != (H,):
        raise ValueError(
            f"b must have shape (H,) = ({H},) to match {_source(U, W)}; got {_shape(b)}"
        )
    # outputs and workspace, plus the inputs in case they all need converting
    ensure_memory("rnn_forward", dtype.itemsize * (T * B * (D + H) + H * (D + 2 * H) + B * H))
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
    """TypeError unless cache is a cache_type, as forward_name returns it, whose arrays
    fit together (ValueError for a cache assembled from several calls)."""
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
    for name in ("s", "x"):
        a = getattr(cache, name)
        if not isinstance(a, np.ndarray) or a.ndim != 3 or a.dtype not in SUPPORTED_DTYPES:
            raise TypeError(
                f"cache.{name} must be the float32 or float64 (T, B, ·) array {forward_name} "
                f"returned; got {type(a).__name__} {getattr(a, 'shape', '')}"
            )
    T, B, H = cache.s.shape
    D = cache.x.shape[2]
    G = {RNNCache: 1, LSTMCache: 4, GRUCache: 3}[cache_type]
    shapes = {"x": (T, B, D), "s0": (B, H), "c0": (B, H), "U": (G * H, D), "W": (G * H, H),
              "b": (H,), "b_ih": (G * H,), "b_hh": (G * H,), "c": (T, B, H),
              "gates": (T, B, G * H)}  # fmt: skip
    if cache_type is RNNCache:
        check_nonlinearity(cache.nonlinearity)
        if cache.U is None:  # x is the input projection
            shapes["x"] = (T, B, H)
    dtype = cache.s.dtype
    for name, a in zip(cache._fields, cache, strict=True):
        shape = shapes.get(name)
        if shape is None or (a is None and name in ("U", "b", "b_ih", "b_hh")):
            continue  # s itself, the nonlinearity, or an optional array left out
        if not isinstance(a, np.ndarray) or a.dtype != dtype:
            raise TypeError(
                f"cache.{name} must be a {cache.s.dtype} array like cache.s; got "
                f"{getattr(a, 'dtype', type(a).__name__)}"
            )
        if a.shape != shape:
            raise ValueError(
                f"cache.{name} must have shape {shape} to fit cache.s (T, B, H) = "
                f"{_shape(cache.s)} and cache.x (T, B, D) = {_shape(cache.x)}; got {_shape(a)}: "
                f"pass the cache of one {forward_name} call, unchanged"
            )


def _gradient_array(name: str, g, dtype: np.dtype) -> np.ndarray | None:
    """g as an array (None stays None), refused when it has a floating dtype other than
    dtype, the forward pass's (an untyped list takes any)."""
    arrays, untyped = as_arrays(**{name: g})
    g = arrays[name]
    if g is None:
        return None
    if g.dtype.kind == "f" and g.dtype != dtype and not untyped:
        raise TypeError(
            f"{name} has dtype {g.dtype} but the forward pass (cache.s) ran in {dtype}; "
            f"convert it with {name}.astype(np.{dtype})"
        )
    common_float_dtype(arrays, untyped)
    return g


def check_state_gradient(name: str, g, states: np.ndarray, *, optional: bool = False):
    """g, a gradient arriving for the (T, B, H) states of a forward call, converted to their
    dtype: the same shape, and a floating dtype only if it is theirs. None stays None when
    optional."""
    if type(g) is np.ndarray and g.dtype is states.dtype and g.shape == states.shape:
        return as_float(g, g.dtype)  # the common case, kept cheap: passes every check below
    g = _gradient_array(name, g, states.dtype)
    if g is None:
        if optional:
            return None
        raise TypeError(f"{name} must be an array of shape (T, B, H); got None")
    dtype = states.dtype
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
    ds = check_state_gradient("ds", ds, cache.s)
    T, B, H = cache.s.shape
    D = cache.x.shape[2]
    states = T * B * H * (1 if K is None or K >= T - 1 else 3)  # the truncated sweep needs 3
    ensure_memory("rnn_backward", ds.dtype.itemsize * (T * B * (D + H) + states + H * (D + H)))
    return ds, cache, K


# ---- language-model kernels (issue 3) -------------------------------------------------

REDUCTIONS = ("mean", "sum")


class SoftmaxLoss(NamedTuple):
    """Result of softmax_loss: the loss (a Python float) and its exact gradients."""

    loss: float
    ds: np.ndarray  # (T, B, H)
    dV: np.ndarray  # (K, H)
    dc: np.ndarray | None  # (K,), None when c was None


def check_int(name: str, value, minimum: int = 1) -> int:
    """value as a Python int >= minimum; bools and non-integers raise TypeError."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {n}")
    return n


def check_positive_float(name: str, value) -> float:
    """value as a finite Python float > 0; non-numbers raise TypeError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number > 0; got {value!r}") from None
    if not (x > 0 and math.isfinite(x)):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return x


def check_arrays(mapping, expected: dict, what: str, owner: str) -> dict[str, np.ndarray]:
    """The arrays of mapping (name -> array-like), checked against expected (name ->
    shape): the same names, those shapes, real and finite values. ``what`` names the
    mapping and ``owner`` what it must fit in the messages. Nothing is converted."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must be a mapping; got {type(mapping).__name__}")
    missing = [n for n in expected if n not in mapping]
    unexpected = [n for n in mapping if n not in expected]
    if missing or unexpected:
        raise ValueError(f"{what} does not fit {owner}: missing {missing}, unexpected {unexpected}")
    out = {}
    for name, shape in expected.items():
        try:
            a = np.asarray(mapping[name])
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"{what}[{name!r}] could not be read as an array: {e}") from None
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{what}[{name!r}] has dtype {a.dtype}; expected real numbers")
        if a.shape != tuple(shape):
            raise ValueError(f"{what}[{name!r}] must have shape {tuple(shape)}; got {_shape(a)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{what}[{name!r}] holds NaN or Inf values")
        out[name] = a
    return out


def check_ids(name: str, ids, size: int, letter: str, TB: tuple | None = None) -> np.ndarray:
    """ids as a C-contiguous int64 array (T, B) of values in [0, size); raises TypeError
    for non-integer arrays (bool included) and ValueError for shapes and values, naming
    ``name``. TB, if given, is the (T, B) the ids must match."""
    arrays, _ = as_arrays(**{name: ids})
    a = arrays[name]
    if a is None or a.dtype.kind not in "iu":
        got = "None" if a is None else f"dtype {a.dtype}"
        raise TypeError(f"{name} must be an array of integer token ids, shape (T, B); got {got}")
    if TB is not None and a.shape != TB:
        raise ValueError(f"{name} must have shape (T, B) = {TB}; got {_shape(a)}")
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(
            f"{name} must have shape (T, B) with T, B >= 1 (time-major); got {_shape(a)}"
        )
    # before the scan: a zero-stride view can stand for an absurd number of ids
    ensure_memory(name, 8 * a.size, "its ids as int64", "pass fewer token ids")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= size:
        raise ValueError(
            f"{name} must lie in [0, {letter}) = [0, {size}); got values from {lo} to {hi}"
        )
    return np.ascontiguousarray(a, dtype=np.int64)


def check_embedding_forward(ids, U):
    """Checked (ids int64 (T, B), U (H, D) float32/float64) for embedding_forward."""
    a, untyped = as_arrays(U=U)
    check_required(a, "U")
    dtype = common_float_dtype(a, untyped)
    U = a["U"]
    if U.ndim != 2 or 0 in U.shape:
        raise ValueError(f"U must have shape (H, D) with H, D >= 1; got {_shape(U)}")
    ids = check_ids("ids", ids, U.shape[1], "D")
    H, D = U.shape
    ensure_memory("embedding_forward", dtype.itemsize * H * (ids.size + D))
    return ids, as_float(U, dtype)


def check_embedding_backward(dx, ids, D):
    """Checked (dx (T, B, H), ids int64 (T, B), D) for embedding_backward."""
    D = check_int("D", D)
    a, untyped = as_arrays(dx=dx)
    check_required(a, "dx")
    dtype = common_float_dtype(a, untyped)
    dx = a["dx"]
    if dx.ndim != 3 or 0 in dx.shape:
        raise ValueError(f"dx must have shape (T, B, H) with T, B, H >= 1; got {_shape(dx)}")
    ids = check_ids("ids", ids, D, "D", TB=dx.shape[:2])
    ensure_memory("embedding_backward", dtype.itemsize * dx.shape[2] * (ids.size + D))
    return as_float(dx, dtype), ids, D


def check_softmax(s, V, c, kernel="softmax_forward"):
    """Checked and converted (s (T, B, H), V (K, H), c (K,) or None) of one dtype;
    MemoryError when kernel's (T, B, K) probabilities or logits cannot fit."""
    a, untyped = as_arrays(s=s, V=V, c=c)
    check_required(a, "s", "V")
    dtype = common_float_dtype(a, untyped)
    s, V, c = a["s"], a["V"], a["c"]
    if s.ndim != 3 or 0 in s.shape:
        raise ValueError(
            f"s must have shape (T, B, H) (time-major) with T, B, H >= 1; got {_shape(s)}"
        )
    H = s.shape[2]
    if V.ndim != 2 or V.shape[1] != H or V.shape[0] == 0:
        raise ValueError(
            f"V must have shape (K, H) = (K, {H}) with K >= 1 to match s (T, B, H) = "
            f"{_shape(s)}; got {_shape(V)}"
        )
    K = V.shape[0]
    if c is not None and c.shape != (K,):
        raise ValueError(
            f"c must have shape (K,) = ({K},) to match V (K, H) = {_shape(V)}; got {_shape(c)}"
        )
    T, B, _ = s.shape
    ensure_memory(kernel, dtype.itemsize * (T * B * (K + H + 1) + K * (H + 1)))
    return as_float(s, dtype), as_float(V, dtype), as_float(c, dtype)


def check_mask(mask, TB: tuple) -> np.ndarray | None:
    """mask (T, B) of 0/1 (bool, integer or float) as a C-contiguous uint8 array; None
    stays None (every step counts)."""
    if mask is None:
        return None
    arrays, _ = as_arrays(mask=mask)
    m = arrays["mask"]
    if m.dtype.kind not in "biuf":
        raise TypeError(f"mask must be a (T, B) array of 0/1 or bool; got dtype {m.dtype}")
    if m.shape != TB:
        raise ValueError(f"mask must have shape (T, B) = {TB}; got {_shape(m)}")
    if not np.all((m == 0) | (m == 1)):
        bad = m[(m != 0) & (m != 1)].flat[0].item()
        raise ValueError(f"mask must hold only 0 and 1 (or False and True); got {bad!r}")
    return np.ascontiguousarray(m, dtype=np.uint8)


def check_reduction(reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    return reduction


def check_softmax_loss(s, V, c, targets, mask, reduction):
    """Checked (s, V, c, targets int64 (T, B), mask uint8 (T, B) or None, reduction)."""
    reduction = check_reduction(reduction)
    s, V, c = check_softmax(s, V, c, "softmax_loss")
    TB = s.shape[:2]
    targets = check_ids("targets", targets, V.shape[0], "K", TB=TB)
    return s, V, c, targets, check_mask(mask, TB), reduction


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

    x: np.ndarray  # (T, B, D), or (T, B, 4H) when U is None
    s0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)
    U: np.ndarray | None  # (4H, D)
    W: np.ndarray  # (4H, H)
    b_ih: np.ndarray | None  # (4H,)
    b_hh: np.ndarray | None  # (4H,)
    s: np.ndarray  # (T, B, H) hidden states
    c: np.ndarray  # (T, B, H) cell states
    gates: np.ndarray  # (T, B, 4H): i, f, g, o after their sigmoid or tanh


class LSTMGrads(NamedTuple):
    """Gradients of lstm_backward; dU is None when U was None (dx is then the gradient on
    the input projection), db_ih and db_hh are None when the forward call had no biases
    (with biases they are equal: both enter the gates as b_ih + b_hh)."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dc0: np.ndarray  # (B, H)
    dU: np.ndarray | None  # (4H, D)
    dW: np.ndarray  # (4H, H)
    db_ih: np.ndarray | None  # (4H,)
    db_hh: np.ndarray | None  # (4H,)


class GRUCache(NamedTuple):
    """What gru_backward needs from gru_forward: its (converted) inputs, the states and the
    gate values. The recurrent part of n's pre-activation, W_n s_{t-1} + b_hn, which r
    multiplies, is not kept (T*B*H less memory): gru_backward recomputes it."""

    x: np.ndarray  # (T, B, D), or (T, B, 3H) when U is None
    s0: np.ndarray  # (B, H)
    U: np.ndarray | None  # (3H, D)
    W: np.ndarray  # (3H, H)
    b_ih: np.ndarray | None  # (3H,)
    b_hh: np.ndarray | None  # (3H,)
    s: np.ndarray  # (T, B, H)
    gates: np.ndarray  # (T, B, 3H): r, z, n after their sigmoid or tanh


class GRUGrads(NamedTuple):
    """Gradients of gru_backward; dU is None when U was None (dx is then the gradient on
    the input projection), db_ih and db_hh are None when the forward call had no biases
    (with biases they differ in the n block, where b_hn sits inside r * (...))."""

    dx: np.ndarray  # (T, B, D)
    ds0: np.ndarray  # (B, H)
    dU: np.ndarray | None  # (3H, D)
    dW: np.ndarray  # (3H, H)
    db_ih: np.ndarray | None  # (3H,)
    db_hh: np.ndarray | None  # (3H,)


def check_gated_forward(gate_names: str, x, states: dict, U, W, b_ih, b_hh):
    """Checked and converted arguments of a gated cell's forward pass.

    gate_names is LSTM_GATES or GRU_GATES (G = its number of gates); states maps the names
    of the initial states (s0, and c0 for the LSTM) to arrays or None (zeros). U=None means
    x is the input projection U x_t of all G gates already, of shape (T, B, G*H) (an
    embedding lookup for token input). Returns (x, states, U, W, b_ih, b_hh) with every
    array C-contiguous in the common dtype."""
    G = len(gate_names.split(", "))
    a, untyped = as_arrays(x=x, **states, U=U, W=W, b_ih=b_ih, b_hh=b_hh)
    check_required(a, "x", "W")  # U=None: x is the projection
    dtype = common_float_dtype(a, untyped)
    x, U, W, b_ih, b_hh = a["x"], a["U"], a["W"], a["b_ih"], a["b_hh"]
    T, B, D = check_x(x)
    if U is not None:
        if U.ndim != 2 or U.shape[1] != D or U.shape[0] == 0 or U.shape[0] % G != 0:
            raise ValueError(
                f"U must have shape ({G}H, D) = ({G}H, {D}) with H >= 1 (the gates "
                f"{gate_names} stacked) to match x (T, B, D) = {_shape(x)}; got {_shape(U)}"
            )
        H = U.shape[0] // G
        source = f"U ({G}H, D) = {_shape(U)}"
        if W.shape != (G * H, H):
            raise ValueError(
                f"W must have shape ({G}H, H) = ({G * H}, {H}) to match {source}; got {_shape(W)}"
            )
    else:  # x holds the input projection U x_t of every gate itself: H comes from W
        if W is None or W.ndim != 2 or W.shape[1] == 0 or W.shape[0] != G * W.shape[1]:
            raise ValueError(
                f"W must have shape ({G}H, H) with H >= 1 (the gates {gate_names} stacked); "
                f"got {'None' if W is None else _shape(W)}"
            )
        H = W.shape[1]
        source = f"W ({G}H, H) = {_shape(W)}"
        if D != G * H:
            raise ValueError(
                f"x must have shape (T, B, {G}H) = ({T}, {B}, {G * H}) to match {source} when "
                f"U is None (x is then the input projection U x_t of the {G} gates); "
                f"got {_shape(x)}"
            )
    for name in states:
        if a[name] is not None and a[name].shape != (B, H):
            raise ValueError(
                f"{name} must have shape (B, H) = ({B}, {H}) to match x (T, B, D) = "
                f"{_shape(x)} and {source}; got {_shape(a[name])}"
            )
    for name, other in (("b_ih", "b_hh"), ("b_hh", "b_ih")):
        if a[name] is None and a[other] is not None:
            raise TypeError(
                f"{name} must be an array of shape ({G}H,) = ({G * H},) when {other} is given "
                f"(PyTorch's cells have both biases or neither); got None"
            )
        if a[name] is not None and a[name].shape != (G * H,):
            raise ValueError(
                f"{name} must have shape ({G}H,) = ({G * H},) to match {source}; "
                f"got {_shape(a[name])}"
            )
    # outputs (the states and the gates), workspace, and the inputs in case they all need
    # converting
    S = len(states)
    ensure_memory(
        "lstm_forward" if G == 4 else "gru_forward",
        dtype.itemsize * (T * B * (D + (S + G) * H) + G * H * (D + 2 * H + B + 2) + S * B * H),
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


def ensure_gated_backward_memory(kernel: str, cache, G: int) -> None:
    """MemoryError before a gated cell's backward pass that cannot fit: its gradients and
    at most 14 (T, B, H) buffers of workspace (a truncated GRU's)."""
    T, B, H = cache.s.shape
    D = cache.x.shape[2]
    itemsize = cache.s.dtype.itemsize
    ensure_memory(kernel, itemsize * (T * B * (D + 14 * H) + G * H * (D + H + 2) + 2 * B * H))


def check_last_state_gradient(name: str, g, states: np.ndarray):
    """g, None or a gradient arriving for the last of the (T, B, H) states of a forward
    call (the final state's), converted to their dtype: (B, H), a floating dtype only if it
    is theirs, C-contiguous."""
    g = _gradient_array(name, g, states.dtype)
    if g is None:
        return None
    if g.shape != states.shape[1:]:
        _, B, H = states.shape
        raise ValueError(
            f"{name} must have shape (B, H) = ({B}, {H}) like the last state of the forward "
            f"call; got {_shape(g)}"
        )
    return as_float(g, states.dtype)


def check_lstm_backward(ds, dc, cache, truncate, ds_last=None, dc_last=None):
    """Checked (ds, dc, cache, K, ds_last, dc_last) for lstm_backward; dc=None stays None
    (no gradient arrives for the cell states), and so do ds_last and dc_last."""
    check_cache(cache, LSTMCache, "lstm_forward")
    K = check_truncate(truncate)
    ds = check_state_gradient("ds", ds, cache.s)
    dc = check_state_gradient("dc", dc, cache.s, optional=True)
    ds_last = check_last_state_gradient("ds_last", ds_last, cache.s)
    dc_last = check_last_state_gradient("dc_last", dc_last, cache.s)
    ensure_gated_backward_memory("lstm_backward", cache, 4)
    return ds, dc, cache, K, ds_last, dc_last


def check_gru_backward(ds, cache, truncate, ds_last=None):
    """Checked (ds, cache, K, ds_last) for gru_backward; ds_last=None stays None."""
    check_cache(cache, GRUCache, "gru_forward")
    K = check_truncate(truncate)
    ds = check_state_gradient("ds", ds, cache.s)
    ds_last = check_last_state_gradient("ds_last", ds_last, cache.s)
    ensure_gated_backward_memory("gru_backward", cache, 3)
    return ds, cache, K, ds_last


def check_output(name, out, shape, letters, dtype, inputs):
    """out (an array the kernel writes a result into, or None) checked: an ndarray of
    dtype, shape ``letters`` = shape, C-contiguous, writeable, sharing no memory with the
    arrays in ``inputs`` (name -> array or None), which the kernel still reads while it
    writes out. Returns out."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array {letters} or None; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype).name} like the inputs; got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {letters} = {tuple(shape)}; got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a C-contiguous, writeable array")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs.values()):
        raise ValueError(f"{name} must overlap none of {', '.join(inputs)}")
    return out
