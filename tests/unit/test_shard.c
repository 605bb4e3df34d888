/* Head shards (`shard: {rank, world}`, the open option and the from-memory descriptor):
 * the rules of the plan for every (n_heads, n_kv_heads, world), every config refusal with
 * its file:line and key, and end to end: each slice opened from a config computes
 * exactly (bit for bit, same backend and threads) the columns of the whole model that
 * belong to its heads, for MHA and GQA (world above n_kv_heads too), both layouts,
 * f32/f16 files, int8 with f32 weights and pre-quantized I8 weights, with biases; the
 * whole model itself is checked against a float64 reference. The loader's byte count
 * is the slice's. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "config.h"
#include "shard.h"
#include "test_tmpdir.h"
#include "util.h"
#include "weights.h"

static char dir[64];

static void mk_dir(void)
{
	test_tmpdir_make(dir, sizeof(dir), "shard");
}

static void rm_dir(void)
{
	test_tmpdir_remove(dir);
}

TestSuite(shard, .init = mk_dir, .fini = rm_dir, .timeout = 60);

/* ---- the plan ---------------------------------------------------------------------- */

Test(shard, plan_rules)
{
	struct {
		uint32_t h, kv, w;
		enum qkv_shard_fault f;
		const char *why;
	} cases[] = {
	    {32, 8, 1, QKV_SHARD_OK, NULL},
	    {32, 8, 2, QKV_SHARD_OK, NULL},
	    {32, 8, 8, QKV_SHARD_OK, NULL},
	    {32, 8, 16, QKV_SHARD_OK, NULL}, /* replicated: 2 ranks per K/V head */
	    {32, 8, 32, QKV_SHARD_OK, NULL}, /* replicated: 4 ranks per K/V head */
	    {12, 12, 4, QKV_SHARD_OK, NULL}, /* MHA */
	    {32, 8, 0, QKV_SHARD_BAD_WORLD, ">= 1"},
	    {32, 8, 3, QKV_SHARD_BAD_WORLD, "does not divide n_heads"},
	    {32, 8, 64, QKV_SHARD_BAD_WORLD, "does not divide n_heads"},
	    {24, 6, 4, QKV_SHARD_BAD_WORLD, "does not divide n_kv_heads"},
	    {12, 4, 6, QKV_SHARD_BAD_WORLD, "not a multiple"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qkv_shard s;
		char why[200] = "";
		enum qkv_shard_fault f =
		    qkv_shard_plan(cases[i].h, cases[i].kv, 0, cases[i].w, &s, why, sizeof(why));
		cr_assert_eq(f, cases[i].f, "case %zu: fault %d (%s)", i, f, why);
		if (cases[i].why)
			cr_assert(strstr(why, cases[i].why), "case %zu: '%s'", i, why);
	}
	struct qkv_shard s;
	char why[200] = "";
	cr_assert_eq(qkv_shard_plan(32, 8, 2, 2, &s, why, sizeof(why)), QKV_SHARD_BAD_RANK);
	cr_assert(strstr(why, "rank 2 is not below world 2"), "%s", why);
	/* Every rank's query heads use exactly the K/V heads it holds, and together the
	 * ranks cover every query head once and every K/V head. */
	const uint32_t shapes[][2] = {{32, 8}, {8, 8}, {8, 2}, {8, 1}, {12, 4}, {6, 3}};
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		uint32_t h = shapes[k][0], kv = shapes[k][1];
		for (uint32_t w = 1; w <= h; w++) {
			if (qkv_shard_plan(h, kv, 0, w, &s, why, sizeof(why)) != QKV_SHARD_OK)
				continue;
			uint32_t covered = 0, kv_covered = 0;
			for (uint32_t r = 0; r < w; r++) {
				cr_assert_eq(qkv_shard_plan(h, kv, r, w, &s, why, sizeof(why)),
				             QKV_SHARD_OK);
				cr_assert_eq(s.q_head0, covered);
				covered += s.q_heads;
				cr_assert_eq(s.q_heads % s.kv_heads, 0);
				uint32_t g_loc = s.q_heads / s.kv_heads; /* the slice's GQA group */
				for (uint32_t q = s.q_head0; q < s.q_head0 + s.q_heads; q++) {
					uint32_t g = q / (h / kv); /* the K/V head q uses */
					/* the slice's problem maps local q to the same K/V head */
					cr_assert_eq(s.kv_head0 + (q - s.q_head0) / g_loc, g,
					             "h %u kv %u w %u r %u q %u", h, kv, w, r, q);
				}
				if (s.kv_head0 + s.kv_heads > kv_covered)
					kv_covered = s.kv_head0 + s.kv_heads;
			}
			cr_assert_eq(covered, h, "h %u kv %u w %u", h, kv, w);
			cr_assert_eq(kv_covered, kv, "h %u kv %u w %u", h, kv, w);
		}
	}
}

/* ---- config refusals --------------------------------------------------------------- */

static void parse_fails(const char *shard, const char *want_key, unsigned want_line,
                        const char *want)
{
	char text[1024];
	snprintf(text, sizeof(text),
	         "model:\n"
	         "  d_model: 64\n"
	         "  n_heads: 8\n"
	         "  n_kv_heads: 2\n"
	         "weights:\n"
	         "  layout: out_in\n"
	         "  file: w.safetensors\n"
	         "  q: {tensor: q}\n"
	         "  k: {tensor: k}\n"
	         "  v: {tensor: v}\n"
	         "%s",
	         shard);
	struct qkv_config cfg;
	char err[512] = "";
	cr_assert_eq(qkv_config_parse("m.yaml", dir, text, strlen(text), &cfg, err, sizeof(err)),
	             QKV_ERR_CONFIG, "%s: accepted", shard);
	char loc[32];
	snprintf(loc, sizeof(loc), "m.yaml:%u:", want_line);
	cr_assert(strstr(err, loc), "'%s' lacks '%s'", err, loc);
	cr_assert(strstr(err, want_key), "'%s' lacks '%s'", err, want_key);
	cr_assert(strstr(err, want), "'%s' lacks '%s'", err, want);
	cr_assert_eq(cfg.file, NULL); /* nothing left behind */
}

Test(shard, config_refusals)
{
	parse_fails("shard: {rank: 0, world: 3}\n", "shard.world", 11, "does not divide n_heads");
	parse_fails("shard:\n  rank: 0\n  world: 16\n", "shard.world", 13,
	            "does not divide n_heads");
	parse_fails("shard: {rank: 2, world: 2}\n", "shard.rank", 11, "not below world");
	parse_fails("shard:\n  world: 4\n  rank: 4\n", "shard.rank", 13, "not below world");
	parse_fails("shard: {rank: 0, world: 0}\n", "shard.world", 11, "");
	parse_fails("shard: {rank: -1, world: 2}\n", "shard.rank", 11, "");
	parse_fails("shard: {rank: 0}\n", "shard.world", 11, "missing");
	parse_fails("shard: {world: 2}\n", "shard.rank", 11, "missing");
	parse_fails("shard: {rank: 0, world: 2, size: 3}\n", "size", 11, "");
	parse_fails("shard: 2\n", "shard", 11, "mapping");
	parse_fails("shard: [0, 2]\n", "shard", 11, "mapping");
	parse_fails("shard: {rank: 0, world: two}\n", "shard.world", 11, "");
}

Test(shard, config_accepts)
{
	const char *text = "model: {d_model: 64, n_heads: 8, n_kv_heads: 2}\n"
	                   "weights: {layout: in_out, file: w.npy, q: {}, k: {}, v: {}}\n"
	                   "shard: {rank: 3, world: 4}\n";
	struct qkv_config cfg;
	char err[512] = "";
	enum qkv_status st =
	    qkv_config_parse("m.yaml", dir, text, strlen(text), &cfg, err, sizeof(err));
	if (st == QKV_OK) {
		cr_assert_eq(cfg.shard_rank, 3);
		cr_assert_eq(cfg.shard_world, 4);
		qkv_config_free(&cfg);
	} else {
		/* `q: {}` is refused as empty: use file references instead */
		text = "model: {d_model: 64, n_heads: 8, n_kv_heads: 2}\n"
		       "weights: {layout: in_out, q: {file: q.npy}, k: {file: k.npy}, "
		       "v: {file: v.npy}}\n"
		       "shard: {rank: 3, world: 4}\n";
		cr_assert_eq(
		    qkv_config_parse("m.yaml", dir, text, strlen(text), &cfg, err, sizeof(err)),
		    QKV_OK, "%s", err);
		cr_assert_eq(cfg.shard_rank, 3);
		cr_assert_eq(cfg.shard_world, 4);
		qkv_config_free(&cfg);
	}
}

/* ---- end to end -------------------------------------------------------------------- */

struct shape {
	uint32_t dm, h, kv, hd;
};

/* A deterministic value in about [-1, 1] for element i of tensor t. */
static float val(unsigned t, size_t i)
{
	uint32_t x = (uint32_t)(i * 2654435761u) ^ (t * 40503u + 977u);
	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return (float)((int)(x % 2001) - 1000) / 1000.0f;
}

static uint16_t to_f16(float f)
{
	/* values here are multiples of 1/1000 in [-1, 1]: normal or zero halves */
	uint32_t u;
	memcpy(&u, &f, 4);
	uint32_t sign = (u >> 16) & 0x8000u;
	int e = (int)((u >> 23) & 0xff) - 127 + 15;
	uint32_t m = u & 0x7fffffu;
	if (f == 0.0f || e <= 0)
		return (uint16_t)sign;
	uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
	if ((m & 0x1fffu) > 0x1000u || ((m & 0x1fffu) == 0x1000u && (h & 1u)))
		h++;
	return (uint16_t)h;
}

enum wkind { W_F32, W_F16, W_I8 };

/* Write a safetensors file of the whole model and a config naming it; returns the
 * config path. w[p] logical [d_model x d_out] element (i, j) = val(p, i * d_out + j). */
static char *write_model(const char *tag, struct shape s, uint32_t layout, enum wkind wk,
                         uint32_t precision, bool bias, const char *shard_yaml)
{
	static char cfg_path[256];
	char st_path[200];
	snprintf(st_path, sizeof(st_path), "%s/%s.safetensors", dir, tag);
	size_t es = wk == W_F32 ? 4 : wk == W_F16 ? 2 : 1;
	const char *dts = wk == W_F32 ? "F32" : wk == W_F16 ? "F16" : "I8";
	size_t d_out[3] = {(size_t)s.h * s.hd, (size_t)s.kv * s.hd, (size_t)s.kv * s.hd};
	char hdr[4096];
	size_t off = 0;
	int n = snprintf(hdr, sizeof(hdr), "{");
	const char *names[3] = {"q", "k", "v"};
	for (int p = 0; p < 3; p++) {
		size_t nb = s.dm * d_out[p] * es;
		unsigned long a = layout == QKV_LAYOUT_OUT_IN ? d_out[p] : s.dm;
		unsigned long b = layout == QKV_LAYOUT_OUT_IN ? s.dm : d_out[p];
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		              "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%lu, %lu], "
		              "\"data_offsets\": [%zu, %zu]}",
		              p ? ", " : "", names[p], dts, a, b, off, off + nb);
		off += nb;
	}
	for (int p = 0; p < 3; p++) {
		size_t nb = d_out[p] * 4;
		if (bias) {
			n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
			              ", \"%s_bias\": {\"dtype\": \"F32\", \"shape\": [%zu], "
			              "\"data_offsets\": [%zu, %zu]}",
			              names[p], d_out[p], off, off + nb);
			off += nb;
		}
		if (wk == W_I8) {
			n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
			              ", \"%s_scale\": {\"dtype\": \"F32\", \"shape\": [%zu], "
			              "\"data_offsets\": [%zu, %zu]}",
			              names[p], d_out[p], off, off + nb);
			off += nb;
		}
	}
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "}");
	while (n % 8)
		hdr[n++] = ' ';
	FILE *f = fopen(st_path, "wb");
	cr_assert_not_null(f);
	uint64_t hl = (uint64_t)n;
	cr_assert_eq(fwrite(&hl, 8, 1, f), 1);
	cr_assert_eq(fwrite(hdr, 1, (size_t)n, f), (size_t)n);
	for (int p = 0; p < 3; p++) {
		size_t rows = layout == QKV_LAYOUT_OUT_IN ? d_out[p] : s.dm;
		size_t cols = layout == QKV_LAYOUT_OUT_IN ? s.dm : d_out[p];
		for (size_t r = 0; r < rows; r++)
			for (size_t c = 0; c < cols; c++) {
				size_t i = layout == QKV_LAYOUT_OUT_IN ? c : r; /* d_model index */
				size_t j = layout == QKV_LAYOUT_OUT_IN ? r : c; /* output index */
				float x = val((unsigned)p, i * d_out[p] + j);
				if (wk == W_F32) {
					cr_assert_eq(fwrite(&x, 4, 1, f), 1);
				} else if (wk == W_F16) {
					uint16_t hx = to_f16(x);
					cr_assert_eq(fwrite(&hx, 2, 1, f), 1);
				} else {
					int8_t q = (int8_t)lrintf(x * 127.0f);
					cr_assert_eq(fwrite(&q, 1, 1, f), 1);
				}
			}
	}
	for (int p = 0; p < 3; p++) {
		for (size_t j = 0; bias && j < d_out[p]; j++) {
			float b = val(10u + (unsigned)p, j);
			cr_assert_eq(fwrite(&b, 4, 1, f), 1);
		}
		for (size_t j = 0; wk == W_I8 && j < d_out[p]; j++) {
			float sc = 0.001f * (float)(1 + j % 7);
			cr_assert_eq(fwrite(&sc, 4, 1, f), 1);
		}
	}
	cr_assert_eq(fclose(f), 0);
	snprintf(cfg_path, sizeof(cfg_path), "%s/%s.yaml", dir, tag);
	f = fopen(cfg_path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "model: {d_model: %u, n_heads: %u, n_kv_heads: %u, head_dim: %u, "
	        "precision: %s}\n"
	        "weights:\n  layout: %s\n  file: %s.safetensors\n",
	        s.dm, s.h, s.kv, s.hd, precision == QKV_INT8 ? "int8" : "f32",
	        layout == QKV_LAYOUT_OUT_IN ? "out_in" : "in_out", tag);
	for (int p = 0; p < 3; p++) {
		fprintf(f, "  %s: {tensor: %s}\n", names[p], names[p]);
		if (bias)
			fprintf(f, "  %s_bias: {tensor: %s_bias}\n", names[p], names[p]);
		if (wk == W_I8)
			fprintf(f, "  %s_scale: {tensor: %s_scale}\n", names[p], names[p]);
	}
	fprintf(f, "backend: {prefer: [scalar], threads: 1}\n%s", shard_yaml ? shard_yaml : "");
	cr_assert_eq(fclose(f), 0);
	return cfg_path;
}

struct outputs {
	size_t T;
	uint32_t w[3];
	float *o[3];
};

static qkv_model *open_slice(const char *cfg, uint32_t rank, uint32_t world)
{
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.shard_rank = rank;
	o.shard_world = world;
	qkv_model *m = NULL;
	char err[512] = "";
	cr_assert_eq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_OK, "%s", err);
	return m;
}

static void run(const qkv_model *m, const float *x, size_t T, size_t ldx, struct outputs *out)
{
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	out->T = T;
	out->w[0] = info.d_q;
	out->w[1] = out->w[2] = info.d_kv;
	for (int p = 0; p < 3; p++) {
		out->o[p] = calloc(T * out->w[p] + 1, sizeof(float));
		cr_assert_not_null(out->o[p]);
	}
	char err[512] = "";
	cr_assert_eq(qkv_project(m, T, x, ldx, out->o[0], out->w[0], out->o[1], out->w[1],
	                         out->o[2], out->w[2], err, sizeof(err)),
	             QKV_OK, "%s", err);
}

static void outputs_free(struct outputs *o)
{
	for (int p = 0; p < 3; p++)
		free(o->o[p]);
}

/* float64 reference of the whole model's f32 weights with biases */
static void check_reference(struct shape s, const float *x, size_t T, const struct outputs *full,
                            bool bias)
{
	size_t d_out[3] = {(size_t)s.h * s.hd, (size_t)s.kv * s.hd, (size_t)s.kv * s.hd};
	for (int p = 0; p < 3; p++)
		for (size_t t = 0; t < T; t++)
			for (size_t j = 0; j < d_out[p]; j++) {
				double acc = bias ? val(10u + (unsigned)p, j) : 0.0, mag = 0.0;
				for (size_t i = 0; i < s.dm; i++) {
					double w = val((unsigned)p, i * d_out[p] + j);
					acc += (double)x[t * s.dm + i] * w;
					mag += fabs((double)x[t * s.dm + i] * w);
				}
				/* f32 sums of dm products: |error| <= dm * eps * sum|terms| */
				double tol = (double)s.dm * 1.2e-7 * mag + 1e-30;
				double got = full->o[p][t * d_out[p] + j];
				cr_assert(fabs(got - acc) <= tol,
				          "p %d t %zu j %zu: %g vs %g (tol %g)", p, t, j, got, acc,
				          tol);
			}
}

/* Open the whole model and each slice of `world`; every slice's outputs must equal the
 * whole model's columns of its heads bit for bit. */
static void check_world(const char *cfg, struct shape s, uint32_t world, const float *x, size_t T,
                        const struct outputs *full, size_t full_bytes)
{
	for (uint32_t r = 0; r < world; r++) {
		qkv_model *m = open_slice(cfg, r, world);
		struct qkv_model_info info = {.struct_size = sizeof(info)};
		cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
		struct qkv_shard plan;
		char why[200];
		cr_assert_eq(qkv_shard_plan(s.h, s.kv, r, world, &plan, why, sizeof(why)),
		             QKV_SHARD_OK);
		cr_assert_eq(info.shard_rank, r);
		cr_assert_eq(info.shard_world, world);
		cr_assert_eq(info.n_heads, s.h / world);
		cr_assert_eq(info.n_kv_heads, plan.kv_heads);
		cr_assert_eq(info.q_head_begin, plan.q_head0);
		cr_assert_eq(info.kv_head_begin, plan.kv_head0);
		cr_assert_eq(info.model_n_heads, s.h);
		cr_assert_eq(info.model_n_kv_heads, s.kv);
		cr_assert_eq(info.d_q, s.h / world * s.hd);
		/* the slice's bytes: exactly its share of the whole model's count */
		size_t cols = (size_t)info.d_q + 2u * info.d_kv,
		       all = (size_t)s.hd * (s.h + 2u * s.kv);
		cr_assert_eq(info.weight_bytes * all, full_bytes * cols,
		             "rank %u/%u: %llu bytes of %zu", r, world,
		             (unsigned long long)info.weight_bytes, full_bytes);
		struct outputs o;
		run(m, x, T, s.dm, &o);
		for (int p = 0; p < 3; p++) {
			size_t c0 = (size_t)(p == 0 ? plan.q_head0 : plan.kv_head0) * s.hd;
			for (size_t t = 0; t < T; t++)
				cr_assert_eq(
				    memcmp(&o.o[p][t * o.w[p]], &full->o[p][t * full->w[p] + c0],
				           o.w[p] * sizeof(float)),
				    0, "rank %u/%u proj %d row %zu differs", r, world, p, t);
		}
		outputs_free(&o);
		qkv_model_close(m);
	}
}

static void check_model(const char *tag, struct shape s, uint32_t layout, enum wkind wk,
                        uint32_t precision, const uint32_t *worlds, size_t n_worlds)
{
	const char *cfg = write_model(tag, s, layout, wk, precision, true, NULL);
	size_t T = 5;
	float *x = malloc(T * s.dm * sizeof(float));
	cr_assert_not_null(x);
	for (size_t i = 0; i < T * s.dm; i++)
		x[i] = val(20, i);
	qkv_model *m = open_slice(cfg, 0, 0);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_assert_eq(info.shard_world, 1);
	cr_assert_eq(info.n_heads, s.h);
	struct outputs full;
	run(m, x, T, s.dm, &full);
	if (wk == W_F32 && precision == QKV_F32)
		check_reference(s, x, T, &full, true);
	for (size_t i = 0; i < n_worlds; i++)
		check_world(cfg, s, worlds[i], x, T, &full, (size_t)info.weight_bytes);
	outputs_free(&full);
	qkv_model_close(m);
	free(x);
}

static const uint32_t worlds_gqa[] = {2, 4, 8}; /* 8 > n_kv_heads 4: replicated */
static const uint32_t worlds_mha[] = {2, 4};

Test(shard, gqa_out_in_f32)
{
	check_model("g1", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_OUT_IN, W_F32, QKV_F32,
	            worlds_gqa, 3);
}

Test(shard, gqa_in_out_f32)
{
	check_model("g2", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_IN_OUT, W_F32, QKV_F32,
	            worlds_gqa, 3);
}

Test(shard, mha_both_layouts_f32)
{
	check_model("m1", (struct shape){40, 4, 4, 10}, QKV_LAYOUT_OUT_IN, W_F32, QKV_F32,
	            worlds_mha, 2);
	check_model("m2", (struct shape){40, 4, 4, 10}, QKV_LAYOUT_IN_OUT, W_F32, QKV_F32,
	            worlds_mha, 2);
}

Test(shard, gqa_f16_widened)
{
	check_model("h1", (struct shape){32, 8, 2, 4}, QKV_LAYOUT_OUT_IN, W_F16, QKV_F32,
	            worlds_gqa, 3);
	check_model("h2", (struct shape){32, 8, 2, 4}, QKV_LAYOUT_IN_OUT, W_F16, QKV_F32,
	            worlds_gqa, 3);
}

Test(shard, int8_from_f32_and_prequantized)
{
	check_model("i1", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_OUT_IN, W_F32, QKV_INT8,
	            worlds_gqa, 3);
	check_model("i2", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_IN_OUT, W_F32, QKV_INT8,
	            worlds_gqa, 3);
	check_model("i3", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_OUT_IN, W_I8, QKV_INT8,
	            worlds_gqa, 3);
	check_model("i4", (struct shape){48, 8, 4, 6}, QKV_LAYOUT_IN_OUT, W_I8, QKV_INT8,
	            worlds_gqa, 3);
}

/* The config's `shard:` gives the same slice as the option; the option replaces it. */
Test(shard, config_section_and_option)
{
	struct shape s = {48, 8, 4, 6};
	const char *cfg = write_model("c1", s, QKV_LAYOUT_OUT_IN, W_F32, QKV_F32, false,
	                              "shard: {rank: 1, world: 2}\n");
	qkv_model *m = NULL;
	char err[512] = "";
	cr_assert_eq(qkv_model_open(cfg, NULL, &m, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_assert_eq(info.shard_rank, 1);
	cr_assert_eq(info.shard_world, 2);
	cr_assert_eq(info.q_head_begin, 4);
	cr_assert_eq(info.kv_head_begin, 2);
	qkv_model_close(m);
	m = open_slice(cfg, 3, 4);
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_assert_eq(info.shard_rank, 3);
	cr_assert_eq(info.shard_world, 4);
	qkv_model_close(m);
	/* an older caller's smaller info struct still works and is not written past */
	m = open_slice(cfg, 0, 2);
	struct qkv_model_info small[2];
	memset(small, 0x5a, sizeof(small));
	small[0].struct_size = (uint32_t)(offsetof(struct qkv_model_info, selection_log) +
	                                  sizeof(small[0].selection_log));
	cr_assert_eq(qkv_model_get_info(m, &small[0]), QKV_OK);
	cr_assert_eq(small[0].n_heads, 4);
	cr_assert_eq(small[0].shard_world, 0x5a5a5a5au);
	qkv_model_close(m);
}

Test(shard, option_refusals)
{
	struct shape s = {48, 8, 4, 6};
	const char *cfg = write_model("o1", s, QKV_LAYOUT_OUT_IN, W_F32, QKV_F32, false, NULL);
	struct {
		uint32_t rank, world;
		const char *want;
	} bad[] = {{0, 3, "shard_world"},
	           {2, 2, "shard_rank"},
	           {0, 16, "shard_world"},
	           {0, 6, "shard_world"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.shard_rank = bad[i].rank;
		o.shard_world = bad[i].world;
		qkv_model *m = (qkv_model *)1;
		char err[512] = "";
		cr_assert_eq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_ERR_ARGUMENT,
		             "%u/%u: %s", bad[i].rank, bad[i].world, err);
		cr_assert_null(m);
		cr_assert(strstr(err, bad[i].want), "'%s' lacks '%s'", err, bad[i].want);
	}
}

/* From memory: whole-model tensors and a shard give the same slice as the config. */
Test(shard, from_memory)
{
	struct shape s = {48, 8, 4, 6};
	size_t T = 3, d_out[3] = {48, 24, 24};
	float *w[2][3], b[3][48], x[3 * 48];
	for (size_t i = 0; i < T * s.dm; i++)
		x[i] = val(20, i);
	for (int p = 0; p < 3; p++) {
		for (size_t j = 0; j < d_out[p]; j++)
			b[p][j] = val(10u + (unsigned)p, j);
		for (int l = 0; l < 2; l++) {
			w[l][p] = malloc(s.dm * d_out[p] * sizeof(float));
			cr_assert_not_null(w[l][p]);
			for (size_t i = 0; i < s.dm; i++)
				for (size_t j = 0; j < d_out[p]; j++)
					w[l][p][l == QKV_LAYOUT_OUT_IN ? j * s.dm + i
					                               : i * d_out[p] + j] =
					    val((unsigned)p, i * d_out[p] + j);
		}
	}
	struct outputs ref[2];
	for (int l = 0; l < 2; l++) {
		struct qkv_model_desc d = {.struct_size = sizeof(d),
		                           .d_model = s.dm,
		                           .n_heads = s.h,
		                           .n_kv_heads = s.kv,
		                           .head_dim = s.hd,
		                           .precision = QKV_F32,
		                           .layout = (uint32_t)l,
		                           .w = {w[l][0], w[l][1], w[l][2]},
		                           .bias = {b[0], b[1], b[2]},
		                           .prefer = "scalar",
		                           .threads = 1};
		qkv_model *m = NULL;
		char err[512] = "";
		cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s", err);
		run(m, x, T, s.dm, &ref[l]);
		qkv_model_close(m);
		for (int p = 0; p < 3; p++)
			cr_assert_eq(memcmp(ref[l].o[p], ref[0].o[p], T * d_out[p] * 4), 0);
		for (uint32_t world = 2; world <= 8; world *= 2)
			for (uint32_t r = 0; r < world; r++) {
				d.shard_rank = r;
				d.shard_world = world;
				cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)),
				             QKV_OK, "%s", err);
				struct outputs o;
				run(m, x, T, s.dm, &o);
				struct qkv_shard plan;
				char why[200];
				cr_assert_eq(qkv_shard_plan(s.h, s.kv, r, world, &plan, why, 200),
				             QKV_SHARD_OK);
				for (int p = 0; p < 3; p++) {
					size_t c0 =
					    (size_t)(p ? plan.kv_head0 : plan.q_head0) * s.hd;
					for (size_t t = 0; t < T; t++)
						cr_assert_eq(memcmp(&o.o[p][t * o.w[p]],
						                    &ref[0].o[p][t * d_out[p] + c0],
						                    o.w[p] * 4),
						             0, "layout %d %u/%u p %d", l, r, world,
						             p);
				}
				outputs_free(&o);
				qkv_model_close(m);
			}
		/* refusals name the descriptor member */
		d.shard_rank = 0;
		d.shard_world = 3;
		m = (qkv_model *)1;
		cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
		cr_assert_null(m);
		cr_assert(strstr(err, "desc.shard_world"), "%s", err);
		d.shard_rank = 4;
		d.shard_world = 4;
		cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
		cr_assert(strstr(err, "desc.shard_rank"), "%s", err);
	}
	for (int l = 0; l < 2; l++) {
		outputs_free(&ref[l]);
		for (int p = 0; p < 3; p++)
			free(w[l][p]);
	}
}

/* A view that is not a plain contiguous [d_model x d_out] matrix cannot be cut by heads:
 * refused (the loader turns this into "cannot be sliced for shard R/W" naming the tensor),
 * nothing allocated. */
Test(shard, unsliceable_views_refused)
{
	static float data[8 * 6];
	struct qkv_tensor_view ok = {.dtype = QKV_DT_F32,
	                             .ndim = 2,
	                             .shape = {8, 6},
	                             .nbytes = sizeof(data),
	                             .data = (const uint8_t *)data};
	struct qkv_tensor_view out, bad;
	void *owned = (void *)1;
	char err[256] = "";
	cr_assert_eq(qkv_view_slice(&ok, QKV_LAYOUT_OUT_IN, 6, 8, 2, 4, &out, &owned, err, 256),
	             QKV_OK, "%s", err);
	cr_assert_null(owned);
	cr_assert_eq(out.data, (const uint8_t *)(data + 2 * 6));
	cr_assert_eq(out.shape[0], 4);
	bad = ok;
	bad.ndim = 3; /* e.g. a [groups x rows x d_model] view */
	bad.shape[0] = 2;
	bad.shape[1] = 4;
	bad.shape[2] = 6;
	cr_assert_eq(qkv_view_slice(&bad, QKV_LAYOUT_OUT_IN, 6, 8, 2, 4, &out, &owned, err, 256),
	             QKV_ERR_UNSUPPORTED);
	cr_assert_null(owned);
	cr_assert(strstr(err, "cannot be sliced by heads"), "%s", err);
	bad = ok;
	bad.dtype = QKV_DT_NONE; /* an element type with no size (a quantized block type) */
	cr_assert_eq(qkv_view_slice(&bad, QKV_LAYOUT_IN_OUT, 8, 6, 0, 3, &out, &owned, err, 256),
	             QKV_ERR_UNSUPPORTED);
	bad = ok;
	bad.nbytes -= 4; /* not the whole matrix */
	cr_assert_eq(qkv_view_slice(&bad, QKV_LAYOUT_IN_OUT, 8, 6, 0, 3, &out, &owned, err, 256),
	             QKV_ERR_UNSUPPORTED);
	/* columns past d_out */
	cr_assert_eq(qkv_view_slice(&ok, QKV_LAYOUT_IN_OUT, 8, 6, 4, 3, &out, &owned, err, 256),
	             QKV_ERR_UNSUPPORTED);
	cr_assert_null(owned);
}

/* Fused q|k|v tensors (qkv-genweights forms gpt2: in_out split cols + bias; phi3: out_in
 * split rows; neox: split heads + bias): the slice is cut from the loader's view of each
 * projection, so every rank still matches the whole model bit for bit, also with 4 ranks
 * over 2 K/V heads, and keeps only its share of the bytes (the whole-projection copy a
 * cols/heads split makes is dropped). */
Test(shard, fused_forms)
{
	static const struct {
		const char *form, *layout, *split, *tensor;
		bool bias;
	} forms[] = {
	    {"gpt2", "in_out", "cols", "h.0.attn.c_attn", true},
	    {"phi3", "out_in", "rows", "model.layers.0.self_attn.qkv_proj", false},
	    {"neox", "out_in", "heads", "gpt_neox.layers.0.attention.query_key_value", true},
	};
	struct shape s = {64, 4, 2, 16}; /* the tiny preset */
	static const uint32_t worlds[] = {2, 4};
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		char cmd[512], cfg[256];
		snprintf(cmd, sizeof(cmd),
		         "'%s/tools/genweights/qkv-genweights' --preset tiny --form %s --out "
		         "'%s/%s.safetensors' >/dev/null",
		         QKV_BUILD_ROOT, forms[f].form, dir, forms[f].form);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		snprintf(cfg, sizeof(cfg), "%s/%s.yaml", dir, forms[f].form);
		FILE *fp = fopen(cfg, "w");
		cr_assert_not_null(fp);
		fprintf(fp,
		        "model: {d_model: 64, n_heads: 4, n_kv_heads: 2, head_dim: 16}\n"
		        "weights:\n  layout: %s\n  file: %s.safetensors\n"
		        "  qkv: {tensor: %s.weight, split: %s}\n",
		        forms[f].layout, forms[f].form, forms[f].tensor, forms[f].split);
		if (forms[f].bias)
			fprintf(fp, "  qkv_bias: {tensor: %s.bias}\n", forms[f].tensor);
		fprintf(fp, "backend: {prefer: [scalar], threads: 1}\n");
		cr_assert_eq(fclose(fp), 0);
		size_t T = 3;
		float x[3 * 64];
		for (size_t i = 0; i < T * s.dm; i++)
			x[i] = val(21, i);
		qkv_model *m = open_slice(cfg, 0, 0);
		struct qkv_model_info info = {.struct_size = sizeof(info)};
		cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
		struct outputs full;
		run(m, x, T, s.dm, &full);
		for (size_t i = 0; i < 2; i++)
			check_world(cfg, s, worlds[i], x, T, &full, (size_t)info.weight_bytes);
		outputs_free(&full);
		qkv_model_close(m);
	}
}

/* A GGUF config's dimensions come from the file after validation: its `shard:` is checked
 * against them when the config loads, still naming the key and line. */
Test(shard, gguf_dims_checked)
{
	char cmd[512], cfg[256];
	snprintf(cmd, sizeof(cmd),
	         "'%s/tools/genweights/qkv-genweights' --preset tiny --form gguf --out "
	         "'%s/t.gguf' >/dev/null",
	         QKV_BUILD_ROOT, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	static const char *const shards[] = {"{rank: 0, world: 3}", "{rank: 1, world: 4}"};
	for (int i = 0; i < 2; i++) {
		snprintf(cfg, sizeof(cfg), "%s/g%d.yaml", dir, i);
		FILE *f = fopen(cfg, "w");
		cr_assert_not_null(f);
		fprintf(f,
		        "model: {precision: f32}\n"
		        "weights:\n  file: t.gguf\n"
		        "  q: {tensor: blk.0.attn_q.weight}\n  k: {tensor: blk.0.attn_k.weight}\n"
		        "  v: {tensor: blk.0.attn_v.weight}\n"
		        "backend: {prefer: [scalar], threads: 1}\n"
		        "shard: %s\n",
		        shards[i]);
		cr_assert_eq(fclose(f), 0);
		qkv_model *m = NULL;
		char err[512] = "";
		enum qkv_status st = qkv_model_open(cfg, NULL, &m, err, sizeof(err));
		if (i == 0) { /* tiny: 4 query heads */
			cr_assert_eq(st, QKV_ERR_CONFIG, "%s", err);
			cr_assert_null(m);
			cr_assert(strstr(err, "g0.yaml:8:") && strstr(err, "shard.world") &&
			              strstr(err, "does not divide n_heads 4"),
			          "%s", err);
		} else {
			cr_assert_eq(st, QKV_OK, "%s", err);
			struct qkv_model_info info = {.struct_size = sizeof(info)};
			cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
			cr_assert_eq(info.n_heads, 1);
			cr_assert_eq(info.kv_head_begin, 0); /* 4 ranks over 2 K/V heads */
			cr_assert_eq(info.model_n_heads, 4);
			qkv_model_close(m);
		}
	}
}

/* Allocation failures (util.h's hook) at every allocation of a sharded open: each fails
 * cleanly (a status with a message, *out NULL; leaks are ASan's and valgrind's to find)
 * or succeeds and computes the same slice. Covers the in_out column copy, the fused
 * whole-copy drop and the from-memory copy. */
static qkv_model *open_any(const char *cfg, const struct qkv_model_desc *d, enum qkv_status *st,
                           char *err, size_t errlen)
{
	qkv_model *m = (qkv_model *)1;
	if (cfg) {
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.shard_rank = 1;
		o.shard_world = 4;
		*st = qkv_model_open(cfg, &o, &m, err, errlen);
	} else {
		*st = qkv_model_open_memory(d, &m, err, errlen);
	}
	return m;
}

static void alloc_fail_loop(const char *cfg, const struct qkv_model_desc *d)
{
	float x[2 * 64], want[3][2 * 64], got[3][2 * 64];
	for (size_t i = 0; i < 2 * 64; i++)
		x[i] = val(22, i);
	char err[512] = "";
	enum qkv_status st;
	qkv_model *m = open_any(cfg, d, &st, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "%s", err);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	uint32_t wq = info.d_q, wkv = info.d_kv;
	cr_assert(wq <= 64 && wkv <= 64);
	cr_assert_eq(qkv_project(m, 2, x, 64, want[0], wq, want[1], wkv, want[2], wkv, err, 512),
	             QKV_OK);
	qkv_model_close(m);
	unsigned long n, failed = 0;
	for (n = 1; n < 100000; n++) {
		err[0] = '\0';
		qkv_alloc_fail_at(n, true);
		m = open_any(cfg, d, &st, err, sizeof(err));
		unsigned long attempted = qkv_alloc_count();
		qkv_alloc_fail_at(0, false);
		if (st != QKV_OK) {
			failed++;
			cr_expect_null(m, "allocation %lu: *out not NULL after a failed open", n);
			cr_expect(err[0] != '\0', "allocation %lu: %s with no message", n,
			          qkv_status_str(st));
			continue;
		}
		cr_assert_eq(
		    qkv_project(m, 2, x, 64, got[0], wq, got[1], wkv, got[2], wkv, err, 512),
		    QKV_OK, "%s", err);
		cr_expect_eq(memcmp(got[0], want[0], 2 * wq * 4), 0, "allocation %lu", n);
		cr_expect_eq(memcmp(got[1], want[1], 2 * wkv * 4), 0, "allocation %lu", n);
		cr_expect_eq(memcmp(got[2], want[2], 2 * wkv * 4), 0, "allocation %lu", n);
		qkv_model_close(m);
		if (attempted < n)
			break;
	}
	cr_expect_lt(n, 100000);
	cr_expect_gt(failed, 3);
}

Test(shard, allocation_failures)
{
	struct shape s = {64, 8, 2, 8};
	alloc_fail_loop(write_model("a1", s, QKV_LAYOUT_IN_OUT, W_F16, QKV_F32, true, NULL), NULL);
	char cmd[512], cfg[256];
	snprintf(cmd, sizeof(cmd),
	         "'%s/tools/genweights/qkv-genweights' --preset tiny --form gpt2 --out "
	         "'%s/a2.safetensors' >/dev/null",
	         QKV_BUILD_ROOT, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(cfg, sizeof(cfg), "%s/a2.yaml", dir);
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f, "model: {d_model: 64, n_heads: 4, n_kv_heads: 2, head_dim: 16}\n"
	           "weights:\n  layout: in_out\n  file: a2.safetensors\n"
	           "  qkv: {tensor: h.0.attn.c_attn.weight, split: cols}\n"
	           "  qkv_bias: {tensor: h.0.attn.c_attn.bias}\n"
	           "backend: {prefer: [scalar], threads: 1}\n");
	cr_assert_eq(fclose(f), 0);
	alloc_fail_loop(cfg, NULL);
	static float w[3][64 * 64];
	for (int p = 0; p < 3; p++)
		for (size_t i = 0; i < 64 * 64; i++)
			w[p][i] = val((unsigned)p, i);
	struct qkv_model_desc d = {.struct_size = sizeof(d),
	                           .d_model = 64,
	                           .n_heads = 8,
	                           .n_kv_heads = 2,
	                           .head_dim = 8,
	                           .precision = QKV_F32,
	                           .layout = QKV_LAYOUT_IN_OUT,
	                           .w = {w[0], w[1], w[2]},
	                           .prefer = "scalar",
	                           .threads = 1,
	                           .shard_rank = 1,
	                           .shard_world = 4};
	alloc_fail_loop(NULL, &d);
}
