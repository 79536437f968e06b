/* C-level test of the language-model kernels (csrc/lm.c), built with sanitizers by
 * tests/test_c_kernels.py. It reaches what the binding never lets through (ids out of
 * range, NULL arrays, bad dims) and checks results against plain loops computed here.
 * Exits non-zero on a failure. The BLAS is the plain loops of plain_blas.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "fastrnn.h"
#include "plain_blas.h"

enum { T = 3, B = 2, H = 4, D = 5, K = 5 };

static void test_embedding(void) {
    fastrnn_dims d = {T, B, D, H};
    double U[H * D], x[T * B * H], dU[H * D];
    for (int i = 0; i < H * D; ++i) U[i] = i + 1;
    int64_t ids[T * B] = {0, 4, 2, 2, 4, 1};
    CHECK(fastrnn_embedding_forward_f64(&d, ids, U, x) == FASTRNN_OK);
    for (int r = 0; r < T * B; ++r)
        for (int i = 0; i < H; ++i) CHECK(x[r * H + i] == U[i * D + ids[r]]);
    CHECK(fastrnn_embedding_backward_f64(&d, x, ids, dU) == FASTRNN_OK);
    for (int i = 0; i < H; ++i) {
        CHECK(dU[i * D + 0] == U[i * D + 0]);
        CHECK(dU[i * D + 2] == 2 * U[i * D + 2]); /* repeated id */
        CHECK(dU[i * D + 3] == 0);                /* absent id */
    }
    /* ids outside [0, D) are refused before anything is written */
    for (int i = 0; i < T * B * H; ++i) x[i] = -7;
    int64_t bad[T * B] = {0, 1, 2, 3, 4, D};
    CHECK(fastrnn_embedding_forward_f64(&d, bad, U, x) == FASTRNN_ERR_ARG);
    CHECK(x[0] == -7);
    bad[5] = -1;
    CHECK(fastrnn_embedding_backward_f64(&d, x, bad, dU) == FASTRNN_ERR_ARG);
    CHECK(fastrnn_embedding_forward_f64(&d, NULL, U, x) == FASTRNN_ERR_ARG);
    fastrnn_dims zero = {0, B, D, H};
    CHECK(fastrnn_embedding_forward_f64(&zero, ids, U, x) == FASTRNN_ERR_DIMS);
}

/* loss and dL/dz by definition, in double, for one row of logits z */
static double row_loss(const double *z, int target, double scale, double *dz) {
    double top = z[0], norm = 0;
    for (int j = 1; j < K; ++j) top = z[j] > top ? z[j] : top;
    for (int j = 0; j < K; ++j) norm += exp(z[j] - top);
    for (int j = 0; j < K; ++j) dz[j] = scale * (exp(z[j] - top) / norm - (j == target));
    return scale * (log(norm) - (z[target] - top));
}

static void test_softmax_loss(fastrnn_reduction reduction, int masked) {
    fastrnn_softmax_dims d = {T, B, H, K};
    double s[T * B * H], V[K * H], c[K];
    for (int i = 0; i < T * B * H; ++i) s[i] = sin(0.7 * i);
    for (int i = 0; i < K * H; ++i) V[i] = cos(1.3 * i) * (i % 3 == 0 ? 300 : 1); /* big logits */
    for (int j = 0; j < K; ++j) c[j] = 0.1 * j;
    int64_t targets[T * B] = {1, 0, 4, 3, 2, 2};
    uint8_t mask[T * B] = {1, 0, 1, 1, 0, 1};
    double loss, ds[T * B * H], dV[K * H], dc[K];
    double *work = malloc(sizeof(double) * (size_t)fastrnn_softmax_loss_work_len(&d));
    CHECK(fastrnn_softmax_loss_f64(&d, reduction, s, V, c, targets, masked ? mask : NULL, &loss, ds,
                                   dV, dc, work) == FASTRNN_OK);
    int count = 0;
    for (int r = 0; r < T * B; ++r) count += !masked || mask[r];
    const double scale = reduction == FASTRNN_REDUCE_SUM ? 1.0 : 1.0 / count;
    double want = 0, want_ds[T * B * H] = {0}, want_dV[K * H] = {0}, want_dc[K] = {0};
    for (int r = 0; r < T * B; ++r) {
        if (masked && !mask[r]) continue;
        double z[K], dz[K];
        for (int j = 0; j < K; ++j) {
            z[j] = c[j];
            for (int i = 0; i < H; ++i) z[j] += V[j * H + i] * s[r * H + i];
        }
        want += row_loss(z, (int)targets[r], scale, dz);
        for (int j = 0; j < K; ++j) {
            want_dc[j] += dz[j];
            for (int i = 0; i < H; ++i) {
                want_dV[j * H + i] += dz[j] * s[r * H + i];
                want_ds[r * H + i] += dz[j] * V[j * H + i];
            }
        }
    }
    CHECK(isfinite(loss) && fabs(loss - want) <= 1e-12 * fabs(want));
    for (int i = 0; i < T * B * H; ++i) CHECK(fabs(ds[i] - want_ds[i]) <= 1e-9);
    for (int i = 0; i < K * H; ++i) CHECK(fabs(dV[i] - want_dV[i]) <= 1e-9);
    for (int j = 0; j < K; ++j) CHECK(fabs(dc[j] - want_dc[j]) <= 1e-12);

    /* refusals: a target outside [0, K), NULL arrays, a bad reduction, bad dims */
    int64_t bad[T * B] = {1, 0, 4, 3, 2, K};
    CHECK(fastrnn_softmax_loss_f64(&d, reduction, s, V, c, bad, NULL, &loss, ds, dV, dc, work) ==
          FASTRNN_ERR_ARG);
    CHECK(fastrnn_softmax_loss_f64(&d, reduction, s, V, c, targets, NULL, &loss, ds, dV, NULL,
                                   work) == FASTRNN_ERR_ARG);
    CHECK(fastrnn_softmax_loss_f64(&d, (fastrnn_reduction)7, s, V, c, targets, NULL, &loss, ds, dV,
                                   dc, work) == FASTRNN_ERR_ARG);
    fastrnn_softmax_dims zero = {T, B, H, 0};
    CHECK(fastrnn_softmax_loss_f64(&zero, reduction, s, V, c, targets, NULL, &loss, ds, dV, dc,
                                   work) == FASTRNN_ERR_DIMS);
    free(work);
}

static void test_all_masked_and_float32(void) {
    fastrnn_softmax_dims d = {T, B, H, K};
    float s[T * B * H], V[K * H], ds[T * B * H], dV[K * H], probs[T * B * K];
    for (int i = 0; i < T * B * H; ++i) s[i] = (float)sin(0.3 * i);
    for (int i = 0; i < K * H; ++i) V[i] = (float)cos(0.9 * i);
    int64_t targets[T * B] = {0};
    uint8_t none[T * B] = {0};
    double loss = -1;
    float *work = malloc(sizeof(float) * (size_t)fastrnn_softmax_loss_work_len(&d));
    CHECK(fastrnn_softmax_loss_f32(&d, FASTRNN_REDUCE_MEAN, s, V, NULL, targets, none, &loss, ds,
                                   dV, NULL, work) == FASTRNN_OK);
    CHECK(loss == 0);
    for (int i = 0; i < T * B * H; ++i) CHECK(ds[i] == 0);
    for (int i = 0; i < K * H; ++i) CHECK(dV[i] == 0);
    CHECK(fastrnn_softmax_forward_f32(&d, s, V, NULL, probs) == FASTRNN_OK);
    for (int r = 0; r < T * B; ++r) {
        double total = 0;
        for (int j = 0; j < K; ++j) total += probs[r * K + j];
        CHECK(fabs(total - 1) < 1e-6);
    }
    free(work);
}

int main(void) {
    CHECK(fastrnn_softmax_forward_f64(&(fastrnn_softmax_dims){1, 1, 1, 1}, (double[]){0},
                                      (double[]){0}, NULL, (double[]){0}) == FASTRNN_ERR_NO_BLAS);
    CHECK(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK);
    test_embedding();
    test_softmax_loss(FASTRNN_REDUCE_MEAN, 0);
    test_softmax_loss(FASTRNN_REDUCE_MEAN, 1);
    test_softmax_loss(FASTRNN_REDUCE_SUM, 1);
    test_all_masked_and_float32();
    return finish();
}
