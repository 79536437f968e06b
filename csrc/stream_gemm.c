/* Products with the left operand read in place (see stream_gemm.h for the contract).
 *
 * The AVX-512 kernel computes a tile of MR rows of C by NV vectors of columns (NV NR
 * columns, NR = 16 floats or 8 doubles) in MR NV accumulator registers: per k it loads the
 * NV vectors of row k of Bm (the last one masked when N ends inside it) and broadcasts MR
 * elements A[i][k], one per row of the tile, so that A is read as MR sequential row
 * streams and never copied. MR NV <= 24 (plus NV loads and a broadcast: 32 registers):
 * 12 x 1, 12 x 2, 8 x 3, 6 x 4. k runs in chunks whose rows of Bm stay in L1 while every
 * row block uses them; rows run in chunks whose C tiles stay in L1 over the k chunks; each
 * tile prefetches its rows of A 16 cache lines ahead (into the next chunk of k at the
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

#if FASTRNN_STREAM_AVX512
/* o (16,16) = a (16,16).T, leading dimensions lda and ldo, in registers: rows paired by
 * 32-bit then 64-bit unpacks (u[4 g + j] holds, in its 128-bit lane L, column 4 L + j of
 * rows 4 g .. 4 g + 3), then lanes gathered by two rounds of 128-bit shuffles. */
AVX512_FN static void transpose_tile_f32(const float *a, int64_t lda, float *o, int64_t ldo) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(a + i * lda);
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; ++g) {
        const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int j = 0; j < 4; ++j) {
        const __m512 v1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
        const __m512 v2 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
        const __m512 w1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
        const __m512 w2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
        _mm512_storeu_ps(o + (0 + j) * ldo, _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps(o + (4 + j) * ldo, _mm512_shuffle_f32x4(v1, w1, 0xDD));
        _mm512_storeu_ps(o + (8 + j) * ldo, _mm512_shuffle_f32x4(v2, w2, 0x88));
        _mm512_storeu_ps(o + (12 + j) * ldo, _mm512_shuffle_f32x4(v2, w2, 0xDD));
    }
}

/* o (8,8) = a (8,8).T likewise: t[2 i + j] holds, in its lane L, column 2 L + j of rows
 * 2 i, 2 i + 1. */
AVX512_FN static void transpose_tile_f64(const double *a, int64_t lda, double *o, int64_t ldo) {
    __m512d r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(a + i * lda);
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int j = 0; j < 2; ++j) {
        const __m512d v1 = _mm512_shuffle_f64x2(t[j], t[2 + j], 0x44);
        const __m512d v2 = _mm512_shuffle_f64x2(t[j], t[2 + j], 0xEE);
        const __m512d w1 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], 0x44);
        const __m512d w2 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], 0xEE);
        _mm512_storeu_pd(o + (0 + j) * ldo, _mm512_shuffle_f64x2(v1, w1, 0x88));
        _mm512_storeu_pd(o + (2 + j) * ldo, _mm512_shuffle_f64x2(v1, w1, 0xDD));
        _mm512_storeu_pd(o + (4 + j) * ldo, _mm512_shuffle_f64x2(v2, w2, 0x88));
        _mm512_storeu_pd(o + (6 + j) * ldo, _mm512_shuffle_f64x2(v2, w2, 0xDD));
    }
}
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
