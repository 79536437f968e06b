"""Hostile model files: checkpoints and state dicts that would run code, exhaust memory or
load garbage are refused with a clear error, before anything runs or is allocated.

test_training.py covers the plainly broken files (foreign, truncated in the middle,
damaged, wrong shapes and dtypes, NaN weights, bad meta data); here: a pickle that would
run code, truncation at every tenth of the file, entries that declare more data than they
hold, compressed entries (zip bombs), hyper-parameters that call for a huge model, and
the same attacks on the layers' load_state_dict.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import checkpoint, cli, optim, text

CORPUS = "def add(a, b):\n    return a + b\n" * 8


class RunsCode:
    """Unpickling this calls Path.touch(marker): proof that code ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def saved(tmp_path) -> pathlib.Path:
    tokenizer = text.CharTokenizer.fit(CORPUS)
    model = fastrnn.RNNLM(tokenizer.vocab_size, 6, dtype=np.float64, seed=0)
    opt = optim.Adam(model.params)
    path = tmp_path / "model.npz"
    checkpoint.save(path, model, tokenizer, opt)
    return path


def entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def npy(array, allow_pickle=False) -> bytes:
    f = io.BytesIO()
    np.save(f, array, allow_pickle=allow_pickle)
    return f.getvalue()


def refused(path, message: str, peak_mib: float = 32) -> None:
    """checkpoint.load(path) raises CheckpointError matching message, having allocated at
    most peak_mib MiB on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(checkpoint.CheckpointError, match=message):
            checkpoint.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < peak_mib * 2**20, f"loading took {peak / 2**20:.0f} MiB before refusing"


# ---- code execution -------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["meta.npy", "param/decoder.bias.npy"])
def test_a_pickle_that_runs_code_is_never_unpickled(tmp_path, entry, capsys):
    marker = tmp_path / "code-ran"
    evil = npy(np.array([RunsCode(marker)], dtype=object), allow_pickle=True)
    np.load(io.BytesIO(evil), allow_pickle=True)  # what loading with pickle would do
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "evil.npz"
    write_zip(path, {**entries(saved(tmp_path)), entry: evil})
    refused(path, re.escape(f"entry '{entry}' is a pickled object array; fastrnn never unpickles"))
    assert cli.main(["sample", str(path)]) == 1
    assert "never unpickles" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_a_state_dict_file_with_a_pickle_that_runs_code_is_refused(tmp_path, cls):
    """A layer's weights saved with np.savez, one of them replaced by the hostile pickle,
    loaded as PyTorch users do: load_state_dict(np.load(path))."""
    marker = tmp_path / "code-ran"
    layer = getattr(fastrnn, cls)(3, 4, bidirectional=True)
    members = {f"{name}.npy": npy(p) for name, p in layer.state_dict().items()}
    members["weight_hh_l0_reverse.npy"] = npy(
        np.array([RunsCode(marker)], dtype=object), allow_pickle=True
    )
    path = tmp_path / "layer.npz"
    write_zip(path, members)
    before = layer.state_dict()
    message = "state_dict['weight_hh_l0_reverse'] could not be read as an array"
    with np.load(path) as npz, pytest.raises(TypeError, match=re.escape(message)):
        layer.load_state_dict(npz)
    assert not marker.exists()
    for name, p in layer.params.items():  # nothing half-loaded
        np.testing.assert_array_equal(p, before[name])


# ---- truncated, oversized and compressed files ------------------------------------------


def test_a_file_cut_anywhere_is_refused(tmp_path):
    data = saved(tmp_path).read_bytes()
    cut = tmp_path / "cut.npz"
    for tenth in range(10):
        cut.write_bytes(data[: len(data) * tenth // 10])
        with pytest.raises(checkpoint.CheckpointError, match="not a fastrnn checkpoint"):
            checkpoint.load(cut)


def npy_header(dtype: str, shape: tuple) -> bytes:
    """A version 1.0 .npy header declaring dtype and shape (padded as NumPy pads it)."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


def test_an_entry_that_declares_a_huge_array_is_refused_before_allocating(tmp_path):
    """10^12 float64 (8 TB) declared, 24 bytes held: NumPy's own reader would set the
    8 TB aside first; the checkpoint reader compares the two and allocates nothing."""
    members = entries(saved(tmp_path))
    members["param/decoder.bias.npy"] = npy_header("<f8", (10**12,)) + bytes(24)
    path = tmp_path / "huge.npz"
    write_zip(path, members)
    message = "entry 'param/decoder.bias.npy' declares float64 (1000000000000,), 8000000000000 "
    refused(path, re.escape(message + "bytes, but holds 24"))


def test_a_compressed_entry_is_refused_without_decompressing_it(tmp_path):
    """A zip bomb: 256 MiB of zeros in a few hundred KiB."""
    members = entries(saved(tmp_path))
    members["param/decoder.bias.npy"] = npy(np.zeros(2**25))
    path = tmp_path / "bomb.npz"
    write_zip(path, members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20
    refused(path, "entry 'format.npy' is compressed")


def test_hyper_parameters_that_call_for_a_huge_model_are_refused_before_building_it(tmp_path):
    members = entries(saved(tmp_path))
    meta = json.loads(np.load(io.BytesIO(members["meta.npy"])).tobytes())
    for vocab, hidden in [(10**6, 10**5), (2000, 3000)]:  # TiBs, then 0.2 GiB
        meta["model"].update(vocab_size=vocab, hidden_size=hidden)
        members["meta.npy"] = npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        path = tmp_path / "big.npz"
        write_zip(path, members)
        refused(path, "call for more weights than the .* bytes of parameters it holds")


def test_nan_in_the_optimizer_state_is_refused(tmp_path):
    members = entries(saved(tmp_path))
    name = "optim/exp_avg/decoder.bias.npy"
    state = np.load(io.BytesIO(members[name]))
    state[0] = np.nan
    members[name] = npy(state)
    path = tmp_path / "nan.npz"
    write_zip(path, members)
    refused(path, re.escape("optimizer state['exp_avg/decoder.bias'] holds NaN or Inf"))
