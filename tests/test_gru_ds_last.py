"""gru_backward(..., ds_last=): the final state's gradient added at the last step, on both
backends.

The layer's one-call backward can pass dh_n as ds_last instead of adding it to a (T,B,H)
copy of dout (training memory). The full BPTT starts its carried gradient at ds_last, the
windowed one adds it to its copy of ds: either way the results are bit for bit those of
adding ds_last to ds[-1].
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import CANDIDATES, DTYPES, assert_close, cast, cell_forward, cell_problem
from numpy.testing import assert_array_equal

from fastrnn import reference

# T = 1, the C driver's chunking edges, and T*B >= 128 rows (the GRU's products with U on
# U packed, gru.c), with biases and without.
SIZES = [(1, 1, 3, 2), (7, 3, 5, 4), (33, 4, 6, 5), (40, 8, 16, 32)]


def _grads_equal(got, want):
    for name in want._fields:
        if getattr(want, name) is None:
            assert getattr(got, name) is None, name
        else:
            assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("truncate", [None, 0, 2], ids=["full", "window-0", "window-2"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("T, B, D, H", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ds_last_equals_adding_it_to_ds(backend, dtype, T, B, D, H, bias, truncate, rng):
    """ds_last gives bit for bit what adding it to ds[-1] gives, and ds is not changed."""
    p = cast(cell_problem(rng, "gru", T, B, D, H, bias=bias), dtype)
    _, cache = cell_forward(backend, "gru", p)
    ds_last = rng.standard_normal((B, H)).astype(dtype)
    ds_added = p["ds"].copy()
    ds_added[-1] += ds_last
    want = backend.gru_backward(ds_added, cache, truncate=truncate)
    ds_before = p["ds"].copy()
    got = backend.gru_backward(p["ds"], cache, truncate=truncate, ds_last=ds_last)
    assert_array_equal(p["ds"], ds_before)
    _grads_equal(got, want)


@pytest.mark.parametrize("truncate", [None, 1], ids=["full", "window-1"])
def test_ds_last_with_token_input(backend, truncate, rng):
    """U=None (x is the projection itself, D = 3H): the same bits."""
    p = cell_problem(rng, "gru", 9, 2, 12, 4)
    p["U"] = None
    _, cache = cell_forward(backend, "gru", p)
    ds_last = rng.standard_normal((2, 4))
    ds_added = p["ds"].copy()
    ds_added[-1] += ds_last
    want = backend.gru_backward(ds_added, cache, truncate=truncate)
    _grads_equal(backend.gru_backward(p["ds"], cache, truncate=truncate, ds_last=ds_last), want)


def test_ds_last_none_changes_nothing(backend, rng):
    p = cell_problem(rng, "gru", 5, 3, 4, 6)
    _, cache = cell_forward(backend, "gru", p)
    _grads_equal(
        backend.gru_backward(p["ds"], cache, ds_last=None), backend.gru_backward(p["ds"], cache)
    )


@pytest.mark.parametrize("truncate", [None, 3], ids=["full", "window-3"])
@pytest.mark.parametrize("impl, dtype", CANDIDATES)
def test_ds_last_matches_float64_reference(impl, dtype, truncate, rng):
    p = cell_problem(rng, "gru", 13, 5, 17, 33)
    ds_last = rng.standard_normal((5, 33))
    _, cache_want = cell_forward(reference, "gru", p)
    want = reference.gru_backward(p["ds"], cache_want, truncate=truncate, ds_last=ds_last)
    q = cast(p, dtype)
    _, cache = cell_forward(impl, "gru", q)
    got = impl.gru_backward(q["ds"], cache, truncate=truncate, ds_last=ds_last.astype(dtype))
    for name in want._fields:
        assert_close(getattr(got, name), getattr(want, name), dtype, name)


def test_ds_last_as_a_list_or_non_contiguous(backend, rng):
    """An untyped list and a non-contiguous view are converted like any gradient."""
    p = cell_problem(rng, "gru", 4, 2, 3, 5)
    _, cache = cell_forward(backend, "gru", p)
    ds_last = rng.standard_normal((5, 2)).T  # (2, 5), not C-contiguous
    want = backend.gru_backward(p["ds"], cache, ds_last=np.ascontiguousarray(ds_last))
    _grads_equal(backend.gru_backward(p["ds"], cache, ds_last=ds_last), want)
    _grads_equal(backend.gru_backward(p["ds"], cache, ds_last=ds_last.tolist()), want)


def test_ds_last_of_the_wrong_shape_or_dtype_is_refused(backend, rng):
    p = cell_problem(rng, "gru", 3, 2, 4, 5)
    _, cache = cell_forward(backend, "gru", p)
    for shape in [(3, 2, 5), (5, 2), (2, 4), (10,)]:
        with pytest.raises(ValueError, match=r"ds_last must have shape \(B, H\) = \(2, 5\)"):
            backend.gru_backward(p["ds"], cache, ds_last=np.zeros(shape))
    with pytest.raises(TypeError, match="ds_last has dtype float32"):
        backend.gru_backward(p["ds"], cache, ds_last=np.zeros((2, 5), np.float32))
