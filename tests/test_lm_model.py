"""RNNLM, one class bound to both backends, for each cell (rnn, lstm, gru): against the
float64 reference model, torch, finite differences, and the semantics of truncation,
chunks, masks and sampling. (The carried-state API of the cells: test_lm_cells.py.)"""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest
from _helpers import _float32_exact as float32_exact
from _helpers import numerical_gradient_of
from numpy.testing import assert_allclose, assert_array_equal

import fastrnn
from fastrnn import layers, lm, reference

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
D, H = 11, 6  # vocabulary, hidden size
CELLS = ["rnn", "lstm", "gru"]


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param


def models(dtype, num_layers=1, bias=True, seed=0, cell="rnn"):
    """The float64 reference model and a fast and a reference model in dtype, all with the
    same float32-exact weights (scaled up so that the states are not tiny)."""
    want = reference.RNNLM(D, H, num_layers, cell=cell, bias=bias, dtype=np.float64, seed=seed)
    weights = {n: float32_exact(2 * p) for n, p in want.params.items()}
    want.load_state_dict(weights)
    got = []
    for cls in (fastrnn.RNNLM, reference.RNNLM):
        m = cls(D, H, num_layers, cell=cell, bias=bias, dtype=dtype)
        m.load_state_dict(weights)
        got.append(m)
    return want, got


def random_state(rng, cell, shape, dtype=np.float64):
    """A float32-exact state of that shape: an array, or the LSTM's pair (h, c)."""
    parts = [float32_exact(0.3 * rng.standard_normal(shape)).astype(dtype)]
    if cell == "lstm":
        parts.append(float32_exact(0.5 * rng.standard_normal(shape)).astype(dtype))
    return parts[0] if len(parts) == 1 else tuple(parts)


def parts(state) -> tuple:
    """The arrays of a state: (h,), or the LSTM's (h, c)."""
    return state if isinstance(state, tuple) else (state,)


def as_dtype(state, dtype):
    converted = tuple(a.astype(dtype) for a in parts(state))
    return converted if isinstance(state, tuple) else converted[0]


def batch(rng, T=9, B=3, masked=False):
    ids = rng.integers(0, D, size=(T, B))
    targets = rng.integers(0, D, size=(T, B))
    mask = rng.random((T, B)) < 0.7 if masked else None
    return ids, targets, mask


def assert_grads_close(got, want, tol, what=""):
    """Every gradient within rtol, and within atol relative to its largest entry: entries
    are sums over steps and rows, and small ones are mostly cancellation."""
    assert list(got) == list(want)
    for name in want:
        atol = tol["atol"] * max(1.0, np.abs(want[name]).max())
        assert_allclose(
            got[name], want[name], rtol=tol["rtol"], atol=atol, err_msg=f"{name} {what}"
        )


@pytest.mark.parametrize("options", [{}, {"truncate": 2}, {"chunk": 4}, {"reduction": "sum"}])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("num_layers, bias", [(1, True), (2, False), (3, True)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_float64_reference_model(cell, dtype, num_layers, bias, masked, options, rng):
    want, got_models = models(dtype, num_layers, bias, cell=cell)
    ids, targets, mask = batch(rng, masked=masked)
    h0 = random_state(rng, cell, (num_layers, 3, H))
    w = want.loss_and_grads(ids, targets, h0, mask=mask, **options)
    for m in got_models:
        g = m.loss_and_grads(ids, targets, as_dtype(h0, dtype), mask=mask, **options)
        assert type(g.loss) is float
        assert_allclose(g.loss, w.loss, rtol=TOL[dtype]["rtol"])
        assert type(g.h_n) is type(w.h_n)  # the LSTM's pair, an array otherwise
        for got_state, want_state in zip(parts(g.h_n), parts(w.h_n), strict=True):
            assert got_state.dtype == dtype
            assert_allclose(got_state, want_state, **TOL[dtype])
        assert all(a.dtype == dtype for a in m.grads.values())
        assert_grads_close(m.grads, want.grads, TOL[dtype], type(m).__module__)


def test_gradients_match_finite_differences(cell, rng):
    """Exact BPTT, with a nonzero h0 that is a constant (it gets no gradient)."""
    model = reference.RNNLM(5, 3, num_layers=2, cell=cell, dtype=np.float64, seed=1)
    for p in model.params.values():
        p *= 3
    ids, targets = rng.integers(0, 5, size=(2, 4, 2))
    mask = np.array([[1, 1], [0, 1], [1, 1], [1, 0]])
    h0 = random_state(rng, cell, (2, 2, 3))
    model.loss_and_grads(ids, targets, h0, mask=mask)
    for name, p in model.params.items():
        want = numerical_gradient_of(lambda: model.loss(ids, targets, h0, mask=mask).loss, p)
        assert_allclose(model.grads[name], want, rtol=1e-6, atol=1e-9, err_msg=name)


TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_lm(torch, model):
    """torch.nn.RNN (LSTM, GRU) over one-hot vectors + Linear, holding the model's float64
    weights."""
    module = getattr(torch.nn, TORCH_CLASSES[model.cell])
    rnn = module(D, H, model.num_layers, dtype=torch.float64)
    decoder = torch.nn.Linear(H, D, dtype=torch.float64)
    with torch.no_grad():
        for name, p in model.params.items():
            module, attr = name.split(".")
            getattr(rnn if module == "rnn" else decoder, attr).copy_(torch.from_numpy(p))
    return rnn, decoder


@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_torch(cell, num_layers, rng):
    """The PyTorch reading of the parameters: nn.RNN (LSTM, GRU) fed one-hot vectors,
    nn.Linear, and CrossEntropyLoss (mean over the non-ignored targets); the LSTM's state
    is the pair (h, c) on both sides."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    model = fastrnn.RNNLM(D, H, num_layers, cell=cell, dtype=np.float64, seed=3)
    for p in model.params.values():
        p *= 2  # away from the linear regime of the gates
    ids, targets, mask = batch(rng, masked=True)
    h0 = random_state(rng, cell, (num_layers, 3, H))
    got = model.loss_and_grads(ids, targets, h0, mask=mask)

    rnn, decoder = torch_lm(torch, model)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(ids), D).double()
    torch_h0 = tuple(torch.from_numpy(a) for a in parts(h0))
    out, h_n = rnn(onehot, torch_h0 if cell == "lstm" else torch_h0[0])
    logits = decoder(out)
    ignored = torch.from_numpy(np.where(mask, targets, -100))
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, D), ignored.reshape(-1))
    loss.backward()
    assert_allclose(got.loss, loss.item(), rtol=1e-12)
    torch_h_n = h_n if cell == "lstm" else (h_n,)
    for got_state, want_state in zip(parts(got.h_n), torch_h_n, strict=True):
        assert_allclose(got_state, want_state.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name in model.params:
        module, attr = name.split(".")
        want = getattr(rnn if module == "rnn" else decoder, attr).grad.numpy()
        assert_allclose(model.grads[name], want, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunks_are_separate_calls_with_the_state_carried(backend, cell, dtype, rng):
    """chunk=L is min-char-rnn's scheme inside one call: the same as calling every chunk
    of L steps with the previous chunk's final state as h0 (no gradient across), summing
    the gradients and dividing by the number of targets of all chunks."""
    model = backend.RNNLM(D, H, 2, cell=cell, dtype=dtype, seed=4)
    ids, targets, mask = batch(rng, T=10, masked=True)
    got = model.loss_and_grads(ids, targets, mask=mask, chunk=4)
    grads = dict(model.grads)
    total, summed, h = 0.0, None, None
    for start in (0, 4, 8):
        part = slice(start, start + 4)
        out = model.loss_and_grads(ids[part], targets[part], h, mask=mask[part], reduction="sum")
        h = out.h_n
        total += out.loss
        summed = (
            dict(model.grads)
            if summed is None
            else {n: summed[n] + g for n, g in model.grads.items()}
        )
    n = mask.sum()
    assert_allclose(got.loss, total / n, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert_array_equal(got.h_n, h)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    assert_grads_close(grads, {k: v / n for k, v in summed.items()}, tol)
    # ...and the states are those of the unchunked run: only the gradient is cut.
    full = model.loss_and_grads(ids, targets, mask=mask)
    assert_allclose(full.h_n, got.h_n, rtol=1e-6, atol=1e-7)
    assert_allclose(full.loss, got.loss, rtol=1e-6)
    assert not np.allclose(model.grads["rnn.weight_hh_l0"], grads["rnn.weight_hh_l0"])


def test_one_chunk_and_a_full_window_are_exact_bptt(backend, cell, rng):
    model = backend.RNNLM(D, H, cell=cell, dtype=np.float64, seed=5)
    ids, targets, _ = batch(rng, T=6)
    exact = model.loss_and_grads(ids, targets)
    want = dict(model.grads)
    for options in ({"chunk": 6}, {"chunk": 100}, {"truncate": 5}, {"truncate": 10**9}):
        got = model.loss_and_grads(ids, targets, **options)
        assert got.loss == exact.loss
        for name in want:
            assert_array_equal(model.grads[name], want[name], err_msg=f"{name} {options}")
    model.loss_and_grads(ids, targets, truncate=1)
    assert not np.allclose(model.grads["rnn.weight_hh_l0"], want["rnn.weight_hh_l0"])


def test_fully_masked_batch_leaves_zero_gradients(backend, rng):
    model = backend.RNNLM(D, H, dtype=np.float64, seed=6)
    ids, targets, _ = batch(rng)
    out = model.loss_and_grads(ids, targets, mask=np.zeros(ids.shape, bool), chunk=4)
    assert out.loss == 0.0
    for name, g in model.grads.items():
        assert_array_equal(g, 0, err_msg=name)


def test_loss_and_forward_agree_with_loss_and_grads(backend, cell, rng):
    model = backend.RNNLM(D, H, 2, cell=cell, dtype=np.float64, seed=7)
    ids, targets, mask = batch(rng, masked=True)
    trained = model.loss_and_grads(ids, targets, mask=mask)
    plain = model.loss(ids, targets, mask=mask)
    assert_allclose(plain.loss, trained.loss, rtol=1e-13)
    assert_array_equal(plain.h_n, trained.h_n)
    probs, h_n = model.forward(ids)
    assert probs.shape == (9, 3, D)
    assert_array_equal(h_n, trained.h_n)
    picked = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]
    assert_allclose(-np.log(picked)[mask].mean(), plain.loss, rtol=1e-12)


@pytest.mark.parametrize("cell, G", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_parameters_have_pytorch_names_and_shapes(cell, G):
    model = fastrnn.RNNLM(30, 8, num_layers=2, cell=cell, seed=0)
    assert {n: p.shape for n, p in model.params.items()} == {
        "rnn.weight_ih_l0": (G * 8, 30),
        "rnn.weight_hh_l0": (G * 8, 8),
        "rnn.bias_ih_l0": (G * 8,),
        "rnn.bias_hh_l0": (G * 8,),
        "rnn.weight_ih_l1": (G * 8, 8),
        "rnn.weight_hh_l1": (G * 8, 8),
        "rnn.bias_ih_l1": (G * 8,),
        "rnn.bias_hh_l1": (G * 8,),
        "decoder.weight": (30, 8),
        "decoder.bias": (30,),
    }
    assert all(p.dtype == np.float32 for p in model.params.values())
    bound = 1 / np.sqrt(8)
    assert all(np.abs(p).max() <= bound for p in model.params.values())
    same = fastrnn.RNNLM(30, 8, num_layers=2, cell=cell, seed=0)
    twin = reference.RNNLM(**model.config(), seed=0)
    for name, p in model.params.items():
        assert_array_equal(same.params[name], p)
        assert_array_equal(twin.params[name], p)


def test_state_dict_round_trip_and_refusals(backend):
    a = backend.RNNLM(D, H, dtype=np.float64, seed=1)
    b = backend.RNNLM(D, H, dtype=np.float64, seed=2)
    b.load_state_dict(a.state_dict())
    for name, p in a.params.items():
        assert_array_equal(b.params[name], p)
    bad = a.state_dict()
    bad["decoder.bias"] = np.zeros(D + 1)
    with pytest.raises(ValueError, match=re.escape("state_dict['decoder.bias'] must have shape")):
        b.load_state_dict(bad)
    bad["decoder.bias"] = np.full(D, np.nan)
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match=re.escape("missing ['decoder.bias']")):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "decoder.bias"})


# ---- bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"cell": "transformer"}, ValueError, "cell must be 'rnn', 'lstm' or 'gru'; got 'trans"),
        ({"cell": "LSTM"}, ValueError, "cell must be 'rnn', 'lstm' or 'gru'; got 'LSTM'"),
        (
            {"cell": "gru", "nonlinearity": "relu"},
            ValueError,
            "nonlinearity 'relu' is for cell='rnn'; the GRU's gates have fixed activations",
        ),
        ({"hidden_size": 0}, ValueError, "hidden_size must be an int >= 1; got 0"),
        ({"vocab_size": 2.5}, TypeError, "vocab_size must be an int >= 1; got 2.5"),
        ({"dtype": np.float16}, TypeError, "dtype must be np.float32 or np.float64"),
        ({"nonlinearity": "sigmoid"}, ValueError, "nonlinearity must be 'tanh' or 'relu'"),
    ],
)
def test_constructor_rejects_bad_arguments(backend, kwargs, error, message):
    args = {"vocab_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        backend.RNNLM(**args)


def test_base_class_is_not_a_model():
    with pytest.raises(TypeError, match="use fastrnn.RNNLM or fastrnn.reference.RNNLM"):
        lm.RNNLMBase(D, H)


def test_call_arguments_are_checked(backend, rng):
    model = backend.RNNLM(D, H, dtype=np.float32)
    ids, targets, _ = batch(rng)
    cases = [
        (
            lambda: model.loss(ids + D, targets),
            ValueError,
            "ids must lie in [0, vocab_size) = [0, 11); got values from 11 to",
        ),
        (
            lambda: model.loss(ids, targets[:, :2]),
            ValueError,
            "targets must have shape (T, B) = (9, 3); got (9, 2)",
        ),
        (lambda: model.loss(ids * 1.0, targets), TypeError, "ids must be an array of integer"),
        (
            lambda: model.loss(ids, targets, np.zeros((1, 2, H), np.float32)),
            ValueError,
            "h0 must have shape (num_layers, B, H) = (1, 3, 6); got (1, 2, 6)",
        ),
        (
            lambda: model.loss(ids, targets, np.zeros((1, 3, H))),
            TypeError,
            "h0 has dtype float64 but this model's parameters are float32",
        ),
        (
            lambda: model.loss_and_grads(ids, targets, chunk=0),
            ValueError,
            "chunk must be an int >= 1; got 0",
        ),
        (
            lambda: model.loss_and_grads(ids, targets, truncate=-1),
            ValueError,
            "truncate must be None (full BPTT) or an int K >= 0; got -1",
        ),
        (
            lambda: model.loss_and_grads(ids, targets, reduction="none"),
            ValueError,
            "reduction must be 'mean' or 'sum'; got 'none'",
        ),
        (
            lambda: model.loss(ids, targets, mask=np.full(ids.shape, 2)),
            ValueError,
            "mask must hold only 0 and 1",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


# ---- sampling ---------------------------------------------------------------------------


def trained_like(backend, dtype=np.float64, seed=8, cell="rnn"):
    """A model with large weights, so that its distributions are far from uniform."""
    model = backend.RNNLM(D, H, 2, cell=cell, dtype=dtype, seed=seed)
    for p in model.params.values():
        p *= 4
    return model


def test_sampling_is_seeded_and_reproducible(backend, cell):
    model = trained_like(backend, cell=cell)
    a = model.sample([1, 2, 3], 200, seed=1)
    assert a.dtype == np.int64 and a.shape == (200,)
    assert ((0 <= a) & (a < D)).all()
    assert_array_equal(model.sample([1, 2, 3], 200, seed=1), a)
    assert_array_equal(model.sample([1, 2, 3], 200, seed=np.random.default_rng(1)), a)
    assert not np.array_equal(model.sample([1, 2, 3], 200, seed=2), a)
    assert not np.array_equal(model.sample([4], 200, seed=1), a)
    assert model.sample([1], 0, seed=1).shape == (0,)


def test_fast_and_reference_sample_the_same_tokens(cell):
    a = trained_like(fastrnn, cell=cell).sample([5, 0], 300, temperature=0.9, top_k=6, seed=3)
    b = trained_like(reference, cell=cell).sample([5, 0], 300, temperature=0.9, top_k=6, seed=3)
    assert_array_equal(a, b)


def rerun_sampler(model, prime, length, temperature, top_k, seed):
    """Sampling by its definition: the whole prefix runs again for every token, and the
    draw is from softmax(logits / temperature) over the top_k tokens."""
    rng = np.random.default_rng(seed)
    tokens = list(prime)
    zeros = (None,) * len(model.state_names)
    for _ in range(length):
        ids = np.array(tokens)[:, None]
        s = model.backend.embedding_forward(ids, model.params["rnn.weight_ih_l0"])
        for k in range(model.num_layers):
            (s, *_), _ = layers.cell_forward(
                model.backend, model.cell, s, zeros, model._layer(k), False
            )
        logits = s[-1, 0] @ model.params["decoder.weight"].T + model.params["decoder.bias"]
        z = logits / temperature
        p = np.exp(z - z.max())
        p[np.argsort(p)[:-top_k]] = 0
        tokens.append(lm.draw(p / p.sum(), rng))
    return np.array(tokens[len(prime) :])


@pytest.mark.parametrize("temperature, top_k", [(1.0, D), (0.7, 3), (1.5, 5)])
def test_incremental_sampling_equals_rerunning_the_prefix(cell, temperature, top_k):
    model = trained_like(reference, cell=cell)
    got = model.sample([3, 1, 4], 40, temperature=temperature, top_k=top_k, seed=5)
    assert_array_equal(got, rerun_sampler(model, [3, 1, 4], 40, temperature, top_k, 5))


def test_sampling_does_constant_work_per_token(backend, cell):
    """The recurrence runs over the prime once, then one step per drawn token."""
    steps = []
    kernel = getattr(backend, f"{cell}_forward")

    def counting_forward(x, *args, **kwargs):
        steps.append(np.shape(x)[0])
        return kernel(x, *args, **kwargs)

    counting = types.ModuleType("counting")
    counting.__dict__.update(vars(backend))
    setattr(counting, f"{cell}_forward", counting_forward)
    model = layers.bind(lm.RNNLMBase, counting, __name__)(D, H, num_layers=2, cell=cell, seed=0)
    model.sample([1, 2, 3, 4, 5], 50, seed=0)
    assert steps == [5, 5] + [1] * (2 * 49)


def test_top_k_1_is_greedy_and_low_temperature_nearly_so(backend):
    model = trained_like(backend)
    greedy = model.sample([2], 40, top_k=1, seed=0)
    tokens = [2]
    for _ in range(40):
        probs, _ = model.forward(np.array(tokens)[:, None])
        tokens.append(int(np.argmax(probs[-1, 0])))
    assert_array_equal(greedy, tokens[1:])
    assert_array_equal(model.sample([2], 40, temperature=1e-3, seed=9), greedy)
    assert not np.array_equal(model.sample([2], 40, seed=9), greedy)


def test_top_k_draws_only_the_k_most_likely():
    probs = np.array([0.1, 0.4, 0.05, 0.3, 0.15])
    rng = np.random.default_rng(0)
    drawn = {lm.draw(probs, rng, top_k=2) for _ in range(200)}
    assert drawn == {1, 3}
    counts = np.bincount([lm.draw(probs, rng) for _ in range(20000)], minlength=5)
    assert_allclose(counts / 20000, probs, atol=0.015)
    with pytest.raises(ValueError, match="not finite"):
        lm.draw(np.full(5, np.nan), rng)


def test_sampling_arguments_are_checked(backend):
    model = backend.RNNLM(D, H)
    cases = [
        ({"prime": []}, ValueError, "prime must hold at least one token id, shape (P,); got (0,)"),
        ({"prime": [D]}, ValueError, "prime must lie in [0, vocab_size) = [0, 11)"),
        ({"temperature": 0}, ValueError, "temperature must be a finite number > 0; got 0"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number > 0; got 'hot'"),
        ({"top_k": 0}, ValueError, "top_k must be an int >= 1; got 0"),
        ({"length": -1}, ValueError, "length must be an int >= 0; got -1"),
    ]
    for changes, error, message in cases:
        args = {"prime": [1], "length": 5, **changes}
        with pytest.raises(error, match=re.escape(message)):
            model.sample(**args)


def test_bound_classes_are_named_after_their_module():
    assert fastrnn.RNNLM.__module__ == "fastrnn"
    assert reference.RNNLM.__module__ == "fastrnn.reference"
    assert fastrnn.RNNLM.backend is sys.modules["fastrnn._fast"]
    assert "fastrnn.RNNLM(11, 6, num_layers=1" in repr(fastrnn.RNNLM(D, H))
