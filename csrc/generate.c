/* Generation (issue 7): one stream of tokens drawn from the language model of lm.py, the
 * whole loop in C (the Python loop spent ~100 us a token around ~5 us of arithmetic).
 *
 * Legend: L layers, H hidden size, K vocabulary (input ids and output classes), G gates
 * (1 RNN, 4 LSTM, 3 GRU); h (L,H) the layers' states (the LSTM's c (L,H) beside), U[0]
 * (G*H,K) the embedding, U[k] (G*H,H), W[k] (G*H,H), V (K,H), c (K,); u the uniforms.
 *
 * Shape of the work: the prime runs through every layer in one forward call each, then per
 * token: probs = softmax_forward(h[L-1]); the draw (inverse CDF in double, as lm.draw does
 * it with NumPy); then one step of every layer through the public kernels with T = B = 1
 * (embedding_forward, rnn/lstm/gru_forward). These are the calls RNNLM.sample's
 * token-by-token loop makes, so every state and probability is bit for bit what it
 * computes: the same kernels on the same numbers. What the draw cannot decide exactly as lm.draw would
 * (non-finite probabilities, a top_k cut inside a tie) goes back to the caller.
 * The bodies live in generate_impl.h, instantiated for float and double. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fastrnn.h"

static int64_t gates_of(fastrnn_cell cell) {
    return cell == FASTRNN_CELL_LSTM ? 4 : cell == FASTRNN_CELL_GRU ? 3 : 1;
}

/* Rows the workspace holds: the P prime steps, or the one step of a drawn token. */
static int64_t rows_of(const fastrnn_generate_dims *d) { return d->P > 1 ? d->P : 1; }

/* Sizes positive (P >= 0), G*H, K and P within the BLAS's int, the workspace's count within
 * int64_t, a known cell and nonlinearity, top_k >= 0. */
static int generate_dims_ok(const fastrnn_generate_dims *d) {
    if (d == NULL) return 0;
    if (d->cell != FASTRNN_CELL_RNN && d->cell != FASTRNN_CELL_LSTM && d->cell != FASTRNN_CELL_GRU)
        return 0;
    if (d->f != FASTRNN_TANH && d->f != FASTRNN_RELU) return 0;
    if (d->L < 1 || d->H < 1 || d->K < 1 || d->P < 0 || d->top_k < 0) return 0;
    const int64_t G = gates_of(d->cell);
    if (d->K > FASTRNN_MAX_GEMM_DIM || d->H > FASTRNN_MAX_GEMM_DIM / G) return 0;
    if (d->P > FASTRNN_MAX_GEMM_DIM) return 0;
    return rows_of(d) <= INT64_MAX / 16 / (G * d->H);
}

/* Workspace of one layer's forward call over T steps with input size D (B = 1). */
static int64_t cell_work_len(const fastrnn_generate_dims *d, int64_t T, int64_t D) {
    const fastrnn_dims call = {T, 1, D, d->H};
    switch (d->cell) {
        case FASTRNN_CELL_LSTM:
            return fastrnn_lstm_forward_work_len(&call);
        case FASTRNN_CELL_GRU:
            return fastrnn_gru_forward_work_len(&call);
        default:
            return fastrnn_rnn_forward_work_len(&call);
    }
}

/* The largest of the cell's workspaces over the calls the kernel makes: every layer (input
 * size G*H for layer 0, H above) over the prime's steps and over one step. */
static int64_t max_cell_work_len(const fastrnn_generate_dims *d) {
    int64_t most = 0;
    const int64_t T[2] = {rows_of(d), 1}, D[2] = {gates_of(d->cell) * d->H, d->H};
    for (int t = 0; t < 2; ++t)
        for (int k = 0; k < (d->L > 1 ? 2 : 1); ++k) {
            const int64_t len = cell_work_len(d, T[t], D[k]);
            most = len > most ? len : most;
        }
    return most;
}

int64_t fastrnn_generate_work_len(const fastrnn_generate_dims *dims) {
    if (!generate_dims_ok(dims)) return 0;
    const int64_t n = rows_of(dims), GH = gates_of(dims->cell) * dims->H;
    /* for n rows: x (n,G*H) the looked-up columns, gates (n,G*H), two (n,H) for the states
     * of a layer and of the one below, c (n,H) the LSTM's cell states; then the cell
     * kernel's own workspace */
    return n * (2 * GH + 3 * dims->H) + max_cell_work_len(dims);
}

int64_t fastrnn_generate_draw_work_len(const fastrnn_generate_dims *dims) {
    if (!generate_dims_ok(dims)) return 0;
    return 2 * dims->K; /* p, then its cdf (K), and a copy of p to select the top_k-th in */
}

/* Swaps a[i] and a[j]. */
static void swap(double *a, int64_t i, int64_t j) {
    const double t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* The value at index n of a (K) sorted ascending (0 <= n < K); a is reordered. No NaN in
 * a. Quickselect with a median-of-three pivot and a three-way partition, so that runs of
 * equal values (probabilities that underflowed to 0) cost one pass, not a quadratic sort. */
static double select_nth(int64_t K, int64_t n, double *a) {
    int64_t lo = 0, hi = K - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap(a, mid, lo);
        if (a[hi] < a[lo]) swap(a, hi, lo);
        if (a[hi] < a[mid]) swap(a, hi, mid);
        const double pivot = a[mid];
        /* a[lo:lt] < pivot, a[lt:i] == pivot, a[gt+1:hi+1] > pivot */
        int64_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            if (a[i] < pivot)
                swap(a, lt++, i++);
            else if (a[i] > pivot)
                swap(a, i, gt--);
            else
                ++i;
        }
        if (n < lt)
            hi = lt - 1;
        else if (n > gt)
            lo = gt + 1;
        else
            return pivot;
    }
    return a[lo];
}

/* The threshold v of the top_k cut of p (K), 0 < top_k < K: keep the p[j] >= v. Returns 0
 * when the cut is not decided by the values: the top_k-th largest value is nonzero and
 * shared by entries on both sides of the cut (lm.draw's argpartition then picks some of
 * them). A tie at 0 does not matter, the kept zeros add nothing. No NaN in p. */
static int top_k_threshold(int64_t K, int64_t top_k, const double *restrict p,
                           double *restrict scratch, double *v) {
    for (int64_t j = 0; j < K; ++j) scratch[j] = p[j];
    *v = select_nth(K, K - top_k, scratch);
    int64_t at_least = 0;
    for (int64_t j = 0; j < K; ++j) at_least += p[j] >= *v;
    return at_least == top_k || *v == 0;
}

/* lm.draw with the uniform u given, on p (K) in double: the index, or -1 when it must be
 * left to lm.draw (p not finite or negative, an undecided top_k cut). p is overwritten
 * with the cumulative sums; scratch (K) is for the top_k cut. */
static int64_t draw(int64_t K, int64_t top_k, double u, double *restrict p,
                    double *restrict scratch) {
    for (int64_t j = 0; j < K; ++j)
        if (!(isfinite(p[j]) && p[j] >= 0)) return -1;
    if (top_k > 0 && top_k < K) {
        double v;
        if (!top_k_threshold(K, top_k, p, scratch, &v)) return -1;
        for (int64_t j = 0; j < K; ++j) p[j] = p[j] >= v ? p[j] : 0;
    }
    /* cdf = np.cumsum(p): one running sum, in order */
    double *cdf = p, total = 0;
    for (int64_t j = 0; j < K; ++j) cdf[j] = total += cdf[j];
    if (!(isfinite(total) && total > 0)) return -1;
    /* searchsorted(cdf, u * total, side="right"): the first j with cdf[j] > u * total; j < K
     * for u in [0, 1) (u * total rounds below total), kept as a check */
    const double target = u * total;
    int64_t lo = 0, hi = K;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < K ? lo : -1;
}

#define real float
#define FR_SUFFIX(name) name##_f32
#define FR_LM fastrnn_lm_f32
#include "generate_impl.h"
#undef real
#undef FR_SUFFIX
#undef FR_LM

#define real double
#define FR_SUFFIX(name) name##_f64
#define FR_LM fastrnn_lm_f64
#include "generate_impl.h"
#undef real
#undef FR_SUFFIX
#undef FR_LM
