"""The kernels' vectorized tanh, sigmoid and exp (csrc/activations.h) against NumPy's.

tools/check_activations.c checks every float32 (too slow for the suite); here, samples
and an even sweep of bit patterns over every binade of both signs."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastrnn import _kernels

# measured worst cases over every float32 with AVX-512 (tools/check_activations.c; every
# 17th with AVX2 and baseline x86-64, which has no FMA): tanh 2.5 (2.8 on baseline x86-64),
# sigmoid 1.8, exp 0.8 (1.0); float64 2-3
ULP_BUDGET = 4
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


def _assert_within_budget(function, x, got):
    """got within ULP_BUDGET relative (in eps) of NumPy in float64 where the result is
    normal, within 2 smallest subnormals where it is subnormal, inf where it overflows,
    NaN where x is NaN."""
    dtype = x.dtype
    assert got.dtype == dtype
    nan = np.isnan(x)
    assert np.all(np.isnan(got[nan])), x[nan & ~np.isnan(got)][:5]
    x, got = x[~nan], got[~nan]
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


@pytest.mark.parametrize("function", ["tanh", "sigmoid", "exp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_within_a_few_ulp_of_numpy(function, dtype, rng):
    x = _samples(dtype, rng, function)
    _assert_within_budget(function, x, _kernels.elementwise(function, x))


def _bit_patterns(dtype, count=1 << 22):
    """count values evenly spread over the type's bit patterns (an odd step, so that the
    low mantissa bits vary too): every binade of both signs, subnormals, +-inf, NaNs."""
    bits = np.uint64 if dtype == np.float64 else np.uint32
    width = 64 if dtype == np.float64 else 32
    step = (1 << width) // count | 1
    patterns = np.arange(count, dtype=np.uint64) * np.uint64(step)
    ends = np.array([0, 1, (1 << (width - 1)) - 1, 1 << (width - 1), (1 << width) - 1], np.uint64)
    swept = np.concatenate([patterns, ends]).astype(bits).view(dtype)
    return np.concatenate([swept, np.array([np.inf, -np.inf], dtype)])


@pytest.mark.parametrize("function", ["tanh", "sigmoid", "exp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_pattern_sweep(function, dtype):
    x = _bit_patterns(dtype)
    assert np.isnan(x).any() and np.isinf(x).any() and (np.abs(x) < np.finfo(dtype).tiny).any()
    _assert_within_budget(function, x, _kernels.elementwise(function, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_inputs(dtype):
    tiny = np.finfo(dtype).smallest_subnormal * np.array([1, 3, 1000, -1, -77], dtype=dtype)
    assert_array_equal(_kernels.elementwise("tanh", tiny), tiny)  # tanh(x) = x there
    assert_array_equal(_kernels.elementwise("sigmoid", tiny), 0.5)
    assert_array_equal(_kernels.elementwise("exp", tiny), 1.0)


def test_float32_tanh_reaches_one():
    """Past 9.1 the float tanh is 1 by selection, below it the rational fit: both sides of
    the switch, including where tanh rounds to 1 in float (x >= 9.011)."""
    x = np.linspace(8.9, 9.3, 40_001, dtype=np.float32)
    got = _kernels.elementwise("tanh", x)
    _assert_within_budget("tanh", x, got)
    assert_array_equal(got[x > 9.1], 1.0)
    assert_array_equal(_kernels.elementwise("tanh", -x), -got)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ranges(dtype):
    """tanh within [-1, 1], sigmoid within [0, 1], exp non-negative, whatever rounding."""
    x = _bit_patterns(dtype)
    x = x[~np.isnan(x)]
    assert np.all(np.abs(_kernels.elementwise("tanh", x)) <= 1)
    sigmoid = _kernels.elementwise("sigmoid", x)
    assert np.all((sigmoid >= 0) & (sigmoid <= 1))
    assert np.all(_kernels.elementwise("exp", x) >= 0)


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
