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
 * One pass over V in blocks of THIN_BLOCK rows k, each block read while it is in L1:
 *   z = Vb @ sT (+ c)                      the block's logits, lanes over the rows r
 *   m = max(m, max_k z)                    running maximum per row; when it grows, the
 *                                          sums below are rescaled by exp(m_old - m_new)
 *   e = exp(z - m), S += sum_k e           kept in E (K, L) with the block's m in Mb
 *   dsA (rows, H) += e.T @ Vb               ds before normalization
 * then a pass over E alone (not V) once every S and m are final:
 *   p = e exp(m_block - m) scale / S - scale onehot(target)   (dL/dz of the block)
 *   dV[k0:k0+kb] = p.T @ s,  dc[k0:k0+kb] = column sums of p
 *   ds = dsA scale / S - scale V[target]
 * So V is read once and dV written once, and no (rows, K) array is transposed. The lanes
 * past rows and masked rows are computed but never read out (p is selected to 0 there,
 * as dz is in the BLAS path). Plain-loop twin: the BLAS path below. */
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

/* tile (THIN_BLOCK, L) = Vb (THIN_BLOCK, H) @ sT (H, L) + cb (THIN_BLOCK,) per row, and
 * prefetches into L2 (not L1, which holds sT, dsA and the block) of the H cache lines from
 * ahead (8 doubles to a line) and, for writing, of the H lines from zahead */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_scores_block)(
    int nv, int64_t H, const real *restrict Vb, const real *restrict cb, const real *restrict sT,
    const real *ahead, const real *zahead, real *restrict tile) {
    const int64_t L = LANES * nv;
    VEC acc[THIN_BLOCK][THIN_VECS];
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int v = 0; v < nv; ++v) acc[j][v] = (VEC){0} + cb[j];
    for (int64_t i = 0; i < H; ++i) {
        VEC x[THIN_VECS];
        __builtin_prefetch(ahead + i * 8, 0, 2); /* the i-th line of THIN_BLOCK * H */
        __builtin_prefetch(zahead + i * 8, 1, 2);
        for (int v = 0; v < nv; ++v) memcpy(&x[v], sT + i * L + v * LANES, sizeof(VEC));
        for (int j = 0; j < THIN_BLOCK; ++j)
            for (int v = 0; v < nv; ++v) acc[j][v] += x[v] * Vb[j * H + i];
    }
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int v = 0; v < nv; ++v) memcpy(tile + j * L + v * LANES, &acc[j][v], sizeof(VEC));
}

/* dsA (rows, H) += tile[:, :rows].T (rows, THIN_BLOCK) @ Vb (THIN_BLOCK, H), the hidden
 * index on the lanes: V's rows are read as vectors (kept in registers while nr rows of dsA
 * pass), the tile's entries broadcast, so no lane is padding (rows on the lanes would pad
 * 20 rows to 24). Each entry sums its THIN_BLOCK products in order j = 0, 1, ...: the
 * same sums as with the rows on the lanes. cols columns from i0, nw vectors of type T
 * (W doubles each); nr rows at a time. */
#define FR_DS_COLS(name, T, W)                                                                 \
    static inline __attribute__((always_inline)) void name(                                    \
        int nw, int nr, int64_t rows, int64_t H, int64_t L, int64_t ld, int64_t i0,            \
        const real *restrict tile, const real *restrict Vb, real *restrict dsA) {              \
        T v[THIN_BLOCK][2];                                                                    \
        for (int j = 0; j < THIN_BLOCK; ++j)                                                   \
            for (int w = 0; w < nw; ++w) memcpy(&v[j][w], Vb + j * H + i0 + w * W, sizeof(T)); \
        int64_t r = 0;                                                                         \
        for (; r + nr <= rows; r += nr) {                                                      \
            T a[4][2];                                                                         \
            for (int u = 0; u < nr; ++u)                                                       \
                for (int w = 0; w < nw; ++w)                                                   \
                    memcpy(&a[u][w], dsA + (r + u) * ld + i0 + w * W, sizeof(T));              \
            for (int j = 0; j < THIN_BLOCK; ++j)                                               \
                for (int u = 0; u < nr; ++u) {                                                 \
                    const real e = tile[j * L + r + u];                                        \
                    for (int w = 0; w < nw; ++w) a[u][w] += v[j][w] * e;                       \
                }                                                                              \
            for (int u = 0; u < nr; ++u)                                                       \
                for (int w = 0; w < nw; ++w)                                                   \
                    memcpy(dsA + (r + u) * ld + i0 + w * W, &a[u][w], sizeof(T));              \
        }                                                                                      \
        for (; r < rows; ++r) {                                                                \
            T a[2];                                                                            \
            for (int w = 0; w < nw; ++w) memcpy(&a[w], dsA + r * ld + i0 + w * W, sizeof(T));  \
            for (int j = 0; j < THIN_BLOCK; ++j) {                                             \
                const real e = tile[j * L + r];                                                \
                for (int w = 0; w < nw; ++w) a[w] += v[j][w] * e;                              \
            }                                                                                  \
            for (int w = 0; w < nw; ++w) memcpy(dsA + r * ld + i0 + w * W, &a[w], sizeof(T));  \
        }                                                                                      \
    }
typedef real FR_SUFFIX(half_vec) __attribute__((vector_size(32)));
FR_DS_COLS(FR_SUFFIX(thin_ds_cols), VEC, LANES)
FR_DS_COLS(FR_SUFFIX(thin_ds_cols_half), FR_SUFFIX(half_vec), LANES / 2)
#undef FR_DS_COLS

/* thin_ds_cols over all H columns: two vectors at a time, then one, half of one, and the
 * last H % (LANES / 2) columns one by one (the same sums) */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_ds_block)(
    int nv, int64_t rows, int64_t H, int64_t ld, const real *restrict tile, const real *restrict Vb,
    real *restrict dsA) {
    const int64_t L = LANES * nv; /* a constant where inlined: the tile's rows at fixed
                                   * offsets from one pointer */
    int64_t i0 = 0;
    for (; i0 + 2 * LANES <= H; i0 += 2 * LANES)
        FR_SUFFIX(thin_ds_cols)(2, 4, rows, H, L, ld, i0, tile, Vb, dsA);
    if (i0 + LANES <= H) {
        FR_SUFFIX(thin_ds_cols)(1, 4, rows, H, L, ld, i0, tile, Vb, dsA);
        i0 += LANES;
    }
    if (i0 + LANES / 2 <= H) {
        FR_SUFFIX(thin_ds_cols_half)(1, 4, rows, H, L, ld, i0, tile, Vb, dsA);
        i0 += LANES / 2;
    }
    for (; i0 < H; ++i0)
        for (int64_t r = 0; r < rows; ++r) {
            real a = dsA[r * ld + i0];
            for (int j = 0; j < THIN_BLOCK; ++j) a += Vb[j * H + i0] * tile[j * L + r];
            dsA[r * ld + i0] = a;
        }
}

/* dVb[j, i0:i0+nw*LANES] = p[j, :rows] @ s[:, i0:i0+nw*LANES] for every j < THIN_BLOCK;
 * p (THIN_BLOCK, L); and a prefetch for writing of n <= rows cache lines from ahead. All
 * THIN_BLOCK rows are stored, a count known when compiling, so that acc stays in registers
 * (stores of a block's first kb rows made GCC keep acc on the stack, about 70 more loads
 * and stores per call). */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_dV_cols)(
    int nw, int64_t rows, int nv, int64_t H, int64_t ld, int64_t i0, const real *restrict p,
    const real *restrict s, real *restrict dVb, const real *ahead, int64_t n) {
    const int64_t L = LANES * nv; /* a constant where inlined (softmax_loss switches on nv):
                                   * p's rows sit at fixed offsets instead of eight pointers
                                   * reloaded from the stack at every step */
    VEC acc[THIN_BLOCK][2];
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int w = 0; w < nw; ++w) acc[j][w] = (VEC){0};
    for (int64_t r = 0; r < rows; ++r) {
        if (r < n) __builtin_prefetch(ahead + r * 8, 1, 3);
        VEC x[2];
        for (int w = 0; w < nw; ++w) memcpy(&x[w], s + r * ld + i0 + w * LANES, sizeof(VEC));
        for (int j = 0; j < THIN_BLOCK; ++j)
            for (int w = 0; w < nw; ++w) acc[j][w] += x[w] * p[j * L + r];
    }
    for (int j = 0; j < THIN_BLOCK; ++j)
        for (int w = 0; w < nw; ++w) memcpy(dVb + j * H + i0 + w * LANES, &acc[j][w], sizeof(VEC));
}

/* dVb (THIN_BLOCK, H) = p[:, :rows] @ s (rows, H; its rows ld apart), H >= LANES,
 * p (THIN_BLOCK, LANES * nv): columns two vectors at a time, and the last H % LANES
 * through one vector ending at H (it rewrites a few columns with the same values).
 * Prefetches the H cache lines of THIN_BLOCK * H doubles from ahead for writing, as far
 * as the steps go. */
static inline __attribute__((always_inline)) void FR_SUFFIX(thin_dV_block)(
    int64_t rows, int nv, int64_t H, int64_t ld, const real *restrict p, const real *restrict s,
    real *restrict dVb, const real *ahead) {
    int64_t i0 = 0, line = 0;
#define FR_LINES (rows < H - line ? rows : H - line)
    for (; i0 + 2 * LANES <= H; i0 += 2 * LANES, line += FR_LINES)
        FR_SUFFIX(thin_dV_cols)(2, rows, nv, H, ld, i0, p, s, dVb, ahead + line * 8, FR_LINES);
    if (i0 + LANES <= H) {
        FR_SUFFIX(thin_dV_cols)(1, rows, nv, H, ld, i0, p, s, dVb, ahead + line * 8, FR_LINES);
        i0 += LANES, line += FR_LINES;
    }
    if (i0 < H)
        FR_SUFFIX(thin_dV_cols)(1, rows, nv, H, ld, H - LANES, p, s, dVb, ahead + line * 8,
                                FR_LINES);
#undef FR_LINES
}

/* softmax_loss's thin path (see above): same arguments and results; work: lm.c's
 * thin_work_len(rows, H, K) elements. zero (zero_len elements, or NULL) is set to 0 a
 * slice per block of the pass over V, where the stores overlap the block's products
 * instead of running as a pass of their own (tutorial_bptt's dU). */
THIN_CLONES
static void FR_SUFFIX(thin_softmax_loss)(int64_t rows, int64_t H, int64_t K, double scale,
                                         const real *restrict s, const real *restrict V,
                                         const real *restrict c, const int64_t *restrict targets,
                                         const uint8_t *restrict mask, double *restrict loss,
                                         real *restrict ds, real *restrict dV, real *restrict dc,
                                         real *restrict work, real *restrict zero,
                                         int64_t zero_len) {
    enum { MAX_L = THIN_VECS * LANES };
    const int nv = (int)((rows + LANES - 1) / LANES);
    const int64_t L = LANES * nv, Kp = round_up(K, THIN_BLOCK);
    /* the buffers from a 64-byte boundary and a whole number of vectors long, so that no
     * vector of sT, dsA or sA straddles two cache lines (H = 100 doubles would split every
     * other row of dsA and s): measured faster */
    const int64_t Hp = round_up(H, LANES);
    real *sT = work + (64 - (uintptr_t)work % 64) % 64 / sizeof(real); /* (H, L): s
                                                                        * transposed, zero past
                                                                        * rows */
    real *dsA = sT + H * L;                                            /* (rows, Hp) of (L, Hp) */
    real *sA = dsA + L * Hp;                 /* (rows, Hp) of (L, Hp): s */
    real *E = sA + L * Hp;                   /* (Kp, L): exp(z - m) of every block */
    real *Mb = E + Kp * L;                   /* (Kp / THIN_BLOCK, L): m of every block */
    real *V_last = Mb + Kp / THIN_BLOCK * L; /* (THIN_BLOCK, H) */
    real *p = V_last + THIN_BLOCK * H;       /* (THIN_BLOCK, L) */
    real m[MAX_L], S[MAX_L], zt[MAX_L], f[MAX_L], G[MAX_L], cb[THIN_BLOCK];
    int64_t keep[MAX_L], order[MAX_L], n_keep = 0;

    for (int64_t i = 0; i < H; ++i)
        for (int64_t l = 0; l < L; ++l) sT[i * L + l] = l < rows ? s[l * H + i] : 0;
    for (int64_t e = 0; e < rows * Hp; ++e) dsA[e] = 0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < Hp; ++i) sA[r * Hp + i] = i < H ? s[r * H + i] : 0;
    /* the kept rows in the order of their targets, for the blocks to meet them in turn */
    for (int64_t l = 0; l < L; ++l) {
        keep[l] = l < rows && (mask == NULL || mask[l] != 0);
        S[l] = 0, zt[l] = 0;
        if (!keep[l]) continue;
        int64_t q = n_keep++;
        for (; q > 0 && targets[order[q - 1]] > targets[l]; --q) order[q] = order[q - 1];
        order[q] = l;
    }

    /* zero's slice per block */
    const int64_t zero_slice =
        zero == NULL ? 0 : (zero_len + Kp / THIN_BLOCK - 1) / (Kp / THIN_BLOCK);
    int64_t next = 0; /* order[next] is the first kept row whose target is still ahead */
    for (int64_t k0 = 0; k0 < K; k0 += THIN_BLOCK) {
        const int64_t kb = K - k0 < THIN_BLOCK ? K - k0 : THIN_BLOCK;
        if (zero_slice > 0) {
            const int64_t z0 = k0 / THIN_BLOCK * zero_slice;
            const int64_t z1 = z0 + zero_slice < zero_len ? z0 + zero_slice : zero_len;
            for (int64_t e = z0; e < z1; ++e) zero[e] = 0;
        }
        const real *Vb = FR_SUFFIX(thin_V_block)(H, kb, V + k0 * H, V_last);
        real *tile = E + k0 * L;
        /* V four blocks ahead (a whole block when there is one), a cache line per step of
         * the logits' loop: the hardware prefetchers follow THIN_BLOCK rows read side by
         * side too late; and zero's slice two blocks ahead (H lines of it, when they lie
         * in zero), whose stores otherwise wait on L3 (with both, the tutorial's step ran
         * about 3% faster than with V two blocks ahead into L1 alone) */
        const real *ahead = k0 + 5 * THIN_BLOCK <= K ? V + (k0 + 4 * THIN_BLOCK) * H : Vb;
        const int64_t z_ahead = (k0 / THIN_BLOCK + 2) * zero_slice;
        const real *zahead = zero_slice > 0 && z_ahead + 8 * H <= zero_len ? zero + z_ahead : ahead;
        for (int j = 0; j < THIN_BLOCK; ++j) cb[j] = c != NULL && j < kb ? c[k0 + j] : 0;
        switch (nv) {
            case 1:
                FR_SUFFIX(thin_scores_block)(1, H, Vb, cb, sT, ahead, zahead, tile);
                break;
            case 2:
                FR_SUFFIX(thin_scores_block)(2, H, Vb, cb, sT, ahead, zahead, tile);
                break;
            default:
                FR_SUFFIX(thin_scores_block)(3, H, Vb, cb, sT, ahead, zahead, tile);
                break;
        }
        for (; next < n_keep && targets[order[next]] < k0 + kb; ++next)
            zt[order[next]] = tile[(targets[order[next]] - k0) * L + order[next]];
        /* the block's maximum per row; NaN is passed over here and shows in the sums */
        real top[MAX_L];
        for (int64_t l = 0; l < L; ++l) top[l] = tile[l];
        for (int64_t j = 1; j < kb; ++j)
            for (int64_t l = 0; l < L; ++l)
                top[l] = tile[j * L + l] > top[l] ? tile[j * L + l] : top[l];
        int grown = 0;
        if (k0 == 0)
            memcpy(m, top, sizeof(real) * (size_t)L);
        else
            for (int64_t l = 0; l < L; ++l) grown |= top[l] > m[l];
        if (grown) { /* rare: about log(K / THIN_BLOCK) times per row */
            for (int64_t l = 0; l < L; ++l) {
                f[l] = top[l] > m[l] ? m[l] - top[l] : 0; /* -inf where m was: S, dsA are 0 */
                m[l] = top[l] > m[l] ? top[l] : m[l];
            }
            FR_SUFFIX(fastrnn_exp)(L, f);
            for (int64_t l = 0; l < L; ++l) S[l] *= f[l];
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t i = 0; i < H; ++i) dsA[r * Hp + i] *= f[r];
        }
        /* exp(z - m), and exp(-inf) = 0 where m is -inf (every logit so far -inf) */
        for (int64_t j = 0; j < kb; ++j)
            for (int64_t l = 0; l < L; ++l)
                tile[j * L + l] = m[l] == -INFINITY ? -INFINITY : tile[j * L + l] - m[l];
        FR_SUFFIX(fastrnn_exp)(kb * L, tile);
        for (int64_t e = kb * L; e < THIN_BLOCK * L; ++e) tile[e] = 0;
        for (int64_t j = 0; j < kb; ++j)
            for (int64_t l = 0; l < L; ++l) S[l] += tile[j * L + l];
        memcpy(Mb + k0 / THIN_BLOCK * L, m, sizeof(real) * (size_t)L);
        switch (nv) {
            case 1:
                FR_SUFFIX(thin_ds_block)(1, rows, H, Hp, tile, Vb, dsA);
                break;
            case 2:
                FR_SUFFIX(thin_ds_block)(2, rows, H, Hp, tile, Vb, dsA);
                break;
            default:
                FR_SUFFIX(thin_ds_block)(3, rows, H, Hp, tile, Vb, dsA);
                break;
        }
    }

    /* -log o[target] = log(sum_k exp(z_k - m)) - (z_target - m); ds as above */
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
        real *ds_r = ds + r * H;
        if (!keep[r]) {
            for (int64_t i = 0; i < H; ++i) ds_r[i] = 0;
            continue;
        }
        total += log(S[r]) - (zt[r] - m[r]);
        const real *V_t = V + targets[r] * H;
        const real p_scale = (real)(scale / S[r]);
        for (int64_t i = 0; i < H; ++i) ds_r[i] = dsA[r * Hp + i] * p_scale - (real)scale * V_t[i];
    }
    *loss = scale * total;

    next = 0;
    for (int64_t k0 = 0; k0 < K; k0 += THIN_BLOCK) {
        const int64_t kb = K - k0 < THIN_BLOCK ? K - k0 : THIN_BLOCK;
        const real *Mk = Mb + k0 / THIN_BLOCK * L, *tile = E + k0 * L;
        if (k0 == 0 || memcmp(Mk, Mk - L, sizeof(real) * (size_t)L) != 0) {
            /* G = exp(m_block - m) scale / S: the block's e to dL/dz */
            for (int64_t l = 0; l < L; ++l) G[l] = Mk[l] == -INFINITY ? -INFINITY : Mk[l] - m[l];
            FR_SUFFIX(fastrnn_exp)(L, G);
            for (int64_t l = 0; l < L; ++l) G[l] *= keep[l] ? (real)(scale / S[l]) : 0;
        }
        for (int64_t j = 0; j < THIN_BLOCK; ++j)
            for (int64_t l = 0; l < L; ++l) p[j * L + l] = keep[l] ? tile[j * L + l] * G[l] : 0;
        for (; next < n_keep && targets[order[next]] < k0 + kb; ++next)
            p[(targets[order[next]] - k0) * L + order[next]] -= (real)scale;
        if (dc != NULL)
            for (int64_t j = 0; j < kb; ++j) {
                real sum = 0;
                for (int64_t r = 0; r < rows; ++r) sum += p[j * L + r];
                dc[k0 + j] = sum;
            }
        const real *ahead = k0 + 3 * THIN_BLOCK <= K ? dV + (k0 + 2 * THIN_BLOCK) * H : dV + k0 * H;
        /* a last block of kb < THIN_BLOCK rows goes through V_last (the first pass's
         * copy of V's last block, no longer read), then its kb rows to dV */
        real *dVk = kb == THIN_BLOCK ? dV + k0 * H : V_last;
        switch (nv) {
            case 1:
                FR_SUFFIX(thin_dV_block)(rows, 1, H, Hp, p, sA, dVk, ahead);
                break;
            case 2:
                FR_SUFFIX(thin_dV_block)(rows, 2, H, Hp, p, sA, dVk, ahead);
                break;
            default:
                FR_SUFFIX(thin_dV_block)(rows, 3, H, Hp, p, sA, dVk, ahead);
                break;
        }
        if (dVk != dV + k0 * H) memcpy(dV + k0 * H, dVk, sizeof(real) * (size_t)(kb * H));
    }
}

/* 1 when softmax_loss takes the thin path: rows fill from half a vector to THIN_VECS of
 * them, H fills a vector, and V has 100000 elements or more. Measured against the BLAS
 * path: fewer rows (one row is a GEMV) or a smaller V (packed within the caches) run
 * faster there. */
static int FR_SUFFIX(thin_fits)(int64_t rows, int64_t H, int64_t K) {
    return 2 * rows >= LANES && rows <= THIN_VECS * LANES && H >= LANES && H * K >= 100000;
}
#undef LANES
#undef VEC
#endif /* FR_THIN */

/* fastrnn_softmax_loss once its arguments are checked; zero (zero_len elements, or NULL)
 * is set to 0 on the way (by the thin path while it streams V, else first). */
static void FR_SUFFIX(softmax_loss_checked)(
    const fastrnn_softmax_dims *dims, fastrnn_reduction reduction, const real *restrict s,
    const real *restrict V, const real *restrict c, const int64_t *restrict targets,
    const uint8_t *restrict mask, double *restrict loss, real *restrict ds, real *restrict dV,
    real *restrict dc, real *restrict work, real *restrict zero, int64_t zero_len) {
    const int64_t rows = dims->T * dims->B, H = dims->H, K = dims->K;
    real *dz = work;               /* (rows, K): logits, then exp, then dL/dz */
    real *aside = work + rows * K; /* (rows): shifted target logits, then ones */

    int64_t count = 0; /* unmasked targets */
    for (int64_t r = 0; r < rows; ++r) count += mask == NULL || mask[r] != 0;
    /* The mean over no targets is 0, with zero gradients: an all-padding batch is a no-op. */
    const double scale = reduction == FASTRNN_REDUCE_SUM ? 1.0
                         : count > 0                     ? 1.0 / (double)count
                                                         : 0.0;

#if FR_THIN
    if (FR_SUFFIX(thin_fits)(rows, H, K)) {
        FR_SUFFIX(thin_softmax_loss)(rows, H, K, scale, s, V, c, targets, mask, loss, ds, dV, dc,
                                     work, zero, zero_len);
        return;
    }
#endif
    if (zero != NULL)
        for (int64_t e = 0; e < zero_len; ++e) zero[e] = 0;
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

    /* dV = dz.T @ s  (K, H), over all T*B rows */
    GEMM(1, 0, K, H, rows, 1, dz, K, s, H, 0, dV, H);
    /* ds = dz @ V  (T*B, H) */
    GEMM(0, 0, rows, H, K, 1, dz, K, V, H, 0, ds, H);
    if (c != NULL) {
        for (int64_t r = 0; r < rows; ++r) aside[r] = 1;
        /* dc = ones @ dz  (K,): the column sums of dz */
        GEMM(0, 0, 1, K, rows, 1, aside, rows, dz, K, 0, dc, K);
    }
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
    if (!ids_in_range(dims->T * dims->B, targets, dims->K)) return FASTRNN_ERR_ARG;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    FR_SUFFIX(softmax_loss_checked)(dims, reduction, s, V, c, targets, mask, loss, ds, dV, dc, work,
                                    NULL, 0);
    return FASTRNN_OK;
}

/* The tutorial's bptt in one call (see lm.c): embedding lookup, rnn_forward from s0 = 0
 * without bias, softmax_loss summed with dU zeroed on the way, rnn_backward with the
 * window, and the scatter of dx into dU's columns: the calls and the order of operations
 * of compat.RNNNumpy.bptt's five kernels, so the same numbers. */
fastrnn_status FR_SUFFIX(fastrnn_tutorial_bptt)(const fastrnn_dims *dims, int64_t truncate,
                                                const int64_t *restrict ids,
                                                const int64_t *restrict targets,
                                                const real *restrict U, const real *restrict V,
                                                const real *restrict W, double *restrict loss,
                                                real *restrict dU, real *restrict dV,
                                                real *restrict dW, real *restrict work) {
    if (!tutorial_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (ids == NULL || targets == NULL || U == NULL || V == NULL || W == NULL || loss == NULL ||
        dU == NULL || dV == NULL || dW == NULL || work == NULL)
        return FASTRNN_ERR_ARG;
    const int64_t rows = dims->T * dims->B, H = dims->H, D = dims->D;
    if (!ids_in_range(rows, ids, D) || !ids_in_range(rows, targets, D)) return FASTRNN_ERR_ARG;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const fastrnn_dims rnn = {dims->T, dims->B, H, H}; /* the input is the projection */
    const fastrnn_softmax_dims out = {dims->T, dims->B, H, D};
    real *x = work, *s = x + rows * H, *ds = s + rows * H, *dx = ds + rows * H;
    real *s0 = dx + rows * H, *ds0 = s0 + dims->B * H, *rest = ds0 + dims->B * H;
    fastrnn_status status = FR_SUFFIX(fastrnn_embedding_forward)(dims, ids, U, x);
    for (int64_t i = 0; i < dims->B * H; ++i) s0[i] = 0;
    if (status == FASTRNN_OK)
        status = FR_SUFFIX(fastrnn_rnn_forward)(&rnn, FASTRNN_TANH, x, s0, NULL, W, NULL, s, rest);
    if (status != FASTRNN_OK) return status;
    FR_SUFFIX(softmax_loss_checked)(&out, FASTRNN_REDUCE_SUM, s, V, NULL, targets, NULL, loss, ds,
                                    dV, NULL, rest, dU, H * D);
    if (truncate < 0) { /* an empty window: no gradient reaches U or W */
        for (int64_t i = 0; i < H * H; ++i) dW[i] = 0;
        return FASTRNN_OK;
    }
    status = FR_SUFFIX(fastrnn_rnn_backward)(&rnn, FASTRNN_TANH, tutorial_window(dims, truncate), x,
                                             s0, NULL, W, s, ds, dx, ds0, NULL, dW, NULL, rest);
    if (status != FASTRNN_OK) return status;
    /* embedding_backward's scatter-add into the zeroed dU, in the same order */
    for (int64_t r = 0; r < rows; ++r) {
        real *column = dU + ids[r];
        const real *dx_r = dx + r * H;
        for (int64_t i = 0; i < H; ++i) column[i * D] += dx_r[i];
    }
    return FASTRNN_OK;
}

#undef GEMM
