/* AVX2 int8 kernel, exact: no 16-bit saturation.
 *
 * vpmaddubsw multiplies u8 by s8 and adds adjacent pairs into saturating int16.
 * Sign trick: feed |x| as the u8 operand and move x's sign onto w (vpsignb); both
 * stay in [-127, 127], so each pair sum is at most 2 * 127 * 127 = 32258 < 32767.
 * vpmaddwd with ones then widens pairs of those into int32 lanes (exact).
 * Built for baseline x86-64: only these functions carry target("avx2"), and they run
 * only after int8_kernel_avx2.usable() said yes.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "kernel.h"

#define AVX2_FN __attribute__((target("avx2")))

/* One row r of a k group: x[r][4g..4g+3] against the 16 columns in w0 | w1. Scalar
 * accumulators (not arrays), so GCC keeps all of them in registers. */
#define ROW(r)                                                                                     \
	do {                                                                                       \
		int32_t x4;                                                                        \
		memcpy(&x4, x + (r)*ldx + g * INT8_KG, sizeof(x4));                                \
		__m256i xb = _mm256_set1_epi32(x4);                                                \
		__m256i xa = _mm256_abs_epi8(xb);                                                  \
		__m256i p0 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xb));                   \
		__m256i p1 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xb));                   \
		a##r##0 = _mm256_add_epi32(a##r##0, _mm256_madd_epi16(p0, ones));                  \
		a##r##1 = _mm256_add_epi32(a##r##1, _mm256_madd_epi16(p1, ones));                  \
	} while (0)

#define STORE(r)                                                                                   \
	do {                                                                                       \
		_mm256_storeu_si256((__m256i *)(acc + (r)*INT8_NR), a##r##0);                      \
		_mm256_storeu_si256((__m256i *)(acc + (r)*INT8_NR + 8), a##r##1);                  \
	} while (0)

/* The loop over k groups for MR rows; MR is a constant at every use. */
#define KLOOP(MR)                                                                                  \
	const __m256i ones = _mm256_set1_epi16(1);                                                 \
	__m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00;                     \
	__m256i a20 = a00, a21 = a00, a30 = a00, a31 = a00;                                        \
	for (size_t g = 0; g < kg; g++) {                                                          \
		const int8_t *w = panel + g * INT8_NR * INT8_KG; /* [16][4] */                     \
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

static AVX2_FN void avx2_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel,
                               size_t kg, int32_t acc[INT8_MR * INT8_NR])
{
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

/* AVX2 in CPUID and YMM state enabled by the OS (OSXSAVE, XCR0 bits 1 and 2). */
static int avx2_usable(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6u) != 6u)
		return 0;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

const struct int8_kernel int8_kernel_avx2 = {"avx2", avx2_usable, avx2_block};
#endif
