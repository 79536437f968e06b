/* C-level test of the products with the left operand read in place (csrc/stream_gemm.c),
 * built with sanitizers and run under valgrind by tests/test_c_kernels.py. The dispatched
 * product (AVX-512 where the CPU has it; valgrind hides it, so there the plain loops run)
 * and the plain loops are both compared with a triple loop in double, for float and double,
 * accumulate 0 (C full of NaN, which must be ignored) and 1, row counts around the
 * kernel's blocks (up to 12, 8 or 6 rows per tile by the tile's width, then chunks of
 * rows), column counts around the vector width (tails inside a vector, column groups of 4
 * vectors), k around the cache line and the kernel's chunks of k, and leading dimensions
 * past the sizes, whose padding must stay untouched; the transposes (SIMD and plain) the
 * same way, with sizes around their tiles. Buffers are malloc'ed to their exact sizes, so
 * that an access past them is caught. Exits non-zero on a failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "gemm_check.h"
#include "stream_gemm.h"

typedef struct {
    int64_t M, N, K, lda, ldb, ldc;
    int accumulate;
    double *A, *Bm, *C0; /* the operands, rounded to float when checking float */
} problem;

/* Counts elements of got (M, ldc) off [C0 +] A @ Bm by more than tol relative to the size
 * of the terms, and padding columns that changed. */
static int wrong(const problem *p, const double *got, double tol) {
    return wrong_product(p->M, p->N, p->K, p->A, p->lda, p->Bm, p->ldb, 0, p->accumulate, p->C0,
                         p->ldc, got, tol);
}

#define DEFINE_RUN(real, SUF)                                                                    \
    /* Runs the dispatched (plain = 0) or plain (plain = 1) product on p in real; got (M,ldc) \
     * receives the result widened to double. */  \
    static void run_##SUF(const problem *p, int plain, double *got) {                            \
        real *A = malloc(sizeof(real) * (size_t)(p->M * p->lda));                                \
        real *Bm = malloc(sizeof(real) * (size_t)(p->K * p->ldb));                               \
        real *C = malloc(sizeof(real) * (size_t)(p->M * p->ldc));                                \
        for (int64_t i = 0; i < p->M * p->lda; ++i) A[i] = (real)p->A[i];                        \
        for (int64_t i = 0; i < p->K * p->ldb; ++i) Bm[i] = (real)p->Bm[i];                      \
        for (int64_t i = 0; i < p->M * p->ldc; ++i) C[i] = (real)p->C0[i];                       \
        if (plain)                                                                               \
            fastrnn_stream_gemm_plain_##SUF(p->M, p->N, p->K, A, p->lda, Bm, p->ldb,             \
                                            p->accumulate, C, p->ldc);                           \
        else                                                                                     \
            fastrnn_stream_gemm_##SUF(p->M, p->N, p->K, A, p->lda, Bm, p->ldb, p->accumulate, C, \
                                      p->ldc);                                                   \
        for (int64_t i = 0; i < p->M * p->ldc; ++i) got[i] = C[i];                               \
        free(A);                                                                                 \
        free(Bm);                                                                                \
        free(C);                                                                                 \
    }
DEFINE_RUN(float, f32)
DEFINE_RUN(double, f64)

static void check(int64_t M, int64_t N, int64_t K, int accumulate, int64_t pad) {
    static uint64_t seed = 1;
    problem p = {M, N, K, K + pad, N + 2 * pad, N + pad, accumulate, NULL, NULL, NULL};
    p.A = malloc(sizeof(double) * (size_t)(M * p.lda));
    p.Bm = malloc(sizeof(double) * (size_t)(K * p.ldb));
    p.C0 = malloc(sizeof(double) * (size_t)(M * p.ldc));
    double *got = malloc(sizeof(double) * (size_t)(M * p.ldc));
    for (int precision = 0; precision < 2; ++precision) {
        uint64_t st = seed;
        for (int64_t i = 0; i < M * p.lda; ++i) p.A[i] = value(&st);
        for (int64_t i = 0; i < K * p.ldb; ++i) p.Bm[i] = value(&st);
        /* accumulate = 0 must ignore C, NaN included (the padding keeps its NaN) */
        for (int64_t i = 0; i < M * p.ldc; ++i) p.C0[i] = accumulate ? value(&st) : NAN;
        if (precision == 0) { /* float: the operands as float sees them */
            for (int64_t i = 0; i < M * p.lda; ++i) p.A[i] = (float)p.A[i];
            for (int64_t i = 0; i < K * p.ldb; ++i) p.Bm[i] = (float)p.Bm[i];
            for (int64_t i = 0; i < M * p.ldc; ++i) p.C0[i] = (float)p.C0[i];
        }
        for (int plain = 0; plain < 2; ++plain) {
            int bad;
            if (precision == 0) {
                run_f32(&p, plain, got);
                bad = wrong(&p, got, 1e-6);
            } else {
                run_f64(&p, plain, got);
                bad = wrong(&p, got, 1e-14);
            }
            if (bad)
                fprintf(stderr, "%s%s M=%lld N=%lld K=%lld accumulate=%d pad=%lld: %d wrong\n",
                        precision ? "f64" : "f32", plain ? " plain" : "", (long long)M,
                        (long long)N, (long long)K, accumulate, (long long)pad, bad);
            CHECK(bad == 0);
        }
    }
    ++seed;
    free(p.A);
    free(p.Bm);
    free(p.C0);
    free(got);
}

/* The transposes (SIMD and plain) of a rows x cols matrix with leading dimensions past
 * the sizes: every element in place, the padding of out untouched. */
#define DEFINE_TRANSPOSE(real, SUF)                                                         \
    static int transposed_wrong_##SUF(int64_t rows, int64_t cols, int64_t pad, int plain) { \
        const int64_t lda = cols + pad, ldo = rows + 2 * pad;                               \
        real *A = malloc(sizeof(real) * (size_t)(rows * lda));                              \
        real *out = malloc(sizeof(real) * (size_t)(cols * ldo));                            \
        for (int64_t i = 0; i < rows * lda; ++i) A[i] = (real)i;                            \
        for (int64_t i = 0; i < cols * ldo; ++i) out[i] = -1;                               \
        if (plain)                                                                          \
            fastrnn_transpose_plain_##SUF(rows, cols, A, lda, out, ldo);                    \
        else                                                                                \
            fastrnn_transpose_##SUF(rows, cols, A, lda, out, ldo);                          \
        int bad = 0;                                                                        \
        for (int64_t j = 0; j < cols; ++j)                                                  \
            for (int64_t i = 0; i < ldo; ++i)                                               \
                bad += out[j * ldo + i] != (i < rows ? A[i * lda + j] : -1);                \
        free(A);                                                                            \
        free(out);                                                                          \
        return bad;                                                                         \
    }
DEFINE_TRANSPOSE(float, f32)
DEFINE_TRANSPOSE(double, f64)

static void check_transposes(void) {
    /* around the register tiles (8 and 16) and the plain loops' tiles of 32 */
    const int64_t sizes[] = {1, 7, 8, 9, 16, 17, 33, 64, 70};
    for (size_t r = 0; r < sizeof sizes / sizeof sizes[0]; ++r)
        for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; ++c)
            for (int plain = 0; plain < 2; ++plain) {
                const int64_t pad = (int64_t)((r + c) % 3);
                const int bad32 = transposed_wrong_f32(sizes[r], sizes[c], pad, plain);
                const int bad64 = transposed_wrong_f64(sizes[r], sizes[c], pad, plain);
                if (bad32 || bad64)
                    fprintf(stderr, "transpose%s %lld x %lld pad=%lld: %d f32, %d f64 wrong\n",
                            plain ? " plain" : "", (long long)sizes[r], (long long)sizes[c],
                            (long long)pad, bad32, bad64);
                CHECK(bad32 == 0 && bad64 == 0);
            }
}

int main(void) {
    check_transposes();
    printf("SIMD kernel: %s\n", fastrnn_stream_gemm_is_simd() ? "yes" : "no");
    /* rows around the tiles' heights (6, 8, 12) and their sums; columns around a vector of
     * double (8) and of float (16), 3 and 4 vectors, and past a group of 4 (two groups);
     * k around a cache line of either type */
    const int64_t rows[] = {1, 2, 5, 6, 7, 8, 11, 12, 13, 19, 25};
    const int64_t cols[] = {1, 7, 8, 9, 15, 16, 17, 33, 48, 63, 64, 65, 100};
    const int64_t ks[] = {1, 7, 8, 9, 15, 16, 17, 40};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; ++r)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; ++c)
            for (int accumulate = 0; accumulate < 2; ++accumulate) {
                const int64_t K = ks[(r * 5 + c * 3 + (size_t)accumulate) % 8];
                check(rows[r], cols[c], K, accumulate, (int64_t)((r + c) % 3));
            }
    /* the recurrences' shapes, transposed: W (H,H) @ s.T (H,B) */
    check(128, 16, 128, 1, 0);
    check(100, 3, 100, 0, 0);
    check(24, 64, 24, 1, 0);
    /* k in several chunks (320 rows of Bm for one vector of float, 80 for 4, 40 for 8
     * vectors of double), with a tail inside a cache line */
    check(7, 16, 700, 1, 1);
    check(13, 64, 250, 0, 0);
    check(6, 60, 201, 1, 2);
    /* rows in several chunks (256 rows for one vector, 64 for 4), unequal in size */
    check(300, 10, 20, 0, 1);
    check(131, 64, 170, 1, 0);
    check(70, 100, 90, 0, 1);
    return finish();
}
