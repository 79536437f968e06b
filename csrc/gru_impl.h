/* Body of the GRU kernels, included by gru.c once per scalar type after cells_impl.h,
 * with real and FR_SUFFIX as there. No include guard on purpose. */

#define GEMM FR_SUFFIX(fastrnn_gemm)
#define PACK FR_SUFFIX(fastrnn_pack)
#define PACKED_GEMM FR_SUFFIX(fastrnn_packed_gemm)

/* One step of the cell for B rows, in one pass over each row: the biases are added here
 * rather than in a pass of their own over all T*B rows, and the activations are inlined
 * (activations.h), so that one vectorized loop reads each pre-activation once:
 *   a (B,3H)      in: U x_t (the input terms of r, z, n); out: gate values r, z, n
 *   gh (B,3H)     in: s_{t-1} @ W.T
 *   bias (4H)     in: b_ih + b_hh of r and z (2H), b_in (H), b_hn (H)
 *   s_prev (B,H)  in
 *   s (B,H)       out   s = (1 - z) * n + z * s_prev
 * hn = W_n s_{t-1} + b_hn is not kept: the backward pass recomputes it (gru_backward_sweep). */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(gru_step_forward)(int64_t B, int64_t H, real *restrict a,
                                        const real *restrict gh, const real *restrict bias,
                                        const real *restrict s_prev, real *restrict s) {
    const real *b_r = bias, *b_z = bias + H, *b_in = bias + 2 * H, *b_hn = bias + 3 * H;
    for (int64_t m = 0; m < B; ++m) {
        real *r = a + m * 3 * H, *z = r + H, *n = r + 2 * H;
        const real *gh_r = gh + m * 3 * H, *gh_z = gh_r + H, *gh_n = gh_r + 2 * H;
        const real *sp = s_prev + m * H;
        real *sm = s + m * H;
        for (int64_t j = 0; j < H; ++j) {
            const real r_j = FR_SUFFIX(sigmoid_one)(r[j] + (gh_r[j] + b_r[j]));
            const real z_j = FR_SUFFIX(sigmoid_one)(z[j] + (gh_z[j] + b_z[j]));
            const real hn_j = gh_n[j] + b_hn[j];
            const real n_j = FR_SUFFIX(tanh_one)(n[j] + b_in[j] + r_j * hn_j);
            r[j] = r_j, z[j] = z_j, n[j] = n_j;
            sm[j] = (1 - z_j) * n_j + z_j * sp[j];
        }
    }
}

/* The forward pass, projecting the input chunk_steps steps at a time:
 *   gates (T,B,3H)  the caller's array, which receives the gate values of every step
 *                   (chunk_steps = T: one projection GEMM over all T*B rows), or NULL:
 *   chunk           then (chunk_steps,B,3H) of workspace: the gates of a chunk of steps,
 *                   reused by every chunk, so that inference keeps no gates beyond a few
 *                   steps' worth.
 * Each chunk's projection is still a GEMM over chunk_steps*B rows; then the recurrent
 * terms and the biases step by step as before. */
static void FR_SUFFIX(gru_forward_chunks)(const fastrnn_dims *dims, int64_t chunk_steps,
                                          const real *restrict x, const real *restrict s0,
                                          const real *restrict U, const real *restrict W,
                                          const real *restrict b_ih, const real *restrict b_hh,
                                          real *restrict s, real *restrict gates,
                                          real *restrict chunk, real *restrict work) {
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 3 * H;
    const int64_t step = B * H;
    const int packed = cell_uses_packed(dims);
    real *W_T = work, *gh = work + cell_pack_len(H, G); /* W.T (H, 3H), packed or not */
    real *bias = gh + B * G;                            /* gh (B, 3H), bias (4H) */
    real *U_T = U != NULL && gru_uses_packed_U(dims) ? bias + 4 * H : NULL; /* U.T packed */

    /* W_T = W.T packed for the per-step products, or plain, so that the BLAS product of
     * every step takes no transposed operand, which OpenBLAS packs at about half the speed
     * for these shapes */
    const int transposed = !packed && B > 1; /* one row: a GEMV reads W as it is */
    if (packed)
        PACK(1, H, G, W, H, W_T);
    else if (transposed)
        FR_SUFFIX(transpose)(G, H, W, W_T);
    /* bias = [b_ih + b_hh of r and z, b_in, b_hn] */
    FR_SUFFIX(bias_sum)(2 * H, b_ih, b_hh, bias);
    FR_SUFFIX(bias_sum)(H, b_ih ? b_ih + 2 * H : NULL, NULL, bias + 2 * H);
    FR_SUFFIX(bias_sum)(H, b_hh ? b_hh + 2 * H : NULL, NULL, bias + 3 * H);
    if (U_T != NULL) PACK(1, dims->D, G, U, dims->D, U_T); /* U.T, the (K,N) = (D,3H) one */
    for (int64_t t0 = 0; t0 < T; t0 += chunk_steps) {
        fastrnn_dims part = *dims; /* steps t0 .. t0 + part.T - 1 */
        part.T = T - t0 < chunk_steps ? T - t0 : chunk_steps;
        real *a0 = gates != NULL ? gates + t0 * B * G : chunk;
        /* a0 = x[t0:t0+part.T] @ U.T  (part.T*B, 3H), then the recurrent terms and the
         * biases step by step */
        if (U_T != NULL)
            PACKED_GEMM(part.T * B, G, dims->D, x + t0 * B * dims->D, dims->D, U_T, 0, a0, G);
        else
            FR_SUFFIX(input_projection)(&part, G, x + t0 * B * dims->D, U, a0);
        for (int64_t t = t0; t < t0 + part.T; ++t) {
            const real *s_prev = t > 0 ? s + (t - 1) * step : s0;
            /* gh = s_{t-1} @ W_T  (B, 3H): all three gates in one GEMM */
            if (packed)
                PACKED_GEMM(B, G, H, s_prev, H, W_T, 0, gh, G);
            else if (transposed)
                GEMM(0, 0, B, G, H, 1, s_prev, H, W_T, G, 0, gh, G);
            else
                GEMM(0, 1, B, G, H, 1, s_prev, H, W, H, 0, gh, G);
            FR_SUFFIX(gru_step_forward)(B, H, a0 + (t - t0) * B * G, gh, bias, s_prev,
                                        s + t * step);
        }
    }
}

/* One step of the cell in the transposed domain (gru_infer_streamed), the batch on the
 * columns, so that the vectorized loop runs along the B columns of each gate's row:
 *   a (3H,B)    in: U x_t.T, plus W_rz s_{t-1}.T on the r and z rows; contents undefined after
 *   hn (H,B)    in: W_n s_{t-1}.T (b_hn is added here)
 *   bias (4H)   in: b_ih + b_hh of r and z (2H), b_in (H), b_hn (H), one value per row
 *   h (H,B)     in/out: s_{t-1}.T, then s_t.T = (1 - z) * n + z * s_{t-1} */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(gru_step_streamed)(int64_t B, int64_t H, const real *restrict a,
                                         const real *restrict hn, const real *restrict bias,
                                         real *restrict h) {
    for (int64_t j = 0; j < H; ++j) {
        const real *r = a + j * B, *z = a + (H + j) * B, *n = a + (2 * H + j) * B;
        const real *hn_j = hn + j * B;
        const real b_r = bias[j], b_z = bias[H + j], b_in = bias[2 * H + j];
        const real b_hn = bias[3 * H + j];
        real *h_j = h + j * B;
        for (int64_t m = 0; m < B; ++m) {
            const real r_m = FR_SUFFIX(sigmoid_one)(r[m] + b_r);
            const real z_m = FR_SUFFIX(sigmoid_one)(z[m] + b_z);
            const real n_m = FR_SUFFIX(tanh_one)(n[m] + b_in + r_m * (hn_j[m] + b_hn));
            h_j[m] = (1 - z_m) * n_m + z_m * h_j[m];
        }
    }
}

/* Inference in the transposed domain (cell_streams in cells.h), per step:
 *   a.T (3H,B) = U @ x_t.T,  a.T[:2H] += W[:2H] @ s_{t-1}.T,  hn.T (H,B) = W[2H:] @ s_{t-1}.T
 * with U and W read in place (stream_product): the n rows of the recurrent term stay apart,
 * since r multiplies them. Then the cell on them (gru_step_streamed) and s_t = h.T written
 * to s. work: bias (4H), x_t.T (D,B), a.T (3H,B), hn.T and h.T (H,B) each: O(B*(D + 3H)),
 * nothing of W copied, no chunk of steps. U NULL: x_t is the projection itself (D = 3H),
 * transposed straight into a.T. */
static void FR_SUFFIX(gru_infer_streamed)(const fastrnn_dims *dims, const real *restrict x,
                                          const real *restrict s0, const real *restrict U,
                                          const real *restrict W, const real *restrict b_ih,
                                          const real *restrict b_hh, real *restrict s,
                                          real *restrict work) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H, G = 3 * H;
    const int64_t step = B * H;
    real *bias = work, *x_T = bias + 4 * H, *a_T = x_T + B * D, *hn_T = a_T + G * B;
    real *h_T = hn_T + step;
    /* bias = [b_ih + b_hh of r and z, b_in, b_hn], as in gru_forward_chunks */
    FR_SUFFIX(bias_sum)(2 * H, b_ih, b_hh, bias);
    FR_SUFFIX(bias_sum)(H, b_ih ? b_ih + 2 * H : NULL, NULL, bias + 2 * H);
    FR_SUFFIX(bias_sum)(H, b_hh ? b_hh + 2 * H : NULL, NULL, bias + 3 * H);
    FR_SUFFIX(transpose)(B, H, s0, h_T);
    for (int64_t t = 0; t < T; ++t) {
        /* a.T = U @ x_t.T  (3H, B) */
        FR_SUFFIX(streamed_input)(B, D, G, x + t * B * D, U, x_T, a_T);
        /* a.T[:2H] += W[:2H] @ s_{t-1}.T  (2H, B);  hn.T = W[2H:] @ s_{t-1}.T  (H, B) */
        FR_SUFFIX(stream_product)(2 * H, B, H, W, H, h_T, 1, a_T);
        FR_SUFFIX(stream_product)(H, B, H, W + 2 * H * H, H, h_T, 0, hn_T);
        FR_SUFFIX(gru_step_streamed)(B, H, a_T, hn_T, bias, h_T);
        FR_SUFFIX(transpose)(H, B, h_T, s + t * step);
    }
}

fastrnn_status FR_SUFFIX(fastrnn_gru_forward)(const fastrnn_dims *dims, const real *restrict x,
                                              const real *restrict s0, const real *restrict U,
                                              const real *restrict W, const real *restrict b_ih,
                                              const real *restrict b_hh, real *restrict s,
                                              real *restrict gates, real *restrict work) {
    if (!cell_dims_ok(dims, 3)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || W == NULL || s == NULL || gates == NULL || work == NULL)
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 3 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    FR_SUFFIX(gru_forward_chunks)(dims, dims->T, x, s0, U, W, b_ih, b_hh, s, gates, NULL, work);
    return FASTRNN_OK;
}

fastrnn_status FR_SUFFIX(fastrnn_gru_infer)(const fastrnn_dims *dims, const real *restrict x,
                                            const real *restrict s0, const real *restrict U,
                                            const real *restrict W, const real *restrict b_ih,
                                            const real *restrict b_hh, real *restrict s,
                                            real *restrict work) {
    if (!cell_dims_ok(dims, 3)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || W == NULL || s == NULL || work == NULL) return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 3 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    if (cell_streams(dims)) {
        FR_SUFFIX(gru_infer_streamed)(dims, x, s0, U, W, b_ih, b_hh, s, work);
        return FASTRNN_OK;
    }
    real *chunk = work + fastrnn_gru_forward_work_len(dims); /* after W_T, gh and the bias */
    FR_SUFFIX(gru_forward_chunks)(dims, cell_chunk_steps(dims), x, s0, U, W, b_ih, b_hh, s, NULL,
                                  chunk, work);
    return FASTRNN_OK;
}

/* hn (steps*B, H) = s_{t-1} @ W_n.T for the steps t0 .. t0+steps-1, one GEMM over their
 * rows (two from step 0, whose s_{t-1} is s0): the recurrent part of n's pre-activation,
 * which the forward pass does not keep (it would be T*B*H more memory than the gates) and
 * the backward needs for r's gradient; b_hn is added where it is read. */
static void FR_SUFFIX(gru_recurrent_n)(int64_t t0, int64_t steps, int64_t B, int64_t H,
                                       const real *W, const real *s0, const real *s, real *hn) {
    const int64_t step = B * H;
    const real *W_n = W + 2 * H * H;
    if (t0 > 0) {
        GEMM(0, 1, steps * B, H, H, 1, s + (t0 - 1) * step, H, W_n, H, 0, hn, H);
        return;
    }
    GEMM(0, 1, B, H, H, 1, s0, H, W_n, H, 0, hn, H);
    if (steps > 1) GEMM(0, 1, (steps - 1) * B, H, H, 1, s, H, W_n, H, 0, hn + step, H);
}

/* Backward through a block of rows of the cell, elementwise: every step a lag reaches at
 * once (gru_backward_truncated; the full sweep's steps fold more in, gru_step_backward).
 *   gates (rows,3H), hn (rows,H), s_prev (rows,H)  in   r, z, n; W_n s_{t-1}; s_{t-1}
 *   b_hn (H)       in      hn_t = hn + b_hn
 *   gs (rows,H)    in      dL/ds_t arriving
 *   dgx (rows,3H)  out     dL/d(U x_t + b_ih) = (da_r, da_z, da_n)
 *   dgh (rows,3H)  out     dL/d(W s_{t-1} + b_hh) = (da_r, da_z, da_n * r)
 * Differentiates s_t = (1 - z) n + z s_{t-1} and n = tanh(a_n + r * hn_t). */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(gru_rows_backward)(int64_t rows, int64_t H, const real *restrict gates,
                                         const real *restrict hn, const real *restrict b_hn,
                                         const real *restrict s_prev, const real *restrict gs,
                                         real *restrict dgx, real *restrict dgh) {
    const int64_t G = 3 * H;
    for (int64_t m = 0; m < rows; ++m) {
        const real *r = gates + m * G, *z = r + H, *n = r + 2 * H;
        const real *hn_m = hn + m * H, *sp = s_prev + m * H;
        const real *gs_m = gs + m * H;
        real *dx_r = dgx + m * G, *dx_z = dx_r + H, *dx_n = dx_r + 2 * H;
        real *dh_r = dgh + m * G, *dh_z = dh_r + H, *dh_n = dh_r + 2 * H;
        for (int64_t j = 0; j < H; ++j) {
            const real ds_j = gs_m[j];
            const real da_n = ds_j * (1 - z[j]) * (1 - n[j] * n[j]);
            const real da_z = ds_j * (sp[j] - n[j]) * z[j] * (1 - z[j]);
            const real da_r = da_n * (hn_m[j] + b_hn[j]) * r[j] * (1 - r[j]);
            dx_r[j] = dh_r[j] = da_r;
            dx_z[j] = dh_z[j] = da_z;
            dx_n[j] = da_n;
            dh_n[j] = da_n * r[j];
        }
    }
}

/* gru_rows_backward over the first `steps` steps as one block: step 0's s_{t-1} is s0,
 * the others' are the rows of s one step back. */
static void FR_SUFFIX(gru_steps_backward)(int64_t steps, int64_t B, int64_t H, const real *gates,
                                          const real *hn, const real *b_hn, const real *s0,
                                          const real *s, real *gs, real *dgx, real *dgh) {
    const int64_t step = B * H, G = 3 * H;
    FR_SUFFIX(gru_rows_backward)(B, H, gates, hn, b_hn, s0, gs, dgx, dgh);
    if (steps > 1)
        FR_SUFFIX(gru_rows_backward)((steps - 1) * B, H, gates + B * G, hn + step, b_hn, s,
                                     gs + step, dgx + B * G, dgh + B * G);
}

/* One step of the full sweep (gru_backward_sweep) for its B rows: gru_rows_backward's
 * arithmetic (gates, hn, b_hn and s_prev as there), with the two passes around it folded in:
 *   ds (B,H)        in      dL/ds_t from above
 *   gs (B,H)        in/out  in: what reached s_t from step t+1; out: (gs + ds) * z, what
 *                           reaches s_{t-1} directly
 *   dgx (B,3H)      out     (da_r, da_z, da_n)
 *   dhn (B,H)       out     da_n * r, the n block of dL/d(W s_{t-1} + b_hh) (its r and z
 *                           blocks are dgx's, not written twice)
 *   partial (4H)    in/out  the column sums of da_r, da_z, da_n, da_n * r: rows are added
 *                           to partial, which is added to db (4H) and zeroed every
 *                           CELL_ROW_BLOCK rows (*count counts them), as sum_rows does. */
FASTRNN_SIMD_CLONES
static void FR_SUFFIX(gru_step_backward)(int64_t B, int64_t H, const real *restrict gates,
                                         const real *restrict hn, const real *restrict b_hn,
                                         const real *restrict s_prev, const real *restrict ds,
                                         real *restrict gs, real *restrict dgx, real *restrict dhn,
                                         real *restrict partial, real *restrict db,
                                         int64_t *restrict count) {
    const int64_t G = 3 * H;
    real *p_r = partial, *p_z = partial + H, *p_n = partial + 2 * H, *p_hn = partial + 3 * H;
    for (int64_t m = 0; m < B; ++m) {
        const real *r = gates + m * G, *z = r + H, *n = r + 2 * H;
        const real *hn_m = hn + m * H, *sp = s_prev + m * H, *ds_m = ds + m * H;
        real *gs_m = gs + m * H, *dhn_m = dhn + m * H;
        real *dx_r = dgx + m * G, *dx_z = dx_r + H, *dx_n = dx_r + 2 * H;
        for (int64_t j = 0; j < H; ++j) {
            const real ds_j = gs_m[j] + ds_m[j];
            const real da_n = ds_j * (1 - z[j]) * (1 - n[j] * n[j]);
            const real da_z = ds_j * (sp[j] - n[j]) * z[j] * (1 - z[j]);
            const real da_r = da_n * (hn_m[j] + b_hn[j]) * r[j] * (1 - r[j]);
            const real da_hn = da_n * r[j];
            dx_r[j] = da_r, dx_z[j] = da_z, dx_n[j] = da_n, dhn_m[j] = da_hn;
            p_r[j] += da_r, p_z[j] += da_z, p_n[j] += da_n, p_hn[j] += da_hn;
            gs_m[j] = ds_j * z[j];
        }
        if (++*count == CELL_ROW_BLOCK) {
            FR_SUFFIX(add_into)(4 * H, partial, db);
            memset(partial, 0, (size_t)(4 * H) * sizeof *partial);
            *count = 0;
        }
    }
}

/* Full BPTT, from t = T-1 down to 0, with what arrives at step t kept in ds0:
 *   ds0 = ds_t + (what reached s_t from step t+1), then
 *   ds0 = ds0 * z_t + dgh_t @ W: what reaches s_{t-1}
 * so that after step 0 it holds what reaches s0; before step T-1 it holds ds_last, the
 * final state's gradient (NULL: zeros). dgh_t @ W is dgx_t's r and z blocks @ W's
 * (2H,H) rows plus dhn_t @ W's last H rows: W_rz and W_n, packed as right-hand sides, or
 * NULL for the BLAS on W itself.
 * hn, W_n s_{t-1} without b_hn, is recomputed for a chunk of steps before the sweep enters
 * it (gru_recurrent_n), one GEMM over the chunk's rows.
 * dgx and dhn are kept for a chunk of steps only (cells.h): once the sweep has passed a
 * chunk, its share of dU, dW and its rows of dx are computed, each one GEMM over the
 * chunk's rows (two for dW: its r and z rows from dgx, its n rows from dhn; dU and dW
 * accumulated chunk after chunk), and the next chunk reuses the buffers; the bias
 * gradients are summed during the sweep (gru_step_backward):
 *   dgx (chunk_steps,B,3H), dhn and hn (chunk_steps,B,H); partial, sums (4H); b_hn (H). */
static void FR_SUFFIX(gru_backward_sweep)(
    const fastrnn_dims *dims, const real *restrict x, const real *restrict s0,
    const real *restrict U, const real *restrict W, const real *restrict W_rz,
    const real *restrict W_n, const real *restrict U_packed, const real *restrict s,
    const real *restrict gates, const real *restrict b_hn, const real *restrict ds,
    const real *restrict ds_last, real *restrict dgx, real *restrict dhn, real *restrict hn,
    real *restrict partial, real *restrict sums, real *restrict dx, real *restrict ds0,
    real *restrict dU, real *restrict dW, real *restrict db_ih, real *restrict db_hh) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H, G = 3 * H;
    const int64_t step = B * H, chunk_steps = cell_chunk_steps(dims);
    int64_t count = 0; /* rows in partial */
    if (ds_last != NULL)
        memcpy(ds0, ds_last, (size_t)step * sizeof *ds0);
    else
        memset(ds0, 0, (size_t)step * sizeof *ds0);
    memset(partial, 0, (size_t)(4 * H) * sizeof *partial);
    memset(sums, 0, (size_t)(4 * H) * sizeof *sums);
    for (int64_t t1 = T; t1 > 0;) { /* the chunk of steps t0 .. t1-1 */
        const int64_t t0 = t1 > chunk_steps ? t1 - chunk_steps : 0;
        FR_SUFFIX(gru_recurrent_n)(t0, t1 - t0, B, H, W, s0, s, hn);
        for (int64_t t = t1 - 1; t >= t0; --t) {
            const int64_t o = t * step;
            real *dgx_t = dgx + (t - t0) * B * G, *dhn_t = dhn + (t - t0) * step;
            /* dgx_t, dhn_t, and ds0 = (ds0 + ds_t) * z_t */
            FR_SUFFIX(gru_step_backward)(B, H, gates + t * B * G, hn + (t - t0) * step, b_hn,
                                         t > 0 ? s + o - step : s0, ds + o, ds0, dgx_t, dhn_t,
                                         partial, sums, &count);
            /* ds0 += dgx_t[:, :2H] @ W[:2H] + dhn_t @ W[2H:]  (B, H) */
            if (W_rz != NULL) {
                PACKED_GEMM(B, H, 2 * H, dgx_t, G, W_rz, 1, ds0, H);
                PACKED_GEMM(B, H, H, dhn_t, H, W_n, 1, ds0, H);
            } else {
                GEMM(0, 0, B, H, 2 * H, 1, dgx_t, G, W, H, 1, ds0, H);
                GEMM(0, 0, B, H, H, 1, dhn_t, H, W + 2 * H * H, H, 1, ds0, H);
            }
        }
        /* the chunk's share of dW, dU (the first chunk, at the top, overwrites them) and its
         * rows of dx, with s_prev the chunk's states one step back (s0 apart for step 0) */
        const int64_t rows = (t1 - t0) * B;
        const real beta = t1 == T ? 0 : 1;
        const real *s_prev = t0 > 0 ? s + (t0 - 1) * step : s0;
        /* dW[:2H] [+]= dgx[:, :2H].T @ s_prev, dW[2H:] [+]= dhn.T @ s_prev  (3H, H) */
        if (t0 > 0) {
            GEMM(1, 0, 2 * H, H, rows, 1, dgx, G, s_prev, H, beta, dW, H);
            GEMM(1, 0, H, H, rows, 1, dhn, H, s_prev, H, beta, dW + 2 * H * H, H);
        } else {
            GEMM(1, 0, 2 * H, H, B, 1, dgx, G, s0, H, beta, dW, H);
            GEMM(1, 0, H, H, B, 1, dhn, H, s0, H, beta, dW + 2 * H * H, H);
            if (rows > B) {
                GEMM(1, 0, 2 * H, H, rows - B, 1, dgx + B * G, G, s, H, 1, dW, H);
                GEMM(1, 0, H, H, rows - B, 1, dhn + step, H, s, H, 1, dW + 2 * H * H, H);
            }
        }
        const real *x_c = x + t0 * B * D;
        real *dx_c = dx + t0 * B * D;
        if (U == NULL) { /* x entered the gates as is (D = 3H) */
            memcpy(dx_c, dgx, (size_t)(rows * G) * sizeof *dx);
        } else {
            /* dU [+]= dgx.T @ x  (3H, D) */
            GEMM(1, 0, G, D, rows, 1, dgx, G, x_c, D, beta, dU, D);
            /* dx = dgx @ U  (rows, D) */
            if (U_packed != NULL)
                PACKED_GEMM(rows, D, G, dgx, G, U_packed, 0, dx_c, D);
            else
                GEMM(0, 0, rows, D, G, 1, dgx, G, U, D, 0, dx_c, D);
        }
        t1 = t0;
    }
    if (db_ih != NULL) {
        FR_SUFFIX(add_into)(4 * H, partial, sums); /* the last rows */
        memcpy(db_ih, sums, (size_t)G * sizeof *db_ih);
        memcpy(db_hh, sums, (size_t)(2 * H) * sizeof *db_hh);
        memcpy(db_hh + 2 * H, sums + 3 * H, (size_t)H * sizeof *db_hh);
    }
}

/* Per-output window of K < T-1 steps, lag by lag (see lstm_impl.h): with gs^k_j what
 * reaches s_j from the injection at step j+k,
 *   gs^0_j = ds_j
 *   dgx^k_j, dgh^k_j from gru_rows_backward on gs^k_j
 *   gs^{k+1}_j = gs^k_{j+1} * z_{j+1} + dgh^k_{j+1} @ W      j in [0, T-k-1)
 *   dgx_j = sum over k <= K of dgx^k_j, likewise dgh_j
 * s0 receives what every lag passes below step 0: (sum_k gs^k_0) * z_0 + dgh_0 @ W.
 * ds_last (B,H), or NULL, is injected at step T-1 with ds. hn (T,B,H) = W_n s_{t-1} for every
 * step (gru_recurrent_n), b_hn (H) added where it is read.
 * work = dgx_lag, dgh_lag (T,B,3H), gs (T,B,H). */
static void FR_SUFFIX(gru_backward_truncated)(const fastrnn_dims *dims, int64_t K,
                                              const real *restrict W, const real *restrict s0,
                                              const real *restrict s, const real *restrict gates,
                                              const real *restrict hn, const real *restrict b_hn,
                                              const real *restrict ds, const real *restrict ds_last,
                                              real *restrict dgx, real *restrict dgh,
                                              real *restrict ds0, real *restrict work) {
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 3 * H;
    const int64_t step = B * H, states = T * step;
    real *dgx_lag = work, *dgh_lag = dgx_lag + T * B * G, *gs = dgh_lag + T * B * G;
    memcpy(gs, ds, (size_t)states * sizeof *gs);
    if (ds_last != NULL) FR_SUFFIX(add_into)(step, ds_last, gs + states - step);
    memset(dgx, 0, (size_t)(T * B * G) * sizeof *dgx);
    memset(dgh, 0, (size_t)(T * B * G) * sizeof *dgh);
    memset(ds0, 0, (size_t)step * sizeof *ds0);
    for (int64_t k = 0; k <= K; ++k) {
        const int64_t steps = T - k; /* lag k reaches steps 0 .. T-k-1 */
        FR_SUFFIX(gru_steps_backward)(steps, B, H, gates, hn, b_hn, s0, s, gs, dgx_lag, dgh_lag);
        FR_SUFFIX(add_into)(steps * B * G, dgx_lag, dgx);
        FR_SUFFIX(add_into)(steps * B * G, dgh_lag, dgh);
        FR_SUFFIX(add_into)(step, gs, ds0);
        if (k == K) break;
        /* gs[0:T-k-1] = gs[1:T-k] * z[1:T-k], in place, in increasing order ... */
        FR_SUFFIX(times_gate)((steps - 1) * B, H, G, gates + B * G + H, gs + step, gs);
        /* ... + dgh_lag[1:T-k] @ W  ((T-k-1)*B, H) */
        GEMM(0, 0, (steps - 1) * B, H, G, 1, dgh_lag + B * G, G, W, H, 1, gs, H);
    }
    FR_SUFFIX(times_gate)(B, H, G, gates + H, ds0, ds0);
    /* ds0 += dgh_0 @ W  (B, H) */
    GEMM(0, 0, B, H, G, 1, dgh, G, W, H, 1, ds0, H);
}

fastrnn_status FR_SUFFIX(fastrnn_gru_backward)(
    const fastrnn_dims *dims, int64_t truncate, const real *restrict x, const real *restrict s0,
    const real *restrict U, const real *restrict W, const real *restrict b_hh,
    const real *restrict s, const real *restrict gates, const real *restrict ds,
    const real *restrict ds_last, real *restrict dx, real *restrict ds0, real *restrict dU,
    real *restrict dW, real *restrict db_ih, real *restrict db_hh, real *restrict work) {
    if (!cell_dims_ok(dims, 3)) return FASTRNN_ERR_DIMS;
    if (x == NULL || s0 == NULL || W == NULL || s == NULL || gates == NULL || ds == NULL ||
        dx == NULL || ds0 == NULL || dW == NULL || work == NULL || (U != NULL && dU == NULL) ||
        (db_ih == NULL) != (db_hh == NULL))
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != 3 * dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const int64_t T = dims->T, B = dims->B, H = dims->H, G = 3 * H;
    if (truncate < 0 || truncate >= T - 1) { /* see fastrnn_gru_backward_work_len */
        const int64_t rows = cell_chunk_steps(dims) * B;
        real *W_rz = work, *W_n = W_rz + cell_pack_len(2 * H, H);     /* W[:2H], W[2H:] packed */
        real *dgx = W_n + cell_pack_len(H, H), *dhn = dgx + rows * G; /* (rows,3H), (rows,H) */
        real *hn = dhn + rows * H, *b_hn = hn + rows * H;             /* (rows,H), (H) */
        real *partial = b_hn + H, *sums = partial + 4 * H;            /* (4H) each */
        real *U_packed = U != NULL && gru_uses_packed_U(dims) ? sums + 4 * H : NULL;
        FR_SUFFIX(bias_sum)(H, b_hh != NULL ? b_hh + 2 * H : NULL, NULL, b_hn);
        if (cell_uses_packed(dims)) { /* the (K,N) = (2H,H) and (H,H) right-hand sides */
            PACK(0, 2 * H, H, W, H, W_rz);
            PACK(0, H, H, W + 2 * H * H, H, W_n);
        }
        if (U_packed != NULL) PACK(0, G, dims->D, U, dims->D, U_packed); /* U, the (3H,D) one */
        FR_SUFFIX(gru_backward_sweep)(dims, x, s0, U, W, cell_uses_packed(dims) ? W_rz : NULL, W_n,
                                      U_packed, s, gates, b_hn, ds, ds_last, dgx, dhn, hn, partial,
                                      sums, dx, ds0, dU, dW, db_ih, db_hh);
        return FASTRNN_OK;
    }
    real *dgx = work;                /* (T,B,3H) */
    real *dgh = dgx + T * B * G;     /* (T,B,3H) */
    real *partial = dgh + T * B * G; /* (3H) */
    real *rest = partial + G;        /* 7 (T,B,H): see gru_backward_truncated */
    real *hn = rest + 7 * T * B * H, *b_hn = hn + T * B * H; /* (T,B,H), (H) */
    FR_SUFFIX(bias_sum)(H, b_hh != NULL ? b_hh + 2 * H : NULL, NULL, b_hn);
    FR_SUFFIX(gru_recurrent_n)(0, T, B, H, W, s0, s, hn);
    FR_SUFFIX(gru_backward_truncated)(dims, truncate, W, s0, s, gates, hn, b_hn, ds, ds_last, dgx,
                                      dgh, ds0, rest);
    FR_SUFFIX(weight_and_input_grads)(dims, G, dgx, dgh, x, s0, s, U, 0, dx, dU, dW);
    if (db_ih != NULL) {
        FR_SUFFIX(sum_rows)(T * B, G, dgx, G, partial, db_ih);
        /* dgh's r and z blocks are dgx's: only the n block has a sum of its own */
        memcpy(db_hh, db_ih, (size_t)(2 * H) * sizeof *db_hh);
        FR_SUFFIX(sum_rows)(T * B, H, dgh + 2 * H, G, partial, db_hh + 2 * H);
    }
    return FASTRNN_OK;
}

#undef GEMM
#undef PACK
#undef PACKED_GEMM
