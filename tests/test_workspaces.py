"""The binding's cached workspaces (_gated.pxi): reused by a thread's next call, dropped on
request (benches/bench_memory.py drops them so that a measured call counts its own)."""

from __future__ import annotations

import numpy as np

import fastrnn
from fastrnn import _kernels


def _lstm_inference(rng):
    T, B, D, H = 3, 2, 4, 5
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    s0 = np.zeros((B, H), np.float32)
    U = rng.standard_normal((4 * H, D)).astype(np.float32)
    W = rng.standard_normal((4 * H, H)).astype(np.float32)
    return fastrnn.lstm_forward(x, s0, s0.copy(), U, W, need_cache=False)


def test_release_workspaces_drops_the_cache_and_later_calls_agree():
    first = _lstm_inference(np.random.default_rng(7))
    assert vars(_kernels._scratch), "a gated call keeps its small workspace"
    _kernels.release_workspaces()
    assert not vars(_kernels._scratch)
    again = _lstm_inference(np.random.default_rng(7))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
