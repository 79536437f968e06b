"""Training, checkpoints and tokenizers: resumption bit for bit, atomic and validated
checkpoint files, the character and word tokenizers and the default corpus."""

from __future__ import annotations

import json
import os
import re
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastrnn
from fastrnn import checkpoint, optim, reference, text, training

CORPUS = (
    "def add(a, b):\n    return a + b\n\n\nclass Point:\n    def __init__(self, x, y):\n"
    "        self.x = x\n        self.y = y\n"
) * 2


def make_trainer(
    backend=fastrnn, dtype=np.float64, optimizer="adam", seed=0, cell="rnn", **options
):
    tokenizer = text.CharTokenizer.fit(CORPUS)
    model = backend.RNNLM(tokenizer.vocab_size, 8, num_layers=2, cell=cell, dtype=dtype, seed=seed)
    opt = optim.make_optimizer(optimizer, model.params, lr=0.01)
    settings = {"seq_length": 7, "batch_size": 3, "clip_norm": 1.0, "seed": seed, **options}
    return tokenizer, training.Trainer(model, opt, tokenizer.encode(CORPUS), **settings)


def assert_same_training_state(a: training.Trainer, b: training.Trainer):
    for name, p in a.model.params.items():
        assert_array_equal(b.model.params[name], p, err_msg=name)
    for name, s in a.optimizer.state_dict().items():
        assert_array_equal(b.optimizer.state_dict()[name], s, err_msg=name)
    meta_a, arrays_a = a.state()
    meta_b, arrays_b = b.state()
    assert meta_a == meta_b
    assert list(arrays_b) == list(arrays_a) == list(a.model.state_names)
    for name, state in arrays_a.items():
        assert_array_equal(arrays_b[name], state, err_msg=name)


@pytest.mark.parametrize(
    "optimizer, cell",
    [("adam", "rnn"), ("adagrad", "rnn"), ("sgd", "rnn"), ("adam", "lstm"), ("adam", "gru")],
)
def test_resume_is_bit_for_bit(optimizer, cell, tmp_path):
    """N steps straight == k steps, save, load, N - k steps (float64), across epochs (the
    corpus wraps around several times, so the generator's epoch offsets matter). The
    LSTM's carried cell state is saved and restored with its hidden state."""
    N, k = 40, 17
    _, straight = make_trainer(optimizer=optimizer, cell=cell)
    straight_losses = [straight.train_step() for _ in range(N)]
    assert straight.epoch >= 3

    tokenizer, first = make_trainer(optimizer=optimizer, cell=cell)
    losses = [first.train_step() for _ in range(k)]
    path = tmp_path / "run.npz"
    checkpoint.save(path, first.model, tokenizer, first.optimizer, first.state())
    del first

    ckpt = checkpoint.load(path)
    resumed = training.Trainer.restore(
        ckpt.model, ckpt.optimizer, ckpt.tokenizer.encode(CORPUS), ckpt.trainer, ckpt.trainer_arrays
    )
    losses += [resumed.train_step() for _ in range(N - k)]
    assert losses == straight_losses
    assert_same_training_state(resumed, straight)


def test_training_lowers_the_loss_and_evaluates_held_out_text(backend):
    tokenizer, trainer = make_trainer(backend)
    held_out = tokenizer.encode(CORPUS[:200])
    before = trainer.evaluate(held_out)
    assert abs(before - np.log(tokenizer.vocab_size)) < 0.5  # about uniform at the start
    losses = [trainer.train_step() for _ in range(150)]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    assert trainer.evaluate(held_out) < 0.6 * before
    assert trainer.tokens_seen == 150 * 7 * 3


def test_streams_carry_the_state_and_restart_at_an_epoch(rng):
    _, trainer = make_trainer()
    S = trainer.stream_length
    ids = trainer._inputs
    # stream n is the n-th third of the corpus, targets are the next tokens
    tokens = trainer.tokens
    assert_array_equal(ids[:, 1], tokens[S : 2 * S])
    assert_array_equal(trainer._targets[:, 2], tokens[2 * S + 1 : 3 * S + 1])
    steps_per_epoch = S // 7
    for _ in range(steps_per_epoch):
        trainer.train_step()
        assert np.abs(trainer.h).sum() > 0  # carried over
    assert trainer.epoch == 0
    trainer.train_step()
    assert trainer.epoch == 1 and 7 <= trainer.position < 14  # restarted at offset < T


def test_non_finite_loss_stops_without_touching_the_parameters():
    _, trainer = make_trainer()
    trainer.model.params["decoder.bias"][0] = np.inf
    before = {n: p.copy() for n, p in trainer.model.params.items()}
    with pytest.raises(training.TrainingError, match="the loss became nan at step 1"):
        trainer.train_step()
    for n, p in trainer.model.params.items():
        assert_array_equal(p, before[n])


def test_corpus_too_short_for_the_batch():
    tokenizer = text.CharTokenizer.fit("abcdef")
    model = fastrnn.RNNLM(tokenizer.vocab_size, 4)
    message = "the corpus has 6 tokens, too few for 2 streams of seq_length + 1 = 4"
    with pytest.raises(ValueError, match=re.escape(message)):
        training.Trainer(
            model, optim.SGD(model.params), tokenizer.encode("abcdef"), seq_length=3, batch_size=2
        )


def test_restore_refuses_another_corpus(tmp_path):
    tokenizer, trainer = make_trainer()
    trainer.train_step()
    meta, arrays = trainer.state()
    other = tokenizer.encode(CORPUS[::-1])
    with pytest.raises(ValueError, match="this is not the corpus the run was trained on"):
        training.Trainer.restore(trainer.model, trainer.optimizer, other, meta, arrays)


# ---- checkpoint files -----------------------------------------------------------------


def saved(tmp_path, **kwargs):
    tokenizer, trainer = make_trainer(**kwargs)
    trainer.train_step()
    path = tmp_path / "model.npz"
    checkpoint.save(
        path, trainer.model, tokenizer, trainer.optimizer, trainer.state(), extra={"note": "x"}
    )
    return path, trainer, tokenizer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_checkpoint_round_trip(tmp_path, dtype):
    path, trainer, tokenizer = saved(tmp_path, dtype=dtype)
    for backend in (fastrnn, reference):
        ckpt = checkpoint.load(path, backend)
        assert type(ckpt.model) is backend.RNNLM
        assert ckpt.model.config() == trainer.model.config()
        for n, p in trainer.model.params.items():
            assert ckpt.model.params[n].dtype == dtype
            assert_array_equal(ckpt.model.params[n], p)
        assert ckpt.tokenizer.vocabulary == tokenizer.vocabulary
        assert type(ckpt.optimizer) is optim.Adam and ckpt.optimizer.step_count == 1
        assert ckpt.trainer == trainer.state()[0]
        assert ckpt.extra == {"note": "x"}
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, no pickle needed
        assert str(npz["format"]) == "fastrnn-checkpoint"
        assert json.loads(npz["meta"].tobytes())["version"] == 1


def test_model_only_checkpoint(tmp_path):
    tokenizer = text.WordTokenizer.fit("One sentence. Another one!", 10)
    model = fastrnn.RNNLM(tokenizer.vocab_size, 4, bias=False, seed=1)
    checkpoint.save(tmp_path / "m.npz", model, tokenizer)
    ckpt = checkpoint.load(tmp_path / "m.npz")
    assert ckpt.optimizer is None and ckpt.trainer is None
    assert type(ckpt.tokenizer) is text.WordTokenizer
    assert_array_equal(ckpt.model.params["decoder.weight"], model.params["decoder.weight"])


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path, trainer, tokenizer = saved(tmp_path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, trainer.model, tokenizer, trainer.optimizer, trainer.state())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file


def rewrite(path, change):
    """path's arrays, changed by change(arrays), written back as a plain .npz."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def set_meta(arrays, update):
    meta = json.loads(arrays["meta"].tobytes())
    update(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


CORRUPTIONS = [
    (
        lambda a: a.update({"param/decoder.bias": a["param/decoder.bias"][:-1]}),
        "corrupt checkpoint (param['decoder.bias'] must have shape",
    ),
    (
        lambda a: a.update({"param/decoder.bias": a["param/decoder.bias"].astype(np.float32)}),
        "corrupt checkpoint (param/decoder.bias has dtype float32; the model's is float64)",
    ),
    (lambda a: a["param/rnn.weight_hh_l1"].__setitem__((0, 0), np.nan), "holds NaN or Inf"),
    (lambda a: a.pop("param/rnn.weight_hh_l1"), "missing ['rnn.weight_hh_l1']"),
    (lambda a: a.update({"param/extra": np.zeros(3)}), "unexpected ['extra']"),
    (lambda a: a.update({"stray": np.zeros(3)}), "unexpected entries ['stray']"),
    (lambda a: a.pop("optim/exp_avg/decoder.bias"), "missing ['exp_avg/decoder.bias']"),
    (lambda a: a.update({"trainer/h": a["trainer/h"][:, :1]}), "trainer/h must be finite"),
    (
        lambda a: a.update({"meta": np.frombuffer(b"{not json", dtype=np.uint8)}),
        "corrupt checkpoint (its meta data",
    ),
    (lambda a: set_meta(a, lambda m: m.update(version=99)), "checkpoint format version 99"),
    (lambda a: set_meta(a, lambda m: m["model"].update(hidden_size=9)), "must have shape"),
    (
        lambda a: set_meta(a, lambda m: m["model"].update(cell="lstm")),
        "param['rnn.weight_ih_l0'] must have shape (32, ",  # 4H rows: checked per cell
    ),
    (lambda a: set_meta(a, lambda m: m["model"].update(cell="cnn")), "cell must be 'rnn', 'ls"),
    (
        lambda a: a.update({"trainer/c": a["trainer/h"]}),
        "trainer/c is not a state of cell='rnn' (it carries h)",
    ),
    (lambda a: set_meta(a, lambda m: m["tokenizer"]["vocabulary"].pop()), "the vocabulary has"),
    (lambda a: set_meta(a, lambda m: m.pop("model")), "corrupt checkpoint (missing 'model')"),
]


@pytest.mark.parametrize("change, message", CORRUPTIONS)
def test_corrupt_checkpoints_are_refused(tmp_path, change, message):
    path, _, _ = saved(tmp_path)
    rewrite(path, change)
    with pytest.raises(checkpoint.CheckpointError, match=re.escape(message)):
        checkpoint.load(path)


def test_foreign_and_broken_files_are_refused(tmp_path):
    tutorial = tmp_path / "trained-model-theano.npz"
    np.savez(tutorial, U=np.zeros((2, 3)), V=np.zeros((3, 2)), W=np.zeros((2, 2)))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    path, _, _ = saved(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    damaged = tmp_path / "damaged.npz"
    data = bytearray(path.read_bytes())
    data[2000:2100] = bytes(100)  # inside the first parameter's data
    damaged.write_bytes(bytes(data))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array("fastrnn-checkpoint"), meta=np.array([{}], dtype=object))
    cases = {
        tutorial: "not a fastrnn checkpoint (an .npz file holding U, V, W)",
        text_file: "not a fastrnn checkpoint (not an .npz file)",
        single: "not a fastrnn checkpoint (a single .npy array)",
        truncated: "not a fastrnn checkpoint (a truncated or corrupt zip)",
        damaged: "not a fastrnn checkpoint (unreadable: Bad CRC-32",
        pickled: "not a fastrnn checkpoint (entry 'meta.npy' is a pickled object array",
        tmp_path / "missing.npz": "missing.npz: no such file",
        tmp_path: "is a directory, not a checkpoint file",
    }
    for bad, message in cases.items():
        with pytest.raises(checkpoint.CheckpointError, match=re.escape(message)):
            checkpoint.load(bad)
    assert zipfile.is_zipfile(tutorial)


# ---- tokenizers and corpora ------------------------------------------------------------


def test_char_tokenizer_round_trip_and_sorted_vocabulary():
    tok = text.CharTokenizer.fit("hello, wörld\n")
    assert tok.vocabulary == sorted(set("hello, wörld\n"))
    ids = tok.encode("world")
    assert ids.dtype == np.int64
    assert tok.decode(ids) == "world"
    assert text.tokenizer_from_config(tok.config()).vocabulary == tok.vocabulary
    with pytest.raises(
        text.TextError, match=re.escape("outside the model's vocabulary: 'z' (U+007A)")
    ):
        tok.encode("zed")


def test_word_tokenizer_follows_the_tutorial():
    corpus = "The cat sat. The cat ran!\n\nA dog? The end of it, the dog's end."
    tok = text.WordTokenizer.fit(corpus, vocab_size=7)
    # start, end, the 4 most frequent words (ties: first seen), unknown last
    assert tok.vocabulary == [
        "SENTENCE_START",
        "SENTENCE_END",
        "the",
        "cat",
        ".",
        "end",
        "UNKNOWN_TOKEN",
    ]
    assert text.split_sentences(corpus)[3] == [
        "the",
        "end",
        "of",
        "it",
        ",",
        "the",
        "dog's",
        "end",
        ".",
    ]
    ids = tok.encode("The cat flew. End")
    assert [tok.vocabulary[i] for i in ids] == [
        "SENTENCE_START",
        "the",
        "cat",
        "UNKNOWN_TOKEN",
        ".",
        "SENTENCE_END",
        "SENTENCE_START",
        "end",
        "SENTENCE_END",
    ]
    assert tok.decode(ids) == "the cat UNKNOWN_TOKEN .\nend\n"
    assert [tok.vocabulary[i] for i in tok.encode_prime("the cat")] == [
        "SENTENCE_START",
        "the",
        "cat",
    ]
    with pytest.raises(ValueError, match="vocab_size must be an int >= 4"):
        text.WordTokenizer.fit(corpus, vocab_size=3)
    with pytest.raises(text.TextError, match="the text holds no words"):
        text.WordTokenizer.fit(" \n\n ")


def test_read_text_refuses_what_is_not_utf8_text(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("héllo\n", encoding="utf-8")
    assert text.read_text(good) == "héllo\n"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("abc héllo".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    cases = {
        latin: "latin.txt: not UTF-8 text (byte 0xe9 at offset 5)",
        empty: "empty.txt: the file is empty",
        tmp_path / "nope.txt": "nope.txt: no such file",
        tmp_path: "is a directory, not a text file",
    }
    for path, message in cases.items():
        with pytest.raises(text.TextError, match=re.escape(message)):
            text.read_text(path)


def test_default_corpus_is_deterministic_python_source():
    corpus = text.default_corpus(max_chars=200_000)
    assert 200_000 <= len(corpus.text) < 2_000_000
    assert corpus.text == text.default_corpus(max_chars=200_000).text
    assert "def " in corpus.text and "import " in corpus.text
    assert re.match(r"\d+ standard-library modules abc\.py \.\. \w+\.py from ", corpus.description)
