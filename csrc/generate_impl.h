/* Body of the generation kernel, included by generate.c once per scalar type with
 *   real          the scalar type (float or double)
 *   FR_SUFFIX(n)  n with the type's suffix appended (n_f32 or n_f64)
 *   FR_LM         the weights' struct (fastrnn_lm_f32 or fastrnn_lm_f64)
 * No include guard on purpose. */

/* 1 when every pointer the dims call for is there. */
static int FR_SUFFIX(weights_ok)(const fastrnn_generate_dims *d, const FR_LM *lm) {
    if (lm == NULL || lm->U == NULL || lm->W == NULL || lm->V == NULL) return 0;
    const int gated = d->cell != FASTRNN_CELL_RNN;
    if (lm->b_ih != NULL && gated && lm->b_hh == NULL) return 0;
    if (lm->b_ih == NULL && gated && lm->b_hh != NULL) return 0;
    for (int64_t k = 0; k < d->L; ++k) {
        if (lm->U[k] == NULL || lm->W[k] == NULL) return 0;
        if (lm->b_ih != NULL && (lm->b_ih[k] == NULL || (gated && lm->b_hh[k] == NULL))) return 0;
    }
    return 1;
}

/* n steps on the input tokens ids (n): h (and c_state) become the states after the last.
 * The same calls, on the same numbers, as RNNLM._run on these tokens: the embedding lookup
 * of all n, then every layer through its cell's forward kernel over the n steps (U NULL
 * for layer 0, whose input is the looked-up projection; the vanilla RNN's bias b_ih + b_hh
 * summed by the caller). n <= rows_of(d), the rows the workspace holds. */
static fastrnn_status FR_SUFFIX(advance)(const fastrnn_generate_dims *d, const FR_LM *lm, int64_t n,
                                         const int64_t *restrict ids, real *restrict h,
                                         real *restrict c_state, real *restrict work) {
    const int64_t H = d->H, GH = gates_of(d->cell) * H, rows = rows_of(d);
    real *x = work, *gates = x + rows * GH, *s_a = gates + rows * GH, *s_b = s_a + rows * H;
    real *c = s_b + rows * H;
    real *cell_work = max_cell_work_len(d) > 0 ? c + rows * H : NULL;
    const fastrnn_dims lookup = {n, 1, d->K, GH};
    fastrnn_status status = FR_SUFFIX(fastrnn_embedding_forward)(&lookup, ids, lm->U[0], x);
    const real *in = x; /* layer k's input: the looked-up projection, or layer k-1's states */
    real *s = s_a;
    for (int64_t k = 0; k < d->L && status == FASTRNN_OK; ++k) {
        const fastrnn_dims call = {n, 1, k == 0 ? GH : H, H};
        const real *U = k == 0 ? NULL : lm->U[k];
        const real *b_ih = lm->b_ih != NULL ? lm->b_ih[k] : NULL;
        const real *b_hh = lm->b_hh != NULL ? lm->b_hh[k] : NULL;
        real *h_k = h + k * H, *c_k = c_state != NULL ? c_state + k * H : NULL;
        switch (d->cell) {
            case FASTRNN_CELL_LSTM:
                status = FR_SUFFIX(fastrnn_lstm_forward)(&call, in, h_k, c_k, U, lm->W[k], b_ih,
                                                         b_hh, s, c, gates, cell_work);
                memcpy(c_k, c + (n - 1) * H, (size_t)H * sizeof *c);
                break;
            case FASTRNN_CELL_GRU:
                status = FR_SUFFIX(fastrnn_gru_forward)(&call, in, h_k, U, lm->W[k], b_ih, b_hh, s,
                                                        gates, cell_work);
                break;
            default:
                status = FR_SUFFIX(fastrnn_rnn_forward)(&call, d->f, in, h_k, U, lm->W[k], b_ih, s,
                                                        cell_work);
        }
        memcpy(h_k, s + (n - 1) * H, (size_t)H * sizeof *s); /* the final state of layer k */
        in = s;
        s = s == s_a ? s_b : s_a;
    }
    return status;
}

fastrnn_status FR_SUFFIX(fastrnn_generate)(const fastrnn_generate_dims *dims, const FR_LM *lm,
                                           const int64_t *restrict prime, int64_t length,
                                           const double *restrict u, real *restrict h,
                                           real *restrict c_state, int64_t *restrict ids,
                                           int64_t *restrict drawn, real *restrict probs,
                                           real *restrict work, double *restrict draw_work) {
    if (!generate_dims_ok(dims)) return FASTRNN_ERR_DIMS;
    if (!FR_SUFFIX(weights_ok)(dims, lm) || length < 0 || h == NULL || drawn == NULL ||
        probs == NULL || work == NULL || draw_work == NULL ||
        (dims->cell == FASTRNN_CELL_LSTM && c_state == NULL) ||
        (length > 0 && (u == NULL || ids == NULL)) || (dims->P > 0 && prime == NULL))
        return FASTRNN_ERR_ARG;
    for (int64_t i = 0; i < length; ++i)
        if (!(u[i] >= 0 && u[i] < 1)) return FASTRNN_ERR_ARG;
    for (int64_t t = 0; t < dims->P; ++t)
        if (prime[t] < 0 || prime[t] >= dims->K) return FASTRNN_ERR_ARG;
    if (!fastrnn_blas_ready()) return FASTRNN_ERR_NO_BLAS;
    const int64_t H = dims->H, K = dims->K;
    const fastrnn_softmax_dims output = {1, 1, H, K};
    double *p = draw_work, *scratch = draw_work + K; /* p, then its cdf in place */
    fastrnn_status status = FASTRNN_OK;
    if (dims->P > 0) status = FR_SUFFIX(advance)(dims, lm, dims->P, prime, h, c_state, work);
    int64_t i = 0;
    for (; i < length && status == FASTRNN_OK; ++i) {
        /* probs = softmax(V s + c), s the top layer's state */
        status =
            FR_SUFFIX(fastrnn_softmax_forward)(&output, h + (dims->L - 1) * H, lm->V, lm->c, probs);
        if (status != FASTRNN_OK) break;
        for (int64_t j = 0; j < K; ++j) p[j] = probs[j];
        const int64_t id = draw(K, dims->top_k, u[i], p, scratch);
        if (id < 0) break; /* the caller decides token i */
        ids[i] = id;
        if (i + 1 < length) status = FR_SUFFIX(advance)(dims, lm, 1, &ids[i], h, c_state, work);
    }
    *drawn = i;
    return status;
}
