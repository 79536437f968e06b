"""The RNN kernels at sizes around the packed products' blocking (csrc/packed_gemm.c).

With AVX-512, the per-step products run on W packed once per call: rows in blocks of up to
6 (1 to 3 rows in one block), panels of 16 floats or 8 doubles taken 4 or 8 at a time,
k in chunks of 128. The shapes below put B and H on each side of those edges, and the
results must agree with the float64 reference as everywhere else (the plain-loop twin of
the products is checked in C by tests/c/test_packed_gemm.c).
"""

from __future__ import annotations

import pytest
from _helpers import DTYPES, GRAD_NAMES, assert_close, cast, forward, rnn_problem

import fastrnn
from fastrnn import reference

# (T, B, D, H): batches of 1..3 rows (one block), 4..7 and 13, 16 (several blocks of
# unequal sizes); H on a panel edge (16), one past it (17), off both widths (100), and past
# one chunk of k (129, 150).
SHAPES = [
    (4, 1, 3, 16),
    (4, 2, 5, 17),
    (3, 3, 7, 100),
    (3, 4, 2, 33),
    (3, 7, 5, 24),
    (2, 13, 3, 129),
    (2, 16, 9, 64),
    (2, 1, 4, 150),
    (16, 1, 3, 16),  # one row packs from 16 steps on (fewer run GEMV on W as it is)
    (20, 1, 4, 150),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T, B, D, H", SHAPES)
def test_rnn_matches_reference_around_the_blocking(T, B, D, H, dtype, rng):
    p = rnn_problem(rng, T, B, D, H)
    s_want, cache_want = forward(reference, p)
    s, cache = forward(fastrnn, cast(p, dtype))
    assert_close(s, s_want, dtype, "s")
    for K in (None, 1):  # full BPTT packs W; a window takes the lag-by-lag GEMMs
        want = reference.rnn_backward(p["ds"], cache_want, truncate=K)
        got = fastrnn.rnn_backward(p["ds"].astype(dtype), cache, truncate=K)
        for name in GRAD_NAMES:
            assert_close(getattr(got, name), getattr(want, name), dtype, f"{name} K={K}")
