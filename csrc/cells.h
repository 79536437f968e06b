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

/* On a helper of cells_impl.h that one of the two cells does not call (no warning). */
#if defined(__GNUC__)
#define CELL_MAYBE_UNUSED __attribute__((unused))
#else
#define CELL_MAYBE_UNUSED
#endif

/* Rows per partial sum in the bias gradients (sum_rows in cells_impl.h). */
#define CELL_ROW_BLOCK 64

#endif /* FASTRNN_CELLS_H */
