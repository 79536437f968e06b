"""argparse types for the subcommands' flags: each turns a bad value into a one-line
usage error (``argparse.ArgumentTypeError``), never a traceback."""

from __future__ import annotations

import argparse
import math


def int_at_least(minimum: int):
    """The type of a flag taking an int >= minimum."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}; got {value!r}"
            ) from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}; got {value!r}")
        return n

    parse.__name__ = f"int >= {minimum}"
    return parse


def _number(value: str, what: str, ok) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}; got {value!r}") from None
    if not (math.isfinite(x) and ok(x)):
        raise argparse.ArgumentTypeError(f"expected {what}; got {value!r}")
    return x


def positive_float(value: str) -> float:
    return _number(value, "a number > 0", lambda x: x > 0)


def non_negative_float(value: str) -> float:
    return _number(value, "a number >= 0", lambda x: x >= 0)


def fraction(value: str) -> float:
    return _number(value, "a number in [0, 1)", lambda x: 0 <= x < 1)
