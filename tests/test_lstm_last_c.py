"""lstm_forward(..., last_c_only=True): c is the last cell state c_T (B,H); lstm_backward(...,
ds_last=, dc_last=): the final states' gradients added at the last step. Both backends.

Inference (need_cache=False) is where it matters: the C kernel then holds two (B,H) cell
states instead of T of them (fastrnn_lstm_infer with every_c = 0). Its s and c_T must be
the very numbers of a call that returns every c; with a cache, c_T is a copy of the
cached c's last step. The layers use it when they need only the final states.
The layer's one-call backward passes dh_n and dc_n as ds_last and dc_last instead of
adding them to a (T,B,H) copy of dout (training memory).
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import CANDIDATES, DTYPES, assert_close, cast, cell_forward, cell_problem
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import reference

# T even and odd (the kernel's two buffers alternate, c_T lands in the output either way),
# T = 1, and sizes whose inference projects the input in several chunks (cells.h).
SIZES = [(1, 1, 3, 2), (2, 3, 5, 4), (7, 3, 5, 4), (8, 1, 4, 3), (301, 2, 3, 5), (45, 13, 6, 4)]


@pytest.mark.parametrize("need_cache", [False, True], ids=["inference", "cache"])
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_last_c_is_the_last_step_of_every_c(backend, dtype, T, B, D, H, need_cache, rng):
    p = cast(cell_problem(rng, "lstm", T, B, D, H), dtype)
    every, _ = cell_forward(backend, "lstm", p, need_cache=need_cache)
    last, cache = cell_forward(backend, "lstm", p, need_cache=need_cache, last_c_only=True)
    assert last["c"].shape == (B, H)
    assert last["c"].dtype == dtype
    assert_array_equal(last["s"], every["s"])
    assert_array_equal(last["c"], every["c"][-1])
    if need_cache:  # the cache keeps every step's c for backward, apart from c_T's copy
        assert cache.c.shape == (T, B, H)
        assert not np.shares_memory(cache.c, last["c"])
    else:
        assert cache is None


@pytest.mark.parametrize("projected", [False, True], ids=["U", "U-None"])
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_last_c_matches_float64_reference(impl, dtype, projected, rng):
    p = cell_problem(rng, "lstm", 45, 13, 6, 4)
    if projected:  # x is the input projection itself, (T, B, 4H)
        p["x"] = p["x"] @ p["U"].T
        p["U"] = None
    want, _ = cell_forward(reference, "lstm", p)
    got, _ = cell_forward(impl, "lstm", cast(p, dtype), need_cache=False, last_c_only=True)
    assert_close(got["s"], want["s"], dtype, "s")
    assert_close(got["c"], want["c"][-1], dtype, "c")


@pytest.mark.parametrize("module", [fastrnn, reference], ids=["fast", "reference"])
@pytest.mark.parametrize(
    "layers, bidirectional, lengths",
    [(1, False, None), (2, True, None), (1, False, [5, 3, 1])],
    ids=["one-call", "stacked", "lengths"],
)
def test_layer_inference_gives_the_final_states_of_training(module, layers, bidirectional, lengths):
    """The layer's inference call (which asks the kernels for c_T only where it can) and
    its training call return the same out, h_n and c_n."""
    rng = np.random.default_rng(7)
    lstm = module.LSTM(
        4, 3, num_layers=layers, bidirectional=bidirectional, seed=1, dtype=np.float64
    )
    x = rng.standard_normal((5, 3, 4))
    out_t, (h_t, c_t) = lstm(x, lengths=lengths)
    out_i, (h_i, c_i) = lstm(x, lengths=lengths, need_cache=False)
    assert_array_equal(out_i, out_t)
    assert_array_equal(h_i, h_t)
    assert_array_equal(c_i, c_t)


# ---- lstm_backward(..., ds_last=, dc_last=): the final states' gradients -------------


@pytest.mark.parametrize("truncate", [None, 2], ids=["full", "window-2"])
@pytest.mark.parametrize("with_dc", [False, True], ids=["dc-None", "dc"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_last_step_gradients_equal_adding_them_to_ds_and_dc(backend, dtype, with_dc, truncate, rng):
    """ds_last and dc_last give bit for bit what adding them to ds[-1] and dc[-1] gives."""
    p = cast(cell_problem(rng, "lstm", 7, 3, 5, 4), dtype)
    _, cache = cell_forward(backend, "lstm", p)
    ds_last = rng.standard_normal((3, 4)).astype(dtype)
    dc_last = rng.standard_normal((3, 4)).astype(dtype)
    dc = p["dc"] if with_dc else None
    ds_added = p["ds"].copy()
    ds_added[-1] += ds_last
    dc_added = np.zeros_like(p["ds"]) if dc is None else dc.copy()
    dc_added[-1] += dc_last
    want = backend.lstm_backward(ds_added, cache, dc=dc_added, truncate=truncate)
    ds_before = p["ds"].copy()
    got = backend.lstm_backward(
        p["ds"], cache, dc=dc, truncate=truncate, ds_last=ds_last, dc_last=dc_last
    )
    assert_array_equal(p["ds"], ds_before)  # ds is not changed in place
    for name in want._fields:
        if getattr(want, name) is None:
            assert getattr(got, name) is None
        else:
            assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_last_step_gradients_match_float64_reference(impl, dtype, rng):
    p = cell_problem(rng, "lstm", 13, 5, 17, 33)
    last = {"ds_last": rng.standard_normal((5, 33)), "dc_last": rng.standard_normal((5, 33))}
    _, cache_want = cell_forward(reference, "lstm", p)
    want = reference.lstm_backward(p["ds"], cache_want, dc=p["dc"], **last)
    q = cast(p, dtype)
    _, cache = cell_forward(impl, "lstm", q)
    got = impl.lstm_backward(
        q["ds"], cache, dc=q["dc"], **{k: v.astype(dtype) for k, v in last.items()}
    )
    for name in want._fields:
        assert_close(getattr(got, name), getattr(want, name), dtype, name)


@pytest.mark.parametrize("name", ["ds_last", "dc_last"])
def test_last_step_gradient_of_the_wrong_shape_or_dtype_is_refused(backend, name, rng):
    p = cell_problem(rng, "lstm", 3, 2, 4, 5)
    _, cache = cell_forward(backend, "lstm", p)
    with pytest.raises(ValueError, match=rf"{name} must have shape \(B, H\) = \(2, 5\)"):
        backend.lstm_backward(p["ds"], cache, **{name: np.zeros((3, 2, 5))})
    with pytest.raises(TypeError, match=f"{name} has dtype float32"):
        backend.lstm_backward(p["ds"], cache, **{name: np.zeros((2, 5), np.float32)})
