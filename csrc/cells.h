/* Internal to the gated cells (lstm.c, gru.c), not part of the public API: the size check.
 * Their typed helpers are in cells_impl.h; their elementwise passes inline the scalar
 * activations of activations.h. */
#ifndef FASTRNN_CELLS_H
#define FASTRNN_CELLS_H

#include <stddef.h>
#include <stdint.h>

#include "activations.h"
#include "fastrnn.h"
#include "packed_gemm.h"
#include "stream_gemm.h"

/* Sizes must be positive; every GEMM dimension (T*B rows, G*H gate columns, D) must fit
 * the BLAS's int; and T*B*G*H times the few buffers a workspace holds must fit int64_t.
 * G is the number of gates (4 for the LSTM, 3 for the GRU). */
static inline int cell_dims_ok(const fastrnn_dims *d, int64_t G) {
    if (d == NULL) return 0;
    if (d->T < 1 || d->B < 1 || d->D < 1 || d->H < 1) return 0;
    if (d->D > FASTRNN_MAX_GEMM_DIM || d->H > FASTRNN_MAX_GEMM_DIM / G) return 0;
    if (d->T > FASTRNN_MAX_GEMM_DIM / d->B) return 0;
    if (d->T * d->B > INT64_MAX / 16 / (G * d->H)) return 0;
    return 1;
}

/* The per-step products go to the packed kernels (packed_gemm.h) when the CPU has their
 * SIMD version: W is packed once per call into the workspace, where a BLAS GEMM re-packs
 * it at every step (1 MB per step for the LSTM at H = 256). Without it, BLAS runs. */
static inline int cell_uses_packed(const fastrnn_dims *d) {
    return fastrnn_packing_pays(d->T, d->B);
}

/* Elements for a packed (K,N) right-hand side of either precision (float's panels are the
 * wider), at least K*N: the workspace length must not depend on the CPU, and the BLAS path
 * keeps its W.T (K,N) in the same place. */
static inline int64_t cell_pack_len(int64_t K, int64_t N) {
    const int64_t f32 = fastrnn_pack_len_f32(K, N), f64 = fastrnn_pack_len_f64(K, N);
    return f32 > f64 ? f32 : f64;
}

/* Steps per chunk of the input projection when the gates are not kept (the inference
 * kernels): about CELL_CHUNK_ROWS rows of gate pre-activations, at least one step, at most
 * T, and the chunks balanced (T split into equal chunks but for one, less by < 1 step per
 * chunk), so that no chunk is a sliver whose GEMM runs at a fraction of the speed. */
#ifndef CELL_CHUNK_ROWS
#define CELL_CHUNK_ROWS 512
#endif
static inline int64_t cell_chunk_steps(const fastrnn_dims *d) {
    int64_t steps = (CELL_CHUNK_ROWS + d->B - 1) / d->B;
    steps = steps < 1 ? 1 : steps > d->T ? d->T : steps;
    const int64_t chunks = (d->T + steps - 1) / steps;
    return (d->T + chunks - 1) / chunks;
}

/* Whether the inference kernels run in the transposed domain (lstm_infer_streamed,
 * gru_infer_streamed): the batch on the columns, gates.T (G*H,B) = U @ x_t.T + W @ h.T with
 * U and W read in place (stream_gemm.h), so that the workspace is O(B*(D + G*H)): neither a
 * packed copy of W (G*H*H) nor a chunk of projected steps. Chosen by shape only (the
 * workspace length must not depend on the CPU), where it runs as fast as the packed path:
 * measured side by side (thread CPU time, paired rounds, float32) at B = 64 it is within
 * 2 % of it for H = 512 and 1024 (LSTM 0.99, GRU 1.01 at the large shape), while at
 * B = 16 or 32 it is 5-30 % slower (the product with W's rows broadcast against B columns
 * has fewer columns to reuse them on), and far slower at B = 1. Smaller calls keep the
 * chunked path. */
#ifndef CELL_STREAM_MIN_B
#define CELL_STREAM_MIN_B 64
#endif
#ifndef CELL_STREAM_MIN_H
#define CELL_STREAM_MIN_H 512
#endif
static inline int cell_streams(const fastrnn_dims *d) {
    return d->B >= CELL_STREAM_MIN_B && d->H >= CELL_STREAM_MIN_H;
}

/* out (cols,rows) = a.T for a (rows,cols) of float, in 16 x 16 tiles transposed in AVX-512
 * registers (three rounds of shuffles), the edges element by element: the transposes of
 * the transposed domain (x_t.T in, s_t out, every step) at a few % of a step, where the
 * scalar tiles of cells_impl.h's transpose, its twin, take 4-5 % at the large shape
 * (rows of 4 KiB apart on one side). cell_transpose_simd says whether the CPU has it. */
#if defined(__GNUC__) && defined(__x86_64__) && \
    ((!defined(__clang__) && __GNUC__ >= 8) || (defined(__clang__) && __clang_major__ >= 8))
#define CELL_TRANSPOSE_AVX512 1
#include <immintrin.h>
static inline int cell_transpose_simd(void) { return __builtin_cpu_supports("avx512f") ? 1 : 0; }
__attribute__((target("avx512f"))) static void cell_transpose_avx512_f32(int64_t rows,
                                                                         int64_t cols,
                                                                         const float *restrict a,
                                                                         float *restrict out) {
    int64_t i0 = 0;
    for (; i0 + 16 <= rows; i0 += 16) {
        int64_t j0 = 0;
        for (; j0 + 16 <= cols; j0 += 16) {
            __m512 r[16], t[16];
            for (int k = 0; k < 16; ++k) r[k] = _mm512_loadu_ps(a + (i0 + k) * cols + j0);
            for (int k = 0; k < 16; k += 2) { /* pairs of rows, element by element */
                t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
                t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
            }
            for (int k = 0; k < 16; k += 4) { /* then pairs of elements */
                const __m512d t0 = _mm512_castps_pd(t[k]), t1 = _mm512_castps_pd(t[k + 1]);
                const __m512d t2 = _mm512_castps_pd(t[k + 2]), t3 = _mm512_castps_pd(t[k + 3]);
                r[k] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
                r[k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
                r[k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
                r[k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
            }
            for (int k = 0; k < 4; ++k) { /* then 128-bit lanes, twice */
                t[k] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0x88);
                t[k + 4] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0xdd);
                t[k + 8] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0x88);
                t[k + 12] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0xdd);
            }
            for (int k = 0; k < 4; ++k) {
                r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
                r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
                r[k + 4] = _mm512_shuffle_f32x4(t[k + 4], t[k + 12], 0x88);
                r[k + 12] = _mm512_shuffle_f32x4(t[k + 4], t[k + 12], 0xdd);
            }
            for (int k = 0; k < 16; ++k) _mm512_storeu_ps(out + (j0 + k) * rows + i0, r[k]);
        }
        for (int64_t i = i0; i < i0 + 16; ++i)
            for (int64_t j = j0; j < cols; ++j) out[j * rows + i] = a[i * cols + j];
    }
    for (int64_t i = i0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = a[i * cols + j];
}
#else
#define CELL_TRANSPOSE_AVX512 0
#endif

/* On a helper of cells_impl.h that one of the two cells does not call (no warning). */
#if defined(__GNUC__)
#define CELL_MAYBE_UNUSED __attribute__((unused))
#else
#define CELL_MAYBE_UNUSED
#endif

/* Rows per partial sum in the bias gradients (sum_rows in cells_impl.h). */
#define CELL_ROW_BLOCK 64

/* Side of the square tiles of transpose in cells_impl.h. */
#define CELL_TILE 32

#endif /* FASTRNN_CELLS_H */
