"""Independent plain-NumPy implementations of the three classic models, the oracles of
test_compat_*.py.

Written from the published semantics recorded in shared/notes/reference-models.md, not
from fastrnn: one Python loop iteration per time step, one-hot and outer products where
the originals have them, the originals' statement order (so that their floating-point
results are the originals'). Nothing here calls fastrnn.

- ``TutorialRNNNumpy``, ``tutorial_train_with_sgd``: Denny Britz's RNNNumpy, with its
  forward_propagation / bptt loops (per-output truncation window) and its lr schedule.
- ``gist_lossFun``, ``gist_sample``: Karpathy's min-char-rnn, with its one-hot vectors,
  its unshifted softmax and its clipping.
- ``assignment_*``: the CS231n assignment-3 step functions and the sequence functions
  built from them by looping, plus the course's gradient-check helpers.
"""

# The legacy np.random calls are the point: the originals draw from NumPy's global
# legacy RandomState.
# ruff: noqa: NPY002

from __future__ import annotations

import numpy as np

# ---- Britz's RNNNumpy ---------------------------------------------------------------------


def tutorial_softmax(z):
    """The tutorial's utils.softmax of one vector: max-shifted."""
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


class TutorialRNNNumpy:
    """The tutorial's RNNNumpy, one loop iteration per step as in the notebook."""

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4):
        self.word_dim = word_dim
        self.hidden_dim = hidden_dim
        self.bptt_truncate = bptt_truncate
        self.U = np.random.uniform(
            -np.sqrt(1.0 / word_dim), np.sqrt(1.0 / word_dim), (hidden_dim, word_dim)
        )
        self.V = np.random.uniform(
            -np.sqrt(1.0 / hidden_dim), np.sqrt(1.0 / hidden_dim), (word_dim, hidden_dim)
        )
        self.W = np.random.uniform(
            -np.sqrt(1.0 / hidden_dim), np.sqrt(1.0 / hidden_dim), (hidden_dim, hidden_dim)
        )

    def forward_propagation(self, x):
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))  # s[-1], the last row, stays the zero s_{-1}
        o = np.zeros((T, self.word_dim))
        for t in range(T):
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t - 1]))
            o[t] = tutorial_softmax(self.V.dot(s[t]))
        return [o, s]

    def predict(self, x):
        o, _ = self.forward_propagation(x)
        return np.argmax(o, axis=1)

    def calculate_total_loss(self, x, y):
        L = 0.0
        for i in range(len(y)):
            o, _ = self.forward_propagation(x[i])
            correct_word_predictions = o[np.arange(len(y[i])), y[i]]
            L += -1 * np.sum(np.log(correct_word_predictions))
        return L

    def calculate_loss(self, x, y):
        N = sum(len(y_i) for y_i in y)  # the intended builtin sum (np.sum fails on NumPy 2)
        return self.calculate_total_loss(x, y) / N

    def bptt(self, x, y):
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape)
        dLdV = np.zeros(self.V.shape)
        dLdW = np.zeros(self.W.shape)
        delta_o = o
        delta_o[np.arange(len(y)), y] -= 1.0
        for t in range(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t])
            delta_t = self.V.T.dot(delta_o[t]) * (1 - s[t] ** 2)
            # The window: steps t, t-1, ..., max(0, t - bptt_truncate).
            for bptt_step in range(max(0, t - self.bptt_truncate), t + 1)[::-1]:
                dLdW += np.outer(delta_t, s[bptt_step - 1])
                dLdU[:, x[bptt_step]] += delta_t
                delta_t = self.W.T.dot(delta_t) * (1 - s[bptt_step - 1] ** 2)
        return [dLdU, dLdV, dLdW]

    def sgd_step(self, x, y, learning_rate):
        dLdU, dLdV, dLdW = self.bptt(x, y)
        self.U -= learning_rate * dLdU
        self.V -= learning_rate * dLdV
        self.W -= learning_rate * dLdW

    def first_gradient_check_failure(self, x, y, h=0.001, error_threshold=0.01):
        """The (parameter name, index) where the tutorial's gradient_check stops, on self
        (the original's global-model bug aside), or None when every element passes."""
        bptt_gradients = self.bptt(x, y)
        for pidx, pname in enumerate(["U", "V", "W"]):
            parameter = getattr(self, pname)
            it = np.nditer(parameter, flags=["multi_index"], op_flags=[["readwrite"]])
            while not it.finished:
                ix = it.multi_index
                original_value = parameter[ix]
                parameter[ix] = original_value + h
                gradplus = self.calculate_total_loss([x], [y])
                parameter[ix] = original_value - h
                gradminus = self.calculate_total_loss([x], [y])
                estimated_gradient = (gradplus - gradminus) / (2 * h)
                parameter[ix] = original_value
                backprop_gradient = bptt_gradients[pidx][ix]
                with np.errstate(invalid="ignore"):  # 0/0 is NaN, which passes
                    relative_error = np.abs(backprop_gradient - estimated_gradient) / (
                        np.abs(backprop_gradient) + np.abs(estimated_gradient)
                    )
                if relative_error > error_threshold:
                    return pname, ix
                it.iternext()
        return None


def tutorial_train_with_sgd(
    model, X_train, y_train, learning_rate=0.005, nepoch=100, evaluate_loss_after=5
):
    """The tutorial's loop; returns its (num_examples_seen, loss) list, which the original
    only printed, and the learning rate of every epoch."""
    losses = []
    learning_rates = []
    num_examples_seen = 0
    for epoch in range(nepoch):
        if epoch % evaluate_loss_after == 0:
            loss = model.calculate_loss(X_train, y_train)
            losses.append((num_examples_seen, loss))
            if len(losses) > 1 and losses[-1][1] > losses[-2][1]:
                learning_rate = learning_rate * 0.5
        learning_rates.append(learning_rate)
        for i in range(len(y_train)):
            model.sgd_step(X_train[i], y_train[i], learning_rate)
            num_examples_seen += 1
    return losses, learning_rates


# ---- Karpathy's min-char-rnn --------------------------------------------------------------


def gist_lossFun(inputs, targets, hprev, Wxh, Whh, Why, bh, by, clip=True):
    """The gist's lossFun with its globals as arguments; clip=False returns the raw
    gradients (to see whether clipping acted)."""
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))  # unshifted, as in the gist
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])  # KeyError for an empty chunk, as in the gist
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    if clip:
        for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
            np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def gist_sample(h, seed_ix, n, Wxh, Whh, Why, bh, by):
    """The gist's sample: one-hot feedback, np.random.choice over range(vocab_size)."""
    vocab_size = Wxh.shape[1]
    x = np.zeros((vocab_size, 1))
    x[seed_ix] = 1
    ixes = []
    for _ in range(n):
        h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y) / np.sum(np.exp(y))
        ix = np.random.choice(range(vocab_size), p=p.ravel())
        x = np.zeros((vocab_size, 1))
        x[ix] = 1
        ixes.append(ix)
    return ixes


def gist_adagrad(params, grads, mems, learning_rate):
    """The gist's update statement, verbatim in its order."""
    for param, dparam, mem in zip(params, grads, mems, strict=True):
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)


# ---- CS231n assignment 3 ------------------------------------------------------------------


def assignment_rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def assignment_rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)  # through tanh
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def assignment_rnn_forward(x, h0, Wx, Wh, b):
    """The loop over assignment_rnn_step_forward the assignment asks for."""
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    caches = []
    prev_h = h0
    for t in range(T):
        prev_h, cache = assignment_rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def assignment_rnn_backward(dh, caches):
    """dh holds only the upstream gradients; the carried one is added step by step."""
    N, T, H = dh.shape
    x0, _, Wx, Wh, _ = caches[0]
    dx = np.zeros((N, T, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = assignment_rnn_step_backward(
            dh[:, t] + dprev_h, caches[t]
        )
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def assignment_word_embedding_backward(dout, x, V):
    """Scatter-add by an explicit loop over every position."""
    N, T, D = dout.shape
    dW = np.zeros((V, D))
    for n in range(N):
        for t in range(T):
            dW[x[n, t]] += dout[n, t]
    return dW


def assignment_temporal_softmax_loss(x, y, mask):
    """Per-position loop: -sum mask * log softmax / N and its gradient."""
    N, T, V = x.shape
    loss = 0.0
    dx = np.zeros_like(x)
    for n in range(N):
        for t in range(T):
            p = np.exp(x[n, t] - x[n, t].max())
            p /= p.sum()
            if mask[n, t]:
                loss -= np.log(p[y[n, t]])
                dx[n, t] = p
                dx[n, t, y[n, t]] -= 1
    return loss / N, dx / N


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """The course's helper: sum((f(x+h) - f(x-h)) * df) / (2h) for every element of x."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def eval_numerical_gradient(f, x, h=1e-5):
    """Central differences of a scalar function f(x) for every element of x."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = f(x)
        x[ix] = old - h
        neg = f(x)
        x[ix] = old
        grad[ix] = (pos - neg) / (2 * h)
    return grad


def rel_error(x, y):
    """The course's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))
