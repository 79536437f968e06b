"""The common-case paths of the fast backend: rnn_forward_plain / rnn_backward_plain in the
binding, taken when _contract would pass every argument through unchanged, and the
layers' one-kernel-call path (one layer, one direction, full lengths).

Each must give bit for bit what the general path gives, and hand anything else (a
non-contiguous, misaligned, listed or mixed-precision argument, a truncated window, a
subclassed cache) to the general path, so that conversions and errors stay as documented.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import _fast, _kernels

T, B, D, H = 6, 3, 5, 4


def problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    draw = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    return draw(T, B, D), draw(B, H), draw(H, D), draw(H, H), draw(H), draw(T, B, H)


def misaligned(a):
    """A C-contiguous copy of a that starts one byte into its buffer."""
    raw = np.empty(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_U", [True, False])
@pytest.mark.parametrize("with_b", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_plain_path_equals_general_path(dtype, with_U, with_b, nonlinearity):
    x, s0, U, W, b, ds = problem(dtype)
    if not with_U:
        x, U = x[..., :H].copy(), None
    b = b if with_b else None
    f = nonlinearity
    assert _kernels.rnn_forward_plain(x, s0, U, W, b, f) is not None
    s, cache = _fast.rnn_forward(x, s0, U, W, b, nonlinearity=f)
    assert _kernels.rnn_backward_plain(ds, cache, None) is not None
    g = _fast.rnn_backward(ds, cache)
    # the same call through the general path: a Fortran-ordered W is converted there
    Wf = np.asfortranarray(W)
    assert _kernels.rnn_forward_plain(x, s0, U, Wf, b, f) is None
    s_general, cache_general = _fast.rnn_forward(x, s0, U, Wf, b, nonlinearity=f)
    g_general = _fast.rnn_backward(ds, cache_general, truncate=T)  # K >= T-1: full BPTT
    assert_array_equal(s, s_general)
    for got, want in zip(g, g_general, strict=True):
        if want is None:
            assert got is None
        else:
            assert_array_equal(got, want)


@pytest.mark.parametrize("where", ["x", "s0", "U", "W", "b"])
def test_anything_but_plain_arrays_takes_the_general_path(where):
    args = dict(zip(("x", "s0", "U", "W", "b"), problem(np.float32)[:5], strict=True))
    s_want, _ = _fast.rnn_forward(**args)
    for variant in (
        misaligned(args[where]),
        np.asfortranarray(args[where]) if args[where].ndim > 1 else np.repeat(args[where], 2)[::2],
        args[where].tolist(),
    ):
        changed = {**args, where: variant}
        assert _kernels.rnn_forward_plain(*changed.values(), "tanh") is None
        s, _ = _fast.rnn_forward(**changed)
        assert_array_equal(s, s_want)
    swapped = {**args, where: args[where].astype(">f4")}  # float32 not in native order
    assert _kernels.rnn_forward_plain(*swapped.values(), "tanh") is None
    with pytest.raises(TypeError, match=f"{where} has dtype >f4"):
        _fast.rnn_forward(**swapped)
    with pytest.raises(TypeError, match="fastrnn never mixes precisions"):
        _fast.rnn_forward(**{**args, where: args[where].astype(np.float64)})


def test_backward_plain_declines_what_it_does_not_check():
    x, s0, U, W, b, ds = problem(np.float64)
    s, cache = _fast.rnn_forward(x, s0, U, W, b)
    assert _kernels.rnn_backward_plain(ds, cache, 2) is None  # a window: the general path
    assert _kernels.rnn_backward_plain(ds[:, ::-1], cache, None) is None
    assert _kernels.rnn_backward_plain(ds.astype(np.float32), cache, None) is None
    with pytest.raises(TypeError, match="ds has dtype float32 but the forward pass"):
        _fast.rnn_backward(ds.astype(np.float32), cache)
    broken = cache._replace(s0=s0[:1])
    assert _kernels.rnn_backward_plain(ds, broken, None) is None
    with pytest.raises(ValueError, match=r"cache.s0 must have shape \(3, 4\)"):
        _fast.rnn_backward(ds, broken)
    strided = cache._replace(x=np.repeat(x, 2, axis=2)[..., ::2])  # right shape, not C order
    assert _kernels.rnn_backward_plain(ds, strided, None) is None
    with pytest.raises(ValueError, match="not C-contiguous"):
        _fast.rnn_backward(ds, strided)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_layer_one_call_path_sees_new_and_changed_weights(cls):
    """The layer keeps no state of its weights between calls: a weight changed in place or
    replaced in params is what the next call uses, in both backends alike."""
    fast = getattr(fastrnn, cls)(D, H, seed=1)
    ref = getattr(fastrnn.reference, cls)(D, H, seed=1)
    x = np.random.default_rng(2).standard_normal((T, B, D)).astype(np.float32)
    for step in range(3):
        if step == 1:
            for layer in (fast, ref):
                layer.params["weight_hh_l0"] *= 0.5
        if step == 2:
            new = np.random.default_rng(3).standard_normal(fast.params["weight_ih_l0"].shape)
            for layer in (fast, ref):
                layer.params["weight_ih_l0"] = new.astype(np.float32)
        out_fast, _ = fast(x)
        out_ref, _ = ref(x)
        np.testing.assert_allclose(out_fast, out_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_layer_outputs_share_no_memory(cls):
    """out, the final states and every gradient are arrays of their own: changing one in
    place changes no other, nor the next call's results."""
    layer = getattr(fastrnn, cls)(D, H, seed=1)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    dout = rng.standard_normal((T, B, H)).astype(np.float32)
    dh = rng.standard_normal((1, B, H)).astype(np.float32)
    out, state = layer(x)
    dstate = (dh, dh) if cls == "LSTM" else dh
    dx, d0 = layer.backward(dout, dstate)
    arrays = [out, dx, *(state if cls == "LSTM" else (state,))]
    arrays += [*(d0 if cls == "LSTM" else (d0,)), *layer.grads.values(), dout, dh, x]
    for i, a in enumerate(arrays):
        for other in arrays[i + 1 :]:
            assert not np.may_share_memory(a, other)
