"""The kernels' vectorized tanh (csrc/activations.c) against NumPy's."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastrnn import _kernels

ULP_BUDGET = 4  # measured worst case: 2.6 ulp (float64), 2.2 ulp (float32)


def _samples(dtype, rng):
    parts = [
        rng.standard_normal(200_000) * 3,
        rng.uniform(-25, 25, 100_000),
        np.linspace(-1, 1, 100_001),
        np.linspace(0.29, 0.31, 10_001),  # around the switch between the two formulas
        10.0 ** rng.uniform(-40, 2, 20_000),
        -(10.0 ** rng.uniform(-40, 2, 20_000)),
    ]
    return np.concatenate(parts).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_within_a_few_ulp_of_numpy(dtype, rng):
    x = _samples(dtype, rng)
    got = _kernels.tanh(x)
    assert got.dtype == dtype
    want = np.tanh(x.astype(np.float64))
    tiny = np.finfo(dtype).tiny
    ulps = np.abs(got - want) / np.maximum(np.abs(want), tiny) / np.finfo(dtype).eps
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= ULP_BUDGET, f"{ulps[worst]:.2f} ulp at x = {x[worst]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_special_values(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e3, -1e3], dtype=dtype)
    got = _kernels.tanh(x)
    assert_array_equal(got, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, -1.0])
    assert_array_equal(np.signbit(got[:2]), [False, True])


@pytest.mark.parametrize("n", [0, 1, 3, 7, 8, 9, 15, 16, 17, 33])
def test_tanh_lengths_around_the_vector_width(n, rng):
    x = rng.standard_normal(n)
    assert_array_equal(_kernels.tanh(x), _kernels.tanh(np.concatenate([x, [0.5]]))[:n])
    np.testing.assert_allclose(_kernels.tanh(x), np.tanh(x), rtol=1e-15, atol=0)
