# Included by _kernels.pyx: what the gated cells' bindings (_lstm.pxi, _gru.pxi) share.
import threading

from libc.stdint cimport INT64_MAX

# Each thread's last workspace per dtype, reused by its next call when large enough: a
# fresh one every call is fresh pages for the kernel to fault in (glibc trims the heap
# once the freed top exceeds its threshold), about 90 us of a 640 us LSTM training step at
# T=50, B=1, H=100. Only workspaces up to _SCRATCH_MAX_BYTES are kept, so a large call
# leaves no large buffer behind (its page faults are a negligible share of its work).
_scratch = threading.local()
_SCRATCH_MAX_BYTES = 8 << 20


cdef object scratch(dtype, int64_t n):
    """A (n,) array of dtype with undefined contents, for a kernel's workspace; the same
    memory again on this thread's later calls, so never to be returned to the caller."""
    key = np.dtype(dtype).char
    cached = getattr(_scratch, key, None)
    if cached is not None and cached.shape[0] >= n:
        return cached[:n]
    work = np.empty((n,), dtype=dtype)
    if n * work.itemsize <= _SCRATCH_MAX_BYTES:
        setattr(_scratch, key, work)
    return work


def release_workspaces():
    """Drop this thread's cached workspaces, so that the next call allocates (and counts)
    its own: for measurements of one call's working memory (benches/bench_memory.py)."""
    _scratch.__dict__.clear()


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
