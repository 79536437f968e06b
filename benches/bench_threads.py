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
        for row in result["results"]:
            if row["median_s"] is None:
                continue
            key = (row["cell"], row["shape"], row["task"], row["backend"])
            ms = table.setdefault(key, {"ms": {1: [], 2: []}})["ms"]
            ms[threads].append(1e3 * row["median_s"])
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
    for (cell, shape, task, backend), entry in speedups(runs).items():
        one = statistics.median(entry["ms"][1])
        two = statistics.median(entry["ms"][2]) if entry["ms"][2] else float("nan")
        each = ", ".join(f"{s:.2f}" for s in entry["speedups"])
        median = statistics.median(entry["speedups"]) if entry["speedups"] else float("nan")
        label = f"{cell:<5} {shape:<8} {task:<10} {backend:<9}"
        print(f"{label} {one:9.1f} {two:9.1f}  {median:.2f} ({each})")
    load = [result["machine"].get("loadavg_end") for _, result in runs]
    print(f"load average at the end of each run: {load}")
    if args.json:
        args.json.write_text(json.dumps([{"threads": t, **r} for t, r in runs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
