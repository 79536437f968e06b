/* C-level test of the packed products (csrc/packed_gemm.c), built with sanitizers and run
 * under valgrind by tests/test_c_kernels.py. The dispatched product (AVX-512 where the CPU
 * has it; valgrind hides it, so there the plain loops run) and the plain loops are both
 * compared with a triple loop in double, for float and double, both orientations of W,
 * accumulate 0 and 1, row counts around the kernel's blocks (1..3 rows in one tile, then
 * blocks of 6, then chunks of 96), column counts around the panel width (tails inside a
 * vector, a panel, a group of panels), packed matrices on both sides of 1 MiB (two orders
 * of loops) and leading dimensions past the sizes, whose padding
 * must stay untouched. Buffers are malloc'ed to their exact sizes, so that an access past
 * them is caught. Exits non-zero on a failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "gemm_check.h"
#include "packed_gemm.h"

typedef struct {
    int64_t M, N, K, lda, ldc, ldw, wrows;
    int trans, accumulate;
    double *A, *W, *C0; /* the operands, rounded to float when checking float */
} problem;

/* Counts elements of got (M, ldc) off [C0 +] A @ op(W) by more than tol relative to the
 * size of the terms, and padding columns that changed. */
static int wrong(const problem *p, const double *got, double tol) {
    return wrong_product(p->M, p->N, p->K, p->A, p->lda, p->W, p->ldw, p->trans, p->accumulate,
                         p->C0, p->ldc, got, tol);
}

#define DEFINE_RUN(real, SUF)                                                                    \
    /* Runs the dispatched (plain = 0) or plain (plain = 1) product on p in real; got (M,ldc) \
     * receives the result widened to double. */  \
    static void run_##SUF(const problem *p, int plain, double *got) {                            \
        const int64_t len = fastrnn_pack_len_##SUF(p->K, p->N);                                  \
        real *A = malloc(sizeof(real) * (size_t)(p->M * p->lda));                                \
        real *W = malloc(sizeof(real) * (size_t)(p->wrows * p->ldw));                            \
        real *C = malloc(sizeof(real) * (size_t)(p->M * p->ldc));                                \
        real *buffer = malloc(sizeof(real) * (size_t)(len + 1));                                 \
        real *P = buffer + 1; /* off the 64-byte boundary: the kernel aligns within */           \
        for (int64_t i = 0; i < p->M * p->lda; ++i) A[i] = (real)p->A[i];                        \
        for (int64_t i = 0; i < p->wrows * p->ldw; ++i) W[i] = (real)p->W[i];                    \
        for (int64_t i = 0; i < p->M * p->ldc; ++i) C[i] = (real)p->C0[i];                       \
        fastrnn_pack_##SUF(p->trans, p->K, p->N, W, p->ldw, P);                                  \
        if (plain)                                                                               \
            fastrnn_packed_gemm_plain_##SUF(p->M, p->N, p->K, A, p->lda, P, p->accumulate, C,    \
                                            p->ldc);                                             \
        else                                                                                     \
            fastrnn_packed_gemm_##SUF(p->M, p->N, p->K, A, p->lda, P, p->accumulate, C, p->ldc); \
        for (int64_t i = 0; i < p->M * p->ldc; ++i) got[i] = C[i];                               \
        free(A);                                                                                 \
        free(W);                                                                                 \
        free(C);                                                                                 \
        free(buffer);                                                                            \
    }
DEFINE_RUN(float, f32)
DEFINE_RUN(double, f64)

static void check(int64_t M, int64_t N, int64_t K, int trans, int accumulate, int64_t pad) {
    static uint64_t seed = 1;
    problem p = {M,     N,          K,    K + pad, N + pad, (trans ? K : N) + pad, trans ? N : K,
                 trans, accumulate, NULL, NULL,    NULL};
    p.A = malloc(sizeof(double) * (size_t)(M * p.lda));
    p.W = malloc(sizeof(double) * (size_t)(p.wrows * p.ldw));
    p.C0 = malloc(sizeof(double) * (size_t)(M * p.ldc));
    double *got = malloc(sizeof(double) * (size_t)(M * p.ldc));
    for (int precision = 0; precision < 2; ++precision) {
        uint64_t st = seed;
        for (int64_t i = 0; i < M * p.lda; ++i) p.A[i] = value(&st);
        for (int64_t i = 0; i < p.wrows * p.ldw; ++i) p.W[i] = value(&st);
        /* accumulate = 0 must ignore C, NaN included */
        for (int64_t i = 0; i < M * p.ldc; ++i) p.C0[i] = accumulate ? value(&st) : NAN;
        if (precision == 0) { /* float: the operands as float sees them */
            for (int64_t i = 0; i < M * p.lda; ++i) p.A[i] = (float)p.A[i];
            for (int64_t i = 0; i < p.wrows * p.ldw; ++i) p.W[i] = (float)p.W[i];
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
                fprintf(stderr,
                        "%s%s M=%lld N=%lld K=%lld trans=%d accumulate=%d pad=%lld: %d wrong\n",
                        precision ? "f64" : "f32", plain ? " plain" : "", (long long)M,
                        (long long)N, (long long)K, trans, accumulate, (long long)pad, bad);
            CHECK(bad == 0);
        }
    }
    ++seed;
    free(p.A);
    free(p.W);
    free(p.C0);
    free(got);
}

/* fastrnn_tn_gemm (C [+]= A.T @ Bm, both read in place): A (K,M) and Bm (K,N) with leading
 * dimensions M + pad and N + pad, Bm placed skip elements into its buffer (the kernel aligns
 * its loads to Bm's offset from a 64-byte boundary, reading outside the columns on the
 * inner rows): the skipped elements and the padding hold NaN, which must not reach C; the
 * buffers end exactly at the operands' last elements. C's padding must stay untouched. */
#define DEFINE_TN(real, SUF, TOL)                                                              \
    static int tn_wrong_##SUF(int64_t M, int64_t N, int64_t K, int accumulate, int64_t pad,   \
                              int64_t skip, int plain) {                                      \
        const int64_t lda = M + pad, ldb = N + pad, ldc = N + pad;                            \
        const int64_t alen = (K - 1) * lda + M, blen = (K - 1) * ldb + N + skip;              \
        real *A = malloc(sizeof(real) * (size_t)alen), *buf = malloc(sizeof(real) * (size_t)blen); \
        real *C = malloc(sizeof(real) * (size_t)(M * ldc)), *Bm = buf + skip;                  \
        uint64_t st = (uint64_t)(M * 1000003 + N * 1009 + K * 17 + pad + skip);               \
        for (int64_t i = 0; i < alen; ++i) A[i] = i % lda < M ? (real)value(&st) : (real)NAN;  \
        for (int64_t i = 0; i < skip; ++i) buf[i] = (real)NAN;                                 \
        for (int64_t i = 0; i < blen - skip; ++i)                                             \
            Bm[i] = i % ldb < N ? (real)value(&st) : (real)NAN;                                \
        for (int64_t i = 0; i < M * ldc; ++i)                                                 \
            C[i] = accumulate || i % ldc >= N ? (real)value(&st) : (real)NAN;                  \
        real *C0 = malloc(sizeof(real) * (size_t)(M * ldc));                                  \
        for (int64_t i = 0; i < M * ldc; ++i) C0[i] = C[i];                                   \
        if (plain)                                                                            \
            fastrnn_tn_gemm_plain_##SUF(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);        \
        else                                                                                  \
            fastrnn_tn_gemm_##SUF(M, N, K, A, lda, Bm, ldb, accumulate, C, ldc);              \
        int bad = 0;                                                                          \
        for (int64_t m = 0; m < M; ++m)                                                       \
            for (int64_t n = 0; n < ldc; ++n) {                                               \
                const double g = C[m * ldc + n], c0 = C0[m * ldc + n];                         \
                if (n >= N) {                                                                 \
                    bad += g != c0;                                                           \
                    continue;                                                                 \
                }                                                                             \
                double want = accumulate ? c0 : 0, scale = fabs(want);                        \
                for (int64_t k = 0; k < K; ++k) {                                             \
                    want += (double)A[k * lda + m] * Bm[k * ldb + n];                         \
                    scale += fabs((double)A[k * lda + m] * Bm[k * ldb + n]);                  \
                }                                                                             \
                bad += !(fabs(g - want) <= TOL * (scale + 1e-30));                            \
            }                                                                                 \
        free(A);                                                                              \
        free(buf);                                                                            \
        free(C);                                                                              \
        free(C0);                                                                             \
        return bad;                                                                           \
    }
DEFINE_TN(float, f32, 1e-6)
DEFINE_TN(double, f64, 1e-14)

static void check_tn(int64_t M, int64_t N, int64_t K, int accumulate, int64_t pad, int64_t skip) {
    for (int plain = 0; plain < 2; ++plain) {
        const int bad32 = tn_wrong_f32(M, N, K, accumulate, pad, skip, plain);
        const int bad64 = tn_wrong_f64(M, N, K, accumulate, pad, skip, plain);
        if (bad32 || bad64)
            fprintf(stderr, "tn%s M=%lld N=%lld K=%lld accumulate=%d pad=%lld skip=%lld: %d, %d wrong\n",
                    plain ? " plain" : "", (long long)M, (long long)N, (long long)K, accumulate,
                    (long long)pad, (long long)skip, bad32, bad64);
        CHECK(bad32 == 0 && bad64 == 0);
    }
}

int main(void) {
    printf("SIMD kernel: %s\n", fastrnn_packed_gemm_is_simd() ? "yes" : "no");
    CHECK(fastrnn_pack_len_f32(3, 1) == 3 * 16 + 16);
    CHECK(fastrnn_pack_len_f32(5, 33) == 5 * 48 + 16);
    CHECK(fastrnn_pack_len_f64(5, 9) == 5 * 16 + 8);
    const int64_t rows[] = {1, 2, 3, 4, 5, 6, 7, 12, 13, 16};
    const int64_t cols[] = {1, 7, 8, 16, 17, 31, 32, 33, 64, 100, 129};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; ++r)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; ++c)
            for (int trans = 0; trans < 2; ++trans)
                for (int accumulate = 0; accumulate < 2; ++accumulate) {
                    const int64_t K = 1 + (int64_t)((r * 7 + c * 3) % 20);
                    check(rows[r], cols[c], K, trans, accumulate, (int64_t)((r + c) % 3));
                }
    /* the shapes of the recurrences: W (H,H), gates (4H,H) and their transposes */
    check(16, 128, 128, 1, 1, 0);
    check(1, 100, 100, 1, 1, 0);
    check(1, 100, 100, 0, 0, 0);
    check(5, 4 * 24, 24, 1, 1, 0);
    check(5, 24, 4 * 24, 0, 0, 0);
    /* k in several chunks of the kernel's KC = 128 */
    check(7, 40, 300, 1, 1, 1);
    check(2, 33, 257, 0, 0, 0);
    /* rows in several chunks of the kernel's MC = 96 (the products over all steps) */
    check(97, 33, 20, 1, 0, 1);
    check(200, 40, 130, 0, 1, 0);
    /* packed matrices past 1 MiB in float (the large shapes' order of loops, with prefetches
     * of the next chunk): k with a tail chunk, columns ending inside a panel and a group */
    check(13, 1000, 300, 1, 1, 1);
    check(2, 1100, 260, 0, 0, 0);
    check(97, 300, 900, 1, 0, 0);
    /* the weight-gradient products: rows around the blocks of 6 and 8, columns around the
     * vector and the groups of 4, k over several blocks of FASTRNN_TN_KC, leading dimensions
     * whose rows share an offset from 64 bytes (N + pad a multiple of 16) or not, Bm at
     * every offset of a float and a double vector */
    const int64_t tn_rows[] = {1, 5, 6, 7, 8, 9, 13, 17};
    const int64_t tn_cols[] = {1, 3, 15, 16, 17, 28, 32, 47, 48, 64, 65, 100};
    for (size_t r = 0; r < sizeof tn_rows / sizeof tn_rows[0]; ++r)
        for (size_t c = 0; c < sizeof tn_cols / sizeof tn_cols[0]; ++c) {
            const int64_t N = tn_cols[c], pad = (16 - N % 16) % 16 + 16 * (int64_t)(r % 2);
            const int64_t K = 1 + (int64_t)((r * 5 + c * 11) % 9);
            check_tn(tn_rows[r], N, K, (int)((r + c) % 2), pad, (int64_t)((r * 3 + c) % 16));
            check_tn(tn_rows[r], N, K + 1, (int)((r + c + 1) % 2), (int64_t)(c % 3), 0);
        }
    for (int64_t skip = 0; skip < 16; ++skip) check_tn(7, 48, 2, skip % 2, 0, skip);
    check_tn(128, 128, 300, 0, 0, 4);
    check_tn(128, 128, 300, 1, 0, 0);
    check_tn(20, 100, 257, 1, 12, 3);
    check_tn(3, 130, 129, 0, 14, 9);
    check_tn(33, 65, 1, 0, 15, 1);
    return finish();
}
