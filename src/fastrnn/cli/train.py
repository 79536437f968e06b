"""``fastrnn train``: train a language model on a text, save a checkpoint, show samples.

With no arguments: a character-level RNN on the built-in corpus (Python source from the
running interpreter's standard library, see fastrnn.text.default_corpus), about two
minutes on two cores. --text FILE trains on your own UTF-8 text, --level word on its
words, --cell lstm or gru swaps the cell; --resume CKPT continues a run exactly where it
stopped.

Ctrl-C stops after the current step, saves the checkpoint and exits with status 130.

--distributed trains with every process an MPI launcher started (fastrnn[mpi]):
mpiexec -n 4 python -m mpi4py -m fastrnn train --distributed ... (see fastrnn.distributed).
Rank 0 prints, shows the progress bar and the samples, and writes the checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from . import options
from .errors import UserError

# Settings of a new run (None in the parser, so that --resume can tell what was given).
DEFAULTS = {
    "level": "char",
    "vocab_size": 8000,
    "cell": "rnn",
    "hidden": 256,
    "layers": 1,
    "seq_length": 64,
    "batch_size": 32,
    "optimizer": "adam",
    "lr": None,  # the optimizer's own, see LEARNING_RATES
    "clip": 5.0,
    "clip_value": None,
    "truncate": None,
    "dtype": "float32",
    "seed": 0,
    "val_fraction": 0.05,
}
LEARNING_RATES = {"adam": 3e-3, "adagrad": 0.1, "sgd": 0.5}
DEFAULT_STEPS = 4000
DEFAULT_OUT = "fastrnn-model.npz"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a language model on a text (default: Python's standard library)",
        description=" ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "),
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--text",
        metavar="FILE",
        help="UTF-8 text to train on (default: the "
        "standard library's top-level modules, about 2 MB)",
    )
    data.add_argument(
        "--level",
        choices=["char", "word"],
        help=f"tokens: characters or words (default {DEFAULTS['level']})",
    )
    data.add_argument(
        "--vocab-size",
        type=options.int_at_least(4),
        metavar="N",
        help="word level: the N-1 most frequent tokens and UNKNOWN_TOKEN "
        f"(default {DEFAULTS['vocab_size']})",
    )
    data.add_argument(
        "--val-fraction",
        type=options.fraction,
        metavar="F",
        help="hold out the last F of the text to measure the loss on "
        f"(default {DEFAULTS['val_fraction']})",
    )

    model = p.add_argument_group("model")
    model.add_argument(
        "--cell",
        choices=["rnn", "lstm", "gru"],
        help=f"recurrent cell: vanilla (tanh) RNN, LSTM or GRU (default {DEFAULTS['cell']})",
    )
    model.add_argument(
        "--hidden",
        type=options.int_at_least(1),
        metavar="H",
        help=f"hidden size (default {DEFAULTS['hidden']})",
    )
    model.add_argument(
        "--layers",
        type=options.int_at_least(1),
        metavar="L",
        help=f"recurrent layers (default {DEFAULTS['layers']})",
    )
    model.add_argument(
        "--dtype", choices=["float32", "float64"], help=f"precision (default {DEFAULTS['dtype']})"
    )

    run = p.add_argument_group("training")
    run.add_argument(
        "--steps",
        type=options.int_at_least(0),
        metavar="N",
        help=f"updates to run (default {DEFAULT_STEPS}; with --resume: more)",
    )
    run.add_argument(
        "--seq-length",
        type=options.int_at_least(1),
        metavar="T",
        help="tokens per stream and step: BPTT runs exactly over them "
        f"(default {DEFAULTS['seq_length']})",
    )
    run.add_argument(
        "--batch-size",
        type=options.int_at_least(1),
        metavar="B",
        help=f"parallel streams (default {DEFAULTS['batch_size']})",
    )
    run.add_argument(
        "--optimizer", choices=sorted(LEARNING_RATES), help=f"(default {DEFAULTS['optimizer']})"
    )
    run.add_argument(
        "--lr",
        type=options.positive_float,
        metavar="LR",
        help="learning rate (default: adam 3e-3, adagrad 0.1, sgd 0.5)",
    )
    run.add_argument(
        "--clip",
        type=options.non_negative_float,
        metavar="NORM",
        help=f"clip the gradients' global norm, 0 = off (default {DEFAULTS['clip']})",
    )
    run.add_argument(
        "--clip-value",
        type=options.positive_float,
        metavar="C",
        help="also clip every gradient element to [-C, C], as min-char-rnn with 5 (default off)",
    )
    run.add_argument(
        "--truncate",
        type=options.int_at_least(0),
        metavar="K",
        help="per-output BPTT window of K steps inside each step (default: exact over T)",
    )
    run.add_argument(
        "--seed",
        type=options.int_at_least(0),
        metavar="S",
        help=f"seeds the weights, the epoch offsets, the samples (default {DEFAULTS['seed']})",
    )
    run.add_argument(
        "--distributed",
        action="store_true",
        help="train with every process of an MPI launch: mpiexec -n N python -m mpi4py -m "
        "fastrnn train --distributed ... (needs fastrnn[mpi]); B is shared by the N ranks",
    )
    run.add_argument(
        "--threads",
        type=options.int_at_least(1),
        default=1,
        metavar="N",
        help="BLAS threads (default 1: the per-step products are small)",
    )

    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="CKPT",
        help=f"checkpoint to write (default {DEFAULT_OUT}; with --resume: the resumed file)",
    )
    out.add_argument(
        "--resume", metavar="CKPT", help="continue the run saved in CKPT, on the same text"
    )
    out.add_argument(
        "--save-every",
        type=options.int_at_least(0),
        default=1000,
        metavar="N",
        help="also save every N steps, 0 = only at the end (default 1000)",
    )
    out.add_argument(
        "--log-every",
        type=options.int_at_least(1),
        metavar="N",
        help="print the losses every N steps (default: 10 lines per run)",
    )
    out.add_argument(
        "--samples",
        type=options.int_at_least(0),
        default=3,
        metavar="N",
        help="samples to print at the end (default 3)",
    )
    out.add_argument(
        "--sample-length",
        type=options.int_at_least(1),
        default=300,
        metavar="N",
        help="tokens per sample (default 300)",
    )
    out.add_argument(
        "--temperature",
        type=options.positive_float,
        default=0.8,
        metavar="T",
        help="sampling temperature (default 0.8)",
    )
    out.add_argument(
        "--prime", metavar="TEXT", help="text the samples start from (default: a newline)"
    )
    p.set_defaults(run=run_command)


def run_command(args) -> int:
    comm = _communicator(args)
    if comm is None:
        return _run(args, None)
    # A failing rank must end the job; rank 0 alone prints to stdout.
    with comm.abort_on_failure(), _quiet(comm.rank != 0):
        return _run(args, comm)


def _communicator(args):
    """An MPICommunicator with --distributed, else None (mpi4py is never imported)."""
    from .. import distributed

    if not args.distributed:
        ranks = distributed.launcher_size()
        if ranks > 1:
            raise UserError(
                f"started as {ranks} MPI processes without --distributed: add --distributed "
                "to train them together, or start one process"
            )
        return None
    try:
        return distributed.MPICommunicator()
    except ImportError as e:
        raise UserError(f"--distributed: {e}") from None


@contextmanager
def _quiet(quiet: bool):
    """stdout to os.devnull while quiet (stderr, for errors, stays)."""
    if not quiet:
        yield
        return
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        yield


def _run(args, comm) -> int:
    from threadpoolctl import threadpool_limits

    from .. import text

    # fastrnn is imported by now (the sessions build its models): threadpoolctl sees its BLAS
    session = _resume(args, comm) if args.resume else _start(args, comm)
    if args.samples:
        try:  # a bad prime is refused now, not after the training
            text.prime_ids(session.tokenizer, args.prime)
        except text.TextError as e:
            raise UserError(f"--prime: {e}") from None
    with threadpool_limits(limits=args.threads):
        interrupted = _train(session, args)
        if not interrupted and args.samples and session.is_root:
            _print_samples(session, args)
    return 130 if interrupted else 0


class Session:
    """What a run works on: the trainer, its tokenizer and held-out tokens, the output
    path, the record kept in the checkpoint (corpus source, loss history), and the MPI
    communicator of a distributed run (None in one process)."""

    def __init__(self, trainer, tokenizer, val_tokens, out: Path, extra: dict, comm=None):
        self.trainer = trainer
        self.tokenizer = tokenizer
        self.val_tokens = val_tokens
        self.out = out
        self.extra = extra
        self.comm = comm
        self.is_root = comm is None or comm.rank == 0

    def save(self) -> None:
        """Write the checkpoint (distributed: every rank calls this, rank 0 writes)."""
        from .. import checkpoint

        t = self.trainer
        try:
            if self.comm is None:
                checkpoint.save(
                    self.out, t.model, self.tokenizer, t.optimizer, t.state(), extra=self.extra
                )
            else:
                t.save_checkpoint(self.out, self.tokenizer, extra=self.extra)
        except OSError as e:
            raise UserError(f"cannot write the checkpoint {self.out}: {e.strerror or e}") from None


def _writable(out: Path) -> Path:
    """out, once it is clear that a checkpoint can be written there: refused before the
    training rather than after it."""
    directory = out.parent
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory; give a file name")
    if not directory.is_dir():
        raise UserError(f"--out {out}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"--out {out}: the directory {directory} is not writable")
    return out


def _corpus(path: str | None):
    from .. import text

    try:
        if path is None:
            return text.default_corpus()
        source = text.read_text(path)
    except text.TextError as e:
        raise UserError(str(e)) from None
    return text.Corpus(source, f"{path} ({len(source):,} characters)")


def _split(tokens, val_fraction: float):
    """(training tokens, held-out tokens or None): the last val_fraction of the text."""
    n_val = int(tokens.size * val_fraction)
    if n_val < 2:
        return tokens, None
    return tokens[:-n_val], tokens[-n_val:]


def _trainer_class(comm):
    """(class, extra constructor arguments) of the trainer of a run over comm."""
    from .. import training

    if comm is None:
        return training.Trainer, {}
    from .. import distributed

    return distributed.DistributedTrainer, {"comm": comm}


def _start(args, comm) -> Session:
    import numpy as np

    import fastrnn

    from .. import optim, text

    out = Path(args.out or DEFAULT_OUT)
    if comm is None or comm.rank == 0:  # the only writer
        out = _writable(out)
    settings = {
        k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in DEFAULTS.items()
    }
    corpus = _corpus(args.text)
    try:
        if settings["level"] == "char":
            tokenizer = text.CharTokenizer.fit(corpus.text)
        else:
            tokenizer = text.WordTokenizer.fit(corpus.text, settings["vocab_size"])
    except text.TextError as e:
        raise UserError(f"{args.text}: {e}") from None
    tokens = tokenizer.encode(corpus.text)
    train_tokens, val_tokens = _split(tokens, settings["val_fraction"])
    model = fastrnn.RNNLM(
        tokenizer.vocab_size,
        settings["hidden"],
        settings["layers"],
        cell=settings["cell"],
        dtype=np.dtype(settings["dtype"]),
        seed=settings["seed"],
    )
    lr = settings["lr"] or LEARNING_RATES[settings["optimizer"]]
    optimizer = optim.make_optimizer(settings["optimizer"], model.params, lr=lr)
    trainer_class, comm_args = _trainer_class(comm)
    try:
        trainer = trainer_class(
            model,
            optimizer,
            train_tokens,
            seq_length=settings["seq_length"],
            batch_size=settings["batch_size"],
            clip_norm=settings["clip"] or None,
            clip_value=settings["clip_value"],
            truncate=settings["truncate"],
            seed=settings["seed"],
            **comm_args,
        )
    except ValueError as e:  # a corpus too short for the batch (or for the ranks)
        raise UserError(str(e)) from None
    source = None if args.text is None else str(Path(args.text).resolve())
    extra = {
        "corpus": {"path": source, "val_fraction": settings["val_fraction"]},
        "history": [],
        "seed": settings["seed"],
    }
    print(f"corpus   {corpus.description}")
    print(
        f"tokens   {tokens.size:,} {settings['level']} tokens, vocabulary {tokenizer.vocab_size}"
        f", {train_tokens.size:,} for training"
        + (f", {val_tokens.size:,} held out" if val_tokens is not None else "")
    )
    return Session(trainer, tokenizer, val_tokens, out, extra, comm)


# Flags that a resumed run takes from its checkpoint.
FIXED_ON_RESUME = [*DEFAULTS, "text"]


def _resume(args, comm) -> Session:
    from .. import checkpoint, text

    given = [k for k in FIXED_ON_RESUME if getattr(args, k) is not None and k != "text"]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(f"{flags} cannot change on --resume: the run keeps its settings")
    out = Path(args.out or args.resume)
    if comm is None or comm.rank == 0:  # the only writer
        out = _writable(out)
    try:
        ckpt = checkpoint.load(args.resume)
    except checkpoint.CheckpointError as e:
        raise UserError(str(e)) from None
    if ckpt.trainer is None or ckpt.optimizer is None or "corpus" not in ckpt.extra:
        raise UserError(f"{args.resume}: holds a model but no training run to resume")
    corpus_path = args.text or ckpt.extra["corpus"]["path"]
    corpus = _corpus(corpus_path)
    try:
        tokens = ckpt.tokenizer.encode(corpus.text)
        train_tokens, val_tokens = _split(tokens, ckpt.extra["corpus"]["val_fraction"])
        trainer_class, comm_args = _trainer_class(comm)
        trainer = trainer_class.restore(
            ckpt.model, ckpt.optimizer, train_tokens, ckpt.trainer, ckpt.trainer_arrays, **comm_args
        )
    except (ValueError, text.TextError) as e:
        raise UserError(
            f"cannot resume {args.resume} on {corpus_path or 'the default corpus'}: {e}"
        ) from None
    print(f"resume   {args.resume} at step {trainer.step_count:,} (epoch {trainer.epoch})")
    print(f"corpus   {corpus.description}")
    return Session(trainer, ckpt.tokenizer, val_tokens, out, ckpt.extra, comm)


@contextmanager
def _deferred_interrupt():
    """Ctrl-C sets a flag that the loop reads between steps, so that the checkpoint is
    always saved between two whole steps; a second Ctrl-C interrupts at once."""
    state = {"stop": False}

    def handler(signum, frame):
        state["stop"] = True
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def _train(session: Session, args) -> bool:
    """Run the steps with a progress bar and loss lines; save; True when interrupted."""
    import numpy as np
    from tqdm import tqdm

    from .. import training

    trainer, model = session.trainer, session.trainer.model
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    log_every = args.log_every or max(1, steps // 10)
    per_step = trainer.seq_length * trainer.batch_size
    n_params = sum(p.size for p in model.params.values())
    print(
        f"model    {model.num_layers} x {model.cell.upper()}({model.hidden_size}), "
        f"{n_params:,} parameters, "
        f"{model.dtype}; {trainer.optimizer!r}, {trainer.batch_size} streams x "
        f"{trainer.seq_length} tokens per step"
    )
    if session.comm is not None:
        N, B = session.comm.size, trainer.batch_size
        share = f"{B // N}" if B % N == 0 else f"{B // N}-{B // N + 1}"
        print(f"ranks    {N} processes, {share} streams each; {session.comm.library()}")
    print(f"train    {steps:,} steps; checkpoint {session.out}", flush=True)
    history = session.extra.setdefault("history", [])
    start, recent, smooth = time.perf_counter(), [], None
    done = 0
    with (
        _deferred_interrupt() as signal_state,
        tqdm(
            total=steps * per_step,
            unit="tok",
            unit_scale=True,
            mininterval=0.5,
            leave=False,
            file=sys.stderr,
            # a bar redrawn twice a second is noise in a log file: the loss lines carry
            # the rate there
            disable=steps == 0 or not session.is_root or not sys.stderr.isatty(),
        ) as bar,
    ):
        for i in range(steps):
            if _stop(session, signal_state):
                break
            if session.comm is not None:  # the vote rides with this step's gradients
                trainer.stop_requested = signal_state["stop"]
            try:
                loss = trainer.train_step()
            except training.TrainingError as e:
                raise UserError(f"{e} (the last checkpoint, if any, is kept)") from None
            done += 1
            recent.append(loss)
            smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
            bar.update(per_step)
            bar.set_postfix(loss=f"{smooth:.3f}", refresh=False)
            if (i + 1) % log_every == 0 or i + 1 == steps:
                val = None
                if session.val_tokens is not None and session.is_root:
                    val = trainer.evaluate(session.val_tokens)
                history.append([trainer.step_count, float(np.mean(recent)), val])
                seconds = time.perf_counter() - start
                bar.write(
                    _loss_line(trainer.step_count, np.mean(recent), val, seconds, done * per_step)
                )
                recent = []
            if args.save_every and trainer.step_count % args.save_every == 0:
                session.save()
        # also when Ctrl-C came during the last step
        interrupted = _stop(session, signal_state) or signal_state["stop"]
    session.save()
    elapsed = time.perf_counter() - start
    print(
        f"trained  {done:,} steps in {elapsed:.1f} s ({done * per_step / max(elapsed, 1e-9):,.0f}"
        f" tokens/s); saved {session.out}"
    )
    if interrupted and session.is_root:
        print(
            f"fastrnn train: interrupted at step {trainer.step_count:,}; continue with: "
            f"fastrnn train --resume {session.out}",
            file=sys.stderr,
        )
    return interrupted


def _stop(session: Session, signal_state: dict) -> bool:
    """Whether to stop before the next step: after Ctrl-C in one process; in a
    distributed run, after a step in which some rank voted to stop (so that all stop
    after the same step)."""
    if session.comm is None:
        return signal_state["stop"]
    return session.trainer.stopping


def _loss_line(step: int, train: float, val: float | None, seconds: float, tokens: int) -> str:
    held_out = f"  held-out loss {val:.3f}" if val is not None else ""
    rate = tokens / max(seconds, 1e-9)
    return f"step {step:>7,}  loss {train:.3f}{held_out}  ({seconds:.0f} s, {rate:,.0f} tok/s)"


def _print_samples(session: Session, args) -> None:
    import numpy as np

    from .. import text

    model, tokenizer = session.trainer.model, session.tokenizer
    rng = np.random.default_rng(session.extra.get("seed", 0))
    for k in range(args.samples):
        sample = text.generate(
            model, tokenizer, args.prime, args.sample_length, temperature=args.temperature, seed=rng
        )
        print(f"\n--- sample {k + 1} (temperature {args.temperature}) ---")
        print((args.prime or "") + sample)
    print(f"\nmore: fastrnn sample {session.out} --prime 'def ' --length 500")
