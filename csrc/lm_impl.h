/* Body of the language-model kernels, included by lm.c once per scalar type with
 *   real          the scalar type (float or double)
 *   FR_SUFFIX(n)  n with the type's suffix appended (n_f32 or n_f64)
 * No include guard on purpose. */

#define GEMM FR_SUFFIX(fastrnn_gemm)

fastrnn_status FR_SUFFIX(fastrnn_embedding_forward)(const fastrnn_dims *dims,
                                                    const int64_t *restrict ids,
                                                    const real *restrict U, real *restrict x) {
    if (!embedding_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (ids == NULL || U == NULL || x == NULL) return FASTRNN_ERR_ARG;
    const int64_t rows = dims->T * dims->B, D = dims->D, H = dims->H;
    if (!ids_in_range(rows, ids, D)) return FASTRNN_ERR_ARG;
    for (int64_t r = 0; r < rows; ++r) {
        const real *column = U + ids[r]; /* U[:, id], H entries D apart */
        real *x_r = x + r * H;
        for (int64_t i = 0; i < H; ++i) x_r[i] = column[i * D];
    }
    return FASTRNN_OK;
}

fastrnn_status FR_SUFFIX(fastrnn_embedding_backward)(const fastrnn_dims *dims,
                                                     const real *restrict dx,
                                                     const int64_t *restrict ids,
                                                     real *restrict dU) {
    if (!embedding_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (dx == NULL || ids == NULL || dU == NULL) return FASTRNN_ERR_ARG;
    const int64_t rows = dims->T * dims->B, D = dims->D, H = dims->H;
    if (!ids_in_range(rows, ids, D)) return FASTRNN_ERR_ARG;
    for (int64_t i = 0; i < H * D; ++i) dU[i] = 0;
    /* forward: x[r, :] = U[:, ids[r]], so each row of dx adds into its id's column */
    for (int64_t r = 0; r < rows; ++r) {
        real *column = dU + ids[r];
        const real *dx_r = dx + r * H;
        for (int64_t i = 0; i < H; ++i) column[i * D] += dx_r[i];
    }
    return FASTRNN_OK;
}

/* z = s @ V.T + c  (rows, K): the logits of every step in one GEMM. c may be NULL. */
static void FR_SUFFIX(logits)(int64_t rows, int64_t H, int64_t K, const real *restrict s,
                              const real *restrict V, const real *restrict c, real *restrict z) {
    GEMM(0, 1, rows, K, H, 1, s, H, V, H, 0, z, K);
    if (c != NULL)
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < K; ++j) z[r * K + j] += c[j];
}

/* z[r, :] -= max(z[r, :]) for every row, so that exp(z) can neither overflow nor vanish
 * from a whole row (its largest entry becomes exp(0) = 1). NaN propagates: comparisons
 * with NaN are false, so a NaN stays in its row. */
static void FR_SUFFIX(shift_rows)(int64_t rows, int64_t K, real *restrict z) {
    for (int64_t r = 0; r < rows; ++r) {
        real *z_r = z + r * K;
        real top = z_r[0];
        for (int64_t j = 1; j < K; ++j) top = z_r[j] > top ? z_r[j] : top;
        for (int64_t j = 0; j < K; ++j) z_r[j] -= top;
    }
}

/* The sum of K entries, accumulated in double: it is a softmax's normalizer, and the loss
 * takes its log. */
static double FR_SUFFIX(row_sum)(int64_t K, const real *restrict a) {
    double total = 0;
    for (int64_t j = 0; j < K; ++j) total += a[j];
    return total;
}

fastrnn_status FR_SUFFIX(fastrnn_softmax_forward)(const fastrnn_softmax_dims *dims,
                                                  const real *restrict s, const real *restrict V,
                                                  const real *restrict c, real *restrict probs) {
    if (!softmax_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (s == NULL || V == NULL || probs == NULL) return FASTRNN_ERR_ARG;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const int64_t rows = dims->T * dims->B, H = dims->H, K = dims->K;
    FR_SUFFIX(logits)(rows, H, K, s, V, c, probs);
    FR_SUFFIX(shift_rows)(rows, K, probs);
    FR_SUFFIX(fastrnn_exp)(rows * K, probs);
    for (int64_t r = 0; r < rows; ++r) {
        real *p_r = probs + r * K;
        const real inv = (real)(1.0 / FR_SUFFIX(row_sum)(K, p_r));
        for (int64_t j = 0; j < K; ++j) p_r[j] *= inv;
    }
    return FASTRNN_OK;
}

fastrnn_status FR_SUFFIX(fastrnn_softmax_loss)(const fastrnn_softmax_dims *dims,
                                               fastrnn_reduction reduction, const real *restrict s,
                                               const real *restrict V, const real *restrict c,
                                               const int64_t *restrict targets,
                                               const uint8_t *restrict mask, double *restrict loss,
                                               real *restrict ds, real *restrict dV,
                                               real *restrict dc, real *restrict work) {
    if (!softmax_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (reduction != FASTRNN_REDUCE_MEAN && reduction != FASTRNN_REDUCE_SUM) return FASTRNN_ERR_ARG;
    if (s == NULL || V == NULL || targets == NULL || loss == NULL || ds == NULL || dV == NULL ||
        work == NULL || (c != NULL && dc == NULL))
        return FASTRNN_ERR_ARG;
    const int64_t rows = dims->T * dims->B, H = dims->H, K = dims->K;
    if (!ids_in_range(rows, targets, K)) return FASTRNN_ERR_ARG;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    real *dz = work;               /* (rows, K): logits, then exp, then dL/dz */
    real *aside = work + rows * K; /* (rows): shifted target logits, then ones */

    int64_t count = 0; /* unmasked targets */
    for (int64_t r = 0; r < rows; ++r) count += mask == NULL || mask[r] != 0;
    /* The mean over no targets is 0, with zero gradients: an all-padding batch is a no-op. */
    const double scale = reduction == FASTRNN_REDUCE_SUM ? 1.0
                         : count > 0                     ? 1.0 / (double)count
                                                         : 0.0;

    FR_SUFFIX(logits)(rows, H, K, s, V, c, dz);
    FR_SUFFIX(shift_rows)(rows, K, dz);
    for (int64_t r = 0; r < rows; ++r) aside[r] = dz[r * K + targets[r]];
    FR_SUFFIX(fastrnn_exp)(rows * K, dz);
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
        real *dz_r = dz + r * K;
        if (mask != NULL && mask[r] == 0) {
            for (int64_t j = 0; j < K; ++j) dz_r[j] = 0;
            continue;
        }
        const double norm = FR_SUFFIX(row_sum)(K, dz_r);
        /* -log o[target] = log(sum_j exp(z_j)) - z_target, with z shifted: exact even where
         * exp(z_target) underflows to 0 */
        total += log(norm) - (double)aside[r];
        /* dL/dz = scale * (o - onehot(target)) */
        const real p_scale = (real)(scale / norm);
        for (int64_t j = 0; j < K; ++j) dz_r[j] *= p_scale;
        dz_r[targets[r]] -= (real)scale;
    }
    *loss = scale * total;

    /* dV = dz.T @ s  (K, H), over all T*B rows */
    GEMM(1, 0, K, H, rows, 1, dz, K, s, H, 0, dV, H);
    /* ds = dz @ V  (T*B, H) */
    GEMM(0, 0, rows, H, K, 1, dz, K, V, H, 0, ds, H);
    if (c != NULL) {
        for (int64_t r = 0; r < rows; ++r) aside[r] = 1;
        /* dc = ones @ dz  (K,): the column sums of dz */
        GEMM(0, 0, 1, K, rows, 1, aside, rows, dz, K, 0, dc, K);
    }
    return FASTRNN_OK;
}

#undef GEMM
