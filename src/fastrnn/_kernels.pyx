# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Binding to the C kernels in csrc/: checks every shape, allocates outputs and workspace
with NumPy, releases the GIL around the kernel and turns status codes into exceptions.

Callers (fastrnn.functional) have already agreed dtypes and made arrays C-contiguous;
the checks here are repeated so that no call, however it arrives, reaches C unchecked.
"""
from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t

import numpy as np

_NONLINEARITIES = {"tanh": FASTRNN_TANH, "relu": FASTRNN_RELU}
_STATUS_NAMES = {
    FASTRNN_ERR_DIMS: "FASTRNN_ERR_DIMS",
    FASTRNN_ERR_ARG: "FASTRNN_ERR_ARG",
    FASTRNN_ERR_NO_BLAS: "FASTRNN_ERR_NO_BLAS",
}


def set_blas(uintptr_t sgemm_address, uintptr_t dgemm_address):
    """Install the Fortran-ABI sgemm_/dgemm_ at these addresses as the kernels' BLAS."""
    status = fastrnn_blas_set(<fastrnn_sgemm_fn><void *>sgemm_address,
                              <fastrnn_dgemm_fn><void *>dgemm_address)
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


cdef fastrnn_nonlinearity nonlinearity_code(str nonlinearity) except *:
    try:
        return _NONLINEARITIES[nonlinearity]
    except KeyError:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}") from None


cdef expect_shape(str name, tuple got, tuple want, str letters):
    if got != want:
        raise ValueError(f"{name} must have shape {letters} = {want}; got {got}")


cdef fastrnn_dims dims_from(tuple x_shape, tuple U_shape) except *:
    cdef fastrnn_dims d
    d.T, d.B, d.D = x_shape
    d.H = U_shape[0]
    if d.T < 1 or d.B < 1 or d.D < 1:
        raise ValueError(f"x must have shape (T, B, D) with T, B, D >= 1; got {x_shape}")
    if d.H < 1:
        raise ValueError(f"U must have shape (H, D) with H >= 1; got {U_shape}")
    expect_shape("U", U_shape, (d.H, d.D), "(H, D)")
    if d.D > FASTRNN_MAX_GEMM_DIM or d.H > FASTRNN_MAX_GEMM_DIM or \
            d.T * d.B > FASTRNN_MAX_GEMM_DIM:
        raise ValueError(f"sizes T*B = {d.T * d.B}, D = {d.D}, H = {d.H} exceed the BLAS "
                         f"limit {FASTRNN_MAX_GEMM_DIM}; split the batch or the sequence")
    return d


def tanh(const floating[::1] a):
    """A copy of a with the kernels' vectorized tanh applied (for tests)."""
    out = np.array(a, copy=True)
    cdef floating[::1] out_v = out
    cdef int64_t n = out_v.shape[0]
    if n == 0:
        return out
    with nogil:
        if floating is float:
            fastrnn_tanh_f32(n, &out_v[0])
        else:
            fastrnn_tanh_f64(n, &out_v[0])
    return out


def rnn_forward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                const floating[:, ::1] U, const floating[:, ::1] W, b, str nonlinearity):
    """s (T,B,H) of s_t = f(U x_t + W s_{t-1} + b); b is a (H,) array or None."""
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = dims_from((x.shape[0], x.shape[1], x.shape[2]), (U.shape[0], U.shape[1]))
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("W", (W.shape[0], W.shape[1]), (d.H, d.H), "(H, H)")
    cdef const floating[::1] b_view
    cdef const floating *b_ptr = NULL
    if b is not None:
        b_view = b
        expect_shape("b", (b_view.shape[0],), (d.H,), "(H,)")
        b_ptr = &b_view[0]
    dtype = np.float32 if floating is float else np.float64
    s = np.empty((d.T, d.B, d.H), dtype=dtype)
    cdef floating[:, :, ::1] s_out = s
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_rnn_forward_f32(&d, f, &x[0, 0, 0], &s0[0, 0], &U[0, 0],
                                             &W[0, 0], b_ptr, &s_out[0, 0, 0])
        else:
            status = fastrnn_rnn_forward_f64(&d, f, &x[0, 0, 0], &s0[0, 0], &U[0, 0],
                                             &W[0, 0], b_ptr, &s_out[0, 0, 0])
    raise_for_status(status, "rnn_forward")
    return s


def rnn_backward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                 const floating[:, ::1] U, const floating[:, ::1] W,
                 const floating[:, :, ::1] s, const floating[:, :, ::1] ds,
                 bint with_bias, str nonlinearity, int64_t truncate):
    """(dx, ds0, dU, dW, db) of the forward call that produced s; db is None without bias.
    truncate < 0 is full BPTT."""
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = dims_from((x.shape[0], x.shape[1], x.shape[2]), (U.shape[0], U.shape[1]))
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("W", (W.shape[0], W.shape[1]), (d.H, d.H), "(H, H)")
    expect_shape("s", (s.shape[0], s.shape[1], s.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("ds", (ds.shape[0], ds.shape[1], ds.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((d.T, d.B, d.D), dtype=dtype)
    ds0 = np.empty((d.B, d.H), dtype=dtype)
    dU = np.empty((d.H, d.D), dtype=dtype)
    dW = np.empty((d.H, d.H), dtype=dtype)
    db = np.empty((d.H,), dtype=dtype) if with_bias else None
    work = np.empty((fastrnn_rnn_backward_work_len(&d, truncate),), dtype=dtype)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] ds0_v = ds0
    cdef floating[:, ::1] dU_v = dU
    cdef floating[:, ::1] dW_v = dW
    cdef floating[::1] db_v
    cdef floating *db_ptr = NULL
    if with_bias:
        db_v = db
        db_ptr = &db_v[0]
    cdef floating[::1] work_v = work
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_rnn_backward_f32(
                &d, f, truncate, &x[0, 0, 0], &s0[0, 0], &U[0, 0], &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], &dx_v[0, 0, 0], &ds0_v[0, 0], &dU_v[0, 0], &dW_v[0, 0],
                db_ptr, &work_v[0])
        else:
            status = fastrnn_rnn_backward_f64(
                &d, f, truncate, &x[0, 0, 0], &s0[0, 0], &U[0, 0], &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], &dx_v[0, 0, 0], &ds0_v[0, 0], &dU_v[0, 0], &dW_v[0, 0],
                db_ptr, &work_v[0])
    raise_for_status(status, "rnn_backward")
    return dx, ds0, dU, dW, db
