"""``fastrnn sample``: generate text from a checkpoint written by ``fastrnn train``."""

from __future__ import annotations

from . import options
from .errors import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sample",
        help="generate text from a trained checkpoint",
        description="Generate text from a checkpoint of fastrnn train: the prime, then "
        "LENGTH tokens drawn one at a time (the state advances one step per token).",
    )
    p.add_argument("checkpoint", metavar="CKPT", help="a checkpoint written by fastrnn train")
    p.add_argument(
        "--prime",
        metavar="TEXT",
        help="text to start from (default: a newline, or a sentence "
        "start at word level); printed before the generated text",
    )
    p.add_argument(
        "--length",
        type=options.int_at_least(0),
        default=500,
        metavar="N",
        help="tokens to generate (default 500)",
    )
    p.add_argument(
        "--temperature",
        type=options.positive_float,
        default=0.8,
        metavar="T",
        help="below 1 sharper, above 1 more varied (default 0.8)",
    )
    p.add_argument(
        "--top-k",
        type=options.int_at_least(1),
        metavar="K",
        help="draw only among the K most likely tokens (default: all)",
    )
    p.add_argument(
        "--seed",
        type=options.int_at_least(0),
        metavar="S",
        help="the same seed gives the same text (default: a fresh one)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import checkpoint, text

    try:
        ckpt = checkpoint.load(args.checkpoint)
    except checkpoint.CheckpointError as e:
        raise UserError(str(e)) from None
    try:
        generated = text.generate(
            ckpt.model,
            ckpt.tokenizer,
            args.prime,
            args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            seed=args.seed,
        )
    except text.TextError as e:
        raise UserError(f"--prime: {e}") from None
    print((args.prime or "") + generated)
    return 0
