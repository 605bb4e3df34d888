/* qkv_int8_quantize_avx2: see quantize_x86.h. */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#include <float.h>
#include <math.h>
#include <string.h>

#include "quantize_x86.h"
#include "simd_compat.h"
#include <qkv/precision.h>

/* qkv_int8_quantize with 8 lanes: the same f32 multiply by 127/amax, vroundps in the
 * current rounding mode (what nearbyintf does: nearest-even by default), the same clamp,
 * so every q and the scale are bit-identical to the reference. */
QKV_ISA("avx2") float qkv_int8_quantize_avx2(const float *v, size_t n, int8_t *q)
{
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	const __m256 fmax = _mm256_set1_ps(FLT_MAX);
	__m256 m8 = _mm256_setzero_ps(), bad8 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 a = _mm256_and_ps(_mm256_loadu_ps(v + i), absmask);
		m8 = _mm256_max_ps(m8, a);
		bad8 = _mm256_or_ps(bad8, _mm256_cmp_ps(a, fmax, _CMP_NLE_UQ)); /* Inf, NaN */
	}
	float lanes[8];
	_mm256_storeu_ps(lanes, m8);
	float m = 0.0f;
	int bad = _mm256_movemask_ps(bad8) != 0;
	for (int l = 0; l < 8; l++)
		m = lanes[l] > m ? lanes[l] : m;
	for (; i < n; i++) {
		float a = fabsf(v[i]);
		bad |= !(a <= FLT_MAX);
		m = a > m ? a : m;
	}
	if (bad || m < QKV_INT8_AMAX_MIN) {
		memset(q, 0, n);
		return bad ? NAN : 0.0f;
	}
	float inv = 127.0f / m;
	const __m256 vinv = _mm256_set1_ps(inv);
	const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), vinv),
		                           _MM_FROUND_CUR_DIRECTION);
		__m256i w = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
		__m256i h = _mm256_packs_epi32(w, w); /* [a0..a3 a0..a3 | a4..a7 a4..a7] */
		__m256i b = _mm256_packs_epi16(h, h);
		__m128i out =
		    _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
		_mm_storel_epi64((__m128i *)(q + i), out);
	}
	for (; i < n; i++) {
		float r = nearbyintf(v[i] * inv);
		r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
		q[i] = (int8_t)r;
	}
	return m / 127.0f;
}
#endif
