"""Reproduce the performance table of benches/README.md: ``fastrnn bench``, keeping its JSON.

    python benches/bench_rnn.py            # the README run: full, float32, 1 thread, all backends
    python benches/bench_rnn.py --quick    # any ``fastrnn bench`` flag passes through

Without ``--json`` the results also go to bench-results/bench-<date>-<dtype>.json (ignored
by git): the table in benches/README.md is the printed part of such a file. The benchmark
itself lives in the package (fastrnn.bench), so that ``fastrnn bench`` on a fresh install
and this script measure the same thing.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from fastrnn.cli import main


def default_json_path(argv: list[str]) -> Path:
    dtype = argv[argv.index("--dtype") + 1] if "--dtype" in argv[:-1] else "float32"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(__file__).resolve().parent.parent / "bench-results" / f"bench-{stamp}-{dtype}.json"


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--json" not in argv and not {"-h", "--help"} & set(argv):
        path = default_json_path(argv)
        path.parent.mkdir(exist_ok=True)
        argv += ["--json", str(path)]
    sys.exit(main(["bench", *argv]))
