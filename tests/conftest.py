"""Fixtures shared by the tests: a seeded generator and the two backends.

The helpers (rnn_problem, cast, TOL, ...) live in _helpers.py, which this file puts on
sys.path so that test modules can ``from _helpers import ...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
# An editable install (make dev) rebuilds on import and says so on stdout, which would
# reach the output of the CLI runs the tests parse; keep it quiet (a wheel ignores this).
os.environ.setdefault("SKBUILD_EDITABLE_VERBOSE", "0")

from _helpers import TOL, cast, rnn_problem  # noqa: E402

import fastrnn  # noqa: E402
import fastrnn.reference  # noqa: E402

__all__ = ["TOL", "backend", "cast", "rng", "rnn_problem"]

SEED = 20240601


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed: every test sees the same numbers."""
    return np.random.default_rng(SEED)


@pytest.fixture(params=[fastrnn.reference, fastrnn], ids=["reference", "fast"])
def backend(request):
    """The module whose rnn_forward / rnn_backward a test exercises."""
    return request.param


# The C drivers of tests/test_c_kernels.py (minutes of compiles and runs under ASan and
# valgrind) are built and run in the background while the other tests run, one subprocess
# at a time, and their tests run last, when little is left to wait for.
def _is_c_kernels(item) -> bool:
    return item.path.name == "test_c_kernels.py"


def pytest_collection_modifyitems(config, items):
    items[:] = [item for item in items if not _is_c_kernels(item)] + [
        item for item in items if _is_c_kernels(item)
    ]


def pytest_collection_finish(session):
    c_kernels = [item for item in session.items if _is_c_kernels(item)]
    if c_kernels and not session.config.option.collectonly:
        c_kernels[0].module.start_in_background(c_kernels)


def pytest_sessionfinish(session):
    for item in getattr(session, "items", []):
        if _is_c_kernels(item):
            item.module.stop_background()
            break
