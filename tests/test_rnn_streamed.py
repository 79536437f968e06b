"""The RNN forward's streamed recurrence (W read in place, in the transposed domain).

From H = 512 and B = 16 on (csrc/rnn.c, forward_streams), the forward keeps two (H,B)
states as workspace instead of a packed copy of W. These shapes reach that path at its
edges (B not a multiple of a vector, H not a multiple of the kernel's row blocks) and
compare it with the float64 reference, inference and training; the kernel itself is
checked in tests/c/test_stream_gemm.c, and on small problems in tests/c/kernel_check.c.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import CANDIDATES, assert_close, cast, forward, rnn_problem

import fastrnn
from fastrnn import reference


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("T, B, D, H", [(3, 19, 7, 521), (2, 16, 5, 512), (2, 33, 3, 515)])
@pytest.mark.parametrize("impl, dtype", CANDIDATES[:2])
def test_streamed_forward_matches_float64_reference(impl, dtype, T, B, D, H, nonlinearity, rng):
    p = rnn_problem(rng, T, B, D, H)
    s_want, _ = forward(reference, p, nonlinearity)
    s, _ = forward(impl, cast(p, dtype), nonlinearity)
    assert_close(s, s_want, dtype, "s")
    s_inference, cache = forward(impl, cast(p, dtype), nonlinearity, need_cache=False)
    assert cache is None
    np.testing.assert_array_equal(s_inference, s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_forward_then_backward_matches_float64_reference(dtype, rng):
    p = rnn_problem(rng, 2, 17, 4, 513)
    s_want, cache_want = forward(reference, p)
    want = reference.rnn_backward(p["ds"], cache_want)
    s, cache = forward(fastrnn, cast(p, dtype))
    got = fastrnn.rnn_backward(p["ds"].astype(dtype), cache)
    assert_close(s, s_want, dtype, "s")
    for name in ("dx", "ds0", "dU", "dW", "db"):
        assert_close(getattr(got, name), getattr(want, name), dtype, name)
