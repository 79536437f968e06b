"""How calls are timed: warm-up, calibration, interleaved rounds, the GEMM peak.

A *sample* is ``inner`` back-to-back calls with the garbage collector paused; its time per
call is what gets recorded. ``calibrate`` warms a call up and picks ``inner`` so that a
sample lasts at least the target (tens of milliseconds: long against the clock's
resolution and the scheduler's tick, short against load that drifts). ``interleave``
then takes one sample of every backend per round, round after round, rotating which
backend goes first, so that all of them see the same machine: the median over rounds is
the reported time, and the per-round ratios to a baseline (samples taken side by side)
are steadier than the ratio of two medians when the load changes during a run. The GEMM
that measures the peak (``GemmPeak``) can take part in the rounds too, so that a case's
percentage of the peak compares samples taken under the same load.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable

import numpy as np


def run_sample(call: Callable[[], object], inner: int) -> float:
    """Seconds per call over inner back-to-back calls, the garbage collector paused."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(inner):
            call()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / inner


def calibrate(call: Callable[[], object], target_s: float) -> tuple[int, float]:
    """Warm call up, then the inner iterations making a sample last at least target_s.

    Returns (inner, estimated seconds per call)."""
    call()  # warm-up: first-touch page faults, BLAS buffers and threads, caches
    inner = 1
    while True:
        per_call = run_sample(call, inner)
        if per_call * inner >= 0.2 * target_s or inner >= 1_000_000:
            break
        inner *= 10
    if per_call < target_s:
        # A load spike during this one short measurement would make every sample too
        # short: take the fastest of three.
        per_call = min(per_call, run_sample(call, inner), run_sample(call, inner))
    return max(1, math.ceil(target_s / per_call)), per_call


def affordable_rounds(round_s: float, rounds: int, min_rounds: int, budget_s: float) -> int:
    """rounds, cut so that they take about budget_s, but never below min_rounds."""
    if budget_s <= 0 or round_s <= 0:
        return rounds
    return max(min(min_rounds, rounds), min(rounds, int(budget_s // round_s)))


def interleave(
    calls: dict[str, Callable[[], object]],
    inner: dict[str, int],
    rounds: int,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """rounds samples of every call, one of each per round, the starting call rotating.

    Returns name -> seconds per call of each round's sample, in round order."""
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        if on_round is not None:
            on_round(r)
        start = r % len(names)
        for name in names[start:] + names[:start]:
            samples[name].append(run_sample(calls[name], inner[name]))
    return samples


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, quartiles, min and max of samples (seconds)."""
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return {
        "median_s": float(median),
        "q1_s": float(q1),
        "q3_s": float(q3),
        "min_s": float(min(samples)),
        "max_s": float(max(samples)),
    }


class GemmPeak:
    """An n x n x n GEMM through NumPy's BLAS (sgemm for float32, dgemm for float64), at
    whatever thread count the BLAS is limited to: the yardstick of the benchmark's
    percentages. Calling it runs one GEMM into a kept output; its operands are made once."""

    def __init__(self, dtype, n: int = 2048):
        rng = np.random.default_rng(0)
        self.n = n
        self.routine = "sgemm" if np.dtype(dtype) == np.float32 else "dgemm"
        self.flops = 2 * n**3
        self._a = rng.standard_normal((n, n)).astype(dtype)
        self._b = rng.standard_normal((n, n)).astype(dtype)
        self._c = np.empty((n, n), dtype=dtype)

    def __call__(self) -> None:
        np.matmul(self._a, self._b, out=self._c)

    def gflops(self, seconds: float) -> float:
        return self.flops / seconds / 1e9

    def measure(self, trials: int = 5) -> dict:
        """Best of trials after a warm-up."""
        self()  # warm-up
        best = min(run_sample(self, 1) for _ in range(trials))
        return {
            "routine": self.routine,
            "n": self.n,
            "trials": trials,
            "best_s": best,
            "gflops": self.gflops(best),
        }


def gemm_peak(dtype, n: int = 2048, trials: int = 5) -> dict:
    """Achieved GFLOP/s of an n x n x n GEMM, best of trials after a warm-up (GemmPeak)."""
    return GemmPeak(dtype, n).measure(trials)
