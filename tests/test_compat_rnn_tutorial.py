"""fastrnn.compat.RNNNumpy against an independent implementation of Britz's tutorial.

The oracle, ``TutorialRNNNumpy`` in _compat_oracles.py, runs the tutorial's per-step
loops in float64. The compat class must draw the same weights from the same seed (bit for
bit) and give the same outputs, losses, truncated gradients, SGD updates and training
history to ~1e-10, on both kernel backends (the C kernels it ships with, and the NumPy
reference kernels, which tells a kernel bug from a bug in the compat layer).
"""

# The legacy np.random calls are the point: the tutorial draws from NumPy's
# global legacy RandomState.
# ruff: noqa: NPY002

from __future__ import annotations

import re

import numpy as np
import pytest
from _compat_oracles import TutorialRNNNumpy, tutorial_train_with_sgd
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import reference
from fastrnn.compat import RNNNumpy, rnn_tutorial_rnnlm, train_with_sgd

# Same float64 arithmetic as the oracle in a different order: agreement to rounding.
TOL = dict(rtol=1e-10, atol=1e-12)

WORD_DIM, HIDDEN_DIM = 23, 7


class ReferenceRNNNumpy(RNNNumpy):
    """The compat class computing with fastrnn.reference's NumPy kernels."""

    backend = reference


@pytest.fixture(params=[RNNNumpy, ReferenceRNNNumpy], ids=["fast", "reference"])
def model_class(request):
    return request.param


@pytest.fixture(autouse=True)
def global_random_state():
    """Both classes draw from NumPy's global RandomState: leave it as it was found."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def twins(model_class, word_dim=WORD_DIM, hidden_dim=HIDDEN_DIM, bptt_truncate=4, seed=10):
    """A compat model and an oracle model built from the same seed (hence the same
    weights; test_seeded_weights_are_the_tutorials checks that), with W scaled up so that
    gradients travel far enough back in time for the truncation window to matter."""
    np.random.seed(seed)
    model = model_class(word_dim, hidden_dim, bptt_truncate)
    np.random.seed(seed)
    oracle = TutorialRNNNumpy(word_dim, hidden_dim, bptt_truncate)
    model.W *= 4.0
    oracle.W *= 4.0
    return model, oracle


def sentence(T, word_dim=WORD_DIM, seed=0):
    """x and y = x moved by one word, as in the tutorial, with repeated words."""
    words = np.random.default_rng(seed).integers(0, min(word_dim, T), size=T + 1)
    return [int(w) for w in words[:-1]], [int(w) for w in words[1:]]


def corpus(lengths, seed=1):
    pairs = [sentence(T, seed=seed + i) for i, T in enumerate(lengths)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def assert_same_weights(model, oracle, **tol):
    for name in ("U", "V", "W"):
        assert_allclose(getattr(model, name), getattr(oracle, name), err_msg=name, **tol)


# ---- construction ------------------------------------------------------------------------


def test_seeded_weights_are_the_tutorials():
    np.random.seed(10)
    model = RNNNumpy(8000)  # the tutorial's vocabulary, default hidden_dim and truncation
    after_model = np.random.random_sample()
    np.random.seed(10)
    oracle = TutorialRNNNumpy(8000)
    after_oracle = np.random.random_sample()
    assert (model.word_dim, model.hidden_dim, model.bptt_truncate) == (8000, 100, 4)
    assert model.U.shape == (100, 8000) and model.V.shape == (8000, 100)
    assert model.W.shape == (100, 100)
    for name in ("U", "V", "W"):
        assert getattr(model, name).dtype == np.float64
        assert_array_equal(getattr(model, name), getattr(oracle, name), err_msg=name)
    assert after_model == after_oracle  # the same number of draws from the global stream


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0,), ValueError, "word_dim must be an int >= 1; got 0"),
        ((10, 0), ValueError, "hidden_dim must be an int >= 1; got 0"),
        ((10.5,), TypeError, "word_dim must be an int >= 1; got 10.5"),
    ],
)
def test_bad_sizes_are_refused(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        RNNNumpy(*args)


# ---- forward, predict, losses ------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 9])
def test_forward_propagation(model_class, T):
    model, oracle = twins(model_class)
    x, _ = sentence(T)
    result = model.forward_propagation(x)
    assert isinstance(result, list) and len(result) == 2
    o, s = result
    o_want, s_want = oracle.forward_propagation(x)
    assert o.shape == (T, WORD_DIM) and s.shape == (T + 1, HIDDEN_DIM)
    assert o.dtype == s.dtype == np.float64
    assert_array_equal(s[-1], 0.0)  # the extra row: s[t-1] at t = 0 is the zero state
    assert_allclose(o, o_want, **TOL, err_msg="o")
    assert_allclose(s, s_want, **TOL, err_msg="s")
    assert_array_equal(model.predict(x), oracle.predict(x))


def test_empty_sentence(model_class):
    model, oracle = twins(model_class)
    o, s = model.forward_propagation([])
    o_want, s_want = oracle.forward_propagation([])
    assert o.shape == o_want.shape == (0, WORD_DIM)
    assert_array_equal(s, s_want)
    for got, want in zip(model.bptt([], []), oracle.bptt([], []), strict=True):
        assert_array_equal(got, want)
    assert model.calculate_total_loss([[]], [[]]) == 0.0


@pytest.mark.parametrize("batch_budget", [None, 3 * 9 * WORD_DIM], ids=["one-batch", "batches"])
def test_losses(model_class, batch_budget, monkeypatch):
    """The total and per-word losses over sentences of mixed lengths, also when the
    padded batches are cut small (here at most 3 sentences of 9 words)."""
    if batch_budget is not None:
        monkeypatch.setattr(rnn_tutorial_rnnlm, "_MAX_BATCH_PROBABILITIES", batch_budget)
    model, oracle = twins(model_class)
    X, Y = corpus([5, 1, 9, 3, 3, 7, 2, 9, 4, 6])
    total = model.calculate_total_loss(X, Y)
    assert isinstance(total, float)
    assert_allclose(total, oracle.calculate_total_loss(X, Y), **TOL)
    assert_allclose(model.calculate_loss(X, Y), oracle.calculate_loss(X, Y), **TOL)


def test_untrained_loss_is_about_log_vocabulary():
    """The tutorial's sanity check: random weights predict about uniformly."""
    np.random.seed(10)
    model = RNNNumpy(8000)
    X, Y = corpus([12, 20, 7], seed=5)
    assert abs(model.calculate_loss(X, Y) - np.log(8000)) < 0.01


# ---- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("bptt_truncate", [-1, 0, 1, 4, 7, 8, 1000])
def test_bptt_truncation(model_class, bptt_truncate):
    """The per-output window for several widths around T = 9: none (K < 0: zero dU, dW),
    the shortest, the tutorial's 4, T-2 (the longest that still cuts), T-1 and more."""
    model, oracle = twins(model_class, bptt_truncate=bptt_truncate)
    x, y = sentence(9)
    result = model.bptt(x, y)
    assert isinstance(result, list) and len(result) == 3
    for name, got, want in zip(("dLdU", "dLdV", "dLdW"), result, oracle.bptt(x, y), strict=True):
        assert got.shape == getattr(model, name[-1]).shape and got.dtype == np.float64
        assert_allclose(got, want, **TOL, err_msg=f"{name}, bptt_truncate={bptt_truncate}")
    exact_dU = twins(model_class, bptt_truncate=1000)[0].bptt(x, y)[0]
    if 0 <= bptt_truncate < 9 - 1:
        # The window really cuts something off here, by more than the tolerance of the
        # comparison above: not exact BPTT in disguise. (At K = T-2 only dU differs: the
        # lost step 0 adds nothing to dW, since s_{-1} = 0.)
        assert not np.allclose(result[0], exact_dU, **TOL)


def test_bptt_length_one_and_repeated_words(model_class):
    model, oracle = twins(model_class)
    for x, y in (([3], [3]), ([5, 5, 5, 5, 5, 5], [5, 5, 5, 5, 5, 2])):
        for got, want in zip(model.bptt(x, y), oracle.bptt(x, y), strict=True):
            assert_allclose(got, want, **TOL)


def test_float32_weights_compute_in_float64(model_class):
    """Weights assigned in float32 (like the tutorial's saved Theano model) give the
    float64 results of the same values, as NumPy's promotion did in the original."""
    model, oracle = twins(model_class)
    for name in ("U", "V", "W"):
        value32 = getattr(model, name).astype(np.float32)
        setattr(model, name, value32)
        setattr(oracle, name, value32.astype(np.float64))
    x, y = sentence(9)
    for got, want in zip(model.bptt(x, y), oracle.bptt(x, y), strict=True):
        assert got.dtype == np.float64
        assert_allclose(got, want, **TOL)
    assert_allclose(model.calculate_loss([x], [y]), oracle.calculate_loss([x], [y]), **TOL)


# ---- SGD and training --------------------------------------------------------------------


def test_sgd_step_updates_in_place(model_class):
    model, oracle = twins(model_class)
    x, y = sentence(9)
    arrays = (model.U, model.V, model.W)
    model.sgd_step(x, y, 0.1)
    oracle.sgd_step(x, y, 0.1)
    assert all(a is b for a, b in zip((model.U, model.V, model.W), arrays, strict=True))
    assert_same_weights(model, oracle, **TOL)
    assert not np.allclose(model.W, twins(model_class)[0].W)  # the step moved the weights


LEARNING_RATE_LINE = re.compile(r"^Setting learning rate to (\S+)$", re.MULTILINE)
LOSS_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: Loss after num_examples_seen=(\d+) epoch=(\d+): (\S+)$",
    re.MULTILINE,
)


SCHEDULES = {
    # Rate 0.3 overshoots once: the loss rises at epoch 4 and the rate is halved there.
    "halving": dict(learning_rate=0.3, nepoch=6, evaluate_loss_after=1),
    # Evaluations before epochs 0, 3 and 6 only; none after the last epoch.
    "every-3": dict(learning_rate=0.3, nepoch=7, evaluate_loss_after=3),
}


@pytest.mark.parametrize("form", ["function", "method"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_train_with_sgd_schedule(model_class, schedule, form, capsys):
    """Loss history, learning-rate halvings, printed lines and final weights of the
    tutorial's loop on a tiny corpus. (Larger rates make this training chaotic: rounding
    differences then grow past any tolerance within a few epochs.)"""
    model, oracle = twins(model_class, bptt_truncate=2)
    model.W /= 4.0  # back to the tutorial's initialization: a tamer trajectory
    oracle.W /= 4.0
    X, Y = corpus([4, 6, 3, 8, 5, 2])
    options = SCHEDULES[schedule]
    if form == "function":
        losses = train_with_sgd(model, X, Y, **options)
    else:
        losses = model.train_with_sgd(X, Y, **options)
    losses_want, learning_rates_want = tutorial_train_with_sgd(oracle, X, Y, **options)
    halvings_want = sorted(set(learning_rates_want), reverse=True)[1:]
    if schedule == "halving":
        assert halvings_want, "the test corpus must make the schedule halve the learning rate"

    evaluated_epochs = list(range(0, options["nepoch"], options["evaluate_loss_after"]))
    examples_seen = [len(X) * epoch for epoch in evaluated_epochs]
    assert [n for n, _ in losses] == [n for n, _ in losses_want] == examples_seen
    assert_allclose([loss for _, loss in losses], [loss for _, loss in losses_want], **TOL)
    assert_same_weights(model, oracle, rtol=1e-9, atol=1e-11)
    printed = capsys.readouterr().out
    assert [float(r) for r in LEARNING_RATE_LINE.findall(printed)] == halvings_want
    assert [(int(n), int(e)) for n, e, _ in LOSS_LINE.findall(printed)] == list(
        zip(examples_seen, evaluated_epochs, strict=True)
    )


# ---- gradient check ----------------------------------------------------------------------


def test_gradient_check_passes_on_the_tutorials_example(capsys):
    """The notebook's check, RNNNumpy(100, 10, bptt_truncate=1000) on [0,1,2,3] ->
    [1,2,3,4], on self (the original used a global model), leaving the weights as found."""
    np.random.seed(10)
    model = RNNNumpy(100, 10, bptt_truncate=1000)
    before = [a.copy() for a in (model.U, model.V, model.W)]
    assert model.gradient_check([0, 1, 2, 3], [1, 2, 3, 4]) is True
    for name, a in zip("UVW", before, strict=True):
        assert_array_equal(getattr(model, name), a, err_msg=name)
    printed = capsys.readouterr().out
    for name, size in (("U", 1000), ("V", 1000), ("W", 100)):
        assert f"Performing gradient check for parameter {name} with size {size}." in printed
        assert f"Gradient check for parameter {name} passed." in printed
    assert "ERROR" not in printed


def test_gradient_check_fails_where_the_tutorials_does(model_class, capsys):
    """With a window shorter than the sentence the truncated bptt is not the gradient of
    the loss: the check fails, at the same element as the tutorial's."""
    model, oracle = twins(model_class, word_dim=12, hidden_dim=5, bptt_truncate=1)
    x, y = sentence(8, word_dim=12)
    failure = oracle.first_gradient_check_failure(x, y)
    assert failure is not None
    assert model.gradient_check(x, y) is False
    name, ix = failure
    assert f"Gradient Check ERROR: parameter={name} ix={ix}" in capsys.readouterr().out


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m.bptt([1, 2], [1]), ValueError, "len(x) = 2, len(y) = 1"),
        (lambda m: m.bptt([1, 23], [1, 2]), ValueError, "x[1] = 23 is not a word index in [0, "),
        (lambda m: m.forward_propagation([-1]), ValueError, "x[0] = -1 is not a word index"),
        (lambda m: m.forward_propagation([1.0]), TypeError, "integer word indices"),
        (lambda m: m.forward_propagation([[1]]), ValueError, "sequence of word indices"),
        (lambda m: m.calculate_loss([[]], [[]]), ValueError, "y holds no target words"),
        (lambda m: m.calculate_total_loss([[1]], []), ValueError, "got 1 and 0"),
    ],
)
def test_bad_sentences_are_refused(call, error, message):
    model, _ = twins(RNNNumpy)
    with pytest.raises(error, match=re.escape(message)):
        call(model)


def test_uses_the_c_kernels():
    assert RNNNumpy.backend is fastrnn._fast
