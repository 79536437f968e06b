/* C-level check of the kernels in csrc/, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer by tests/test_c_kernels.py.
 *
 * Everything the kernels touch is instrumented: the BLAS table is filled with the plain
 * column-major loops below (the reference BLAS semantics, no external library), every
 * buffer is malloc'd at exactly the documented size (so an overrun is an ASan error), and
 * results are compared with a plain-loop recurrence computed in double.
 *
 * Prints one line per failure and a final "N passed, M failed"; exits 1 on any failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"
#include "fastrnn.h"
#include "plain_blas.h"

/* ---- the plain-loop recurrence in double (the specification, as in reference.py) -- */

typedef struct {
    int64_t T, B, D, H;
    int tanh_f, bias, projected; /* projected: U is NULL and x is U x_t (D = H) */
    int64_t truncate;            /* < 0: full BPTT */
} problem;

static double activation(int tanh_f, double a) { return tanh_f ? tanh(a) : (a < 0 ? 0 : a); }
static double derivative(int tanh_f, double s) { return tanh_f ? 1 - s * s : (s > 0 ? 1 : 0); }

/* pre-activation input of row n at step t, into a (H) */
static void input_projection(const problem *p, const double *x, const double *U, int64_t t,
                             int64_t n, double *a) {
    const double *xt = x + (t * p->B + n) * p->D;
    for (int64_t i = 0; i < p->H; ++i) {
        if (p->projected) {
            a[i] = xt[i];
        } else {
            a[i] = 0;
            for (int64_t j = 0; j < p->D; ++j) a[i] += U[i * p->D + j] * xt[j];
        }
    }
}

static void plain_forward(const problem *p, const double *x, const double *s0, const double *U,
                          const double *W, const double *b, double *s) {
    const int64_t B = p->B, H = p->H;
    double *a = malloc(sizeof(double) * H);
    for (int64_t t = 0; t < p->T; ++t)
        for (int64_t n = 0; n < B; ++n) {
            const double *prev = t > 0 ? s + ((t - 1) * B + n) * H : s0 + n * H;
            input_projection(p, x, U, t, n, a);
            for (int64_t i = 0; i < H; ++i) {
                double v = a[i] + (p->bias ? b[i] : 0);
                for (int64_t j = 0; j < H; ++j) v += W[i * H + j] * prev[j];
                s[(t * B + n) * H + i] = activation(p->tanh_f, v);
            }
        }
    free(a);
}

/* Per-output windows, one row at a time: the gradient injected at step t goes back through
 * steps t..max(0, t-K) (K = T-1 for full BPTT), as in the tutorial. */
static void plain_backward(const problem *p, const double *x, const double *s0, const double *U,
                           const double *W, const double *s, const double *ds, double *dx,
                           double *ds0, double *dU, double *dW, double *db) {
    const int64_t T = p->T, B = p->B, D = p->D, H = p->H;
    const int64_t K = p->truncate < 0 || p->truncate > T - 1 ? T - 1 : p->truncate;
    const int64_t dx_cols = p->projected ? H : D;
    memset(dx, 0, sizeof(double) * T * B * dx_cols);
    memset(ds0, 0, sizeof(double) * B * H);
    if (!p->projected) memset(dU, 0, sizeof(double) * H * D);
    memset(dW, 0, sizeof(double) * H * H);
    memset(db, 0, sizeof(double) * H);
    double *da = malloc(sizeof(double) * H), *next = malloc(sizeof(double) * H);
    for (int64_t n = 0; n < B; ++n)
        for (int64_t t = 0; t < T; ++t) {
            for (int64_t i = 0; i < H; ++i) {
                const int64_t o = (t * B + n) * H + i;
                da[i] = ds[o] * derivative(p->tanh_f, s[o]);
            }
            const int64_t stop = t - K > 0 ? t - K : 0;
            for (int64_t j = t; j >= stop; --j) {
                const double *prev = j > 0 ? s + ((j - 1) * B + n) * H : s0 + n * H;
                const double *xj = x + (j * B + n) * (p->projected ? H : D);
                for (int64_t i = 0; i < H; ++i) {
                    db[i] += da[i];
                    for (int64_t c = 0; c < H; ++c) dW[i * H + c] += da[i] * prev[c];
                    if (!p->projected)
                        for (int64_t c = 0; c < D; ++c) dU[i * D + c] += da[i] * xj[c];
                }
                for (int64_t c = 0; c < dx_cols; ++c) {
                    double v = 0;
                    for (int64_t i = 0; i < H; ++i)
                        v += da[i] * (p->projected ? (i == c) : U[i * D + c]);
                    dx[(j * B + n) * dx_cols + c] += v;
                }
                for (int64_t c = 0; c < H; ++c) {
                    next[c] = 0;
                    for (int64_t i = 0; i < H; ++i) next[c] += da[i] * W[i * H + c];
                }
                if (j > 0) {
                    for (int64_t c = 0; c < H; ++c)
                        da[c] = next[c] * derivative(p->tanh_f, prev[c]);
                } else {
                    for (int64_t c = 0; c < H; ++c) ds0[n * H + c] += next[c];
                }
            }
        }
    free(da);
    free(next);
}

/* ---- comparing the kernels with it ------------------------------------------------- */

static double *random_array(int64_t n, double scale, unsigned *seed) {
    double *a = malloc(sizeof(double) * (n > 0 ? n : 1));
    for (int64_t i = 0; i < n; ++i) {
        *seed = *seed * 1103515245u + 12345u;
        a[i] = scale * (((*seed >> 8) & 0xffff) / 32768.0 - 1.0);
    }
    return a;
}

static int close_enough(const double *want, const void *got, int f32, int64_t n, double rtol) {
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (int64_t i = 0; i < n; ++i) {
        const double g = f32 ? ((const float *)got)[i] : ((const double *)got)[i];
        if (!(fabs(g - want[i]) <= rtol * (fabs(want[i]) + scale * 1e-3))) return 0;
    }
    return 1;
}

/* A copy of a (n doubles) in the kernel's precision, in a buffer of exactly that size. */
static void *in_precision(const double *a, int64_t n, int f32) {
    if (a == NULL) return NULL;
    void *out = malloc((f32 ? sizeof(float) : sizeof(double)) * (n > 0 ? n : 1));
    for (int64_t i = 0; i < n; ++i) {
        if (f32)
            ((float *)out)[i] = (float)a[i];
        else
            ((double *)out)[i] = a[i];
    }
    return out;
}

static void *output(int64_t n, int f32) {
    return malloc((f32 ? sizeof(float) : sizeof(double)) * (n > 0 ? n : 1));
}

static void run_case(const problem *p, int f32, unsigned seed) {
    const int64_t T = p->T, B = p->B, D = p->projected ? p->H : p->D, H = p->H;
    problem q = *p;
    q.D = D;
    char context[160];
    snprintf(context, sizeof context, "%s T=%lld B=%lld D=%lld H=%lld %s%s%s K=%lld",
             f32 ? "f32" : "f64", (long long)T, (long long)B, (long long)D, (long long)H,
             p->tanh_f ? "tanh" : "relu", p->bias ? " bias" : "", p->projected ? " U=NULL" : "",
             (long long)p->truncate);
    const fastrnn_dims dims = {T, B, D, H};
    const fastrnn_nonlinearity f = p->tanh_f ? FASTRNN_TANH : FASTRNN_RELU;

    double *x = random_array(T * B * D, 1.0, &seed), *s0 = random_array(B * H, 0.5, &seed);
    double *U = random_array(H * D, 1.0 / sqrt((double)D), &seed);
    double *W = random_array(H * H, 0.5 / sqrt((double)H), &seed);
    double *b = random_array(H, 0.1, &seed), *ds = random_array(T * B * H, 1.0, &seed);
    if (f32) { /* round inputs to float so that both sides see the same numbers */
        double *all[] = {x, s0, U, W, b, ds};
        int64_t sizes[] = {T * B * D, B * H, H * D, H * H, H, T * B * H};
        for (int k = 0; k < 6; ++k)
            for (int64_t i = 0; i < sizes[k]; ++i) all[k][i] = (float)all[k][i];
    }
    double *s = malloc(sizeof(double) * T * B * H), *dx = malloc(sizeof(double) * T * B * D);
    double *ds0 = malloc(sizeof(double) * B * H), *dU = malloc(sizeof(double) * H * D);
    double *dW = malloc(sizeof(double) * H * H), *db = malloc(sizeof(double) * H);
    plain_forward(&q, x, s0, U, W, b, s);
    plain_backward(&q, x, s0, U, W, s, ds, dx, ds0, dU, dW, db);

    void *kx = in_precision(x, T * B * D, f32), *ks0 = in_precision(s0, B * H, f32);
    void *kU = p->projected ? NULL : in_precision(U, H * D, f32);
    void *kW = in_precision(W, H * H, f32), *kb = p->bias ? in_precision(b, H, f32) : NULL;
    void *kds = in_precision(ds, T * B * H, f32);
    void *ks = output(T * B * H, f32);
    void *fwork = output(fastrnn_rnn_forward_work_len(&dims), f32);
    fastrnn_status st = f32 ? fastrnn_rnn_forward_f32(&dims, f, kx, ks0, kU, kW, kb, ks, fwork)
                            : fastrnn_rnn_forward_f64(&dims, f, kx, ks0, kU, kW, kb, ks, fwork);
    check(st == FASTRNN_OK, "forward status", context);
    const double rtol = f32 ? 2e-4 : 1e-10;
    check(close_enough(s, ks, f32, T * B * H, rtol), "forward s", context);

    void *kdx = output(T * B * D, f32), *kds0 = output(B * H, f32);
    void *kdU = p->projected ? NULL : output(H * D, f32), *kdW = output(H * H, f32);
    void *kdb = p->bias ? output(H, f32) : NULL;
    void *bwork = output(fastrnn_rnn_backward_work_len(&dims, p->truncate), f32);
    st = f32 ? fastrnn_rnn_backward_f32(&dims, f, p->truncate, kx, ks0, kU, kW, ks, kds, kdx, kds0,
                                        kdU, kdW, kdb, bwork)
             : fastrnn_rnn_backward_f64(&dims, f, p->truncate, kx, ks0, kU, kW, ks, kds, kdx, kds0,
                                        kdU, kdW, kdb, bwork);
    check(st == FASTRNN_OK, "backward status", context);
    check(close_enough(dx, kdx, f32, T * B * D, rtol), "backward dx", context);
    check(close_enough(ds0, kds0, f32, B * H, rtol), "backward ds0", context);
    if (!p->projected) check(close_enough(dU, kdU, f32, H * D, rtol), "backward dU", context);
    check(close_enough(dW, kdW, f32, H * H, rtol), "backward dW", context);
    if (p->bias) check(close_enough(db, kdb, f32, H, rtol), "backward db", context);

    /* ds_last: the same as ds with ds[T-1] + ds_last */
    double *ds_last = random_array(B * H, 1.0, &seed);
    if (f32)
        for (int64_t i = 0; i < B * H; ++i) ds_last[i] = (float)ds_last[i];
    for (int64_t i = 0; i < B * H; ++i) ds[(T - 1) * B * H + i] += ds_last[i];
    plain_backward(&q, x, s0, U, W, s, ds, dx, ds0, dU, dW, db);
    void *kds_last = in_precision(ds_last, B * H, f32);
    st = f32 ? fastrnn_rnn_backward_ds_last_f32(&dims, f, p->truncate, kx, ks0, kU, kW, ks, kds,
                                                kds_last, kdx, kds0, kdU, kdW, kdb, bwork)
             : fastrnn_rnn_backward_ds_last_f64(&dims, f, p->truncate, kx, ks0, kU, kW, ks, kds,
                                                kds_last, kdx, kds0, kdU, kdW, kdb, bwork);
    check(st == FASTRNN_OK, "backward ds_last status", context);
    check(close_enough(dx, kdx, f32, T * B * D, rtol), "backward ds_last dx", context);
    check(close_enough(ds0, kds0, f32, B * H, rtol), "backward ds_last ds0", context);
    if (!p->projected)
        check(close_enough(dU, kdU, f32, H * D, rtol), "backward ds_last dU", context);
    check(close_enough(dW, kdW, f32, H * H, rtol), "backward ds_last dW", context);
    if (p->bias) check(close_enough(db, kdb, f32, H, rtol), "backward ds_last db", context);

    void *to_free[] = {x,   s0, U,  W,  b,   ds, s,     dx,  ds0,  dU,  dW,  db,  kx,      ks0,
                       kU,  kW, kb, kds, ks, fwork, kdx, kds0, kdU, kdW, kdb, bwork, ds_last,
                       kds_last};
    for (size_t k = 0; k < sizeof to_free / sizeof *to_free; ++k) free(to_free[k]);
}

static void check_statuses(void) {
    float one[4] = {0, 0, 0, 0}, out[4], work[4];
    fastrnn_dims dims = {1, 1, 1, 1};
    check(fastrnn_rnn_forward_f32(&dims, FASTRNN_TANH, one, one, one, one, NULL, out, NULL) ==
              FASTRNN_ERR_NO_BLAS,
          "no BLAS yet gives FASTRNN_ERR_NO_BLAS", "status");
    check(fastrnn_blas_set(NULL, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_ERR_ARG,
          "a NULL BLAS routine is refused", "status");
    check(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK,
          "the plain BLAS is installed", "status");
    /* the last: each size fits the BLAS, but 3 T*B*H overflows int64 */
    const fastrnn_dims bad[] = {BAD_DIMS_OF_EVERY_KERNEL,
                                {(INT64_C(1) << 30) - 1, 2, 1, INT32_MAX}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        check(fastrnn_rnn_forward_f32(&bad[k], FASTRNN_TANH, one, one, one, one, NULL, out, work) ==
                  FASTRNN_ERR_DIMS,
              "bad dims give FASTRNN_ERR_DIMS", "status");
        check(fastrnn_rnn_forward_work_len(&bad[k]) == 0 &&
                  fastrnn_rnn_backward_work_len(&bad[k], -1) == 0 &&
                  fastrnn_rnn_backward_work_len(&bad[k], 0) == 0,
              "bad dims need no workspace", "status");
    }
    check(fastrnn_rnn_forward_f32(&dims, (fastrnn_nonlinearity)7, one, one, one, one, NULL, out,
                                  NULL) == FASTRNN_ERR_ARG,
          "an unknown nonlinearity gives FASTRNN_ERR_ARG", "status");
    check(fastrnn_rnn_forward_f32(&dims, FASTRNN_TANH, NULL, one, one, one, NULL, out, NULL) ==
              FASTRNN_ERR_ARG,
          "a NULL input gives FASTRNN_ERR_ARG", "status");
    const fastrnn_dims not_square = {1, 1, 2, 1};
    check(fastrnn_rnn_forward_f32(&not_square, FASTRNN_TANH, one, one, NULL, one, NULL, out,
                                  NULL) == FASTRNN_ERR_DIMS,
          "U=NULL with D != H gives FASTRNN_ERR_DIMS", "status");
}

int main(void) {
    check_statuses();
    const int64_t sizes[][4] = {{1, 1, 1, 1},  {1, 3, 5, 4},  {5, 1, 3, 7},  {7, 3, 5, 4},
                                {6, 2, 17, 9}, {4, 5, 1, 33}, {9, 1, 16, 16},
                                {3, 17, 5, 13}};
    const int64_t truncations[] = {-1, 0, 1, 2, 5, 100};
    unsigned seed = 1;
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; ++c)
        for (int variant = 0; variant < 8; ++variant)
            for (size_t k = 0; k < sizeof truncations / sizeof *truncations; ++k) {
                problem p = {sizes[c][0], sizes[c][1],        sizes[c][2],        sizes[c][3],
                             variant & 1, (variant >> 1) & 1, (variant >> 2) & 1, truncations[k]};
                run_case(&p, 0, seed++);
                run_case(&p, 1, seed++);
            }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
