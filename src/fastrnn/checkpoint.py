"""Checkpoints: a language model, its tokenizer, optimizer and training state in one .npz.

The file is a plain NumPy ``.npz`` (a zip of ``.npy`` arrays), loaded with
``allow_pickle=False``, so opening an untrusted checkpoint cannot run code. It holds

    format              str array    "fastrnn-checkpoint"
    meta                uint8 array  UTF-8 JSON: {"version", "model" (RNNLM.config()),
                                     "tokenizer" (level, vocabulary), "optimizer" (name
                                     and hyper-parameters) or null, "trainer" (Trainer
                                     state: counters, read position, generator state,
                                     corpus fingerprint) or null, "extra" (free-form)}
    param/<name>        the model's parameters, PyTorch's names (see RNNLM)
    optim/<key>         the optimizer's state_dict() (step, per-parameter buffers)
    trainer/<key>       the trainer's arrays (h: the carried state (num_layers, B, H);
                        c: the LSTM's carried cell state, same shape)

``load`` checks all of it before building anything: the format tag, the JSON, that every
array the hyper-parameters call for is there with the right dtype and shape and finite
values, and nothing else. Anything else is a ``CheckpointError`` with a one-line reason.

``save`` writes atomically: a temporary file in the same directory, flushed and fsynced,
then renamed over the target (``os.replace``), so a crash or Ctrl-C at any moment leaves
either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _contract, optim, text

FORMAT = "fastrnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable fastrnn checkpoint; the message is one line."""


class Checkpoint(NamedTuple):
    model: object  # an RNNLM of the backend load was given
    tokenizer: object  # text.CharTokenizer or text.WordTokenizer
    optimizer: optim.Optimizer | None  # over model.params, state restored
    trainer: dict | None  # Trainer.state()'s meta (see training.Trainer.restore)
    trainer_arrays: dict[str, np.ndarray]
    extra: dict


def save(path, model, tokenizer, optimizer=None, trainer=None, *, extra=None) -> None:
    """Write a checkpoint atomically (see the module docstring).

    Parameters
    ----------
    path : str or Path
    model : RNNLM
    tokenizer : text.CharTokenizer or text.WordTokenizer
        Its vocabulary size must be the model's.
    optimizer : optim.Optimizer or None
    trainer : (meta dict, arrays dict) or None
        ``Trainer.state()``.
    extra : dict or None
        JSON-friendly values stored as they are (the CLI keeps its loss history there).

    Raises
    ------
    ValueError
        When a parameter or optimizer buffer holds NaN or Inf (``load`` would refuse the
        file); nothing is written.
    """
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model {model.vocab_size}"
        )
    trainer_meta, trainer_arrays = trainer if trainer is not None else (None, {})
    meta = {
        "version": VERSION,
        "model": model.config(),
        "tokenizer": tokenizer.config(),
        "optimizer": None
        if optimizer is None
        else {"name": optimizer.name, **optimizer.hyperparameters()},
        "trainer": trainer_meta,
        "extra": extra or {},
    }
    arrays = {
        "format": np.array(FORMAT),
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
    }
    arrays.update({f"param/{n}": p for n, p in model.params.items()})
    if optimizer is not None:
        arrays.update({f"optim/{k}": a for k, a in optimizer.state_dict().items()})
    arrays.update({f"trainer/{k}": a for k, a in trainer_arrays.items()})
    for name, a in arrays.items():  # what load would refuse is never written
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or Inf values; the checkpoint is not written")
    write_atomic(path, arrays)


def write_atomic(path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez(path, **arrays) through a fsynced temporary file renamed over path."""
    path = Path(path)
    directory = path.parent
    # Like tempfile.mkstemp (a new, unique name), but with the permissions of any new file
    # (0666 less the umask) instead of mkstemp's 0600.
    tmp = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable (not every system lets a directory be opened).
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at path, read without pickle, each checked against what its
    header declares before any memory is set aside for it (see _read_member)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            if magic == b"\x93NUMPY":
                raise CheckpointError(f"{path}: not a fastrnn checkpoint (a single .npy array)")
            if not zipfile.is_zipfile(f):
                what = "a truncated or corrupt zip" if magic[:2] == b"PK" else "not an .npz file"
                raise CheckpointError(f"{path}: not a fastrnn checkpoint ({what})")
            f.seek(0)
            size = os.fstat(f.fileno()).st_size
            with zipfile.ZipFile(f) as z:
                return {
                    info.filename.removesuffix(".npy"): _read_member(path, z, info, size)
                    for info in z.infolist()
                }
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a fastrnn checkpoint (unreadable: {e})") from None


def _read_member(path: Path, z: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> np.ndarray:
    """One .npy member of the zip. ``save`` stores them uncompressed, so a member holds as
    many bytes as it takes in the file: a compressed member (a zip bomb) is refused, and a
    header that declares more data than the member holds is refused before allocating it."""
    name = info.filename
    if not name.endswith(".npy") or info.compress_type != zipfile.ZIP_STORED:
        what = "not an .npy array" if not name.endswith(".npy") else "compressed"
        raise CheckpointError(f"{path}: not a fastrnn checkpoint (entry {name!r} is {what})")
    if info.file_size > size:
        raise CheckpointError(
            f"{path}: corrupt checkpoint (entry {name!r} declares {info.file_size} bytes, more "
            f"than the whole file's {size})"
        )
    with z.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"entry {name!r} has .npy format version {version}")
        if dtype.hasobject:
            raise CheckpointError(
                f"{path}: not a fastrnn checkpoint (entry {name!r} is a pickled object array; "
                "fastrnn never unpickles)"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if member.tell() + nbytes != info.file_size:
            raise CheckpointError(
                f"{path}: corrupt checkpoint (entry {name!r} declares {dtype} {shape}, "
                f"{nbytes} bytes, but holds {info.file_size - member.tell()})"
            )
        data = bytearray(nbytes)
        if member.readinto(data) != nbytes or member.read(1):  # the read checks the CRC
            raise ValueError(f"entry {name!r} is shorter than its header says")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _meta(path: Path, arrays: dict) -> dict:
    fmt = arrays.get("format")
    if fmt is None or fmt.dtype.kind != "U" or fmt.shape != () or str(fmt) != FORMAT:
        names = ", ".join(sorted(arrays)[:6]) or "nothing"
        raise CheckpointError(f"{path}: not a fastrnn checkpoint (an .npz file holding {names})")
    raw = arrays.get("meta")
    try:
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("no meta entry")
        meta = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (its meta data: {e})") from None
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {meta.get('version')!r}; this fastrnn reads "
            f"version {VERSION}"
        )
    return meta


def _entries(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}


def load(path, backend=None) -> Checkpoint:
    """Read and check a checkpoint written by ``save``.

    Parameters
    ----------
    path : str or Path
    backend : module or None
        ``fastrnn`` (the default) or ``fastrnn.reference``: whose RNNLM to build.

    Returns
    -------
    Checkpoint (model, tokenizer, optimizer or None, trainer meta or None,
    trainer_arrays, extra)

    Raises
    ------
    CheckpointError
        For a missing, foreign, corrupt or inconsistent file; nothing is half-loaded.
    """
    if backend is None:
        import fastrnn as backend
    path = Path(path)
    arrays = _read(path)
    meta = _meta(path, arrays)
    try:
        return _build(arrays, meta, backend)
    except (ValueError, TypeError, KeyError) as e:
        reason = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise CheckpointError(f"{path}: corrupt checkpoint ({reason})") from None


def _build(arrays: dict, meta: dict, backend) -> Checkpoint:
    known = {"format", "meta"}
    params = _entries(arrays, "param/")
    # The model draws its parameters before they are checked against the file's: its
    # hyper-parameters may not ask for more than the stored ones fill (float32 weights
    # drawn in float64 take 3 times their size).
    stored = sum(a.nbytes for a in params.values())
    try:
        with _contract.memory_budget(3 * stored + 2**20):
            model = backend.RNNLM(**meta["model"])
    except MemoryError:
        raise ValueError(
            f"its hyper-parameters {meta['model']} call for more weights than the "
            f"{stored:,} bytes of parameters it holds"
        ) from None
    _check_dtypes("param/", params, model.dtype)
    model.load_state_dict(_contract.check_arrays(params, model.param_shapes(), "param", "model"))
    known |= {f"param/{n}" for n in params}

    tokenizer = text.tokenizer_from_config(meta["tokenizer"])
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(
            f"the vocabulary has {tokenizer.vocab_size} tokens but the model {model.vocab_size}"
        )

    optimizer = None
    if meta["optimizer"] is not None:
        hyper = dict(meta["optimizer"])
        optimizer = optim.make_optimizer(hyper.pop("name"), model.params, **hyper)
        state = _entries(arrays, "optim/")
        _check_dtypes("optim/", {k: a for k, a in state.items() if k != "step"}, model.dtype)
        optimizer.load_state_dict(state)
        known |= {f"optim/{k}" for k in state}

    trainer_arrays = _entries(arrays, "trainer/")
    known |= {f"trainer/{k}" for k in trainer_arrays}
    if meta["trainer"] is not None:
        B = meta["trainer"]["config"]["batch_size"]
        model.state_from_arrays(trainer_arrays, B, what="trainer/")  # h (and the LSTM's c)
    unexpected = sorted(set(arrays) - known)
    if unexpected:
        raise ValueError(f"unexpected entries {unexpected}")
    return Checkpoint(
        model, tokenizer, optimizer, meta["trainer"], trainer_arrays, meta.get("extra", {})
    )


def _check_dtypes(prefix: str, arrays: dict, dtype: np.dtype) -> None:
    for name, a in arrays.items():
        if a.dtype != dtype:
            raise ValueError(f"{prefix}{name} has dtype {a.dtype}; the model's is {dtype}")
