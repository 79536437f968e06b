"""The language-model kernels: embedding lookup, softmax and the fused softmax loss.

Fast kernels (both dtypes) and the float32 reference against the float64 reference, the
reference against central finite differences, and the semantics both must share: repeated
ids, masks (down to a fully masked batch), reductions, huge logits, a many-to-one model.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import _float32_exact as float32_exact
from _helpers import assert_close, cast, numerical_gradient_of
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import reference

DTYPES = [np.float32, np.float64]
CANDIDATES = [
    pytest.param(fastrnn, np.float32, id="fast-float32"),
    pytest.param(fastrnn, np.float64, id="fast-float64"),
    pytest.param(reference, np.float32, id="reference-float32"),
]
# (T, B, H, K): sizes 1 and sizes off the vector widths.
SIZES = [(1, 1, 1, 1), (1, 1, 1, 2), (1, 3, 4, 5), (7, 1, 4, 5), (7, 3, 1, 5), (13, 5, 33, 70)]
LOSS_GRADS = ("ds", "dV", "dc")


def lm_problem(rng, T, B, H, K, masked=False) -> dict:
    """Float64 inputs of one output layer, exactly representable in float32: s (T,B,H) like
    tanh states, V (K,H), c (K,), targets (T,B) in [0, K), mask (T,B) or None."""
    p = {
        "s": np.tanh(rng.standard_normal((T, B, H))),
        "V": rng.standard_normal((K, H)) / np.sqrt(H),
        "c": 0.1 * rng.standard_normal(K),
    }
    p = {name: float32_exact(a) for name, a in p.items()}
    p["targets"] = rng.integers(0, K, size=(T, B))
    p["mask"] = rng.random((T, B)) < 0.7 if masked else None
    return p


def loss_of(backend, p, dtype=None, **kwargs):
    floats = {n: p[n] if dtype is None else p[n].astype(dtype) for n in ("s", "V", "c")}
    return backend.softmax_loss(
        floats["s"], floats["V"], floats["c"], p["targets"], p["mask"], **kwargs
    )


# ---- against the float64 reference ----------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("T, B, H, K", SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_softmax_loss_matches_float64_reference(
    impl, dtype, T, B, H, K, bias, masked, reduction, rng
):
    p = lm_problem(rng, T, B, H, K, masked)
    if not bias:
        p["c"] = None
    floats = cast({n: p[n] for n in ("s", "V", "c")}, dtype)
    got = impl.softmax_loss(**floats, targets=p["targets"], mask=p["mask"], reduction=reduction)
    want = reference.softmax_loss(
        p["s"], p["V"], p["c"], p["targets"], p["mask"], reduction=reduction
    )
    assert type(got.loss) is float
    assert_allclose(got.loss, want.loss, rtol=1e-12 if dtype == np.float64 else 1e-5)
    assert_close(got.ds, want.ds, dtype, "ds")
    assert_close(got.dV, want.dV, dtype, "dV")
    if bias:
        assert_close(got.dc, want.dc, dtype, "dc")
    else:
        assert got.dc is None


# Few rows against a large V (T*B from 4 to 24, V of >= 100000 elements, H >= 8): the C
# kernel's one pass over V in blocks of 8 rows (csrc/lm_impl.h, float64) with a running
# maximum per row. Rows of 1, 2 and 3 vectors, H of one vector, one and a half, many; K
# with a partial last block; logits that set a new maximum in every block ("growing"), and
# classes whose bias is -inf (no probability), the first blocks' included ("-inf").
THIN_SIZES = [(20, 1, 100, 8003), (4, 1, 8, 12501), (8, 3, 13, 7700), (3, 3, 24, 4167)]


@pytest.mark.parametrize("logits", ["plain", "growing", "-inf"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("T, B, H, K", THIN_SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_softmax_loss_few_rows_large_V(impl, dtype, T, B, H, K, masked, logits, rng):
    p = lm_problem(rng, T, B, H, K, masked)
    if logits == "growing":
        p["c"] = float32_exact(np.linspace(0.0, 40.0, K))
    elif logits == "-inf":
        banned = np.r_[np.arange(20), rng.choice(K, 100, replace=False)]
        p["c"][banned] = -np.inf
        allowed = np.setdiff1d(np.arange(K), banned)
        p["targets"] = rng.choice(allowed, size=(T, B))
    floats = cast({n: p[n] for n in ("s", "V", "c")}, dtype)
    got = impl.softmax_loss(**floats, targets=p["targets"], mask=p["mask"], reduction="sum")
    want = reference.softmax_loss(p["s"], p["V"], p["c"], p["targets"], p["mask"], reduction="sum")
    assert_allclose(got.loss, want.loss, rtol=1e-12 if dtype == np.float64 else 1e-5)
    for name in LOSS_GRADS:
        assert_close(getattr(got, name), getattr(want, name), dtype, name)


@pytest.mark.parametrize("T, B, H, K", SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_softmax_forward_matches_float64_reference(impl, dtype, T, B, H, K, rng):
    p = lm_problem(rng, T, B, H, K)
    want = reference.softmax_forward(p["s"], p["V"], p["c"])
    got = impl.softmax_forward(p["s"].astype(dtype), p["V"].astype(dtype), p["c"].astype(dtype))
    assert got.shape == (T, B, K)
    assert_close(got, want, dtype, "probs")
    assert_allclose(want.sum(axis=-1), 1, rtol=1e-14)
    no_bias = impl.softmax_forward(p["s"].astype(dtype), p["V"].astype(dtype))
    assert_close(no_bias, reference.softmax_forward(p["s"], p["V"]), dtype, "probs, c=None")


@pytest.mark.parametrize("T, B, H, K", SIZES)
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_embedding_matches_float64_reference(impl, dtype, T, B, H, K, rng):
    D = K  # a vocabulary of D tokens
    U = float32_exact(rng.standard_normal((H, D)))
    ids = rng.integers(0, D, size=(T, B))
    dx = float32_exact(rng.standard_normal((T, B, H)))
    x = impl.embedding_forward(ids, U.astype(dtype))
    assert_close(x, reference.embedding_forward(ids, U), dtype, "x")
    dU = impl.embedding_backward(dx.astype(dtype), ids, D)
    assert_close(dU, reference.embedding_backward(dx, ids, D), dtype, "dU")


def test_embedding_is_a_column_lookup(backend, rng):
    """x_t = U @ onehot(id_t), without building the one-hot vectors."""
    U = rng.standard_normal((4, 6))
    ids = np.array([[0, 5], [3, 3], [5, 1]])
    x = backend.embedding_forward(ids, U)
    onehot = np.eye(6)[ids]  # (T, B, D)
    assert_allclose(x, onehot @ U.T, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeated_ids_accumulate(backend, dtype, rng):
    H, D = 3, 5
    ids = np.array([[2, 2, 4], [2, 0, 4]])
    dx = rng.standard_normal((2, 3, H)).astype(dtype)
    dU = backend.embedding_backward(dx, ids, D)
    assert dU.dtype == dtype and dU.shape == (H, D)
    assert_allclose(dU[:, 2], dx[0, 0] + dx[0, 1] + dx[1, 0], rtol=1e-6)
    assert_allclose(dU[:, 4], dx[0, 2] + dx[1, 2], rtol=1e-6)
    assert_allclose(dU[:, 0], dx[1, 1], rtol=0)
    assert_array_equal(dU[:, [1, 3]], 0)  # ids that never occur


# ---- the reference against finite differences (float64) -------------------------------

GRAD_TOL = dict(rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_softmax_loss_gradients_match_finite_differences(masked, reduction, rng):
    p = lm_problem(rng, T=4, B=3, H=5, K=6, masked=masked)
    got = loss_of(reference, p, reduction=reduction)

    def loss():
        return loss_of(reference, p, reduction=reduction).loss

    for name, grad in (("s", got.ds), ("V", got.dV), ("c", got.dc)):
        assert_allclose(grad, numerical_gradient_of(loss, p[name]), **GRAD_TOL, err_msg=name)


def test_loss_is_the_negative_log_likelihood_of_the_probabilities(rng):
    p = lm_problem(rng, T=4, B=3, H=5, K=6, masked=True)
    probs = reference.softmax_forward(p["s"], p["V"], p["c"])
    picked = np.take_along_axis(probs, p["targets"][..., None], axis=-1)[..., 0]
    nll = -np.log(picked)[p["mask"]]
    assert_allclose(loss_of(reference, p, reduction="sum").loss, nll.sum(), rtol=1e-13)
    assert_allclose(loss_of(reference, p).loss, nll.mean(), rtol=1e-13)


def test_embedding_backward_matches_finite_differences(rng):
    """L = sum(G * embedding_forward(ids, U)) has dL/dU = embedding_backward(G, ids, D)."""
    ids = np.array([[1, 1], [0, 3], [1, 3]])
    U = rng.standard_normal((2, 4))
    G = rng.standard_normal((3, 2, 2))
    want = numerical_gradient_of(lambda: np.sum(G * reference.embedding_forward(ids, U)), U)
    assert_allclose(reference.embedding_backward(G, ids, 4), want, **GRAD_TOL)


# ---- semantics shared by both backends ------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_is_mean_times_the_number_of_unmasked_targets(backend, dtype, rng):
    p = lm_problem(rng, T=6, B=4, H=5, K=7, masked=True)
    n = int(p["mask"].sum())
    mean = loss_of(backend, p, dtype)
    total = loss_of(backend, p, dtype, reduction="sum")
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    assert_allclose(total.loss, n * mean.loss, rtol=rtol)
    for name in LOSS_GRADS:
        assert_allclose(getattr(total, name), n * getattr(mean, name), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mask_equals_dropping_the_masked_steps(backend, dtype, rng):
    """A masked loss over (T, B) is the loss over the unmasked steps alone, taken as a
    batch of single steps; masked steps get zero ds. Includes a fully masked batch row."""
    p = lm_problem(rng, T=6, B=4, H=5, K=7, masked=True)
    p["mask"][:, 2] = False  # a whole row of padding
    got = loss_of(backend, p, dtype)
    keep = p["mask"]
    kept = {
        "s": p["s"][keep][None],  # (1, n, H)
        "V": p["V"],
        "c": p["c"],
        "targets": p["targets"][keep][None],
        "mask": None,
    }
    want = loss_of(backend, kept, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    assert_allclose(got.loss, want.loss, rtol=rtol)
    assert_allclose(got.dV, want.dV, rtol=rtol, atol=1e-7)
    assert_allclose(got.dc, want.dc, rtol=rtol, atol=1e-7)
    assert_allclose(got.ds[keep], want.ds[0], rtol=rtol, atol=1e-7)
    assert_array_equal(got.ds[~keep], 0)


@pytest.mark.parametrize("mask_dtype", [bool, np.int8, np.float32, np.float64])
def test_mask_may_be_bool_integer_or_float(backend, mask_dtype, rng):
    p = lm_problem(rng, T=3, B=2, H=4, K=5, masked=True)
    want = loss_of(backend, p)
    got = loss_of(backend, {**p, "mask": p["mask"].astype(mask_dtype)})
    assert got.loss == want.loss
    assert_array_equal(got.ds, want.ds)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_batch_has_zero_loss_and_gradients(backend, dtype, reduction, rng):
    """The mean over no targets is defined as 0 (not NaN), with zero gradients, so that a
    batch of padding leaves the parameters alone."""
    p = lm_problem(rng, T=3, B=2, H=4, K=5)
    p["mask"] = np.zeros((3, 2), dtype=bool)
    got = loss_of(backend, p, dtype, reduction=reduction)
    assert got.loss == 0.0
    for name in LOSS_GRADS:
        g = getattr(got, name)
        assert g.dtype == dtype
        assert_array_equal(g, 0, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_logits_are_stable(backend, dtype, rng):
    """Logits in the thousands (exp overflows long before) give the exact loss and
    finite gradients: the softmax is max-shifted and the loss is a log-sum-exp."""
    p = lm_problem(rng, T=4, B=3, H=5, K=6)
    p["V"] *= 3000
    p["c"][0] = 1e4 if dtype == np.float64 else 1e3
    z = p["s"] @ p["V"].T + p["c"]
    picked = np.take_along_axis(z, p["targets"][..., None], axis=-1)[..., 0]
    lse = np.logaddexp.reduce(z, axis=-1)
    got = loss_of(backend, p, dtype, reduction="sum")
    assert np.isfinite(got.loss)
    assert_allclose(got.loss, np.sum(lse - picked), rtol=1e-12 if dtype == np.float64 else 1e-5)
    for name in LOSS_GRADS:
        assert np.isfinite(getattr(got, name)).all(), name
    probs = backend.softmax_forward(*(p[n].astype(dtype) for n in ("s", "V", "c")))
    assert np.isfinite(probs).all()
    assert_allclose(probs.sum(axis=-1), 1, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_is_accumulated_in_float64(backend, dtype):
    """With V = 0 every step's loss is log(K); a sum over 200000 steps keeps float64
    accuracy in float32 too (a float32 accumulator would be off by about 1e-3)."""
    T, B, H, K = 1000, 200, 2, 7
    s = np.ones((T, B, H), dtype=dtype)
    V = np.zeros((K, H), dtype=dtype)
    targets = np.zeros((T, B), dtype=np.int64)
    got = backend.softmax_loss(s, V, None, targets, reduction="sum")
    assert_allclose(got.loss, T * B * np.log(K), rtol=1e-7)


@pytest.mark.parametrize("how", ["mask", "slice"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_many_to_one_only_the_final_state_gets_a_gradient(backend, dtype, how, rng):
    """The article's sentiment example: one output after the last word. Masking every
    other step, or slicing out the last state, uses the same kernels and gives the same
    gradients; ds is zero except at the final state."""
    T, B, H, D, K = 6, 3, 4, 9, 2  # K = 2 classes
    U = rng.standard_normal((H, D)).astype(dtype)
    W = (0.5 * rng.standard_normal((H, H)) / np.sqrt(H)).astype(dtype)
    V = rng.standard_normal((K, H)).astype(dtype)
    c = rng.standard_normal(K).astype(dtype)
    ids = rng.integers(0, D, size=(T, B))
    labels = rng.integers(0, K, size=B)

    def gradients(how):
        x = backend.embedding_forward(ids, U)
        s, cache = backend.rnn_forward(x, None, None, W)
        if how == "mask":
            mask = np.zeros((T, B), dtype=bool)
            mask[-1] = True
            targets = np.zeros((T, B), dtype=np.int64)
            targets[-1] = labels
            out = backend.softmax_loss(s, V, c, targets, mask)
            ds = out.ds
        else:
            out = backend.softmax_loss(s[-1:], V, c, labels[None])
            ds = np.zeros_like(s)
            ds[-1] = out.ds[0]
        g = backend.rnn_backward(ds, cache)
        return out.loss, ds, out.dV, backend.embedding_backward(g.dx, ids, D), g.dW

    loss, ds, dV, dU, dW = gradients(how)
    assert_array_equal(ds[:-1], 0)
    assert np.abs(ds[-1]).min() > 0
    other = gradients("slice" if how == "mask" else "mask")
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    assert_allclose(loss, other[0], rtol=rtol)
    for got, want in zip((dV, dU, dW), other[2:], strict=True):
        assert_allclose(got, want, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_in_any_layout_and_integer_ids_of_any_width(backend, dtype, rng):
    p = lm_problem(rng, T=5, B=3, H=4, K=6, masked=True)
    want = loss_of(backend, p, dtype)
    relaid = {
        "s": np.asfortranarray(p["s"]),
        "V": p["V"][::-1][::-1].T.copy().T,  # Fortran order
        "c": np.repeat(p["c"], 2)[::2],  # strided
        "targets": np.asfortranarray(p["targets"].astype(np.uint8)),
        "mask": p["mask"].T.copy().T,
    }
    got = loss_of(backend, relaid, dtype)
    assert got.loss == want.loss
    for name in LOSS_GRADS:
        assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    ids = p["targets"].astype(np.int16).T  # non-contiguous
    U = rng.standard_normal((4, 6)).astype(dtype)
    assert_array_equal(
        backend.embedding_forward(ids, np.asfortranarray(U)),
        backend.embedding_forward(ids.astype(np.int64).copy(), U),
    )


def test_lists_become_float64(backend, rng):
    p = lm_problem(rng, T=2, B=2, H=3, K=4)
    got = backend.softmax_loss(
        p["s"].tolist(), p["V"].tolist(), p["c"].tolist(), p["targets"].tolist()
    )
    assert got.ds.dtype == np.float64
    assert backend.embedding_forward([[0, 1]], p["V"].T.tolist()).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_calls_equal_sequential_calls(dtype, rng):
    problems = [lm_problem(rng, 9, 4, 17, 30, masked=True) for _ in range(64)]

    def call(i):
        return loss_of(fastrnn, problems[i], dtype, reduction=("mean", "sum")[i % 2])

    sequential = [call(i) for i in range(len(problems))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(call, range(len(problems))))
    for got, want in zip(concurrent, sequential, strict=True):
        assert got.loss == want.loss
        for name in LOSS_GRADS:
            assert_array_equal(getattr(got, name), getattr(want, name))


# ---- bad input --------------------------------------------------------------------------

T, B, H, K = 4, 3, 5, 6


def good():
    return {
        "s": np.zeros((T, B, H)),
        "V": np.zeros((K, H)),
        "c": np.zeros(K),
        "targets": np.zeros((T, B), dtype=np.int64),
        "mask": None,
    }


LOSS_ERRORS = [
    (
        {"targets": np.zeros((T, B))},
        TypeError,
        "targets must be an array of integer token ids, shape (T, B); got dtype float64",
    ),
    ({"targets": np.zeros((T, B), dtype=bool)}, TypeError, "got dtype bool"),
    (
        {"targets": np.full((T, B), K)},
        ValueError,
        "targets must lie in [0, K) = [0, 6); got values from 6 to 6",
    ),
    ({"targets": np.full((T, B), -1)}, ValueError, "got values from -1 to -1"),
    (
        {"targets": np.zeros((T, B + 1), dtype=int)},
        ValueError,
        "targets must have shape (T, B) = (4, 3); got (4, 4)",
    ),
    (
        {"s": np.zeros((T, B))},
        ValueError,
        "s must have shape (T, B, H) (time-major) with T, B, H >= 1; got (4, 3)",
    ),
    (
        {"s": np.zeros((0, B, H)), "targets": np.zeros((0, B), dtype=int)},
        ValueError,
        "s must have shape (T, B, H) (time-major) with T, B, H >= 1; got (0, 3, 5)",
    ),
    (
        {"V": np.zeros((K, H + 1))},
        ValueError,
        "V must have shape (K, H) = (K, 5) with K >= 1 "
        "to match s (T, B, H) = (4, 3, 5); got (6, 6)",
    ),
    (
        {"c": np.zeros(K + 1)},
        ValueError,
        "c must have shape (K,) = (6,) to match V (K, H) = (6, 5); got (7,)",
    ),
    (
        {"mask": np.full((T, B), 0.5)},
        ValueError,
        "mask must hold only 0 and 1 (or False and True); got 0.5",
    ),
    ({"mask": np.ones((B, T))}, ValueError, "mask must have shape (T, B) = (4, 3); got (3, 4)"),
    ({"mask": np.array([["a"] * B] * T)}, TypeError, "mask must be a (T, B) array of 0/1 or bool"),
    (
        {"V": np.zeros((K, H), dtype=np.float32)},
        TypeError,
        "s has dtype float64 but V has dtype float32",
    ),
    ({"s": np.zeros((T, B, H), dtype=np.float16)}, TypeError, "s has dtype float16"),
]


@pytest.mark.parametrize("changes, error, message", LOSS_ERRORS)
def test_softmax_loss_rejects_bad_input(backend, changes, error, message):
    args = {**good(), **changes}
    with pytest.raises(error, match=re.escape(message)):
        backend.softmax_loss(**args)


def test_unknown_reduction(backend):
    with pytest.raises(ValueError, match=re.escape("reduction must be 'mean' or 'sum'; got 'avg'")):
        backend.softmax_loss(**good(), reduction="avg")


EMBEDDING_ERRORS = [
    (
        "forward",
        {"ids": np.zeros((T, B))},
        TypeError,
        "ids must be an array of integer token ids, shape (T, B); got dtype float64",
    ),
    (
        "forward",
        {"ids": np.full((T, B), K)},
        ValueError,
        "ids must lie in [0, D) = [0, 6); got values from 6 to 6",
    ),
    (
        "forward",
        {"ids": np.zeros(T, dtype=int)},
        ValueError,
        "ids must have shape (T, B) with T, B >= 1 (time-major); got (4,)",
    ),
    (
        "forward",
        {"U": np.zeros((H, 0))},
        ValueError,
        "U must have shape (H, D) with H, D >= 1; got (5, 0)",
    ),
    ("forward", {"U": np.zeros((H, K), dtype=complex)}, TypeError, "U has dtype complex128"),
    (
        "backward",
        {"ids": np.full((T, B), -3)},
        ValueError,
        "ids must lie in [0, D) = [0, 6); got values from -3 to -3",
    ),
    (
        "backward",
        {"ids": np.zeros((T, 1), dtype=int)},
        ValueError,
        "ids must have shape (T, B) = (4, 3); got (4, 1)",
    ),
    (
        "backward",
        {"dx": np.zeros((T, B))},
        ValueError,
        "dx must have shape (T, B, H) with T, B, H >= 1; got (4, 3)",
    ),
    ("backward", {"D": 0}, ValueError, "D must be an int >= 1; got 0"),
    ("backward", {"D": 6.0}, TypeError, "D must be an int >= 1; got 6.0"),
]


@pytest.mark.parametrize("which, changes, error, message", EMBEDDING_ERRORS)
def test_embedding_rejects_bad_input(backend, which, changes, error, message):
    if which == "forward":
        args = {"ids": np.zeros((T, B), dtype=int), "U": np.zeros((H, K)), **changes}
        call = backend.embedding_forward
    else:
        args = {"dx": np.zeros((T, B, H)), "ids": np.zeros((T, B), dtype=int), "D": K, **changes}
        call = backend.embedding_backward
    with pytest.raises(error, match=re.escape(message)):
        call(**args)


def test_raw_binding_checks_ids_and_shapes():
    """The binding repeats the checks, so that no call reaches C with an id that would
    index outside an array, or with mismatched shapes."""
    from fastrnn import _kernels as F

    z = np.zeros
    ids = np.zeros((T, B), dtype=np.int64)
    cases = [
        (lambda: F.embedding_forward(ids + K, z((H, K))), "ids must lie in [0, D) = [0, 6)"),
        (lambda: F.embedding_forward(ids - 1, z((H, K))), "ids must lie in [0, D) = [0, 6)"),
        (lambda: F.embedding_backward(z((T, B, H)), ids + K, K), "ids must lie in [0, D)"),
        (lambda: F.embedding_backward(z((T, B + 1, H)), ids, K), "dx must have shape (T, B, H)"),
        (
            lambda: F.embedding_forward(z((0, B), dtype=np.int64), z((H, K))),
            "ids must have shape (T, B) with T, B >= 1",
        ),
        (
            lambda: F.softmax_loss(z((T, B, H)), z((K, H)), None, ids + K, None, "mean"),
            "targets must lie in [0, K) = [0, 6)",
        ),
        (
            lambda: F.softmax_loss(z((T, B, H)), z((K, H)), None, ids[:, :1].copy(), None, "sum"),
            "targets must have shape (T, B) = (4, 3)",
        ),
        (
            lambda: F.softmax_loss(
                z((T, B, H)), z((K, H)), None, ids, z((T, 1), dtype=np.uint8), "sum"
            ),
            "mask must have shape",
        ),
        (
            lambda: F.softmax_loss(z((T, B, H)), z((K, H)), z(K + 1), ids, None, "sum"),
            "c must have shape (K,) = (6,)",
        ),
        (
            lambda: F.softmax_loss(z((T, B, H)), z((K, H)), None, ids, None, "max"),
            "reduction must be 'mean' or 'sum'",
        ),
        (lambda: F.softmax_forward(z((T, B, H)), z((K, H + 1)), None), "V must have shape"),
        (lambda: F.softmax_forward(z((T, B, 0)), z((K, 0)), None), "s must have shape"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            call()
