"""Denny Britz's ``RNNNumpy`` (WildML RNN tutorial, part 2), computed by fastrnn's kernels.

The tutorial's word-level language model (``dennybritz/rnn-tutorial-rnnlm``), with its
names, shapes, initialization and return conventions:

    s_t = tanh(U[:, x_t] + W s_{t-1}),   s_{-1} = 0        (no biases)
    o_t = softmax(V s_t)

U (hidden_dim, word_dim), V (word_dim, hidden_dim), W (hidden_dim, hidden_dim). A
sentence is a sequence x of T word indices and its targets y are the next words
(y_t = x_{t+1}). Losses are sums of -log o_t[y_t]; gradients are those of one
sentence's summed loss, with the tutorial's per-output truncation window (see
``RNNNumpy.bptt``).

Results equal the tutorial's float64 NumPy code to ~1e-12 relative (the same arithmetic,
summed in another order), but no Python loop runs over time steps: one sentence's
gradient is five kernel calls,

    embedding_forward -> rnn_forward(U=None, s0=0, no bias) -> softmax_loss("sum")
    -> rnn_backward(truncate=bptt_truncate) -> embedding_backward

(on fastrnn's C kernels the five run in one C call, ``fastrnn_tutorial_bptt``, with the
same numbers; the five calls stay the path of any other backend), and losses run many
sentences at once, padded into a (T, B) batch.

Deliberate differences from the published code (its bugs are fixed, not reproduced):

- ``calculate_loss`` counts target words with the builtin ``sum``; the original's
  ``np.sum(generator)`` raises TypeError on NumPy 2.
- ``gradient_check`` checks ``self``; the original called a global ``model``. It returns
  True or False (the original returned None, so callers ignoring it are unaffected) and
  counts 0/0 (both gradients exactly zero, as for every word absent from the sentence)
  as agreement without the original's RuntimeWarning; the original also passed those.
- ``train_with_sgd`` returns the list of (num_examples_seen, loss) it records (the
  original returned None although the notebook assigns its result), and is also a method.
- Computation is float64 whatever the dtype of U, V, W, as in the tutorial: float32
  weights (the tutorial's saved Theano model holds float32) are converted at each call,
  where the original's NumPy type promotion did the same.
- x and y must have the same length and hold word indices in [0, word_dim): the
  original wrapped negative indices silently and ignored outputs past len(y).
"""

from __future__ import annotations

import operator
import sys
from datetime import datetime
from types import ModuleType
from typing import ClassVar

import numpy as np

from .. import _fast, _kernels
from ..layers import _positive_int
from ._indices import token_indices

__all__ = ["RNNNumpy", "train_with_sgd"]

# calculate_total_loss pads sentences of similar lengths into one (T, B) batch; this caps
# the batch's probabilities (T, B, word_dim) at 8 MB of float64 (about 6 sentences of 20
# words with the tutorial's 8000-word vocabulary: rows enough for an efficient GEMM, and
# larger batches measured no faster).
_MAX_BATCH_PROBABILITIES = 1 << 20


def _reference_count(value) -> int:
    return sys.getrefcount(value)


def _sole_reference_count() -> int:
    """What _reference_count reports for an array only a local variable refers to.
    Measured rather than assumed: the interpreter may borrow a reference instead of
    counting it (CPython 3.14 does), and the same calls here and in _recycled borrow
    alike."""
    value = np.empty(0)
    return _reference_count(value)


_SOLE_REFERENCE_COUNT = _sole_reference_count()


def _uses_c_kernels(kernels: ModuleType) -> bool:
    """Whether a backend's kernels are fastrnn's C kernels (fastrnn or fastrnn._fast), which
    also run bptt's five kernel calls as one (_kernels.tutorial_bptt)."""
    return getattr(kernels, "softmax_loss", None) is _fast.softmax_loss


class RNNNumpy:
    """The tutorial's RNN language model; its attributes, methods and results.

    Parameters
    ----------
    word_dim : int
        Vocabulary size, the tutorial's ``word_dim`` (8000 there).
    hidden_dim : int
        Hidden size H.
    bptt_truncate : int
        Backpropagation window K of ``bptt``: the gradient of output t reaches hidden
        steps t, t-1, ..., max(0, t-K). K >= T-1 is exact BPTT; K < 0 gives zero dU, dW.

    Attributes
    ----------
    U : ndarray (hidden_dim, word_dim)
        Input-to-hidden weights, column x_t is the input of word x_t.
    V : ndarray (word_dim, hidden_dim)
        Hidden-to-output weights.
    W : ndarray (hidden_dim, hidden_dim)
        Hidden-to-hidden weights.
    word_dim, hidden_dim, bptt_truncate
        As given; ``bptt_truncate`` may be changed between calls.
    backend : module
        Where the kernels come from (class attribute): ``fastrnn._fast``, the C kernels.
        A subclass bound to ``fastrnn.reference`` computes the same with NumPy kernels.

    Notes
    -----
    The weights are drawn from NumPy's global legacy RandomState in the tutorial's order
    and bounds, U ~ uniform(+-sqrt(1/word_dim)), then V and W ~ uniform(+-sqrt(1/H)), so
    ``np.random.seed(10)`` before construction gives the tutorial's weights bit for bit.
    """

    backend: ClassVar[ModuleType] = _fast

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4):
        self.word_dim = _positive_int("word_dim", word_dim)
        self.hidden_dim = _positive_int("hidden_dim", hidden_dim)
        self.bptt_truncate = bptt_truncate
        # The global legacy RandomState (hence the noqa), the tutorial's bounds and its
        # order U, V, W: the same seed gives the same weights.
        word_bound = np.sqrt(1.0 / word_dim)
        hidden_bound = np.sqrt(1.0 / hidden_dim)
        draw = np.random.uniform  # noqa: NPY002
        self.U = draw(-word_bound, word_bound, (hidden_dim, word_dim))
        self.V = draw(-hidden_bound, hidden_bound, (word_dim, hidden_dim))
        self.W = draw(-hidden_bound, hidden_bound, (hidden_dim, hidden_dim))

    # ---- the tutorial's methods -------------------------------------------------------

    def forward_propagation(self, x):
        """Outputs and hidden states of one sentence.

        Parameters
        ----------
        x : sequence of int, length T
            Word indices.

        Returns
        -------
        list [o, s]
            o (T, word_dim): o[t] = softmax(V s_t), the next-word probabilities.
            s (T+1, hidden_dim): s[t] = s_t for t < T, and the extra last row s[T] is the
            zero initial state, so that s[t-1] is s_{-1} at t = 0, as in the tutorial.
        """
        ids = self._word_indices(x, "x")
        T = len(ids)
        s = np.zeros((T + 1, self.hidden_dim))
        if T == 0:
            return [np.zeros((0, self.word_dim)), s]
        states, _ = self._states(ids[:, None], need_cache=False)
        s[:T] = states[:, 0]
        o = self.backend.softmax_forward(states, self._weight("V"))[:, 0]
        return [o, s]

    def predict(self, x):
        """The most probable next word at every step: argmax of o, shape (T,), int."""
        o, _ = self.forward_propagation(x)
        return np.argmax(o, axis=1)

    def calculate_total_loss(self, x, y):
        """Cross-entropy summed over every word of every sentence (not normalized).

        Parameters
        ----------
        x, y : sequences of N sentences
            x[i] the word indices of sentence i, y[i] its targets, of the same length.

        Returns
        -------
        float
            sum over i and t of -log o_t[y[i][t]] for sentence i.
        """
        if len(x) != len(y):
            raise ValueError(
                f"x and y must hold the same number of sentences; got {len(x)} and {len(y)}"
            )
        pairs = [self._sentence_pair(x_i, y_i) for x_i, y_i in zip(x, y, strict=True)]
        return float(sum(self._batch_loss(batch) for batch in self._length_batches(pairs)))

    def calculate_loss(self, x, y):
        """calculate_total_loss divided by the number of target words: the mean per-word
        cross-entropy, about log(word_dim) for an untrained model."""
        num_words = sum(len(y_i) for y_i in y)  # builtin sum: np.sum(generator) fails on NumPy 2
        if num_words == 0:
            raise ValueError("y holds no target words: the loss per word is undefined")
        return self.calculate_total_loss(x, y) / num_words

    def bptt(self, x, y):
        """Gradients of one sentence's summed loss, with the tutorial's truncation.

        The gradient injected at output t, (V^T (o_t - onehot(y_t))) * (1 - s_t^2), goes
        back through at most ``bptt_truncate`` = K applications of W: it reaches hidden
        steps t, t-1, ..., max(0, t-K). dV is never truncated. K >= T-1 is exact BPTT;
        K < 0 makes that window empty, so dU and dW are zero (as in the tutorial).

        Parameters
        ----------
        x, y : sequences of int, length T
            One sentence's word indices and targets.

        Returns
        -------
        list [dLdU, dLdV, dLdW]
            Arrays of the shapes of U (hidden_dim, word_dim), V (word_dim, hidden_dim)
            and W (hidden_dim, hidden_dim), float64.
        """
        ids, targets = self._sentence_pair(x, y)
        K = operator.index(self.bptt_truncate)
        U, V, W = self._weight("U"), self._weight("V"), self._weight("W")
        if len(ids) == 0:
            return [np.zeros_like(U), np.zeros_like(V), np.zeros_like(W)]
        kernels = self.backend
        if _uses_c_kernels(kernels):
            # the five kernels below in one C call (fastrnn_tutorial_bptt), same numbers
            dU, dV = self._recycled("dU", U.shape), self._recycled("dV", V.shape)
            _, dU, dV, dW = _kernels.tutorial_bptt(
                ids[:, None], targets[:, None], U, V, W, K, dU, dV
            )
            self._returned().update(dU=dU, dV=dV)
            return [dU, dV, dW]
        s, cache = self._states(ids[:, None], need_cache=True)
        dV = self._recycled("dV", V.shape)
        out = kernels.softmax_loss(s, V, None, targets[:, None], reduction="sum", dV_out=dV)
        self._returned()["dV"] = out.dV
        if K < 0:
            return [np.zeros_like(U), out.dV, np.zeros_like(W)]
        grads = kernels.rnn_backward(out.ds, cache, truncate=K)
        # grads.dx is the gradient on the looked-up columns U[:, x_t]: scatter it into dU.
        dU = self._recycled("dU", U.shape)
        dU = kernels.embedding_backward(grads.dx, ids[:, None], self.word_dim, out=dU)
        self._returned()["dU"] = dU
        return [dU, out.dV, grads.dW]

    def sgd_step(self, x, y, learning_rate):
        """One plain SGD step on one sentence, in place: P -= learning_rate * dP for U, V, W
        (the tutorial's ``numpy_sdg_step``)."""
        dLdU, dLdV, dLdW = self.bptt(x, y)
        self.U -= learning_rate * dLdU
        self.V -= learning_rate * dLdV
        self.W -= learning_rate * dLdW

    def gradient_check(self, x, y, h=0.001, error_threshold=0.01):
        """Compare ``bptt`` with central differences of ``calculate_total_loss``.

        Every element of U, then V, then W (C order) is perturbed by +-h in place and
        restored; the relative error |b - e| / (|b| + |e|) must not exceed
        error_threshold. Prints the tutorial's messages and stops at the first failure.
        The check uses the model's own ``bptt_truncate``, so it fails on sentences
        longer than bptt_truncate + 1 words, as in the tutorial (which checks with
        ``RNNNumpy(100, 10, bptt_truncate=1000)``).

        Returns
        -------
        bool
            True when every element passed. (The original returned None and checked the
            global ``model`` instead of ``self``.)
        """
        bptt_gradients = self.bptt(x, y)
        for parameter_index, name in enumerate(("U", "V", "W")):
            parameter = getattr(self, name)
            print(f"Performing gradient check for parameter {name} with size {parameter.size}.")
            for ix in np.ndindex(parameter.shape):
                original_value = parameter[ix]
                parameter[ix] = original_value + h
                gradplus = self.calculate_total_loss([x], [y])
                parameter[ix] = original_value - h
                gradminus = self.calculate_total_loss([x], [y])
                parameter[ix] = original_value
                estimated_gradient = (gradplus - gradminus) / (2 * h)
                backprop_gradient = bptt_gradients[parameter_index][ix]
                magnitude = np.abs(backprop_gradient) + np.abs(estimated_gradient)
                # 0/0: both exactly zero, which agree (the original's NaN passed too).
                relative_error = (
                    np.abs(backprop_gradient - estimated_gradient) / magnitude if magnitude else 0.0
                )
                if relative_error > error_threshold:
                    print(f"Gradient Check ERROR: parameter={name} ix={ix}")
                    print(f"+h Loss: {gradplus:f}")
                    print(f"-h Loss: {gradminus:f}")
                    print(f"Estimated_gradient: {estimated_gradient:f}")
                    print(f"Backpropagation gradient: {backprop_gradient:f}")
                    print(f"Relative Error: {relative_error:f}")
                    return False
            print(f"Gradient check for parameter {name} passed.")
        return True

    def train_with_sgd(
        self, X_train, y_train, learning_rate=0.005, nepoch=100, evaluate_loss_after=5
    ):
        """``train_with_sgd(self, ...)``: the tutorial's training loop, as a method."""
        return train_with_sgd(self, X_train, y_train, learning_rate, nepoch, evaluate_loss_after)

    # ---- helpers ----------------------------------------------------------------------

    def _weight(self, name: str) -> np.ndarray:
        """U, V or W as float64 (no copy when it already is C-contiguous float64)."""
        return np.ascontiguousarray(getattr(self, name), dtype=np.float64)

    def _returned(self) -> dict[str, np.ndarray]:
        """Gradient name -> the array bptt last returned for it (see _recycled); not
        pickled or copied with the model."""
        return self.__dict__.setdefault("_last_gradients", {})

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_last_gradients", None)
        return state

    def _recycled(self, name: str, shape: tuple) -> np.ndarray | None:
        """The array ``bptt`` last returned as gradient name (dU or dV), for the C kernels
        to overwrite, when nothing but this model refers to it anymore; else None (the
        kernel allocates a new one).

        The 6.4 MB dLdU and dLdV of the tutorial's sizes, allocated afresh every call,
        may each time come from new pages of the operating system (the allocator returns
        freed memory of that size to it), and faulting those in costs more than the
        products that fill them. The reference count tells that the caller has dropped
        the array and every view of it, so that overwriting it changes nothing anyone can
        see. The array leaves the model's keeping as it is looked at, so that two threads
        cannot both take it."""
        spare = self._returned().pop(name, None)
        if (
            spare is None
            or _reference_count(spare) != _SOLE_REFERENCE_COUNT
            or spare.shape != shape
            or spare.dtype != np.float64
            or not spare.flags.c_contiguous
            or not spare.flags.writeable
        ):
            return None
        return spare

    def _word_indices(self, x, name: str) -> np.ndarray:
        """x as a 1-D int64 array of word indices in [0, word_dim)."""
        return token_indices(x, name, self.word_dim, "word_dim", "word")

    def _sentence_pair(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """One sentence's checked word indices and targets, both (T,) int64."""
        ids, targets = self._word_indices(x, "x"), self._word_indices(y, "y")
        if len(ids) != len(targets):
            raise ValueError(
                "x and y must have the same length (y_t is the word after x_t); got "
                f"len(x) = {len(ids)}, len(y) = {len(targets)}"
            )
        return ids, targets

    def _states(self, ids: np.ndarray, need_cache: bool):
        """rnn_forward over token ids (T, B) from s_{-1} = 0: states (T, B, H), cache."""
        kernels = self.backend
        Ux = kernels.embedding_forward(ids, self._weight("U"))  # (T, B, H): columns U[:, x_t]
        return kernels.rnn_forward(Ux, None, None, self._weight("W"), need_cache=need_cache)

    def _length_batches(self, pairs: list) -> list[list]:
        """The non-empty sentence pairs grouped by length (shortest first) into batches
        whose padded probabilities stay within _MAX_BATCH_PROBABILITIES."""
        by_length = sorted((p for p in pairs if len(p[0])), key=lambda p: len(p[0]))
        batches: list[list] = []
        for pair in by_length:
            T = len(pair[0])  # the longest so far: sorted
            if batches and T * (len(batches[-1]) + 1) * self.word_dim <= _MAX_BATCH_PROBABILITIES:
                batches[-1].append(pair)
            else:
                batches.append([pair])
        return batches

    def _batch_loss(self, batch: list) -> float:
        """Summed -log o_t[y_t] of the sentences of batch, run as one padded (T, B) batch.

        Padding goes after each sentence's end, where it cannot change earlier states,
        and its outputs are never read."""
        T, B = max(len(ids) for ids, _ in batch), len(batch)
        ids = np.zeros((T, B), dtype=np.int64)
        targets = np.zeros((T, B), dtype=np.int64)
        valid = np.zeros((T, B), dtype=bool)
        for n, (x_n, y_n) in enumerate(batch):
            ids[: len(x_n), n] = x_n
            targets[: len(y_n), n] = y_n
            valid[: len(x_n), n] = True
        s, _ = self._states(ids, need_cache=False)
        o = self.backend.softmax_forward(s, self._weight("V"))  # (T, B, word_dim)
        t, n = np.nonzero(valid)
        return -float(np.sum(np.log(o[t, n, targets[t, n]])))


def train_with_sgd(model, X_train, y_train, learning_rate=0.005, nepoch=100, evaluate_loss_after=5):
    """The tutorial's SGD loop: one sentence per step, in order, no shuffling.

    Before the pass of every epoch with ``epoch % evaluate_loss_after == 0`` it computes
    ``model.calculate_loss`` on the whole training set, records and prints it, and halves
    the learning rate when that loss is higher than at the previous evaluation. There is
    no evaluation after the last epoch.

    Parameters
    ----------
    model : RNNNumpy
    X_train, y_train : sequences of sentences (word-index sequences)
    learning_rate : float
    nepoch : int
    evaluate_loss_after : int
        Evaluate every this many epochs.

    Returns
    -------
    list of (int, float)
        (num_examples_seen, loss) at every evaluation. The original returned None.
    """
    losses = []
    num_examples_seen = 0
    for epoch in range(nepoch):
        if epoch % evaluate_loss_after == 0:
            loss = model.calculate_loss(X_train, y_train)
            losses.append((num_examples_seen, loss))
            time = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            print(
                f"{time}: Loss after num_examples_seen={num_examples_seen} epoch={epoch}: {loss:f}"
            )
            if len(losses) > 1 and losses[-1][1] > losses[-2][1]:
                learning_rate = learning_rate * 0.5
                print(f"Setting learning rate to {learning_rate:f}")
            sys.stdout.flush()
        for i in range(len(y_train)):
            model.sgd_step(X_train[i], y_train[i], learning_rate)
            num_examples_seen += 1
    return losses
