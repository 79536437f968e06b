/* Body of the language-model kernels, included by lm.c once per scalar type with
 *   real          the scalar type (float or double)
 *   FR_SUFFIX(n)  n with the type's suffix appended (n_f32 or n_f64)
 *   FR_THIN       1 to compile softmax_loss's thin path (see lm.c) for this type
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
        /* the maximum of 8 interleaved running maxima (the same value: max is exact),
         * so that the comparisons do not wait on each other */
        real top8[8];
        const int64_t n8 = K < 8 ? K : 8;
        for (int64_t j = 0; j < n8; ++j) top8[j] = z_r[j];
        for (int64_t j = n8; j < 8; ++j) top8[j] = z_r[0];
        int64_t j = 8;
        for (; j + 8 <= K; j += 8)
            for (int u = 0; u < 8; ++u) top8[u] = z_r[j + u] > top8[u] ? z_r[j + u] : top8[u];
        real top = top8[0];
        for (int u = 1; u < 8; ++u) top = top8[u] > top ? top8[u] : top;
        for (; j < K; ++j) top = z_r[j] > top ? z_r[j] : top;
        for (int64_t j2 = 0; j2 < K; ++j2) z_r[j2] -= top;
    }
}

/* The sum of K entries, accumulated in double: it is a softmax's normalizer, and the loss
 * takes its log. */
static double FR_SUFFIX(row_sum)(int64_t K, const real *restrict a) {
    double total = 0;
    for (int64_t j = 0; j < K; ++j) total += a[j];
    return total;
}

/* row_sum in another order: 8 interleaved partial sums in double, then added together,
 * so that the additions do not wait on each other (softmax_loss's normalizers). */
static double FR_SUFFIX(row_sum_split)(int64_t K, const real *restrict a) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= K; j += 8)
        for (int u = 0; u < 8; ++u) part[u] += a[j + u];
    double total =
        ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
    for (; j < K; ++j) total += a[j];
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

#if FR_THIN
/* ---- the thin path (see lm.c): rows <= THIN_VECS vectors of LANES -----------------
 * Lanes run over the rows r of s and dz, L = LANES * nv of them (nv <= THIN_VECS), the
 * ones past rows zero. Blocks of THIN_BLOCK rows k of V are read where they lie; the last
 * block, when short, from a zero-padded copy. Plain-loop twin: the BLAS path below. */
typedef real FR_SUFFIX(vec) __attribute__((vector_size(64)));
#define VEC FR_SUFFIX(vec)
#define LANES ((int64_t)(sizeof(VEC) / sizeof(real)))

/* The THIN_BLOCK rows of V at Vb when there are (kb = THIN_BLOCK), else the kb left
 * copied into V_last (THIN_BLOCK, H) with zero rows after them. */
static const real *FR_SUFFIX(thin_V_block)(int64_t H, int64_t kb, const real *Vb,
                                           real *restrict V_last) {
    if (kb == THIN_BLOCK) return Vb;
    for (int64_t e = 0; e < THIN_BLOCK * H; ++e) V_last[e] = e < kb * H ? Vb[e] : 0;
    return V_last;
}

/* tile (THIN_BLOCK, L) = Vb (THIN_BLOCK, H) @ sT (H, L) */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_logits_block)(
    int nv, int64_t H, const real *restrict Vb, const real *restrict sT, real *restrict tile) {
    const int64_t L = LANES * nv;
    VEC acc[THIN_BLOCK][THIN_VECS];
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int v = 0; v < nv; ++v) acc[j][v] = (VEC){0};
    for (int64_t i = 0; i < H; ++i) {
        VEC x[THIN_VECS];
        for (int v = 0; v < nv; ++v) memcpy(&x[v], sT + i * L + v * LANES, sizeof(VEC));
        for (int j = 0; j < THIN_BLOCK; ++j)
            for (int v = 0; v < nv; ++v) acc[j][v] += x[v] * Vb[j * H + i];
    }
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int v = 0; v < nv; ++v) memcpy(tile + j * L + v * LANES, &acc[j][v], sizeof(VEC));
}

/* z = s @ V.T + c  (rows, K), c may be NULL. work: thin_work_len elements. */
THIN_CLONES
static void FR_SUFFIX(thin_logits)(int64_t rows, int64_t H, int64_t K, const real *restrict s,
                                   const real *restrict V, const real *restrict c, real *restrict z,
                                   real *restrict work) {
    const int nv = (int)((rows + LANES - 1) / LANES);
    const int64_t L = LANES * nv;
    real *sT = work;                      /* (H, L): s transposed */
    real *tile = sT + H * L;              /* (THIN_BLOCK, L) */
    real *V_last = tile + THIN_BLOCK * L; /* (THIN_BLOCK, H) */
    for (int64_t i = 0; i < H; ++i)
        for (int64_t l = 0; l < L; ++l) sT[i * L + l] = l < rows ? s[l * H + i] : 0;
    for (int64_t k0 = 0; k0 < K; k0 += THIN_BLOCK) {
        const int64_t kb = K - k0 < THIN_BLOCK ? K - k0 : THIN_BLOCK;
        const real *Vb = FR_SUFFIX(thin_V_block)(H, kb, V + k0 * H, V_last);
        switch (nv) {
            case 1:
                FR_SUFFIX(thin_logits_block)(1, H, Vb, sT, tile);
                break;
            case 2:
                FR_SUFFIX(thin_logits_block)(2, H, Vb, sT, tile);
                break;
            default:
                FR_SUFFIX(thin_logits_block)(3, H, Vb, sT, tile);
                break;
        }
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < kb; ++j)
                z[r * K + k0 + j] = tile[j * L + r] + (c != NULL ? c[k0 + j] : 0);
    }
}

/* One block of rows k0..k0+kb of V and dV (Vb, dVb point at row k0), with
 * blk (THIN_BLOCK, L) = dz[:, k0:k0+THIN_BLOCK].T zero-padded:
 *   dV[k0+j, :] = blk[j, :rows] @ s       (sP (rows, Hp): s with zero columns up to Hp)
 *   dsT (H, L) += Vb.T @ blk */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_backward_block)(
    int nv, int64_t rows, int64_t H, int64_t Hp, int64_t kb, const real *restrict blk,
    const real *restrict sP, const real *restrict Vb, real *restrict dVb, real *restrict dsT) {
    const int64_t L = LANES * nv;
    for (int64_t i0 = 0; i0 < Hp; i0 += LANES) {
        VEC acc[THIN_BLOCK];
        for (int j = 0; j < THIN_BLOCK; ++j) acc[j] = (VEC){0};
        for (int64_t r = 0; r < rows; ++r) {
            VEC x;
            memcpy(&x, sP + r * Hp + i0, sizeof(VEC));
            for (int j = 0; j < THIN_BLOCK; ++j) acc[j] += x * blk[j * L + r];
        }
        if (i0 + LANES <= H) {
            for (int64_t j = 0; j < kb; ++j) memcpy(dVb + j * H + i0, &acc[j], sizeof(VEC));
        } else { /* the last H - i0 < LANES columns */
            for (int64_t j = 0; j < kb; ++j)
                for (int64_t i = i0; i < H; ++i) dVb[j * H + i] = acc[j][i - i0];
        }
    }
    VEC b[THIN_BLOCK][THIN_VECS];
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int v = 0; v < nv; ++v) memcpy(&b[j][v], blk + j * L + v * LANES, sizeof(VEC));
    for (int64_t i = 0; i < H; ++i) {
        VEC a[THIN_VECS];
        for (int v = 0; v < nv; ++v) memcpy(&a[v], dsT + i * L + v * LANES, sizeof(VEC));
        for (int j = 0; j < THIN_BLOCK; ++j)
            for (int v = 0; v < nv; ++v) a[v] += b[j][v] * Vb[j * H + i];
        for (int v = 0; v < nv; ++v) memcpy(dsT + i * L + v * LANES, &a[v], sizeof(VEC));
    }
}

/* dV = dz.T @ s  (K, H) and ds = dz @ V  (rows, H), dz (rows, K). work: thin_work_len. */
THIN_CLONES
static void FR_SUFFIX(thin_backward)(int64_t rows, int64_t H, int64_t K, const real *restrict dz,
                                     const real *restrict s, const real *restrict V,
                                     real *restrict dV, real *restrict ds, real *restrict work) {
    const int nv = (int)((rows + LANES - 1) / LANES);
    const int64_t L = LANES * nv, Hp = round_up(H, LANES);
    real *dsT = work;                    /* (H, L) */
    real *blk = dsT + H * L;             /* (THIN_BLOCK, L) */
    real *V_last = blk + THIN_BLOCK * L; /* (THIN_BLOCK, H) */
    real *sP = V_last + THIN_BLOCK * H;  /* (rows, Hp): s, zero columns up to Hp */
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < Hp; ++i) sP[r * Hp + i] = i < H ? s[r * H + i] : 0;
    for (int64_t e = 0; e < H * L; ++e) dsT[e] = 0;
    for (int64_t k0 = 0; k0 < K; k0 += THIN_BLOCK) {
        const int64_t kb = K - k0 < THIN_BLOCK ? K - k0 : THIN_BLOCK;
        const real *Vb = FR_SUFFIX(thin_V_block)(H, kb, V + k0 * H, V_last);
        for (int64_t j = 0; j < THIN_BLOCK; ++j)
            for (int64_t l = 0; l < L; ++l)
                blk[j * L + l] = j < kb && l < rows ? dz[l * K + k0 + j] : 0;
        switch (nv) {
            case 1:
                FR_SUFFIX(thin_backward_block)(1, rows, H, Hp, kb, blk, sP, Vb, dV + k0 * H, dsT);
                break;
            case 2:
                FR_SUFFIX(thin_backward_block)(2, rows, H, Hp, kb, blk, sP, Vb, dV + k0 * H, dsT);
                break;
            default:
                FR_SUFFIX(thin_backward_block)(3, rows, H, Hp, kb, blk, sP, Vb, dV + k0 * H, dsT);
                break;
        }
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < H; ++i) ds[r * H + i] = dsT[i * L + r];
}

/* 1 when softmax_loss takes the thin path: rows fill from half a vector to THIN_VECS of
 * them, and V has 100000 elements or more. Measured against the BLAS path: fewer rows
 * (one row is a GEMV) or a smaller V (packed within the caches) run faster there. */
static int FR_SUFFIX(thin_fits)(int64_t rows, int64_t H, int64_t K) {
    return 2 * rows >= LANES && rows <= THIN_VECS * LANES && H * K >= 100000;
}
#undef LANES
#undef VEC
#else
static int FR_SUFFIX(thin_fits)(int64_t rows, int64_t H, int64_t K) {
    (void)rows, (void)H, (void)K;
    return 0;
}
#endif /* FR_THIN */

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
    real *dz = work;                /* (rows, K): logits, then exp, then dL/dz */
    real *aside = work + rows * K;  /* (rows): shifted target logits, then ones */
    real *thin_work = aside + rows; /* thin_work_len(rows, H) */
    const int thin = FR_SUFFIX(thin_fits)(rows, H, K);
    (void)thin_work, (void)thin; /* unused without FR_THIN */

    int64_t count = 0; /* unmasked targets */
    for (int64_t r = 0; r < rows; ++r) count += mask == NULL || mask[r] != 0;
    /* The mean over no targets is 0, with zero gradients: an all-padding batch is a no-op. */
    const double scale = reduction == FASTRNN_REDUCE_SUM ? 1.0
                         : count > 0                     ? 1.0 / (double)count
                                                         : 0.0;

#if FR_THIN
    if (thin)
        FR_SUFFIX(thin_logits)(rows, H, K, s, V, c, dz, thin_work);
    else
#endif
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
        const double norm = FR_SUFFIX(row_sum_split)(K, dz_r);
        /* -log o[target] = log(sum_j exp(z_j)) - z_target, with z shifted: exact even where
         * exp(z_target) underflows to 0 */
        total += log(norm) - (double)aside[r];
        /* dL/dz = scale * (o - onehot(target)) */
        const real p_scale = (real)(scale / norm);
        for (int64_t j = 0; j < K; ++j) dz_r[j] *= p_scale;
        dz_r[targets[r]] -= (real)scale;
    }
    *loss = scale * total;

#if FR_THIN
    if (thin) {
        FR_SUFFIX(thin_backward)(rows, H, K, dz, s, V, dV, ds, thin_work);
    } else
#endif
    {
        /* dV = dz.T @ s  (K, H), over all T*B rows */
        GEMM(1, 0, K, H, rows, 1, dz, K, s, H, 0, dV, H);
        /* ds = dz @ V  (T*B, H) */
        GEMM(0, 0, rows, H, K, 1, dz, K, V, H, 0, ds, H);
    }
    if (c != NULL) {
        for (int64_t r = 0; r < rows; ++r) aside[r] = 1;
        /* dc = ones @ dz  (K,): the column sums of dz */
        GEMM(0, 0, 1, K, rows, 1, aside, rows, dz, K, 0, dc, K);
    }
    return FASTRNN_OK;
}

#undef GEMM
