"""Time fastrnn's LSTM and GRU kernels against the NumPy reference and torch.nn, side by side.

For every shape and cell this script builds one problem from a seeded generator, first
checks that fastrnn's forward and backward, and torch's, agree with the float64 reference
on the same inputs and weights (and stops if they do not), then times two tasks per
backend:

    forward   lstm_forward(x, s0, c0, U, W, b_ih, b_hh, need_cache=False)     (GRU alike)
              torch: net(x, (h0, c0)) under torch.no_grad()
    train     the forward pass keeping its cache, then lstm_backward(ds, cache): every
              gradient (dx, ds0, dc0, dU, dW, db_ih, db_hh), full BPTT
              torch: out = net(x, (h0, c0)) with x, h0, c0 requiring grad, then
              out.backward(ds): the same gradients

The backends are fastrnn (C kernels), reference (fastrnn.reference, NumPy) and torch
(torch.nn.LSTM / GRU with the same weights, when torch is importable). Every BLAS in the
process is limited to --threads threads with threadpoolctl, and torch to the same number
with torch.set_num_threads.

Timing is bench_rnn.py's, imported from it: a warm-up call, a calibration of the inner
iterations so that a sample lasts at least --target-ms, then interleaved rounds
(fastrnn, reference, torch, fastrnn, ...) so that all backends see the same load; the
median over rounds of the seconds per call is reported with min and max, and the
speedups both as ratios of medians (reference / fastrnn, torch / fastrnn) and as the
median over rounds of the ratio within a round ("paired"). Rounds are cut (never below a
floor) when they would exceed --budget seconds.

Flop counts, 2 per multiply-add of the textbook GEMMs, G = 4 gates (LSTM) or 3 (GRU):

    forward = 2*T*B*G*H*(D + H)     the input and recurrent terms of all gates
    train   = 3 * forward           plus dU, dW (as much again), dx and the recurrence
                                    (D and H parts of it once more)

Run ``python benches/bench_cells.py --help`` for the options; see benches/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from bench_rnn import (
    SHAPES,
    Shape,
    calibrate,
    cpu_model,
    git_state,
    kernels_library,
    parse_shapes,
    run_sample,
    summarize,
)
from threadpoolctl import threadpool_info, threadpool_limits

import fastrnn
from fastrnn import reference

try:
    import torch
except ImportError:  # torch is optional: its column is left out
    torch = None

CELLS = {"lstm": 4, "gru": 3}  # cell -> G, the gates stacked in the weights
TASKS = ("forward", "train")
GRAD_NAMES = {
    "lstm": ("dx", "ds0", "dc0", "dU", "dW", "db_ih", "db_hh"),
    "gru": ("dx", "ds0", "dU", "dW", "db_ih", "db_hh"),
}

# Agreement with the float64 reference, as in bench_rnn.py: |got - want| <= atol + rtol *
# |want| elementwise, atol = atol_scale * max|want| of that array.
TOLERANCES = {
    "float32": {"rtol": 1e-4, "atol_scale": 1e-5},
    "float64": {"rtol": 1e-9, "atol_scale": 1e-11},
}

# Defaults: (repeats, budget seconds per shape, cell and task, minimum rounds, target ms).
DEFAULTS = {"full": (15, 20.0, 5, 40.0), "quick": (5, 3.0, 3, 20.0)}


def flops(shape: Shape, cell: str, task: str) -> int:
    """Flops of one call, 2 per multiply-add of the textbook GEMMs (module docstring)."""
    forward = 2 * shape.T * shape.B * CELLS[cell] * shape.H * (shape.D + shape.H)
    return forward if task == "forward" else 3 * forward


# ---- problem and check ------------------------------------------------------------------


def make_problem(shape: Shape, cell: str, dtype: np.dtype, seed: int) -> dict[str, np.ndarray]:
    """Seeded x, s0 (and c0), U, W, b_ih, b_hh, ds in dtype; the weights' entries have
    standard deviation 0.5/sqrt(fan_in), so the gates are mostly unsaturated."""
    T, B, D, H, G = shape.T, shape.B, shape.D, shape.H, CELLS[cell]
    rng = np.random.default_rng([seed, T, B, D, H, G])
    p = {
        "x": rng.standard_normal((T, B, D)),
        "s0": 0.5 * rng.standard_normal((B, H)),
        "U": rng.standard_normal((G * H, D)) * (0.5 / math.sqrt(D)),
        "W": rng.standard_normal((G * H, H)) * (0.5 / math.sqrt(H)),
        "b_ih": 0.1 * rng.standard_normal(G * H),
        "b_hh": 0.1 * rng.standard_normal(G * H),
        "ds": rng.standard_normal((T, B, H)),
    }
    if cell == "lstm":
        p["c0"] = 0.5 * rng.standard_normal((B, H))
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}


FORWARD_ARGS = {
    "lstm": ("x", "s0", "c0", "U", "W", "b_ih", "b_hh"),
    "gru": ("x", "s0", "U", "W", "b_ih", "b_hh"),
}


def forward_args(cell: str, p: dict) -> list:
    """The positional arguments of lstm_forward or gru_forward, from the problem p."""
    return [p[name] for name in FORWARD_ARGS[cell]]


class CheckError(Exception):
    """A backend disagrees with the reference: the timings would be meaningless."""


class TorchCell:
    """torch.nn.LSTM or GRU holding the problem's weights, and its inputs as tensors."""

    def __init__(self, cell: str, p: dict):
        T, B, D = p["x"].shape
        H = p["W"].shape[1]
        dtype = torch.float32 if p["x"].dtype == np.float32 else torch.float64
        self.cell = cell
        self.net = getattr(torch.nn, cell.upper())(D, H, dtype=dtype)
        weights = {"weight_ih_l0": "U", "weight_hh_l0": "W", "bias_ih_l0": "b_ih"}
        weights["bias_hh_l0"] = "b_hh"
        self.net.load_state_dict({k: torch.from_numpy(p[v].copy()) for k, v in weights.items()})
        self.x = torch.from_numpy(p["x"].copy())
        self.states = [torch.from_numpy(p[n][None].copy()) for n in ("s0", "c0") if n in p]
        self.ds = torch.from_numpy(p["ds"].copy())

    def _initial(self, states):
        return tuple(states) if self.cell == "lstm" else states[0]

    def forward(self):
        with torch.no_grad():
            return self.net(self.x, self._initial(self.states))

    def train(self) -> dict:
        """Forward and backward; the gradients under the kernels' names."""
        self.net.zero_grad(set_to_none=True)
        x = self.x.detach().requires_grad_(True)
        states = [s.detach().requires_grad_(True) for s in self.states]
        out, _ = self.net(x, self._initial(states))
        out.backward(self.ds)
        grads = {"dx": x.grad, "ds0": states[0].grad[0]}
        if self.cell == "lstm":
            grads["dc0"] = states[1].grad[0]
        for name, kind in (("dU", "weight_ih"), ("dW", "weight_hh"), ("db_ih", "bias_ih")):
            grads[name] = getattr(self.net, f"{kind}_l0").grad
        grads["db_hh"] = self.net.bias_hh_l0.grad
        grads["s"] = out
        return {k: v.detach().numpy() for k, v in grads.items()}


def kernel_run(backend, cell: str, p: dict) -> dict:
    """Forward and backward of backend's kernels on p: the states and every gradient."""
    if cell == "lstm":
        s, c, cache = backend.lstm_forward(*forward_args(cell, p))
        grads = backend.lstm_backward(p["ds"], cache)
        results = {"s": s, "c": c}
    else:
        s, cache = backend.gru_forward(*forward_args(cell, p))
        grads = backend.gru_backward(p["ds"], cache)
        results = {"s": s}
    results.update(grads._asdict())
    return results


def compare(label: str, got: dict, want: dict, dtype: np.dtype) -> dict:
    """Per-array errors of got against the float64 oracle want; CheckError naming the
    first array out of tolerance."""
    tol = TOLERANCES[dtype.name]
    report = {}
    for name in got:
        g, w = got[name], want[name]
        scale = float(np.max(np.abs(w)))
        err = np.abs(g.astype(np.float64) - w)
        atol = tol["atol_scale"] * scale
        report[name] = float(err.max() / scale) if scale > 0 else 0.0
        if g.dtype != dtype:
            raise CheckError(f"{label} returned {name} as {g.dtype}, not {dtype}")
        if not np.all(err <= atol + tol["rtol"] * np.abs(w)):  # also catches NaN
            raise CheckError(
                f"{label}'s {name} disagrees with the float64 reference: max |err| = "
                f"{err.max():.3g} (max |ref| = {scale:.3g}); tolerance rtol = "
                f"{tol['rtol']:g}, atol = {atol:.3g}. Not timing a wrong result."
            )
    return report


def check(shape: Shape, cell: str, p: dict, with_torch: bool) -> dict:
    """fastrnn and torch (in p's dtype) against the float64 reference on the same values."""
    dtype = p["x"].dtype
    want = kernel_run(reference, cell, {k: v.astype(np.float64) for k, v in p.items()})
    label = f"{shape.name} {cell} ({shape}, {dtype})"
    report = {"fastrnn": compare(f"fastrnn {label}", kernel_run(fastrnn, cell, p), want, dtype)}
    if with_torch:
        report["torch"] = compare(f"torch {label}", TorchCell(cell, p).train(), want, dtype)
    return report


# ---- timing -----------------------------------------------------------------------------


def make_calls(cell: str, task: str, p: dict, with_torch: bool) -> dict:
    """A zero-argument function per backend running one call of task."""
    args = forward_args(cell, p)
    calls = {}
    for name, backend in (("fastrnn", fastrnn), ("reference", reference)):
        forward = getattr(backend, f"{cell}_forward")
        backward = getattr(backend, f"{cell}_backward")
        if task == "forward":
            calls[name] = lambda forward=forward: forward(*args, need_cache=False)
        else:

            def train(forward=forward, backward=backward):
                backward(p["ds"], forward(*args)[-1])

            calls[name] = train
    if with_torch:
        net = TorchCell(cell, p)
        calls["torch"] = net.forward if task == "forward" else net.train
    return calls


def bench_task(shape: Shape, cell: str, task: str, p: dict, settings: dict, log, with_torch):
    """Calibrate every backend, then time them in interleaved rounds."""
    calls = make_calls(cell, task, p, with_torch)
    inner, estimate = {}, {}
    for name, call in calls.items():
        inner[name], estimate[name] = calibrate(call, settings["target_s"])
    round_s = sum(inner[n] * estimate[n] for n in calls)
    rounds = settings["repeats"]
    if settings["budget_s"] > 0:
        affordable = int(settings["budget_s"] // round_s)
        rounds = max(min(settings["min_rounds"], rounds), min(rounds, affordable))
    log(
        f"  {cell} {task:8s} inner "
        + ", ".join(f"{n} {inner[n]} x {1e3 * estimate[n]:.3g} ms" for n in calls)
        + f"; {rounds} rounds of ~{round_s:.2f} s"
    )
    samples = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].append(run_sample(call, inner[name]))

    out = {"cell": cell, "task": task, "flops_per_call": flops(shape, cell, task)}
    out.update({"rounds": rounds, "backends": {}, "ratios": {}})
    for name in calls:
        stats = summarize(samples[name])
        stats["inner"] = inner[name]
        stats["samples_s"] = samples[name]
        stats["tokens_per_s"] = shape.T * shape.B / stats["median_s"]
        stats["gflops"] = out["flops_per_call"] / stats["median_s"] / 1e9
        out["backends"][name] = stats
    fast = out["backends"]["fastrnn"]["median_s"]
    for name in calls:
        if name == "fastrnn":
            continue
        per_round = [o / f for f, o in zip(samples["fastrnn"], samples[name], strict=True)]
        out["ratios"][name] = {
            "of_medians": out["backends"][name]["median_s"] / fast,
            # Each round's samples ran back to back, so their ratio sees the same load.
            "paired_median": float(np.median(per_round)),
            "per_round": per_round,
        }
    return out


# ---- metadata and output ----------------------------------------------------------------


def collect_metadata(args, settings: dict, with_torch: bool) -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if with_torch else None,
        "torch_threads": torch.get_num_threads() if with_torch else None,
        "fastrnn": fastrnn.__version__,
        "fastrnn_kernels": kernels_library(),
        "fastrnn_blas": fastrnn.blas_info(),
        "git": git_state(Path(__file__).resolve().parent.parent),
        "threads": args.threads,
        "threadpool_info": threadpool_info(),
        "dtype": args.dtype,
        "seed": args.seed,
        "mode": "quick" if args.quick else "full",
        "settings": dict(settings),
        "tolerances": TOLERANCES[args.dtype],
        "flop_formula": {"forward": "2*T*B*G*H*(D+H)", "train": "3 x forward"},
    }


def format_header(meta: dict) -> str:
    blas = meta["fastrnn_blas"]
    torch_line = (
        f"torch      {meta['torch']} ({meta['torch_threads']} threads)"
        if meta["torch"]
        else "torch      not installed: no torch column"
    )
    lines = [
        f"fastrnn {meta['fastrnn']} LSTM and GRU vs fastrnn.reference and torch   {meta['date']}",
        f"CPU        {meta['cpu_model']}  ({meta['logical_cpus']} logical CPUs, "
        f"{meta['cpus_available']} available)   load average "
        + " ".join(f"{x:.2f}" for x in meta["loadavg_start"] or []),
        f"Python     {meta['python']}   NumPy {meta['numpy']}   dtype {meta['dtype']}",
        torch_line,
        f"threads    {meta['threads']} (every BLAS limited with threadpoolctl)",
        f"fastrnn    kernels {meta['fastrnn_kernels']['path']} "
        f"(built {meta['fastrnn_kernels']['built']}); git {meta['git']['commit']}"
        + (" (dirty tree)" if meta["git"]["dirty"] else ""),
        f"fastrnn BLAS  {blas['library']}",
        f"              {blas['config']}",
    ]
    s = meta["settings"]
    lines.append(
        f"timing     {meta['mode']}: up to {s['repeats']} interleaved rounds "
        f"(at least {s['min_rounds']}, budget {s['budget_s']:g} s per shape, cell and task), "
        f"samples of >= {1e3 * s['target_s']:g} ms, after a warm-up"
    )
    return "\n".join(lines)


def format_table(results: list[dict]) -> str:
    head = ("shape", "T,B,D,H", "cell", "task", "backend", "rounds", "inner", "median ms")
    head += ("min ms", "max ms", "tokens/s", "GFLOP/s", "x/fast", "paired")
    rows = []
    for shape_result in results:
        shape = shape_result["shape"]
        dims = f"{shape['T']},{shape['B']},{shape['D']},{shape['H']}"
        for task in shape_result["tasks"]:
            for name, stats in task["backends"].items():
                ratio = task["ratios"].get(name)
                rows.append(
                    (
                        shape["name"],
                        dims,
                        task["cell"],
                        task["task"],
                        name,
                        str(task["rounds"]),
                        str(stats["inner"]),
                        f"{1e3 * stats['median_s']:.3f}",
                        f"{1e3 * stats['min_s']:.3f}",
                        f"{1e3 * stats['max_s']:.3f}",
                        f"{stats['tokens_per_s']:,.0f}",
                        f"{stats['gflops']:.2f}",
                        f"{ratio['of_medians']:.2f}" if ratio else "",
                        f"{ratio['paired_median']:.2f}" if ratio else "",
                    )
                )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    left = {0, 1, 2, 3, 4}  # text columns; numbers align right

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


# ---- command line -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_cells.py",
        description="Time fastrnn's LSTM and GRU forward and forward+BPTT against "
        "fastrnn.reference and torch.nn after checking that they agree. Shapes: "
        + "; ".join(f"{s.name} {s}" for s in SHAPES.values()),
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter samples")
    parser.add_argument(
        "--repeats", type=int, metavar="N", help="interleaved rounds (default 15, quick 5)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="cut the rounds of a shape, cell and task to about this many seconds, but not "
        "below the minimum (5, quick 3); 0 always runs --repeats rounds (default 20, quick 3)",
    )
    parser.add_argument(
        "--target-ms", type=float, metavar="MS", help="shortest sample (default 40, quick 20)"
    )
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="threads (default 1)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=list(SHAPES),
        metavar="NAME",
        help=f"shapes to run, by name ({', '.join(SHAPES)}; default all)",
    )
    parser.add_argument(
        "--cells", nargs="+", choices=list(CELLS), default=list(CELLS), help="default both"
    )
    parser.add_argument("--no-torch", action="store_true", help="leave torch out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problems (default 0)")
    parser.add_argument("--json", metavar="FILE", help="also write metadata and all samples here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        shapes = parse_shapes(args.shapes)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    repeats, budget_s, min_rounds, target_ms = DEFAULTS["quick" if args.quick else "full"]
    settings = {
        "repeats": args.repeats if args.repeats is not None else repeats,
        "budget_s": args.budget if args.budget is not None else budget_s,
        "min_rounds": min_rounds,
        "target_s": (args.target_ms if args.target_ms is not None else target_ms) / 1e3,
    }
    if settings["repeats"] < 1 or args.threads < 1 or settings["target_s"] <= 0:
        parser.error("--repeats, --threads and --target-ms must be positive")
    with_torch = torch is not None and not args.no_torch
    if with_torch:
        torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    dtype = np.dtype(args.dtype)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        meta = collect_metadata(args, settings, with_torch)
        print(format_header(meta), flush=True)
        results = []
        for shape in shapes:
            log(f"[{shape.name}] {shape}")
            tasks, checks = [], {}
            for cell in args.cells:
                p = make_problem(shape, cell, dtype, args.seed)
                try:
                    checks[cell] = check(shape, cell, p, with_torch)
                except CheckError as e:
                    print(f"bench_cells.py: check failed: {e}", file=sys.stderr)
                    return 1
                worst = {b: max(r.values()) for b, r in checks[cell].items()}
                print(
                    f"check {shape.name:8s} {cell} OK vs the float64 reference, worst "
                    "max|err|/max|ref| over the states and every gradient: "
                    + ", ".join(f"{b} {w:.2g}" for b, w in worst.items()),
                    flush=True,
                )
                for task in TASKS:
                    tasks.append(bench_task(shape, cell, task, p, settings, log, with_torch))
            results.append({"shape": vars(shape), "checks": checks, "tasks": tasks})

    meta["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    meta["wall_s"] = time.perf_counter() - started
    print()
    print(format_table(results))
    print(
        "\nms per call: median (min, max) over interleaved rounds; tokens/s and GFLOP/s from "
        "the median, forward = 2*T*B*G*H*(D+H) flops (G = 4 LSTM, 3 GRU), train = 3 x "
        "forward.\nx/fast = that backend's median / fastrnn's median; paired = median over "
        "rounds of the ratio within a round.\n"
        f"Total {meta['wall_s']:.0f} s; load average at end "
        + " ".join(f"{x:.2f}" for x in meta["loadavg_end"] or [])
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"metadata": meta, "results": results}, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
