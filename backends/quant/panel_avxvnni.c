/* The AVX-VNNI panel kernels: kernel.h's panel layouts (the zmm kernels' ones) taken 8 rows
 * at a time, one ymm of 8 int32 lanes per row octet, as panel_avx2.c does, with vpdpbusd
 * (VEX) in place of vpmaddubsw + vpaddw + vpmaddwd: every 4 products go straight into an
 * int32 lane, so no int16 bound rests on the digits and Q8_0 needs no sign trick (w + 128
 * as stored in the panel, the accumulator started at -128 x the X block's sum). Each
 * sub-block's int32 sum is scaled by vpmulld (the zmm kernels' way); the min and offset
 * terms and the float steps are panel_ymm.h's, in <qkv/wtype.h>'s order (bit-identical).
 * Two accumulator chains per X row halve the wait on vpdpbusd's latency.
 *
 * For Alder Lake and later Intel client cores (AVX-VNNI without AVX-512); CPUs with
 * AVX-512 VNNI take the zmm set first. Speed not measured yet: no such CPU here (the
 * tests run these kernels through SIMDe).
 *
 * Built for baseline x86-64: these functions carry target attributes and run only after
 * dispatch.c's table said the CPU has AVX2, AVX-VNNI and F16C.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* the float steps are specified without FMA */
#endif
#include "kernel.h"
#include "panel_ymm.h"
#include "prefetch_x86.h"

#define V_TARGET QKV_ISA("avx2,avxvnni,f16c")

/* s + the 8 k-groups of w against X's 32 values at q (4 each, broadcast), in two chains */
V_TARGET static inline __m256i dot8(__m256i s, const __m256i w[8], const int8_t *q)
{
	__m256i t = _mm256_setzero_si256();
	QKV_UNROLL(4)
	for (int g = 0; g < 8; g += 2) {
		s = _mm256_dpbusd_avx_epi32(s, w[g], bcast4(q + 4 * g));
		t = _mm256_dpbusd_avx_epi32(t, w[g + 1], bcast4(q + 4 * g + 4));
	}
	return _mm256_add_epi32(s, t);
}

/* 8 bytes to 8 int32 lanes, unsigned or signed */
V_TARGET static inline __m256i lanes_u8(const uint8_t *p)
{
	return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}
V_TARGET static inline __m256i lanes_s8(const uint8_t *p)
{
	return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* 32 rows of a Q8_0 (q4 0: w + 128) or Q4_0 (q4 1: nibbles q + 8) wide panel, nt <=
 * QUANT_YMM_WIDE_TILE X rows: per block and row octet the 8 k-groups' digits made once for
 * every X row; the accumulators start at the stored -128 (-8) x the X block's sum. */
V_TARGET static inline void wide_body(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                                      float *out, struct quant_pf pf, const int q4)
{
	const size_t pb = q4 ? QUANT_WIDE4_BLOCK : QUANT_WIDE_BLOCK, dat = pb - 64;
	const int32_t *off[QUANT_YMM_WIDE_TILE];
	for (int i = 0; i < nt; i++)
		off[i] = quant_act_q8_0_offsets(x[i], nb, q4);
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + pb * b;
		panel_prefetch(blk, pb, pf, b, 0, 1);
		for (int o = 0; o < 4; o++) {
			__m256i w[8];
			if (q4) {
				q4_0_digits(blk, o, w);
			} else {
				QKV_UNROLL(8)
				for (int j = 0; j < 8; j++)
					w[j] = _mm256_loadu_si256((
					    const __m256i *)(const void *)(blk + 128 * j + 32 * o));
			}
			__m256 d = half8(blk + dat + 16 * o);
			QKV_UNROLL(1)
			for (int i = 0; i < nt; i++) {
				const struct qkv_act_q8_0 *a =
				    (const struct qkv_act_q8_0 *)x[i] + b;
				__m256i s = dot8(_mm256_set1_epi32(off[i][b]), w, a->q);
				float_step(out + 32 * i + 8 * o, s, d, a->d, 0);
			}
		}
	}
}

V_TARGET static void panel_q8_0_avxvnni(const uint8_t *panel, const void *const *x, int nt,
                                        size_t nb, float *out, struct quant_pf pf)
{
	wide_body(panel, x, nt, nb, out, pf, 0);
}

V_TARGET static void panel_q4_0_avxvnni(const uint8_t *panel, const void *const *x, int nt,
                                        size_t nb, float *out, struct quant_pf pf)
{
	wide_body(panel, x, nt, nb, out, pf, 1);
}

/* Row octet o of a Q4_K or Q5_K super-block (two 16-row halves, kernel.h): sumi[i] +=
 * sum_j sc[j] (digits . x of sub-block j), the digits of sub-block j unpacked once for
 * every X row. */
V_TARGET static inline __attribute__((always_inline)) void
k_octet_vnni(const uint8_t *hb, int o, const void *const *x, int nt, size_t b, __m256i *sumi,
             const int five)
{
	const int ro = 32 * (o & 1);
	const uint8_t *scm = hb + 2048 + (five ? 512 : 0) + 8 * (o & 1);
	QKV_UNROLL(8)
	for (int j = 0; j < 8; j++) {
		__m256i dg[8];
		k_digits(hb, j, ro, dg, five);
		__m256i sc = lanes_u8(scm + 16 * j);
		QKV_UNROLL(1)
		for (int i = 0; i < nt; i++) {
			const int8_t *xq = ((const struct qkv_act_q8_k *)x[i] + b)->q + 32 * j;
			sumi[i] = _mm256_add_epi32(
			    sumi[i], _mm256_mullo_epi32(dot8(_mm256_setzero_si256(), dg, xq), sc));
		}
	}
}

V_TARGET static void panel_q4_k_avxvnni(const uint8_t *panel, const void *const *x, int nt,
                                        size_t nb, float *out, struct quant_pf pf)
{
	ymm_k_body(panel, x, nt, nb, out, pf, 0, k_octet_vnni);
}

V_TARGET static void panel_q5_k_avxvnni(const uint8_t *panel, const void *const *x, int nt,
                                        size_t nb, float *out, struct quant_pf pf)
{
	ymm_k_body(panel, x, nt, nb, out, pf, 1, k_octet_vnni);
}

/* 32 rows of a Q6_K panel (two 16-row halves, kernel.h), nt <= QUANT_YMM_TILE X rows: per
 * super-block, row octet and 32 values (h, s) the 8 k-groups' digits q + 32 (0..63: the
 * nibble of ql, bits 2s, 2s + 1 of qh as bits 4, 5) unpacked once; per X row the two
 * sub-blocks' sums (k-groups 0-3, 4-7) times their int8 scales; then q6_octet_steps. */
V_TARGET static void panel_q6_k_avxvnni(const uint8_t *panel, const void *const *x, int nt,
                                        size_t nb, float *out, struct quant_pf pf)
{
	zero_out(out, nt);
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = panel + 2 * QUANT_PANEL6_BLOCK * b;
		for (int o = 0; o < 4; o++) {
			const uint8_t *hf = blk + (size_t)(o >> 1) * QUANT_PANEL6_BLOCK;
			const uint8_t *scl = hf + 3072 + 8 * (o & 1);
			const int ro = 32 * (o & 1);
			__m256i sumi[QUANT_YMM_TILE];
			for (int i = 0; i < nt; i++)
				sumi[i] = _mm256_setzero_si256();
			for (int h = 0; h < 2; h++) {
				panel_prefetch(blk, 2 * QUANT_PANEL6_BLOCK, pf, b, 2 * o + h, 8);
				QKV_UNROLL(4)
				for (int s = 0; s < 4; s++) {
					__m256i q[8];
					q6_digits(hf, h, s, ro, q);
					const int j =
					    8 * h + 2 * s; /* sub-blocks j (g < 4), j + 1 */
					__m256i sa = lanes_s8(scl + 16 * j),
					        sb = lanes_s8(scl + 16 * j + 16);
					QKV_UNROLL(1)
					for (int i = 0; i < nt; i++) {
						const int8_t *xq =
						    ((const struct qkv_act_q8_k *)x[i] + b)->q +
						    128 * h + 32 * s;
						__m256i ta = _mm256_setzero_si256(), tb = ta;
						QKV_UNROLL(4)
						for (int g = 0; g < 4; g++) {
							ta = _mm256_dpbusd_avx_epi32(
							    ta, q[g], bcast4(xq + 4 * g));
							tb = _mm256_dpbusd_avx_epi32(
							    tb, q[g + 4], bcast4(xq + 16 + 4 * g));
						}
						sumi[i] = _mm256_add_epi32(
						    sumi[i],
						    _mm256_add_epi32(_mm256_mullo_epi32(ta, sa),
						                     _mm256_mullo_epi32(tb, sb)));
					}
				}
			}
			q6_octet_steps(out + 8 * o, scl, hf + 3328 + 16 * (o & 1), x, nt, b, sumi);
		}
	}
}

const quant_panel_fn quant_panels_avxvnni[QKV_WTYPE_COUNT] = {[QKV_WT_Q8_0] = panel_q8_0_avxvnni,
                                                              [QKV_WT_Q4_0] = panel_q4_0_avxvnni,
                                                              [QKV_WT_Q4_K] = panel_q4_k_avxvnni,
                                                              [QKV_WT_Q5_K] = panel_q5_k_avxvnni,
                                                              [QKV_WT_Q6_K] = panel_q6_k_avxvnni};
#endif
