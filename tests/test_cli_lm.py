"""``fastrnn train`` and ``fastrnn sample`` run as a user would: in a subprocess, on a
tiny corpus with few steps."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _helpers import interrupt_training
from numpy.testing import assert_array_equal

from fastrnn import checkpoint

CORPUS = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n\n" * 30
SMALL = ["--hidden", "12", "--seq-length", "8", "--batch-size", "4", "--samples", "0"]


def run_cli(*args, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "fastrnn", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "code.py"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def assert_one_line_error(done, status, message):
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]


def test_train_then_sample(corpus, tmp_path):
    out = tmp_path / "model.npz"
    args = ["--text", corpus, "--steps", 30, "--out", out, "--log-every", 10, *SMALL[:-2]]
    done = run_cli("train", *args, "--samples", 2, "--sample-length", 50, "--prime", "def ")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    losses = [
        float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step")
    ]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert "held-out loss" in done.stdout
    assert done.stdout.count("--- sample") == 2
    # no progress bar in a log (stderr is a pipe here): the loss lines give the rate
    assert "\r" not in done.stderr and "tok/s" not in done.stderr
    assert all("tok/s)" in line for line in done.stdout.splitlines() if line.startswith("step"))
    ckpt = checkpoint.load(out)
    assert ckpt.trainer["step"] == 30
    assert [row[0] for row in ckpt.extra["history"]] == [10, 20, 30]

    sample = run_cli("sample", out, "--prime", "def ", "--length", 80, "--seed", 3)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("def ")
    assert len(sample.stdout) == len("def ") + 80 + 1  # the prime, 80 characters, newline
    again = run_cli("sample", out, "--prime", "def ", "--length", 80, "--seed", 3)
    assert again.stdout == sample.stdout
    other = run_cli("sample", out, "--prime", "def ", "--length", 80, "--seed", 4, "--top-k", 3)
    assert other.returncode == 0 and other.stdout != sample.stdout


def test_resume_continues_exactly(corpus, tmp_path):
    """20 steps in one run == 8 steps, then --resume for 12 more (float64, bit for bit)."""
    common = ["--text", corpus, "--dtype", "float64", *SMALL]
    straight, split = tmp_path / "straight.npz", tmp_path / "split.npz"
    assert run_cli("train", *common, "--steps", 20, "--out", straight).returncode == 0
    assert run_cli("train", *common, "--steps", 8, "--out", split).returncode == 0
    done = run_cli("train", "--resume", split, "--steps", 12, "--samples", 0)
    assert done.returncode == 0, done.stderr
    assert "at step 8" in done.stdout
    a, b = checkpoint.load(straight), checkpoint.load(split)
    assert a.trainer == b.trainer
    for name, p in a.model.params.items():
        assert_array_equal(b.model.params[name], p, err_msg=name)
    for name, s in a.optimizer.state_dict().items():
        assert_array_equal(b.optimizer.state_dict()[name], s, err_msg=name)
    assert b.extra["history"][-1][0] == 20


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_train_resume_exactly_and_sample(cell, corpus, tmp_path, capsys):
    """--cell lstm / gru: 12 steps in one run == 5, then --resume for 7 (float64, bit for
    bit: the LSTM's cell state is carried through the checkpoint), then sample."""
    common = ["--text", corpus, "--cell", cell, "--dtype", "float64", *SMALL]
    straight, split = tmp_path / "straight.npz", tmp_path / "split.npz"
    done = run_in_process(capsys, "train", *common, "--steps", 12, "--out", straight)
    assert done.returncode == 0, done.stderr
    assert f"model    1 x {cell.upper()}(12)" in done.stdout
    assert run_in_process(capsys, "train", *common, "--steps", 5, "--out", split).returncode == 0
    done = run_in_process(capsys, "train", "--resume", split, "--steps", 7, "--samples", 0)
    assert done.returncode == 0, done.stderr
    a, b = checkpoint.load(straight), checkpoint.load(split)
    assert a.model.cell == b.model.cell == cell
    assert a.trainer == b.trainer
    assert sorted(b.trainer_arrays) == (["c", "h"] if cell == "lstm" else ["h"])
    for name, state in a.trainer_arrays.items():
        assert_array_equal(b.trainer_arrays[name], state, err_msg=name)
    for name, p in a.model.params.items():
        assert_array_equal(b.model.params[name], p, err_msg=name)

    sample = run_in_process(capsys, "sample", split, "--prime", "def ", "--length", 40, "--seed", 1)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("def ") and len(sample.stdout) == len("def ") + 40 + 1


def test_word_level(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("The cat sat on the mat. The dog sat on the log! " * 40, encoding="utf-8")
    out = tmp_path / "words.npz"
    done = run_cli(
        "train",
        "--text",
        path,
        "--level",
        "word",
        "--vocab-size",
        8,
        "--steps",
        5,
        "--out",
        out,
        "--hidden",
        8,
        "--seq-length",
        5,
        "--batch-size",
        2,
        "--sample-length",
        12,
        "--samples",
        1,
    )
    assert done.returncode == 0, done.stderr
    assert "vocabulary 8" in done.stdout
    ckpt = checkpoint.load(out)
    assert ckpt.tokenizer.vocabulary[-1] == "UNKNOWN_TOKEN"
    sample = run_cli("sample", out, "--prime", "the cat", "--length", 10, "--seed", 0)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("the cat")


def test_default_corpus_is_the_standard_library(tmp_path):
    done = run_cli("train", "--steps", 1, "--hidden", 4, "--samples", 0, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "standard-library modules" in done.stdout
    assert (tmp_path / "fastrnn-model.npz").exists()


def test_ctrl_c_saves_and_exits_cleanly(corpus, tmp_path):
    out = tmp_path / "model.npz"
    command = [sys.executable, "-m", "fastrnn", "train", "--text", str(corpus),
               "--steps", "1000000", "--out", str(out), "--save-every", "0", *SMALL]  # fmt: skip
    returncode, stdout, stderr = interrupt_training(command, timeout=60)
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted at step" in stderr and "--resume" in stderr
    steps = checkpoint.load(out).trainer["step"]
    assert 0 < steps < 1000000
    assert f"trained  {steps:,} steps" in stdout


def run_in_process(capsys, *args):
    """fastrnn.cli.main(args) in this process, as a CompletedProcess (faster than a
    subprocess; an uncaught exception would fail the test just the same)."""
    from fastrnn import cli

    try:
        status = cli.main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        status = e.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, out, err)


def test_bad_input_gets_one_line_and_no_traceback(corpus, tmp_path, capsys):
    """A subprocess for one case of each kind (a file, a flag, a checkpoint), the others
    in process."""
    latin = tmp_path / "latin.txt"
    latin.write_bytes("the\xe9 au lait\n".encode("latin-1") * 50)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, U=np.zeros((2, 3)))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(300))
    good = tmp_path / "good.npz"
    made = run_in_process(capsys, "train", "--text", corpus, "--steps", 2, "--out", good, *SMALL)
    assert made.returncode == 0, made.stderr
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:500])
    cases = [
        (("train", "--text", tmp_path / "missing.txt"), 1, "missing.txt: no such file"),
        (("train", "--text", empty), 1, "empty.txt: the file is empty"),
        (("train", "--text", latin), 1, "latin.txt: not UTF-8 text (byte 0xe9 at offset 3)"),
        (("train", "--text", corpus, "--batch-size", 999), 1, "too few for 999 streams"),
        (("train", "--steps", -1), 2, "argument --steps: expected an int >= 0; got '-1'"),
        (("train", "--lr", "nan"), 2, "argument --lr: expected a number > 0; got 'nan'"),
        (("train", "--level", "byte"), 2, "argument --level: invalid choice: 'byte'"),
        (
            ("train", "--resume", foreign),
            1,
            "foreign.npz: not a fastrnn checkpoint (an .npz file holding U)",
        ),
        (("train", "--resume", truncated), 1, "truncated.npz: not a fastrnn checkpoint"),
        (("train", "--resume", good, "--hidden", 8), 1, "--hidden cannot change on --resume"),
        (("train", "--resume", good, "--cell", "gru"), 1, "--cell cannot change on --resume"),
        (("train", "--cell", "cnn"), 2, "argument --cell: invalid choice: 'cnn'"),
        (("train", "--text", corpus, "--out", tmp_path / "no" / "m.npz"), 1, "does not exist"),
        (("train", "--text", corpus, "--out", tmp_path), 1, "is a directory; give a file name"),
        (("train", "--resume", good, "--text", empty), 1, "empty.txt: the file is empty"),
        (
            ("train", "--text", corpus, "--prime", "é", "--steps", 1, *SMALL[:-2]),
            1,
            "--prime: the text holds characters outside the model's vocabulary: 'é' (U+00E9)",
        ),
        (("sample", garbage), 1, "garbage.npz: not a fastrnn checkpoint (not an .npz file)"),
        (("sample", tmp_path / "none.npz"), 1, "none.npz: no such file"),
        (("sample", good, "--top-k", 0), 2, "argument --top-k: expected an int >= 1; got '0'"),
        (("sample", good, "--temperature", "hot"), 2, "expected a number > 0; got 'hot'"),
        (("sample", good, "--prime", "zzz"), 1, "--prime: the text holds characters outside"),
        (("sample",), 2, "the following arguments are required: CKPT"),
    ]
    in_subprocess = {1, 2, 4, 7}  # empty file, not UTF-8, bad flag value, foreign checkpoint
    for k, (args, status, message) in enumerate(cases):
        done = run_cli(*args) if k in in_subprocess else run_in_process(capsys, *args)
        assert_one_line_error(done, status, message)
    reordered = tmp_path / "reordered.py"
    reordered.write_text(CORPUS[::-1], encoding="utf-8")  # the same characters
    assert_one_line_error(
        run_in_process(capsys, "train", "--resume", good, "--text", reordered),
        1,
        "this is not the corpus the run was trained on",
    )
    accented = tmp_path / "accented.py"
    accented.write_text(CORPUS + "é", encoding="utf-8")
    assert_one_line_error(
        run_in_process(capsys, "train", "--resume", good, "--text", accented),
        1,
        "cannot resume " + str(good),
    )
    checkpoint.load(good)  # still intact after every refusal
