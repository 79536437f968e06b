/* Vectorizable tanh, sigmoid and exp for the kernels' elementwise passes.
 *
 * libm's tanh is a scalar call per element (about 30 ns for tanhf here) and dominated the
 * small-batch RNN step, where the GEMM itself takes less. These versions are branch-free,
 * so the compiler vectorizes the loops, and are cloned for AVX2 and AVX-512 when the
 * compiler can dispatch at load time (the default build targets baseline x86-64).
 *
 *   |x| < 0.3   x + x^3 P(x^2): tanh's Taylor series, truncated below the type's epsilon
 *               (the next term is < 5e-18 relative for double, < 2e-9 for float).
 *   |x| >= 0.3  sign(x) (1 - 2 / (exp(2|x|) + 1)): no cancellation there, since
 *               tanh(0.3) = 0.29 keeps the error within about 3 ulp.
 *   |x| clamped to 20 (double) or 10 (float) before exp: tanh is 1 in the type beyond.
 *   NaN propagates; tanh(-0) = -0; tanh(+-inf) = +-1.
 * exp uses Cody-Waite reduction y = n ln2 + r, |r| <= ln2/2, and a Taylor polynomial,
 * times 2^n assembled in the exponent bits of two normal halves, so that subnormal results
 * come out right (with a subnormal's precision), and 0 and inf past the ends of the range.
 *   sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|), so
 *   neither branch cancels.
 * The plain twins are libm's tanh and exp (FASTRNN_LIBM_TANH=1 at compile time switches to
 * them); tests compare these functions with NumPy's. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fastrnn.h"
#include "simd.h"

/* exp(y) for -745.2 <= y <= 709.78, the range of non-zero finite results. */
static inline double exp_bounded_f64(double y) {
    const double log2e = 1.4426950408889634, shifter = 0x1.8p52;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double kd = y * log2e + shifter; /* n = round(y / ln2) sits in the low bits */
    const double n = kd - shifter;
    const double r = (y - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^n as two normal halves, so that n from -1075 to 1024 (subnormal to largest
     * results) needs no special case */
    uint64_t kbits, shifter_bits;
    const double shifter_copy = shifter;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&shifter_bits, &shifter_copy, sizeof shifter_bits);
    const int64_t n_int = (int64_t)(kbits - shifter_bits), n_lo = n_int / 2;
    const uint64_t lo_bits = (uint64_t)(n_lo + 1023) << 52;
    const uint64_t hi_bits = (uint64_t)(n_int - n_lo + 1023) << 52;
    double lo, hi;
    memcpy(&lo, &lo_bits, sizeof lo);
    memcpy(&hi, &hi_bits, sizeof hi);
    return p * lo * hi;
}

/* exp(y) for -104 <= y <= 88.72. */
static inline float exp_bounded_f32(float y) {
    const float log2e = 1.44269504f, shifter = 0x1.8p23f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float kd = y * log2e + shifter;
    const float n = kd - shifter;
    const float r = (y - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 40320.0f; /* 1/8! */
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t kbits, shifter_bits;
    const float shifter_copy = shifter;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&shifter_bits, &shifter_copy, sizeof shifter_bits);
    const int32_t n_int = (int32_t)(kbits - shifter_bits), n_lo = n_int / 2;
    const uint32_t lo_bits = (uint32_t)(n_lo + 127) << 23;
    const uint32_t hi_bits = (uint32_t)(n_int - n_lo + 127) << 23;
    float lo, hi;
    memcpy(&lo, &lo_bits, sizeof lo);
    memcpy(&hi, &hi_bits, sizeof hi);
    return p * lo * hi;
}

static inline double tanh_one_f64(double x) {
    const double a = fabs(x);
    const double x2 = x * x;
    /* Taylor coefficients of tanh, x^3 .. x^23 */
    double p = -3.927832388331683e-05;
    p = p * x2 + 9.691537956929451e-05;
    p = p * x2 - 2.3912911424355248e-04;
    p = p * x2 + 5.90027440945586e-04;
    p = p * x2 - 1.4558343870513183e-03;
    p = p * x2 + 3.592128036572481e-03;
    p = p * x2 - 8.863235529902197e-03;
    p = p * x2 + 2.1869488536155203e-02;
    p = p * x2 - 5.396825396825397e-02;
    p = p * x2 + 1.3333333333333333e-01;
    p = p * x2 - 3.333333333333333e-01;
    const double small = x * (1 + x2 * p); /* keeps the sign of -0 */
    const double e = exp_bounded_f64(2 * (a < 20 ? a : 20));
    const double large = copysign(1 - 2 / (e + 1), x);
    const double t = a < 0.3 ? small : large;
    return x != x ? x : t;
}

static inline float tanh_one_f32(float x) {
    const float a = fabsf(x);
    const float x2 = x * x;
    float p = -8.863235529902197e-03f; /* x^3 .. x^11 */
    p = p * x2 + 2.1869488536155203e-02f;
    p = p * x2 - 5.396825396825397e-02f;
    p = p * x2 + 1.3333333333333333e-01f;
    p = p * x2 - 3.333333333333333e-01f;
    const float small = x * (1 + x2 * p);
    const float e = exp_bounded_f32(2 * (a < 10 ? a : 10));
    const float large = copysignf(1 - 2 / (e + 1), x);
    const float t = a < 0.3f ? small : large;
    return x != x ? x : t;
}

static inline double exp_one_f64(double y) {
    /* ln of half the smallest subnormal and of the largest finite double */
    const double bottom = -745.1332191019412, top = 709.782712893384;
    const double e = exp_bounded_f64(y < bottom ? bottom : (y > top ? top : y));
    return y < bottom ? 0.0 : (y > top ? (double)INFINITY : e); /* NaN falls through */
}

static inline float exp_one_f32(float y) {
    const float bottom = -103.972084f, top = 88.7228394f;
    const float e = exp_bounded_f32(y < bottom ? bottom : (y > top ? top : y));
    return y < bottom ? 0.0f : (y > top ? INFINITY : e);
}

static inline double sigmoid_one_f64(double x) {
    const double e = exp_one_f64(-fabs(x));
    const double r = 1 / (1 + e);
    return x >= 0 ? r : (x != x ? x : e * r);
}

static inline float sigmoid_one_f32(float x) {
    const float e = exp_one_f32(-fabsf(x));
    const float r = 1 / (1 + e);
    return x >= 0 ? r : (x != x ? x : e * r);
}

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
