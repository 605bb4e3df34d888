/* qkv quantize --type T (quantize_gguf.h). The file: GGUF v3 through tools/common's
 * writer, tensors blk.L.attn_{q,k,v}.weight (type T, ggml ne = [d_model, d_out]: row n is
 * output n, gathered from either layout) and blk.L.attn_{q,k,v}.bias (F32), metadata
 * general.architecture (llama, or qwen2 when there are biases), general.name,
 * general.quantization_version 2 and <arch>.embedding_length, .block_count,
 * .attention.head_count, .head_count_kv, .key_length. Layers are read and written one
 * at a time, rows streamed, so a large model is never held twice. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "quantize_gguf.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/wtype.h>

#include "gguf_out.h"

struct rows_ctx {
	const float *w; /* [K x d_out] in_out, or [d_out x K] out_in */
	uint32_t layout;
	size_t K, d_out;
};

static void fill_weight_row(void *ctx, uint64_t n, float *out)
{
	const struct rows_ctx *c = ctx;
	for (size_t k = 0; k < c->K; k++)
		out[k] =
		    c->layout == QKV_LAYOUT_OUT_IN ? c->w[n * c->K + k] : c->w[k * c->d_out + n];
}

static void fill_vector(void *ctx, uint64_t row, float *out)
{
	const struct rows_ctx *c = ctx;
	(void)row;
	memcpy(out, c->w, c->d_out * sizeof(float));
}

/* xorshift64* and Box-Muller: the report's random rows. */
static double gauss(uint64_t *s)
{
	double u[2];
	for (int i = 0; i < 2; i++) {
		*s ^= *s >> 12;
		*s ^= *s << 25;
		*s ^= *s >> 27;
		u[i] = ((double)((*s * 0x2545f4914f6cdd1dull) >> 11) + 0.5) / 9007199254740992.0;
	}
	return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* Max |y - ref| / max |ref| and NMSE of the type's arithmetic (the reference dot product on
 * the quantized rows) against float64 on the f32 weights, over `rows` Gaussian rows. */
static int report(const struct gguf_job *j, const struct qkv_checkpoint_info *c, uint32_t layer)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(j->wtype);
	size_t K = c->d_model, rb = qkv_wtype_row_bytes(j->wtype, K);
	float *x = malloc(K * sizeof(float)), *wrow = malloc(K * sizeof(float));
	uint8_t *q = malloc(rb), blk[256];
	void *act = malloc(qkv_act_row_bytes(j->wtype, K));
	if (!x || !wrow || !q || !act) {
		free(x), free(wrow), free(q), free(act);
		return -1;
	}
	uint64_t s = j->seed ? j->seed : 1;
	for (int p = 0; p < 3; p++) {
		size_t d_out = p == QKV_Q ? c->d_q : c->d_kv;
		struct rows_ctx rc = {c->w[p], c->layout, K, d_out};
		double emax = 0, rmax = 0, se = 0, sr = 0;
		for (size_t t = 0; t < j->rows; t++) {
			for (size_t k = 0; k < K; k++)
				x[k] = (float)gauss(&s);
			qkv_act_quantize(j->wtype, x, K, act);
			for (size_t n = 0; n < d_out; n++) {
				fill_weight_row(&rc, n, wrow);
				double ref = 0;
				for (size_t k = 0; k < K; k++)
					ref += (double)x[k] * wrow[k];
				for (size_t b = 0; b < K / r->block; b++) {
					r->from_f32(wrow + b * r->block, blk);
					memcpy(q + b * r->bytes, blk, r->bytes);
				}
				double y = qkv_wtype_dot(j->wtype, q, act, K), e = y - ref;
				emax = fabs(e) > emax ? fabs(e) : emax;
				rmax = fabs(ref) > rmax ? fabs(ref) : rmax;
				se += e * e;
				sr += ref * ref;
			}
		}
		fprintf(j->text,
		        "  layer %u %s: %s vs f32 on %zu Gaussian rows: max |err| / max |y| %.2e, "
		        "NMSE %.2e\n",
		        layer, qkv_proj_name((unsigned)p), r->name, j->rows,
		        rmax > 0 ? emax / rmax : 0.0, sr > 0 ? se / sr : 0.0);
	}
	free(x), free(wrow), free(q), free(act);
	return 0;
}

static void tensor_name(char *buf, size_t len, uint32_t layer, int p, bool bias)
{
	snprintf(buf, len, "blk.%u.attn_%s.%s", layer, qkv_proj_name((unsigned)p),
	         bias ? "bias" : "weight");
}

/* The config that loads the file, quoted for YAML (names with {layer} need quotes). */
static int print_config(FILE *f, const struct gguf_job *j, bool bias[3])
{
	char abs[PATH_MAX]; /* the file's absolute path: the config may be saved anywhere */
	const char *path = realpath(j->out, abs) ? abs : j->out;
	fprintf(f, "model:\n  precision: stored\nweights:\n  file: '");
	for (const char *s = path; *s; s++)
		fprintf(f, *s == '\'' ? "''" : "%c", *s);
	fprintf(f, "'\n");
	if (j->layered)
		fprintf(f, "  layer: %u\n", j->first);
	for (int b = 0; b < 2; b++)
		for (int p = 0; p < 3; p++)
			if (!b || bias[p])
				fprintf(f, "  %s%s: {tensor: 'blk.%s.attn_%s.%s'}\n",
				        qkv_proj_name((unsigned)p), b ? "_bias" : "",
				        j->layered ? "{layer}" : "0", qkv_proj_name((unsigned)p),
				        b ? "bias" : "weight");
	return ferror(f) ? -1 : 0;
}

/* One layer's checkpoint with its weights. */
static qkv_checkpoint *open_layer(const struct gguf_job *j, uint32_t layer)
{
	char err[1024];
	qkv_checkpoint *ck = NULL;
	enum qkv_status st =
	    j->layered
	        ? qkv_checkpoint_open_layer(j->config, layer, QKV_CHECKPOINT_WEIGHTS, &ck, err,
	                                    sizeof(err))
	        : qkv_checkpoint_open(j->config, QKV_CHECKPOINT_WEIGHTS, &ck, err, sizeof(err));
	if (st != QKV_OK)
		fprintf(stderr, "qkv quantize: %s\n", err);
	return ck;
}

static int write_layers(FILE *f, const struct gguf_job *j, const struct gguf_out_tensor *t,
                        size_t per_layer)
{
	for (uint32_t i = 0; i < j->count; i++) {
		uint32_t layer = j->first + i;
		qkv_checkpoint *ck = open_layer(j, layer);
		if (!ck)
			return -1;
		struct qkv_checkpoint_info c = QKV_CHECKPOINT_INFO_INIT;
		qkv_checkpoint_get_info(ck, &c);
		int bad = 0;
		for (size_t k = 0; k < per_layer && !bad; k++) {
			const struct gguf_out_tensor *tt = &t[i * per_layer + k];
			int p = (int)(k % 3);
			bool is_bias = k >= 3;
			struct rows_ctx rc = {is_bias ? c.bias[p] : c.w[p], c.layout, c.d_model,
			                      p == QKV_Q ? c.d_q : c.d_kv};
			if (!rc.w) {
				fprintf(stderr, "qkv quantize: %s: layer %u has no %s %s\n",
				        j->config, layer, qkv_proj_name((unsigned)p),
				        is_bias ? "bias" : "f32 weights");
				bad = 1;
				break;
			}
			bad = gguf_out_data(f, tt, is_bias ? fill_vector : fill_weight_row, &rc);
		}
		if (!bad && i == 0 && j->rows)
			bad = report(j, &c, layer);
		qkv_checkpoint_close(ck);
		if (bad)
			return -1;
	}
	return 0;
}

int quantize_gguf(const struct gguf_job *j)
{
	const struct qkv_checkpoint_info *s = j->src;
	const struct qkv_wtype_traits *r = qkv_wtype_traits(j->wtype);
	if (s->d_model % r->block) {
		fprintf(
		    stderr,
		    "qkv quantize: --type %s needs d_model a multiple of its block of %u; %s has "
		    "d_model %u\n",
		    r->name, r->block, j->config, s->d_model);
		return 2;
	}
	bool bias[3];
	size_t per_layer = 3;
	for (int p = 0; p < 3; p++)
		bias[p] = s->bias_tensor[p] || s->bias_pattern[p];
	for (int p = 0; p < 3; p++)
		per_layer += bias[p];
	size_t nt = per_layer * j->count;
	struct gguf_out_tensor *t = calloc(nt, sizeof(*t));
	char(*names)[64] = calloc(nt, sizeof(*names));
	FILE *f = t && names ? fopen(j->out, "wb") : NULL;
	if (!f) {
		fprintf(stderr, "qkv quantize: %s: cannot write it\n", j->out);
		free(t), free(names);
		return 1;
	}
	for (uint32_t i = 0; i < j->count; i++) {
		size_t k = i * per_layer;
		for (int p = 0; p < 3; p++, k++) {
			tensor_name(names[k], sizeof(names[k]), j->first + i, p, false);
			t[k] = (struct gguf_out_tensor){names[k], j->wtype, p ? s->d_kv : s->d_q,
			                                s->d_model};
		}
		for (int p = 0; p < 3; p++)
			if (bias[p]) {
				tensor_name(names[k], sizeof(names[k]), j->first + i, p, true);
				t[k++] = (struct gguf_out_tensor){names[k - 1], QKV_WT_F32,
				                                  p ? s->d_kv : s->d_q, 0};
			}
	}
	const char *arch = bias[0] ? "qwen2" : "llama";
	char keys[5][64];
	static const char *const suffix[5] = {"embedding_length", "block_count",
	                                      "attention.head_count", "attention.head_count_kv",
	                                      "attention.key_length"};
	uint32_t vals[5] = {s->d_model, j->first + j->count, s->n_heads, s->n_kv_heads,
	                    s->head_dim};
	struct gguf_out_kv kv[8] = {{"general.architecture", arch, 0},
	                            {"general.name", "qkv quantize", 0},
	                            {"general.quantization_version", NULL, 2}};
	for (int i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s.%s", arch, suffix[i]);
		kv[3 + i] = (struct gguf_out_kv){keys[i], NULL, vals[i]};
	}
	int bad = gguf_out_header(f, kv, 8, t, nt) || write_layers(f, j, t, per_layer);
	bad |= fclose(f) != 0;
	free(t), free(names);
	if (bad) {
		fprintf(stderr, "qkv quantize: %s: writing failed\n", j->out);
		remove(j->out);
		return 1;
	}
	FILE *cf = j->config_out ? fopen(j->config_out, "w") : NULL;
	if (j->config_out && (!cf || print_config(cf, j, bias) || fclose(cf))) {
		fprintf(stderr, "qkv quantize: %s: cannot write the config\n", j->config_out);
		return 1;
	}
	fprintf(j->text, "wrote %s: %s weights, %u layer%s; the config that loads it:\n", j->out,
	        r->name, j->count, j->count > 1 ? "s" : "");
	return print_config(j->text, j, bias) ? 1 : 0;
}
