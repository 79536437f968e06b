"""The agreement check: a backend's arrays against the float64 reference's.

Elementwise |got - want| <= atol + rtol * |want|, with atol = atol_scale * max|want| of
that array: gradients such as dweight_hh_l0 sum T*B terms of either sign, so a fixed atol
would mean different things for different arrays. The tolerances are what the benchmark
dtype can promise on these well-scaled problems, not what a kernel usually achieves
(fastrnn's float32 kernels stay below 2e-6 * max|want|).
"""

from __future__ import annotations

import numpy as np

TOLERANCES = {
    "float32": {"rtol": 1e-4, "atol_scale": 1e-5},
    "float64": {"rtol": 1e-9, "atol_scale": 1e-11},
}


class Disagreement(Exception):
    """A backend's result is not the reference's: its timings would mean nothing."""


def compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], dtype) -> dict:
    """Check every array of want against got, computed in dtype.

    Returns {name: {"max_abs_err", "max_abs_ref", "err_over_scale"}} and, as
    "worst_err_over_scale", the largest max|err| / max|want|. Raises Disagreement naming
    the first array that is missing, of another shape or dtype, or out of tolerance."""
    dtype = np.dtype(dtype)
    tol = TOLERANCES[dtype.name]
    report = {}
    for name, expected in want.items():
        if name not in got:
            raise Disagreement(f"returned no {name}")
        actual = np.asarray(got[name])
        if actual.shape != expected.shape:
            raise Disagreement(
                f"{name} has shape {actual.shape}; the reference's is {expected.shape}"
            )
        if actual.dtype != dtype:
            raise Disagreement(f"returned {name} as {actual.dtype} in a {dtype} benchmark")
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        atol = tol["atol_scale"] * scale
        err = np.abs(actual.astype(np.float64) - expected)
        excess = err - (atol + tol["rtol"] * np.abs(expected))
        if not np.all(excess <= 0):  # NaN fails too
            excess[np.isnan(excess)] = np.inf
            worst = np.unravel_index(np.argmax(excess), err.shape)
            index = tuple(int(i) for i in worst)
            raise Disagreement(
                f"{name} disagrees with the float64 reference: max |err| = {np.nanmax(err):.3g} "
                f"(max |ref| = {scale:.3g}); worst at {index}: got {float(actual[worst])!r}, "
                f"want {float(expected[worst])!r}; tolerance rtol {tol['rtol']:g} + "
                f"{tol['atol_scale']:g} * max|ref|"
            )
        report[name] = {
            "max_abs_err": float(err.max()) if err.size else 0.0,
            "max_abs_ref": scale,
            "err_over_scale": float(err.max() / scale) if scale > 0 else 0.0,
        }
    worst = max((r["err_over_scale"] for r in report.values()), default=0.0)
    return {"worst_err_over_scale": worst, "arrays": report}
