"""The README's performance summary (a Markdown table) from a ``fastrnn bench --json`` file.

    python benches/summary_table.py bench-results/bench-20261127-093000-float32.json

One row per cell, shape and task: fastrnn's median, GFLOP/s and percentage of the run's
GEMM peak (with the GEMM's GFLOP/s in that case's rounds when the run timed it there),
then every other backend's median over fastrnn's from the same run (above 1: fastrnn is
faster); the workloads follow as a sentence each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OTHERS = ("reference", "torch", "jax")


def _ratio(row: dict | None) -> str:
    if row is None or row.get("ratio_to_fastrnn") is None:
        return "–"
    return f"{row['ratio_to_fastrnn']:.2f}"


def _ms(seconds: float) -> str:
    ms = 1e3 * seconds
    return f"{ms:.3f}" if ms < 1 else f"{ms:.4g}" if ms < 1000 else f"{ms:.0f}"


def cells_table(result: dict) -> str:
    rows: dict[tuple, dict[str, dict]] = {}
    for row in result["results"]:
        if row["cell"] is None or row["shape"] is None:
            continue
        rows.setdefault((row["cell"], row["shape"], row["task"]), {})[row["backend"]] = row
    in_rounds = any(row.get("peak_gflops_in_rounds") for row in result["results"])
    peak_column = " sgemm GFLOP/s in the rounds |" if in_rounds else ""
    lines = [
        "| cell | shape | task | fastrnn ms | GFLOP/s | % peak |"
        + peak_column
        + " × reference | × torch | × JAX |",
        "|---|---|---|---:|---:|---:|" + ("---:|" if in_rounds else "") + "---:|---:|---:|",
    ]
    for (cell, shape, task), by_backend in rows.items():
        fast = by_backend.get("fastrnn")
        if fast is None or fast.get("median_s") is None:
            continue
        ratios = " | ".join(_ratio(by_backend.get(name)) for name in OTHERS)
        peak = f" {fast['peak_gflops_in_rounds']:.1f} |" if in_rounds else ""
        lines.append(
            f"| {cell} | {shape} | {task} | {_ms(fast['median_s'])} | {fast['gflops']:.1f} "
            f"| {fast['percent_of_peak']:.0f} |{peak} {ratios} |"
        )
    return "\n".join(lines)


def workloads_text(result: dict) -> str:
    lines = []
    for row in result.get("workloads", []):
        if row.get("median_s") is None or row["backend"] == "fastrnn":
            continue
        lines.append(
            f"- {row['workload']}: {row['backend']} {_ratio(row)} × fastrnn "
            f"(paired {row['paired_ratio_to_fastrnn']:.2f})"
        )
    fast = [r for r in result.get("workloads", []) if r["backend"] == "fastrnn" and r["median_s"]]
    for row in fast:
        lines.append(
            f"- {row['workload']}: fastrnn {1e6 * row['per_item_s']:.1f} us per item, "
            f"{row['items_per_s']:,.0f} items/s"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    result = json.loads(Path(argv[0]).read_text())
    print(cells_table(result))
    print()
    print(workloads_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
