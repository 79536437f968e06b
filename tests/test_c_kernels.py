"""The C-level tests in tests/c/: each is compiled with the kernels it tests, under
AddressSanitizer and UndefinedBehaviorSanitizer where the compiler has them, and must
exit 0. They reach what the binding never lets through (ids out of range, NULL arrays)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ["csrc/lm.c", "csrc/activations.c", "csrc/blas.c"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def compile_and_run(source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or not (ROOT / "csrc").is_dir():
        pytest.skip("needs a C compiler and the source tree")
    exe = tmp_path / Path(source).stem
    base = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-O1", f"-I{ROOT / 'csrc'}"]
    files = [str(ROOT / f) for f in [*KERNELS, source]]
    built = subprocess.run([*base, *SANITIZE, *files, "-lm", "-o", str(exe)], capture_output=True)
    if built.returncode != 0:  # a compiler without the sanitizer runtimes
        built = subprocess.run(
            [*base, *files, "-lm", "-o", str(exe)], capture_output=True, text=True
        )
        assert built.returncode == 0, built.stderr
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)


def test_language_model_kernels_in_c(tmp_path):
    done = compile_and_run("tests/c/test_lm.c", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "all checks passed" in done.stdout
