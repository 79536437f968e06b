"""Tests of the layer class RNN, ``fastrnn.RNN`` (C kernels) and ``fastrnn.reference.RNN``.

The oracle is the float64 reference class, itself checked against central finite
differences; torch.nn.RNN (float64), when importable, checks the PyTorch conventions the
class promises: parameter names, shapes and order, layouts, outputs and every gradient.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import numerical_gradient_of
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import reference

MODULES = [reference, fastrnn]
MODULE_IDS = ["reference", "fast"]
DTYPES = [np.float32, np.float64]

# Fast kernels against the float64 reference: float64 agrees to ~1e-12 relative, float32
# to ~1e-5 (values and gradients here are O(1)-O(10), hence the small absolute floor).
_TOL = {
    np.float32: dict(rtol=1e-5, atol=1e-5),
    np.float64: dict(rtol=1e-12, atol=1e-12),
}
# Against torch.nn.RNN in float64: same math, different summation order.
_TORCH_TOL = dict(rtol=1e-10, atol=1e-12)

# Small odd sizes: T steps, B batch rows, D input, H hidden.
T, B, D, H = 6, 3, 5, 7


# ---- helpers -------------------------------------------------------------------------


def _rng(seed=0):
    return np.random.default_rng(seed)


def _data(rng, num_layers, *, batch_first=False, unbatched=False, T=T, B=B, D=D, H=H):
    """float64 x, h0, dout, dh_n in the layer's layout (batch-first or unbatched)."""
    if unbatched:
        x_shape, out_shape, state_shape = (T, D), (T, H), (num_layers, H)
    elif batch_first:
        x_shape, out_shape, state_shape = (B, T, D), (B, T, H), (num_layers, B, H)
    else:
        x_shape, out_shape, state_shape = (T, B, D), (T, B, H), (num_layers, B, H)
    return {
        "x": rng.standard_normal(x_shape),
        "h0": 0.5 * rng.standard_normal(state_shape),
        "dout": rng.standard_normal(out_shape),
        "dh_n": rng.standard_normal(state_shape),
    }


def _run(model, x, h0, dout, dh_n, truncate=None):
    """Forward then backward; everything the layer returns or stores, by name."""
    out, h_n = model.forward(x, h0)
    dx, dh0 = model.backward(dout, dh_n, truncate=truncate)
    results = {"out": out, "h_n": h_n, "dx": dx, "dh0": dh0}
    results.update({f"grads[{name!r}]": g for name, g in model.grads.items()})
    return results


def _expected_names(num_layers, bias):
    names = []
    for k in range(num_layers):
        names += [f"weight_ih_l{k}", f"weight_hh_l{k}"]
        if bias:
            names += [f"bias_ih_l{k}", f"bias_hh_l{k}"]
    return names


def _expected_shapes(num_layers, bias, D=D, H=H):
    shapes = {}
    for k in range(num_layers):
        shapes[f"weight_ih_l{k}"] = (H, D if k == 0 else H)
        shapes[f"weight_hh_l{k}"] = (H, H)
        if bias:
            shapes[f"bias_ih_l{k}"] = (H,)
            shapes[f"bias_hh_l{k}"] = (H,)
    return shapes


def _assert_same_params(a, b):
    assert list(a) == list(b)
    for name in a:
        assert_array_equal(a[name], b[name], err_msg=name)


def _torch():
    """torch with one thread, or a visible skip when it is not installed."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


# ---- 1. fast class against the float64 reference class --------------------------------

_CASES = {
    "plain": dict(h0=False, dh_n=False, truncate=None),
    "h0": dict(h0=True, dh_n=False, truncate=None),
    "dh_n": dict(h0=False, dh_n=True, truncate=None),
    "h0-dh_n": dict(h0=True, dh_n=True, truncate=None),
    "truncate0": dict(h0=True, dh_n=True, truncate=0),
    "truncate2": dict(h0=True, dh_n=True, truncate=2),
}


def _fast_and_oracle(dtype, num_layers, **kwargs):
    """fastrnn.RNN in dtype and a float64 reference RNN holding exactly the same weights."""
    oracle = reference.RNN(D, H, num_layers, dtype=np.float64, seed=1, **kwargs)
    fast = fastrnn.RNN(D, H, num_layers, dtype=dtype, seed=2, **kwargs)
    fast.load_state_dict(oracle.state_dict())
    oracle.load_state_dict(fast.state_dict())  # the float32-rounded weights, if float32
    return fast, oracle


@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_rnn_matches_reference(dtype, num_layers, bias, nonlinearity, batch_first, case):
    spec = _CASES[case]
    fast, oracle = _fast_and_oracle(
        dtype, num_layers, bias=bias, nonlinearity=nonlinearity, batch_first=batch_first
    )
    data = _data(_rng(10 * num_layers), num_layers, batch_first=batch_first)
    data = {name: a.astype(dtype) for name, a in data.items()}
    if not spec["h0"]:
        data["h0"] = None
    if not spec["dh_n"]:
        data["dh_n"] = None
    data64 = {name: None if a is None else a.astype(np.float64) for name, a in data.items()}

    got = _run(fast, **data, truncate=spec["truncate"])
    want = _run(oracle, **data64, truncate=spec["truncate"])

    assert list(got) == list(want)  # the same gradient names, in the same order
    assert list(fast.grads) == _expected_names(num_layers, bias)
    for name in want:
        assert got[name].dtype == dtype, name
        assert got[name].shape == want[name].shape, name
        assert_allclose(got[name], want[name], **_TOL[dtype], err_msg=name)


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_rnn_matches_reference_unbatched(dtype, batch_first, num_layers):
    fast, oracle = _fast_and_oracle(dtype, num_layers, batch_first=batch_first)
    data = _data(_rng(3), num_layers, unbatched=True)
    data = {name: a.astype(dtype) for name, a in data.items()}
    got = _run(fast, **data)
    want = _run(oracle, **{name: a.astype(np.float64) for name, a in data.items()})
    assert got["out"].shape == (T, H)
    assert got["h_n"].shape == got["dh0"].shape == (num_layers, H)
    assert got["dx"].shape == (T, D)
    for name in want:
        assert got[name].dtype == dtype, name
        assert_allclose(got[name], want[name], **_TOL[dtype], err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
def test_unbatched_equals_batch_of_one(module, batch_first):
    model = module.RNN(D, H, 2, batch_first=batch_first, dtype=np.float64, seed=4)
    d = _data(_rng(4), 2, unbatched=True)
    single = _run(model, **d)
    one = 0 if batch_first else 1  # where the batch axis of x, out and dx goes
    batched = _run(
        model,
        np.expand_dims(d["x"], one),
        d["h0"][:, None],
        np.expand_dims(d["dout"], one),
        d["dh_n"][:, None],
    )
    for name in ("out", "dx"):
        assert_allclose(np.squeeze(batched[name], one), single[name], rtol=1e-14, err_msg=name)
    for name in ("h_n", "dh0"):
        assert_allclose(batched[name][:, 0], single[name], rtol=1e-14, err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_batch_first_is_the_transposed_layout(module):
    kwargs = dict(input_size=D, hidden_size=H, num_layers=2, dtype=np.float64)
    time_major = module.RNN(**kwargs, seed=5)
    batch_first = module.RNN(**kwargs, batch_first=True, seed=5)
    d = _data(_rng(5), 2)
    want = _run(time_major, **d)
    got = _run(
        batch_first,
        d["x"].transpose(1, 0, 2),
        d["h0"],  # h0 and h_n are never batch-first
        d["dout"].transpose(1, 0, 2),
        d["dh_n"],
    )
    for name in want:
        w = want[name].transpose(1, 0, 2) if name in ("out", "dx") else want[name]
        assert_allclose(got[name], w, rtol=1e-14, err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_truncate_at_least_T_minus_1_is_full_bptt(module):
    model = module.RNN(D, H, 2, dtype=np.float64, seed=6)
    d = _data(_rng(6), 2)
    full = _run(model, **d)
    for K in (T - 1, T + 3, 2**63):  # any K >= T - 1, even one past int64
        window = _run(model, **d, truncate=K)
        for name in full:
            assert_allclose(window[name], full[name], rtol=1e-13, atol=1e-15, err_msg=name)
    short = _run(model, **d, truncate=1)
    assert not np.allclose(short["grads['weight_hh_l0']"], full["grads['weight_hh_l0']"])


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_backward_repeats_and_overwrites_grads(module):
    model = module.RNN(D, H, 2, dtype=np.float64, seed=7)
    d = _data(_rng(7), 2)
    first = _run(model, **d)
    dx, dh0 = model.backward(d["dout"], d["dh_n"])  # same forward, again: not accumulated
    assert_array_equal(dx, first["dx"])
    assert_array_equal(dh0, first["dh0"])
    for name, g in model.grads.items():
        assert_array_equal(g, first[f"grads[{name!r}]"], err_msg=name)
    # b_ih and b_hh enter the sum b_ih + b_hh only, so their gradients agree
    for k in range(2):
        assert_array_equal(model.grads[f"bias_ih_l{k}"], model.grads[f"bias_hh_l{k}"])
        assert model.grads[f"bias_ih_l{k}"] is not model.grads[f"bias_hh_l{k}"]


# ---- 2. the reference class against central finite differences ------------------------


def _loss(model, x, h0, dout, dh_n):
    out, h_n = model.forward(x, h0, need_cache=False)
    return np.sum(dout * out) + np.sum(dh_n * h_n)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("num_layers", [2, 3])
def test_backward_matches_finite_differences(module, num_layers, nonlinearity, bias):
    model = module.RNN(
        3, 4, num_layers, nonlinearity=nonlinearity, bias=bias, dtype=np.float64, seed=8
    )
    d = _data(_rng(8), num_layers, T=4, B=2, D=3, H=4)
    model.forward(d["x"], d["h0"])
    dx, dh0 = model.backward(d["dout"], d["dh_n"])
    grads = {name: g.copy() for name, g in model.grads.items()}

    def f():
        return _loss(model, **d)

    tol = dict(rtol=1e-6, atol=1e-8)
    assert_allclose(dx, numerical_gradient_of(f, d["x"]), **tol, err_msg="dx")
    assert_allclose(dh0, numerical_gradient_of(f, d["h0"]), **tol, err_msg="dh0")
    assert list(grads) == _expected_names(num_layers, bias)
    for name, g in grads.items():
        assert_allclose(g, numerical_gradient_of(f, model.params[name]), **tol, err_msg=name)


# ---- 3. state_dict and load_state_dict -------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_state_dict_has_pytorch_names_shapes_and_order(module, num_layers, bias, dtype):
    model = module.RNN(D, H, num_layers, bias=bias, dtype=dtype, seed=0)
    sd = model.state_dict()
    assert list(sd) == _expected_names(num_layers, bias)
    assert {name: a.shape for name, a in sd.items()} == _expected_shapes(num_layers, bias)
    for name, a in sd.items():
        assert a.dtype == dtype, name


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dict_returns_copies(module, dtype):
    model = module.RNN(D, H, 2, dtype=dtype, seed=0)
    x = _data(_rng(), 2)["x"].astype(dtype)
    before = model.state_dict()
    out_before, _ = model.forward(x, need_cache=False)

    sd = model.state_dict()
    for name, a in sd.items():
        assert not np.shares_memory(a, model.params[name]), name
        a[...] = 0.25
    sd.clear()

    _assert_same_params(model.state_dict(), before)
    out_after, _ = model.forward(x, need_cache=False)
    assert_array_equal(out_after, out_before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dict_round_trip_fast_reference_fast(dtype):
    kwargs = dict(input_size=D, hidden_size=H, num_layers=3, dtype=dtype)
    fast = fastrnn.RNN(**kwargs, seed=1)
    ref = reference.RNN(**kwargs, seed=2)
    fast_again = fastrnn.RNN(**kwargs, seed=3)
    d = _data(_rng(1), 3)
    x, h0 = d["x"].astype(dtype), d["h0"].astype(dtype)
    out, h_n = fast.forward(x, h0)
    assert not np.allclose(fast_again.forward(x, h0)[0], out)  # other seed, other weights

    ref.load_state_dict(fast.state_dict())
    fast_again.load_state_dict(ref.state_dict())

    _assert_same_params(ref.state_dict(), fast.state_dict())
    _assert_same_params(fast_again.state_dict(), fast.state_dict())
    out_again, h_n_again = fast_again.forward(x, h0)
    assert_array_equal(out_again, out)
    assert_array_equal(h_n_again, h_n)
    out_ref, h_n_ref = ref.forward(x, h0)
    assert_allclose(out_ref, out, **_TOL[dtype])
    assert_allclose(h_n_ref, h_n, **_TOL[dtype])


def _bad_state_dicts(num_layers=2):
    """(id, state_dict edit, exception, message) for load_state_dict rejections.

    Each edit hits the last entry, so a loader that wrote entries as it checked them would
    already have changed the model when it raises."""
    last = f"bias_hh_l{num_layers - 1}"

    def drop(sd):
        del sd[last]

    def extra(sd):
        sd[f"weight_ih_l{num_layers}"] = np.zeros((H, H))

    def shape(sd):
        sd[last] = np.zeros((H + 1,))

    def nan(sd):
        sd[last][2] = np.nan

    def inf(sd):
        sd[last][0] = -np.inf

    def text(sd):
        sd[last] = np.array(["0.1"] * H)

    missing = f"missing [{last!r}], unexpected []"
    unexpected = f"missing [], unexpected ['weight_ih_l{num_layers}']"
    return [
        pytest.param(drop, ValueError, re.escape(missing), id="missing"),
        pytest.param(extra, ValueError, re.escape(unexpected), id="unexpected"),
        pytest.param(
            shape,
            ValueError,
            re.escape(f"state_dict[{last!r}] must have shape ({H},); got ({H + 1},)"),
            id="shape",
        ),
        pytest.param(
            nan, ValueError, re.escape(f"state_dict[{last!r}] holds NaN or Inf values"), id="nan"
        ),
        pytest.param(
            inf, ValueError, re.escape(f"state_dict[{last!r}] holds NaN or Inf values"), id="inf"
        ),
        pytest.param(
            text,
            TypeError,
            re.escape(f"state_dict[{last!r}] has dtype <U3; expected real"),
            id="str",
        ),
    ]


@pytest.mark.parametrize("edit, exception, message", _bad_state_dicts())
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_rejects_and_leaves_model_unchanged(
    module, dtype, edit, exception, message
):
    model = module.RNN(D, H, 2, dtype=dtype, seed=0)
    d = _data(_rng(), 2)
    x, dout = d["x"].astype(dtype), d["dout"].astype(dtype)
    before = model.state_dict()
    out, _ = model.forward(x)

    sd = module.RNN(D, H, 2, dtype=np.float64, seed=1).state_dict()  # other weights
    edit(sd)
    with pytest.raises(exception, match=message):
        model.load_state_dict(sd)

    _assert_same_params(model.state_dict(), before)
    model.backward(dout)  # the cache of the last forward call survives a rejected load
    assert_array_equal(model.forward(x)[0], out)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_rejects_missing_bias_keys_of_a_biased_model(module):
    model = module.RNN(D, H, 1, bias=True, seed=0)
    sd = module.RNN(D, H, 1, bias=False, seed=1).state_dict()
    message = "missing ['bias_ih_l0', 'bias_hh_l0'], unexpected []"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.load_state_dict(sd)
    with pytest.raises(ValueError, match=re.escape("state_dict does not fit fastrnn")):
        model.load_state_dict({})


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_rejects_a_non_mapping(module):
    model = module.RNN(D, H, seed=0)
    items = list(model.state_dict().items())
    with pytest.raises(TypeError, match=re.escape("state_dict must be a mapping; got list")):
        model.load_state_dict(items)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_casts_float64_into_float32_in_place(module):
    model = module.RNN(D, H, 2, dtype=np.float32, seed=0)
    live = dict(model.params)  # what an optimizer would hold
    sd = module.RNN(D, H, 2, dtype=np.float64, seed=1).state_dict()
    model.load_state_dict(sd)
    for name, a in model.state_dict().items():
        assert a.dtype == np.float32, name
        assert_array_equal(a, sd[name].astype(np.float32), err_msg=name)
        assert model.params[name] is live[name], name  # updated in place


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_load_state_dict_accepts_integers_and_float32(module, dtype):
    model = module.RNN(2, 3, 1, dtype=dtype, seed=0)
    sd = {name: np.ones(a.shape, dtype=np.int64) for name, a in model.state_dict().items()}
    sd["weight_hh_l0"] = np.full((3, 3), 0.5, dtype=np.float32)
    model.load_state_dict(sd)
    for name, a in model.state_dict().items():
        assert a.dtype == dtype, name
        assert_array_equal(a, sd[name], err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_drops_the_forward_cache(module):
    model = module.RNN(D, H, seed=0)
    d = _data(_rng(), 1)
    out, _ = model.forward(d["x"].astype(np.float32))
    model.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match=re.escape("backward() needs a preceding forward()")):
        model.backward(d["dout"].astype(np.float32))


# ---- 4. input validation ---------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype, other", [(np.float32, np.float64), (np.float64, np.float32)])
def test_x_of_the_other_precision_raises_type_error(module, dtype, other):
    model = module.RNN(D, H, dtype=dtype)
    x = np.zeros((T, B, D), dtype=other)
    name, theirs = np.dtype(dtype).name, np.dtype(other).name
    message = (
        f"x has dtype {theirs} but this RNN's parameters are {name}; "
        f"pass x.astype(np.{name}) or build the RNN with dtype=np.{theirs}"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        model.forward(x)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_other_dtypes_of_h0_and_dout_raise_type_error(module, dtype):
    model = module.RNN(D, H, 2, dtype=dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    x = np.zeros((T, B, D), dtype=dtype)
    with pytest.raises(TypeError, match=re.escape(f"h0 has dtype {np.dtype(other)} but this")):
        model.forward(x, np.zeros((2, B, H), dtype=other))
    with pytest.raises(TypeError, match=re.escape("x has dtype float16")):
        model.forward(x.astype(np.float16))
    with pytest.raises(TypeError, match=re.escape("x has dtype complex128; expected a real")):
        model.forward(x.astype(np.complex128))
    model.forward(x)
    with pytest.raises(TypeError, match=re.escape(f"dout has dtype {np.dtype(other)} but this")):
        model.backward(np.zeros((T, B, H), dtype=other))
    with pytest.raises(TypeError, match=re.escape(f"dh_n has dtype {np.dtype(other)} but this")):
        model.backward(np.zeros((T, B, H), dtype=dtype), np.zeros((2, B, H), dtype=other))


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_and_list_inputs_take_the_model_dtype(module, dtype):
    model = module.RNN(2, 3, dtype=dtype, seed=0)
    x = np.arange(8).reshape(2, 2, 2) % 3
    out, h_n = model.forward(x)
    want, _ = model.forward(x.astype(dtype))
    assert out.dtype == h_n.dtype == dtype
    assert_array_equal(out, want)
    out_list, _ = model.forward(x.tolist())
    assert_array_equal(out_list, want)
    # lists of Python floats have no dtype of their own: they take the model's
    x_half = x / 4  # exact in float32
    out_floats, _ = model.forward(x_half.tolist())
    want_half, _ = model.forward(x_half.astype(dtype))
    assert out_floats.dtype == dtype
    assert_array_equal(out_floats, want_half)
    dx, _ = model.backward(np.ones((2, 2, 3)).tolist())
    assert dx.dtype == dtype


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize(
    "batch_first, layout", [(False, "(T, B, D)"), (True, "(B, T, D)")], ids=["tm", "bf"]
)
@pytest.mark.parametrize("shape", [(T, B, D + 1), (T, D + 1), (T,), (1, T, B, D)])
def test_x_of_the_wrong_shape_raises_value_error(module, batch_first, layout, shape):
    model = module.RNN(D, H, batch_first=batch_first, dtype=np.float64)
    message = f"x must have shape {layout} with D = {D}, or (T, D) unbatched; got {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.forward(np.zeros(shape))


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(2, B, H + 1), (1, B, H), (2, B + 1, H), (2, H), (B, H), (2, 1, B, H)]
)
def test_h0_of_the_wrong_shape_raises_value_error(module, dtype, shape):
    model = module.RNN(D, H, 2, dtype=dtype)
    message = f"h0 must have shape (num_layers, B, H) = (2, {B}, {H}); got {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.forward(np.zeros((T, B, D), dtype=dtype), np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_unbatched_h0_must_be_num_layers_by_H(module):
    model = module.RNN(D, H, 2, dtype=np.float64)
    message = f"h0 must have shape (num_layers, H) = (2, {H}) for unbatched input; got"
    with pytest.raises(ValueError, match=re.escape(message + f" (2, {H + 1})")):
        model.forward(np.zeros((T, D)), np.zeros((2, H + 1)))
    with pytest.raises(ValueError, match=re.escape(message + f" (2, 1, {H})")):
        model.forward(np.zeros((T, D)), np.zeros((2, 1, H)))  # torch refuses it too


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dout_and_dh_n_of_the_wrong_shape_raise_value_error(module, dtype):
    model = module.RNN(D, H, 2, dtype=dtype)
    model.forward(np.zeros((T, B, D), dtype=dtype))
    dout = np.zeros((T, B, H), dtype=dtype)
    with pytest.raises(ValueError, match=re.escape("dout must match the forward output: (T, B")):
        model.backward(np.zeros((T - 1, B, H), dtype=dtype))
    with pytest.raises(ValueError, match=re.escape(f"dout must have shape (T, B, H) with H = {H}")):
        model.backward(np.zeros((T, B, H - 1), dtype=dtype))
    with pytest.raises(ValueError, match=re.escape("dh_n must have shape (num_layers, B, H) =")):
        model.backward(dout, np.zeros((1, B, H), dtype=dtype))
    with pytest.raises(ValueError, match=re.escape("truncate must be None (full BPTT) or an int")):
        model.backward(dout, truncate=-1)
    with pytest.raises(TypeError, match=re.escape("truncate must be None or an int K >= 0")):
        model.backward(dout, truncate=1.5)
    model.backward(dout)  # the cache survived the rejected calls


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_needs_a_cached_forward(module, dtype):
    model = module.RNN(D, H, 2, dtype=dtype)
    x, dout = np.zeros((T, B, D), dtype=dtype), np.zeros((T, B, H), dtype=dtype)
    message = re.escape("backward() needs a preceding forward() call with need_cache=True")
    with pytest.raises(RuntimeError, match=message):
        model.backward(dout)
    model.forward(x)
    model.backward(dout)
    model.forward(x, need_cache=False)
    with pytest.raises(RuntimeError, match=message):
        model.backward(dout)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
@pytest.mark.parametrize(
    "kwargs, exception, message",
    [
        (dict(hidden_size=0), ValueError, "hidden_size must be an int >= 1; got 0"),
        (dict(num_layers=0), ValueError, "num_layers must be an int >= 1; got 0"),
        (dict(input_size=-3), ValueError, "input_size must be an int >= 1; got -3"),
        (dict(hidden_size=2.5), TypeError, "hidden_size must be an int >= 1; got 2.5"),
        (dict(num_layers=True), TypeError, "num_layers must be an int >= 1; got True"),
        (
            dict(nonlinearity="sigmoid"),
            ValueError,
            "nonlinearity must be 'tanh' or 'relu'; got 'sigmoid'",
        ),
        (dict(dtype=np.float16), TypeError, "dtype must be np.float32 or np.float64; got float16"),
        (dict(dtype=int), TypeError, "dtype must be np.float32 or np.float64; got int64"),
        (
            dict(dtype="not-a-dtype"),
            TypeError,
            "dtype must be np.float32 or np.float64; got 'not-a-dtype'",
        ),
    ],
    ids=["H0", "L0", "D-3", "H2.5", "Ltrue", "sigmoid", "float16", "int", "bogus"],
)
def test_constructor_rejects_bad_arguments(module, kwargs, exception, message):
    args = dict(input_size=D, hidden_size=H) | kwargs
    with pytest.raises(exception, match=re.escape(message)):
        module.RNN(**args)


def test_rnn_base_needs_a_backend():
    from fastrnn.layers import RNNBase

    with pytest.raises(TypeError, match=re.escape("use fastrnn.RNN or fastrnn.reference.RNN")):
        RNNBase(D, H)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_constructor_accepts_numpy_integers_and_float64_string(module):
    model = module.RNN(np.int64(D), np.int32(H), num_layers=np.uint8(2), dtype="float64")
    assert (model.input_size, model.hidden_size, model.num_layers) == (D, H, 2)
    assert type(model.hidden_size) is int
    assert model.dtype == np.float64
    assert repr(model) == (
        f"{module.__name__}.RNN({D}, {H}, num_layers=2, nonlinearity='tanh', bias=True, "
        "batch_first=False, bidirectional=False, dtype=np.float64)"
    )


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_rejected_forward_leaves_the_previous_forward_usable(module):
    model = module.RNN(D, H, 2, dtype=np.float64, seed=0)
    d = _data(_rng(), 2)
    out, _ = model.forward(d["x"])
    with pytest.raises(ValueError, match="h0 must have shape"):
        model.forward(d["x"][:, 0], np.zeros((3, H)))  # unbatched x, bad h0
    dx, dh0 = model.backward(d["dout"])
    assert dx.shape == (T, B, D)
    assert dh0.shape == (2, B, H)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_float16_x_is_not_told_to_build_a_float16_rnn(module):
    model = module.RNN(D, H, dtype=np.float32)
    with pytest.raises(TypeError) as info:
        model.forward(np.zeros((T, B, D), dtype=np.float16))
    assert "dtype=np.float16" not in str(info.value)
    with pytest.raises(TypeError):  # what the remedy suggests
        module.RNN(D, H, dtype=np.float16)


# ---- 5. seeded initialization ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_same_seed_gives_the_same_weights(module, dtype):
    kwargs = dict(input_size=D, hidden_size=H, num_layers=3, dtype=dtype)
    a = module.RNN(**kwargs, seed=42).state_dict()
    _assert_same_params(module.RNN(**kwargs, seed=42).state_dict(), a)
    _assert_same_params(module.RNN(**kwargs, seed=np.random.default_rng(42)).state_dict(), a)
    # one class, two kernel sets: the initialization does not depend on the backend
    other = fastrnn if module is reference else reference
    _assert_same_params(other.RNN(**kwargs, seed=42).state_dict(), a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_different_seeds_give_different_weights(module, dtype):
    kwargs = dict(input_size=D, hidden_size=H, num_layers=2, dtype=dtype)
    a = module.RNN(**kwargs, seed=1).state_dict()
    for other in (module.RNN(**kwargs, seed=2), module.RNN(**kwargs, seed=None)):
        for name, w in other.state_dict().items():
            assert not np.any(w == a[name]), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_init_is_uniform_within_one_over_sqrt_H(module, dtype):
    hidden = 16
    bound = 1 / np.sqrt(hidden)
    model = module.RNN(40, hidden, num_layers=2, dtype=dtype, seed=3)
    everything = []
    for name, w in model.state_dict().items():
        assert w.dtype == dtype, name
        assert np.all(np.abs(w) <= bound), name
        everything.append(w.ravel())
    w = np.concatenate(everything)  # 1664 draws: they fill the interval, both signs
    assert w.min() < -0.98 * bound and w.max() > 0.98 * bound
    assert abs(w.mean()) < 0.05 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound


# ---- 6. torch.nn.RNN -------------------------------------------------------------------


def _torch_run(torch, net, x, h0, dout, dh_n):
    """torch's out, h_n and their gradients for loss = sum(out*dout) + sum(h_n*dh_n)."""
    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    out, h_n = net(x_t, h0_t)
    loss = (out * torch.from_numpy(dout)).sum() + (h_n * torch.from_numpy(dh_n)).sum()
    loss.backward()
    results = {
        "out": out.detach().numpy(),
        "h_n": h_n.detach().numpy(),
        "dx": x_t.grad.numpy(),
        "dh0": h0_t.grad.numpy(),
    }
    results.update({f"grads[{name!r}]": p.grad.numpy() for name, p in net.named_parameters()})
    return results


@pytest.mark.parametrize("weights_from", ["fastrnn", "torch"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_matches_torch_rnn(module, num_layers, nonlinearity, bias, batch_first, weights_from):
    torch = _torch()
    torch.manual_seed(num_layers)
    kwargs = dict(nonlinearity=nonlinearity, bias=bias, batch_first=batch_first)
    net = torch.nn.RNN(D, H, num_layers, dtype=torch.float64, **kwargs)
    model = module.RNN(D, H, num_layers, dtype=np.float64, seed=9, **kwargs)
    if weights_from == "fastrnn":
        net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    else:
        model.load_state_dict({k: v.detach().numpy() for k, v in net.state_dict().items()})
    d = _data(_rng(9), num_layers, batch_first=batch_first)

    want = _torch_run(torch, net, **d)
    got = _run(model, **d)

    assert list(got) == list(want)  # every parameter gradient, under torch's names
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert_allclose(got[name], want[name], **_TORCH_TOL, err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_matches_torch_rnn_unbatched(module):
    torch = _torch()
    torch.manual_seed(0)
    net = torch.nn.RNN(D, H, 2, nonlinearity="relu", batch_first=True, dtype=torch.float64)
    model = module.RNN(D, H, 2, nonlinearity="relu", batch_first=True, dtype=np.float64)
    model.load_state_dict(net.state_dict())  # torch tensors, read by np.asarray
    d = _data(_rng(11), 2, unbatched=True)
    want = _torch_run(torch, net, **d)
    got = _run(model, **d)
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert_allclose(got[name], want[name], **_TORCH_TOL, err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_matches_torch_rnn_float32(module):
    torch = _torch()
    torch.manual_seed(0)
    net = torch.nn.RNN(D, H, 2, dtype=torch.float32)
    model = module.RNN(D, H, 2, dtype=np.float32)
    model.load_state_dict(net.state_dict())
    d = {name: a.astype(np.float32) for name, a in _data(_rng(12), 2).items()}
    want = _torch_run(torch, net, **d)
    got = _run(model, **d)
    for name in want:
        assert got[name].dtype == np.float32, name
        assert_allclose(got[name], want[name], **_TOL[np.float32], err_msg=name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_state_dict_layout_matches_torch(module, num_layers, bias):
    torch = _torch()
    net = torch.nn.RNN(D, H, num_layers, bias=bias, dtype=torch.float64)
    model = module.RNN(D, H, num_layers, bias=bias, dtype=np.float64)
    want = {name: tuple(p.shape) for name, p in net.state_dict().items()}
    got = {name: a.shape for name, a in model.state_dict().items()}
    assert list(got.items()) == list(want.items())


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_load_state_dict_rejects_tensors_that_require_grad(module):
    torch = _torch()
    net = torch.nn.RNN(D, H, dtype=torch.float64)
    model = module.RNN(D, H, dtype=np.float64, seed=0)
    before = model.state_dict()
    live = dict(net.named_parameters())  # Parameters, not detached
    with pytest.raises(TypeError, match=re.escape("state_dict['weight_ih_l0'] could not be read")):
        model.load_state_dict(live)
    _assert_same_params(model.state_dict(), before)
