"""fastrnn: recurrent networks in C with BLAS, mirrored by a pure-NumPy reference.

``fastrnn`` and ``fastrnn.reference`` expose the same API: the functional kernels
(rnn_forward/backward, lstm_forward/backward, gru_forward/backward, and for language models
embedding_forward/backward, softmax_loss, softmax_forward) and the classes RNN, LSTM, GRU
and RNNLM; swap one import for the other. See fastrnn.reference for the notation.
Training helpers: fastrnn.optim, fastrnn.training, fastrnn.checkpoint, fastrnn.text.
"""

from __future__ import annotations

from . import _blas, _fast, layers, lm, optim
from ._contract import (
    GRUCache,
    GRUGrads,
    LSTMCache,
    LSTMGrads,
    RNNCache,
    RNNGrads,
    SoftmaxLoss,
)
from ._fast import (
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    softmax_forward,
    softmax_loss,
)

__version__ = "0.1.0"
__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "RNNLM",
    "GRUCache",
    "GRUGrads",
    "LSTMCache",
    "LSTMGrads",
    "RNNCache",
    "RNNGrads",
    "SoftmaxLoss",
    "blas_info",
    "embedding_backward",
    "embedding_forward",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "optim",
    "rnn_backward",
    "rnn_forward",
    "softmax_forward",
    "softmax_loss",
]


_blas.load()
blas_info = _blas.info

# Classes bound to the C kernels of _fast (fastrnn.reference binds the same classes to NumPy).
RNN = layers.bind(layers.RNNBase, _fast, __name__)
LSTM = layers.bind(layers.LSTMBase, _fast, __name__)
GRU = layers.bind(layers.GRUBase, _fast, __name__)
RNNLM = layers.bind(lm.RNNLMBase, _fast, __name__)
