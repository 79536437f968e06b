/* Internal to the gated cells (lstm.c, gru.c), not part of the public API: the size check.
 * Their typed helpers are in cells_impl.h. */
#ifndef FASTRNN_CELLS_H
#define FASTRNN_CELLS_H

#include <stddef.h>
#include <stdint.h>

#include "fastrnn.h"

/* Sizes must be positive; every GEMM dimension (T*B rows, G*H gate columns, D) must fit
 * the BLAS's int; and T*B*G*H times the few buffers a workspace holds must fit int64_t.
 * G is the number of gates (4 for the LSTM, 3 for the GRU). */
static inline int cell_dims_ok(const fastrnn_dims *d, int64_t G) {
    if (d == NULL) return 0;
    if (d->T < 1 || d->B < 1 || d->D < 1 || d->H < 1) return 0;
    if (d->D > FASTRNN_MAX_GEMM_DIM || d->H > FASTRNN_MAX_GEMM_DIM / G) return 0;
    if (d->T > FASTRNN_MAX_GEMM_DIM / d->B) return 0;
    if (d->T * d->B > INT64_MAX / 16 / (G * d->H)) return 0;
    return 1;
}

/* Rows per partial sum in the bias gradients (sum_rows in cells_impl.h). */
#define CELL_ROW_BLOCK 64

/* Side of the square tiles of transpose in cells_impl.h. */
#define CELL_TILE 32

#endif /* FASTRNN_CELLS_H */
