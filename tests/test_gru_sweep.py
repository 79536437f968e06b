"""The GRU's full BPTT sweep (csrc/gru_impl.h, gru_backward_sweep) against the float64
reference, on the sizes where its folded passes change course.

The sweep sums the bias gradients as it goes, CELL_ROW_BLOCK (64) rows at a time, so a
batch of more than 64 rows flushes its partial sums inside a step, and a batch that does
not divide 64 flushes across steps; its products with U run on U packed once T*B >= 128
(gru.c, gru_packs_U), over chunks of about 512 rows (cells.h). Both C precisions, with
and without biases, and with x the input projection itself (U None).
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import CELL_GRAD_NAMES, assert_close, cast, cell_backward, cell_forward, cell_problem

import fastrnn
from fastrnn import reference

# (T, B, D, H): flushes inside a step (B = 70, 130), across steps (B = 24), U packed with
# one chunk (8 x 24) and with three (20 x 70 = 1400 rows), D and H off the 16-lane width
SIZES = [(3, 70, 5, 9), (8, 24, 17, 6), (20, 70, 12, 20), (2, 130, 3, 4)]


@pytest.mark.parametrize("projected", [False, True], ids=["U", "U-None"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_full_sweep_matches_float64_reference(dtype, T, B, D, H, bias, projected, rng):
    p = cell_problem(rng, "gru", T, B, D, H, bias=bias)
    if projected:  # x is the input projection itself, (T, B, 3H)
        p["x"] = p["x"] @ p["U"].T
        p["U"] = None
    _, cache_want = cell_forward(reference, "gru", p)
    want = cell_backward(reference, "gru", p, cache_want)
    q = cast(p, dtype)
    _, cache = cell_forward(fastrnn, "gru", q)
    got = cell_backward(fastrnn, "gru", q, cache)
    for name in CELL_GRAD_NAMES["gru"]:
        if getattr(want, name) is None:
            assert getattr(got, name) is None, name
            continue
        assert_close(getattr(got, name), getattr(want, name), dtype, name)
