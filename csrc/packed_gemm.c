/* Products against a right-hand side packed once (see packed_gemm.h for the contract).
 *
 * Packed layout: op(W) (K,N) is cut into panels of NR columns (NR = 16 floats or 8 doubles,
 * one 64-byte vector); panel p holds columns [p NR, p NR + NR) as K rows of NR contiguous
 * elements, the columns past N zero. A product then reads each panel as one contiguous
 * stream, k after k, whatever the orientation of W, and the padding stays under a vector
 * (H = 100 packs to 100 x 112 floats, 44 KB, which still fits L1 for a batch of one).
 *
 * The AVX-512 kernel computes a tile of MR rows of C by NV panels in registers (MR NV
 * accumulators, at most 24 of the 32 vector registers): per k it loads NV vectors of the
 * panels and broadcasts MR elements of A. Each accumulator starts from 0 or from C and adds
 * the k terms in order, like the plain loops (which round the product before adding, where
 * the FMA does not: the two differ in the last bits). The bodies live in
 * packed_gemm_impl.h, instantiated here for float and double. */
#include "packed_gemm.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && \
    ((!defined(__clang__) && __GNUC__ >= 8) || (defined(__clang__) && __clang_major__ >= 8))
#define FASTRNN_PACKED_AVX512 1
#include <immintrin.h>
#define AVX512_FN __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))
/* the tiles of a large packed matrix prefetch the next chunk of panels into L2 */
#define PF_HINT _MM_HINT_T1
#else
#define FASTRNN_PACKED_AVX512 0
#endif

int fastrnn_packed_gemm_is_simd(void) {
#if FASTRNN_PACKED_AVX512
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

#define real float
#define FR_SUFFIX(name) name##_f32
#define NR 16
#if FASTRNN_PACKED_AVX512
#define VEC __m512
#define MASK __mmask16
#define SET1 _mm512_set1_ps
#define ZERO _mm512_setzero_ps
#define LOAD _mm512_loadu_ps
#define FMADD _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define MASK_LOAD _mm512_maskz_loadu_ps
#define MASK_STORE _mm512_mask_storeu_ps
#endif
#include "packed_gemm_impl.h"
#undef real
#undef FR_SUFFIX
#undef NR
#if FASTRNN_PACKED_AVX512
#undef VEC
#undef MASK
#undef SET1
#undef ZERO
#undef LOAD
#undef FMADD
#undef ADD
#undef MASK_LOAD
#undef MASK_STORE
#endif

#define real double
#define FR_SUFFIX(name) name##_f64
#define NR 8
#if FASTRNN_PACKED_AVX512
#define VEC __m512d
#define MASK __mmask8
#define SET1 _mm512_set1_pd
#define ZERO _mm512_setzero_pd
#define LOAD _mm512_loadu_pd
#define FMADD _mm512_fmadd_pd
#define ADD _mm512_add_pd
#define MASK_LOAD _mm512_maskz_loadu_pd
#define MASK_STORE _mm512_mask_storeu_pd
#endif
#include "packed_gemm_impl.h"
