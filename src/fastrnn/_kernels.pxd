# Declarations mirroring csrc/fastrnn.h (the C API the binding calls).
from libc.stdint cimport int64_t, uint8_t

cdef extern from "fastrnn.h" nogil:
    ctypedef struct fastrnn_dims:
        int64_t T
        int64_t B
        int64_t D
        int64_t H

    ctypedef enum fastrnn_status:
        FASTRNN_OK
        FASTRNN_ERR_DIMS
        FASTRNN_ERR_ARG
        FASTRNN_ERR_NO_BLAS

    ctypedef enum fastrnn_nonlinearity:
        FASTRNN_TANH
        FASTRNN_RELU

    int64_t FASTRNN_MAX_GEMM_DIM

    ctypedef void (*fastrnn_sgemm_fn)(const char*, const char*, const int*, const int*,
                                      const int*, const float*, const float*, const int*,
                                      const float*, const int*, const float*, float*,
                                      const int*) noexcept nogil
    ctypedef void (*fastrnn_dgemm_fn)(const char*, const char*, const int*, const int*,
                                      const int*, const double*, const double*, const int*,
                                      const double*, const int*, const double*, double*,
                                      const int*) noexcept nogil

    ctypedef void (*fastrnn_sgemv_fn)(const char*, const int*, const int*, const float*,
                                      const float*, const int*, const float*, const int*,
                                      const float*, float*, const int*) noexcept nogil
    ctypedef void (*fastrnn_dgemv_fn)(const char*, const int*, const int*, const double*,
                                      const double*, const int*, const double*, const int*,
                                      const double*, double*, const int*) noexcept nogil

    fastrnn_status fastrnn_blas_set(fastrnn_sgemm_fn sgemm, fastrnn_dgemm_fn dgemm,
                                    fastrnn_sgemv_fn sgemv, fastrnn_dgemv_fn dgemv)
    int fastrnn_blas_ready()

    void fastrnn_tanh_f32(int64_t n, float *a)
    void fastrnn_tanh_f64(int64_t n, double *a)
    void fastrnn_sigmoid_f32(int64_t n, float *a)
    void fastrnn_sigmoid_f64(int64_t n, double *a)
    void fastrnn_exp_f32(int64_t n, float *a)
    void fastrnn_exp_f64(int64_t n, double *a)

    int64_t fastrnn_rnn_forward_work_len(const fastrnn_dims *dims)
    fastrnn_status fastrnn_rnn_forward_f32(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, const float *x, const float *s0,
        const float *U, const float *W, const float *b, float *s, float *work)
    fastrnn_status fastrnn_rnn_forward_f64(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, const double *x, const double *s0,
        const double *U, const double *W, const double *b, double *s, double *work)

    int64_t fastrnn_rnn_backward_work_len(const fastrnn_dims *dims, int64_t truncate)
    fastrnn_status fastrnn_rnn_backward_f32(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate,
        const float *x, const float *s0, const float *U, const float *W, const float *s,
        const float *ds, float *dx, float *ds0, float *dU, float *dW, float *db,
        float *work)
    fastrnn_status fastrnn_rnn_backward_f64(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate,
        const double *x, const double *s0, const double *U, const double *W,
        const double *s, const double *ds, double *dx, double *ds0, double *dU,
        double *dW, double *db, double *work)
    fastrnn_status fastrnn_rnn_backward_ds_last_f32(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate,
        const float *x, const float *s0, const float *U, const float *W, const float *s,
        const float *ds, const float *ds_last, float *dx, float *ds0, float *dU, float *dW,
        float *db, float *work)
    fastrnn_status fastrnn_rnn_backward_ds_last_f64(
        const fastrnn_dims *dims, fastrnn_nonlinearity f, int64_t truncate,
        const double *x, const double *s0, const double *U, const double *W,
        const double *s, const double *ds, const double *ds_last, double *dx, double *ds0,
        double *dU, double *dW, double *db, double *work)

    # ---- language-model kernels (issue 3)
    fastrnn_status fastrnn_embedding_forward_f32(
        const fastrnn_dims *dims, const int64_t *ids, const float *U, float *x)
    fastrnn_status fastrnn_embedding_forward_f64(
        const fastrnn_dims *dims, const int64_t *ids, const double *U, double *x)
    fastrnn_status fastrnn_embedding_backward_f32(
        const fastrnn_dims *dims, const float *dx, const int64_t *ids, float *dU)
    fastrnn_status fastrnn_embedding_backward_f64(
        const fastrnn_dims *dims, const double *dx, const int64_t *ids, double *dU)

    ctypedef struct fastrnn_softmax_dims:
        int64_t T
        int64_t B
        int64_t H
        int64_t K

    ctypedef enum fastrnn_reduction:
        FASTRNN_REDUCE_MEAN
        FASTRNN_REDUCE_SUM

    fastrnn_status fastrnn_softmax_forward_f32(
        const fastrnn_softmax_dims *dims, const float *s, const float *V, const float *c,
        float *probs)
    fastrnn_status fastrnn_softmax_forward_f64(
        const fastrnn_softmax_dims *dims, const double *s, const double *V, const double *c,
        double *probs)

    int64_t fastrnn_softmax_loss_work_len(const fastrnn_softmax_dims *dims)
    fastrnn_status fastrnn_softmax_loss_f32(
        const fastrnn_softmax_dims *dims, fastrnn_reduction reduction, const float *s,
        const float *V, const float *c, const int64_t *targets, const uint8_t *mask,
        double *loss, float *ds, float *dV, float *dc, float *work)
    fastrnn_status fastrnn_softmax_loss_f64(
        const fastrnn_softmax_dims *dims, fastrnn_reduction reduction, const double *s,
        const double *V, const double *c, const int64_t *targets, const uint8_t *mask,
        double *loss, double *ds, double *dV, double *dc, double *work)
    int64_t fastrnn_tutorial_bptt_work_len(const fastrnn_dims *dims, int64_t truncate)
    fastrnn_status fastrnn_tutorial_bptt_f32(
        const fastrnn_dims *dims, int64_t truncate, const int64_t *ids, const int64_t *targets,
        const float *U, const float *V, const float *W, double *loss, float *dU, float *dV,
        float *dW, float *work)
    fastrnn_status fastrnn_tutorial_bptt_f64(
        const fastrnn_dims *dims, int64_t truncate, const int64_t *ids, const int64_t *targets,
        const double *U, const double *V, const double *W, double *loss, double *dU,
        double *dV, double *dW, double *work)

    # ---- LSTM and GRU (issue 4)
    int64_t fastrnn_lstm_forward_work_len(const fastrnn_dims *dims)
    fastrnn_status fastrnn_lstm_forward_f32(
        const fastrnn_dims *dims, const float *x, const float *s0, const float *c0,
        const float *U, const float *W, const float *b_ih, const float *b_hh, float *s,
        float *c, float *gates, float *work)
    fastrnn_status fastrnn_lstm_forward_f64(
        const fastrnn_dims *dims, const double *x, const double *s0, const double *c0,
        const double *U, const double *W, const double *b_ih, const double *b_hh, double *s,
        double *c, double *gates, double *work)
    int64_t fastrnn_lstm_infer_work_len(const fastrnn_dims *dims)
    fastrnn_status fastrnn_lstm_infer_f32(
        const fastrnn_dims *dims, const float *x, const float *s0, const float *c0,
        const float *U, const float *W, const float *b_ih, const float *b_hh, int every_c,
        float *s, float *c, float *work)
    fastrnn_status fastrnn_lstm_infer_f64(
        const fastrnn_dims *dims, const double *x, const double *s0, const double *c0,
        const double *U, const double *W, const double *b_ih, const double *b_hh, int every_c,
        double *s, double *c, double *work)

    int64_t fastrnn_lstm_backward_work_len(const fastrnn_dims *dims, int64_t truncate)
    fastrnn_status fastrnn_lstm_backward_f32(
        const fastrnn_dims *dims, int64_t truncate, const float *x, const float *s0,
        const float *c0, const float *U, const float *W, const float *s, const float *c,
        const float *gates, const float *ds, const float *dc, const float *ds_last,
        const float *dc_last, float *dx, float *ds0, float *dc0, float *dU, float *dW, float *db, float *work)
    fastrnn_status fastrnn_lstm_backward_f64(
        const fastrnn_dims *dims, int64_t truncate, const double *x, const double *s0,
        const double *c0, const double *U, const double *W, const double *s, const double *c,
        const double *gates, const double *ds, const double *dc, const double *ds_last,
        const double *dc_last, double *dx, double *ds0, double *dc0, double *dU, double *dW, double *db, double *work)

    int64_t fastrnn_gru_forward_work_len(const fastrnn_dims *dims)
    fastrnn_status fastrnn_gru_forward_f32(
        const fastrnn_dims *dims, const float *x, const float *s0, const float *U,
        const float *W, const float *b_ih, const float *b_hh, float *s, float *gates,
        float *work)
    fastrnn_status fastrnn_gru_forward_f64(
        const fastrnn_dims *dims, const double *x, const double *s0, const double *U,
        const double *W, const double *b_ih, const double *b_hh, double *s, double *gates,
        double *work)
    int64_t fastrnn_gru_infer_work_len(const fastrnn_dims *dims)
    fastrnn_status fastrnn_gru_infer_f32(
        const fastrnn_dims *dims, const float *x, const float *s0, const float *U,
        const float *W, const float *b_ih, const float *b_hh, float *s, float *work)
    fastrnn_status fastrnn_gru_infer_f64(
        const fastrnn_dims *dims, const double *x, const double *s0, const double *U,
        const double *W, const double *b_ih, const double *b_hh, double *s, double *work)

    int64_t fastrnn_gru_backward_work_len(const fastrnn_dims *dims, int64_t truncate)
    fastrnn_status fastrnn_gru_backward_f32(
        const fastrnn_dims *dims, int64_t truncate, const float *x, const float *s0,
        const float *U, const float *W, const float *b_hh, const float *s, const float *gates,
        const float *ds, const float *ds_last, float *dx, float *ds0, float *dU, float *dW,
        float *db_ih, float *db_hh, float *work)
    fastrnn_status fastrnn_gru_backward_f64(
        const fastrnn_dims *dims, int64_t truncate, const double *x, const double *s0,
        const double *U, const double *W, const double *b_hh, const double *s,
        const double *gates, const double *ds, const double *ds_last, double *dx, double *ds0,
        double *dU, double *dW, double *db_ih, double *db_hh, double *work)

    # ---- generation (issue 7)
    ctypedef enum fastrnn_cell:
        FASTRNN_CELL_RNN
        FASTRNN_CELL_LSTM
        FASTRNN_CELL_GRU

    ctypedef struct fastrnn_generate_dims:
        fastrnn_cell cell
        fastrnn_nonlinearity f
        int64_t L
        int64_t H
        int64_t K
        int64_t P
        int64_t top_k

    ctypedef struct fastrnn_lm_f32:
        const float *const *U
        const float *const *W
        const float *const *b_ih
        const float *const *b_hh
        const float *V
        const float *c

    ctypedef struct fastrnn_lm_f64:
        const double *const *U
        const double *const *W
        const double *const *b_ih
        const double *const *b_hh
        const double *V
        const double *c

    int64_t fastrnn_generate_work_len(const fastrnn_generate_dims *dims)
    int64_t fastrnn_generate_draw_work_len(const fastrnn_generate_dims *dims)
    fastrnn_status fastrnn_generate_f32(
        const fastrnn_generate_dims *dims, const fastrnn_lm_f32 *lm, const int64_t *prime,
        int64_t length, const double *u, float *h, float *c_state, int64_t *ids,
        int64_t *drawn, float *probs, float *work, double *draw_work)
    fastrnn_status fastrnn_generate_f64(
        const fastrnn_generate_dims *dims, const fastrnn_lm_f64 *lm, const int64_t *prime,
        int64_t length, const double *u, double *h, double *c_state, int64_t *ids,
        int64_t *drawn, double *probs, double *work, double *draw_work)
