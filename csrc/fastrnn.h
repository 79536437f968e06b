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

/* Fortran-ABI GEMV (y = alpha op(A) x + beta y), for products with one row. */
typedef void (*fastrnn_sgemv_fn)(const char *trans, const int *m, const int *n, const float *alpha,
                                 const float *a, const int *lda, const float *x, const int *incx,
                                 const float *beta, float *y, const int *incy);
typedef void (*fastrnn_dgemv_fn)(const char *trans, const int *m, const int *n, const double *alpha,
                                 const double *a, const int *lda, const double *x, const int *incx,
                                 const double *beta, double *y, const int *incy);

/* Installs the BLAS routines every kernel uses. Called once, at import, before any kernel
 * runs; the table is read-only afterwards. Returns FASTRNN_ERR_ARG for NULL pointers. */
fastrnn_status fastrnn_blas_set(fastrnn_sgemm_fn sgemm, fastrnn_dgemm_fn dgemm,
                                fastrnn_sgemv_fn sgemv, fastrnn_dgemv_fn dgemv);
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

/* Elements of workspace fastrnn_rnn_forward_* needs (0 on bad dims). */
int64_t fastrnn_rnn_forward_work_len(const fastrnn_dims *dims);

/* Forward through T steps.
 *   x (T,B,D), s0 (B,H), U (H,D), W (H,H)   in
 *   U may be NULL: x is then the input projection U x_t itself (T,B,H), D = H
 *   b (H,)                                  in   or NULL for no bias
 *   s (T,B,H)                               out  every hidden state, overwritten
 *   work  fastrnn_rnn_forward_work_len(dims) elements (may be NULL when that is 0),
 *         contents undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_rnn_forward_f32(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                       const float *restrict x, const float *restrict s0,
                                       const float *restrict U, const float *restrict W,
                                       const float *restrict b, float *restrict s,
                                       float *restrict work);
fastrnn_status fastrnn_rnn_forward_f64(const fastrnn_dims *dims, fastrnn_nonlinearity f,
                                       const double *restrict x, const double *restrict s0,
                                       const double *restrict U, const double *restrict W,
                                       const double *restrict b, double *restrict s,
                                       double *restrict work);

/* Elements of workspace fastrnn_rnn_backward_* needs (0 on bad dims). truncate < 0 is
 * full BPTT; truncate = K >= 0 is the per-output window of K applications of W. */
int64_t fastrnn_rnn_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* Backward through T steps of s_t = f(U x_t + W s_{t-1} + b).
 *   x (T,B,D), s0 (B,H), U (H,D), W (H,H)   in   same arrays as the forward call
 *   s (T,B,H)                               in   states written by the forward call
 *   ds (T,B,H)                              in   dL/ds_t from the layer above
 *   dx (T,B,D), ds0 (B,H), dU (H,D), dW (H,H)  out  overwritten, never accumulated
 *   with U NULL (x was the projection itself), dU is not written and may be NULL
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

/* fastrnn_rnn_backward with more gradient on the final state, the same workspace:
 *   ds_last (B,H)  in  dL/ds_{T-1} arriving besides ds[T-1] (a layer's dh_n), or NULL
 * The result is that of fastrnn_rnn_backward on ds with ds[T-1] + ds_last, without a copy
 * of ds (the sum is formed where ds[T-1] is read). */
fastrnn_status fastrnn_rnn_backward_ds_last_f32(
    const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate, const float *restrict x,
    const float *restrict s0, const float *restrict U, const float *restrict W,
    const float *restrict s, const float *restrict ds, const float *restrict ds_last,
    float *restrict dx, float *restrict ds0, float *restrict dU, float *restrict dW,
    float *restrict db, float *restrict work);
fastrnn_status fastrnn_rnn_backward_ds_last_f64(
    const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate, const double *restrict x,
    const double *restrict s0, const double *restrict U, const double *restrict W,
    const double *restrict s, const double *restrict ds, const double *restrict ds_last,
    double *restrict dx, double *restrict ds0, double *restrict dU, double *restrict dW,
    double *restrict db, double *restrict work);

/* ---- Language-model kernels (issue 3): embedding, fused softmax + cross-entropy ----- */

/* Token input. With one-hot inputs over a vocabulary of D tokens, U x_t is the column
 * U[:, id]: the lookup replaces the product, and no one-hot vector is ever built.
 * dims: T steps, B batch rows, D vocabulary size, H hidden size (U is (H,D)). */

/* x = U[:, ids] laid out time-major.
 *   ids (T,B)    in   token ids, each in [0, D)
 *   U (H,D)      in
 *   x (T,B,H)    out  overwritten: x[t,n,:] = U[:, ids[t,n]]
 * No workspace. Returns FASTRNN_OK, FASTRNN_ERR_DIMS or FASTRNN_ERR_ARG (a NULL array or
 * an id outside [0, D), found before anything is written). */
fastrnn_status fastrnn_embedding_forward_f32(const fastrnn_dims *dims, const int64_t *restrict ids,
                                             const float *restrict U, float *restrict x);
fastrnn_status fastrnn_embedding_forward_f64(const fastrnn_dims *dims, const int64_t *restrict ids,
                                             const double *restrict U, double *restrict x);

/* dU = the scatter-add of dx into the columns of the ids: dU[:, id] sums dx[t,n,:] over
 * every (t,n) with ids[t,n] = id (repeated ids accumulate, in (t,n) order).
 *   dx (T,B,H)   in   gradient on the looked-up columns
 *   ids (T,B)    in   the ids of the forward call, each in [0, D)
 *   dU (H,D)     out  overwritten (zero in columns no id names)
 * No workspace. Returns FASTRNN_OK, FASTRNN_ERR_DIMS or FASTRNN_ERR_ARG (as above). */
fastrnn_status fastrnn_embedding_backward_f32(const fastrnn_dims *dims, const float *restrict dx,
                                              const int64_t *restrict ids, float *restrict dU);
fastrnn_status fastrnn_embedding_backward_f64(const fastrnn_dims *dims, const double *restrict dx,
                                              const int64_t *restrict ids, double *restrict dU);

/* Output layer o_t = softmax(V s_t + c) over K classes. */
typedef struct {
    int64_t T, B, H, K;
} fastrnn_softmax_dims;

typedef enum {
    FASTRNN_REDUCE_MEAN = 0, /* divide by the number of unmasked targets (0 of them: 0) */
    FASTRNN_REDUCE_SUM = 1,  /* no division */
} fastrnn_reduction;

/* probs = softmax(s @ V.T + c) row by row, max-shifted (no overflow for any finite logits).
 *   s (T,B,H), V (K,H)   in
 *   c (K,)               in   or NULL for no bias
 *   probs (T,B,K)        out  overwritten
 * No workspace. Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or
 * FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_softmax_forward_f32(const fastrnn_softmax_dims *dims,
                                           const float *restrict s, const float *restrict V,
                                           const float *restrict c, float *restrict probs);
fastrnn_status fastrnn_softmax_forward_f64(const fastrnn_softmax_dims *dims,
                                           const double *restrict s, const double *restrict V,
                                           const double *restrict c, double *restrict probs);

/* Elements of workspace fastrnn_softmax_loss_* needs (0 on bad dims): T*B*K + T*B, or for
 * T*B <= 24 the thin path's if more (lm.c: thin_work_len, about 1.13 K L + 2 H L for L =
 * T*B rounded up to 8). */
int64_t fastrnn_softmax_loss_work_len(const fastrnn_softmax_dims *dims);

/* Cross-entropy of o_t = softmax(V s_t + c) against targets, and its exact gradients:
 *   loss = sum over unmasked (t,n) of -log o_t[n, targets[t,n]], divided by the number
 *          of unmasked targets for FASTRNN_REDUCE_MEAN (loss 0 when there are none).
 *   s (T,B,H), V (K,H)   in
 *   c (K,)               in   or NULL for no bias (dc is then not written, may be NULL)
 *   targets (T,B)        in   class ids, each in [0, K) (masked entries too)
 *   mask (T,B)           in   0 = ignore this step and row, else count it; NULL = all
 *   loss                 out  one double, accumulated in double for either type
 *   ds (T,B,H)           out  dL/ds, overwritten (rows of masked steps are 0)
 *   dV (K,H), dc (K,)    out  overwritten
 *   work  fastrnn_softmax_loss_work_len(dims) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG (a NULL array, an unknown
 * reduction, a target outside [0, K)) or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_softmax_loss_f32(const fastrnn_softmax_dims *dims,
                                        fastrnn_reduction reduction, const float *restrict s,
                                        const float *restrict V, const float *restrict c,
                                        const int64_t *restrict targets,
                                        const uint8_t *restrict mask, double *restrict loss,
                                        float *restrict ds, float *restrict dV, float *restrict dc,
                                        float *restrict work);
fastrnn_status fastrnn_softmax_loss_f64(const fastrnn_softmax_dims *dims,
                                        fastrnn_reduction reduction, const double *restrict s,
                                        const double *restrict V, const double *restrict c,
                                        const int64_t *restrict targets,
                                        const uint8_t *restrict mask, double *restrict loss,
                                        double *restrict ds, double *restrict dV,
                                        double *restrict dc, double *restrict work);

/* The word-level language model of Britz's RNN tutorial (fastrnn.compat.RNNNumpy.bptt):
 * one call for a sentence's summed cross-entropy and its gradients,
 *   s_t = tanh(U[:, ids_t] + W s_{t-1}), s_{-1} = 0,  o_t = softmax(V s_t)  (no biases),
 * the gradient of output t reaching steps t, ..., t - truncate (rnn_backward's window).
 * It runs embedding_forward, rnn_forward (U NULL), softmax_loss ("sum"), rnn_backward and
 * embedding_backward in that order and gives their numbers; dU is zeroed while the
 * output layer's products run rather than in a pass of its own.
 * dims: T, B, D the vocabulary (inputs and outputs), H.
 *   truncate             in   the window K >= 0 (K >= T - 1 is exact BPTT); K < 0 gives
 *                             zero dU and dW, as in the tutorial
 *   ids, targets (T,B)   in   token ids in [0, D)
 *   U (H,D), V (D,H), W (H,H)   in
 *   loss                 out  the summed cross-entropy
 *   dU (H,D), dV (D,H), dW (H,H)   out  overwritten
 *   work  fastrnn_tutorial_bptt_work_len(dims, truncate) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG (a NULL array, an id outside
 * [0, D)) or FASTRNN_ERR_NO_BLAS. */
int64_t fastrnn_tutorial_bptt_work_len(const fastrnn_dims *dims, int64_t truncate);
fastrnn_status fastrnn_tutorial_bptt_f32(const fastrnn_dims *dims, int64_t truncate,
                                         const int64_t *restrict ids,
                                         const int64_t *restrict targets, const float *restrict U,
                                         const float *restrict V, const float *restrict W,
                                         double *restrict loss, float *restrict dU,
                                         float *restrict dV, float *restrict dW,
                                         float *restrict work);
fastrnn_status fastrnn_tutorial_bptt_f64(const fastrnn_dims *dims, int64_t truncate,
                                         const int64_t *restrict ids,
                                         const int64_t *restrict targets, const double *restrict U,
                                         const double *restrict V, const double *restrict W,
                                         double *restrict loss, double *restrict dU,
                                         double *restrict dV, double *restrict dW,
                                         double *restrict work);

/* ---- LSTM and GRU (issue 4) ----------------------------------------------------------- */

/* PyTorch's cells, gate order and weight layout: the gates' weights are stacked along the
 * rows, U (G*H,D) and W (G*H,H) (torch's weight_ih and weight_hh), biases b_ih, b_hh
 * (G*H,), with G = 4 for the LSTM (i, f, g, o) and G = 3 for the GRU (r, z, n). Either
 * bias may be NULL (no bias). U may be NULL, as for the vanilla RNN: x is then the input
 * projection U x_t of all gates itself, (T,B,G*H) with D = G*H (else FASTRNN_ERR_DIMS),
 * the backward pass does not write dU (which may then be NULL) and its dx is the gradient
 * on that projection. truncate in the backward passes is as for the vanilla RNN:
 * < 0 full BPTT, K >= 0 the per-output window of K steps back (K >= T-1 is full BPTT),
 * where what is injected at step t reaches steps t..max(0, t-K), and the initial states
 * only when the window reaches step 0. */

/* Elements of workspace fastrnn_lstm_forward_* needs (0 on bad dims). */
int64_t fastrnn_lstm_forward_work_len(const fastrnn_dims *dims);

/* LSTM forward through T steps:
 *   [i, f, g, o] = [sigmoid, sigmoid, tanh, sigmoid](U x_t + b_ih + W s_{t-1} + b_hh)
 *   c_t = f * c_{t-1} + i * g,   s_t = o * tanh(c_t)
 *   x (T,B,D), s0 (B,H), c0 (B,H), U (4H,D), W (4H,H)   in   U may be NULL (x is U x_t)
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

/* Elements of workspace fastrnn_lstm_infer_* needs (0 on bad dims): the forward's, the
 * gates of a chunk of steps, a few hundred rows of (4H,), not T*B of them, and one (B,H)
 * cell state; or, for the larger B and H, where it runs in the transposed domain with W
 * read in place (csrc/cells.h), O(B*(D + 4H)): no copy of W. */
int64_t fastrnn_lstm_infer_work_len(const fastrnn_dims *dims);

/* LSTM forward for inference: fastrnn_lstm_forward without the gates, which it projects a
 * chunk of steps at a time into its workspace, so that nothing of size T*B*4H is held.
 *   x, s0, c0, U, W, b_ih, b_hh   in   as for fastrnn_lstm_forward
 *   every_c                       in   1: c is (T,B,H); 0: c is (B,H), c_T only, and no
 *                                      more than two (B,H) cell states are held
 *   s (T,B,H)                     out  every hidden state, as there
 *   c (T,B,H) or (B,H)            out  every cell state, or the last one (every_c)
 *   work  fastrnn_lstm_infer_work_len(dims) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_lstm_infer_f32(const fastrnn_dims *dims, const float *restrict x,
                                      const float *restrict s0, const float *restrict c0,
                                      const float *restrict U, const float *restrict W,
                                      const float *restrict b_ih, const float *restrict b_hh,
                                      int every_c, float *restrict s, float *restrict c,
                                      float *restrict work);
fastrnn_status fastrnn_lstm_infer_f64(const fastrnn_dims *dims, const double *restrict x,
                                      const double *restrict s0, const double *restrict c0,
                                      const double *restrict U, const double *restrict W,
                                      const double *restrict b_ih, const double *restrict b_hh,
                                      int every_c, double *restrict s, double *restrict c,
                                      double *restrict work);

/* Elements of workspace fastrnn_lstm_backward_* needs (0 on bad dims). */
int64_t fastrnn_lstm_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* LSTM backward through T steps.
 *   x, s0, c0, U, W                     in   same arrays as the forward call
 *   s, c (T,B,H), gates (T,B,4H)        in   written by the forward call
 *   ds (T,B,H)                          in   dL/ds_t arriving at every step from outside
 *   dc (T,B,H)                          in   dL/dc_t likewise, or NULL for zeros
 *   ds_last, dc_last (B,H)              in   added to ds and dc at step T-1 (the final
 *                                            states' gradients), or NULL for zeros
 *   dx (T,B,D), ds0, dc0 (B,H), dU (4H,D), dW (4H,H)   out  overwritten, never accumulated
 *                                       (dU not written, may be NULL, when U is NULL)
 *   db (4H,)                            out  the gradient of b_ih and of b_hh (they are
 *                                            equal); NULL to skip it
 *   work  fastrnn_lstm_backward_work_len(dims, truncate) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_lstm_backward_f32(
    const fastrnn_dims *dims, int64_t truncate, const float *restrict x, const float *restrict s0,
    const float *restrict c0, const float *restrict U, const float *restrict W,
    const float *restrict s, const float *restrict c, const float *restrict gates,
    const float *restrict ds, const float *restrict dc, const float *restrict ds_last,
    const float *restrict dc_last, float *restrict dx, float *restrict ds0, float *restrict dc0,
    float *restrict dU, float *restrict dW, float *restrict db, float *restrict work);
fastrnn_status fastrnn_lstm_backward_f64(
    const fastrnn_dims *dims, int64_t truncate, const double *restrict x, const double *restrict s0,
    const double *restrict c0, const double *restrict U, const double *restrict W,
    const double *restrict s, const double *restrict c, const double *restrict gates,
    const double *restrict ds, const double *restrict dc, const double *restrict ds_last,
    const double *restrict dc_last, double *restrict dx, double *restrict ds0, double *restrict dc0,
    double *restrict dU, double *restrict dW, double *restrict db, double *restrict work);

/* Elements of workspace fastrnn_gru_forward_* needs (0 on bad dims). */
int64_t fastrnn_gru_forward_work_len(const fastrnn_dims *dims);

/* GRU forward through T steps:
 *   [r, z] = sigmoid(U_rz x_t + b_ih_rz + W_rz s_{t-1} + b_hh_rz)
 *   n = tanh(U_n x_t + b_in + r * hn_t),  hn_t = W_n s_{t-1} + b_hn
 *   s_t = (1 - z) * n + z * s_{t-1}
 *   x (T,B,D), s0 (B,H), U (3H,D), W (3H,H)   in   U may be NULL (x is U x_t)
 *   b_ih (3H,), b_hh (3H,)                     in   or NULL
 *   s (T,B,H)                                  out  every hidden state
 *   gates (T,B,3H)                             out  r, z, n of every step
 *   work  fastrnn_gru_forward_work_len(dims) elements, undefined after
 * hn_t is not kept: fastrnn_gru_backward recomputes it from s and W (T*B*H less memory).
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_gru_forward_f32(const fastrnn_dims *dims, const float *restrict x,
                                       const float *restrict s0, const float *restrict U,
                                       const float *restrict W, const float *restrict b_ih,
                                       const float *restrict b_hh, float *restrict s,
                                       float *restrict gates, float *restrict work);
fastrnn_status fastrnn_gru_forward_f64(const fastrnn_dims *dims, const double *restrict x,
                                       const double *restrict s0, const double *restrict U,
                                       const double *restrict W, const double *restrict b_ih,
                                       const double *restrict b_hh, double *restrict s,
                                       double *restrict gates, double *restrict work);

/* Elements of workspace fastrnn_gru_infer_* needs (0 on bad dims): the forward's and the
 * gates of a chunk of steps, a few hundred rows of (3H,), not T*B of them;
 * or, for the larger B and H, where it runs in the transposed domain with W read in place
 * (csrc/cells.h), O(B*(D + 3H)): no copy of W. */
int64_t fastrnn_gru_infer_work_len(const fastrnn_dims *dims);

/* GRU forward for inference: fastrnn_gru_forward without the gates, which it keeps for a
 * chunk of steps in its workspace, so that nothing of size T*B*3H or T*B*H but s is held.
 *   x, s0, U, W, b_ih, b_hh   in   as for fastrnn_gru_forward
 *   s (T,B,H)                 out  every hidden state, as there
 *   work  fastrnn_gru_infer_work_len(dims) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_gru_infer_f32(const fastrnn_dims *dims, const float *restrict x,
                                     const float *restrict s0, const float *restrict U,
                                     const float *restrict W, const float *restrict b_ih,
                                     const float *restrict b_hh, float *restrict s,
                                     float *restrict work);
fastrnn_status fastrnn_gru_infer_f64(const fastrnn_dims *dims, const double *restrict x,
                                     const double *restrict s0, const double *restrict U,
                                     const double *restrict W, const double *restrict b_ih,
                                     const double *restrict b_hh, double *restrict s,
                                     double *restrict work);

/* Elements of workspace fastrnn_gru_backward_* needs (0 on bad dims). */
int64_t fastrnn_gru_backward_work_len(const fastrnn_dims *dims, int64_t truncate);

/* GRU backward through T steps.
 *   x, s0, U, W, b_hh                   in   same arrays as the forward call (b_hh may be
 *                                            NULL as there; its n block b_hn enters
 *                                            hn_t = W_n s_{t-1} + b_hn, recomputed here)
 *   s (T,B,H), gates (T,B,3H)           in   written by the forward call
 *   ds (T,B,H)                          in   dL/ds_t arriving at every step from outside
 *   ds_last (B,H)                       in   added to ds at step T-1 (the final state's
 *                                            gradient), or NULL for zeros
 *   dx (T,B,D), ds0 (B,H), dU (3H,D), dW (3H,H)   out  overwritten, never accumulated
 *                                       (dU not written, may be NULL, when U is NULL)
 *   db_ih, db_hh (3H,)                  out  overwritten; both NULL to skip them
 *   work  fastrnn_gru_backward_work_len(dims, truncate) elements, undefined after
 * Returns FASTRNN_OK, FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG (also for one bias gradient NULL
 * and the other not) or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_gru_backward_f32(
    const fastrnn_dims *dims, int64_t truncate, const float *restrict x, const float *restrict s0,
    const float *restrict U, const float *restrict W, const float *restrict b_hh,
    const float *restrict s, const float *restrict gates, const float *restrict ds,
    const float *restrict ds_last, float *restrict dx, float *restrict ds0, float *restrict dU,
    float *restrict dW, float *restrict db_ih, float *restrict db_hh, float *restrict work);
fastrnn_status fastrnn_gru_backward_f64(
    const fastrnn_dims *dims, int64_t truncate, const double *restrict x, const double *restrict s0,
    const double *restrict U, const double *restrict W, const double *restrict b_hh,
    const double *restrict s, const double *restrict gates, const double *restrict ds,
    const double *restrict ds_last, double *restrict dx, double *restrict ds0, double *restrict dU,
    double *restrict dW, double *restrict db_ih, double *restrict db_hh, double *restrict work);

/* ---- Generation (issue 7): one stream of tokens drawn from the language model -------- */

/* The model of fastrnn.RNNLM (lm.py) with token input, num_layers layers of one cell and
 * the output layer o = softmax(V s + c), drawn from one token at a time, B = 1. The kernel
 * composes the public kernels above (embedding_forward, rnn/lstm/gru_forward over the
 * prime's steps and then with T = B = 1 per token, softmax_forward), the calls of
 * RNNLM.sample's token-by-token loop, so its states and probabilities are bit for bit
 * those of that loop, and adds the draw. */
typedef enum {
    FASTRNN_CELL_RNN = 0,  /* G = 1 */
    FASTRNN_CELL_LSTM = 1, /* G = 4, the state is the pair (h, c) */
    FASTRNN_CELL_GRU = 2,  /* G = 3 */
} fastrnn_cell;

typedef struct {
    fastrnn_cell cell;
    fastrnn_nonlinearity f; /* the vanilla RNN's; ignored by the LSTM and GRU */
    int64_t L, H, K;        /* layers, hidden size, vocabulary (input ids and classes) */
    int64_t P;              /* prime tokens run before the first draw (0: none) */
    int64_t top_k;          /* draw among the top_k most likely tokens; 0 (or >= K): all */
} fastrnn_generate_dims;

/* The weights, arrays of L pointers (G*H rows: the G gates stacked, as in lstm_forward):
 *   U[0] (G*H,K)  the embedding (its column U[:, id] is the input projection of token id);
 *   U[k] (G*H,H) for 1 <= k < L, the product with layer k-1's state
 *   W[k] (G*H,H)
 *   b_ih, b_hh    NULL for no bias, else L pointers to (G*H,) each; for the vanilla RNN
 *                 b_ih[k] is the whole bias b = b_ih + b_hh (rnn_forward's) and b_hh is
 *                 not read
 *   V (K,H), c (K,) or NULL: the output layer, already divided by the temperature */
typedef struct {
    const float *const *U, *const *W, *const *b_ih, *const *b_hh;
    const float *V, *c;
} fastrnn_lm_f32;
typedef struct {
    const double *const *U, *const *W, *const *b_ih, *const *b_hh;
    const double *V, *c;
} fastrnn_lm_f64;

/* Workspace of fastrnn_generate_* (0 on bad dims): work in elements of the model's type
 * (it grows with P), draw_work in doubles (2K). */
int64_t fastrnn_generate_work_len(const fastrnn_generate_dims *dims);
int64_t fastrnn_generate_draw_work_len(const fastrnn_generate_dims *dims);

/* Runs the P prime tokens through the layers, one call of each layer's forward kernel over
 * all P steps (as RNNLM._run does), then draws up to `length` tokens; for token i:
 *   probs = softmax(V s + c)   s the top layer's h, as fastrnn_softmax_forward_* computes it
 *   p = probs in double, zero outside the top_k largest (when 0 < top_k < K)
 *   cdf = the running sum of p (in order), ids[i] = the first j with cdf[j] > u[i] * cdf[K-1]
 *         (numpy's searchsorted(cdf, u * cdf[-1], side="right")), so a token of zero
 *         probability is never drawn
 *   then, unless i is the last token, the state advances by one step on input ids[i].
 * The kernel stops early, before token i, when it cannot decide that token as lm.draw
 * would: the probabilities are not finite, or the top_k cut falls inside a tie of nonzero
 * probabilities (lm.draw's argpartition then picks among them). The caller decides it.
 *   prime (P)     in      token ids in [0, K) (may be NULL when P = 0)
 *   h (L,H)       in/out  the state before the prime (with P = 0: the state whose top layer
 *                         gives token 0's probabilities); out: the state of token *drawn
 *                         when stopped early, else of the last token
 *   c_state (L,H) in/out  the LSTM's cell states, likewise (NULL for the RNN and GRU)
 *   u (length)    in      uniforms in [0, 1), one per token (may be NULL when length = 0)
 *   ids (length)  out     the tokens; entries from *drawn on are not written
 *   drawn         out     the number of tokens drawn: length, or the token it stopped at
 *   probs (K)     out     the probabilities of the last token considered (token *drawn
 *                         when stopped early); not written when length = 0
 *   work          fastrnn_generate_work_len(dims) elements, undefined after
 *   draw_work     fastrnn_generate_draw_work_len(dims) doubles, undefined after
 * Returns FASTRNN_OK (also when stopped early), FASTRNN_ERR_DIMS, FASTRNN_ERR_ARG (a NULL
 * pointer, an unknown cell or nonlinearity, length < 0, a uniform outside [0, 1), a prime
 * id outside [0, K), all found before anything is written) or FASTRNN_ERR_NO_BLAS. */
fastrnn_status fastrnn_generate_f32(const fastrnn_generate_dims *dims, const fastrnn_lm_f32 *lm,
                                    const int64_t *restrict prime, int64_t length,
                                    const double *restrict u, float *restrict h,
                                    float *restrict c_state, int64_t *restrict ids,
                                    int64_t *restrict drawn, float *restrict probs,
                                    float *restrict work, double *restrict draw_work);
fastrnn_status fastrnn_generate_f64(const fastrnn_generate_dims *dims, const fastrnn_lm_f64 *lm,
                                    const int64_t *restrict prime, int64_t length,
                                    const double *restrict u, double *restrict h,
                                    double *restrict c_state, int64_t *restrict ids,
                                    int64_t *restrict drawn, double *restrict probs,
                                    double *restrict work, double *restrict draw_work);

#ifdef __cplusplus
}
#endif

#endif /* FASTRNN_H */
