/* Body of the packed products, included by packed_gemm.c once per scalar type with
 *   real, FR_SUFFIX(n)   the scalar type and the name suffix (_f32 or _f64)
 *   NR                   panel width in elements (one 64-byte vector)
 *   LANES, VEC, MASK, SET1, ZERO, LOAD, FMADD, MASK_LOAD, MASK_STORE
 *                        the AVX-512 vector type and operations, when FASTRNN_PACKED_AVX512
 * No include guard on purpose. */

/* The panels start at the first 64-byte boundary in the caller's buffer (hence NR elements
 * of slack in the length): a batch of one runs twice as fast with aligned panel loads. */
int64_t FR_SUFFIX(fastrnn_pack_len)(int64_t K, int64_t N) {
    return (N + NR - 1) / NR * NR * K + NR;
}

static size_t FR_SUFFIX(align_offset)(const real *p) {
    return (size_t)((64 - (uintptr_t)p % 64) % 64) / sizeof(real);
}

void FR_SUFFIX(fastrnn_pack)(int trans, int64_t K, int64_t N, const real *W, int64_t ldw,
                             real *packed) {
    packed += FR_SUFFIX(align_offset)(packed);
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
    packed += FR_SUFFIX(align_offset)(packed);
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

/* acc[i][v] += A[i lda] panel[v panel_len + 0:NR] for one k (A and panel at that k). */
AVX512_INLINE void FR_SUFFIX(kstep)(const int MR, const int NV, const real *A, int64_t lda,
                                    const real *panel, int64_t panel_len, VEC acc[6][8]) {
    VEC b[8];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = LOAD(panel + v * panel_len);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
        const VEC a = SET1(A[i * lda]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[i][v] = FMADD(a, b[v], acc[i][v]);
    }
}

/* C[0:MR, 0:NV NR] (+)= A[0:MR, 0:K] @ NV panels, in MR NV accumulator registers.
 * width: valid columns of C (may end inside the last panel; the rest is masked off).
 * Called with constant MR and NV, so that the loops unroll and acc lives in registers. */
AVX512_INLINE void FR_SUFFIX(tile)(const int MR, const int NV, const int PF, int64_t K,
                                   const real *A, int64_t lda, const real *panel, int64_t panel_len,
                                   int accumulate, real *C, int64_t ldc, int64_t width,
                                   const real *pf, int pf_nv, int64_t pf_rows) {
    VEC acc[6][8];
    MASK mask[8];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
        const int64_t left = width - (int64_t)v * NR;
        mask[v] = left >= NR ? (MASK) ~(MASK)0 : (MASK)((1u << left) - 1);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            acc[i][v] = accumulate ? MASK_LOAD(mask[v], C + i * ldc + v * NR) : ZERO();
    /* with PF, the first pf_rows k steps (at most K) prefetch a row of each of the pf_nv
     * panels at pf */
    int64_t k = 0;
    for (; PF && k < pf_rows && k < K; ++k) {
        for (int v = 0; v < pf_nv; ++v)
            _mm_prefetch((const char *)(pf + v * panel_len + k * NR), PF_HINT);
        FR_SUFFIX(kstep)(MR, NV, A + k, lda, panel + k * NR, panel_len, acc);
    }
    for (; k < K; ++k) FR_SUFFIX(kstep)(MR, NV, A + k, lda, panel + k * NR, panel_len, acc);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) MASK_STORE(C + i * ldc + v * NR, mask[v], acc[i][v]);
}

/* The tile of mr rows (1..6) by nv panels (1..4, or up to 8 for mr <= 3), known at run
 * time: one instance per pair, and one more that prefetches (pf_rows > 0). */
/* clang-format off */
#define FR_TILE(MR, NV) \
    case MR * 16 + NV: FR_SUFFIX(tile)(MR, NV, 0, K, A, lda, panel, panel_len, accumulate, C, \
                                       ldc, width, pf, pf_nv, pf_rows); return; \
    case 256 + MR * 16 + NV: FR_SUFFIX(tile)(MR, NV, 1, K, A, lda, panel, panel_len, accumulate, \
                                             C, ldc, width, pf, pf_nv, pf_rows); return;
#define FR_TILES3(NV) FR_TILE(1, NV) FR_TILE(2, NV) FR_TILE(3, NV)
#define FR_TILES6(NV) FR_TILES3(NV) FR_TILE(4, NV) FR_TILE(5, NV) FR_TILE(6, NV)
AVX512_FN static void FR_SUFFIX(tile_any)(int mr, int nv, int64_t K, const real *A, int64_t lda,
                                          const real *panel, int64_t panel_len, int accumulate,
                                          real *C, int64_t ldc, int64_t width,
                                          const real *pf, int pf_nv, int64_t pf_rows) {
    switch ((pf_rows > 0) * 256 + mr * 16 + nv) {
        FR_TILES6(1) FR_TILES6(2) FR_TILES6(3) FR_TILES6(4)
        FR_TILES3(5) FR_TILES3(6) FR_TILES3(7) FR_TILES3(8)
        default: break; /* not reached: the caller keeps to the pairs above */
    }
}
#undef FR_TILES6
#undef FR_TILES3
#undef FR_TILE
/* clang-format on */

/* Rows in blocks of at most 6 (as equal as possible: 16 rows are 6 + 5 + 5, not 6 + 6 + 4,
 * since a thin block runs its FMA chains at their latency), each by 4 panels at a time;
 * up to 3 rows in one block by 8 panels, so that a batch of one still has 8 independent
 * chains. k runs in chunks of KC: the chunk of a group of panels (4 KC NR elements,
 * 32 KB) stays in L1 while every row block uses it. More than MC rows (the products over
 * all steps at once) run in chunks of at most MC rows, outermost, so that a chunk's rows of
 * A and C stay in L2 while k and the panels sweep over them.
 * A packed matrix up to L2_BYTES (H = 256 for an LSTM) stays in L2 from step to step: k
 * chunks run outer, the panel groups inner. A larger one (the large shapes: 16 MiB for an
 * LSTM at H = 1024) comes from L3 or memory at every step: there the panel groups run
 * outer, so that each group's C tile stays in L1 over all of k and the panels are read as
 * contiguous streams, and every tile prefetches its share of the next chunk into L2 (the
 * first tile of a group would otherwise wait for memory). Every C element still sums its
 * k terms in order, whatever the chunks. */
static void FR_SUFFIX(packed_gemm_avx512)(int64_t M, int64_t N, int64_t K, const real *A,
                                          int64_t lda, const real *packed, int accumulate, real *C,
                                          int64_t ldc) {
    enum { KC = 128, MC = 96 };
    const int64_t L2_BYTES = (int64_t)1 << 20;
    const int64_t panels = (N + NR - 1) / NR, panel_len = NR * K, kchunks = (K + KC - 1) / KC;
    const int large = panels * panel_len * (int64_t)sizeof(real) > L2_BYTES;
    const int64_t chunks = (M + MC - 1) / MC;
    for (int64_t ch = 0, m0 = 0; ch < chunks; ++ch) {
        /* chunk ch has rows [m0, m0 + mc), the first M % chunks chunks one more */
        const int64_t mc = M / chunks + (ch < M % chunks);
        const int64_t group = mc <= 3 ? 8 : 4, blocks = mc <= 3 ? 1 : (mc + 5) / 6;
        const int64_t groups = (panels + group - 1) / group;
        const int64_t outer = large ? groups : kchunks, inner = large ? kchunks : groups;
        for (int64_t o = 0, i = 0; o < outer; i + 1 < inner ? ++i : (i = 0, ++o)) {
            /* this step runs panels [p, p + nv) over k in [k0, k0 + kc); the next one reads
             * panels [pn, pn + pf_nv) over k in [pk, pk + pf_kc) */
            const int64_t on = i + 1 < inner ? o : o + 1, in = i + 1 < inner ? i + 1 : 0;
            const int64_t p = (large ? o : i) * group, k0 = (large ? i : o) * KC;
            const int64_t pn = (large ? on : in) * group, pk = (large ? in : on) * KC;
            const int nv = (int)(panels - p < group ? panels - p : group);
            const int pf_nv =
                large && on < outer ? (int)(panels - pn < group ? panels - pn : group) : 0;
            const int64_t kc = K - k0 < KC ? K - k0 : KC,
                          pf_kc = pf_nv ? (K - pk < KC ? K - pk : KC) : 0;
            const int acc = accumulate || k0 > 0;
            const real *panel = packed + p * panel_len + k0 * NR;
            const real *pf = pf_nv ? packed + pn * panel_len + pk * NR : packed;
            const int64_t share = pf_nv ? (pf_kc + blocks - 1) / blocks : 0;
            for (int64_t blk = 0, m = m0; blk < blocks; ++blk) {
                /* block blk has rows [m, m + mr), the first mc % blocks one more; it prefetches
                 * rows [r0, r0 + rows) of the next step's panels */
                const int mr = (int)(mc / blocks + (blk < mc % blocks));
                const int64_t r0 = blk * share < pf_kc ? blk * share : pf_kc;
                const int64_t rows = pf_kc - r0 < share ? pf_kc - r0 : share;
                FR_SUFFIX(tile_any)(mr, nv, kc, A + m * lda + k0, lda, panel, panel_len, acc,
                                    C + m * ldc + p * NR, ldc, N - p * NR, pf + r0 * NR, pf_nv,
                                    rows);
                m += mr;
            }
        }
        m0 += mc;
    }
}
#endif

void FR_SUFFIX(fastrnn_packed_gemm)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                    const real *packed, int accumulate, real *C, int64_t ldc) {
#if FASTRNN_PACKED_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        FR_SUFFIX(packed_gemm_avx512)(M, N, K, A, lda, packed + FR_SUFFIX(align_offset)(packed),
                                      accumulate, C, ldc);
        return;
    }
#endif
    FR_SUFFIX(fastrnn_packed_gemm_plain)(M, N, K, A, lda, packed, accumulate, C, ldc);
}

/* The weight-gradient product C [+]= A.T @ Bm, both read in place (contract in
 * packed_gemm.h): k in blocks of FASTRNN_TN_KC, each block summed from zero, then added. */
void FR_SUFFIX(fastrnn_tn_gemm_plain)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                      const real *Bm, int64_t ldb, int accumulate, real *C,
                                      int64_t ldc) {
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
            real c = 0;
            for (int64_t k0 = 0; k0 < K; k0 += FASTRNN_TN_KC) {
                const int64_t k1 = k0 + FASTRNN_TN_KC < K ? k0 + FASTRNN_TN_KC : K;
                real sum = 0;
                for (int64_t k = k0; k < k1; ++k) sum += A[k * lda + m] * Bm[k * ldb + n];
                c = k0 == 0 && !accumulate ? sum : (k0 == 0 ? C[m * ldc + n] : c) + sum;
            }
            C[m * ldc + n] = c;
        }
}

#if FASTRNN_PACKED_AVX512

/* acc[i][v] += A[i] b[v] for one k: MR broadcasts of A's row k (contiguous), NV vectors b. */
AVX512_INLINE void FR_SUFFIX(tn_kstep)(const int MR, const int NV, const real *A, const VEC b[4],
                                       VEC acc[8][4]) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
        const VEC a = SET1(A[i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = FMADD(a, b[v], acc[i][v]);
    }
}

/* C[0:MR, 0:NV NR] (+)= A[0:K, 0:MR].T @ Bm[0:K, 0:NV NR] in MR NV accumulators from zero:
 * per k, NV vectors of Bm's row k and MR broadcasts of A's row k. add: C += the sums, else
 * C = the sums. Only the lanes of first (of vector 0) and last (of vector NV-1) are
 * written, and read from Bm on the row k = 0 (peel0) and the last peel1 rows, whose
 * vectors would reach outside Bm; on the other rows whole vectors are read (the lanes outside the
 * columns belong to the neighbouring rows, or to padding), since GCC keeps masks in memory
 * in such loops, a load more per vector. The first pf_a (pf_b) k steps prefetch the row K
 * rows further down of A (of Bm), the next block of k. */
AVX512_INLINE void FR_SUFFIX(tn_tile)(const int MR, const int NV, int64_t K, const real *A,
                                      int64_t lda, const real *Bm, int64_t ldb, int add, real *C,
                                      int64_t ldc, MASK first, MASK last, int peel0, int64_t peel1,
                                      int64_t pf_a, int64_t pf_b) {
    const MASK all = (MASK) ~(MASK)0;
    MASK mask[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
        mask[v] = (MASK)((v == 0 ? first : all) & (v == NV - 1 ? last : all));
    VEC acc[8][4], b[4];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = ZERO();
    int64_t k = 0;
    const int64_t k1 = K - peel1;
    if (peel0) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = MASK_LOAD(mask[v], Bm + v * NR);
        FR_SUFFIX(tn_kstep)(MR, NV, A, b, acc);
        k = 1;
    }
    for (; k < k1 && (k < pf_a || k < pf_b); ++k) {
        if (k < pf_a) _mm_prefetch((const char *)(A + (k + K) * lda), _MM_HINT_T0);
        if (k < pf_b)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v)
                _mm_prefetch((const char *)(Bm + (k + K) * ldb + v * NR), _MM_HINT_T1);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = LOAD(Bm + k * ldb + v * NR);
        FR_SUFFIX(tn_kstep)(MR, NV, A + k * lda, b, acc);
    }
    for (; k < k1; ++k) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = LOAD(Bm + k * ldb + v * NR);
        FR_SUFFIX(tn_kstep)(MR, NV, A + k * lda, b, acc);
    }
    for (; k < K; ++k) { /* the last peel1 rows */
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = MASK_LOAD(mask[v], Bm + k * ldb + v * NR);
        FR_SUFFIX(tn_kstep)(MR, NV, A + k * lda, b, acc);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            real *c = C + i * ldc + v * NR;
            const VEC sum = add ? ADD(MASK_LOAD(mask[v], c), acc[i][v]) : acc[i][v];
            MASK_STORE(c, mask[v], sum);
        }
}

/* clang-format off */
#define FR_TN_TILE(MR, NV) \
    case MR * 16 + NV: FR_SUFFIX(tn_tile)(MR, NV, K, A, lda, Bm, ldb, add, C, ldc, first, last, \
                                          peel0, peel1, pf_a, pf_b); return;
#define FR_TN_TILES6(NV) FR_TN_TILE(1, NV) FR_TN_TILE(2, NV) FR_TN_TILE(3, NV) \
                         FR_TN_TILE(4, NV) FR_TN_TILE(5, NV) FR_TN_TILE(6, NV)
#define FR_TN_TILES8(NV) FR_TN_TILES6(NV) FR_TN_TILE(7, NV) FR_TN_TILE(8, NV)
AVX512_FN static void FR_SUFFIX(tn_tile_any)(int mr, int nv, int64_t K, const real *A, int64_t lda,
                                             const real *Bm, int64_t ldb, int add, real *C,
                                             int64_t ldc, MASK first, MASK last, int peel0,
                                             int64_t peel1, int64_t pf_a, int64_t pf_b) {
    switch (mr * 16 + nv) {
        FR_TN_TILES8(1) FR_TN_TILES8(2) FR_TN_TILES8(3) FR_TN_TILES6(4)
        default: break; /* not reached: mr 1..8 with nv 1..3, 1..6 with nv 4 */
    }
}
#undef FR_TN_TILES8
#undef FR_TN_TILES6
#undef FR_TN_TILE
/* clang-format on */

/* When Bm's rows all share one offset lo from a 64-byte boundary (NumPy aligns to 16
 * bytes), the columns are read from lo elements before each row, so that every vector load
 * is aligned (misaligned, they split cache lines and the product ran ~20% slower): N + lo
 * columns, the first lo and those past N masked off (C is addressed the same way).
 * k in blocks of KC outermost; in a block, the vectors of columns in groups of at most 4, as
 * equal as possible (a (KC, 4 NR)-element block of Bm, 32 KB, stays in L1 while every row
 * block of C uses it), then rows of C in blocks of at most 6 (8 for groups of at most 3
 * vectors: 24 accumulators), as equal as possible. The first tiles of a block prefetch the
 * next block of A and of Bm. */
static void FR_SUFFIX(tn_gemm_avx512)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                      const real *Bm, int64_t ldb, int accumulate, real *C,
                                      int64_t ldc) {
    const int lo =
        (ldb * (int64_t)sizeof(real)) % 64 == 0 ? (int)((uintptr_t)Bm % 64 / sizeof(real)) : 0;
    const int64_t cols = N + lo, vecs = (cols + NR - 1) / NR, groups = (vecs + 3) / 4;
    const MASK all = (MASK) ~(MASK)0;
    const int64_t end = cols - (vecs - 1) * NR; /* lanes of the last vector, 1..NR */
    const MASK first = (MASK)(all << lo), last = end >= NR ? all : (MASK)((1u << end) - 1);
    /* whole vectors of the last rows would reach past Bm's last element (by NR - end lanes):
     * those rows read the last vector masked (the last row only, when ldb >= NR) */
    const int64_t tail_rows = end >= NR ? 0 : (NR - end + ldb - 1) / ldb;
    Bm -= lo;
    C -= lo;
    for (int64_t k0 = 0; k0 < K; k0 += FASTRNN_TN_KC) {
        const int64_t kc = K - k0 < FASTRNN_TN_KC ? K - k0 : FASTRNN_TN_KC;
        const int add = accumulate || k0 > 0;
        /* rows of the next block (at most kc), which the first tiles prefetch */
        const int64_t rest = K - k0 - kc, next = rest < kc ? rest : kc;
        for (int64_t g = 0, p = 0; g < groups; ++g) {
            /* group g has vectors [p, p + nv), the first vecs % groups one more */
            const int nv = (int)(vecs / groups + (g < vecs % groups));
            const int64_t rows = nv == 4 ? 6 : 8, blocks = (M + rows - 1) / rows;
            const MASK f = p == 0 ? first : all, l = p + nv == vecs ? last : all;
            const int peel0 = k0 == 0 && f != all;
            int64_t peel1 = l == all ? 0 : k0 + kc - (K - tail_rows);
            peel1 = peel1 < 0 ? 0 : peel1 > kc - peel0 ? kc - peel0 : peel1;
            for (int64_t blk = 0, m = 0; blk < blocks; ++blk) {
                const int mr = (int)(M / blocks + (blk < M % blocks));
                FR_SUFFIX(tn_tile_any)(mr, nv, kc, A + k0 * lda + m, lda, Bm + k0 * ldb + p * NR,
                                       ldb, add, C + m * ldc + p * NR, ldc, f, l, peel0, peel1,
                                       g == 0 ? next : 0, blk == 0 ? next : 0);
                m += mr;
            }
            p += nv;
        }
    }
}
#endif

void FR_SUFFIX(fastrnn_tn_gemm)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                const real *Bm, int64_t ldb, int accumulate, real *C, int64_t ldc) {
#if FASTRNN_PACKED_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        FR_SUFFIX(tn_gemm_avx512)(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);
        return;
    }
#endif
    FR_SUFFIX(fastrnn_tn_gemm_plain)(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);
}
