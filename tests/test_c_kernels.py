"""The C kernels under AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind.

The drivers in tests/c/ call csrc/ directly, with the plain-loop BLAS of plain_blas.h and
buffers of exactly the documented sizes, and reach what the binding never lets through
(ids out of range, NULL arrays, bad dims): kernel_check.c compares the RNN kernels with a
plain-loop recurrence in double, test_lm.c the language-model kernels with plain loops,
test_tutorial_bptt.c the one-call bptt of the tutorial's language model with the
tutorial's loops, test_cells.c the LSTM and GRU kernels with U NULL (x the input
projection) against the same kernels with U the identity.
test_gated.c the LSTM and GRU kernels with plain-loop cells, central differences and, for
truncated backward passes, sums of full ones over each window; test_generate.c the
generation kernel against the same stream drawn step by step through the public kernels.
test_packed_gemm.c the packed recurrent products and the weight-gradient products
fastrnn_tn_gemm (SIMD and plain loops) with a triple loop; test_stream_gemm.c the
products with W read in place and the transposes (SIMD and plain loops) likewise.
These tests compile and run them; they need the source tree (csrc/) and a C compiler
(and valgrind for the memcheck runs, skipped without it).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
DRIVERS = {
    "rnn": "kernel_check.c",
    "lm": "test_lm.c",
    "tutorial_bptt": "test_tutorial_bptt.c",
    "cells": "test_cells.c",
    "gated": "test_gated.c",
    "generate": "test_generate.c",
    "packed": "test_packed_gemm.c",
    "stream": "test_stream_gemm.c",
}
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
# Compile-time settings of a driver (for the library it links too): the gated cells'
# inference kernels project 3 rows at a time, so that the small problems there are split
# into several chunks (cells.h), and run in the transposed domain from B = 3 and H = 4 on
# (cell_streams), so that both paths meet small problems; the RNN's full BPTT keeps da for
# 3 rows' worth of steps and its forward streams W from H = 1 on (rnn.c), for its problems
# of 16 rows or more.
DEFINES = {
    "test_gated.c": ["-DCELL_CHUNK_ROWS=3", "-DCELL_STREAM_MIN_B=3", "-DCELL_STREAM_MIN_H=4"],
    "kernel_check.c": ["-DRNN_CHUNK_ELEMENTS=1", "-DRNN_CHUNK_ROWS=3", "-DRNN_STREAM_MIN_H=1"],
}


@pytest.fixture(scope="module")
def compiler():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    if not CSRC.is_dir():
        pytest.skip("the C sources (csrc/) are not beside the tests")
    return cc


@pytest.fixture(scope="module")
def libraries(compiler, tmp_path_factory):
    """csrc/ compiled once per set of flags (a static library), for every driver to link."""
    built = {}

    def library(flags: tuple) -> Path:
        if flags not in built:
            directory = tmp_path_factory.mktemp("csrc")
            sources = sorted(str(p) for p in CSRC.glob("*.c"))
            compiled = subprocess.run(
                [compiler, *COMPILE, *flags, f"-I{CSRC}", "-c", *sources],
                capture_output=True, text=True, cwd=directory,
            )  # fmt: skip
            assert compiled.returncode == 0, compiled.stderr
            archive = directory / "libfastrnn.a"
            objects = sorted(str(p) for p in directory.glob("*.o"))
            subprocess.run(["ar", "rcs", str(archive), *objects], check=True)
            built[flags] = archive
        return built[flags]

    return library


COMPILE = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror"]


def build_driver(compiler, libraries, driver, binary, flags):
    build = subprocess.run(
        [compiler, *COMPILE, *flags, f"-I{CSRC}", str(ROOT / "tests" / "c" / driver),
         str(libraries(tuple(flags))), "-lm", "-o", str(binary)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr


def passed(stdout: str) -> bool:
    last = stdout.rstrip().rsplit("\n", 1)[-1]
    return last.endswith(" passed, 0 failed") or last == "all checks passed"


@pytest.mark.parametrize("driver", DRIVERS.values(), ids=DRIVERS.keys())
def test_kernels_pass_under_sanitizers(compiler, libraries, driver, tmp_path):
    binary = tmp_path / "driver"
    build_driver(compiler, libraries, driver, binary, SANITIZE + DEFINES.get(driver, []))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="")
    run = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert passed(run.stdout), run.stdout[-3000:]


@pytest.mark.parametrize("driver", DRIVERS.values(), ids=DRIVERS.keys())
def test_kernels_pass_under_valgrind(compiler, libraries, driver, tmp_path):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    binary = tmp_path / "driver"
    build_driver(compiler, libraries, driver, binary, DEFINES.get(driver, []))
    run = subprocess.run(
        [valgrind, "-q", "--error-exitcode=3", "--leak-check=full",
         "--errors-for-leak-kinds=definite", str(binary)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert passed(run.stdout), run.stdout[-3000:]
