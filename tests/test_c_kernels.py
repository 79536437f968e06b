"""The C kernels under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/c/kernel_check.c drives csrc/ directly, with a plain-loop BLAS and buffers of exactly
the documented sizes, against a plain-loop recurrence in double. This test compiles it
with the sanitizers and runs it; it needs the source tree (csrc/) and a C compiler.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
DRIVER = ROOT / "tests" / "c" / "kernel_check.c"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


@pytest.fixture(scope="module")
def compiler():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    if not CSRC.is_dir():
        pytest.skip("the C sources (csrc/) are not beside the tests")
    return cc


def test_kernels_pass_under_sanitizers(compiler, tmp_path):
    binary = tmp_path / "kernel_check"
    sources = sorted(str(p) for p in CSRC.glob("*.c")) + [str(DRIVER)]
    build = subprocess.run(
        [compiler, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SANITIZE,
         f"-I{CSRC}", *sources, "-lm", "-o", str(binary)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="")
    run = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.rstrip().endswith(" passed, 0 failed"), run.stdout[-3000:]
