/* Products with the left operand read in place (see stream_gemm.h for the contract).
 *
 * The AVX-512 kernel computes a tile of MR rows of C by NV vectors of columns (NV NR
 * columns, NR = 16 floats or 8 doubles) in MR NV accumulator registers: per k it loads the
 * NV vectors of row k of Bm (the last one masked when N ends inside it) and broadcasts MR
 * elements A[i][k], one per row of the tile, so that A is read as MR sequential row
 * streams and never copied. MR NV <= 24 (plus NV loads and a broadcast: 32 registers):
 * 12 x 1, 12 x 2, 8 x 3, 6 x 4. k runs in chunks whose rows of Bm stay in L1 while every
 * row block uses them; rows run in chunks whose C tiles stay in L1 over the k chunks; each
 * tile prefetches its rows of A a few cache lines ahead (into the next chunk of k at the
 * end of a row's segment). Each accumulator starts from 0 or from C and adds the k terms
 * in order, like the plain loops (which round the product before adding, where the FMA
 * does not: the two differ in the last bits). The bodies live in stream_gemm_impl.h,
 * instantiated here for float and double. */
#include "stream_gemm.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && \
    ((!defined(__clang__) && __GNUC__ >= 8) || (defined(__clang__) && __clang_major__ >= 8))
#define FASTRNN_STREAM_AVX512 1
#include <immintrin.h>
#define AVX512_FN __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))
#else
#define FASTRNN_STREAM_AVX512 0
#endif

int fastrnn_stream_gemm_is_simd(void) {
#if FASTRNN_STREAM_AVX512
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

#define real float
#define FR_SUFFIX(name) name##_f32
#define NR 16
#if FASTRNN_STREAM_AVX512
#define VEC __m512
#define MASK __mmask16
#define SET1 _mm512_set1_ps
#define ZERO _mm512_setzero_ps
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define FMADD _mm512_fmadd_ps
#define MASK_LOAD _mm512_maskz_loadu_ps
#define MASK_STORE _mm512_mask_storeu_ps
#endif
#include "stream_gemm_impl.h"
#undef real
#undef FR_SUFFIX
#undef NR
#if FASTRNN_STREAM_AVX512
#undef VEC
#undef MASK
#undef SET1
#undef ZERO
#undef LOAD
#undef STORE
#undef FMADD
#undef MASK_LOAD
#undef MASK_STORE
#endif

#define real double
#define FR_SUFFIX(name) name##_f64
#define NR 8
#if FASTRNN_STREAM_AVX512
#define VEC __m512d
#define MASK __mmask8
#define SET1 _mm512_set1_pd
#define ZERO _mm512_setzero_pd
#define LOAD _mm512_loadu_pd
#define STORE _mm512_storeu_pd
#define FMADD _mm512_fmadd_pd
#define MASK_LOAD _mm512_maskz_loadu_pd
#define MASK_STORE _mm512_mask_storeu_pd
#endif
#include "stream_gemm_impl.h"
