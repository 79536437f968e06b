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

fastrnn_status fastrnn_blas_set(fastrnn_sgemm_fn sgemm, fastrnn_dgemm_fn dgemm) {
    if (sgemm == NULL || dgemm == NULL) return FASTRNN_ERR_ARG;
    provider_sgemm = sgemm;
    provider_dgemm = dgemm;
    return FASTRNN_OK;
}

int fastrnn_blas_ready(void) { return provider_sgemm != NULL && provider_dgemm != NULL; }

/* Row-major C = op(A) op(B) is column-major C.T = op(B).T op(A).T: the row-major arrays
 * read as their own transposes in column-major, so swap the operands and M with N. */
void fastrnn_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc) {
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    const int m = (int)M, n = (int)N, k = (int)K;
    const int la = (int)lda, lb = (int)ldb, lc = (int)ldc;
    provider_sgemm(&tb, &ta, &n, &m, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}

void fastrnn_gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                      const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                      double *C, int64_t ldc) {
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    const int m = (int)M, n = (int)N, k = (int)K;
    const int la = (int)lda, lb = (int)ldb, lc = (int)ldc;
    provider_dgemm(&tb, &ta, &n, &m, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}
