/* The quant backend against the scalar reference, bit for bit, for every block type, a
 * mix of types per projection, every kernel set: natively where this CPU has it, and
 * every set through SIMDe (quant_simde_test.so) on any CPU. Weights are random blocks
 * (random digits and packed scales, fp16 scales of many magnitudes, some blocks zero;
 * then the same with edge fp16 scales: NaN, infinities, subnormals, the largest), X rows
 * random, T across the row kernels' tile of 4 and, with edge scales, T past two of every
 * panel X tile in use (6, 8, 16, 32) with remainders; then X at the quantizer's edges. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/cpu_features.h>
#include <qkv/plugin.h>
#include <qkv/wtype.h>

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 17);
}

static const struct qkv_backend *load(const char *path, void **dl)
{
	*dl =
	    dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE); /* OpenMP workers outlive a call */
	cr_assert_not_null(*dl, "%s", dlerror());
	const struct qkv_backend *be = dlsym(*dl, QKV_BACKEND_SYMBOL);
	cr_assert_not_null(be);
	return be;
}

/* Where a block of type t keeps its fp16 scales (d, then dmin): how many, at off[]. */
static int scale_fields(uint32_t t, size_t off[2])
{
	off[0] = t == QKV_WT_Q6_K ? 208 : 0, off[1] = 2;
	return t == QKV_WT_Q4_K || t == QKV_WT_Q5_K                     ? 2
	       : t == QKV_WT_F32 || t == QKV_WT_F16 || t == QKV_WT_BF16 ? 0
	                                                                : 1;
}

/* fp16 scales at the edges: NaNs (quiet, signalling), infinities, the largest values,
 * subnormals, zeros of both signs, the smallest normal. */
static const uint16_t edge_scales[] = {0x7e00, 0x7d01, 0x7c00, 0xfc00, 0x7bff, 0xfbff,
                                       0x0001, 0x03ff, 0x8001, 0x0000, 0x8000, 0x0400};

/* edges: EDGE_SCALES draws every scale from edge_scales half of the time; EDGE_DIGITS
 * gives every weight its type's largest magnitude (every byte 0xff: the largest digit
 * of every field; Q8_0 -128 or 127 by turns of rows), which with X at +-127 takes every
 * partial integer sum of a kernel to its bound (the AVX2 panels sum vpmaddubsw pairs in
 * int16 up to 32512). */
enum { EDGE_SCALES = 1, EDGE_DIGITS = 2 };

/* A row of random blocks of type t; every 7th block all zero (not with EDGE_DIGITS). */
static void random_row(uint32_t t, uint8_t *row, size_t K, int edges, uint32_t n)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
	for (size_t b = 0; b < K / r->block; b++) {
		uint8_t *blk = row + b * r->bytes;
		if (edges == EDGE_DIGITS) {
			memset(blk, t == QKV_WT_Q8_0 ? (n % 2 ? 0x7f : 0x80) : 0xff, r->bytes);
		} else if (rnd() % 7 == 0) {
			memset(blk, 0, r->bytes);
			continue;
		} else {
			for (uint32_t i = 0; i < r->bytes; i++)
				blk[i] = (uint8_t)rnd();
		}
		float scale = ldexpf(1.0f + (float)(rnd() % 100) / 100.0f, (int)(rnd() % 16) - 14);
		uint16_t d[2] = {qkv_f32_to_fp16(scale), qkv_f32_to_fp16(scale * 0.3f)};
		size_t off[2];
		for (int i = 0; i < scale_fields(t, off); i++) {
			if (edges == EDGE_SCALES && rnd() % 2)
				d[i] = edge_scales[rnd() %
				                   (sizeof(edge_scales) / sizeof(edge_scales[0]))];
			memcpy(blk + off[i], &d[i], 2);
		}
		if (t == QKV_WT_F32) {
			float v = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
			memcpy(blk, &v, 4);
		} else if (t == QKV_WT_F16 || t == QKV_WT_BF16) {
			float v = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
			r->from_f32(&v, blk);
		}
	}
}

/* K and V output rows (Q has twice as many): 20 in most tests; more where a test needs
 * several of the backend's units of work (quant.c's QUANT_UNIT_ROWS) */
static uint32_t g_dkv = 20;

struct model {
	struct qkv_problem pb;
	struct qkv_weights wt;
	uint8_t *w[3];
	float *bias[3];
};

static void make(struct model *m, const uint32_t wt[3], uint32_t K, int bias, int edges)
{
	memset(m, 0, sizeof(*m));
	m->pb = (struct qkv_problem){.struct_size = sizeof(m->pb),
	                             .precision = QKV_STORED,
	                             .d_model = K,
	                             .n_heads = 2,
	                             .n_kv_heads = 1,
	                             .head_dim = g_dkv,
	                             .d_q = 2 * g_dkv,
	                             .d_kv = g_dkv, /* 8-row groups and a remainder of 4 */
	                             .threads = 2,
	                             .wtype = {wt[0], wt[1], wt[2]}};
	m->wt.struct_size = sizeof(m->wt);
	m->wt.layout = QKV_LAYOUT_OUT_IN;
	for (int p = 0; p < 3; p++) {
		uint32_t d_out = p ? g_dkv : 2 * g_dkv;
		size_t rb = qkv_wtype_row_bytes(wt[p], K);
		m->w[p] = malloc(rb * d_out);
		for (uint32_t n = 0; n < d_out; n++)
			random_row(wt[p], m->w[p] + n * rb, K, edges, n);
		if (wt[p] == QKV_WT_F32)
			m->wt.w[p] = (const float *)(void *)m->w[p];
		else
			m->wt.w_blk[p] = m->w[p];
		if (bias) {
			m->bias[p] = malloc(d_out * sizeof(float));
			for (uint32_t n = 0; n < d_out; n++)
				m->bias[p][n] = (float)((int)(rnd() % 200) - 100) / 64.0f;
			m->wt.bias[p] = m->bias[p];
		}
	}
}

static void unmake(struct model *m)
{
	for (int p = 0; p < 3; p++) {
		free(m->w[p]);
		free(m->bias[p]);
	}
}

static void run(const struct qkv_backend *be, const struct model *m, const float *x, size_t T,
                float *out, size_t threads)
{
	void *h = NULL;
	char err[256] = "";
	enum qkv_status st = be->prepare(&m->pb, &m->wt, &h, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "%s: prepare: %s", be->name, err);
	struct qkv_batch b = {.struct_size = sizeof(b),
	                      .threads = (uint32_t)threads,
	                      .T = T,
	                      .x = x,
	                      .ldx = m->pb.d_model + 3,
	                      .out = {out, out + T * 2 * g_dkv, out + T * 3 * g_dkv},
	                      .ld_out = {2 * g_dkv, g_dkv, g_dkv}};
	cr_assert_eq(be->project(h, &b, err, sizeof(err)), QKV_OK, "%s: %s", be->name, err);
	be->release(h);
}

static const uint32_t mixes[][3] = {
    {QKV_WT_Q8_0, QKV_WT_Q8_0, QKV_WT_Q8_0}, {QKV_WT_Q4_0, QKV_WT_Q4_0, QKV_WT_Q4_0},
    {QKV_WT_Q4_K, QKV_WT_Q4_K, QKV_WT_Q4_K}, {QKV_WT_Q5_K, QKV_WT_Q5_K, QKV_WT_Q5_K},
    {QKV_WT_Q6_K, QKV_WT_Q6_K, QKV_WT_Q6_K}, {QKV_WT_Q4_K, QKV_WT_Q4_K, QKV_WT_Q6_K},
    {QKV_WT_Q8_0, QKV_WT_Q5_K, QKV_WT_Q4_0}, {QKV_WT_F16, QKV_WT_BF16, QKV_WT_F32}};

/* X at the quantizer's edges, per 256 values (a Q8_K super-block, 8 Q8_0 blocks) of each
 * row, by turns: all zero, one NaN, one infinity, all below QKV_INT8_AMAX_MIN (scale 0),
 * halves that x * 127 / amax puts exactly between two integers (ties to even), and left
 * random. The backends' vectorized quantizers must match the reference in every case. */
static void edge_x(float *x, size_t T, size_t K, size_t ldx)
{
	for (size_t t = 0; t < T; t++)
		for (size_t u = 0; u < K / 256; u++) {
			float *v = x + t * ldx + 256 * u;
			switch ((t + u) % 6) {
			case 0:
				memset(v, 0, 256 * sizeof(float));
				break;
			case 1:
				v[rnd() % 256] = NAN;
				break;
			case 2:
				v[rnd() % 256] = rnd() % 2 ? INFINITY : -INFINITY;
				break;
			case 3:
				for (int i = 0; i < 256; i++)
					v[i] = ldexpf((float)((int)(rnd() % 201) - 100), -140);
				break;
			case 4: /* amax 127 in every block of 32: 127 / amax is 1 */
				for (int i = 0; i < 256; i++)
					v[i] = i % 32 ? (float)((int)(rnd() % 254) - 127) + 0.5f
					              : 127.0f;
				break;
			default:
				break;
			}
		}
}

/* T random X rows (values to 1 scaled by 2^-6 to 2^3, by row; xedges 1: edge_x, 2: constant
 * rows of either sign) through q and the scalar backend s,
 * the outputs compared bit for bit; an output that is NaN in both passes (a NaN's payload is not
 * part of the scheme: it depends on which operand the compiler puts first). */
static void compare(const struct qkv_backend *q, const struct qkv_backend *s, const struct model *m,
                    size_t T, size_t threads, int xedges, const char *what)
{
	size_t ldx = m->pb.d_model + 3;
	float *x = malloc(T * ldx * sizeof(float));
	for (size_t i = 0; i < T * ldx; i++)
		x[i] = ldexpf((float)((int)(rnd() % 2001) - 1000) / 1000.0f,
		              (int)((i / ldx) % 4) * 3 - 6);
	if (xedges == 1)
		edge_x(x, T, m->pb.d_model, ldx);
	if (xedges == 2) /* every quantized value +127 or -127, by row */
		for (size_t i = 0; i < T * ldx; i++)
			x[i] = (i / ldx) % 2 ? -0.75f : 0.75f;
	float *yq = calloc(T * 4 * g_dkv, sizeof(float)),
	      *ys = calloc(T * 4 * g_dkv, sizeof(float));
	run(q, m, x, T, yq, threads);
	run(s, m, x, T, ys, 1);
	for (size_t i = 0; i < T * 4 * g_dkv; i++)
		cr_assert(memcmp(&yq[i], &ys[i], 4) == 0 || (isnan(yq[i]) && isnan(ys[i])),
		          "%s, types %s,%s,%s, K %u, T %zu, %zu threads: output %zu is %.9g, "
		          "scalar %.9g",
		          what, qkv_wtype_name(m->pb.wtype[0]), qkv_wtype_name(m->pb.wtype[1]),
		          qkv_wtype_name(m->pb.wtype[2]), m->pb.d_model, T, threads, i, yq[i],
		          ys[i]);
	free(x);
	free(yq);
	free(ys);
}

/* The T of the edge-scale runs: every T from 1 to 19, then around one and two of every
 * panel X tile of kernel.h (the zmm kernels' 8 and 6, the ymm kernels' 32 and 16): a
 * full tile, a remainder of 1 and one of tile - 1 after whole tiles. */
static const size_t edge_Ts[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
                                 15, 16, 17, 18, 19, 31, 32, 33, 47, 48, 49, 63, 64, 65};

/* Every mix, several K and T, against scalar; `kernel` forced through QKV_QUANT_KERNEL.
 * Then every block type with edge fp16 scales at every T of edge_Ts. The
 * 40 and 20 output rows leave 16-row panels remainders of 8 and 4 and 32-row panels of
 * 8 and 20 (a panel only partly used), and 2 threads cut panels. Then T past an X chunk
 * at K = 4096 (the last block of a long row too). */
static void check_module(const char *so, const char *kernel)
{
	void *dq, *ds;
	const struct qkv_backend *q = load(so, &dq), *s = load(SCALAR_SO, &ds);
	cr_assert_eq(q->wtypes, QKV_WTYPE_ALL);
	setenv("QKV_QUANT_KERNEL", kernel, 1);
	char what[300];
	snprintf(what, sizeof(what), "%s kernel %s", so, kernel);
	static const uint32_t Ks[] = {256, 512, 1280};
	static const size_t Ts[] = {1, 3, 4, 5, 9};
	for (size_t mi = 0; mi < sizeof(mixes) / sizeof(mixes[0]); mi++)
		for (size_t ki = 0; ki < 3; ki++) {
			struct model m;
			make(&m, mixes[mi], Ks[ki], (int)((mi + ki) % 2), 0);
			compare(q, s, &m, Ts[(mi + ki) % 5], 1 + mi % 3, 0, what);
			unmake(&m);
		}
	snprintf(what, sizeof(what), "%s kernel %s, edge scales", so, kernel);
	for (size_t mi = 0; mi < 5; mi++) /* the block types, one per mix */
		for (size_t ti = 0; ti < sizeof(edge_Ts) / sizeof(edge_Ts[0]); ti++) {
			size_t T = edge_Ts[ti];
			struct model m;
			make(&m, mixes[mi], 512, (int)(T % 2), EDGE_SCALES);
			compare(q, s, &m, T, 1 + T % 3, 0, what);
			unmake(&m);
		}
	snprintf(what, sizeof(what), "%s kernel %s, edge X", so, kernel);
	for (size_t mi = 0; mi < sizeof(mixes) / sizeof(mixes[0]); mi++)
		for (size_t T = 5; T <= 13; T += 8) { /* 2 x 512 values per row: every case */
			struct model m;
			make(&m, mixes[mi], 512, (int)(mi % 2), 0);
			compare(q, s, &m, T, 1 + mi % 2, 1, what);
			unmake(&m);
		}
	snprintf(what, sizeof(what), "%s kernel %s, largest digits", so, kernel);
	for (size_t mi = 0; mi < 5; mi++) { /* the block types, one per mix */
		struct model m;
		make(&m, mixes[mi], 512, 0, EDGE_DIGITS);
		compare(q, s, &m, 7, 1, 2, what);
		unmake(&m);
	}
	/* K = 4096: X is passed over in chunks (quant.c's X_CHUNK_BYTES: 48 rows of Q8_0
	 * activations here), so T = 53 ends in a chunk of 5 rows */
	snprintf(what, sizeof(what), "%s kernel %s, X chunks", so, kernel);
	for (size_t mi = 0; mi < 5; mi++) {
		struct model m;
		make(&m, mixes[mi], 4096, (int)(mi % 2), 0);
		compare(q, s, &m, 53, 1 + mi % 2, 0, what);
		unmake(&m);
	}
	/* 1200 and 600 output rows: several units of 512 rows taken by 2 and 3 threads in
	 * turn, the last ones partly used (a partial 32-row panel at the end of each) */
	snprintf(what, sizeof(what), "%s kernel %s, units of work", so, kernel);
	g_dkv = 600;
	for (size_t mi = 0; mi < 5; mi++) {
		struct model m;
		make(&m, mixes[mi], 512, (int)(mi % 2), 0);
		compare(q, s, &m, 1 + mi * 3, 2 + mi % 2, 0, what);
		unmake(&m);
	}
	g_dkv = 20;
	unsetenv("QKV_QUANT_KERNEL");
	dlclose(dq);
	dlclose(ds);
}

Test(quant, c_kernel_equals_scalar)
{
	check_module(QUANT_SO, "c");
}

/* Native ISA kernels where this CPU has them; the log says which ran. With
 * QKV_TEST_NATIVE=a,b,... (tools/check-aarch64.sh, per qemu -cpu model) exactly the
 * listed ones must have run: the HWCAP dispatch saw what that model has. */
Test(quant, native_kernels_equal_scalar)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	const struct {
		const char *name;
		int have;
	} k[] = {{"avx2", f.avx2 && f.f16c},
	         {"avxvnni", f.avx2 && f.avxvnni && f.f16c},
	         {"avx512vnni", f.avx2 && f.avx512vl && f.avx512vnni},
	         {"neon_dot", f.neon && f.dotprod}};
	const char *want = getenv("QKV_TEST_NATIVE");
	char list[200];
	snprintf(list, sizeof(list), ",%s,", want ? want : "");
	int ran = 0;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		char item[40];
		snprintf(item, sizeof(item), ",%s,", k[i].name);
		cr_assert(!want || !k[i].have == !strstr(list, item),
		          "quant kernel %s: usable natively %s, QKV_TEST_NATIVE=%s", k[i].name,
		          k[i].have ? "yes" : "no", want);
		if (!k[i].have) {
			cr_log_info("quant kernel %s: not on this CPU (run emulated only)",
			            k[i].name);
			continue;
		}
		check_module(QUANT_SO, k[i].name);
		cr_log_info("quant kernel %s: ran natively", k[i].name);
		ran++;
	}
	cr_log_info("%d ISA kernel sets ran natively", ran);
}

#ifdef QUANT_SIMDE_SO
Test(quant, emulated_kernels_equal_scalar)
{
	check_module(QUANT_SIMDE_SO, "avx2");
	check_module(QUANT_SIMDE_SO, "avxvnni");
	check_module(QUANT_SIMDE_SO, "avx512vnni");
	check_module(QUANT_SIMDE_SO, "neon_dot");
}
#endif

/* Refusals: other precisions, in_out block weights, a missing type's rows. */
Test(quant, refusals)
{
	void *dq;
	const struct qkv_backend *q = load(QUANT_SO, &dq);
	struct model m;
	make(&m, mixes[2], 256, 0, 0);
	void *h = NULL;
	char err[256];
	m.pb.precision = QKV_F32;
	cr_assert_eq(q->prepare(&m.pb, &m.wt, &h, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	q->release(h);
	m.pb.precision = QKV_STORED;
	m.wt.layout = QKV_LAYOUT_IN_OUT;
	cr_assert_eq(q->prepare(&m.pb, &m.wt, &h, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "out_in"), "%s", err);
	q->release(h);
	m.wt.layout = QKV_LAYOUT_OUT_IN;
	m.wt.w_blk[1] = NULL;
	cr_assert_eq(q->prepare(&m.pb, &m.wt, &h, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "q4_k weights of k missing"), "%s", err);
	q->release(h);
	unmake(&m);
	dlclose(dq);
}
