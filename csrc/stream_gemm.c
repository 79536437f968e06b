/* Products with the left operand read in place (see stream_gemm.h for the contract).
 * The plain loops below are the reference twin; the SIMD kernel is chosen at run time. */
#include "stream_gemm.h"

#include <stddef.h>
#include <stdint.h>

int fastrnn_stream_gemm_is_simd(void) { return 0; }

#define STREAM_PLAIN(real, suffix)                                                                 \
    void fastrnn_stream_gemm_plain_##suffix(int64_t M, int64_t N, int64_t K, const real *A,        \
                                            int64_t lda, const real *Bm, int64_t ldb,              \
                                            int accumulate, real *C, int64_t ldc) {                \
        for (int64_t i = 0; i < M; ++i) {                                                          \
            real *c = C + i * ldc;                                                                 \
            if (!accumulate)                                                                       \
                for (int64_t n = 0; n < N; ++n) c[n] = 0;                                          \
            for (int64_t k = 0; k < K; ++k) {                                                      \
                const real a = A[i * lda + k];                                                     \
                const real *b = Bm + k * ldb;                                                      \
                for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void fastrnn_stream_gemm_##suffix(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda, \
                                      const real *Bm, int64_t ldb, int accumulate, real *C,        \
                                      int64_t ldc) {                                               \
        fastrnn_stream_gemm_plain_##suffix(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);          \
    }

STREAM_PLAIN(float, f32)
STREAM_PLAIN(double, f64)
