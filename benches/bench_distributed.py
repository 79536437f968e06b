"""Time a training step of fastrnn train in one process and in N MPI processes
(fastrnn.distributed), and the share of the step spent in the Allreduce.

    python benches/bench_distributed.py                # 1 process vs mpiexec -n 2
    python benches/bench_distributed.py --ranks 4 --batch-size 32 --hidden 256

The run is fastrnn train's: a character-level RNNLM (one layer of H, float32) on the
built-in corpus (--text FILE for another), Adam, gradients clipped to norm 5, B streams
of T tokens per step, one BLAS thread per process. The global batch is the same in both
runs: each of the N ranks computes B/N streams.

The driver alternates the two runs (--rounds of each, one process first) so that both
see the same load on a shared machine. Each run builds the trainer, takes --warmup
steps, then times --steps steps one by one; in the N-process run, rank 0 also times its
Allreduce inside every step (the gradient buffer, plus its waiting for the slower rank)
and, after the steps, the same Allreduce alone, right after a barrier. Reported: the
medians over all timed steps of all rounds, with the quartiles of the round medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


class TimedCommunicator:
    """A Communicator that adds up the seconds its allreduce_sum_ calls take."""

    def __init__(self, comm):
        self.comm, self.rank, self.size = comm, comm.rank, comm.size
        self.seconds = 0.0

    def allreduce_sum_(self, buf):
        start = time.perf_counter()
        self.comm.allreduce_sum_(buf)
        self.seconds += time.perf_counter() - start

    def bcast_(self, buf, root=0):
        self.comm.bcast_(buf, root)

    def barrier(self):
        self.comm.barrier()


def worker(args) -> None:
    """One run (one process, or one rank of N); rank 0 prints its timings as JSON."""
    from threadpoolctl import threadpool_limits

    import fastrnn
    from fastrnn import distributed, optim, text, training

    corpus = text.read_text(args.text) if args.text else text.default_corpus().text
    tokenizer = text.CharTokenizer.fit(corpus)
    tokens = tokenizer.encode(corpus)
    model = fastrnn.RNNLM(tokenizer.vocab_size, args.hidden, dtype=np.float32, seed=0)
    opt = optim.Adam(model.params, lr=3e-3)
    settings = {"seq_length": args.seq_length, "batch_size": args.batch_size, "clip_norm": 5.0}
    settings["seed"] = 0  # the same on every rank (their runs are checked to agree)
    comm = None
    if args.worker == "mpi":
        comm = TimedCommunicator(distributed.MPICommunicator())
        trainer = distributed.DistributedTrainer(model, opt, tokens, comm=comm, **settings)
    else:
        trainer = training.Trainer(model, opt, tokens, **settings)
    steps, allreduce, alone = [], [], []
    with threadpool_limits(limits=1):
        for _ in range(args.warmup):
            trainer.train_step()
        for _ in range(args.steps):
            if comm is not None:
                comm.seconds = 0.0
            start = time.perf_counter()
            trainer.train_step()
            steps.append(time.perf_counter() - start)
            if comm is not None:
                allreduce.append(comm.seconds)
        if comm is not None:
            buf = trainer._buffer.copy()
            for _ in range(args.steps):
                comm.barrier()
                comm.seconds = 0.0
                comm.allreduce_sum_(buf)
                alone.append(comm.seconds)
    result = {"step": steps, "allreduce": allreduce, "alone": alone}
    result["P"] = sum(p.size for p in model.params.values())
    if comm is not None:  # every rank's step and Allreduce times, gathered on rank 0
        table = np.zeros((comm.size, 2, args.steps))
        table[comm.rank] = steps, allreduce
        comm.comm.allreduce_sum_(table)
        result["ranks"] = [{"step": s.tolist(), "allreduce": a.tolist()} for s, a in table]
    if comm is None or comm.rank == 0:
        print(json.dumps(result))


def launch(args, ranks: int) -> dict:
    here = os.path.abspath(__file__)
    options = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in RUN_OPTIONS]
    options = [o for o in options if not o.endswith("=None")]
    if ranks == 1:
        cmd = [sys.executable, here, "--worker", "one", *options]
    else:
        python = Path(sys.executable).with_name("mpiexec")
        mpiexec = str(python) if python.exists() else shutil.which("mpiexec")
        cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", here, "--worker", "mpi"]
        cmd += options
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


RUN_OPTIONS = ("text", "hidden", "seq_length", "batch_size", "warmup", "steps")


def ms(seconds: list[float]) -> str:
    return f"{1e3 * statistics.median(seconds):7.2f} ms"


def quartiles(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"(round medians {1e3 * q1:.2f}-{1e3 * q3:.2f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, default=2, help="processes of the MPI run (default 2)")
    p.add_argument("--text", help="UTF-8 text (default: the built-in corpus)")
    p.add_argument("--hidden", type=int, default=128, help="H (default 128)")
    p.add_argument("--seq-length", type=int, default=100, help="T (default 100)")
    p.add_argument("--batch-size", type=int, default=16, help="global B (default 16)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per run (default 5)")
    p.add_argument("--steps", type=int, default=40, help="timed steps per run (default 40)")
    p.add_argument("--rounds", type=int, default=5, help="runs of each kind (default 5)")
    p.add_argument("--worker", choices=["one", "mpi"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    runs: dict[int, list[dict]] = {1: [], args.ranks: []}
    for _ in range(args.rounds):
        for ranks in runs:
            runs[ranks].append(launch(args, ranks))
    print(
        f"{platform.node()}: {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}"
    )
    print(
        f"char-level RNNLM, H={args.hidden}, {runs[1][0]['P']:,} parameters, float32, Adam; "
        f"B={args.batch_size} streams x T={args.seq_length}; {args.rounds} rounds x "
        f"{args.steps} steps; 1 BLAS thread per process"
    )
    for ranks, results in runs.items():
        steps = [s for r in results for s in r["step"]]
        per_round = [statistics.median(r["step"]) for r in results]
        tokens = args.batch_size * args.seq_length / statistics.median(steps)
        line = f"{ranks} process{'es' if ranks > 1 else '  '}  step {ms(steps)} "
        line += f"{quartiles(per_round)}  {tokens:,.0f} tokens/s"
        print(line)
        if ranks > 1:
            allreduce = [a for r in results for a in r["allreduce"]]
            share = [a / s for r in results for a, s in zip(r["allreduce"], r["step"], strict=True)]
            alone = [a for r in results for a in r["alone"]]
            print(
                f"             rank 0 in the Allreduce {ms(allreduce)} (median share of the "
                f"step {100 * statistics.median(share):.1f}%, waiting for the other ranks "
                f"included); the Allreduce alone after a barrier {ms(alone)}"
            )
            for rank in range(ranks):
                timed = [(r["ranks"][rank]["step"], r["ranks"][rank]["allreduce"]) for r in results]
                compute = [
                    s - a for steps, waits in timed for s, a in zip(steps, waits, strict=True)
                ]
                print(f"             rank {rank} computing (step less Allreduce) {ms(compute)}")
    speedup = statistics.median([s for r in runs[1] for s in r["step"]]) / statistics.median(
        [s for r in runs[args.ranks] for s in r["step"]]
    )
    print(f"speedup of {args.ranks} processes over 1: {speedup:.2f}x")


if __name__ == "__main__":
    main()
