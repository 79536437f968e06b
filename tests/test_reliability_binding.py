"""The raw binding (fastrnn._kernels) on what the fuzzer found it let through, each call in
a worker process: the exception it must raise, by type and message."""

from __future__ import annotations

import numpy as np
import pytest
from _reliability import Worker, WorkerCrash


def z(*shape):
    return np.zeros(shape)


def raw_call(case: str) -> str:
    """Runs in the worker: "ExceptionName: message" of the case's call, or "no error"."""
    import fastrnn  # noqa: F401 - installs the BLAS
    from fastrnn import _kernels as F

    ids = np.zeros((1, 1), np.int64)
    calls = {
        # U was untyped: an int for it raised AttributeError ('int' object has no 'shape')
        "rnn_forward U=3": lambda: F.rnn_forward(z(2, 1, 3), z(1, 4), 3, z(4, 4), None, "tanh"),
        "rnn_backward U='U'": lambda: F.rnn_backward(z(2, 1, 3), z(1, 4), "U", z(4, 4),
                                                     z(2, 1, 4), z(2, 1, 4), True, "tanh", -1),
        # Cython's int64_t conversion truncated 2.5 to 2
        "rnn_backward truncate=2.5": lambda: F.rnn_backward(
            z(3, 1, 4), z(1, 4), None, z(4, 4), z(3, 1, 4), z(3, 1, 4), True, "tanh", 2.5),
        "embedding_backward D=2.5": lambda: F.embedding_backward(z(1, 1, 4), ids, 2.5),
        "lstm_backward truncate=2**63": lambda: F.lstm_backward(
            z(1, 1, 1), z(1, 1), z(1, 1), z(4, 1), z(4, 1), z(1, 1, 1), z(1, 1, 1), z(1, 1, 4),
            z(1, 1, 1), None, True, 2**63),
        # a D of 2**31 - 2 made it allocate (and fill) H * D elements for dU
        "embedding_backward D=2**31-2": lambda: F.embedding_backward(z(1, 1, 4096), ids,
                                                                     2**31 - 2),
    }  # fmt: skip
    try:
        calls[case]()
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return f"{type(e).__name__}: {e}"
    return "no error"


EXPECTED = {
    "rnn_forward U=3": "TypeError: ",
    "rnn_backward U='U'": "TypeError: ",
    "rnn_backward truncate=2.5": "TypeError: truncate must be an int; got 2.5",
    "embedding_backward D=2.5": "TypeError: D must be an int; got 2.5",
    "lstm_backward truncate=2**63": "OverflowError: ",
    "embedding_backward D=2**31-2": "MemoryError: embedding_backward needs about ",
}


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


@pytest.mark.parametrize("case", EXPECTED)
def test_the_binding_refuses_what_the_fuzzer_found(worker, case):
    try:
        outcome = worker.run(raw_call, case)
    except WorkerCrash as e:
        pytest.fail(str(e))
    assert outcome.startswith(EXPECTED[case]), outcome
