/* Body of the packed products, included by packed_gemm.c once per scalar type with
 *   real, FR_SUFFIX(n)   the scalar type and the name suffix (_f32 or _f64)
 *   NR                   panel width in elements (two 64-byte vectors)
 *   LANES, VEC, MASK, SET1, ZERO, LOAD, FMADD, MASK_LOAD, MASK_STORE
 *                        the AVX-512 vector type and operations, when FASTRNN_PACKED_AVX512
 * No include guard on purpose. */

int64_t FR_SUFFIX(fastrnn_pack_len)(int64_t K, int64_t N) { return (N + NR - 1) / NR * NR * K; }

void FR_SUFFIX(fastrnn_pack)(int trans, int64_t K, int64_t N, const real *W, int64_t ldw,
                             real *packed) {
    const int64_t panels = (N + NR - 1) / NR;
    for (int64_t p = 0; p < panels; ++p) {
        real *panel = packed + p * NR * K;
        const int64_t j0 = p * NR, width = N - j0 < NR ? N - j0 : NR;
        for (int64_t k = 0; k < K; ++k) {
            real *row = panel + k * NR;
            /* op(W)[k, j] = W[k, j] (trans = 0) or W[j, k] (trans = 1) */
            if (trans)
                for (int64_t j = 0; j < width; ++j) row[j] = W[(j0 + j) * ldw + k];
            else
                for (int64_t j = 0; j < width; ++j) row[j] = W[k * ldw + j0 + j];
            for (int64_t j = width; j < NR; ++j) row[j] = 0;
        }
    }
}

void FR_SUFFIX(fastrnn_packed_gemm_plain)(int64_t M, int64_t N, int64_t K, const real *A,
                                          int64_t lda, const real *packed, int accumulate, real *C,
                                          int64_t ldc) {
    const int64_t panels = (N + NR - 1) / NR;
    for (int64_t m = 0; m < M; ++m) {
        const real *a = A + m * lda;
        real *c = C + m * ldc;
        for (int64_t p = 0; p < panels; ++p) {
            const real *panel = packed + p * NR * K;
            const int64_t j0 = p * NR, width = N - j0 < NR ? N - j0 : NR;
            real acc[NR];
            for (int64_t j = 0; j < NR; ++j) acc[j] = accumulate && j < width ? c[j0 + j] : 0;
            for (int64_t k = 0; k < K; ++k)
                for (int64_t j = 0; j < NR; ++j) acc[j] += a[k] * panel[k * NR + j];
            for (int64_t j = 0; j < width; ++j) c[j0 + j] = acc[j];
        }
    }
}

#if FASTRNN_PACKED_AVX512

/* C[0:MR, cols of NP panels] (+)= A[0:MR, :] @ panels, in MR * NP * 2 registers.
 * width: valid columns of C from the first panel's start (may end inside the last panel).
 * Called with constant MR and NP, so that the loops unroll and acc lives in registers. */
AVX512_INLINE void FR_SUFFIX(tile)(const int MR, const int NP, int64_t K, const real *A,
                                   int64_t lda, const real *panel, int64_t panel_len,
                                   int accumulate, real *C, int64_t ldc, int64_t width) {
    VEC acc[6][8];
    MASK mask[8];
#pragma GCC unroll 8
    for (int v = 0; v < 2 * NP; ++v) {
        const int64_t left = width - (int64_t)v * LANES;
        mask[v] = left >= LANES ? (MASK) ~(MASK)0 : left <= 0 ? (MASK)0 : (MASK)((1u << left) - 1);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; ++v)
            acc[i][v] = accumulate ? MASK_LOAD(mask[v], C + i * ldc + v * LANES) : ZERO();
    for (int64_t k = 0; k < K; ++k) {
        VEC b[8];
#pragma GCC unroll 8
        for (int q = 0; q < NP; ++q) {
            b[2 * q] = LOAD(panel + q * panel_len + k * NR);
            b[2 * q + 1] = LOAD(panel + q * panel_len + k * NR + LANES);
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const VEC a = SET1(A[i * lda + k]);
#pragma GCC unroll 8
            for (int v = 0; v < 2 * NP; ++v) acc[i][v] = FMADD(a, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; ++v) MASK_STORE(C + i * ldc + v * LANES, mask[v], acc[i][v]);
}

/* One tile of mr (1..6) rows by NP panels, mr known only at run time. */
#define FR_TILE_CASES(NP)                                                                   \
    switch (mr) {                                                                           \
        case 1:                                                                             \
            FR_SUFFIX(tile)(1, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
            break;                                                                          \
        case 2:                                                                             \
            FR_SUFFIX(tile)(2, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
            break;                                                                          \
        case 3:                                                                             \
            FR_SUFFIX(tile)(3, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
            break;                                                                          \
        case 4:                                                                             \
            FR_SUFFIX(tile)(4, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
            break;                                                                          \
        case 5:                                                                             \
            FR_SUFFIX(tile)(5, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
            break;                                                                          \
        default:                                                                            \
            FR_SUFFIX(tile)(6, NP, K, A, lda, panel, panel_len, accumulate, C, ldc, width); \
    }

AVX512_FN static void FR_SUFFIX(tile_np1)(int mr, int64_t K, const real *A, int64_t lda,
                                          const real *panel, int64_t panel_len, int accumulate,
                                          real *C, int64_t ldc,
                                          int64_t width){FR_TILE_CASES(1)} AVX512_FN
    static void FR_SUFFIX(tile_np2)(int mr, int64_t K, const real *A, int64_t lda,
                                    const real *panel, int64_t panel_len, int accumulate, real *C,
                                    int64_t ldc, int64_t width){FR_TILE_CASES(2)} AVX512_FN
    static void FR_SUFFIX(tile_np4)(int mr, int64_t K, const real *A, int64_t lda,
                                    const real *panel, int64_t panel_len, int accumulate, real *C,
                                    int64_t ldc, int64_t width) {
    if (mr == 1)
        FR_SUFFIX(tile)(1, 4, K, A, lda, panel, panel_len, accumulate, C, ldc, width);
    else if (mr == 2)
        FR_SUFFIX(tile)(2, 4, K, A, lda, panel, panel_len, accumulate, C, ldc, width);
    else
        FR_SUFFIX(tile)(3, 4, K, A, lda, panel, panel_len, accumulate, C, ldc, width);
}
#undef FR_TILE_CASES

static void FR_SUFFIX(packed_gemm_avx512)(int64_t M, int64_t N, int64_t K, const real *A,
                                          int64_t lda, const real *packed, int accumulate, real *C,
                                          int64_t ldc) {
    const int64_t panels = (N + NR - 1) / NR, panel_len = NR * K;
    /* few rows: one row block, four panels at a time; else blocks of 6 rows, two panels */
    const int64_t rows = M <= 3 ? M : 6, group = M <= 3 ? 4 : 2;
    for (int64_t p = 0; p < panels; p += group) {
        const int64_t np = panels - p < group ? panels - p : group;
        const real *panel = packed + p * panel_len;
        const int64_t width = N - p * NR;
        for (int64_t m = 0; m < M; m += rows) {
            const int mr = (int)(M - m < rows ? M - m : rows);
            const real *a = A + m * lda;
            real *c = C + m * ldc + p * NR;
            if (np == 4)
                FR_SUFFIX(tile_np4)(mr, K, a, lda, panel, panel_len, accumulate, c, ldc, width);
            else if (np >= 2) {
                FR_SUFFIX(tile_np2)(mr, K, a, lda, panel, panel_len, accumulate, c, ldc, width);
                if (np == 3)
                    FR_SUFFIX(tile_np1)(mr, K, a, lda, panel + 2 * panel_len, panel_len, accumulate,
                                        c + 2 * NR, ldc, width - 2 * NR);
            } else
                FR_SUFFIX(tile_np1)(mr, K, a, lda, panel, panel_len, accumulate, c, ldc, width);
        }
    }
}
#endif

void FR_SUFFIX(fastrnn_packed_gemm)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                    const real *packed, int accumulate, real *C, int64_t ldc) {
#if FASTRNN_PACKED_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        FR_SUFFIX(packed_gemm_avx512)(M, N, K, A, lda, packed, accumulate, C, ldc);
        return;
    }
#endif
    FR_SUFFIX(fastrnn_packed_gemm_plain)(M, N, K, A, lda, packed, accumulate, C, ldc);
}
