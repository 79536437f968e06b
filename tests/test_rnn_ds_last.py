"""rnn_backward's ds_last (the gradient on the final state, added by the kernel) and its
chunked full BPTT, against the float64 reference.

ds_last must give what ds with ds[-1] + ds_last gives, in both backends, for full and
truncated BPTT, without touching ds; the layer passes its dh_n that way. The C kernel keeps
da for a chunk of steps only (rnn.c, backward_chunk_steps): a problem of more than 1M
elements of states and more than 512 rows is split into several chunks, checked here
against the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import (
    CANDIDATES,
    DTYPES,
    GRAD_NAMES,
    TOL,
    assert_close,
    cast,
    forward,
    rnn_problem,
)
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import reference


def with_last(ds: np.ndarray, ds_last: np.ndarray) -> np.ndarray:
    added = ds.copy()
    added[-1] += ds_last
    return added


@pytest.mark.parametrize("truncate", [None, 0, 2, 100])
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_ds_last_equals_adding_it_to_the_last_step(impl, dtype, truncate, rng):
    p = rnn_problem(rng, T=7, B=3, D=5, H=20)
    ds_last = rng.standard_normal((3, 20)).astype(np.float32).astype(np.float64)
    _, cache_want = forward(reference, p)
    want = reference.rnn_backward(with_last(p["ds"], ds_last), cache_want, truncate=truncate)
    _, cache = forward(impl, cast(p, dtype))
    ds = p["ds"].astype(dtype)
    ds_before = ds.copy()
    got = impl.rnn_backward(ds, cache, truncate=truncate, ds_last=ds_last.astype(dtype))
    assert_array_equal(ds, ds_before, err_msg="ds was changed")
    for name in GRAD_NAMES:
        assert_close(getattr(got, name), getattr(want, name), dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ds_last_in_the_kernel_is_bit_identical_to_the_sum(dtype, rng):
    """The kernel forms ds[-1] + ds_last where it reads ds[-1]: the same numbers."""
    p = cast(rnn_problem(rng, T=9, B=4, D=6, H=24), dtype)
    ds_last = rng.standard_normal((4, 24)).astype(dtype)
    _, cache = forward(fastrnn, p)
    for truncate in (None, 3):
        got = fastrnn.rnn_backward(p["ds"], cache, truncate=truncate, ds_last=ds_last)
        want = fastrnn.rnn_backward(with_last(p["ds"], ds_last), cache, truncate=truncate)
        for name in GRAD_NAMES:
            assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_ds_last_none_changes_nothing(backend, rng):
    p = rnn_problem(rng, T=5, B=2, D=3, H=4)
    _, cache = forward(backend, p)
    got = backend.rnn_backward(p["ds"], cache, ds_last=None)
    want = backend.rnn_backward(p["ds"], cache)
    for name in GRAD_NAMES:
        assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_ds_last_is_checked(backend, rng):
    p = rnn_problem(rng, T=5, B=2, D=3, H=4)
    _, cache = forward(backend, p)
    with pytest.raises(ValueError, match=r"ds_last must have shape \(B, H\) = \(2, 4\)"):
        backend.rnn_backward(p["ds"], cache, ds_last=np.zeros((4, 2)))
    with pytest.raises(TypeError, match="ds_last has dtype float32"):
        backend.rnn_backward(p["ds"], cache, ds_last=np.zeros((2, 4), np.float32))
    # a list, or a non-contiguous view, is converted like any other argument
    ds_last = rng.standard_normal((4, 2)).T
    got = backend.rnn_backward(p["ds"], cache, ds_last=ds_last.tolist())
    want = backend.rnn_backward(p["ds"], cache, ds_last=ds_last)
    for name in GRAD_NAMES:
        assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("projected", [False, True], ids=["U", "U=None"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_full_bptt_matches_reference(dtype, projected, bias, rng):
    """T*B*H = 9 x 130 x 1024 elements over 1170 rows: chunks of 5, then 4 steps. Sums over
    hundreds of rows of sizeable terms: atol scales with the largest entry (float32 ends
    ~1e-6 of it away)."""
    T, B, H = 9, 130, 1024
    D = H if projected else 40
    p = rnn_problem(rng, T, B, D, H, bias=bias)
    if projected:
        p["U"] = None
    ds_last = rng.standard_normal((B, H)).astype(np.float32).astype(np.float64)
    _, cache_want = forward(reference, p)
    want = reference.rnn_backward(p["ds"], cache_want, ds_last=ds_last)
    _, cache = forward(fastrnn, cast(p, dtype))
    got = fastrnn.rnn_backward(p["ds"].astype(dtype), cache, ds_last=ds_last.astype(dtype))
    for name in GRAD_NAMES:
        if getattr(want, name) is None or (name == "db" and not bias):
            assert getattr(got, name) is None, name
            continue
        w = getattr(want, name)
        tol = TOL[dtype]
        assert getattr(got, name).dtype == dtype
        assert_allclose(getattr(got, name), w, rtol=tol["rtol"],
                        atol=tol["atol"] * max(1.0, np.abs(w).max()), err_msg=name)  # fmt: skip


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_layer_passes_dh_n_without_touching_dout(batched, rng):
    """fastrnn.RNN.backward(dout, dh_n) gives the reference layer's gradients, dout
    unchanged."""
    shape = (6, 3, 5) if batched else (6, 5)
    x = rng.standard_normal(shape)
    dout = rng.standard_normal(shape[:-1] + (8,))
    dh_n = rng.standard_normal((1, 3, 8) if batched else (1, 8))
    results = []
    for module in (reference, fastrnn):
        layer = module.RNN(5, 8, dtype=np.float64)
        if results:
            layer.load_state_dict(results[0][0])
        out, h_n = layer(x)
        dout_before = dout.copy()
        dx, dh0 = layer.backward(dout, dh_n)
        assert_array_equal(dout, dout_before, err_msg="dout was changed")
        results.append((layer.state_dict(), dx, dh0, layer.grads))
    (_, dx_want, dh0_want, g_want), (_, dx, dh0, g) = results
    assert_close(dx, dx_want, np.float64, "dx")
    assert_close(dh0, dh0_want, np.float64, "dh0")
    for name in g_want:
        assert_close(g[name], g_want[name], np.float64, name)
