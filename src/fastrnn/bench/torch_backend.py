"""The torch backend: torch.nn.RNN / LSTM / GRU with the problem's weights.

Inference runs the module under ``torch.inference_mode()``. Training runs it on inputs
that require gradients and calls ``torch.autograd.grad`` on
sum(out * dout) + sum(h_n * dh_n) for dx, dh0 and every parameter gradient (returned,
not accumulated into ``.grad``). Importing this module imports torch.

The workloads, as a torch user would write them:

- lm-step: ``nn.Embedding(V, H)`` (weight U^T, so row x_t is U[:, x_t]) feeding
  ``nn.RNN(H, H, bias=False)`` whose input weight is the identity (frozen: no gradient is
  computed for it), then ``nn.Linear(H, V, bias=False)`` (weight V) and
  ``F.cross_entropy(..., reduction="sum")``; ``torch.autograd.grad`` gives dLdU^T, dLdW,
  dLdV. That is the tutorial's model, with exact BPTT: torch has no per-output window.
- generation: ``nn.RNN(K, H)`` fed one-hot vectors and ``nn.Linear(H, K)``, the
  parameter names of fastrnn.RNNLM; one step per token under ``inference_mode``, the
  hidden state carried, ``torch.multinomial`` of the softmax (``argmax`` for greedy).
"""

from __future__ import annotations

import numpy as np
import torch

from .backends import Backend, Runner, split_state
from .cases import Case
from .workloads import GenerationProblem, LMStepProblem, WorkloadRunner

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

    def prepare_workload(self, problem) -> WorkloadRunner | None:
        if isinstance(problem, LMStepProblem):
            return _lm_step(problem)
        if isinstance(problem, GenerationProblem):
            return _generation(problem)
        return None


def _lm_step(problem: LMStepProblem) -> WorkloadRunner:
    w = problem.workload
    embedding = torch.nn.Embedding(w.V, w.H, dtype=torch.float64)
    rnn = torch.nn.RNN(w.H, w.H, bias=False, dtype=torch.float64)
    decoder = torch.nn.Linear(w.H, w.V, bias=False, dtype=torch.float64)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(problem.U.T))
        rnn.weight_ih_l0.copy_(torch.eye(w.H, dtype=torch.float64))
        rnn.weight_hh_l0.copy_(torch.from_numpy(problem.W))
        decoder.weight.copy_(torch.from_numpy(problem.V))
    rnn.weight_ih_l0.requires_grad_(False)
    weights = [embedding.weight, decoder.weight, rnn.weight_hh_l0]
    x = torch.tensor(problem.x).reshape(w.T, 1)  # (T, B=1)
    y = torch.tensor(problem.y)

    def call():
        s, _ = rnn(embedding(x))  # from the zero state, (T, 1, H)
        loss = torch.nn.functional.cross_entropy(decoder(s[:, 0]), y, reduction="sum")
        return torch.autograd.grad(loss, weights)

    def outputs():
        dU_T, dV, dW = (_numpy(g) for g in call())
        return {"dLdU": dU_T.T, "dLdV": dV, "dLdW": dW}

    timed = (
        "Embedding + nn.RNN(tanh, no bias) + Linear, cross_entropy(sum), autograd.grad: "
        "exact BPTT (torch has no per-output window)"
    )
    return WorkloadRunner(call, outputs, timed, full_bptt=True)


class _LanguageModel(torch.nn.Module):
    """fastrnn.RNNLM's architecture and parameter names in torch (one layer)."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.rnn = torch.nn.RNN(vocab, hidden)
        self.decoder = torch.nn.Linear(hidden, vocab)


def _generation(problem: GenerationProblem) -> WorkloadRunner:
    w = problem.workload
    model = _LanguageModel(w.vocab, w.H)
    model.load_state_dict({name: torch.from_numpy(p) for name, p in problem.params.items()})
    prime = torch.from_numpy(problem.prime)
    one_hot_prime = torch.nn.functional.one_hot(prime, w.vocab).to(torch.float32)[:, None]

    def generate(greedy: bool) -> torch.Tensor:
        tokens = torch.empty(w.length, dtype=torch.int64)
        generator = torch.Generator().manual_seed(problem.seed)
        x = torch.zeros(1, 1, w.vocab)  # the one-hot input of one step
        with torch.inference_mode():
            s, h = model.rnn(one_hot_prime)
            logits = model.decoder(s[-1, 0])
            for i in range(w.length):
                if greedy:
                    token = int(torch.argmax(logits))
                else:
                    probs = torch.softmax(logits, dim=0)
                    token = int(torch.multinomial(probs, 1, generator=generator))
                tokens[i] = token
                if i + 1 < w.length:
                    x.zero_()
                    x[0, 0, token] = 1.0
                    s, h = model.rnn(x, h)
                    logits = model.decoder(s[0, 0])
        return tokens

    def outputs():
        return {"greedy": generate(greedy=True).numpy()}

    timed = (
        f"nn.RNN + Linear, one step per token with the state carried, "
        f"torch.multinomial: {w.length} tokens"
    )
    return WorkloadRunner(lambda: generate(greedy=False), outputs, timed)
