"""Synchronous data-parallel training on MPI through mpi4py: the optional extra ``fastrnn[mpi]``.

N processes (ranks) each hold the whole model and read the whole corpus. The B streams of
every step (see training.py) are cut into N contiguous shares, one per rank, so the global
batch is the same whatever N. Every step, on every rank r holding B_r of the streams:

    loss_r, g_r = mean loss and gradients over the T x B_r tokens of its streams
    buf = [w_r g_r, w_r loss_r, stop_r]      one contiguous buffer, model.grads views of it
    Allreduce(buf, SUM); buf /= N            one collective per step
    clip the gradients, optimizer step       the same numbers, so the same update, on all

with the weight w_r = N B_r / B. It makes the average exact when N does not divide B: the
rank means are over unequal numbers of tokens, and

    (1/N) sum_r w_r g_r = sum_r (B_r / B) (1 / (T B_r)) sum_{tokens of r} dl
                        = (1 / (T B)) sum_{all T B tokens} dl,

the mean gradient of one process on all B streams (w_r = 1 when N divides B). The streams
never meet in the forward or backward pass (every row of a batch has its own recurrence),
so a rank computes its rows as one process would and only the order of the sums into the
weight gradients changes: N ranks equal one process up to rounding (1e-12 in float64 over
a few steps, tested). Clipping sees the global gradient. The loss and every rank's stop
vote (Ctrl-C on any rank stops all of them after the same step) ride in the same buffer.

Rank 0's parameters, optimizer state and carried state are broadcast at the start, after
a check that every rank is running the same training (corpus, model, settings, counters).
Every rank runs the same number of steps: the shares are fixed, the epochs are the same
for all. Only rank 0 writes checkpoints (atomically, with checkpoint.save), followed by a
barrier. A checkpoint holds the state of all B streams, not of the ranks, so a run resumes
with any number of ranks, or in one process without MPI.

mpi4py is imported (and MPI initialized) only when an ``MPICommunicator`` is made, never on
``import fastrnn``. A rank that fails must end the job, or its peers wait forever in the
next collective: launch with ``mpiexec -n N python -m mpi4py ...`` (mpi4py then calls
MPI_Abort on an uncaught exception), and wrap the training in
``MPICommunicator.abort_on_failure()``, as ``fastrnn train --distributed`` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import Protocol

import numpy as np

from . import checkpoint, training

INSTALL_HINT = "pip install 'fastrnn[mpi]' mpich (or mpi4py over your cluster's MPI)"

# What MPI launchers tell a process about the number of ranks: MPICH's and Intel MPI's
# hydra and Slurm's PMI-2 set PMI_SIZE, Open MPI sets OMPI_COMM_WORLD_SIZE.
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


class Communicator(Protocol):
    """What training needs from a distributed engine. Every rank calls the collectives
    (every method) in the same order."""

    rank: int
    size: int

    def allreduce_sum_(self, buf: np.ndarray) -> None:
        """Replace the contiguous buf, on every rank, by its element-wise sum over the ranks
        (the same numbers on every rank)."""

    def bcast_(self, buf: np.ndarray, root: int = 0) -> None:
        """Overwrite the contiguous buf of every rank with root's."""

    def barrier(self) -> None:
        """Return once every rank has called it."""


class MPICommunicator:
    """The Communicator over an mpi4py communicator (``MPI.COMM_WORLD`` by default).

    Importing mpi4py initializes MPI: it happens here, when the feature is used.

    Raises
    ------
    ImportError
        When mpi4py, or the MPI library it loads at run time, is missing; the message says
        what to install.
    """

    def __init__(self, comm=None):
        try:
            from mpi4py import MPI
        except (ImportError, RuntimeError) as e:  # RuntimeError: mpi4py found no libmpi
            reason = str(e).strip().splitlines()[0]
            raise ImportError(
                f"distributed training needs mpi4py and an MPI library ({reason}): {INSTALL_HINT}"
            ) from e
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def allreduce_sum_(self, buf: np.ndarray) -> None:
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def bcast_(self, buf: np.ndarray, root: int = 0) -> None:
        self.comm.Bcast(buf, root=root)

    def barrier(self) -> None:
        self.comm.Barrier()

    def library(self) -> str:
        """The MPI library's name and version (the first line mpi4py reports)."""
        return " ".join(self._MPI.Get_library_version().strip().splitlines()[0].split())

    @contextlib.contextmanager
    def abort_on_failure(self):
        """An exception leaving this block (a non-zero SystemExit and KeyboardInterrupt
        too) makes this process end with MPI_Abort instead of MPI_Finalize once Python
        exits, which ends every rank: its peers would otherwise wait forever in their next
        collective. ``python -m mpi4py`` does the same around a whole program."""
        try:
            yield
        except BaseException as e:
            from mpi4py.run import set_abort_status

            set_abort_status(e)  # the exit status: SystemExit's code, 130 for Ctrl-C, else 1
            raise


def launcher_size() -> int:
    """The number of ranks an MPI launcher (mpiexec, srun) started, read from its
    environment variables without initializing MPI; 1 when not started by one."""
    for name in LAUNCHER_SIZE_VARIABLES:
        try:
            return max(1, int(os.environ[name]))
        except (KeyError, ValueError):
            continue
    return 1


def stream_share(batch_size: int, size: int, rank: int) -> slice:
    """The streams of ``rank``: the rank-th of ``size`` contiguous shares of the
    batch_size streams, whose sizes differ by at most one.

    Raises ValueError when there are fewer streams than ranks."""
    if batch_size < size:
        raise ValueError(
            f"the batch of B = {batch_size} streams cannot be shared by {size} ranks: every "
            f"rank needs at least one stream; use --batch-size {size} or more, or fewer ranks"
        )
    return slice(rank * batch_size // size, (rank + 1) * batch_size // size)


def flat_views(arrays: dict[str, np.ndarray], extra: int = 0):
    """(buffer, views): one zeroed contiguous array holding every array's elements in
    order plus ``extra`` trailing elements, in the dtype of the arrays, and a view of it
    shaped like each array, under the same names."""
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) != 1:
        raise TypeError(f"the arrays must share one dtype; got {sorted(map(str, dtypes))}")
    sizes = [a.size for a in arrays.values()]
    buffer = np.zeros(sum(sizes) + extra, dtype=dtypes.pop())
    views, start = {}, 0
    for (name, a), size in zip(arrays.items(), sizes, strict=True):
        views[name] = buffer[start : start + size].reshape(a.shape)
        start += size
    return buffer, views


class DistributedTrainer(training.Trainer):
    """A ``training.Trainer`` whose steps are shared by the ranks of ``comm`` (see the
    module docstring).

    Every rank builds it with the same model (architecture and seed), optimizer, corpus
    and settings, and then calls the same methods in the same order: ``train_step``,
    ``state`` and ``save_checkpoint`` are collective. ``evaluate`` is not (it runs on
    the calling rank alone).

    Parameters
    ----------
    model : RNNLM
    optimizer : optim.Optimizer
        Over ``model.params``.
    tokens : int array (N,)
        The whole training corpus, on every rank.
    comm : Communicator
        For instance ``MPICommunicator()``.
    synchronize : bool
        Call ``synchronize()`` at the end of the constructor. ``restore`` passes False and
        calls it once the saved state is in.
    **options
        As for ``training.Trainer``; ``batch_size`` is the global B, at least comm.size.

    Raises
    ------
    ValueError
        On a rank whose run differs from rank 0's, or when B < comm.size.

    Attributes
    ----------
    streams : slice
        This rank's share of the B streams.
    stop_requested : bool
        Set it (on Ctrl-C, say) to stop every rank: the vote travels with the next step.
    stopping : bool
        True on every rank after a step during which some rank had ``stop_requested``.
    """

    _SLOTS = 2  # after the gradients in the buffer: the weighted loss, the stop votes

    def __init__(
        self, model, optimizer, tokens, *, comm: Communicator, synchronize=True, **options
    ):
        super().__init__(model, optimizer, tokens, **options)
        self.comm = comm
        self.streams = stream_share(self.batch_size, comm.size, comm.rank)
        share = self.streams.stop - self.streams.start
        self._weight = comm.size * share / self.batch_size
        self._local_inputs = np.ascontiguousarray(self._inputs[:, self.streams])
        self._local_targets = np.ascontiguousarray(self._targets[:, self.streams])
        self._buffer, self._grads = flat_views(model.params, extra=self._SLOTS)
        self.stop_requested = False
        self.stopping = False
        if synchronize:
            self.synchronize()

    @classmethod
    def restore(cls, model, optimizer, tokens, meta, arrays, *, comm: Communicator):
        """As ``training.Trainer.restore`` on every rank, then ``synchronize``."""
        trainer = super().restore(
            model, optimizer, tokens, meta, arrays, comm=comm, synchronize=False
        )
        trainer.synchronize()
        return trainer

    def synchronize(self) -> None:
        """Check that every rank runs the same training as rank 0, then give every rank
        rank 0's parameters, optimizer state and carried state (collective).

        Raises ValueError on a rank whose corpus, model, optimizer, settings or counters
        differ from rank 0's."""
        opt = self.optimizer
        run = {
            "model": self.model.config(),
            "optimizer": [opt.name, opt.hyperparameters(), opt.step_count],
            "trainer": super().state()[0],
        }
        digest = hashlib.sha256(json.dumps(run, sort_keys=True).encode("utf-8")).digest()
        mine = np.frombuffer(digest, dtype=np.uint8)
        root = mine.copy()
        self.comm.bcast_(root)
        if not np.array_equal(root, mine):
            raise ValueError(
                f"rank {self.comm.rank} is not running the same training as rank 0 (corpus, "
                "model, optimizer, settings or checkpoint differ): start every rank with the "
                "same flags on the same files, and the same seed (seed=None differs on each)"
            )
        for p in self.model.params.values():
            self.comm.bcast_(p)
        for buffers in opt.state.values():
            for a in buffers.values():
                self.comm.bcast_(a)
        self.comm.bcast_(self.h)

    def _loss_and_grads(self, steps: slice) -> tuple[float, np.ndarray]:
        share = self.streams
        out = self.model.loss_and_grads(
            self._local_inputs[steps],
            self._local_targets[steps],
            np.ascontiguousarray(self.h[:, share]),
            truncate=self.truncate,
        )
        # [w_r g_r, w_r loss_r, stop_r], summed over the ranks and divided by N
        buf, real = self._buffer, self._buffer.dtype.type
        for name, view in self._grads.items():
            view[...] = self.model.grads[name]
        # In a float32 run the loss travels as float32: 7 digits, and NaN or inf stay so.
        buf[-2] = out.loss
        buf[-1] = 1 if self.stop_requested else 0
        if self._weight != 1.0:
            buf[:-1] *= real(self._weight)
        self.comm.allreduce_sum_(buf)
        buf /= real(self.comm.size)
        self.model.grads = dict(self._grads)
        self.stopping = bool(buf[-1] > 0)
        h_n = self.h.copy()
        h_n[:, share] = out.h_n
        return float(buf[-2]), h_n

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """As ``training.Trainer.state``, with the carried state of all B streams gathered
        from their ranks. Collective: every rank calls it."""
        # Each entry is one rank's value plus -0.0 from every other rank: exact, signed
        # zeros included.
        gathered = np.full_like(self.h, -0.0)
        gathered[:, self.streams] = self.h[:, self.streams]
        self.comm.allreduce_sum_(gathered)
        self.h = gathered
        return super().state()

    def save_checkpoint(self, path, tokenizer, *, extra=None) -> None:
        """``checkpoint.save`` of the run by rank 0 alone (atomically), then a barrier, so
        that the file is complete when any rank returns. Collective: every rank calls it.

        Parameters
        ----------
        path : str or Path
            Where rank 0 writes; the other ranks never touch it.
        tokenizer : text.CharTokenizer or text.WordTokenizer
        extra : dict or None
            As for ``checkpoint.save``.
        """
        state = self.state()
        if self.comm.rank == 0:
            checkpoint.save(path, self.model, tokenizer, self.optimizer, state, extra=extra)
        self.comm.barrier()
