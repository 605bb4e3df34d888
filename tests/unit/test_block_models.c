/* GGUF models of every block-quantized type (and a Q4_K_M-style mix) through the public
 * API with precision stored: the file is written here (tools/common/gguf_out), opened
 * from a config, and every backend that takes the types must give
 *   - exactly the reference of <qkv/wtype.h> on the file's own bytes (the arithmetic is
 *     specified to the bit), and
 *   - a result within the documented bound of float64 on the widened weights;
 * `qkv_model_get_info` names each projection's type, its bytes and that it is used in
 * place; a backend that does not take a type is passed over with the type named. */
#define _DEFAULT_SOURCE /* mincore */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "gguf_out.h"
#include "proc_mem.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QKV_UNDER_ASAN 1
#endif
#endif

enum { DM = 512, NH = 4, NKV = 2, HD = 32, DQ = NH * HD, DKV = NKV * HD, T = 5 };

static uint64_t seed_of(uint64_t a, uint64_t b)
{
	return (a + 1) * 0x9e3779b97f4a7c15ull ^ (b + 7) * 0xbf58476d1ce4e5b9ull;
}

/* A weight row: values with a per-row offset, so the K types' mins matter. */
static float weight_at(uint64_t tensor, uint64_t i)
{
	uint64_t x = seed_of(tensor, i);
	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	return (float)((double)(x >> 11) / 9007199254740992.0 - 0.3) * 0.05f;
}

struct fill {
	uint64_t id, len;
};

static void fill_row(void *ctx, uint64_t r, float *out)
{
	const struct fill *f = ctx;
	for (uint64_t i = 0; i < f->len; i++)
		out[i] = weight_at(f->id, r * f->len + i);
}

/* dir/m.gguf with blk.0.attn_{q,k,v}.weight of types w[] and f32 biases; dir/m.yaml. */
static void write_model(const char *dir, const uint32_t w[3])
{
	char path[512];
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	static const char *const names[6] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight",
	                                     "blk.0.attn_v.weight", "blk.0.attn_q.bias",
	                                     "blk.0.attn_k.bias",   "blk.0.attn_v.bias"};
	struct gguf_out_tensor t[6];
	for (int i = 0; i < 6; i++) {
		uint64_t d_out = i % 3 == 0 ? DQ : DKV;
		t[i] = (struct gguf_out_tensor){names[i], i < 3 ? w[i] : QKV_WT_F32, d_out,
		                                i < 3 ? DM : 0};
	}
	struct gguf_out_kv kv[6] = {
	    {"general.architecture", "qwen2", 0},     {"qwen2.embedding_length", NULL, DM},
	    {"qwen2.attention.head_count", NULL, NH}, {"qwen2.attention.head_count_kv", NULL, NKV},
	    {"qwen2.attention.key_length", NULL, HD}, {"qwen2.block_count", NULL, 1}};
	cr_assert_eq(gguf_out_header(f, kv, 6, t, 6), 0);
	for (int i = 0; i < 6; i++) {
		struct fill c = {(uint64_t)i, i < 3 ? DM : t[i].rows};
		cr_assert_eq(gguf_out_data(f, &t[i], fill_row, &c), 0);
	}
	cr_assert_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "model: {precision: stored}\n"
	        "weights:\n  file: m.gguf\n"
	        "  q: {tensor: blk.0.attn_q.weight}\n  k: {tensor: blk.0.attn_k.weight}\n"
	        "  v: {tensor: blk.0.attn_v.weight}\n  q_bias: {tensor: blk.0.attn_q.bias}\n"
	        "  k_bias: {tensor: blk.0.attn_k.bias}\n  v_bias: {tensor: blk.0.attn_v.bias}\n");
	cr_assert_eq(fclose(f), 0);
}

static float x_at(int t, int k)
{
	return (float)sin(0.37 * k + 1.3 * t) * (t == 2 ? 40.0f : 1.0f);
}

/* Expected outputs: the reference dot of <qkv/wtype.h> on bytes quantized the way the
 * writer did (same quantizer, same values: the file's bytes), plus the bias; and the
 * float64 result on the widened weights with its bound. */
static void expect_projection(uint32_t wt, int p, const float *y, size_t ldy)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(wt);
	uint64_t d_out = p == 0 ? DQ : DKV;
	size_t rb = qkv_wtype_row_bytes(wt, DM);
	uint8_t *row = malloc(rb), blk[256];
	float wf[DM], x[DM], wrow[DM];
	void *act = malloc(qkv_act_row_bytes(wt, DM));
	cr_assert(row && act);
	for (int t = 0; t < T; t++) {
		for (int k = 0; k < DM; k++)
			x[k] = x_at(t, k);
		qkv_act_quantize(wt, x, DM, act);
		double ab = r->act == QKV_ACT_Q8_0 ? 32 : r->act == QKV_ACT_Q8_K ? 256 : 0;
		for (uint64_t n = 0; n < d_out; n++) {
			struct fill c = {(uint64_t)p, DM};
			fill_row(&c, n, wrow);
			for (uint32_t b = 0; b < DM / r->block; b++) {
				r->from_f32(wrow + b * r->block, blk);
				memcpy(row + b * r->bytes, blk, r->bytes);
				r->to_f32(blk, wf + b * r->block);
			}
			float bias = weight_at((uint64_t)(3 + p), n);
			float want = qkv_wtype_dot(wt, row, act, DM) + bias;
			float got = y[(size_t)t * ldy + n];
			cr_assert(memcmp(&got, &want, 4) == 0,
			          "%s row %d out %llu: %.9g, reference %.9g", r->name, t,
			          (unsigned long long)n, got, want);
			double ref = bias, mag = fabs(bias), actb = 0;
			for (int k = 0; k < DM; k++) {
				ref += (double)x[k] * wf[k];
				mag += fabs((double)x[k] * wf[k]);
			}
			for (int b = 0; ab && b < DM / ab; b++) {
				double amax = 0, sw = 0;
				for (int i = 0; i < ab; i++) {
					amax = fmax(amax, fabs(x[b * (int)ab + i]));
					sw += fabs(wf[b * (int)ab + i]);
				}
				actb += amax / 254.0 * sw;
				mag += amax * sw;
			}
			double bound = actb + 2.0 * (DM + 4) * ldexp(1.0, -24) * mag;
			cr_assert(fabs(got - ref) <= bound, "%s: %.9g vs float64 %.9g (bound %.3g)",
			          r->name, got, ref, bound);
		}
	}
	free(row);
	free(act);
}

static void run_types(const uint32_t w[3])
{
	char dir[] = "/tmp/qkv-blockXXXXXX", cfg[600], err[512] = "";
	cr_assert_not_null(mkdtemp(dir));
	write_model(dir, w);
	snprintf(cfg, sizeof(cfg), "%s/m.yaml", dir);
	static const char *const backends[] = {"scalar", "quant"};
	for (size_t b = 0; b < sizeof(backends) / sizeof(*backends); b++) {
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.backend = backends[b];
		o.strict = 1;
		qkv_model *m = NULL;
		cr_assert_eq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_OK, "%s", err);
		struct qkv_model_info info = {.struct_size = sizeof(info)};
		cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
		cr_assert_eq(info.precision, QKV_STORED);
		for (int p = 0; p < 3; p++) {
			uint64_t d_out = p == 0 ? DQ : DKV;
			cr_assert_eq(info.wtype[p], w[p], "info names %s's type", qkv_proj_name(p));
			cr_assert_eq(info.wbytes[p], d_out * qkv_wtype_row_bytes(w[p], DM));
		}
		cr_assert_eq(info.in_place, 7u, "the file's blocks are used in place");
		static float x[T * DM], q[T * DQ], k[T * DKV], v[T * DKV];
		for (int t = 0; t < T; t++)
			for (int i = 0; i < DM; i++)
				x[t * DM + i] = x_at(t, i);
		cr_assert_eq(qkv_project(m, T, x, DM, q, DQ, k, DKV, v, DKV, err, sizeof(err)),
		             QKV_OK, "%s", err);
		expect_projection(w[0], 0, q, DQ);
		expect_projection(w[1], 1, k, DKV);
		expect_projection(w[2], 2, v, DKV);
		qkv_model_close(m);
	}
	char path[700];
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	unlink(path);
	unlink(cfg);
	rmdir(dir);
}

Test(block_models, q8_0)
{
	run_types((const uint32_t[3]){QKV_WT_Q8_0, QKV_WT_Q8_0, QKV_WT_Q8_0});
}
Test(block_models, q4_0)
{
	run_types((const uint32_t[3]){QKV_WT_Q4_0, QKV_WT_Q4_0, QKV_WT_Q4_0});
}
Test(block_models, q4_k)
{
	run_types((const uint32_t[3]){QKV_WT_Q4_K, QKV_WT_Q4_K, QKV_WT_Q4_K});
}
Test(block_models, q5_k)
{
	run_types((const uint32_t[3]){QKV_WT_Q5_K, QKV_WT_Q5_K, QKV_WT_Q5_K});
}
Test(block_models, q6_k)
{
	run_types((const uint32_t[3]){QKV_WT_Q6_K, QKV_WT_Q6_K, QKV_WT_Q6_K});
}
Test(block_models, q4_k_m_mix)
{
	run_types((const uint32_t[3]){QKV_WT_Q4_K, QKV_WT_Q4_K, QKV_WT_Q6_K});
}
Test(block_models, f16_and_bf16_held_as_stored)
{
	run_types((const uint32_t[3]){QKV_WT_F16, QKV_WT_BF16, QKV_WT_Q8_0});
}

/* A backend that does not take the layer's types is passed over, naming why; with
 * strict that is an error. */
Test(block_models, backends_without_the_type_are_passed_over)
{
	char dir[] = "/tmp/qkv-blockXXXXXX", cfg[600], err[512] = "";
	cr_assert_not_null(mkdtemp(dir));
	write_model(dir, (const uint32_t[3]){QKV_WT_Q4_K, QKV_WT_Q4_K, QKV_WT_Q6_K});
	snprintf(cfg, sizeof(cfg), "%s/m.yaml", dir);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "blas";
	o.strict = 1;
	qkv_model *m = NULL;
	cr_assert_neq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_OK);
	cr_assert(strstr(err, "blas") && strstr(err, "stored"), "%s", err);
	cr_assert_null(m);
	char path[700];
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	unlink(path);
	unlink(cfg);
	rmdir(dir);
}

/* The fused form: blk.0.attn_qkv.weight [N x d_model] of one block type, rows q | k | v
 * holding the same values as write_model's three tensors (split: rows, zero copy). */
struct fused_fill {
	uint64_t len;
};

static void fill_fused(void *ctx, uint64_t r, float *out)
{
	const struct fused_fill *f = ctx;
	uint64_t id = r < DQ         ? 0
	              : r < DQ + DKV ? 1
	                             : 2,
	         row = r < DQ         ? r
	               : r < DQ + DKV ? r - DQ
	                              : r - DQ - DKV;
	for (uint64_t i = 0; i < f->len; i++)
		out[i] = weight_at(id, row * f->len + i);
}

static void write_fused(const char *dir, uint32_t w)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/f.gguf", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	struct gguf_out_tensor t = {"blk.0.attn_qkv.weight", w, DQ + 2 * DKV, DM};
	struct gguf_out_kv kv[1] = {{"general.architecture", "phi3", 0}};
	cr_assert_eq(gguf_out_header(f, kv, 1, &t, 1), 0);
	struct fused_fill c = {DM};
	cr_assert_eq(gguf_out_data(f, &t, fill_fused, &c), 0);
	cr_assert_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/f.yaml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(
	    f,
	    "model: {d_model: %d, n_heads: %d, n_kv_heads: %d, head_dim: %d, precision: stored}\n"
	    "weights:\n  file: f.gguf\n"
	    "  qkv: {tensor: blk.0.attn_qkv.weight, split: rows}\n",
	    DM, NH, NKV, HD);
	cr_assert_eq(fclose(f), 0);
}

static qkv_model *open_cfg(const char *dir, const char *name, uint32_t rank, uint32_t world)
{
	char cfg[600], err[512] = "";
	snprintf(cfg, sizeof(cfg), "%s/%s", dir, name);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "quant";
	o.strict = 1;
	o.shard_rank = rank;
	o.shard_world = world;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_OK, "%s: %s", name, err);
	return m;
}

/* Q, K, V of T rows into one buffer [T][DQ + 2 DKV]: fused [q | k | v] rows. */
static void project_all(qkv_model *m, uint32_t dq, uint32_t dkv, float *y)
{
	static float x[T * DM];
	char err[256];
	for (int t = 0; t < T; t++)
		for (int i = 0; i < DM; i++)
			x[t * DM + i] = x_at(t, i);
	size_t n = dq + 2 * dkv;
	cr_assert_eq(qkv_project(m, T, x, DM, y, n, y + dq, n, y + dq + dkv, n, err, sizeof(err)),
	             QKV_OK, "%s", err);
}

static void rm_dir(const char *dir)
{
	static const char *const files[] = {"m.gguf", "m.yaml", "f.gguf", "f.yaml"};
	char path[700];
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The fused tensor split by rows is used in place and gives the separate tensors'
 * results bit for bit; each head shard gives its columns of the whole, bit for bit. */
Test(block_models, fused_rows_and_head_shards)
{
	static const uint32_t types[] = {QKV_WT_Q4_K, QKV_WT_Q8_0, QKV_WT_Q6_K};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char dir[] = "/tmp/qkv-blockXXXXXX";
		cr_assert_not_null(mkdtemp(dir));
		uint32_t w[3] = {types[i], types[i], types[i]};
		write_model(dir, w);
		write_fused(dir, types[i]);
		enum { N = DQ + 2 * DKV };
		static float full[T * N], fused[T * N], part[T * N];
		qkv_model *m = open_cfg(dir, "m.yaml", 0, 0);
		project_all(m, DQ, DKV, full);
		qkv_model_close(m);
		/* the separate model has biases; the fused one none: compare without them */
		m = open_cfg(dir, "f.yaml", 0, 0);
		struct qkv_model_info info = {.struct_size = sizeof(info)};
		cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
		cr_assert_eq(info.in_place, 7u, "fused rows split in place");
		project_all(m, DQ, DKV, fused);
		qkv_model_close(m);
		for (int t = 0; t < T; t++)
			for (int n = 0; n < N; n++) {
				int p = n < DQ         ? 3
				        : n < DQ + DKV ? 4
				                       : 5,
				    c = n < DQ         ? n
				        : n < DQ + DKV ? n - DQ
				                       : n - DQ - DKV;
				float want = full[t * N + n] - weight_at((uint64_t)p, (uint64_t)c);
				float got = fused[t * N + n];
				cr_assert(fabsf(got - want) <= 1e-4f * (1.0f + fabsf(want)),
				          "%s fused [%d][%d]: %g vs %g", qkv_wtype_name(types[i]),
				          t, n, got, want);
			}
		for (uint32_t rank = 0; rank < 2; rank++) {
			m = open_cfg(dir, "m.yaml", rank, 2);
			enum { HQ = DQ / 2, HKV = DKV / 2, HN = HQ + 2 * HKV };
			project_all(m, HQ, HKV, part);
			qkv_model_close(m);
			for (int t = 0; t < T; t++)
				for (int n = 0; n < HN; n++) {
					int src = n < HQ ? (int)rank * HQ + n
					          : n < HQ + HKV
					              ? DQ + (int)rank * HKV + (n - HQ)
					              : DQ + DKV + (int)rank * HKV + (n - HQ - HKV);
					cr_assert(
					    memcmp(&part[t * HN + n], &full[t * N + src], 4) == 0,
					    "%s shard %u/2 [%d][%d]: %g vs %g",
					    qkv_wtype_name(types[i]), rank, t, n, part[t * HN + n],
					    full[t * N + src]);
				}
		}
		rm_dir(dir);
	}
}

static void fill_big(void *ctx, uint64_t r, float *out)
{
	(void)ctx;
	for (int i = 0; i < 4096; i++)
		out[i] = weight_at(r, (uint64_t)i);
}

/* Resident memory: opening a Q4_K model with the quant backend holds the weights once:
 * in place (the resident pages of the anonymous mappings grow by less than a tenth of the
 * tensor bytes, and what is resident of the file's mapping after a call is at most its
 * tensor bytes plus the header page), or, with a kernel that arranges Q4_K in panels
 * (kernel.h), the panels within 1.1 x and the file's pages gone. The file is mapped whole
 * either way. The anonymous pages are counted over /proc/self/maps with mincore, not by
 * /proc/self/status's RssAnon: under qemu-user that also counts qemu's own allocations
 * (+2.4 MiB), while maps lists the program's mappings only. smaps, which qemu 7.2 passes
 * through from the host, still finds the file's mapping by its path. */
Test(block_models, weights_resident_once)
{
	char dir[] = "/tmp/qkv-blockXXXXXX", path[600], err[512] = "";
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	struct gguf_out_tensor t[3] = {{"q", QKV_WT_Q4_K, 2048, 4096},
	                               {"k", QKV_WT_Q4_K, 512, 4096},
	                               {"v", QKV_WT_Q4_K, 512, 4096}};
	struct gguf_out_kv kv[1] = {{"general.architecture", "llama", 0}};
	cr_assert_eq(gguf_out_header(f, kv, 1, t, 3), 0);
	uint64_t tensor_bytes = 0;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(gguf_out_data(f, &t[i], fill_big, NULL), 0);
		tensor_bytes += gguf_out_bytes(&t[i]);
	}
	cr_assert_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	f = fopen(path, "w");
	fprintf(
	    f,
	    "model: {d_model: 4096, n_heads: 16, n_kv_heads: 4, head_dim: 128, precision: stored}\n"
	    "weights: {file: m.gguf, q: {tensor: q}, k: {tensor: k}, v: {tensor: v}}\n");
	fclose(f);
	unsigned long long mapped = 0;
	long anon0 = proc_status_kb("RssAnon:"), guest0 = proc_anon_resident_kb("/m.gguf", &mapped);
	cr_assert(anon0 >= 0, "no RssAnon in /proc/self/status");
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "quant";
	o.strict = 1;
	o.threads = 1;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open(path, &o, &m, err, sizeof(err)), QKV_OK, "%s", err);
	static float x[4096], y[2048 + 1024];
	for (int i = 0; i < 4096; i++)
		x[i] = x_at(0, i);
	cr_assert_eq(
	    qkv_project(m, 1, x, 4096, y, 2048, y + 2048, 512, y + 2560, 512, err, sizeof(err)),
	    QKV_OK, "%s", err);
	long anon = proc_status_kb("RssAnon:") - anon0, file = proc_mapping_rss_kb("/m.gguf");
	long guest = proc_anon_resident_kb("/m.gguf", &mapped);
	cr_log_info("Q4_K model of %llu tensor bytes: anonymous mappings +%ld KiB resident "
	            "(mincore; RssAnon +%ld KiB), the file's mapping %ld KiB resident of %llu "
	            "KiB mapped",
	            (unsigned long long)tensor_bytes, guest - guest0, anon, file, mapped / 1024);
	cr_assert(mapped >= tensor_bytes, "m.gguf: %llu bytes mapped for %llu tensor bytes", mapped,
	          (unsigned long long)tensor_bytes);
	struct qkv_model_info info = QKV_MODEL_INFO_INIT;
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
#if defined(__SANITIZE_ADDRESS__) || defined(QKV_UNDER_ASAN)
	/* ASan's shadow memory and quarantine make anonymous memory meaningless: the model's
	 * own count of what it made stands in for it */
	long grown = info.weights_released ? (long)(info.bytes_prepared / 1024) : 0;
#else
	cr_assert(guest0 >= 0 && guest >= 0, "mincore refused a mapping of /proc/self/maps");
	long grown = guest - guest0;
#endif
	if (info.weights_released) { /* panels: the file's pages went, the panels stay */
		cr_assert(file <= 64, "the file's pages stayed (%ld KiB) after the let-go", file);
		cr_assert((double)(grown + file) * 1024.0 <= 1.1 * (double)tensor_bytes + 65536.0,
		          "%ld KiB held for %llu tensor bytes", grown + file,
		          (unsigned long long)tensor_bytes);
	} else {
		cr_assert(file * 1024.0 <= 1.15 * (double)tensor_bytes + 65536.0,
		          "the file's mapping has %ld KiB resident for %llu tensor bytes", file,
		          (unsigned long long)tensor_bytes);
		cr_assert(file > 0, "no resident pages of m.gguf found in /proc/self/smaps");
		cr_assert(grown * 1024.0 < 0.1 * (double)tensor_bytes,
		          "anonymous mappings: %ld KiB more resident", grown);
	}
	qkv_model_close(m);
	rm_dir(dir);
}
