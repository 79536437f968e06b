"""Fuzzing the binding's validation layer (fastrnn._kernels) with atheris.

Each input picks a kernel, sizes, a dtype and options, builds a valid call in the
binding's terms (the backward kernels get the states of a reference forward pass), then
damages up to three arguments (or an entry of a list of per-layer weights): None, a
Python scalar or string, a list, another dtype, another rank or size, Fortran order, a
strided, zero-stride, misaligned or read-only view, NaN or Inf values, absurd or negative
integers.

What must hold for every call: it raises ValueError, TypeError, MemoryError or
OverflowError (the binding's contract for what it refuses), or it returns what the NumPy
reference computes from the same arguments (``generate``, whose draws a float32 rounding
may move, must return a well-formed stream: tokens in range, states of the right shape,
probabilities that sum to one, an early stop only where lm.draw must take over). Anything
else (another exception, a result that differs, a crash) is a finding that libFuzzer
reports with the input.

    python tests/fuzz/fuzz_binding.py -max_total_time=25 -print_final_stats=1

tests/test_fuzz_binding.py runs it for a bounded time in the test suite. set_blas, which
takes raw function addresses by design, and blas_ready are not fuzzed.
"""

from __future__ import annotations

import sys
import warnings

import atheris
import numpy as np

# Coverage feedback: fastrnn's Python modules (when imported from a wheel: an editable
# install's import hook hides them from atheris) and this harness's own branches.
with atheris.instrument_imports(include=["fastrnn"]):
    import fastrnn  # noqa: F401 - installs the BLAS, so that an unchecked call would really compute
    from fastrnn import _kernels as F
    from fastrnn import reference as R
    from fastrnn._contract import GRUCache, LSTMCache, RNNCache, memory_budget

REFUSALS = (ValueError, TypeError, MemoryError, OverflowError)
# A call may ask for at most this much: above it the binding must refuse (MemoryError)
# before allocating, so that an absurd size (D = 2**31 - 1, say) is a refusal here, not
# an out-of-memory finding against the run's -rss_limit_mb.
CALL_BUDGET = 256 * 2**20
# float32 kernels against the reference computing in float32 (other summation orders)
TOL = {np.float32: dict(rtol=2e-3, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-11)}


class Finding(AssertionError):
    """The binding accepted a call and returned something other than the reference's."""


# ---- valid calls -----------------------------------------------------------------------


def _forward_inputs(rng, n, dtype, G, states):
    """x, the initial states, U (G*H, D), W (G*H, H) and the biases of a cell's call."""
    T, B, D, H = n["T"], n["B"], n["D"], n["H"]

    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    p = {"x": normal(T, B, D)}
    p.update({name: normal(B, H, scale=0.5) for name in states})
    p["U"] = normal(G * H, D, scale=1 / np.sqrt(D))
    p["W"] = normal(G * H, H, scale=0.5 / np.sqrt(H))
    bias = n["bias"]
    p["b_ih"] = normal(G * H, scale=0.1) if bias else None
    p["b_hh"] = normal(G * H, scale=0.1) if bias else None
    p["ds"] = normal(T, B, H)
    p["dc"] = normal(T, B, H) if n["flag"] else None
    return p


def _truncate(n):
    return n["truncate"] if n["truncate"] <= n["T"] else -1


@atheris.instrument_func
def valid_call(name, rng, n, dtype):
    """The binding's arguments for a valid call of kernel name."""
    T, B, H, K = n["T"], n["B"], n["H"], n["K"]
    nl = "relu" if n["flag"] else "tanh"
    if name in ("rnn_forward", "rnn_backward"):
        p = _forward_inputs(rng, n, dtype, 1, ["s0"])
        U = None if n["flag"] and name == "rnn_forward" else p["U"]
        x = p["x"] if U is not None else rng.standard_normal((T, B, H)).astype(dtype)
        if name == "rnn_forward":
            return [x, p["s0"], U, p["W"], p["b_ih"], nl]
        s, _ = R.rnn_forward(x, p["s0"], U, p["W"], p["b_ih"], nonlinearity=nl)
        return [x, p["s0"], U, p["W"], s, p["ds"], n["bias"], nl, _truncate(n)]
    if name in ("lstm_forward", "lstm_backward"):
        p = _forward_inputs(rng, n, dtype, 4, ["s0", "c0"])
        args = [p["x"], p["s0"], p["c0"], p["U"], p["W"]]
        if name == "lstm_forward":
            return [*args, p["b_ih"], p["b_hh"]]
        s, c, cache = R.lstm_forward(*args, p["b_ih"], p["b_hh"])
        return [*args, s, c, cache.gates, p["ds"], p["dc"], n["bias"], _truncate(n)]
    if name in ("gru_forward", "gru_backward"):
        p = _forward_inputs(rng, n, dtype, 3, ["s0"])
        args = [p["x"], p["s0"], p["U"], p["W"]]
        if name == "gru_forward":
            return [*args, p["b_ih"], p["b_hh"]]
        s, cache = R.gru_forward(*args, p["b_ih"], p["b_hh"])
        return [*args, p["b_hh"], s, cache.gates, p["ds"], _truncate(n)]
    if name == "generate":
        return _generate_call(rng, n, dtype, nl)
    ids = rng.integers(0, K, size=(T, B))
    if name == "embedding_forward":
        return [ids, rng.standard_normal((H, K)).astype(dtype)]
    if name == "embedding_backward":
        return [rng.standard_normal((T, B, H)).astype(dtype), ids, K]
    s = rng.standard_normal((T, B, H)).astype(dtype)
    V = rng.standard_normal((K, H)).astype(dtype)
    c = rng.standard_normal(K).astype(dtype) if n["bias"] else None
    if name == "softmax_forward":
        return [s, V, c]
    if name == "softmax_loss":
        mask = (rng.random((T, B)) < 0.7).astype(np.uint8) if n["flag"] else None
        return [s, V, c, ids, mask, "sum" if n["bias"] else "mean"]
    assert name == "elementwise"
    return [("tanh", "sigmoid", "exp")[T % 3], 3 * rng.standard_normal(B * H).astype(dtype)]


def _generate_call(rng, n, dtype, nl):
    """generate's arguments: a 1- or 2-layer model of a cell picked by T, a prime of T - 1
    tokens (None when empty), B uniforms, top_k None or D."""
    T, B, H, K = n["T"], n["B"], n["H"], n["K"]
    cell = ("rnn", "lstm", "gru")[T % 3]
    G, L = {"rnn": 1, "lstm": 4, "gru": 3}[cell], 1 + n["flag"]

    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    U = [normal(G * H, K if k == 0 else H, scale=0.5) for k in range(L)]
    W = [normal(G * H, H, scale=0.5 / np.sqrt(H)) for _ in range(L)]
    b_ih = [normal(G * H, scale=0.1) for _ in range(L)] if n["bias"] else None
    b_hh = [normal(G * H, scale=0.1) for _ in range(L)] if n["bias"] and cell != "rnn" else None
    V, c = normal(K, H), normal(K) if n["bias"] else None
    h = normal(L, 1, H, scale=0.5)
    c_state = normal(L, 1, H, scale=0.5) if cell == "lstm" else None
    prime = rng.integers(0, K, size=T - 1) if T > 1 else None
    top_k = n["D"] if n["truncate"] >= 0 else None
    return [cell, nl, U, W, b_ih, b_hh, V, c, h, c_state, prime, rng.random(B), top_k]


@atheris.instrument_func
def check_generated(args, got):
    """What generate must return whatever its weights: (ids, drawn, probs, h_n, c_n)."""
    cell, _, _, W, *_, V, _, h, c_state, _, u, top_k = args
    ids, drawn, probs, h_n, c_n = got
    K, length, shape = np.shape(V)[0], len(u), np.shape(h)
    if not (0 <= drawn <= length and ids.shape == (length,) and probs.shape == (K,)):
        raise Finding(f"generate: drawn {drawn} of {length}, ids {ids.shape}, probs {probs.shape}")
    if h_n.shape != shape or (c_n is None) != (cell != "lstm"):
        raise Finding(f"generate: state {h_n.shape} (c_n {c_n is None}), expected {shape}")
    if np.any(ids[:drawn] < 0) or np.any(ids[:drawn] >= K) or np.any(ids[drawn:] != 0):
        raise Finding(f"generate: token ids out of [0, {K}) or past drawn: {ids}")
    finite = np.all(np.isfinite(probs))
    if length == 0:  # no token considered: no probabilities
        return
    if finite and abs(float(np.sum(probs, dtype=np.float64)) - 1) > 1e-4:
        raise Finding(f"generate: probabilities sum to {np.sum(probs)}")
    if drawn < length and finite and top_k is None:
        raise Finding("generate stopped early on finite probabilities without top_k")


# ---- what the reference computes from the same arguments ----------------------------


def _bias(W, with_bias, G):
    return np.zeros(W.shape[0], W.dtype) if with_bias else None


def _window(truncate):
    return None if truncate < 0 else truncate


@atheris.instrument_func
def _both_biases(args):
    """args with a missing bias made zeros when the other is given: the C kernels take
    each bias or NULL, the Python API (like PyTorch) both or neither."""
    *rest, b_ih, b_hh = args
    if (b_ih is None) != (b_hh is None):
        given = np.asarray(b_hh if b_ih is None else b_ih)
        b_ih, b_hh = (np.zeros_like(given) if b is None else b for b in (b_ih, b_hh))
    return [*rest, b_ih, b_hh]


@atheris.instrument_func
def expected(name, args):
    """The reference's result for the binding's arguments, in the binding's layout."""
    if name == "rnn_forward":
        x, s0, U, W, b, nl = args
        return R.rnn_forward(x, s0, U, W, b, nonlinearity=nl)[0]
    if name == "rnn_backward":
        x, s0, U, W, s, ds, with_bias, nl, truncate = args
        cache = RNNCache(x, s0, U, W, _bias(W, with_bias, 1), s, nl)
        return tuple(R.rnn_backward(ds, cache, truncate=_window(truncate)))
    if name == "lstm_forward":
        s, c, cache = R.lstm_forward(*_both_biases(args))
        return s, c, cache.gates
    if name == "lstm_backward":
        x, s0, c0, U, W, s, c, gates, ds, dc, with_bias, truncate = args
        b = _bias(W, with_bias, 4)
        cache = LSTMCache(x, s0, c0, U, W, b, b, s, c, gates)
        return tuple(R.lstm_backward(ds, cache, dc=dc, truncate=_window(truncate)))[:6]
    if name == "gru_forward":
        s, cache = R.gru_forward(*_both_biases(args))
        return s, cache.gates
    if name == "gru_backward":
        x, s0, U, W, b_hh, s, gates, ds, truncate = args
        cache = GRUCache(x, s0, U, W, b_hh, b_hh, s, gates)
        return tuple(R.gru_backward(ds, cache, truncate=_window(truncate)))
    if name == "softmax_loss":
        s, V, c, targets, mask, reduction = args
        return tuple(R.softmax_loss(s, V, c, targets, mask, reduction=reduction))
    if name == "elementwise":
        function, a = args
        a = np.asarray(a)
        with np.errstate(over="ignore"):
            if function == "tanh":
                return np.tanh(a)
            if function == "exp":
                return np.exp(a)
            if function == "sigmoid":
                return 1 / (1 + np.exp(-a))
        raise Finding(f"elementwise accepted the function {function!r}")
    return getattr(R, name)(*args)


@atheris.instrument_func
def compare(name, got, want, tol, path="result"):
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            raise Finding(f"{name}: {path} is {type(got).__name__}, expected {len(want)} items")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            compare(name, g, w, tol, f"{path}[{i}]")
        return
    if want is None or got is None:
        if want is not got:
            raise Finding(f"{name}: {path} is {got!r:.60}, the reference's {want!r:.60}")
        return
    want = np.asarray(want)
    got = np.asarray(got)
    if got.shape != want.shape:
        raise Finding(f"{name}: {path} has shape {got.shape}, the reference's {want.shape}")
    # Non-finite where the reference is: with an Inf among the inputs, another summation
    # order can turn an Inf into a NaN (a*inf + 0*inf against (a + 0)*inf), never a finite
    # number into a non-finite one.
    bad = ~np.isfinite(want)
    if not np.array_equal(bad, ~np.isfinite(got)):
        raise Finding(f"{name}: {path} is not finite where the reference is:\n{got}\n{want}")
    np.testing.assert_allclose(got[~bad], want[~bad], **tol, err_msg=f"{name}: {path}")


# ---- damage --------------------------------------------------------------------------

ODD_DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_,
              np.complex64, object]  # fmt: skip
ODD_INTS = [-(2**63) - 1, -(2**63), -2, -1, 0, 1, 2, 3, 2**31 - 1, 2**31, 2**62, 2**63]
ODD_SCALARS = [None, 0, 1, 2.5, float("nan"), "tanh", "relu", "mean", b"tanh", (), [], {}]


@atheris.instrument_func
def _resized(a, axis, size):
    """a with axis cut or padded (with its first slice repeated) to size."""
    if size <= a.shape[axis]:
        return np.take(a, np.arange(size), axis=axis)
    extra = np.take(a, [0] * (size - a.shape[axis]), axis=axis) if a.shape[axis] else None
    if extra is None:
        return np.zeros(a.shape[:axis] + (size,) + a.shape[axis + 1 :], dtype=a.dtype)
    return np.concatenate([a, extra], axis=axis)


@atheris.instrument_func
def damage(fdp, value):
    """value changed in one of the ways the module docstring lists."""
    kind = fdp.ConsumeIntInRange(0, 15)
    if isinstance(value, list) and value and kind > 8:  # one layer's weight
        i = fdp.ConsumeIntInRange(0, len(value) - 1)
        return [damage(fdp, v) if j == i else v for j, v in enumerate(value)]
    if kind == 0 or not isinstance(value, np.ndarray):
        if isinstance(value, int) and not isinstance(value, bool) and fdp.ConsumeBool():
            return fdp.PickValueInList(ODD_INTS)
        if kind == 1:
            return np.int64(fdp.ConsumeIntInRange(-3, 5))
        return fdp.PickValueInList(ODD_SCALARS)
    a = value
    if kind == 1:
        return a.tolist()
    if kind == 2:
        try:
            return a.astype(fdp.PickValueInList(ODD_DTYPES))
        except (OverflowError, ValueError, TypeError):  # from an object array
            return a
    if kind == 3:
        return np.asfortranarray(a)
    if kind == 4 and a.ndim:  # every other element of a larger array
        big = np.repeat(a, 2, axis=0)
        return big[::2]
    if kind == 5:  # the data starts one byte into the buffer
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        b = raw[1:].view(a.dtype).reshape(a.shape)
        b[...] = a
        return b
    if kind == 6:
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == 7 and a.size:  # zero stride: the first element everywhere
        shape = tuple(fdp.ConsumeIntInRange(1, 3) if fdp.ConsumeBool() else n for n in a.shape)
        return np.broadcast_to(a.reshape(-1)[:1].reshape((1,) * a.ndim), shape)
    if kind == 8:
        return a[..., None]
    if kind == 9 and a.ndim and a.shape[-1]:
        return a[..., 0]
    if kind in (10, 11) and a.ndim:
        axis = fdp.ConsumeIntInRange(0, a.ndim - 1)
        return _resized(a, axis, max(0, a.shape[axis] + fdp.PickValueInList([-1, 1, -9, 2])))
    if kind == 12:
        return np.ascontiguousarray(a.T)
    if kind == 13 and a.size and a.dtype.kind == "f":
        b = a.copy()
        b.reshape(-1)[fdp.ConsumeIntInRange(0, a.size - 1)] = fdp.PickValueInList(
            [np.nan, np.inf, -np.inf]
        )
        return b
    if kind == 14 and a.size and a.dtype == np.int64:  # ids out of range
        b = a.copy()
        b.reshape(-1)[fdp.ConsumeIntInRange(0, a.size - 1)] = fdp.PickValueInList(ODD_INTS[1:-1])
        return b
    return a


# ---- one input -----------------------------------------------------------------------

KERNELS = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "embedding_forward", "embedding_backward", "softmax_forward",
           "softmax_loss", "elementwise", "generate"]  # fmt: skip


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    name = fdp.PickValueInList(KERNELS)
    n = {letter: fdp.ConsumeIntInRange(1, 4) for letter in "TBDHK"}
    n["bias"], n["flag"] = fdp.ConsumeBool(), fdp.ConsumeBool()
    n["truncate"] = fdp.ConsumeIntInRange(-1, 5)
    dtype = np.float64 if fdp.ConsumeBool() else np.float32
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**32))
    args = valid_call(name, rng, n, dtype)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        i = fdp.ConsumeIntInRange(0, len(args) - 1)
        try:
            args[i] = damage(fdp, args[i])
        except (TypeError, ValueError):  # NumPy refuses to build that damage: keep the value
            pass
    try:
        with memory_budget(CALL_BUDGET):
            got = getattr(F, name)(*args)
    except REFUSALS:
        return
    if name == "generate":
        check_generated(args, got)
        return
    try:
        want = expected(name, args)
    except (ValueError, TypeError) as e:
        raise Finding(f"{name} accepted what the reference refuses: {e}") from None
    single = any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args)
    compare(name, got, want, TOL[np.float32 if single else np.float64])


def main() -> None:
    np.seterr(all="ignore")  # NaN and Inf are legitimate values here
    warnings.simplefilter("ignore")  # and complex casts in damage()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
