/* Precision stored with the weight types a backend declares (qkv_backend.wtypes,
 * <qkv/wtype.h>): block-quantized weights as a GGUF file holds them, one type per
 * projection or a mix, checked bit for bit against the type table's reference dot
 * product (block types) or against float64 within the f32 bound (f32, f16, bf16).
 *
 * The blocks are random digits and packed scales with fp16 scales of every kind: normal
 * values from 2^-14 to 2^15, subnormals, zero blocks, and (in their own problems) NaN
 * and Inf scales, whose outputs must be the reference's NaN/Inf. K is whole blocks, T
 * crosses small tiles (1..9, 16, 17, 64, 65), rows are strided, the weights sit at odd
 * 2-byte offsets, and every output row has guard floats after it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/wtype.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define GUARD 4 /* floats after each output row */
#define GUARD_VALUE -7.25e33f

enum scale_kind { SC_NORMAL, SC_WILD, SC_NONFINITE };

/* fp16 bits of a scale of kind k (SC_WILD: subnormal, zero, tiny or huge). */
static uint16_t scale_bits(struct cf_rng *g, enum scale_kind k)
{
	uint32_t v = (uint32_t)cf_rng_next(g);
	if (k == SC_NONFINITE && v % 5 == 0)
		return (uint16_t)(v % 2 ? 0x7c00 : 0x7e01); /* Inf or NaN */
	if (k != SC_NORMAL && v % 3 == 0)
		return (uint16_t)((v >> 8) % 0x400); /* subnormal or zero */
	float f = ldexpf(1.0f + (float)(v % 1000) / 1000.0f,
	                 k == SC_NORMAL ? (int)((v >> 10) % 12) - 12 : (int)((v >> 10) % 29) - 14);
	return qkv_f32_to_fp16((v >> 20) & 1 ? -f : f);
}

/* One block of type t (all zero one time in eight). */
static void random_block(struct cf_rng *g, uint32_t t, uint8_t *blk, enum scale_kind k)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	if (cf_rng_next(g) % 8 == 0) {
		memset(blk, 0, r->bytes);
		return;
	}
	if (r->block == 1) {
		float v = (float)((int)(cf_rng_next(g) % 2001) - 1000) / 997.0f;
		r->from_f32(&v, blk);
		return;
	}
	for (uint32_t i = 0; i < r->bytes; i++)
		blk[i] = (uint8_t)cf_rng_next(g);
	uint16_t d = scale_bits(g, k), dmin = scale_bits(g, k);
	memcpy(blk + (t == QKV_WT_Q6_K ? 208 : 0), &d, 2);
	if (t == QKV_WT_Q4_K || t == QKV_WT_Q5_K)
		memcpy(blk + 2, &dmin, 2);
}

struct wt_problem {
	uint32_t wtype[3], K, nh, nkv, hd;
	size_t T;
	enum scale_kind scales;
	int bias;
};

static bool same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof(a)) == 0 || (isnan(a) && isnan(b));
}

/* The f32 bound for the 16-bit and f32 rows against float64 on the widened weights. */
static bool check_float_row(const float *x, const uint8_t *w, uint32_t t, uint32_t K, float bias,
                            float got, struct cf_report *r, const char *ctx)
{
	const struct qkv_wtype_traits *tr = qkv_wtype_traits(t);
	double ref = bias, mag = fabs(bias);
	for (uint32_t k = 0; k < K; k++) {
		float v;
		tr->to_f32(w + (size_t)k * tr->bytes, &v);
		ref += (double)x[k] * v;
		mag += fabs((double)x[k] * v);
	}
	double bound = 2.0 * (K + 1) * ldexp(1.0, -24) * mag;
	cf_note_error(r, fabs(got - ref), bound);
	if (!(fabs(got - ref) <= bound))
		return cf_fail(r, "%s: %.9g, float64 %.9g, bound %.3g", ctx, got, ref, bound);
	return true;
}

static bool run_problem(const struct qkv_backend *be, const struct wt_problem *pr, uint64_t seed,
                        struct cf_report *r)
{
	struct cf_rng g = {seed};
	uint32_t d_out[3] = {pr->nh * pr->hd, pr->nkv * pr->hd, pr->nkv * pr->hd};
	struct qkv_problem pb = {.struct_size = sizeof(pb),
	                         .precision = QKV_STORED,
	                         .d_model = pr->K,
	                         .n_heads = pr->nh,
	                         .n_kv_heads = pr->nkv,
	                         .head_dim = pr->hd,
	                         .d_q = d_out[0],
	                         .d_kv = d_out[1],
	                         .threads = 2,
	                         .wtype = {pr->wtype[0], pr->wtype[1], pr->wtype[2]}};
	struct qkv_weights wt = {.struct_size = sizeof(wt), .layout = QKV_LAYOUT_OUT_IN};
	uint8_t *wbuf[3] = {0}, *wrows[3] = {0};
	float *bias[3] = {0}, *out[3] = {0};
	size_t ldx = pr->K + 5, ld[3], rb[3];
	float *x = malloc(pr->T * ldx * sizeof(float));
	void *act = malloc(qkv_act_row_bytes(QKV_WT_Q4_K, pr->K) + pr->K * sizeof(float));
	bool ok = x && act;
	char ctx[200];
	snprintf(ctx, sizeof(ctx), "types %s,%s,%s K=%u T=%zu heads=%u/%u head_dim=%u%s%s",
	         qkv_wtype_name(pr->wtype[0]), qkv_wtype_name(pr->wtype[1]),
	         qkv_wtype_name(pr->wtype[2]), pr->K, pr->T, pr->nh, pr->nkv, pr->hd,
	         pr->bias ? " bias" : "",
	         pr->scales == SC_WILD        ? " subnormal/zero/extreme scales"
	         : pr->scales == SC_NONFINITE ? " NaN/Inf scales"
	                                      : "");
	for (int p = 0; p < 3 && ok; p++) {
		rb[p] = qkv_wtype_row_bytes(pr->wtype[p], pr->K);
		ld[p] = d_out[p] + GUARD;
		wbuf[p] = malloc(rb[p] * d_out[p] + 2 + 64);
		out[p] = malloc(pr->T * ld[p] * sizeof(float));
		bias[p] = pr->bias && p != 1 ? malloc(d_out[p] * sizeof(float)) : NULL;
		ok = wbuf[p] && out[p] && (bias[p] || !(pr->bias && p != 1));
		if (!ok)
			break;
		/* 2 bytes past a 64-byte boundary: zero copy from a file gives any even offset */
		wrows[p] = wbuf[p] + (64 - (uintptr_t)wbuf[p] % 64) % 64 + 2;
		if (pr->wtype[p] == QKV_WT_F32)
			wrows[p] = wbuf[p] + (64 - (uintptr_t)wbuf[p] % 64) % 64 + 4;
		const struct qkv_wtype_traits *tr = qkv_wtype_traits(pr->wtype[p]);
		for (uint32_t n = 0; n < d_out[p]; n++)
			for (uint32_t b = 0; b < pr->K / tr->block; b++)
				random_block(&g, pr->wtype[p], wrows[p] + n * rb[p] + b * tr->bytes,
				             pr->scales);
		for (uint32_t n = 0; bias[p] && n < d_out[p]; n++)
			bias[p][n] = (float)((int)(cf_rng_next(&g) % 401) - 200) / 64.0f;
		if (pr->wtype[p] == QKV_WT_F32)
			wt.w[p] = (const float *)(void *)wrows[p];
		else
			wt.w_blk[p] = wrows[p];
		wt.bias[p] = bias[p];
		for (size_t i = 0; i < pr->T * ld[p]; i++)
			out[p][i] = GUARD_VALUE;
	}
	for (size_t i = 0; ok && i < pr->T * ldx; i++)
		x[i] = ldexpf((float)((int)(cf_rng_next(&g) % 2001) - 1000) / 1000.0f,
		              (int)(i / ldx % 5) * 3 - 6);
	void *h = NULL;
	char err[256] = "";
	if (!ok) {
		ok = cf_fail(r, "%s: out of memory in the harness", ctx);
	} else {
		enum qkv_status st = be->prepare(&pb, &wt, &h, err, sizeof(err));
		if (st != QKV_OK)
			ok = cf_fail(r, "%s: prepare failed (status %d): %s", ctx, (int)st, err);
	}
	if (ok) {
		struct qkv_batch b = {.struct_size = sizeof(b),
		                      .threads = 1 + (uint32_t)(pr->T % 3),
		                      .T = pr->T,
		                      .x = x,
		                      .ldx = ldx,
		                      .out = {out[0], out[1], out[2]},
		                      .ld_out = {ld[0], ld[1], ld[2]}};
		enum qkv_status st = be->project(h, &b, err, sizeof(err));
		if (st != QKV_OK)
			ok = cf_fail(r, "%s: project failed (status %d): %s", ctx, (int)st, err);
	}
	be->release(h);
	for (int p = 0; p < 3 && ok; p++)
		for (size_t t = 0; t < pr->T && ok; t++) {
			const float *xr = x + t * ldx, *y = out[p] + t * ld[p];
			uint32_t ty = pr->wtype[p];
			bool block = qkv_wtype_traits(ty)->act != QKV_ACT_F32;
			if (block)
				qkv_act_quantize(ty, xr, pr->K, act);
			for (uint32_t n = 0; n < d_out[p] && ok; n++) {
				float bv = bias[p] ? bias[p][n] : 0.0f;
				char at[260];
				snprintf(at, sizeof(at), "%s: %s[%zu][%u]", ctx, qkv_proj_name(p),
				         t, n);
				if (!block) {
					ok = check_float_row(xr, wrows[p] + n * rb[p], ty, pr->K,
					                     bv, y[n], r, at);
					continue;
				}
				float want = qkv_wtype_dot(ty, wrows[p] + n * rb[p], act, pr->K);
				want = bias[p] ? want + bv : want;
				if (!same_bits(y[n], want))
					ok = cf_fail(
					    r,
					    "%s is %.9g, the %s reference %.9g (not bit-identical)",
					    at, y[n], qkv_wtype_name(ty), want);
			}
			for (size_t i = d_out[p]; i < ld[p] && ok; i++)
				if (memcmp(&y[i], &(float){GUARD_VALUE}, 4) != 0)
					ok = cf_fail(r, "%s: wrote into the guard after %s[%zu]",
					             ctx, qkv_proj_name(p), t);
		}
	for (int p = 0; p < 3; p++) {
		free(wbuf[p]);
		free(out[p]);
		free(bias[p]);
	}
	free(x);
	free(act);
	return ok;
}

/* The types the backend declares with precision stored (F32 always counts). */
static uint32_t declared_types(const struct qkv_backend *be)
{
	uint32_t m = QKV_WTYPE_BIT(QKV_WT_F32);
	if (QKV_HAS_MEMBER(be, struct qkv_backend, wtypes))
		m |= be->wtypes & QKV_WTYPE_ALL;
	return m;
}

void cf_case_block_types(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	(void)precision;
	struct cf_rng g = {seed};
	uint32_t mask = declared_types(be), types[QKV_WTYPE_COUNT], n = 0, problems = 0;
	for (uint32_t t = 0; t < QKV_WTYPE_COUNT; t++)
		if (mask & QKV_WTYPE_BIT(t))
			types[n++] = t;
	static const size_t Ts[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65};
	for (uint32_t i = 0; i < n; i++) {
		uint32_t blk = qkv_wtype_traits(types[i])->block;
		for (int rep = 0; rep < 4; rep++) {
			struct wt_problem pr = {.wtype = {types[i], types[i], types[i]}};
			/* a mix: k and v of other declared types, q of this one */
			if (rep == 3 && n > 1) {
				pr.wtype[1] = types[(i + 1) % n];
				pr.wtype[2] = types[(i + 2) % n];
				for (int p = 1; p < 3; p++)
					blk = qkv_wtype_traits(pr.wtype[p])->block > blk
					          ? qkv_wtype_traits(pr.wtype[p])->block
					          : blk;
			}
			pr.K = blk * (1 + (uint32_t)(cf_rng_next(&g) % (blk == 1    ? 300
			                                                : blk == 32 ? 40
			                                                            : 5)));
			pr.hd = 8 * (1 + (uint32_t)(cf_rng_next(&g) % 4));
			pr.nkv = 1 + (uint32_t)(cf_rng_next(&g) % 2);
			pr.nh = pr.nkv * (1 + (uint32_t)(cf_rng_next(&g) % 3));
			pr.T = Ts[cf_rng_next(&g) % (sizeof(Ts) / sizeof(Ts[0]))];
			pr.bias = rep % 2;
			pr.scales = blk == 1 ? SC_NORMAL : (enum scale_kind)(rep % 3);
			if (!run_problem(be, &pr, cf_rng_next(&g), r))
				return;
			problems++;
		}
	}
	char names[96] = "";
	for (uint32_t i = 0; i < n; i++) {
		const char *nm = qkv_wtype_name(types[i]); /* NULL for an unknown type */
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? "," : "",
		         nm ? nm : "?");
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%u problems over the declared types %s: block types bit-identical to the "
	         "reference, f32/f16/bf16 within bound",
	         problems, names);
}
