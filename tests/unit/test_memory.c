/* Memory after open (docs/DESIGN.md "Memory"): every in-tree backend, opened from a weight
 * file, holds the weights once. A backend that makes its own copy (packed, fused,
 * quantized) says so through `memory` (ABI 1.2), and the core then drops the file's pages
 * and its own widened copies; a backend that reads the weights in place keeps them. Checked
 * from /proc: the process's anonymous memory growth plus what is resident of the file's
 * mapping stays within 1.1 x the weight bytes the backend computes with.
 *
 * And the flag a program relies on: with `weights_needed` 0 after qkv_model_open_memory,
 * the caller's weights can be overwritten and every result stays the same, bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "gguf_out.h"
#include "proc_mem.h"
#include "test_model.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QKV_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define QKV_UNDER_ASAN 1
#endif

enum { DM = 2048, NH = 16, NKV = 4, HD = 128, DQ = NH * HD, DKV = NKV * HD, T = 3 };

static float weight_at(uint64_t tensor, uint64_t i)
{
	uint64_t z = (tensor + 1) * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
	z ^= z >> 31;
	z *= 0x94D049BB133111EBull;
	z ^= z >> 29;
	return (float)((double)(z >> 40) / (double)(1u << 24) - 0.5) * 0.125f;
}

struct fill {
	uint64_t tensor;
};

static void fill_row(void *ctx, uint64_t r, float *out)
{
	const struct fill *c = ctx;
	for (uint64_t k = 0; k < DM; k++)
		out[k] = weight_at(c->tensor, r * DM + k);
}

/* m.gguf (q, k, v of type `wt`, out_in) and m.yaml in dir, with the given precision. */
static void write_model(const char *dir, uint32_t wt, const char *precision)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	struct gguf_out_tensor t[3] = {{"q", wt, DQ, DM}, {"k", wt, DKV, DM}, {"v", wt, DKV, DM}};
	struct gguf_out_kv kv[1] = {{"general.architecture", "llama", 0}};
	cr_assert_eq(gguf_out_header(f, kv, 1, t, 3), 0);
	for (int i = 0; i < 3; i++) {
		struct fill c = {(uint64_t)i};
		cr_assert_eq(gguf_out_data(f, &t[i], fill_row, &c), 0);
	}
	cr_assert_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "model: {d_model: %d, n_heads: %d, n_kv_heads: %d, head_dim: %d, precision: %s}\n"
	        "weights: {file: m.gguf, q: {tensor: q}, k: {tensor: k}, v: {tensor: v}}\n",
	        DM, NH, NKV, HD, precision);
	cr_assert_eq(fclose(f), 0);
}

/* The backend is on the plugin path and its probe says it can run here (onednn is
 * optional: with -Donednn=disabled its file is a stub whose probe says so). */
static int plugin_built(const char *name)
{
	qkv_plugin_set *set = NULL;
	char err[256];
	if (qkv_plugins_scan(NULL, &set, err, sizeof(err)) != QKV_OK)
		return 0;
	long i = qkv_plugins_find(set, name, NULL);
	struct qkv_plugin_info pi = QKV_PLUGIN_INFO_INIT;
	int ok = i >= 0 && qkv_plugins_get(set, (size_t)i, &pi) == QKV_OK && pi.score > 0;
	qkv_plugins_free(set);
	return ok;
}

struct memcase {
	const char *backend, *precision;
	uint32_t file_type;
	int keeps; /* expected weights_needed; -1: either (the kernel decides), consistently */
	/* NULL, or the refusal (QKV_ERR_UNSUPPORTED naming this) that makes the case a skip
	 * on this CPU: oneDNN's int8 needs VNNI for exact sums */
	const char *skip_if_refused;
};

/* Opening and calling once: anonymous growth + the file's resident pages, in KiB. Returns
 * 1 (the reason in why) when the backend refused as c->skip_if_refused allows. */
static int measure(const char *dir, const struct memcase *c, double weight_bytes, char *why,
                   size_t whylen)
{
	char path[600], err[512] = "";
	write_model(dir, c->file_type, c->precision);
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	unsigned long long mapped = 0;
	long anon0 = proc_anon_resident_kb("/m.gguf", &mapped); /* not RssAnon: see proc_mem.h */
	cr_assert(anon0 >= 0, "mincore refused a mapping of /proc/self/maps");
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = c->backend;
	o.strict = 1;
	o.threads = 2;
	qkv_model *m = NULL;
	enum qkv_status st = qkv_model_open(path, &o, &m, err, sizeof(err));
	if (st == QKV_ERR_UNSUPPORTED && c->skip_if_refused && strstr(err, c->skip_if_refused)) {
		snprintf(why, whylen, "%s", err);
		return 1;
	}
	cr_assert_eq(st, QKV_OK, "%s: %s", c->backend, err);
	static float x[T * DM], y[T * (DQ + 2 * DKV)];
	for (int i = 0; i < T * DM; i++)
		x[i] = weight_at(99, (uint64_t)i);
	cr_assert_eq(qkv_project_fused(m, T, x, DM, y, DQ + 2 * DKV, err, sizeof(err)), QKV_OK,
	             "%s", err);
	struct qkv_model_info info = QKV_MODEL_INFO_INIT;
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	long anon = proc_anon_resident_kb("/m.gguf", &mapped) - anon0,
	     file = proc_mapping_rss_kb("/m.gguf");
	double resident = 1024.0 * (double)(anon + file);
	cr_log_info(
	    "%s (%s from %s): anonymous +%ld KiB, file %ld KiB resident; %.0f weight bytes; "
	    "info: prepared %llu, in place %llu, needed %u, released %u",
	    c->backend, c->precision, qkv_wtype_name(c->file_type), anon, file, weight_bytes,
	    (unsigned long long)info.bytes_prepared, (unsigned long long)info.bytes_in_place,
	    info.weights_needed, info.weights_released);
	int keeps = c->keeps >= 0 ? c->keeps : (int)info.weights_needed; /* -1: by kernel */
	cr_expect_eq(info.weights_needed, (uint32_t)keeps, "%s: weights_needed %u", c->backend,
	             info.weights_needed);
	cr_expect_eq(info.weights_released, (uint32_t)!keeps, "%s", c->backend);
	cr_expect(info.prepared_known, "%s does not report its memory", c->backend);
	if (!keeps) {
		/* its own copy: at least the int8 or f32 bytes of the weights, and the file gone */
		double own = !strcmp(c->precision, "int8") ? weight_bytes / 4 : weight_bytes;
		cr_expect_geq((double)info.bytes_prepared, own, "%s: bytes_prepared %llu",
		              c->backend, (unsigned long long)info.bytes_prepared);
		cr_expect_eq(info.bytes_in_place, 0);
		cr_expect_leq(file, 8, "%s: %ld KiB of the file still resident", c->backend, file);
	} else {
		cr_expect_eq((double)info.bytes_in_place, weight_bytes);
	}
#if defined(QKV_UNDER_ASAN)
	(void)resident; /* ASan's shadow memory and quarantine make RssAnon meaningless */
#else
	cr_expect_leq(resident, 1.1 * weight_bytes,
	              "%s: %.1f MiB resident after open for %.1f MiB of weights", c->backend,
	              resident / 1048576.0, weight_bytes / 1048576.0);
#endif
	qkv_model_close(m);
	return 0;
}

/* One case per test: Criterion runs each in its own process, so the baseline of /proc is
 * this case's alone (no freed memory of an earlier model to reuse). */
static void run_case(const struct memcase *c)
{
	cr_assert(plugin_built(c->backend), "%s is not on the plugin path or cannot run here",
	          c->backend);
	double bytes = (double)DM * (DQ + 2 * DKV) * 4; /* f32 as computed; int8 checked too */
	if (!strcmp(c->precision, "stored"))
		bytes = (double)(DQ + 2 * DKV) * (double)qkv_wtype_row_bytes(c->file_type, DM);
	char dir[] = "/tmp/qkv-memXXXXXX", path[600];
	cr_assert_not_null(mkdtemp(dir));
	char why[512] = "";
	int refused = measure(dir, c, bytes, why, sizeof(why));
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	unlink(path);
	rmdir(dir);
	if (refused)
		cr_skip_test("refused on this CPU: %s", why);
}

#define MEMORY_CASE(name, backend, precision, type, keeps)                                         \
	Test(memory, name, .timeout = 60)                                                          \
	{                                                                                          \
		const struct memcase c = {backend, precision, type, keeps, NULL};                  \
		run_case(&c);                                                                      \
	}
MEMORY_CASE(scalar_f32_in_place, "scalar", "f32", QKV_WT_F32, 1)
MEMORY_CASE(openmp_f32_packed, "openmp", "f32", QKV_WT_F32, 0)
MEMORY_CASE(openmp_f16_file_widened_then_packed, "openmp", "f32", QKV_WT_F16, 0)
MEMORY_CASE(blas_f32_fused, "blas", "f32", QKV_WT_F32, 0)
MEMORY_CASE(int8_quantized, "int8", "int8", QKV_WT_F32, 0)
#if defined(QKV_TEST_ONEDNN_F32) /* onednn is optional (-Donednn=disabled) */
MEMORY_CASE(onednn_f32_reordered, "onednn", "f32", QKV_WT_F32, 0)
#if defined(QKV_TEST_ONEDNN_INT8)
Test(memory, onednn_int8_quantized, .timeout = 60)
{
	const struct memcase c = {"onednn", "int8", QKV_WT_F32, 0, "int8 needs exact int32 sums"};
	run_case(&c);
}
#else
Test(memory, onednn_int8_quantized)
{
	cr_skip_test("onednn does not declare int8 here (aarch64: backends/onednn/README.md)");
}
#endif
#endif
MEMORY_CASE(quant_f32_in_place, "quant", "stored", QKV_WT_F32, 1)
/* Q8_0: in place with the row kernels (C, aarch64), rearranged into panels (same bytes) with
 * the x86 ones, which lets the file go: either way resident within the bound */
MEMORY_CASE(quant_q8_0, "quant", "stored", QKV_WT_Q8_0, -1)

/* weights_needed 0 is a promise: the caller's weights overwritten after open change
 * nothing. (A backend that lied would read NaN and give NaN.) */
Test(memory, weights_not_needed_can_be_overwritten, .timeout = 120)
{
	enum { D = 256, H = 4, KVH = 2, HDIM = 64, Q = H * HDIM, KV = KVH * HDIM, R = 5 };
	static const char *const backends[] = {"scalar", "openmp", "blas", "onednn"};
	static float w[3][Q * D], b[3][Q], x[R * D], y0[R * (Q + 2 * KV)], y1[R * (Q + 2 * KV)];
	size_t freed = 0;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!plugin_built(backends[i]))
			continue;
		for (int p = 0; p < 3; p++)
			for (int e = 0; e < Q * D; e++) {
				w[p][e] = weight_at((uint64_t)p, (uint64_t)e);
				b[p][e % Q] = weight_at(7 + (uint64_t)p, (uint64_t)(e % Q));
			}
		for (int e = 0; e < R * D; e++)
			x[e] = weight_at(42, (uint64_t)e);
		struct qkv_model_desc d =
		    test_model_desc(D, H, KVH, HDIM, QKV_LAYOUT_OUT_IN, w[0], w[1], w[2]);
		for (int p = 0; p < 3; p++)
			d.bias[p] = b[p];
		d.prefer = backends[i];
		d.strict = 1;
		d.threads = 1;
		qkv_model *m = NULL;
		char err[512] = "";
		cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s: %s",
		             backends[i], err);
		struct qkv_model_info info = QKV_MODEL_INFO_INIT;
		cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
		cr_assert_eq(qkv_project_fused(m, R, x, D, y0, Q + 2 * KV, err, sizeof(err)),
		             QKV_OK);
		if (!info.weights_needed) {
			for (int p = 0; p < 3; p++) {
				for (int e = 0; e < Q * D; e++)
					w[p][e] = NAN;
				for (int e = 0; e < Q; e++)
					b[p][e] = NAN;
			}
			freed++;
		}
		cr_assert_eq(qkv_project_fused(m, R, x, D, y1, Q + 2 * KV, err, sizeof(err)),
		             QKV_OK);
		cr_expect_eq(memcmp(y0, y1, sizeof(y0)), 0,
		             "%s: weights_needed %u, yet the result changed after the caller's "
		             "weights were overwritten",
		             backends[i], info.weights_needed);
		qkv_model_close(m);
	}
	cr_assert_geq(freed, 2, "only %zu backends let the weights go", freed);
}

/* zero_copy: a backend that would copy the weights is passed over, with the reason. */
Test(memory, zero_copy_takes_only_backends_that_read_in_place, .timeout = 60)
{
	enum { D = 64, H = 2, HDIM = 32, Q = H * HDIM };
	static float w[3][Q * D];
	for (int p = 0; p < 3; p++)
		for (int e = 0; e < Q * D; e++)
			w[p][e] = weight_at((uint64_t)p, (uint64_t)e);
	struct qkv_model_desc d =
	    test_model_desc(D, H, 0, HDIM, QKV_LAYOUT_OUT_IN, w[0], w[1], w[2]);
	d.zero_copy = 1;
	d.threads = 1;
	qkv_model *m = NULL;
	char err[512] = "";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_model_info info = QKV_MODEL_INFO_INIT;
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_expect_eq(info.weights_needed, 1, "%s was selected and copies", info.backend);
	cr_expect_eq(info.bytes_in_place, (uint64_t)3 * Q * D * sizeof(float));
	if (plugin_built("openmp"))
		cr_expect(strstr(info.selection_log, "zero_copy asks for backends that read them "
		                                     "in place"),
		          "%s", info.selection_log);
	qkv_model_close(m);
	if (!plugin_built("openmp"))
		return;
	d.prefer = "openmp"; /* strict: the refusal is the error */
	d.strict = 1;
	cr_assert_neq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK);
	cr_expect(strstr(err, "makes its own copy of the weights"), "%s", err);
}
