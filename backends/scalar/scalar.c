/* The scalar backend: the readable reference for every precision.
 *
 * Plain loops, no SIMD, no threads. Other backends are checked against it, so it
 * favours clarity over speed: one dot product per output element.
 *
 *   f32:  y[t][n] = b[n] + sum_k x[t][k] * W[k][n]          (f32 accumulation)
 *   bf16: the same with W rounded to bf16 (nearest-even) at prepare
 *   int8: the scheme of <qkv/precision.h>, see quantize_* and project_int8 below
 *   stored: each projection in its own weight type; block types through the reference
 *         dot product of <qkv/wtype.h> (qkv_wtype_dot), which every backend must equal
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QKV_BACKEND_NAME "scalar"
#include <qkv/backend_util.h>
#include <qkv/plugin.h>
#include <qkv/precision.h>
#include <qkv/wtype.h>

struct scalar_handle {
	struct qkv_problem pb;
	uint32_t layout;
	const float *w[3];    /* f32 weights used by project (borrowed, or owned_w) */
	const float *bias[3]; /* borrowed from the core */
	float *owned_w[3];    /* bf16-rounded copies */
	int8_t *wq[3];        /* int8: quantized weights, same layout as the source */
	float *wscale[3];     /* int8: per-column scales */
	const int8_t *wq_use[3];
	const float *wscale_use[3];
	uint32_t wtype[3];     /* stored: enum qkv_wtype of each projection (else F32) */
	const uint8_t *blk[3]; /* stored, block and 16-bit types: rows as stored (borrowed) */
	size_t row_bytes[3];   /* bytes of one of those rows */
};

/* W[k][n] of a [d_model x d_out] matrix stored in `layout`. */
static size_t w_index(uint32_t layout, size_t k, size_t n, size_t d_model, size_t d_out)
{
	return layout == QKV_LAYOUT_IN_OUT ? k * d_out + n : n * d_model + k;
}

static void scalar_release(void *h)
{
	struct scalar_handle *s = h;
	if (!s)
		return;
	for (int p = 0; p < 3; p++) {
		free(s->owned_w[p]);
		free(s->wq[p]);
		free(s->wscale[p]);
	}
	free(s);
}

/* The reference reads the weights in place (f32, stored types, biases): only bf16's
 * rounded copies and int8's quantized ones are its own. */
static void scalar_memory(const void *h, struct qkv_handle_memory *out)
{
	const struct scalar_handle *s = h;
	uint64_t b = sizeof(*s);
	for (int p = 0; p < 3; p++) {
		uint64_t cells = (uint64_t)s->pb.d_model * qkv_out_width(&s->pb, p);
		b += (s->owned_w[p] ? cells * sizeof(float) : 0) + (s->wq[p] ? cells : 0) +
		     (s->wscale[p] ? qkv_out_width(&s->pb, p) * sizeof(float) : 0);
	}
	out->keeps_weights = 1;
	out->bytes_made = b;
}

static enum qkv_status prepare_bf16(struct scalar_handle *s, const struct qkv_weights *wt,
                                    char *err, size_t errlen)
{
	for (int p = 0; p < 3; p++) {
		size_t count = (size_t)s->pb.d_model * qkv_out_width(&s->pb, p);
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "bf16 weights missing");
		s->owned_w[p] = malloc(count * sizeof(float));
		if (!s->owned_w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
			                        "out of memory for bf16 weights");
		for (size_t i = 0; i < count; i++)
			s->owned_w[p][i] = qkv_bf16_round(wt->w[p][i]);
		s->w[p] = s->owned_w[p];
	}
	return QKV_OK;
}

static enum qkv_status prepare_int8(struct scalar_handle *s, const struct qkv_weights *wt,
                                    char *err, size_t errlen)
{
	for (int p = 0; p < 3; p++) {
		size_t d_out = qkv_out_width(&s->pb, p);
		size_t d_model = s->pb.d_model;
		if (wt->w_i8[p] && wt->w_scale[p]) { /* pre-quantized: use as given */
			s->wq_use[p] = wt->w_i8[p];
			s->wscale_use[p] = wt->w_scale[p];
			continue;
		}
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "int8 needs f32 or int8 weights");
		s->wq[p] = malloc(d_model * d_out);
		s->wscale[p] = malloc(d_out * sizeof(float));
		float *col = malloc(d_model * sizeof(float));
		int8_t *qcol = malloc(d_model);
		if (!s->wq[p] || !s->wscale[p] || !col || !qcol) {
			free(col);
			free(qcol);
			return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
			                        "out of memory for int8 weights");
		}
		for (size_t n = 0; n < d_out; n++) {
			for (size_t k = 0; k < d_model; k++)
				col[k] = wt->w[p][w_index(s->layout, k, n, d_model, d_out)];
			s->wscale[p][n] = qkv_int8_quantize(col, d_model, qcol);
			for (size_t k = 0; k < d_model; k++)
				s->wq[p][w_index(s->layout, k, n, d_model, d_out)] = qcol[k];
		}
		free(col);
		free(qcol);
		s->wq_use[p] = s->wq[p];
		s->wscale_use[p] = s->wscale[p];
	}
	return QKV_OK;
}

/* stored: F32 projections take the f32 path; the others are used in place, one row of
 * d_model values per output (out_in). */
static enum qkv_status prepare_stored(struct scalar_handle *s, const struct qkv_problem *pb,
                                      const struct qkv_weights *wt, char *err, size_t errlen)
{
	if (!QKV_HAS_MEMBER(pb, struct qkv_problem, wtype))
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "precision stored needs qkv_problem.wtype (ABI 1.1)");
	for (int p = 0; p < 3; p++) {
		uint32_t t = pb->wtype[p];
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		if (!r)
			return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
			                        "unknown weight type %u for %s", t,
			                        qkv_proj_name(p));
		s->wtype[p] = t;
		if (t == QKV_WT_F32) {
			if (!wt->w[p])
				return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
				                        "f32 weights of %s missing",
				                        qkv_proj_name(p));
			continue;
		}
		s->row_bytes[p] = qkv_wtype_row_bytes(t, pb->d_model);
		if (!s->row_bytes[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "d_model %u is not a multiple of %s's block of %u",
			                        pb->d_model, r->name, r->block);
		if (!QKV_HAS_MEMBER(wt, struct qkv_weights, w_blk) || !wt->w_blk[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "%s weights of %s missing (w_blk)", r->name,
			                        qkv_proj_name(p));
		if (wt->layout != QKV_LAYOUT_OUT_IN)
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "%s weights must be out_in (one row per output)",
			                        r->name);
		s->blk[p] = wt->w_blk[p];
	}
	return QKV_OK;
}

static enum qkv_status scalar_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (pb->precision > QKV_STORED)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "unknown precision %u",
		                        pb->precision);
	/* The core refuses larger int8 models; this guards direct callers (the harness). */
	if (pb->precision == QKV_INT8 && pb->d_model > QKV_INT8_MAX_D_MODEL)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "int8 d_model %u is above %u: int32 could overflow",
		                        pb->d_model, QKV_INT8_MAX_D_MODEL);
	struct scalar_handle *s = calloc(1, sizeof(*s));
	if (!s)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = s;
	s->pb = *pb;
	s->layout = wt->layout;
	for (int p = 0; p < 3; p++) {
		s->w[p] = wt->w[p];
		s->bias[p] = wt->bias[p];
	}
	if (pb->precision == QKV_BF16)
		return prepare_bf16(s, wt, err, errlen);
	if (pb->precision == QKV_INT8)
		return prepare_int8(s, wt, err, errlen);
	if (pb->precision == QKV_STORED)
		return prepare_stored(s, pb, wt, err, errlen);
	for (int p = 0; p < 3; p++)
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "f32 weights missing");
	return QKV_OK;
}

/* f32 and bf16: one f32 dot product per output element, k in increasing order. */
static void project_f32(const struct scalar_handle *s, const struct qkv_batch *b, int p)
{
	size_t d_model = s->pb.d_model;
	size_t d_out = qkv_out_width(&s->pb, p);
	for (size_t t = 0; t < b->T; t++) {
		const float *x = b->x + t * b->ldx;      /* [d_model] */
		float *y = b->out[p] + t * b->ld_out[p]; /* [d_out] */
		for (size_t n = 0; n < d_out; n++) {
			float acc = 0.0f;
			for (size_t k = 0; k < d_model; k++)
				acc += x[k] * s->w[p][w_index(s->layout, k, n, d_model, d_out)];
			y[n] = s->bias[p] ? acc + s->bias[p][n] : acc;
		}
	}
}

/* stored, a block or 16-bit type: each X row prepared for the type (quantized per
 * block), then qkv_wtype_dot per output, then the bias. */
static enum qkv_status project_stored(const struct scalar_handle *s, const struct qkv_batch *b,
                                      int p, char *err, size_t errlen)
{
	size_t d_model = s->pb.d_model, d_out = qkv_out_width(&s->pb, p);
	uint32_t wt = s->wtype[p];
	void *act = malloc(qkv_act_row_bytes(wt, d_model)); /* per-call scratch: one X row */
	if (!act)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for a quantized row");
	for (size_t t = 0; t < b->T; t++) {
		qkv_act_quantize(wt, b->x + t * b->ldx, d_model, act);
		float *y = b->out[p] + t * b->ld_out[p]; /* [d_out] */
		for (size_t n = 0; n < d_out; n++) {
			float acc =
			    qkv_wtype_dot(wt, s->blk[p] + n * s->row_bytes[p], act, d_model);
			y[n] = s->bias[p] ? acc + s->bias[p][n] : acc;
		}
	}
	free(act);
	return QKV_OK;
}

/* int8: quantize each X row, exact int32 dot products, then rescale. */
static enum qkv_status project_int8(const struct scalar_handle *s, const struct qkv_batch *b,
                                    char *err, size_t errlen)
{
	size_t d_model = s->pb.d_model;
	int8_t *xq = malloc(d_model); /* per-call scratch: [d_model] */
	if (!xq)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for a quantized row");
	for (size_t t = 0; t < b->T; t++) {
		const float *x = b->x + t * b->ldx;
		float xs = qkv_int8_quantize(x, d_model, xq);
		for (int p = 0; p < 3; p++) {
			size_t d_out = qkv_out_width(&s->pb, p);
			float *y = b->out[p] + t * b->ld_out[p];
			for (size_t n = 0; n < d_out; n++) {
				int32_t acc = 0;
				for (size_t k = 0; k < d_model; k++)
					acc +=
					    (int32_t)xq[k] *
					    s->wq_use[p][w_index(s->layout, k, n, d_model, d_out)];
				y[n] = qkv_int8_dequant(acc, xs, s->wscale_use[p][n],
				                        s->bias[p] ? s->bias[p][n] : 0.0f);
			}
		}
	}
	free(xq);
	return QKV_OK;
}

static enum qkv_status scalar_project(const void *h, const struct qkv_batch *b, char *err,
                                      size_t errlen)
{
	const struct scalar_handle *s = h;
	if (!s || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (b->T == 0)
		return QKV_OK;
	if (s->pb.precision == QKV_INT8)
		return project_int8(s, b, err, errlen);
	for (int p = 0; p < 3; p++) {
		if (s->pb.precision == QKV_STORED && s->wtype[p] != QKV_WT_F32) {
			enum qkv_status st = project_stored(s, b, p, err, errlen);
			if (st != QKV_OK)
				return st;
		} else {
			project_f32(s, b, p);
		}
	}
	return QKV_OK;
}

static void scalar_probe(struct qkv_probe_result *out)
{
	out->score = 1; /* runs everywhere, slowest */
	snprintf(out->detail, sizeof(out->detail),
	         "portable C reference (f32, bf16, int8, stored: every weight type)");
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(scalar, "scalar", "1.1.0",
                       QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_BF16) |
                           QKV_PRECISION_BIT(QKV_INT8) | QKV_PRECISION_BIT(QKV_STORED)),
    .memory = scalar_memory,
    .wtypes = QKV_WTYPE_ALL,
};
