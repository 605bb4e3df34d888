/* The weight-type table (<qkv/wtype.h>) against references written independently here:
 * fp16 against the compiler's _Float16, each block layout against a bit-level reading of
 * the GGUF layout (element i's bits gathered one by one), the reference dot product
 * against float64 on the widened weights within the bound the scheme gives, and the
 * quantizers against their own step. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/wtype.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}
static float unif(void)
{
	return (float)((rnd() & 0xffffff) / 8388608.0 - 1.0);
}

/* ---- fp16 ---- */

Test(wtype, fp16_matches_the_compiler)
{
#ifdef __FLT16_MAX__
	for (uint32_t h = 0; h < 65536; h++) {
		_Float16 v;
		uint16_t b = (uint16_t)h;
		memcpy(&v, &b, 2);
		float ref = (float)v, got = qkv_fp16_to_f32(b);
		if (isnan(ref))
			cr_assert(isnan(got), "h=%04x", h);
		else
			cr_assert(memcmp(&ref, &got, 4) == 0, "h=%04x: %g vs %g", h, got, ref);
	}
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = rnd() ^ (rnd() << 21);
		float f;
		memcpy(&f, &u, 4);
		_Float16 v = (_Float16)f;
		uint16_t ref;
		memcpy(&ref, &v, 2);
		uint16_t got = qkv_f32_to_fp16(f);
		if (isnan(f))
			cr_assert((got & 0x7c00) == 0x7c00 && (got & 0x3ff), "nan %08x", u);
		else
			cr_assert_eq(got, ref, "f=%a (%08x): %04x vs %04x", (double)f, u, got, ref);
	}
#else
	cr_skip("no _Float16 in this compiler: nothing independent to compare with");
#endif
}

/* ---- block layouts, read bit by bit from the spec's description ---- */

static unsigned bits(const uint8_t *p, size_t byte, unsigned shift, unsigned n)
{
	return (p[byte] >> shift) & ((1u << n) - 1u);
}

static float h2f(const uint8_t *p)
{
	return qkv_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

/* Element i of a block, as the GGUF layout describes it. */
static double spec_value(uint32_t t, const uint8_t *b, int i)
{
	switch (t) {
	case QKV_WT_Q8_0:
		return (double)h2f(b) * (int8_t)b[2 + i];
	case QKV_WT_Q4_0:
		return (double)h2f(b) * ((int)bits(b, 2 + (i % 16), i < 16 ? 0 : 4, 4) - 8);
	case QKV_WT_Q4_K:
	case QKV_WT_Q5_K: {
		int j = i / 32, c = i / 64, l = i % 32, hi = (i / 32) % 2;
		const uint8_t *s = b + 4;
		unsigned sc, m;
		if (j < 4) {
			sc = bits(s, j, 0, 6);
			m = bits(s, j + 4, 0, 6);
		} else {
			sc = bits(s, j + 4, 0, 4) | bits(s, j - 4, 6, 2) << 4;
			m = bits(s, j + 4, 4, 4) | bits(s, j, 6, 2) << 4;
		}
		unsigned q;
		if (t == QKV_WT_Q4_K)
			q = bits(b, 16 + 32 * c + l, hi ? 4 : 0, 4);
		else
			q = bits(b, 48 + 32 * c + l, hi ? 4 : 0, 4) | bits(b, 16 + l, 2 * c + hi, 1)
			                                                  << 4;
		return (double)h2f(b) * sc * q - (double)h2f(b + 2) * m;
	}
	case QKV_WT_Q6_K: {
		int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
		size_t lo_byte = 64 * half + l + (quarter % 2 ? 32 : 0);
		unsigned lo = bits(b, lo_byte, quarter >= 2 ? 4 : 0, 4);
		unsigned hb = bits(b, 128 + 32 * half + l, 2 * quarter, 2);
		int q = (int)(lo | hb << 4) - 32;
		int sc = (int8_t)b[192 + i / 16];
		return (double)h2f(b + 208) * sc * q;
	}
	}
	return NAN;
}

/* A random block whose fp16 scales are finite and modest. */
static void random_block(uint32_t t, uint8_t *b)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	for (uint32_t i = 0; i < r->bytes; i++)
		b[i] = (uint8_t)rnd();
	uint16_t d = qkv_f32_to_fp16(0.001f + (float)(rnd() % 1000) * 1e-5f);
	uint16_t dm = qkv_f32_to_fp16((float)(rnd() % 1000) * 1e-5f);
	size_t at = t == QKV_WT_Q6_K ? 208 : 0;
	memcpy(b + at, &d, 2);
	if (t == QKV_WT_Q4_K || t == QKV_WT_Q5_K)
		memcpy(b + 2, &dm, 2);
}

static const uint32_t block_types[] = {QKV_WT_Q8_0, QKV_WT_Q4_0, QKV_WT_Q4_K, QKV_WT_Q5_K,
                                       QKV_WT_Q6_K};

Test(wtype, block_layouts_follow_the_spec)
{
	for (size_t k = 0; k < sizeof(block_types) / sizeof(block_types[0]); k++) {
		uint32_t t = block_types[k];
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		cr_assert_not_null(r);
		uint8_t b[256];
		float out[256];
		for (int rep = 0; rep < 200; rep++) {
			random_block(t, b);
			r->to_f32(b, out);
			for (uint32_t i = 0; i < r->block; i++) {
				double ref = spec_value(t, b, (int)i);
				cr_assert(fabs(out[i] - ref) <= 1e-6 * fabs(ref) + 1e-30,
				          "%s element %u: %g vs %g", r->name, i, out[i], ref);
			}
		}
	}
}

Test(wtype, table_rows_are_consistent)
{
	static const struct {
		const char *name;
		uint32_t gguf, block, bytes;
	} spec[] = {{"f32", 0, 1, 4},       {"f16", 1, 1, 2},      {"bf16", 30, 1, 2},
	            {"q8_0", 8, 32, 34},    {"q4_0", 2, 32, 18},   {"q4_k", 12, 256, 144},
	            {"q5_k", 13, 256, 176}, {"q6_k", 14, 256, 210}};
	cr_assert_eq(sizeof(spec) / sizeof(spec[0]), QKV_WTYPE_COUNT);
	for (uint32_t t = 0; t < QKV_WTYPE_COUNT; t++) {
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		cr_expect_str_eq(r->name, spec[t].name);
		cr_expect_eq(r->gguf_type, spec[t].gguf);
		cr_expect_eq(r->block, spec[t].block);
		cr_expect_eq(r->bytes, spec[t].bytes);
		uint32_t back = 99;
		cr_expect(qkv_wtype_parse(spec[t].name, &back) && back == t);
		cr_expect(qkv_wtype_of_gguf(spec[t].gguf, &back) && back == t);
	}
	cr_expect_eq(sizeof(struct qkv_blk_q8_0), 34);
	cr_expect_eq(sizeof(struct qkv_blk_q4_0), 18);
	cr_expect_eq(sizeof(struct qkv_blk_q4_k), 144);
	cr_expect_eq(sizeof(struct qkv_blk_q5_k), 176);
	cr_expect_eq(sizeof(struct qkv_blk_q6_k), 210);
	cr_expect_null(qkv_wtype_traits(QKV_WTYPE_COUNT));
	cr_expect_eq(qkv_wtype_row_bytes(QKV_WT_Q4_K, 4096), 16 * 144);
	cr_expect_eq(qkv_wtype_row_bytes(QKV_WT_Q4_K, 4000), 0);
	uint32_t t;
	cr_expect(!qkv_wtype_of_gguf(3, &t)); /* Q4_1: no row */
}

/* Quantizing then widening stays within the type's step of each value. */
Test(wtype, quantizers_round_to_their_grid)
{
	for (uint32_t t = 0; t < QKV_WTYPE_COUNT; t++) {
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		float in[256], out[256];
		uint8_t blk[256];
		for (int rep = 0; rep < 100; rep++) {
			float amp = powf(2.0f, (float)(rnd() % 20) - 10.0f);
			for (uint32_t i = 0; i < r->block; i++)
				in[i] = unif() * amp;
			r->from_f32(in, blk);
			r->to_f32(blk, out);
			/* levels per block: f16/bf16 ~ 2^-11/2^-8 relative; q8 127; q6 31; q5 31;
			 * q4 7 */
			double rel = t == QKV_WT_F32    ? 0
			             : t == QKV_WT_F16  ? 1.0 / 2048
			             : t == QKV_WT_BF16 ? 1.0 / 256
			             : t == QKV_WT_Q8_0 ? 1.0 / 127
			             : t == QKV_WT_Q4_0 ? 1.0 / 7
			             : t == QKV_WT_Q6_K ? 1.0 / 15
			                                : 2.0 / 15;
			for (uint32_t i = 0; i < r->block; i++)
				cr_assert(fabsf(out[i] - in[i]) <= rel * amp + 1e-30,
				          "%s rep %d element %u: %g -> %g (amp %g)", r->name, rep,
				          i, in[i], out[i], amp);
		}
	}
}

/* The reference dot product against float64 on the widened weights: the difference is
 * the activation rounding (half a step of each block's X scale times sum |w|) plus f32
 * rounding of the block terms. */
Test(wtype, reference_dot_within_its_bound)
{
	enum { K = 1024 };
	for (uint32_t t = 0; t < QKV_WTYPE_COUNT; t++) {
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		static uint8_t w[K * 4];
		static float x[K], wf[K];
		static uint8_t act[K * 8];
		for (int rep = 0; rep < 20; rep++) {
			for (size_t b = 0; b < K / r->block; b++) {
				if (r->block == 1) {
					float v = unif();
					r->from_f32(&v, w + b * r->bytes);
				} else {
					random_block(t, w + b * r->bytes);
				}
				r->to_f32(w + b * r->bytes, wf + b * r->block);
			}
			for (size_t k = 0; k < K; k++)
				x[k] = unif() * (rep % 2 ? 100.0f : 0.01f);
			qkv_act_quantize(t, x, K, act);
			float y = qkv_wtype_dot(t, w, act, K);
			double ref = 0, mag = 0, actbound = 0;
			uint32_t ab = r->act == QKV_ACT_Q8_0   ? 32
			              : r->act == QKV_ACT_Q8_K ? 256
			                                       : 0;
			for (size_t k = 0; k < K; k++) {
				ref += (double)x[k] * wf[k];
				mag += fabs((double)x[k] * wf[k]);
			}
			for (size_t b = 0; ab && b < K / ab; b++) {
				double amax = 0, sw = 0;
				for (size_t i = 0; i < ab; i++) {
					amax = fmax(amax, fabs(x[b * ab + i]));
					sw += fabs(wf[b * ab + i]);
				}
				actbound += amax / 127.0 / 2.0 * sw;
				mag += amax * sw; /* |qx*dx| <= amax: the block terms' size */
			}
			double u = ldexp(1.0, -24), bound = actbound + 2.0 * (K + 4) * u * mag;
			cr_assert(fabs(y - ref) <= bound, "%s rep %d: %.9g vs %.9g (bound %.3g)",
			          r->name, rep, y, ref, bound);
		}
	}
}

/* The integer parts are exact: integer-valued X with amax 127 quantizes to itself, so
 * Q8_0's reference dot equals the exact sum times the scales. */
Test(wtype, q8_0_integer_part_is_exact)
{
	uint8_t w[34 * 4];
	float x[128];
	uint8_t act[sizeof(struct qkv_act_q8_0) * 4];
	double exact = 0;
	for (int b = 0; b < 4; b++) {
		uint16_t d = qkv_f32_to_fp16(0.5f);
		memcpy(w + 34 * b, &d, 2);
		for (int i = 0; i < 32; i++) {
			int8_t q = (int8_t)(i * 7 - 100 + b);
			w[34 * b + 2 + i] = (uint8_t)q;
			x[32 * b + i] = i == 0 ? 127.0f : (float)((i * 13) % 255 - 127);
			exact += 0.5 * q * x[32 * b + i];
		}
	}
	qkv_act_quantize(QKV_WT_Q8_0, x, 128, act);
	cr_assert_eq(qkv_wtype_dot(QKV_WT_Q8_0, w, act, 128), (float)exact);
}
