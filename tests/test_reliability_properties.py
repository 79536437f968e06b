"""Property-based batteries (hypothesis) over every public kernel and class.

test_properties.py does this for rnn_forward/rnn_backward; here the same two batteries
cover lstm and gru forward and backward, embedding_forward/backward, softmax_forward,
softmax_loss, the RNN, LSTM and GRU layers (several layers, bidirectional, lengths,
batch_first, unbatched) and RNNLM.loss_and_grads:

1. Random valid problems, every array in a random dtype and memory layout (C, Fortran,
   strided, read-only, misaligned, zero-stride), token ids in int64, int32 or uint8: the
   fast backend agrees with the float64 reference on the same values.
2. Every invalid call of _reliability.invalid_cases() (wrong ranks and sizes, T=0 and
   B=0, float16, complex, object and string arrays, mixed precisions, None, ids out of
   range, bad ints and options, a cache from another kernel or call, absurd sizes through
   zero-stride views, corrupt state dicts) raises the documented exception, the same
   type and message from both backends.

Both run in one worker process (_reliability.Worker): a crash is a failure that names
the call, not the end of the test run.
"""

from __future__ import annotations

import pytest
from _reliability import (
    LAYOUTS,
    Worker,
    WorkerCrash,
    check_valid,
    invalid_cases,
    invalid_outcome,
    invalid_outcomes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastrnn

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def run(worker, function, *args):
    try:
        return worker.run(function, *args)
    except WorkerCrash as e:
        pytest.fail(str(e))


# ---- valid problems ------------------------------------------------------------------


def layouts(names):
    return st.fixed_dictionaries({name: st.sampled_from(LAYOUTS) for name in names})


common = {
    "seed": st.integers(0, 2**32 - 1),
    "dtype": st.sampled_from(["float32", "float64"]),
    "T": st.integers(1, 6),
    "B": st.integers(1, 4),
    "H": st.integers(1, 7),
    "bias": st.booleans(),
    "states": st.booleans(),
}
ids_dtype = st.sampled_from(["int64", "int32", "uint8"])
mask_kind = st.sampled_from(["none", "bool", "int64", "float32"])
window = st.one_of(st.none(), st.integers(0, 7))

cell_specs = st.fixed_dictionaries(
    {
        **common,
        "kind": st.just("cell"),
        "cell": st.sampled_from(["lstm", "gru"]),
        "D": st.integers(1, 7),
        "truncate": window,
        "layouts": layouts(["x", "s0", "c0", "U", "W", "b_ih", "b_hh", "ds", "dc"]),
    }
)
lm_kernel_specs = st.fixed_dictionaries(
    {
        **common,
        "kind": st.just("lm_kernels"),
        "K": st.integers(1, 9),
        "ids": ids_dtype,
        "mask": mask_kind,
        "reduction": st.sampled_from(["mean", "sum"]),
        "layouts": layouts(["ids", "U", "dx", "s", "V", "c", "targets", "mask"]),
    }
)
layer_specs = st.fixed_dictionaries(
    {
        **common,
        "kind": st.just("layer"),
        "cell": st.sampled_from(["RNN", "LSTM", "GRU"]),
        "nonlinearity": st.sampled_from(["tanh", "relu"]),
        "D": st.integers(1, 6),
        "layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "batch_first": st.booleans(),
        "unbatched": st.booleans(),
        "lengths": st.booleans(),
        "truncate": window,
        "layouts": layouts(["x", "h0", "c0", "dout", "dh_n", "dc_n", "lengths"]),
    }
)
rnnlm_specs = st.fixed_dictionaries(
    {
        **common,
        "kind": st.just("rnnlm"),
        "cell": st.sampled_from(fastrnn.lm.CELLS),  # the cells the language model takes
        "K": st.integers(1, 9),
        "layers": st.integers(1, 2),
        "nonlinearity": st.sampled_from(["tanh", "relu"]),
        "ids": ids_dtype,
        "mask": st.sampled_from(["none", "bool", "int64"]),
        "reduction": st.sampled_from(["mean", "sum"]),
        "truncate": window,
        "chunk": st.one_of(st.none(), st.integers(1, 7)),
        "layouts": layouts(["ids", "targets", "h0", "c0", "mask"]),
    }
)


@settings(max_examples=200, **SETTINGS)
@given(spec=st.one_of(cell_specs, lm_kernel_specs, layer_specs, rnnlm_specs))
def test_every_kernel_and_class_agrees_with_the_reference_in_any_layout(worker, spec):
    assert run(worker, check_valid, spec) is None, spec


# ---- invalid calls -------------------------------------------------------------------

CASES = invalid_cases()
TARGETS = sorted({target for target, _, _ in CASES})


@pytest.mark.parametrize("target", TARGETS)
def test_every_invalid_call_raises_the_documented_exception(worker, target):
    """All of the target's cases at the default sizes, in one worker call."""
    cases = [case for case in CASES if case[0] == target]
    failures = run(worker, invalid_outcomes, cases)
    assert not failures, "\n".join(failures)


sizes = st.fixed_dictionaries({letter: st.integers(1, 5) for letter in "TBDHK"})


@settings(max_examples=200, **SETTINGS)
@given(case=st.sampled_from(CASES), sizes=sizes, dtype=st.sampled_from(["float32", "float64"]))
def test_invalid_calls_of_any_size_and_dtype_raise_the_documented_exception(
    worker, case, sizes, dtype
):
    assert run(worker, invalid_outcome, case, sizes, dtype) is None


def test_the_invalid_battery_covers_every_target():
    assert TARGETS == ["GRU", "LSTM", "RNN", "RNNLM", "embedding", "gru", "lstm", "rnn", "softmax"]
    assert len(CASES) > 600
