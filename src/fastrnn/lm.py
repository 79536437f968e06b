"""The article's language model: token ids in, o_t = softmax(V s_t + c) out, over a stack
of recurrent layers (vanilla RNN, LSTM or GRU), written once and bound to a backend's
kernels.

``fastrnn.RNNLM`` and ``fastrnn.reference.RNNLM`` are ``RNNLMBase`` bound to the C kernels
and to the NumPy reference, like ``RNN`` (see layers.py). One step of the model is

    x_t = U[:, ids_t]                        embedding_forward (a one-hot times U)
    s_t = f(x_t + W s_{t-1} + b)             rnn_forward(U=None), then more layers if any
    o_t = softmax(V s_t + c)                 softmax_loss / softmax_forward

and its gradients run the same kernels backwards: softmax_loss gives ds, rnn_backward
gives dx, embedding_backward scatters dx into U's columns. The LSTM and GRU run the same
way with their G = 4 or 3 gates stacked in U (G*H, D): the embedding lookup gives the input
projection of every gate at once, (T, B, G*H), which lstm_forward / gru_forward take with
U=None; the LSTM carries the pair (h, c) from call to call where the others carry h.

Parameters follow PyTorch: the model is ``torch.nn.RNN`` (``LSTM``, ``GRU``)
``(vocab_size, hidden_size, num_layers)`` fed one-hot vectors, followed by
``torch.nn.Linear(hidden_size, vocab_size)``, so the names are ``rnn.weight_ih_l0`` (G*H, D)
(= U, whose columns are the token embeddings), ``rnn.weight_hh_l{k}`` (G*H, H) (= W),
``rnn.bias_ih_l{k}`` and ``rnn.bias_hh_l{k}`` (G*H,), ``rnn.weight_ih_l{k}`` (G*H, H) for
k >= 1, ``decoder.weight`` (K, H) (= V) and ``decoder.bias`` (K,) (= c), with K = D =
vocab_size and G = 1 for the vanilla RNN (whose two biases add up to b). Every entry starts
from U(-1/sqrt(H), 1/sqrt(H)), PyTorch's initialization of both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import ClassVar, NamedTuple

import numpy as np

from . import _contract, layers

Backend = ModuleType

CELLS = ("rnn", "lstm", "gru")

# The carried state: an array (num_layers, B, H) of hidden states for "rnn" and "gru", the
# pair (h, c) of such arrays for "lstm", as torch's modules take and return it.
State = np.ndarray | tuple[np.ndarray, np.ndarray]


class LMLoss(NamedTuple):
    """Loss of a call of ``RNNLM.loss`` or ``RNNLM.loss_and_grads``, and the final state."""

    loss: float
    h_n: State  # (num_layers, B, H), the LSTM's pair (h_n, c_n): the next call's h0


class LMOutput(NamedTuple):
    """Probabilities of ``RNNLM.forward`` and the final state."""

    probs: np.ndarray  # (T, B, K)
    h_n: State  # (num_layers, B, H), or the LSTM's pair (h_n, c_n)


def check_cell(cell) -> str:
    if cell not in CELLS:
        raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru'; got {cell!r}")
    return cell


def _optional_int(name: str, value, minimum: int) -> int | None:
    return None if value is None else _contract.check_int(name, value, minimum)


class RNNLMBase:
    """Recurrent language model over a vocabulary of ``vocab_size`` tokens.

    Parameters
    ----------
    vocab_size : int
        D = K, the number of distinct tokens (input and output).
    hidden_size : int
        H.
    num_layers : int
        Stacked recurrent layers; layer k > 0 reads layer k-1's states.
    cell : {"rnn", "lstm", "gru"}
        The recurrent cell: the vanilla RNN, or PyTorch's LSTM or GRU. The LSTM's state is
        the pair (h, c) wherever a state goes in or comes out (h0, h_n).
    nonlinearity : {"tanh", "relu"}
        The vanilla RNN's; the LSTM and GRU take only "tanh" (their activations are fixed).
    bias : bool
        Whether the recurrent layers and the decoder have biases.
    dtype : np.float32 or np.float64
        Precision of the parameters and of every computation.
    seed : int, np.random.Generator or None
        Seeds the initialization.

    Attributes
    ----------
    params : dict of name -> array
        The live parameters (optimizers update them in place), PyTorch's names.
    grads : dict of name -> array
        Gradients of the last ``loss_and_grads`` (overwritten, not accumulated).
    """

    backend: ClassVar[Backend | None] = None

    def __init__(
        self,
        vocab_size,
        hidden_size,
        num_layers=1,
        *,
        cell="rnn",
        nonlinearity="tanh",
        bias=True,
        dtype=np.float32,
        seed=None,
    ):
        if self.backend is None:
            raise TypeError("use fastrnn.RNNLM or fastrnn.reference.RNNLM, not RNNLMBase")
        self.vocab_size = _contract.check_int("vocab_size", vocab_size)
        self.hidden_size = _contract.check_int("hidden_size", hidden_size)
        self.num_layers = _contract.check_int("num_layers", num_layers)
        self.cell = check_cell(cell)
        self.nonlinearity = _contract.check_nonlinearity(nonlinearity)
        if self.cell != "rnn" and self.nonlinearity != "tanh":
            raise ValueError(
                f"nonlinearity {nonlinearity!r} is for cell='rnn'; the {self.cell.upper()}'s "
                "gates have fixed activations (sigmoid and tanh)"
            )
        self.bias = bool(bias)
        self.dtype = layers._model_dtype(dtype)
        _contract.ensure_parameter_memory("RNNLM", self.param_shapes(), self.dtype)

        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(self.hidden_size)
        self.params: dict[str, np.ndarray] = {
            name: rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            for name, shape in self.param_shapes().items()
        }
        self.grads: dict[str, np.ndarray] = {}

    def config(self) -> dict:
        """The constructor's arguments (but the seed): ``type(m)(**m.config())`` builds a
        model of the same architecture."""
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "cell": self.cell,
            "nonlinearity": self.nonlinearity,
            "bias": self.bias,
            "dtype": self.dtype.name,
        }

    @property
    def state_names(self) -> tuple[str, ...]:
        """The carried states: ("h",), or ("h", "c") for the LSTM."""
        return layers.STATE_NAMES[self.cell]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in initialization order."""
        D, H = self.vocab_size, self.hidden_size
        GH = layers.GATES[self.cell] * H
        shapes = {}
        for k in range(self.num_layers):
            shapes[f"rnn.weight_ih_l{k}"] = (GH, D if k == 0 else H)
            shapes[f"rnn.weight_hh_l{k}"] = (GH, H)
            if self.bias:
                shapes[f"rnn.bias_ih_l{k}"] = (GH,)
                shapes[f"rnn.bias_hh_l{k}"] = (GH,)
        shapes["decoder.weight"] = (D, H)
        if self.bias:
            shapes["decoder.bias"] = (D,)
        return shapes

    def __repr__(self) -> str:
        return (
            f"{type(self).__module__}.{type(self).__name__}({self.vocab_size}, "
            f"{self.hidden_size}, num_layers={self.num_layers}, cell={self.cell!r}, "
            f"nonlinearity={self.nonlinearity!r}, bias={self.bias}, dtype=np.{self.dtype})"
        )

    # ---- inputs --------------------------------------------------------------------

    def _ids(self, name: str, ids, TB=None) -> np.ndarray:
        return _contract.check_ids(name, ids, self.vocab_size, "vocab_size", TB=TB)

    def _state(self, name: str, a, B: int) -> np.ndarray:
        """One state as a (num_layers, B, H) array of the model's dtype; None gives zeros."""
        shape = (self.num_layers, B, self.hidden_size)
        if a is None:
            return np.zeros(shape, dtype=self.dtype)
        arrays, untyped = _contract.as_arrays(**{name: a})
        a = arrays[name]
        _contract.common_float_dtype(arrays, untyped)  # refuses float16, complex, ...
        if a.dtype.kind == "f" and a.dtype != self.dtype and not untyped:
            raise TypeError(
                f"{name} has dtype {a.dtype} but this model's parameters are {self.dtype}; pass "
                f"{name}.astype(np.{self.dtype})"
            )
        if a.shape != shape:
            raise ValueError(
                f"{name} must have shape (num_layers, B, H) = {shape}; got {tuple(a.shape)}"
            )
        return np.asarray(a, dtype=self.dtype)

    def _initial(self, h0, B: int) -> tuple[np.ndarray, ...]:
        """The state h0 (an array, the LSTM's pair, or None for zeros) as a tuple of
        (num_layers, B, H) arrays, one per name in state_names."""
        if len(self.state_names) == 1:
            return (self._state("h0", h0, B),)
        h0, c0 = layers._state_pair("h0", h0, ("h0", "c0"))
        return self._state("h0", h0, B), self._state("c0", c0, B)

    def _public(self, states: tuple[np.ndarray, ...]) -> State:
        """The tuple of _initial as the API hands it out: an array, or the LSTM's pair."""
        return states[0] if len(states) == 1 else tuple(states)

    def initial_state(self, batch_size: int) -> State:
        """Zeros of shape (num_layers, B, H) (a pair of them for the LSTM): the state before
        the first token."""
        B = _contract.check_int("batch_size", batch_size)
        return self._public(self._initial(None, B))

    def state_arrays(self, state: State) -> dict[str, np.ndarray]:
        """A carried state as named copies, {"h": h} or, for the LSTM, {"h": h, "c": c}: how
        a checkpoint stores it (``state_from_arrays`` reads it back)."""
        parts = (state,) if len(self.state_names) == 1 else state
        return {name: np.array(a) for name, a in zip(self.state_names, parts, strict=True)}

    def state_from_arrays(self, arrays: Mapping, batch_size: int, what: str = "") -> State:
        """The state ``state_arrays`` gave, checked.

        Parameters
        ----------
        arrays : mapping name -> array
            Exactly the names of ``state_names``, each a finite array of the model's
            dtype and shape (num_layers, batch_size, H).
        batch_size : int
        what : str
            Prefixes the entry's name in error messages (e.g. "trainer/").

        Returns
        -------
        array (num_layers, B, H), or the LSTM's pair of them (copies)

        Raises
        ------
        ValueError
            For a missing, unexpected, misshapen, mistyped or non-finite entry.
        """
        names = self.state_names
        unexpected = sorted(set(arrays) - set(names))
        if unexpected:
            raise ValueError(
                f"{what}{unexpected[0]} is not a state of cell={self.cell!r} (it carries "
                f"{', '.join(names)})"
            )
        shape = (self.num_layers, batch_size, self.hidden_size)
        parts = []
        for name in names:
            if name not in arrays:
                raise ValueError(
                    f"{what}{name} is missing (cell={self.cell!r} carries {', '.join(names)})"
                )
            a = np.asarray(arrays[name])
            if a.dtype != self.dtype or a.shape != shape or not np.isfinite(a).all():
                raise ValueError(
                    f"{what}{name} must be finite {self.dtype} {shape}; got {a.dtype} "
                    f"{tuple(a.shape)}"
                )
            parts.append(np.array(a))
        return self._public(tuple(parts))

    # ---- the recurrent stack -------------------------------------------------------
    # The cell's kernels run through layers.cell_forward / cell_backward, as in the layer
    # classes; the embedding and the output layer are the same for every cell.

    def _layer(self, k: int) -> tuple:
        """(U, W, b_ih, b_hh) of layer k; U is None for layer 0, whose input is the
        embedding (the input projection itself), the biases None without bias."""
        p = self.params
        U = None if k == 0 else p[f"rnn.weight_ih_l{k}"]
        return U, p[f"rnn.weight_hh_l{k}"], p.get(f"rnn.bias_ih_l{k}"), p.get(f"rnn.bias_hh_l{k}")

    def _run(self, ids: np.ndarray, initial: tuple, need_cache: bool):
        """Top-layer states s (T, B, H), the final states (a tuple like initial, each
        (num_layers, B, H)), and the per-layer caches (None without need_cache)."""
        layer_input = self.backend.embedding_forward(ids, self.params["rnn.weight_ih_l0"])
        finals = tuple(np.empty_like(a) for a in initial)
        caches = []
        for k in range(self.num_layers):
            states, cache = layers.cell_forward(
                self.backend,
                self.cell,
                layer_input,
                tuple(a[k] for a in initial),
                self._layer(k),
                need_cache,
                self.nonlinearity,
                last_c_only=True,  # only the final cell state is read (the LSTM's)
            )
            caches.append(cache)
            for final, state in zip(finals, states, strict=True):
                final[k] = state[-1]
            layer_input = states[0]
        return layer_input, finals, caches

    def _backprop(self, ds: np.ndarray, caches: list, ids: np.ndarray, truncate) -> dict:
        """Gradients of the recurrent parameters from ds (T, B, H) on the top states; the
        state entering the call gets none (h0 is a constant), nor does the LSTM's cell
        state from outside its layer."""
        grads = {}
        from_outside = (None,) * (len(self.state_names) - 1)  # dc: nothing but through s
        for k in reversed(range(self.num_layers)):
            dx, _, (dU, dW, db_ih, db_hh) = layers.cell_backward(
                self.backend, self.cell, caches[k], (ds, *from_outside), truncate
            )
            if k == 0:
                # dx is the gradient on U[:, ids]: scatter it into U's columns
                grads["rnn.weight_ih_l0"] = self.backend.embedding_backward(
                    dx, ids, self.vocab_size
                )
            else:
                grads[f"rnn.weight_ih_l{k}"] = dU
            grads[f"rnn.weight_hh_l{k}"] = dW
            if self.bias:
                grads[f"rnn.bias_ih_l{k}"] = db_ih
                grads[f"rnn.bias_hh_l{k}"] = db_hh
            ds = dx
        return grads

    def _decoder(self):
        return self.params["decoder.weight"], self.params.get("decoder.bias")

    # ---- passes --------------------------------------------------------------------

    def forward(self, ids, h0=None) -> LMOutput:
        """Next-token probabilities at every step (inference: nothing kept for gradients).

        Parameters
        ----------
        ids : int array (T, B)
            Token ids in [0, vocab_size), time-major.
        h0 : array (num_layers, B, H), the LSTM's pair (h0, c0) of them, or None
            State before the first step; None (or a None in the pair) means zeros.

        Returns
        -------
        LMOutput (probs (T, B, K), h_n (num_layers, B, H), or the LSTM's pair (h_n, c_n))
        """
        ids = self._ids("ids", ids)
        s, h_n, _ = self._run(ids, self._initial(h0, ids.shape[1]), need_cache=False)
        V, c = self._decoder()
        return LMOutput(self.backend.softmax_forward(s, V, c), self._public(h_n))

    __call__ = forward

    def loss(self, ids, targets, h0=None, *, mask=None, reduction="mean") -> LMLoss:
        """Cross-entropy of the next-token predictions, without gradients.

        Same arguments as ``loss_and_grads`` (without truncate and chunk)."""
        ids = self._ids("ids", ids)
        targets = self._ids("targets", targets, TB=ids.shape)
        mask = _contract.check_mask(mask, ids.shape)
        reduction = _contract.check_reduction(reduction)
        s, h_n, _ = self._run(ids, self._initial(h0, ids.shape[1]), need_cache=False)
        V, c = self._decoder()
        out = self.backend.softmax_loss(s, V, c, targets, mask, reduction=reduction)
        return LMLoss(out.loss, self._public(h_n))

    def loss_and_grads(
        self, ids, targets, h0=None, *, mask=None, reduction="mean", truncate=None, chunk=None
    ) -> LMLoss:
        """Loss and its gradients (stored in ``self.grads``) by backpropagation through time.

        Parameters
        ----------
        ids : int array (T, B)
            Input tokens in [0, vocab_size), time-major.
        targets : int array (T, B)
            The token to predict at every step (for a language model, ids moved by one).
        h0 : array (num_layers, B, H), the LSTM's pair (h0, c0) of them, or None
            State before the first step (None: zeros). It is a constant: no gradient flows
            into it, which is how a state carried over from the previous call is cut off.
        mask : array (T, B) of 0/1 or bool, or None
            0 drops a target from the loss (padding); None counts every target.
        reduction : {"mean", "sum"}
            "mean" divides by the number of unmasked targets in all T steps (a per-token
            loss; 0 with zero gradients when every target is masked), "sum" does not.
        truncate : int K >= 0 or None
            Per-output BPTT window inside each layer (see ``rnn_backward``,
            ``lstm_backward``, ``gru_backward``); None is exact.
        chunk : int L >= 1 or None
            Chunked truncated BPTT (min-char-rnn's scheme): the T steps are processed L at
            a time, each chunk starting from the previous chunk's final state taken as a
            constant, and the chunks' gradients are summed. None, or L >= T, is one chunk.

        Returns
        -------
        LMLoss (loss float, h_n (num_layers, B, H) or the LSTM's pair (h_n, c_n))
            h_n is the state after the last step, to pass as the next call's h0.
        """
        ids = self._ids("ids", ids)
        T, B = ids.shape
        targets = self._ids("targets", targets, TB=(T, B))
        mask = _contract.check_mask(mask, (T, B))
        reduction = _contract.check_reduction(reduction)
        truncate = _contract.check_truncate(truncate)
        L = _optional_int("chunk", chunk, 1) or T
        h = self._initial(h0, B)
        V, c = self._decoder()

        # One chunk: the kernel applies the reduction. Several: each chunk's sum, then one
        # division by the number of targets of all chunks.
        one_chunk = L >= T
        total = 0.0
        grads: dict[str, np.ndarray] = {}
        for start in range(0, T, L):
            steps = slice(start, start + L)
            s, h, caches = self._run(ids[steps], h, need_cache=True)
            out = self.backend.softmax_loss(
                s,
                V,
                c,
                targets[steps],
                None if mask is None else mask[steps],
                reduction=reduction if one_chunk else "sum",
            )
            chunk_grads = self._backprop(out.ds, caches, ids[steps], truncate)
            chunk_grads["decoder.weight"] = out.dV
            if self.bias:
                chunk_grads["decoder.bias"] = out.dc
            for name, g in chunk_grads.items():
                if name in grads:
                    grads[name] += g
                else:
                    grads[name] = g
            total += out.loss

        if reduction == "mean" and not one_chunk:
            count = T * B if mask is None else int(np.count_nonzero(mask))
            scale = 1.0 / count if count else 0.0
            total *= scale
            for g in grads.values():
                g *= g.dtype.type(scale)
        self.grads = {name: grads[name] for name in self.params}
        return LMLoss(total, self._public(h))

    # ---- generation ----------------------------------------------------------------

    def sample(self, prime, length, *, temperature=1.0, top_k=None, seed=None, h0=None):
        """Draw ``length`` tokens after the prime, one at a time.

        The prime runs through the network once; then every drawn token advances the
        state by one step (O(1) work per token: the prefix is never run again). With the C
        kernels (``fastrnn.RNNLM``) the whole token loop runs in one C call on the same
        kernels and numbers as the token-by-token loop (the reference backend's path), so
        it draws the same tokens (but a ``seed`` Generator that sees a ValueError has
        advanced by ``length`` draws, not by the tokens drawn before it).

        Parameters
        ----------
        prime : int array (P,) with P >= 1
            Tokens to start from (the last one is the input of the first draw).
        length : int >= 0
        temperature : float > 0
            Draws from softmax(z / temperature) for the logits z: below 1 sharper (more
            likely tokens), above 1 flatter (more varied).
        top_k : int >= 1 or None
            Draw only among the k most likely tokens (None: all).
        seed : int, np.random.Generator or None
            The same seed gives the same tokens.
        h0 : array (num_layers, 1, H), the LSTM's pair of them, or None
            State before the prime.

        Returns
        -------
        ids : int64 array (length,)
        """
        arrays, _ = _contract.as_arrays(prime=prime)
        prime = np.atleast_1d(arrays["prime"])
        if prime.ndim != 1 or prime.size == 0:
            raise ValueError(
                f"prime must hold at least one token id, shape (P,); got {prime.shape}"
            )
        prime = self._ids("prime", prime[:, None])
        length = _contract.check_int("length", length, 0)
        temperature = _contract.check_positive_float("temperature", temperature)
        top_k = _optional_int("top_k", top_k, 1)
        rng = np.random.default_rng(seed)
        # softmax((V s + c) / temperature) with the division folded into V and c, once (a
        # division by 1 is exact: the parameters themselves serve)
        V, c = self._decoder()
        if temperature != 1.0:
            V = V / V.dtype.type(temperature)
            c = None if c is None else c / c.dtype.type(temperature)

        out = np.empty(length, dtype=np.int64)
        if getattr(self.backend, "sample_tokens", None) is not None:
            initial = self._initial(h0, 1)
            return self._sample_fused(prime[:, 0], initial, V, c, rng.random(length), top_k, out)
        # One token at a time: the reference's path, and the specification of the fused one.
        s, h, _ = self._run(prime, self._initial(h0, 1), need_cache=False)
        for i in range(length):
            probs = self.backend.softmax_forward(s[-1:], V, c)[0, 0]
            out[i] = draw(probs, rng, top_k)
            if i + 1 < length:
                s, h, _ = self._run(out[i : i + 1, None], h, need_cache=False)
        return out

    def _sample_fused(self, prime, h, V, c, uniforms, top_k, out) -> np.ndarray:
        """The loop of ``sample`` in the backend's ``sample_tokens``: the prime and every
        token in one C call, from the state h before the prime, on the same kernels and
        numbers, so the same tokens. ``rng.random(length)`` gives the uniforms that
        ``length`` calls of ``rng.random()`` would. A token the kernel leaves undecided
        (non-finite probabilities, a top_k cut inside a tie) is ``draw``'s, from its
        probabilities, and the kernel resumes after it."""
        weights = [self._layer(k) for k in range(self.num_layers)]
        weights[0] = (self.params["rnn.weight_ih_l0"], *weights[0][1:])  # the embedding
        if self.cell == "rnn":  # rnn_forward takes the sum of the biases, as cell_forward
            weights = [(U, W, None if b_ih is None else b_ih + b_hh, None)
                       for U, W, b_ih, b_hh in weights]  # fmt: skip
        if top_k is not None and top_k >= self.vocab_size:
            top_k = None  # draw's cut keeps every token then (and the kernel takes int64)
        length, i = len(out), 0
        while i < length:
            ids, drawn, probs, h = self.backend.sample_tokens(
                self.cell, self.nonlinearity, weights, V, c, h, prime, uniforms[i:], top_k
            )
            out[i : i + drawn] = ids[:drawn]
            i += drawn
            if i == length:
                break
            out[i] = _draw_from(probs, uniforms[i], top_k)  # raises for non-finite ones
            prime = out[i : i + 1]  # the next call starts with this token
            i += 1
        return out

    # ---- weights -------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under their (PyTorch) names."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Copy parameters in from a mapping name -> array (cast to the model's dtype).
        Nothing changes unless every entry is present, shaped right and finite."""
        loaded = _contract.check_arrays(state_dict, self.param_shapes(), "state_dict", repr(self))
        for name, a in loaded.items():
            self.params[name][...] = a


def draw(probs: np.ndarray, rng: np.random.Generator, top_k: int | None = None) -> int:
    """One index drawn from the probabilities (K,), restricted to the top_k largest.

    Inverse-CDF sampling with one ``rng.random()`` per draw: the same generator state gives
    the same index. Entries of zero probability are never drawn."""
    cdf = _cdf(probs, top_k)
    return _invert(cdf, rng.random())


def _cdf(probs: np.ndarray, top_k: int | None) -> np.ndarray:
    """The cumulative sums of the probabilities in float64, zero outside the top_k."""
    p = np.asarray(probs, dtype=np.float64)
    if top_k is not None and top_k < p.size:
        keep = np.argpartition(p, -top_k)[-top_k:]
        p = np.zeros_like(p)
        p[keep] = probs[keep]
    cdf = np.cumsum(p)
    if not (np.isfinite(cdf[-1]) and cdf[-1] > 0):
        raise ValueError("the model's probabilities are not finite (are its weights NaN?)")
    return cdf


def _invert(cdf: np.ndarray, u: float) -> int:
    """The first index whose cumulative probability exceeds u * total, u in [0, 1)."""
    return int(np.searchsorted(cdf, u * cdf[-1], side="right"))


def _draw_from(probs: np.ndarray, u: float, top_k: int | None) -> int:
    """``draw`` with its uniform given."""
    return _invert(_cdf(probs, top_k), u)
