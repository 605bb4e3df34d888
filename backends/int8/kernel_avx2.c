/* AVX2 int8 kernel, exact: no 16-bit saturation.
 *
 * vpmaddubsw multiplies u8 by s8 and adds adjacent pairs into saturating int16.
 * Sign trick: feed |x| as the u8 operand (precomputed in the packed X) and move x's
 * sign onto w (vpsignb); both
 * stay in [-127, 127], so each pair sum is at most 2 * 127 * 127 = 32258 < 32767.
 * vpmaddwd with ones then widens pairs of those into int32 lanes (exact).
 * Built for baseline x86-64: only these functions carry target("avx2"), and they run
 * only after dispatch.c's table said the CPU has avx2; with QKV_SIMDE (simd.h) the same
 * source is compiled through SIMDe for the tests.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#include <string.h>

#include "kernel.h"
#include "simd.h"
#include <qkv/precision.h>

#define AVX2_FN INT8_TARGET("avx2")
#define AVX2_MR 4  /* rows per call */
#define AVX2_NR 16 /* columns per panel: two ymm of 8 int32 lanes */
#define AVX2_XG 8  /* packed X bytes per k group (INT8_X_SIGN) */

/* Bytes ahead in the panel stream (32 k groups): at T = 1 the hardware prefetcher alone
 * left ~20% of the read bandwidth unused (9.7 -> 11.7 GB/s, one thread). */
#define INT8_PREFETCH 2048

/* One row r of a k group: x[r][4g..4g+3] against the 16 columns in w0 | w1. Scalar
 * accumulators (not arrays), so GCC keeps all of them in registers. */
#define ROW(r)                                                                                     \
	do {                                                                                       \
		int32_t x4, a4; /* x[r][4g..4g+3] and their absolute values */                     \
		memcpy(&x4, x + (r)*ldx + g * AVX2_XG, sizeof(x4));                                \
		memcpy(&a4, x + (r)*ldx + g * AVX2_XG + 4, sizeof(a4));                            \
		__m256i xb = _mm256_set1_epi32(x4);                                                \
		__m256i xa = _mm256_set1_epi32(a4);                                                \
		__m256i p0 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xb));                   \
		__m256i p1 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xb));                   \
		a##r##0 = _mm256_add_epi32(a##r##0, _mm256_madd_epi16(p0, ones));                  \
		a##r##1 = _mm256_add_epi32(a##r##1, _mm256_madd_epi16(p1, ones));                  \
	} while (0)

#define STORE(r)                                                                                   \
	do {                                                                                       \
		_mm256_storeu_si256((__m256i *)(acc + (r)*AVX2_NR), a##r##0);                      \
		_mm256_storeu_si256((__m256i *)(acc + (r)*AVX2_NR + 8), a##r##1);                  \
	} while (0)

/* The loop over k groups for MR rows; MR is a constant at every use. */
#define KLOOP(MR)                                                                                  \
	const __m256i ones = _mm256_set1_epi16(1);                                                 \
	__m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00;                     \
	__m256i a20 = a00, a21 = a00, a30 = a00, a31 = a00;                                        \
	for (size_t g = 0; g < kg; g++) {                                                          \
		const int8_t *w = panel + g * AVX2_NR * INT8_KG; /* [16][4] */                     \
		INT8_PREFETCH_T0(w + INT8_PREFETCH);                                               \
		__m256i w0 = _mm256_loadu_si256((const __m256i *)w);                               \
		__m256i w1 = _mm256_loadu_si256((const __m256i *)(w + 32));                        \
		ROW(0);                                                                            \
		if ((MR) > 1)                                                                      \
			ROW(1);                                                                    \
		if ((MR) > 2)                                                                      \
			ROW(2);                                                                    \
		if ((MR) > 3)                                                                      \
			ROW(3);                                                                    \
	}                                                                                          \
	STORE(0);                                                                                  \
	if ((MR) > 1)                                                                              \
		STORE(1);                                                                          \
	if ((MR) > 2)                                                                              \
		STORE(2);                                                                          \
	if ((MR) > 3)                                                                              \
		STORE(3);

static AVX2_FN void avx2_rows1(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                               int32_t *acc)
{
	KLOOP(1)
}
static AVX2_FN void avx2_rows2(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                               int32_t *acc)
{
	KLOOP(2)
}
static AVX2_FN void avx2_rows3(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                               int32_t *acc)
{
	KLOOP(3)
}
static AVX2_FN void avx2_rows4(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                               int32_t *acc)
{
	KLOOP(4)
}

static void avx2_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel, size_t kg,
                       const int32_t *comp, int32_t *acc, const int8_t *pf)
{
	(void)pf;   /* kc = 0: no slices to prefetch between */
	(void)comp; /* INT8_X_SIGN: no offset to compensate */
	switch (mr) {
	case 4:
		avx2_rows4(x, ldx, panel, kg, acc);
		break;
	case 3:
		avx2_rows3(x, ldx, panel, kg, acc);
		break;
	case 2:
		avx2_rows2(x, ldx, panel, kg, acc);
		break;
	default:
		avx2_rows1(x, ldx, panel, kg, acc);
		break;
	}
}

const struct int8_kernel int8_kernel_avx2 = {
    .desc = "vpsignb + vpmaddubsw + vpmaddwd ymm, exact sign trick",
    .mr = AVX2_MR,
    .nr = AVX2_NR,
    .kc = 0,
    .x_mode = INT8_X_SIGN,
    .block = avx2_block,
    .quantize = qkv_int8_quantize_avx2,
};
#endif
