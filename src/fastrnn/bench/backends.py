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

``prepare_workload`` does the same for the whole-model workloads (``workloads``): a
``WorkloadRunner``, a string, or None when the backend takes no part in that workload.
``TutorialBackend`` is the lm-step's baseline, the tutorial's plain NumPy code.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .cases import Case, CellProblem
from .tutorial_numpy import TutorialRNNNumpy
from .workloads import (
    GenerationProblem,
    LMStepProblem,
    WorkloadRunner,
    load_rnnlm,
    tutorial_style_runner,
)

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

    def prepare_workload(self, problem) -> WorkloadRunner | str | None:
        """A runner for a workload's problem (``LMStepProblem``, ``GenerationProblem``),
        why it cannot run it, or None when it does not take part (no row)."""
        return None


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

    def prepare_workload(self, problem) -> WorkloadRunner | str | None:
        if isinstance(problem, LMStepProblem):
            return self._lm_step(problem)
        if isinstance(problem, GenerationProblem):
            if getattr(self.module, "RNNLM", None) is None:
                return f"not available in this fastrnn (no {self.module.__name__}.RNNLM)"
            return self._generation(problem)
        return None

    def _lm_step(self, problem: LMStepProblem) -> WorkloadRunner:
        """``fastrnn.compat.RNNNumpy`` with its kernels taken from this backend's module
        (fastrnn's are the C kernels it ships with, the reference's are NumPy)."""
        from ..compat import RNNNumpy

        w = problem.workload
        model_class = type("RNNNumpy", (RNNNumpy,), {"backend": self.module})
        # The constructor draws the tutorial's weights from NumPy's global RandomState:
        # leave that state as it was, then load the problem's weights.
        state = np.random.get_state()  # noqa: NPY002
        try:
            model = model_class(w.V, w.H, w.truncate)
        finally:
            np.random.set_state(state)  # noqa: NPY002
        model.U, model.V, model.W = problem.U, problem.V, problem.W
        kernels = "the C kernels" if self.name == "fastrnn" else f"{self.module.__name__}'s kernels"
        return tutorial_style_runner(
            lambda: model.bptt(problem.x, problem.y), f"compat.RNNNumpy.bptt(x, y) on {kernels}"
        )

    def _generation(self, problem: GenerationProblem) -> WorkloadRunner:
        w = problem.workload
        model = load_rnnlm(self.module, problem)

        def call():
            return model.sample(problem.prime, w.length, seed=problem.seed)

        def outputs():
            return {"greedy": model.sample(problem.prime, w.length, top_k=1), "sampled": call()}

        return WorkloadRunner(
            call, outputs, f"{self.module.__name__}.RNNLM.sample(prime, {w.length}, seed=...)"
        )


class TutorialBackend(Backend):
    """The lm-step's baseline: the tutorial's bptt in plain NumPy (``tutorial_numpy``).
    It takes part in every run that includes the lm-step, whatever ``backends`` says."""

    name = "tutorial"

    def prepare_workload(self, problem) -> WorkloadRunner | None:
        if not isinstance(problem, LMStepProblem):
            return None
        model = TutorialRNNNumpy(
            problem.U, problem.V, problem.W, bptt_truncate=problem.workload.truncate
        )
        return tutorial_style_runner(
            lambda: model.bptt(problem.x, problem.y),
            "the tutorial's RNNNumpy.bptt(x, y): plain NumPy, Python loops over the steps",
        )


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
