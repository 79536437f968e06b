"""Data-parallel training (fastrnn.distributed) in one process, without MPI: N ranks as N
threads sharing a Communicator made of barriers, checked against one process on all the
streams. tests/test_distributed_mpi.py runs the same under mpiexec."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from _helpers import TOL
from numpy.testing import assert_allclose, assert_array_equal
from test_cli_lm import CORPUS as CLI_CORPUS
from test_cli_lm import SMALL, run_in_process

import fastrnn
from fastrnn import checkpoint, distributed, optim, text, training

# Short: a few steps go through several epochs.
CORPUS = (
    "def add(a, b):\n    return a + b\n\n\nclass Point:\n    def __init__(self, x, y):\n"
    "        self.x = x\n        self.y = y\n"
) * 2
TOKENIZER = text.CharTokenizer.fit(CORPUS)
TOKENS = TOKENIZER.encode(CORPUS)


class ThreadWorld:
    """What the ranks of ThreadCommunicator share: a barrier and one slot per rank."""

    def __init__(self, size: int):
        self.size = size
        self.slots: list = [None] * size
        self.barrier = threading.Barrier(size, timeout=10)


class ThreadCommunicator:
    """The Communicator of one of N threads: every collective meets at the barrier, and
    sums run in rank order, so every rank gets the same bits (as from MPI)."""

    def __init__(self, world: ThreadWorld, rank: int):
        self.world, self.rank, self.size = world, rank, world.size

    def allreduce_sum_(self, buf):
        w = self.world
        w.slots[self.rank] = buf.copy()
        w.barrier.wait()
        total = w.slots[0].copy()
        for other in w.slots[1:]:
            total += other
        w.barrier.wait()  # everyone has read the slots before they are written again
        buf[...] = total

    def bcast_(self, buf, root=0):
        w = self.world
        if self.rank == root:
            w.slots[root] = buf.copy()
        w.barrier.wait()
        buf[...] = w.slots[root]
        w.barrier.wait()

    def barrier(self):
        self.world.barrier.wait()


def run_ranks(size: int, work) -> tuple[list, list]:
    """(results, exceptions) of work(comm) on `size` threads, in rank order. A rank that
    raises breaks the barrier, so that the others raise too instead of waiting."""
    world = ThreadWorld(size)
    results, errors = [None] * size, [None] * size

    def rank_main(rank):
        try:
            results[rank] = work(ThreadCommunicator(world, rank))
        except BaseException as e:
            errors[rank] = e
            world.barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def make_model(seed=0, optimizer="adam"):
    model = fastrnn.RNNLM(TOKENIZER.vocab_size, 8, num_layers=2, dtype=np.float64, seed=seed)
    return model, optim.make_optimizer(optimizer, model.params, lr=0.01)


SETTINGS = {"seq_length": 7, "clip_norm": 1.0, "seed": 0}


def trainer_steps(batch_size, steps, optimizer="adam"):
    """One process on all the streams: (trainer, losses)."""
    model, opt = make_model(optimizer=optimizer)
    trainer = training.Trainer(model, opt, TOKENS, batch_size=batch_size, **SETTINGS)
    return trainer, [trainer.train_step() for _ in range(steps)]


def distributed_steps(comm, batch_size, steps, optimizer="adam", seed=0):
    """One rank: (trainer, losses)."""
    model, opt = make_model(seed=seed, optimizer=optimizer)
    trainer = distributed.DistributedTrainer(
        model, opt, TOKENS, comm=comm, batch_size=batch_size, **SETTINGS
    )
    return trainer, [trainer.train_step() for _ in range(steps)]


def assert_same_run(got: training.Trainer, got_state, want: training.Trainer, tol: dict):
    """got (with got_state, its state(), a collective) is the same run as want."""
    for name, p in want.model.params.items():
        assert_allclose(got.model.params[name], p, **tol, err_msg=name)
    want_state = want.optimizer.state_dict()
    for name, s in got.optimizer.state_dict().items():
        assert_allclose(s, want_state[name], **tol, err_msg=name)
    meta_got, arrays_got = got_state
    meta_want, arrays_want = want.state()
    assert meta_got == meta_want
    assert_allclose(arrays_got["h"], arrays_want["h"], **tol)


@pytest.mark.parametrize(
    ("ranks", "batch_size", "optimizer"),
    [(1, 3, "adam"), (2, 4, "adam"), (2, 5, "sgd"), (3, 5, "adagrad"), (3, 3, "adam")],
)
def test_ranks_equal_one_process_on_all_streams(ranks, batch_size, optimizer):
    """N ranks = one process on the union of their streams, across epochs, clipping
    included; bit for bit with one rank, to rounding with unequal shares (B=5 on 2 or 3)."""
    steps = 40
    want, want_losses = trainer_steps(batch_size, steps, optimizer)
    assert want.epoch >= 2

    def work(comm):
        trainer, losses = distributed_steps(comm, batch_size, steps, optimizer)
        meta, arrays = trainer.state()  # collective: every rank gathers the whole h
        return trainer, losses, meta, arrays

    results, errors = run_ranks(ranks, work)
    assert errors == [None] * ranks
    tol = {"rtol": 0, "atol": 0} if ranks == 1 else TOL[np.float64]
    root, losses, *root_state = results[0]
    assert_allclose(losses, want_losses, **tol)
    assert_same_run(root, root_state, want, tol)
    shares = [r[0].streams for r in results]
    assert shares[0].start == 0 and shares[-1].stop == batch_size
    assert all(a.stop == b.start for a, b in zip(shares, shares[1:], strict=False))
    for other, other_losses, meta, arrays in results[1:]:  # every rank holds the same run
        assert other_losses == losses
        for name, p in root.model.params.items():
            assert_array_equal(other.model.params[name], p, err_msg=name)
        assert meta == results[0][2]
        assert_array_equal(arrays["h"], results[0][3]["h"])


def test_gradients_live_in_one_buffer_and_the_step_averages_them():
    """After a step, model.grads are views of one contiguous buffer holding the mean over
    all T x B tokens (what one process computes), and the loss is the global mean."""
    model, _ = make_model()
    ids, targets = training.stream_grid(TOKENS, 4, 7)
    want = model.loss_and_grads(ids[:7], targets[:7])
    want_grads = dict(model.grads)

    def work(comm):
        m, opt = make_model()
        trainer = distributed.DistributedTrainer(
            m, opt, TOKENS, comm=comm, batch_size=4, seq_length=7, seed=0
        )
        loss = trainer.train_step()  # the first 7 tokens of every stream, no clipping
        return loss, m.grads, trainer._buffer

    results, errors = run_ranks(3, work)  # shares of 1, 1 and 2 streams
    assert errors == [None] * 3
    for loss, grads, buffer in results:
        assert loss == pytest.approx(want.loss, rel=1e-13)
        for name, g in grads.items():
            assert np.shares_memory(g, buffer), name
            assert_allclose(g, want_grads[name], **TOL[np.float64], err_msg=name)


def test_resume_with_another_rank_count(tmp_path):
    """2 ranks for 13 steps, save; 3 ranks for 14 more; then one process for 13 more:
    the same as one process for 40 steps (the checkpoint knows nothing of the ranks)."""
    want, want_losses = trainer_steps(5, 40)
    path = tmp_path / "run.npz"

    def first(comm):
        trainer, losses = distributed_steps(comm, 5, 13)
        trainer.save_checkpoint(path, TOKENIZER, extra={"note": "two ranks"})
        return losses

    def second(comm):
        ckpt = checkpoint.load(path)
        trainer = distributed.DistributedTrainer.restore(
            ckpt.model, ckpt.optimizer, TOKENS, ckpt.trainer, ckpt.trainer_arrays, comm=comm
        )
        losses = [trainer.train_step() for _ in range(14)]
        trainer.save_checkpoint(path, TOKENIZER)
        return losses

    results, errors = run_ranks(2, first)
    assert errors == [None, None]
    assert checkpoint.load(path).extra == {"note": "two ranks"}
    losses = results[0]
    results, errors = run_ranks(3, second)
    assert errors == [None] * 3
    losses += results[0]
    ckpt = checkpoint.load(path)
    last = training.Trainer.restore(
        ckpt.model, ckpt.optimizer, TOKENS, ckpt.trainer, ckpt.trainer_arrays
    )
    losses += [last.train_step() for _ in range(13)]
    assert_allclose(losses, want_losses, **TOL[np.float64])
    assert_same_run(last, last.state(), want, TOL[np.float64])


def test_a_stop_requested_on_one_rank_stops_all_after_the_same_step():
    def work(comm):
        model, opt = make_model()
        trainer = distributed.DistributedTrainer(
            model, opt, TOKENS, comm=comm, batch_size=4, **SETTINGS
        )
        stopping = []
        for step in range(1, 6):
            trainer.stop_requested = comm.rank == 1 and step == 3
            trainer.train_step()
            stopping.append(trainer.stopping)
        return stopping

    results, errors = run_ranks(2, work)
    assert errors == [None, None]
    assert results == [[False, False, True, False, False]] * 2


def test_every_rank_must_run_the_same_training():
    """A rank with another generator seed (the epoch offsets would differ) is refused
    before any parameter is broadcast; rank 0, left waiting, is released."""

    def work(comm):
        model, opt = make_model()
        settings = {**SETTINGS, "seed": comm.rank}
        return distributed.DistributedTrainer(
            model, opt, TOKENS, comm=comm, batch_size=4, **settings
        )

    _, errors = run_ranks(2, work)
    assert isinstance(errors[0], threading.BrokenBarrierError)
    assert isinstance(errors[1], ValueError)
    assert "rank 1 is not running the same training as rank 0" in str(errors[1])


def test_rank_0_parameters_are_broadcast():
    """Ranks whose models were seeded differently all start from rank 0's weights."""

    def work(comm):
        model, opt = make_model(seed=comm.rank)
        distributed.DistributedTrainer(model, opt, TOKENS, comm=comm, batch_size=4, **SETTINGS)
        return model.params

    results, errors = run_ranks(2, work)
    assert errors == [None, None]
    want = make_model(seed=0)[0].params
    for params in results:
        for name, p in want.items():
            assert_array_equal(params[name], p, err_msg=name)


def test_fewer_streams_than_ranks_is_refused():
    def work(comm):
        model, opt = make_model()
        distributed.DistributedTrainer(model, opt, TOKENS, comm=comm, batch_size=2, **SETTINGS)

    _, errors = run_ranks(3, work)
    for e in errors:  # every rank, before any collective
        assert isinstance(e, ValueError)
        assert "the batch of B = 2 streams cannot be shared by 3 ranks" in str(e)


def test_stream_shares_and_flat_views():
    shares = [distributed.stream_share(7, 3, r) for r in range(3)]
    assert [(s.start, s.stop) for s in shares] == [(0, 2), (2, 4), (4, 7)]
    arrays = {"a": np.ones((2, 3)), "b": np.full(4, 2.0)}
    buffer, views = distributed.flat_views(arrays, extra=2)
    assert buffer.shape == (12,) and buffer.flags.c_contiguous
    views["a"][...] = arrays["a"]
    views["b"][...] = arrays["b"]
    assert_array_equal(buffer, [1] * 6 + [2] * 4 + [0, 0])
    with pytest.raises(TypeError, match="the arrays must share one dtype"):
        distributed.flat_views({"a": np.ones(2), "b": np.ones(2, dtype=np.float32)})


def test_launcher_size(monkeypatch):
    for name in distributed.LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.launcher_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.launcher_size() == 4
    monkeypatch.setenv("PMI_SIZE", "junk")
    assert distributed.launcher_size() == 4


def test_train_under_a_launcher_without_distributed_is_refused(
    monkeypatch, capsys, tmp_path, corpus
):
    """N copies of the same one-process run would race for the same checkpoint."""
    monkeypatch.setenv("PMI_SIZE", "2")
    out = tmp_path / "m.npz"
    done = run_in_process(capsys, "train", "--text", corpus, "--steps", 1, "--out", out, *SMALL)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "fastrnn train: error: started as 2 MPI processes without --distributed: add "
        "--distributed to train them together, or start one process"
    )
    assert not out.exists()


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "code.py"
    path.write_text(CLI_CORPUS, encoding="utf-8")
    return path


def run_python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_one_process_training_never_imports_mpi4py(corpus, tmp_path):
    done = run_python(
        f"""
        import sys
        import fastrnn, fastrnn.distributed
        from fastrnn import cli
        status = cli.main(["train", "--text", {str(corpus)!r}, "--steps", "2", *{SMALL!r}])
        assert status == 0, status
        assert "mpi4py" not in sys.modules, "mpi4py was imported"
        print("ok")
        """,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("ok\n")


def test_distributed_without_mpi4py_says_what_to_install(corpus, tmp_path):
    done = run_python(
        f"""
        import sys
        sys.modules["mpi4py"] = None  # as if it were not installed
        from fastrnn import cli
        sys.exit(cli.main(["train", "--distributed", "--text", {str(corpus)!r}]))
        """,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "fastrnn train: error: --distributed: distributed training needs mpi4py and an MPI "
        "library (import of mpi4py halted; None in sys.modules)"
    )
    assert lines[0].endswith("pip install 'fastrnn[mpi]' mpich (or mpi4py over your cluster's MPI)")
