/* Body of the vanilla RNN kernels, included by rnn.c once per scalar type with
 *   real          the scalar type (float or double)
 *   FR_SUFFIX(n)  n with the type's suffix appended (n_f32 or n_f64)
 * No include guard on purpose. */

#define GEMM FR_SUFFIX(fastrnn_gemm)
#define PACK FR_SUFFIX(fastrnn_pack)
#define PACKED_GEMM FR_SUFFIX(fastrnn_packed_gemm)
#define TN_GEMM FR_SUFFIX(fastrnn_tn_gemm)

/* s = f(a) in place over n elements. relu keeps NaN (NaN < 0 is false), as np.maximum. */
static void FR_SUFFIX(activate)(fastrnn_nonlinearity f, int64_t n, real *restrict a) {
    if (f == FASTRNN_TANH) {
        FR_SUFFIX(fastrnn_tanh)(n, a);
    } else {
        for (int64_t i = 0; i < n; ++i) a[i] = a[i] < 0 ? (real)0 : a[i];
    }
}

/* da = (ds + carry) * f'(a), f' written through the output s = f(a):
 * tanh' = 1 - s^2, relu' = [s > 0]. carry may be NULL (nothing arrives from later steps).
 * relu' multiplies rather than selects, so that an Inf or NaN gradient reaching an inactive
 * unit gives NaN, as in the reference (Inf * 0), instead of vanishing. */
static void FR_SUFFIX(through_activation)(fastrnn_nonlinearity f, int64_t n, const real *restrict s,
                                          const real *restrict ds, const real *restrict carry,
                                          real *restrict da) {
    if (f == FASTRNN_TANH) {
        if (carry != NULL)
            for (int64_t i = 0; i < n; ++i) da[i] = (ds[i] + carry[i]) * (1 - s[i] * s[i]);
        else
            for (int64_t i = 0; i < n; ++i) da[i] = ds[i] * (1 - s[i] * s[i]);
    } else {
        if (carry != NULL)
            for (int64_t i = 0; i < n; ++i) da[i] = (ds[i] + carry[i]) * (real)(s[i] > 0);
        else
            for (int64_t i = 0; i < n; ++i) da[i] = ds[i] * (real)(s[i] > 0);
    }
}

/* g *= f'(a) in place, f' written through s = f(a) as above. */
static void FR_SUFFIX(scale_by_derivative)(fastrnn_nonlinearity f, int64_t n,
                                           const real *restrict s, real *restrict g) {
    if (f == FASTRNN_TANH) {
        for (int64_t i = 0; i < n; ++i) g[i] *= 1 - s[i] * s[i];
    } else {
        for (int64_t i = 0; i < n; ++i) g[i] *= (real)(s[i] > 0);
    }
}

/* out = a.sum(axis=0) for a (rows, H), summed in blocks of ROW_BLOCK rows into partial (H)
 * so that float32 rounding grows with rows / ROW_BLOCK + ROW_BLOCK, not with rows. */
static void FR_SUFFIX(sum_rows)(int64_t rows, int64_t H, const real *restrict a,
                                real *restrict partial, real *restrict out) {
    for (int64_t i = 0; i < H; ++i) out[i] = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int64_t r1 = r0 + ROW_BLOCK < rows ? r0 + ROW_BLOCK : rows;
        for (int64_t i = 0; i < H; ++i) partial[i] = 0;
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < H; ++i) partial[i] += a[r * H + i];
        for (int64_t i = 0; i < H; ++i) out[i] += partial[i];
    }
}

/* The recurrence of the forward with W read in place (rnn.c, forward_streams): per step
 *   q = s_t.T (the input projection), q += W @ p, q = f(q), s_t = q.T
 * in the transposed domain, where p holds s_{t-1}.T; then q is the next step's p.
 * p, q (H,B) each, the whole workspace of the recurrence. Each element of s_t sums the
 * projection, then the k terms in order, as the packed products do. */
static void FR_SUFFIX(forward_streamed)(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                        const real *restrict s0, const real *restrict W,
                                        real *restrict s, real *restrict p, real *restrict q) {
    const int64_t T = dims->T, B = dims->B, H = dims->H;
    FR_SUFFIX(fastrnn_transpose)(B, H, s0, H, p, B);
    for (int64_t t = 0; t < T; ++t) {
        real *s_t = s + t * B * H;
        FR_SUFFIX(fastrnn_transpose)(B, H, s_t, H, q, B);
        FR_SUFFIX(fastrnn_stream_gemm)(H, B, H, W, H, p, B, 1, q, B);
        FR_SUFFIX(activate)(f, B * H, q);
        FR_SUFFIX(fastrnn_transpose)(H, B, q, B, s_t, H);
        real *swap = p;
        p = q;
        q = swap;
    }
}

fastrnn_status FR_SUFFIX(fastrnn_rnn_forward)(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                              const real *restrict x, const real *restrict s0,
                                              const real *restrict U, const real *restrict W,
                                              const real *restrict b, real *restrict s,
                                              real *restrict work) {
    if (!rnn_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (f != FASTRNN_TANH && f != FASTRNN_RELU) return FASTRNN_ERR_ARG;
    if (x == NULL || s0 == NULL || W == NULL || s == NULL) return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    if (work == NULL) return FASTRNN_ERR_ARG;
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H;
    const int64_t step = B * H;

    /* work: W packed or transposed (or, streaming, two (H,B) states), then U packed */
    const int streams = forward_streams(dims);
    const int packed = !streams && uses_packed(dims);
    const int transposed = !streams && !packed && forward_transposes_W(dims);
    if (U != NULL && uses_packed_U(dims)) {
        /* s = x @ U.T  (T*B, H): the input projection of every step in one product */
        real *packed_U = work + forward_W_len(dims);
        PACK(1, D, H, U, D, packed_U); /* U.T, the (K,N) = (D,H) right-hand side */
        PACKED_GEMM(T * B, H, D, x, D, packed_U, 0, s, H);
    } else if (U != NULL) {
        /* s = x @ U.T  (T*B, H): the input projection of every step in one GEMM */
        GEMM(0, 1, T * B, H, D, 1, x, D, U, D, 0, s, H);
    } else {
        /* x is the input projection already (an embedding lookup, say) */
        for (int64_t i = 0; i < T * step; ++i) s[i] = x[i];
    }
    if (b != NULL)
        for (int64_t r = 0; r < T * B; ++r)
            for (int64_t i = 0; i < H; ++i) s[r * H + i] += b[i];

    if (streams && fastrnn_stream_gemm_is_simd()) {
        FR_SUFFIX(forward_streamed)(dims, f, s0, W, s, work, work + step);
        return FASTRNN_OK;
    }
    if (packed) PACK(1, H, H, W, H, work); /* W.T, the (K,N) = (H,H) right-hand side */
    if (transposed) FR_SUFFIX(fastrnn_transpose)(H, H, W, H, work, H);
    for (int64_t t = 0; t < T; ++t) {
        const real *s_prev = t > 0 ? s + (t - 1) * step : s0;
        real *s_t = s + t * step;
        /* s_t += s_{t-1} @ W.T  (B, H) */
        if (packed)
            PACKED_GEMM(B, H, H, s_prev, H, work, 1, s_t, H);
        else if (transposed)
            GEMM(0, 0, B, H, H, 1, s_prev, H, work, H, 1, s_t, H);
        else
            GEMM(0, 1, B, H, H, 1, s_prev, H, W, H, 1, s_t, H);
        FR_SUFFIX(activate)(f, step, s_t);
    }
    return FASTRNN_OK;
}

/* Full BPTT, from t = T-1 down to 0: da_t = (ds_t + da_{t+1} @ W) * f'(s_t), with
 * ds_last (or nothing when NULL) arriving at s_{T-1} in place of da_T @ W, and ds0 holding
 * da_{t+1} @ W between steps (so that after step 0 it holds what reaches s0).
 * da is kept for a chunk of steps only (backward_chunk_steps): once the sweep has passed a
 * chunk, its share of dU, dW, db and its rows of dx are computed, each one product over
 * the chunk's rows (dU, dW, db accumulated chunk after chunk), and the next chunk reuses
 * the buffer: da (chunk_steps,B,H); partial, sums (H) for db.
 * packed is W packed as the (H,H) right-hand side, or NULL for the BLAS; packed_U is U
 * packed as the (H,D) right-hand side for dx, or NULL for the BLAS. */
static void FR_SUFFIX(backward_full)(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                     const real *restrict x, const real *restrict s0,
                                     const real *restrict U, const real *restrict W,
                                     const real *restrict packed, const real *restrict packed_U,
                                     const real *restrict s, const real *restrict ds,
                                     const real *restrict ds_last, real *restrict da,
                                     real *restrict partial, real *restrict sums, real *restrict dx,
                                     real *restrict ds0, real *restrict dU, real *restrict dW,
                                     real *restrict db) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H;
    const int64_t step = B * H, chunk_steps = backward_chunk_steps(dims);
    const int tn = tn_pays(dims);
    for (int64_t t1 = T; t1 > 0;) { /* the chunk of steps t0 .. t1-1 */
        const int64_t t0 = t1 > chunk_steps ? t1 - chunk_steps : 0;
        for (int64_t t = t1 - 1; t >= t0; --t) {
            const int64_t o = t * step;
            real *da_t = da + (t - t0) * step;
            FR_SUFFIX(through_activation)(f, step, s + o, ds + o, t < T - 1 ? ds0 : ds_last, da_t);
            /* ds0 = da_t @ W  (B, H): what reaches s_{t-1} */
            if (packed != NULL)
                PACKED_GEMM(B, H, H, da_t, H, packed, 0, ds0, H);
            else
                GEMM(0, 0, B, H, H, 1, da_t, H, W, H, 0, ds0, H);
        }
        /* the chunk's share of dU, dW (the first chunk, at the top, overwrites them), its
         * rows of dx, and of db */
        const int64_t rows = (t1 - t0) * B;
        const real beta = t1 < T;
        if (U != NULL) {
            /* dU [+]= da.T @ x[t0:t1]  (H, D) */
            if (tn)
                TN_GEMM(H, D, rows, da, H, x + t0 * B * D, D, t1 < T, dU, D);
            else
                GEMM(1, 0, H, D, rows, 1, da, H, x + t0 * B * D, D, beta, dU, D);
            /* dx[t0:t1] = da @ U  (rows, D) */
            if (packed_U != NULL)
                PACKED_GEMM(rows, D, H, da, H, packed_U, 0, dx + t0 * B * D, D);
            else
                GEMM(0, 0, rows, D, H, 1, da, H, U, D, 0, dx + t0 * B * D, D);
        } else { /* x entered s_t as is */
            for (int64_t i = 0; i < rows * H; ++i) dx[t0 * step + i] = da[i];
        }
        /* dW [+]= da.T @ s[t0-1:t1-1]  (H, H), s0 standing for s[-1] */
        if (tn && t0 > 0) {
            TN_GEMM(H, H, rows, da, H, s + (t0 - 1) * step, H, t1 < T, dW, H);
        } else if (tn) {
            TN_GEMM(H, H, B, da, H, s0, H, t1 < T, dW, H);
            if (rows > B) TN_GEMM(H, H, rows - B, da + step, H, s, H, 1, dW, H);
        } else if (t0 > 0) {
            GEMM(1, 0, H, H, rows, 1, da, H, s + (t0 - 1) * step, H, beta, dW, H);
        } else {
            GEMM(1, 0, H, H, B, 1, da, H, s0, H, beta, dW, H);
            if (rows > B) GEMM(1, 0, H, H, rows - B, 1, da + step, H, s, H, 1, dW, H);
        }
        if (db != NULL) {
            FR_SUFFIX(sum_rows)(rows, H, da, partial, t1 < T ? sums : db);
            if (t1 < T)
                for (int64_t i = 0; i < H; ++i) db[i] += sums[i];
        }
        t1 = t0;
    }
}

/* Per-output window of K < T-1 applications of W, organized by lag so that each lag is
 * one GEMM over all steps instead of K small products per step:
 *   g^0_j = ds_j * f'(s_j)
 *   g^k_j = (g^{k-1}_{j+1} @ W) * f'(s_j)       for j in [0, T-k), k = 1..K
 *   da_j  = sum_k g^k_j
 * g^k_j is the gradient injected at step j+k after k applications of W, so da_j gathers
 * exactly the windows that reach step j. ds_last (or nothing when NULL) is injected at step
 * T-1 with ds_{T-1}. work = cur, next (T,B,H) each. */
static void FR_SUFFIX(backward_truncated)(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                          int64_t K, const real *restrict W, const real *restrict s,
                                          const real *restrict ds, const real *restrict ds_last,
                                          real *restrict da, real *restrict work) {
    const int64_t T = dims->T, B = dims->B, H = dims->H;
    const int64_t step = B * H, states = T * step, last = states - step;
    real *cur = work, *next = work + states;
    FR_SUFFIX(through_activation)(f, last, s, ds, NULL, cur);
    FR_SUFFIX(through_activation)(f, step, s + last, ds + last, ds_last, cur + last);
    for (int64_t i = 0; i < states; ++i) da[i] = cur[i];
    for (int64_t k = 1; k <= K; ++k) {
        const int64_t rows = (T - k) * B;
        /* next[0:T-k] = cur[1:T-k+1] @ W  ((T-k)*B, H) */
        GEMM(0, 0, rows, H, H, 1, cur + step, H, W, H, 0, next, H);
        FR_SUFFIX(scale_by_derivative)(f, rows * H, s, next);
        for (int64_t i = 0; i < rows * H; ++i) da[i] += next[i];
        real *swap = cur;
        cur = next;
        next = swap;
    }
}

/* dU, dx, dW of the backward from da (T,B,H). packed_U: room for U packed (dx with the
 * packed products, see dx_uses_packed_U), or NULL for the BLAS. */
static void FR_SUFFIX(gradients)(const fastrnn_dims *dims, const real *restrict x,
                                 const real *restrict s0, const real *restrict U,
                                 const real *restrict s, const real *restrict da, real *restrict dx,
                                 real *restrict dU, real *restrict dW, real *restrict packed_U) {
    const int64_t T = dims->T, B = dims->B, D = dims->D, H = dims->H;
    const int64_t step = B * H;
    if (U != NULL) {
        /* dU = da.T @ x  (H, D), over all T*B rows */
        GEMM(1, 0, H, D, T * B, 1, da, H, x, D, 0, dU, D);
        /* dx = da @ U  (T*B, D) */
        if (packed_U != NULL) {
            PACK(0, H, D, U, D, packed_U); /* U itself, the (K,N) = (H,D) right-hand side */
            PACKED_GEMM(T * B, D, H, da, H, packed_U, 0, dx, D);
        } else {
            GEMM(0, 0, T * B, D, H, 1, da, H, U, D, 0, dx, D);
        }
    } else {
        for (int64_t i = 0; i < T * step; ++i) dx[i] = da[i]; /* x entered s_t as is */
    }
    /* dW = da_0.T @ s0 + da[1:].T @ s[:-1]  (H, H) */
    GEMM(1, 0, H, H, B, 1, da, H, s0, H, 0, dW, H);
    if (T > 1) GEMM(1, 0, H, H, (T - 1) * B, 1, da + step, H, s, H, 1, dW, H);
}

fastrnn_status FR_SUFFIX(fastrnn_rnn_backward_ds_last)(
    const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate, const real *restrict x,
    const real *restrict s0, const real *restrict U, const real *restrict W, const real *restrict s,
    const real *restrict ds, const real *restrict ds_last, real *restrict dx, real *restrict ds0,
    real *restrict dU, real *restrict dW, real *restrict db, real *restrict work) {
    if (!rnn_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (f != FASTRNN_TANH && f != FASTRNN_RELU) return FASTRNN_ERR_ARG;
    if (x == NULL || s0 == NULL || W == NULL || s == NULL || ds == NULL || dx == NULL ||
        ds0 == NULL || dW == NULL || work == NULL || (U != NULL && dU == NULL))
        return FASTRNN_ERR_ARG;
    if (U == NULL && dims->D != dims->H) return FASTRNN_ERR_DIMS;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const int64_t T = dims->T, B = dims->B, H = dims->H;
    const int64_t step = B * H;
    if (truncate < 0 || truncate >= T - 1) {
        /* work: the packed W, the packed U, da of a chunk of steps, partial and sums (H)
         * (fastrnn_rnn_backward_work_len) */
        real *packed_W = work, *packed_U = packed_W + packed_W_len(dims);
        real *da = packed_U + packed_U_len(dims);
        real *partial = da + backward_chunk_steps(dims) * step, *sums = partial + H;
        const int packed = uses_packed(dims), dx_packed = U != NULL && dx_uses_packed_U(dims);
        if (packed) PACK(0, H, H, W, H, packed_W); /* W itself, the (K,N) = (H,H) right-hand side */
        if (dx_packed) PACK(0, H, dims->D, U, dims->D, packed_U); /* U, the (H,D) right-hand side */
        FR_SUFFIX(backward_full)(dims, f, x, s0, U, W, packed ? packed_W : NULL,
                                 dx_packed ? packed_U : NULL, s, ds, ds_last, da, partial, sums, dx,
                                 ds0, dU, dW, db);
        return FASTRNN_OK;
    }
    /* work: da (T,B,H), partial sums of db (H), the truncated propagation's two (T,B,H)
     * buffers, then the packed U */
    real *da = work, *partial = work + T * step, *rest = partial + H;
    real *packed_U = rest + 2 * T * step;
    FR_SUFFIX(backward_truncated)(dims, f, truncate, W, s, ds, ds_last, da, rest);
    /* The weight and input gradients gather every step at once. */
    FR_SUFFIX(gradients)(dims, x, s0, U, s, da, dx, dU, dW,
                         dx_uses_packed_U(dims) ? packed_U : NULL);
    /* ds0 = da_0 @ W  (B, H) */
    GEMM(0, 0, B, H, H, 1, da, H, W, H, 0, ds0, H);
    if (db != NULL) FR_SUFFIX(sum_rows)(T * B, H, da, partial, db);
    return FASTRNN_OK;
}

fastrnn_status FR_SUFFIX(fastrnn_rnn_backward)(
    const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate, const real *restrict x,
    const real *restrict s0, const real *restrict U, const real *restrict W, const real *restrict s,
    const real *restrict ds, real *restrict dx, real *restrict ds0, real *restrict dU,
    real *restrict dW, real *restrict db, real *restrict work) {
    return FR_SUFFIX(fastrnn_rnn_backward_ds_last)(dims, f, truncate, x, s0, U, W, s, ds, NULL, dx,
                                                   ds0, dU, dW, db, work);
}

#undef GEMM
#undef PACK
#undef PACKED_GEMM
#undef TN_GEMM
