/* C-level test of the generation kernel (csrc/generate.c), built with sanitizers and under
 * valgrind by tests/test_c_kernels.py. The BLAS is the plain loops of plain_blas.h.
 *
 * The twin: the same stream drawn step by step here, through the public kernels one call
 * at a time (embedding_forward, the cell's forward over the prime's P steps and then with
 * T = B = 1 per token, softmax_forward) and a plain draw (top_k by counting, searchsorted
 * by a linear scan). Tokens, probabilities and states must be equal bit for bit, for every
 * cell, 1 and 2 layers, with and without bias, primes of 0 to 7 tokens, top_k, float32
 * and float64. Also: where the kernel stops (non-finite probabilities, a top_k cut inside
 * a tie) and what it refuses before writing anything.
 * Every buffer is malloc'd at exactly its documented size. Exits non-zero on a failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fastrnn.h"
#include "plain_blas.h"

enum { K = 9, H = 6, LMAX = 2, LEN = 40 };

/* The prime tokens (the first P of them). */
static const int64_t PRIME[] = {3, 0, 8, 8, 1, 5, 2};

static int64_t gates(fastrnn_cell cell) {
    return cell == FASTRNN_CELL_LSTM ? 4 : cell == FASTRNN_CELL_GRU ? 3 : 1;
}

/* The plain draw of lm.draw: p (K) in double, zero outside the top_k when 0 < top_k < K
 * (j is kept when fewer than top_k entries are larger: the top_k set when there is no
 * tie at the cut), then the first j whose running sum exceeds u * total, by a scan. */
static int64_t plain_draw(const double *probs, int64_t top_k, double u) {
    double p[K], total = 0;
    for (int64_t j = 0; j < K; ++j) {
        int64_t larger = 0;
        for (int64_t i = 0; i < K; ++i) larger += probs[i] > probs[j];
        p[j] = top_k == 0 || top_k >= K || larger < top_k ? probs[j] : 0;
        total += p[j];
    }
    double running = 0;
    for (int64_t j = 0; j < K; ++j)
        if ((running += p[j]) > u * total) return j;
    return K;
}

static double uniform(int i) { return fmod(0.618033988749895 * (i + 1), 1.0); }

/* One type's model, its twin and the comparison: real is float or double. */
#define DEFINE_TYPED(real, sfx, lm_t)                                                              \
    typedef struct {                                                                               \
        fastrnn_generate_dims d;                                                                   \
        real *U[LMAX], *W[LMAX], *b_ih[LMAX], *b_hh[LMAX], *V, *c;                                 \
        lm_t lm;                                                                                   \
    } model_##sfx;                                                                                 \
                                                                                                   \
    static real *filled_##sfx(size_t n, double scale, double phase) {                              \
        real *a = malloc(n * sizeof *a);                                                           \
        for (size_t i = 0; i < n; ++i) a[i] = (real)(scale * sin(phase + 0.77 * (double)(i * i))); \
        return a;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* Weights of about scale 1.5, so that the distributions are far from uniform. */              \
    /* m.lm points into m: the model stays where it is made. */                                    \
    static void make_##sfx(model_##sfx *pm, fastrnn_cell cell, fastrnn_nonlinearity f, int64_t L,  \
                           int bias, int64_t top_k) {                                              \
        model_##sfx m = {{cell, f, L, H, K, 0, top_k}, {0}, {0}, {0}, {0}, NULL, NULL, {0}};       \
        const int64_t GH = gates(cell) * H;                                                        \
        for (int64_t k = 0; k < L; ++k) {                                                          \
            m.U[k] = filled_##sfx((size_t)(GH * (k == 0 ? K : H)), 1.5, 0.1 + (double)k);          \
            m.W[k] = filled_##sfx((size_t)(GH * H), 1.5, 0.2 + (double)k);                         \
            if (bias) {                                                                            \
                m.b_ih[k] = filled_##sfx((size_t)GH, 0.5, 0.3 + (double)k);                        \
                if (cell != FASTRNN_CELL_RNN)                                                      \
                    m.b_hh[k] = filled_##sfx((size_t)GH, 0.5, 0.4 + (double)k);                    \
            }                                                                                      \
        }                                                                                          \
        m.V = filled_##sfx((size_t)(K * H), 2.0, 0.5);                                             \
        if (bias) m.c = filled_##sfx((size_t)K, 0.5, 0.6);                                         \
        *pm = m;                                                                                   \
        pm->lm.U = (const real *const *)pm->U;                                                     \
        pm->lm.W = (const real *const *)pm->W;                                                     \
        pm->lm.b_ih = bias ? (const real *const *)pm->b_ih : NULL;                                 \
        pm->lm.b_hh = bias && cell != FASTRNN_CELL_RNN ? (const real *const *)pm->b_hh : NULL;     \
        pm->lm.V = pm->V;                                                                          \
        pm->lm.c = pm->c;                                                                          \
    }                                                                                              \
                                                                                                   \
    static void release_##sfx(model_##sfx *m) {                                                    \
        for (int64_t k = 0; k < m->d.L; ++k) {                                                     \
            free(m->U[k]);                                                                         \
            free(m->W[k]);                                                                         \
            free(m->b_ih[k]);                                                                      \
            free(m->b_hh[k]);                                                                      \
        }                                                                                          \
        free(m->V);                                                                                \
        free(m->c);                                                                                \
    }                                                                                              \
                                                                                                   \
    /* n steps of every layer on tokens ids (n), by the public kernels: RNNLM._run's calls,  \
     * one call per layer over the n steps. h (and cs) become the last step's states. */     \
    static void twin_steps_##sfx(const model_##sfx *m, int64_t n, const int64_t *ids, real *h,     \
                                 real *cs) {                                                       \
        const int64_t L = m->d.L, GH = gates(m->d.cell) * H;                                       \
        real *x = malloc((size_t)(n * GH) * sizeof *x), *g = malloc((size_t)(n * GH) * sizeof *g); \
        real *c = malloc((size_t)(n * H) * sizeof *c);                                            \
        real *s[2] = {malloc((size_t)(n * H) * sizeof(real)),                                      \
                      malloc((size_t)(n * H) * sizeof(real))};                                     \
        CHECK(fastrnn_embedding_forward_##sfx(&(fastrnn_dims){n, 1, K, GH}, ids, m->U[0], x) ==    \
              FASTRNN_OK);                                                                         \
        for (int64_t k = 0; k < L; ++k) {                                                          \
            const fastrnn_dims d = {n, 1, k == 0 ? GH : H, H};                                     \
            const real *in = k == 0 ? x : s[(k - 1) % 2], *U = k == 0 ? NULL : m->U[k];            \
            real *out = s[k % 2];                                                                  \
            int64_t len = m->d.cell == FASTRNN_CELL_LSTM  ? fastrnn_lstm_forward_work_len(&d)      \
                          : m->d.cell == FASTRNN_CELL_GRU ? fastrnn_gru_forward_work_len(&d)       \
                                                          : fastrnn_rnn_forward_work_len(&d);      \
            real *work = len > 0 ? malloc((size_t)len * sizeof *work) : NULL;                      \
            fastrnn_status st;                                                                     \
            if (m->d.cell == FASTRNN_CELL_LSTM) {                                                  \
                st = fastrnn_lstm_forward_##sfx(&d, in, h + k * H, cs + k * H, U, m->W[k],         \
                                                m->b_ih[k], m->b_hh[k], out, c, g, work);          \
                memcpy(cs + k * H, c + (n - 1) * H, H * sizeof *c);                                \
            } else if (m->d.cell == FASTRNN_CELL_GRU) {                                            \
                st = fastrnn_gru_forward_##sfx(&d, in, h + k * H, U, m->W[k], m->b_ih[k],          \
                                               m->b_hh[k], out, g, work);                          \
            } else {                                                                               \
                st = fastrnn_rnn_forward_##sfx(&d, m->d.f, in, h + k * H, U, m->W[k], m->b_ih[k],  \
                                               out, work);                                         \
            }                                                                                      \
            CHECK(st == FASTRNN_OK);                                                               \
            memcpy(h + k * H, out + (n - 1) * H, H * sizeof *out);                                 \
            free(work);                                                                            \
        }                                                                                          \
        free(x);                                                                                   \
        free(g);                                                                                   \
        free(c);                                                                                   \
        free(s[0]);                                                                                \
        free(s[1]);                                                                                \
    }                                                                                              \
                                                                                                   \
    /* The kernel against the twin from the same state, after the prime (m->d.P tokens of      \
     * PRIME); returns the kernel's drawn. */   \
    static int64_t compare_##sfx(const model_##sfx *m, int64_t length, const real *h0,             \
                                 const real *c0) {                                                 \
        const int64_t L = m->d.L;                                                                  \
        const size_t n = (size_t)(L * H);                                                          \
        double *u = malloc((size_t)(length > 0 ? length : 1) * sizeof *u);                         \
        for (int i = 0; i < length; ++i) u[i] = uniform(i);                                        \
        real *h = malloc(n * sizeof *h), *cs = malloc(n * sizeof *cs);                             \
        real *th = malloc(n * sizeof *th), *tcs = malloc(n * sizeof *tcs);                         \
        memcpy(h, h0, n * sizeof *h);                                                              \
        memcpy(th, h0, n * sizeof *th);                                                            \
        memcpy(cs, c0, n * sizeof *cs);                                                            \
        memcpy(tcs, c0, n * sizeof *tcs);                                                          \
        int64_t *ids = malloc((size_t)(length > 0 ? length : 1) * sizeof *ids), drawn = -1;        \
        real *probs = malloc(K * sizeof *probs), twin_probs[K];                                    \
        real *work = malloc((size_t)fastrnn_generate_work_len(&m->d) * sizeof *work);              \
        double *draw_work =                                                                        \
            malloc((size_t)fastrnn_generate_draw_work_len(&m->d) * sizeof(double));                \
        CHECK(fastrnn_generate_##sfx(&m->d, &m->lm, m->d.P > 0 ? PRIME : NULL, length, u, h,       \
                                     m->d.cell == FASTRNN_CELL_LSTM ? cs : NULL, ids, &drawn,      \
                                     probs, work, draw_work) == FASTRNN_OK);                       \
        CHECK(drawn >= 0 && drawn <= length);                                                      \
        if (m->d.P > 0) twin_steps_##sfx(m, m->d.P, PRIME, th, tcs);                               \
        for (int64_t i = 0; i < drawn; ++i) {                                                      \
            CHECK(fastrnn_softmax_forward_##sfx(&(fastrnn_softmax_dims){1, 1, H, K},               \
                                                th + (L - 1) * H, m->V, m->c,                      \
                                                twin_probs) == FASTRNN_OK);                        \
            double p[K];                                                                           \
            for (int j = 0; j < K; ++j) p[j] = twin_probs[j];                                      \
            CHECK(ids[i] == plain_draw(p, m->d.top_k, u[i]));                                      \
            CHECK(ids[i] >= 0 && ids[i] < K && twin_probs[ids[i]] > 0);                            \
            if (i + 1 < length) twin_steps_##sfx(m, 1, &ids[i], th, tcs);                          \
        }                                                                                          \
        if (length > 0) {                                                                          \
            /* probs are those of the last token considered, the state the one giving them */      \
            CHECK(fastrnn_softmax_forward_##sfx(&(fastrnn_softmax_dims){1, 1, H, K},               \
                                                th + (L - 1) * H, m->V, m->c,                      \
                                                twin_probs) == FASTRNN_OK);                        \
            CHECK(memcmp(probs, twin_probs, sizeof twin_probs) == 0);                              \
        }                                                                                          \
        CHECK(memcmp(h, th, n * sizeof *h) == 0);                                                  \
        CHECK(memcmp(cs, tcs, n * sizeof *cs) == 0);                                               \
        free(u);                                                                                   \
        free(h);                                                                                   \
        free(cs);                                                                                  \
        free(th);                                                                                  \
        free(tcs);                                                                                 \
        free(ids);                                                                                 \
        free(probs);                                                                               \
        free(work);                                                                                \
        free(draw_work);                                                                           \
        return drawn;                                                                              \
    }

DEFINE_TYPED(float, f32, fastrnn_lm_f32)
DEFINE_TYPED(double, f64, fastrnn_lm_f64)

static const fastrnn_cell CELLS[] = {FASTRNN_CELL_RNN, FASTRNN_CELL_LSTM, FASTRNN_CELL_GRU};

/* Every cell, nonlinearity, depth, bias and top_k, both types, lengths 0, 1, LEN. */
static void test_matches_the_twin(void) {
    const int64_t top_ks[] = {0, 1, 3, K - 1, K, K + 5};
    double h0[LMAX * H], c0[LMAX * H];
    for (int i = 0; i < LMAX * H; ++i) h0[i] = 0.3 * sin(i), c0[i] = 0.5 * cos(i);
    float h0f[LMAX * H], c0f[LMAX * H];
    for (int i = 0; i < LMAX * H; ++i) h0f[i] = (float)h0[i], c0f[i] = (float)c0[i];
    for (int ci = 0; ci < 3; ++ci)
        for (int f = 0; f < (CELLS[ci] == FASTRNN_CELL_RNN ? 2 : 1); ++f)
            for (int64_t L = 1; L <= LMAX; ++L)
                for (int bias = 0; bias < 2; ++bias)
                    for (size_t t = 0; t < sizeof top_ks / sizeof *top_ks; ++t) {
                        const fastrnn_nonlinearity nl = f ? FASTRNN_RELU : FASTRNN_TANH;
                        model_f64 m;
                        make_f64(&m, CELLS[ci], nl, L, bias, top_ks[t]);
                        for (m.d.P = 0; m.d.P <= 7; m.d.P += m.d.P < 1 ? 1 : 3)
                            for (int64_t length = 0; length <= LEN;
                                 length += length < 2 ? 1 : LEN - 2)
                                CHECK(compare_f64(&m, length, h0, c0) == length);
                        release_f64(&m);
                        model_f32 mf;
                        make_f32(&mf, CELLS[ci], nl, L, bias, top_ks[t]);
                        mf.d.P = 4;
                        CHECK(compare_f32(&mf, LEN, h0f, c0f) == LEN);
                        release_f32(&mf);
                    }
}

/* A NaN weight: the kernel stops before token 0 with NaN probabilities, state as given;
 * a NaN reached only through a token: it stops at the first token whose probabilities it
 * reaches. */
static void test_stops_on_non_finite_probabilities(void) {
    double h0[H] = {0}, c0[H] = {0};
    model_f64 m;
    make_f64(&m, FASTRNN_CELL_RNN, FASTRNN_TANH, 1, 1, 0);
    m.V[3] = NAN;
    CHECK(compare_f64(&m, LEN, h0, c0) == 0);
    m.V[3] = 0.25;
    double *u = malloc(LEN * sizeof *u), *draw_work = malloc(2 * K * sizeof *draw_work);
    for (int i = 0; i < LEN; ++i) u[i] = uniform(i);
    int64_t ids[LEN], drawn;
    double h[H] = {0}, probs[K];
    double *work = malloc((size_t)fastrnn_generate_work_len(&m.d) * sizeof *work);
    CHECK(fastrnn_generate_f64(&m.d, &m.lm, NULL, LEN, u, h, NULL, ids, &drawn, probs, work,
                               draw_work) == FASTRNN_OK &&
          drawn == LEN);
    /* a NaN in the embedding of the first token drawn reaches the state after it */
    for (int64_t i = 0; i < H; ++i) m.U[0][i * K + ids[0]] = NAN;
    memset(h, 0, sizeof h);
    CHECK(fastrnn_generate_f64(&m.d, &m.lm, NULL, LEN, u, h, NULL, ids, &drawn, probs, work,
                               draw_work) == FASTRNN_OK);
    CHECK(drawn == 1); /* token 0 drawn, token 1's probabilities are NaN */
    for (int j = 0; j < K; ++j) CHECK(isnan(probs[j]));
    free(u);
    free(work);
    free(draw_work);
    release_f64(&m);
}

/* Two tokens with equal logits (equal rows of V, no bias): a top_k cut between them is
 * left to the caller; a cut above or below them is not. */
static void test_stops_on_a_tie_at_the_top_k_cut(void) {
    double h0[H], c0[H] = {0};
    for (int i = 0; i < H; ++i) h0[i] = 0.2 * (i + 1);
    model_f64 m;
    make_f64(&m, FASTRNN_CELL_RNN, FASTRNN_TANH, 1, 0, 0);
    for (int j = 0; j < K; ++j) /* V[j] = j * (1, ..., 1) but V[5] = V[4]: logits ordered */
        for (int i = 0; i < H; ++i) m.V[j * H + i] = j == 5 ? 4 : j;
    /* ranks from the top: 8, 7, 6, then 4 and 5 tied, 3, 2, 1, 0 */
    const int64_t decided[] = {1, 2, 3, 5, 6, 7, 8}, tied = 4;
    for (size_t t = 0; t < sizeof decided / sizeof *decided; ++t) {
        m.d.top_k = decided[t];
        CHECK(compare_f64(&m, 1, h0, c0) == 1);
    }
    m.d.top_k = tied;
    CHECK(compare_f64(&m, 1, h0, c0) == 0);
    release_f64(&m);
}

/* Tokens whose probability underflows to 0 are never drawn, even with u = 0 and the
 * zeros first. */
static void test_never_draws_a_zero_probability(void) {
    model_f64 m;
    make_f64(&m, FASTRNN_CELL_GRU, FASTRNN_TANH, 1, 1, 0);
    for (int j = 0; j < K; ++j) m.c[j] = j < 4 || j == 6 ? -1e4 : 0;
    double u[LEN], h[H] = {0}, probs[K], *draw_work = malloc(2 * K * sizeof *draw_work);
    for (int i = 0; i < LEN; ++i) u[i] = i % 2 ? 0 : uniform(i);
    int64_t ids[LEN], drawn;
    double *work = malloc((size_t)fastrnn_generate_work_len(&m.d) * sizeof *work);
    CHECK(fastrnn_generate_f64(&m.d, &m.lm, NULL, LEN, u, h, NULL, ids, &drawn, probs, work,
                               draw_work) == FASTRNN_OK &&
          drawn == LEN);
    for (int i = 0; i < LEN; ++i) CHECK(ids[i] >= 4 && ids[i] != 6);
    free(work);
    free(draw_work);
    release_f64(&m);
}

/* What the binding never lets through, refused before anything is written. */
static void test_refusals(void) {
    model_f64 m;
    make_f64(&m, FASTRNN_CELL_LSTM, FASTRNN_TANH, 2, 1, 0);
    double u[3] = {0.5, 0.25, 0.75}, h[2 * H], cs[2 * H], probs[K];
    double *work = malloc((size_t)fastrnn_generate_work_len(&m.d) * sizeof *work);
    double *draw_work = malloc(2 * K * sizeof *draw_work);
    int64_t ids[3] = {-7, -7, -7}, drawn = -7;
    for (int i = 0; i < 2 * H; ++i) h[i] = cs[i] = 1;
#define REFUSED(call, status)                                          \
    do {                                                               \
        CHECK((call) == (status));                                     \
        CHECK(ids[0] == -7 && drawn == -7 && h[0] == 1 && cs[0] == 1); \
    } while (0)
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, NULL, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG); /* the LSTM without c */
    REFUSED(
        fastrnn_generate_f64(&m.d, NULL, NULL, 3, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG);
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, -1, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG);
    REFUSED(fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, NULL, h, cs, ids, &drawn, probs, work,
                                 draw_work),
            FASTRNN_ERR_ARG);
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, NULL, draw_work),
        FASTRNN_ERR_ARG);
    REFUSED(fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work, NULL),
            FASTRNN_ERR_ARG);
    const double bad_u[] = {1.0, -1e-300, NAN, INFINITY};
    for (int b = 0; b < 4; ++b) {
        u[2] = bad_u[b];
        REFUSED(fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work,
                                     draw_work),
                FASTRNN_ERR_ARG);
    }
    u[2] = 0.75;
    /* a missing layer's weight, one bias list without the other */
    double *W1 = m.W[1];
    m.W[1] = NULL;
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG);
    m.W[1] = W1;
    m.lm.b_hh = NULL;
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG);
    m.lm.b_hh = (const double *const *)m.b_hh;
    /* a prime missing, or with an id outside [0, K) */
    m.d.P = 2;
    REFUSED(
        fastrnn_generate_f64(&m.d, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_ARG);
    const int64_t bad_prime[2][2] = {{1, K}, {-1, 0}};
    for (int b = 0; b < 2; ++b)
        REFUSED(fastrnn_generate_f64(&m.d, &m.lm, bad_prime[b], 3, u, h, cs, ids, &drawn, probs,
                                     work, draw_work),
                FASTRNN_ERR_ARG);
    m.d.P = 0;
    /* bad dims */
    const fastrnn_generate_dims good = m.d;
    fastrnn_generate_dims bad[] = {good, good, good, good, good, good, good, good, good, good};
    bad[0].L = 0;
    bad[1].H = 0;
    bad[2].K = 0;
    bad[3].top_k = -1;
    bad[4].cell = (fastrnn_cell)7;
    bad[5].f = (fastrnn_nonlinearity)9;
    bad[6].H = INT64_C(1) << 30; /* 4H beyond the BLAS's int */
    bad[7].K = INT64_C(1) << 31;
    bad[8].P = -1;
    bad[9].P = INT64_C(1) << 31;
    for (int b = 0; b < 10; ++b) {
        REFUSED(fastrnn_generate_f64(&bad[b], &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work,
                                     draw_work),
                FASTRNN_ERR_DIMS);
        CHECK(fastrnn_generate_work_len(&bad[b]) == 0);
        CHECK(fastrnn_generate_draw_work_len(&bad[b]) == 0);
    }
    REFUSED(
        fastrnn_generate_f64(NULL, &m.lm, NULL, 3, u, h, cs, ids, &drawn, probs, work, draw_work),
        FASTRNN_ERR_DIMS);
#undef REFUSED
    /* length 0: nothing drawn, nothing written but drawn; u and ids may be NULL */
    CHECK(fastrnn_generate_f64(&m.d, &m.lm, NULL, 0, NULL, h, cs, NULL, &drawn, probs, work,
                               draw_work) == FASTRNN_OK &&
          drawn == 0 && h[0] == 1);
    free(work);
    free(draw_work);
    release_f64(&m);
}

int main(void) {
    {
        model_f64 m;
        make_f64(&m, FASTRNN_CELL_RNN, FASTRNN_TANH, 1, 1, 0);
        double u = 0.5, h[H] = {0}, probs[K], draw_work[2 * K];
        double *work = malloc((size_t)fastrnn_generate_work_len(&m.d) * sizeof *work);
        int64_t id, drawn;
        CHECK(work != NULL);
        CHECK(fastrnn_generate_f64(&m.d, &m.lm, NULL, 1, &u, h, NULL, &id, &drawn, probs, work,
                                   draw_work) == FASTRNN_ERR_NO_BLAS);
        free(work);
        release_f64(&m);
    }
    CHECK(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK);
    test_matches_the_twin();
    test_stops_on_non_finite_probabilities();
    test_stops_on_a_tie_at_the_top_k_cut();
    test_never_draws_a_zero_probability();
    test_refusals();
    return finish();
}
