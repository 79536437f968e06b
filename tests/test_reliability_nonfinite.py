"""NaN and Inf: the kernels propagate them as the reference does, training stops on them.

The kernels do not check values (a pass over every input would cost as much as the
elementwise work): a NaN or Inf in any input comes out as NaN or Inf in the outputs it
reaches, at the same places as in the NumPy reference. With an Inf among the inputs the
two may disagree on NaN against Inf (a*inf + 0*inf is NaN, (a + 0)*inf is not), never on
finite against non-finite. Training refuses to go on from a non-finite loss or gradient,
and a checkpoint never holds NaN weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import TOL, cell_forward_backward, cell_problem, forward_backward, rnn_problem
from numpy.testing import assert_allclose

import fastrnn
from fastrnn import checkpoint, optim, reference, text, training

VALUES = [np.nan, np.inf, -np.inf]


def assert_same_non_finite(got: dict, want: dict, dtype, context):
    for name, w in want.items():
        if w is None:
            assert got[name] is None, (name, context)
            continue
        g, w = np.asarray(got[name]), np.asarray(w)
        bad = ~np.isfinite(w)
        assert np.array_equal(~np.isfinite(g), bad), (name, context, g, w)
        assert_allclose(g[~bad], w[~bad], **TOL[dtype], err_msg=f"{name} {context}")


def rnn_outputs(backend, p, nonlinearity):
    s, g = forward_backward(backend, p, nonlinearity)
    return {"s": s, **g._asdict()}


def cell_outputs(backend, cell, p):
    states, g = cell_forward_backward(backend, cell, p)
    return {**states, **g._asdict()}


def lm_problem(rng):
    T, B, H, K = 4, 3, 5, 6
    return {
        "ids": rng.integers(0, K, (T, B)),
        "U": rng.standard_normal((H, K)),
        "dx": rng.standard_normal((T, B, H)),
        "s": rng.standard_normal((T, B, H)),
        "V": rng.standard_normal((K, H)),
        "c": rng.standard_normal(K),
        "targets": rng.integers(0, K, (T, B)),
        "mask": np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=bool),
    }


def lm_outputs(backend, p):
    loss = backend.softmax_loss(p["s"], p["V"], p["c"], p["targets"], p["mask"])
    return {
        "x": backend.embedding_forward(p["ids"], p["U"]),
        "dU": backend.embedding_backward(p["dx"], p["ids"], p["U"].shape[1]),
        "probs": backend.softmax_forward(p["s"], p["V"], p["c"]),
        **{f"loss.{k}": v for k, v in loss._asdict().items()},
    }


SIZES = (5, 3, 4, 6)  # T, B, D, H
KERNELS = ["rnn-tanh", "rnn-relu", "lstm", "gru", "embedding-softmax"]


def problem(kernel, rng):
    if kernel.startswith("rnn"):
        return rnn_problem(rng, *SIZES)
    if kernel in ("lstm", "gru"):
        return cell_problem(rng, kernel, *SIZES)
    return lm_problem(rng)


def outputs(kernel, backend, p):
    if kernel.startswith("rnn"):
        return rnn_outputs(backend, p, kernel.removeprefix("rnn-"))
    if kernel in ("lstm", "gru"):
        return cell_outputs(backend, kernel, p)
    return lm_outputs(backend, p)


@pytest.mark.parametrize("value", VALUES, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", KERNELS)
def test_non_finite_inputs_propagate_as_in_the_reference(kernel, dtype, value, rng):
    """One non-finite entry in each floating input in turn, at a random place."""
    p = problem(kernel, rng)
    for name, a in p.items():
        if a is None or a.dtype.kind != "f":
            continue
        q = {n: floats(v, dtype) for n, v in p.items()}
        q[name] = q[name].copy()
        q[name].flat[rng.integers(q[name].size)] = value
        with np.errstate(all="ignore"):
            want = outputs(kernel, reference, {n: floats(v, np.float64) for n, v in q.items()})
            got = outputs(kernel, fastrnn, q)
        if np.isnan(value):  # an Inf may vanish legitimately: tanh(inf) = 1, exp(-inf) = 0
            assert any(np.isnan(w).any() for w in want.values() if w is not None)
        assert_same_non_finite(got, want, dtype, f"{value} in {name}")


def floats(a, dtype):
    """a in dtype if it is a floating array, else a."""
    return a.astype(dtype) if a is not None and a.dtype.kind == "f" else a


def test_an_inf_gradient_at_an_inactive_relu_unit_gives_nan(rng):
    """Found by the fuzzer: rnn_backward's relu' selected (s > 0 ? g : 0) instead of
    multiplying, so an Inf arriving at a unit the relu had switched off vanished; the
    reference (and IEEE) make Inf * 0 a NaN."""
    p = rnn_problem(rng, 2, 2, 2, 2)
    s, cache = fastrnn.rnn_forward(p["x"], p["s0"], p["U"], p["W"], None, nonlinearity="relu")
    off = np.argwhere(s == 0)[0]
    ds = np.ones_like(s)
    ds[tuple(off)] = np.inf
    with np.errstate(invalid="ignore"):
        want = reference.rnn_backward(ds, reference.rnn_forward(
            p["x"], p["s0"], p["U"], p["W"], None, nonlinearity="relu")[1])  # fmt: skip
    got = fastrnn.rnn_backward(ds, cache)
    assert np.isnan(want.dx[off[0], off[1]]).all()
    assert_same_non_finite(got._asdict(), want._asdict(), np.float64, "inf at an inactive unit")


@pytest.mark.parametrize("backend", [fastrnn, reference], ids=["fast", "reference"])
def test_non_finite_logits_at_masked_steps_stay_out_of_dz(backend, rng):
    """Found by the fuzzer: the reference multiplied the masked steps' dz by 0, so a NaN
    logit there made their ds NaN; the kernel (and the docstring) set them to 0."""
    p = lm_problem(rng)
    p["s"][0, 2, 0] = np.inf  # step (0, 2) is masked: its logits are not finite
    with np.errstate(all="ignore"):
        out = backend.softmax_loss(p["s"], p["V"], p["c"], p["targets"], p["mask"])
    assert np.isfinite(out.loss)
    assert np.array_equal(out.ds[0, 2], np.zeros(5))


# ---- training -------------------------------------------------------------------------

CORPUS = "def add(a, b):\n    return a + b\n" * 8


def make_trainer():
    tokenizer = text.CharTokenizer.fit(CORPUS)
    model = fastrnn.RNNLM(tokenizer.vocab_size, 6, dtype=np.float64, seed=0)
    opt = optim.Adam(model.params, lr=0.01)
    return tokenizer, training.Trainer(model, opt, tokenizer.encode(CORPUS), seq_length=5,
                                       batch_size=2, seed=0)  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=["nan", "inf", "-inf"])
def test_a_non_finite_gradient_stops_training_without_touching_the_parameters(value, monkeypatch):
    _, trainer = make_trainer()
    trainer.train_step()
    model = trainer.model
    loss_and_grads = model.loss_and_grads

    def poisoned(*args, **kwargs):  # a finite loss, one gradient entry that is not
        out = loss_and_grads(*args, **kwargs)
        model.grads["rnn.weight_hh_l0"][1, 2] = value
        return out

    monkeypatch.setattr(model, "loss_and_grads", poisoned)
    before = {n: p.copy() for n, p in model.params.items()}
    state = {n: a.copy() for n, a in trainer.optimizer.state_dict().items()}
    with pytest.raises(training.TrainingError, match=r"gradient of rnn.weight_hh_l0 .* at step 2"):
        trainer.train_step()
    for n, p in model.params.items():
        np.testing.assert_array_equal(p, before[n], err_msg=n)
    for n, a in trainer.optimizer.state_dict().items():
        np.testing.assert_array_equal(a, state[n], err_msg=n)
    assert trainer.step_count == 1


def test_parameters_that_overflow_in_the_update_stop_training(monkeypatch):
    """Finite loss and gradients, but an update that leaves a parameter non-finite (a
    learning rate that takes it past the floating-point range)."""
    _, trainer = make_trainer()
    step = trainer.optimizer.step

    def overflowing(grads):
        step(grads)
        trainer.model.params["decoder.bias"][0] = np.inf

    monkeypatch.setattr(trainer.optimizer, "step", overflowing)
    with pytest.raises(training.TrainingError, match="decoder.bias is no longer finite after"):
        trainer.train_step()
    assert trainer.step_count == 0


def test_save_refuses_nan_weights_and_keeps_the_previous_checkpoint(tmp_path):
    tokenizer, trainer = make_trainer()
    path = tmp_path / "run.npz"
    checkpoint.save(path, trainer.model, tokenizer, trainer.optimizer, trainer.state())
    before = path.read_bytes()
    trainer.model.params["decoder.weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"param/decoder.weight holds NaN or Inf"):
        checkpoint.save(path, trainer.model, tokenizer, trainer.optimizer, trainer.state())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
