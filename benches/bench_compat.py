"""Time fastrnn.compat.RNNNumpy against a plain NumPy implementation of Britz's tutorial.

The baseline is ``TutorialRNNNumpy`` from tests/_compat_oracles.py: the tutorial's
RNNNumpy as published (float64, one Python loop iteration per time step, an outer
product per output and per window step in bptt), the oracle the compat tests check
against. Both models get the same weights (np.random.seed, then the tutorial's
initialization) and the same sentences, on the tutorial's shapes: word_dim V = 8000,
hidden_dim H = 100, bptt_truncate = 4, float64.

First the script checks that the two agree (o and s of forward_propagation, the loss,
dLdU, dLdV, dLdW of bptt, to 1e-10 relative to each array's largest entry) and stops
with exit status 1 if they do not. Then it times three tasks, per sentence:

    bptt                  model.bptt(x, y), one sentence of T = 20 words
    forward_propagation   model.forward_propagation(x), the same sentence
    calculate_loss        model.calculate_loss(X, Y) over a corpus of --sentences
                          sentences of 10 to 30 words (mean about 20), divided by
                          the number of sentences

Timing is bench_rnn.py's: per (task, implementation) a warm-up call and a calibration of
the calls per sample (at least --target-ms per sample), then samples in interleaved rounds
(compat, tutorial, compat, ...) so both see the same load on a shared machine; reported
are the median over rounds with min and max, the ratio of the medians (tutorial /
compat) and the median of the per-round ratios ("paired"). Every BLAS in the process
(NumPy's and fastrnn's) is limited to --threads threads (default 1) with threadpoolctl.

    python benches/bench_compat.py            # about a minute on 2 cores
    python benches/bench_compat.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastrnn
from fastrnn.compat import RNNNumpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the baseline is the tests' oracle
sys.path.insert(0, str(ROOT / "benches"))  # bench_rnn's timing helpers

from _compat_oracles import TutorialRNNNumpy  # noqa: E402
from bench_rnn import calibrate, cpu_model, git_state, run_sample, summarize  # noqa: E402

WORD_DIM, HIDDEN_DIM, BPTT_TRUNCATE, T = 8000, 100, 4, 20
TASKS = ("bptt", "forward_propagation", "calculate_loss")
IMPLEMENTATIONS = ("compat", "tutorial")  # the order within a round
CHECK_RTOL = 1e-10  # max |compat - tutorial| / max |tutorial|, per array

# (repeats, minimum rounds, budget seconds per task, target ms per sample)
DEFAULTS = {"full": (15, 5, 20.0, 100.0), "quick": (5, 3, 5.0, 50.0)}


class CheckError(Exception):
    """compat disagrees with the tutorial: the timings would be meaningless."""


def make_models(seed: int) -> dict:
    """The compat model and the tutorial's, with the same weights from the same seed."""
    state = np.random.get_state()  # noqa: NPY002 (the tutorial's global RandomState)
    np.random.seed(seed)  # noqa: NPY002
    compat = RNNNumpy(WORD_DIM, HIDDEN_DIM, BPTT_TRUNCATE)
    np.random.seed(seed)  # noqa: NPY002
    tutorial = TutorialRNNNumpy(WORD_DIM, HIDDEN_DIM, BPTT_TRUNCATE)
    np.random.set_state(state)  # noqa: NPY002
    return {"compat": compat, "tutorial": tutorial}


def make_data(seed: int, sentences: int) -> dict:
    """One sentence of T words (x, y) and a corpus (X, Y) of sentences of 10-30 words."""
    rng = np.random.default_rng(seed)

    def sentence(length):
        words = rng.integers(0, WORD_DIM, size=length + 1)
        return [int(w) for w in words[:-1]], [int(w) for w in words[1:]]

    x, y = sentence(T)
    pairs = [sentence(int(n)) for n in rng.integers(10, 31, size=sentences)]
    return {"x": x, "y": y, "X": [p[0] for p in pairs], "Y": [p[1] for p in pairs]}


def check(models: dict, data: dict) -> dict:
    """Largest error of compat relative to the tutorial, per array; raises CheckError."""
    compat, tutorial = models["compat"], models["tutorial"]
    x, y = data["x"], data["y"]
    forward = compat.forward_propagation(x), tutorial.forward_propagation(x)
    pairs = list(zip(("o", "s"), *forward, strict=True))
    pairs += zip(("dLdU", "dLdV", "dLdW"), compat.bptt(x, y), tutorial.bptt(x, y), strict=True)
    pairs.append(
        (
            "calculate_loss",
            np.array(compat.calculate_loss(data["X"], data["Y"])),
            np.array(tutorial.calculate_loss(data["X"], data["Y"])),
        )
    )
    errors = {}
    for name, got, want in pairs:
        scale = float(np.max(np.abs(want)))
        errors[name] = float(np.max(np.abs(got - want))) / scale
        if not errors[name] <= CHECK_RTOL:  # also catches NaN
            raise CheckError(
                f"compat's {name} differs from the tutorial's by {errors[name]:.3g} of its "
                f"largest entry ({scale:.3g}); tolerance {CHECK_RTOL:g}. Not timing a wrong "
                "result."
            )
    return errors


def make_call(model, task: str, data: dict):
    """A zero-argument function running one call of task on model."""
    x, y, X, Y = data["x"], data["y"], data["X"], data["Y"]
    if task == "bptt":
        return lambda: model.bptt(x, y)
    if task == "forward_propagation":
        return lambda: model.forward_propagation(x)
    return lambda: model.calculate_loss(X, Y)


def bench_task(task: str, models: dict, data: dict, settings: dict, log) -> dict:
    """Calibrate both implementations, then time them in interleaved rounds; times are
    per sentence."""
    per_call_sentences = len(data["X"]) if task == "calculate_loss" else 1
    calls = {name: make_call(models[name], task, data) for name in IMPLEMENTATIONS}
    inner, estimate = {}, {}
    for name, call in calls.items():
        inner[name], estimate[name] = calibrate(call, settings["target_s"])
    round_s = sum(inner[n] * estimate[n] for n in calls)
    rounds = settings["repeats"]
    if settings["budget_s"] > 0:
        affordable = int(settings["budget_s"] // round_s)
        rounds = max(min(settings["min_rounds"], rounds), min(rounds, affordable))
    log(
        f"  {task:20s} inner "
        + ", ".join(f"{n} {inner[n]} x {1e3 * estimate[n]:.3g} ms" for n in calls)
        + f"; {rounds} rounds of ~{round_s:.2f} s"
    )
    samples = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].append(run_sample(call, inner[name]) / per_call_sentences)
    out = {"task": task, "rounds": rounds, "inner": inner, "stats": {}}
    for name in calls:
        out["stats"][name] = summarize(samples[name])
    out["ratio"] = out["stats"]["tutorial"]["median_s"] / out["stats"]["compat"]["median_s"]
    per_round = [t / c for c, t in zip(samples["compat"], samples["tutorial"], strict=True)]
    out["paired"] = float(np.median(per_round))
    return out


def format_table(results: list[dict]) -> str:
    head = ("task", "implementation", "rounds", "inner", "median ms", "min ms", "max ms")
    head += ("tutorial/compat", "paired")
    rows = []
    for r in results:
        for name in IMPLEMENTATIONS:
            s = r["stats"][name]
            first = name == "compat"
            rows.append(
                (
                    r["task"],
                    name,
                    str(r["rounds"]),
                    str(r["inner"][name]),
                    f"{1e3 * s['median_s']:.3f}",
                    f"{1e3 * s['min_s']:.3f}",
                    f"{1e3 * s['max_s']:.3f}",
                    f"{r['ratio']:.1f}" if first else "",
                    f"{r['paired']:.1f}" if first else "",
                )
            )
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def format_header(threads: int, settings: dict, sentences: int) -> str:
    git = git_state(ROOT)
    lines = [
        f"fastrnn.compat.RNNNumpy vs the tutorial's RNNNumpy (plain NumPy)   "
        f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"CPU        {cpu_model()} ({os.cpu_count()} logical CPUs)   load average "
        + " ".join(f"{v:.2f}" for v in os.getloadavg()),
        f"Python     {platform.python_version()}   NumPy {np.__version__}   float64",
        f"threads    {threads} (every BLAS limited with threadpoolctl)",
        f"fastrnn    {fastrnn.__version__} at git {git['commit']}"
        + (" (dirty tree)" if git["dirty"] else "")
        + f"; BLAS {fastrnn.blas_info()['library']}",
        f"shapes     word_dim V={WORD_DIM}, hidden_dim H={HIDDEN_DIM}, "
        f"bptt_truncate={BPTT_TRUNCATE}; bptt and forward_propagation on one sentence of "
        f"T={T}; calculate_loss on {sentences} sentences of 10-30 words",
        f"timing     up to {settings['repeats']} interleaved rounds (at least "
        f"{settings['min_rounds']}, budget {settings['budget_s']:g} s per task), samples of "
        f">= {1e3 * settings['target_s']:g} ms after a warm-up",
        "BLAS libraries (threadpoolctl):",
    ]
    for lib in threadpool_info():
        lines.append(
            f"  {lib.get('internal_api', '?'):9s} {lib.get('version') or '?':14s} "
            f"threads={lib.get('num_threads')} {lib.get('filepath')}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_compat.py",
        description="Per-sentence time of fastrnn.compat.RNNNumpy against the tutorial's "
        "plain NumPy RNNNumpy (V=8000, H=100, T=20, bptt_truncate=4, float64), measured "
        "side by side after checking that they agree.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter samples")
    parser.add_argument("--repeats", type=int, metavar="N", help="interleaved rounds per task")
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="BLAS threads (1)")
    parser.add_argument(
        "--sentences", type=int, default=32, metavar="N", help="corpus of calculate_loss (32)"
    )
    parser.add_argument("--seed", type=int, default=10, help="weights and data seed (10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    repeats, min_rounds, budget_s, target_ms = DEFAULTS["quick" if args.quick else "full"]
    settings = {
        "repeats": args.repeats if args.repeats is not None else repeats,
        "min_rounds": min_rounds,
        "budget_s": budget_s,
        "target_s": target_ms / 1e3,
    }
    if settings["repeats"] < 1 or args.threads < 1 or args.sentences < 1:
        parser.error("--repeats, --threads and --sentences must be positive")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        print(format_header(args.threads, settings, args.sentences), flush=True)
        models = make_models(args.seed)
        data = make_data(args.seed, args.sentences)
        try:
            errors = check(models, data)
        except CheckError as e:
            print(f"bench_compat.py: check failed: {e}", file=sys.stderr)
            return 1
        print(
            "check OK: max |compat - tutorial| / max |tutorial| = "
            + ", ".join(f"{name} {err:.1g}" for name, err in errors.items()),
            flush=True,
        )
        results = [bench_task(task, models, data, settings, log) for task in TASKS]
    print()
    print(format_table(results))
    print(
        "\nms per sentence: median (min, max) over interleaved rounds; tutorial/compat = "
        "ratio of the medians, paired = median of the per-round ratios.\n"
        f"Total {time.perf_counter() - started:.0f} s; load average at end "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
