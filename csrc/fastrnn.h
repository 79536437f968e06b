/* fastrnn public C API: recurrent-network kernels for the Python binding.
 *
 * Legend (the article's notation, shared with reference.py):
 *   x inputs, s hidden states (s0 before step 0), U input-to-hidden, W hidden-to-hidden,
 *   b bias; T steps, B batch rows, D input size, H hidden size.
 *   Arrays are time-major and C-contiguous: x (T,B,D), s (T,B,H); weights are (out, in):
 *   U (H,D), W (H,H), so U x_t reads x[t] @ U.T when batched.
 *   Gradients are "d" + name; ds arrives for s from the layer above.
 *
 * Kernels never allocate, print or exit: memory comes from the caller, workspace sizes
 * come from the *_work_len functions, errors come back as a fastrnn_status. */
#ifndef FASTRNN_H
#define FASTRNN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t T, B, D, H;
} fastrnn_dims;

typedef enum {
    FASTRNN_OK = 0,
    FASTRNN_ERR_DIMS = 1,    /* a size is < 1 or too large for the BLAS's 32-bit ints */
    FASTRNN_ERR_ARG = 2,     /* an unknown nonlinearity, a NULL array or a bad option */
    FASTRNN_ERR_NO_BLAS = 3, /* fastrnn_blas_set was never called successfully */
} fastrnn_status;

typedef enum {
    FASTRNN_TANH = 0,
    FASTRNN_RELU = 1,
} fastrnn_nonlinearity;

/* Largest size any GEMM dimension or leading dimension may have (the BLAS takes int). */
#define FASTRNN_MAX_GEMM_DIM INT32_MAX

/* ---- BLAS provider ---------------------------------------------------------------- */

/* Fortran-ABI GEMM, as exported by reference BLAS, OpenBLAS and scipy.linalg.cython_blas. */
typedef void (*fastrnn_sgemm_fn)(const char *transa, const char *transb, const int *m, const int *n,
                                 const int *k, const float *alpha, const float *a, const int *lda,
                                 const float *b, const int *ldb, const float *beta, float *c,
                                 const int *ldc);
typedef void (*fastrnn_dgemm_fn)(const char *transa, const char *transb, const int *m, const int *n,
                                 const int *k, const double *alpha, const double *a, const int *lda,
                                 const double *b, const int *ldb, const double *beta, double *c,
                                 const int *ldc);

/* Installs the GEMM routines every kernel uses. Called once, at import, before any kernel
 * runs; the table is read-only afterwards. Returns FASTRNN_ERR_ARG for NULL pointers. */
fastrnn_status fastrnn_blas_set(fastrnn_sgemm_fn sgemm, fastrnn_dgemm_fn dgemm);
/* 1 when fastrnn_blas_set has succeeded, else 0. */
int fastrnn_blas_ready(void);

/* ---- Elementwise ------------------------------------------------------------------ */

/* a = f(a) in place over n elements: the vectorized functions the kernels use (within a
 * few ulp of libm's; NaN propagates; exp flushes subnormal results to 0, see
 * activations.c). Exposed so tests can check them against NumPy. */
void fastrnn_tanh_f32(int64_t n, float *a);
void fastrnn_tanh_f64(int64_t n, double *a);
void fastrnn_sigmoid_f32(int64_t n, float *a);
void fastrnn_sigmoid_f64(int64_t n, double *a);
void fastrnn_exp_f32(int64_t n, float *a);
void fastrnn_exp_f64(int64_t n, double *a);

/* ---- Vanilla RNN: s_t = f(U x_t + W s_{t-1} + b), f = tanh or relu ------------------- */

/* Forward through T steps.
 *   x (T,B,D), s0 (B,H), U (H,D), W (H,H)   in
 *   b (H,)                                  in   or NULL for no bias
 *   s (T,B,H)                               out  every hidden state, overwritten
 * No workspace. Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or
 * FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_rnn_forward_f32(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                       const float *restrict x, const float *restrict s0,
                                       const float *restrict U, const float *restrict W,
                                       const float *restrict b, float *restrict s);
fastrnn_status fastrnn_rnn_forward_f64(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                       const double *restrict x, const double *restrict s0,
                                       const double *restrict U, const double *restrict W,
                                       const double *restrict b, double *restrict s);

/* Elements of workspace fastrnn_rnn_backward_* needs (0 on bad dims). truncate < 0 is
 * full BPTT; truncate = K >= 0 is the per-output window of K applications of W. */
int64_t fastrnn_rnn_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* Backward through T steps of s_t = f(U x_t + W s_{t-1} + b).
 *   x (T,B,D), s0 (B,H), U (H,D), W (H,H)   in   same arrays as the forward call
 *   s (T,B,H)                               in   states written by the forward call
 *   ds (T,B,H)                              in   dL/ds_t from the layer above
 *   dx (T,B,D), ds0 (B,H), dU (H,D), dW (H,H)  out  overwritten, never accumulated
 *   db (H,)                                 out  overwritten; NULL to skip it
 *   work  fastrnn_rnn_backward_work_len(dims, truncate) elements, undefined after
 * truncate < 0: full BPTT. truncate = K >= 0: the gradient injected at step t flows back
 * through at most K applications of W, reaching steps t..max(0, t-K) (and s0 only when
 * the window reaches step 0). K >= T-1 equals full BPTT.
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_rnn_backward_f32(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                        int64_t truncate, const float *restrict x,
                                        const float *restrict s0, const float *restrict U,
                                        const float *restrict W, const float *restrict s,
                                        const float *restrict ds, float *restrict dx,
                                        float *restrict ds0, float *restrict dU, float *restrict dW,
                                        float *restrict db, float *restrict work);
fastrnn_status fastrnn_rnn_backward_f64(
    const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate, const double *restrict x,
    const double *restrict s0, const double *restrict U, const double *restrict W,
    const double *restrict s, const double *restrict ds, double *restrict dx, double *restrict ds0,
    double *restrict dU, double *restrict dW, double *restrict db, double *restrict work);

/* ---- Language-model kernels (issue 3): embedding, fused softmax + cross-entropy ----- */

/* ---- LSTM and GRU (issue 4) ----------------------------------------------------------- */

/* PyTorch's cells, gate order and weight layout: the gates' weights are stacked along the
 * rows, U (G*H,D) and W (G*H,H) (torch's weight_ih and weight_hh), biases b_ih, b_hh
 * (G*H,), with G = 4 for the LSTM (i, f, g, o) and G = 3 for the GRU (r, z, n). Either
 * bias may be NULL (no bias). truncate in the backward passes is as for the vanilla RNN:
 * < 0 full BPTT, K >= 0 the per-output window of K steps back (K >= T-1 is full BPTT),
 * where what is injected at step t reaches steps t..max(0, t-K), and the initial states
 * only when the window reaches step 0. */

/* Elements of workspace fastrnn_lstm_forward_* needs (0 on bad dims). */
int64_t fastrnn_lstm_forward_work_len(const fastrnn_dims *dims);

/* LSTM forward through T steps:
 *   [i, f, g, o] = [sigmoid, sigmoid, tanh, sigmoid](U x_t + b_ih + W s_{t-1} + b_hh)
 *   c_t = f * c_{t-1} + i * g,   s_t = o * tanh(c_t)
 *   x (T,B,D), s0 (B,H), c0 (B,H), U (4H,D), W (4H,H)   in
 *   b_ih (4H,), b_hh (4H,)                               in   or NULL
 *   s (T,B,H), c (T,B,H)                                 out  every hidden and cell state
 *   gates (T,B,4H)                                       out  i, f, g, o of every step
 *   work  fastrnn_lstm_forward_work_len(dims) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_lstm_forward_f32(const fastrnn_dims *dims, const float *restrict x,
                                        const float *restrict s0, const float *restrict c0,
                                        const float *restrict U, const float *restrict W,
                                        const float *restrict b_ih, const float *restrict b_hh,
                                        float *restrict s, float *restrict c, float *restrict gates,
                                        float *restrict work);
fastrnn_status fastrnn_lstm_forward_f64(const fastrnn_dims *dims, const double *restrict x,
                                        const double *restrict s0, const double *restrict c0,
                                        const double *restrict U, const double *restrict W,
                                        const double *restrict b_ih, const double *restrict b_hh,
                                        double *restrict s, double *restrict c,
                                        double *restrict gates, double *restrict work);

/* Elements of workspace fastrnn_lstm_backward_* needs (0 on bad dims). */
int64_t fastrnn_lstm_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* LSTM backward through T steps.
 *   x, s0, c0, U, W                     in   same arrays as the forward call
 *   s, c (T,B,H), gates (T,B,4H)        in   written by the forward call
 *   ds (T,B,H)                          in   dL/ds_t arriving at every step from outside
 *   dc (T,B,H)                          in   dL/dc_t likewise, or NULL for zeros
 *   dx (T,B,D), ds0, dc0 (B,H), dU (4H,D), dW (4H,H)   out  overwritten, never accumulated
 *   db (4H,)                            out  the gradient of b_ih and of b_hh (they are
 *                                            equal); NULL to skip it
 *   work  fastrnn_lstm_backward_work_len(dims, truncate) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_lstm_backward_f32(
    const fastrnn_dims *dims, int64_t truncate, const float *restrict x, const float *restrict s0,
    const float *restrict c0, const float *restrict U, const float *restrict W,
    const float *restrict s, const float *restrict c, const float *restrict gates,
    const float *restrict ds, const float *restrict dc, float *restrict dx, float *restrict ds0,
    float *restrict dc0, float *restrict dU, float *restrict dW, float *restrict db,
    float *restrict work);
fastrnn_status fastrnn_lstm_backward_f64(
    const fastrnn_dims *dims, int64_t truncate, const double *restrict x, const double *restrict s0,
    const double *restrict c0, const double *restrict U, const double *restrict W,
    const double *restrict s, const double *restrict c, const double *restrict gates,
    const double *restrict ds, const double *restrict dc, double *restrict dx, double *restrict ds0,
    double *restrict dc0, double *restrict dU, double *restrict dW, double *restrict db,
    double *restrict work);

/* Elements of workspace fastrnn_gru_forward_* needs (0 on bad dims). */
int64_t fastrnn_gru_forward_work_len(const fastrnn_dims *dims);

/* GRU forward through T steps:
 *   [r, z] = sigmoid(U_rz x_t + b_ih_rz + W_rz s_{t-1} + b_hh_rz)
 *   n = tanh(U_n x_t + b_in + r * hn_t),  hn_t = W_n s_{t-1} + b_hn
 *   s_t = (1 - z) * n + z * s_{t-1}
 *   x (T,B,D), s0 (B,H), U (3H,D), W (3H,H)   in
 *   b_ih (3H,), b_hh (3H,)                     in   or NULL
 *   s (T,B,H)                                  out  every hidden state
 *   gates (T,B,3H), hn (T,B,H)                 out  r, z, n and hn_t of every step
 *   work  fastrnn_gru_forward_work_len(dims) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_gru_forward_f32(const fastrnn_dims *dims, const float *restrict x,
                                       const float *restrict s0, const float *restrict U,
                                       const float *restrict W, const float *restrict b_ih,
                                       const float *restrict b_hh, float *restrict s,
                                       float *restrict gates, float *restrict hn,
                                       float *restrict work);
fastrnn_status fastrnn_gru_forward_f64(const fastrnn_dims *dims, const double *restrict x,
                                       const double *restrict s0, const double *restrict U,
                                       const double *restrict W, const double *restrict b_ih,
                                       const double *restrict b_hh, double *restrict s,
                                       double *restrict gates, double *restrict hn,
                                       double *restrict work);

/* Elements of workspace fastrnn_gru_backward_* needs (0 on bad dims). */
int64_t fastrnn_gru_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* GRU backward through T steps.
 *   x, s0, U, W                         in   same arrays as the forward call
 *   s (T,B,H), gates (T,B,3H), hn (T,B,H)  in  written by the forward call
 *   ds (T,B,H)                          in   dL/ds_t arriving at every step from outside
 *   dx (T,B,D), ds0 (B,H), dU (3H,D), dW (3H,H)   out  overwritten, never accumulated
 *   db_ih, db_hh (3H,)                  out  overwritten; both NULL to skip them
 *   work  fastrnn_gru_backward_work_len(dims, truncate) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG (also for one bias gradient NULL
 * and the other not) or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_gru_backward_f32(const fastrnn_dims *dims, int64_t truncate,
                                        const float *restrict x, const float *restrict s0,
                                        const float *restrict U, const float *restrict W,
                                        const float *restrict s, const float *restrict gates,
                                        const float *restrict hn, const float *restrict ds,
                                        float *restrict dx, float *restrict ds0, float *restrict dU,
                                        float *restrict dW, float *restrict db_ih,
                                        float *restrict db_hh, float *restrict work);
fastrnn_status fastrnn_gru_backward_f64(
    const fastrnn_dims *dims, int64_t truncate, const double *restrict x, const double *restrict s0,
    const double *restrict U, const double *restrict W, const double *restrict s,
    const double *restrict gates, const double *restrict hn, const double *restrict ds,
    double *restrict dx, double *restrict ds0, double *restrict dU, double *restrict dW,
    double *restrict db_ih, double *restrict db_hh, double *restrict work);

#ifdef __cplusplus
}
#endif

#endif /* FASTRNN_H */
