# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Binding to the C kernels in csrc/: checks every shape, allocates outputs and workspace
with NumPy, releases the GIL around the kernel and turns status codes into exceptions.

Callers (fastrnn._fast) have already agreed dtypes and made arrays C-contiguous;
the checks here are repeated so that no call, however it arrives, reaches C unchecked.
"""
from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t

import operator

import numpy as np

from ._contract import RNNCache, ensure_memory

_NONLINEARITIES = {"tanh": FASTRNN_TANH, "relu": FASTRNN_RELU}
_STATUS_NAMES = {
    FASTRNN_ERR_DIMS: "FASTRNN_ERR_DIMS",
    FASTRNN_ERR_ARG: "FASTRNN_ERR_ARG",
    FASTRNN_ERR_NO_BLAS: "FASTRNN_ERR_NO_BLAS",
}


def set_blas(uintptr_t sgemm, uintptr_t dgemm, uintptr_t sgemv, uintptr_t dgemv):
    """Install the Fortran-ABI sgemm_/dgemm_/sgemv_/dgemv_ at these addresses as the
    kernels' BLAS."""
    status = fastrnn_blas_set(<fastrnn_sgemm_fn><void *>sgemm, <fastrnn_dgemm_fn><void *>dgemm,
                              <fastrnn_sgemv_fn><void *>sgemv, <fastrnn_dgemv_fn><void *>dgemv)
    raise_for_status(status, "fastrnn_blas_set")


def blas_ready():
    """True once set_blas has installed a BLAS."""
    return bool(fastrnn_blas_ready())


cdef raise_for_status(fastrnn_status status, str kernel):
    if status == FASTRNN_OK:
        return
    if status == FASTRNN_ERR_NO_BLAS:
        raise RuntimeError(f"{kernel}: no BLAS installed; import fastrnn (not "
                           "fastrnn._kernels) so that its loader can find scipy-openblas32")
    name = _STATUS_NAMES.get(status, f"unknown status {<int>status}")
    raise RuntimeError(f"{kernel} failed with {name}; this is a bug in fastrnn, please "
                       "report it with the shapes and dtypes of the call")


cdef reserve(str kernel, dtype, elements):
    """MemoryError unless `elements` (a Python int: no overflow) of dtype, the call's
    outputs and workspace, fit in the memory left; checked before allocating any."""
    ensure_memory(kernel, np.dtype(dtype).itemsize * elements)


cdef int64_t as_int64(str name, value) except? -1:
    """value as an int64_t; a float raises TypeError (Cython's own conversion of an int64_t
    argument would truncate 2.5 to 2), an int beyond int64 OverflowError."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int; got {value!r}") from None


cdef fastrnn_nonlinearity nonlinearity_code(str nonlinearity) except *:
    try:
        return _NONLINEARITIES[nonlinearity]
    except KeyError:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}") from None


cdef expect_shape(str name, tuple got, tuple want, str letters):
    if got != want:
        raise ValueError(f"{name} must have shape {letters} = {want}; got {got}")


cdef fastrnn_dims dims_from(tuple x_shape, Py_ssize_t H) except *:
    """T, B, D from x (T, B, D) and H; raises unless all are >= 1 and fit the BLAS."""
    cdef fastrnn_dims d
    d.T, d.B, d.D = x_shape
    d.H = H
    if d.T < 1 or d.B < 1 or d.D < 1:
        raise ValueError(f"x must have shape (T, B, D) with T, B, D >= 1; got {x_shape}")
    if d.H < 1:
        raise ValueError(f"the hidden size H must be >= 1; got {H}")
    if d.D > FASTRNN_MAX_GEMM_DIM or d.H > FASTRNN_MAX_GEMM_DIM or \
            d.T * d.B > FASTRNN_MAX_GEMM_DIM:
        raise ValueError(f"sizes T*B = {d.T * d.B}, D = {d.D}, H = {d.H} exceed the BLAS "
                         f"limit {FASTRNN_MAX_GEMM_DIM}; split the batch or the sequence")
    return d


cdef const floating *data_or_null(const floating[::1] v, str name, int64_t n,
                                  str letters) except? NULL:
    """&v[0] after checking that v has shape (n,), or NULL when v is None."""
    if v is None:
        return NULL
    expect_shape(name, (v.shape[0],), (n,), letters)
    return &v[0]


# One include per cell family, each beside its C file in csrc/.
include "_activations.pxi"
include "_rnn.pxi"
include "_lm.pxi"  # language-model kernels (issue 3)
include "_gated.pxi"  # LSTM and GRU (issue 4)
include "_lstm.pxi"
include "_gru.pxi"
include "_generate.pxi"  # generation (issue 7)
