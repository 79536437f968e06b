"""The vanishing-gradient experiment: why the article's vanilla RNN cannot learn long
dependencies, and what the LSTM and GRU change. ``fastrnn diagnose`` runs both parts and
prints their tables (and draws them with ``--plot``, which needs matplotlib).

Part 1, gradient norms. The three cells, each with PyTorch's default initialization
(every weight and bias from U(-1/sqrt(H), 1/sqrt(H))), read the same random sequences
x (T, B, D) from a zero state. With L_n = u_n . s_{T-1,n} for a random unit vector u_n per
sequence n, BPTT sends dL_n/ds_{T-1-k,n} k steps back; its norm, averaged over the B
sequences, is 1 at lag 0 and shows how fast the signal from the output fades (or grows)
with the lag k. The LSTM's state is the pair (h, c): its two columns are the gradients on
h and on c, each an input of the steps that follow (the other held fixed). A second
setting multiplies the range of every W (the recurrent weights) by ``w_scale``: the
vanilla RNN's Jacobian ds_t/ds_{t-1} = diag(1 - s_t^2) W then has a norm above one where
tanh is not saturated, and its gradients grow with the lag.

Part 2, a task with a known answer, the noisy recall task of Hochreiter and
Schmidhuber's LSTM paper (1997, experiment 2b): a sequence of lag + 1 tokens shows a
symbol (one of ``symbols``), then lag - 1 distractors drawn at random from ``noise``
other tokens, then a query token; the model must output the first symbol at the query,
``lag`` steps after it saw it (chance is 1/symbols). Each cell is the language model
``RNNLM`` (embedding, one recurrent layer, softmax) trained on fresh batches with Adam
and the same step budget, learning rate, clipping and seed for every cell and lag, with
the loss on the query step only; the table is the accuracy on held-out sequences.

Everything is seeded: the same arguments give the same numbers on the same machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _contract, layers, optim

CELLS = ("rnn", "lstm", "gru")
GRADIENT_LAGS = (0, 1, 2, 5, 10, 20, 50, 100)
TASK_LAGS = (10, 20, 50, 100)


def _default_backend():
    import fastrnn

    return fastrnn


# ---- part 1: the norm of dL/ds_{t-k} -------------------------------------------------


def init_weights(cell: str, input_size: int, hidden_size: int, rng, w_scale: float = 1.0):
    """(U, W, b_ih, b_hh) of one layer of cell in float64, PyTorch's default: every entry
    from U(-1/sqrt(H), 1/sqrt(H)), W's range multiplied by w_scale."""
    G = layers.GATES[cell]
    bound = 1.0 / math.sqrt(hidden_size)
    U = rng.uniform(-bound, bound, size=(G * hidden_size, input_size))
    W = rng.uniform(-bound, bound, size=(G * hidden_size, hidden_size)) * w_scale
    b_ih = rng.uniform(-bound, bound, size=G * hidden_size)
    b_hh = rng.uniform(-bound, bound, size=G * hidden_size)
    return U, W, b_ih, b_hh


def lag_gradients(cell: str, x, weights, u, lags: Sequence[int], backend=None) -> tuple:
    """The gradient of L = sum_n u_n . s_{T-1,n} on the state after step T-1-k, per lag k.

    The state after step t is (h_t), or (h_t, c_t) for the LSTM, each part an input of
    the steps that follow: for each lag k >= 1 the cell runs again over the last k steps
    from the states at step T-1-k, and its backward pass with u injected at the last step
    gives the gradients on those initial states, exact BPTT. At lag 0 no step follows:
    dL/dh = u and dL/dc = 0.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    x : array (T, B, D)
        The inputs; the cell runs over them from the zero state.
    weights : (U, W, b_ih, b_hh)
        One layer's weights, as ``init_weights`` returns them.
    u : array (B, H)
        The readout of every sequence at the last step.
    lags : sequence of int in [0, T)
    backend : module, optional
        ``fastrnn`` (the default) or ``fastrnn.reference``.

    Returns
    -------
    tuple of arrays (len(lags), B, H)
        One per state: (dL/dh,), or (dL/dh, dL/dc) for the LSTM.
    """
    backend = backend or _default_backend()
    T = x.shape[0]
    names = layers.STATE_NAMES[cell]
    states, _ = layers.cell_forward(backend, cell, x, (None,) * len(names), weights, False)
    out = tuple(np.zeros((len(lags), *u.shape)) for _ in names)
    for i, k in enumerate(lags):
        if not 0 <= k < T:
            raise ValueError(f"lags must lie in [0, T) = [0, {T}); got {k}")
        if k == 0:
            out[0][i] = u
            continue
        initial = tuple(a[T - 1 - k] for a in states)
        _, cache = layers.cell_forward(backend, cell, x[T - k :], initial, weights, True)
        ds = np.zeros((k, *u.shape))
        ds[-1] = u
        no_dc = (None,) * (len(names) - 1)  # nothing arrives for c but through h
        _, d_initial, _ = layers.cell_backward(backend, cell, cache, (ds, *no_dc), None)
        for total, g in zip(out, d_initial, strict=True):
            total[i] = g
    return out


@dataclass(frozen=True)
class NormSettings:
    """The sequences and sizes of part 1 (the same for every cell)."""

    hidden_size: int = 64
    input_size: int = 16
    batch_size: int = 32  # random sequences, N(0, 1) entries
    seed: int = 0


def gradient_norms(
    lags: Sequence[int] = GRADIENT_LAGS,
    settings: NormSettings = NormSettings(),  # noqa: B008 (frozen, so one shared default is fine)
    *,
    w_scale: float = 1.0,
    backend=None,
) -> dict[str, np.ndarray]:
    """Part 1: the mean over the sequences of |dL_n/ds_{T-1-k,n}| for every lag k.

    The same sequences x (T = max(lags) + 1 steps, N(0, 1) entries) and unit readout
    vectors u for every cell, each cell's weights from ``init_weights``, in float64.

    Parameters
    ----------
    lags : sequence of int >= 0
    settings : NormSettings
        Sizes and seed.
    w_scale : float
        Multiplies the range of W's initialization (1: PyTorch's default).
    backend : module, optional
        ``fastrnn`` (the default) or ``fastrnn.reference``.

    Returns
    -------
    dict of column -> array (len(lags),)
        The columns "RNN", "LSTM h", "LSTM c" (the LSTM's hidden and cell states) and
        "GRU", in that order.
    """
    lags = [_contract.check_int("lag", k, 0) for k in lags]
    s = settings
    data = np.random.default_rng([s.seed, 0])
    x = data.standard_normal((max(lags) + 1, s.batch_size, s.input_size))
    u = data.standard_normal((s.batch_size, s.hidden_size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    norms = {}
    for i, cell in enumerate(CELLS):
        rng = np.random.default_rng([s.seed, 1, i])
        weights = init_weights(cell, s.input_size, s.hidden_size, rng, w_scale)
        grads = lag_gradients(cell, x, weights, u, lags, backend)
        names = layers.STATE_NAMES[cell]
        for name, g in zip(names, grads, strict=True):
            column = cell.upper() if len(names) == 1 else f"{cell.upper()} {name}"
            norms[column] = np.linalg.norm(g, axis=2).mean(axis=1)
    return norms


# ---- part 2: the recall task -----------------------------------------------------------


def recall_batch(lag: int, batch_size: int, symbols: int, noise: int, rng):
    """One batch of the recall task.

    Token ids: 0 .. symbols-1 the symbols, then ``noise`` distractor tokens, then the
    query (vocabulary symbols + noise + 1).

    Returns
    -------
    ids, targets : int arrays (lag + 1, B)
        ids[0] is the symbol to remember, ids[1:lag] random distractors, ids[lag] the
        query, whose target is ids[0] (the other targets are 0).
    mask : bool array (lag + 1, B)
        True at the query step only.
    """
    T = lag + 1
    ids = rng.integers(symbols, symbols + noise, size=(T, batch_size))
    ids[0] = rng.integers(0, symbols, size=batch_size)
    ids[-1] = symbols + noise
    targets = np.zeros_like(ids)
    targets[-1] = ids[0]
    mask = np.zeros(ids.shape, dtype=bool)
    mask[-1] = True
    return ids, targets, mask


@dataclass
class RecallResult:
    cell: str
    lag: int
    accuracy: float  # on held-out sequences
    loss: float  # mean training loss over the last 10% of the steps
    seconds: float


@dataclass(frozen=True)
class RecallSettings:
    """What every (cell, lag) run of the recall task shares."""

    steps: int = 1500
    hidden_size: int = 32
    batch_size: int = 32
    symbols: int = 8
    noise: int = 8
    lr: float = 3e-3
    clip_norm: float = 1.0
    test_size: int = 1000
    seed: int = 0
    dtype: type = np.float32


def train_recall(cell: str, lag: int, settings: RecallSettings, backend=None) -> RecallResult:
    """Train one RNNLM(cell) on the recall task at this lag with Adam.

    Seeded by settings.seed: the same training batches and held-out set for every cell.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    lag : int >= 1
    settings : RecallSettings
        The budget and sizes every run shares.
    backend : module, optional
        ``fastrnn`` (the default) or ``fastrnn.reference``.

    Returns
    -------
    RecallResult
        The accuracy on ``settings.test_size`` held-out sequences, the mean training loss
        of the last 10% of the steps, the time taken.
    """
    backend = backend or _default_backend()
    s = settings
    init = np.random.default_rng([s.seed, 2, lag])  # by seed and lag, whatever the cell
    model = backend.RNNLM(
        s.symbols + s.noise + 1, s.hidden_size, cell=cell, dtype=s.dtype, seed=init
    )
    adam = optim.Adam(model.params, lr=s.lr)
    data = np.random.default_rng([s.seed, 3, lag])
    start = time.perf_counter()
    losses = []
    for _ in range(s.steps):
        ids, targets, mask = recall_batch(lag, s.batch_size, s.symbols, s.noise, data)
        losses.append(model.loss_and_grads(ids, targets, mask=mask).loss)
        optim.clip_by_global_norm(model.grads, s.clip_norm)
        adam.step(model.grads)
    test = np.random.default_rng([s.seed, 4, lag])
    ids, targets, _ = recall_batch(lag, s.test_size, s.symbols, s.noise, test)
    probs, _ = model.forward(ids)
    accuracy = float(np.mean(probs[-1].argmax(axis=1) == targets[-1]))
    tail = losses[-max(1, s.steps // 10) :]
    return RecallResult(cell, lag, accuracy, float(np.mean(tail)), time.perf_counter() - start)


# ---- tables and the picture ---------------------------------------------------------------


def format_norms(norms: dict[str, np.ndarray], lags: Sequence[int]) -> str:
    """A text table: one row per lag, one column per cell."""
    cells = list(norms)
    lines = ["lag k " + "".join(f"{c:>12}" for c in cells)]
    for i, k in enumerate(lags):
        lines.append(f"{k:>5} " + "".join(f"{norms[c][i]:>12.3g}" for c in cells))
    return "\n".join(lines)


def format_recall(results: Sequence[RecallResult], symbols: int) -> str:
    """A text table of accuracies: one row per lag, one column per cell."""
    cells = list(dict.fromkeys(r.cell for r in results))
    lags = sorted({r.lag for r in results})
    by = {(r.cell, r.lag): r for r in results}
    lines = [
        "lag   " + "".join(f"{c.upper():>8}" for c in cells) + f"   (chance {1 / symbols:.3f})"
    ]
    for k in lags:
        row = "".join(f"{by[c, k].accuracy:>8.3f}" if (c, k) in by else f"{'':>8}" for c in cells)
        lines.append(f"{k:>4}  {row}")
    return "\n".join(lines)


def require_matplotlib():
    """matplotlib.pyplot with a non-interactive backend; ImportError with what to install
    when matplotlib is missing (the core of fastrnn does not need it)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: pip install 'fastrnn[plot]' "
            "(or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(label: str) -> dict:
    """Line style of a column ("RNN", "LSTM h", "LSTM c", "GRU", or a cell name): one color
    and marker per cell in every panel, the LSTM's cell state dashed."""
    cell = label.split()[0].lower()
    return {
        "color": {"rnn": "C0", "lstm": "C1", "gru": "C2"}[cell],
        "marker": {"rnn": "o", "lstm": "s", "gru": "^"}[cell],
        "linestyle": "--" if label.endswith(" c") else "-",
        "markersize": 4,
    }


def plot(path, lags, norm_settings: dict, recall: Sequence[RecallResult], symbols: int) -> None:
    """One PNG: a panel of gradient norms against the lag (log scale) per setting in
    norm_settings (title -> column -> norms), and the recall accuracy against the lag."""
    plt = require_matplotlib()
    panels = len(norm_settings) + (1 if recall else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    axes = axes[0]
    for ax, (title, norms) in zip(axes, norm_settings.items(), strict=False):
        for label, values in norms.items():
            shown = np.where(values > 0, values, np.nan)  # log scale: a 0 is left out
            ax.semilogy(lags, shown, label=label, **_style(label))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("lag k")
        ax.set_ylabel("mean |dL/ds(t-k)|")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    if recall:
        ax = axes[-1]
        for cell in dict.fromkeys(r.cell for r in recall):
            rows = sorted((r.lag, r.accuracy) for r in recall if r.cell == cell)
            ax.plot(*zip(*rows, strict=True), label=cell.upper(), **_style(cell))
        ax.axhline(1 / symbols, color="gray", ls=":", lw=1, label="chance")
        ax.set_ylim(0, 1.05)
        ax.set_title("recall task: held-out accuracy", fontsize=10)
        ax.set_xlabel("lag")
        ax.set_ylabel("accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
