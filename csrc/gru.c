/* GRU kernels, PyTorch's cell (b_hn inside the reset product), and BPTT (full or with the
 * per-output window):
 *   [r, z] = sigmoid(U_rz x_t + b_ih_rz + W_rz s_{t-1} + b_hh_rz)
 *   n = tanh(U_n x_t + b_in + r * hn_t),   hn_t = W_n s_{t-1} + b_hn
 *   s_t = (1 - z) * n + z * s_{t-1}
 *
 * Legend: x (T,B,D) inputs, s (T,B,H) hidden states, s0 (B,H) the state before step 0,
 * U (3H,D) and W (3H,H) the gates' weights stacked in the order r, z, n (torch's weight_ih
 * and weight_hh), b_ih and b_hh (3H,); gates (T,B,3H) the gate values r, z, n of every
 * step; hn = W_n s_{t-1} the recurrent part of n's pre-activation, which r multiplies; the
 * forward pass does not keep it, the backward recomputes it; gradients are "d" + name.
 * Time-major, C-contiguous.
 * U may be NULL: x is then the input projection U x_t itself (T,B,3H), for token input
 * (an embedding lookup), and the backward pass's dx is the gradient on it.
 *
 * Shape of the work, so that only one recurrent product runs per step:
 *   forward   one GEMM for the input term of all three gates over all T*B rows (on U
 *             packed once per call while it fits in L2, gru_packs_U below), then per
 *             step one GEMM s_{t-1} @ W.T (B,3H) for all three gates (W.T transposed once
 *             per call; the product goes to a workspace, since r multiplies the n block
 *             before it is added; or W packed once per call, see cells.h), and one
 *             elementwise function over the step's rows (compiled for AVX-512 and AVX2 too,
 *             simd.h): the biases, the vectorized sigmoid and tanh on the gate blocks, s_t.
 *   inference the same, but with the gates projected about 512 rows (whole steps) at a
 *             time into one workspace buffer (cells.h), so that nothing of T*B*3H is held
 *             (fastrnn_gru_infer); a GEMM of 512 rows still runs near
 *             full speed. For the larger B and H (cell_streams in cells.h) it runs in the
 *             transposed domain instead, the batch on the columns, U and W read in place
 *             (stream_gemm.h; gru_infer_streamed): O(B*(D + 3H)) of workspace, no packed W
 *             and no chunk of steps.
 *   backward  a sequential sweep computes the gradients of both pre-activation terms,
 *             dgx = dL/d(U x_t + b_ih) and dgh = dL/d(W s_{t-1} + b_hh) (B,3H), whose r
 *             and z blocks are the same: dgx and dgh's n block dhn (B,H) are written, and
 *             what reaches s_{t-1} is two products per step, dgx's r and z blocks @ W's
 *             (2H,H) rows and dhn @ W's last H rows (packed once per call when the
 *             forward's W is); the bias gradients are summed in the same pass. dgx and dhn
 *             are kept for a chunk of about 512 rows (whole steps, as in inference), and hn
 *             for the chunk is recomputed before the sweep enters it, one GEMM
 *             s_{t-1} @ W_n.T over its rows: 1/18 more of training's multiply-adds, where
 *             keeping it from the forward would hold T*B*H more (a third of the gates) for
 *             the whole call. Once the sweep has passed a chunk, its share of dU, dW and
 *             its rows of dx are GEMMs over the chunk's rows (dx on U packed, as in the
 *             forward). The per-output window keeps dgx and dgh for all steps and runs
 *             those GEMMs once.
 * The bodies live in gru_impl.h (and cells_impl.h), instantiated for float and double. */
#include <stddef.h>
#include <string.h>

#include "blas.h"
#include "cells.h"
#include "fastrnn.h"
#include "simd.h"

/* The products over all rows with U (the input projection x @ U.T and dx = dgx @ U) go to
 * the packed kernels, U packed once per call, while U packed stays well inside L2 (2 MB
 * here), as in rnn.c: OpenBLAS's GEMM packs both operands on every call and zeroes its
 * output first. gru_packs_U says whether there is room for it (whatever the CPU, so that
 * the workspace length does not depend on it), gru_uses_packed_U whether a call uses it. */
static int gru_packs_U(const fastrnn_dims *d) { return d->D * 3 * d->H <= 512 * 512; }
static int gru_uses_packed_U(const fastrnn_dims *d) {
    return gru_packs_U(d) && cell_uses_packed(d) && d->T * d->B >= 128;
}

/* Elements for U packed as the (K,N) right-hand side: U.T (D,3H) for the projection, U
 * (3H,D) for dx; none when it does not fit. */
static int64_t gru_packed_U_len(const fastrnn_dims *d, int64_t K, int64_t N) {
    return gru_packs_U(d) ? cell_pack_len(K, N) : 0;
}

int64_t fastrnn_gru_forward_work_len(const fastrnn_dims *dims) {
    if (!cell_dims_ok(dims, 3)) return 0;
    /* W.T (H,3H), packed or not, s_{t-1} @ W.T of one step (B,3H), the biases (4H, see
     * gru_impl.h) and U packed (when it fits) */
    return cell_pack_len(dims->H, 3 * dims->H) + (dims->B * 3 + 4) * dims->H +
           gru_packed_U_len(dims, dims->D, 3 * dims->H);
}

int64_t fastrnn_gru_infer_work_len(const fastrnn_dims *dims) {
    if (!cell_dims_ok(dims, 3)) return 0;
    /* in the transposed domain: the biases (4H), x_t.T (D,B), a.T (3H,B), hn.T and h.T
     * (H,B) (gru_infer_streamed in gru_impl.h) */
    if (cell_streams(dims)) return 4 * dims->H + dims->B * (dims->D + 5 * dims->H);
    /* the forward's, then the gates of one chunk of steps (cells.h) */
    return fastrnn_gru_forward_work_len(dims) + cell_chunk_steps(dims) * 3 * dims->B * dims->H;
}

int64_t fastrnn_gru_backward_work_len(const fastrnn_dims *dims, int64_t truncate) {
    if (!cell_dims_ok(dims, 3)) return 0;
    const int64_t states = dims->T * dims->B * dims->H, G = 3 * dims->H;
    /* Full BPTT: W's r and z rows (2H,H) and its n rows (H,H) packed, dgx, dhn and hn for a
     * chunk of steps (cells.h), (rows,3H), (rows,H) and (rows,H), b_hn (H), 2 * 4H for the
     * bias gradients' sums and U packed (when it fits; gru_backward_sweep in gru_impl.h). A
     * window shorter than the sequence: dgx and dgh (T,B,3H), 3H for the partial sums, the
     * lag-by-lag buffers dgx_lag, dgh_lag (T,B,3H) and gs (T,B,H) (gru_backward_truncated),
     * hn (T,B,H) and b_hn (H). */
    if (truncate < 0 || truncate >= dims->T - 1)
        return cell_pack_len(2 * dims->H, dims->H) + cell_pack_len(dims->H, dims->H) +
               cell_chunk_steps(dims) * dims->B * 5 * dims->H + 9 * dims->H +
               gru_packed_U_len(dims, G, dims->D);
    return 14 * states + G + dims->H;
}

#define real float
#define FR_SUFFIX(name) name##_f32
#include "cells_impl.h"
#include "gru_impl.h"
#undef real
#undef FR_SUFFIX

#define real double
#define FR_SUFFIX(name) name##_f64
#include "cells_impl.h"
#include "gru_impl.h"
#undef real
#undef FR_SUFFIX
