"""Inference of the gated cells in the transposed domain (csrc/cells.h cell_streams: B >= 64
and H >= 512), against the float64 reference.

There the C kernels run gates.T = U @ x_t.T + W @ s_{t-1}.T with the batch on the columns
and W read in place (csrc/stream_gemm.h), then transpose the states back; these sizes sit
at that path's edges: B at the threshold and off every vector width, H off 16, D small
and larger than H, U None (x the projection itself), no biases, c_T only, T = 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import DTYPES, assert_close, cast, cell_forward, cell_problem
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import reference

# (T, B, D, H)
SIZES = [(3, 64, 5, 512), (2, 65, 600, 520), (1, 79, 7, 512), (2, 96, 3, 513)]


@pytest.fixture(params=["lstm", "gru"])
def cell(request):
    return request.param


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("projected", [False, True], ids=["U", "U-None"])
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_streamed_inference_matches_float64_reference(
    cell, dtype, T, B, D, H, projected, bias, rng
):
    p = cell_problem(rng, cell, T, B, D, H, bias=bias)
    if projected:  # x is the input projection itself, (T, B, G*H)
        p["x"] = p["x"] @ p["U"].T
        p["U"] = None
    want, _ = cell_forward(reference, cell, p)
    got, cache = cell_forward(fastrnn, cell, cast(p, dtype), need_cache=False)
    assert cache is None
    for name, a in want.items():
        assert_close(got[name], a, dtype, name)
    if cell == "lstm":  # c_T only: the same s, and c_T the last of every c, bit for bit
        last, _ = cell_forward(fastrnn, cell, cast(p, dtype), need_cache=False, last_c_only=True)
        assert_array_equal(last["s"], got["s"])
        assert_array_equal(last["c"], got["c"][-1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_streamed_inference_agrees_with_the_training_forward(cell, dtype, rng):
    p = cast(cell_problem(rng, cell, 4, 70, 9, 512), dtype)
    with_cache, _ = cell_forward(fastrnn, cell, p)
    inference, _ = cell_forward(fastrnn, cell, p, need_cache=False)
    for name, a in with_cache.items():
        assert_close(inference[name], a.astype(np.float64), dtype, name)
