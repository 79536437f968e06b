/* Recurrent products against a matrix packed once per kernel call.
 *
 * A recurrence multiplies the same weight matrix by a small (B rows) state at every step.
 * A BLAS GEMM re-packs that matrix on every call (at H = 256, 256 KB of copying per step
 * against 4 MFLOP of work); here the caller packs op(W) once into its workspace and each
 * step runs only the product:
 *
 *   fastrnn_pack_len_f32(K, N)     elements of the packed form of a (K,N) matrix
 *   fastrnn_pack_f32(trans, ...)   packed = op(W), the (K,N) right-hand side
 *   fastrnn_packed_gemm_f32(...)   C (M,N) = A (M,K) @ op(W)       (accumulate = 0)
 *                                  C (M,N) += A (M,K) @ op(W)      (accumulate = 1)
 *
 * and the same with _f64. Every matrix is row-major with a leading dimension; A and C must
 * not overlap the packed buffer. With accumulate = 0, C is only written (old contents, even
 * NaN, are ignored). Each C element is the running sum over k in order, so results are
 * the same whatever the blocking and row count (they differ from a BLAS's order in the last
 * bits). M = 1 (one batch row) is served as well: a matrix-vector product with the packed
 * matrix hot in cache. Sizes are positive and already validated by the caller.
 *
 * The product picks an AVX-512 kernel at run time when the CPU has it; the plain loops in
 * packed_gemm.c run otherwise and are the twin the tests compare it with.
 * fastrnn_packed_gemm_is_simd() says which one runs (the kernels use BLAS instead when it
 * is 0: the plain loops are there for correctness, not speed). */
#ifndef FASTRNN_PACKED_GEMM_H
#define FASTRNN_PACKED_GEMM_H

#include <stdint.h>

/* Elements of the packed form of a (K,N) right-hand side (with a few of slack, since the
 * panels start at the first 64-byte boundary inside the buffer). */
int64_t fastrnn_pack_len_f32(int64_t K, int64_t N);
int64_t fastrnn_pack_len_f64(int64_t K, int64_t N);

/* packed = op(W) (K,N) in panel layout, fastrnn_pack_len(K, N) elements, all written.
 *   trans = 0: W is (K,N) with leading dimension ldw >= N   (products read A @ W)
 *   trans = 1: W is (N,K) with leading dimension ldw >= K   (products read A @ W.T) */
void fastrnn_pack_f32(int trans, int64_t K, int64_t N, const float *W, int64_t ldw, float *packed);
void fastrnn_pack_f64(int trans, int64_t K, int64_t N, const double *W, int64_t ldw,
                      double *packed);

/* C (M,N) = [C +] A (M,K) @ op(W), packed the pointer that fastrnn_pack filled with the same
 * K, N (or a copy of that buffer at the same address modulo 64 bytes).
 * lda >= K, ldc >= N. accumulate is 0 or 1. */
void fastrnn_packed_gemm_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *packed, int accumulate, float *C, int64_t ldc);
void fastrnn_packed_gemm_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                             const double *packed, int accumulate, double *C, int64_t ldc);

/* 1 when fastrnn_packed_gemm_* run a SIMD kernel on this CPU, 0 for the plain loops. */
int fastrnn_packed_gemm_is_simd(void);

/* Whether a call of T steps of B rows should pack its recurrent matrix: on this CPU, and
 * unless the call is a few one-row steps. A BLAS GEMM packs its operand at every call
 * anyway, but a one-row product is a GEMV that reads the matrix as it is, and packing costs
 * about as much as 10-15 of those (2-3.5 us against 0.2 saved per step at H = 100): the
 * one-step calls of generation would pay it for every token. */
static inline int fastrnn_packing_pays(int64_t T, int64_t B) {
    return (B > 1 || T >= 16) && fastrnn_packed_gemm_is_simd();
}

/* The plain-loop products, whatever the CPU: the twin the tests compare with. */
void fastrnn_packed_gemm_plain_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                   const float *packed, int accumulate, float *C, int64_t ldc);
void fastrnn_packed_gemm_plain_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                                   const double *packed, int accumulate, double *C, int64_t ldc);

/* Weight-gradient products, both operands read in place (nothing packed):
 *
 *   fastrnn_tn_gemm_f32(...)   C (M,N) = A.T @ Bm      A (K,M), Bm (K,N)   (accumulate = 0)
 *                              C (M,N) += A.T @ Bm                         (accumulate = 1)
 *
 * and the same with _f64: dW = da.T @ s_prev over K = T*B rows, where a BLAS packs both
 * operands (the transposed one at a fifth of the product's time at B = 16, H = 128).
 * Row-major with leading dimensions lda >= M, ldb >= N, ldc >= N; C must not overlap A or
 * Bm. k runs in blocks of FASTRNN_TN_KC: each C element adds the block's terms in order from
 * zero, then adds that block sum to C (or, for the first block with accumulate = 0, stores
 * it; old contents, even NaN, are ignored), so float32 rounding grows with K / KC + KC
 * rather than with K. An AVX-512 kernel runs where fastrnn_packed_gemm_is_simd() says so,
 * the plain loops (the twin, same blocks) otherwise. It keeps a (KC, 64)-element block of
 * Bm in L1 and sweeps C once per block: meant for a C that stays in L2 (H up to ~256). */
#ifndef FASTRNN_TN_KC
#define FASTRNN_TN_KC 128
#endif
void fastrnn_tn_gemm_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *Bm, int64_t ldb, int accumulate, float *C, int64_t ldc);
void fastrnn_tn_gemm_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                         const double *Bm, int64_t ldb, int accumulate, double *C, int64_t ldc);
void fastrnn_tn_gemm_plain_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *Bm, int64_t ldb, int accumulate, float *C, int64_t ldc);
void fastrnn_tn_gemm_plain_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                               const double *Bm, int64_t ldb, int accumulate, double *C,
                               int64_t ldc);

#endif /* FASTRNN_PACKED_GEMM_H */
