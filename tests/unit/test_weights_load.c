/* qkv_weights_load: configs built by hand (plus end-to-end through the YAML parser for
 * the shipped configs) against .npy, safetensors and raw files written here; zero copy,
 * widening, int8 with scales, every shape/dtype refusal with its message, allocation
 * failures, and a round trip through qkv-genweights at the Llama-3-8B shape whose
 * values are recomputed here from the generator's documented formula. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "test_tmpdir.h"
#include "util.h"
#include "weights.h"

static char dir[64];

static void mk_dir(void)
{
	test_tmpdir_make(dir, sizeof(dir), "load");
}

static void rm_dir(void)
{
	test_tmpdir_remove(dir);
}

TestSuite(load, .init = mk_dir, .fini = rm_dir, .timeout = 60);

/* Paths handed to configs must outlive the test: a small pool. */
static char paths[16][160];
static int n_paths;

static char *path_of(const char *name)
{
	char *p = paths[n_paths++ % 16];
	snprintf(p, 160, "%s/%s", dir, name);
	return p;
}

static char *write_file(const char *name, const void *a, size_t na, const void *b, size_t nb)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(a, 1, na, f), na);
	if (nb)
		cr_assert_eq(fwrite(b, 1, nb, f), nb);
	cr_assert_eq(fclose(f), 0);
	return p;
}

/* A safetensors file: tensors given as (name, dtype, rows, cols or 0, bytes), stored
 * back to back; `pad` spaces make the header length (and so the data alignment) vary. */
struct st_t {
	const char *name, *dtype;
	unsigned rows, cols;
	const void *data;
	size_t nbytes;
};

static char *write_st(const char *name, const struct st_t *t, int n, int pad)
{
	char hdr[2048];
	size_t off = 0;
	int h = snprintf(hdr, sizeof(hdr), "{");
	for (int i = 0; i < n; i++) {
		char shape[32];
		if (t[i].cols)
			snprintf(shape, sizeof(shape), "%u, %u", t[i].rows, t[i].cols);
		else
			snprintf(shape, sizeof(shape), "%u", t[i].rows);
		h += snprintf(hdr + h, sizeof(hdr) - (size_t)h,
		              "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%s], \"data_offsets\": "
		              "[%zu, %zu]}",
		              i ? ", " : "", t[i].name, t[i].dtype, shape, off, off + t[i].nbytes);
		off += t[i].nbytes;
	}
	h += snprintf(hdr + h, sizeof(hdr) - (size_t)h, "}");
	while (h % 8 != pad)
		hdr[h++] = ' ';
	static uint8_t file[1 << 16];
	for (int b = 0; b < 8; b++)
		file[b] = (uint8_t)((uint64_t)h >> (8 * b));
	memcpy(file + 8, hdr, (size_t)h);
	size_t w = 8 + (size_t)h;
	for (int i = 0; i < n; i++) {
		memcpy(file + w, t[i].data, t[i].nbytes);
		w += t[i].nbytes;
	}
	return write_file(name, file, w, NULL, 0);
}

static struct qkv_config base_cfg(uint32_t dm, uint32_t nh, uint32_t nkv, uint32_t hd,
                                  uint32_t layout, enum qkv_file_format fmt)
{
	struct qkv_config c;
	memset(&c, 0, sizeof(c));
	c.path = "test.yaml";
	c.d_model = dm;
	c.n_heads = nh;
	c.n_kv_heads = nkv;
	c.head_dim = hd;
	c.precision = QKV_F32;
	c.layout = layout;
	c.format = fmt;
	return c;
}

static void ref(struct qkv_tensor_ref *r, char *file, const char *tensor)
{
	r->present = true;
	r->file = file;
	r->tensor = (char *)tensor;
	r->mark.line = 7;
}

#define LOAD_FAILS(cfg, status, what)                                                              \
	do {                                                                                       \
		struct qkv_loaded_weights lw_;                                                     \
		char e_[512] = "";                                                                 \
		cr_assert_eq(qkv_weights_load((cfg), &lw_, e_, sizeof(e_)), (status),              \
		             "wanted %s, got '%s'", what, e_);                                     \
		cr_assert(strstr(e_, what), "message '%s' lacks '%s'", e_, what);                  \
		cr_assert_eq(lw_.n_files, 0);                                                      \
		cr_assert_eq(lw_.n_owned, 0);                                                      \
	} while (0)

/* The seed example, in_out from the shipped .npy files: zero copy, q = (2, 17). */
Test(load, seed_npy_in_out)
{
	struct qkv_config c = base_cfg(2, 1, 1, 2, QKV_LAYOUT_IN_OUT, QKV_FMT_NPY);
	char *f[3] = {QKV_SOURCE_ROOT "/configs/seed-example/wq.npy",
	              QKV_SOURCE_ROOT "/configs/seed-example/wk.npy",
	              QKV_SOURCE_ROOT "/configs/seed-example/wv.npy"};
	for (int p = 0; p < 3; p++)
		ref(&c.w[p], f[p], NULL);
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_files, 3);
	cr_assert_eq(lw.n_owned, 0, "aligned f32 must be used in place");
	cr_assert_eq((const void *)lw.w[0], (const void *)(lw.files[0].data + 128));
	const float x[2] = {2, 3};
	double q[2];
	for (int n = 0; n < 2; n++) /* in_out: W[k][n] at w[k*2 + n] */
		q[n] = (double)x[0] * lw.w[0][0 * 2 + n] + (double)x[1] * lw.w[0][1 * 2 + n];
	cr_assert_eq(q[0], 2.0);
	cr_assert_eq(q[1], 17.0);
	cr_assert_null(lw.bias[0]);
	cr_assert_eq(lw.layout, QKV_LAYOUT_IN_OUT);
	qkv_weights_free(&lw);
	cr_assert_eq(lw.n_files, 0);
}

/* GQA (2 heads, 1 KV head, head_dim 3, d_model 5) out_in with biases, in one file. */
static float wq[6 * 5], wk[3 * 5], wv[3 * 5], bq[6], bk[3], bv[3];
static void fill(void)
{
	for (int i = 0; i < 30; i++)
		wq[i] = (float)i - 7.5f;
	for (int i = 0; i < 15; i++) {
		wk[i] = 100.0f + (float)i;
		wv[i] = -100.0f - (float)i;
	}
	for (int i = 0; i < 6; i++)
		bq[i] = 0.25f * (float)i;
	for (int i = 0; i < 3; i++) {
		bk[i] = 1000.0f + 8.0f * (float)i; /* exact in bf16 */
		bv[i] = -1000.0f - 8.0f * (float)i;
	}
}

static struct qkv_config gqa_cfg(char *file)
{
	struct qkv_config c = base_cfg(5, 2, 1, 3, QKV_LAYOUT_OUT_IN, QKV_FMT_SAFETENSORS);
	c.file = file;
	static const char *n[2][3] = {{"q.weight", "k.weight", "v.weight"},
	                              {"q.bias", "k.bias", "v.bias"}};
	for (int p = 0; p < 3; p++) {
		ref(&c.w[p], NULL, n[0][p]);
		ref(&c.bias[p], NULL, n[1][p]);
	}
	return c;
}

static void check_gqa(const struct qkv_loaded_weights *lw)
{
	cr_assert_eq(memcmp(lw->w[0], wq, sizeof(wq)), 0);
	cr_assert_eq(memcmp(lw->w[1], wk, sizeof(wk)), 0);
	cr_assert_eq(memcmp(lw->w[2], wv, sizeof(wv)), 0);
	cr_assert_eq(memcmp(lw->bias[0], bq, sizeof(bq)), 0);
	cr_assert_eq(memcmp(lw->bias[1], bk, sizeof(bk)), 0);
	cr_assert_eq(memcmp(lw->bias[2], bv, sizeof(bv)), 0);
}

Test(load, safetensors_out_in_gqa_bias_f32)
{
	fill();
	struct st_t t[6] = {
	    {"q.weight", "F32", 6, 5, wq, sizeof(wq)}, {"k.weight", "F32", 3, 5, wk, sizeof(wk)},
	    {"v.weight", "F32", 3, 5, wv, sizeof(wv)}, {"q.bias", "F32", 6, 0, bq, sizeof(bq)},
	    {"k.bias", "F32", 3, 0, bk, sizeof(bk)},   {"v.bias", "F32", 3, 0, bv, sizeof(bv)}};
	struct qkv_config c = gqa_cfg(write_st("a.safetensors", t, 6, 0));
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_files, 1, "one file mapped once");
	cr_assert_eq(lw.n_owned, 0);
	check_gqa(&lw);
	qkv_weights_free(&lw);
	/* header length 8k+1: every f32 tensor is misaligned and must be copied */
	c = gqa_cfg(write_st("u.safetensors", t, 6, 1));
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_owned, 6);
	check_gqa(&lw);
	qkv_weights_free(&lw);
}

static void to_bf16(const float *f, uint16_t *h, int n)
{
	for (int i = 0; i < n; i++) { /* values here are exact in bf16 */
		uint32_t u;
		memcpy(&u, &f[i], 4);
		cr_assert_eq(u & 0xffff, 0);
		h[i] = (uint16_t)(u >> 16);
	}
}

Test(load, bf16_widened)
{
	fill();
	static uint16_t hq[30], hk[15], hv[15], hb[6], hbk[3], hbv[3];
	to_bf16(wq, hq, 30);
	to_bf16(wk, hk, 15);
	to_bf16(wv, hv, 15);
	to_bf16(bq, hb, 6);
	to_bf16(bk, hbk, 3);
	to_bf16(bv, hbv, 3);
	struct st_t t[6] = {{"q.weight", "BF16", 6, 5, hq, 60}, {"k.weight", "BF16", 3, 5, hk, 30},
	                    {"v.weight", "BF16", 3, 5, hv, 30}, {"q.bias", "BF16", 6, 0, hb, 12},
	                    {"k.bias", "BF16", 3, 0, hbk, 6},   {"v.bias", "BF16", 3, 0, hbv, 6}};
	struct qkv_config c = gqa_cfg(write_st("b.safetensors", t, 6, 0));
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_owned, 6);
	check_gqa(&lw);
	qkv_weights_free(&lw);
}

Test(load, safetensors_refusals)
{
	fill();
	struct st_t t[6] = {{"q.weight", "F32", 6, 5, wq, sizeof(wq)},
	                    {"k.weight", "F32", 5, 3, wk, sizeof(wk)}, /* transposed */
	                    {"v.weight", "F32", 3, 5, wv, sizeof(wv)},
	                    {"q.bias", "F32", 6, 0, bq, sizeof(bq)},
	                    {"k.bias", "F32", 3, 0, bk, sizeof(bk)},
	                    {"v.bias", "F32", 1, 3, bv, sizeof(bv)}};
	char *file = write_st("bad.safetensors", t, 6, 0);
	struct qkv_config c = gqa_cfg(file);
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "test.yaml:7: weights.k: ");
	LOAD_FAILS(&c, QKV_ERR_FORMAT,
	           "bad.safetensors: tensor k.weight: shape [5, 3], expected [d_out=3, d_model=5] "
	           "(layout out_in)");
	t[1].rows = 3, t[1].cols = 5;
	c = gqa_cfg(write_st("bad.safetensors", t, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "weights.v_bias: ");
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "tensor v.bias: shape [1, 3], expected [d_out=3]");
	c.bias[2].tensor = "v.bais";
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "no tensor named v.bais");
	c.bias[2].present = false;
	c.layout = QKV_LAYOUT_IN_OUT;
	LOAD_FAILS(&c, QKV_ERR_FORMAT,
	           "tensor q.weight: shape [6, 5], expected [d_model=5, "
	           "d_out=6] (layout in_out)");
	c = gqa_cfg(path_of("nothere.safetensors"));
	LOAD_FAILS(&c, QKV_ERR_IO, "test.yaml:7: weights.q: ");
	LOAD_FAILS(&c, QKV_ERR_IO, "nothere.safetensors: cannot open: No such file");
	c = gqa_cfg(dir);
	LOAD_FAILS(&c, QKV_ERR_IO, "is a directory");
	c = gqa_cfg(write_file("junk.safetensors", "junk", 4, NULL, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "junk.safetensors: file is 4 bytes");
	c = gqa_cfg(NULL);
	LOAD_FAILS(&c, QKV_ERR_CONFIG, "no file");
	/* I8 weights in an f32 model */
	static int8_t i8[30];
	struct st_t ti[3] = {{"q.weight", "I8", 6, 5, i8, 30},
	                     {"k.weight", "I8", 3, 5, i8, 15},
	                     {"v.weight", "I8", 3, 5, i8, 15}};
	c = gqa_cfg(write_st("i8.safetensors", ti, 3, 0));
	c.bias[0].present = c.bias[1].present = c.bias[2].present = false;
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "I8 weights need model.precision int8");
}

Test(load, npy_and_raw_shapes)
{
	fill();
	/* a 1-D .npy is not a weight matrix; a 1-D raw file of d_model*d_out is */
	uint8_t hdr[128];
	const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (30,), }";
	memcpy(hdr, "\x93NUMPY\x01\x00\x76\x00", 10); /* header length 118: 128 in all */
	memset(hdr + 10, ' ', 118);
	memcpy(hdr + 10, dict, strlen(dict));
	hdr[127] = '\n';
	struct qkv_config c = base_cfg(5, 2, 1, 3, QKV_LAYOUT_OUT_IN, QKV_FMT_NPY);
	ref(&c.w[0], write_file("q.npy", hdr, 128, wq, sizeof(wq)), NULL);
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "q.npy: shape [30], expected [d_out=6, d_model=5]");
	c = base_cfg(5, 2, 1, 3, QKV_LAYOUT_OUT_IN, QKV_FMT_RAW);
	ref(&c.w[0], write_file("q.bin", wq, sizeof(wq), NULL, 0), NULL);
	ref(&c.w[1], write_file("k.bin", wk, sizeof(wk), NULL, 0), NULL);
	ref(&c.w[2], write_file("v.bin", wv, sizeof(wv) - 1, NULL, 0), NULL);
	ref(&c.bias[0], write_file("bq.bin", bq, sizeof(bq), NULL, 0), NULL);
	for (int p = 0; p < 3; p++)
		c.w[p].dtype = QKV_DT_F32;
	c.bias[0].dtype = QKV_DT_F32;
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "weights.v: ");
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "v.bin: raw file is 59 bytes, expected 60 (15 elements");
	ref(&c.w[2], write_file("v.bin", wv, sizeof(wv), NULL, 0), NULL);
	c.w[2].dtype = QKV_DT_F32;
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_files, 4);
	cr_assert_eq(memcmp(lw.w[2], wv, sizeof(wv)), 0);
	cr_assert_eq(memcmp(lw.bias[0], bq, sizeof(bq)), 0);
	cr_assert_null(lw.bias[1]);
	qkv_weights_free(&lw);
	/* the same raw file named twice is mapped once */
	c.w[1].file = c.w[2].file;
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_files, 3);
	qkv_weights_free(&lw);
}

/* Pre-quantized int8: I8 weights + F32 per-column scales. */
static struct qkv_config int8_cfg(char *file)
{
	struct qkv_config c = base_cfg(5, 2, 1, 3, QKV_LAYOUT_OUT_IN, QKV_FMT_SAFETENSORS);
	c.precision = QKV_INT8;
	c.file = file;
	static const char *n[2][3] = {{"q", "k", "v"}, {"q.s", "k.s", "v.s"}};
	for (int p = 0; p < 3; p++) {
		ref(&c.w[p], NULL, n[0][p]);
		ref(&c.scale[p], NULL, n[1][p]);
	}
	return c;
}

Test(load, int8_prequantized)
{
	static int8_t q8[30], k8[15], v8[15];
	static float sq[6] = {0.5f, 1, 2, 0, 3, 4}, sk[3] = {1, 2, 3}, sv[3] = {0.1f, 0.2f, 0.3f};
	for (int i = 0; i < 30; i++)
		q8[i] = (int8_t)(i * 9 - 127);
	for (int i = 0; i < 15; i++)
		k8[i] = (int8_t)(127 - i), v8[i] = (int8_t)(-i);
	struct st_t t[6] = {{"q", "I8", 6, 5, q8, 30},    {"k", "I8", 3, 5, k8, 15},
	                    {"v", "I8", 3, 5, v8, 15},    {"q.s", "F32", 6, 0, sq, 24},
	                    {"k.s", "F32", 3, 0, sk, 12}, {"v.s", "F32", 3, 0, sv, 12}};
	struct qkv_config c = int8_cfg(write_st("q8.safetensors", t, 6, 0));
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	for (int p = 0; p < 3; p++)
		cr_assert_null(lw.w[p]);
	cr_assert_eq(memcmp(lw.w_i8[0], q8, 30), 0);
	cr_assert_eq(memcmp(lw.w_i8[2], v8, 15), 0);
	cr_assert_eq(memcmp(lw.w_scale[0], sq, sizeof(sq)), 0);
	cr_assert_eq(memcmp(lw.w_scale[2], sv, sizeof(sv)), 0);
	qkv_weights_free(&lw);

	c.scale[1].present = false;
	LOAD_FAILS(&c, QKV_ERR_CONFIG, "I8 weights need per-column scales (weights.k_scale)");
	c.scale[1].present = true;
	sk[1] = -1.0f;
	c = int8_cfg(write_st("q8.safetensors", t, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "weights.k_scale: ");
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "tensor k.s: scale 1 is -1; scales must be finite");
	sk[1] = NAN;
	c = int8_cfg(write_st("q8.safetensors", t, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "scale 1 is nan");
	sk[1] = 2.0f;
	k8[4] = -128;
	c = int8_cfg(write_st("q8.safetensors", t, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "tensor k: value -128 at element 4");
	k8[4] = 0;
	t[3].dtype = "I8", t[3].nbytes = 6;
	c = int8_cfg(write_st("q8.safetensors", t, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "tensor q.s: dtype I8 here needs a float tensor");
	/* float weights with scales */
	static float wf[30];
	struct st_t tf[6] = {{"q", "F32", 6, 5, wf, 120},  {"k", "I8", 3, 5, k8, 15},
	                     {"v", "I8", 3, 5, v8, 15},    {"q.s", "F32", 6, 0, sq, 24},
	                     {"k.s", "F32", 3, 0, sk, 12}, {"v.s", "F32", 3, 0, sv, 12}};
	c = int8_cfg(write_st("mixed.safetensors", tf, 6, 0));
	LOAD_FAILS(&c, QKV_ERR_FORMAT, "tensor q: is F32, but q_scale is given");
}

/* Fail each allocation in turn: a clean NOMEM each time, then success. valgrind
 * (or ASan) over this test proves nothing leaks on any of those paths. */
Test(load, allocation_failures)
{
	fill();
	static uint16_t hq[30], hk[15], hv[15];
	to_bf16(wq, hq, 30);
	to_bf16(wk, hk, 15);
	to_bf16(wv, hv, 15);
	struct st_t t[6] = {{"q.weight", "BF16", 6, 5, hq, 60}, {"k.weight", "BF16", 3, 5, hk, 30},
	                    {"v.weight", "BF16", 3, 5, hv, 30}, {"q.bias", "F32", 6, 0, bq, 24},
	                    {"k.bias", "F32", 3, 0, bk, 12},    {"v.bias", "F32", 3, 0, bv, 12}};
	struct qkv_config c = gqa_cfg(write_st("f.safetensors", t, 6, 4));
	struct qkv_loaded_weights lw;
	char err[512];
	unsigned long n;
	for (n = 1; n < 1000; n++) {
		qkv_alloc_fail_at(n, n % 2 == 0); /* alternate single and sticky failures */
		enum qkv_status s = qkv_weights_load(&c, &lw, err, sizeof(err));
		qkv_alloc_fail_at(0, false);
		if (s == QKV_OK)
			break;
		cr_assert_eq(s, QKV_ERR_NOMEM, "allocation %lu: %s", n, err);
		cr_assert(strstr(err, "out of memory"), "%s", err);
		cr_assert_eq(lw.n_files, 0);
	}
	cr_assert_gt(n, 5, "fewer allocations than expected");
	check_gqa(&lw);
	qkv_weights_free(&lw);
}

/* Independent restatement of tools/genweights/gen.h. */
static uint64_t sm64(uint64_t x)
{
	uint64_t z = x + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static float gen_f32(uint64_t seed, unsigned role, uint64_t i)
{
	uint64_t base = sm64(sm64(seed) + role);
	double u1 = ldexp((double)((sm64(base + 2 * i) >> 11) + 1), -53);
	double u2 = ldexp((double)(sm64(base + 2 * i + 1) >> 11), -53);
	return (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
}

/* Round to `mant` fraction bits, nearest-even, with exponent floor `emin` (f16: 10, -14;
 * bf16: 7, -126), in double arithmetic. */
static float round_to(float f, int mant, int emin)
{
	if (f == 0.0f)
		return f;
	int e;
	frexp(f, &e);
	e -= 1;
	if (e < emin)
		e = emin;
	double q = ldexp(1.0, e - mant);
	return (float)(nearbyint((double)f / q) * q);
}

static char *genweights(const char *preset, const char *dtype, const char *name)
{
	char *out = path_of(name);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "'%s/tools/genweights/qkv-genweights' --preset %s --dtype %s --seed 42 "
	         "--out '%s' > /dev/null",
	         getenv("QKV_BUILD_ROOT") ? getenv("QKV_BUILD_ROOT") : QKV_BUILD_ROOT, preset,
	         dtype, out);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	return out;
}

static struct qkv_config hf_cfg(char *file, uint32_t dm, uint32_t nh, uint32_t nkv, uint32_t hd,
                                bool bias)
{
	struct qkv_config c = base_cfg(dm, nh, nkv, hd, QKV_LAYOUT_OUT_IN, QKV_FMT_SAFETENSORS);
	c.file = file;
	static const char *n[2][3] = {
	    {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
	     "model.layers.0.self_attn.v_proj.weight"},
	    {"model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.bias",
	     "model.layers.0.self_attn.v_proj.bias"}};
	for (int p = 0; p < 3; p++) {
		ref(&c.w[p], NULL, n[0][p]);
		if (bias)
			ref(&c.bias[p], NULL, n[1][p]);
	}
	return c;
}

Test(load, genweights_llama3_8b_bf16_round_trip)
{
	char *st_path = genweights("llama3-8b", "bf16", "l3.safetensors");
	/* the file itself: HF names, out_in shapes with GQA */
	static const char *names[3] = {"model.layers.0.self_attn.q_proj.weight",
	                               "model.layers.0.self_attn.k_proj.weight",
	                               "model.layers.0.self_attn.v_proj.weight"};
	const uint64_t rows[3] = {4096, 1024, 1024};
	struct qkv_mapped_file f;
	struct qkv_safetensors *st;
	char err[512];
	cr_assert_eq(qkv_file_map(st_path, &f, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_safetensors_open(&f, &st, err, sizeof(err)), QKV_OK, "%s", err);
	for (int p = 0; p < 3; p++) {
		struct qkv_tensor_view v;
		cr_assert_eq(qkv_safetensors_find(st, names[p], &v, err, sizeof(err)), QKV_OK, "%s",
		             err);
		cr_assert_eq(v.dtype, QKV_DT_BF16);
		cr_assert_eq(v.ndim, 2);
		cr_assert_eq(v.shape[0], rows[p]);
		cr_assert_eq(v.shape[1], 4096);
	}
	qkv_safetensors_close(st);
	qkv_file_unmap(&f);
	/* loaded through a config written next to it (relative file path) */
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
	         "model: {d_model: 4096, n_heads: 32, n_kv_heads: 8, head_dim: 128}\n"
	         "weights:\n"
	         "  layout: out_in\n"
	         "  file: l3.safetensors\n"
	         "  q: {tensor: %s}\n  k: {tensor: %s}\n  v: {tensor: %s}\n",
	         names[0], names[1], names[2]);
	char *yaml_path = write_file("l3.yaml", yaml, strlen(yaml), NULL, 0);
	struct qkv_config c;
	cr_assert_eq(qkv_config_load(yaml_path, &c, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_loaded_weights lw;
	enum qkv_status s = qkv_weights_load(&c, &lw, err, sizeof(err));
	qkv_config_free(&c);
	cr_assert_eq(s, QKV_OK, "%s", err);
	cr_assert_eq(lw.layout, QKV_LAYOUT_OUT_IN);
	const uint64_t count[3] = {4096ull * 4096, 1024ull * 4096, 1024ull * 4096};
	for (unsigned p = 0; p < 3; p++) {
		const uint64_t idx[] = {0, 1, 4095, 4096, 777777, count[p] / 2 + 3, count[p] - 1};
		for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
			float want = round_to(gen_f32(42, p, idx[i]), 7, -126);
			cr_assert_eq(lw.w[p][idx[i]], want, "w[%u][%llu] = %a, want %a", p,
			             (unsigned long long)idx[i], (double)lw.w[p][idx[i]],
			             (double)want);
		}
	}
	/* the generator's documented std: 0.02 within 1% over the 16M values of Wq */
	double s2 = 0;
	for (uint64_t i = 0; i < count[0]; i++)
		s2 += (double)lw.w[0][i] * lw.w[0][i];
	cr_assert(fabs(sqrt(s2 / (double)count[0]) - 0.02) < 0.0002, "std %g",
	          sqrt(s2 / (double)count[0]));
	qkv_weights_free(&lw);
}

Test(load, genweights_tiny_f32_and_f16)
{
	struct qkv_config c =
	    hf_cfg(genweights("tiny", "f32", "t32.safetensors"), 64, 4, 2, 16, true);
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.n_owned, 0, "aligned f32 is used in place");
	for (uint64_t i = 0; i < 64 * 64; i++)
		cr_assert_eq(lw.w[0][i], gen_f32(42, 0, i));
	for (uint64_t i = 0; i < 32; i++)
		cr_assert_eq(lw.bias[2][i], gen_f32(42, 5, i));
	qkv_weights_free(&lw);
	c = hf_cfg(genweights("tiny", "f16", "t16.safetensors"), 64, 4, 2, 16, true);
	cr_assert_eq(qkv_weights_load(&c, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	for (uint64_t i = 0; i < 32 * 64; i++)
		cr_assert_eq(lw.w[1][i], round_to(gen_f32(42, 1, i), 10, -14), "k[%llu]",
		             (unsigned long long)i);
	qkv_weights_free(&lw);
}

/* End to end through the YAML parser: the shipped seed example and tiny default. */
Test(load, shipped_configs)
{
	struct qkv_config cfg;
	struct qkv_loaded_weights lw;
	char err[512];
	cr_assert_eq(
	    qkv_config_load(QKV_SOURCE_ROOT "/configs/seed-example.yaml", &cfg, err, sizeof(err)),
	    QKV_OK, "%s", err);
	cr_assert_eq(qkv_weights_load(&cfg, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	const float want_q[4] = {1, 10, 0, -1}, want_k[4] = {1, 0, 0, 1}, want_v[4] = {0, 1, 1, 0};
	cr_assert_eq(memcmp(lw.w[0], want_q, 16), 0);
	cr_assert_eq(memcmp(lw.w[1], want_k, 16), 0);
	cr_assert_eq(memcmp(lw.w[2], want_v, 16), 0);
	qkv_weights_free(&lw);
	qkv_config_free(&cfg);

	/* the committed tiny weights are what the documented command generates (seed 1) */
	cr_assert_eq(
	    qkv_config_load(QKV_SOURCE_ROOT "/configs/default.yaml", &cfg, err, sizeof(err)),
	    QKV_OK, "%s", err);
	cr_assert_eq(qkv_weights_load(&cfg, &lw, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(lw.layout, QKV_LAYOUT_OUT_IN);
	for (unsigned p = 0; p < 3; p++) {
		uint64_t n = (p == 0 ? 64 : 32) * 64;
		for (uint64_t i = 0; i < n; i++)
			cr_assert_eq(lw.w[p][i], round_to(gen_f32(1, p, i), 7, -126));
		cr_assert_eq(lw.bias[p][3], round_to(gen_f32(1, 3 + p, 3), 7, -126));
	}
	qkv_weights_free(&lw);
	qkv_config_free(&cfg);
}

static int run_genweights(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "'%s/tools/genweights/qkv-genweights' %s > /dev/null 2>&1",
	         getenv("QKV_BUILD_ROOT") ? getenv("QKV_BUILD_ROOT") : QKV_BUILD_ROOT, args);
	int s = system(cmd);
	return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

Test(load, genweights_cli)
{
	char a[256], b[256];
	snprintf(a, sizeof(a), "--preset gpt2-small --seed 7 --dtype f16 --out %s/a.st", dir);
	snprintf(b, sizeof(b), "--out %s/b.st --dtype f16 --preset gpt2-small --seed 7", dir);
	cr_assert_eq(run_genweights(a), 0);
	cr_assert_eq(run_genweights(b), 0);
	snprintf(a, sizeof(a), "cmp -s '%s/a.st' '%s/b.st'", dir, dir);
	cr_assert_eq(system(a), 0, "same preset, seed and dtype must give the same bytes");
	cr_assert_eq(run_genweights("--help"), 0);
	cr_assert_eq(run_genweights("--preset gpt3 --out /dev/null"), 2);
	cr_assert_eq(run_genweights("--preset tiny --dtype f64 --out /dev/null"), 2);
	cr_assert_eq(run_genweights("--preset tiny --seed -1 --out /dev/null"), 2);
	cr_assert_eq(run_genweights("--preset tiny --seed 12x --out /dev/null"), 2);
	cr_assert_eq(run_genweights("--preset tiny"), 2);
	cr_assert_eq(run_genweights("--preset"), 2);
	cr_assert_eq(run_genweights("--preset tiny --out /nonexistent-dir/x.safetensors"), 1);
}
