"""A bounded fuzz run of the binding's validation layer (tests/fuzz/fuzz_binding.py).

libFuzzer (through atheris) drives the fastrnn._kernels functions with damaged arguments
for FASTRNN_FUZZ_SECONDS seconds (20 by default), in a subprocess: any exception outside
the binding's contract, any result that differs from the reference, a crash, a unit
slower than 30 s or above 1 GiB of memory fails the test with libFuzzer's report and the
input that did it. Skipped, with the reason, where atheris is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed: the binding is not fuzzed")

FUZZER = Path(__file__).parent / "fuzz" / "fuzz_binding.py"


def test_the_binding_survives_a_bounded_fuzz_run(tmp_path):
    seconds = int(os.environ.get("FASTRNN_FUZZ_SECONDS", "20"))
    # A fixed seed by default, so a CI run is reproducible; FASTRNN_FUZZ_SEED=0 lets
    # libFuzzer pick one (explore further by hand).
    seed = int(os.environ.get("FASTRNN_FUZZ_SEED", "1"))
    done = subprocess.run(
        [sys.executable, str(FUZZER), f"-max_total_time={seconds}", f"-seed={seed}", "-timeout=30",
         "-rss_limit_mb=1024", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=seconds + 180, cwd=tmp_path,
    )  # fmt: skip
    report = "\n".join(done.stderr.splitlines()[-60:])
    assert done.returncode == 0, report
    runs = int(re.search(r"stat::number_of_executed_units: (\d+)", done.stderr)[1])
    assert runs > 10 * seconds, report  # it really ran
    print(f"fuzz: {runs} executions in {seconds} s, no finding")
