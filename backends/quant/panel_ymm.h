/* Helpers of the ymm panel kernels (panel_avx2.c, panel_avxvnni.c): X broadcasts, scale
 * pairs, fp16 widening, the K types' and Q6_K's digits unpacked from the panels, the
 * min/offset terms with the float steps of <qkv/wtype.h> (row r in lane r), and the K
 * types' panel loop around a set's own octet function. They carry the
 * AVX2 + F16C target, a subset of every ymm set's, so they inline into each. */
#ifndef QKV_QUANT_PANEL_YMM_H
#define QKV_QUANT_PANEL_YMM_H

#include <string.h>

#include "kernel.h"
#include "prefetch_x86.h"
#include "simd.h"

#define Y_TARGET QKV_ISA("avx2,f16c")

/* 4 bytes of X, broadcast to every lane */
Y_TARGET static inline __m256i bcast4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm256_set1_epi32(v);
}

/* 8 fp16 values to floats (exact) */
Y_TARGET static inline __m256 half8(const uint8_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* lanes (lo[r], hi[r]) as int16 pairs, from 8 u8 values each; pair_u8(p, p) gives (v, v),
 * by which vpmaddwd multiplies a lane's two int16 sums by v and adds them */
Y_TARGET static inline __m256i pair_u8(const uint8_t *lo, const uint8_t *hi)
{
	__m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)lo));
	__m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)hi));
	return _mm256_or_si256(a, _mm256_slli_epi32(b, 16));
}

/* X's 8 sub-block sums of 32 (from its 16 sums of 16; at most 32 x 127 in magnitude) as
 * int16 pairs: out[p] = (S[2p], S[2p + 1]) */
Y_TARGET static inline void x_sums32(const int16_t *sum16, int32_t out[4])
{
	__m256i s = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)sum16),
	                              _mm256_set1_epi16(1));
	__m256i p = _mm256_packs_epi32(s, s); /* per 128-bit lane: S0-3 S0-3 | S4-7 S4-7 */
	int32_t v[8];
	_mm256_storeu_si256((__m256i *)(void *)v, p);
	out[0] = v[0];
	out[1] = v[1];
	out[2] = v[4];
	out[3] = v[5];
}

/* lanes (lo[r], hi[r]) as int16 pairs, from 8 s8 values each */
Y_TARGET static inline __m256i pair_s8(const uint8_t *lo, const uint8_t *hi)
{
	__m256i a = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)lo));
	__m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)hi));
	return _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(0xffff)),
	                       _mm256_slli_epi32(b, 16));
}

/* o[r] = o[r] + (float)s[r] * (d[r] * dx), or o[r] - ... with minus: <qkv/wtype.h>'s step */
Y_TARGET static inline void float_step(float *o, __m256i s, __m256 d, float dx, int minus)
{
	__m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(dx)));
	__m256 acc = _mm256_loadu_ps(o);
	_mm256_storeu_ps(o, minus ? _mm256_sub_ps(acc, p) : _mm256_add_ps(acc, p));
}

/* out[32 i + r] = 0 for the nt X rows: the float steps accumulate there */
static inline void zero_out(float *out, int nt)
{
	memset(out, 0, sizeof(float) * QUANT_WIDE_ROWS * (size_t)nt);
}

/* Row octet o of a Q4_0 wide-panel block (kernel.h): its 8 k-groups' digits q + 8 as bytes
 * (k-group j + 4 in the high nibbles) */
Y_TARGET static inline __attribute__((always_inline)) void q4_0_digits(const uint8_t *blk,
                                                                       const int o, __m256i dg[8])
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	QKV_UNROLL(4)
	for (int j = 0; j < 4; j++) {
		__m256i v =
		    _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 * j + 32 * o));
		dg[j] = _mm256_and_si256(v, m4);
		dg[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
	}
}

/* Row octet (lane offset ro) of sub-block j of a Q4_K or Q5_K half super-block hb
 * (kernel.h): its 8 k-groups' digits as bytes (Q5_K: bit j of qh moved to bit 4, the
 * digit's fifth bit). */
Y_TARGET static inline __attribute__((always_inline)) void
k_digits(const uint8_t *hb, const int j, const int ro, __m256i dg[8], const int five)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f), m10 = _mm256_set1_epi8(0x10);
	const int c = j / 2;
	QKV_UNROLL(8)
	for (int g = 0; g < 8; g++) {
		__m256i v =
		    _mm256_loadu_si256((const __m256i *)(const void *)(hb + (c * 8 + g) * 64 + ro));
		if (j & 1)
			v = _mm256_srli_epi16(v, 4);
		v = _mm256_and_si256(v, m4);
		if (five) {
			__m256i q = _mm256_loadu_si256(
			    (const __m256i *)(const void *)(hb + 2048 + 64 * g + ro));
			q = j < 4 ? _mm256_slli_epi16(q, 4 - j) : _mm256_srli_epi16(q, j - 4);
			v = _mm256_or_si256(v, _mm256_and_si256(q, m10));
		}
		dg[g] = v;
	}
}

/* Row octet (lane offset ro) of values (h, s) of a Q6_K half super-block hf (kernel.h):
 * the 8 k-groups' digits q + 32 (0..63: the nibble of ql, bits 2s, 2s + 1 of qh as bits
 * 4, 5) as bytes. */
Y_TARGET static inline __attribute__((always_inline)) void
q6_digits(const uint8_t *hf, const int h, const int s, const int ro, __m256i q[8])
{
	const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
	QKV_UNROLL(8)
	for (int g = 0; g < 8; g++) {
		__m256i v = _mm256_loadu_si256(
		    (const __m256i *)(const void *)(hf + ((h * 2 + s % 2) * 8 + g) * 64 + ro));
		__m256i hb = _mm256_loadu_si256(
		    (const __m256i *)(const void *)(hf + 2048 + (h * 8 + g) * 64 + ro));
		v = s / 2 ? _mm256_srli_epi16(v, 4) : v;
		hb = s < 2 ? _mm256_slli_epi16(hb, 4 - 2 * s) : _mm256_srli_epi16(hb, 2 * s - 4);
		q[g] = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(hb, m30));
	}
}

/* The K types' float steps of a row octet (out: its first lane for X row 0): per X row the
 * min term summ = sum_j m[j] S_j (X's 32-value sums as pairs, xs; the mins as (m[2p],
 * m[2p + 1]) pairs from scm + 128) by vpmaddwd, then acc + sumi (d dx), acc - summ (dmin dx)
 * (d, dmin: 8 fp16 each at dd, dd + 32). */
Y_TARGET static inline __attribute__((always_inline)) void
k_octet_steps(float *out, const uint8_t *scm, const uint8_t *dd, const void *const *x, int nt,
              size_t b, const int32_t (*xs)[4], const __m256i *sumi)
{
	__m256i mn[4]; /* lane r: row r's mins 2p, 2p + 1 as int16 */
	QKV_UNROLL(4)
	for (int p = 0; p < 4; p++)
		mn[p] = pair_u8(scm + 128 + 32 * p, scm + 128 + 32 * p + 16);
	__m256 d = half8(dd), dmin = half8(dd + 32);
	for (int i = 0; i < nt; i++) {
		const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)x[i] + b;
		__m256i summ = _mm256_madd_epi16(mn[0], _mm256_set1_epi32(xs[i][0]));
		QKV_UNROLL(3)
		for (int p = 1; p < 4; p++)
			summ = _mm256_add_epi32(
			    summ, _mm256_madd_epi16(mn[p], _mm256_set1_epi32(xs[i][p])));
		float_step(out + 32 * i, sumi[i], d, a->d, 0);
		float_step(out + 32 * i, summ, dmin, a->d, 1);
	}
}

/* One row octet's integer part of a Q4_K or Q5_K super-block, per ymm set: sumi[i] += sum_j
 * sc[j] (digits . x of sub-block j) for X rows i < nt (hb: the octet's half super-block) */
typedef void (*ymm_k_octet_fn)(const uint8_t *hb, int o, const void *const *x, int nt, size_t b,
                               __m256i *sumi, int five);

/* 32 rows of a Q4_K or Q5_K panel, nt <= QUANT_YMM_TILE X rows: per super-block and row
 * octet the set's octet() (inlined: a constant at every call), then k_octet_steps' min term
 * and float steps. */
Y_TARGET static inline __attribute__((always_inline)) void
ymm_k_body(const uint8_t *panel, const void *const *x, int nt, size_t nb, float *out,
           struct quant_pf pf, const int five, const ymm_k_octet_fn octet)
{
	const size_t half = five ? QUANT_PANEL5_BLOCK : QUANT_PANELK_BLOCK;
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + 2 * half * b;
		int32_t xs[QUANT_YMM_TILE][4];
		for (int i = 0; i < nt; i++)
			x_sums32(((const struct qkv_act_q8_k *)x[i] + b)->sum, xs[i]);
		for (int o = 0; o < 4; o++) {
			panel_prefetch(blk, 2 * half, pf, b, o, 4);
			const uint8_t *hb = blk + (size_t)(o >> 1) * half;
			const uint8_t *scm = hb + 2048 + (five ? 512 : 0) + 8 * (o & 1);
			__m256i sumi[QUANT_YMM_TILE];
			for (int i = 0; i < nt; i++)
				sumi[i] = _mm256_setzero_si256();
			octet(hb, o, x, nt, b, sumi, five);
			k_octet_steps(out + 8 * o, scm, scm + 256 + 8 * (o & 1), x, nt, b,
			              (const int32_t(*)[4])xs, sumi);
		}
	}
}

/* Q6_K's float step of a row octet: sumi less 32 sum_j sc[j] X_j (X's 16-value sums, the
 * int8 scales at scl as (sc[2p], sc[2p + 1]) pairs) by vpmaddwd, times d (8 fp16 at dd) dx. */
Y_TARGET static inline __attribute__((always_inline)) void
q6_octet_steps(float *out, const uint8_t *scl, const uint8_t *dd, const void *const *x, int nt,
               size_t b, const __m256i *sumi)
{
	__m256i scp[8]; /* lane r: row r's scales 2p, 2p + 1 as int16 */
	QKV_UNROLL(8)
	for (int p = 0; p < 8; p++)
		scp[p] = pair_s8(scl + 32 * p, scl + 32 * p + 16);
	__m256 d = half8(dd);
	for (int i = 0; i < nt; i++) {
		const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)x[i] + b;
		__m256i off = _mm256_setzero_si256();
		QKV_UNROLL(8)
		for (int p = 0; p < 8; p++)
			off = _mm256_add_epi32(
			    off,
			    _mm256_madd_epi16(
			        scp[p], bcast4((const int8_t *)(const void *)(a->sum + 2 * p))));
		float_step(out + 32 * i, _mm256_sub_epi32(sumi[i], _mm256_slli_epi32(off, 5)), d,
		           a->d, 0);
	}
}

#endif
