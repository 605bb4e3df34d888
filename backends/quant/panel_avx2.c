/* The AVX2 panel kernels: kernel.h's panel layouts (the ones the zmm kernels read) taken 8
 * rows at a time, one ymm of 8 int32 lanes per row octet, with vpmaddubsw + vpmaddwd.
 *
 * vpmaddubsw adds two u8 x s8 products into a saturating int16, so the exact sums rest on
 * bounds (X's digits are in [-127, 127]):
 *   Q4_0, Q4_K  digits 0..15: a pair is at most 3810, 8 pairs (a whole block or sub-block
 *               of 32) at most 30480: summed in int16 (vpaddw), then one vpmaddwd by 1
 *               or by the sub-block's scale
 *   Q5_K        digits 0..31: 7874, 4 pairs summed
 *   Q6_K        digits 0..63: 16002, 2 pairs summed
 *   Q8_0        signed weights (the panel's w + 128 with the top bit flipped): the sign
 *               trick, |w| <= 128 as u8 against x with w's sign, 32512 at most, every
 *               vpmaddubsw widened by vpmaddwd at once
 * so one vpmaddubsw of 32 products costs about one vector operation instead of the three
 * (vpmaddubsw, vpmaddwd, vpaddd) of a plain dot product, and no horizontal sum is left: row r
 * stays in lane r up to the float steps, which are <qkv/wtype.h>'s, in its order
 * (bit-identical). Every X broadcast is a load; the weights of a row octet are unpacked
 * once for every X row of the call. The loops over X rows are kept rolled (QKV_UNROLL(1)):
 * unrolled, gcc interleaved the rows and spilled the unpacked weights (Zen 3, kernel alone,
 * 1 thread: Q4_K 143 -> 166 GOP/s rolled, Q6_K 112 -> 122, Q8_0 98 -> 102-109).
 *
 * Built for baseline x86-64: these functions carry target attributes and run only after
 * dispatch.c's table said the CPU has AVX2 and F16C. With QKV_SIMDE they run emulated.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* the float steps are specified without FMA */
#endif
#include <string.h>

#include "kernel.h"
#include "simd.h"

#include "prefetch_x86.h"

#include "panel_ymm.h"

/* 32 rows of a Q8_0 wide panel (kernel.h): per block and row octet, the weights' sign
 * flipped back (w + 128 ^ 0x80 = w) and |w| made once for every X row, half the block's
 * k-groups at a time (8 registers); lane r's integer sum exact, then the float step. */
Y_TARGET static void panel_q8_0_avx2(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                     float *out, struct quant_pf pf)
{
	const __m256i flip = _mm256_set1_epi8((char)0x80), one = _mm256_set1_epi16(1);
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + QUANT_WIDE_BLOCK * b;
		panel_prefetch(blk, QUANT_WIDE_BLOCK, pf, b, 0, 1);
		for (int o = 0; o < 4; o++) {
			__m256i s[QUANT_YMM_WIDE_TILE];
			for (int hk = 0; hk < 2; hk++) {
				__m256i ws[4], aw[4];
				QKV_UNROLL(4)
				for (int j = 0; j < 4; j++) {
					ws[j] = _mm256_xor_si256(
					    _mm256_loadu_si256(
					        (const __m256i *)(const void *)(blk +
					                                        128 * (4 * hk + j) +
					                                        32 * o)),
					    flip);
					aw[j] = _mm256_abs_epi8(ws[j]);
				}
				QKV_UNROLL(1)
				for (int i = 0; i < nt; i++) {
					const int8_t *xq =
					    ((const struct qkv_act_q8_0 *)x[i] + b)->q + 16 * hk;
					__m256i t = hk ? s[i] : _mm256_setzero_si256();
					QKV_UNROLL(4)
					for (int j = 0; j < 4; j++)
						t = _mm256_add_epi32(
						    t,
						    _mm256_madd_epi16(
						        _mm256_maddubs_epi16(
						            aw[j], _mm256_sign_epi8(
						                       bcast4(xq + 4 * j), ws[j])),
						        one));
					s[i] = t;
				}
			}
			__m256 d = half8(blk + 1024 + 16 * o);
			for (int i = 0; i < nt; i++)
				float_step(out + 32 * i + 8 * o, s[i], d,
				           ((const struct qkv_act_q8_0 *)x[i] + b)->d, 0);
		}
	}
}

/* 32 rows of a Q4_0 wide panel: per block and row octet the 8 k-groups' digits (q + 8)
 * unpacked once; per X row 8 vpmaddubsw summed in int16, widened once, started at the
 * stored -8 x the X block's sum. */
Y_TARGET static void panel_q4_0_avx2(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                     float *out, struct quant_pf pf)
{
	const __m256i one = _mm256_set1_epi16(1);
	const int32_t *off[QUANT_YMM_WIDE_TILE];
	for (int i = 0; i < nt; i++)
		off[i] = quant_act_q8_0_offsets(x[i], nb, 1);
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + QUANT_WIDE4_BLOCK * b;
		panel_prefetch(blk, QUANT_WIDE4_BLOCK, pf, b, 0, 1);
		for (int o = 0; o < 4; o++) {
			__m256i dg[8];
			q4_0_digits(blk, o, dg);
			__m256 d = half8(blk + 512 + 16 * o);
			QKV_UNROLL(1)
			for (int i = 0; i < nt; i++) {
				const struct qkv_act_q8_0 *a =
				    (const struct qkv_act_q8_0 *)x[i] + b;
				__m256i p = _mm256_maddubs_epi16(dg[0], bcast4(a->q));
				QKV_UNROLL(7)
				for (int k = 1; k < 8; k++)
					p = _mm256_add_epi16(
					    p, _mm256_maddubs_epi16(dg[k], bcast4(a->q + 4 * k)));
				__m256i s = _mm256_add_epi32(_mm256_madd_epi16(p, one),
				                             _mm256_set1_epi32(off[i][b]));
				float_step(out + 32 * i + 8 * o, s, d, a->d, 0);
			}
		}
	}
}

/* Row octet o of a Q4_K or Q5_K super-block (two 16-row halves, kernel.h): sumi[i] +=
 * sum_j sc[j] (digits . x of sub-block j). Per sub-block the 8 k-groups' digits are
 * unpacked once for every X row; per X row their vpmaddubsw are summed in int16 (8 for
 * Q4_K, 4 for Q5_K) and widened by vpmaddwd by the scale. */
Y_TARGET static inline __attribute__((always_inline)) void k_octet(const uint8_t *hb, int o,
                                                                   const void *const *x, int nt,
                                                                   size_t b, __m256i *sumi,
                                                                   const int five)
{
	const int ro = 32 * (o & 1);
	const uint8_t *scm = hb + 2048 + (five ? 512 : 0) + 8 * (o & 1);
	QKV_UNROLL(8)
	for (int j = 0; j < 8; j++) {
		__m256i dg[8];
		k_digits(hb, j, ro, dg, five);
		__m256i sc = pair_u8(scm + 16 * j, scm + 16 * j);
		QKV_UNROLL(1)
		for (int i = 0; i < nt; i++) {
			const int8_t *xq = ((const struct qkv_act_q8_k *)x[i] + b)->q + 32 * j;
			__m256i p = _mm256_maddubs_epi16(dg[0], bcast4(xq));
			if (five) {
				QKV_UNROLL(3)
				for (int g = 1; g < 4; g++)
					p = _mm256_add_epi16(
					    p, _mm256_maddubs_epi16(dg[g], bcast4(xq + 4 * g)));
				__m256i p2 = _mm256_maddubs_epi16(dg[4], bcast4(xq + 16));
				QKV_UNROLL(3)
				for (int g = 5; g < 8; g++)
					p2 = _mm256_add_epi16(
					    p2, _mm256_maddubs_epi16(dg[g], bcast4(xq + 4 * g)));
				sumi[i] = _mm256_add_epi32(sumi[i], _mm256_madd_epi16(p2, sc));
			} else {
				QKV_UNROLL(7)
				for (int g = 1; g < 8; g++)
					p = _mm256_add_epi16(
					    p, _mm256_maddubs_epi16(dg[g], bcast4(xq + 4 * g)));
			}
			sumi[i] = _mm256_add_epi32(sumi[i], _mm256_madd_epi16(p, sc));
		}
	}
}

Y_TARGET static void panel_q4_k_avx2(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                     float *out, struct quant_pf pf)
{
	ymm_k_body(panel, x, nt, nb, out, pf, 0, k_octet);
}

Y_TARGET static void panel_q5_k_avx2(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                     float *out, struct quant_pf pf)
{
	ymm_k_body(panel, x, nt, nb, out, pf, 1, k_octet);
}

/* Row octet o of Q6_K super-block b (two 16-row halves, kernel.h) for nt X rows: per 32
 * values (h, s) the 8 k-groups' digits q + 32 (0..63, q6_digits) unpacked once; per X row
 * two vpmaddubsw summed in int16, widened by vpmaddwd by the sub-block's scale. The -32
 * offset of the digits, two ways:
 *   wsum 0  the digits (u8) against X (s8): 32 sum_j sc[j] X_j from X's 16-value sums, 8
 *           vpmaddwd per X row; int16 sums at most 4 x 63 x 127
 *   wsum 1  the weights q (digits - 32, s8) against X + 128 (the activation row's u8 copy,
 *           kernel.h): the offset is 128 sum_j sc[j] (sum of q over sub-block j), the
 *           weights' own, made once for every X row; int16 sums at most 4 x 255 x 32
 * The second costs 18 operations per 32 values and octet against 3 per X row: it runs from
 * QUANT_AVX2_Q6_WSUM_ROWS X rows on. */
Y_TARGET static inline __attribute__((always_inline)) void
q6_octet(const uint8_t *blk, int o, const void *const *x, int nt, size_t nb, size_t b, float *out,
         struct quant_pf pf, const int wsum)
{
	const uint8_t *hf = blk + (size_t)(o >> 1) * QUANT_PANEL6_BLOCK;
	const uint8_t *scl = hf + 3072 + 8 * (o & 1);
	const int ro = 32 * (o & 1);
	const __m256i m32 = _mm256_set1_epi8(32), ones = _mm256_set1_epi8(1);
	__m256i sumi[QUANT_YMM_TILE], wq = _mm256_setzero_si256(); /* wq: sum_j sc[j] q_j */
	for (int i = 0; i < nt; i++)
		sumi[i] = _mm256_setzero_si256();
	for (int h = 0; h < 2; h++) {
		panel_prefetch(blk, 2 * QUANT_PANEL6_BLOCK, pf, b, 2 * o + h, 8);
		QKV_UNROLL(4)
		for (int s = 0; s < 4; s++) {
			__m256i q[8];
			q6_digits(hf, h, s, ro, q);
			const int j = 8 * h + 2 * s; /* sub-blocks j (g < 4), j + 1 */
			__m256i sa = pair_s8(scl + 16 * j, scl + 16 * j),
			        sb = pair_s8(scl + 16 * j + 16, scl + 16 * j + 16);
			if (wsum) {
				QKV_UNROLL(8)
				for (int g = 0; g < 8; g++)
					q[g] = _mm256_sub_epi8(q[g], m32);
				__m256i qa = _mm256_add_epi16(
				    _mm256_add_epi16(_mm256_maddubs_epi16(ones, q[0]),
				                     _mm256_maddubs_epi16(ones, q[1])),
				    _mm256_add_epi16(_mm256_maddubs_epi16(ones, q[2]),
				                     _mm256_maddubs_epi16(ones, q[3])));
				__m256i qb = _mm256_add_epi16(
				    _mm256_add_epi16(_mm256_maddubs_epi16(ones, q[4]),
				                     _mm256_maddubs_epi16(ones, q[5])),
				    _mm256_add_epi16(_mm256_maddubs_epi16(ones, q[6]),
				                     _mm256_maddubs_epi16(ones, q[7])));
				wq = _mm256_add_epi32(wq,
				                      _mm256_add_epi32(_mm256_madd_epi16(qa, sa),
				                                       _mm256_madd_epi16(qb, sb)));
			}
			QKV_UNROLL(1)
			for (int i = 0; i < nt; i++) {
				const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)x[i];
				const int8_t *xq =
				    wsum ? (const int8_t *)(const void *)quant_act_q8_k_unsigned(
				               a, nb) +
				               256 * b + 128 * h + 32 * s
				         : a[b].q + 128 * h + 32 * s;
				__m256i p[4];
				QKV_UNROLL(4)
				for (int u = 0; u < 4; u++)
					p[u] =
					    wsum ? _mm256_add_epi16(
					               _mm256_maddubs_epi16(bcast4(xq + 8 * u),
					                                    q[2 * u]),
					               _mm256_maddubs_epi16(bcast4(xq + 8 * u + 4),
					                                    q[2 * u + 1]))
					         : _mm256_add_epi16(
					               _mm256_maddubs_epi16(q[2 * u],
					                                    bcast4(xq + 8 * u)),
					               _mm256_maddubs_epi16(
					                   q[2 * u + 1], bcast4(xq + 8 * u + 4)));
				sumi[i] = _mm256_add_epi32(
				    sumi[i], _mm256_add_epi32(
				                 _mm256_add_epi32(_mm256_madd_epi16(p[0], sa),
				                                  _mm256_madd_epi16(p[1], sa)),
				                 _mm256_add_epi32(_mm256_madd_epi16(p[2], sb),
				                                  _mm256_madd_epi16(p[3], sb))));
			}
		}
	}
	const uint8_t *dd = hf + 3328 + 16 * (o & 1);
	if (!wsum) {
		q6_octet_steps(out + 8 * o, scl, dd, x, nt, b, sumi);
		return;
	}
	__m256 d = half8(dd);
	wq = _mm256_slli_epi32(wq, 7);
	for (int i = 0; i < nt; i++)
		float_step(out + 32 * i + 8 * o, _mm256_sub_epi32(sumi[i], wq), d,
		           ((const struct qkv_act_q8_k *)x[i] + b)->d, 0);
}

/* QUANT_AVX2_Q6_WSUM_ROWS (kernel.h): from 8 X rows on a Q6_K call takes the weights' sums
 * (q6_octet's wsum 1). Zen 3, 1 thread, against X's sums: T = 1 21 % slower, T = 4 5 %,
 * T = 6 1-2 %; T = 8 2 % faster, T = 16-512 8-9 %. A call of 8 rows or more has X + 128
 * (quant.c, the set's x_unsigned). */

/* 32 rows of a Q6_K panel, nt <= QUANT_YMM_TILE X rows: q6_octet per super-block and row
 * octet. */
Y_TARGET static void panel_q6_k_avx2(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                     float *out, struct quant_pf pf)
{
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + 2 * QUANT_PANEL6_BLOCK * b;
		for (int o = 0; o < 4; o++) {
			if (nt >= QUANT_AVX2_Q6_WSUM_ROWS)
				q6_octet(blk, o, x, nt, nb, b, out, pf, 1);
			else
				q6_octet(blk, o, x, nt, nb, b, out, pf, 0);
		}
	}
}

const quant_panel_fn quant_panels_avx2[QKV_WTYPE_COUNT] = {[QKV_WT_Q8_0] = panel_q8_0_avx2,
                                                           [QKV_WT_Q4_0] = panel_q4_0_avx2,
                                                           [QKV_WT_Q4_K] = panel_q4_k_avx2,
                                                           [QKV_WT_Q5_K] = panel_q5_k_avx2,
                                                           [QKV_WT_Q6_K] = panel_q6_k_avx2};
#endif
