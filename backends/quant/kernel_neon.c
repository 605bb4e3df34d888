/* The aarch64 quant rows on the dot-product extension (FEAT_DotProd, sdot), one per block
 * type: sdot multiplies 16 signed bytes of weights by 16 of X into 4 int32 lanes, exactly,
 * so the digits go in signed (Q4_0: q - 8, Q6_K: q - 32, the K types' 0..31 as they are);
 * each sub-block's lanes are multiplied by its scale in int32 and summed once per block or
 * super-block; the float steps are <qkv/wtype.h>'s, in its order, without FMA. Natively
 * the functions carry target("+dotprod") and run only after dispatch.c's table saw the
 * HWCAP bit; through SIMDe the same source runs on any machine. Speed on ARM hardware: not
 * yet measured (no ARM machine here); qemu runs prove the logic only. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "kernel.h"
#include "simd.h"

#if QKV_NEON_BUILD && (defined(__aarch64__) || defined(QKV_SIMDE))

#define DOT_TARGET QKV_ISA("arch=armv8.2-a+dotprod")
#define INLINE                                                                                     \
	DOT_TARGET static inline __attribute__((always_inline)) /* +dotprod too: it inlines sdot   \
	                                                         */

/* w . x over 32 bytes (two sdot), 4 int32 lanes */
INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *x)
{
	int32x4_t s = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(x));
	return vdotq_s32(s, w1, vld1q_s8(x + 16));
}

/* _0 types: the block's 32 signed weights in w0, w1. */
INLINE void blocks_0(int8x16_t w0, int8x16_t w1, float dw, const void *const *x, int nt, size_t b,
                     float *acc)
{
	for (int i = 0; i < nt; i++) {
		const struct qkv_act_q8_0 *a = (const struct qkv_act_q8_0 *)x[i] + b;
		int32_t isum = vaddvq_s32(dot32(w0, w1, a->q));
		acc[i] = acc[i] + (float)isum * (dw * a->d);
	}
}

DOT_TARGET static void row_q8_0(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                                float *acc)
{
	for (int i = 0; i < nt; i++)
		acc[i] = 0.0f;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = wrow + 34 * b;
		int8x16_t w0 = vld1q_s8((const int8_t *)blk + 2),
		          w1 = vld1q_s8((const int8_t *)blk + 18);
		blocks_0(w0, w1, qkv_fp16_to_f32(qkv_rd16(blk)), x, nt, b, acc);
	}
}

DOT_TARGET static void row_q4_0(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                                float *acc)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f);
	const int8x16_t eight = vdupq_n_s8(8);
	for (int i = 0; i < nt; i++)
		acc[i] = 0.0f;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = wrow + 18 * b;
		uint8x16_t v = vld1q_u8(blk + 2);
		int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), eight);
		int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
		blocks_0(lo, hi, qkv_fp16_to_f32(qkv_rd16(blk)), x, nt, b, acc);
	}
}

/* Q4_K and Q5_K, one super-block: q[2j], q[2j+1] the 32 digits of sub-block j. */
INLINE void super_k(const int8x16_t *q, const uint8_t *sc, const uint8_t *m, float d, float dmin,
                    const void *const *x, int nt, size_t b, float *acc)
{
	for (int i = 0; i < nt; i++) {
		const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)x[i] + b;
		int32x4_t s = vdupq_n_s32(0);
		for (int j = 0; j < 8; j++)
			s = vmlaq_n_s32(s, dot32(q[2 * j], q[2 * j + 1], a->q + 32 * j), sc[j]);
		int32_t sumi = vaddvq_s32(s), summ = 0;
		for (int j = 0; j < 8; j++)
			summ += (int32_t)m[j] * (a->sum[2 * j] + a->sum[2 * j + 1]);
		acc[i] = acc[i] + (float)sumi * (d * a->d);
		acc[i] = acc[i] - (float)summ * (dmin * a->d);
	}
}

/* The digits of one K-type super-block: qs at 32c..32c+31 (c < 4), low nibbles sub-block
 * 2c, high 2c+1; with qh (Q5_K) the fifth bit, bit 2c or 2c+1 of qh[l]. */
INLINE void k_digits(const uint8_t *qs, const uint8_t *qh, int8x16_t *q)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f), one = vdupq_n_u8(1);
	for (int c = 0; c < 4; c++)
		for (int h = 0; h < 2; h++) {
			uint8x16_t v = vld1q_u8(qs + 32 * c + 16 * h);
			uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
			if (qh) {
				uint8x16_t hb = vld1q_u8(qh + 16 * h);
				lo = vorrq_u8(
				    lo,
				    vshlq_n_u8(
				        vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * c))), one),
				        4));
				hi = vorrq_u8(
				    hi, vshlq_n_u8(
				            vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * c - 1))),
				                     one),
				            4));
			}
			q[4 * c + h] = vreinterpretq_s8_u8(lo);
			q[4 * c + 2 + h] = vreinterpretq_s8_u8(hi);
		}
}

DOT_TARGET static void row_q4_k(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                                float *acc)
{
	for (int i = 0; i < nt; i++)
		acc[i] = 0.0f;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = wrow + 144 * b;
		uint8_t sc[8], m[8];
		for (int j = 0; j < 8; j++)
			qkv_k_scale_min(blk + 4, j, &sc[j], &m[j]);
		int8x16_t q[16];
		k_digits(blk + 16, NULL, q);
		super_k(q, sc, m, qkv_fp16_to_f32(qkv_rd16(blk)),
		        qkv_fp16_to_f32(qkv_rd16(blk + 2)), x, nt, b, acc);
	}
}

DOT_TARGET static void row_q5_k(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                                float *acc)
{
	for (int i = 0; i < nt; i++)
		acc[i] = 0.0f;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = wrow + 176 * b;
		uint8_t sc[8], m[8];
		for (int j = 0; j < 8; j++)
			qkv_k_scale_min(blk + 4, j, &sc[j], &m[j]);
		int8x16_t q[16];
		k_digits(blk + 48, blk + 16, q);
		super_k(q, sc, m, qkv_fp16_to_f32(qkv_rd16(blk)),
		        qkv_fp16_to_f32(qkv_rd16(blk + 2)), x, nt, b, acc);
	}
}

DOT_TARGET static void row_q6_k(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                                float *acc)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(3);
	const int8x16_t k32 = vdupq_n_s8(32);
	for (int i = 0; i < nt; i++)
		acc[i] = 0.0f;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *blk = wrow + 210 * b;
		const int8_t *scales = (const int8_t *)(blk + 192);
		float d = qkv_fp16_to_f32(qkv_rd16(blk + 208));
		int8x16_t q[16]; /* sub-block j (16 values) in q[j], signed q - 32 */
		for (int half = 0; half < 2; half++)
			for (int h = 0; h < 2; h++) {
				const uint8_t *ql = blk + 64 * half + 16 * h,
				              *qh = blk + 128 + 32 * half + 16 * h;
				uint8x16_t v0 = vld1q_u8(ql), v1 = vld1q_u8(ql + 32),
				           hb = vld1q_u8(qh);
				uint8x16_t d0 =
				    vorrq_u8(vandq_u8(v0, m4), vshlq_n_u8(vandq_u8(hb, m2), 4));
				uint8x16_t d1 =
				    vorrq_u8(vandq_u8(v1, m4),
				             vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4));
				uint8x16_t d2 =
				    vorrq_u8(vshrq_n_u8(v0, 4),
				             vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m2), 4));
				uint8x16_t d3 =
				    vorrq_u8(vshrq_n_u8(v1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
				int8x16_t *o = q + 8 * half + h;
				o[0] = vsubq_s8(vreinterpretq_s8_u8(d0), k32);
				o[2] = vsubq_s8(vreinterpretq_s8_u8(d1), k32);
				o[4] = vsubq_s8(vreinterpretq_s8_u8(d2), k32);
				o[6] = vsubq_s8(vreinterpretq_s8_u8(d3), k32);
			}
		for (int i = 0; i < nt; i++) {
			const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)x[i] + b;
			int32x4_t s = vdupq_n_s32(0);
			for (int j = 0; j < 16; j++)
				s = vmlaq_n_s32(
				    s, vdotq_s32(vdupq_n_s32(0), q[j], vld1q_s8(a->q + 16 * j)),
				    scales[j]);
			int32_t sumi = vaddvq_s32(s);
			acc[i] = acc[i] + (float)sumi * (d * a->d);
		}
	}
}

const struct quant_kernel quant_kernel_neon_dot = {
    .name = "neon_dot",
    .desc = "sdot (FEAT_DotProd)",
    .row = {NULL, NULL, NULL, row_q8_0, row_q4_0, row_q4_k, row_q5_k, row_q6_k}};

#endif
