"""Reproducibility and thread safety.

- Same seed, same inputs, same BLAS thread count: bit-identical results in two fresh
  processes whose allocators fill new memory with different bytes (MALLOC_PERTURB_), so
  that a kernel reading memory it never wrote would show. (The thread count itself may
  change the last bits: OpenBLAS splits its sums differently.)
- Many threads calling every kernel at once, on shared weights, get bit for bit what the
  same calls give one after another (the per-kernel tests do this kernel by kernel; here
  all kernels are mixed in one pool, RNNLM's read-only methods included).
- The C layer has no mutable global state but the BLAS table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _helpers import cast, cell_problem, rnn_problem

import fastrnn

ROOT = Path(__file__).resolve().parents[1]

# Prints the SHA-256 of every result, by case and BLAS thread count.
DIGESTS = textwrap.dedent(
    """
    import hashlib, json
    import numpy as np
    from threadpoolctl import threadpool_limits
    import fastrnn
    from fastrnn import optim, text, training

    def digest(*arrays):
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def layer_case(cls, dtype):
        rng = np.random.default_rng(1)
        layer = getattr(fastrnn, cls)(7, 16, 2, dtype=dtype, seed=2, bidirectional=True)
        x = rng.standard_normal((9, 5, 7)).astype(dtype)
        out, finals = layer(x, None, [9, 3, 7, 9, 1])
        dx, d_initial = layer.backward(np.ones_like(out), truncate=4)
        return digest(out, *np.atleast_1d(finals), dx, *np.atleast_1d(d_initial),
                      *layer.grads.values())

    def training_case(dtype):
        corpus = "def add(a, b):\\n    return a + b\\n" * 20
        tokenizer = text.CharTokenizer.fit(corpus)
        model = fastrnn.RNNLM(tokenizer.vocab_size, 24, 2, dtype=dtype, seed=3)
        trainer = training.Trainer(model, optim.Adam(model.params), tokenizer.encode(corpus),
                                   seq_length=11, batch_size=3, clip_norm=1.0, seed=4)
        losses = [trainer.train_step() for _ in range(6)]
        tokens = model.sample([1, 2], 40, temperature=0.9, seed=5)
        return digest(np.array(losses), tokens, trainer.h, *model.params.values())

    out = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            for dtype in ("float32", "float64"):
                for cls in ("RNN", "LSTM", "GRU"):
                    out[f"{cls} {dtype} {threads}"] = layer_case(cls, dtype)
                out[f"RNNLM training {dtype} {threads}"] = training_case(dtype)
    print(json.dumps(out))
    """
)


def test_same_seed_gives_bit_identical_results_in_fresh_processes():
    runs = []
    for perturb in ("165", "90"):
        env = dict(os.environ, MALLOC_PERTURB_=perturb)
        done = subprocess.run([sys.executable, "-c", DIGESTS], capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    assert len(runs[0]) == 16
    differ = [case for case in runs[0] if runs[0][case] != runs[1][case]]
    assert not differ, f"results differ between two runs: {differ}"


# ---- threads ---------------------------------------------------------------------------


def mixed_calls(rng, dtype):
    """Calls of every kernel (and RNNLM's read-only methods) on shared weights, each with
    its own inputs: a list of functions returning their results."""
    T, B, D, H, K = 11, 4, 9, 17, 13
    rnn_w = cast(rnn_problem(rng, T, B, D, H), dtype)
    cell_w = {cell: cast(cell_problem(rng, cell, T, B, D, H), dtype) for cell in ("lstm", "gru")}
    U = rng.standard_normal((H, K)).astype(dtype)
    V = rng.standard_normal((K, H)).astype(dtype)
    c = rng.standard_normal(K).astype(dtype)
    model = fastrnn.RNNLM(K, H, 2, dtype=dtype, seed=0)

    def rnn(i):
        own = cast(rnn_problem(rng, T, B, D, H), dtype)
        p = {**rnn_w, "x": own["x"], "ds": own["ds"]}
        nonlinearity, truncate = ("tanh", "relu")[i % 2], (None, 3)[i // 2 % 2]

        def call():
            s, cache = fastrnn.rnn_forward(p["x"], p["s0"], p["U"], p["W"], p["b"],
                                           nonlinearity=nonlinearity)  # fmt: skip
            return (s, *fastrnn.rnn_backward(p["ds"], cache, truncate=truncate))

        return call

    def cell(i):
        name = ("lstm", "gru")[i % 2]
        own = cast(cell_problem(rng, name, T, B, D, H), dtype)
        w = cell_w[name]
        if name == "lstm":
            return lambda: _lstm(own["x"], w, own["ds"], own["dc"], (None, 2)[i // 2 % 2])
        return lambda: _gru(own["x"], w, own["ds"], (None, 2)[i // 2 % 2])

    def lm(i):
        ids = rng.integers(0, K, (T, B))
        targets = rng.integers(0, K, (T, B))
        s = rng.standard_normal((T, B, H)).astype(dtype)
        dx = rng.standard_normal((T, B, H)).astype(dtype)
        mask = rng.random((T, B)) < 0.8

        def call():
            loss = fastrnn.softmax_loss(s, V, c, targets, mask, reduction=("mean", "sum")[i % 2])
            return (fastrnn.embedding_forward(ids, U), fastrnn.embedding_backward(dx, ids, K),
                    fastrnn.softmax_forward(s, V, c), np.array(loss.loss), *loss[1:])  # fmt: skip

        return call

    def rnnlm(i):
        ids = rng.integers(0, K, (T, B))
        targets = rng.integers(0, K, (T, B))
        return lambda: (model.forward(ids).probs, np.array(model.loss(ids, targets).loss),
                        model.sample(ids[:, 0], 8, seed=i))  # fmt: skip

    makers = [rnn, cell, lm, rnnlm]
    return [makers[i % 4](i // 4) for i in range(128)]


def _lstm(x, w, ds, dc, truncate):
    s, c, cache = fastrnn.lstm_forward(x, w["s0"], w["c0"], w["U"], w["W"], w["b_ih"], w["b_hh"])
    return (s, c, *fastrnn.lstm_backward(ds, cache, dc=dc, truncate=truncate))


def _gru(x, w, ds, truncate):
    s, cache = fastrnn.gru_forward(x, w["s0"], w["U"], w["W"], w["b_ih"], w["b_hh"])
    return (s, *fastrnn.gru_backward(ds, cache, truncate=truncate))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_at_once_from_many_threads_equals_sequential_calls(dtype, rng):
    calls = mixed_calls(rng, dtype)
    sequential = [call() for call in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda call: call(), calls))
    for i, (got, want) in enumerate(zip(concurrent, sequential, strict=True)):
        for g, w in zip(got, want, strict=True):
            if w is None:
                assert g is None
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"call {i}")


def test_the_c_layer_has_no_mutable_global_state_but_the_blas_table(tmp_path):
    """Writable data (nm's b, B, d, D, c, C symbols) in the objects of csrc/: only the
    four BLAS pointers, written once at import."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    nm = shutil.which("nm")
    if cc is None or nm is None or not (ROOT / "csrc").is_dir():
        pytest.skip("needs a C compiler, nm and the C sources (csrc/)")
    sources = sorted((ROOT / "csrc").glob("*.c"))
    objects = [tmp_path / (source.stem + ".o") for source in sources]

    def build(source, obj):
        return subprocess.run([cc, "-std=c99", "-O2", "-c", f"-I{ROOT / 'csrc'}", str(source),
                               "-o", str(obj)], capture_output=True, text=True)  # fmt: skip

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    with ThreadPoolExecutor(cores) as pool:  # the compiles side by side
        builds = list(pool.map(build, sources, objects))
    writable = set()
    for source, obj, done in zip(sources, objects, builds, strict=True):
        assert done.returncode == 0, done.stderr
        symbols = subprocess.run([nm, str(obj)], capture_output=True, text=True).stdout
        for line in symbols.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "bBdDcC":
                writable.add(f"{source.name}: {parts[2]}")
    blas = {f"blas.c: provider_{name}" for name in ("sgemm", "dgemm", "sgemv", "dgemv")}
    assert writable == blas
