"""The carried state of RNNLM for each cell: an array (num_layers, B, H) for "rnn" and
"gru", the pair (h, c) for "lstm" (as torch's modules take and return it), wherever a
state goes in or comes out, and its checked round trip through named arrays (what the
trainer and the checkpoint store). The cells' numerics are in test_lm_model.py."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import checkpoint, optim, text, training

D, H, L = 9, 5, 2  # vocabulary, hidden size, layers


def lstm(backend, dtype=np.float64):
    return backend.RNNLM(D, H, L, cell="lstm", dtype=dtype, seed=1)


def test_the_lstm_carries_a_pair_the_gru_an_array(backend, rng):
    ids = rng.integers(0, D, size=(6, 3))
    model = lstm(backend)
    h, c = model.initial_state(3)
    assert_array_equal(h, np.zeros((L, 3, H)))
    assert_array_equal(c, np.zeros((L, 3, H)))
    out = model.loss(ids, ids)
    assert isinstance(out.h_n, tuple) and len(out.h_n) == 2
    assert all(a.shape == (L, 3, H) and a.dtype == np.float64 for a in out.h_n)
    _, h_n = model.forward(ids)
    assert_array_equal(h_n[1], out.h_n[1])
    # the cell state is a state of its own: |c| is not bounded by 1 as h = o * tanh(c) is
    assert not np.array_equal(out.h_n[0], out.h_n[1])

    gru = backend.RNNLM(D, H, L, cell="gru", dtype=np.float64, seed=1)
    assert gru.initial_state(3).shape == (L, 3, H)
    assert gru.loss(ids, ids).h_n.shape == (L, 3, H)


def assert_same(a, b):
    """Two LMLoss results of the LSTM are equal: loss, h_n and c_n."""
    assert a.loss == b.loss
    for x, y in zip(a.h_n, b.h_n, strict=True):
        assert_array_equal(x, y)


def test_lstm_h0_pair_entries_none_mean_zeros_and_c0_counts(backend, rng):
    model = lstm(backend)
    ids = rng.integers(0, D, size=(5, 2))
    c0 = rng.standard_normal((L, 2, H))
    zeros = np.zeros((L, 2, H))
    assert_same(model.loss(ids, ids, (None, c0)), model.loss(ids, ids, (zeros, c0)))
    assert_same(model.loss(ids, ids, (None, None)), model.loss(ids, ids, None))
    assert_same(model.loss(ids, ids, [zeros, zeros]), model.loss(ids, ids))  # a list too
    assert model.loss(ids, ids, (zeros, c0)).loss != model.loss(ids, ids).loss


def test_carrying_the_pair_equals_one_long_call(backend, rng):
    """Two calls with the first's (h_n, c_n) as the second's h0 see the states of one call
    over both halves."""
    model = lstm(backend)
    ids = rng.integers(0, D, size=(8, 2))
    whole = model.loss(ids, ids, reduction="sum")
    first = model.loss(ids[:3], ids[:3], reduction="sum")
    second = model.loss(ids[3:], ids[3:], first.h_n, reduction="sum")
    np.testing.assert_allclose(first.loss + second.loss, whole.loss, rtol=1e-12)
    for a, b in zip(second.h_n, whole.h_n, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "h0, error, message",
    [
        (np.zeros((L, 2, H)), TypeError, "h0 must be a pair (h0, c0) or None; got ndarray"),
        ((np.zeros((L, 2, H)),), TypeError, "h0 must be a pair (h0, c0) or None; got tuple"),
        (
            (np.zeros((L, 2, H)), np.zeros((L, 3, H))),
            ValueError,
            "c0 must have shape (num_layers, B, H) = (2, 2, 5); got (2, 3, 5)",
        ),
        (
            (None, np.zeros((L, 2, H), np.float32)),
            TypeError,
            "c0 has dtype float32 but this model's parameters are float64",
        ),
    ],
)
def test_lstm_state_arguments_are_checked(backend, rng, h0, error, message):
    ids = rng.integers(0, D, size=(4, 2))
    with pytest.raises(error, match=re.escape(message)):
        lstm(backend).loss_and_grads(ids, ids, h0)


def test_gru_refuses_a_pair(backend, rng):
    model = backend.RNNLM(D, H, L, cell="gru", dtype=np.float64)
    ids = rng.integers(0, D, size=(4, 2))
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (num_layers, B, H)")):
        model.loss(ids, ids, (np.zeros((L, 2, H)), np.zeros((L, 2, H))))


def test_state_arrays_round_trip_and_refusals(backend, rng):
    model = lstm(backend)
    state = (rng.standard_normal((L, 3, H)), rng.standard_normal((L, 3, H)))
    arrays = model.state_arrays(state)
    assert list(arrays) == ["h", "c"]
    assert arrays["c"] is not state[1]  # copies
    back = model.state_from_arrays(arrays, 3)
    for a, b in zip(back, state, strict=True):
        assert_array_equal(a, b)
    cases = [
        ({"h": arrays["h"]}, "trainer/c is missing (cell='lstm' carries h, c)"),
        ({**arrays, "x": arrays["h"]}, "trainer/x is not a state of cell='lstm' (it carries h, c)"),
        (
            {**arrays, "c": arrays["c"][:, :2]},
            "trainer/c must be finite float64 (2, 3, 5); got float64 (2, 2, 5)",
        ),
        ({**arrays, "c": arrays["c"].astype(np.float32)}, "trainer/c must be finite float64"),
        ({**arrays, "c": np.full((L, 3, H), np.nan)}, "trainer/c must be finite float64"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            model.state_from_arrays(bad, 3, what="trainer/")
    gru = backend.RNNLM(D, H, L, cell="gru", dtype=np.float64)
    assert list(gru.state_arrays(state[0])) == ["h"]


def test_checkpoint_keeps_the_cell_and_the_lstm_cell_state(tmp_path):
    tokenizer = text.CharTokenizer.fit("abcdefgh" * 20)
    model = fastrnn.RNNLM(tokenizer.vocab_size, H, L, cell="lstm", dtype=np.float64, seed=2)
    opt = optim.Adam(model.params, lr=0.01)
    tokens = tokenizer.encode("abcdefgh" * 20)
    trainer = training.Trainer(model, opt, tokens, seq_length=4, batch_size=2)
    trainer.train_step()
    path = tmp_path / "lstm.npz"
    checkpoint.save(path, model, tokenizer, opt, trainer.state())
    ckpt = checkpoint.load(path)
    assert ckpt.model.cell == "lstm"
    assert ckpt.model.params["rnn.weight_hh_l1"].shape == (4 * H, H)
    assert_array_equal(ckpt.trainer_arrays["c"], trainer.h[1])

    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "trainer/c"}
    checkpoint.write_atomic(path, arrays)
    with pytest.raises(checkpoint.CheckpointError, match=re.escape("trainer/c is missing")):
        checkpoint.load(path)
