/* Plain-loop Fortran-ABI GEMM and GEMV (column-major), the reference BLAS semantics, for
 * the C-level tests: installed with fastrnn_blas_set, they keep every operation the
 * kernels perform inside the sanitizer-instrumented program. Accumulates in double. */
#ifndef FASTRNN_TESTS_PLAIN_BLAS_H
#define FASTRNN_TESTS_PLAIN_BLAS_H

#define PLAIN_GEMM(name, real)                                                                 \
    static void name(const char *ta, const char *tb, const int *m, const int *n, const int *k, \
                     const real *alpha, const real *a, const int *lda, const real *b,          \
                     const int *ldb, const real *beta, real *c, const int *ldc) {              \
        for (int j = 0; j < *n; ++j)                                                           \
            for (int i = 0; i < *m; ++i) {                                                     \
                double acc = 0;                                                                \
                for (int p = 0; p < *k; ++p) {                                                 \
                    real av = *ta == 'N' ? a[i + p * *lda] : a[p + i * *lda];                  \
                    real bv = *tb == 'N' ? b[p + j * *ldb] : b[j + p * *ldb];                  \
                    acc += (double)av * bv;                                                    \
                }                                                                              \
                real *cij = &c[i + j * *ldc];                                                  \
                *cij = (real)(*alpha * acc + (*beta == 0 ? 0 : *beta * *cij));                 \
            }                                                                                  \
    }
PLAIN_GEMM(plain_sgemm, float)
PLAIN_GEMM(plain_dgemm, double)

#define PLAIN_GEMV(name, real)                                                                    \
    static void name(const char *t, const int *m, const int *n, const real *alpha, const real *a, \
                     const int *lda, const real *x, const int *incx, const real *beta, real *y,   \
                     const int *incy) {                                                           \
        const int leny = *t == 'N' ? *m : *n, lenx = *t == 'N' ? *n : *m;                         \
        for (int i = 0; i < leny; ++i) {                                                          \
            double acc = 0;                                                                       \
            for (int p = 0; p < lenx; ++p)                                                        \
                acc += (*t == 'N' ? a[i + p * *lda] : a[p + i * *lda]) * x[p * *incx];            \
            real *yi = &y[i * *incy];                                                             \
            *yi = (real)(*alpha * acc + (*beta == 0 ? 0 : *beta * *yi));                          \
        }                                                                                         \
    }
PLAIN_GEMV(plain_sgemv, float)
PLAIN_GEMV(plain_dgemv, double)

#endif /* FASTRNN_TESTS_PLAIN_BLAS_H */
