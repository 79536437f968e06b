"""Drop-in replacements for three classic NumPy RNN codes, computed by fastrnn's kernels.

One submodule per original, because the three disagree on names and layouts (the
course's ``rnn_forward`` is batch-first with (in, out) weights, fastrnn's is time-major
with (out, in) weights) and a user replaces one original at a time:

``fastrnn.compat.rnn_tutorial_rnnlm``
    Denny Britz's WildML RNN tutorial (``dennybritz/rnn-tutorial-rnnlm``): the class
    ``RNNNumpy`` and ``train_with_sgd``, also importable from here.
``fastrnn.compat.min_char_rnn``
    Andrej Karpathy's min-char-rnn gist: ``lossFun``, ``sample`` and ``adagrad_update``
    with the parameters passed explicitly instead of read from globals.
``fastrnn.compat.cs231n_rnn_layers``
    The vanilla-RNN and word-embedding layers of CS231n assignment 3
    (``cs231n/rnn_layers.py``): batch-first (N, T, D), weights (D, H).

Each keeps its original's names, shapes, return conventions and random-number
consumption, and documents every place it deliberately differs (the originals' bugs,
which are fixed instead of reproduced). ``import fastrnn.compat`` imports all three.
"""

from __future__ import annotations

from . import cs231n_rnn_layers, min_char_rnn, rnn_tutorial_rnnlm
from .rnn_tutorial_rnnlm import RNNNumpy, train_with_sgd

__all__ = [
    "RNNNumpy",
    "cs231n_rnn_layers",
    "min_char_rnn",
    "rnn_tutorial_rnnlm",
    "train_with_sgd",
]
