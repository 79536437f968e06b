"""Output arrays the LM kernels of both backends write into (``out`` of
embedding_backward, ``dV_out`` of softmax_loss), and RNNNumpy.bptt rewriting the dLdU and
dLdV it returned last time once its caller has dropped them (and only then)."""

# ruff: noqa: NPY002  (RNNNumpy draws from NumPy's global legacy RandomState)

from __future__ import annotations

import copy
import pickle
import weakref

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastrnn.compat import RNNNumpy


def embedding_case(dtype=np.float64, T=5, B=2, H=3, D=11):
    rng = np.random.default_rng(0)
    return rng.standard_normal((T, B, H)).astype(dtype), rng.integers(0, D, (T, B)), D


def softmax_case(dtype=np.float64, T=4, B=2, H=3, K=9):
    rng = np.random.default_rng(1)
    s = rng.standard_normal((T, B, H)).astype(dtype)
    V = rng.standard_normal((K, H)).astype(dtype)
    return s, V, rng.integers(0, K, (T, B))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_out(backend, dtype):
    dx, ids, D = embedding_case(dtype)
    out = np.full((dx.shape[2], D), np.nan, dtype=dtype)  # overwritten, never accumulated
    got = backend.embedding_backward(dx, ids, D, out=out)
    assert got is out
    assert_array_equal(out, backend.embedding_backward(dx, ids, D))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_loss_dV_out(backend, dtype):
    s, V, targets = softmax_case(dtype)
    dV_out = np.full(V.shape, np.nan, dtype=dtype)
    got = backend.softmax_loss(s, V, None, targets, reduction="sum", dV_out=dV_out)
    want = backend.softmax_loss(s, V, None, targets, reduction="sum")
    assert got.dV is dV_out
    assert got.loss == want.loss
    assert_array_equal(got.ds, want.ds)
    assert_array_equal(got.dV, want.dV)


def test_bad_out_arrays_are_refused(backend):
    dx, ids, D = embedding_case()
    H = dx.shape[2]
    with pytest.raises(ValueError, match=r"out must have shape \(H, D\)"):
        backend.embedding_backward(dx, ids, D, out=np.empty((H, D + 1)))
    with pytest.raises(TypeError, match="out must be float64"):
        backend.embedding_backward(dx, ids, D, out=np.empty((H, D), dtype=np.float32))
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        backend.embedding_backward(dx, ids, D, out=[[0.0] * D] * H)
    with pytest.raises(ValueError, match="C-contiguous, writeable"):
        backend.embedding_backward(dx, ids, D, out=np.empty((D, H)).T)
    with pytest.raises(ValueError, match="C-contiguous, writeable"):  # read-only
        backend.embedding_backward(dx, ids, D, out=np.broadcast_to(0.0, (H, D)))
    s, V, targets = softmax_case()
    with pytest.raises(ValueError, match=r"dV_out must have shape \(K, H\)"):
        backend.softmax_loss(s, V, None, targets, dV_out=np.empty(V.shape[::-1]))
    with pytest.raises(ValueError, match="overlap"):
        backend.softmax_loss(s, V, None, targets, dV_out=V)
    K, H = V.shape
    mask = np.zeros(K * H * 8, dtype=np.uint8)[: targets.size].reshape(targets.shape)
    with pytest.raises(ValueError, match="overlap"):  # a mask inside dV_out's memory
        backend.softmax_loss(
            s, V, None, targets, mask, dV_out=mask.base.view(np.float64).reshape(K, H)
        )
    wide = np.zeros((H, D))
    ids_inside = wide.reshape(-1)[: ids.size].view(np.int64).reshape(ids.shape)
    with pytest.raises(ValueError, match="overlap"):  # ids inside out's memory
        backend.embedding_backward(dx, ids_inside, D, out=wide)


@pytest.fixture
def model():
    state = np.random.get_state()
    np.random.seed(3)
    yield RNNNumpy(50, 8, bptt_truncate=2)
    np.random.set_state(state)


SENTENCE = ([1, 4, 9, 4, 2], [4, 9, 4, 2, 7])
OTHER = ([3, 3, 8], [3, 8, 0])


def test_bptt_rewrites_dropped_gradients(model):
    want = [g.copy() for g in model.bptt(*OTHER)]
    dU, dV, _ = model.bptt(*SENTENCE)
    refs = weakref.ref(dU), weakref.ref(dV)
    del dU, dV
    again = model.bptt(*OTHER)
    assert again[0] is refs[0]() and again[1] is refs[1]()  # the same arrays, rewritten
    for g, w in zip(again, want, strict=True):
        assert_array_equal(g, w)


@pytest.mark.parametrize(
    "keep",
    [
        lambda g: [(g, None)],  # the list itself
        lambda g: [(g[0], lambda w: w[0])],  # dLdU
        lambda g: [(g[0][:, 2:], lambda w: w[0][:, 2:]), (g[1].T, lambda w: w[1].T)],  # views
        lambda g: [(memoryview(g[1]), lambda w: w[1])],  # an exported buffer
    ],
    ids=["list", "dLdU", "views", "memoryview"],
)
def test_bptt_never_rewrites_what_the_caller_holds(model, keep):
    first = model.bptt(*SENTENCE)
    want = [g.copy() for g in first]
    kept = keep(first)
    del first
    model.bptt(*OTHER)
    model.bptt(*OTHER)
    for piece, expected in kept:
        if expected is None:
            for g, w in zip(piece, want, strict=True):
                assert_array_equal(g, w)
        else:
            assert_array_equal(np.asarray(piece), expected(want))


def test_kept_gradients_keep_their_values(model):
    dU1, dV1, dW1 = model.bptt(*SENTENCE)
    want = dU1.copy(), dV1.copy()
    model.bptt(*OTHER)
    model.bptt(*OTHER)
    assert_array_equal(dU1, want[0])
    assert_array_equal(dV1, want[1])


def test_a_modified_and_dropped_gradient_is_rewritten_whole(model):
    want = [g.copy() for g in model.bptt(*OTHER)]
    dU, dV, _ = model.bptt(*SENTENCE)
    dU += 1.0  # gradient clipping, regularization: anything the caller does in place
    dV[:] = np.nan
    del dU, dV
    for g, w in zip(model.bptt(*OTHER), want, strict=True):
        assert_array_equal(g, w)


def test_pickled_and_copied_models_leave_the_gradients_behind(model):
    model.bptt(*SENTENCE)
    clone = pickle.loads(pickle.dumps(model))
    assert "_last_gradients" not in clone.__dict__
    assert "_last_gradients" not in copy.deepcopy(model).__dict__
    for g, w in zip(clone.bptt(*OTHER), model.bptt(*OTHER), strict=True):
        assert_array_equal(g, w)
