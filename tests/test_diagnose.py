"""fastrnn.diagnose and ``fastrnn diagnose``: the lag gradients against finite
differences, the recall task's data, a tiny training run, and the command in a subprocess
with tiny settings (tables printed; matplotlib imported only for --plot)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _helpers import numerical_gradient_of
from numpy.testing import assert_allclose, assert_array_equal

from fastrnn import diagnose, layers, reference

CELLS = ["rnn", "lstm", "gru"]
TINY = ["--steps", "3", "--lags", "2,4", "--grad-lags", "0,1,3", "--hidden", "4"]


def finite_difference_lag_gradients(cell, x, weights, u, k):
    """dL/d(state after step T-1-k) by central differences, one state entry at a time:
    the last k steps run again (reference forward) from the perturbed state."""
    T = x.shape[0]
    names = layers.STATE_NAMES[cell]
    states, _ = layers.cell_forward(reference, cell, x, (None,) * len(names), weights, False)
    initial = [a[T - 1 - k].copy() for a in states]

    def loss():
        out, _ = layers.cell_forward(reference, cell, x[T - k :], tuple(initial), weights, False)
        return float(np.sum(u * out[0][-1]))

    return [numerical_gradient_of(loss, a) for a in initial]


@pytest.mark.parametrize("cell", CELLS)
def test_lag_gradients_match_finite_differences(backend, cell, rng):
    T, B, D, H = 7, 2, 3, 4
    x = rng.standard_normal((T, B, D))
    weights = diagnose.init_weights(cell, D, H, rng, w_scale=3.0)  # not tiny at lag 6
    u = rng.standard_normal((B, H))
    lags = [0, 1, 3, 6]
    got = diagnose.lag_gradients(cell, x, weights, u, lags, backend)
    assert len(got) == len(layers.STATE_NAMES[cell])
    assert_array_equal(got[0][0], u)  # lag 0: nothing follows the last state
    for i, k in enumerate(lags[1:], start=1):
        want = finite_difference_lag_gradients(cell, x, weights, u, k)
        for g, w in zip(got, want, strict=True):
            assert np.abs(w).max() > 1e-4  # a gradient that can tell a wrong one apart
            assert_allclose(g[i], w, rtol=1e-6, atol=1e-9, err_msg=f"{cell} lag {k}")
    with pytest.raises(ValueError, match=r"lags must lie in \[0, T\) = \[0, 7\); got 7"):
        diagnose.lag_gradients(cell, x, weights, u, [7], backend)


def test_gradient_norms_vanish_and_with_a_large_w_explode_for_the_rnn():
    """The measured shape of part 1 on a small case: every column starts at 1 (the LSTM's
    c at 0), all shrink with the lag at PyTorch's initialization, and the RNN's grow with
    W's range times 4. Both backends agree."""
    small = diagnose.NormSettings(hidden_size=32, input_size=4, batch_size=8, seed=3)
    lags = [0, 1, 10, 30]
    norms = diagnose.gradient_norms(lags, small)
    assert list(norms) == ["RNN", "LSTM h", "LSTM c", "GRU"]
    for label, values in norms.items():
        assert values.shape == (4,)
        assert values[0] == (0.0 if label == "LSTM c" else 1.0)
        assert values[-1] < 1e-3 * max(values[:2]), label
    twin = diagnose.gradient_norms(lags, small, backend=reference)
    for label, values in norms.items():
        assert_allclose(twin[label], values, rtol=1e-10, err_msg=label)
    large = diagnose.gradient_norms(lags, small, w_scale=4.0)
    assert large["RNN"][-1] > 10 * large["RNN"][-2] > 10
    assert all(large[label][-1] < 1 for label in ("LSTM h", "LSTM c", "GRU"))


def test_recall_batches():
    rng = np.random.default_rng(0)
    ids, targets, mask = diagnose.recall_batch(5, 200, symbols=3, noise=4, rng=rng)
    assert ids.shape == targets.shape == mask.shape == (6, 200)
    assert set(np.unique(ids[0])) == {0, 1, 2}  # the symbol to remember
    assert set(np.unique(ids[1:5])) == {3, 4, 5, 6}  # distractors
    assert_array_equal(ids[5], 7)  # the query
    assert_array_equal(targets[5], ids[0])
    assert_array_equal(mask, np.broadcast_to(np.arange(6)[:, None] == 5, (6, 200)))


def test_train_recall_learns_a_short_lag_and_is_seeded():
    settings = diagnose.RecallSettings(steps=150, hidden_size=8, lr=2e-2, test_size=200)
    result = diagnose.train_recall("gru", 2, settings)
    assert result.accuracy > 0.9  # chance is 1/8
    again = diagnose.train_recall("gru", 2, settings)
    assert (again.accuracy, again.loss) == (result.accuracy, result.loss)
    rnn = diagnose.train_recall("rnn", 2, settings, backend=reference)
    assert 0 <= rnn.accuracy <= 1 and np.isfinite(rnn.loss)


def run_diagnose(*args, prelude=""):
    """``fastrnn diagnose ARGS`` in a fresh interpreter; the last stdout line tells
    whether matplotlib was imported."""
    code = (
        f"import sys\n{prelude}\nfrom fastrnn.cli import main\n"
        f"status = main(['diagnose', *{list(map(str, args))!r}])\n"
        "print('matplotlib imported:', 'matplotlib' in sys.modules)\n"
        "sys.exit(status)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_command_prints_both_tables_without_importing_matplotlib():
    done = run_diagnose(*TINY)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1. Gradient norms" in out and "2. Recall task" in out
    assert out.count("lag k          RNN      LSTM h      LSTM c         GRU") == 2
    assert "W x 4 (W's range times 4)" in out
    assert "lag        RNN    LSTM     GRU   (chance 0.125)" in out
    assert "3 steps per cell and lag" in out
    assert out.rstrip().endswith("matplotlib imported: False")
    table = out[out.rindex("(chance 0.125)") :].splitlines()[1:3]
    assert [row.split()[0] for row in table] == ["2", "4"]
    assert all(0 <= float(v) <= 1 for row in table for v in row.split()[1:])


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "diagnose.png"
    done = run_diagnose(*TINY, "--no-task", "--plot", png)
    assert done.returncode == 0, done.stderr
    assert "2. Recall task" not in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot     {png}" in done.stdout


def test_plot_without_matplotlib_is_one_clear_line_before_the_run(tmp_path):
    done = run_diagnose(
        *TINY, "--plot", tmp_path / "x.png", prelude="sys.modules['matplotlib'] = None"
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "fastrnn diagnose: error: --plot: plotting needs matplotlib, which is not installed: "
        "pip install 'fastrnn[plot]' (or pip install matplotlib)"
    )
    assert "Gradient norms" not in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lags", "0,10"], "argument --lags: expected comma-separated ints >= 1"),
        (["--grad-lags", "a"], "argument --grad-lags: expected comma-separated ints >= 0"),
        (["--large-w", "0"], "argument --large-w: expected a number > 0; got '0'"),
    ],
)
def test_bad_flags_are_usage_errors(args, message, capsys):
    from fastrnn import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["diagnose", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_importable_as_fastrnn_diagnose():
    import fastrnn.diagnose

    assert fastrnn.diagnose.CELLS == ("rnn", "lstm", "gru")
    assert "matplotlib" not in fastrnn.diagnose.__dict__
    assert fastrnn.RNNLM  # the models it trains
