/* Language-model kernels: token input by embedding lookup, and the output layer
 * o_t = softmax(V s_t + c) fused with its cross-entropy loss and gradients.
 *
 * Legend: ids (T,B) token ids in [0, D), U (H,D) input weights (a one-hot times U is a
 * column of U), x (T,B,H) the looked-up columns; s (T,B,H) hidden states, V (K,H), c (K,),
 * targets (T,B) in [0, K), mask (T,B). Gradients are "d" + name. Time-major, C-contiguous.
 *
 * Shape of the work: the T*B rows of the output layer are one block, so the logits
 * s @ V.T, dV = dz.T @ s and ds = dz @ V are one GEMM each over all steps, and the
 * exponentials run in one vectorized pass (fastrnn_exp_*) over all T*B*K logits; in double,
 * a few rows against a large V take the thin path below instead.
 * The bodies live in lm_impl.h, instantiated here for float and double. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "blas.h"
#include "fastrnn.h"

/* Every GEMM dimension (at most T*B rows, H or K columns) must fit the BLAS's int; then
 * every element count below, T*B*max(H, K), fits int64_t as well. */
static int embedding_dims_ok(const fastrnn_dims *d) {
    if (d == NULL) return 0;
    if (d->T < 1 || d->B < 1 || d->D < 1 || d->H < 1) return 0;
    if (d->D > FASTRNN_MAX_GEMM_DIM || d->H > FASTRNN_MAX_GEMM_DIM) return 0;
    return d->T <= FASTRNN_MAX_GEMM_DIM / d->B;
}

static int softmax_dims_ok(const fastrnn_softmax_dims *d) {
    if (d == NULL) return 0;
    if (d->T < 1 || d->B < 1 || d->H < 1 || d->K < 1) return 0;
    if (d->H > FASTRNN_MAX_GEMM_DIM || d->K > FASTRNN_MAX_GEMM_DIM) return 0;
    return d->T <= FASTRNN_MAX_GEMM_DIM / d->B;
}

/* 1 when every one of the n ids lies in [0, size). Kernels check before any write, so
 * that a bad id can never index outside an array. */
static int ids_in_range(int64_t n, const int64_t *ids, int64_t size) {
    int ok = 1;
    for (int64_t r = 0; r < n; ++r) ok &= ids[r] >= 0 && ids[r] < size;
    return ok;
}

/* The thin path of softmax_loss (lm_impl.h), double only: when the T*B rows fit in
 * THIN_VECS vectors of 8 doubles, one pass over V in blocks computes the logits, their
 * exponentials and ds with the rows across the lanes of GCC/Clang vector extensions, and a
 * second pass over the kept exponentials (not V) writes dV. The BLAS path packs all of V
 * (and zero-fills dV) in every call, writes the (rows, K) logits out and reads them back
 * three times, which at so few rows costs about as much as the multiply-adds. (In float,
 * 16 lanes pad more, and ds summed over K in one chain loses more than sgemm's blocked
 * sums.) Each function is compiled for AVX-512, AVX2 and baseline x86-64, chosen at load
 * time, like activations.c. */
#if defined(__GNUC__) && !defined(FASTRNN_NO_THIN)
#define THIN 1
#else
#define THIN 0
#endif
#define THIN_VECS 3
#define THIN_BLOCK 8  /* rows of V per block */
#define THIN_ALIGN 16 /* elements of slack to start a buffer on a 64-byte boundary */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define THIN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define THIN_CLONES
#endif

/* n rounded up to a multiple of m */
static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Elements the thin path needs, or 0 when rows is too many for it: slack to align the
 * buffers to 64 bytes, sT (H, L) for L = rows rounded up to 8, dsA and a copy of s (L, H
 * rounded up to a vector), the exponentials (K rounded up to THIN_BLOCK, L) and each
 * block's running maximum (L), a zero-padded last block of V (THIN_BLOCK, H) and a block
 * of dL/dz (THIN_BLOCK, L). */
static int64_t thin_work_len(int64_t rows, int64_t H, int64_t K) {
    if (!THIN || rows > THIN_VECS * 8) return 0;
    const int64_t L = round_up(rows, 8), Kp = round_up(K, THIN_BLOCK);
    return THIN_ALIGN + H * L + 2 * L * round_up(H, 16) + Kp * L + Kp / THIN_BLOCK * L +
           THIN_BLOCK * H + THIN_BLOCK * L;
}

int64_t fastrnn_softmax_loss_work_len(const fastrnn_softmax_dims *dims) {
    if (!softmax_dims_ok(dims)) return 0;
    const int64_t rows = dims->T * dims->B;
    /* the BLAS path: dz (T*B, K) for the logits and their gradient, then T*B: the shifted
     * target logits, later a vector of ones for dc; or the thin path's */
    const int64_t blas = rows * dims->K + rows, thin = thin_work_len(rows, dims->H, dims->K);
    return blas > thin ? blas : thin;
}

/* tutorial_bptt's dims: T, B, D the vocabulary (input and output), H; every kernel it
 * calls accepts them, and its workspace (below) fits int64_t. */
static int tutorial_dims_ok(const fastrnn_dims *d) {
    if (!embedding_dims_ok(d)) return 0;
    const fastrnn_softmax_dims out = {d->T, d->B, d->H, d->D};
    return softmax_dims_ok(&out) && d->T * d->B <= INT64_MAX / 8 / d->H;
}

/* The window tutorial_bptt passes to rnn_backward: -1 (exact) when it covers the
 * sentence, as fastrnn._fast.rnn_backward does. */
static int64_t tutorial_window(const fastrnn_dims *d, int64_t truncate) {
    return truncate >= d->T - 1 ? -1 : truncate;
}

int64_t fastrnn_tutorial_bptt_work_len(const fastrnn_dims *dims, int64_t truncate) {
    if (!tutorial_dims_ok(dims)) return 0;
    const fastrnn_dims rnn = {dims->T, dims->B, dims->H, dims->H};
    const fastrnn_softmax_dims out = {dims->T, dims->B, dims->H, dims->D};
    /* x, s, ds, dx (T,B,H), s0 and ds0 (B,H), then the largest of the kernels' own */
    int64_t rest = fastrnn_rnn_forward_work_len(&rnn);
    const int64_t loss = fastrnn_softmax_loss_work_len(&out);
    const int64_t back =
        truncate < 0 ? 0 : fastrnn_rnn_backward_work_len(&rnn, tutorial_window(dims, truncate));
    rest = loss > rest ? loss : rest;
    rest = back > rest ? back : rest;
    return 4 * dims->T * dims->B * dims->H + 2 * dims->B * dims->H + rest;
}

#define real float
#define FR_SUFFIX(name) name##_f32
#define FR_THIN 0
#include "lm_impl.h"
#undef real
#undef FR_SUFFIX
#undef FR_THIN

#define real double
#define FR_SUFFIX(name) name##_f64
#define FR_THIN THIN
#include "lm_impl.h"
#undef real
#undef FR_SUFFIX
#undef FR_THIN
