"""fastrnn: recurrent networks in C with BLAS, mirrored by a pure-NumPy reference.

``fastrnn`` and ``fastrnn.reference`` expose the same API (rnn_forward, rnn_backward,
RNN); swap one import for the other. See fastrnn.reference for the notation.
"""

from __future__ import annotations

from . import _blas
from ._contract import RNNCache, RNNGrads
from ._fast import rnn_backward, rnn_forward
from .layers import bind_layers

__version__ = "0.1.0"
__all__ = ["RNN", "RNNCache", "RNNGrads", "blas_info", "rnn_backward", "rnn_forward"]

BACKEND = "fastrnn"

_blas.load()
blas_info = _blas.info

RNN = bind_layers(__name__, rnn_forward, rnn_backward)
