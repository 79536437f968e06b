"""Time fastrnn's vanilla RNN kernels against the NumPy reference, side by side.

For every shape this script builds one problem from a seeded generator, first checks that
fastrnn's forward and backward agree with the float64 reference on the same inputs (and
stops if they do not), then times two tasks for both backends:

    forward   s, _ = rnn_forward(x, s0, U, W, b, need_cache=False)
    train     s, cache = rnn_forward(x, s0, U, W, b); rnn_backward(ds, cache)   (full BPTT)

Timing. Each (task, backend) is warmed up and calibrated: one untimed call, then enough
inner iterations per sample that a sample lasts at least ``--target-ms``. Samples then
run in interleaved rounds (fastrnn, reference, fastrnn, reference, ...) so that both
backends see the same load on a shared machine; the reported time is the median over
rounds of (sample time / inner iterations), with min and max as the spread, and the
speedup is reported both as the ratio of the medians (reference / fastrnn) and as the
median over rounds of the ratio within a round ("paired", robust to slow drifts in load).
The number of rounds is ``--repeats``, cut down (never below a floor) when a round is so
slow that the rounds would exceed ``--budget`` seconds: that is what keeps the reference's
seconds-long calls on the large shape affordable. Timed calls go through the public API, so they
include its argument checks and output allocation.

Flop counts (2 flops per multiply-add of the textbook GEMMs; tanh, bias and the
elementwise products are not counted):

    forward = 2*T*B*H*(D + H)                    U x_t and W s_{t-1} at every step
    train   = forward                            the forward pass
              + 2*T*B*H*(D + H)                  dU += da_t.T x_t, dW += da_t.T s_{t-1}
              + 2*T*B*H*D                        dx_t = da_t U
              + 2*T*B*H*H                        ds_{t-1} = da_t W (the BPTT recurrence)
            = 3 * forward

Tokens per second count T*B tokens per call. Every BLAS in the process (NumPy's and the
one fastrnn loads) is limited to ``--threads`` threads with threadpoolctl.

Run ``python benches/bench_rnn.py --help`` for the options; see benches/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastrnn
from fastrnn import reference


@dataclass(frozen=True)
class Shape:
    name: str
    T: int  # steps
    B: int  # batch rows
    D: int  # input size
    H: int  # hidden size

    def __str__(self) -> str:
        return f"T={self.T} B={self.B} D={self.D} H={self.H}"


SHAPES = {
    s.name: s
    for s in (
        Shape("tutorial", T=50, B=1, D=100, H=100),
        Shape("small", T=100, B=16, D=128, H=128),
        Shape("medium", T=100, B=32, D=256, H=256),
        Shape("large", T=100, B=64, D=1024, H=1024),
    )
}
TASKS = ("forward", "train")
BACKENDS = (("fastrnn", fastrnn), ("reference", reference))  # the order within a round
GRAD_NAMES = ("dx", "ds0", "dU", "dW", "db")

# Agreement with the float64 reference: |got - want| <= atol + rtol * |want| elementwise,
# with atol = atol_scale * max|want| of that array (gradients like dU sum T*B terms and
# are large, so a fixed atol would mean different things for different arrays).
TOLERANCES = {
    "float32": {"rtol": 1e-4, "atol_scale": 1e-5},
    "float64": {"rtol": 1e-9, "atol_scale": 1e-11},
}

# Defaults: (repeats, budget seconds per shape and task, minimum rounds, target ms).
DEFAULTS = {"full": (21, 20.0, 5, 40.0), "quick": (5, 3.0, 3, 20.0)}


def flops(shape: Shape, task: str) -> int:
    """Flops of one call, 2 per multiply-add of the textbook GEMMs (module docstring)."""
    forward = 2 * shape.T * shape.B * shape.H * (shape.D + shape.H)
    return forward if task == "forward" else 3 * forward


# ---- problem and check ------------------------------------------------------------------


def make_problem(shape: Shape, dtype: np.dtype, seed: int) -> dict[str, np.ndarray]:
    """Seeded x, s0, U, W, b, ds in dtype, scaled so that tanh stays mostly unsaturated.

    U and W have entries of standard deviation 0.5/sqrt(fan_in), so U x_t and W s_{t-1}
    have standard deviations of about 0.5 and below 0.5 with unit-variance x and |s| < 1."""
    T, B, D, H = shape.T, shape.B, shape.D, shape.H
    rng = np.random.default_rng([seed, T, B, D, H])
    p = {
        "x": rng.standard_normal((T, B, D)),
        "s0": 0.5 * rng.standard_normal((B, H)),
        "U": rng.standard_normal((H, D)) * (0.5 / math.sqrt(D)),
        "W": rng.standard_normal((H, H)) * (0.5 / math.sqrt(H)),
        "b": 0.1 * rng.standard_normal(H),
        "ds": rng.standard_normal((T, B, H)),
    }
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}


class CheckError(Exception):
    """fastrnn disagrees with the reference: the timings would be meaningless."""


def check_against_reference(shape: Shape, p: dict[str, np.ndarray]) -> dict:
    """Compare fastrnn (in p's dtype) with the float64 reference on the same values.

    Returns per-array errors; raises CheckError naming the first array out of tolerance."""
    dtype = p["x"].dtype
    tol = TOLERANCES[dtype.name]
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    args = ("x", "s0", "U", "W", "b")

    s, cache = fastrnn.rnn_forward(*(p[k] for k in args))
    grads = fastrnn.rnn_backward(p["ds"], cache)
    s_want, cache_want = reference.rnn_forward(*(p64[k] for k in args))
    grads_want = reference.rnn_backward(p64["ds"], cache_want)

    report = {"saturated": float(np.mean(np.abs(s_want) > 0.99)), "arrays": {}}
    pairs = [("s", s, s_want)]
    pairs += [(n, getattr(grads, n), getattr(grads_want, n)) for n in GRAD_NAMES]
    for name, got, want in pairs:
        if got.dtype != dtype:
            raise CheckError(f"{shape.name}: fastrnn returned {name} as {got.dtype}, not {dtype}")
        scale = float(np.max(np.abs(want)))
        atol = tol["atol_scale"] * scale
        err = np.abs(got.astype(np.float64) - want)
        excess = err - (atol + tol["rtol"] * np.abs(want))
        report["arrays"][name] = {
            "max_abs_err": float(err.max()),
            "max_abs_ref": scale,
            "max_err_over_scale": float(err.max() / scale) if scale > 0 else 0.0,
        }
        if not np.all(excess <= 0):  # also catches NaN
            worst = np.unravel_index(
                np.nanargmax(np.where(np.isnan(excess), np.inf, excess)), err.shape
            )
            raise CheckError(
                f"{shape.name} ({shape}, {dtype}): fastrnn's {name} disagrees with the "
                f"float64 reference: max |err| = {err.max():.3g} (max |ref| = {scale:.3g}), "
                f"worst at index {tuple(int(i) for i in worst)}: got {float(got[worst])!r}, "
                f"want {float(want[worst])!r}; tolerance rtol = {tol['rtol']:g}, "
                f"atol = {tol['atol_scale']:g} * max|ref| = {atol:.3g}. Not timing a wrong "
                f"kernel: fix fastrnn (the reference is the specification) and rerun."
            )
    return report


# ---- timing -----------------------------------------------------------------------------


def make_call(backend, task: str, p: dict[str, np.ndarray]):
    """A zero-argument function running one call of task on backend."""
    x, s0, U, W, b, ds = (p[k] for k in ("x", "s0", "U", "W", "b", "ds"))
    forward, backward = backend.rnn_forward, backend.rnn_backward

    if task == "forward":

        def call():
            forward(x, s0, U, W, b, need_cache=False)

    else:

        def call():
            _, cache = forward(x, s0, U, W, b, need_cache=True)
            backward(ds, cache)

    return call


def run_sample(call, inner: int) -> float:
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


def calibrate(call, target_s: float) -> tuple[int, float]:
    """Warm up, then the inner iterations making a sample last at least target_s.

    Returns (inner, estimated seconds per call)."""
    call()  # warm-up: first-touch page faults, BLAS buffers and threads, caches
    inner = 1
    while True:
        per_call = run_sample(call, inner)
        if per_call * inner >= 0.2 * target_s or inner >= 1_000_000:
            break
        inner *= 10
    if per_call < target_s:
        # A load spike during one short measurement would leave samples far too short:
        # take the fastest of three.
        per_call = min(per_call, run_sample(call, inner), run_sample(call, inner))
    return max(1, math.ceil(target_s / per_call)), per_call


def summarize(samples: list[float]) -> dict:
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return {
        "median_s": float(median),
        "min_s": float(min(samples)),
        "max_s": float(max(samples)),
        "q1_s": float(q1),
        "q3_s": float(q3),
    }


def bench_task(shape: Shape, task: str, p: dict, settings: dict, log) -> dict:
    """Calibrate both backends, then time them in interleaved rounds."""
    calls = {name: make_call(backend, task, p) for name, backend in BACKENDS}
    inner, estimate = {}, {}
    for name, call in calls.items():
        inner[name], estimate[name] = calibrate(call, settings["target_s"])
    round_s = sum(inner[n] * estimate[n] for n in calls)
    rounds = settings["repeats"]
    if settings["budget_s"] > 0:
        affordable = int(settings["budget_s"] // round_s)
        rounds = max(min(settings["min_rounds"], rounds), min(rounds, affordable))
    log(
        f"  {task:8s} inner "
        + ", ".join(f"{n} {inner[n]} x {1e3 * estimate[n]:.3g} ms" for n in calls)
        + f"; {rounds} rounds of ~{round_s:.2f} s"
    )

    samples = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].append(run_sample(call, inner[name]))

    out = {"task": task, "flops_per_call": flops(shape, task), "rounds": rounds, "backends": {}}
    for name in calls:
        stats = summarize(samples[name])
        stats["inner"] = inner[name]
        stats["samples_s"] = samples[name]
        stats["tokens_per_s"] = shape.T * shape.B / stats["median_s"]
        stats["gflops"] = out["flops_per_call"] / stats["median_s"] / 1e9
        out["backends"][name] = stats
    fast, ref = samples["fastrnn"], samples["reference"]
    out["ratio_ref_over_fast"] = (
        out["backends"]["reference"]["median_s"] / (out["backends"]["fastrnn"]["median_s"])
    )
    out["ratio_per_round"] = [r / f for f, r in zip(fast, ref, strict=True)]
    # Each round's two samples ran back to back, so their ratio sees the same load.
    out["ratio_paired_median"] = float(np.median(out["ratio_per_round"]))
    return out


# ---- metadata and output ----------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_state(repo: Path) -> dict:
    """Commit and dirtiness of the checkout being benchmarked (read-only)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def kernels_library() -> dict:
    path = getattr(fastrnn._kernels, "__file__", None)
    if path is None:
        return {"path": None, "built": None}
    built = datetime.datetime.fromtimestamp(os.path.getmtime(path)).astimezone()
    return {"path": path, "built": built.isoformat(timespec="seconds")}


def collect_metadata(args, settings: dict) -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastrnn": fastrnn.__version__,
        "fastrnn_file": fastrnn.__file__,
        "fastrnn_kernels": kernels_library(),
        "fastrnn_blas": fastrnn.blas_info(),
        "git": git_state(Path(__file__).resolve().parent.parent),
        "threads": args.threads,
        "threadpool_info": threadpool_info(),
        "dtype": args.dtype,
        "seed": args.seed,
        "mode": "quick" if args.quick else "full",
        "settings": {k: v for k, v in settings.items()},
        "tolerances": TOLERANCES[args.dtype],
        "flop_formula": {
            "forward": "2*T*B*H*(D+H)",
            "train": "forward + 2*T*B*H*(D+H) (dU, dW) + 2*T*B*H*D (dx) + 2*T*B*H*H (ds) "
            "= 6*T*B*H*(D+H)",
        },
        "backend_order_in_round": [name for name, _ in BACKENDS],
    }


def format_header(meta: dict) -> str:
    blas = meta["fastrnn_blas"]
    lines = [
        f"fastrnn {meta['fastrnn']} vs fastrnn.reference   {meta['date']}",
        f"CPU        {meta['cpu_model']}  ({meta['logical_cpus']} logical CPUs, "
        f"{meta['cpus_available']} available)   load average "
        + " ".join(f"{x:.2f}" for x in meta["loadavg_start"] or []),
        f"Python     {meta['python']}   NumPy {meta['numpy']}   dtype {meta['dtype']}",
        f"threads    {meta['threads']} (every BLAS limited with threadpoolctl)",
        f"fastrnn    kernels {meta['fastrnn_kernels']['path']} "
        f"(built {meta['fastrnn_kernels']['built']}); git {meta['git']['commit']}"
        + (" (dirty tree)" if meta["git"]["dirty"] else ""),
        f"fastrnn BLAS  {blas['library']}",
        f"              {blas['config']}",
        "loaded BLAS libraries (threadpoolctl):",
    ]
    for lib in meta["threadpool_info"]:
        lines.append(
            f"  {lib.get('internal_api', '?'):9s} {lib.get('version') or '?':14s} "
            f"threads={lib.get('num_threads')} arch={lib.get('architecture', '?')} "
            f"{lib.get('filepath')}"
        )
    s = meta["settings"]
    lines.append(
        f"timing     {meta['mode']}: up to {s['repeats']} interleaved rounds "
        f"(at least {s['min_rounds']}, budget {s['budget_s']:g} s per shape and task), "
        f"samples of >= {1e3 * s['target_s']:g} ms, after a warm-up"
    )
    return "\n".join(lines)


def format_table(results: list[dict]) -> str:
    head = (
        "shape",
        "T,B,D,H",
        "task",
        "backend",
        "rounds",
        "inner",
        "median ms",
        "min ms",
        "max ms",
        "tokens/s",
        "GFLOP/s",
        "ref/fast",
        "paired",
    )
    rows = []
    for shape_result in results:
        shape = shape_result["shape"]
        dims = f"{shape['T']},{shape['B']},{shape['D']},{shape['H']}"
        for task in shape_result["tasks"]:
            for name, stats in task["backends"].items():
                first = name == "fastrnn"
                ratio = f"{task['ratio_ref_over_fast']:.2f}" if first else ""
                paired = f"{task['ratio_paired_median']:.2f}" if first else ""
                rows.append(
                    (
                        shape["name"],
                        dims,
                        task["task"],
                        name,
                        str(task["rounds"]),
                        str(stats["inner"]),
                        f"{1e3 * stats['median_s']:.3f}",
                        f"{1e3 * stats['min_s']:.3f}",
                        f"{1e3 * stats['max_s']:.3f}",
                        f"{stats['tokens_per_s']:,.0f}",
                        f"{stats['gflops']:.2f}",
                        ratio,
                        paired,
                    )
                )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    left = {0, 1, 2, 3}  # text columns; numbers align right

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


# ---- command line -----------------------------------------------------------------------


def parse_shapes(values: list[str]) -> list[Shape]:
    names = [n for v in values for n in v.split(",") if n]
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown shape(s) {', '.join(unknown)}; choose from {', '.join(SHAPES)}"
        )
    return [SHAPES[n] for n in dict.fromkeys(names)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_rnn.py",
        description="Time fastrnn's RNN forward and forward+BPTT against fastrnn.reference "
        "after checking that they agree. Shapes: "
        + "; ".join(f"{s.name} {s}" for s in SHAPES.values()),
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and shorter samples (under a minute)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="interleaved rounds per shape and task (default 21, quick 5); fewer when a "
        "round is slow, see --budget",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="cut the rounds of a shape and task to about this many seconds, but not below "
        "the minimum (5, quick 3); 0 always runs --repeats rounds (default 20, quick 3)",
    )
    parser.add_argument(
        "--target-ms",
        type=float,
        metavar="MS",
        help="shortest duration of one timing sample; fast calls are repeated inside a "
        "sample to reach it (default 40, quick 20)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, metavar="N", help="BLAS threads (default 1)"
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=list(SHAPES),
        metavar="NAME",
        help=f"shapes to run, by name ({', '.join(SHAPES)}; default all)",
    )
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

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    dtype = np.dtype(args.dtype)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        meta = collect_metadata(args, settings)
        print(format_header(meta), flush=True)
        if not any(
            fastrnn.blas_info()["library"] == lib.get("filepath") for lib in meta["threadpool_info"]
        ):
            log("warning: threadpoolctl does not see fastrnn's BLAS; its threads are not limited")

        results = []
        for shape in shapes:
            log(f"[{shape.name}] {shape}")
            p = make_problem(shape, dtype, args.seed)
            try:
                check = check_against_reference(shape, p)
            except CheckError as e:
                print(f"bench_rnn.py: check failed: {e}", file=sys.stderr)
                return 1
            worst = max(a["max_err_over_scale"] for a in check["arrays"].values())
            print(
                f"check {shape.name:8s} OK: fastrnn ({args.dtype}) vs float64 reference, "
                f"worst max|err|/max|ref| = {worst:.2g} over s, {', '.join(GRAD_NAMES)}; "
                f"{100 * check['saturated']:.2f}% of |s| > 0.99",
                flush=True,
            )
            tasks = [bench_task(shape, task, p, settings, log) for task in TASKS]
            results.append({"shape": vars(shape), "check": check, "tasks": tasks})

    meta["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    meta["wall_s"] = time.perf_counter() - started
    print()
    print(format_table(results))
    print(
        "\nms per call: median (min, max) over interleaved rounds; tokens/s and GFLOP/s from "
        "the median, forward = 2*T*B*H*(D+H) flops, train = 3 x forward.\n"
        "ref/fast = reference median / fastrnn median; paired = median over rounds of the "
        "ratio within a round.\n"
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
