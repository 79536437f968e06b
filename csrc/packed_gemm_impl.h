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
