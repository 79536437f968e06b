# Included by _kernels.pyx: the GRU kernels (csrc/gru.c).


def gru_forward(const floating[:, :, ::1] x, const floating[:, ::1] s0, U,
                const floating[:, ::1] W, const floating[::1] b_ih,
                const floating[::1] b_hh, bint need_cache=True):
    """(s, gates) of the GRU over x: s (T,B,H), gates (T,B,3H) the values of r, z, n;
    U None means x is U x_t already; b_ih and b_hh are (3H,) arrays or None. need_cache
    False (inference): gates is None, and the kernel holds the gates of a few steps only
    (fastrnn_gru_infer)."""
    cdef fastrnn_dims d = gated_dims_from((x.shape[0], x.shape[1], x.shape[2]),
                                          matrix_shape(U), (W.shape[0], W.shape[1]), 3)
    cdef const floating[:, ::1] U_view
    cdef const floating *U_ptr = NULL
    if U is not None:
        U_view = U
        U_ptr = &U_view[0, 0]
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    cdef const floating *b_ih_ptr = data_or_null(b_ih, "b_ih", 3 * d.H, "(3H,)")
    cdef const floating *b_hh_ptr = data_or_null(b_hh, "b_hh", 3 * d.H, "(3H,)")
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = (fastrnn_gru_forward_work_len(&d) if need_cache
                             else fastrnn_gru_infer_work_len(&d))
    reserve("gru_forward", dtype, int(d.T) * d.B * (4 if need_cache else 1) * d.H + work_len)
    s = np.empty((d.T, d.B, d.H), dtype=dtype)
    work = scratch(dtype, work_len)
    cdef floating[:, :, ::1] s_v = s
    cdef floating[::1] work_v = work
    cdef fastrnn_status status
    if not need_cache:
        with nogil:
            if floating is float:
                status = fastrnn_gru_infer_f32(
                    &d, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                    &s_v[0, 0, 0], &work_v[0])
            else:
                status = fastrnn_gru_infer_f64(
                    &d, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                    &s_v[0, 0, 0], &work_v[0])
        raise_for_status(status, "gru_forward")
        return s, None
    gates = np.empty((d.T, d.B, 3 * d.H), dtype=dtype)
    cdef floating[:, :, ::1] gates_v = gates
    with nogil:
        if floating is float:
            status = fastrnn_gru_forward_f32(
                &d, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                &s_v[0, 0, 0], &gates_v[0, 0, 0], &work_v[0])
        else:
            status = fastrnn_gru_forward_f64(
                &d, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                &s_v[0, 0, 0], &gates_v[0, 0, 0], &work_v[0])
    raise_for_status(status, "gru_forward")
    return s, gates


def gru_backward(const floating[:, :, ::1] x, const floating[:, ::1] s0, U,
                 const floating[:, ::1] W, const floating[::1] b_hh,
                 const floating[:, :, ::1] s, const floating[:, :, ::1] gates,
                 const floating[:, :, ::1] ds, truncate, const floating[:, ::1] ds_last=None):
    """(dx, ds0, dU, dW, db_ih, db_hh) of the forward call that produced s and gates
    (with these x, s0, U, W and b_hh, or None: the kernel recomputes W_n s_{t-1} + b_hn);
    ds_last (B,H) or None is added to ds at the last step; dU is None when U is None (dx is
    then the gradient on the projection); db_ih and db_hh are None without bias.
    truncate < 0 is full BPTT."""
    cdef int64_t K = as_int64("truncate", truncate)
    cdef fastrnn_dims d = gated_dims_from((x.shape[0], x.shape[1], x.shape[2]),
                                          matrix_shape(U), (W.shape[0], W.shape[1]), 3)
    cdef const floating[:, ::1] U_view
    cdef const floating *U_ptr = NULL
    if U is not None:
        U_view = U
        U_ptr = &U_view[0, 0]
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("s", (s.shape[0], s.shape[1], s.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("gates", (gates.shape[0], gates.shape[1], gates.shape[2]),
                 (d.T, d.B, 3 * d.H), "(T, B, 3H)")
    expect_shape("ds", (ds.shape[0], ds.shape[1], ds.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    cdef const floating *ds_last_ptr = NULL
    if ds_last is not None:
        expect_shape("ds_last", (ds_last.shape[0], ds_last.shape[1]), (d.B, d.H), "(B, H)")
        ds_last_ptr = &ds_last[0, 0]
    cdef const floating *b_hh_ptr = data_or_null(b_hh, "b_hh", 3 * d.H, "(3H,)")
    cdef bint with_bias = b_hh_ptr != NULL
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_gru_backward_work_len(&d, K)
    reserve("gru_backward", dtype,
            int(d.T) * d.B * d.D + int(d.H) * (d.B + 3 * (d.D + d.H + 2)) + work_len)
    dx = np.empty((d.T, d.B, d.D), dtype=dtype)
    ds0 = np.empty((d.B, d.H), dtype=dtype)
    dU = np.empty((3 * d.H, d.D), dtype=dtype) if U is not None else None
    dW = np.empty((3 * d.H, d.H), dtype=dtype)
    db_ih = np.empty((3 * d.H,), dtype=dtype) if with_bias else None
    db_hh = np.empty((3 * d.H,), dtype=dtype) if with_bias else None
    work = scratch(dtype, work_len)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] ds0_v = ds0
    cdef floating[:, ::1] dU_v
    cdef floating *dU_ptr = NULL
    if U is not None:
        dU_v = dU
        dU_ptr = &dU_v[0, 0]
    cdef floating[:, ::1] dW_v = dW
    cdef floating[::1] db_ih_v
    cdef floating[::1] db_hh_v
    cdef floating *db_ih_ptr = NULL
    cdef floating *db_hh_ptr = NULL
    if with_bias:
        db_ih_v = db_ih
        db_hh_v = db_hh
        db_ih_ptr = &db_ih_v[0]
        db_hh_ptr = &db_hh_v[0]
    cdef floating[::1] work_v = work
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_gru_backward_f32(
                &d, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_hh_ptr, &s[0, 0, 0],
                &gates[0, 0, 0], &ds[0, 0, 0], ds_last_ptr, &dx_v[0, 0, 0],
                &ds0_v[0, 0], dU_ptr, &dW_v[0, 0], db_ih_ptr, db_hh_ptr, &work_v[0])
        else:
            status = fastrnn_gru_backward_f64(
                &d, K, &x[0, 0, 0], &s0[0, 0], U_ptr, &W[0, 0], b_hh_ptr, &s[0, 0, 0],
                &gates[0, 0, 0], &ds[0, 0, 0], ds_last_ptr, &dx_v[0, 0, 0],
                &ds0_v[0, 0], dU_ptr, &dW_v[0, 0], db_ih_ptr, db_hh_ptr, &work_v[0])
    raise_for_status(status, "gru_backward")
    return dx, ds0, dU, dW, db_ih, db_hh
