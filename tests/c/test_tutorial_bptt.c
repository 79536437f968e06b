/* C-level test of fastrnn_tutorial_bptt (csrc/lm.c), built with sanitizers and run under
 * valgrind by tests/test_c_kernels.py: the one-call bptt of the tutorial's language model
 * against the tutorial's own loops (an outer product per output and window step), written
 * here in plain C, on the thin path of softmax_loss (4 to 24 rows, V of 100000 elements or
 * more) and the BLAS path, windows from empty to exact, B > 1 (independent sentences whose
 * gradients add up); buffers of exactly the documented sizes, outputs filled with garbage
 * first (dU must come out zero in the columns no id names). The BLAS is plain_blas.h's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "fastrnn.h"
#include "plain_blas.h"

/* The tutorial's bptt for every batch column n, gradients summed over the columns:
 * s_t = tanh(U[:, x_t] + W s_{t-1}), o_t = softmax(V s_t), the gradient of output t
 * reaching steps t down to max(0, t - K). Returns the summed loss. */
static double tutorial(int T, int B, int D, int H, int64_t K, const int64_t *ids,
                       const int64_t *targets, const double *U, const double *V, const double *W,
                       double *dU, double *dV, double *dW) {
    double *s = calloc((size_t)(T + 1) * H, sizeof(double)); /* s[T] = s_{-1} = 0 */
    double *o = malloc(sizeof(double) * (size_t)D), *delta = malloc(sizeof(double) * H);
    double *next = malloc(sizeof(double) * H);
    double loss = 0;
    for (int i = 0; i < H * D; ++i) dU[i] = 0, dV[i] = 0;
    for (int i = 0; i < H * H; ++i) dW[i] = 0;
#define S(t) (s + ((t) < 0 ? T : (t)) * H)
    for (int n = 0; n < B; ++n) {
        for (int t = 0; t < T; ++t) {
            const int64_t x = ids[t * B + n];
            for (int i = 0; i < H; ++i) {
                double a = U[i * D + x];
                for (int j = 0; j < H; ++j) a += W[i * H + j] * S(t - 1)[j];
                S(t)[i] = tanh(a);
            }
        }
        for (int t = T - 1; t >= 0; --t) {
            const int64_t y = targets[t * B + n];
            double top = -INFINITY, norm = 0;
            for (int k = 0; k < D; ++k) {
                o[k] = 0;
                for (int i = 0; i < H; ++i) o[k] += V[k * H + i] * S(t)[i];
                top = o[k] > top ? o[k] : top;
            }
            for (int k = 0; k < D; ++k) norm += exp(o[k] - top);
            loss += log(norm) - (o[y] - top);
            for (int k = 0; k < D; ++k) o[k] = exp(o[k] - top) / norm - (k == y);
            for (int k = 0; k < D; ++k)
                for (int i = 0; i < H; ++i) dV[k * H + i] += o[k] * S(t)[i];
            for (int i = 0; i < H; ++i) {
                delta[i] = 0;
                for (int k = 0; k < D; ++k) delta[i] += V[k * H + i] * o[k];
                delta[i] *= 1 - S(t)[i] * S(t)[i];
            }
            for (int step = t; step >= 0 && step >= t - K; --step) {
                for (int i = 0; i < H; ++i) {
                    for (int j = 0; j < H; ++j) dW[i * H + j] += delta[i] * S(step - 1)[j];
                    dU[i * D + ids[step * B + n]] += delta[i];
                }
                for (int j = 0; j < H; ++j) {
                    next[j] = 0;
                    for (int i = 0; i < H; ++i) next[j] += W[i * H + j] * delta[i];
                    next[j] *= 1 - S(step - 1)[j] * S(step - 1)[j];
                }
                for (int j = 0; j < H; ++j) delta[j] = next[j];
            }
        }
    }
#undef S
    free(s), free(o), free(delta), free(next);
    return loss;
}

/* The largest |a - b| relative to the largest |b| (0 when both are all zero); infinity
 * where a holds a NaN (fmax would pass over it). */
static double relative_error(int n, const double *a, const double *b) {
    double top = 0, err = 0;
    for (int i = 0; i < n; ++i) {
        if (a[i] != a[i]) return INFINITY;
        top = fmax(top, fabs(b[i])), err = fmax(err, fabs(a[i] - b[i]));
    }
    return top > 0 ? err / top : err;
}

static void test_shape(int T, int B, int D, int H, int64_t K) {
    const fastrnn_dims d = {T, B, D, H};
    const int R = T * B;
    int64_t *ids = malloc(sizeof(int64_t) * R), *targets = malloc(sizeof(int64_t) * R);
    double *U = malloc(sizeof(double) * H * D), *V = malloc(sizeof(double) * D * H);
    double *W = malloc(sizeof(double) * H * H);
    double *dU = malloc(sizeof(double) * H * D), *dV = malloc(sizeof(double) * D * H);
    double *dW = malloc(sizeof(double) * H * H);
    double *want_dU = malloc(sizeof(double) * H * D), *want_dV = malloc(sizeof(double) * D * H);
    double *want_dW = malloc(sizeof(double) * H * H);
    for (int r = 0; r < R; ++r) ids[r] = (37 * r + 5) % D, targets[r] = (11 * r + 2) % D;
    if (R > 2) ids[2] = ids[0]; /* a repeated word: its column adds up */
    for (int i = 0; i < H * D; ++i) U[i] = 0.5 * sin(0.37 * i + 0.1);
    for (int i = 0; i < D * H; ++i) V[i] = 1.5 * cos(0.71 * i);
    for (int i = 0; i < H * H; ++i) W[i] = 0.6 * sin(1.3 * i) / sqrt(H);
    for (int i = 0; i < H * D; ++i) dU[i] = NAN, dV[i] = NAN;
    for (int i = 0; i < H * H; ++i) dW[i] = NAN;
    const int64_t n_work = fastrnn_tutorial_bptt_work_len(&d, K);
    CHECK(n_work > 0);
    double *work = malloc(sizeof(double) * (size_t)n_work);
    double loss = NAN;
    CHECK(fastrnn_tutorial_bptt_f64(&d, K, ids, targets, U, V, W, &loss, dU, dV, dW, work) ==
          FASTRNN_OK);
    const double want = tutorial(T, B, D, H, K, ids, targets, U, V, W, want_dU, want_dV, want_dW);
    CHECK(fabs(loss - want) <= 1e-12 * fabs(want));
    CHECK(relative_error(H * D, dU, want_dU) <= 1e-12);
    CHECK(relative_error(D * H, dV, want_dV) <= 1e-12);
    CHECK(relative_error(H * H, dW, want_dW) <= 1e-12);

    /* float32: the same calls in float, against the double loops */
    float *Uf = malloc(sizeof(float) * H * D), *Vf = malloc(sizeof(float) * D * H);
    float *Wf = malloc(sizeof(float) * H * H), *dWf = malloc(sizeof(float) * H * H);
    float *dUf = malloc(sizeof(float) * H * D), *dVf = malloc(sizeof(float) * D * H);
    float *workf = malloc(sizeof(float) * (size_t)n_work);
    for (int i = 0; i < H * D; ++i) Uf[i] = (float)U[i], Vf[i] = (float)V[i], dUf[i] = NAN;
    for (int i = 0; i < H * H; ++i) Wf[i] = (float)W[i];
    CHECK(fastrnn_tutorial_bptt_f32(&d, K, ids, targets, Uf, Vf, Wf, &loss, dUf, dVf, dWf, workf) ==
          FASTRNN_OK);
    for (int i = 0; i < H * D; ++i) dU[i] = dUf[i], dV[i] = dVf[i];
    for (int i = 0; i < H * H; ++i) dW[i] = dWf[i];
    CHECK(fabs(loss - want) <= 1e-4 * fabs(want));
    CHECK(relative_error(H * D, dU, want_dU) <= 1e-3);
    CHECK(relative_error(D * H, dV, want_dV) <= 1e-3);
    CHECK(relative_error(H * H, dW, want_dW) <= 1e-3);
    free(Uf), free(Vf), free(Wf), free(dWf), free(dUf), free(dVf), free(workf);

    /* refused before anything is written: an id or target outside [0, D), NULL, bad dims */
    dW[0] = -7;
    ids[R - 1] = D;
    CHECK(fastrnn_tutorial_bptt_f64(&d, K, ids, targets, U, V, W, &loss, dU, dV, dW, work) ==
          FASTRNN_ERR_ARG);
    ids[R - 1] = 0, targets[0] = -1;
    CHECK(fastrnn_tutorial_bptt_f64(&d, K, ids, targets, U, V, W, &loss, dU, dV, dW, work) ==
          FASTRNN_ERR_ARG);
    targets[0] = 0;
    CHECK(fastrnn_tutorial_bptt_f64(&d, K, ids, targets, U, V, W, &loss, dU, dV, NULL, work) ==
          FASTRNN_ERR_ARG);
    const fastrnn_dims empty = {0, B, D, H};
    CHECK(fastrnn_tutorial_bptt_work_len(&empty, K) == 0);
    CHECK(fastrnn_tutorial_bptt_f64(&empty, K, ids, targets, U, V, W, &loss, dU, dV, dW, work) ==
          FASTRNN_ERR_DIMS);
    CHECK(dW[0] == -7);
    free(ids), free(targets), free(U), free(V), free(W), free(dU), free(dV), free(dW);
    free(want_dU), free(want_dV), free(want_dW), free(work);
}

int main(void) {
    CHECK(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK);
    /* T, B, D, H, window: the thin path (8 and 20 rows, D * H >= 100000, H with a tail)
     * with windows empty, 0, 2 and exact; the BLAS path (small V, one row, 25 rows) */
    static const int shapes[][5] = {
        {8, 1, 10007, 10, 2},  {20, 1, 8000, 13, 4}, {5, 2, 12501, 9, -1}, {4, 2, 12501, 8, 0},
        {6, 1, 12500, 8, 100}, {3, 1, 50, 7, 1},     {1, 1, 9, 4, 4},      {5, 5, 40, 6, 3},
    };
    for (int n = 0; n < (int)(sizeof shapes / sizeof shapes[0]); ++n) {
        const int *e = shapes[n];
        test_shape(e[0], e[1], e[2], e[3], e[4]);
    }
    return finish();
}
