"""``fastrnn train`` with a fault injected into one rank, for tests/test_distributed_mpi.py:

    mpiexec -n 2 python -m mpi4py tests/_mpi_train.py RANK STEP HOW train --distributed ...

runs the command line after the first three arguments, except that rank RANK, about to
run step STEP, raises RuntimeError (HOW = raise) or kills itself with SIGKILL, as the
out-of-memory killer would (HOW = kill).
"""

from __future__ import annotations

import os
import signal
import sys

from fastrnn import cli, distributed

fail_rank, fail_step, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
train_step = distributed.DistributedTrainer.train_step


def failing_train_step(self):
    if self.comm.rank == fail_rank and self.step_count + 1 == fail_step:
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError(f"injected failure on rank {fail_rank} at step {fail_step}")
    return train_step(self)


distributed.DistributedTrainer.train_step = failing_train_step
sys.exit(cli.main(sys.argv[4:]))
