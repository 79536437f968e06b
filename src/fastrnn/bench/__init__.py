"""``fastrnn bench``: fastrnn against its reference, PyTorch and JAX, on one machine.

    import fastrnn.bench
    result = fastrnn.bench.run(shapes=["tutorial"], backends=["fastrnn", "torch"])
    print(fastrnn.bench.format_table(result))
    print(fastrnn.bench.format_workloads(result))

How it fits together (one module each):

- ``cases``: the standard shapes, the cells (rnn, lstm, gru), the two tasks (inference,
  training), their flop counts, and the seeded problem every backend receives.
- ``workloads``: the two whole-model workloads beside the cells, the word-level
  language-model step (``lm-step``: compat.RNNNumpy.bptt against the tutorial's plain
  NumPy code, ``tutorial_numpy``) and single-stream generation (``generation``:
  RNNLM.sample against torch), their seeded problems and their agreement checks.
- ``backends``: a backend turns a case into a ``Runner`` (a timed zero-argument call and
  the conversion of its result to named arrays) or says why it cannot;
  ``fastrnn`` and ``reference`` call the layer classes, ``torch_backend`` and
  ``jax_backend`` the equivalent torch modules and jitted ``lax.scan``. A cell reaches the
  table as soon as ``fastrnn.<Class>`` exists (feature detection by name). Backends
  offer the workloads through ``prepare_workload``.
- ``check``: every backend's arrays against fastrnn.reference in float64, before any
  timing; a backend that disagrees is reported, not timed.
- ``timing``: warm-up, calibration, interleaved rounds, medians; the GEMM peak.
- ``threads``: one thread count for every BLAS (threadpoolctl), torch and JAX (CPU
  affinity, pinned before JAX starts).
- ``report``: machine, versions, BLAS, and the text tables (cells, then workloads).
- ``suite``: ``run``, which ties them together and returns a JSON-ready dict.
"""

from __future__ import annotations

from .backends import BACKEND_NAMES, Backend, Runner
from .cases import CELLS, SHAPES, TASKS, Shape, flops
from .check import TOLERANCES, Disagreement
from .report import format_header, format_notes, format_table, format_workloads
from .suite import MODES, QUICK_SHAPES, SCHEMA, run
from .workloads import WORKLOADS, Generation, LMStep

__all__ = [
    "BACKEND_NAMES",
    "CELLS",
    "MODES",
    "QUICK_SHAPES",
    "SCHEMA",
    "SHAPES",
    "TASKS",
    "TOLERANCES",
    "WORKLOADS",
    "Backend",
    "Disagreement",
    "Generation",
    "LMStep",
    "Runner",
    "Shape",
    "flops",
    "format_header",
    "format_notes",
    "format_table",
    "format_workloads",
    "run",
]
