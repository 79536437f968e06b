"""Text in, token ids out: tokenizers and corpora for the language model.

Two tokenizers, both with ``encode(text) -> int64 array``, ``decode(ids) -> str``,
``vocabulary`` (list of str, the token of each id) and ``config()`` (what a checkpoint
stores to rebuild them with ``tokenizer_from_config``):

- ``CharTokenizer``: one token per character; the vocabulary is the sorted set of the
  corpus's characters (sorted, unlike min-char-rnn's ``list(set(data))``, whose order
  changes between Python runs).
- ``WordTokenizer``: the classic word-level tutorial's scheme without nltk. The text is
  lowercased and split into sentences after ``.``, ``!`` or ``?`` followed by whitespace,
  and at blank lines; a sentence is split into words (``\\w+``, with inner apostrophes
  kept: ``don't``) and single punctuation marks; each sentence is wrapped in
  ``SENTENCE_START`` ... ``SENTENCE_END``. The vocabulary is those two tokens, the most
  frequent words (ties: first seen first) up to the cap, then ``UNKNOWN_TOKEN``, which
  stands for every other word.

``default_corpus()`` is the built-in training text of ``fastrnn train``: Python source
from the running interpreter's standard library, so every machine has it.
"""

from __future__ import annotations

import re
import sysconfig
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _contract


class TextError(ValueError):
    """A corpus that cannot be used: unreadable, not UTF-8, empty, or outside the
    vocabulary. The message is one line meant for the user."""


# ---- characters -------------------------------------------------------------------------


class _Tokenizer:
    """What both tokenizers share: the vocabulary (the token of each id) and its index."""

    level = ""

    def __init__(self, vocabulary):
        vocabulary = list(vocabulary)
        if not vocabulary:
            raise ValueError("the vocabulary is empty")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("the vocabulary holds a token twice")
        self.vocabulary = vocabulary
        self._ids = {token: i for i, token in enumerate(vocabulary)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def config(self) -> dict:
        """What ``tokenizer_from_config`` needs to rebuild this tokenizer."""
        return {"level": self.level, "vocabulary": self.vocabulary}


class CharTokenizer(_Tokenizer):
    """One token per character.

    Parameters
    ----------
    vocabulary : sequence of str
        Distinct single characters; the id of a character is its index.
    """

    level = "char"

    def __init__(self, vocabulary):
        super().__init__(vocabulary)
        if not all(isinstance(ch, str) and len(ch) == 1 for ch in self.vocabulary):
            raise ValueError("a character vocabulary must hold single characters")

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The tokenizer of text's characters, in sorted order."""
        if not text:
            raise TextError("the text is empty: there is nothing to build a vocabulary from")
        return cls(sorted(set(text)))

    def encode(self, text: str) -> np.ndarray:
        """Ids (len(text),); characters outside the vocabulary raise TextError."""
        try:
            return np.fromiter((self._ids[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError:
            unknown = sorted(set(text) - set(self._ids))
            shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise TextError(
                f"the text holds characters outside the model's vocabulary: {shown}{more}"
            ) from None

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[i] for i in _token_ids(ids, self.vocab_size))


def _token_ids(ids, size: int) -> list[int]:
    """ids as a list of ints in [0, size)."""
    a = np.asarray(ids)
    return _contract.check_ids("ids", a.reshape(-1, 1), size, "vocab_size").ravel().tolist()


# ---- words -------------------------------------------------------------------------------

SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
_SPECIAL = (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN)

# A sentence ends after . ! or ? and whitespace, or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
# A word (letters, digits, underscores, inner apostrophes) or one punctuation mark.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def split_sentences(text: str) -> list[list[str]]:
    """The lowercased words of each sentence of text (sentences without words dropped)."""
    sentences = (_TOKEN.findall(s) for s in _SENTENCE_BREAK.split(text.lower()))
    return [words for words in sentences if words]


class WordTokenizer(_Tokenizer):
    """Words and punctuation, with sentence start/end tokens and an unknown token.

    Parameters
    ----------
    vocabulary : sequence of str
        Distinct tokens, holding SENTENCE_START, SENTENCE_END and UNKNOWN_TOKEN.
    """

    level = "word"
    MIN_VOCAB = 4  # the three special tokens and one word

    def __init__(self, vocabulary):
        super().__init__(vocabulary)
        missing = [t for t in _SPECIAL if t not in self._ids]
        if missing:
            raise ValueError(f"a word vocabulary must hold {missing}")
        self.unknown_id = self._ids[UNKNOWN_TOKEN]

    @classmethod
    def fit(cls, text: str, vocab_size: int = 8000) -> WordTokenizer:
        """The tokenizer of text's most frequent words, vocab_size tokens in all (fewer
        when the text has fewer distinct words)."""
        cap = _contract.check_int("vocab_size", vocab_size, cls.MIN_VOCAB)
        counts = Counter(w for words in split_sentences(text) for w in words)
        if not counts:
            raise TextError("the text holds no words: there is nothing to build a vocabulary from")
        common = [w for w, _ in counts.most_common(cap - len(_SPECIAL))]
        return cls([SENTENCE_START, SENTENCE_END, *common, UNKNOWN_TOKEN])

    def encode(self, text: str) -> np.ndarray:
        """Ids of SENTENCE_START, the words, SENTENCE_END for every sentence in turn;
        words outside the vocabulary become UNKNOWN_TOKEN."""
        ids = []
        start, end = self._ids[SENTENCE_START], self._ids[SENTENCE_END]
        for words in split_sentences(text):
            ids.append(start)
            ids.extend(self._ids.get(w, self.unknown_id) for w in words)
            ids.append(end)
        return np.array(ids, dtype=np.int64)

    def encode_prime(self, text: str) -> np.ndarray:
        """Ids to start sampling from: SENTENCE_START, then the words of text (no end)."""
        words = [w for s in split_sentences(text) for w in s]
        return np.array(
            [self._ids[SENTENCE_START]] + [self._ids.get(w, self.unknown_id) for w in words],
            dtype=np.int64,
        )

    def decode(self, ids) -> str:
        """Words joined by spaces, one sentence per line (start tokens dropped)."""
        out = []
        for i in _token_ids(ids, self.vocab_size):
            token = self.vocabulary[i]
            if token == SENTENCE_END:
                out.append("\n")
            elif token != SENTENCE_START:
                out.append(token if not out or out[-1] == "\n" else " " + token)
        return "".join(out)


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer}


def tokenizer_from_config(config: dict):
    """The tokenizer that ``tokenizer.config()`` describes."""
    try:
        cls = TOKENIZERS[config["level"]]
        return cls(config["vocabulary"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a tokenizer description: {e!r}") from None


# ---- corpora -----------------------------------------------------------------------------


def read_text(path) -> str:
    """The contents of a UTF-8 text file; TextError with a one-line reason otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TextError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextError(f"{path}: is a directory, not a text file") from None
    except OSError as e:
        raise TextError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TextError(
            f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    if not text.strip():
        raise TextError(f"{path}: the file is empty (or only whitespace)")
    return text


class Corpus(NamedTuple):
    text: str
    description: str  # one line saying where the text came from


# The default corpus: about this many characters of standard-library source.
DEFAULT_CORPUS_CHARS = 2_000_000


def default_corpus(max_chars: int = DEFAULT_CORPUS_CHARS) -> Corpus:
    """Python source from the running interpreter's standard library.

    The selection is deterministic for a given Python installation: the top-level modules
    ``<stdlib>/*.py`` whose names do not start with an underscore, in sorted order, whole
    files, until ``max_chars`` characters are reached (about 2 MB by default; on CPython
    3.11 that is the 75 modules from ``abc.py`` to ``os.py``). Files that are not UTF-8 are
    skipped. Raises TextError when the directory holds no such source (an installation
    without the .py files, for instance): pass your own text instead.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, total, used = [], 0, []
    for path in sorted(stdlib.glob("*.py")):
        if path.name.startswith("_") or total >= max_chars:
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(source)
        used.append(path.name)
        total += len(source)
    if not parts:
        raise TextError(
            f"no Python source found in the standard library directory {stdlib}; "
            "train on your own text with --text FILE"
        )
    description = (
        f"{len(used)} standard-library modules {used[0]} .. {used[-1]} from {stdlib} "
        f"({total:,} characters)"
    )
    return Corpus("".join(parts), description)


# ---- generation ------------------------------------------------------------------------


def prime_ids(tokenizer, prime: str | None) -> np.ndarray:
    """The ids to start sampling from: the prime's tokens (word level: after
    SENTENCE_START), or, without a prime, a newline (character level, when the vocabulary
    has one; else its first character) or SENTENCE_START (word level)."""
    if isinstance(tokenizer, WordTokenizer):
        return tokenizer.encode_prime(prime or "")
    if not prime:
        prime = "\n" if "\n" in tokenizer.vocabulary else tokenizer.vocabulary[0]
    return tokenizer.encode(prime)


def generate(model, tokenizer, prime: str | None, length: int, **sampling) -> str:
    """``length`` tokens drawn by ``model.sample`` after the prime, decoded to text (the
    prime itself not included). ``sampling``: temperature, top_k, seed."""
    ids = model.sample(prime_ids(tokenizer, prime), length, **sampling)
    return tokenizer.decode(ids)
