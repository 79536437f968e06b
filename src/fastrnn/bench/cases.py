"""What is measured: shapes, cells, tasks, their flop counts and the seeded problems.

A *case* is one (cell, shape, task) in one dtype: the problem every backend receives (the
same weights and inputs for all), and what a backend must compute for it.

Flop counts, 2 flops per multiply-add of the GEMMs a textbook implementation performs
(activations, biases and elementwise products are not counted). G is the number of
gate blocks stacked in the weights: 1 for rnn, 4 for lstm (i, f, g, o), 3 for gru (r, z, n).

    inference = 2*T*B*G*H*(D + H)       x_t W_ih^T and h_{t-1} W_hh^T at every step
    training  = inference               the forward pass
              + 2*T*B*G*H*(D + H)       dW_ih += da_t^T x_t, dW_hh += da_t^T h_{t-1}
              + 2*T*B*G*H*D             dx_t = da_t W_ih
              + 2*T*B*G*H*H             dh_{t-1} += da_t W_hh (the BPTT recurrence)
              = 3 * inference

(da_t is the gradient on the pre-activations of the G gate blocks.) The training loss is
sum(out * dout) + sum(h_n * dh_n) for fixed random dout (T, B, H) and dh_n (1, B, H): its
gradients are what ``layer.backward(dout, dh_n)`` returns, every parameter's included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TASKS = ("inference", "training")
TASK_DESCRIPTIONS = {
    "inference": "forward over the sequence, nothing kept for backward",
    "training": "forward + full BPTT: dx, dh0 and every parameter gradient",
}


@dataclass(frozen=True)
class Shape:
    """A problem size: T steps, B batch rows, D input size, H hidden size."""

    name: str
    T: int
    B: int
    D: int
    H: int

    def dims(self) -> str:
        return f"{self.T},{self.B},{self.D},{self.H}"


SHAPES = {
    s.name: s
    for s in (
        Shape("tutorial", T=50, B=1, D=100, H=100),
        Shape("small", T=100, B=16, D=128, H=128),
        Shape("medium", T=100, B=32, D=256, H=256),
        Shape("large", T=100, B=64, D=1024, H=1024),
    )
}


def parse_shape(text: str) -> Shape:
    """A shape by name (``tutorial``) or as ``T,B,D,H`` (``8,2,16,16``, named "custom");
    raises ValueError naming the choices."""
    if text in SHAPES:
        return SHAPES[text]
    parts = text.split(",")
    if len(parts) == 4 and all(p.strip().isdigit() and int(p) > 0 for p in parts):
        T, B, D, H = (int(p) for p in parts)
        return Shape("custom", T=T, B=B, D=D, H=H)
    raise ValueError(
        f"unknown shape {text!r}: choose from {', '.join(SHAPES)} or give T,B,D,H "
        f"(four positive integers, e.g. 8,2,16,16)"
    )


@dataclass(frozen=True)
class Cell:
    """A recurrent cell as fastrnn, its reference and torch name it."""

    name: str  # "rnn"
    class_name: str  # "RNN": fastrnn.RNN, fastrnn.reference.RNN, torch.nn.RNN
    gates: int  # G, the gate blocks stacked in weight_ih (G*H, D) and weight_hh (G*H, H)
    takes_h0: bool  # whether the benchmark passes an initial state (see CellProblem)


CELLS = {
    c.name: c
    for c in (
        Cell("rnn", "RNN", gates=1, takes_h0=True),
        # fastrnn's LSTM runs as ``out, (h_n, c_n) = lstm(x)``: from the zero state.
        Cell("lstm", "LSTM", gates=4, takes_h0=False),
        Cell("gru", "GRU", gates=3, takes_h0=True),
    )
}


def flops(cell: Cell, shape: Shape, task: str) -> int:
    """Flops of one call of task (module docstring)."""
    inference = 2 * shape.T * shape.B * cell.gates * shape.H * (shape.D + shape.H)
    return inference if task == "inference" else 3 * inference


@dataclass(frozen=True)
class CellProblem:
    """One cell's weights and data, shared by every backend.

    Arrays are time-major and in the benchmark dtype. ``params`` uses torch's state_dict
    names and shapes (weight_ih_l0 (G*H, D), weight_hh_l0 (G*H, H), bias_ih_l0 and
    bias_hh_l0 (G*H,)); h0 is (1, B, H), or None when the cell runs from the zero state;
    dout (T, B, H) and dh_n (1, B, H) are the cotangents of the training task."""

    cell: Cell
    shape: Shape
    params: dict[str, np.ndarray]
    x: np.ndarray
    h0: np.ndarray | None
    dout: np.ndarray
    dh_n: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    def astype(self, dtype) -> CellProblem:
        """The same numbers in another dtype (float64 for the oracle: exact)."""

        def cast(a):
            return None if a is None else a.astype(dtype)

        return CellProblem(
            self.cell,
            self.shape,
            {name: cast(p) for name, p in self.params.items()},
            cast(self.x),
            cast(self.h0),
            cast(self.dout),
            cast(self.dh_n),
        )


def make_problem(cell: Cell, shape: Shape, dtype, seed: int) -> CellProblem:
    """Seeded weights and data in dtype, scaled so that the activations stay unsaturated.

    Weights have entries of standard deviation 0.5/sqrt(fan_in): with unit-variance x and
    |h| < 1 every gate pre-activation has a standard deviation of about 0.5."""
    T, B, D, H, G = shape.T, shape.B, shape.D, shape.H, cell.gates
    rng = np.random.default_rng([seed, G, T, B, D, H])
    params = {
        "weight_ih_l0": rng.standard_normal((G * H, D)) * (0.5 / math.sqrt(D)),
        "weight_hh_l0": rng.standard_normal((G * H, H)) * (0.5 / math.sqrt(H)),
        "bias_ih_l0": 0.1 * rng.standard_normal(G * H),
        "bias_hh_l0": 0.1 * rng.standard_normal(G * H),
    }
    x = rng.standard_normal((T, B, D))
    h0 = 0.5 * rng.standard_normal((1, B, H)) if cell.takes_h0 else None
    dout = rng.standard_normal((T, B, H))
    dh_n = rng.standard_normal((1, B, H))

    def cast(a):
        return None if a is None else np.ascontiguousarray(a, dtype=dtype)

    return CellProblem(
        cell,
        shape,
        {name: cast(p) for name, p in params.items()},
        cast(x),
        cast(h0),
        cast(dout),
        cast(dh_n),
    )


@dataclass(frozen=True)
class Case:
    """One measurement: a task on a problem. Backends turn it into a Runner."""

    problem: CellProblem
    task: str

    @property
    def cell(self) -> Cell:
        return self.problem.cell

    @property
    def shape(self) -> Shape:
        return self.problem.shape

    @property
    def flops(self) -> int:
        return flops(self.cell, self.shape, self.task)

    @property
    def tokens(self) -> int:
        """Tokens (one step of one batch row) per call."""
        return self.shape.T * self.shape.B

    def label(self) -> str:
        return f"{self.cell.name} {self.shape.name} {self.task}"
