"""lstm_forward(..., last_c_only=True): c is the last cell state c_T (B,H), on both backends.

Inference (need_cache=False) is where it matters: the C kernel then holds two (B,H) cell
states instead of T of them (fastrnn_lstm_infer with every_c = 0). Its s and c_T must be
the very numbers of a call that returns every c; with a cache, c_T is a copy of the
cached c's last step. The layers use it when they need only the final states.
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
