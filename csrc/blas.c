/* BLAS provider table.
 *
 * The kernels reach BLAS through two function pointers filled once at import by the
 * Python package (from the scipy-openblas32 wheel, loaded RTLD_LOCAL). Nothing is linked
 * at build time, so the wheel needs no BLAS headers or libraries and cannot clash with the
 * OpenBLAS copies that NumPy or SciPy carry. The table is written once, before any kernel
 * runs, and only read afterwards. */
#include "blas.h"

#include <stddef.h>

#include "fastrnn.h"

static fastrnn_sgemm_fn provider_sgemm = NULL;
static fastrnn_dgemm_fn provider_dgemm = NULL;
static fastrnn_sgemv_fn provider_sgemv = NULL;
static fastrnn_dgemv_fn provider_dgemv = NULL;

fastrnn_status fastrnn_blas_set(fastrnn_sgemm_fn sgemm, fastrnn_dgemm_fn dgemm,
                                fastrnn_sgemv_fn sgemv, fastrnn_dgemv_fn dgemv) {
    if (sgemm == NULL || dgemm == NULL || sgemv == NULL || dgemv == NULL) return FASTRNN_ERR_ARG;
    provider_sgemm = sgemm;
    provider_dgemm = dgemm;
    provider_sgemv = sgemv;
    provider_dgemv = dgemv;
    return FASTRNN_OK;
}

int fastrnn_blas_ready(void) {
    return provider_sgemm != NULL && provider_dgemm != NULL && provider_sgemv != NULL &&
           provider_dgemv != NULL;
}

/* Row-major C = op(A) op(B) is column-major C.T = op(B).T op(A).T: the row-major arrays
 * read as their own transposes in column-major, so swap the operands and M with N.
 *
 * A product with one row (M = 1: a batch of one, one step) goes to GEMV, which OpenBLAS
 * runs up to 3x faster than a one-row GEMM once B outgrows the cache. With c and a the
 * rows of C and op(A) (a has stride lda when A is transposed):
 *   B (K,N) row-major is B.T (N,K) column-major, and c = B.T a       -> gemv 'N', N x K
 *   trans_b: B (N,K) row-major is B.T (K,N) column-major, c = B a    -> gemv 'T', K x N
 * C is zeroed first when beta = 0, since GEMV scales y by beta and 0 * NaN is NaN. */
void fastrnn_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc) {
    const int m = (int)M, n = (int)N, k = (int)K;
    const int la = (int)lda, lb = (int)ldb, lc = (int)ldc;
    if (M == 1) {
        const char tb = trans_b ? 'T' : 'N';
        const int rows = trans_b ? k : n, cols = trans_b ? n : k;
        const int inc_a = trans_a ? la : 1, inc_c = 1;
        if (beta == 0)
            for (int64_t j = 0; j < N; ++j) C[j] = 0;
        provider_sgemv(&tb, &rows, &cols, &alpha, B, &lb, A, &inc_a, &beta, C, &inc_c);
        return;
    }
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    provider_sgemm(&tb, &ta, &n, &m, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}

void fastrnn_gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                      double *C, int64_t ldc) {
    const int m = (int)M, n = (int)N, k = (int)K;
    const int la = (int)lda, lb = (int)ldb, lc = (int)ldc;
    if (M == 1) {
        const char tb = trans_b ? 'T' : 'N';
        const int rows = trans_b ? k : n, cols = trans_b ? n : k;
        const int inc_a = trans_a ? la : 1, inc_c = 1;
        if (beta == 0)
            for (int64_t j = 0; j < N; ++j) C[j] = 0;
        provider_dgemv(&tb, &rows, &cols, &alpha, B, &lb, A, &inc_a, &beta, C, &inc_c);
        return;
    }
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    provider_dgemm(&tb, &ta, &n, &m, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}
