/* Helpers shared by the gated cells' kernels, included by lstm.c and gru.c once per scalar
 * type, before lstm_impl.h or gru_impl.h, with
 *   real          the scalar type (float or double)
 *   FR_SUFFIX(n)  n with the type's suffix appended (n_f32 or n_f64)
 * G*H is the width of the stacked gates (4H for the LSTM, 3H for the GRU).
 * No include guard on purpose. */

#define GEMM FR_SUFFIX(fastrnn_gemm)

/* out = b_ih + b_hh over n elements, a NULL bias counting as zeros. */
static void FR_SUFFIX(bias_sum)(int64_t n, const real *restrict b_ih, const real *restrict b_hh,
                                real *restrict out) {
    for (int64_t i = 0; i < n; ++i) out[i] = (b_ih ? b_ih[i] : 0) + (b_hh ? b_hh[i] : 0);
}

/* a += b over n elements. */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(add_into)(int64_t n, const real *restrict b, real *restrict a) {
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

/* out = in * gate elementwise over rows of H, where row r of the gate starts at
 * gate + r * stride (one block of the stacked gates, e.g. f of the LSTM, z of the GRU).
 * out may be in itself, or in shifted down by whole rows (out = in - k*H, k > 0): each
 * element is read before it is written, so no restrict. */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(times_gate)(int64_t rows, int64_t H, int64_t stride, const real *gate,
                                  const real *in, real *out) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < H; ++j) out[r * H + j] = in[r * H + j] * gate[r * stride + j];
}

/* out (cols,rows) = a.T for a dense (rows,cols), in register tiles where the CPU allows
 * (fastrnn_transpose, stream_gemm.h): W.T for the BLAS path, and the transposes of every
 * step in the transposed domain, where scalar tiles took 4-5 % of a step at the large shape
 * (rows 4 KiB apart on one side). */
static void FR_SUFFIX(transpose)(int64_t rows, int64_t cols, const real *restrict a,
                                 real *restrict out) {
    FR_SUFFIX(fastrnn_transpose)(rows, cols, a, cols, out, rows);
}

/* C (M,N) = A (M,K) @ Bm (K,N), or C += it when accumulate, A the weights read in place
 * and every matrix dense (lda the only leading dimension apart): the stream kernel
 * (stream_gemm.h) when it has its SIMD version, else the BLAS (which packs A in memory of
 * its own, not in the caller's workspace). For the transposed domain of inference. */
static void FR_SUFFIX(stream_product)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                      const real *Bm, int accumulate, real *C) {
    if (fastrnn_stream_gemm_is_simd())
        FR_SUFFIX(fastrnn_stream_gemm)(M, N, K, A, lda, Bm, N, accumulate, C, N);
    else
        GEMM(0, 0, M, N, K, 1, A, lda, Bm, N, accumulate, C, N);
}

/* a.T (GH,B) = U @ x_t.T, the input term of every gate for one step in the transposed
 * domain, through x_T (D,B) of workspace; U NULL: x_t (B,GH) is the projection itself,
 * transposed straight into a_T. */
static void FR_SUFFIX(streamed_input)(int64_t B, int64_t D, int64_t GH, const real *restrict x_t,
                                      const real *restrict U, real *restrict x_T,
                                      real *restrict a_T) {
    if (U != NULL) {
        FR_SUFFIX(transpose)(B, D, x_t, x_T);
        FR_SUFFIX(stream_product)(GH, B, D, U, D, x_T, 0, a_T);
    } else {
        FR_SUFFIX(transpose)(B, GH, x_t, a_T);
    }
}

/* out = a.sum(axis=0) for a (rows, n) with leading dimension lda >= n, summed in blocks
 * of CELL_ROW_BLOCK rows into partial (n), so that float32 rounding grows with
 * rows / CELL_ROW_BLOCK + CELL_ROW_BLOCK, not with rows. */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(sum_rows)(int64_t rows, int64_t n, const real *restrict a, int64_t lda,
                                real *restrict partial, real *restrict out) {
    for (int64_t i = 0; i < n; ++i) out[i] = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += CELL_ROW_BLOCK) {
        const int64_t r1 = r0 + CELL_ROW_BLOCK < rows ? r0 + CELL_ROW_BLOCK : rows;
        for (int64_t i = 0; i < n; ++i) partial[i] = 0;
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < n; ++i) partial[i] += a[r * lda + i];
        for (int64_t i = 0; i < n; ++i) out[i] += partial[i];
    }
}

/* out = the column sums of a's rows, or out += them when accumulate (a later chunk of the
 * chunked BPTT): the chunk is summed on its own into sums (n), then added. (The LSTM's;
 * the GRU sums its bias gradients during its sweep.) */
CELL_MAYBE_UNUSED
static void FR_SUFFIX(sum_rows_into)(int64_t rows, int64_t n, const real *restrict a, int64_t lda,
                                     real *restrict partial, real *restrict sums, int accumulate,
                                     real *restrict out) {
    FR_SUFFIX(sum_rows)(rows, n, a, lda, partial, accumulate ? sums : out);
    if (accumulate) FR_SUFFIX(add_into)(n, sums, out);
}

/* gx = x @ U.T  (T*B, GH): every gate's input term for every step in one GEMM (the
 * biases are added step by step, in the cells' passes). U NULL means x is the projection
 * itself (D = GH). */
static void FR_SUFFIX(input_projection)(const fastrnn_dims *d, int64_t GH, const real *restrict x,
                                        const real *restrict U, real *restrict gx) {
    const int64_t rows = d->T * d->B;
    if (U != NULL)
        GEMM(0, 1, rows, GH, d->D, 1, x, d->D, U, d->D, 0, gx, GH);
    else /* an embedding lookup, say */
        memcpy(gx, x, (size_t)(rows * GH) * sizeof *gx);
}

/* The weight and input gradients, each one GEMM over all steps, from
 *   dgx (T,B,GH)  dL/d(U x_t + b_ih) of every step
 *   dgh (T,B,GH)  dL/d(W s_{t-1} + b_hh) (the same array as dgx for the LSTM)
 * and the forward's x (T,B,D), s0 (B,H), s (T,B,H), U (GH,D); dx overwritten, dU and dW
 * overwritten (accumulate = 0) or added to (accumulate = 1: T steps of a longer sequence,
 * with s0 the state before the first of them).
 * U NULL (x was the projection itself, D = GH): dx = dgx and dU is not written. */
static void FR_SUFFIX(weight_and_input_grads)(const fastrnn_dims *d, int64_t GH, const real *dgx,
                                              const real *dgh, const real *restrict x,
                                              const real *restrict s0, const real *restrict s,
                                              const real *restrict U, int accumulate,
                                              real *restrict dx, real *restrict dU,
                                              real *restrict dW) {
    const int64_t T = d->T, B = d->B, D = d->D, H = d->H;
    /* dW [+]= dgh_0.T @ s0 + dgh[1:].T @ s[:-1]  (GH, H); one GEMM when s0 is the row
     * block just before s (steps inside a longer sequence) */
    if (s0 + B * H == s) {
        GEMM(1, 0, GH, H, T * B, 1, dgh, GH, s0, H, accumulate, dW, H);
    } else {
        GEMM(1, 0, GH, H, B, 1, dgh, GH, s0, H, accumulate, dW, H);
        if (T > 1) GEMM(1, 0, GH, H, (T - 1) * B, 1, dgh + B * GH, GH, s, H, 1, dW, H);
    }
    if (U == NULL) { /* x entered the gates as is */
        memcpy(dx, dgx, (size_t)(T * B * GH) * sizeof *dx);
        return;
    }
    /* dU [+]= dgx.T @ x  (GH, D), over all T*B rows */
    GEMM(1, 0, GH, D, T * B, 1, dgx, GH, x, D, accumulate, dU, D);
    /* dx = dgx @ U  (T*B, D) */
    GEMM(0, 0, T * B, D, GH, 1, dgx, GH, U, D, 0, dx, D);
}

#undef GEMM
