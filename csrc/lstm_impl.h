/* Body of the LSTM kernels, included by lstm.c once per scalar type after cells_impl.h,
 * with real and FR_SUFFIX as there. No include guard on purpose. */

#define GEMM FR_SUFFIX(fastrnn_gemm)
#define PACK FR_SUFFIX(fastrnn_pack)
#define PACKED_GEMM FR_SUFFIX(fastrnn_packed_gemm)

/* One step of the cell for B rows, in one pass over each row: the two biases' sum is
 * added here rather than in a pass of its own over all T*B rows, and the activations are
 * inlined (activations.h), so that one vectorized loop reads each pre-activation once:
 *   a (B,4H)      in: pre-activations less the bias; out: gate values i, f, g, o
 *   bias (4H)     in: b_ih + b_hh
 *   c_prev (B,H)  in
 *   c, s (B,H)    out:  c = f * c_prev + i * g,  s = o * tanh(c) */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(lstm_step_forward)(int64_t B, int64_t H, const real *restrict bias,
                                         real *restrict a, const real *restrict c_prev,
                                         real *restrict c, real *restrict s) {
    const real *b_i = bias, *b_f = bias + H, *b_g = bias + 2 * H, *b_o = bias + 3 * H;
    for (int64_t n = 0; n < B; ++n) {
        real *i = a + n * 4 * H, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const real *cp = c_prev + n * H;
        real *cn = c + n * H, *sn = s + n * H;
        for (int64_t j = 0; j < H; ++j) {
            const real i_j = FR_SUFFIX(sigmoid_one)(i[j] + b_i[j]);
            const real f_j = FR_SUFFIX(sigmoid_one)(f[j] + b_f[j]);
            const real g_j = FR_SUFFIX(tanh_one)(g[j] + b_g[j]);
            const real o_j = FR_SUFFIX(sigmoid_one)(o[j] + b_o[j]);
            const real c_j = f_j * cp[j] + i_j * g_j;
            i[j] = i_j, f[j] = f_j, g[j] = g_j, o[j] = o_j;
            cn[j] = c_j;
            sn[j] = o_j * FR_SUFFIX(tanh_one)(c_j);
        }
    }
}

/* Where lstm_forward_chunks writes c_t: row block t of c (T,B,H), or, with c_spare (B,H),
 * c for t = T-1, T-3, ... and c_spare for the steps between, so that c_t and c_{t-1} never
 * share a buffer and c_T ends in c. */
static real *FR_SUFFIX(lstm_c_step)(int64_t T, int64_t t, int64_t step, real *c, real *c_spare) {
    if (c_spare == NULL) return c + t * step;
    return (T - 1 - t) % 2 == 0 ? c : c_spare;
}

/* The forward pass, projecting the input chunk_steps steps at a time:
 *   gates (T,B,4H)  the caller's array, which receives the gate values of every step
 *                   (chunk_steps = T: one projection GEMM over all T*B rows), or NULL:
 *   chunk           then (chunk_steps,B,4H) of workspace, reused by every chunk, so that
 *                   inference keeps no gates beyond a few steps' worth.
 *   c               (T,B,H) every cell state, or, when c_spare is not NULL, (B,H) c_T only:
 *   c_spare         then (B,H) of workspace; the steps alternate between c and c_spare,
 *                   the last one landing in c, so that no more of c is held.
 * Each chunk's projection is still a GEMM over chunk_steps*B rows; then the recurrent
 * term and the bias step by step as before. */
static void FR_SUFFIX(lstm_forward_chunks)(
    const fastrnn_dims *dims, int64_t chunk_steps, const real *restrict x, const real *restrict s0,
    const real *restrict c0, const real *restrict U, const real *restrict W,
    const real *restrict b_ih, const real *restrict b_hh, real *restrict s, real *restrict c,
    real *restrict c_spare, real *restrict gates, real *restrict chunk, real *restrict work) {
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 4 * H;
    const int64_t step = B * H;
    const int packed = cell_uses_packed(dims);
    real *W_T = work, *bias = work + cell_pack_len(H, G); /* W.T (H, 4H), packed or not; 4H */

    /* W_T = W.T packed for the per-step products, or plain, so that the BLAS product of
     * every step takes no transposed operand, which OpenBLAS packs at about half the speed
     * for these shapes */
    const int transposed = !packed && B > 1; /* one row: a GEMV reads W as it is */
    if (packed)
        PACK(1, H, G, W, H, W_T);
    else if (transposed)
        FR_SUFFIX(transpose)(G, H, W, W_T);
    FR_SUFFIX(bias_sum)(G, b_ih, b_hh, bias);

    for (int64_t t0 = 0; t0 < T; t0 += chunk_steps) {
        fastrnn_dims part = *dims; /* steps t0 .. t0 + part.T - 1 */
        part.T = T - t0 < chunk_steps ? T - t0 : chunk_steps;
        real *a0 = gates != NULL ? gates + t0 * B * G : chunk;
        /* a0 = x[t0:t0+part.T] @ U.T  (part.T*B, 4H), then the recurrent term and the bias
         * step by step */
        FR_SUFFIX(input_projection)(&part, G, x + t0 * B * dims->D, U, a0);
        for (int64_t t = t0; t < t0 + part.T; ++t) {
            const real *s_prev = t > 0 ? s + (t - 1) * step : s0;
            real *c_t = FR_SUFFIX(lstm_c_step)(T, t, step, c, c_spare);
            const real *c_prev = t > 0 ? FR_SUFFIX(lstm_c_step)(T, t - 1, step, c, c_spare) : c0;
            real *a = a0 + (t - t0) * B * G;
            /* a += s_{t-1} @ W_T  (B, 4H): all four gates in one GEMM */
            if (packed)
                PACKED_GEMM(B, G, H, s_prev, H, W_T, 1, a, G);
            else if (transposed)
                GEMM(0, 0, B, G, H, 1, s_prev, H, W_T, G, 1, a, G);
            else
                GEMM(0, 1, B, G, H, 1, s_prev, H, W, H, 1, a, G);
            FR_SUFFIX(lstm_step_forward)(B, H, bias, a, c_prev, c_t, s + t * step);
        }
    }
}

/* One step of the cell in the transposed domain (lstm_infer_streamed), the batch on the
 * columns, so that the vectorized loop runs along the B columns of each gate's row:
 *   a (4H,B)    in: pre-activations less the bias (rows i, f, g, o); contents undefined after
 *   bias (4H)   in: b_ih + b_hh, one value per row
 *   c (H,B)     in/out: c_{t-1}.T, then c_t.T = f * c_{t-1} + i * g
 *   h (H,B)     out: s_t.T = o * tanh(c_t) */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(lstm_step_streamed)(int64_t B, int64_t H, const real *restrict bias,
                                          const real *restrict a, real *restrict c,
                                          real *restrict h) {
    for (int64_t j = 0; j < H; ++j) {
        const real *i = a + j * B, *f = a + (H + j) * B, *g = a + (2 * H + j) * B;
        const real *o = a + (3 * H + j) * B;
        const real b_i = bias[j], b_f = bias[H + j], b_g = bias[2 * H + j], b_o = bias[3 * H + j];
        real *c_j = c + j * B, *h_j = h + j * B;
        for (int64_t n = 0; n < B; ++n) {
            const real i_n = FR_SUFFIX(sigmoid_one)(i[n] + b_i);
            const real f_n = FR_SUFFIX(sigmoid_one)(f[n] + b_f);
            const real g_n = FR_SUFFIX(tanh_one)(g[n] + b_g);
            const real o_n = FR_SUFFIX(sigmoid_one)(o[n] + b_o);
            const real c_n = f_n * c_j[n] + i_n * g_n;
            c_j[n] = c_n;
            h_j[n] = o_n * FR_SUFFIX(tanh_one)(c_n);
        }
    }
}

/* Inference in the transposed domain (cell_streams in cells.h), per step:
 *   a.T (4H,B) = U @ x_t.T + W @ s_{t-1}.T     U and W read in place (stream_product)
 * then the cell on a.T (lstm_step_streamed) and s_t = h.T written to s (and c_t to c when
 * every_c; else c_T only, at the end). work: bias (4H), x_t.T (D,B), a.T (4H,B), h.T and
 * c.T (H,B) each: O(B*(D + 4H)), nothing of W copied, no chunk of steps. U NULL: x_t is
 * the projection itself (D = 4H), transposed straight into a.T. */
static void FR_SUFFIX(lstm_infer_streamed)(const fastrnn_dims *dims, const real *restrict x,
                                           const real *restrict s0, const real *restrict c0,
                                           const real *restrict U, const real *restrict W,
                                           const real *restrict b_ih, const real *restrict b_hh,
                                           int every_c, real *restrict s, real *restrict c,
                                           real *restrict work) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H, G = 4 * H;
    const int64_t step = B * H;
    real *bias = work, *x_T = bias + G, *a_T = x_T + B * D, *h_T = a_T + G * B, *c_T = h_T + step;
    FR_SUFFIX(bias_sum)(G, b_ih, b_hh, bias);
    FR_SUFFIX(transpose)(B, H, s0, h_T);
    FR_SUFFIX(transpose)(B, H, c0, c_T);
    for (int64_t t = 0; t < T; ++t) {
        /* a.T = U @ x_t.T  (4H, B) */
        FR_SUFFIX(streamed_input)(B, D, G, x + t * B * D, U, x_T, a_T);
        /* a.T += W @ s_{t-1}.T  (4H, B): all four gates in one product */
        FR_SUFFIX(stream_product)(G, B, H, W, H, h_T, 1, a_T);
        FR_SUFFIX(lstm_step_streamed)(B, H, bias, a_T, c_T, h_T);
        FR_SUFFIX(transpose)(H, B, h_T, s + t * step);
        if (every_c) FR_SUFFIX(transpose)(H, B, c_T, c + t * step);
    }
    if (!every_c) FR_SUFFIX(transpose)(H, B, c_T, c);
}

fastrnn_status FR_SUFFIX(fastrnn_lstm_forward)(const fastrnn_dims *dims, const real *restrict x,
                                               const real *restrict s0, const real *restrict c0,
                                               const real *restrict U, const real *restrict W,
                                               const real *restrict b_ih, const real *restrict b_hh,
                                               real *restrict s, real *restrict c,
                                               real *restrict gates, real *restrict work) {
    if (!cell_dims_ok(dims, 4)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || c0 == NULL || W == NULL || s == NULL || c == NULL ||
        gates == NULL || work == NULL)
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 4 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    FR_SUFFIX(lstm_forward_chunks)(dims, dims->T, x, s0, c0, U, W, b_ih, b_hh, s, c, NULL, gates,
                                   NULL, work);
    return FASTRNN_OK;
}

fastrnn_status FR_SUFFIX(fastrnn_lstm_infer)(const fastrnn_dims *dims, const real *restrict x,
                                             const real *restrict s0, const real *restrict c0,
                                             const real *restrict U, const real *restrict W,
                                             const real *restrict b_ih, const real *restrict b_hh,
                                             int every_c, real *restrict s, real *restrict c,
                                             real *restrict work) {
    if (!cell_dims_ok(dims, 4)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || c0 == NULL || W == NULL || s == NULL || c == NULL ||
        work == NULL)
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 4 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    if (cell_streams(dims)) {
        FR_SUFFIX(lstm_infer_streamed)(dims, x, s0, c0, U, W, b_ih, b_hh, every_c, s, c, work);
        return FASTRNN_OK;
    }
    /* after W_T and the bias: the chunk's gates, then the spare cell state */
    real *chunk = work + fastrnn_lstm_forward_work_len(dims);
    real *c_spare = every_c ? NULL : chunk + cell_chunk_steps(dims) * dims->B * 4 * dims->H;
    FR_SUFFIX(lstm_forward_chunks)(dims, cell_chunk_steps(dims), x, s0, c0, U, W, b_ih, b_hh, s, c,
                                   c_spare, NULL, chunk, work);
    return FASTRNN_OK;
}

/* Backward through a block of rows of the cell, elementwise: rows = B for one step of the
 * full sweep, or every step a lag reaches at once (lstm_backward_truncated).
 *   gates (rows,4H), c_prev (rows,H), c (rows,H)  in   i, f, g, o; c_{t-1}; c_t
 *   gs (rows,H)      in      dL/ds_t arriving (from above and from step t+1)
 *   gc (rows,H)      in/out  in: dL/dc_t arriving; out: the whole dL/dc_t, through s_t
 *                            too, times f when through_f (then what reaches c_{t-1})
 *   da (rows,4H)     out     dL/d(a_i, a_f, a_g, a_o)
 * Differentiates c_t = f * c_{t-1} + i * g and s_t = o * tanh(c_t), with sigmoid' =
 * y (1 - y) and tanh' = 1 - y^2 written through the outputs y; tanh(c_t) is recomputed
 * here (inlined, activations.h), cheaper than a pass that stores it and a stream that
 * reads it back. */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(lstm_rows_backward)(int64_t rows, int64_t H, const real *restrict gates,
                                          const real *restrict c_prev, const real *restrict c,
                                          const real *restrict gs, real *restrict gc, int through_f,
                                          real *restrict da) {
    for (int64_t n = 0; n < rows; ++n) {
        const real *i = gates + n * 4 * H, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const real *cp = c_prev + n * H, *cn = c + n * H, *gs_n = gs + n * H;
        real *gc_n = gc + n * H;
        real *da_i = da + n * 4 * H, *da_f = da_i + H, *da_g = da_i + 2 * H, *da_o = da_i + 3 * H;
        for (int64_t j = 0; j < H; ++j) {
            const real ds_j = gs_n[j], tc = FR_SUFFIX(tanh_one)(cn[j]);
            const real dc_j = gc_n[j] + ds_j * o[j] * (1 - tc * tc);
            da_i[j] = dc_j * g[j] * i[j] * (1 - i[j]);
            da_f[j] = dc_j * cp[j] * f[j] * (1 - f[j]);
            da_g[j] = dc_j * i[j] * (1 - g[j] * g[j]);
            da_o[j] = ds_j * tc * o[j] * (1 - o[j]);
            gc_n[j] = through_f ? dc_j * f[j] : dc_j;
        }
    }
}

/* lstm_rows_backward over the first `steps` steps as one block: step 0's c_{t-1} is c0,
 * the others' are the rows of c one step back. */
static void FR_SUFFIX(lstm_steps_backward)(int64_t steps, int64_t B, int64_t H, const real *gates,
                                           const real *c0, const real *c, const real *gs, real *gc,
                                           real *da) {
    const int64_t step = B * H, G = 4 * H;
    FR_SUFFIX(lstm_rows_backward)(B, H, gates, c0, c, gs, gc, 0, da);
    if (steps > 1)
        FR_SUFFIX(lstm_rows_backward)((steps - 1) * B, H, gates + B * G, c, c + step, gs + step,
                                      gc + step, 0, da + B * G);
}

/* out = a over n elements, or zeros when a is NULL. */
static void FR_SUFFIX(copy_or_zero)(int64_t n, const real *restrict a, real *restrict out) {
    if (a != NULL)
        memcpy(out, a, (size_t)n * sizeof *out);
    else
        memset(out, 0, (size_t)n * sizeof *out);
}

/* Full BPTT, from t = T-1 down to 0, with what arrives at step t kept in ds0 and dc0:
 *   ds0 = ds_t + da_{t+1} @ W,  dc0 = dc_t + (whole dL/dc_{t+1}) * f_{t+1}
 * so that after step 0 they hold what reaches s0 and c0; before step T-1 they hold ds_last
 * and dc_last, the final states' gradients (NULL: zeros). dc may be NULL (zeros). packed
 * is W packed as the (4H,H) right-hand side, or NULL for the BLAS.
 * da is kept for a chunk of steps only (cells.h): once the sweep has passed a chunk, its
 * share of dU, dW, db and its rows of dx are computed, each one GEMM over the chunk's rows
 * (dU, dW, db accumulated chunk after chunk), and the next chunk reuses the buffer:
 *   da (chunk_steps,B,4H); sums (4H): db's partial sums, partial (4H) sum_rows's.
 * tanh(c_t) is recomputed in lstm_rows_backward rather than kept. */
static void FR_SUFFIX(lstm_backward_full)(
    const fastrnn_dims *dims, const real *restrict x, const real *restrict s0,
    const real *restrict c0, const real *restrict U, const real *restrict W,
    const real *restrict packed, const real *restrict s, const real *restrict c,
    const real *restrict gates, const real *restrict ds, const real *restrict dc,
    const real *restrict ds_last, const real *restrict dc_last, real *restrict da,
    real *restrict partial, real *restrict sums, real *restrict dx, real *restrict ds0,
    real *restrict dc0, real *restrict dU, real *restrict dW, real *restrict db) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H, G = 4 * H;
    const int64_t step = B * H, chunk_steps = cell_chunk_steps(dims);
    FR_SUFFIX(copy_or_zero)(step, ds_last, ds0);
    FR_SUFFIX(copy_or_zero)(step, dc_last, dc0);
    for (int64_t t1 = T; t1 > 0;) { /* the chunk of steps t0 .. t1-1 */
        const int64_t t0 = t1 > chunk_steps ? t1 - chunk_steps : 0;
        for (int64_t t = t1 - 1; t >= t0; --t) {
            const int64_t o = t * step;
            real *da_t = da + (t - t0) * B * G;
            FR_SUFFIX(add_into)(step, ds + o, ds0);
            if (dc != NULL) FR_SUFFIX(add_into)(step, dc + o, dc0);
            /* da_t, and dc0 = dL/dc_t * f_t: what reaches c_{t-1} */
            FR_SUFFIX(lstm_rows_backward)(B, H, gates + t * B * G, t > 0 ? c + o - step : c0, c + o,
                                          ds0, dc0, 1, da_t);
            /* ds0 = da_t @ W  (B, H): what reaches s_{t-1} */
            if (packed != NULL)
                PACKED_GEMM(B, H, G, da_t, G, packed, 0, ds0, H);
            else
                GEMM(0, 0, B, H, G, 1, da_t, G, W, H, 0, ds0, H);
        }
        /* the chunk's share of dU, dW (the first chunk, at the top, overwrites them), its
         * rows of dx, and of db */
        fastrnn_dims part = *dims;
        part.T = t1 - t0;
        FR_SUFFIX(weight_and_input_grads)(&part, G, da, da, x + t0 * B * D,
                                          t0 > 0 ? s + (t0 - 1) * step : s0, s + t0 * step, U,
                                          t1 < T, dx + t0 * B * D, dU, dW);
        if (db != NULL) FR_SUFFIX(sum_rows_into)(part.T * B, G, da, G, partial, sums, t1 < T, db);
        t1 = t0;
    }
}

/* Per-output window of K < T-1 steps, lag by lag as in rnn_impl.h's backward_truncated:
 * the backward recurrence is linear in what is injected, so the gradient injected at step
 * j+k, followed k steps back, is computed for every j at once. With gs^k_j, gc^k_j what
 * reaches s_j, c_j from the injection at step j+k:
 *   gs^0_j = ds_j,  gc^0_j = dc_j
 *   da^k_j and the whole dc^k_j from lstm_rows_backward on (gs^k_j, gc^k_j)
 *   gs^{k+1}_j = da^k_{j+1} @ W,  gc^{k+1}_j = dc^k_{j+1} * f_{j+1}     j in [0, T-k-1)
 *   da_j = sum over k <= K of da^k_j
 * s0 and c0 receive what every lag passes below step 0: sum_k da^k_0 @ W = da_0 @ W and
 * (sum_k dc^k_0) * f_0. ds_last and dc_last (B,H), or NULL, are injected at step T-1 with
 * ds and dc. work = da_lag (T,B,4H), gs, gc (T,B,H). */
static void FR_SUFFIX(lstm_backward_truncated)(
    const fastrnn_dims *dims, int64_t K, const real *restrict W, const real *restrict c0,
    const real *restrict c, const real *restrict gates, const real *restrict ds,
    const real *restrict dc, const real *restrict ds_last, const real *restrict dc_last,
    real *restrict da, real *restrict ds0, real *restrict dc0, real *restrict work) {
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 4 * H;
    const int64_t step = B * H, states = T * step;
    real *da_lag = work, *gs = da_lag + T * B * G, *gc = gs + states;
    memcpy(gs, ds, (size_t)states * sizeof *gs);
    FR_SUFFIX(copy_or_zero)(states, dc, gc);
    if (ds_last != NULL) FR_SUFFIX(add_into)(step, ds_last, gs + states - step);
    if (dc_last != NULL) FR_SUFFIX(add_into)(step, dc_last, gc + states - step);
    memset(da, 0, (size_t)(T * B * G) * sizeof *da);
    memset(dc0, 0, (size_t)step * sizeof *dc0);
    for (int64_t k = 0; k <= K; ++k) {
        const int64_t steps = T - k; /* lag k reaches steps 0 .. T-k-1 */
        FR_SUFFIX(lstm_steps_backward)(steps, B, H, gates, c0, c, gs, gc, da_lag);
        FR_SUFFIX(add_into)(steps * B * G, da_lag, da);
        FR_SUFFIX(add_into)(step, gc, dc0);
        if (k == K) break;
        /* gs[0:T-k-1] = da_lag[1:T-k] @ W  ((T-k-1)*B, H) */
        GEMM(0, 0, (steps - 1) * B, H, G, 1, da_lag + B * G, G, W, H, 0, gs, H);
        /* gc[0:T-k-1] = gc[1:T-k] * f[1:T-k], in place, in increasing order */
        FR_SUFFIX(times_gate)((steps - 1) * B, H, G, gates + B * G + H, gc + step, gc);
    }
    FR_SUFFIX(times_gate)(B, H, G, gates + H, dc0, dc0);
    /* ds0 = da_0 @ W  (B, H) */
    GEMM(0, 0, B, H, G, 1, da, G, W, H, 0, ds0, H);
}

fastrnn_status FR_SUFFIX(fastrnn_lstm_backward)(
    const fastrnn_dims *dims, int64_t truncate, const real *restrict x, const real *restrict s0,
    const real *restrict c0, const real *restrict U, const real *restrict W, const real *restrict s,
    const real *restrict c, const real *restrict gates, const real *restrict ds,
    const real *restrict dc, const real *restrict ds_last, const real *restrict dc_last,
    real *restrict dx, real *restrict ds0, real *restrict dc0, real *restrict dU, real *restrict dW,
    real *restrict db, real *restrict work) {
    if (!cell_dims_ok(dims, 4)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || c0 == NULL || W == NULL || s == NULL || c == NULL ||
        gates == NULL || ds == NULL || dx == NULL || ds0 == NULL || dc0 == NULL || dW == NULL ||
        work == NULL || (U != NULL && dU == NULL))
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 4 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 4 * H;
    if (truncate < 0 || truncate >= T - 1) { /* see fastrnn_lstm_backward_work_len */
        const int packed = cell_uses_packed(dims);
        real *W_packed = work, *da = work + cell_pack_len(G, H);
        real *partial = da + cell_chunk_steps(dims) * B * G;
        if (packed) PACK(0, G, H, W, H, W_packed); /* W, the (K,N) = (4H,H) right-hand side */
        FR_SUFFIX(lstm_backward_full)(dims, x, s0, c0, U, W, packed ? W_packed : NULL, s, c, gates,
                                      ds, dc, ds_last, dc_last, da, partial, partial + G, dx, ds0,
                                      dc0, dU, dW, db);
        return FASTRNN_OK;
    }
    real *da = work;                /* (T,B,4H) */
    real *partial = da + T * B * G; /* (4H) */
    real *rest = partial + G;       /* see fastrnn_lstm_backward_work_len */
    FR_SUFFIX(lstm_backward_truncated)(dims, truncate, W, c0, c, gates, ds, dc, ds_last, dc_last,
                                       da, ds0, dc0, rest);
    FR_SUFFIX(weight_and_input_grads)(dims, G, da, da, x, s0, s, U, 0, dx, dU, dW);
    if (db != NULL) FR_SUFFIX(sum_rows)(T * B, G, da, G, partial, db);
    return FASTRNN_OK;
}

#undef GEMM
#undef PACK
#undef PACKED_GEMM
