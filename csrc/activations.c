/* Vectorizable tanh, sigmoid and exp for the kernels' elementwise passes: the array
 * functions of fastrnn.h over the scalar functions of activations.h (their method and
 * accuracy are described there).
 *
 * libm's tanh is a scalar call per element (about 30 ns for tanhf here) and dominated the
 * small-batch RNN step, where the GEMM itself takes less. The scalar functions are
 * branch-free, so the compiler vectorizes these loops, and they are cloned for AVX2 and
 * AVX-512 when the compiler can dispatch at load time (the default build targets baseline
 * x86-64). The plain twins are libm's tanh and exp (FASTRNN_LIBM_TANH=1 at compile time
 * switches to them); tests compare these functions with NumPy's. */
#include "activations.h"

#include <math.h>
#include <stdint.h>

#include "fastrnn.h"
#include "simd.h"

FASTRNN_SIMD_CLONES
void fastrnn_tanh_f64(int64_t n, double *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = tanh(a[i]);
#else
    for (int64_t i = 0; i < n; ++i) a[i] = tanh_one_f64(a[i]);
#endif
}

FASTRNN_SIMD_CLONES
void fastrnn_tanh_f32(int64_t n, float *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = tanhf(a[i]);
#else
    for (int64_t i = 0; i < n; ++i) a[i] = tanh_one_f32(a[i]);
#endif
}

FASTRNN_SIMD_CLONES
void fastrnn_exp_f64(int64_t n, double *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = exp(a[i]);
#else
    for (int64_t i = 0; i < n; ++i) a[i] = exp_one_f64(a[i]);
#endif
}

FASTRNN_SIMD_CLONES
void fastrnn_exp_f32(int64_t n, float *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = expf(a[i]);
#else
    for (int64_t i = 0; i < n; ++i) a[i] = exp_one_f32(a[i]);
#endif
}

FASTRNN_SIMD_CLONES
void fastrnn_sigmoid_f64(int64_t n, double *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = 1 / (1 + exp(-a[i]));
#else
    for (int64_t i = 0; i < n; ++i) a[i] = sigmoid_one_f64(a[i]);
#endif
}

FASTRNN_SIMD_CLONES
void fastrnn_sigmoid_f32(int64_t n, float *a) {
#if FASTRNN_LIBM_TANH
    for (int64_t i = 0; i < n; ++i) a[i] = 1 / (1 + expf(-a[i]));
#else
    for (int64_t i = 0; i < n; ++i) a[i] = sigmoid_one_f32(a[i]);
#endif
}
