/* C-level test of the LSTM and GRU kernels (csrc/lstm.c, csrc/gru.c), built with
 * AddressSanitizer + UndefinedBehaviorSanitizer and run under valgrind by
 * tests/test_c_kernels.py.
 *
 * Every buffer is malloc'd at exactly its documented size (an overrun is an ASan error),
 * the BLAS is the plain loops of plain_blas.h, and the float64 results are checked three
 * ways, in double:
 *   forward     against a plain-loop cell written here from the equations in fastrnn.h;
 *   full BPTT   the derivative of L = sum(ds * s) + sum(dc * c) along a random direction
 *               of each input, by central differences of that plain forward;
 *   window K    the sum over the output steps t of the kernels' own full backward over
 *               steps max(0, t-K)..t, from the states there, with only ds[t] (and dc[t])
 *               injected: the per-output window's definition.
 * The inference kernels must give the forward kernels' states bit for bit (run_f32,
 * run_f64). Both they and the full backward pass work in chunks of steps, here of 3 rows
 * (CELL_CHUNK_ROWS, set by tests/test_c_kernels.py), so that T is split into chunks with
 * a remainder or, for B > 3, one step per chunk. The float32 kernels run the same problems and must agree with the
 * float64 ones. The
 * statuses the binding never lets reach C (bad dims, NULL arrays, no BLAS) are checked too.
 * Prints one line per failure and "N passed, M failed"; exits 1 on any failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "plain_blas.h"
#include "tally.h"

typedef struct {
    int64_t T, B, D, H;
    int lstm, bias, dc; /* dc: a gradient arrives for the LSTM's cell states */
} problem;

/* The arrays of one problem and of one kernel run, in double; NULL where absent: the
 * inputs X to DC, the forward outputs S to GATES, the gradients DX to DBHH. */
enum { X, S0, C0, U, W, BIH, BHH, DS, DC, S, C, GATES, DX, DS0, DC0, DU, DW, DBIH, DBHH };
enum { N_INPUTS = S, N_ARRAYS = DBHH + 1 };
typedef struct {
    double *v[N_ARRAYS];
} arrays;

static const char *const NAMES[N_ARRAYS] = {"x",  "s0",  "c0",  "U",  "W",  "b_ih",  "b_hh",
                                            "ds", "dc",  "s",   "c",  "gates", "dx", "ds0",
                                            "dc0", "dU", "dW", "db_ih", "db_hh"};

/* Element counts of every array. */
static void sizes(const problem *p, int64_t n[N_ARRAYS]) {
    const int64_t T = p->T, B = p->B, D = p->D, H = p->H, GH = (p->lstm ? 4 : 3) * H;
    const int64_t all[N_ARRAYS] = {T * B * D, B * H,      B * H,     GH * D, GH * H,
                                   GH,        GH,         T * B * H, T * B * H, T * B * H,
                                   T * B * H, T * B * GH, T * B * D, B * H,  B * H,
                                   GH * D,    GH * H,     GH,        GH};
    memcpy(n, all, sizeof all);
}

/* Which arrays a problem has: c0, c, dc0 for the LSTM only, the biases and their
 * gradients with bias only, dc with p->dc only. */
static int present(const problem *p, int k) {
    switch (k) {
        case C0:
        case C:
        case DC0:
            return p->lstm;
        case DC:
            return p->lstm && p->dc;
        case BIH:
        case BHH:
        case DBIH:
        case DBHH:
            return p->bias;
        default:
            return 1;
    }
}

static void allocate(const problem *p, arrays *a) {
    int64_t n[N_ARRAYS];
    sizes(p, n);
    for (int k = 0; k < N_ARRAYS; ++k)
        a->v[k] = present(p, k) ? calloc((size_t)n[k], sizeof(double)) : NULL;
}

/* b's inputs copied into a (same problem) */
static void copy_inputs(const problem *p, arrays *a, const arrays *b) {
    int64_t n[N_ARRAYS];
    sizes(p, n);
    for (int k = 0; k < N_INPUTS; ++k)
        if (b->v[k] != NULL) memcpy(a->v[k], b->v[k], sizeof(double) * (size_t)n[k]);
}

static void release(arrays *a) {
    for (int k = 0; k < N_ARRAYS; ++k) free(a->v[k]);
}

static double uniform(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return ((*seed >> 8) & 0xFFFF) / 32768.0 - 1.0; /* in [-1, 1), exact in float */
}

static void fill(double *a, int64_t n, double scale, unsigned *seed) {
    if (a != NULL)
        for (int64_t i = 0; i < n; ++i) a[i] = scale * uniform(seed);
}

/* ---- the plain-loop cells (the specification, in double) --------------------------- */

static double sigmoid(double a) { return 1 / (1 + exp(-a)); }

/* The loss L = sum(ds * s) + sum(dc * c) of the cell over a's inputs; s and c (T,B,H)
 * receive the states. */
static double plain_forward(const problem *p, const arrays *a, double *s, double *c) {
    const int64_t B = p->B, D = p->D, H = p->H, GH = (p->lstm ? 4 : 3) * H;
    const double *x = a->v[X], *U_ = a->v[U], *W_ = a->v[W], *ds = a->v[DS], *dc = a->v[DC];
    double *gx = malloc(sizeof(double) * (size_t)GH), *gh = malloc(sizeof(double) * (size_t)GH);
    double loss = 0;
    for (int64_t t = 0; t < p->T; ++t)
        for (int64_t n = 0; n < B; ++n) {
            const int64_t row = t * B + n;
            const double *prev = t ? s + (row - B) * H : a->v[S0] + n * H;
            for (int64_t i = 0; i < GH; ++i) {
                gx[i] = p->bias ? a->v[BIH][i] : 0; /* U x_t + b_ih */
                gh[i] = p->bias ? a->v[BHH][i] : 0; /* W s_{t-1} + b_hh */
                for (int64_t j = 0; j < D; ++j) gx[i] += U_[i * D + j] * x[row * D + j];
                for (int64_t j = 0; j < H; ++j) gh[i] += W_[i * H + j] * prev[j];
            }
            for (int64_t i = 0; i < H; ++i) {
                const int64_t at = row * H + i;
                if (p->lstm) {
                    const double c_prev = t ? c[at - B * H] : a->v[C0][n * H + i];
                    const double in = sigmoid(gx[i] + gh[i]);
                    const double forget = sigmoid(gx[H + i] + gh[H + i]);
                    const double g = tanh(gx[2 * H + i] + gh[2 * H + i]);
                    const double o = sigmoid(gx[3 * H + i] + gh[3 * H + i]);
                    c[at] = forget * c_prev + in * g;
                    s[at] = o * tanh(c[at]);
                    if (dc != NULL) loss += dc[at] * c[at];
                } else {
                    const double r = sigmoid(gx[i] + gh[i]);
                    const double z = sigmoid(gx[H + i] + gh[H + i]);
                    const double cand = tanh(gx[2 * H + i] + r * gh[2 * H + i]);
                    s[at] = (1 - z) * cand + z * prev[i];
                }
                loss += ds[at] * s[at];
            }
        }
    free(gx);
    free(gh);
    return loss;
}

/* ---- the kernels, in float or double, on arrays of double ------------------------- */

/* Whether inference runs in the transposed domain (cell_streams in csrc/cells.h), with the
 * thresholds test_c_kernels.py builds this driver and the library with. */
static int streams(const problem *p) {
    return p->B >= CELL_STREAM_MIN_B && p->H >= CELL_STREAM_MIN_H;
}

/* a (n) and b (n) equal bit for bit, or, with tol > 0, within tol * (1 + |b|). */
#define DEFINE_SAME(real, SUF)                                                                     \
    static int same_##SUF(const real *a, const real *b, size_t n, double tol) {                    \
        if (tol == 0) return memcmp(a, b, sizeof(real) * n) == 0;                                  \
        for (size_t i = 0; i < n; ++i)                                                             \
            if (!(fabs((double)a[i] - b[i]) <= tol * (1 + fabs((double)b[i])))) return 0;         \
        return 1;                                                                                  \
    }
DEFINE_SAME(float, f32)
DEFINE_SAME(double, f64)

/* infer_f32 / infer_f64: 1 when the inference kernel, on r's inputs (workspace and outputs
 * of exactly their sizes), runs and gives bit for bit the states the forward kernel wrote
 * in r: only the gates' buffer differs (a chunk of steps at a time, see cells.h; this
 * driver is built with a chunk of CELL_CHUNK_ROWS = 3 rows, test_c_kernels.py). In the
 * transposed domain (streams above) the sums run in another order: the states agree to
 * tol then (the forward's are checked against the plain cell). The LSTM's runs twice: with
 * every cell state, and with c_T only, into a (B,H) buffer, which agree bit for bit. */
#define DEFINE_INFER(real, SUF, TOL)                                                               \
    static int infer_##SUF(const problem *p, real *const r[N_ARRAYS]) {                            \
        const fastrnn_dims d = {p->T, p->B, p->D, p->H};                                           \
        const size_t states = (size_t)(p->T * p->B * p->H), last = (size_t)(p->B * p->H);          \
        const int64_t len =                                                                        \
            p->lstm ? fastrnn_lstm_infer_work_len(&d) : fastrnn_gru_infer_work_len(&d);            \
        real *work = malloc(sizeof(real) * (size_t)len), *s = malloc(sizeof(real) * states);       \
        real *c = p->lstm ? malloc(sizeof(real) * states) : NULL;                                  \
        real *c_T = p->lstm ? malloc(sizeof(real) * last) : NULL;                                  \
        const fastrnn_status status =                                                              \
            p->lstm                                                                                \
                ? fastrnn_lstm_infer_##SUF(&d, r[X], r[S0], r[C0], r[U], r[W], r[BIH], r[BHH], 1,  \
                                           s, c, work)                                             \
                : fastrnn_gru_infer_##SUF(&d, r[X], r[S0], r[U], r[W], r[BIH], r[BHH], s, work);   \
        const double tol = streams(p) ? TOL : 0;                                                   \
        int same = status == FASTRNN_OK && same_##SUF(s, r[S], states, tol) &&                     \
                   (c == NULL || same_##SUF(c, r[C], states, tol));                                \
        if (p->lstm) {                                                                             \
            real *s_every = malloc(sizeof(real) * states);                                         \
            memcpy(s_every, s, sizeof(real) * states);                                             \
            same = same &&                                                                         \
                   fastrnn_lstm_infer_##SUF(&d, r[X], r[S0], r[C0], r[U], r[W], r[BIH], r[BHH], 0, \
                                            s, c_T, work) == FASTRNN_OK &&                         \
                   memcmp(s, s_every, sizeof(real) * states) == 0 &&                               \
                   memcmp(c_T, c + states - last, sizeof(real) * last) == 0;                       \
            free(s_every);                                                                         \
        }                                                                                          \
        free(work);                                                                                \
        free(s);                                                                                   \
        free(c);                                                                                   \
        free(c_T);                                                                                 \
        return same;                                                                               \
    }
DEFINE_INFER(float, f32, 1e-5)
DEFINE_INFER(double, f64, 1e-13)

/* run_f32 / run_f64: forward (and inference, which must agree bit for bit), then backward with window truncate, on a's inputs (copied
 * into buffers of the kernel's type and of exactly their sizes); the outputs into a. */
#define DEFINE_RUN(real, SUF)                                                                     \
    static int run_##SUF(const problem *p, int64_t truncate, arrays *a) {                         \
        const fastrnn_dims d = {p->T, p->B, p->D, p->H};                                          \
        int64_t n[N_ARRAYS];                                                                      \
        sizes(p, n);                                                                              \
        real *r[N_ARRAYS];                                                                        \
        for (int k = 0; k < N_ARRAYS; ++k) {                                                      \
            r[k] = a->v[k] == NULL ? NULL : malloc(sizeof(real) * (size_t)n[k]);                  \
            for (int64_t i = 0; k < N_INPUTS && r[k] != NULL && i < n[k]; ++i)                    \
                r[k][i] = (real)a->v[k][i];                                                       \
        }                                                                                         \
        const int64_t fwork =                                                                     \
            p->lstm ? fastrnn_lstm_forward_work_len(&d) : fastrnn_gru_forward_work_len(&d);       \
        const int64_t bwork = p->lstm ? fastrnn_lstm_backward_work_len(&d, truncate)              \
                                      : fastrnn_gru_backward_work_len(&d, truncate);              \
        real *fw = malloc(sizeof(real) * (size_t)fwork);                                          \
        real *bw = malloc(sizeof(real) * (size_t)bwork);                                          \
        fastrnn_status f, b;                                                                      \
        if (p->lstm) {                                                                            \
            f = fastrnn_lstm_forward_##SUF(&d, r[X], r[S0], r[C0], r[U], r[W], r[BIH], r[BHH],    \
                                           r[S], r[C], r[GATES], fw);                             \
            b = fastrnn_lstm_backward_##SUF(&d, truncate, r[X], r[S0], r[C0], r[U], r[W], r[S],   \
                                            r[C], r[GATES], r[DS], r[DC], NULL, NULL, r[DX],      \
                                            r[DS0], r[DC0], r[DU], r[DW], r[DBIH], bw);           \
            if (r[DBIH] != NULL) memcpy(r[DBHH], r[DBIH], sizeof(real) * (size_t)n[DBIH]);        \
        } else {                                                                                  \
            f = fastrnn_gru_forward_##SUF(&d, r[X], r[S0], r[U], r[W], r[BIH], r[BHH], r[S],      \
                                          r[GATES], fw);                                          \
            b = fastrnn_gru_backward_##SUF(&d, truncate, r[X], r[S0], r[U], r[W], r[BHH], r[S],   \
                                           r[GATES], r[DS], NULL, r[DX], r[DS0], r[DU], r[DW],    \
                                           r[DBIH], r[DBHH], bw);                                 \
        }                                                                                         \
        const int same = infer_##SUF(p, r);                                                       \
        for (int k = N_INPUTS; k < N_ARRAYS; ++k)                                                 \
            for (int64_t i = 0; r[k] != NULL && i < n[k]; ++i) a->v[k][i] = r[k][i];              \
        for (int k = 0; k < N_ARRAYS; ++k) free(r[k]);                                            \
        free(fw);                                                                                 \
        free(bw);                                                                                 \
        return f == FASTRNN_OK && b == FASTRNN_OK && same;                                        \
    }
DEFINE_RUN(float, f32)
DEFINE_RUN(double, f64)

static int close_to(const double *got, const double *want, int64_t n, double tol) {
    for (int64_t i = 0; i < n; ++i)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])))) return 0;
    return 1;
}

/* every output of a (from first on) against b's */
static void check_outputs(const problem *p, const arrays *a, const arrays *b, int first, double tol,
                          const char *what, const char *ctx) {
    int64_t n[N_ARRAYS];
    sizes(p, n);
    char label[200];
    for (int k = first; k < N_ARRAYS; ++k)
        if (b->v[k] != NULL) {
            snprintf(label, sizeof label, "%s %s", NAMES[k], what);
            check(close_to(a->v[k], b->v[k], n[k], tol), label, ctx);
        }
}

/* ---- the three checks --------------------------------------------------------------- */

/* The derivative of L along a random direction v of each input, by central differences
 * of plain_forward, against sum(gradient * v). */
static void check_full_backward(const problem *p, arrays *a, unsigned *seed, const char *ctx) {
    static const int inputs[] = {X, S0, C0, U, W, BIH, BHH},
                     grads[] = {DX, DS0, DC0, DU, DW, DBIH, DBHH};
    int64_t n[N_ARRAYS];
    sizes(p, n);
    double *s = malloc(sizeof(double) * (size_t)n[S]), *c = malloc(sizeof(double) * (size_t)n[S]);
    for (int m = 0; m < 7; ++m) {
        double *x = a->v[inputs[m]];
        const double *g = a->v[grads[m]];
        if (x == NULL) continue;
        const int64_t len = n[inputs[m]];
        double *v = malloc(sizeof(double) * (size_t)len), want = 0;
        fill(v, len, 1, seed);
        for (int64_t i = 0; i < len; ++i) want += g[i] * v[i];
        const double h = 1e-6;
        for (int64_t i = 0; i < len; ++i) x[i] += h * v[i];
        const double up = plain_forward(p, a, s, c);
        for (int64_t i = 0; i < len; ++i) x[i] -= 2 * h * v[i];
        const double down = plain_forward(p, a, s, c);
        for (int64_t i = 0; i < len; ++i) x[i] += h * v[i];
        const double got = (up - down) / (2 * h);
        check(fabs(got - want) <= 1e-6 * (1 + fabs(want)), NAMES[grads[m]], ctx);
        free(v);
    }
    free(s);
    free(c);
}

/* The window-K gradients of `windowed` against the sum, over the output steps t, of the
 * full backward passes over steps max(0, t-K)..t of `full` (a full run's arrays). */
static void check_window(const problem *p, const arrays *full, const arrays *windowed, int64_t K,
                         const char *ctx) {
    const int64_t B = p->B, D = p->D, BH = p->B * p->H;
    int64_t n[N_ARRAYS];
    sizes(p, n);
    arrays sum;
    allocate(p, &sum);
    for (int64_t t = 0; t < p->T; ++t) {
        const int64_t t0 = t > K ? t - K : 0;
        problem q = *p;
        q.T = t - t0 + 1;
        arrays w;
        allocate(&q, &w);
        for (int k = U; k <= BHH; ++k) /* the weights */
            if (full->v[k] != NULL) memcpy(w.v[k], full->v[k], sizeof(double) * (size_t)n[k]);
        memcpy(w.v[X], full->v[X] + t0 * B * D, sizeof(double) * (size_t)(q.T * B * D));
        /* the states entering the window */
        memcpy(w.v[S0], t0 ? full->v[S] + (t0 - 1) * BH : full->v[S0], sizeof(double) * BH);
        if (p->lstm)
            memcpy(w.v[C0], t0 ? full->v[C] + (t0 - 1) * BH : full->v[C0], sizeof(double) * BH);
        /* only what step t injects */
        memcpy(w.v[DS] + (q.T - 1) * BH, full->v[DS] + t * BH, sizeof(double) * BH);
        if (w.v[DC] != NULL)
            memcpy(w.v[DC] + (q.T - 1) * BH, full->v[DC] + t * BH, sizeof(double) * BH);
        check(run_f64(&q, -1, &w), "a window's full backward runs", ctx);
        for (int64_t i = 0; i < q.T * B * D; ++i) sum.v[DX][t0 * B * D + i] += w.v[DX][i];
        for (int k = DS0; k <= DC0 && t0 == 0; ++k) /* the initial states, when reached */
            for (int64_t i = 0; w.v[k] != NULL && i < BH; ++i) sum.v[k][i] += w.v[k][i];
        for (int k = DU; k <= DBHH; ++k)
            for (int64_t i = 0; w.v[k] != NULL && i < n[k]; ++i) sum.v[k][i] += w.v[k][i];
        release(&w);
    }
    check_outputs(p, windowed, &sum, DX, 1e-10, "against the sum of full windows", ctx);
    release(&sum);
}

/* ds_last (and the LSTM's dc_last): the gradients of step T-1 passed apart, ds (and dc)
 * zero there, give bit for bit the gradients in a (a float64 run with window K). */
static void check_last_step(const problem *p, const arrays *a, int64_t K, const char *ctx) {
    static const int lstm_grads[] = {DX, DS0, DC0, DU, DW, DBIH};
    static const int gru_grads[] = {DX, DS0, DU, DW, DBIH, DBHH};
    const int *grads = p->lstm ? lstm_grads : gru_grads;
    const fastrnn_dims d = {p->T, p->B, p->D, p->H};
    int64_t n[N_ARRAYS];
    sizes(p, n);
    const size_t BH = (size_t)(p->B * p->H), last = (size_t)n[DS] - BH;
    arrays g;
    allocate(p, &g);
    double *ds_last = malloc(sizeof(double) * BH), *dc_last = NULL;
    memcpy(g.v[DS], a->v[DS], sizeof(double) * last);
    memset(g.v[DS] + last, 0, sizeof(double) * BH);
    memcpy(ds_last, a->v[DS] + last, sizeof(double) * BH);
    double *work;
    if (p->lstm) {
        if (a->v[DC] != NULL) {
            dc_last = malloc(sizeof(double) * BH);
            memcpy(g.v[DC], a->v[DC], sizeof(double) * last);
            memset(g.v[DC] + last, 0, sizeof(double) * BH);
            memcpy(dc_last, a->v[DC] + last, sizeof(double) * BH);
        }
        work = malloc(sizeof(double) * (size_t)fastrnn_lstm_backward_work_len(&d, K));
        check(fastrnn_lstm_backward_f64(&d, K, a->v[X], a->v[S0], a->v[C0], a->v[U], a->v[W],
                                        a->v[S], a->v[C], a->v[GATES], g.v[DS], g.v[DC], ds_last,
                                        dc_last, g.v[DX], g.v[DS0], g.v[DC0], g.v[DU], g.v[DW],
                                        g.v[DBIH], work) == FASTRNN_OK,
              "the backward pass with ds_last, dc_last runs", ctx);
    } else {
        work = malloc(sizeof(double) * (size_t)fastrnn_gru_backward_work_len(&d, K));
        check(fastrnn_gru_backward_f64(&d, K, a->v[X], a->v[S0], a->v[U], a->v[W], a->v[BHH],
                                       a->v[S], a->v[GATES], g.v[DS], ds_last, g.v[DX], g.v[DS0],
                                       g.v[DU], g.v[DW], g.v[DBIH], g.v[DBHH], work) == FASTRNN_OK,
              "the backward pass with ds_last runs", ctx);
    }
    for (size_t k = 0; k < 6; ++k)
        if (a->v[grads[k]] != NULL)
            check(memcmp(g.v[grads[k]], a->v[grads[k]], sizeof(double) * (size_t)n[grads[k]]) == 0,
                  NAMES[grads[k]], ctx);
    free(work);
    free(ds_last);
    free(dc_last);
    release(&g);
}

static void run_problem(const problem *p, unsigned *seed) {
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s T=%lld B=%lld D=%lld H=%lld bias=%d dc=%d",
             p->lstm ? "lstm" : "gru", (long long)p->T, (long long)p->B, (long long)p->D,
             (long long)p->H, p->bias, p->dc);
    int64_t n[N_ARRAYS];
    sizes(p, n);
    arrays a, single;
    allocate(p, &a);
    allocate(p, &single);
    const double scales[N_INPUTS] = {
        1, 0.5, 0.5, 1 / sqrt((double)p->D), 0.5 / sqrt((double)p->H), 0.1, 0.1, 1, 1};
    for (int k = 0; k < N_INPUTS; ++k) fill(a.v[k], n[k], scales[k], seed);
    copy_inputs(p, &single, &a);

    /* forward against the plain cell, full BPTT against central differences, float32
     * against float64 */
    check(run_f64(p, -1, &a), "the float64 kernels run", ctx);
    double *s = malloc(sizeof(double) * (size_t)n[S]), *c = malloc(sizeof(double) * (size_t)n[S]);
    plain_forward(p, &a, s, c);
    check(close_to(a.v[S], s, n[S], 1e-12), "s against the plain cell", ctx);
    if (p->lstm) check(close_to(a.v[C], c, n[C], 1e-12), "c against the plain cell", ctx);
    free(s);
    free(c);
    check_full_backward(p, &a, seed, ctx);
    check(run_f32(p, -1, &single), "the float32 kernels run", ctx);
    check_outputs(p, &single, &a, S, 2e-4, "float32 against float64", ctx);

    /* every window against the sum of full backward passes, float32 against float64 */
    const int64_t windows[] = {0, 1, 2, p->T - 2, p->T - 1, 100};
    for (size_t k = 0; k < sizeof windows / sizeof *windows; ++k) {
        if (windows[k] < 0) continue;
        arrays t;
        allocate(p, &t);
        copy_inputs(p, &t, &a);
        check(run_f64(p, windows[k], &t), "the windowed float64 kernels run", ctx);
        check_window(p, &a, &t, windows[k], ctx);
        check_last_step(p, &t, windows[k], ctx);
        check(run_f32(p, windows[k], &single), "the windowed float32 kernels run", ctx);
        check_outputs(p, &single, &t, DX, 2e-4, "windowed float32 against float64", ctx);
        release(&t);
    }
    release(&single);
    release(&a);
}

/* ---- statuses ------------------------------------------------------------------------ */

static void check_statuses(void) {
    const fastrnn_dims d = {2, 1, 1, 1};
    static double in[64], o[8][64], work[256]; /* o: distinct outputs (restrict) */
    /* before any BLAS is installed */
    check(fastrnn_lstm_forward_f64(&d, in, in, in, in, in, NULL, NULL, o[0], o[1], o[2], work) ==
              FASTRNN_ERR_NO_BLAS,
          "no BLAS yet", "lstm");
    check(fastrnn_gru_forward_f64(&d, in, in, in, in, NULL, NULL, o[0], o[1], work) ==
              FASTRNN_ERR_NO_BLAS,
          "no BLAS yet", "gru");
    check(fastrnn_lstm_infer_f64(&d, in, in, in, in, in, NULL, NULL, 1, o[0], o[1], work) ==
              FASTRNN_ERR_NO_BLAS,
          "no BLAS yet", "lstm_infer");
    check(fastrnn_gru_infer_f64(&d, in, in, in, in, NULL, NULL, o[0], work) == FASTRNN_ERR_NO_BLAS,
          "no BLAS yet", "gru_infer");
    check(fastrnn_blas_set(plain_sgemm, plain_dgemm, plain_sgemv, plain_dgemv) == FASTRNN_OK,
          "the plain BLAS is installed", "status");
    /* 4H beyond the BLAS's int; T*B*4H times the workspace's buffers beyond int64 */
    const fastrnn_dims bad[] = {BAD_DIMS_OF_EVERY_KERNEL,
                                {1, 1, 1, INT64_C(1) << 30},
                                {(INT64_C(1) << 30) - 1, 2, 1, INT64_C(1) << 28}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        check(fastrnn_lstm_forward_work_len(&bad[k]) == 0 &&
                  fastrnn_lstm_backward_work_len(&bad[k], 0) == 0 &&
                  fastrnn_gru_forward_work_len(&bad[k]) == 0 &&
                  fastrnn_gru_backward_work_len(&bad[k], 0) == 0 &&
                  fastrnn_lstm_infer_work_len(&bad[k]) == 0 &&
                  fastrnn_gru_infer_work_len(&bad[k]) == 0,
              "bad dims need no workspace", "status");
        check(fastrnn_lstm_forward_f64(&bad[k], in, in, in, in, in, NULL, NULL, o[0], o[1], o[2],
                                       work) == FASTRNN_ERR_DIMS,
              "bad dims give FASTRNN_ERR_DIMS", "lstm");
        check(fastrnn_gru_backward_f64(&bad[k], -1, in, in, in, in, in, in, in, in, NULL, o[0],
                                       o[1], o[2], o[3], NULL, NULL, work) == FASTRNN_ERR_DIMS,
              "bad dims give FASTRNN_ERR_DIMS", "gru");
        check(fastrnn_lstm_infer_f64(&bad[k], in, in, in, in, in, NULL, NULL, 0, o[0], o[1],
                                     work) == FASTRNN_ERR_DIMS,
              "bad dims give FASTRNN_ERR_DIMS", "lstm_infer");
        check(fastrnn_gru_infer_f64(&bad[k], in, in, in, in, NULL, NULL, o[0], work) ==
                  FASTRNN_ERR_DIMS,
              "bad dims give FASTRNN_ERR_DIMS", "gru_infer");
    }
    check(fastrnn_lstm_forward_f64(&d, NULL, in, in, in, in, NULL, NULL, o[0], o[1], o[2], work) ==
              FASTRNN_ERR_ARG,
          "a NULL input gives FASTRNN_ERR_ARG", "lstm");
    check(fastrnn_gru_forward_f64(&d, in, in, in, in, NULL, NULL, o[0], NULL, work) ==
              FASTRNN_ERR_ARG,
          "a NULL output gives FASTRNN_ERR_ARG", "gru");
    check(fastrnn_lstm_infer_f64(&d, in, in, in, in, in, NULL, NULL, 0, o[0], NULL, work) ==
              FASTRNN_ERR_ARG,
          "a NULL output gives FASTRNN_ERR_ARG", "lstm_infer");
    check(fastrnn_gru_infer_f64(&d, in, in, in, in, NULL, NULL, o[0], NULL) == FASTRNN_ERR_ARG,
          "a NULL workspace gives FASTRNN_ERR_ARG", "gru_infer");
    check(fastrnn_lstm_infer_f64(&d, in, in, in, NULL, in, NULL, NULL, 1, o[0], o[1], work) ==
              FASTRNN_ERR_DIMS,
          "U NULL with D != 4H gives FASTRNN_ERR_DIMS", "lstm_infer");
    check(fastrnn_gru_backward_f64(&d, -1, in, in, in, in, in, in, in, in, NULL, o[0], o[1], o[2],
                                   o[3], o[4], NULL, work) == FASTRNN_ERR_ARG,
          "one bias gradient without the other gives FASTRNN_ERR_ARG", "gru");
}

int main(void) {
    check_statuses();
    /* {33, 4, 6, 5} has T*B >= 128 rows: the GRU's products with U run on U packed (gru.c);
     * the last has B and H past 16, the tiles of the transposes of the transposed domain */
    const int64_t dims[][4] = {{1, 1, 1, 1}, {1, 3, 5, 4}, {5, 1, 3, 7}, {4, 3, 2, 5},
                               {6, 2, 9, 3}, {3, 4, 6, 8}, {33, 4, 6, 5}, {2, 17, 3, 18}};
    unsigned seed = 1;
    for (size_t k = 0; k < sizeof dims / sizeof *dims; ++k)
        for (int variant = 0; variant < 6; ++variant) {
            problem p = {dims[k][0],  dims[k][1], dims[k][2], dims[k][3], variant < 4, /* lstm */
                         variant % 2,                                                  /* bias */
                         variant < 2};                                                 /* dc */
            run_problem(&p, &seed);
        }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
