"""``fastrnn bench``: time fastrnn against its reference, PyTorch and JAX (fastrnn.bench).

Prints the machine, versions, BLAS and threads, then the cells' table and the workloads'
tables; progress goes to stderr. Exit status 0, 1 when a backend disagreed with the
reference or failed (its row says why), 2 for bad flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {n}")
    return n


def _threads(text: str) -> int:
    from ..bench.threads import available_cpus

    n = _positive_int(text)
    cpus = len(available_cpus())
    if n > cpus:
        raise argparse.ArgumentTypeError(f"{n} threads, but this process may use only {cpus} CPUs")
    return n


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text}")
    return value


def _shape(text: str):
    from ..bench.cases import parse_shape

    try:
        return parse_shape(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _json_path(text: str) -> str:
    directory = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"cannot write {text}: no directory {directory}")
    return text


class _NamesOrNone(argparse.Action):
    """Names, or the single word none, stored as [] (select nothing)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if "none" in values:
            if len(values) > 1:
                parser.error(f"{option_string}: none cannot be combined with other names")
            values = []
        setattr(namespace, self.dest, values)


def add_parser(subparsers) -> None:
    from ..bench import BACKEND_NAMES, CELLS, MODES, QUICK_SHAPES, SHAPES, TASKS, WORKLOADS

    full, quick = MODES["full"], MODES["quick"]
    parser = subparsers.add_parser(
        "bench",
        help="time fastrnn against its NumPy reference, PyTorch and JAX",
        usage="fastrnn bench [options]   (fastrnn bench --help lists them)",
        description="Check every backend against fastrnn.reference in float64, then time "
        "them side by side, interleaved round by round. Shapes: "
        + "; ".join(f"{s.name} T={s.T} B={s.B} D={s.D} H={s.H}" for s in SHAPES.values())
        + ". After the cells, the workloads (their own sizes and dtypes; --shapes, --tasks "
        "and --dtype do not apply to them): "
        + "; ".join(f"{w.name}, {w.describe()}" for w in WORKLOADS.values())
        + ". lm-step compares fastrnn.compat.RNNNumpy.bptt with the tutorial's plain NumPy "
        "code (always run), generation fastrnn.RNNLM.sample with torch.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer rounds ({quick['rounds']}), shorter samples "
        f"({1e3 * quick['target_s']:g} ms) and the shapes {', '.join(QUICK_SHAPES)} unless "
        "--shapes says otherwise, both workloads unless --workloads says otherwise: under a "
        "minute",
    )
    parser.add_argument(
        "--threads",
        type=_threads,
        default=1,
        metavar="N",
        help="threads of every BLAS, torch and JAX (default 1)",
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKEND_NAMES,
        metavar="NAME",
        help=f"any of {' '.join(BACKEND_NAMES)} (default all; missing ones are reported)",
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        choices=(*CELLS, "none"),
        action=_NamesOrNone,
        metavar="NAME",
        help=f"any of {' '.join(CELLS)} (default all that this fastrnn provides), or none "
        "(only the workloads)",
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=(*WORKLOADS, "none"),
        action=_NamesOrNone,
        metavar="NAME",
        help=f"any of {' '.join(WORKLOADS)} (default both, --quick too), or none (only the "
        "cells); --backends selects their backends too, but the lm-step always runs the "
        "tutorial's code, its baseline",
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        type=_shape,
        metavar="SHAPE",
        help=f"any of {' '.join(SHAPES)}, or T,B,D,H (default all; --quick: "
        f"{' '.join(QUICK_SHAPES)})",
    )
    parser.add_argument(
        "--tasks", nargs="+", choices=TASKS, metavar="NAME", help=f"any of {' '.join(TASKS)}"
    )
    parser.add_argument("--json", type=_json_path, metavar="FILE", help="also write the results")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data (default 0)")
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        metavar="N",
        help=f"interleaved rounds per case (default {full['rounds']}, quick {quick['rounds']}; "
        "fewer when they would exceed the budget)",
    )
    parser.add_argument(
        "--budget",
        type=_positive_float,
        metavar="SECONDS",
        help=f"about this long per case, but at least {full['min_rounds']} rounds "
        f"(quick {quick['min_rounds']}); default {full['budget_s']:g}, "
        f"quick {quick['budget_s']:g}",
    )
    parser.add_argument(
        "--target-ms",
        type=_positive_float,
        metavar="MS",
        help=f"shortest timing sample (default {1e3 * full['target_s']:g}, "
        f"quick {1e3 * quick['target_s']:g})",
    )
    parser.set_defaults(run=run)


class _Progress:
    """A tqdm bar on a terminal, else one line per message, both on stderr."""

    def __init__(self):
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(
                    total=1,
                    file=sys.stderr,
                    leave=False,
                    # no rate or ETA: a large case takes a thousand times a tiny one
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cases [{elapsed}]",
                )

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.bar is None:
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)
            return
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.set_description_str(message, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args) -> int:
    from .. import bench

    if args.cells == [] and args.workloads == []:
        print(
            "fastrnn bench: error: --cells none and --workloads none leave nothing to run",
            file=sys.stderr,
        )
        return 2
    progress = _Progress()
    try:
        result = bench.run(
            cells=args.cells,
            workloads=args.workloads,
            shapes=args.shapes,
            tasks=args.tasks,
            backends=args.backends,
            dtype=args.dtype,
            threads=args.threads,
            quick=args.quick,
            seed=args.seed,
            rounds=args.rounds,
            target_ms=args.target_ms,
            budget_s=args.budget,
            progress=progress,
        )
    finally:
        progress.close()
    print(bench.format_header(result))
    for section in (bench.format_table(result), bench.format_workloads(result)):
        if section:
            print()
            print(section)
    print()
    print(bench.format_notes(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    rows = result["results"] + result["workloads"]
    bad = [r for r in rows if r["status"] in ("disagrees", "failed")]
    if bad:
        print(
            f"fastrnn bench: {len(bad)} row(s) disagreed with the reference or failed; "
            "see the table",
            file=sys.stderr,
        )
        return 1
    return 0
