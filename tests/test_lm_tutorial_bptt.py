"""The one-call bptt of the tutorial's language model (``_kernels.tutorial_bptt``, C
``fastrnn_tutorial_bptt``): what ``compat.RNNNumpy.bptt`` runs on the C kernels in place
of its five kernel calls (embedding_forward, rnn_forward, softmax_loss, rnn_backward,
embedding_backward), which stay its plain twin and the path of any other backend. The
two must give the same numbers bit for bit; the oracle comparisons of the tutorial's
code are in test_compat_rnn_tutorial.py, the C-level ones in tests/c/test_tutorial_bptt.c."""

# ruff: noqa: NPY002  (RNNNumpy draws from NumPy's global legacy RandomState)

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import _kernels, reference
from fastrnn.compat import RNNNumpy, rnn_tutorial_rnnlm


def model_and_sentence(word_dim, hidden_dim, T, K, seed=0):
    np.random.seed(seed)
    model = RNNNumpy(word_dim, hidden_dim, K)
    model.W *= 3.0  # gradients reach back far enough for the window to matter
    rng = np.random.default_rng(seed)
    words = [int(w) for w in rng.integers(0, word_dim, size=T + 1)]
    words[2 % T] = words[0]  # a repeated word
    return model, words[:-1], words[1:]


def five_calls(model, x, y, monkeypatch):
    """model.bptt(x, y) through the five kernel calls (the fused call switched off)."""
    with monkeypatch.context() as m:
        m.setattr(rnn_tutorial_rnnlm, "_uses_c_kernels", lambda kernels: False)
        return [g.copy() for g in model.bptt(x, y)]


# (word_dim, hidden_dim, T): softmax_loss's thin path (4 to 24 rows, V of >= 100000
# elements) with H a multiple of 8 and not, and the BLAS path (small V, one row, 30 rows)
SIZES = [(8000, 100, 20), (12501, 9, 5), (2000, 64, 24), (40, 7, 9), (50, 6, 1), (3000, 40, 30)]


@pytest.mark.parametrize("K", [-1, 0, 3, 1000])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_one_call_equals_the_five_calls(size, K, monkeypatch):
    word_dim, hidden_dim, T = size
    model, x, y = model_and_sentence(word_dim, hidden_dim, T, K)
    want = five_calls(model, x, y, monkeypatch)
    got = model.bptt(x, y)
    for name, g, w in zip(("dLdU", "dLdV", "dLdW"), got, want, strict=True):
        assert g.dtype == np.float64 and g.flags.c_contiguous
        assert_array_equal(g, w, err_msg=name)


def test_the_bench_backend_module_takes_the_one_call(monkeypatch):
    """The bench binds RNNNumpy to the package ``fastrnn`` (the reference to
    ``fastrnn.reference``): the former runs the one call, the latter the five."""
    assert rnn_tutorial_rnnlm._uses_c_kernels(fastrnn)
    assert rnn_tutorial_rnnlm._uses_c_kernels(fastrnn._fast)
    assert not rnn_tutorial_rnnlm._uses_c_kernels(reference)
    calls = []
    monkeypatch.setattr(_kernels, "tutorial_bptt", lambda *a: calls.append(a) or 1 / 0)
    model, x, y = model_and_sentence(30, 5, 4, 4)
    with pytest.raises(ZeroDivisionError):
        model.bptt(x, y)
    assert len(calls) == 1


def test_rewritten_gradients_are_whole_after_any_change(monkeypatch):
    """dLdU and dLdV rewritten in place (dropped by the caller) come out as computed
    afresh, whatever the caller wrote into them before dropping them: the fused call
    zeroes dU while streaming V rather than relying on the columns it wrote last time."""
    model, x, y = model_and_sentence(8000, 100, 20, 4)
    want = five_calls(model, x, y, monkeypatch)
    dU, dV, _ = model.bptt(x, y)
    address = dU.__array_interface__["data"][0]
    dU += 1.0
    dV[:] = np.nan
    del dU, dV
    dU, dV, dW = model.bptt(x, y)
    assert dU.__array_interface__["data"][0] == address  # the same memory, rewritten
    for g, w in zip((dU, dV, dW), want, strict=True):
        assert_array_equal(g, w)


def direct_case(dtype, D=3000, H=40, T=6, B=2):
    rng = np.random.default_rng(3)
    U = rng.uniform(-0.3, 0.3, (H, D)).astype(dtype)
    V = rng.uniform(-0.3, 0.3, (D, H)).astype(dtype)
    W = rng.uniform(-0.3, 0.3, (H, H)).astype(dtype)
    ids, targets = rng.integers(0, D, (T, B)), rng.integers(0, D, (T, B))
    return ids, targets, U, V, W


def test_batch_of_sentences_and_float32():
    """B sentences at once (their gradients add up) against the reference's five kernels,
    in float64 to rounding and in float32 to float32's tolerance."""
    ids, targets, U, V, W = direct_case(np.float64)
    x = reference.embedding_forward(ids, U)
    s, cache = reference.rnn_forward(x, None, None, W)
    out = reference.softmax_loss(s, V, None, targets, reduction="sum")
    grads = reference.rnn_backward(out.ds, cache, truncate=2)
    want = (out.loss, reference.embedding_backward(grads.dx, ids, U.shape[1]), out.dV, grads.dW)
    loss, *got = _kernels.tutorial_bptt(ids, targets, U, V, W, 2)
    assert_allclose(loss, want[0], rtol=1e-12)
    for g, w in zip(got, want[1:], strict=True):
        assert_allclose(g, w, rtol=1e-11, atol=1e-13 * np.abs(w).max())
    loss32, *got32 = _kernels.tutorial_bptt(
        ids, targets, *(a.astype(np.float32) for a in (U, V, W)), 2
    )
    assert_allclose(loss32, want[0], rtol=1e-5)
    for g, w in zip(got32, want[1:], strict=True):
        assert g.dtype == np.float32
        assert_allclose(g, w, rtol=1e-3, atol=1e-4 * np.abs(w).max())


def test_bad_arguments_are_refused():
    ids, targets, U, V, W = direct_case(np.float64)
    dU, dV = np.empty_like(U), np.empty_like(V)
    call = _kernels.tutorial_bptt
    with pytest.raises(ValueError, match=r"ids must lie in \[0, D\)"):
        call(ids + U.shape[1], targets, U, V, W, 4)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, D\)"):
        call(ids, -targets - 1, U, V, W, 4)
    with pytest.raises(ValueError, match="targets must have shape"):
        call(ids, targets[:-1], U, V, W, 4)
    with pytest.raises(ValueError, match="V must have shape"):
        call(ids, targets, U, V[:-1], W, 4)
    with pytest.raises(ValueError, match="W must have shape"):
        call(ids, targets, U, V, W[:-1].copy(), 4)
    with pytest.raises(TypeError, match="truncate must be an int"):
        call(ids, targets, U, V, W, 2.5)
    with pytest.raises(ValueError, match="dU_out must have shape"):
        call(ids, targets, U, V, W, 4, dV, dV)
    with pytest.raises(ValueError, match="overlap none of"):
        call(ids, targets, U, V, W, 4, U, dV)
    with pytest.raises(ValueError, match="overlap none of"):
        call(ids, targets, U, V, W, 4, dU, V)
    with pytest.raises(ValueError, match="must not overlap"):
        call(ids, targets, U, V, W, 4, dU, dU.reshape(V.shape))
    with pytest.raises(ValueError):  # a read-only output
        dU.flags.writeable = False
        call(ids, targets, U, V, W, 4, dU, dV)
    # a huge window is exact BPTT, a negative one none
    dU.flags.writeable = True
    exact = call(ids, targets, U, V, W, ids.shape[0] - 1)
    for g, w in zip(call(ids, targets, U, V, W, 2**70), exact, strict=True):
        assert_array_equal(g, w)
    _, dU0, _, dW0 = call(ids, targets, U, V, W, -(2**70))
    assert not dU0.any() and not dW0.any()
