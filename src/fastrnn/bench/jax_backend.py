"""The JAX backend: each cell as a jitted ``lax.scan``, PyTorch's equations and layout.

The input projection of all T steps is one matmul hoisted out of the scan,
gx = x W_ih^T + b_ih as a (T*B, D) x (D, G*H) product; the scan then does one
(B, H) x (H, G*H) product per step. Training is ``jax.value_and_grad`` of
sum(out * dout) + sum(h_n * dh_n) with respect to the parameters, x and h0, which gives
dx, dh0 and every parameter gradient, as torch's ``autograd.grad`` does.

The lm-step workload is the tutorial's model in the same style: the embedding U[:, x_t]
of all T words gathered at once, a ``lax.scan`` of s_t = tanh(U[:, x_t] + W s_{t-1}),
the logits V s_t of all steps as one matmul, the summed cross-entropy, and
``jax.value_and_grad`` for dLdU, dLdV, dLdW: exact BPTT (JAX has no per-output window).
It runs in float64 whatever the run's dtype (``jax.enable_x64`` while it is compiled and
called).

Each (case, task) is compiled ahead of time (``jit(f).lower(...).compile()``): that time
is reported as the runner's ``compile_s`` and excluded from the timings. Importing this
module imports JAX but does not start its CPU backend; the suite pins the process's CPU
affinity before ``prepare`` first runs (XLA sizes its thread pool from the affinity mask
and no XLA flag caps its threads).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .backends import Backend, Runner
from .cases import Case
from .workloads import GRADIENT_NAMES, LMStepProblem, WorkloadRunner


def _rnn_scan(p, gx, h0):
    W_hh_T = p["weight_hh_l0"].T
    gx = gx + p["bias_hh_l0"]  # both biases sit outside the recurrence: hoist b_hh too

    def step(h, gx_t):
        h = jnp.tanh(gx_t + h @ W_hh_T)
        return h, h

    h_n, out = lax.scan(step, h0, gx)
    return out, (h_n,)


def _lstm_scan(p, gx, h0):
    W_hh_T = p["weight_hh_l0"].T
    gx = gx + p["bias_hh_l0"]
    c0 = jnp.zeros_like(h0)

    def step(carry, gx_t):
        h, c = carry
        i, f, g, o = jnp.split(gx_t + h @ W_hh_T, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    (h_n, c_n), out = lax.scan(step, (h0, c0), gx)
    return out, (h_n, c_n)


def _gru_scan(p, gx, h0):
    W_hh_T, b_hh = p["weight_hh_l0"].T, p["bias_hh_l0"]

    def step(h, gx_t):
        x_r, x_z, x_n = jnp.split(gx_t, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(h @ W_hh_T + b_hh, 3, axis=-1)  # b_hh_n is inside r * (.)
        r = jax.nn.sigmoid(x_r + h_r)
        z = jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, h

    h_n, out = lax.scan(step, h0, gx)
    return out, (h_n,)


_SCANS = {"rnn": _rnn_scan, "lstm": _lstm_scan, "gru": _gru_scan}


def forward(cell: str, p: dict, x, h0):
    """out (T, B, H) and the final states, each (1, B, H): (h_n,) or (h_n, c_n).

    p holds torch's parameter names; h0 is (1, B, H) or None for the zero state."""
    T, B, D = x.shape
    GH, H = p["weight_hh_l0"].shape
    gx = (x.reshape(T * B, D) @ p["weight_ih_l0"].T + p["bias_ih_l0"]).reshape(T, B, GH)
    h_start = jnp.zeros((B, H), x.dtype) if h0 is None else h0[0]
    out, finals = _SCANS[cell](p, gx, h_start)
    return out, tuple(f[None] for f in finals)


def _loss(cell, p, x, h0, dout, dh_n):
    out, finals = forward(cell, p, x, h0)
    return jnp.sum(out * dout) + jnp.sum(finals[0] * dh_n), (out, finals)


def _tutorial_loss(U, V, W, x, y):
    """The tutorial's summed cross-entropy of one sentence: x, y (T,) word indices."""

    def step(s, Ux_t):
        s = jnp.tanh(Ux_t + W @ s)
        return s, s

    _, s = lax.scan(step, jnp.zeros(W.shape[0], W.dtype), U[:, x].T)  # s (T, H)
    log_o = jax.nn.log_softmax(s @ V.T)  # (T, V)
    return -jnp.sum(log_o[jnp.arange(x.shape[0]), y])


def _final_arrays(finals) -> dict[str, np.ndarray]:
    return dict(zip(("h_n", "c_n"), (np.asarray(f) for f in finals), strict=False))


class JaxBackend(Backend):
    name = "jax"

    def __init__(self):
        self._x64_before: bool | None = None

    def versions(self) -> dict[str, str]:
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}

    def open(self, threads: int, dtype: np.dtype) -> None:
        # float64 arrays need x64 mode (JAX otherwise computes in float32); float32 runs
        # leave the process's setting alone.
        if dtype == np.float64:
            self._x64_before = bool(jax.config.jax_enable_x64)
            jax.config.update("jax_enable_x64", True)

    def close(self) -> None:
        if self._x64_before is not None:
            jax.config.update("jax_enable_x64", self._x64_before)
            self._x64_before = None

    def prepare(self, case: Case) -> Runner | str:
        cell, p = case.cell.name, case.problem
        params = {name: jnp.asarray(a) for name, a in p.params.items()}
        x = jnp.asarray(p.x)
        h0 = None if p.h0 is None else jnp.asarray(p.h0)

        if case.task == "inference":

            def infer(params, x, h0):
                return forward(cell, params, x, h0)

            args = (params, x, h0)
            function = infer
        else:
            gradient = jax.value_and_grad(
                lambda params, x, h0, dout, dh_n: _loss(cell, params, x, h0, dout, dh_n),
                argnums=(0, 1, 2),
                has_aux=True,
            )
            args = (params, x, h0, jnp.asarray(p.dout), jnp.asarray(p.dh_n))
            function = gradient

        start = time.perf_counter()
        compiled = jax.jit(function).lower(*args).compile()
        compile_s = time.perf_counter() - start

        def call():
            return jax.block_until_ready(compiled(*args))

        if case.task == "inference":

            def to_numpy(result):
                out, finals = result
                return {"out": np.asarray(out), **_final_arrays(finals)}

        else:

            def to_numpy(result):
                (_, (out, finals)), (dparams, dx, dh0) = result
                arrays = {"out": np.asarray(out), **_final_arrays(finals), "dx": np.asarray(dx)}
                if dh0 is not None:
                    arrays["dh0"] = np.asarray(dh0)
                arrays.update({f"d{name}": np.asarray(g) for name, g in dparams.items()})
                return arrays

        return Runner(call, to_numpy, compile_s)

    def prepare_workload(self, problem) -> WorkloadRunner | None:
        if not isinstance(problem, LMStepProblem):
            return None  # generation is compared with torch only
        with jax.enable_x64(True):
            args = tuple(jnp.asarray(a) for a in (problem.U, problem.V, problem.W))
            args += (jnp.asarray(problem.x), jnp.asarray(problem.y))
            gradient = jax.value_and_grad(_tutorial_loss, argnums=(0, 1, 2))
            start = time.perf_counter()
            compiled = jax.jit(gradient).lower(*args).compile()
            compile_s = time.perf_counter() - start

        def call():
            with jax.enable_x64(True):
                return jax.block_until_ready(compiled(*args))

        def outputs():
            _, grads = call()
            return dict(zip(GRADIENT_NAMES, (np.asarray(g) for g in grads), strict=True))

        timed = "jitted value_and_grad of a lax.scan: exact BPTT (JAX has no per-output window)"
        return WorkloadRunner(call, outputs, timed, full_bptt=True, compile_s=compile_s)
