"""fastrnn: recurrent networks in C with BLAS, mirrored by a pure-NumPy reference.

``fastrnn`` and ``fastrnn.reference`` expose the same API (rnn_forward, rnn_backward,
lstm_forward, lstm_backward, gru_forward, gru_backward and the layers RNN, LSTM, GRU);
swap one import for the other. See fastrnn.reference for the notation.
"""

from __future__ import annotations

from . import _blas, _fast, layers
from ._contract import GRUCache, GRUGrads, LSTMCache, LSTMGrads, RNNCache, RNNGrads
from ._fast import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

__version__ = "0.1.0"
__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCache",
    "GRUGrads",
    "LSTMCache",
    "LSTMGrads",
    "RNNCache",
    "RNNGrads",
    "blas_info",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
]


_blas.load()
blas_info = _blas.info

# Classes bound to the C kernels of _fast (fastrnn.reference binds the same classes to NumPy).
RNN = layers.bind(layers.RNNBase, _fast, __name__)
LSTM = layers.bind(layers.LSTMBase, _fast, __name__)
GRU = layers.bind(layers.GRUBase, _fast, __name__)
