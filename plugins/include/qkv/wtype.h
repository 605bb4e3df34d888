/* Weight types: the one table of how weights are stored and how they are multiplied.
 *
 * Every weight type has one row (struct qkv_wtype_traits): its name, its block (the
 * elements that share a scale), the bytes of a block, how a block widens to f32, how f32
 * is quantized into a block, and the activation format X is put in to multiply it. The
 * block types have the byte layout of GGUF (llama.cpp's ggml), so a tensor of a GGUF
 * file is used in place. The config, the loaders, the backends, the conformance harness,
 * bench, `qkv quantize` and `qkv info` read this table; adding a type is one row here,
 * its block functions and its reference dot product below (and, optionally, kernels).
 *
 * Arithmetic of precision QKV_STORED (docs/DESIGN.md "Precision"), for one output:
 * the weight row (K values along d_model, K a multiple of the block) is in its type;
 *   F32, F16, BF16: X stays f32; y = sum_k x[k]*w[k] in f32, any order, + bias.
 *   Q8_0, Q4_0:     X is quantized per block of 32 (struct qkv_act_q8_0: f32 scale
 *                   dx = amax/127, q = nearbyint(x*127/amax), the int8 scheme of
 *                   <qkv/precision.h> on each block); per block b, in order of b:
 *                       isum = sum_i qw[i]*qx[i]                       exact int32
 *                       acc  = acc + (float)isum * (dw * dx)           f32, no FMA
 *                   (qw: the weight's integer, q-8 for Q4_0; dw its fp16 scale).
 *   Q4_K, Q5_K:     X is quantized per super-block of 256 (struct qkv_act_q8_k: one f32
 *                   scale, 16 sums of 16 quantized values); per super-block, in order:
 *                       sumi = sum_j sc[j] * sum_{i in j} q[i]*qx[i]   exact int32
 *                       summ = sum_j m[j] * (sum of qx in sub-block j)  exact int32
 *                       acc  = acc + (float)sumi * (d * dx)
 *                       acc  = acc - (float)summ * (dmin * dx)
 *                   (8 sub-blocks of 32; sc, m their 6-bit scale and min).
 *   Q6_K:           as Q4_K with 16 sub-blocks of 16, signed 8-bit scales, q-32, no min.
 *   y = acc + bias. The integer parts are exact and the float steps are in this order, so
 *   every backend gives the scalar reference's result bit for bit. "No FMA": a multiply
 *   and an add round separately; compile code that implements these steps with
 *   -ffp-contract=off (gcc's default in -std=c11, not in -std=gnu11; clang's is "on").
 *
 * C11, header-only, includes nothing from the core.
 */
#ifndef QKV_WTYPE_H
#define QKV_WTYPE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <qkv/plugin.h>
#include <qkv/precision.h>

/* Values are fixed forever (they are ABI: struct qkv_problem.wtype); new types are
 * appended. */
enum qkv_wtype {
	QKV_WT_F32 = 0,
	QKV_WT_F16 = 1,
	QKV_WT_BF16 = 2,
	QKV_WT_Q8_0 = 3,
	QKV_WT_Q4_0 = 4,
	QKV_WT_Q4_K = 5,
	QKV_WT_Q5_K = 6,
	QKV_WT_Q6_K = 7
};
#define QKV_WTYPE_COUNT 8
#define QKV_WTYPE_BIT(t) (1u << (unsigned)(t))
#define QKV_WTYPE_ALL ((1u << QKV_WTYPE_COUNT) - 1u)

/* How X is prepared for a weight type. */
enum qkv_act {
	QKV_ACT_F32 = 0,  /* X as given */
	QKV_ACT_Q8_0 = 1, /* blocks of 32: struct qkv_act_q8_0 */
	QKV_ACT_Q8_K = 2  /* super-blocks of 256: struct qkv_act_q8_k */
};

struct qkv_act_q8_0 {
	float d;      /* amax/127 of the block (0: all zero, NaN: not finite) */
	int8_t q[32]; /* nearbyint(x*127/amax), in [-127, 127] */
};

struct qkv_act_q8_k {
	float d;         /* amax/127 of the super-block */
	int8_t q[256];   /* as for q8_0 */
	int16_t sum[16]; /* sum of q[16j .. 16j+15] */
};

/* The GGUF (ggml) block layouts, little-endian, fp16 as IEEE binary16 bits. */
#define QKV_QK 256 /* super-block of the K types */
struct qkv_blk_q8_0 {
	uint16_t d;
	int8_t qs[32];
};
struct qkv_blk_q4_0 {
	uint16_t d;
	uint8_t qs[16]; /* element i in the low nibble of qs[i], element i+16 in the high */
};
struct qkv_blk_q4_k {
	uint16_t d, dmin;
	uint8_t scales[12]; /* 8 scales and 8 mins, 6 bits each (qkv_k_scale_min) */
	uint8_t qs[128];    /* per 64 elements: 32 bytes, low nibbles first 32, high next */
};
struct qkv_blk_q5_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[32]; /* the fifth bit: element 32c+l's in bit c of qh[l] */
	uint8_t qs[128];
};
struct qkv_blk_q6_k {
	uint8_t ql[128]; /* low 4 bits */
	uint8_t qh[64];  /* high 2 bits */
	int8_t scales[16];
	uint16_t d;
};

struct qkv_wtype_traits {
	const char *name;   /* lower case, as configs and options spell it: "q4_k" */
	uint32_t gguf_type; /* the GGUF/ggml type id of the same layout */
	uint32_t block;     /* elements per block (1 for F32/F16/BF16) */
	uint32_t bytes;     /* bytes per block */
	enum qkv_act act;   /* the activation format it multiplies */
	/* widen one block to f32 */
	void (*to_f32)(const void *blk, float *out);
	/* quantize one block of f32 (the reference quantizer of `qkv quantize`) */
	void (*from_f32)(const float *in, void *blk);
};

/* ---- fp16 ---- */

/* IEEE binary16 bits to f32, exactly (subnormals, Inf and NaN included). */
static inline float qkv_fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
	uint32_t u;
	if (exp == 0x1fu) {
		u = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		u = sign | ((exp + 112u) << 23) | (man << 13);
	} else if (man == 0) {
		u = sign;
	} else { /* subnormal: normalize */
		int e = -1;
		do {
			e++;
			man <<= 1;
		} while (!(man & 0x400u));
		u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
	}
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* f32 to binary16 bits, round to nearest even; overflow gives Inf, NaN stays NaN. */
static inline uint16_t qkv_f32_to_fp16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	uint32_t a = u & 0x7fffffffu;
	if (a >= 0x7f800000u) /* Inf or NaN */
		return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
	if (a >= 0x477ff000u) /* rounds to 65520 or more: Inf */
		return (uint16_t)(sign | 0x7c00u);
	if (a < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
		float v;
		memcpy(&v, &a, sizeof(v));
		/* v * 2^24 rounded to an integer is the subnormal's mantissa */
		return (uint16_t)(sign | (uint16_t)nearbyintf(v * 16777216.0f));
	}
	uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round the 13 dropped bits to even */
	return (uint16_t)(sign | (uint16_t)((r - 0x38000000u) >> 13));
}

/* bf16 bits to f32 (exact). */
static inline float qkv_bf16_to_f32(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline uint16_t qkv_rd16(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint16_t)(b[0] | (b[1] << 8));
}

/* ---- the K types' packed 6-bit scales and mins ---- */

/* Scale and min of sub-block j (0..7) from the 12 packed bytes: bytes 0-3 hold scales 0-3
 * (low 6 bits) and bytes 4-7 mins 0-3; scales and mins 4-7 have their low 4 bits in the
 * nibbles of bytes 8-11 and their top 2 bits in the top bits of bytes 0-3 and 4-7. */
static inline void qkv_k_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = s[j] & 63u;
		*m = s[j + 4] & 63u;
	} else {
		*sc = (uint8_t)((s[j + 4] & 0x0fu) | ((s[j - 4] >> 6) << 4));
		*m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
	}
}

static inline void qkv_k_scale_min_pack(uint8_t *s, const uint8_t *sc, const uint8_t *m)
{
	memset(s, 0, 12);
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			s[j] |= (uint8_t)(sc[j] & 63u);
			s[j + 4] |= (uint8_t)(m[j] & 63u);
		} else {
			s[j + 4] = (uint8_t)((sc[j] & 0x0fu) | ((m[j] & 0x0fu) << 4));
			s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
			s[j] |= (uint8_t)((m[j] >> 4) << 6);
		}
	}
}

/* ---- integers of a block (what the dot products multiply) ---- */

/* Q4_0: q[i] - 8 in [-8, 7]. */
static inline void qkv_q4_0_ints(const struct qkv_blk_q4_0 *b, int8_t *q)
{
	for (int i = 0; i < 16; i++) {
		q[i] = (int8_t)((b->qs[i] & 0x0f) - 8);
		q[i + 16] = (int8_t)((b->qs[i] >> 4) - 8);
	}
}

/* Q4_K: 256 values in [0, 15]. */
static inline void qkv_q4_k_ints(const struct qkv_blk_q4_k *b, uint8_t *q)
{
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			q[64 * c + l] = b->qs[32 * c + l] & 0x0f;
			q[64 * c + 32 + l] = b->qs[32 * c + l] >> 4;
		}
}

/* Q5_K: 256 values in [0, 31]. */
static inline void qkv_q5_k_ints(const struct qkv_blk_q5_k *b, uint8_t *q)
{
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			uint8_t h = b->qh[l];
			q[64 * c + l] =
			    (uint8_t)((b->qs[32 * c + l] & 0x0f) | (((h >> (2 * c)) & 1u) << 4));
			q[64 * c + 32 + l] =
			    (uint8_t)((b->qs[32 * c + l] >> 4) | (((h >> (2 * c + 1)) & 1u) << 4));
		}
}

/* Q6_K: 256 values in [-32, 31]. Per half of 128: l < 32 takes ql[l] low, ql[l+32] low,
 * ql[l] high, ql[l+32] high for elements l, l+32, l+64, l+96, each with two bits of
 * qh[l] (bits 0-1, 2-3, 4-5, 6-7). */
static inline void qkv_q6_k_ints(const struct qkv_blk_q6_k *b, int8_t *q)
{
	for (int half = 0; half < 2; half++) {
		const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
		int8_t *o = q + 128 * half;
		for (int l = 0; l < 32; l++) {
			o[l] = (int8_t)(((ql[l] & 0x0f) | ((qh[l] & 3u) << 4)) - 32);
			o[l + 32] =
			    (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3u) << 4)) - 32);
			o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3u) << 4)) - 32);
			o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3u) << 4)) - 32);
		}
	}
}

/* ---- widen a block to f32 ---- */

static inline void qkv_f32_to_f32(const void *blk, float *out)
{
	memcpy(out, blk, sizeof(float));
}

static inline void qkv_f16_blk_to_f32(const void *blk, float *out)
{
	*out = qkv_fp16_to_f32(qkv_rd16(blk));
}

static inline void qkv_bf16_blk_to_f32(const void *blk, float *out)
{
	*out = qkv_bf16_to_f32(qkv_rd16(blk));
}

static inline void qkv_q8_0_to_f32(const void *blk, float *out)
{
	const struct qkv_blk_q8_0 *b = (const struct qkv_blk_q8_0 *)blk;
	float d = qkv_fp16_to_f32(b->d);
	for (int i = 0; i < 32; i++)
		out[i] = d * (float)b->qs[i];
}

static inline void qkv_q4_0_to_f32(const void *blk, float *out)
{
	const struct qkv_blk_q4_0 *b = (const struct qkv_blk_q4_0 *)blk;
	int8_t q[32];
	qkv_q4_0_ints(b, q);
	float d = qkv_fp16_to_f32(b->d);
	for (int i = 0; i < 32; i++)
		out[i] = d * (float)q[i];
}

/* Q4_K and Q5_K: value = d * sc[j] * q - dmin * m[j] in sub-block j. */
static inline void qkv_kq_to_f32(const uint8_t *q, const uint8_t *scales, uint16_t d16,
                                 uint16_t dmin16, float *out)
{
	float d = qkv_fp16_to_f32(d16), dmin = qkv_fp16_to_f32(dmin16);
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;
		qkv_k_scale_min(scales, j, &sc, &m);
		float a = d * (float)sc, c = dmin * (float)m;
		for (int i = 0; i < 32; i++)
			out[32 * j + i] = a * (float)q[32 * j + i] - c;
	}
}

static inline void qkv_q4_k_to_f32(const void *blk, float *out)
{
	const struct qkv_blk_q4_k *b = (const struct qkv_blk_q4_k *)blk;
	uint8_t q[256];
	qkv_q4_k_ints(b, q);
	qkv_kq_to_f32(q, b->scales, b->d, b->dmin, out);
}

static inline void qkv_q5_k_to_f32(const void *blk, float *out)
{
	const struct qkv_blk_q5_k *b = (const struct qkv_blk_q5_k *)blk;
	uint8_t q[256];
	qkv_q5_k_ints(b, q);
	qkv_kq_to_f32(q, b->scales, b->d, b->dmin, out);
}

static inline void qkv_q6_k_to_f32(const void *blk, float *out)
{
	const struct qkv_blk_q6_k *b = (const struct qkv_blk_q6_k *)blk;
	int8_t q[256];
	qkv_q6_k_ints(b, q);
	float d = qkv_fp16_to_f32(b->d);
	for (int i = 0; i < 256; i++)
		out[i] = d * (float)b->scales[i / 16] * (float)q[i];
}

/* ---- quantize f32 into a block (reference quantizers) ----
 * Round to nearest; the scale maps the block's largest magnitude to the largest integer.
 * Non-finite inputs give a block of zeros with a NaN scale. */

static inline float qkv_blk_amax(const float *v, int n, float *signed_max)
{
	float a = 0.0f, s = 0.0f;
	for (int i = 0; i < n; i++)
		if (fabsf(v[i]) > a || v[i] != v[i]) {
			a = fabsf(v[i]);
			s = v[i];
		}
	if (signed_max)
		*signed_max = s;
	return a;
}

static inline int qkv_clampi(float r, int lo, int hi)
{
	int v = (int)r;
	return v < lo ? lo : v > hi ? hi : v;
}

static inline void qkv_f32_from_f32(const float *in, void *blk)
{
	memcpy(blk, in, sizeof(float));
}

static inline void qkv_f16_from_f32(const float *in, void *blk)
{
	uint16_t h = qkv_f32_to_fp16(*in);
	memcpy(blk, &h, 2);
}

static inline void qkv_bf16_from_f32(const float *in, void *blk)
{
	float r = qkv_bf16_round(*in);
	uint32_t u;
	memcpy(&u, &r, 4);
	uint16_t h = (uint16_t)(u >> 16);
	memcpy(blk, &h, 2);
}

static inline void qkv_q8_0_from_f32(const float *in, void *blk)
{
	struct qkv_blk_q8_0 *b = (struct qkv_blk_q8_0 *)blk;
	float amax = qkv_blk_amax(in, 32, NULL);
	float d = amax / 127.0f;
	b->d = qkv_f32_to_fp16(d);
	float dd = qkv_fp16_to_f32(b->d);
	for (int i = 0; i < 32; i++)
		b->qs[i] = (int8_t)(dd > 0.0f && isfinite(dd)
		                        ? qkv_clampi(nearbyintf(in[i] / dd), -127, 127)
		                        : 0);
}

static inline void qkv_q4_0_from_f32(const float *in, void *blk)
{
	struct qkv_blk_q4_0 *b = (struct qkv_blk_q4_0 *)blk;
	float smax;
	qkv_blk_amax(in, 32, &smax);
	float d = smax / -8.0f; /* the largest magnitude becomes -8, the one end of [-8, 7] */
	b->d = qkv_f32_to_fp16(d);
	float dd = qkv_fp16_to_f32(b->d);
	uint8_t q[32];
	for (int i = 0; i < 32; i++)
		q[i] = (uint8_t)(dd != 0.0f && isfinite(dd)
		                     ? qkv_clampi(nearbyintf(in[i] / dd), -8, 7) + 8
		                     : 8);
	for (int i = 0; i < 16; i++)
		b->qs[i] = (uint8_t)(q[i] | (q[i + 16] << 4));
}

/* Q4_K and Q5_K: each sub-block of 32 gets min m = -min(0, min x) and scale
 * (max x + m)/qmax; the 8 scales and mins are then quantized to 6 bits against d and
 * dmin (fp16), and each value to round((x + dmin*m6)/(d*sc6)). */
static inline void qkv_kq_from_f32(const float *in, int qmax, uint16_t *d16, uint16_t *dmin16,
                                   uint8_t *scales, uint8_t *q)
{
	float sc[8], mn[8], maxsc = 0.0f, maxmn = 0.0f;
	int bad = 0;
	for (int j = 0; j < 8; j++) {
		float lo = 0.0f, hi = 0.0f;
		for (int i = 0; i < 32; i++) {
			float v = in[32 * j + i];
			bad |= !isfinite(v);
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		mn[j] = -lo;
		sc[j] = (hi - lo) / (float)qmax;
		maxsc = sc[j] > maxsc ? sc[j] : maxsc;
		maxmn = mn[j] > maxmn ? mn[j] : maxmn;
	}
	float d = bad ? NAN : maxsc / 63.0f, dmin = bad ? NAN : maxmn / 63.0f;
	*d16 = qkv_f32_to_fp16(d);
	*dmin16 = qkv_f32_to_fp16(dmin);
	float dd = qkv_fp16_to_f32(*d16), dm = qkv_fp16_to_f32(*dmin16);
	uint8_t s6[8], m6[8];
	for (int j = 0; j < 8; j++) {
		s6[j] =
		    (uint8_t)(dd > 0.0f && isfinite(dd) ? qkv_clampi(nearbyintf(sc[j] / dd), 0, 63)
		                                        : 0);
		m6[j] =
		    (uint8_t)(dm > 0.0f && isfinite(dm) ? qkv_clampi(nearbyintf(mn[j] / dm), 0, 63)
		                                        : 0);
	}
	qkv_k_scale_min_pack(scales, s6, m6);
	for (int j = 0; j < 8; j++) {
		float step = dd * (float)s6[j], off = dm * (float)m6[j];
		for (int i = 0; i < 32; i++)
			q[32 * j + i] =
			    (uint8_t)(step > 0.0f && isfinite(step)
			                  ? qkv_clampi(nearbyintf((in[32 * j + i] + off) / step), 0,
			                               qmax)
			                  : 0);
	}
}

static inline void qkv_q4_k_from_f32(const float *in, void *blk)
{
	struct qkv_blk_q4_k *b = (struct qkv_blk_q4_k *)blk;
	uint8_t q[256];
	qkv_kq_from_f32(in, 15, &b->d, &b->dmin, b->scales, q);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

static inline void qkv_q5_k_from_f32(const float *in, void *blk)
{
	struct qkv_blk_q5_k *b = (struct qkv_blk_q5_k *)blk;
	uint8_t q[256];
	qkv_kq_from_f32(in, 31, &b->d, &b->dmin, b->scales, q);
	memset(b->qh, 0, sizeof(b->qh));
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
			b->qs[32 * c + l] = (uint8_t)((lo & 0x0f) | ((hi & 0x0f) << 4));
			b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
		}
}

/* Q6_K: each sub-block of 16 gets scale amax/32 (its largest magnitude becomes -32 or
 * 31), the 16 scales quantized to int8 against d = max|scale|/127. */
static inline void qkv_q6_k_from_f32(const float *in, void *blk)
{
	struct qkv_blk_q6_k *b = (struct qkv_blk_q6_k *)blk;
	float sc[16], maxsc = 0.0f;
	int bad = 0;
	for (int j = 0; j < 16; j++) {
		float smax;
		float a = qkv_blk_amax(in + 16 * j, 16, &smax);
		bad |= !isfinite(a);
		sc[j] = smax / -32.0f;
		maxsc = fabsf(sc[j]) > maxsc ? fabsf(sc[j]) : maxsc;
	}
	b->d = qkv_f32_to_fp16(bad ? NAN : maxsc / 127.0f);
	float dd = qkv_fp16_to_f32(b->d);
	int8_t q[256];
	for (int j = 0; j < 16; j++) {
		int s =
		    dd > 0.0f && isfinite(dd) ? qkv_clampi(nearbyintf(sc[j] / dd), -127, 127) : 0;
		b->scales[j] = (int8_t)s;
		float step = dd * (float)s;
		for (int i = 0; i < 16; i++)
			q[16 * j + i] =
			    (int8_t)(step != 0.0f && isfinite(step)
			                 ? qkv_clampi(nearbyintf(in[16 * j + i] / step), -32, 31)
			                 : 0);
	}
	memset(b->qh, 0, sizeof(b->qh));
	for (int half = 0; half < 2; half++) {
		uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
		const int8_t *o = q + 128 * half;
		for (int l = 0; l < 32; l++) {
			uint8_t v0 = (uint8_t)(o[l] + 32), v1 = (uint8_t)(o[l + 32] + 32);
			uint8_t v2 = (uint8_t)(o[l + 64] + 32), v3 = (uint8_t)(o[l + 96] + 32);
			ql[l] = (uint8_t)((v0 & 0x0f) | ((v2 & 0x0f) << 4));
			ql[l + 32] = (uint8_t)((v1 & 0x0f) | ((v3 & 0x0f) << 4));
			qh[l] = (uint8_t)((v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) |
			                  ((v3 >> 4) << 6));
		}
	}
}

/* ---- the table ---- */

/* The row of type t, or NULL when t is not an enum qkv_wtype. */
static inline const struct qkv_wtype_traits *qkv_wtype_traits(uint32_t t)
{
	static const struct qkv_wtype_traits rows[QKV_WTYPE_COUNT] = {
	    {"f32", 0, 1, 4, QKV_ACT_F32, qkv_f32_to_f32, qkv_f32_from_f32},
	    {"f16", 1, 1, 2, QKV_ACT_F32, qkv_f16_blk_to_f32, qkv_f16_from_f32},
	    {"bf16", 30, 1, 2, QKV_ACT_F32, qkv_bf16_blk_to_f32, qkv_bf16_from_f32},
	    {"q8_0", 8, 32, 34, QKV_ACT_Q8_0, qkv_q8_0_to_f32, qkv_q8_0_from_f32},
	    {"q4_0", 2, 32, 18, QKV_ACT_Q8_0, qkv_q4_0_to_f32, qkv_q4_0_from_f32},
	    {"q4_k", 12, 256, 144, QKV_ACT_Q8_K, qkv_q4_k_to_f32, qkv_q4_k_from_f32},
	    {"q5_k", 13, 256, 176, QKV_ACT_Q8_K, qkv_q5_k_to_f32, qkv_q5_k_from_f32},
	    {"q6_k", 14, 256, 210, QKV_ACT_Q8_K, qkv_q6_k_to_f32, qkv_q6_k_from_f32},
	};
	return t < QKV_WTYPE_COUNT ? &rows[t] : NULL;
}

static inline const char *qkv_wtype_name(uint32_t t)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	return r ? r->name : NULL;
}

/* The type named `name` (lower case) into *out; 0 when there is none. */
static inline int qkv_wtype_parse(const char *name, uint32_t *out)
{
	for (uint32_t t = 0; name && t < QKV_WTYPE_COUNT; t++)
		if (strcmp(name, qkv_wtype_traits(t)->name) == 0) {
			*out = t;
			return 1;
		}
	return 0;
}

/* The type whose GGUF id is `gguf_type`; 0 when qkv has no row for it. */
static inline int qkv_wtype_of_gguf(uint32_t gguf_type, uint32_t *out)
{
	for (uint32_t t = 0; t < QKV_WTYPE_COUNT; t++)
		if (qkv_wtype_traits(t)->gguf_type == gguf_type) {
			*out = t;
			return 1;
		}
	return 0;
}

/* Bytes of one row of K values of type t; 0 when K is not a multiple of the block (or
 * t is unknown). */
static inline size_t qkv_wtype_row_bytes(uint32_t t, size_t K)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	if (!r || K % r->block)
		return 0;
	return K / r->block * r->bytes;
}

/* ---- activations ---- */

/* Bytes of one X row of K values prepared for type t (K a multiple of its block). */
static inline size_t qkv_act_row_bytes(uint32_t t, size_t K)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	if (!r)
		return 0;
	switch (r->act) {
	case QKV_ACT_Q8_0:
		return K / 32 * sizeof(struct qkv_act_q8_0);
	case QKV_ACT_Q8_K:
		return K / 256 * sizeof(struct qkv_act_q8_k);
	default:
		return K * sizeof(float);
	}
}

/* Prepare one X row of K values for type t into out (qkv_act_row_bytes bytes), each
 * block quantized by `quantize`, which must do what qkv_int8_quantize of
 * <qkv/precision.h> does, bit for bit (a backend passes its vectorized one). */
static inline void qkv_act_quantize_with(uint32_t t, const float *x, size_t K, void *out,
                                         float (*quantize)(const float *, size_t, int8_t *))
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	if (r->act == QKV_ACT_Q8_0) {
		struct qkv_act_q8_0 *a = (struct qkv_act_q8_0 *)out;
		for (size_t b = 0; b < K / 32; b++)
			a[b].d = quantize(x + 32 * b, 32, a[b].q);
	} else if (r->act == QKV_ACT_Q8_K) {
		struct qkv_act_q8_k *a = (struct qkv_act_q8_k *)out;
		for (size_t b = 0; b < K / 256; b++) {
			a[b].d = quantize(x + 256 * b, 256, a[b].q);
			for (int j = 0; j < 16; j++) {
				int s = 0;
				for (int i = 0; i < 16; i++)
					s += a[b].q[16 * j + i];
				a[b].sum[j] = (int16_t)s;
			}
		}
	} else {
		memcpy(out, x, K * sizeof(float));
	}
}

/* Prepare one X row of K values for type t into out (qkv_act_row_bytes bytes). */
static inline void qkv_act_quantize(uint32_t t, const float *x, size_t K, void *out)
{
	qkv_act_quantize_with(t, x, K, out, qkv_int8_quantize);
}

/* ---- the reference dot product of one weight row with one prepared X row ----
 * The scheme at the top of this file, written out; every backend must equal it bit for
 * bit for the block types (and be within the f32 bound for F32/F16/BF16). */
static inline float qkv_wtype_dot(uint32_t t, const void *wrow, const void *xrow, size_t K)
{
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
	const uint8_t *w = (const uint8_t *)wrow;
	float acc = 0.0f;
	switch (t) {
	case QKV_WT_F32:
	case QKV_WT_F16:
	case QKV_WT_BF16: {
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		const float *x = (const float *)xrow;
		for (size_t k = 0; k < K; k++) {
			float v;
			r->to_f32(w + k * r->bytes, &v);
			acc += x[k] * v;
		}
		return acc;
	}
	case QKV_WT_Q8_0:
	case QKV_WT_Q4_0: {
		const struct qkv_act_q8_0 *a = (const struct qkv_act_q8_0 *)xrow;
		for (size_t b = 0; b < K / 32; b++) {
			int8_t q[32];
			float dw;
			if (t == QKV_WT_Q8_0) {
				const struct qkv_blk_q8_0 *blk =
				    (const struct qkv_blk_q8_0 *)(w + 34 * b);
				memcpy(q, blk->qs, 32);
				dw = qkv_fp16_to_f32(blk->d);
			} else {
				const struct qkv_blk_q4_0 *blk =
				    (const struct qkv_blk_q4_0 *)(w + 18 * b);
				qkv_q4_0_ints(blk, q);
				dw = qkv_fp16_to_f32(blk->d);
			}
			int32_t isum = 0;
			for (int i = 0; i < 32; i++)
				isum += (int32_t)q[i] * a[b].q[i];
			acc = acc + (float)isum * (dw * a[b].d);
		}
		return acc;
	}
	case QKV_WT_Q4_K:
	case QKV_WT_Q5_K: {
		const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)xrow;
		size_t bytes = qkv_wtype_traits(t)->bytes;
		for (size_t b = 0; b < K / 256; b++) {
			uint8_t q[256];
			const uint8_t *scales;
			uint16_t d16, dmin16;
			if (t == QKV_WT_Q4_K) {
				const struct qkv_blk_q4_k *blk =
				    (const struct qkv_blk_q4_k *)(w + bytes * b);
				qkv_q4_k_ints(blk, q);
				scales = blk->scales, d16 = blk->d, dmin16 = blk->dmin;
			} else {
				const struct qkv_blk_q5_k *blk =
				    (const struct qkv_blk_q5_k *)(w + bytes * b);
				qkv_q5_k_ints(blk, q);
				scales = blk->scales, d16 = blk->d, dmin16 = blk->dmin;
			}
			int32_t sumi = 0, summ = 0;
			for (int j = 0; j < 8; j++) {
				uint8_t sc, m;
				qkv_k_scale_min(scales, j, &sc, &m);
				int32_t s = 0;
				for (int i = 0; i < 32; i++)
					s += (int32_t)q[32 * j + i] * a[b].q[32 * j + i];
				sumi += (int32_t)sc * s;
				summ += (int32_t)m * (a[b].sum[2 * j] + a[b].sum[2 * j + 1]);
			}
			acc = acc + (float)sumi * (qkv_fp16_to_f32(d16) * a[b].d);
			acc = acc - (float)summ * (qkv_fp16_to_f32(dmin16) * a[b].d);
		}
		return acc;
	}
	case QKV_WT_Q6_K: {
		const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)xrow;
		for (size_t b = 0; b < K / 256; b++) {
			const struct qkv_blk_q6_k *blk = (const struct qkv_blk_q6_k *)(w + 210 * b);
			int8_t q[256];
			qkv_q6_k_ints(blk, q);
			int32_t sumi = 0;
			for (int j = 0; j < 16; j++) {
				int32_t s = 0;
				for (int i = 0; i < 16; i++)
					s += (int32_t)q[16 * j + i] * a[b].q[16 * j + i];
				sumi += (int32_t)blk->scales[j] * s;
			}
			acc = acc + (float)sumi * (qkv_fp16_to_f32(blk->d) * a[b].d);
		}
		return acc;
	}
	default:
		return NAN;
	}
}

#endif /* QKV_WTYPE_H */
