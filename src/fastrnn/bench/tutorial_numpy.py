"""The baseline of the lm-step workload: the WildML tutorial's RNNNumpy, in plain NumPy.

Denny Britz's "Recurrent Neural Networks Tutorial, Part 2" (``dennybritz/rnn-tutorial-rnnlm``,
``RNNLM.ipynb``) trains a word-level language model with

    s_t = tanh(U[:, x_t] + W s_{t-1}),   s_{-1} = 0        (no biases)
    o_t = softmax(V s_t)

U (hidden_dim, word_dim), V (word_dim, hidden_dim), W (hidden_dim, hidden_dim), float64,
and its ``bptt`` truncates backpropagation per output: the gradient injected at output t
goes back through at most ``bptt_truncate`` applications of W.

This module is that code as published: one Python loop iteration per time step in
``forward_propagation``, an outer product per output and per window step in ``bptt``, the
tutorial's statement order (so its floating-point results are the tutorial's). It is
written from the published semantics, not from fastrnn, and calls nothing of fastrnn: it
is what ``fastrnn.compat.RNNNumpy`` is timed against, and the oracle its gradients are
checked against. (The test suite keeps its own independent copy, as the package must not
import tests/.) The weights are passed in rather than drawn from NumPy's global random
state, the only change: the benchmark gives every backend the same seeded weights.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    """The tutorial's ``utils.softmax`` of one vector, max-shifted."""
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


class TutorialRNNNumpy:
    """The tutorial's RNNNumpy: ``forward_propagation`` and ``bptt``, loop for loop.

    Parameters
    ----------
    U : ndarray (hidden_dim, word_dim)
    V : ndarray (word_dim, hidden_dim)
    W : ndarray (hidden_dim, hidden_dim)
        float64 weights, used as given (not copied).
    bptt_truncate : int
        The window of ``bptt``; a value >= T - 1 gives exact backpropagation through time.
    """

    def __init__(self, U, V, W, bptt_truncate=4):
        self.hidden_dim, self.word_dim = U.shape
        self.bptt_truncate = bptt_truncate
        self.U = U
        self.V = V
        self.W = W

    def forward_propagation(self, x):
        """[o (T, word_dim), s (T + 1, hidden_dim)] of the word indices x (length T).

        s[T], the last row, stays zero: it is s_{-1}, read as ``s[t - 1]`` at t = 0."""
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))
        s[-1] = np.zeros(self.hidden_dim)
        o = np.zeros((T, self.word_dim))
        for t in np.arange(T):
            # Indexing U by x[t] is the product of U with a one-hot vector.
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t - 1]))
            o[t] = softmax(self.V.dot(s[t]))
        return [o, s]

    def bptt(self, x, y):
        """[dLdU, dLdV, dLdW] of one sentence's summed cross-entropy, truncated per output.

        The gradient of output t reaches hidden steps t, t-1, ..., max(0, t -
        bptt_truncate); dLdV is never truncated."""
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape)
        dLdV = np.zeros(self.V.shape)
        dLdW = np.zeros(self.W.shape)
        delta_o = o
        delta_o[np.arange(len(y)), y] -= 1.0
        for t in np.arange(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t].T)
            # Initial delta calculation: dL/dz
            delta_t = self.V.T.dot(delta_o[t]) * (1 - (s[t] ** 2))
            # Backpropagation through time (for at most self.bptt_truncate steps)
            for bptt_step in np.arange(max(0, t - self.bptt_truncate), t + 1)[::-1]:
                dLdW += np.outer(delta_t, s[bptt_step - 1])
                dLdU[:, x[bptt_step]] += delta_t
                # Update delta for next step dL/dz at t-1
                delta_t = self.W.T.dot(delta_t) * (1 - s[bptt_step - 1] ** 2)
        return [dLdU, dLdV, dLdW]
