"""Backends: who computes a case, behind one interface the suite times and checks.

A backend turns a ``Case`` into a ``Runner``: a zero-argument ``call`` (the timed work,
finished when it returns: JAX results are blocked on) and ``to_numpy``, which turns what
``call`` returned into NumPy arrays under common names for the check:

    out (T, B, H), h_n (1, B, H), c_n (1, B, H) (lstm)        both tasks
    dx (T, B, D), dh0 (1, B, H) (when the cell takes h0),     training
    d<param> for every parameter under torch's names (dweight_hh_l0 (G*H, H), ...)

``prepare`` returns a string instead of a Runner when the backend cannot run the case
(``"not available in this fastrnn (no fastrnn.LSTM)"``). Backends are looked up by name
with ``load``; torch and JAX are imported only then (JAX must start after the CPU
affinity is pinned, see ``threads``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .cases import Case, CellProblem

BACKEND_NAMES = ("fastrnn", "reference", "torch", "jax")  # also the order within a round
FORWARD_KEYS = ("out", "h_n", "c_n")  # the inference task's outputs (c_n for lstm only)


class Runner(NamedTuple):
    call: Callable[[], Any]  # one call of the task, complete when it returns
    to_numpy: Callable[[Any], dict[str, np.ndarray]]  # call's result -> named arrays
    compile_s: float | None = None  # time spent compiling before the first call (JAX)


class Backend:
    """Base class: a name, version strings, per-run setup and ``prepare``."""

    name: str = ""

    def versions(self) -> dict[str, str]:
        """Versions of the libraries this backend times (for the report)."""
        return {}

    def open(self, threads: int, dtype: np.dtype) -> None:
        """Per-run setup (thread counts, precision modes); undone by ``close``."""

    def close(self) -> None:
        """Undo ``open``."""

    def prepare(self, case: Case) -> Runner | str:
        raise NotImplementedError


def split_state(state) -> dict[str, Any]:
    """{"h_n": ...} or {"h_n": ..., "c_n": ...} from a layer's second output: h_n, or the
    LSTM's (h_n, c_n)."""
    if isinstance(state, tuple):
        h_n, c_n = state
        return {"h_n": h_n, "c_n": c_n}
    return {"h_n": state}


def _lstm_class(module: ModuleType) -> type:
    return getattr(module, "LSTM", type(None))


class LayerBackend(Backend):
    """fastrnn or fastrnn.reference through its layer classes (fastrnn.RNN, ...), the
    API a PyTorch user would call: ``out, h_n = layer(x, h0)`` and
    ``dx, dh0 = layer.backward(dout, dh_n)``, weights loaded with ``load_state_dict``."""

    def __init__(self, name: str, module: ModuleType):
        self.name = name
        self.module = module

    def versions(self) -> dict[str, str]:
        import fastrnn

        return {"fastrnn": fastrnn.__version__}

    def layer_class(self, class_name: str) -> type | str:
        """The class, or why it cannot be used."""
        cls = getattr(self.module, class_name, None)
        if cls is None:
            return f"not available in this fastrnn (no {self.module.__name__}.{class_name})"
        return cls

    def prepare(self, case: Case) -> Runner | str:
        cls = self.layer_class(case.cell.class_name)
        if isinstance(cls, str):
            return cls
        p = case.problem
        layer = cls(input_size=p.shape.D, hidden_size=p.shape.H, dtype=p.dtype)
        layer.load_state_dict(p.params)
        # The zero state is requested by passing no h0 (the LSTM's ``lstm(x)``).
        state_args = () if p.h0 is None else (p.h0,)

        if case.task == "inference":

            def call():
                return layer.forward(p.x, *state_args, need_cache=False)

            def to_numpy(result):
                out, state = result
                return {"out": out, **split_state(state)}

        else:
            # The loss has no c_n term: the LSTM's pair gets no cotangent for it.
            final_grad = (p.dh_n, None) if isinstance(layer, _lstm_class(self.module)) else p.dh_n

            def call():
                out, state = layer(p.x, *state_args)
                dx, dh0 = layer.backward(p.dout, final_grad)
                if isinstance(dh0, tuple):  # the LSTM's (dh0, dc0)
                    dh0 = dh0[0]
                return out, state, dx, dh0, layer.grads

            def to_numpy(result):
                out, state, dx, dh0, grads = result
                arrays = {"out": out, **split_state(state), "dx": dx}
                if p.h0 is not None:
                    arrays["dh0"] = dh0
                arrays.update({f"d{name}": g for name, g in grads.items()})
                return arrays

        return Runner(call, to_numpy)


def oracle(problem: CellProblem) -> dict[str, np.ndarray] | str:
    """Every array of the training task, computed by fastrnn.reference in float64 on the
    problem's numbers; or why the reference cannot (no such class)."""
    from .. import reference

    runner = LayerBackend("reference", reference).prepare(
        Case(problem.astype(np.float64), "training")
    )
    if isinstance(runner, str):
        return runner
    return runner.to_numpy(runner.call())


def load(name: str) -> Backend | str:
    """The backend called name, or why it cannot be used (``"not installed: ..."``)."""
    if name == "fastrnn":
        import fastrnn

        return LayerBackend("fastrnn", fastrnn)
    if name == "reference":
        from .. import reference

        return LayerBackend("reference", reference)
    if name == "torch":
        try:
            from .torch_backend import TorchBackend
        except ImportError as e:
            return f"not installed ({e})"
        return TorchBackend()
    if name == "jax":
        try:
            from .jax_backend import JaxBackend
        except ImportError as e:
            return f"not installed ({e})"
        return JaxBackend()
    raise ValueError(f"unknown backend {name!r}: choose from {', '.join(BACKEND_NAMES)}")
