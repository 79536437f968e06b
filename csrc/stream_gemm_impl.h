/* Body of the products with A read in place, included by stream_gemm.c once per scalar type
 * with
 *   real, FR_SUFFIX(n)   the scalar type and the name suffix (_f32 or _f64)
 *   NR                   elements per 64-byte vector (also per cache line)
 *   VEC, MASK, SET1, ZERO, LOAD, STORE, FMADD, MASK_LOAD, MASK_STORE
 *                        the AVX-512 vector type and operations, when FASTRNN_STREAM_AVX512
 * No include guard on purpose. */

void FR_SUFFIX(fastrnn_stream_gemm_plain)(int64_t M, int64_t N, int64_t K, const real *A,
                                          int64_t lda, const real *Bm, int64_t ldb, int accumulate,
                                          real *C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i) {
        real *c = C + i * ldc;
        if (!accumulate)
            for (int64_t n = 0; n < N; ++n) c[n] = 0;
        for (int64_t k = 0; k < K; ++k) {
            const real a = A[i * lda + k];
            const real *b = Bm + k * ldb;
            for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
        }
    }
}

/* out (cols, rows) = A.T over rows [r0, r1) and columns [c0, c1), in tiles of 32 x 32. */
static void FR_SUFFIX(transpose_block)(int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                                       const real *A, int64_t lda, real *out, int64_t ldo) {
    for (int64_t i0 = r0; i0 < r1; i0 += 32)
        for (int64_t j0 = c0; j0 < c1; j0 += 32) {
            const int64_t i1 = i0 + 32 < r1 ? i0 + 32 : r1, j1 = j0 + 32 < c1 ? j0 + 32 : c1;
            for (int64_t i = i0; i < i1; ++i)
                for (int64_t j = j0; j < j1; ++j) out[j * ldo + i] = A[i * lda + j];
        }
}

void FR_SUFFIX(fastrnn_transpose_plain)(int64_t rows, int64_t cols, const real *A, int64_t lda,
                                        real *out, int64_t ldo) {
    FR_SUFFIX(transpose_block)(0, rows, 0, cols, A, lda, out, ldo);
}

#if FASTRNN_STREAM_AVX512

/* acc[i][v] += A[i lda] Bm[v NR : v NR + NR] for one k (A and Bm at that k); the last
 * vector is loaded under mask. */
AVX512_INLINE void FR_SUFFIX(skstep)(const int MR, const int NV, const real *A, int64_t lda,
                                     const real *Bm, MASK last, VEC acc[12][4]) {
    VEC b[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
        b[v] = v + 1 < NV ? LOAD(Bm + v * NR) : MASK_LOAD(last, Bm + v * NR);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
        const VEC a = SET1(A[i * lda]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = FMADD(a, b[v], acc[i][v]);
    }
}

/* Cache lines ahead that a tile prefetches along its rows of A (measured through the RNN
 * forward at B = 64, H = 1024, best of 6 interleaved runs: 4 lines 227 ms, 16 lines 202,
 * 32 lines 202, the packed product 196-198). */
#ifndef STREAM_PF_LINES
#define STREAM_PF_LINES 16
#endif

/* C[0:MR, 0:width] (+)= A[0:MR, 0:K] @ Bm[0:K, 0:width], NV = ceil(width / NR), in MR NV
 * accumulator registers. Called with constant MR and NV, so that the loops unroll and acc
 * lives in registers. k runs a cache line of A (NR elements) at a time, prefetching each
 * row's line STREAM_PF_LINES ahead. */
AVX512_INLINE void FR_SUFFIX(stile)(const int MR, const int NV, int64_t K, const real *A,
                                    int64_t lda, const real *Bm, int64_t ldb, int accumulate,
                                    real *C, int64_t ldc, int64_t width) {
    VEC acc[12][4];
    const int64_t left = width - (int64_t)(NV - 1) * NR;
    const MASK last = left >= NR ? (MASK) ~(MASK)0 : (MASK)((1u << left) - 1);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
            acc[i][v] = !accumulate  ? ZERO()
                        : v + 1 < NV ? LOAD(C + i * ldc + v * NR)
                                     : MASK_LOAD(last, C + i * ldc + v * NR);
    int64_t k = 0;
    const real *b = Bm;
    for (; k + NR <= K; k += NR) {
#pragma GCC unroll 12
        for (int i = 0; i < MR; ++i)
            _mm_prefetch((const char *)(A + i * lda + k + STREAM_PF_LINES * NR), _MM_HINT_T0);
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) {
            FR_SUFFIX(skstep)(MR, NV, A + k + j, lda, b, last, acc);
            b += ldb;
        }
    }
    for (; k < K; ++k, b += ldb) FR_SUFFIX(skstep)(MR, NV, A + k, lda, b, last, acc);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            if (v + 1 < NV)
                STORE(C + i * ldc + v * NR, acc[i][v]);
            else
                MASK_STORE(C + i * ldc + v * NR, last, acc[i][v]);
        }
}

/* The tile of mr rows by nv vectors known at run time (the pairs of stream_max_rows). */
/* clang-format off */
#define FR_STILE(MR, NV) \
    case MR * 8 + NV: FR_SUFFIX(stile)(MR, NV, K, A, lda, Bm, ldb, accumulate, C, ldc, width); \
                      return;
#define FR_STILES6(NV) FR_STILE(1, NV) FR_STILE(2, NV) FR_STILE(3, NV) FR_STILE(4, NV) \
                       FR_STILE(5, NV) FR_STILE(6, NV)
#define FR_STILES8(NV) FR_STILES6(NV) FR_STILE(7, NV) FR_STILE(8, NV)
#define FR_STILES12(NV) FR_STILES8(NV) FR_STILE(9, NV) FR_STILE(10, NV) FR_STILE(11, NV) \
                        FR_STILE(12, NV)
AVX512_FN static void FR_SUFFIX(stile_any)(int mr, int nv, int64_t K, const real *A, int64_t lda,
                                           const real *Bm, int64_t ldb, int accumulate, real *C,
                                           int64_t ldc, int64_t width) {
    switch (mr * 8 + nv) {
        FR_STILES12(1) FR_STILES12(2) FR_STILES8(3) FR_STILES6(4)
        default: break; /* not reached: the caller keeps to the pairs above */
    }
}
#undef FR_STILES12
#undef FR_STILES8
#undef FR_STILES6
#undef FR_STILE
/* clang-format on */

/* Rows of a tile of nv vectors: at most 24 accumulators. */
static int64_t FR_SUFFIX(stream_max_rows)(int64_t nv) { return nv <= 2 ? 12 : nv == 3 ? 8 : 6; }

/* Bytes of Bm's rows per chunk of k (kept in L1 while every row block uses them) and of
 * C per chunk of rows (kept in L1 over the chunks of k). 32 KiB of Bm (128 steps of k at
 * B = 64) ran the large RNN forward with 16 prefetched lines in 198 ms, 20 KiB in 202. */
#ifndef STREAM_B_BYTES
#define STREAM_B_BYTES 32768
#endif
#ifndef STREAM_C_BYTES
#define STREAM_C_BYTES 16384
#endif

/* Columns in groups of at most 4 vectors (as equal as possible), rows in blocks of at most
 * stream_max_rows (as equal as possible: a thin block runs its FMA chains at their
 * latency). Loops, outermost first: chunks of rows, chunks of k, column groups, row blocks
 * of the chunk. Every C element still sums its k terms in order, whatever the chunks. */
static void FR_SUFFIX(stream_gemm_avx512)(int64_t M, int64_t N, int64_t K, const real *A,
                                          int64_t lda, const real *Bm, int64_t ldb, int accumulate,
                                          real *C, int64_t ldc) {
    const int64_t vecs = (N + NR - 1) / NR, groups = (vecs + 3) / 4;
    int64_t kc = STREAM_B_BYTES / (vecs * 64) / NR * NR;
    kc = kc < NR ? NR : kc;
    const int64_t kchunks = (K + kc - 1) / kc;
    int64_t mc = STREAM_C_BYTES / (vecs * 64);
    mc = mc < 12 ? 12 : mc;
    const int64_t mchunks = (M + mc - 1) / mc;
    for (int64_t ch = 0, m0 = 0; ch < mchunks; ++ch) {
        const int64_t rows = M / mchunks + (ch < M % mchunks);
        for (int64_t kk = 0; kk < kchunks; ++kk) {
            const int64_t k0 = kk * kc, kn = K - k0 < kc ? K - k0 : kc;
            const int acc = accumulate || k0 > 0;
            for (int64_t g = 0, v0 = 0; g < groups; ++g) {
                const int64_t nv = vecs / groups + (g < vecs % groups);
                const int64_t n0 = v0 * NR, width = N - n0 < nv * NR ? N - n0 : nv * NR;
                const int64_t maxr = FR_SUFFIX(stream_max_rows)(nv);
                const int64_t blocks = (rows + maxr - 1) / maxr;
                for (int64_t blk = 0, m = m0; blk < blocks; ++blk) {
                    const int64_t mr = rows / blocks + (blk < rows % blocks);
                    FR_SUFFIX(stile_any)((int)mr, (int)nv, kn, A + m * lda + k0, lda,
                                         Bm + k0 * ldb + n0, ldb, acc, C + m * ldc + n0, ldc,
                                         width);
                    m += mr;
                }
                v0 += nv;
            }
        }
        m0 += rows;
    }
}

/* out (NR, NR) = A (NR, NR).T in registers (transpose_tile, stream_gemm.c), then the full
 * tiles of A.T this way and the edges (rows or columns past the last whole tile) in plain
 * loops. */
AVX512_FN static void FR_SUFFIX(transpose_avx512)(int64_t rows, int64_t cols, const real *A,
                                                  int64_t lda, real *out, int64_t ldo) {
    const int64_t R = rows / NR * NR, Cn = cols / NR * NR;
    for (int64_t i = 0; i < R; i += NR)
        for (int64_t j = 0; j < Cn; j += NR)
            FR_SUFFIX(transpose_tile)(A + i * lda + j, lda, out + j * ldo + i, ldo);
    FR_SUFFIX(transpose_block)(0, R, Cn, cols, A, lda, out, ldo);
    FR_SUFFIX(transpose_block)(R, rows, 0, cols, A, lda, out, ldo);
}
#endif

void FR_SUFFIX(fastrnn_transpose)(int64_t rows, int64_t cols, const real *A, int64_t lda, real *out,
                                  int64_t ldo) {
#if FASTRNN_STREAM_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        FR_SUFFIX(transpose_avx512)(rows, cols, A, lda, out, ldo);
        return;
    }
#endif
    FR_SUFFIX(fastrnn_transpose_plain)(rows, cols, A, lda, out, ldo);
}

void FR_SUFFIX(fastrnn_stream_gemm)(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                                    const real *Bm, int64_t ldb, int accumulate, real *C,
                                    int64_t ldc) {
#if FASTRNN_STREAM_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        FR_SUFFIX(stream_gemm_avx512)(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);
        return;
    }
#endif
    FR_SUFFIX(fastrnn_stream_gemm_plain)(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);
}
