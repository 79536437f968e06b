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
                 str nonlinearity, truncate):
    """(dx, ds0, dU, dW, db) of the forward call that produced s; dU is None when U is None,
    db None without bias. truncate < 0 is full BPTT."""
    cdef int64_t K = as_int64("truncate", truncate)
    cdef fastrnn_nonlinearity f = nonlinearity_code(nonlinearity)
    cdef fastrnn_dims d = rnn_dims((x.shape[0], x.shape[1], x.shape[2]),
                                   optional_matrix_shape(U), (W.shape[0], W.shape[1]))
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("s", (s.shape[0], s.shape[1], s.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("ds", (ds.shape[0], ds.shape[1], ds.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    cdef const floating *U_ptr = NULL if U is None else &U[0, 0]
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
            status = fastrnn_rnn_backward_f32(
                &d, f, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], &dx_v[0, 0, 0], &ds0_v[0, 0], dU_ptr, &dW_v[0, 0],
                db_ptr, &work_v[0])
        else:
            status = fastrnn_rnn_backward_f64(
                &d, f, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], &s[0, 0, 0],
                &ds[0, 0, 0], &dx_v[0, 0, 0], &ds0_v[0, 0], dU_ptr, &dW_v[0, 0],
                db_ptr, &work_v[0])
    raise_for_status(status, "rnn_backward")
    return dx, ds0, dU, dW, db
