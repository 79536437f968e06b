# Included by _kernels.pyx: generation (csrc/generate.c), the sampling loop of RNNLM.sample
# for one stream in one C call (issue 7).
from cpython.mem cimport PyMem_Free, PyMem_Malloc

_CELLS = {"rnn": FASTRNN_CELL_RNN, "lstm": FASTRNN_CELL_LSTM, "gru": FASTRNN_CELL_GRU}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


cdef int weight_pointers(str name, list arrays, tuple first_shape, tuple other_shape,
                         str first_letters, str other_letters, const floating **out,
                         list keep) except -1:
    """out[k] = the data of arrays[k], each a C-contiguous matrix of the call's dtype shaped
    first_shape (k = 0) or other_shape; keep holds the buffers for the call."""
    cdef const floating[:, ::1] m
    for k, a in enumerate(arrays):
        m = a
        want = first_shape if k == 0 else other_shape
        expect_shape(f"{name}[{k}]", (m.shape[0], m.shape[1]), want,
                     first_letters if k == 0 else other_letters)
        out[k] = &m[0, 0]
        keep.append(m)
    return 0


cdef int bias_pointers(str name, list arrays, int64_t n, const floating **out,
                       list keep) except -1:
    """out[k] = the data of arrays[k], each a C-contiguous (n,) vector of the call's dtype."""
    cdef const floating[::1] v
    for k, a in enumerate(arrays):
        v = a
        expect_shape(f"{name}[{k}]", (v.shape[0],), (n,), "(G*H,)")
        out[k] = &v[0]
        keep.append(v)
    return 0


cdef check_prime(const int64_t[::1] prime, int64_t K):
    """Raises ValueError unless every id of the prime (P >= 1) lies in [0, K)."""
    cdef Py_ssize_t t
    cdef int64_t lo = prime[0], hi = prime[0]
    with nogil:
        for t in range(prime.shape[0]):
            lo = min(lo, prime[t])
            hi = max(hi, prime[t])
    if lo < 0 or hi >= K:
        raise ValueError(f"prime must lie in [0, K) = [0, {K}); got values from {lo} to {hi}")


def generate(str cell, str nonlinearity, list U, list W, b_ih, b_hh,
             const floating[:, ::1] V not None, c, const floating[:, :, ::1] h not None,
             c_state, prime, const double[::1] u not None, top_k):
    """Run the prime (int64 (P,) ids, or None) from the state h (L, 1, H) (and the LSTM's
    c_state, likewise), then draw len(u) tokens (fastrnn_generate_*).

    U, W (and the biases, or None) are lists of L arrays: U[0] (G*H, K), U[k] (G*H, H),
    W[k] (G*H, H), b (G*H,) (the vanilla RNN's b_ih is b_ih + b_hh, and b_hh is not read);
    V (K, H) and c (K,) or None, already divided by the temperature; u float64 in [0, 1);
    top_k an int >= 1 or None. Returns (ids, drawn, probs, h_n, c_n): ids (len(u),) int64
    whose first `drawn` entries are the tokens drawn (fewer than len(u) when token `drawn`
    is left to the caller: non-finite probabilities, a top_k cut inside a tie), the
    probabilities (K,) of the last token considered, and the state (copies) that gave them,
    c_n None but for the LSTM."""
    if cell not in _CELLS:
        raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru'; got {cell!r}")
    cdef fastrnn_generate_dims d
    d.cell = _CELLS[cell]
    d.f = nonlinearity_code(nonlinearity)
    cdef int64_t G = _GATES[cell]
    d.L = len(W)
    d.K = V.shape[0]
    d.H = V.shape[1]
    if d.L < 1 or d.K < 1 or d.H < 1:
        raise ValueError(f"need at least one layer and V (K, H) with K, H >= 1; got {d.L} "
                         f"layers and V of shape {(V.shape[0], V.shape[1])}")
    if d.K > FASTRNN_MAX_GEMM_DIM or G * d.H > FASTRNN_MAX_GEMM_DIM:
        raise ValueError(f"sizes K = {d.K}, G*H = {G * d.H} exceed the BLAS limit "
                         f"{FASTRNN_MAX_GEMM_DIM}")
    cdef const int64_t[::1] prime_v
    cdef const int64_t *prime_ptr = NULL
    d.P = 0
    if prime is not None:
        prime_v = prime
        d.P = prime_v.shape[0]
        if d.P > FASTRNN_MAX_GEMM_DIM:
            raise ValueError(f"the prime's {d.P} tokens exceed the BLAS limit "
                             f"{FASTRNN_MAX_GEMM_DIM}; run it in pieces")
        if d.P > 0:
            check_prime(prime_v, d.K)
            prime_ptr = &prime_v[0]
    d.top_k = 0 if top_k is None else as_int64("top_k", top_k)
    if d.top_k < 0 or (top_k is not None and d.top_k == 0):
        raise ValueError(f"top_k must be an int >= 1 or None; got {top_k!r}")
    if len(U) != d.L:
        raise ValueError(f"U must hold one matrix per layer, {d.L}; got {len(U)}")
    gated = cell != "rnn"
    if (b_ih is None) != (b_hh is None) and gated:
        raise ValueError("b_ih and b_hh must both be lists of L vectors or both None")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh if gated else None)):
        if b is not None and len(b) != d.L:
            raise ValueError(f"{name} must hold one vector per layer, {d.L}; got {len(b)}")
    dtype = np.float32 if floating is float else np.float64
    expect_shape("h", (h.shape[0], h.shape[1], h.shape[2]), (d.L, 1, d.H), "(L, 1, H)")
    cdef const floating[:, :, ::1] c_view
    cdef floating[:, :, ::1] c_out_v
    cdef floating *c_state_ptr = NULL
    c_n = None
    if cell == "lstm":
        if c_state is None:
            raise ValueError("the LSTM needs its cell state c_state (L, 1, H)")
        c_view = c_state
        expect_shape("c_state", (c_view.shape[0], c_view.shape[1], c_view.shape[2]),
                     (d.L, 1, d.H), "(L, 1, H)")
        c_n = np.array(c_view, dtype=dtype)  # copies, so nothing the kernel reads aliases them
        c_out_v = c_n
        c_state_ptr = &c_out_v[0, 0, 0]
    h_n = np.array(h, dtype=dtype)
    cdef floating[:, :, ::1] h_out_v = h_n
    cdef const floating[::1] c_bias
    cdef const floating *c_ptr = NULL
    if c is not None:
        c_bias = c
        expect_shape("c", (c_bias.shape[0],), (d.K,), "(K,)")
        c_ptr = &c_bias[0]
    cdef int64_t length = u.shape[0], i
    for i in range(length):
        if not (0 <= u[i] < 1):
            raise ValueError(f"u must lie in [0, 1); got u[{i}] = {u[i]}")
    cdef int64_t work_len = fastrnn_generate_work_len(&d)
    cdef int64_t draw_len = fastrnn_generate_draw_work_len(&d)
    if work_len == 0:
        raise ValueError(f"sizes P = {d.P}, G*H = {G * d.H} are too large for a workspace")
    reserve("generate", dtype, int(work_len) + d.K + 2 * int(draw_len) + length)
    ids = np.zeros(length, dtype=np.int64)
    cdef int64_t[::1] ids_v = ids
    probs = np.zeros(d.K, dtype=dtype)
    work = np.empty(work_len, dtype=dtype)
    draw_work = np.empty(draw_len, dtype=np.float64)
    cdef floating[::1] probs_v = probs, work_v = work
    cdef double[::1] draw_v = draw_work
    cdef const double *u_ptr = &u[0] if length > 0 else NULL
    cdef int64_t *ids_ptr = &ids_v[0] if length > 0 else NULL

    keep = []  # the buffers behind the pointers, held for the call
    cdef const floating **ptrs = <const floating **>PyMem_Malloc(4 * d.L * sizeof(floating *))
    if ptrs == NULL:
        raise MemoryError()
    cdef fastrnn_lm_f32 lm32
    cdef fastrnn_lm_f64 lm64
    cdef int64_t drawn = 0
    cdef fastrnn_status status
    try:
        weight_pointers("U", U, (G * d.H, d.K), (G * d.H, d.H), "(G*H, K)", "(G*H, H)",
                        ptrs, keep)
        weight_pointers("W", W, (G * d.H, d.H), (G * d.H, d.H), "(G*H, H)", "(G*H, H)",
                        ptrs + d.L, keep)
        if b_ih is not None:
            bias_pointers("b_ih", b_ih, G * d.H, ptrs + 2 * d.L, keep)
        if b_hh is not None and gated:
            bias_pointers("b_hh", b_hh, G * d.H, ptrs + 3 * d.L, keep)
        if floating is float:
            lm32.U, lm32.W = ptrs, ptrs + d.L
            lm32.b_ih = ptrs + 2 * d.L if b_ih is not None else NULL
            lm32.b_hh = ptrs + 3 * d.L if b_ih is not None and gated else NULL
            lm32.V, lm32.c = &V[0, 0], c_ptr
            with nogil:
                status = fastrnn_generate_f32(&d, &lm32, prime_ptr, length, u_ptr,
                                              &h_out_v[0, 0, 0], c_state_ptr, ids_ptr, &drawn,
                                              &probs_v[0], &work_v[0], &draw_v[0])
        else:
            lm64.U, lm64.W = ptrs, ptrs + d.L
            lm64.b_ih = ptrs + 2 * d.L if b_ih is not None else NULL
            lm64.b_hh = ptrs + 3 * d.L if b_ih is not None and gated else NULL
            lm64.V, lm64.c = &V[0, 0], c_ptr
            with nogil:
                status = fastrnn_generate_f64(&d, &lm64, prime_ptr, length, u_ptr,
                                              &h_out_v[0, 0, 0], c_state_ptr, ids_ptr, &drawn,
                                              &probs_v[0], &work_v[0], &draw_v[0])
    finally:
        PyMem_Free(ptrs)
    raise_for_status(status, "generate")
    return ids, drawn, probs, h_n, c_n
