# Included by _kernels.pyx: the vanilla RNN kernels (csrc/rnn.c).


cdef fastrnn_dims rnn_dims(tuple x_shape, U_shape, tuple W_shape) except *:
    """Dims of an RNN call: H from W, D from x; U (H, D), or None when x is U x_t (D = H)."""
    cdef fastrnn_dims d = dims_from(x_shape, W_shape[0])
    expect_shape("W", W_shape, (d.H, d.H), "(H, H)")
    if U_shape is None:
        if d.D != d.H:
            raise ValueError(f"x must have shape (T, B, H) = ({d.T}, {d.B}, {d.H}) when U is "
                             f"None (x is the input projection); got {x_shape}")
    else:
        expect_shape("U", U_shape, (d.H, d.D), "(H, D)")
    return d


cdef optional_matrix_shape(const floating[:, ::1] a):
    """a's shape, or None when a is None."""
    return None if a is None else (a.shape[0], a.shape[1])


def rnn_forward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                const floating[:, ::1] U, const floating[:, ::1] W, const floating[::1] b,
                str nonlinearity):
    """s (T,B,H) of s_t = f(U x_t + W s_{t-1} + b); U None means x is U x_t already;
    b is a (H,) array or None."""
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = rnn_dims((x.shape[0], x.shape[1], x.shape[2]),
                                   optional_matrix_shape(U), (W.shape[0], W.shape[1]))
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    cdef const floating *U_ptr = NULL if U is None else &U[0, 0]
    cdef const floating *b_ptr = data_or_null(b, "b", d.H, "(H,)")
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_rnn_forward_work_len(&d)
    reserve("rnn_forward", dtype, int(d.T) * d.B * d.H + work_len)
    s = np.empty((d.T, d.B, d.H), dtype=dtype)
    cdef floating[:, :, ::1] s_out = s
    cdef floating[::1] work_v
    cdef floating *work_ptr = NULL
    if work_len > 0:
        work_v = np.empty((work_len,), dtype=dtype)
        work_ptr = &work_v[0]
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_rnn_forward_f32(&d, f, &x[0, 0, 0], &s0[0, 0], U_ptr,
                                             &W[0, 0], b_ptr, &s_out[0, 0, 0], work_ptr)
        else:
            status = fastrnn_rnn_forward_f64(&d, f, &x[0, 0, 0], &s0[0, 0], U_ptr,
                                             &W[0, 0], b_ptr, &s_out[0, 0, 0], work_ptr)
    raise_for_status(status, "rnn_forward")
    return s


def rnn_backward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                 const floating[:, ::1] U, const floating[:, ::1] W,
                 const floating[:, :, ::1] s, const floating[:, :, ::1] ds, bint with_bias,
                 str nonlinearity, truncate, const floating[:, ::1] ds_last=None):
    """(dx, ds0, dU, dW, db) of the forward call that produced s; dU is None when U is None,
    db None without bias. truncate < 0 is full BPTT. ds_last (B, H), or None: more
    gradient on the last state, added to ds[-1] by the kernel."""
    cdef int64_t K = as_int64("truncate", truncate)
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = rnn_dims((x.shape[0], x.shape[1], x.shape[2]),
                                   optional_matrix_shape(U), (W.shape[0], W.shape[1]))
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("s", (s.shape[0], s.shape[1], s.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("ds", (ds.shape[0], ds.shape[1], ds.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    cdef const floating *U_ptr = NULL if U is None else &U[0, 0]
    cdef const floating *ds_last_ptr = NULL
    if ds_last is not None:
        expect_shape("ds_last", (ds_last.shape[0], ds_last.shape[1]), (d.B, d.H), "(B, H)")
        ds_last_ptr = &ds_last[0, 0]
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_rnn_backward_work_len(&d, K)
    reserve("rnn_backward", dtype,
            int(d.T) * d.B * d.D + int(d.H) * (d.B + d.D + d.H + 1) + work_len)
    dx = np.empty((d.T, d.B, d.D), dtype=dtype)
    ds0 = np.empty((d.B, d.H), dtype=dtype)
    dU = np.empty((d.H, d.D), dtype=dtype) if U is not None else None
    dW = np.empty((d.H, d.H), dtype=dtype)
    db = np.empty((d.H,), dtype=dtype) if with_bias else None
    work = np.empty((work_len,), dtype=dtype)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] ds0_v = ds0
    cdef floating[:, ::1] dU_v
    cdef floating *dU_ptr = NULL
    if U is not None:
        dU_v = dU
        dU_ptr = &dU_v[0, 0]
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
            status = fastrnn_rnn_backward_ds_last_f32(
                &d, f, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], ds_last_ptr, &dx_v[0, 0, 0], &ds0_v[0, 0], dU_ptr, &dW_v[0, 0],
                db_ptr, &work_v[0])
        else:
            status = fastrnn_rnn_backward_ds_last_f64(
                &d, f, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], ds_last_ptr, &dx_v[0, 0, 0], &ds0_v[0, 0], dU_ptr, &dW_v[0, 0],
                db_ptr, &work_v[0])
    raise_for_status(status, "rnn_backward")
    return dx, ds0, dU, dW, db


# ---- the common case, checked in one typed call ----------------------------------------
#
# fastrnn._fast first offers its arguments to rnn_forward_plain / rnn_backward_plain: when
# they are what _contract's checks would pass through unchanged (ndarrays of one supported
# dtype, C-contiguous and aligned, of consistent shapes), these check that here, at a
# fraction of the cost, and run the kernel as the binding above does (its dims, memory and
# status checks), with the arrays' buffers held instead of typed memoryviews.
# Anything else returns None and takes the general path, so every error keeps its type
# and message.

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer

cdef object _ndarray = np.ndarray
cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)


cdef bint plain(object a, object dtype, tuple shape):
    """a is an ndarray of exactly dtype and shape, C-contiguous and aligned: an array
    _contract.as_float returns as it is."""
    if type(a) is not _ndarray or a.dtype is not dtype or a.shape != shape:
        return False
    flags = a.flags
    return flags.c_contiguous and flags.aligned


cdef bint plain_nonlinearity(object nonlinearity):
    return type(nonlinearity) is str and (nonlinearity == "tanh" or nonlinearity == "relu")


cdef class _Held:
    """The buffers of the arrays a kernel call reads and writes, held until this object
    goes (also on an exception): the plain paths' cheaper stand-in for typed memoryviews,
    for arrays already checked to be C-contiguous and aligned."""
    cdef Py_buffer views[13]
    cdef int n

    cdef void *data(self, object a, int flags) except? NULL:
        """a's data pointer (NULL for None), its buffer held."""
        if a is None:
            return NULL
        assert self.n < 13
        PyObject_GetBuffer(a, &self.views[self.n], flags)
        self.n += 1
        return self.views[self.n - 1].buf

    def __dealloc__(self):
        cdef int i
        for i in range(self.n):
            PyBuffer_Release(&self.views[i])


def rnn_forward_plain(x, s0, U, W, b, nonlinearity):
    """(s0, s) as fastrnn._fast.rnn_forward computes them, s0 zeros when None, if every
    argument is plain (see above) and the shapes fit; else None."""
    if type(x) is not _ndarray or not plain_nonlinearity(nonlinearity):
        return None
    dtype = x.dtype
    if dtype is not _F32 and dtype is not _F64:
        return None
    x_shape = x.shape
    if len(x_shape) != 3:
        return None
    T, B, D = x_shape
    if type(W) is not _ndarray or len(W.shape) != 2:
        return None
    H = W.shape[0]
    if T < 1 or B < 1 or D < 1 or H < 1 or not plain(x, dtype, x_shape) or \
            not plain(W, dtype, (H, H)) or (U is None and D != H) or \
            (U is not None and not plain(U, dtype, (H, D))) or \
            (s0 is not None and not plain(s0, dtype, (B, H))) or \
            (b is not None and not plain(b, dtype, (H,))):
        return None
    # _contract.check_rnn_forward's bound, then its zeros for s0=None
    ensure_memory("rnn_forward", dtype.itemsize * (T * B * (D + H) + H * (D + 2 * H) + B * H))
    if s0 is None:
        s0 = np.zeros((B, H), dtype=dtype)
    # rnn_forward above, without its memoryviews
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = rnn_dims(x_shape, None if U is None else (H, D), (H, H))
    cdef int64_t work_len = fastrnn_rnn_forward_work_len(&d)
    reserve("rnn_forward", dtype, int(d.T) * d.B * d.H + work_len)
    s = np.empty((d.T, d.B, d.H), dtype=dtype)
    work = np.empty((work_len,), dtype=dtype) if work_len > 0 else None
    cdef _Held held = _Held()
    cdef const void *x_p = held.data(x, PyBUF_SIMPLE)
    cdef const void *s0_p = held.data(s0, PyBUF_SIMPLE)
    cdef const void *U_p = held.data(U, PyBUF_SIMPLE)
    cdef const void *W_p = held.data(W, PyBUF_SIMPLE)
    cdef const void *b_p = held.data(b, PyBUF_SIMPLE)
    cdef void *s_p = held.data(s, PyBUF_WRITABLE)
    cdef void *work_p = held.data(work, PyBUF_WRITABLE)
    cdef bint f32 = dtype is _F32
    cdef fastrnn_status status
    with nogil:
        if f32:
            status = fastrnn_rnn_forward_f32(
                &d, f, <const float *>x_p, <const float *>s0_p, <const float *>U_p,
                <const float *>W_p, <const float *>b_p, <float *>s_p, <float *>work_p)
        else:
            status = fastrnn_rnn_forward_f64(
                &d, f, <const double *>x_p, <const double *>s0_p, <const double *>U_p,
                <const double *>W_p, <const double *>b_p, <double *>s_p, <double *>work_p)
    raise_for_status(status, "rnn_forward")
    return s0, s


def rnn_backward_plain(ds, cache, truncate, ds_last=None):
    """(dx, ds0, dU, dW, db) as fastrnn._fast.rnn_backward computes them for full BPTT
    (truncate None), if the cache is an RNNCache of plain arrays that fit together, ds is
    plain and shaped like cache.s and ds_last None or plain (B, H); else None."""
    if truncate is not None or type(cache) is not RNNCache:
        return None
    x, s0, U, W, b, s, nonlinearity = cache
    if type(s) is not _ndarray or type(x) is not _ndarray or \
            not plain_nonlinearity(nonlinearity):
        return None
    dtype = s.dtype
    s_shape = s.shape
    x_shape = x.shape
    if (dtype is not _F32 and dtype is not _F64) or len(s_shape) != 3 or len(x_shape) != 3:
        return None
    T, B, H = s_shape
    D = x_shape[2]
    if T < 1 or B < 1 or D < 1 or H < 1 or not plain(s, dtype, s_shape) or \
            not plain(x, dtype, (T, B, D)) or not plain(s0, dtype, (B, H)) or \
            not plain(W, dtype, (H, H)) or (U is None and D != H) or \
            (U is not None and not plain(U, dtype, (H, D))) or \
            (b is not None and not plain(b, dtype, (H,))) or not plain(ds, dtype, s_shape) or \
            (ds_last is not None and not plain(ds_last, dtype, (B, H))):
        return None
    # _contract.check_rnn_backward's bound for full BPTT
    ensure_memory("rnn_backward", dtype.itemsize * (T * B * (D + H) + T * B * H + H * (D + H)))
    # rnn_backward above for truncate -1, without its memoryviews
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = rnn_dims((T, B, D), None if U is None else (H, D), (H, H))
    cdef int64_t work_len = fastrnn_rnn_backward_work_len(&d, -1)
    reserve("rnn_backward", dtype,
            int(d.T) * d.B * d.D + int(d.H) * (d.B + d.D + d.H + 1) + work_len)
    dx = np.empty((d.T, d.B, d.D), dtype=dtype)
    ds0 = np.empty((d.B, d.H), dtype=dtype)
    dU = np.empty((d.H, d.D), dtype=dtype) if U is not None else None
    dW = np.empty((d.H, d.H), dtype=dtype)
    db = np.empty((d.H,), dtype=dtype) if b is not None else None
    work = np.empty((work_len,), dtype=dtype)
    cdef _Held held = _Held()
    cdef const void *x_p = held.data(x, PyBUF_SIMPLE)
    cdef const void *s0_p = held.data(s0, PyBUF_SIMPLE)
    cdef const void *U_p = held.data(U, PyBUF_SIMPLE)
    cdef const void *W_p = held.data(W, PyBUF_SIMPLE)
    cdef const void *s_p = held.data(s, PyBUF_SIMPLE)
    cdef const void *ds_p = held.data(ds, PyBUF_SIMPLE)
    cdef const void *ds_last_p = held.data(ds_last, PyBUF_SIMPLE)
    cdef void *dx_p = held.data(dx, PyBUF_WRITABLE)
    cdef void *ds0_p = held.data(ds0, PyBUF_WRITABLE)
    cdef void *dU_p = held.data(dU, PyBUF_WRITABLE)
    cdef void *dW_p = held.data(dW, PyBUF_WRITABLE)
    cdef void *db_p = held.data(db, PyBUF_WRITABLE)
    cdef void *work_p = held.data(work, PyBUF_WRITABLE)
    cdef bint f32 = dtype is _F32
    cdef fastrnn_status status
    with nogil:
        if f32:
            status = fastrnn_rnn_backward_ds_last_f32(
                &d, f, -1, <const float *>x_p, <const float *>s0_p, <const float *>U_p,
                <const float *>W_p, <const float *>s_p, <const float *>ds_p,
                <const float *>ds_last_p, <float *>dx_p,
                <float *>ds0_p, <float *>dU_p, <float *>dW_p, <float *>db_p, <float *>work_p)
        else:
            status = fastrnn_rnn_backward_ds_last_f64(
                &d, f, -1, <const double *>x_p, <const double *>s0_p, <const double *>U_p,
                <const double *>W_p, <const double *>s_p, <const double *>ds_p,
                <const double *>ds_last_p, <double *>dx_p, <double *>ds0_p, <double *>dU_p, <double *>dW_p,
                <double *>db_p, <double *>work_p)
    raise_for_status(status, "rnn_backward")
    return dx, ds0, dU, dW, db
