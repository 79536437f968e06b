"""Nothing lost: ``fastrnn train`` killed with SIGKILL at random moments.

The run saves a checkpoint after every step, so most kills land while one is being
written. Whatever the moment, the checkpoint left on disk is the last complete one and
loads, and resuming from it reproduces the parameters, optimizer state and counters of an
uninterrupted run exactly (float64). (Ctrl-C, which saves and exits with 130, is
test_cli_lm.py's test_ctrl_c_saves_and_exits_cleanly.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastrnn import checkpoint, cli

CORPUS = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n\n" * 30
STEPS = 400  # about 1.2 s of training when saving every step: every kill interrupts it
SETTINGS = ["--dtype", "float64", "--hidden", "12", "--seq-length", "8", "--batch-size", "4",
            "--samples", "0", "--seed", "3"]  # fmt: skip
TRIALS = 5


def command(*args) -> list[str]:
    return [sys.executable, "-m", "fastrnn", "train", *SETTINGS, *map(str, args)]


def assert_same_run(a: checkpoint.Checkpoint, b: checkpoint.Checkpoint, context):
    assert a.trainer == b.trainer, context
    for name, p in a.model.params.items():
        assert_array_equal(b.model.params[name], p, err_msg=f"{name} {context}")
    for name, s in a.optimizer.state_dict().items():
        assert_array_equal(b.optimizer.state_dict()[name], s, err_msg=f"{name} {context}")
    assert_array_equal(b.trainer_arrays["h"], a.trainer_arrays["h"], err_msg=context)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "code.py"
    path.write_text(CORPUS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def uninterrupted(corpus):
    """The checkpoint of the run that nothing interrupts."""
    out = corpus.parent / "straight.npz"
    straight = command("--text", corpus, "--steps", STEPS, "--save-every", 0, "--out", out)
    assert subprocess.run(straight, capture_output=True, timeout=120).returncode == 0
    return checkpoint.load(out)


def interrupt(corpus, out, signum: int, delay: float, after_first_save: bool = False) -> int:
    """The return code of a run that gets signum delay seconds into its training (or
    after its first checkpoint)."""
    proc = subprocess.Popen(
        command("--text", corpus, "--steps", STEPS, "--save-every", 1, "--out", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stdout:  # the header; the next line is the first step's
            if line.startswith("train "):
                break
        # On a loaded machine the first save can take longer than any fixed delay: a
        # kill before it would test nothing.
        deadline = time.monotonic() + 60
        while after_first_save and not out.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        os.kill(proc.pid, signum)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.stdout.close()
    return proc.returncode


def resume_to_the_end(out, want: checkpoint.Checkpoint, context) -> int:
    """Resumes the run saved in out for the steps it lacks, checks that it ends where the
    uninterrupted run did; returns the step it resumed from."""
    step = checkpoint.load(out).trainer["step"]  # the last complete checkpoint loads
    assert 1 <= step < STEPS, context
    status = cli.main(["train", "--resume", str(out), "--steps", str(STEPS - step),
                       "--save-every", "0", "--samples", "0"])  # fmt: skip
    assert status == 0, context
    assert_same_run(want, checkpoint.load(out), context)
    return step


def test_sigkill_at_random_moments_loses_nothing(corpus, uninterrupted, tmp_path, capsys):
    rng = np.random.default_rng()
    delays = rng.uniform(0.0, 0.5, TRIALS)
    resumed_from, interrupted_saves = [], 0
    for trial, delay in enumerate(delays):
        directory = tmp_path / f"trial{trial}"
        directory.mkdir()
        out = directory / "run.npz"
        context = f"trial {trial}, killed {delay:.3f} s into training"
        returncode = interrupt(corpus, out, signal.SIGKILL, delay, after_first_save=True)
        assert returncode == -signal.SIGKILL, context  # killed, not finished
        # At most a temporary file of the interrupted save beside the checkpoint.
        others = [p.name for p in directory.iterdir() if p != out]
        assert all(n.startswith(".run.npz.") and n.endswith(".tmp") for n in others), others
        interrupted_saves += bool(others)
        resumed_from.append(resume_to_the_end(out, uninterrupted, context))
    capsys.readouterr()
    print(
        f"{TRIALS} SIGKILL trials, {interrupted_saves} during a save, resumed from steps "
        f"{resumed_from}"
    )
    assert len(resumed_from) == TRIALS, resumed_from


def test_ctrl_c_saves_and_resuming_loses_nothing(corpus, uninterrupted, tmp_path, capsys):
    out = tmp_path / "run.npz"
    assert interrupt(corpus, out, signal.SIGINT, 0.2) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    resume_to_the_end(out, uninterrupted, "Ctrl-C 0.2 s into training")


@pytest.mark.parametrize("moment", ["rename", "fsync"])
def test_a_crash_inside_save_keeps_the_previous_checkpoint(tmp_path, moment, monkeypatch):
    """The two steps of an atomic save that a kill could interrupt, made to fail."""
    import fastrnn
    from fastrnn import text

    tokenizer = text.CharTokenizer.fit(CORPUS)
    model = fastrnn.RNNLM(tokenizer.vocab_size, 4, dtype=np.float64, seed=0)
    path = tmp_path / "m.npz"
    checkpoint.save(path, model, tokenizer)
    before = path.read_bytes()
    model.params["decoder.bias"] += 1

    def crash(*args):
        raise OSError(f"no {moment}")

    monkeypatch.setattr(os, "replace" if moment == "rename" else "fsync", crash)
    with pytest.raises(OSError, match=f"no {moment}"):
        checkpoint.save(path, model, tokenizer)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
