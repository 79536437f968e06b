/* Generation (issue 7): one stream of tokens drawn from the language model of lm.py, the
 * whole loop in C (the Python loop spent ~100 us a token around ~5 us of arithmetic).
 *
 * Legend: L layers, H hidden size, K vocabulary (input ids and output classes), G gates
 * (1 RNN, 4 LSTM, 3 GRU); h (L,H) the layers' states (the LSTM's c (L,H) beside), U[0]
 * (G*H,K) the embedding, U[k] (G*H,H), W[k] (G*H,H), V (K,H), c (K,); u the uniforms.
 *
 * Shape of the work, per token: probs = softmax_forward(h[L-1]); the draw (inverse CDF in
 * double, as lm.draw does it with NumPy); then one step of every layer through the
 * public kernels with T = B = 1 (embedding_forward, rnn/lstm/gru_forward), so that every
 * state and probability is bit for bit what the step-by-step path computes: the same
 * kernels on the same numbers. What the draw cannot decide exactly as lm.draw would
 * (non-finite probabilities, a top_k cut inside a tie) goes back to the caller.
 * The bodies live in generate_impl.h, instantiated for float and double. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fastrnn.h"

static int64_t gates_of(fastrnn_cell cell) {
    return cell == FASTRNN_CELL_LSTM ? 4 : cell == FASTRNN_CELL_GRU ? 3 : 1;
}

/* Sizes positive, G*H and K within the BLAS's int (then every buffer below fits int64_t),
 * a known cell and nonlinearity, top_k >= 0. */
static int generate_dims_ok(const fastrnn_generate_dims *d) {
    if (d == NULL) return 0;
    if (d->cell != FASTRNN_CELL_RNN && d->cell != FASTRNN_CELL_LSTM && d->cell != FASTRNN_CELL_GRU)
        return 0;
    if (d->f != FASTRNN_TANH && d->f != FASTRNN_RELU) return 0;
    if (d->L < 1 || d->H < 1 || d->K < 1 || d->top_k < 0) return 0;
    return d->K <= FASTRNN_MAX_GEMM_DIM && d->H <= FASTRNN_MAX_GEMM_DIM / gates_of(d->cell);
}

/* Workspace of one layer's step (T = B = 1) with input size D. */
static int64_t cell_work_len(const fastrnn_generate_dims *d, int64_t D) {
    const fastrnn_dims step = {1, 1, D, d->H};
    switch (d->cell) {
        case FASTRNN_CELL_LSTM:
            return fastrnn_lstm_forward_work_len(&step);
        case FASTRNN_CELL_GRU:
            return fastrnn_gru_forward_work_len(&step);
        default:
            return fastrnn_rnn_forward_work_len(&step);
    }
}

static int64_t max_cell_work_len(const fastrnn_generate_dims *d) {
    const int64_t first = cell_work_len(d, gates_of(d->cell) * d->H);
    const int64_t other = d->L > 1 ? cell_work_len(d, d->H) : 0;
    return first > other ? first : other;
}

int64_t fastrnn_generate_work_len(const fastrnn_generate_dims *dims) {
    if (!generate_dims_ok(dims)) return 0;
    const int64_t GH = gates_of(dims->cell) * dims->H;
    /* x (G*H) the looked-up column, gates (G*H), s, c and hn (H) a layer's new states and
     * the GRU's recurrent n term, then the cell kernel's own workspace */
    return 2 * GH + 3 * dims->H + max_cell_work_len(dims);
}

int64_t fastrnn_generate_draw_work_len(const fastrnn_generate_dims *dims) {
    if (!generate_dims_ok(dims)) return 0;
    return 2 * dims->K; /* cdf (K), and a copy of p to select the top_k-th largest in */
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
