/* Products with the weight matrix as the left operand, read in place (no packed copy).
 *
 * The packed products (packed_gemm.h) keep a copy of op(W) in the workspace: H*H elements
 * (G*H*H for the gated cells), far more than the O(B*H) that inference may hold. Here a
 * recurrence runs in the transposed domain instead, the batch on the columns:
 *
 *   gates.T (M,N) = W (M,K) @ h.T (K,N)     M = G*H, K = H, N = B
 *
 * W's rows are read in place, one element at a time, broadcast against whole rows of the
 * narrow right-hand side (B elements, contiguous), so nothing of W is copied:
 *
 *   fastrnn_stream_gemm_f32(...)   C (M,N) = A (M,K) @ Bm (K,N)       (accumulate = 0)
 *                                  C (M,N) += A (M,K) @ Bm (K,N)      (accumulate = 1)
 *
 * and the same with _f64. Every matrix is row-major with a leading dimension (lda >= K,
 * ldb >= N, ldc >= N); C must not overlap A or Bm. With accumulate = 0, C is only written
 * (old contents, even NaN, are ignored). Each C element is the running sum over k in
 * order, whatever the blocking. Sizes are positive and already validated by the caller.
 *
 * An AVX-512 kernel runs when the CPU has it; the plain loops of stream_gemm.c run
 * otherwise and are the twin the tests compare it with. fastrnn_stream_gemm_is_simd() says
 * which one runs. */
#ifndef FASTRNN_STREAM_GEMM_H
#define FASTRNN_STREAM_GEMM_H

#include <stdint.h>

void fastrnn_stream_gemm_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *Bm, int64_t ldb, int accumulate, float *C, int64_t ldc);
void fastrnn_stream_gemm_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                             const double *Bm, int64_t ldb, int accumulate, double *C, int64_t ldc);

/* 1 when fastrnn_stream_gemm_* run a SIMD kernel on this CPU, 0 for the plain loops. */
int fastrnn_stream_gemm_is_simd(void);

/* The plain-loop products, whatever the CPU: the twin the tests compare with. */
void fastrnn_stream_gemm_plain_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                   const float *Bm, int64_t ldb, int accumulate, float *C,
                                   int64_t ldc);
void fastrnn_stream_gemm_plain_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                                   const double *Bm, int64_t ldb, int accumulate, double *C,
                                   int64_t ldc);

/* out (cols, rows) = A (rows, cols).T, row-major with leading dimensions lda >= cols and
 * ldo >= rows, no overlap: a recurrence in the transposed domain moves its states in and
 * out with it. AVX-512 in 16 x 16 (float) or 8 x 8 (double) register tiles when the CPU
 * has it (the plain loop's tiles of a large state, whose rows are 4 KiB apart, thrash L1),
 * the edges and the _plain twin in plain loops. */
void fastrnn_transpose_f32(int64_t rows, int64_t cols, const float *A, int64_t lda, float *out,
                           int64_t ldo);
void fastrnn_transpose_f64(int64_t rows, int64_t cols, const double *A, int64_t lda, double *out,
                           int64_t ldo);
void fastrnn_transpose_plain_f32(int64_t rows, int64_t cols, const float *A, int64_t lda,
                                 float *out, int64_t ldo);
void fastrnn_transpose_plain_f64(int64_t rows, int64_t cols, const double *A, int64_t lda,
                                 double *out, int64_t ldo);

#endif /* FASTRNN_STREAM_GEMM_H */
