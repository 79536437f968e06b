"""``fastrnn diagnose``: the vanishing-gradient experiment (see fastrnn.diagnose).

Part 1 prints the norm of dL/ds_{t-k} against the lag k for the RNN, LSTM and GRU at
PyTorch's initialization and with a large W; part 2 trains each cell on a recall task at
several lags and prints the accuracies. --plot FILE draws both (needs matplotlib).
"""

from __future__ import annotations

import argparse
import time

from ..diagnose import GRADIENT_LAGS, TASK_LAGS
from . import options
from .errors import UserError

DEFAULT_STEPS, QUICK_STEPS = 3000, 400


def int_list(minimum: int):
    """The type of a flag taking comma-separated ints >= minimum, e.g. 10,20,50 (sorted,
    repeats dropped)."""
    one = options.int_at_least(minimum)

    def parse(value: str) -> list[int]:
        try:
            return sorted({one(v) for v in value.split(",")})
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated ints >= {minimum}, e.g. 10,20,50; got {value!r}"
            ) from None

    return parse


def _listed(values) -> str:
    return ",".join(map(str, values))


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="the vanishing-gradient experiment: gradient norms and a long-range task",
        description=" ".join(__doc__.split("\n\n")[1].split()),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK_STEPS} training steps per cell and lag instead of "
        f"{DEFAULT_STEPS} (under a minute on two cores)",
    )
    p.add_argument(
        "--steps",
        type=options.int_at_least(1),
        metavar="N",
        help=f"training steps per cell and lag (default {DEFAULT_STEPS}; --quick {QUICK_STEPS})",
    )
    p.add_argument(
        "--lags",
        type=int_list(1),
        default=list(TASK_LAGS),
        metavar="K,...",
        help=f"lags of the recall task (default {_listed(TASK_LAGS)})",
    )
    p.add_argument(
        "--grad-lags",
        type=int_list(0),
        default=list(GRADIENT_LAGS),
        metavar="K,...",
        help=f"lags of the gradient norms (default {_listed(GRADIENT_LAGS)})",
    )
    p.add_argument("--no-task", action="store_true", help="only part 1, the gradient norms")
    p.add_argument(
        "--hidden",
        type=options.int_at_least(1),
        default=32,
        metavar="H",
        help="hidden size of the recall task's models (default 32; part 1 uses 64)",
    )
    p.add_argument(
        "--large-w",
        type=options.positive_float,
        default=4.0,
        metavar="F",
        help="part 1's second setting multiplies W's initialization range by F (default 4)",
    )
    p.add_argument(
        "--seed", type=options.int_at_least(0), default=0, metavar="S", help="(default 0)"
    )
    p.add_argument(
        "--threads",
        type=options.int_at_least(1),
        default=1,
        metavar="N",
        help="BLAS threads (default 1: the products are small)",
    )
    p.add_argument(
        "--plot", metavar="FILE", help="also draw the results into this PNG (needs matplotlib)"
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from threadpoolctl import threadpool_limits

    import fastrnn

    from .. import diagnose

    if args.plot:  # refused before the run, not after it
        try:
            diagnose.require_matplotlib()
        except ImportError as e:
            raise UserError(f"--plot: {e}") from None
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    settings = diagnose.RecallSettings(steps=steps, hidden_size=args.hidden, seed=args.seed)
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        settings_norms = _gradient_part(diagnose, args)
        recall = [] if args.no_task else _task_part(diagnose, args, settings)
    if args.plot:
        diagnose.plot(args.plot, args.grad_lags, settings_norms, recall, settings.symbols)
        print(f"\nplot     {args.plot}")
    quick = ", --quick" if args.quick else ""
    seconds = time.perf_counter() - start
    print(f"\ndone in {seconds:.0f} s (fastrnn {fastrnn.__version__}, seed {args.seed}{quick})")
    return 0


def _gradient_part(diagnose, args) -> dict:
    lags = args.grad_lags
    s = diagnose.NormSettings(seed=args.seed)
    print(
        "1. Gradient norms: how much of dL/ds_t reaches s_{t-k}, for L = u . s_t (|u| = 1).\n"
        f"   Mean of |dL/ds_{{t-k}}| over {s.batch_size} random sequences (D = {s.input_size}, "
        "N(0, 1) inputs, zero initial\n"
        f"   state); H = {s.hidden_size}, every weight and bias from U(-1/sqrt(H), 1/sqrt(H)) "
        "(PyTorch's default).\n"
        "   LSTM h, c: the gradients on its hidden and on its cell state (the other held "
        "fixed).",
        flush=True,
    )
    results = {}
    for title, scale in (("default W", 1.0), (f"W x {args.large_w:g}", args.large_w)):
        norms = diagnose.gradient_norms(lags, s, w_scale=scale)
        results[f"gradient norms, {title}"] = norms
        print(f"\n   {title}" + ("" if scale == 1 else f" (W's range times {scale:g})"))
        print(_indent(diagnose.format_norms(norms, lags)))
    return results


def _task_part(diagnose, args, settings) -> list:
    s = settings
    print(
        f"\n2. Recall task (Hochreiter and Schmidhuber 1997, exp. 2b): remember 1 of "
        f"{s.symbols} symbols\n   for k steps of random noise tokens ({s.noise}), answer "
        f"at a query. RNNLM(H={s.hidden_size}, 1 layer),\n   Adam lr {s.lr:g}, global-norm "
        f"clip {s.clip_norm:g}, batch {s.batch_size}, {s.steps} steps per cell and lag, "
        f"loss\n   on the query only; accuracy on {s.test_size} held-out sequences.\n",
        flush=True,
    )
    results = []
    for lag in args.lags:
        for cell in diagnose.CELLS:
            r = diagnose.train_recall(cell, lag, s)
            results.append(r)
            print(
                f"   lag {lag:>3}  {cell.upper():<4}  accuracy {r.accuracy:.3f}  "
                f"final loss {r.loss:.3f}  ({r.seconds:.1f} s)",
                flush=True,
            )
    print("\n" + _indent(diagnose.format_recall(results, s.symbols)))
    return results


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
