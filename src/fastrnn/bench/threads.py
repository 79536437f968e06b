"""Holding every library in the process to the requested number of threads.

- BLAS (NumPy's OpenBLAS, the one fastrnn loads, torch's OpenMP runtime): threadpoolctl,
  ``threadpool_limits(n)``, entered after every backend is imported so that it sees them.
- torch: ``torch.set_num_threads(n)`` (the torch backend's ``open``).
- JAX: XLA's CPU client sizes its thread pools from the CPU affinity mask when it starts,
  and no XLA flag caps them, so ``pinned_cpus(n)`` restricts every thread of the process
  (and so every thread created later) to n CPUs before JAX's backend starts. It also
  confines the other libraries, which is what a fair n-thread comparison wants.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def available_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where affinity is unsupported)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # 0 is the calling thread


def _set_affinity(cpus: set[int]) -> None:
    for tid in _thread_ids():
        try:
            os.sched_setaffinity(tid, cpus)
        except (ProcessLookupError, PermissionError):
            pass  # the thread exited meanwhile, or is not ours to move


@contextlib.contextmanager
def pinned_cpus(n: int) -> Iterator[list[int] | None]:
    """Pin every thread of the process to the first n available CPUs, restoring the
    previous affinity on exit. Yields the CPUs, or None where the platform has no
    affinity control (Linux has it; JAX then runs with all its threads)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = set(os.sched_getaffinity(0))
    cpus = sorted(before)[:n]
    if len(cpus) < n:
        raise ValueError(f"threads = {n}, but this process may use only {len(before)} CPUs")
    _set_affinity(set(cpus))
    try:
        yield cpus
    finally:
        _set_affinity(before)
