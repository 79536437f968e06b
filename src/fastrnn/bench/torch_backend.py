"""The torch backend: torch.nn.RNN / LSTM / GRU with the problem's weights.

Inference runs the module under ``torch.inference_mode()``. Training runs it on inputs
that require gradients and calls ``torch.autograd.grad`` on
sum(out * dout) + sum(h_n * dh_n) for dx, dh0 and every parameter gradient (returned,
not accumulated into ``.grad``). Importing this module imports torch.
"""

from __future__ import annotations

import numpy as np
import torch

from .backends import Backend, Runner, split_state
from .cases import Case

_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


class TorchBackend(Backend):
    name = "torch"

    def __init__(self):
        self._threads_before: int | None = None

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def open(self, threads: int, dtype: np.dtype) -> None:
        self._threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)

    def close(self) -> None:
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def prepare(self, case: Case) -> Runner | str:
        p = case.problem
        module_class = getattr(torch.nn, case.cell.class_name)
        net = module_class(p.shape.D, p.shape.H, dtype=_DTYPES[p.dtype])
        net.load_state_dict({name: torch.from_numpy(a) for name, a in p.params.items()})
        names = [name for name, _ in net.named_parameters()]
        x = torch.from_numpy(p.x)
        h0 = None if p.h0 is None else torch.from_numpy(p.h0)
        state_args = () if h0 is None else (h0,)

        if case.task == "inference":

            def call():
                with torch.inference_mode():
                    return net(x, *state_args)

            def to_numpy(result):
                out, state = result
                return {"out": _numpy(out), **{k: _numpy(v) for k, v in split_state(state).items()}}

            return Runner(call, to_numpy)

        x = x.clone().requires_grad_()
        if h0 is not None:
            h0 = h0.clone().requires_grad_()
            state_args = (h0,)
        inputs = [x, *state_args, *net.parameters()]
        dout, dh_n = torch.from_numpy(p.dout), torch.from_numpy(p.dh_n)

        def call():
            out, state = net(x, *state_args)
            h_n = split_state(state)["h_n"]
            loss = (out * dout).sum() + (h_n * dh_n).sum()
            return out, state, torch.autograd.grad(loss, inputs)

        def to_numpy(result):
            out, state, grads = result
            arrays = {"out": _numpy(out), **{k: _numpy(v) for k, v in split_state(state).items()}}
            grads = list(grads)
            arrays["dx"] = _numpy(grads.pop(0))
            if h0 is not None:
                arrays["dh0"] = _numpy(grads.pop(0))
            arrays.update({f"d{name}": _numpy(g) for name, g in zip(names, grads, strict=True)})
            return arrays

        return Runner(call, to_numpy)
