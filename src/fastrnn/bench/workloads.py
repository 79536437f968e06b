"""The two whole-model workloads, beside the cells: the language-model step and generation.

A workload is a fixed task of the issue, with its own sizes and dtype (``--dtype`` and
``--shapes`` do not apply), timed per *item* (a sentence, a token):

``lm-step`` (``LMStep``)
    One sentence's gradients of the classic word-level language model of Britz's tutorial,
    V = 8000 words, H = 100, B = 1, T = 20, per-output truncation 4, float64:
    ``fastrnn.compat.RNNNumpy.bptt(x, y)`` against the tutorial's own plain NumPy
    (``tutorial_numpy``), the baseline that always runs. torch and JAX have no per-output
    truncation: they run exact BPTT on the same sentence (``full_bptt`` in their runner),
    and are checked against the tutorial's code with an unlimited window.
``generation`` (``Generation``)
    One stream of tokens, B = 1, H = 256, vocabulary 100, float32: ``fastrnn.RNNLM.sample``
    (temperature 1, seeded: O(1) work per token, the prefix is never run again) against
    the same model in torch stepped one token at a time with its hidden state carried
    (``torch.multinomial``) and against ``fastrnn.reference.RNNLM``. One timed call draws
    ``length`` tokens after a prime of ``prime`` tokens.

A backend offers a workload through ``Backend.prepare_workload(problem)``, which returns a
``WorkloadRunner``, a string saying why it cannot, or None when the workload is not its
business (JAX does not generate). Every runner is checked before it is timed:

- lm-step: dLdU, dLdV, dLdW against the tutorial's float64 code (``check.compare``,
  float64 tolerances: within about 1e-11 of each array's largest entry);
- generation: the greedy tokens (argmax at every step) of every backend must equal
  ``fastrnn.reference.RNNLM``'s on the same weights and prime, and the seeded sampled
  tokens (the timed path) of fastrnn and the reference must equal each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .check import Disagreement, compare
from .tutorial_numpy import TutorialRNNNumpy


class WorkloadRunner(NamedTuple):
    """What a backend times for a workload, and what the check compares."""

    call: Callable[[], Any]  # one timed call: a sentence's gradients, or length tokens
    outputs: Callable[[], dict[str, np.ndarray]]  # untimed: the arrays the check compares
    timed: str  # what call runs, in the user's words (printed under the table)
    full_bptt: bool = False  # lm-step: exact BPTT instead of the per-output window
    compile_s: float | None = None  # time spent compiling before the first call (JAX)


@dataclass(frozen=True)
class LMStep:
    """The tutorial's training step on one sentence: V words, H hidden, T steps, window K.

    ``make_problem`` draws the weights with the tutorial's bounds (U uniform in
    +-sqrt(1/V), V and W in +-sqrt(1/H)) from a seeded generator, and a sentence of T + 1
    random words: x the first T, y the last T (y_t = x_{t+1})."""

    V: int = 8000
    H: int = 100
    T: int = 20
    truncate: int = 4

    name: ClassVar[str] = "lm-step"
    dtype: ClassVar[np.dtype] = np.dtype(np.float64)
    item: ClassVar[str] = "sentence"

    @property
    def items_per_call(self) -> int:
        return 1

    def sizes(self) -> dict[str, int]:
        return {"V": self.V, "H": self.H, "B": 1, "T": self.T, "truncate": self.truncate}

    def describe(self) -> str:
        return (
            f"one sentence's dLdU, dLdV, dLdW: V={self.V} H={self.H} B=1 T={self.T}, "
            f"per-output truncation {self.truncate}, float64"
        )

    def make_problem(self, seed: int) -> LMStepProblem:
        rng = np.random.default_rng([seed, self.V, self.H, self.T])
        word_bound, hidden_bound = math.sqrt(1.0 / self.V), math.sqrt(1.0 / self.H)
        U = rng.uniform(-word_bound, word_bound, (self.H, self.V))
        V = rng.uniform(-hidden_bound, hidden_bound, (self.V, self.H))
        W = rng.uniform(-hidden_bound, hidden_bound, (self.H, self.H))
        words = [int(w) for w in rng.integers(0, self.V, size=self.T + 1)]
        # Lists of ints, as the tutorial's X_train holds them.
        return LMStepProblem(self, U, V, W, words[:-1], words[1:])

    def checker(self, problem: LMStepProblem) -> Callable[[WorkloadRunner], dict]:
        """check(runner) -> the comparison report; raises Disagreement. The tutorial's
        gradients (windowed, or exact for a full_bptt runner) are computed once each."""
        expected: dict[bool, dict[str, np.ndarray]] = {}

        def check(runner: WorkloadRunner) -> dict:
            if runner.full_bptt not in expected:
                expected[runner.full_bptt] = tutorial_gradients(problem, runner.full_bptt)
            return compare(runner.outputs(), expected[runner.full_bptt], self.dtype)

        return check


@dataclass(frozen=True)
class LMStepProblem:
    """The weights (U (H, V), V (V, H), W (H, H), float64) and one sentence x, y (T words)."""

    workload: LMStep
    U: np.ndarray
    V: np.ndarray
    W: np.ndarray
    x: list[int]
    y: list[int]


GRADIENT_NAMES = ("dLdU", "dLdV", "dLdW")  # the order of the tutorial's bptt result


def tutorial_style_runner(bptt: Callable[[], list], timed: str) -> WorkloadRunner:
    """A runner timing bptt(), a call returning the tutorial's [dLdU, dLdV, dLdW]."""

    def outputs():
        return dict(zip(GRADIENT_NAMES, bptt(), strict=True))

    return WorkloadRunner(bptt, outputs, timed)


def tutorial_gradients(problem: LMStepProblem, full_bptt: bool = False) -> dict[str, np.ndarray]:
    """dLdU, dLdV, dLdW by the tutorial's bptt, with the workload's window or none."""
    window = problem.workload.T if full_bptt else problem.workload.truncate
    model = TutorialRNNNumpy(problem.U, problem.V, problem.W, bptt_truncate=window)
    return dict(zip(GRADIENT_NAMES, model.bptt(problem.x, problem.y), strict=True))


@dataclass(frozen=True)
class Generation:
    """Single-stream generation: vocabulary K, H hidden, one layer, float32.

    One call draws ``length`` tokens after a prime of ``prime`` tokens, at temperature 1
    from a fixed seed. ``make_problem`` draws weights under ``fastrnn.RNNLM``'s (torch's)
    parameter names, scaled so that the logits spread (standard deviation about 1) and
    greedy decoding meets no near-ties, and a random prime."""

    vocab: int = 100
    H: int = 256
    length: int = 100
    prime: int = 5

    name: ClassVar[str] = "generation"
    dtype: ClassVar[np.dtype] = np.dtype(np.float32)
    item: ClassVar[str] = "token"

    @property
    def items_per_call(self) -> int:
        return self.length

    def sizes(self) -> dict[str, int]:
        return {
            "vocab": self.vocab,
            "H": self.H,
            "B": 1,
            "length": self.length,
            "prime": self.prime,
        }

    def describe(self) -> str:
        return (
            f"{self.length} tokens per call after a {self.prime}-token prime: vocabulary "
            f"{self.vocab}, H={self.H}, B=1, float32, temperature 1, seeded"
        )

    def make_problem(self, seed: int) -> GenerationProblem:
        K, H = self.vocab, self.H
        rng = np.random.default_rng([seed, K, H, self.length, self.prime])
        params = {
            # (H, K): a one-hot input selects a column, the token's embedding
            "rnn.weight_ih_l0": 0.5 * rng.standard_normal((H, K)),
            "rnn.weight_hh_l0": rng.standard_normal((H, H)) * (0.5 / math.sqrt(H)),
            "rnn.bias_ih_l0": 0.1 * rng.standard_normal(H),
            "rnn.bias_hh_l0": 0.1 * rng.standard_normal(H),
            "decoder.weight": rng.standard_normal((K, H)) * (2.0 / math.sqrt(H)),
            "decoder.bias": 0.1 * rng.standard_normal(K),
        }
        params = {name: p.astype(self.dtype) for name, p in params.items()}
        prime = rng.integers(0, K, size=self.prime)
        return GenerationProblem(self, params, prime, seed)

    def checker(self, problem: GenerationProblem) -> Callable[[WorkloadRunner], dict]:
        """check(runner) -> {"greedy_tokens", "sampled_tokens"} compared; raises
        Disagreement. The oracle is fastrnn.reference.RNNLM on the same weights."""
        from .. import reference

        expected: dict[str, np.ndarray] = {}

        def check(runner: WorkloadRunner) -> dict:
            if not expected:
                model = load_rnnlm(reference, problem)
                expected.update(
                    greedy=model.sample(problem.prime, self.length, top_k=1),
                    sampled=model.sample(problem.prime, self.length, seed=problem.seed),
                )
            got = runner.outputs()
            if "greedy" not in got:
                raise Disagreement("returned no greedy tokens")
            compared = [name for name in ("greedy", "sampled") if name in got]
            for name in compared:
                same_tokens(name, got[name], expected[name])
            return {"tokens": self.length, "compared": compared}

        return check


@dataclass(frozen=True)
class GenerationProblem:
    """RNNLM parameters under torch's names (float32), the prime (P,) and the seed."""

    workload: Generation
    params: dict[str, np.ndarray]
    prime: np.ndarray
    seed: int


def load_rnnlm(module, problem: GenerationProblem):
    """module.RNNLM (fastrnn's or the reference's) holding the problem's weights."""
    w = problem.workload
    model = module.RNNLM(w.vocab, w.H, dtype=w.dtype)
    model.load_state_dict(problem.params)
    return model


def same_tokens(name: str, got, want: np.ndarray) -> None:
    """Raise Disagreement unless got is the token sequence want (int, same length)."""
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype.kind not in "iu":
        raise Disagreement(
            f"{name} tokens: got an array of shape {got.shape} and dtype {got.dtype}; "
            f"want {want.shape} integers"
        )
    differ = np.flatnonzero(got != want)
    if differ.size:
        i = int(differ[0])
        raise Disagreement(
            f"{name} tokens differ from fastrnn.reference's from token {i} on: got "
            f"{got[i : i + 5].tolist()}, want {want[i : i + 5].tolist()}"
        )


WORKLOADS = {w.name: w for w in (LMStep(), Generation())}
Workload = LMStep | Generation
