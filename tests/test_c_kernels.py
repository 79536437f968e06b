"""The C kernels under AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind.

tests/c/kernel_check.c drives csrc/ directly, with a plain-loop BLAS and buffers of exactly
the documented sizes, against a plain-loop recurrence in double. These tests compile it
and run it; they need the source tree (csrc/) and a C compiler (and valgrind for the
second, skipped without it).
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


def build_driver(compiler, binary, flags):
    sources = sorted(str(p) for p in CSRC.glob("*.c")) + [str(DRIVER)]
    build = subprocess.run(
        [compiler, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *flags,
         f"-I{CSRC}", *sources, "-lm", "-o", str(binary)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr


def test_kernels_pass_under_sanitizers(compiler, tmp_path):
    binary = tmp_path / "kernel_check"
    build_driver(compiler, binary, SANITIZE)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="")
    run = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.rstrip().endswith(" passed, 0 failed"), run.stdout[-3000:]


def test_kernels_pass_under_valgrind(compiler, tmp_path):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    binary = tmp_path / "kernel_check"
    build_driver(compiler, binary, [])
    run = subprocess.run(
        [valgrind, "-q", "--error-exitcode=3", "--leak-check=full",
         "--errors-for-leak-kinds=definite", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.rstrip().endswith(" passed, 0 failed"), run.stdout[-3000:]
