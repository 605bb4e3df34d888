/* The AVX-512 VNNI panel kernels: kernel.h's panel layouts, 16 rows per zmm of int32
 * lanes, vpdpbusd multiplying 4 weights of each of 16 rows with 4 values of X broadcast;
 * the float steps of <qkv/wtype.h> run with row r in lane r, in its order (bit-identical).
 *
 * Built for baseline x86-64: these functions carry target attributes and run only after
 * dispatch.c's table said the CPU has AVX-512 F/VL/VNNI and F16C. With QKV_SIMDE they run
 * emulated.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* the float steps are specified without FMA */
#endif
#include <string.h>

#include "kernel.h"
#include "prefetch_x86.h"
#include "simd.h"

#define Q_TARGET QKV_ISA("avx2,avx512f,avx512vl,avx512vnni,f16c")

/* One float step of <qkv/wtype.h> in every lane of the panels (row r in lane r: rows 0-7
 * in lo, 8-15 in hi): acc = acc + (float)s * (d * dx), or acc - ... with `minus` (the K
 * types' min term). */
Q_TARGET static inline void panel_step(__m256 *lo, __m256 *hi, __m512i s, __m256 dlo, __m256 dhi,
                                       float dx, int minus)
{
	__m256 vdx = _mm256_set1_ps(dx);
	__m256 plo =
	    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(s)), _mm256_mul_ps(dlo, vdx));
	__m256 phi = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(s, 1)),
	                           _mm256_mul_ps(dhi, vdx));
	*lo = minus ? _mm256_sub_ps(*lo, plo) : _mm256_add_ps(*lo, plo);
	*hi = minus ? _mm256_sub_ps(*hi, phi) : _mm256_add_ps(*hi, phi);
}

/* 16 fp16 values to floats, exact (F16C on two halves: SIMDe 0.7.4 has no zmm form) */
Q_TARGET static inline __m512 widen16_fp16(const uint8_t *p)
{
	__m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
	__m256 hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
	return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)),
	                                           _mm256_castps_pd(hi), 1));
}

/* s[i][h] += w[h] . 4 values of X row i's k-group j, broadcast (rows 16h..16h+15) */
Q_TARGET static inline __attribute__((always_inline)) void
wide_dot(__m512i s[QUANT_WIDE_TILE][2], __m512i w0, __m512i w1,
         const struct qkv_act_q8_0 *const a[QUANT_WIDE_TILE], int j, const int NR)
{
	QKV_UNROLL(8)
	for (int i = 0; i < NR; i++) {
		int32_t x4;
		memcpy(&x4, a[i]->q + 4 * j, 4);
		__m512i xb = _mm512_set1_epi32(x4);
		s[i][0] = _mm512_dpbusd_epi32(s[i][0], w0, xb);
		s[i][1] = _mm512_dpbusd_epi32(s[i][1], w1, xb);
	}
}

/* 32 rows of a Q8_0 or Q4_0 wide panel (kernel.h) against NR X rows: per block the 2 x NR
 * int32 accumulators start at -128 (Q8_0: the digits are w + 128) or -8 (Q4_0: q + 8)
 * x the X block's sum and take 8 k-groups of vpdpbusd, each weight register used for NR
 * rows; then lane r's float step as the row function's, acc + (float)isum * (d * dx), in
 * zmm. NR and q4 are constants after inlining, so the accumulators stay in registers. */
Q_TARGET static inline __attribute__((always_inline)) void
wide_0_body(const uint8_t *panel, const void *const *x, size_t nb, float *out, struct quant_pf pf,
            const int NR, const int q4)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	const size_t pb = q4 ? QUANT_WIDE4_BLOCK : QUANT_WIDE_BLOCK, dat = pb - 64;
	const int groups = q4 ? 4 : 8; /* k-groups loaded per block */
	const struct qkv_act_q8_0 *a[QUANT_WIDE_TILE];
	const int32_t *xoff[QUANT_WIDE_TILE];
	__m512 acc[QUANT_WIDE_TILE][2];
	QKV_UNROLL(8)
	for (int i = 0; i < NR; i++) {
		a[i] = x[i];
		xoff[i] = quant_act_q8_0_offsets(x[i], nb, q4);
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	}
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + pb * b;
		panel_prefetch(blk, pb, pf, b, 0, 1);
		__m512i s[QUANT_WIDE_TILE][2];
		QKV_UNROLL(8)
		for (int i = 0; i < NR; i++)
			s[i][0] = s[i][1] = _mm512_set1_epi32(xoff[i][b]);
		QKV_UNROLL(8)
		for (int j = 0; j < groups; j++) {
			__m512i w0 = _mm512_loadu_si512((const void *)(blk + 128 * j));
			__m512i w1 = _mm512_loadu_si512((const void *)(blk + 128 * j + 64));
			if (q4) { /* k-groups j (low nibbles) and j + 4 (high) in one byte */
				wide_dot(s, _mm512_and_si512(w0, m4), _mm512_and_si512(w1, m4), a,
				         j, NR);
				w0 = _mm512_and_si512(_mm512_srli_epi32(w0, 4), m4);
				w1 = _mm512_and_si512(_mm512_srli_epi32(w1, 4), m4);
			}
			wide_dot(s, w0, w1, a, q4 ? j + 4 : j, NR);
		}
		__m512 d0 = widen16_fp16(blk + dat), d1 = widen16_fp16(blk + dat + 32);
		QKV_UNROLL(8)
		for (int i = 0; i < NR; i++) {
			__m512 dx = _mm512_set1_ps(a[i]->d);
			acc[i][0] =
			    _mm512_add_ps(acc[i][0], _mm512_mul_ps(_mm512_cvtepi32_ps(s[i][0]),
			                                           _mm512_mul_ps(d0, dx)));
			acc[i][1] =
			    _mm512_add_ps(acc[i][1], _mm512_mul_ps(_mm512_cvtepi32_ps(s[i][1]),
			                                           _mm512_mul_ps(d1, dx)));
			a[i]++;
		}
	}
	QKV_UNROLL(8)
	for (int i = 0; i < NR; i++) {
		_mm512_storeu_ps(out + 32 * i, acc[i][0]);
		_mm512_storeu_ps(out + 32 * i + 16, acc[i][1]);
	}
}

/* One function per type and X row count (the tile and its remainders), in a table. */
typedef void (*wide_fn)(const uint8_t *panel, const void *const *x, size_t nb, float *out,
                        struct quant_pf pf);
#define WIDE_0(NR)                                                                                 \
	Q_TARGET static void wide_q8_0_##NR(const uint8_t *panel, const void *const *x, size_t nb, \
	                                    float *out, struct quant_pf pf)                        \
	{                                                                                          \
		wide_0_body(panel, x, nb, out, pf, NR, 0);                                         \
	}                                                                                          \
	Q_TARGET static void wide_q4_0_##NR(const uint8_t *panel, const void *const *x, size_t nb, \
	                                    float *out, struct quant_pf pf)                        \
	{                                                                                          \
		wide_0_body(panel, x, nb, out, pf, NR, 1);                                         \
	}
WIDE_0(1)
WIDE_0(2)
WIDE_0(3)
WIDE_0(4)
WIDE_0(5)
WIDE_0(6)
#undef WIDE_0
static const wide_fn wide_q8_0[QUANT_WIDE_TILE] = {wide_q8_0_1, wide_q8_0_2, wide_q8_0_3,
                                                   wide_q8_0_4, wide_q8_0_5, wide_q8_0_6};
static const wide_fn wide_q4_0[QUANT_WIDE_TILE] = {wide_q4_0_1, wide_q4_0_2, wide_q4_0_3,
                                                   wide_q4_0_4, wide_q4_0_5, wide_q4_0_6};

Q_TARGET static void panel_q8_0_avx512vnni(const uint8_t *panel, const void *const *x, int nt,
                                           size_t nb, float *out, struct quant_pf pf)
{
	wide_q8_0[nt - 1](panel, x, nb, out, pf);
}

Q_TARGET static void panel_q4_0_avx512vnni(const uint8_t *panel, const void *const *x, int nt,
                                           size_t nb, float *out, struct quant_pf pf)
{
	wide_q4_0[nt - 1](panel, x, nb, out, pf);
}

/* 16 bytes to 16 int32 lanes (zero-extended) */
Q_TARGET static inline __m512i widen16_u8(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p);
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepu8_epi32(v)),
	                          _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)), 1);
}

/* 16 bytes to 16 int32 lanes (sign-extended) */
Q_TARGET static inline __m512i widen16_s8(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p);
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepi8_epi32(v)),
	                          _mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)), 1);
}

/* X rows i0 .. i0 + NR - 1 against chunk c (64 values: sub-blocks 2c, 2c + 1) of a 32-row
 * Q4_K/Q5_K super-block, both halves (kernel.h): sumi[h][i] += sc[h][0] (low digits . x)
 * + sc[h][1] (high digits . x). Each X broadcast feeds both halves' vpdpbusd, and NR rows
 * at once keep 4 NR chains in flight (one row's chains of 8 waited on the latency: 4
 * cycles against 2 per cycle on a Zen 5). */
Q_TARGET static inline __attribute__((always_inline)) void
k2_rows(const uint8_t *blk, size_t half, int c, const __m512i sc[2][2], const void *const *x,
        size_t b, int i0, const int NR, __m512i sumi[2][QUANT_PANEL_TILE], const int five)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
	const int8_t *x0[4];
	__m512i s[4][4];
	QKV_UNROLL(4)
	for (int r = 0; r < NR; r++) {
		x0[r] = ((const struct qkv_act_q8_k *)x[i0 + r] + b)->q + 64 * c;
		s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm512_setzero_si512();
	}
	QKV_UNROLL(8)
	for (int g = 0; g < 8; g++) {
		__m512i dl[2], dh[2];
		QKV_UNROLL(2)
		for (int h = 0; h < 2; h++) {
			const uint8_t *hb = blk + h * half;
			__m512i v = _mm512_loadu_si512(
			    (const void *)(hb + ((size_t)c * 8 + (size_t)g) * 64));
			dl[h] = _mm512_and_si512(v, m4);
			dh[h] = _mm512_and_si512(_mm512_srli_epi32(v, 4), m4);
			if (five) {
				__m512i q5 = _mm512_loadu_si512((const void *)(hb + 2048 + 64 * g));
				__m512i hl = _mm512_and_si512(
				    _mm512_srl_epi32(q5, _mm_cvtsi32_si128(2 * c)), one);
				__m512i hh = _mm512_and_si512(
				    _mm512_srl_epi32(q5, _mm_cvtsi32_si128(2 * c + 1)), one);
				dl[h] = _mm512_or_si512(dl[h], _mm512_slli_epi32(hl, 4));
				dh[h] = _mm512_or_si512(dh[h], _mm512_slli_epi32(hh, 4));
			}
		}
		QKV_UNROLL(4)
		for (int r = 0; r < NR; r++) {
			int32_t a0, a1;
			memcpy(&a0, x0[r] + 4 * g, 4);
			memcpy(&a1, x0[r] + 32 + 4 * g, 4);
			__m512i b0 = _mm512_set1_epi32(a0), b1 = _mm512_set1_epi32(a1);
			s[r][0] = _mm512_dpbusd_epi32(s[r][0], dl[0], b0);
			s[r][1] = _mm512_dpbusd_epi32(s[r][1], dh[0], b1);
			s[r][2] = _mm512_dpbusd_epi32(s[r][2], dl[1], b0);
			s[r][3] = _mm512_dpbusd_epi32(s[r][3], dh[1], b1);
		}
	}
	QKV_UNROLL(4)
	for (int r = 0; r < NR; r++)
		for (int h = 0; h < 2; h++)
			sumi[h][i0 + r] = _mm512_add_epi32(
			    sumi[h][i0 + r],
			    _mm512_add_epi32(_mm512_mullo_epi32(s[r][2 * h], sc[h][0]),
			                     _mm512_mullo_epi32(s[r][2 * h + 1], sc[h][1])));
}

/* 32 rows of a Q4_K or Q5_K panel, nt <= QUANT_PANEL_TILE X rows (struct qkv_act_q8_k):
 * per super-block and row, sumi = sum_j sc[j] (digits . x of sub-block j) and summ =
 * sum_j m[j] (X's two 16-value sums of sub-block j), exact in int32; then the two float
 * steps of <qkv/wtype.h> per lane. */
Q_TARGET static inline void panel_k2_body(const uint8_t *panel, const void *const *x, int nt,
                                          size_t nb, float *out, struct quant_pf pf, const int five)
{
	const size_t half = five ? QUANT_PANEL5_BLOCK : QUANT_PANELK_BLOCK;
	__m256 lo[2][QUANT_PANEL_TILE], hi[2][QUANT_PANEL_TILE];
	for (int h = 0; h < 2; h++)
		for (int i = 0; i < nt; i++)
			lo[h][i] = hi[h][i] = _mm256_setzero_ps();
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + 2 * half * b;
		__m512i sumi[2][QUANT_PANEL_TILE];
		for (int h = 0; h < 2; h++)
			for (int i = 0; i < nt; i++)
				sumi[h][i] = _mm512_setzero_si512();
		for (int c = 0; c < 4; c++) {
			panel_prefetch(blk, 2 * half, pf, b, c, 4);
			__m512i sc[2][2];
			for (int h = 0; h < 2; h++) {
				const uint8_t *scm = blk + h * half + 2048 + (five ? 512 : 0);
				sc[h][0] = widen16_u8(scm + 16 * (2 * c));
				sc[h][1] = widen16_u8(scm + 16 * (2 * c + 1));
			}
			int i = 0;
			for (; i + 4 <= nt; i += 4)
				k2_rows(blk, half, c, sc, x, b, i, 4, sumi, five);
			switch (nt - i) {
			case 3:
				k2_rows(blk, half, c, sc, x, b, i, 3, sumi, five);
				break;
			case 2:
				k2_rows(blk, half, c, sc, x, b, i, 2, sumi, five);
				break;
			case 1:
				k2_rows(blk, half, c, sc, x, b, i, 1, sumi, five);
				break;
			default:
				break;
			}
		}
		for (int h = 0; h < 2; h++) {
			const uint8_t *scm = blk + h * half + 2048 + (five ? 512 : 0),
			              *dd = scm + 256;
			/* summ by vpdpwssd: lane r holds (m, m) of row r as int16, X the two
			 * 16-value sums of sub-block j as stored: one instruction adds m (sum +
			 * sum) */
			__m512i mn[8];
			for (int j = 0; j < 8; j++) {
				mn[j] = widen16_u8(scm + 128 + 16 * j);
				mn[j] = _mm512_or_si512(mn[j], _mm512_slli_epi32(mn[j], 16));
			}
			__m256 dlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dd));
			__m256 dhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dd + 16)));
			__m256 mlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dd + 32)));
			__m256 mhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dd + 48)));
			for (int i = 0; i < nt; i++) {
				const struct qkv_act_q8_k *a =
				    (const struct qkv_act_q8_k *)x[i] + b;
				__m512i summ = _mm512_setzero_si512();
				for (int j = 0; j < 8; j++) {
					int32_t pair;
					memcpy(&pair, a->sum + 2 * j, 4);
					summ = _mm512_dpwssd_epi32(summ, mn[j],
					                           _mm512_set1_epi32(pair));
				}
				panel_step(&lo[h][i], &hi[h][i], sumi[h][i], dlo, dhi, a->d, 0);
				panel_step(&lo[h][i], &hi[h][i], summ, mlo, mhi, a->d, 1);
			}
		}
	}
	for (int i = 0; i < nt; i++)
		for (int h = 0; h < 2; h++) {
			_mm256_storeu_ps(out + 32 * i + 16 * h, lo[h][i]);
			_mm256_storeu_ps(out + 32 * i + 16 * h + 8, hi[h][i]);
		}
}

Q_TARGET static void panel_q4_k_avx512vnni(const uint8_t *panel, const void *const *x, int nt,
                                           size_t nb, float *out, struct quant_pf pf)
{
	panel_k2_body(panel, x, nt, nb, out, pf, 0);
}

Q_TARGET static void panel_q5_k_avx512vnni(const uint8_t *panel, const void *const *x, int nt,
                                           size_t nb, float *out, struct quant_pf pf)
{
	panel_k2_body(panel, x, nt, nb, out, pf, 1);
}

/* 32 rows of a Q6_K panel (two 16-row halves per super-block, kernel.h), nt <=
 * QUANT_PANEL_TILE X rows (struct qkv_act_q8_k): per super-block and row, sumi = sum_j
 * sc[j] (digits . x of sub-block j of 16), the digits being q + 32 (0..63, u8 for
 * vpdpbusd: the low nibble of chunk s % 2, nibble s / 2, and bits 2s, 2s + 1 of qh as bits
 * 4, 5), less 32 sum_j sc[j] (X's 16-value sum j) by vpdpwssd on the scale pairs; exact in
 * int32. Then the float step of <qkv/wtype.h> per lane. */
Q_TARGET static void panel_q6_k_avx512vnni(const uint8_t *panel, const void *const *x, int nt,
                                           size_t nb, float *out, struct quant_pf pf)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	__m256 lo[2][QUANT_PANEL_TILE], hi[2][QUANT_PANEL_TILE];
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < nt; i++)
			lo[f][i] = hi[f][i] = _mm256_setzero_ps();
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + 2 * QUANT_PANEL6_BLOCK * b;
		__m512i sumi[2][QUANT_PANEL_TILE];
		for (int f = 0; f < 2; f++)
			for (int i = 0; i < nt; i++)
				sumi[f][i] = _mm512_setzero_si512();
		for (int h = 0; h < 2; h++)
			for (int s = 0; s < 4; s++) {
				panel_prefetch(blk, 2 * QUANT_PANEL6_BLOCK, pf, b, 4 * h + s, 8);
				__m512i q[2][8]; /* both halves' digits, once for every X row */
				for (int f = 0; f < 2; f++) {
					const uint8_t *hf = blk + f * QUANT_PANEL6_BLOCK;
					for (int g = 0; g < 8; g++) {
						__m512i v = _mm512_loadu_si512(
						    (const void *)(hf +
						                   ((h * 2 + s % 2) * 8 + g) * 64));
						__m512i hb = _mm512_loadu_si512(
						    (const void *)(hf + 2048 + (h * 8 + g) * 64));
						v = s / 2 ? _mm512_srli_epi32(v, 4) : v;
						hb = s < 2 ? _mm512_slli_epi32(hb, 4 - 2 * s)
						           : _mm512_srli_epi32(hb, 2 * s - 4);
						q[f][g] =
						    _mm512_or_si512(_mm512_and_si512(v, m4),
						                    _mm512_and_si512(hb, m30));
					}
				}
				__m512i sc[2][2]; /* lane r: row r's scales 8h + 2s, 8h + 2s + 1 */
				for (int f = 0; f < 2; f++) {
					const uint8_t *scl = blk + f * QUANT_PANEL6_BLOCK + 3072;
					sc[f][0] = widen16_s8(scl + 16 * (8 * h + 2 * s));
					sc[f][1] = widen16_s8(scl + 16 * (8 * h + 2 * s + 1));
				}
				for (int i = 0; i < nt; i++) {
					const int8_t *x0 =
					    ((const struct qkv_act_q8_k *)x[i] + b)->q + 128 * h +
					    32 * s;
					/* a<half><sub-block>: each X broadcast feeds both halves */
					__m512i a00 = _mm512_setzero_si512(), a01 = a00, a10 = a00,
					        a11 = a00;
					for (int g = 0; g < 4; g++) {
						int32_t a0, a1;
						memcpy(&a0, x0 + 4 * g, 4);
						memcpy(&a1, x0 + 16 + 4 * g, 4);
						__m512i b0 = _mm512_set1_epi32(a0),
						        b1 = _mm512_set1_epi32(a1);
						a00 = _mm512_dpbusd_epi32(a00, q[0][g], b0);
						a01 = _mm512_dpbusd_epi32(a01, q[0][g + 4], b1);
						a10 = _mm512_dpbusd_epi32(a10, q[1][g], b0);
						a11 = _mm512_dpbusd_epi32(a11, q[1][g + 4], b1);
					}
					sumi[0][i] = _mm512_add_epi32(
					    sumi[0][i],
					    _mm512_add_epi32(_mm512_mullo_epi32(a00, sc[0][0]),
					                     _mm512_mullo_epi32(a01, sc[0][1])));
					sumi[1][i] = _mm512_add_epi32(
					    sumi[1][i],
					    _mm512_add_epi32(_mm512_mullo_epi32(a10, sc[1][0]),
					                     _mm512_mullo_epi32(a11, sc[1][1])));
				}
			}
		for (int f = 0; f < 2; f++) {
			const uint8_t *scl = blk + f * QUANT_PANEL6_BLOCK + 3072, *dd = scl + 256;
			__m512i scp[8]; /* lane r: row r's scales 2p, 2p + 1 as int16 */
			for (int p = 0; p < 8; p++)
				scp[p] = _mm512_or_si512(
				    _mm512_and_si512(widen16_s8(scl + 32 * p),
				                     _mm512_set1_epi32(0xffff)),
				    _mm512_slli_epi32(widen16_s8(scl + 32 * p + 16), 16));
			__m256 dlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dd));
			__m256 dhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dd + 16)));
			for (int i = 0; i < nt; i++) {
				const struct qkv_act_q8_k *a =
				    (const struct qkv_act_q8_k *)x[i] + b;
				__m512i off = _mm512_setzero_si512();
				for (int p = 0; p < 8; p++) {
					int32_t s2; /* X's sums 2p, 2p + 1 as an int16 pair */
					memcpy(&s2, a->sum + 2 * p, 4);
					off =
					    _mm512_dpwssd_epi32(off, scp[p], _mm512_set1_epi32(s2));
				}
				__m512i si =
				    _mm512_sub_epi32(sumi[f][i], _mm512_slli_epi32(off, 5));
				panel_step(&lo[f][i], &hi[f][i], si, dlo, dhi, a->d, 0);
			}
		}
	}
	for (int i = 0; i < nt; i++)
		for (int f = 0; f < 2; f++) {
			_mm256_storeu_ps(out + 32 * i + 16 * f, lo[f][i]);
			_mm256_storeu_ps(out + 32 * i + 16 * f + 8, hi[f][i]);
		}
}
#undef Q_TARGET

const quant_panel_fn quant_panels_avx512vnni[QKV_WTYPE_COUNT] = {
    [QKV_WT_Q8_0] = panel_q8_0_avx512vnni,
    [QKV_WT_Q4_0] = panel_q4_0_avx512vnni,
    [QKV_WT_Q4_K] = panel_q4_k_avx512vnni,
    [QKV_WT_Q5_K] = panel_q5_k_avx512vnni,
    [QKV_WT_Q6_K] = panel_q6_k_avx512vnni};
#endif
