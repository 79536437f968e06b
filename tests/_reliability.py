"""What the reliability batteries (test_reliability_*.py) run, importable by a worker.

Hypothesis draws a plain description of a call (a dict of ints, strings and booleans),
and a worker process builds the arrays from it and runs the call, so that a crash of the
fast backend kills the worker, not pytest, and is reported with the description.

- ``check_valid(spec)``: builds a valid problem for one public kernel or class, with every
  array in the memory layout the spec asks for, runs the fast backend on it and the
  float64 reference on the same values; returns None or what differs.
- ``run_invalid(spec, backend)``: builds a valid call, corrupts one argument as the spec
  says, runs it; returns "ExceptionName: message" or "no error".
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import numpy as np

import fastrnn
from fastrnn import reference

# ---- memory layouts ------------------------------------------------------------------

LAYOUTS = ("C", "F", "strided", "readonly", "misaligned", "zero-stride")


def relayout(a, layout: str):
    """a (an array or None) in another memory layout. zero-stride repeats a's first entry
    along the first axis, so it changes the values: the oracle reads the result, not a."""
    if a is None:
        return None
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":  # every other element of a twice-as-large array
        big = np.zeros((2 * a.shape[0], *a.shape[1:]), dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if layout == "misaligned":  # the data starts one byte into the buffer
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        b = raw[1:].view(a.dtype).reshape(a.shape)
        b[...] = a
        return b
    if layout == "zero-stride":
        return np.broadcast_to(a[:1], a.shape)
    return np.ascontiguousarray(a)


def as64(a):
    """The float64 copy of a floating array (the oracle's input), other values as they are."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return np.array(a, dtype=np.float64)
    return a


TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def differences(got: dict, want: dict, dtype: str) -> list[str]:
    """The names whose values differ beyond the dtype's tolerance (or in dtype, shape, or
    None-ness), with the largest difference."""
    out = []
    for name, w in want.items():
        g = got[name]
        if w is None or g is None:
            if (w is None) != (g is None):
                out.append(f"{name}: {g!r:.40} against {w!r:.40}")
            continue
        g, w = np.asarray(g), np.asarray(w)
        if isinstance(got[name], np.ndarray) and g.dtype != dtype:
            out.append(f"{name}: dtype {g.dtype}, expected {dtype}")
        elif g.shape != w.shape:
            out.append(f"{name}: shape {g.shape} against {w.shape}")
        elif not np.allclose(g, w, **TOL[dtype]):
            out.append(f"{name}: max |difference| {np.max(np.abs(g - w)):.3g}")
    return out


# ---- valid problems ------------------------------------------------------------------


def _normal(rng, *shape, scale=1.0):
    """float64 values exactly representable in float32."""
    return (scale * rng.standard_normal(shape)).astype(np.float32).astype(np.float64)


def _arrays(spec: dict, p: dict) -> dict:
    """p's arrays in the spec's dtype (floating ones) and layouts."""
    out = {}
    for name, a in p.items():
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            a = a.astype(spec["dtype"])
        out[name] = relayout(a, spec["layouts"].get(name, "C")) if a is not None else None
    return out


def _cell(spec, backend, q):
    """Forward and backward of lstm or gru on the arrays q; every result by name."""
    cell, K = spec["cell"], spec["truncate"]
    if cell == "lstm":
        s, c, cache = backend.lstm_forward(
            q["x"], q["s0"], q["c0"], q["U"], q["W"], q["b_ih"], q["b_hh"]
        )
        g = backend.lstm_backward(q["ds"], cache, dc=q["dc"], truncate=K)
        return {"s": s, "c": c, **g._asdict()}
    s, cache = backend.gru_forward(q["x"], q["s0"], q["U"], q["W"], q["b_ih"], q["b_hh"])
    return {"s": s, **backend.gru_backward(q["ds"], cache, truncate=K)._asdict()}


def cell_problem(spec, rng) -> dict:
    T, B, D, H = spec["T"], spec["B"], spec["D"], spec["H"]
    G = 4 if spec["cell"] == "lstm" else 3
    bias, states = spec["bias"], spec["states"]
    return {
        "x": _normal(rng, T, B, D),
        "s0": _normal(rng, B, H, scale=0.5) if states else None,
        "c0": _normal(rng, B, H, scale=0.5) if states and G == 4 else None,
        "U": _normal(rng, G * H, D, scale=1 / np.sqrt(D)),
        "W": _normal(rng, G * H, H, scale=0.5 / np.sqrt(H)),
        "b_ih": _normal(rng, G * H, scale=0.1) if bias else None,
        "b_hh": _normal(rng, G * H, scale=0.1) if bias else None,
        "ds": _normal(rng, T, B, H),
        "dc": _normal(rng, T, B, H) if G == 4 and states else None,
    }


def _lm_kernels(spec, backend, q):
    """embedding_forward/backward, softmax_forward and softmax_loss on q."""
    D = q["U"].shape[1]
    out = {"x": backend.embedding_forward(q["ids"], q["U"])}
    out["dU"] = backend.embedding_backward(q["dx"], q["ids"], D)
    out["probs"] = backend.softmax_forward(q["s"], q["V"], q["c"])
    loss = backend.softmax_loss(q["s"], q["V"], q["c"], q["targets"], q["mask"],
                                reduction=spec["reduction"])  # fmt: skip
    return {**out, **{f"loss.{k}": v for k, v in loss._asdict().items()}}


def lm_kernels_problem(spec, rng) -> dict:
    T, B, H, K = spec["T"], spec["B"], spec["H"], spec["K"]
    mask = None
    if spec["mask"] != "none":
        mask = (rng.random((T, B)) < 0.6).astype(spec["mask"])
    return {
        "ids": rng.integers(0, K, size=(T, B)).astype(spec["ids"]),
        "U": _normal(rng, H, K),
        "dx": _normal(rng, T, B, H),
        "s": _normal(rng, T, B, H),
        "V": _normal(rng, K, H, scale=1 / np.sqrt(H)),
        "c": _normal(rng, K, scale=0.1) if spec["bias"] else None,
        "targets": rng.integers(0, K, size=(T, B)).astype(spec["ids"]),
        "mask": mask,
    }


def _layer(spec, module, dtype, weights=None):
    cls = getattr(module, spec["cell"])
    extra = {"nonlinearity": spec["nonlinearity"]} if spec["cell"] == "RNN" else {}
    layer = cls(spec["D"], spec["H"], spec["layers"], bias=spec["bias"], dtype=dtype,
                batch_first=spec["batch_first"], bidirectional=spec["bidirectional"],
                seed=spec["seed"], **extra)  # fmt: skip
    if weights is not None:
        layer.load_state_dict(weights)
    return layer


def _layer_run(spec, layer, q):
    """Forward and backward through the layer; outputs, input gradients and grads."""
    lstm = spec["cell"] == "LSTM"
    initial = (q["h0"], q["c0"]) if lstm and q["h0"] is not None else q["h0"]
    out, finals = layer(q["x"], initial, q["lengths"])
    d_finals = (q["dh_n"], q["dc_n"]) if lstm and q["dh_n"] is not None else q["dh_n"]
    dx, d_initial = layer.backward(q["dout"], d_finals, truncate=spec["truncate"])
    finals = finals if lstm else (finals,)
    d_initial = d_initial if lstm else (d_initial,)
    results = {"out": out, "dx": dx}
    results.update({f"final[{i}]": a for i, a in enumerate(finals)})
    results.update({f"d_initial[{i}]": a for i, a in enumerate(d_initial)})
    results.update({f"grads[{n!r}]": g for n, g in layer.grads.items()})
    return results


def layer_problem(spec, rng) -> dict:
    T, B, D, H = spec["T"], spec["B"], spec["D"], spec["H"]
    L = spec["layers"] * (2 if spec["bidirectional"] else 1)
    outer = (T, D) if spec["unbatched"] else (B, T, D) if spec["batch_first"] else (T, B, D)
    width = H * (2 if spec["bidirectional"] else 1)
    state = (L, H) if spec["unbatched"] else (L, B, H)
    states = spec["states"]
    lstm = spec["cell"] == "LSTM"
    lengths = None
    if spec["lengths"] and not spec["unbatched"]:
        lengths = rng.integers(1, T + 1, size=B)
    return {
        "x": _normal(rng, *outer),
        "h0": _normal(rng, *state, scale=0.5) if states else None,
        "c0": _normal(rng, *state, scale=0.5) if states and lstm else None,
        "dout": _normal(rng, *outer[:-1], width),
        "dh_n": _normal(rng, *state) if states else None,
        "dc_n": _normal(rng, *state) if states and lstm else None,
        "lengths": lengths,
    }


def _rnnlm(spec, module, dtype, weights=None):
    rnn = spec["cell"] == "rnn"
    model = module.RNNLM(spec["K"], spec["H"], spec["layers"], bias=spec["bias"], dtype=dtype,
                         nonlinearity=spec["nonlinearity"] if rnn else "tanh",
                         seed=spec["seed"], **({} if rnn else {"cell": spec["cell"]}))  # fmt: skip
    if weights is not None:
        model.load_state_dict(weights)
    return model


def _rnnlm_run(spec, model, q):
    """loss_and_grads; the LSTM's state is the pair (h, c)."""
    lstm = spec["cell"] == "lstm"
    h0 = (q["h0"], q["c0"]) if lstm and q["h0"] is not None else q["h0"]
    out = model.loss_and_grads(q["ids"], q["targets"], h0, mask=q["mask"],
                               reduction=spec["reduction"], truncate=spec["truncate"],
                               chunk=spec["chunk"])  # fmt: skip
    finals = out.h_n if lstm else (out.h_n,)
    results = {"loss": out.loss, **{f"h_n[{i}]": a for i, a in enumerate(finals)}}
    return {**results, **{f"grads[{n!r}]": g for n, g in model.grads.items()}}


def rnnlm_problem(spec, rng) -> dict:
    T, B, H, K, L = spec["T"], spec["B"], spec["H"], spec["K"], spec["layers"]
    mask = (rng.random((T, B)) < 0.7) if spec["mask"] != "none" else None
    states = spec["states"]
    return {
        "ids": rng.integers(0, K, size=(T, B)).astype(spec["ids"]),
        "targets": rng.integers(0, K, size=(T, B)).astype(spec["ids"]),
        "h0": _normal(rng, L, B, H, scale=0.5) if states else None,
        "c0": _normal(rng, L, B, H, scale=0.5) if states and spec["cell"] == "lstm" else None,
        "mask": None if mask is None else mask.astype(spec["mask"]),
    }


def check_valid(spec: dict) -> str | None:
    """Runs in the worker: None when the fast backend, on the spec's problem in the spec's
    dtype and layouts, agrees with the float64 reference on the same values."""
    np.seterr(all="raise")  # valid problems never overflow
    rng = np.random.default_rng(spec["seed"])
    kind, dtype = spec["kind"], spec["dtype"]
    if kind == "cell":
        q = _arrays(spec, cell_problem(spec, rng))
        got = _cell(spec, fastrnn, q)
        want = _cell(spec, reference, {n: as64(a) for n, a in q.items()})
    elif kind == "lm_kernels":
        q = _arrays(spec, lm_kernels_problem(spec, rng))
        got = _lm_kernels(spec, fastrnn, q)
        want = _lm_kernels(spec, reference, {n: as64(a) for n, a in q.items()})
    elif kind == "layer":
        q = _arrays(spec, layer_problem(spec, rng))
        fast = _layer(spec, fastrnn, dtype)
        got = _layer_run(spec, fast, q)
        slow = _layer(spec, reference, np.float64, fast.state_dict())
        want = _layer_run(spec, slow, {n: as64(a) for n, a in q.items()})
    else:
        assert kind == "rnnlm", kind
        q = _arrays(spec, rnnlm_problem(spec, rng))
        fast = _rnnlm(spec, fastrnn, dtype)
        got = _rnnlm_run(spec, fast, q)
        slow = _rnnlm(spec, reference, np.float64, fast.state_dict())
        want = _rnnlm_run(spec, slow, {n: as64(a) for n, a in q.items()})
    wrong = differences(got, want, dtype)
    return "; ".join(wrong) if wrong else None


# ---- the worker ----------------------------------------------------------------------


class Worker:
    """One spawned process that runs calls; replaced when a call kills it."""

    def __init__(self):
        self._start()

    def _start(self):
        context = multiprocessing.get_context("spawn")
        self.executor = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)

    def run(self, function, *args, timeout=120):
        """function(*args) in the worker; raises WorkerCrash if the process died."""
        future = self.executor.submit(function, *args)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.process.BrokenProcessPool:
            self._start()
            raise WorkerCrash(
                f"the worker process died running {function.__name__}{args}"
            ) from None

    def close(self):
        self.executor.shutdown(cancel_futures=True)


class WorkerCrash(Exception):
    pass


# ---- invalid calls -------------------------------------------------------------------
#
# A target is a public function pair or class; good_call(target) gives its arguments for a
# small valid call, CALLS[target](backend, args) makes the call. A corruption changes one
# argument; its family says which arguments it applies to, and EXPECTED the exception.

SIZES = {"T": 3, "B": 2, "D": 4, "H": 5, "K": 6}
HUGE = 10**6  # a zero-stride size that would need TiBs
T = B = D = H = K = 0  # set by good_call: the sizes of the call being built
_dtype = np.float64


def _zeros(*shape):
    return np.full(shape, 0.25, dtype=_dtype)


def good_call(target: str, sizes: dict = SIZES, dtype: str = "float64") -> dict:
    """The arguments of a small valid call of target, of these sizes and dtype."""
    global T, B, D, H, K, _dtype
    T, B, D, H, K = (sizes[letter] for letter in "TBDHK")
    _dtype = np.dtype(dtype)
    ids = (np.arange(T * B).reshape(T, B) % K).astype(np.int64)
    if target == "rnn":
        return {"x": _zeros(T, B, D), "s0": _zeros(B, H), "U": _zeros(H, D),
                "W": _zeros(H, H), "b": _zeros(H), "ds": _zeros(T, B, H),
                "nonlinearity": "tanh", "truncate": None, "cache": "own"}  # fmt: skip
    if target in ("lstm", "gru"):
        G = 4 if target == "lstm" else 3
        args = {"x": _zeros(T, B, D), "s0": _zeros(B, H), "U": _zeros(G * H, D),
                "W": _zeros(G * H, H), "b_ih": _zeros(G * H), "b_hh": _zeros(G * H),
                "ds": _zeros(T, B, H), "truncate": None, "cache": "own"}  # fmt: skip
        if target == "lstm":
            args.update(c0=_zeros(B, H), dc=_zeros(T, B, H))
        return args
    if target == "embedding":
        return {"ids": ids, "U": _zeros(H, K), "dx": _zeros(T, B, H), "D": K}
    if target == "softmax":
        return {"s": _zeros(T, B, H), "V": _zeros(K, H), "c": _zeros(K), "targets": ids,
                "mask": np.ones((T, B), np.uint8), "reduction": "mean"}  # fmt: skip
    if target in ("RNN", "LSTM", "GRU"):
        return {"input_size": D, "hidden_size": H, "num_layers": 2, "x": _zeros(T, B, D),
                "h0": _zeros(2, B, H), "lengths": np.array([T] + [1] * (B - 1)),
                "dout": _zeros(T, B, H), "dh_n": _zeros(2, B, H), "truncate": None,
                "state_dict": "own"}  # fmt: skip
    assert target == "RNNLM", target
    return {"vocab_size": K, "hidden_size": H, "num_layers": 2, "ids": ids,
            "targets": ids[::-1].copy(), "h0": _zeros(2, B, H),
            "mask": np.ones((T, B), bool), "truncate": None, "chunk": None,
            "reduction": "mean", "state_dict": "own"}  # fmt: skip


def _cache(backend, target, own, how):
    """The cache handed to backward: the forward call's own, or one of the wrong ones."""
    if how == "own":
        return own
    if how in ("None", "tuple"):
        return None if how == "None" else tuple(own)
    if how == "other kernel" and target == "gru":
        return backend.rnn_forward(_zeros(T, B, D), None, _zeros(H, D), _zeros(H, H))[1]
    if how == "other kernel":
        return backend.gru_forward(_zeros(T, B, D), None, _zeros(3 * H, D), _zeros(3 * H, H))[1]
    # a cache of a call with another hidden size, whole or for W only
    other = CALLS[target](backend, {**own_args(), "H": H + 1}, forward_only=True)
    return other if how == "other call" else own._replace(W=other.W)


def _call_rnn(backend, a, forward_only=False):
    h = a.get("H", H)
    if "H" in a:  # another call: another hidden size
        a = {**a, "s0": None, "U": _zeros(h, D), "W": _zeros(h, h), "b": None}
    s, cache = backend.rnn_forward(a["x"], a["s0"], a["U"], a["W"], a["b"],
                                   nonlinearity=a["nonlinearity"])  # fmt: skip
    if forward_only:
        return cache
    cache = _cache(backend, "rnn", cache, a["cache"])
    backend.rnn_backward(a["ds"], cache, truncate=a["truncate"])


def _call_lstm(backend, a, forward_only=False):
    if "H" in a:
        h = a["H"]
        a = {**a, "s0": None, "c0": None, "U": _zeros(4 * h, D), "W": _zeros(4 * h, h),
             "b_ih": None, "b_hh": None}  # fmt: skip
    s, c, cache = backend.lstm_forward(a["x"], a["s0"], a["c0"], a["U"], a["W"], a["b_ih"],
                                       a["b_hh"])  # fmt: skip
    if forward_only:
        return cache
    cache = _cache(backend, "lstm", cache, a["cache"])
    backend.lstm_backward(a["ds"], cache, dc=a["dc"], truncate=a["truncate"])


def _call_gru(backend, a, forward_only=False):
    if "H" in a:
        h = a["H"]
        a = {**a, "s0": None, "U": _zeros(3 * h, D), "W": _zeros(3 * h, h), "b_ih": None,
             "b_hh": None}  # fmt: skip
    s, cache = backend.gru_forward(a["x"], a["s0"], a["U"], a["W"], a["b_ih"], a["b_hh"])
    if forward_only:
        return cache
    cache = _cache(backend, "gru", cache, a["cache"])
    backend.gru_backward(a["ds"], cache, truncate=a["truncate"])


def _call_embedding(backend, a):
    backend.embedding_forward(a["ids"], a["U"])
    backend.embedding_backward(a["dx"], a["ids"], a["D"])


def _call_softmax(backend, a):
    backend.softmax_forward(a["s"], a["V"], a["c"])
    backend.softmax_loss(a["s"], a["V"], a["c"], a["targets"], a["mask"],
                         reduction=a["reduction"])  # fmt: skip


def _state_dict(model, how):
    sd = model.state_dict()
    name = next(iter(sd))
    if how == "own":
        return sd
    if how == "missing":
        del sd[name]
    elif how == "unexpected":
        sd["weight_extra"] = sd[name]
    elif how == "NaN":
        sd[name][(0,) * sd[name].ndim] = np.nan
    elif how == "Inf":
        sd[name][(0,) * sd[name].ndim] = -np.inf
    elif how == "one row short":
        sd[name] = sd[name][:-1]
    elif how == "zero-stride huge":
        sd[name] = np.broadcast_to(np.zeros(1), (HUGE, HUGE))
    elif how == "object":
        sd[name] = sd[name].astype(object)
    elif how == "complex":
        sd[name] = sd[name].astype(np.complex128)
    elif how == "string":
        sd[name] = "weights"
    return sd


def _call_layer(backend, a, cls):
    layer = getattr(backend, cls)(a["input_size"], a["hidden_size"], a["num_layers"],
                                  dtype=_dtype)  # fmt: skip
    layer.load_state_dict(_state_dict(layer, a["state_dict"]))
    lstm = cls == "LSTM"
    h0, dh_n = a["h0"], a["dh_n"]
    layer(a["x"], (h0, h0) if lstm and h0 is not None else h0, a["lengths"])
    layer.backward(a["dout"], (dh_n, dh_n) if lstm and dh_n is not None else dh_n,
                   truncate=a["truncate"])  # fmt: skip


def _call_rnnlm(backend, a):
    model = backend.RNNLM(a["vocab_size"], a["hidden_size"], a["num_layers"], dtype=_dtype)
    model.load_state_dict(_state_dict(model, a["state_dict"]))
    model.loss_and_grads(a["ids"], a["targets"], a["h0"], mask=a["mask"],
                         reduction=a["reduction"], truncate=a["truncate"],
                         chunk=a["chunk"])  # fmt: skip


CALLS = {
    "rnn": _call_rnn,
    "lstm": _call_lstm,
    "gru": _call_gru,
    "embedding": lambda backend, a: _call_embedding(backend, a),
    "softmax": lambda backend, a: _call_softmax(backend, a),
    "RNN": lambda backend, a: _call_layer(backend, a, "RNN"),
    "LSTM": lambda backend, a: _call_layer(backend, a, "LSTM"),
    "GRU": lambda backend, a: _call_layer(backend, a, "GRU"),
    "RNNLM": lambda backend, a: _call_rnnlm(backend, a),
}

# Each argument's family of corruptions.
FLOAT_ARGS = {
    "rnn": ["x", "s0", "U", "W", "b", "ds"],
    "lstm": ["x", "s0", "c0", "U", "W", "b_ih", "b_hh", "ds", "dc"],
    "gru": ["x", "s0", "U", "W", "b_ih", "b_hh", "ds"],
    "embedding": ["U", "dx"],
    "softmax": ["s", "V", "c"],
    "RNN": ["x", "h0", "dout", "dh_n"],
    "LSTM": ["x", "h0", "dout", "dh_n"],
    "GRU": ["x", "h0", "dout", "dh_n"],
    "RNNLM": ["h0"],
}
ID_ARGS = {"embedding": ["ids"], "softmax": ["targets"], "RNNLM": ["ids", "targets"],
           "RNN": ["lengths"], "LSTM": ["lengths"], "GRU": ["lengths"]}  # fmt: skip
INT_ARGS = {
    "rnn": ["truncate"], "lstm": ["truncate"], "gru": ["truncate"], "embedding": ["D"],
    "RNN": ["input_size", "hidden_size", "num_layers", "truncate"],
    "LSTM": ["input_size", "hidden_size", "num_layers", "truncate"],
    "GRU": ["input_size", "hidden_size", "num_layers", "truncate"],
    "RNNLM": ["vocab_size", "hidden_size", "num_layers", "truncate", "chunk"],
}  # fmt: skip
OPTION_ARGS = {"rnn": ["nonlinearity"], "softmax": ["reduction"], "RNNLM": ["reduction"]}
MASK_ARGS = {"softmax": ["mask"], "RNNLM": ["mask"]}
CACHE_ARGS = {"rnn": ["cache"], "lstm": ["cache"], "gru": ["cache"]}
STATE_DICT_ARGS = {"RNN": ["state_dict"], "LSTM": ["state_dict"], "GRU": ["state_dict"],
                   "RNNLM": ["state_dict"]}  # fmt: skip

REQUIRED = {"x", "U", "W", "ds", "s", "V", "dx", "dout", "ids", "targets"}
# Corruptions that leave a valid call, or one this battery does not judge: U=None means
# projected input for rnn_forward (and, on main since the cells branch, for the gated
# cells, whose tests cover it); a wider U or dx is a larger vocabulary or hidden size;
# embedding_forward and _backward have one floating argument each, so float32 mixes with
# nothing.
STILL_VALID = {("rnn", "U", "None when required"), ("lstm", "U", "None when required"),
               ("gru", "U", "None when required"), ("embedding", "U", "last size + 1"),
               ("embedding", "dx", "last size + 1"), ("embedding", "U", "mixed precision"),
               ("embedding", "dx", "mixed precision")}  # fmt: skip

FLOAT_CORRUPTIONS = {
    "rank + 1": (lambda a: a[..., None], ValueError),
    "rank - 1": (lambda a: a[..., 0], ValueError),
    "last size + 1": (lambda a: np.concatenate([a, a[..., :1]], axis=-1), ValueError),
    "first size 0": (lambda a: a[:0], ValueError),
    "second size 0": (lambda a: a[:, :0] if a.ndim > 1 else a[:0], ValueError),
    "float16": (lambda a: a.astype(np.float16), TypeError),
    "complex": (lambda a: a.astype(np.complex128), TypeError),
    "object": (lambda a: a.astype(object), TypeError),
    "string": (lambda a: a.astype(str), TypeError),
    "mixed precision": (
        lambda a: a.astype(np.float32 if a.dtype == np.float64 else np.float64),
        TypeError,
    ),  # fmt: skip
    "a dict": (lambda a: {"not": "an array"}, TypeError),
    "ragged list": (lambda a: [[0.0], [0.0, 1.0]], TypeError),
    "None when required": (lambda a: None, TypeError),
}
ID_CORRUPTIONS = {
    "negative": (lambda a: np.where(a == a.flat[0], -1, a), ValueError),
    "out of range": (lambda a: a + 10**6, ValueError),
    "float": (lambda a: a.astype(np.float64), TypeError),
    "bool": (lambda a: a.astype(bool), TypeError),
    "rank + 1": (lambda a: a[..., None], ValueError),
    "empty": (lambda a: a[:0], ValueError),
    "None": (lambda a: None, TypeError),
}
INT_CORRUPTIONS = {
    "negative": (lambda v: -1, ValueError),
    "a float": (lambda v: 2.5, TypeError),
    "a bool": (lambda v: True, TypeError),
    "a string": (lambda v: "3", TypeError),
}
OPTION_CORRUPTIONS = {
    "unknown": (lambda v: "sigmoid", ValueError),
    "upper case": (lambda v: v.upper(), ValueError),
    "not a string": (lambda v: 3, ValueError),
}
MASK_CORRUPTIONS = {
    "values other than 0 and 1": (lambda m: np.full(m.shape, 2), ValueError),
    "complex": (lambda m: m.astype(np.complex128), TypeError),
    "one step short": (lambda m: m[:-1], ValueError),
}
CACHE_CORRUPTIONS = {
    "other kernel": (lambda v: "other kernel", TypeError),
    "None": (lambda v: "None", TypeError),
    "a tuple": (lambda v: "tuple", TypeError),
    "other call": (lambda v: "other call", ValueError),
    "W of another call": (lambda v: "hybrid", ValueError),
}
STATE_DICT_CORRUPTIONS = {
    name: ((lambda how: lambda v: how)(name), error)
    for name, error in [("missing", ValueError), ("unexpected", ValueError), ("NaN", ValueError),
                        ("Inf", ValueError), ("one row short", ValueError),
                        ("zero-stride huge", ValueError), ("object", TypeError),
                        ("complex", TypeError), ("string", TypeError)]
}  # fmt: skip

FAMILIES = [
    (FLOAT_ARGS, FLOAT_CORRUPTIONS),
    (ID_ARGS, ID_CORRUPTIONS),
    (INT_ARGS, INT_CORRUPTIONS),
    (OPTION_ARGS, OPTION_CORRUPTIONS),
    (MASK_ARGS, MASK_CORRUPTIONS),
    (CACHE_ARGS, CACHE_CORRUPTIONS),
    (STATE_DICT_ARGS, STATE_DICT_CORRUPTIONS),
]


def invalid_cases() -> list[tuple[str, str, str]]:
    """Every (target, argument, corruption) of the battery."""
    cases = []
    for args, corruptions in FAMILIES:
        for target, names in args.items():
            for name in names:
                for corruption in corruptions:
                    if corruption in ("None when required", "None") and name not in REQUIRED:
                        continue
                    if (target, name, corruption) in STILL_VALID:
                        continue
                    cases.append((target, name, corruption))
    cases += [(target, "*", "absurd size") for target in ABSURD]
    return cases


def expected_error(target: str, name: str, corruption: str) -> type:
    if corruption == "absurd size":
        return MemoryError
    for args, corruptions in FAMILIES:
        if name in args.get(target, ()) and corruption in corruptions:
            return corruptions[corruption][1]
    raise KeyError((target, name, corruption))


def _absurd(target: str) -> dict:
    """A call whose zero-stride arguments cost nothing but stand for TiBs of work."""
    a = good_call(target, SIZES, "float64")
    big = lambda *shape: np.broadcast_to(np.full(1, 0.25), shape)  # noqa: E731
    if target == "rnn":
        a.update(s0=None, U=big(HUGE, D), W=big(HUGE, HUGE), b=None)
    elif target in ("lstm", "gru"):
        G = 4 if target == "lstm" else 3
        a.update(s0=None, U=big(G * HUGE, D), W=big(G * HUGE, HUGE), b_ih=None, b_hh=None)
        if target == "lstm":
            a["c0"] = None
    elif target == "embedding":
        a.update(ids=np.broadcast_to(np.zeros(1, np.int64), (HUGE, HUGE)))
    elif target == "softmax":
        a.update(s=big(HUGE, HUGE, 1), V=big(HUGE, 1), c=None)
    elif target in ("RNN", "LSTM", "GRU"):
        a.update(hidden_size=HUGE)
    else:
        a.update(vocab_size=HUGE, hidden_size=HUGE)
    return a


ABSURD = list(CALLS)


def corrupted_call(target: str, name: str, corruption: str, sizes: dict, dtype: str) -> dict:
    """The arguments of target's call with argument name corrupted."""
    if corruption == "absurd size":
        return _absurd(target)
    args = good_call(target, sizes, dtype)
    for family in FAMILIES:
        if corruption in family[1] and name in family[0].get(target, ()):
            args[name] = family[1][corruption][0](args[name])
            return args
    raise KeyError((target, name, corruption))


_own_args: dict = {}


def own_args() -> dict:
    """The good arguments of the call being run (before its corruption)."""
    return dict(_own_args)


def run_invalid(target: str, name: str, corruption: str, backend_name: str,
                sizes: dict = SIZES, dtype: str = "float64") -> str:  # fmt: skip
    """Runs in the worker: the call of target with argument name corrupted, on the named
    backend; "ExceptionName: message" or "no error"."""
    import warnings

    backend = fastrnn if backend_name == "fast" else reference
    _own_args.clear()
    _own_args.update(good_call(target, sizes, dtype))
    args = corrupted_call(target, name, corruption, sizes, dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            CALLS[target](backend, args)
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return f"{type(e).__name__}: {e}"
    return "no error"


def invalid_outcome(case: tuple, sizes: dict = SIZES, dtype: str = "float64") -> str | None:
    """Runs in the worker: None when case (target, argument, corruption) raises its
    documented exception with the same message from both backends, else what happened."""
    expected = expected_error(*case).__name__
    ref = run_invalid(*case, "reference", sizes, dtype)
    fast = run_invalid(*case, "fast", sizes, dtype)
    if not (ref.startswith(expected + ":") and fast.startswith(expected + ":")):
        return f"{case} {sizes} {dtype}: expected {expected}; reference {ref!r}, fast {fast!r}"
    if ref.replace("fastrnn.reference.", "fastrnn.") != fast:  # but for the class names
        return f"{case} {sizes} {dtype}: reference {ref!r} but fast {fast!r}"
    if case[2] == "absurd size" and " needs about " not in fast:  # not NumPy's own
        return f"{case}: MemoryError from an allocation, not from the check before it: {fast!r}"
    return None


def invalid_outcomes(cases: list) -> list[str]:
    """Runs in the worker: what went wrong in each of the cases, at the default sizes."""
    return [out for out in map(invalid_outcome, cases) if out is not None]
