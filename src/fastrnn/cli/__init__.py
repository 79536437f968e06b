"""The ``fastrnn`` command: one subcommand per module in this package.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser and
sets ``run`` (a function taking the parsed arguments and returning an exit status) as the
parser's default. The CLI only parses and prints: the work happens in the library.

Exit statuses: 0 success, 1 failure (the run could not complete), 2 bad usage.
User errors print one line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, diagnose, info, sample, train
from .errors import UserError

__all__ = ["SUBCOMMANDS", "UserError", "build_parser", "main"]

# Subcommand modules, in the order ``fastrnn --help`` lists them.
SUBCOMMANDS = [train, sample, bench, diagnose, info]


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (with a pointer to --help) instead of the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="fastrnn",
        description="Recurrent networks in C with BLAS, mirrored by a NumPy reference.",
    )
    parser.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage line on bad flags
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        print(f"fastrnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fastrnn {args.command}: interrupted", file=sys.stderr)
        return 130
