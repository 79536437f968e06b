"""Training a language model on one long token sequence: min-char-rnn's scheme, batched.

The sequence is cut into B equal streams, read side by side: stream n is the n-th B-th of
the corpus. Every step takes the next T tokens of every stream (ids (T, B), targets the
same moved by one token), runs exact BPTT over them from the state the previous step
ended in (carried over without gradient: chunked truncated BPTT with k1 = k2 = T), clips
the gradients and updates the parameters. When a stream has fewer than T + 1 tokens left,
an epoch ends: the state goes back to zero and reading restarts at a random offset in
[0, T), so that chunk boundaries fall elsewhere in the next epoch. (min-char-rnn is the
case B = 1 with offset 0 and element-wise clipping at 5.)

Everything that decides the next step, the parameters, the optimizer state, the carried
state, the read position, the counters and the generator, is in ``Trainer.state()``, so a
checkpoint resumes the run bit for bit.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from . import _contract, optim


class TrainingError(RuntimeError):
    """Training cannot go on (the loss stopped being finite)."""


def corpus_fingerprint(tokens: np.ndarray) -> str:
    """SHA-256 of the token ids as int64: a resumed run must read the same corpus."""
    return hashlib.sha256(np.ascontiguousarray(tokens, dtype=np.int64).tobytes()).hexdigest()


def stream_grid(tokens: np.ndarray, batch_size: int, seq_length: int):
    """(inputs, targets), each (S, B): column n is stream n, targets[t] = inputs[t+1]'s
    token. Raises ValueError when a stream would be shorter than seq_length."""
    B, T = batch_size, seq_length
    S = (tokens.size - 1) // B
    if S < T:
        raise ValueError(
            f"the corpus has {tokens.size} tokens, too few for {B} streams of "
            f"seq_length + 1 = {T + 1}: it needs at least {B * T + 1}; lower the batch size or "
            "the sequence length, or use a longer text"
        )
    inputs = np.ascontiguousarray(tokens[: B * S].reshape(B, S).T)
    targets = np.ascontiguousarray(tokens[1 : B * S + 1].reshape(B, S).T)
    return inputs, targets


class Trainer:
    """Trains ``model`` with ``optimizer`` on a token sequence (see the module docstring).

    Parameters
    ----------
    model : RNNLM
    optimizer : optim.Optimizer
        Over ``model.params``.
    tokens : int array (N,)
        The training corpus as token ids.
    seq_length, batch_size : int
        T and B of every step.
    clip_norm : float or None
        Clip the gradients to this global norm before each update.
    clip_value : float or None
        Clip every gradient element to [-clip_value, clip_value] (after clip_norm).
    truncate : int or None
        Per-output BPTT window within each step (None: exact over the T steps).
    seed : int, np.random.Generator or None
        The generator of the epoch offsets.
    """

    def __init__(
        self,
        model,
        optimizer,
        tokens,
        *,
        seq_length=64,
        batch_size=32,
        clip_norm=None,
        clip_value=None,
        truncate=None,
        seed=None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.seq_length = _contract.check_int("seq_length", seq_length)
        self.batch_size = _contract.check_int("batch_size", batch_size)
        self.clip_norm = (
            None if clip_norm is None else _contract.check_positive_float("clip_norm", clip_norm)
        )
        self.clip_value = (
            None if clip_value is None else _contract.check_positive_float("clip_value", clip_value)
        )
        self.truncate = _contract.check_truncate(truncate)
        tokens = np.asarray(tokens)
        self.tokens = _contract.check_ids(
            "tokens", tokens.reshape(-1, 1), model.vocab_size, "vocab_size"
        ).ravel()
        self.fingerprint = corpus_fingerprint(self.tokens)
        self._inputs, self._targets = stream_grid(self.tokens, self.batch_size, self.seq_length)
        self.rng = np.random.default_rng(seed)
        self.step_count = 0
        self.epoch = 0
        self.position = 0  # read position in every stream
        self.tokens_seen = 0
        # carried over between steps: an array, or the LSTM's pair (h, c)
        self.h = model.initial_state(self.batch_size)

    @property
    def stream_length(self) -> int:
        return self._inputs.shape[0]

    def _new_epoch(self) -> None:
        T, S = self.seq_length, self.stream_length
        self.epoch += 1
        self.position = int(self.rng.integers(0, min(T, S - T + 1)))
        self.h = self.model.initial_state(self.batch_size)

    def train_step(self) -> float:
        """One update from the next T tokens of every stream; returns the loss (mean per
        token) before the update. Raises TrainingError, leaving the parameters as they
        were, if the loss or a gradient is not finite, and also (then too late to keep
        them) if the update takes a parameter past the floating-point range."""
        T = self.seq_length
        if self.position + T > self.stream_length:
            self._new_epoch()
        loss, h_n = self._loss_and_grads(slice(self.position, self.position + T))
        if not math.isfinite(loss):
            raise TrainingError(
                f"the loss became {loss} at step {self.step_count + 1}; the parameters "
                "are left as they were: lower the learning rate or clip harder"
            )
        grads = self.model.grads
        for name, g in grads.items():
            if not np.isfinite(g).all():
                raise TrainingError(
                    f"the gradient of {name} is not finite at step {self.step_count + 1} (the "
                    f"loss, {loss:.4g}, is); the parameters are left as they were: lower "
                    "the learning rate"
                )
        if self.clip_norm is not None:
            optim.clip_by_global_norm(grads, self.clip_norm)
        if self.clip_value is not None:
            optim.clip_by_value(grads, self.clip_value)
        self.optimizer.step(grads)
        for name, p in self.model.params.items():
            if not np.isfinite(p).all():
                raise TrainingError(
                    f"the parameter {name} is no longer finite after the update of step "
                    f"{self.step_count + 1}: lower the learning rate"
                )
        self.h = h_n
        self.position += T
        self.step_count += 1
        self.tokens_seen += T * self.batch_size
        return loss

    def _loss_and_grads(self, steps: slice) -> tuple[float, np.ndarray]:
        """(mean loss per token, final state (num_layers, B, H)) of the given time steps of
        all B streams from the carried state, with the gradients left in ``model.grads``.
        distributed.DistributedTrainer computes them on its share of the streams instead."""
        out = self.model.loss_and_grads(
            self._inputs[steps], self._targets[steps], self.h, truncate=self.truncate
        )
        return out.loss, out.h_n

    def evaluate(self, tokens, *, batch_size=16, chunk=256) -> float:
        """Mean loss per token of the model on held-out tokens (no update): the tokens are
        read as batch_size streams from a zero state, chunk steps per call."""
        tokens = np.asarray(tokens)
        B = min(batch_size, max(1, (tokens.size - 1) // 2))
        inputs, targets = stream_grid(tokens, B, 1)
        h, total = None, 0.0
        for start in range(0, inputs.shape[0], chunk):
            part = slice(start, start + chunk)
            out = self.model.loss(inputs[part], targets[part], h, reduction="sum")
            total, h = total + out.loss, out.h_n
        return total / inputs.size

    # ---- state -----------------------------------------------------------------------

    def config(self) -> dict:
        """The constructor's keyword arguments but the seed (JSON-friendly)."""
        return {
            "seq_length": self.seq_length,
            "batch_size": self.batch_size,
            "clip_norm": self.clip_norm,
            "clip_value": self.clip_value,
            "truncate": self.truncate,
        }

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-friendly counters and generator state, arrays) that ``restore`` takes."""
        meta = {
            "config": self.config(),
            "step": self.step_count,
            "epoch": self.epoch,
            "position": self.position,
            "tokens_seen": self.tokens_seen,
            "rng": self.rng.bit_generator.state,
            "corpus_tokens": int(self.tokens.size),
            "corpus_sha256": self.fingerprint,
        }
        return meta, self.model.state_arrays(self.h)  # h, and c for the LSTM

    @classmethod
    def restore(cls, model, optimizer, tokens, meta: dict, arrays: dict, **options) -> Trainer:
        """A trainer in the state ``state()`` described, on the same corpus (else
        ValueError). ``model`` and ``optimizer`` carry their own restored state; ``options``
        go to the constructor with the saved configuration (a subclass's own arguments)."""
        trainer = cls(model, optimizer, tokens, **meta["config"], **options)
        if (meta["corpus_tokens"], meta["corpus_sha256"]) != (
            trainer.tokens.size,
            trainer.fingerprint,
        ):
            raise ValueError(
                f"this is not the corpus the run was trained on ({meta['corpus_tokens']} "
                f"tokens then, {trainer.tokens.size} now, or different ones): resume on the "
                "same text"
            )
        position = _contract.check_int("position", meta["position"], 0)
        if position > trainer.stream_length:
            raise ValueError(f"read position {position} is past the end of the streams")
        h = model.state_from_arrays(arrays, trainer.batch_size, what="carried state ")
        trainer.rng.bit_generator.state = meta["rng"]
        trainer.step_count = _contract.check_int("step", meta["step"], 0)
        trainer.epoch = _contract.check_int("epoch", meta["epoch"], 0)
        trainer.tokens_seen = _contract.check_int("tokens_seen", meta["tokens_seen"], 0)
        trainer.position = position
        trainer.h = h
        return trainer
