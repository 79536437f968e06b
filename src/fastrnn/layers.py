"""Layer classes, written once and bound to a backend's kernels.

``fastrnn.RNN``, ``fastrnn.LSTM`` and ``fastrnn.GRU`` are this module's ``RNNBase``,
``LSTMBase`` and ``GRUBase`` bound to the C kernels, and ``fastrnn.reference.RNN`` etc. the
same classes bound to the NumPy reference kernels, so the two cannot drift apart: only the
functional kernels (rnn_forward, lstm_forward, gru_forward and their backward passes)
differ between them. The three cells share everything else here (``_RecurrentBase``) and
contribute only their kernel calls.

Conventions follow ``torch.nn.RNN`` / ``LSTM`` / ``GRU``: time-major input (T, B, D) unless
batch_first, or unbatched (T, D); output (T, B, directions*H), the forward direction in
[..., :H] and the reverse one in [..., H:]; initial and final states (h0, h_n, and c0,
c_n for the LSTM) of shape (num_layers*directions, B, H), indexed layer*directions +
direction, never batch-first. Parameters are named weight_ih_l{k}, weight_hh_l{k},
bias_ih_l{k}, bias_hh_l{k}, with the suffix _reverse for the reverse direction, in
PyTorch's order, of shapes (G*H, D_k), (G*H, H), (G*H,), (G*H,) with G gates stacked
(1 for the RNN; 4 for the LSTM: i, f, g, o; 3 for the GRU: r, z, n) and D_k the input
size of layer k (D, then directions*H), all initialized from U(-1/sqrt(H), 1/sqrt(H)).

Variable lengths (``lengths``, (B,) ints in 1..T) follow PyTorch's packed sequences: each
sequence b stops after lengths[b] steps; outputs past its end are zero, h_n (and c_n) are
its states at step lengths[b]-1, the reverse direction starts at that step, and no
gradient flows from the padding. This is done here, around the unchanged kernels:
padded inputs are zeroed (so that whatever they held, NaN included, cannot reach a
state), the kernels run over all T steps, the reverse direction runs over each sequence
reversed within its own length (padding stays at the end), outputs and incoming
gradients past the ends are zeroed, and the gradients on h_n (c_n) are injected at each
sequence's last valid step. A padded step then receives no gradient at all, so it
contributes nothing to any parameter gradient, and the states it computes are never seen.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from types import ModuleType
from typing import ClassVar, NamedTuple

import numpy as np

from . import _contract

# A backend is the module that holds the functional kernels: fastrnn._fast (C) or
# fastrnn.reference (NumPy). Layer classes look kernels up on it by name.
Backend = ModuleType


class _ForwardPass(NamedTuple):
    """What backward needs from the last forward call."""

    caches: list  # caches[k][d]: the kernel cache of layer k, direction d
    T: int
    B: int
    unbatched: bool
    lengths: np.ndarray | None  # (B,) steps of each sequence; None when all are T


class _Lengths:
    """Where each sequence of a batch ends, for lengths (B,) in 1..T, and the time
    reordering of the reverse direction: each sequence reversed within its own length,
    padding left in place. None stands for "every sequence has T steps" throughout."""

    def __init__(self, lengths: np.ndarray | None, T: int, B: int):
        self.T = T
        if lengths is None:  # the common case, kept free of index arrays
            self.rows = None
            self.last = None
            self.valid = None
            self.reversed_steps = None
        else:
            t = np.arange(T)[:, None]
            self.rows = np.arange(B)
            self.last = lengths - 1  # the last valid step of each sequence
            self.valid = (t < lengths)[:, :, None]  # (T, B, 1)
            self.reversed_steps = np.where(t < lengths, lengths - 1 - t, t)  # (T, B)

    def masked(self, a: np.ndarray) -> np.ndarray:
        """a (T, B, n) with every step past a sequence's end set to 0 (NaN included)."""
        return a if self.valid is None else np.where(self.valid, a, 0)

    def reverse(self, a: np.ndarray) -> np.ndarray:
        """a (T, B, n) with each sequence reversed within its length; its own inverse."""
        return a[::-1] if self.reversed_steps is None else a[self.reversed_steps, self.rows]

    def at_last_step(self, a: np.ndarray) -> np.ndarray:
        """a (T, B, n) at each sequence's last valid step: (B, n)."""
        return a[-1] if self.last is None else a[self.last, self.rows]

    def add_at_last_step(self, a: np.ndarray | None, g: np.ndarray) -> np.ndarray:
        """a (T, B, n), in place, or zeros when None, plus g (B, n) at each sequence's last
        valid step."""
        if a is None:
            a = np.zeros((self.T, *g.shape), dtype=g.dtype)
        if self.last is None:
            a[-1] += g
        else:
            a[self.last, self.rows] += g
        return a


def _state_pair(name: str, value, names: tuple[str, str]) -> tuple:
    """The LSTM's (h, c) pair argument: (None, None) for None, else its two entries."""
    if value is None:
        return None, None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(
            f"{name} must be a pair ({names[0]}, {names[1]}) or None; got {type(value).__name__}"
        )
    return tuple(value)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int >= 1; got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int >= 1; got {value!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be an int >= 1; got {n}")
    return n


def _model_dtype(dtype) -> np.dtype:
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {dtype!r}") from None
    if d not in _contract.SUPPORTED_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {d}")
    return d


# ---- the cells' kernel calls, shared by the layer classes and the language model -------

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # G, the blocks stacked in the weights
STATE_NAMES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}  # output first


def cell_forward(
    backend,
    cell: str,
    x,
    initial: tuple,
    weights: tuple,
    need_cache: bool,
    nonlinearity="tanh",
    last_c_only=False,
):
    """Run one layer (one direction) of cell ("rnn", "lstm" or "gru") with backend's kernels.

    x (T, B, D_k) is the input, or the input projection when U is None; initial holds one
    (B, H) array or None (zeros) per state (STATE_NAMES[cell]); weights are (U, W, b_ih,
    b_hh), the biases None without bias. Returns (states, cache), states one (T, B, H)
    array per state; with last_c_only, the LSTM's cell states are (1, B, H), the last one
    only (what state[-1] reads; its kernel then holds no more)."""
    U, W, b_ih, b_hh = weights
    if cell == "lstm":
        s0, c0 = initial
        s, c, cache = backend.lstm_forward(
            x, s0, c0, U, W, b_ih, b_hh, need_cache=need_cache, last_c_only=last_c_only
        )
        return (s, c[None] if last_c_only else c), cache
    if cell == "gru":
        s, cache = backend.gru_forward(x, initial[0], U, W, b_ih, b_hh, need_cache=need_cache)
        return (s,), cache
    b = None if b_ih is None else b_ih + b_hh  # the kernel takes their sum
    s, cache = backend.rnn_forward(
        x, initial[0], U, W, b, nonlinearity=nonlinearity, need_cache=need_cache
    )
    return (s,), cache


def cell_backward(backend, cell: str, cache, d_states: tuple, truncate, d_last=None):
    """Backward through ``cell_forward``'s call for the gradients arriving for each state at
    every step, (T, B, H) each (None: zeros; never for the first, the output), and d_last,
    None or one (B, H) array or None per state: more gradient on the final states, which
    the kernels add at the last step (d_states are not copied for it). Returns (dx,
    d_initial, (dU, dW, db_ih, db_hh)), the bias gradients None without bias, dU None when
    U was None."""
    d_last = d_last or (None,) * len(STATE_NAMES[cell])
    if cell == "lstm":
        ds, dc = d_states
        ds_last, dc_last = d_last
        g = backend.lstm_backward(
            ds, cache, dc=dc, truncate=truncate, ds_last=ds_last, dc_last=dc_last
        )
        return g.dx, (g.ds0, g.dc0), (g.dU, g.dW, g.db_ih, g.db_hh)
    if cell == "gru":
        g = backend.gru_backward(d_states[0], cache, truncate=truncate, ds_last=d_last[0])
        return g.dx, (g.ds0,), (g.dU, g.dW, g.db_ih, g.db_hh)
    g = backend.rnn_backward(d_states[0], cache, truncate=truncate, ds_last=d_last[0])
    db_hh = None if g.db is None else g.db.copy()  # b_ih + b_hh: equal gradients
    return g.dx, (g.ds0,), (g.dU, g.dW, g.db, db_hh)


class _RecurrentBase:
    """Multi-layer, optionally bidirectional recurrent network in PyTorch's layout; see the
    module docstring. Subclasses set ``cell`` ("rnn", "lstm" or "gru"): its kernels run
    through ``cell_forward`` and ``cell_backward``."""

    backend: ClassVar[Backend | None] = None
    cell: ClassVar[str]
    nonlinearity = "tanh"  # the RNN's choice; the gated cells' activations are fixed

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    @property
    def state_names(self) -> tuple[str, ...]:
        return STATE_NAMES[self.cell]

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dtype=np.float32,
        seed=None,
        *,
        bidirectional=False,
    ):
        if self.backend is None:
            cls = type(self).__name__
            name = cls.removesuffix("Base")
            raise TypeError(f"use fastrnn.{name} or fastrnn.reference.{name}, not {cls}")
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.dtype = _model_dtype(dtype)
        _contract.ensure_parameter_memory(type(self).__name__, self._param_shapes(), self.dtype)

        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(self.hidden_size)
        self.params: dict[str, np.ndarray] = {}
        for name, shape in self._param_shapes().items():
            self.params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        self.grads: dict[str, np.ndarray] = {}
        self._last: _ForwardPass | None = None

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        """The parameter-name suffix of each direction."""
        return ("", "_reverse")[: self.num_directions]

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, G = self.hidden_size, self.gates
        shapes = {}
        for k in range(self.num_layers):
            D_k = self.input_size if k == 0 else self.num_directions * H
            for sfx in self._suffixes():
                shapes[f"weight_ih_l{k}{sfx}"] = (G * H, D_k)
                shapes[f"weight_hh_l{k}{sfx}"] = (G * H, H)
                if self.bias:
                    shapes[f"bias_ih_l{k}{sfx}"] = (G * H,)
                    shapes[f"bias_hh_l{k}{sfx}"] = (G * H,)
        return shapes

    def _weight_names(self, k: int, direction: int) -> tuple[str, ...]:
        """The names of (U, W, b_ih, b_hh) of layer k in that direction."""
        names = self.__dict__.setdefault("_weight_name_cache", {})  # built once per layer
        key = (k, direction)
        if key not in names:
            sfx = self._suffixes()[direction]
            kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            names[key] = tuple(f"{kind}_l{k}{sfx}" for kind in kinds)
        return names[key]

    def _weights(self, k: int, direction: int) -> tuple:
        """(U, W, b_ih, b_hh) of layer k in that direction; the biases None without bias."""
        U, W, b_ih, b_hh = self._weight_names(k, direction)
        get = self.params.get
        return get(U), get(W), get(b_ih), get(b_hh)

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__module__}.{type(self).__name__}({self.input_size}, "
            f"{self.hidden_size}, num_layers={self.num_layers}, {self._extra_repr()}"
            f"bias={self.bias}, batch_first={self.batch_first}, "
            f"bidirectional={self.bidirectional}, dtype=np.{self.dtype})"
        )

    # ---- the cell's kernels ----------------------------------------------------------

    def _cell_forward(self, x, initial: tuple, weights: tuple, need_cache: bool, last_only=False):
        """cell_forward's (states, cache); last_only: the states after the first (the
        LSTM's c) may come as their last step only, (1, B, H)."""
        return cell_forward(
            self.backend, self.cell, x, initial, weights, need_cache, self.nonlinearity, last_only
        )

    def _cell_backward(self, cache, d_states: tuple, truncate, d_last=None):
        return cell_backward(self.backend, self.cell, cache, d_states, truncate, d_last)

    # ---- inputs --------------------------------------------------------------------

    def _as_model_array(self, name: str, value) -> np.ndarray:
        if type(value) is np.ndarray and value.dtype is self.dtype:
            return value  # the common case, kept cheap: passes every check below
        arrays, untyped = _contract.as_arrays(**{name: value})
        a = arrays[name]
        if a is None:
            raise TypeError(f"{name} must be an array; got None")
        _contract.common_float_dtype(arrays, untyped)  # refuses float16, complex, ...
        if a.dtype.kind == "f" and a.dtype != self.dtype and not untyped:
            kind = type(self).__name__
            raise TypeError(
                f"{name} has dtype {a.dtype} but this {kind}'s parameters are {self.dtype}; "
                f"pass {name}.astype(np.{self.dtype}) or build the {kind} with "
                f"dtype=np.{a.dtype}"
            )
        return np.asarray(a, dtype=self.dtype)

    def _time_major(
        self, name: str, a: np.ndarray, last: int, last_letter: str, unbatched: bool
    ) -> np.ndarray:
        """a as (T, B, last), from (T, B, ·), (B, T, ·) when batch_first, or unbatched (T, ·)."""
        layout = "(B, T, " if self.batch_first else "(T, B, "
        if a.ndim == 3 and a.shape[2] == last and not unbatched:
            return np.swapaxes(a, 0, 1) if self.batch_first else a
        if a.ndim == 2 and a.shape[1] == last and unbatched:
            return a[:, None, :]
        raise ValueError(
            f"{name} must have shape {layout}{last_letter}) with {last_letter} = {last}, or "
            f"(T, {last_letter}) unbatched; got {tuple(a.shape)}"
        )

    def _states(self, name: str, value, B: int, unbatched: bool) -> np.ndarray | None:
        """An initial state or a final state's gradient as (L, B, H), L = num_layers *
        directions, from (L, B, H), or (L, H) when unbatched; None stays None."""
        if value is None:
            return None
        a = self._as_model_array(name, value)
        L, H = self.num_layers * (2 if self.bidirectional else 1), self.hidden_size
        if a.shape == ((L, H) if unbatched else (L, B, H)):  # the common case, kept cheap
            return a[:, None, :] if unbatched else a
        letters = "num_layers" if L == self.num_layers else "2*num_layers"
        if unbatched:
            if a.shape != (L, H):
                raise ValueError(
                    f"{name} must have shape ({letters}, H) = ({L}, {H}) for unbatched "
                    f"input; got {tuple(a.shape)}"
                )
            return a[:, None, :]
        if a.shape != (L, B, H):
            raise ValueError(
                f"{name} must have shape ({letters}, B, H) = ({L}, {B}, {H}); got {tuple(a.shape)}"
            )
        return a

    def _lengths(self, lengths, T: int, B: int, unbatched: bool) -> np.ndarray | None:
        """lengths as (B,) int64 in 1..T, or None when absent or all equal to T."""
        if lengths is None:
            return None
        if unbatched:
            raise ValueError("lengths needs batched input: unbatched input is one sequence")
        try:
            a = np.asarray(lengths)
        except (TypeError, ValueError) as e:
            raise TypeError(f"lengths could not be read as an array: {e}") from None
        if a.dtype.kind not in "iu":
            raise TypeError(f"lengths must hold integers (steps per sequence); got dtype {a.dtype}")
        if a.shape != (B,):
            raise ValueError(f"lengths must have shape (B,) = ({B},); got {tuple(a.shape)}")
        bad = np.flatnonzero((a < 1) | (a > T))
        if bad.size:
            raise ValueError(
                f"lengths must lie in 1..T = 1..{T}; got {a[bad[0]]} at index {bad[0]}"
            )
        a = a.astype(np.int64)
        return None if np.all(a == T) else a

    # ---- passes --------------------------------------------------------------------

    def _forward(self, x, initial: tuple, lengths, need_cache: bool):
        """out and the final states (one per state name) for input x, the initial states
        (each array-like or None) and lengths; what forward() returns, unpacked."""
        x = self._as_model_array("x", x)
        unbatched = x.ndim == 2
        x = self._time_major("x", x, self.input_size, "D", unbatched)
        T, B, _ = x.shape
        initial = [
            self._states(f"{name}0", value, B, unbatched)
            for name, value in zip(self.state_names, initial, strict=True)
        ]
        lengths = self._lengths(lengths, T, B, unbatched)
        if lengths is None and self.num_layers == 1 and not self.bidirectional:
            # One kernel call: the loop below without index arrays, masks or copies.
            states, cache = self._cell_forward(
                x,
                tuple([None if h is None else h[0] for h in initial]),
                self._weights(0, 0),
                need_cache,
                last_only=True,
            )
            self._last = _ForwardPass([[cache]], T, B, unbatched, None) if need_cache else None
            out = self._output(states[0], unbatched)
            # The final states are copies: out may be changed in place by the caller.
            return out, tuple([self._final(state[-1:].copy(), unbatched) for state in states])
        ends = _Lengths(lengths, T, B)
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        finals = [np.empty(shape, dtype=self.dtype) for _ in self.state_names]
        caches = []
        layer_input = ends.masked(x)
        for k in range(self.num_layers):
            outputs, layer_caches = [], []
            for d in range(self.num_directions):
                i = k * self.num_directions + d
                seq = layer_input if d == 0 else ends.reverse(layer_input)
                states, cache = self._cell_forward(
                    seq,
                    tuple(None if h is None else h[i] for h in initial),
                    self._weights(k, d),
                    need_cache,
                    last_only=lengths is None,  # else each sequence ends at its own step
                )
                for final, state in zip(finals, states, strict=True):
                    final[i] = ends.at_last_step(state)
                outputs.append(states[0] if d == 0 else ends.reverse(states[0]))
                layer_caches.append(cache)
            both = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            layer_input = ends.masked(both)
            caches.append(layer_caches)
        # Only a forward pass that succeeded replaces what backward will use.
        self._last = _ForwardPass(caches, T, B, unbatched, lengths) if need_cache else None
        out = self._output(layer_input, unbatched)
        return out, tuple(self._final(final, unbatched) for final in finals)

    def _output(self, a: np.ndarray, unbatched: bool) -> np.ndarray:
        if unbatched:
            return a[:, 0, :]
        return np.swapaxes(a, 0, 1) if self.batch_first else a

    def _final(self, a: np.ndarray, unbatched: bool) -> np.ndarray:
        return a[:, 0, :] if unbatched else a

    def _backward(self, dout, d_finals: tuple, truncate):
        """dx and the gradients on the initial states (one per state name) for dout and
        the gradients on the final states (each array-like or None); stores self.grads."""
        last = self._last
        if last is None:
            raise RuntimeError("backward() needs a preceding forward() call with need_cache=True")
        T, B, unbatched = last.T, last.B, last.unbatched
        H, directions = self.hidden_size, self.num_directions
        letter = "H" if directions == 1 else "2H"
        dout = self._as_model_array("dout", dout)
        dout = self._time_major("dout", dout, directions * H, letter, unbatched)
        if dout.shape[:2] != (T, B):
            raise ValueError(
                f"dout must match the forward output: (T, B, {letter}) = ({T}, {B}, "
                f"{directions * H}) time-major; got {tuple(dout.shape)}"
            )
        d_finals = [
            self._states(f"d{name}_n", value, B, unbatched)
            for name, value in zip(self.state_names, d_finals, strict=True)
        ]
        _contract.check_truncate(truncate)  # before any kernel runs
        if len(last.caches) == 1 and directions == 1 and last.lengths is None:
            return self._backward_one_call(last.caches[0][0], dout, d_finals, truncate)
        ends = _Lengths(last.lengths, T, B)
        shape = (self.num_layers * directions, B, H)
        d_initial = [np.empty(shape, dtype=self.dtype) for _ in self.state_names]
        grads = {}
        d_above = dout
        for k in reversed(range(self.num_layers)):
            d_above = ends.masked(d_above)  # outputs past the ends are constants
            dx_layer = None
            for d in range(directions):
                i = k * directions + d
                ds = d_above[..., d * H : (d + 1) * H]
                # A copy: the gradients on the final states are added to it. Nothing
                # arrives for the LSTM's cell states but at their final values.
                d_states = [np.array(ds if d == 0 else ends.reverse(ds), order="C")]
                d_states += [None] * (len(self.state_names) - 1)
                for j, d_final in enumerate(d_finals):
                    if d_final is not None:
                        d_states[j] = ends.add_at_last_step(d_states[j], d_final[i])
                dx, d_init, cell_grads = self._cell_backward(
                    last.caches[k][d], tuple(d_states), truncate
                )
                dx = dx if d == 0 else ends.reverse(dx)
                dx_layer = dx if dx_layer is None else dx_layer + dx
                for name, g in zip(self._weight_names(k, d), cell_grads, strict=True):
                    grads[name] = g
                for total, g in zip(d_initial, d_init, strict=True):
                    total[i] = g
            d_above = dx_layer
        self.grads = {name: grads[name] for name in self.params}
        dx = self._output(ends.masked(d_above), unbatched)
        return dx, tuple(self._final(g, unbatched) for g in d_initial)

    def _backward_one_call(self, cache, dout, d_finals: list, truncate):
        """_backward's loop for one layer, one direction and full lengths: one kernel call,
        its gradients returned as they come (fresh arrays, shared with nothing). The final
        states' gradients go to the kernel as they are: dout is not copied to add them."""
        d_last = tuple([None if g is None else g[0] for g in d_finals])
        d_states = (dout,) + (None,) * (len(d_finals) - 1)
        dx, d_init, cell_grads = self._cell_backward(cache, d_states, truncate, d_last)
        return self._one_call_results(dx, d_init, cell_grads)

    def _one_call_results(self, dx, d_init, cell_grads):
        """What _backward_one_call returns, from its kernel call's results; stores
        self.grads."""
        grads = dict(zip(self._weight_names(0, 0), cell_grads, strict=True))
        self.grads = {name: grads[name] for name in self.params}
        unbatched = self._last.unbatched
        return self._output(dx, unbatched), tuple([self._final(g[None], unbatched) for g in d_init])

    # ---- weights -------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's names and shapes."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Copy parameters in from a mapping with PyTorch's names and shapes.

        Values may be NumPy arrays or anything ``np.asarray`` reads (a CPU torch tensor
        after ``.detach()``); they are cast to this layer's dtype. Nothing is changed
        unless every entry is present, shaped right and finite."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping; got {type(state_dict).__name__}")
        expected = self._param_shapes()
        missing = [n for n in expected if n not in state_dict]
        unexpected = [n for n in state_dict if n not in expected]
        if missing or unexpected:
            raise ValueError(
                f"state_dict does not fit {self!r}: missing {missing}, unexpected {unexpected}"
            )
        loaded = {}
        for name, shape in expected.items():
            try:
                a = np.asarray(state_dict[name])
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(
                    f"state_dict[{name!r}] could not be read as an array: {e}"
                ) from None
            if a.dtype.kind not in "fiu":
                raise TypeError(f"state_dict[{name!r}] has dtype {a.dtype}; expected real numbers")
            if a.shape != shape:
                raise ValueError(
                    f"state_dict[{name!r}] must have shape {shape}; got {tuple(a.shape)}"
                )
            if not np.all(np.isfinite(a)):
                raise ValueError(f"state_dict[{name!r}] holds NaN or Inf values")
            loaded[name] = a
        for name, a in loaded.items():
            self.params[name][...] = a
        self._last = None  # its caches hold the old weights

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


_COMMON_PARAMETERS = """
    input_size, hidden_size : int
        D and H.
    num_layers : int
        Stacked layers; layer k > 0 takes layer k-1's output as input.{extra}
    bias : bool
        Whether the layers have bias_ih and bias_hh.
    batch_first : bool
        Input and output are (B, T, ·) instead of (T, B, ·); the states are not affected.
    dtype : np.float32 or np.float64
        Precision of the parameters and of every computation.
    seed : int, np.random.Generator or None
        Seeds the initialization.
    bidirectional : bool (keyword only)
        Adds a reverse direction to every layer (parameters with the suffix _reverse);
        the output then has 2H features, the states 2*num_layers entries.

    Attributes
    ----------
    params : dict of name -> array
        The live parameters, PyTorch's names, shapes and order (optimizers update these in
        place).
    grads : dict of name -> array
        Parameter gradients of the last ``backward`` (overwritten, not accumulated).
"""


class _SingleStateBase(_RecurrentBase):
    """The forward/backward API of the cells with one state, h (RNN and GRU)."""

    def forward(self, x, h0=None, lengths=None, *, need_cache=True):
        """Run every layer (and direction) over the sequences.

        Parameters
        ----------
        x : array (T, B, D), (B, T, D) when batch_first, or (T, D) unbatched
        h0 : array (L, B, H), (L, H) unbatched, or None for zeros
            L = num_layers * directions, indexed layer * directions + direction.
        lengths : array (B,) of ints in 1..T, or None
            Steps of each sequence (PyTorch's packed sequences, see the module docstring);
            None means every sequence has T steps. Not for unbatched input.
        need_cache : bool
            False for inference: keeps nothing for ``backward``.

        Returns
        -------
        out : array (T, B, directions*H) (or (B, T, ·) when batch_first, (T, ·) unbatched)
            The last layer's output at every step, zero past each sequence's end.
        h_n : array shaped like h0
            Every layer's and direction's state at each sequence's last step.
        """
        out, (h_n,) = self._forward(x, (h0,), lengths, need_cache)
        return out, h_n

    def backward(self, dout, dh_n=None, *, truncate=None):
        """Backpropagate through the last ``forward`` call.

        Parameters
        ----------
        dout : array shaped like ``out``
            dL/d out at every step (entries past a sequence's end are ignored).
        dh_n : array shaped like ``h_n``, or None
            dL/d h_n (the final states), if the loss uses them.
        truncate : int K >= 0 or None
            Per-output BPTT window of the kernels, in each direction's own time; None is
            full BPTT.

        Returns
        -------
        dx : array shaped like ``x``
            Zero past each sequence's end.
        dh0 : array shaped like ``h_n``
            Parameter gradients are stored in ``self.grads``.
        """
        dx, (dh0,) = self._backward(dout, (dh_n,), truncate)
        return dx, dh0


class RNNBase(_SingleStateBase):
    """Multi-layer Elman RNN, h_t = f(U x_t + b_ih + W h_{t-1} + b_hh), f = tanh or relu, in
    PyTorch's layout (``torch.nn.RNN``); see the module docstring.

    Parameters
    ----------""" + _COMMON_PARAMETERS.format(extra='\n    nonlinearity : {"tanh", "relu"}')

    cell = "rnn"

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dtype=np.float32,
        seed=None,
        *,
        bidirectional=False,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dtype,
            seed,
            bidirectional=bidirectional,
        )
        self.nonlinearity = _contract.check_nonlinearity(nonlinearity)

    def _extra_repr(self) -> str:
        return f"nonlinearity={self.nonlinearity!r}, "


class GRUBase(_SingleStateBase):
    """Multi-layer GRU in PyTorch's layout (``torch.nn.GRU``): gates r, z, n stacked,
    n = tanh(U_n x_t + b_in + r * (W_n h_{t-1} + b_hn)), h_t = (1 - z) n + z h_{t-1}; see
    the module docstring and ``fastrnn.reference.gru_forward``.

    Parameters
    ----------""" + _COMMON_PARAMETERS.format(extra="")

    cell = "gru"


class LSTMBase(_RecurrentBase):
    """Multi-layer LSTM in PyTorch's layout (``torch.nn.LSTM``): gates i, f, g, o stacked,
    c_t = f c_{t-1} + i g, h_t = o tanh(c_t); see the module docstring and
    ``fastrnn.reference.lstm_forward``. As in PyTorch, the states go in and out as a pair:
    ``out, (h_n, c_n) = lstm(x, (h0, c0))``.

    Parameters
    ----------""" + _COMMON_PARAMETERS.format(extra="")

    cell = "lstm"

    def forward(self, x, hx=None, lengths=None, *, need_cache=True):
        """Run every layer (and direction) over the sequences.

        Parameters
        ----------
        x : array (T, B, D), (B, T, D) when batch_first, or (T, D) unbatched
        hx : pair (h0, c0) or None
            Each (L, B, H), (L, H) unbatched, or None for zeros; L = num_layers *
            directions, indexed layer * directions + direction.
        lengths : array (B,) of ints in 1..T, or None
            Steps of each sequence (PyTorch's packed sequences, see the module docstring);
            None means every sequence has T steps. Not for unbatched input.
        need_cache : bool
            False for inference: keeps nothing for ``backward``.

        Returns
        -------
        out : array (T, B, directions*H) (or (B, T, ·) when batch_first, (T, ·) unbatched)
            The last layer's hidden state at every step, zero past each sequence's end.
        (h_n, c_n) : arrays shaped like h0
            Every layer's and direction's hidden and cell state at each sequence's last
            step.
        """
        hx = _state_pair("hx", hx, ("h0", "c0"))
        out, (h_n, c_n) = self._forward(x, hx, lengths, need_cache)
        return out, (h_n, c_n)

    def backward(self, dout, dhx=None, *, truncate=None):
        """Backpropagate through the last ``forward`` call.

        Parameters
        ----------
        dout : array shaped like ``out``
            dL/d out at every step (entries past a sequence's end are ignored).
        dhx : pair (dh_n, dc_n) or None
            dL/d h_n and dL/d c_n, each shaped like h_n or None (zeros).
        truncate : int K >= 0 or None
            Per-output BPTT window of the kernels, in each direction's own time; None is
            full BPTT.

        Returns
        -------
        dx : array shaped like ``x``
            Zero past each sequence's end.
        (dh0, dc0) : arrays shaped like h_n
            Parameter gradients are stored in ``self.grads``.
        """
        dhx = _state_pair("dhx", dhx, ("dh_n", "dc_n"))
        dx, (dh0, dc0) = self._backward(dout, dhx, truncate)
        return dx, (dh0, dc0)


def bind(cls: type, backend: Backend, module: str) -> type:
    """A subclass of cls computing with backend's kernels, presented as module.<name>
    (``RNNBase`` bound to fastrnn.reference becomes ``fastrnn.reference.RNN``)."""
    return type(
        cls.__name__.removesuffix("Base"),
        (cls,),
        {"backend": backend, "__module__": module, "__doc__": cls.__doc__},
    )
