/* LSTM kernels, PyTorch's cell, and BPTT (full or with the per-output window):
 *   [i, f, g, o] = [sigmoid, sigmoid, tanh, sigmoid](U x_t + b_ih + W s_{t-1} + b_hh)
 *   c_t = f * c_{t-1} + i * g,    s_t = o * tanh(c_t)
 *
 * Legend: x (T,B,D) inputs, s (T,B,H) hidden states, c (T,B,H) cell states, s0 and c0
 * (B,H) the states before step 0, U (4H,D) and W (4H,H) the gates' weights stacked in the
 * order i, f, g, o (torch's weight_ih and weight_hh), b_ih and b_hh (4H,); gates (T,B,4H)
 * the gate values i, f, g, o of every step; gradients are "d" + name. Time-major,
 * C-contiguous.
 * U may be NULL: x is then the input projection U x_t itself (T,B,4H), for token input
 * (an embedding lookup), and the backward pass's dx is the gradient on it.
 *
 * Shape of the work, so that only one recurrent product runs per step:
 *   forward   one GEMM for the input term of all four gates over all T*B rows, then per
 *             step one GEMM s_{t-1} @ W.T (B,4H) for all four gates (W.T transposed once
 *             per call, or packed once per call, see cells.h), and one elementwise
 *             function over the step's rows (compiled for AVX-512 and AVX2 too, simd.h):
 *             the biases, the vectorized sigmoid and tanh on the gate blocks, c_t, s_t.
 *   inference the same, but with the gates projected about 512 rows (whole steps) at a
 *             time into one workspace buffer (cells.h), so that nothing of T*B*4H is held
 *             (fastrnn_lstm_infer); a GEMM of 512 rows still runs near full speed. Asked
 *             for c_T only, it keeps two (B,H) cell states, not T of them. For the larger
 *             B and H (cell_streams in cells.h) it runs in the transposed domain instead,
 *             the batch on the columns: a.T (4H,B) = U @ x_t.T + W @ s_{t-1}.T per step,
 *             U and W read in place (stream_gemm.h), then the cell on a.T and s_t
 *             transposed back (lstm_infer_streamed): O(B*(D + 4H)) of workspace, no
 *             packed W (16 MiB at H = 1024) and no chunk of steps.
 *   backward  a sequential sweep computes da_t = dL/d(pre-activations at t) (B,4H), one
 *             GEMM per step for what reaches s_{t-1} (W packed once per call when the
 *             forward's is); da is kept for a chunk of about 512 rows (whole steps, as in
 *             inference), and once the sweep has passed a chunk, its share of dU, dW and
 *             its rows of dx are each one GEMM over the chunk's rows (the per-output
 *             window keeps da of all steps and runs those GEMMs once, over all of them).
 * The bodies live in lstm_impl.h (and cells_impl.h), instantiated for float and double. */
#include <stddef.h>
#include <string.h>

#include "blas.h"
#include "cells.h"
#include "fastrnn.h"
#include "simd.h"

int64_t fastrnn_lstm_forward_work_len(const fastrnn_dims *dims) {
    if (!cell_dims_ok(dims, 4)) return 0;
    /* W.T (H,4H), packed or not, and b_ih + b_hh (4H) */
    return cell_pack_len(dims->H, 4 * dims->H) + 4 * dims->H;
}

int64_t fastrnn_lstm_infer_work_len(const fastrnn_dims *dims) {
    if (!cell_dims_ok(dims, 4)) return 0;
    /* in the transposed domain: the bias (4H), x_t.T (D,B), a.T (4H,B), h.T and c.T (H,B)
     * (lstm_infer_streamed in lstm_impl.h) */
    if (cell_streams(dims)) return 4 * dims->H + dims->B * (dims->D + 6 * dims->H);
    /* the forward's, the gates of one chunk of steps (cells.h), and the spare (B,H) cell
     * state of c_T-only calls (lstm_forward_chunks in lstm_impl.h) */
    return fastrnn_lstm_forward_work_len(dims) + cell_chunk_steps(dims) * dims->B * 4 * dims->H +
           dims->B * dims->H;
}

int64_t fastrnn_lstm_backward_work_len(const fastrnn_dims *dims, int64_t truncate) {
    if (!cell_dims_ok(dims, 4)) return 0;
    const int64_t states = dims->T * dims->B * dims->H, G = 4 * dims->H;
    /* Full BPTT: the packed W (4H,H), da for a chunk of steps (cells.h) and 2 * 4H for the
     * partial sums of db (lstm_backward_full in lstm_impl.h). A window shorter than the
     * sequence: da (T,B,4H), 4H for the partial sums of db, and the lag-by-lag buffers
     * da_lag (T,B,4H), gs and gc (T,B,H) (lstm_backward_truncated). */
    if (truncate < 0 || truncate >= dims->T - 1)
        return cell_pack_len(G, dims->H) + cell_chunk_steps(dims) * G * dims->B + 2 * G;
    return 10 * states + G;
}

#define real float
#define FR_SUFFIX(name) name##_f32
#include "cells_impl.h"
#include "lstm_impl.h"
#undef real
#undef FR_SUFFIX

#define real double
#define FR_SUFFIX(name) name##_f64
#include "cells_impl.h"
#include "lstm_impl.h"
#undef real
#undef FR_SUFFIX
