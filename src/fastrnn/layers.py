"""Layer classes, written once and bound to a backend's kernels.

``fastrnn.RNN`` and ``fastrnn.reference.RNN`` are this module's ``RNNBase`` bound to the C
kernels and to the NumPy reference kernels respectively, so the two cannot drift apart:
only the functional kernels (rnn_forward, rnn_backward) differ between them.

Conventions follow ``torch.nn.RNN``: time-major input (T, B, D) unless batch_first, h0 and
h_n of shape (num_layers, B, H) (never batch-first), parameters named weight_ih_l{k}
(H, D_k), weight_hh_l{k} (H, H), bias_ih_l{k} (H,), bias_hh_l{k} (H,), initialized from
U(-1/sqrt(H), 1/sqrt(H)) like PyTorch's.
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

    caches: list  # one RNNCache per layer
    T: int
    B: int
    unbatched: bool


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


class RNNBase:
    """Multi-layer Elman RNN, s_t = f(U x_t + W s_{t-1} + b_ih + b_hh), PyTorch's layout.

    Parameters
    ----------
    input_size, hidden_size : int
        D and H.
    num_layers : int
        Stacked layers; layer k > 0 takes layer k-1's states as input.
    nonlinearity : {"tanh", "relu"}
    bias : bool
        Whether the layers have bias_ih and bias_hh.
    batch_first : bool
        Input and output are (B, T, ·) instead of (T, B, ·); h0 and h_n are not affected.
    dtype : np.float32 or np.float64
        Precision of the parameters and of every computation.
    seed : int, np.random.Generator or None
        Seeds the initialization.

    Attributes
    ----------
    params : dict of name -> array
        The live parameters (optimizers update these in place).
    grads : dict of name -> array
        Parameter gradients of the last ``backward`` (overwritten, not accumulated).
    """

    backend: ClassVar[Backend | None] = None

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
    ):
        if self.backend is None:
            raise TypeError("use fastrnn.RNN or fastrnn.reference.RNN, not RNNBase")
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.nonlinearity = _contract.check_nonlinearity(nonlinearity)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dtype = _model_dtype(dtype)

        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(self.hidden_size)
        self.params: dict[str, np.ndarray] = {}
        for name, shape in self._param_shapes().items():
            self.params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        self.grads: dict[str, np.ndarray] = {}
        self._last: _ForwardPass | None = None

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        H = self.hidden_size
        shapes = {}
        for k in range(self.num_layers):
            D_k = self.input_size if k == 0 else H
            shapes[f"weight_ih_l{k}"] = (H, D_k)
            shapes[f"weight_hh_l{k}"] = (H, H)
            if self.bias:
                shapes[f"bias_ih_l{k}"] = (H,)
                shapes[f"bias_hh_l{k}"] = (H,)
        return shapes

    def __repr__(self) -> str:
        return (
            f"{type(self).__module__}.{type(self).__name__}({self.input_size}, "
            f"{self.hidden_size}, num_layers={self.num_layers}, "
            f"nonlinearity={self.nonlinearity!r}, bias={self.bias}, "
            f"batch_first={self.batch_first}, dtype=np.{self.dtype})"
        )

    # ---- inputs --------------------------------------------------------------------

    def _as_model_array(self, name: str, value) -> np.ndarray:
        arrays, untyped = _contract.as_arrays(**{name: value})
        a = arrays[name]
        if a is None:
            raise TypeError(f"{name} must be an array; got None")
        _contract.common_float_dtype(arrays, untyped)  # refuses float16, complex, ...
        if a.dtype.kind == "f" and a.dtype != self.dtype and not untyped:
            raise TypeError(
                f"{name} has dtype {a.dtype} but this RNN's parameters are {self.dtype}; "
                f"pass {name}.astype(np.{self.dtype}) or build the RNN with "
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
        """h0 / dh_n as (num_layers, B, H) from (num_layers, B, H), or (num_layers, H)
        when unbatched; None stays None."""
        if value is None:
            return None
        a = self._as_model_array(name, value)
        L, H = self.num_layers, self.hidden_size
        if unbatched:
            if a.shape != (L, H):
                raise ValueError(
                    f"{name} must have shape (num_layers, H) = ({L}, {H}) for unbatched "
                    f"input; got {tuple(a.shape)}"
                )
            return a[:, None, :]
        if a.shape != (L, B, H):
            raise ValueError(
                f"{name} must have shape (num_layers, B, H) = ({L}, {B}, {H}); got {tuple(a.shape)}"
            )
        return a

    def _layer_weights(self, k: int):
        p = self.params
        b = p[f"bias_ih_l{k}"] + p[f"bias_hh_l{k}"] if self.bias else None
        return p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], b

    # ---- passes --------------------------------------------------------------------

    def forward(self, x, h0=None, *, need_cache=True):
        """Run every layer over the sequence.

        Parameters
        ----------
        x : array (T, B, D), (B, T, D) when batch_first, or (T, D) unbatched
        h0 : array (num_layers, B, H), (num_layers, H) unbatched, or None for zeros
        need_cache : bool
            False for inference: keeps nothing for ``backward``.

        Returns
        -------
        out : array (T, B, H) (or (B, T, H) when batch_first, (T, H) unbatched)
            The last layer's states at every step.
        h_n : array (num_layers, B, H) (or (num_layers, H) unbatched)
            Every layer's final state.
        """
        x = self._as_model_array("x", x)
        unbatched = x.ndim == 2
        x = self._time_major("x", x, self.input_size, "D", unbatched)
        T, B, _ = x.shape
        h0 = self._states("h0", h0, B, unbatched)
        h_n = np.empty((self.num_layers, B, self.hidden_size), dtype=self.dtype)
        caches = []
        layer_input = x
        for k in range(self.num_layers):
            U, W, b = self._layer_weights(k)
            s, cache = self.backend.rnn_forward(
                layer_input,
                None if h0 is None else h0[k],
                U,
                W,
                b,
                nonlinearity=self.nonlinearity,
                need_cache=need_cache,
            )
            caches.append(cache)
            h_n[k] = s[-1]
            layer_input = s
        # Only a forward pass that succeeded replaces what backward will use.
        self._last = _ForwardPass(caches, T, B, unbatched) if need_cache else None
        return self._output(layer_input, unbatched), self._final(h_n, unbatched)

    __call__ = forward

    def _output(self, a: np.ndarray, unbatched: bool) -> np.ndarray:
        if unbatched:
            return a[:, 0, :]
        return np.swapaxes(a, 0, 1) if self.batch_first else a

    def _final(self, a: np.ndarray, unbatched: bool) -> np.ndarray:
        return a[:, 0, :] if unbatched else a

    def backward(self, dout, dh_n=None, *, truncate=None):
        """Backpropagate through the last ``forward`` call.

        Parameters
        ----------
        dout : array shaped like ``out``
            dL/d out at every step.
        dh_n : array shaped like ``h_n``, or None
            dL/d h_n (the final states), if the loss uses them.
        truncate : int K >= 0 or None
            Per-output BPTT window, as in ``rnn_backward``; None is full BPTT.

        Returns
        -------
        dx : array shaped like ``x``
        dh0 : array shaped like ``h_n``
            Parameter gradients are stored in ``self.grads``.
        """
        last = self._last
        if last is None:
            raise RuntimeError("backward() needs a preceding forward() call with need_cache=True")
        T, B, unbatched = last.T, last.B, last.unbatched
        dout = self._as_model_array("dout", dout)
        dout = self._time_major("dout", dout, self.hidden_size, "H", unbatched)
        if dout.shape[:2] != (T, B):
            raise ValueError(
                f"dout must match the forward output: (T, B, H) = ({T}, {B}, "
                f"{self.hidden_size}) time-major; got {tuple(dout.shape)}"
            )
        dh_n = self._states("dh_n", dh_n, B, unbatched)
        dh0 = np.empty((self.num_layers, B, self.hidden_size), dtype=self.dtype)
        grads = {}
        d_above = dout
        for k in reversed(range(self.num_layers)):
            ds = np.array(d_above, dtype=self.dtype, order="C")  # a copy: ds[-1] changes
            if dh_n is not None:
                ds[-1] += dh_n[k]
            g = self.backend.rnn_backward(ds, last.caches[k], truncate=truncate)
            grads[f"weight_ih_l{k}"] = g.dU
            grads[f"weight_hh_l{k}"] = g.dW
            if self.bias:
                grads[f"bias_ih_l{k}"] = g.db
                grads[f"bias_hh_l{k}"] = g.db.copy()
            dh0[k] = g.ds0
            d_above = g.dx
        self.grads = {name: grads[name] for name in self.params}
        return self._output(d_above, unbatched), self._final(dh0, unbatched)

    # ---- weights -------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's names and shapes."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Copy parameters in from a mapping with PyTorch's names and shapes.

        Values may be NumPy arrays or anything ``np.asarray`` reads (a CPU torch tensor
        after ``.detach()``); they are cast to this RNN's dtype. Nothing is changed
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


def bind(cls: type, backend: Backend, module: str) -> type:
    """A subclass of cls computing with backend's kernels, presented as module.<name>
    (``RNNBase`` bound to fastrnn.reference becomes ``fastrnn.reference.RNN``)."""
    return type(
        cls.__name__.removesuffix("Base"),
        (cls,),
        {"backend": backend, "__module__": module, "__doc__": cls.__doc__},
    )
