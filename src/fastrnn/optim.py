"""Optimizers and gradient clipping over dicts of parameter arrays.

An optimizer holds a model's live parameter dict (``model.params``) and updates its arrays
in place from a gradient dict with the same names (``model.grads``). Every update is a few
whole-array NumPy operations per parameter, in the parameters' dtype, with no Python loop
over elements. The state (step count and per-parameter buffers) is plain arrays, so a
checkpoint stores it and training resumes bit for bit:

    opt = Adam(model.params, lr=2e-3)
    model.loss_and_grads(ids, targets)
    clip_by_global_norm(model.grads, 5.0)
    opt.step(model.grads)

SGD and Adam follow ``torch.optim`` (the same update, step for step, tested). Adagrad
follows min-char-rnn, whose epsilon sits inside the square root:
``p -= lr * g / sqrt(sum g^2 + eps)``; torch's Adagrad puts it outside,
``sqrt(sum g^2) + eps``. The two differ only while the accumulated squares are near eps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from . import _contract


def _fraction(name: str, value) -> float:
    """A number in [0, 1), as momentum and Adam's betas must be."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [0, 1); got {value!r}") from None
    if not 0 <= x < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return x


class Optimizer:
    """Base class: the parameters, the step count and named per-parameter buffers.

    Subclasses set ``name`` and ``buffers`` (the names of the per-parameter state
    arrays, each shaped and typed like its parameter) and implement ``_update``."""

    name: ClassVar[str] = ""
    buffers: tuple[str, ...] = ()

    def __init__(self, params: Mapping[str, np.ndarray], lr: float):
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of name -> array; got {type(params).__name__}")
        for name, p in params.items():
            if not (isinstance(p, np.ndarray) and p.dtype in _contract.SUPPORTED_DTYPES):
                raise TypeError(
                    f"params[{name!r}] must be a float32 or float64 NumPy array (updated in place)"
                )
        self.params = params
        self.lr = _contract.check_positive_float("lr", lr)
        self.step_count = 0
        self.state = {b: {n: np.zeros_like(p) for n, p in params.items()} for b in self.buffers}

    def hyperparameters(self) -> dict:
        """The constructor's keyword arguments, as JSON-friendly values."""
        return {"lr": self.lr}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter in place from its gradient (same names, shapes, dtypes)."""
        if set(grads) != set(self.params):
            missing = sorted(set(self.params) - set(grads))
            unexpected = sorted(set(grads) - set(self.params))
            raise ValueError(
                f"grads must have the parameters' names: missing {missing}, unexpected {unexpected}"
            )
        for name, p in self.params.items():
            g = grads[name]
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                got = f"{g.dtype} {g.shape}" if isinstance(g, np.ndarray) else type(g).__name__
                raise ValueError(
                    f"grads[{name!r}] must be a {p.dtype} array of shape {p.shape}; got {got}"
                )
        self.step_count += 1
        for name, p in self.params.items():
            self._update(p, grads[name], {b: self.state[b][name] for b in self.buffers})

    def _update(self, p: np.ndarray, g: np.ndarray, buf: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # ---- state as plain arrays -----------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state: ``step`` (int64 scalar) and ``<buffer>/<parameter>``."""
        out = {"step": np.array(self.step_count, dtype=np.int64)}
        for b in self.buffers:
            for name, a in self.state[b].items():
                out[f"{b}/{name}"] = a.copy()
        return out

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every entry of ``state_dict``."""
        shapes = {"step": ()}
        for b in self.buffers:
            for name, p in self.params.items():
                shapes[f"{b}/{name}"] = p.shape
        return shapes

    def load_state_dict(self, state: Mapping) -> None:
        """Take over a state saved by ``state_dict`` (of an optimizer of the same kind over
        parameters of the same names and shapes). Nothing changes unless all of it fits."""
        arrays = _contract.check_arrays(state, self.state_shapes(), "optimizer state", repr(self))
        step = arrays["step"]
        if step.dtype.kind not in "iu" or step < 0:
            raise ValueError(f"optimizer state['step'] must be an integer >= 0; got {step!r}")
        for b in self.buffers:
            for name, a in self.state[b].items():
                a[...] = arrays[f"{b}/{name}"]
        self.step_count = int(step)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (torch.optim.SGD's form):

    v = momentum * v + g;   p -= lr * v          (v = g without momentum)
    """

    name = "sgd"

    def __init__(self, params, lr=0.01, momentum=0.0):
        self.momentum = _fraction("momentum", momentum)
        self.buffers = ("velocity",) if self.momentum > 0 else ()
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum}

    def _update(self, p, g, buf):
        if self.momentum > 0:
            v = buf["velocity"]
            v *= self.momentum
            v += g
            g = v
        p -= p.dtype.type(self.lr) * g


class Adagrad(Optimizer):
    """Adagrad as in min-char-rnn, epsilon inside the square root:

    m += g * g;   p -= lr * g / sqrt(m + eps)
    """

    name = "adagrad"
    buffers = ("sum_sq",)

    def __init__(self, params, lr=0.1, eps=1e-8):
        self.eps = _contract.check_positive_float("eps", eps)
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}

    def _update(self, p, g, buf):
        m = buf["sum_sq"]
        m += g * g
        # the order of min-char-rnn's statement, p += -lr * g / sqrt(m + eps): same bits
        root = np.sqrt(m + p.dtype.type(self.eps))
        step = p.dtype.type(-self.lr) * g
        step /= root
        p += step


class Adam(Optimizer):
    """Adam (torch.optim.Adam's form, epsilon outside the square root):

    m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    name = "adam"
    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair of numbers in [0, 1); got {betas!r}") from None
        self.betas = (_fraction("betas[0]", b1), _fraction("betas[1]", b2))
        self.eps = _contract.check_positive_float("eps", eps)
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps}

    def _update(self, p, g, buf):
        b1, b2 = self.betas
        t = self.step_count
        real = p.dtype.type
        m, v = buf["exp_avg"], buf["exp_avg_sq"]
        m *= real(b1)
        m += real(1 - b1) * g
        v *= real(b2)
        v += real(1 - b2) * (g * g)
        denom = np.sqrt(v)
        denom /= real(math.sqrt(1 - b2**t))
        denom += real(self.eps)
        p -= real(self.lr / (1 - b1**t)) * m / denom


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adagrad, Adam)}


def make_optimizer(name: str, params, **hyperparameters) -> Optimizer:
    """The optimizer called ``name`` ("sgd", "adagrad" or "adam") over params."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}") from None
    return cls(params, **hyperparameters)


# ---- clipping -------------------------------------------------------------------------


def clip_by_value(grads: Mapping[str, np.ndarray], limit: float) -> None:
    """Clip every gradient element to [-limit, limit], in place (min-char-rnn uses 5)."""
    limit = _contract.check_positive_float("limit", limit)
    for g in grads.values():
        np.clip(g, -limit, limit, out=g)


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient element, accumulated in float64."""
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))


def clip_by_global_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together, in place, so that their global norm is at most
    max_norm (torch.nn.utils.clip_grad_norm_'s rule: the factor is
    max_norm / (norm + 1e-6) when below 1). Returns the norm before clipping."""
    max_norm = _contract.check_positive_float("max_norm", max_norm)
    norm = global_norm(grads)
    factor = max_norm / (norm + 1e-6)
    if factor < 1:
        for g in grads.values():
            g *= g.dtype.type(factor)
    return norm
