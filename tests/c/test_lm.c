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

/* softmax_loss of one shape against plain loops in double, in float64 or float32. In double
 * the thin path takes T*B from 4 to 24 rows when H >= 8 and V (K, H) has at least 100000
 * elements, the BLAS path the rest; H and K not multiples of the vector width test the
 * padded tails. */
static void test_softmax_loss_shape(int T_, int B_, int H_, int K_, int masked, int with_c,
                                    int single) {
    const int R = T_ * B_;
    fastrnn_softmax_dims d = {T_, B_, H_, K_};
    double *s = malloc(sizeof(double) * R * H_), *V = malloc(sizeof(double) * K_ * H_);
    double *c = malloc(sizeof(double) * K_), *dc = malloc(sizeof(double) * K_);
    double *ds = malloc(sizeof(double) * R * H_), *dV = malloc(sizeof(double) * K_ * H_);
    double *want_ds = calloc((size_t)R * H_, sizeof(double));
    double *want_dV = calloc((size_t)K_ * H_, sizeof(double));
    double *want_dc = calloc((size_t)K_, sizeof(double));
    double *z = malloc(sizeof(double) * K_), *dz = malloc(sizeof(double) * K_);
    int64_t *targets = malloc(sizeof(int64_t) * R);
    uint8_t *mask = malloc((size_t)R);
    for (int i = 0; i < R * H_; ++i) s[i] = sin(0.37 * i + 0.1);
    for (int i = 0; i < K_ * H_; ++i) V[i] = 2 * cos(0.71 * i);
    for (int j = 0; j < K_; ++j) c[j] = 0.05 * j;
    for (int r = 0; r < R; ++r) targets[r] = (7 * r + 3) % K_, mask[r] = r % 3 != 1;
    const uint8_t *m = masked ? mask : NULL;
    const double *cc = with_c ? c : NULL;
    double loss = -1, want = 0;
    const int64_t n_work = fastrnn_softmax_loss_work_len(&d);
    if (single) {
        float *sf = malloc(sizeof(float) * R * H_), *Vf = malloc(sizeof(float) * K_ * H_);
        float *cf = malloc(sizeof(float) * K_), *dcf = malloc(sizeof(float) * K_);
        float *dsf = malloc(sizeof(float) * R * H_), *dVf = malloc(sizeof(float) * K_ * H_);
        float *work = malloc(sizeof(float) * (size_t)n_work);
        for (int i = 0; i < R * H_; ++i) sf[i] = (float)s[i];
        for (int i = 0; i < K_ * H_; ++i) Vf[i] = (float)V[i];
        for (int j = 0; j < K_; ++j) cf[j] = (float)c[j];
        CHECK(fastrnn_softmax_loss_f32(&d, FASTRNN_REDUCE_SUM, sf, Vf, with_c ? cf : NULL, targets,
                                       m, &loss, dsf, dVf, dcf, work) == FASTRNN_OK);
        for (int i = 0; i < R * H_; ++i) ds[i] = dsf[i], s[i] = sf[i];
        for (int i = 0; i < K_ * H_; ++i) dV[i] = dVf[i], V[i] = Vf[i];
        for (int j = 0; j < K_; ++j) dc[j] = dcf[j], c[j] = cf[j];
        free(sf), free(Vf), free(cf), free(dcf), free(dsf), free(dVf), free(work);
    } else {
        double *work = malloc(sizeof(double) * (size_t)n_work);
        CHECK(fastrnn_softmax_loss_f64(&d, FASTRNN_REDUCE_SUM, s, V, cc, targets, m, &loss, ds, dV,
                                       dc, work) == FASTRNN_OK);
        free(work);
    }
    for (int r = 0; r < R; ++r) {
        if (masked && !mask[r]) continue;
        for (int j = 0; j < K_; ++j) {
            z[j] = with_c ? c[j] : 0;
            for (int i = 0; i < H_; ++i) z[j] += V[j * H_ + i] * s[r * H_ + i];
        }
        double top = z[0], norm = 0;
        for (int j = 1; j < K_; ++j) top = z[j] > top ? z[j] : top;
        for (int j = 0; j < K_; ++j) norm += exp(z[j] - top);
        for (int j = 0; j < K_; ++j) dz[j] = exp(z[j] - top) / norm - (j == targets[r]);
        want += log(norm) - (z[targets[r]] - top);
        for (int j = 0; j < K_; ++j) {
            want_dc[j] += dz[j];
            for (int i = 0; i < H_; ++i) {
                want_dV[j * H_ + i] += dz[j] * s[r * H_ + i];
                want_ds[r * H_ + i] += dz[j] * V[j * H_ + i];
            }
        }
    }
    const double tol = single ? 1e-4 : 1e-12; /* relative to the largest entry */
    double top_ds = 1e-300, top_dV = 1e-300;
    for (int i = 0; i < R * H_; ++i) top_ds = fmax(top_ds, fabs(want_ds[i]));
    for (int i = 0; i < K_ * H_; ++i) top_dV = fmax(top_dV, fabs(want_dV[i]));
    CHECK(fabs(loss - want) <= tol * fabs(want) + 1e-300);
    for (int i = 0; i < R * H_; ++i) CHECK(fabs(ds[i] - want_ds[i]) <= tol * top_ds);
    for (int i = 0; i < K_ * H_; ++i) CHECK(fabs(dV[i] - want_dV[i]) <= tol * top_dV);
    if (with_c)
        for (int j = 0; j < K_; ++j) CHECK(fabs(dc[j] - want_dc[j]) <= tol * R);
    free(s), free(V), free(c), free(dc), free(ds), free(dV), free(want_ds), free(want_dV);
    free(want_dc), free(z), free(dz), free(targets), free(mask);
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
    /* T, B, H, K: thin path with tails; 8 rows and exact widths; 24 rows and H of one
     * vector; 4 rows and H of three; 7 rows (not a multiple of ds's 4) and H of two vectors
     * and a half; 25 rows and H < 8 (BLAS, large K); small V, one row, 49 rows (BLAS) */
    static const int shapes[][4] = {{20, 1, 13, 7700}, {4, 2, 16, 6250}, {8, 3, 8, 12501},
                                    {2, 2, 24, 4167},  {7, 1, 20, 5000}, {5, 5, 3, 33334},
                                    {3, 5, 9, 70},     {1, 1, 1, 1},     {7, 7, 5, 3}};
    for (int n = 0; n < (int)(sizeof shapes / sizeof shapes[0]); ++n)
        for (int variant = 0; variant < 4; ++variant) {
            const int *e = shapes[n];
            test_softmax_loss_shape(e[0], e[1], e[2], e[3], variant & 1, variant >> 1, 0);
            test_softmax_loss_shape(e[0], e[1], e[2], e[3], variant & 1, variant >> 1, 1);
        }
    return finish();
}
