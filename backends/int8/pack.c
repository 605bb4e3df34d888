/* Quantize and repack the fused q|k|v weights into kernel panels. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../big_alloc.h"
#include "kernel.h"
#include "pack.h"
#include <qkv/backend_util.h>
#include <qkv/precision.h>

/* Where fused column n comes from. */
struct col_src {
	const float *w;   /* f32 column start, or NULL */
	const int8_t *wq; /* pre-quantized column start, or NULL */
	size_t stride;    /* elements between W[k][n] and W[k+1][n] */
	float scale;      /* pre-quantized scale */
	float bias;
};

static void col_source(const struct qkv_problem *pb, const struct qkv_weights *wt, size_t n,
                       struct col_src *s)
{
	size_t first;
	int p = int8_fused_proj(pb, n, &first);
	size_t j = n - first;
	size_t d_out = qkv_out_width(pb, p);
	size_t off = wt->layout == QKV_LAYOUT_IN_OUT ? j : j * pb->d_model;
	s->stride = wt->layout == QKV_LAYOUT_IN_OUT ? d_out : 1;
	s->bias = wt->bias[p] ? wt->bias[p][j] : 0.0f;
	if (wt->w_i8[p] && wt->w_scale[p]) {
		s->w = NULL;
		s->wq = wt->w_i8[p] + off;
		s->scale = wt->w_scale[p][j];
	} else {
		s->w = wt->w[p] + off;
		s->wq = NULL;
		s->scale = 0.0f;
	}
}

/* Pre-quantized weights must be in [-127, 127]: -128 would break the exact AVX2 sign
 * trick (and the scheme). Returns the first bad projection, or -1. */
static int find_minus_128(const struct qkv_problem *pb, const struct qkv_weights *wt)
{
	for (int p = 0; p < 3; p++) {
		if (!(wt->w_i8[p] && wt->w_scale[p]))
			continue;
		size_t count = (size_t)pb->d_model * (p == QKV_Q ? pb->d_q : pb->d_kv);
		for (size_t i = 0; i < count; i++)
			if (wt->w_i8[p][i] == -128)
				return p;
	}
	return -1;
}

/* One panel: gather its nr columns into colf [nr][k] (f32 sources) or colq
 * [nr][kp] (int8 sources), quantize, interleave by 4 k. out_in columns are contiguous
 * (memcpy); in_out runs k outer, reading a row segment (one cache line) at a time. */
static void pack_panel(const struct qkv_problem *pb, const struct qkv_weights *wt,
                       const struct int8_kernel *kern, struct int8_weights *w, size_t panel,
                       float *colf, int8_t *colq)
{
	size_t k = w->k, kp = w->kg * INT8_KG, nr = w->nr;
	struct col_src src[INT8_NR_MAX];
	size_t nc = 0; /* columns of this panel that exist */
	memset(colq, 0, nr * kp);
	for (size_t c = 0; c < nr; c++) {
		size_t n = panel * nr + c;
		w->scale[n] = 0.0f;
		w->bias[n] = 0.0f;
		if (n >= w->n)
			continue;
		col_source(pb, wt, n, &src[c]);
		w->bias[n] = src[c].bias;
		nc = c + 1;
	}
	if (wt->layout == QKV_LAYOUT_OUT_IN) { /* columns are contiguous */
		for (size_t c = 0; c < nc; c++) {
			if (src[c].wq)
				memcpy(colq + c * kp, src[c].wq, k);
			else
				memcpy(colf + c * k, src[c].w, k * sizeof(float));
		}
	} else { /* rows are contiguous: k outer */
		for (size_t i = 0; i < k; i++)
			for (size_t c = 0; c < nc; c++) {
				if (src[c].wq)
					colq[c * kp + i] = src[c].wq[i * src[c].stride];
				else
					colf[c * k + i] = src[c].w[i * src[c].stride];
			}
	}
	for (size_t c = 0; c < nc; c++) {
		size_t n = panel * nr + c;
		w->scale[n] =
		    src[c].wq ? src[c].scale : kern->quantize(colf + c * k, k, colq + c * kp);
	}
	/* -128 * column sum: |sum| <= 127 * 133144 fits int32, the product may not, so it
	 * is formed in 64 bits and wrapped (kernel.h: exact modulo 2^32) */
	for (size_t c = 0; c < nr; c++) {
		int64_t sum = 0;
		for (size_t i = 0; i < kp; i++)
			sum += colq[c * kp + i];
		w->comp[panel * nr + c] = (int32_t)(uint32_t)(uint64_t)(-128 * sum);
	}
	int8_t *dst = w->panels + panel * w->kg * nr * INT8_KG; /* [kg][nr][4] */
	for (size_t g = 0; g < w->kg; g++)
		for (size_t c = 0; c < nr; c++)
			memcpy(dst + (g * nr + c) * INT8_KG, colq + c * kp + g * INT8_KG, INT8_KG);
}

enum qkv_status int8_weights_pack(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                  const struct int8_kernel *kern, unsigned threads,
                                  struct int8_weights *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (int p = 0; p < 3; p++) {
		if (!wt->w[p] && !(wt->w_i8[p] && wt->w_scale[p])) {
			snprintf(err, errlen, "int8: weights %s: neither f32 nor int8+scale given",
			         qkv_proj_name((unsigned)p));
			return QKV_ERR_ARGUMENT;
		}
	}
	int bad = find_minus_128(pb, wt);
	if (bad >= 0) {
		snprintf(err, errlen,
		         "int8: pre-quantized weights %s hold -128; the scheme uses [-127, 127]",
		         qkv_proj_name((unsigned)bad));
		return QKV_ERR_FORMAT;
	}
	out->k = pb->d_model;
	out->kg = (out->k + INT8_KG - 1) / INT8_KG;
	out->n = (size_t)pb->d_q + 2 * (size_t)pb->d_kv;
	out->nr = kern->nr;
	out->n_panels = (out->n + out->nr - 1) / out->nr;
	size_t panel_bytes = out->kg * out->nr * INT8_KG;
	size_t cols = out->n_panels * out->nr;
	/* 64-byte aligned so a panel row is one cache line */
	size_t total = (out->n_panels * panel_bytes + 63) / 64 * 64;
	out->panels = qkv_big_alloc(total);
	out->panels_bytes = total;
	out->scale = malloc(cols * sizeof(float));
	out->bias = malloc(cols * sizeof(float));
	out->comp = malloc(cols * sizeof(int32_t));
	if (!out->panels || !out->scale || !out->bias || !out->comp) {
		snprintf(err, errlen, "int8: out of memory for %zu bytes of packed weights", total);
		return QKV_ERR_NOMEM;
	}
	int nomem = 0;
	int nt = omp_in_parallel() || threads < 1 ? 1 : (int)threads;
#pragma omp parallel num_threads(nt) if (nt > 1)
	{
		float *colf = malloc(out->nr * out->k * sizeof(float)); /* [nr][k] */
		int8_t *colq = malloc(out->nr * out->kg * INT8_KG);     /* [nr][kp] */
		if (!colf || !colq) {
#pragma omp atomic write
			nomem = 1;
		}
#pragma omp barrier
		if (!nomem) {
#pragma omp for schedule(static)
			for (size_t panel = 0; panel < out->n_panels; panel++)
				pack_panel(pb, wt, kern, out, panel, colf, colq);
		}
		free(colf);
		free(colq);
	}
	if (nomem) {
		snprintf(err, errlen, "int8: out of memory for packing scratch");
		return QKV_ERR_NOMEM;
	}
	return QKV_OK;
}

void int8_weights_free(struct int8_weights *w)
{
	qkv_big_free(w->panels, w->panels_bytes);
	free(w->scale);
	free(w->bias);
	free(w->comp);
	memset(w, 0, sizeof(*w));
}

void int8_quantize_row(const struct int8_kernel *kern, const float *x, size_t k, size_t kg,
                       int8_t *xq, float *xs)
{
	*xs = kern->quantize(x, k, xq); /* xq[0..k) */
	memset(xq + k, 0, kg * INT8_KG - k);
	if (kern->x_mode == INT8_X_S8) /* as they are */
		return;
	if (kern->x_mode == INT8_X_U8) { /* x + 128 as u8: flip the sign bit */
		for (size_t i = 0; i < kg * INT8_KG; i++)
			xq[i] = (int8_t)((uint8_t)xq[i] ^ 0x80u);
		return;
	}
	/* INT8_X_SIGN: spread in place to [kg][4 values, 4 |values|], last group first:
	 * group g writes bytes [8g, 8g + 8), at or above every group not yet read (reads
	 * are [4g', 4g'+4) with g' <= g). */
	for (size_t g = kg; g-- > 0;) {
		int8_t v[INT8_KG];
		memcpy(v, xq + g * INT8_KG, INT8_KG);
		for (int j = 0; j < INT8_KG; j++) {
			xq[g * 8 + j] = v[j];
			xq[g * 8 + INT8_KG + j] = (int8_t)(v[j] < 0 ? -v[j] : v[j]);
		}
	}
}
