# Included by _kernels.pyx: the LSTM kernels (csrc/lstm.c).


def lstm_forward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                 const floating[:, ::1] c0, U, const floating[:, ::1] W,
                 const floating[::1] b_ih, const floating[::1] b_hh, bint need_cache=True,
                 bint last_c_only=False):
    """(s, c, gates) of the LSTM over x: s and c (T,B,H), gates (T,B,4H) the values of
    i, f, g, o; U None means x is U x_t already; b_ih and b_hh are (4H,) arrays or None.
    need_cache False (inference): gates is None, and the kernel holds the gates of a few
    steps only (fastrnn_lstm_infer); with last_c_only too, c is c_T (B,H) and the kernel
    holds two (B,H) cell states only (last_c_only does not apply with need_cache)."""
    cdef fastrnn_dims d = gated_dims_from((x.shape[0], x.shape[1], x.shape[2]),
                                          matrix_shape(U), (W.shape[0], W.shape[1]), 4)
    cdef const floating[:, ::1] U_view
    cdef const floating *U_ptr = NULL
    if U is not None:
        U_view = U
        U_ptr = &U_view[0, 0]
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("c0", (c0.shape[0], c0.shape[1]), (d.B, d.H), "(B, H)")
    cdef const floating *b_ih_ptr = data_or_null(b_ih, "b_ih", 4 * d.H, "(4H,)")
    cdef const floating *b_hh_ptr = data_or_null(b_hh, "b_hh", 4 * d.H, "(4H,)")
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = (fastrnn_lstm_forward_work_len(&d) if need_cache
                             else fastrnn_lstm_infer_work_len(&d))
    cdef bint every_c = need_cache or not last_c_only
    reserve("lstm_forward", dtype,
            int(d.T) * d.B * (6 if need_cache else 2 if every_c else 1) * d.H + d.B * d.H
            + work_len)
    s = np.empty((d.T, d.B, d.H), dtype=dtype)
    c = np.empty(((d.T,) if every_c else ()) + (d.B, d.H), dtype=dtype)
    gates = np.empty((d.T, d.B, 4 * d.H), dtype=dtype) if need_cache else None
    work = scratch(dtype, work_len)
    cdef floating[:, :, ::1] s_v = s
    cdef floating[::1] c_v = c.reshape(-1)
    cdef floating[:, :, ::1] gates_v
    cdef floating[::1] work_v = work
    cdef fastrnn_status status
    if not need_cache:
        with nogil:
            if floating is float:
                status = fastrnn_lstm_infer_f32(
                    &d, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0], b_ih_ptr,
                    b_hh_ptr, every_c, &s_v[0, 0, 0], &c_v[0], &work_v[0])
            else:
                status = fastrnn_lstm_infer_f64(
                    &d, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0], b_ih_ptr,
                    b_hh_ptr, every_c, &s_v[0, 0, 0], &c_v[0], &work_v[0])
        raise_for_status(status, "lstm_forward")
        return s, c, None
    gates_v = gates
    with nogil:
        if floating is float:
            status = fastrnn_lstm_forward_f32(
                &d, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                &s_v[0, 0, 0], &c_v[0], &gates_v[0, 0, 0], &work_v[0])
        else:
            status = fastrnn_lstm_forward_f64(
                &d, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0], b_ih_ptr, b_hh_ptr,
                &s_v[0, 0, 0], &c_v[0], &gates_v[0, 0, 0], &work_v[0])
    raise_for_status(status, "lstm_forward")
    return s, c, gates


def lstm_backward(const floating[:, :, ::1] x, const floating[:, ::1] s0,
                  const floating[:, ::1] c0, U, const floating[:, ::1] W,
                  const floating[:, :, ::1] s, const floating[:, :, ::1] c,
                  const floating[:, :, ::1] gates, const floating[:, :, ::1] ds,
                  const floating[:, :, ::1] dc, bint with_bias, truncate,
                  const floating[:, ::1] ds_last=None, const floating[:, ::1] dc_last=None):
    """(dx, ds0, dc0, dU, dW, db) of the forward call that produced s, c and gates; dc is
    a (T,B,H) array or None (zeros); ds_last and dc_last (B,H) or None are added to ds and
    dc at the last step; dU is None when U is None (dx is then the gradient on the
    projection); db (the gradient of b_ih and of b_hh) is None without bias.
    truncate < 0 is full BPTT."""
    cdef int64_t K = as_int64("truncate", truncate)
    cdef fastrnn_dims d = gated_dims_from((x.shape[0], x.shape[1], x.shape[2]),
                                          matrix_shape(U), (W.shape[0], W.shape[1]), 4)
    cdef const floating[:, ::1] U_view
    cdef const floating *U_ptr = NULL
    if U is not None:
        U_view = U
        U_ptr = &U_view[0, 0]
    expect_shape("s0", (s0.shape[0], s0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("c0", (c0.shape[0], c0.shape[1]), (d.B, d.H), "(B, H)")
    expect_shape("s", (s.shape[0], s.shape[1], s.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("c", (c.shape[0], c.shape[1], c.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    expect_shape("gates", (gates.shape[0], gates.shape[1], gates.shape[2]),
                 (d.T, d.B, 4 * d.H), "(T, B, 4H)")
    expect_shape("ds", (ds.shape[0], ds.shape[1], ds.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    cdef const floating *dc_ptr = NULL
    if dc is not None:
        expect_shape("dc", (dc.shape[0], dc.shape[1], dc.shape[2]), (d.T, d.B, d.H),
                     "(T, B, H)")
        dc_ptr = &dc[0, 0, 0]
    cdef const floating *ds_last_ptr = NULL
    cdef const floating *dc_last_ptr = NULL
    if ds_last is not None:
        expect_shape("ds_last", (ds_last.shape[0], ds_last.shape[1]), (d.B, d.H), "(B, H)")
        ds_last_ptr = &ds_last[0, 0]
    if dc_last is not None:
        expect_shape("dc_last", (dc_last.shape[0], dc_last.shape[1]), (d.B, d.H), "(B, H)")
        dc_last_ptr = &dc_last[0, 0]
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_lstm_backward_work_len(&d, K)
    reserve("lstm_backward", dtype,
            int(d.T) * d.B * d.D + int(d.H) * (2 * d.B + 4 * (d.D + d.H + 1)) + work_len)
    dx = np.empty((d.T, d.B, d.D), dtype=dtype)
    ds0 = np.empty((d.B, d.H), dtype=dtype)
    dc0 = np.empty((d.B, d.H), dtype=dtype)
    dU = np.empty((4 * d.H, d.D), dtype=dtype) if U is not None else None
    dW = np.empty((4 * d.H, d.H), dtype=dtype)
    db = np.empty((4 * d.H,), dtype=dtype) if with_bias else None
    work = scratch(dtype, work_len)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] ds0_v = ds0
    cdef floating[:, ::1] dc0_v = dc0
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
            status = fastrnn_lstm_backward_f32(
                &d, K, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0],
                &s[0, 0, 0], &c[0, 0, 0], &gates[0, 0, 0], &ds[0, 0, 0], dc_ptr,
                ds_last_ptr, dc_last_ptr,
                &dx_v[0, 0, 0], &ds0_v[0, 0], &dc0_v[0, 0], dU_ptr, &dW_v[0, 0], db_ptr,
                &work_v[0])
        else:
            status = fastrnn_lstm_backward_f64(
                &d, K, &x[0, 0, 0], &s0[0, 0], &c0[0, 0], U_ptr, &W[0, 0],
                &s[0, 0, 0], &c[0, 0, 0], &gates[0, 0, 0], &ds[0, 0, 0], dc_ptr,
                ds_last_ptr, dc_last_ptr,
                &dx_v[0, 0, 0], &ds0_v[0, 0], &dc0_v[0, 0], dU_ptr, &dW_v[0, 0], db_ptr,
                &work_v[0])
    raise_for_status(status, "lstm_backward")
    return dx, ds0, dc0, dU, dW, db
