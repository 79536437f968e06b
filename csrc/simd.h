/* Internal: FASTRNN_SIMD_CLONES, which compiles a function for AVX-512 and AVX2 besides the
 * baseline x86-64 (SSE2) that the default build targets, picked at load time. For the
 * elementwise loops (activations.c, the gated cells' passes); not part of the public API. */
#ifndef FASTRNN_SIMD_H
#define FASTRNN_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define FASTRNN_SIMD_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTRNN_SIMD_CLONES
#endif

#endif /* FASTRNN_SIMD_H */
