/* The only door to BLAS: row-major GEMM over the function-pointer table that
 * fastrnn_blas_set fills at import (see blas.c for why it is a table, not a link). */
#ifndef FASTRNN_BLAS_H
#define FASTRNN_BLAS_H

#include <stdint.h>

/* C (M,N) = alpha * op(A) @ op(B) + beta * C, every matrix row-major; op(A) is A.T when
 * trans_a is non-zero, so A is (K,M) then, else (M,K); likewise B. With beta = 0, C is
 * only written (its old contents, even NaN, are ignored). Sizes are already validated to
 * fit the BLAS's int. */
void fastrnn_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc);
void fastrnn_gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                      double *C, int64_t ldc);

#endif /* FASTRNN_BLAS_H */
