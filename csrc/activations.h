/* Internal: the scalar tanh, sigmoid and exp behind activations.c's array functions, as
 * static inline functions, so that an elementwise loop can call them per element and
 * still vectorize (the gated cells' fused passes, lstm_impl.h and gru_impl.h, inline them
 * into their loops, which FASTRNN_SIMD_CLONES compiles for AVX-512 and AVX2 too). They
 * are branch-free, so the compiler vectorizes the loops that call them.
 *
 *   exp    Cody-Waite reduction y = n ln2 + r, |r| <= ln2/2, a polynomial for exp(r),
 *          times 2^n assembled in the exponent bits of two normal halves, so that
 *          subnormal results come out right (with a subnormal's precision), and 0 and inf
 *          past the ends of the range.
 *   tanh   float: x P(x^2) / Q(x^2), a rational minimax fit of tanh on [0, 9.1]
 *          (relative error 2.4e-8 before rounding; tools/fit_activations.py), 1 beyond,
 *          where tanh rounds to 1 in float; never above 1.
 *          double: |x| < 0.3: x + x^3 P(x^2), tanh's Taylor series truncated below the
 *          type's epsilon (the next term is < 5e-18 relative); |x| >= 0.3: sign(x) (1 -
 *          2 / (exp(2|x|) + 1)), no cancellation there, since tanh(0.3) = 0.29 keeps the
 *          error within about 3 ulp; |x| clamped to 20 before exp: tanh is 1 beyond.
 *   sigmoid  1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|), so
 *          neither branch cancels. In float, e is carried as e 2^64, a normal number for
 *          every |x| <= 104, so that a subnormal result is rounded once, at the end.
 * All propagate NaN, tanh(-0) = -0, tanh(+-inf) = +-1, sigmoid(+-inf) = 1, 0.
 * The plain twins are libm's tanh and exp (FASTRNN_LIBM_TANH=1 at compile time switches
 * activations.c's array functions to them); tests/test_activations.py compares these
 * functions with NumPy's, and tests/c/test_activations.c checks every float. */
#ifndef FASTRNN_ACTIVATIONS_H
#define FASTRNN_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* 2^n (n an integer in float format, |n| < 2^22) as the bits of the integer that kd =
 * n + 0x1.8p23 holds in its low mantissa: (kd's bits - 0x1.8p23's bits + bias) << 23 is
 * 2^(n + bias - 127) when n + bias lies in [1, 254]. */
static inline float pow2_f32(float kd, int32_t bias) {
    uint32_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    const uint32_t bits = (kbits - 0x4b400000u + (uint32_t)bias) << 23;
    float p;
    memcpy(&p, &bits, sizeof p);
    return p;
}

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

/* exp(r) for |r| <= ln2/2: 1 + r + ... + c6 r^6, a minimax fit with the constant term
 * held at 1 (relative error 2.6e-9 before rounding; tools/fit_activations.py). */
static inline float exp_reduced_f32(float r) {
    float p = 1.406127672e-3f;
    p = p * r + 8.379020735e-3f;
    p = p * r + 4.166477650e-2f;
    p = p * r + 1.666636531e-1f;
    p = p * r + 5.000000435e-1f;
    p = p * r + 1.000000050e+0f;
    return p * r + 1.0f;
}

/* y = n ln2 + r with n = round(y / ln2): returns r, n's float in *kd (see pow2_f32). The
 * two parts of ln2 keep r exact for |n| < 2^15 (ln2_hi has 9 significant bits). */
static inline float reduce_f32(float y, float *kd) {
    const float log2e = 1.44269504f, shifter = 0x1.8p23f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    *kd = y * log2e + shifter;
    const float n = *kd - shifter;
    return (y - n * ln2_hi) - n * ln2_lo;
}

/* exp(y) for -104 <= y <= 88.72. */
static inline float exp_bounded_f32(float y) {
    float kd;
    const float p = exp_reduced_f32(reduce_f32(y, &kd));
    /* 2^n as two normal halves, n from -150 to 128 */
    uint32_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    const int32_t n_int = (int32_t)(kbits - 0x4b400000u), n_lo = n_int / 2;
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
    const int one = a > 9.1f;       /* false for NaN, which flows through b */
    const float b = one ? 9.1f : a; /* no overflow in b^8 for huge |x| */
    const float v = b * b;
    float p = 1.324291035e-8f;
    p = p * v + 2.053412501e-5f;
    p = p * v + 3.491292246e-3f;
    p = p * v + 1.337750124e-1f;
    p = p * v + 1.0f;
    float q = 7.732483569e-7f;
    q = q * v + 3.278424079e-4f;
    q = q * v + 2.586092106e-2f;
    q = q * v + 4.671082151e-1f;
    q = q * v + 1.0f;
    const float u = b * p / q; /* b exactly for tiny and subnormal b */
    /* rounding may lift u a float above 1 near the switch; NaN keeps u */
    const float t = one ? 1.0f : (u > 1.0f ? 1.0f : u);
    return copysignf(t, x);
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
    /* e64 = exp(-|x|) 2^64, with |x| clamped to 104, where sigmoid(-x) < half the
     * smallest subnormal float: 2^(n+64) is normal for n = round(-|x| / ln2) >= -150 */
    const float a = fabsf(x);
    const float y = a > 104.0f ? -104.0f : -a; /* NaN flows through */
    float kd;
    const float e64 = exp_reduced_f32(reduce_f32(y, &kd)) * pow2_f32(kd, 127 + 64);
    const float r = 1 / (1 + e64 * 0x1p-64f);
    return x >= 0 ? r : (e64 * r) * 0x1p-64f; /* NaN takes the second branch */
}

#endif /* FASTRNN_ACTIVATIONS_H */
