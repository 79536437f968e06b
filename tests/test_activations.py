"""The kernels' vectorized tanh, sigmoid and exp (csrc/activations.c) against NumPy's."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastrnn import _kernels

ULP_BUDGET = 4  # measured worst cases are 2-3 ulp
DTYPES = [np.float32, np.float64]


def _numpy(function, x64):
    with np.errstate(over="ignore"):  # exp(x) beyond the float64 range is inf, as wanted
        if function == "tanh":
            return np.tanh(x64)
        if function == "sigmoid":  # the stable form: 1 / (1 + exp(-x)) is 0 for x < -709
            e = np.exp(-np.abs(x64))
            return np.where(x64 >= 0, 1 / (1 + e), e / (1 + e))
        return np.exp(x64)


def _samples(dtype, rng, function):
    wide = 110 if dtype == np.float32 else 760  # past both ends of exp's finite range
    parts = [
        rng.standard_normal(200_000) * 3,
        rng.uniform(-25, 25, 100_000),
        np.linspace(-1, 1, 100_001),
        np.linspace(0.29, 0.31, 10_001),  # tanh switches formulas at 0.3
        10.0 ** rng.uniform(-40, 2, 20_000),
        -(10.0 ** rng.uniform(-40, 2, 20_000)),
    ]
    if function != "tanh":
        parts.append(rng.uniform(-wide, wide, 100_000))
    return np.concatenate(parts).astype(dtype)


@pytest.mark.parametrize("function", ["tanh", "sigmoid", "exp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_within_a_few_ulp_of_numpy(function, dtype, rng):
    x = _samples(dtype, rng, function)
    got = _kernels.elementwise(function, x)
    assert got.dtype == dtype
    want = _numpy(function, x.astype(np.float64))
    finfo = np.finfo(dtype)
    overflow = np.abs(want) > finfo.max
    assert_array_equal(got[overflow], np.inf)
    normal = (np.abs(want) >= finfo.tiny) & ~overflow
    ulps = np.abs(got[normal] - want[normal]) / np.abs(want[normal]) / finfo.eps
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= ULP_BUDGET, f"{ulps[worst]:.2f} ulp at x = {x[normal][worst]!r}"
    # a subnormal result has fewer digits: count its error in units of the smallest one
    subnormal = ~normal & ~overflow
    error = np.abs(got[subnormal] - want[subnormal]) / finfo.smallest_subnormal
    assert np.all(error <= 2), float(error.max(initial=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e3, -1e3], dtype=dtype)
    tanh = _kernels.elementwise("tanh", x)
    assert_array_equal(tanh, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, -1.0])
    assert_array_equal(np.signbit(tanh[:2]), [False, True])
    assert_array_equal(_kernels.elementwise("sigmoid", x), [0.5, 0.5, 1, 0, np.nan, 1, 0])
    assert_array_equal(_kernels.elementwise("exp", x), [1, 1, np.inf, 0, np.nan, np.inf, 0])


@pytest.mark.parametrize("function", ["tanh", "sigmoid", "exp"])
@pytest.mark.parametrize("n", [0, 1, 3, 7, 8, 9, 15, 16, 17, 33])
def test_lengths_around_the_vector_width(function, n, rng):
    """The vectorized body and the scalar remainder of the loop agree."""
    x = rng.standard_normal(n)
    got = _kernels.elementwise(function, x)
    assert_array_equal(got, _kernels.elementwise(function, np.concatenate([x, [0.5]]))[:n])
    np.testing.assert_allclose(got, _numpy(function, x), rtol=1e-15, atol=0)


def test_unknown_function_raises():
    with pytest.raises(ValueError, match="function must be 'tanh', 'sigmoid' or 'exp'"):
        _kernels.elementwise("relu", np.zeros(3))
