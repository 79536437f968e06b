"""Speedup of 2 threads over 1 on the large shape, repeated, with its spread.

    python benches/bench_threads.py                          # rnn, large, 3 repeats
    python benches/bench_threads.py --cells rnn lstm --repeats 5 --backends fastrnn torch

A thread count holds for a whole ``fastrnn.bench.run`` (threadpoolctl, torch's threads and
the CPU pinning are process-wide), so 1 and 2 threads cannot be interleaved round by
round as backends are. Instead the runs alternate, 1 thread then 2 threads, ``--repeats``
times; each repeat's speedup is its 1-thread median over its 2-thread median, so a
change in the machine's load between repeats shows as spread rather than as a bias.
Reported per (cell, task, backend): the speedup of every repeat, their median, and the
medians in ms. Every backend is still checked against the reference in each run.
A row "sgemm" per case gives the same for the 2048^3 GEMM that every round also runs
(NumPy's OpenBLAS, the %peak yardstick): what the host let a large BLAS call gain from the
second thread in those rounds. On a host whose other CPU is busy it stays near 1 or
below, and no backend's figure can be read as its own scaling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from fastrnn.bench import run


def speedups(runs: list[tuple[int, dict]]) -> dict[tuple, dict]:
    """{(cell, task, backend): {"ms": {threads: [medians]}, "speedups": [...]}} from the
    alternating runs, repeat by repeat."""
    table: dict[tuple, dict] = {}
    for threads, result in runs:
        gemm_flops = 2 * result["peak"]["n"] ** 3 if result.get("peak") else None
        yardsticks = {}  # case -> ms of the GEMM, the median in that case's rounds
        for row in result["results"]:
            if row["median_s"] is None:
                continue
            case = (row["cell"], row["shape"], row["task"])
            ms = table.setdefault((*case, row["backend"]), {"ms": {1: [], 2: []}})["ms"]
            ms[threads].append(1e3 * row["median_s"])
            if gemm_flops and row.get("peak_gflops_in_rounds"):
                yardsticks[case] = 1e3 * gemm_flops / (row["peak_gflops_in_rounds"] * 1e9)
        for case, gemm_ms in yardsticks.items():
            ms = table.setdefault((*case, "sgemm"), {"ms": {1: [], 2: []}})["ms"]
            ms[threads].append(gemm_ms)
    for entry in table.values():
        one, two = entry["ms"][1], entry["ms"][2]
        entry["speedups"] = [a / b for a, b in zip(one, two, strict=False)]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["rnn"])
    parser.add_argument("--shapes", nargs="+", default=["large"])
    parser.add_argument("--tasks", nargs="+", default=["inference", "training"])
    parser.add_argument("--backends", nargs="+", default=["fastrnn", "torch"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per run")
    parser.add_argument("--json", type=Path, help="also write every run's results")
    args = parser.parse_args(argv)

    runs = []
    for repeat in range(args.repeats):
        for threads in (1, 2):
            print(f"repeat {repeat + 1}/{args.repeats}: {threads} thread(s)", flush=True)
            result = run(
                cells=args.cells, shapes=args.shapes, tasks=args.tasks,
                backends=args.backends, workloads=[], threads=threads, rounds=args.rounds,
            )  # fmt: skip
            runs.append((threads, result))

    print(f"\n2 threads over 1, {args.repeats} alternating repeats (float32)")
    header = (
        f"{'cell':<5} {'shape':<8} {'task':<10} {'backend':<9} {'1 thr ms':>9} {'2 thr ms':>9}"
        "  speedup median (each repeat)"
    )
    print(header + "\n" + "-" * len(header))
    table = speedups(runs)
    order = {}  # each case's sgemm row after its backends
    for key in table:
        order.setdefault(key[:3], len(order))
    for (cell, shape, task, backend), entry in sorted(
        table.items(), key=lambda kv: order[kv[0][:3]]
    ):
        one = statistics.median(entry["ms"][1])
        two = statistics.median(entry["ms"][2]) if entry["ms"][2] else float("nan")
        each = ", ".join(f"{s:.2f}" for s in entry["speedups"])
        median = statistics.median(entry["speedups"]) if entry["speedups"] else float("nan")
        label = f"{cell:<5} {shape:<8} {task:<10} {backend:<9}"
        print(f"{label} {one:9.1f} {two:9.1f}  {median:.2f} ({each})")
    for when in ("start", "end"):
        load = [(result["machine"].get(f"loadavg_{when}") or [None])[0] for _, result in runs]
        load = [None if x is None else round(x, 2) for x in load]
        print(f"load average (1 min) at the {when} of each run: {load}")
    if args.json:
        args.json.write_text(json.dumps([{"threads": t, **r} for t, r in runs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
