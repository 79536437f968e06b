/* C-level test of the LSTM and GRU kernels' projection path (csrc/lstm.c, csrc/gru.c),
 * built with sanitizers and under valgrind by tests/test_c_kernels.py.
 *
 * U NULL means x is the input projection U x_t of all G gates itself, (T,B,G*H): the
 * results must equal those of the same x with U the identity (G*H, G*H), exactly (the
 * plain BLAS of plain_blas.h adds exact zeros), and dU must not be needed. Every buffer is
 * malloc'd at exactly the documented size, so an overrun is a sanitizer error. Also
 * checks the refusals the binding never lets through: U NULL with D != G*H, dU NULL with
 * U given. Exits non-zero on a failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fastrnn.h"
#include "plain_blas.h"

enum { T = 4, B = 3, H = 5 };

/* n doubles of deterministic values of about scale in size */
static double *filled(size_t n, double scale, double phase) {
    double *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; ++i) a[i] = scale * sin(phase + 0.37 * (double)i);
    return a;
}

static double *zeros(size_t n) { return calloc(n, sizeof(double)); }

static double *identity(int64_t n) {
    double *a = zeros((size_t)(n * n));
    for (int64_t i = 0; i < n; ++i) a[i * n + i] = 1;
    return a;
}

static int equal(const double *a, const double *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static double *work_for(int64_t len) {
    return malloc((size_t)(len > 0 ? len : 1) * sizeof(double));
}

/* forward + backward of one cell; U NULL runs the projection path (dU then NULL) */
typedef struct {
    double *s, *c, *gates, *dx, *ds0, *dc0, *dU, *dW, *db_ih, *db_hh;
} results;

static void free_results(results *r) {
    free(r->s), free(r->c), free(r->gates), free(r->dx), free(r->ds0);
    free(r->dc0), free(r->dU), free(r->dW), free(r->db_ih), free(r->db_hh);
}

static results run_lstm(int64_t truncate, const double *x, const double *s0, const double *c0,
                        const double *U, const double *W, const double *b_ih, const double *b_hh,
                        const double *ds, const double *dc) {
    const int64_t G = 4 * H, states = T * B * H;
    fastrnn_dims d = {T, B, G, H};
    results r = {0};
    r.s = zeros(states), r.c = zeros(states), r.gates = zeros(T * B * G);
    double *work = work_for(fastrnn_lstm_forward_work_len(&d));
    CHECK(fastrnn_lstm_forward_f64(&d, x, s0, c0, U, W, b_ih, b_hh, r.s, r.c, r.gates, work) ==
          FASTRNN_OK);
    free(work);
    r.dx = zeros(T * B * G), r.ds0 = zeros(B * H), r.dc0 = zeros(B * H), r.dW = zeros(G * H);
    r.dU = U != NULL ? zeros(G * G) : NULL;
    r.db_ih = b_ih != NULL ? zeros(G) : NULL;
    work = work_for(fastrnn_lstm_backward_work_len(&d, truncate));
    CHECK(fastrnn_lstm_backward_f64(&d, truncate, x, s0, c0, U, W, r.s, r.c, r.gates, ds, dc, NULL,
                                    NULL, r.dx, r.ds0, r.dc0, r.dU, r.dW, r.db_ih,
                                    work) == FASTRNN_OK);
    free(work);
    return r;
}

static results run_gru(int64_t truncate, const double *x, const double *s0, const double *U,
                       const double *W, const double *b_ih, const double *b_hh, const double *ds) {
    const int64_t G = 3 * H, states = T * B * H;
    fastrnn_dims d = {T, B, G, H};
    results r = {0};
    r.s = zeros(states), r.gates = zeros(T * B * G);
    double *work = work_for(fastrnn_gru_forward_work_len(&d));
    CHECK(fastrnn_gru_forward_f64(&d, x, s0, U, W, b_ih, b_hh, r.s, r.gates, work) == FASTRNN_OK);
    free(work);
    r.dx = zeros(T * B * G), r.ds0 = zeros(B * H), r.dW = zeros(G * H);
    r.dU = U != NULL ? zeros(G * G) : NULL;
    r.db_ih = b_ih != NULL ? zeros(G) : NULL;
    r.db_hh = b_hh != NULL ? zeros(G) : NULL;
    work = work_for(fastrnn_gru_backward_work_len(&d, truncate));
    CHECK(fastrnn_gru_backward_f64(&d, truncate, x, s0, U, W, b_hh, r.s, r.gates, ds, NULL, r.dx,
                                   r.ds0, r.dU, r.dW, r.db_ih, r.db_hh, work) == FASTRNN_OK);
    free(work);
    return r;
}

static void test_lstm(int64_t truncate, int bias) {
    const int64_t G = 4 * H, states = T * B * H;
    double *x = filled(T * B * G, 1.5, 0.1), *s0 = filled(B * H, 0.5, 0.2);
    double *c0 = filled(B * H, 0.5, 0.3), *W = filled(G * H, 0.4, 0.4), *I = identity(G);
    double *b_ih = bias ? filled(G, 0.1, 0.5) : NULL, *b_hh = bias ? filled(G, 0.1, 0.6) : NULL;
    double *ds = filled(states, 1, 0.7), *dc = filled(states, 1, 0.8);
    results got = run_lstm(truncate, x, s0, c0, NULL, W, b_ih, b_hh, ds, dc);
    results want = run_lstm(truncate, x, s0, c0, I, W, b_ih, b_hh, ds, dc);
    CHECK(equal(got.s, want.s, states) && equal(got.c, want.c, states));
    CHECK(equal(got.gates, want.gates, T * B * G));
    CHECK(equal(got.dx, want.dx, T * B * G));
    CHECK(equal(got.ds0, want.ds0, B * H) && equal(got.dc0, want.dc0, B * H));
    CHECK(equal(got.dW, want.dW, G * H));
    CHECK(!bias || equal(got.db_ih, want.db_ih, G));
    /* refusals: the projection must be 4H wide, and dU is needed when U is given */
    fastrnn_dims narrow = {T, B, G - 1, H}, d = {T, B, G, H};
    double *work = work_for(fastrnn_lstm_backward_work_len(&d, truncate));
    CHECK(fastrnn_lstm_forward_f64(&narrow, x, s0, c0, NULL, W, b_ih, b_hh, got.s, got.c, got.gates,
                                   work) == FASTRNN_ERR_DIMS);
    CHECK(fastrnn_lstm_backward_f64(&narrow, truncate, x, s0, c0, NULL, W, got.s, got.c, got.gates,
                                    ds, dc, NULL, NULL, got.dx, got.ds0, got.dc0, NULL, got.dW,
                                    got.db_ih, work) == FASTRNN_ERR_DIMS);
    CHECK(fastrnn_lstm_backward_f64(&d, truncate, x, s0, c0, I, W, got.s, got.c, got.gates, ds, dc,
                                    NULL, NULL, got.dx, got.ds0, got.dc0, NULL, got.dW, got.db_ih,
                                    work) == FASTRNN_ERR_ARG);
    free(work);
    free_results(&got), free_results(&want);
    free(x), free(s0), free(c0), free(W), free(I), free(b_ih), free(b_hh), free(ds), free(dc);
}

static void test_gru(int64_t truncate, int bias) {
    const int64_t G = 3 * H, states = T * B * H;
    double *x = filled(T * B * G, 1.5, 0.1), *s0 = filled(B * H, 0.5, 0.2);
    double *W = filled(G * H, 0.4, 0.4), *I = identity(G);
    double *b_ih = bias ? filled(G, 0.1, 0.5) : NULL, *b_hh = bias ? filled(G, 0.1, 0.6) : NULL;
    double *ds = filled(states, 1, 0.7);
    results got = run_gru(truncate, x, s0, NULL, W, b_ih, b_hh, ds);
    results want = run_gru(truncate, x, s0, I, W, b_ih, b_hh, ds);
    CHECK(equal(got.s, want.s, states));
    CHECK(equal(got.gates, want.gates, T * B * G));
    CHECK(equal(got.dx, want.dx, T * B * G) && equal(got.ds0, want.ds0, B * H));
    CHECK(equal(got.dW, want.dW, G * H));
    CHECK(!bias || (equal(got.db_ih, want.db_ih, G) && equal(got.db_hh, want.db_hh, G)));
    fastrnn_dims narrow = {T, B, G + 1, H}, d = {T, B, G, H};
    double *work = work_for(fastrnn_gru_backward_work_len(&d, truncate));
    CHECK(fastrnn_gru_forward_f64(&narrow, x, s0, NULL, W, b_ih, b_hh, got.s, got.gates, work) ==
          FASTRNN_ERR_DIMS);
    CHECK(fastrnn_gru_backward_f64(&d, truncate, x, s0, I, W, b_hh, got.s, got.gates, ds, NULL,
                                   got.dx, got.ds0, NULL, got.dW, got.db_ih, got.db_hh,
                                   work) == FASTRNN_ERR_ARG);
    free(work);
    free_results(&got), free_results(&want);
    free(x), free(s0), free(W), free(I), free(b_ih), free(b_hh), free(ds);
}

/* The float instantiation of the projection path, within float rounding of double. */
static void test_float(void) {
    const int64_t G = 4 * H, states = T * B * H;
    fastrnn_dims d = {T, B, G, H};
    double *xd = filled(T * B * G, 1.5, 0.1), *Wd = filled(G * H, 0.4, 0.4);
    double *ds = filled(states, 1, 0.7);
    float *x = malloc(T * B * G * sizeof *x), *W = malloc(G * H * sizeof *W);
    float *dsf = malloc(states * sizeof *dsf), *s0 = calloc(B * H, sizeof *s0);
    for (int64_t i = 0; i < T * B * G; ++i) x[i] = (float)xd[i];
    for (int64_t i = 0; i < G * H; ++i) W[i] = (float)Wd[i];
    for (int64_t i = 0; i < states; ++i) dsf[i] = (float)ds[i];
    double *s0d = zeros(B * H);
    results want = run_lstm(-1, xd, s0d, s0d, NULL, Wd, NULL, NULL, ds, NULL);
    float *s = malloc(states * sizeof *s), *c = malloc(states * sizeof *c);
    float *gates = malloc(T * B * G * sizeof *gates), *dx = malloc(T * B * G * sizeof *dx);
    float *ds0 = malloc(B * H * sizeof *ds0), *dc0 = malloc(B * H * sizeof *dc0);
    float *dW = malloc(G * H * sizeof *dW);
    float *work = malloc((size_t)fastrnn_lstm_backward_work_len(&d, -1) * sizeof *work);
    CHECK(fastrnn_lstm_forward_f32(&d, x, s0, s0, NULL, W, NULL, NULL, s, c, gates, work) ==
          FASTRNN_OK);
    CHECK(fastrnn_lstm_backward_f32(&d, -1, x, s0, s0, NULL, W, s, c, gates, dsf, NULL, NULL, NULL,
                                    dx, ds0, dc0, NULL, dW, NULL, work) == FASTRNN_OK);
    for (int64_t i = 0; i < states; ++i) CHECK(fabs(s[i] - want.s[i]) < 1e-5);
    for (int64_t i = 0; i < T * B * G; ++i) CHECK(fabs(dx[i] - want.dx[i]) < 1e-5);
    for (int64_t i = 0; i < G * H; ++i) CHECK(fabs(dW[i] - want.dW[i]) < 1e-4);
    free_results(&want);
    free(xd), free(Wd), free(ds), free(s0d), free(x), free(W), free(dsf), free(s0), free(s);
    free(c), free(gates), free(dx), free(ds0), free(dc0), free(dW), free(work);
}

int main(void) {
    CHECK(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK);
    for (int bias = 0; bias <= 1; ++bias)
        for (int64_t truncate = -1; truncate <= 1; ++truncate) {
            test_lstm(truncate, bias);
            test_gru(truncate, bias);
        }
    test_float();
    return finish();
}
