"""Generation in one C call (issue 7): ``fastrnn.RNNLM.sample`` runs the whole token loop
in ``_fast.sample_tokens`` (csrc/generate.c). Its plain twin is the step-by-step loop of
``RNNLMBase.sample`` (one softmax_forward, one ``lm.draw`` and one step per token) on the
same C kernels, which the reference backend runs too: the fused path must give the same
tokens as that loop, for every seed, temperature, top_k, dtype, size, cell, depth and
prime, including where the kernel hands a token back to ``lm.draw`` (non-finite
probabilities, a top_k cut inside a tie)."""

from __future__ import annotations

import re
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import _fast, _kernels, layers, lm, reference

# The C kernels without sample_tokens: RNNLM.sample then takes its step-by-step loop.
stepwise = types.ModuleType("stepwise")
stepwise.__dict__.update({k: v for k, v in vars(_fast).items() if k != "sample_tokens"})
SteppedRNNLM = layers.bind(lm.RNNLMBase, stepwise, __name__)

CONFIGS = [  # cell, nonlinearity, num_layers, bias
    ("rnn", "tanh", 1, True),
    ("rnn", "relu", 1, True),
    ("rnn", "tanh", 2, False),
    ("rnn", "relu", 3, True),
    ("lstm", "tanh", 1, True),
    ("lstm", "tanh", 2, False),
    ("gru", "tanh", 1, False),
    ("gru", "tanh", 2, True),
]


def pair(K, H, cell="rnn", nonlinearity="tanh", num_layers=1, bias=True, dtype=np.float32,
         seed=0, scale=3.0):  # fmt: skip
    """A fastrnn.RNNLM (fused sampling) and its step-by-step twin with the same weights,
    scaled up so that the distributions are far from uniform."""
    config = dict(cell=cell, nonlinearity=nonlinearity, bias=bias, dtype=dtype)
    fused = fastrnn.RNNLM(K, H, num_layers, seed=seed, **config)
    for p in fused.params.values():
        p *= scale
    stepped = SteppedRNNLM(K, H, num_layers, **config)
    stepped.load_state_dict(fused.params)
    return fused, stepped


def test_the_fast_model_samples_in_c_and_the_twin_step_by_step():
    assert fastrnn.RNNLM.backend.sample_tokens is _fast.sample_tokens
    assert not hasattr(reference, "sample_tokens")  # the specification keeps its loop
    assert not hasattr(SteppedRNNLM.backend, "sample_tokens")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell, nonlinearity, num_layers, bias", CONFIGS)
def test_fused_sampling_gives_the_step_by_step_tokens(cell, nonlinearity, num_layers, bias,
                                                      dtype):  # fmt: skip
    for K, H in [(2, 1), (13, 7), (40, 33)]:
        fused, stepped = pair(K, H, cell, nonlinearity, num_layers, bias, dtype, seed=K + H)
        for seed, temperature, top_k, prime in [
            (0, 1.0, None, [1]),
            (1, 0.5, None, [0, 1, 0]),
            (2, 2.5, 3, [1, 0]),
            (3, 1.0, 1, [0]),
            (4, 0.8, K, [1, 1, 1, 1, 1, 1]),
            (5, 1.3, K - 1 or 1, [0, 1]),
        ]:
            for length in (0, 1, 2, 60):
                args = dict(temperature=temperature, top_k=top_k, h0=None)
                want = stepped.sample(prime, length, seed=seed, **args)
                got = fused.sample(prime, length, seed=seed, **args)
                assert got.dtype == np.int64 and got.shape == (length,)
                assert_array_equal(got, want, err_msg=f"K={K} H={H} seed={seed}")


def test_a_top_k_beyond_the_vocabulary_keeps_every_token():
    fused, stepped = pair(13, 7)
    want = stepped.sample([1], 50, seed=0)
    for top_k in (13, 14, 2**70):
        assert_array_equal(stepped.sample([1], 50, top_k=top_k, seed=0), want)
        assert_array_equal(fused.sample([1], 50, top_k=top_k, seed=0), want)


def test_fused_sampling_gives_the_step_by_step_tokens_at_the_bench_size():
    fused, stepped = pair(100, 256, scale=1.0)
    for seed in range(3):
        want = stepped.sample([1, 2, 3, 4, 5], 100, seed=seed)
        assert_array_equal(fused.sample([1, 2, 3, 4, 5], 100, seed=seed), want)
        assert_array_equal(reference_model(fused).sample([1, 2, 3, 4, 5], 100, seed=seed), want)


def reference_model(model):
    ref = reference.RNNLM(**model.config())
    ref.load_state_dict(model.params)
    return ref


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fused_sampling_from_a_given_state_and_generator(cell):
    fused, stepped = pair(17, 9, cell, num_layers=2, dtype=np.float64)
    rng = np.random.default_rng(7)
    shape = (2, 1, 9)
    h0 = rng.standard_normal(shape)
    h0 = (h0, rng.standard_normal(shape)) if cell == "lstm" else h0
    g1, g2 = np.random.default_rng(11), np.random.default_rng(11)
    want = stepped.sample([3, 4], 50, temperature=0.7, seed=g1, h0=h0)
    assert_array_equal(fused.sample([3, 4], 50, temperature=0.7, seed=g2, h0=h0), want)
    # the generator advanced by one uniform per token on both paths
    assert g1.random() == g2.random()


def test_pre_drawn_uniforms_are_the_ones_drawn_one_by_one():
    """The fused path draws rng.random(length) at once: the same numbers, for every bit
    generator NumPy ships."""
    for bit_generator in (np.random.PCG64, np.random.MT19937, np.random.Philox,
                          np.random.SFC64, np.random.PCG64DXSM):  # fmt: skip
        a, b = np.random.Generator(bit_generator(5)), np.random.Generator(bit_generator(5))
        assert_array_equal(a.random(257), [b.random() for _ in range(257)])


def tied_model(dtype=np.float64):
    """A model whose tokens 2 and 3, and 5 and 6, always have equal probabilities (equal
    rows of the decoder and biases), so that a top_k cut can fall inside a tie."""
    fused, stepped = pair(8, 5, dtype=dtype, seed=3)
    for model in (fused, stepped):
        V, c = model.params["decoder.weight"], model.params["decoder.bias"]
        V[3], c[3], V[6], c[6] = V[2], c[2], V[5], c[5]
    return fused, stepped


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_top_k_cut_inside_a_tie_goes_back_to_draw(dtype):
    fused, stepped = tied_model(dtype)
    stops = 0
    for top_k in range(1, 9):
        for seed in range(4):
            want = stepped.sample([0], 80, top_k=top_k, seed=seed)
            assert_array_equal(fused.sample([0], 80, top_k=top_k, seed=seed), want)
    # and the kernel does stop there: some top_k cuts the tie at the first token
    s, h, _ = fused._run(np.array([[0]]), fused._initial(None, 1), need_cache=False)
    V, c = fused._decoder()
    probs = fused.backend.softmax_forward(s[-1:], V, c)[0, 0]
    order = np.sort(probs)[::-1]
    for top_k in range(1, 8):
        cut_in_tie = order[top_k - 1] == order[top_k]
        _, drawn, got_probs, _ = _fast.sample_tokens(
            "rnn", "tanh", layer_weights(fused), V, c, h, None, np.full(3, 0.5), top_k
        )
        assert_array_equal(got_probs if drawn == 0 else probs, probs)
        stops += drawn == 0
        assert (drawn == 0) == cut_in_tie, top_k
    assert stops == 2


def layer_weights(model):
    """The weights as RNNLM._sample_fused hands them to sample_tokens."""
    p = model.params
    weights = []
    for k in range(model.num_layers):
        U, W, b_ih, b_hh = model._layer(k)
        U = p["rnn.weight_ih_l0"] if k == 0 else U
        if model.cell == "rnn":
            b_ih, b_hh = (None if b_ih is None else b_ih + b_hh), None
        weights.append((U, W, b_ih, b_hh))
    return weights


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sample_tokens_gives_the_states_and_probabilities_of_the_steps(cell):
    """Bit for bit: the kernel composes the same kernels on the same numbers."""
    fused, _ = pair(12, 7, cell, num_layers=2, seed=1)
    prime = np.array([[1], [5], [0]])
    initial = fused._initial(None, 1)
    s, h, _ = fused._run(prime, initial, need_cache=False)
    V, c = fused._decoder()
    u = np.random.default_rng(0).random(6)
    ids, drawn, probs, state = _fast.sample_tokens(
        cell, "tanh", layer_weights(fused), V, c, initial, prime[:, 0], u, None
    )
    assert drawn == 6
    for i in range(6):
        want = fused.backend.softmax_forward(s[-1:], V, c)[0, 0]
        assert ids[i] == lm._draw_from(want, u[i], None)
        if i < 5:
            s, h, _ = fused._run(ids[i : i + 1, None], h, need_cache=False)
    assert_array_equal(probs, want)  # the last token's
    for got, expected in zip(state, h, strict=True):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_non_finite_weights_raise_as_the_step_by_step_path_does(cell):
    for poison in ("decoder.weight", "rnn.weight_ih_l0"):
        fused, stepped = pair(9, 4, cell)
        for model in (fused, stepped):
            model.params[poison][1, 1] = np.nan
        for model in (fused, stepped):
            with pytest.raises(ValueError, match="probabilities are not finite"):
                model.sample([1], 200, seed=0)


def test_sampling_in_c_calls_no_python_level_kernel():
    """One C call for the prime and the tokens."""
    steps = []

    def counting_forward(x, *args, **kwargs):
        steps.append(np.shape(x)[0])
        return _fast.rnn_forward(x, *args, **kwargs)

    counting = types.ModuleType("counting")
    counting.__dict__.update(vars(_fast))
    counting.rnn_forward = counting_forward
    model = layers.bind(lm.RNNLMBase, counting, __name__)(11, 6, num_layers=2, seed=0)
    assert model.sample([1, 2, 3, 4, 5], 50, seed=0).shape == (50,)
    assert steps == []


def test_concurrent_sampling_gives_each_stream_its_tokens():
    fused, stepped = pair(30, 20, "gru", num_layers=2)
    want = [stepped.sample([1], 200, seed=s) for s in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda s: fused.sample([1], 200, seed=s), range(8)))
    for g, w in zip(got, want, strict=True):
        assert_array_equal(g, w)


# ---- the binding's checks -------------------------------------------------------------


def call_args(cell="rnn", dtype=np.float32, L=1, K=5, H=3, length=4):
    """A valid call of _kernels.generate, as a dict."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    rng = np.random.default_rng(0)

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return dict(
        cell=cell,
        nonlinearity="tanh",
        U=[a(G * H, K)] + [a(G * H, H) for _ in range(L - 1)],
        W=[a(G * H, H) for _ in range(L)],
        b_ih=[a(G * H) for _ in range(L)],
        b_hh=[a(G * H) for _ in range(L)] if cell != "rnn" else None,
        V=a(K, H),
        c=a(K),
        h=a(L, 1, H),
        c_state=a(L, 1, H) if cell == "lstm" else None,
        prime=np.array([1, 0, 4]),
        u=rng.random(length),
        top_k=None,
    )


def test_the_binding_draws_from_valid_calls():
    for cell in ("rnn", "lstm", "gru"):
        for dtype in (np.float32, np.float64):
            ids, drawn, probs, h_n, c_n = _kernels.generate(**call_args(cell, dtype, L=2))
            assert drawn == 4 and ids.dtype == np.int64 and ((0 <= ids) & (ids < 5)).all()
            assert probs.dtype == dtype and h_n.dtype == dtype and h_n.shape == (2, 1, 3)
            assert (c_n is None) == (cell != "lstm")
    ids, drawn, _, _, _ = _kernels.generate(**dict(call_args(), u=np.zeros(0)))
    assert drawn == 0 and ids.shape == (0,)
    for prime in (None, np.zeros(0, np.int64)):
        _, drawn, _, h_n, _ = _kernels.generate(**dict(call_args(), prime=prime))
        assert drawn == 4


def test_the_binding_leaves_its_inputs_alone():
    args = call_args("lstm", L=2)
    before = {k: np.copy(v) for k, v in args.items() if isinstance(v, np.ndarray)}
    _kernels.generate(**args)
    for k, v in before.items():
        assert_array_equal(args[k], v, err_msg=k)


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"cell": "elman"}, ValueError, "cell must be 'rnn', 'lstm' or 'gru'; got 'elman'"),
        ({"nonlinearity": "sigmoid"}, ValueError, "nonlinearity must be 'tanh' or 'relu'"),
        ({"top_k": 0}, ValueError, "top_k must be an int >= 1 or None; got 0"),
        ({"top_k": -2}, ValueError, "top_k must be an int >= 1 or None; got -2"),
        ({"top_k": 2.5}, TypeError, "top_k must be an int; got 2.5"),
        ({"u": np.array([0.5, 1.0])}, ValueError, "u must lie in [0, 1); got u[1] = 1.0"),
        ({"u": np.array([np.nan])}, ValueError, "u must lie in [0, 1); got u[0] = nan"),
        ({"u": np.array([-0.5])}, ValueError, "u must lie in [0, 1); got u[0] = -0.5"),
        ({"W": []}, ValueError, "need at least one layer"),
        ({"U": []}, ValueError, "U must hold one matrix per layer, 1; got 0"),
        ({"b_ih": []}, ValueError, "b_ih must hold one vector per layer, 1; got 0"),
        ({"h": np.zeros((1, 2, 3), np.float32)}, ValueError, "h must have shape (L, 1, H)"),
        ({"c": np.zeros(4, np.float32)}, ValueError, "c must have shape (K,) = (5,); got (4,)"),
        ({"U": [np.zeros((3, 4), np.float32)]}, ValueError, "U[0] must have shape (G*H, K)"),
        ({"W": [np.zeros((3, 4), np.float32)]}, ValueError, "W[0] must have shape (G*H, H)"),
        ({"b_ih": [np.zeros(4, np.float32)]}, ValueError, "b_ih[0] must have shape (G*H,)"),
        ({"V": np.zeros((5, 0), np.float32)}, ValueError, "V (K, H) with K, H >= 1"),
        ({"W": [np.zeros((3, 3))]}, ValueError, "Buffer dtype mismatch"),
        (
            {"prime": np.array([0, 5])},
            ValueError,
            "prime must lie in [0, K) = [0, 5); got values from 0 to 5",
        ),
        ({"prime": np.array([-1])}, ValueError, "prime must lie in [0, K)"),
        ({"prime": np.array([1.0])}, ValueError, "Buffer dtype mismatch"),
        ({"U": [np.zeros((5, 3), np.float32).T]}, ValueError, "contiguous"),
        ({"U": [None]}, ValueError, "U[0] must have shape (G*H, K) = (3, 5); got (0, 0)"),
        ({"u": None}, TypeError, "'u' must not be None"),
        ({"h": None}, TypeError, "'h' must not be None"),
    ],
)
def test_the_binding_refuses_bad_calls(changes, error, message):
    with pytest.raises(error, match=re.escape(message)):
        _kernels.generate(**{**call_args(), **changes})


def test_the_binding_refuses_bad_gated_calls():
    cases = [
        ({"c_state": None}, "the LSTM needs its cell state c_state (L, 1, H)"),
        ({"c_state": np.zeros((1, 1, 2), np.float32)}, "c_state must have shape (L, 1, H)"),
        ({"b_hh": None}, "b_ih and b_hh must both be lists of L vectors or both None"),
        ({"U": [np.zeros((3, 5), np.float32)]}, "U[0] must have shape (G*H, K) = (12, 5)"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            _kernels.generate(**{**call_args("lstm"), **changes})


def test_sample_tokens_refuses_mixed_dtypes():
    fused, _ = pair(6, 4)
    s, h, _ = fused._run(np.array([[1]]), fused._initial(None, 1), need_cache=False)
    V, c = fused._decoder()
    with pytest.raises(TypeError, match="every weight and state must be float32"):
        _fast.sample_tokens("rnn", "tanh", layer_weights(fused), V, c.astype(np.float64),
                            h, None, np.zeros(2), None)  # fmt: skip
