/* Every float through the float tanh, sigmoid and exp of csrc/activations.h, against
 * libm's double tanh and exp, for each instruction set the kernels are cloned for
 * (x86-64-v4, AVX-512, every float; x86-64-v3, AVX2 with FMA, and baseline x86-64, SSE2
 * without FMA, every 17th bit pattern). Too slow for the test suite (2^32 inputs take
 * about 90 s a function, most of it in libm); run it by hand after changing activations.h:
 *     cc -O2 -Icsrc tools/check_activations.c -lm -o /tmp/check && /tmp/check
 * It prints, per function and instruction set, the worst error of a normal result in
 * units of FLT_EPSILON relative (the measure of tests/test_activations.py), of a
 * subnormal result in units of the smallest subnormal, and the count of wrong special
 * values (NaN in, NaN out; inf and 0 where the true result over- or underflows; a tanh
 * outside [-1, 1], a sigmoid outside [0, 1]); it
 * exits non-zero when one exceeds the budget of tests/test_activations.py. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activations.h"

#define CHUNK 65536

#define LOOPS(name, attr)                                         \
    attr static void tanh_##name(int n, float *a) {               \
        for (int i = 0; i < n; ++i) a[i] = tanh_one_f32(a[i]);    \
    }                                                             \
    attr static void sigmoid_##name(int n, float *a) {            \
        for (int i = 0; i < n; ++i) a[i] = sigmoid_one_f32(a[i]); \
    }                                                             \
    attr static void exp_##name(int n, float *a) {                \
        for (int i = 0; i < n; ++i) a[i] = exp_one_f32(a[i]);     \
    }

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
LOOPS(v4, __attribute__((target("arch=x86-64-v4"))))
LOOPS(v3, __attribute__((target("arch=x86-64-v3"))))
#endif
LOOPS(base, )

typedef void (*loop_fn)(int, float *);

static double reference(int function, float x) {
    const double d = x;
    if (function == 0) return tanh(d);
    if (function == 2) return exp(d);
    const double e = exp(-fabs(d));
    return d >= 0 ? 1 / (1 + e) : e / (1 + e);
}

static const double budget_eps = 4, budget_subnormal = 2;

/* every float from bit pattern 0 on, in steps of stride (1: all of them) */
static int check(const char *label, int function, loop_fn loop, uint32_t stride) {
    static float x[CHUNK], y[CHUNK];
    double worst = 0, worst_sub = 0;
    float worst_x = 0, worst_sub_x = 0;
    long bad_special = 0;
    for (uint64_t start = 0; start < (1ull << 32); start += (uint64_t)CHUNK * stride) {
        for (int i = 0; i < CHUNK; ++i) {
            const uint32_t bits = (uint32_t)(start + (uint64_t)i * stride);
            memcpy(&x[i], &bits, sizeof bits);
            y[i] = x[i];
        }
        loop(CHUNK, y);
        for (int i = 0; i < CHUNK; ++i) {
            if (isnan(x[i])) {
                bad_special += !isnan(y[i]);
                continue;
            }
            /* tanh within [-1, 1], sigmoid within [0, 1] */
            if ((function == 0 && fabsf(y[i]) > 1) || (function == 1 && !(y[i] >= 0 && y[i] <= 1)))
                ++bad_special;
            const double want = reference(function, x[i]);
            if (fabs(want) > FLT_MAX) { /* overflows to inf */
                bad_special += !(y[i] == (float)want);
                continue;
            }
            const double err = fabs((double)y[i] - want);
            if (fabs(want) >= FLT_MIN) {
                const double e = err / fabs(want) / FLT_EPSILON;
                if (e > worst) worst = e, worst_x = x[i];
            } else {
                const double e = err / 0x1p-149;
                if (e > worst_sub) worst_sub = e, worst_sub_x = x[i];
            }
        }
    }
    const int ok = worst <= budget_eps && worst_sub <= budget_subnormal && bad_special == 0;
    printf(
        "%-8s %-4s 1/%-3u worst %.3f eps at x = %.9g, subnormal %.3f at x = %.9g, special %ld  "
        "%s\n",
        function == 0   ? "tanh"
        : function == 1 ? "sigmoid"
                        : "exp",
        label, stride, worst, (double)worst_x, worst_sub, (double)worst_sub_x, bad_special,
        ok ? "ok" : "FAIL");
    fflush(stdout);
    return ok;
}

/* argument: the stride of the other instruction sets' sweep (default 17), and of the
 * AVX-512 one too when given twice */
int main(int argc, char **argv) {
    const uint32_t stride = argc > 1 ? (uint32_t)atoi(argv[1]) : 17;
    const uint32_t stride_v4 = argc > 2 ? (uint32_t)atoi(argv[2]) : 1;
    int ok = 1;
    const loop_fn base[3] = {tanh_base, sigmoid_base, exp_base};
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    const loop_fn v4[3] = {tanh_v4, sigmoid_v4, exp_v4}, v3[3] = {tanh_v3, sigmoid_v3, exp_v3};
    __builtin_cpu_init();
#endif
    for (int f = 0; f < 3; ++f) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
        if (__builtin_cpu_supports("avx512f")) ok &= check("v4", f, v4[f], stride_v4);
        if (__builtin_cpu_supports("avx2")) ok &= check("v3", f, v3[f], stride);
#endif
        ok &= check("base", f, base[f], stride);
    }
    return ok ? 0 : 1;
}
