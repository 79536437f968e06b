"""Peak memory of one inference or training call: fastrnn beside torch, JAX and the reference.

    python benches/bench_memory.py                       # large shape, rnn lstm gru, all backends
    python benches/bench_memory.py --cells rnn --shapes small large --backends fastrnn torch

Each (backend, cell, shape, task) runs in a fresh Python process, so that no allocator
cache or earlier case inflates the figure. The child builds the bench's seeded problem
(``fastrnn.bench.cases``), prepares the backend's runner exactly as ``fastrnn bench``
does, makes one warm-up call (the first call's one-time set-up) and drops that runner and
the workspaces the binding keeps for a thread's next call (``release_workspaces``), then
prepares a fresh one (JAX compiles while preparing, before the measurement). Then it asks
the kernel to restart the process's high-water mark (``/proc/self/clear_refs``), reads the
resident set, makes one call while holding its result, and reads the high-water mark
(``VmHWM``). glibc is told to give every block of
64 KiB or more back to the system when it is freed (``MALLOC_MMAP_THRESHOLD_``), so that
the measured call cannot reuse memory the warm-up left in the heap unseen. Reported:

- ``peak MiB``: VmHWM - VmRSS before the call: everything the call held at its worst
  moment, its results included;
- ``results MiB``: the arrays it returns (out and h_n; training adds dx, dh0 and every
  parameter gradient), which any implementation must allocate;
- ``extra MiB``: peak - results: the call's working memory;
- ``bound MiB``: what issue 7 allows as working memory. Inference: O(B*H), taken as
  4*G*B*H elements (a few rows of gate pre-activations); training: the hidden states the
  backward pass needs (T*B*H, plus the LSTM's cell states and the gated cells' gate
  activations, G*T*B*H) — "no more than the hidden states plus parameters and gradients".

Linux only (``/proc``). The figures are in MiB (2**20 bytes) and include whatever the
framework allocates on the way (torch's autograd graph, JAX's buffers). Threads: 1.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

MiB = 2.0**20
BACKENDS = ("fastrnn", "torch", "jax", "reference")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _nbytes(result) -> int:
    """Bytes of the arrays in a runner's result (nested tuples, dicts, tensors)."""
    if result is None:
        return 0
    if isinstance(result, dict):
        return sum(_nbytes(v) for v in result.values())
    if isinstance(result, (tuple, list)):
        return sum(_nbytes(v) for v in result)
    nbytes = getattr(result, "nbytes", None)
    if nbytes is None and hasattr(result, "element_size"):  # a torch tensor
        nbytes = result.element_size() * result.nelement()
    return int(nbytes or 0)


def child(backend_name: str, cell: str, shape: str, task: str, dtype: str) -> dict:
    """Run in the fresh process: measure one case and return its figures."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from fastrnn import _kernels
    from fastrnn.bench import backends
    from fastrnn.bench.cases import CELLS, Case, make_problem, parse_shape
    from fastrnn.bench.threads import pinned_cpus

    with pinned_cpus(1):
        backend = backends.load(backend_name)
        if isinstance(backend, str):
            return {"status": backend}
        with threadpool_limits(1):
            backend.open(1, np.dtype(dtype))
            problem = make_problem(CELLS[cell], parse_shape(shape), np.dtype(dtype), seed=0)
            case = Case(problem, task)
            warm_up = backend.prepare(case)
            if isinstance(warm_up, str):
                return {"status": warm_up}
            warm_up.call()
            # A fresh runner for the measured call: a layer keeps its last forward's cache
            # until the next forward, which would otherwise count in the resident set
            # before the call and be freed during it.
            del warm_up
            runner = backend.prepare(case)
            # the binding keeps small workspaces for the thread's next call: without this,
            # the measured call would reuse the warm-up's and count none of its own
            _kernels.release_workspaces()
            gc.collect()
            ctypes.CDLL(None).malloc_trim(0)
            Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM at VmRSS
            before = _status_kib("VmRSS")
            result = runner.call()
            peak = _status_kib("VmHWM")
            results = _nbytes(result)
            backend.close()
    P = problem.shape
    G = problem.cell.gates
    item = np.dtype(dtype).itemsize
    if task == "inference":
        bound = 4 * G * P.B * P.H * item
    else:
        states = P.T * P.B * P.H * (2 if cell == "lstm" else 1)
        bound = (states + (G * P.T * P.B * P.H if G > 1 else 0)) * item
    return {
        "status": "ok",
        "peak_mib": (peak - before) * 1024 / MiB,
        "results_mib": results / MiB,
        "bound_mib": bound / MiB,
    }


def measure(backend: str, cell: str, shape: str, task: str, dtype: str) -> dict:
    # glibc serves blocks of 64 KiB and more from mmap and unmaps them when freed, so
    # memory freed after the warm-up leaves the resident set instead of waiting in the
    # heap, where the measured call would reuse it unseen.
    env = os.environ | {"MALLOC_MMAP_THRESHOLD_": str(64 * 1024), "MALLOC_TRIM_THRESHOLD_": "0"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", backend, cell, shape, task, dtype],
        capture_output=True, text=True, timeout=1800, env=env,
    )  # fmt: skip
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"failed: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--shapes", nargs="+", default=["large"])
    parser.add_argument("--tasks", nargs="+", default=["inference", "training"])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    rows = []
    print(f"peak memory of one call, {args.dtype}, 1 thread, one fresh process per row (MiB)")
    header = "cell  shape     task       backend      peak  results  extra  bound"
    print(header + "\n" + "-" * len(header))
    for cell in args.cells:
        for shape in args.shapes:
            for task in args.tasks:
                for backend in args.backends:
                    row = {"cell": cell, "shape": shape, "task": task, "backend": backend}
                    row |= measure(backend, cell, shape, task, args.dtype)
                    rows.append(row)
                    label = f"{cell:<5} {shape:<9} {task:<10} {backend:<10}"
                    if row["status"] != "ok":
                        print(f"{label} {row['status']}")
                        continue
                    extra = row["peak_mib"] - row["results_mib"]
                    print(
                        f"{label} {row['peak_mib']:6.1f}  {row['results_mib']:7.1f}"
                        f"  {extra:5.1f}  {row['bound_mib']:5.1f}",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
