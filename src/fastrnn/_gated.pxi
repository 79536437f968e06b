# Included by _kernels.pyx: what the gated cells' bindings (_lstm.pxi, _gru.pxi) share.
from libc.stdint cimport INT64_MAX


cdef tuple matrix_shape(object M):
    """(rows, cols) of a 2-d array, or None for None; TypeError for a non-array, ValueError
    for any other rank."""
    if M is None:
        return None
    if not isinstance(M, np.ndarray):
        raise TypeError(f"U must be a 2-d array or None; got {type(M).__name__}")
    shape = tuple(M.shape)
    if len(shape) != 2:
        raise ValueError(f"U must be a 2-d array (rows, D); got shape {shape}")
    return shape


cdef fastrnn_dims gated_dims_from(tuple x_shape, tuple U_shape, tuple W_shape,
                                  int G) except *:
    """The dims of a call with x (T, B, D), U (G*H, D) and W (G*H, H), G gates stacked;
    U_shape None means U is None: x is the input projection, (T, B, G*H)."""
    cdef fastrnn_dims d
    d.T, d.B, d.D = x_shape
    if d.T < 1 or d.B < 1 or d.D < 1:
        raise ValueError(f"x must have shape (T, B, D) with T, B, D >= 1; got {x_shape}")
    d.H = W_shape[1]
    if d.H < 1:
        raise ValueError(f"W must have shape ({G}H, H) with H >= 1; got {W_shape}")
    expect_shape("W", W_shape, (G * d.H, d.H), f"({G}H, H)")
    if U_shape is None:
        expect_shape("x (U is None)", x_shape, (d.T, d.B, G * d.H), f"(T, B, {G}H)")
    else:
        expect_shape("U", U_shape, (G * d.H, d.D), f"({G}H, D)")
    rows, width = int(d.T) * int(d.B), G * int(d.H)
    if d.D > FASTRNN_MAX_GEMM_DIM or width > FASTRNN_MAX_GEMM_DIM or \
            rows > FASTRNN_MAX_GEMM_DIM or rows * width > INT64_MAX // 16:
        raise ValueError(f"sizes T*B = {rows}, D = {d.D}, {G}H = {width} exceed the BLAS "
                         f"limit {FASTRNN_MAX_GEMM_DIM}; split the batch or the sequence")
    return d
