/* What the product drivers (test_packed_gemm.c, test_stream_gemm.c) share: reproducible
 * operands and the triple loop in double that every product is compared with. */
#ifndef FASTRNN_TESTS_GEMM_CHECK_H
#define FASTRNN_TESTS_GEMM_CHECK_H

#include <math.h>
#include <stdint.h>

/* A reproducible value in [-1, 1). */
static double value(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / (double)(1ull << 52) - 1.0;
}

/* Counts elements of got (M, ldc) off [C0 +] A (M,K) @ op(W) (K,N) by more than tol
 * relative to the size of the terms, and padding columns (N .. ldc-1) that changed;
 * op(W) = W (K rows of ldw) or, trans, W.T (W N rows of ldw). */
static int wrong_product(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                         const double *W, int64_t ldw, int trans, int accumulate, const double *C0,
                         int64_t ldc, const double *got, double tol) {
    int bad = 0;
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < ldc; ++n) {
            const double c0 = C0[m * ldc + n], g = got[m * ldc + n];
            if (n >= N) { /* padding: untouched */
                bad += !(g == c0 || (isnan(g) && isnan(c0)));
                continue;
            }
            double want = accumulate ? c0 : 0, scale = accumulate ? fabs(c0) : 0;
            for (int64_t k = 0; k < K; ++k) {
                const double t = A[m * lda + k] * (trans ? W[n * ldw + k] : W[k * ldw + n]);
                want += t;
                scale += fabs(t);
            }
            bad += !(fabs(g - want) <= tol * (scale + 1e-30));
        }
    return bad;
}

#endif /* FASTRNN_TESTS_GEMM_CHECK_H */
