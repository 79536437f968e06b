"""The fastrnn command, run as a user would: in a subprocess."""

import subprocess
import sys

import fastrnn


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "fastrnn", *args], capture_output=True, text=True, timeout=timeout
    )


def test_info_names_version_and_blas():
    done = run_cli("info")
    assert done.returncode == 0, done.stderr
    assert f"fastrnn   {fastrnn.__version__}" in done.stdout
    assert "OpenBLAS" in done.stdout


def test_no_command_prints_usage_and_exits_2():
    done = run_cli()
    assert done.returncode == 2
    assert "usage: fastrnn" in done.stderr


def test_unknown_flag_is_one_usage_error_without_traceback():
    done = run_cli("--no-such-flag")
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in done.stderr
    assert "Traceback" not in done.stderr
