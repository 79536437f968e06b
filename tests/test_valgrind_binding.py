"""tests/valgrind/kernels.py under valgrind memcheck: the binding and the kernels together
make no invalid read or write and use no uninitialized value. About 20 s, so it runs only
with FASTRNN_VALGRIND=1 (tests/test_c_kernels.py runs the C drivers under valgrind always).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "valgrind"


@pytest.mark.skipif(os.environ.get("FASTRNN_VALGRIND") != "1", reason="set FASTRNN_VALGRIND=1")
def test_the_binding_and_kernels_are_clean_under_valgrind():
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    done = subprocess.run(
        [valgrind, f"--suppressions={HERE / 'ld.supp'}", "--error-exitcode=3",
         "--leak-check=no", sys.executable, str(HERE / "kernels.py")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    assert "every kernel ran" in done.stdout
    assert "ERROR SUMMARY: 0 errors" in done.stderr
