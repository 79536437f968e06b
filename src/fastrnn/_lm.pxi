# Included by _kernels.pyx: the language-model kernels (csrc/lm.c), the embedding lookup
# of token input and the output layer softmax(V s_t + c) fused with its cross-entropy.

_REDUCTIONS = {"mean": FASTRNN_REDUCE_MEAN, "sum": FASTRNN_REDUCE_SUM}


cdef check_ids(str name, const int64_t[:, ::1] ids, int64_t size, str letter):
    """Raises ValueError unless every id lies in [0, size): the kernels index with them
    (and refuse them too, but with a status instead of this message)."""
    cdef Py_ssize_t t, n
    cdef int64_t lo = ids[0, 0], hi = ids[0, 0]
    with nogil:
        for t in range(ids.shape[0]):
            for n in range(ids.shape[1]):
                lo = min(lo, ids[t, n])
                hi = max(hi, ids[t, n])
    if lo < 0 or hi >= size:
        raise ValueError(f"{name} must lie in [0, {letter}) = [0, {size}); got values from "
                         f"{lo} to {hi}")


cdef fastrnn_dims embedding_dims(tuple ids_shape, Py_ssize_t D, Py_ssize_t H) except *:
    """T, B from ids (T, B); D the vocabulary size, H the hidden size; all >= 1."""
    cdef fastrnn_dims d
    d.T, d.B = ids_shape
    d.D = D
    d.H = H
    if d.T < 1 or d.B < 1:
        raise ValueError(f"ids must have shape (T, B) with T, B >= 1; got {ids_shape}")
    if d.D < 1 or d.H < 1:
        raise ValueError(f"the vocabulary size D and hidden size H must be >= 1; got D = {D}, "
                         f"H = {H}")
    if d.D > FASTRNN_MAX_GEMM_DIM or d.H > FASTRNN_MAX_GEMM_DIM or \
            d.T * d.B > FASTRNN_MAX_GEMM_DIM:
        raise ValueError(f"sizes T*B = {d.T * d.B}, D = {d.D}, H = {d.H} exceed the BLAS "
                         f"limit {FASTRNN_MAX_GEMM_DIM}; split the batch or the sequence")
    return d


cdef fastrnn_softmax_dims softmax_dims(tuple s_shape, tuple V_shape) except *:
    """T, B, H from s (T, B, H) and K from V (K, H); all >= 1."""
    cdef fastrnn_softmax_dims d
    d.T, d.B, d.H = s_shape
    d.K = V_shape[0]
    if d.T < 1 or d.B < 1 or d.H < 1:
        raise ValueError(f"s must have shape (T, B, H) with T, B, H >= 1; got {s_shape}")
    if d.K < 1:
        raise ValueError(f"V must have shape (K, H) with K >= 1; got {V_shape}")
    expect_shape("V", V_shape, (d.K, d.H), "(K, H)")
    if d.H > FASTRNN_MAX_GEMM_DIM or d.K > FASTRNN_MAX_GEMM_DIM or \
            d.T * d.B > FASTRNN_MAX_GEMM_DIM:
        raise ValueError(f"sizes T*B = {d.T * d.B}, H = {d.H}, K = {d.K} exceed the BLAS "
                         f"limit {FASTRNN_MAX_GEMM_DIM}; split the batch or the sequence")
    return d


def embedding_forward(const int64_t[:, ::1] ids, const floating[:, ::1] U):
    """x (T,B,H) = U[:, ids] time-major, for ids (T,B) in [0, D) and U (H,D)."""
    cdef fastrnn_dims d = embedding_dims((ids.shape[0], ids.shape[1]), U.shape[1], U.shape[0])
    check_ids("ids", ids, d.D, "D")
    dtype = np.float32 if floating is float else np.float64
    reserve("embedding_forward", dtype, int(d.T) * d.B * d.H)
    x = np.empty((d.T, d.B, d.H), dtype=dtype)
    cdef floating[:, :, ::1] x_v = x
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_embedding_forward_f32(&d, &ids[0, 0], &U[0, 0], &x_v[0, 0, 0])
        else:
            status = fastrnn_embedding_forward_f64(&d, &ids[0, 0], &U[0, 0], &x_v[0, 0, 0])
    raise_for_status(status, "embedding_forward")
    return x


def embedding_backward(const floating[:, :, ::1] dx, const int64_t[:, ::1] ids, D, out=None):
    """dU (H,D): dx (T,B,H) scatter-added into the columns of ids (T,B); written into out,
    a C-contiguous (H,D) array of dx's dtype overlapping neither dx nor ids, when given."""
    cdef fastrnn_dims d = embedding_dims((ids.shape[0], ids.shape[1]), as_int64("D", D),
                                         dx.shape[2])
    expect_shape("dx", (dx.shape[0], dx.shape[1], dx.shape[2]), (d.T, d.B, d.H), "(T, B, H)")
    check_ids("ids", ids, d.D, "D")
    dtype = np.float32 if floating is float else np.float64
    if out is None:
        reserve("embedding_backward", dtype, int(d.H) * d.D)
        dU = np.empty((d.H, d.D), dtype=dtype)
    else:
        dU = out
        expect_shape("out", dU.shape, (d.H, d.D), "(H, D)")
        if np.may_share_memory(dU, np.asarray(dx)) or np.may_share_memory(dU, np.asarray(ids)):
            raise ValueError("out must overlap neither dx nor ids")
    cdef floating[:, ::1] dU_v = dU
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_embedding_backward_f32(&d, &dx[0, 0, 0], &ids[0, 0], &dU_v[0, 0])
        else:
            status = fastrnn_embedding_backward_f64(&d, &dx[0, 0, 0], &ids[0, 0], &dU_v[0, 0])
    raise_for_status(status, "embedding_backward")
    return dU


def softmax_forward(const floating[:, :, ::1] s, const floating[:, ::1] V, c):
    """probs (T,B,K) = softmax(s @ V.T + c); c is a (K,) array or None."""
    cdef fastrnn_softmax_dims d = softmax_dims((s.shape[0], s.shape[1], s.shape[2]),
                                               (V.shape[0], V.shape[1]))
    cdef const floating[::1] c_view
    cdef const floating *c_ptr = NULL
    if c is not None:
        c_view = c
        expect_shape("c", (c_view.shape[0],), (d.K,), "(K,)")
        c_ptr = &c_view[0]
    dtype = np.float32 if floating is float else np.float64
    reserve("softmax_forward", dtype, int(d.T) * d.B * d.K)
    probs = np.empty((d.T, d.B, d.K), dtype=dtype)
    cdef floating[:, :, ::1] p_v = probs
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_softmax_forward_f32(&d, &s[0, 0, 0], &V[0, 0], c_ptr, &p_v[0, 0, 0])
        else:
            status = fastrnn_softmax_forward_f64(&d, &s[0, 0, 0], &V[0, 0], c_ptr, &p_v[0, 0, 0])
    raise_for_status(status, "softmax_forward")
    return probs


def softmax_loss(const floating[:, :, ::1] s, const floating[:, ::1] V, c,
                 const int64_t[:, ::1] targets, mask, str reduction, dV_out=None):
    """(loss, ds, dV, dc) of the cross-entropy of softmax(s @ V.T + c) against targets (T,B)
    in [0, K); mask is a (T,B) uint8 array (0 = ignored) or None; dc is None when c is.
    dV is written into dV_out, a C-contiguous (K,H) array of s's dtype overlapping no
    input, when given."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    cdef fastrnn_reduction r = _REDUCTIONS[reduction]
    cdef fastrnn_softmax_dims d = softmax_dims((s.shape[0], s.shape[1], s.shape[2]),
                                               (V.shape[0], V.shape[1]))
    expect_shape("targets", (targets.shape[0], targets.shape[1]), (d.T, d.B), "(T, B)")
    check_ids("targets", targets, d.K, "K")
    cdef const floating[::1] c_view
    cdef const floating *c_ptr = NULL
    if c is not None:
        c_view = c
        expect_shape("c", (c_view.shape[0],), (d.K,), "(K,)")
        c_ptr = &c_view[0]
    cdef const uint8_t[:, ::1] mask_view
    cdef const uint8_t *mask_ptr = NULL
    if mask is not None:
        mask_view = mask
        expect_shape("mask", (mask_view.shape[0], mask_view.shape[1]), (d.T, d.B), "(T, B)")
        mask_ptr = &mask_view[0, 0]
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_softmax_loss_work_len(&d)
    if dV_out is not None:
        expect_shape("dV_out", dV_out.shape, (d.K, d.H), "(K, H)")
        for given in (np.asarray(s), np.asarray(V), c, np.asarray(targets), mask):
            if given is not None and np.may_share_memory(dV_out, given):
                raise ValueError("dV_out must overlap none of s, V, c, targets, mask")
    reserve("softmax_loss", dtype, int(d.T) * d.B * d.H + int(d.K) * (d.H + 1) + work_len)
    ds = np.empty((d.T, d.B, d.H), dtype=dtype)
    dV = np.empty((d.K, d.H), dtype=dtype) if dV_out is None else dV_out
    dc = np.empty((d.K,), dtype=dtype) if c is not None else None
    work = np.empty((work_len,), dtype=dtype)
    cdef floating[:, :, ::1] ds_v = ds
    cdef floating[:, ::1] dV_v = dV
    cdef floating[::1] dc_v
    cdef floating *dc_ptr = NULL
    if c is not None:
        dc_v = dc
        dc_ptr = &dc_v[0]
    cdef floating[::1] work_v = work
    cdef double loss = 0
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_softmax_loss_f32(
                &d, r, &s[0, 0, 0], &V[0, 0], c_ptr, &targets[0, 0], mask_ptr, &loss,
                &ds_v[0, 0, 0], &dV_v[0, 0], dc_ptr, &work_v[0])
        else:
            status = fastrnn_softmax_loss_f64(
                &d, r, &s[0, 0, 0], &V[0, 0], c_ptr, &targets[0, 0], mask_ptr, &loss,
                &ds_v[0, 0, 0], &dV_v[0, 0], dc_ptr, &work_v[0])
    raise_for_status(status, "softmax_loss")
    return loss, ds, dV, dc


cdef inline bint _overlap(const void *a, Py_ssize_t a_bytes, const void *b, Py_ssize_t b_bytes):
    """Whether two byte ranges overlap (np.may_share_memory's bounds test)."""
    cdef const char *pa = <const char *>a
    cdef const char *pb = <const char *>b
    return pa < pb + b_bytes and pb < pa + a_bytes


def tutorial_bptt(const int64_t[:, ::1] ids, const int64_t[:, ::1] targets,
                  const floating[:, ::1] U, const floating[:, ::1] V, const floating[:, ::1] W,
                  truncate, dU_out=None, dV_out=None):
    """(loss, dU, dV, dW) of compat.RNNNumpy.bptt in one C call (fastrnn_tutorial_bptt):
    ids, targets (T,B) in [0, D), U (H,D), V (D,H), W (H,H) of one dtype; truncate an int
    (< 0: zero dU and dW; clipped to T). dU and dV are written into dU_out, dV_out when
    given: C-contiguous writable arrays of the shape and dtype, overlapping no input."""
    cdef fastrnn_dims d = embedding_dims((ids.shape[0], ids.shape[1]), U.shape[1], U.shape[0])
    expect_shape("targets", (targets.shape[0], targets.shape[1]), (d.T, d.B), "(T, B)")
    expect_shape("V", (V.shape[0], V.shape[1]), (d.D, d.H), "(D, H)")
    expect_shape("W", (W.shape[0], W.shape[1]), (d.H, d.H), "(H, H)")
    check_ids("ids", ids, d.D, "D")
    check_ids("targets", targets, d.D, "D")
    try:
        window = operator.index(truncate)
    except TypeError:
        raise TypeError(f"truncate must be an int; got {truncate!r}") from None
    cdef int64_t K = max(-1, min(window, d.T))  # every K >= T - 1 is exact BPTT
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t work_len = fastrnn_tutorial_bptt_work_len(&d, K)
    reserve("tutorial_bptt", dtype, 2 * int(d.H) * d.D + int(d.H) * d.H + work_len)
    dU = np.empty((d.H, d.D), dtype=dtype) if dU_out is None else dU_out
    dV = np.empty((d.D, d.H), dtype=dtype) if dV_out is None else dV_out
    cdef floating[:, ::1] dU_v = dU
    cdef floating[:, ::1] dV_v = dV
    expect_shape("dU_out", (dU_v.shape[0], dU_v.shape[1]), (d.H, d.D), "(H, D)")
    expect_shape("dV_out", (dV_v.shape[0], dV_v.shape[1]), (d.D, d.H), "(D, H)")
    cdef Py_ssize_t item = sizeof(floating), n_ids = d.T * d.B * sizeof(int64_t)
    cdef Py_ssize_t u_bytes = d.H * d.D * item, w_bytes = d.H * d.H * item
    cdef const void *inputs[5]
    cdef Py_ssize_t sizes[5]
    inputs[0], inputs[1], inputs[2], inputs[3], inputs[4] = \
        &ids[0, 0], &targets[0, 0], &U[0, 0], &V[0, 0], &W[0, 0]
    sizes[0], sizes[1], sizes[2], sizes[3], sizes[4] = n_ids, n_ids, u_bytes, u_bytes, w_bytes
    cdef int i
    for i in range(5):
        if _overlap(&dU_v[0, 0], u_bytes, inputs[i], sizes[i]) or \
                _overlap(&dV_v[0, 0], u_bytes, inputs[i], sizes[i]):
            raise ValueError("dU_out and dV_out must overlap none of ids, targets, U, V, W")
    if _overlap(&dU_v[0, 0], u_bytes, &dV_v[0, 0], u_bytes):
        raise ValueError("dU_out and dV_out must not overlap")
    dW = np.empty((d.H, d.H), dtype=dtype)
    work = np.empty((work_len,), dtype=dtype)
    cdef floating[:, ::1] dW_v = dW
    cdef floating[::1] work_v = work
    cdef double loss = 0
    cdef fastrnn_status status
    with nogil:
        if floating is float:
            status = fastrnn_tutorial_bptt_f32(
                &d, K, &ids[0, 0], &targets[0, 0], &U[0, 0], &V[0, 0], &W[0, 0], &loss,
                &dU_v[0, 0], &dV_v[0, 0], &dW_v[0, 0], &work_v[0])
        else:
            status = fastrnn_tutorial_bptt_f64(
                &d, K, &ids[0, 0], &targets[0, 0], &U[0, 0], &V[0, 0], &W[0, 0], &loss,
                &dU_v[0, 0], &dV_v[0, 0], &dW_v[0, 0], &work_v[0])
    raise_for_status(status, "tutorial_bptt")
    return loss, dU, dV, dW
