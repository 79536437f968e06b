/* Vanilla RNN kernels: s_t = f(U x_t + W s_{t-1} + b), f = tanh or relu, and BPTT.
 *
 * Legend: x (T,B,D) inputs, s (T,B,H) hidden states, s0 (B,H) the state before step 0,
 * U (H,D), W (H,H), b (H,); gradients are "d" + name. Time-major, C-contiguous.
 *
 * Shape of the work, so that only the recurrent product runs per step:
 *   forward   one GEMM for U x_t over all T*B rows, then per step s_t += s_{t-1} W.T, f.
 *   backward  a sequential sweep computes da_t = dL/d(pre-activation at t) step by step;
 *             full BPTT keeps da for a chunk of steps only and forms that chunk's share of
 *             dU, dW, db and its rows of dx (one large GEMM each) once the sweep has passed
 *             it; the truncated window keeps da of every step, then one GEMM each.
 * The per-step products use W packed once per call (packed_gemm.h) when the CPU allows,
 * and so do the input projection and dx with U packed, for U up to 512 x 512 elements;
 * full BPTT's dU and dW then read da, x and s in place (fastrnn_tn_gemm) up to H = 256;
 * the forward of a large W reads it in place instead (stream_gemm.h, forward_streams).
 * The bodies live in rnn_impl.h, instantiated here for float and double. */
#include <stddef.h>

#include "blas.h"
#include "fastrnn.h"
#include "packed_gemm.h"
#include "stream_gemm.h"

/* Sizes must be positive, every GEMM dimension (at most T*B rows) must fit the BLAS's int,
 * and the largest element counts below, the backward's 3 T*B*H + H or at most T*B*H + 2 H
 * + a packed (H,H) (under H^2 + 17 H) of workspace, plus a packed U when D*H <= 512^2 (a few million),
 * must fit int64_t. */
static int rnn_dims_ok(const fastrnn_dims *d) {
    if (d == NULL) return 0;
    if (d->T < 1 || d->B < 1 || d->D < 1 || d->H < 1) return 0;
    if (d->D > FASTRNN_MAX_GEMM_DIM || d->H > FASTRNN_MAX_GEMM_DIM) return 0;
    if (d->T > FASTRNN_MAX_GEMM_DIM / d->B) return 0;
    if (d->T * d->B > INT64_MAX / 4 / d->H) return 0;
    return 1;
}

/* The per-step products go to the packed kernels (packed_gemm.h) when the CPU has their
 * SIMD version: W is packed once per call into the workspace, where a BLAS GEMM re-packs
 * it at every step. Measured per step against OpenBLAS, one thread: 1 x 100 x 100 0.20 us
 * against 0.38 (GEMV), 16 x 128 x 128 3.4 against 4.8 us, 32 x 256 x 256 26 against 43 us,
 * 64 x 1024 x 1024 1.48 against 1.60 ms. Without it, the BLAS path below runs. */
static int uses_packed(const fastrnn_dims *d) { return fastrnn_packing_pays(d->T, d->B); }

/* Full BPTT's dU and dW go to fastrnn_tn_gemm (packed_gemm.h), which reads da and x or s
 * in place where a BLAS packs both (OpenBLAS's copies were a fifth of its products' time at
 * the small shape), while dU and dW stay in L2: the kernel sweeps them once per 128 rows.
 * Measured one thread, backward alone, interleaved with the BLAS path (CPU time, shared
 * machine): 16 x 128 x 128 steps 1.07x, 32 x 256 x 256 1.02-1.035x; the large shape
 * (4 MiB of dW) keeps OpenBLAS. */
#ifndef RNN_TN_MAX
#define RNN_TN_MAX (256 * 256)
#endif
static int tn_pays(const fastrnn_dims *d) {
    return fastrnn_packed_gemm_is_simd() && d->H * (d->D > d->H ? d->D : d->H) <= RNN_TN_MAX;
}

/* Elements for a packed (H,H) W of either precision (float's panels are the wider). */
static int64_t packed_W_len(const fastrnn_dims *d) {
    const int64_t f32 = fastrnn_pack_len_f32(d->H, d->H), f64 = fastrnn_pack_len_f64(d->H, d->H);
    return f32 > f64 ? f32 : f64;
}

/* The products over all steps with U (the input projection x @ U.T and dx = da @ U) go
 * to the packed kernels too while U packed stays well inside L2 (2 MB here), where they
 * beat OpenBLAS's GEMM (which packs both operands): measured one thread, T*B x 128 x 128
 * 0.32 against 0.40 ms, 256 x 256 2.9-3.0 against 3.2-3.3 ms; at 1024 x 1024 the packed
 * projection lost (98.7 against 91.3 ms), so OpenBLAS keeps those. */
static int packed_U_fits(const fastrnn_dims *d) { return d->D * d->H <= 512 * 512; }
static int uses_packed_U(const fastrnn_dims *d) { return uses_packed(d) && packed_U_fits(d); }

/* dx packs U once more (untransposed) for a product of T*B rows: at 50 x 100 x 100 (the
 * tutorial's one row by 50 steps) that lost, 9 against 7 us, from 200 rows on it wins
 * (29 against 33 us); the projection wins at both (10 against 12, 30 against 34 us). */
static int dx_uses_packed_U(const fastrnn_dims *d) {
    return uses_packed_U(d) && d->T * d->B >= 128;
}

/* Elements for a packed U of either precision, as U.T (D,H) for the forward's input
 * projection or as U (H,D) for dx; none when it does not fit. */
static int64_t packed_U_len(const fastrnn_dims *d) {
    if (!packed_U_fits(d)) return 0;
    int64_t len = 0;
    const int64_t lens[4] = {fastrnn_pack_len_f32(d->D, d->H), fastrnn_pack_len_f64(d->D, d->H),
                             fastrnn_pack_len_f32(d->H, d->D), fastrnn_pack_len_f64(d->H, d->D)};
    for (int i = 0; i < 4; ++i) len = lens[i] > len ? lens[i] : len;
    return len;
}

/* On the BLAS path with more than one row per step, the forward keeps W.T in the
 * workspace: OpenBLAS runs s_{t-1} @ W.T up to 1.7x slower as a transposed GEMM than
 * s_{t-1} @ (W.T copy) for the small per-step products (16 x 128 x 128 measured); one row
 * goes to GEMV either way. */
static int forward_transposes_W(const fastrnn_dims *d) { return d->B > 1; }

/* The forward runs its recurrence with W read in place (stream_gemm.h), in the transposed
 * domain: two (H,B) states of workspace instead of a packed W (H*H, 4 MiB of float32 at
 * H = 1024), so that inference needs O(B*H) beyond its inputs and outputs (issue 7).
 * Where W is small the packed products stay: the streamed product alone ran 5-17% slower
 * at 16 x 128 x 128 and 32 x 256 x 256 (one thread, loaded machine), where at
 * 64 x 1024 x 1024 the whole forward ran as fast within the noise (best of 7 interleaved
 * runs: 198-211 ms against 197 packed; the transposes take ~2.5%). With fewer than 16
 * rows a tile of the streamed product would mostly hold padding lanes. Without the SIMD
 * kernel, the streaming shapes run the BLAS on W as it is. */
#ifndef RNN_STREAM_MIN_H /* set smaller by the C tests, to reach the path on small problems */
#define RNN_STREAM_MIN_H 512
#endif
static int forward_streams(const fastrnn_dims *d) { return d->B >= 16 && d->H >= RNN_STREAM_MIN_H; }

/* Elements of the forward's workspace before the packed U: the packed W or W.T, whichever
 * path runs (the length must not depend on the CPU), or the two states of streaming. */
static int64_t forward_W_len(const fastrnn_dims *d) {
    return forward_streams(d) ? 2 * d->B * d->H : packed_W_len(d);
}

int64_t fastrnn_rnn_forward_work_len(const fastrnn_dims *dims) {
    if (!rnn_dims_ok(dims)) return 0;
    return forward_W_len(dims) + packed_U_len(dims); /* then the packed U.T */
}

/* Steps per chunk of full BPTT's da (backward_full in rnn_impl.h): about
 * RNN_CHUNK_ELEMENTS elements of da but at least RNN_CHUNK_ROWS rows, so that the chunk's
 * products keep GEMM shapes, at least one step, at most T, and the chunks balanced (equal
 * but for one, less by < 1 step per chunk). Every step at once up to 4096 rows at H = 256
 * (the small and medium shapes: one chunk); the large shape (B = 64, H = 1024) keeps 15
 * steps, 3.75 MiB of float32, where da of every step was 25 MiB. Smaller chunks cost time:
 * each chunk's dU and dW products read and write their (H,D), (H,H) results once more
 * (at 512K elements, 8 steps there, training measured ~2% slower, at 1M ~1%). */
#ifndef RNN_CHUNK_ELEMENTS /* set smaller by the C tests, to split small problems */
#define RNN_CHUNK_ELEMENTS (1024 * 1024)
#endif
#ifndef RNN_CHUNK_ROWS
#define RNN_CHUNK_ROWS 512
#endif
static int64_t backward_chunk_steps(const fastrnn_dims *d) {
    int64_t rows = RNN_CHUNK_ELEMENTS / d->H;
    rows = rows < RNN_CHUNK_ROWS ? RNN_CHUNK_ROWS : rows;
    int64_t steps = rows / d->B;
    steps = steps < 1 ? 1 : steps > d->T ? d->T : steps;
    const int64_t chunks = (d->T + steps - 1) / steps;
    return (d->T + chunks - 1) / chunks;
}

int64_t fastrnn_rnn_backward_work_len(const fastrnn_dims *dims, int64_t truncate) {
    if (!rnn_dims_ok(dims)) return 0;
    const int64_t states = dims->T * dims->B * dims->H;
    /* Full BPTT: the packed W, the packed U, da of a chunk of steps, 2 H for db's partial
     * sums. A window shorter than the sequence: da of every step, H for the partial sums
     * of db, the two buffers of the lag-by-lag propagation (backward_truncated in
     * rnn_impl.h), the packed U. */
    const int full = truncate < 0 || truncate >= dims->T - 1;
    if (full)
        return packed_W_len(dims) + packed_U_len(dims) +
               backward_chunk_steps(dims) * dims->B * dims->H + 2 * dims->H;
    return 3 * states + dims->H + packed_U_len(dims);
}

/* Rows per partial sum in the bias gradient. */
#define ROW_BLOCK 64

#define real float
#define FR_SUFFIX(name) name##_f32
#include "rnn_impl.h"
#undef real
#undef FR_SUFFIX

#define real double
#define FR_SUFFIX(name) name##_f64
#include "rnn_impl.h"
#undef real
#undef FR_SUFFIX
