"""The layer classes LSTM and GRU, and what RNN gained with them: bidirectional layers and
variable-length batches (``lengths``), for ``fastrnn.*`` (C kernels) and
``fastrnn.reference.*`` (NumPy).

The oracle is the float64 reference class, checked here against central finite
differences, and the lengths semantics are checked against their definition: a batch with
lengths gives, for each sequence, what that sequence alone, cut to its length, gives.
test_torch_layers.py checks the same classes against torch.nn.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import DTYPES, GRAD_TOL, layer_data, layer_run, numerical_gradient, states_of
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import reference

MODULES = [reference, fastrnn]
MODULE_IDS = ["reference", "fast"]
CELLS = ["RNN", "LSTM", "GRU"]
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}

T, B, D, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 4, 1])  # a full sequence, a one-step one, and two in between


def data(rng, cell, num_layers, bidirectional, **sizes):
    """layer_data with this module's sizes unless given."""
    sizes = {"T": T, "B": B, "D": D, "H": H} | sizes
    return layer_data(rng, cell, num_layers, bidirectional, **sizes)


def loss(model, d, lengths=None):
    """sum(dout * out) + sum over states of sum(d{state}_n * {state}_n): what layer_run()'s
    backward differentiates."""
    if isinstance(model, fastrnn.LSTM | reference.LSTM):
        out, finals = model(d["x"], (d["h0"], d["c0"]), lengths, need_cache=False)
    else:
        out, h_n = model(d["x"], d["h0"], lengths, need_cache=False)
        finals = (h_n,)
    total = np.sum(d["dout"] * out)
    for name, final in zip(states_of(type(model).__name__), finals, strict=True):
        total += np.sum(d[f"d{name}_n"] * final)
    return total


def make(module, cell, num_layers=2, **kwargs):
    return getattr(module, cell)(D, H, num_layers, dtype=kwargs.pop("dtype", np.float64), **kwargs)


# ---- fast against the float64 reference -----------------------------------------------


@pytest.mark.parametrize("truncate", [None, 1], ids=["full", "truncate1"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["no-lengths", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_matches_reference(dtype, cell, num_layers, bidirectional, lengths, truncate):
    oracle = make(reference, cell, num_layers, bidirectional=bidirectional, seed=1)
    fast = make(fastrnn, cell, num_layers, bidirectional=bidirectional, dtype=dtype, seed=2)
    fast.load_state_dict(oracle.state_dict())
    oracle.load_state_dict(fast.state_dict())  # the float32-rounded weights, if float32
    d = data(np.random.default_rng(num_layers), cell, num_layers, bidirectional)
    d = {name: a.astype(dtype).astype(np.float64) for name, a in d.items()}
    want = layer_run(oracle, d, lengths, truncate)
    got = layer_run(fast, {name: a.astype(dtype) for name, a in d.items()}, lengths, truncate)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == dtype, name
        assert got[name].shape == want[name].shape, name
        assert_allclose(got[name], want[name], **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_no_bias_unbatched_and_batch_first(module, cell):
    """The layouts the RNN tests cover at length, once for the gated cells."""
    model = make(module, cell, 2, bias=False, batch_first=True, bidirectional=True, seed=3)
    assert not any(name.startswith("bias") for name in model.params)
    d = data(np.random.default_rng(3), cell, 2, True, B=1)
    single = layer_run(model, {name: a[:, 0] for name, a in d.items()})  # B = 1 dropped
    batched = layer_run(
        model, {n: np.swapaxes(a, 0, 1) if n in ("x", "dout") else a for n, a in d.items()}
    )
    for name, a in single.items():
        if name in ("out", "dx"):
            want = batched[name][0]
        elif name.startswith("grads"):
            want = batched[name]
        else:
            want = batched[name][:, 0]
        assert_allclose(a, want, rtol=1e-14, atol=1e-15, err_msg=name)


# ---- lengths: packed-sequence semantics -------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_lengths_equal_running_each_sequence_alone(module, cell, bidirectional):
    """Sequence b of a batch with lengths gives what it gives alone, cut to its length:
    the same outputs (then zeros), final states, input gradients (then zeros) and
    gradients on the initial states; and the parameter gradients are the sums over the
    sequences run alone."""
    model = make(module, cell, 2, bidirectional=bidirectional, seed=4)
    d = data(np.random.default_rng(4), cell, 2, bidirectional)
    d["x"][LENGTHS[1] :, 1] = np.nan  # padding: whatever it holds must not matter
    batch = layer_run(model, d, LENGTHS)
    grad_sums = {}
    for b, n in enumerate(LENGTHS):
        alone = {
            name: a[:n, b : b + 1] if name in ("x", "dout") else a[:, b : b + 1]
            for name, a in d.items()
        }
        want = layer_run(model, alone)
        for name, a in want.items():
            if name.startswith("grads"):
                grad_sums[name] = grad_sums.get(name, 0) + a
            elif name in ("out", "dx"):
                assert_allclose(batch[name][:n, b], a[:, 0], rtol=1e-12, atol=1e-14, err_msg=name)
                assert_array_equal(batch[name][n:, b], 0, err_msg=f"{name} past the end")
            else:
                assert_allclose(batch[name][:, b], a[:, 0], rtol=1e-12, atol=1e-14, err_msg=name)
    for name, total in grad_sums.items():
        assert_allclose(batch[name], total, rtol=1e-11, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_lengths_outputs_and_final_states(module, cell):
    """h_n of the forward direction is out at each sequence's last step; of the reverse
    direction, out at step 0 (where the reversed run ends). dout past the ends is ignored."""
    model = make(module, cell, 1, bidirectional=True, seed=5)
    d = data(np.random.default_rng(5), cell, 1, True)
    results = layer_run(model, d, LENGTHS)
    out, h_n = results["out"], results["h_n"]
    assert_array_equal(h_n[0], out[LENGTHS - 1, np.arange(B), :H])
    assert_array_equal(h_n[1], out[0, :, H:])
    d["dout"][LENGTHS[3] :, 3] = 1e6  # gradient arriving for padding
    again = layer_run(model, d, LENGTHS)
    for name, a in results.items():
        assert_array_equal(again[name], a, err_msg=name)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_lengths_all_T_is_no_lengths(module):
    model = make(module, "LSTM", 2, bidirectional=True, seed=6)
    d = data(np.random.default_rng(6), "LSTM", 2, True)
    want = layer_run(model, d)
    for lengths in (np.full(B, T), [T] * B, np.full(B, T, dtype=np.int32)):
        got = layer_run(model, d, lengths)
        for name, a in want.items():
            assert_array_equal(got[name], a, err_msg=name)


# ---- the reference classes against finite differences -----------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_bidirectional_lengths_backward_matches_finite_differences(module, cell):
    small = dict(T=4, B=3, D=2, H=2)
    model = getattr(module, cell)(2, 2, 2, bidirectional=True, dtype=np.float64, seed=7)
    d = data(np.random.default_rng(7), cell, 2, True, **small)
    lengths = np.array([4, 1, 3])
    got = layer_run(model, d, lengths)
    arrays = {name: d[name] for name in ["x"] + [f"{s}0" for s in states_of(cell)]}
    want = numerical_gradient(lambda arrays: loss(model, d, lengths), arrays | model.params)
    for name in arrays:
        assert_allclose(got["d" + name], want["d" + name], **GRAD_TOL, err_msg="d" + name)
    for name in model.params:
        assert_allclose(got[f"grads[{name!r}]"], want["d" + name], **GRAD_TOL, err_msg=name)


# ---- parameters ---------------------------------------------------------------------------


def expected_shapes(cell, num_layers, bidirectional, bias=True):
    G, directions = GATES[cell], 2 if bidirectional else 1
    shapes = {}
    for k in range(num_layers):
        for sfx in ("", "_reverse")[:directions]:
            shapes[f"weight_ih_l{k}{sfx}"] = (G * H, D if k == 0 else directions * H)
            shapes[f"weight_hh_l{k}{sfx}"] = (G * H, H)
            if bias:
                shapes[f"bias_ih_l{k}{sfx}"] = (G * H,)
                shapes[f"bias_hh_l{k}{sfx}"] = (G * H,)
    return shapes


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_names_shapes_and_order(cell, bidirectional, bias):
    model = make(fastrnn, cell, 3, bidirectional=bidirectional, bias=bias, seed=0)
    got = {name: a.shape for name, a in model.state_dict().items()}
    assert list(got.items()) == list(expected_shapes(cell, 3, bidirectional, bias).items())
    assert list(model.grads) == []


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_init_is_uniform_within_one_over_sqrt_H_and_seeded(cell, dtype):
    model = getattr(fastrnn, cell)(40, 16, 2, bidirectional=True, dtype=dtype, seed=3)
    again = getattr(reference, cell)(40, 16, 2, bidirectional=True, dtype=dtype, seed=3)
    bound = 1 / np.sqrt(16)
    w = np.concatenate([a.ravel() for a in model.state_dict().values()])
    assert w.dtype == dtype
    assert np.all(np.abs(w) <= bound)
    assert w.min() < -0.99 * bound and w.max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    for name, a in again.state_dict().items():
        assert_array_equal(a, model.params[name], err_msg=name)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_repr_and_the_unbound_bases(module, cell):
    model = make(module, cell, 2, bidirectional=True)
    assert repr(model) == (
        f"{module.__name__}.{cell}({D}, {H}, num_layers=2, bias=True, batch_first=False, "
        "bidirectional=True, dtype=np.float64)"
    )
    from fastrnn import layers

    base = getattr(layers, f"{cell}Base")
    message = f"use fastrnn.{cell} or fastrnn.reference.{cell}, not {cell}Base"
    with pytest.raises(TypeError, match=re.escape(message)):
        base(D, H)


# ---- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths, error, message",
    [
        ([6, 2, 4], ValueError, "lengths must have shape (B,) = (4,); got (3,)"),
        ([[6, 2, 4, 1]], ValueError, "lengths must have shape (B,) = (4,); got (1, 4)"),
        ([6, 0, 4, 1], ValueError, "lengths must lie in 1..T = 1..6; got 0 at index 1"),
        ([6, 2, 7, 1], ValueError, "lengths must lie in 1..T = 1..6; got 7 at index 2"),
        ([6.0, 2, 4, 1], TypeError, "lengths must hold integers (steps per sequence); got dtype"),
        ([True] * 4, TypeError, "lengths must hold integers (steps per sequence); got dtype bool"),
    ],
    ids=["short", "2d", "zero", "too-long", "float", "bool"],
)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_bad_lengths(module, lengths, error, message):
    model = make(module, "GRU", 1)
    with pytest.raises(error, match=re.escape(message)):
        model(np.zeros((T, B, D)), None, lengths)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_lengths_need_batched_input(module):
    model = make(module, "RNN", 1)
    with pytest.raises(ValueError, match=re.escape("lengths needs batched input")):
        model(np.zeros((T, D)), None, [T])


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_lstm_state_pairs(module):
    model = make(module, "LSTM", 2, bidirectional=True)
    x = np.zeros((T, B, D))
    message = "hx must be a pair (h0, c0) or None; got ndarray"
    with pytest.raises(TypeError, match=re.escape(message)):
        model(x, np.zeros((4, B, H)))
    message = "c0 must have shape (2*num_layers, B, H) = (4, 4, 5); got (2, 4, 5)"
    with pytest.raises(ValueError, match=re.escape(message)):
        model(x, (None, np.zeros((2, B, H))))
    out, (h_n, c_n) = model(x, (np.zeros((4, B, H)), None))
    assert out.shape == (T, B, 2 * H) and h_n.shape == c_n.shape == (4, B, H)
    message = "dhx must be a pair (dh_n, dc_n) or None; got tuple"
    with pytest.raises(TypeError, match=re.escape(message)):
        model.backward(np.zeros_like(out), (h_n,))
    dx, (dh0, dc0) = model.backward(np.zeros_like(out), (None, np.ones_like(c_n)))
    assert dx.shape == x.shape and dh0.shape == dc0.shape == (4, B, H)
    assert np.any(dc0 != 0)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_bidirectional_shapes_in_messages(module):
    model = make(module, "GRU", 2, bidirectional=True)
    x = np.zeros((T, B, D))
    message = "h0 must have shape (2*num_layers, B, H) = (4, 4, 5); got (2, 4, 5)"
    with pytest.raises(ValueError, match=re.escape(message)):
        model(x, np.zeros((2, B, H)))
    model(x)
    message = "dout must have shape (T, B, 2H) with 2H = 10, or (T, 2H) unbatched; got (6, 4, 5)"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.backward(np.zeros((T, B, H)))
    message = "dout must match the forward output: (T, B, 2H) = (6, 4, 10) time-major; got"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.backward(np.zeros((T - 1, B, 2 * H)))
