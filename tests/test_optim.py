"""Optimizers and clipping: against torch.optim (SGD, Adam), min-char-rnn's Adagrad
statement, and resumption from their state dicts."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastrnn import optim

SHAPES = {"W": (4, 3), "b": (3,)}


def params_and_grads(rng, steps, dtype=np.float64):
    params = {n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()}
    grads = [
        {n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()} for _ in range(steps)
    ]
    return params, grads


def copy(params):
    return {n: p.copy() for n, p in params.items()}


def run(opt, grads):
    for g in grads:
        opt.step(g)


@pytest.mark.parametrize(
    "name, ours, theirs",
    [
        ("sgd", {"lr": 0.1}, {"lr": 0.1}),
        ("sgd", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9}),
        ("adam", {"lr": 0.01}, {"lr": 0.01}),
        (
            "adam",
            {"lr": 0.003, "betas": (0.8, 0.99), "eps": 1e-6},
            {"lr": 0.003, "betas": (0.8, 0.99), "eps": 1e-6},
        ),
    ],
)
def test_matches_torch_optim(name, ours, theirs, rng):
    torch = pytest.importorskip("torch")
    params, grads = params_and_grads(rng, 7)
    tensors = {n: torch.tensor(p, requires_grad=True) for n, p in params.items()}
    their_opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name](
        list(tensors.values()), **theirs
    )
    opt = optim.make_optimizer(name, params, **ours)
    for g in grads:
        opt.step(g)
        for n, t in tensors.items():
            t.grad = torch.from_numpy(g[n].copy())
        their_opt.step()
    for n, t in tensors.items():
        assert_allclose(params[n], t.detach().numpy(), rtol=1e-13, atol=1e-15, err_msg=n)


def test_adagrad_is_min_char_rnns_update(rng):
    """mem += dparam * dparam; param += -learning_rate * dparam / np.sqrt(mem + 1e-8)"""
    params, grads = params_and_grads(rng, 5)
    want = copy(params)
    mem = {n: np.zeros_like(p) for n, p in want.items()}
    opt = optim.Adagrad(params, lr=0.1)
    for g in grads:
        opt.step(g)
        for n in want:
            mem[n] += g[n] * g[n]
            want[n] += -0.1 * g[n] / np.sqrt(mem[n] + 1e-8)
    for n in want:
        assert_array_equal(params[n], want[n], err_msg=n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_updates_in_place_in_the_parameters_dtype(name, dtype, rng):
    params, grads = params_and_grads(rng, 2, dtype)
    arrays = dict(params)
    opt = optim.make_optimizer(name, params, lr=0.1, **({"momentum": 0.5} if name == "sgd" else {}))
    run(opt, grads)
    for n, p in params.items():
        assert p is arrays[n] and p.dtype == dtype
        assert not np.array_equal(p, copy(arrays)[n] * 0)
    assert all(a.dtype == dtype for a in opt.state_dict().values() if a.ndim)


@pytest.mark.parametrize(
    "name, hyper",
    [("sgd", {"momentum": 0.9}), ("sgd", {}), ("adagrad", {}), ("adam", {"lr": 0.01})],
)
def test_resuming_from_the_state_dict_is_exact(name, hyper, rng):
    params, grads = params_and_grads(rng, 9)
    straight = copy(params)
    run(optim.make_optimizer(name, straight, **hyper), grads)

    first = optim.make_optimizer(name, params, **hyper)
    run(first, grads[:4])
    state = first.state_dict()
    assert state["step"] == 4
    resumed_params = copy(params)
    second = optim.make_optimizer(name, resumed_params, **hyper)
    second.load_state_dict(state)
    run(second, grads[4:])
    for n in straight:
        assert_array_equal(resumed_params[n], straight[n], err_msg=n)


def test_load_state_dict_refuses_what_does_not_fit(rng):
    params, _ = params_and_grads(rng, 0)
    opt = optim.Adam(params)
    state = opt.state_dict()
    with pytest.raises(ValueError, match=re.escape("missing ['exp_avg/W']")):
        opt.load_state_dict({k: v for k, v in state.items() if k != "exp_avg/W"})
    with pytest.raises(
        ValueError, match=re.escape("optimizer state['exp_avg/b'] must have shape (3,)")
    ):
        opt.load_state_dict({**state, "exp_avg/b": np.zeros(4)})
    with pytest.raises(
        ValueError, match=re.escape("optimizer state['step'] must be an integer >= 0")
    ):
        opt.load_state_dict({**state, "step": np.array(-1)})
    with pytest.raises(ValueError, match="unexpected"):
        optim.SGD(params).load_state_dict(state)  # SGD without momentum has no buffers


def test_step_refuses_mismatched_gradients(rng):
    params, grads = params_and_grads(rng, 1)
    opt = optim.SGD(params)
    with pytest.raises(
        ValueError, match=re.escape("grads must have the parameters' names: missing ['b']")
    ):
        opt.step({"W": grads[0]["W"]})
    with pytest.raises(
        ValueError,
        match=re.escape("grads['b'] must be a float64 array of shape (3,); got float32 (3,)"),
    ):
        opt.step({"W": grads[0]["W"], "b": grads[0]["b"].astype(np.float32)})
    assert opt.step_count == 0


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: optim.SGD(p, lr=0), ValueError, "lr must be a finite number > 0; got 0"),
        (lambda p: optim.SGD(p, lr="x"), TypeError, "lr must be a number > 0; got 'x'"),
        (
            lambda p: optim.SGD(p, momentum=1),
            ValueError,
            "momentum must be a number in [0, 1); got 1",
        ),
        (lambda p: optim.Adam(p, betas=(0.9,)), TypeError, "betas must be a pair of numbers"),
        (
            lambda p: optim.Adam(p, betas=(0.9, -0.1)),
            ValueError,
            "betas[1] must be a number in [0, 1)",
        ),
        (
            lambda p: optim.Adagrad(p, eps=float("nan")),
            ValueError,
            "eps must be a finite number > 0",
        ),
        (
            lambda p: optim.make_optimizer("rmsprop", p),
            ValueError,
            "optimizer must be one of ['adagrad', 'adam', 'sgd']; got 'rmsprop'",
        ),
        (lambda p: optim.SGD({"W": [1.0]}), TypeError, "params['W'] must be a float32 or float64"),
    ],
)
def test_bad_hyperparameters(call, error, message, rng):
    params, _ = params_and_grads(rng, 0)
    with pytest.raises(error, match=re.escape(message)):
        call(params)


def test_clip_by_value_in_place(rng):
    _, (grads,) = params_and_grads(rng, 1)
    grads["W"] *= 10
    want = {n: np.clip(g, -5, 5) for n, g in grads.items()}
    arrays = dict(grads)
    optim.clip_by_value(grads, 5)
    for n, g in grads.items():
        assert g is arrays[n]
        assert_array_equal(g, want[n])


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_by_global_norm_matches_torch(max_norm, rng):
    torch = pytest.importorskip("torch")
    _, (grads,) = params_and_grads(rng, 1)
    tensors = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.from_numpy(g.copy())
    their_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    norm = optim.clip_by_global_norm(grads, max_norm)
    assert_allclose(norm, their_norm.item(), rtol=1e-14)
    for t, g in zip(tensors, grads.values(), strict=True):
        assert_allclose(g, t.grad.numpy(), rtol=1e-14)
    assert optim.global_norm(grads) <= max_norm * (1 + 1e-12) or max_norm > norm
