/* onednn backend tests the conformance suite cannot make:
 *   - int8 outputs bit-identical to the scalar int8 backend (random shapes, both
 *     layouts, strided and fused outputs, saturation vectors, zero columns, zero rows,
 *     NaN and Inf rows, pre-quantized weights);
 *   - f32 against a float64 product with a derived bound;
 *   - 8 threads making their first call at the same moment on one handle, each with
 *     its own T (every primitive is created concurrently), all correct;
 *   - more distinct T than the primitive cache holds (eviction), all correct;
 *   - the caller's OpenMP thread setting is left as it was, and calls from inside a
 *     caller's parallel region are correct.
 * f32 bound: |y - y64| <= 2 * K * FLT_EPSILON * sum_k |x_k w_k| + FLT_EPSILON * |b|
 * (any summation order of K f32 products, plus the bias add).
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/plugin.h>
#include <qkv/precision.h>

#include "test_rng.h"

static const struct qkv_backend *load(const char *path)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	cr_assert(dl, "dlopen %s: %s", path, dlerror());
	const struct qkv_backend *be = dlsym(dl, QKV_BACKEND_SYMBOL);
	cr_assert(be, "%s: no descriptor", path);
	return be;
}

static const struct qkv_backend *dnn_be, *scalar_be;

static void setup(void)
{
	dnn_be = load(ONEDNN_SO);
	scalar_be = load(SCALAR_SO);
}

/* The int8 tests run where the backend serves int8: not on aarch64, where it is not
 * declared, nor on x86 without VNNI, where prepare refuses it (oneDNN's int8 sums are
 * inexact there, backends/onednn/onednn_isa.c); there they are skipped, said with the
 * reason, and int8_refused_where_inexact checks the refusal instead. */
static int int8_served(char *why, size_t len);
static void need_int8(void)
{
	char why[400];
	if (!int8_served(why, sizeof(why)))
		cr_skip_test("%s", why);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull; /* test_rng.h */

enum fill { GAUSS, SATURATE };

#define GUARD 8
#define SENTINEL 12345.0f

/* One problem. fused: the outputs are one buffer of rows [q | k | v | pad] with one
 * stride (the fused path); else three buffers with their own strides. */
struct prob {
	struct qkv_problem pb;
	struct qkv_weights wt;
	float *w[3], *b[3], *x;
	float *buf[3]; /* fused: buf[0] only */
	size_t T, ldx, ld[3], dout[3], len[3];
	int fused;
	int8_t *wq[3];
	float *ws[3];
};

static void prob_make(struct prob *p, unsigned K, unsigned nh, unsigned nkv, unsigned hd, size_t T,
                      int layout, int bias, enum fill f, int fused, uint32_t precision)
{
	memset(p, 0, sizeof(*p));
	p->pb = (struct qkv_problem){sizeof(p->pb), precision, K, nh, nkv, hd,
	                             nh * hd,       nkv * hd,  1, {0}};
	p->wt.struct_size = sizeof(p->wt);
	p->wt.layout = (uint32_t)layout;
	p->T = T;
	p->fused = fused;
	p->ldx = K + 3;
	for (int q = 0; q < 3; q++) {
		p->dout[q] = q == QKV_Q ? p->pb.d_q : p->pb.d_kv;
		size_t c = (size_t)K * p->dout[q];
		p->w[q] = malloc(c * sizeof(float));
		p->b[q] = malloc(p->dout[q] * sizeof(float));
		for (size_t i = 0; i < c; i++)
			p->w[q][i] = f == SATURATE ? (test_rng_unit(&rng) < 0.5 ? -0.75f : 0.75f)
			                           : test_rng_gauss(&rng);
		for (size_t i = 0; i < p->dout[q]; i++)
			p->b[q][i] = test_rng_gauss(&rng);
		p->wt.w[q] = p->w[q];
		p->wt.bias[q] = bias ? p->b[q] : NULL;
	}
	size_t N = p->dout[0] + p->dout[1] + p->dout[2];
	for (int q = 0; q < 3; q++) {
		p->ld[q] = fused ? N + 5 : p->dout[q] + (size_t)q + 1;
		p->len[q] = T * p->ld[q] + 2 * GUARD;
		if (!fused || q == 0)
			p->buf[q] = malloc(p->len[q] * sizeof(float));
	}
	p->x = malloc(T * p->ldx * sizeof(float));
	for (size_t i = 0; i < T * p->ldx; i++)
		p->x[i] = f == SATURATE ? (test_rng_unit(&rng) < 0.5 ? -3.0f : 3.0f)
		                        : test_rng_gauss(&rng);
}

/* Give the weights pre-quantized (w_i8 / w_scale) and drop the f32 ones. */
static void prob_prequantize(struct prob *p)
{
	size_t K = p->pb.d_model;
	float *col = malloc(K * sizeof(float));
	int8_t *qc = malloc(K);
	for (int q = 0; q < 3; q++) {
		size_t d = p->dout[q];
		p->wq[q] = malloc(K * d);
		p->ws[q] = malloc(d * sizeof(float));
		for (size_t n = 0; n < d; n++) {
			for (size_t k = 0; k < K; k++)
				col[k] = p->wt.layout == QKV_LAYOUT_OUT_IN ? p->w[q][n * K + k]
				                                           : p->w[q][k * d + n];
			p->ws[q][n] = qkv_int8_quantize(col, K, qc);
			for (size_t k = 0; k < K; k++)
				p->wq[q][p->wt.layout == QKV_LAYOUT_OUT_IN ? n * K + k
				                                           : k * d + n] = qc[k];
		}
		p->wt.w_i8[q] = p->wq[q];
		p->wt.w_scale[q] = p->ws[q];
		p->wt.w[q] = NULL;
	}
	free(col);
	free(qc);
}

static void prob_free(struct prob *p)
{
	for (int q = 0; q < 3; q++) {
		free(p->w[q]);
		free(p->b[q]);
		free(p->buf[q]);
		free(p->wq[q]);
		free(p->ws[q]);
	}
	free(p->x);
}

static struct qkv_batch batch_of(struct prob *p, unsigned threads)
{
	struct qkv_batch b = {sizeof(b), threads, p->T, p->x, p->ldx, {0}, {0}};
	for (int q = 0; q < 3; q++) {
		if (!p->fused || q == 0)
			for (size_t i = 0; i < p->len[q]; i++)
				p->buf[q][i] = SENTINEL;
		b.ld_out[q] = p->ld[q];
	}
	b.out[0] = p->buf[0] + GUARD;
	b.out[1] = p->fused ? b.out[0] + p->dout[0] : p->buf[1] + GUARD;
	b.out[2] = p->fused ? b.out[1] + p->dout[1] : p->buf[2] + GUARD;
	return b;
}

static enum qkv_status run(const struct qkv_backend *be, struct prob *p, unsigned threads)
{
	char err[256] = "";
	void *h = NULL;
	p->pb.threads = threads;
	enum qkv_status st = be->prepare(&p->pb, &p->wt, &h, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "%s prepare: %s", be->name, err);
	struct qkv_batch b = batch_of(p, threads);
	st = be->project(h, &b, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "%s project: %s", be->name, err);
	be->release(h);
	return st;
}

static float *snapshot(const struct prob *p, int q)
{
	if (!p->buf[q])
		return NULL;
	float *s = malloc(p->len[q] * sizeof(float));
	memcpy(s, p->buf[q], p->len[q] * sizeof(float));
	return s;
}

/* Bit-identical, NaN matching NaN; guards and stride gaps included. */
static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (isnan(a[i]) && isnan(b[i]))
			continue;
		cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0,
		          "%s: element %zu: scalar %.9g, onednn %.9g", what, i, (double)a[i],
		          (double)b[i]);
	}
}

/* p is filled; run the scalar reference and onednn on it, compare bit for bit. */
static void compare_prob(struct prob *p, unsigned threads, const char *tag)
{
	run(scalar_be, p, 1);
	float *ref[3] = {snapshot(p, 0), snapshot(p, 1), snapshot(p, 2)};
	run(dnn_be, p, threads);
	char what[200];
	for (int q = 0; q < 3; q++) {
		if (!ref[q])
			continue;
		snprintf(what, sizeof(what),
		         "%s K=%u d_q=%u d_kv=%u T=%zu layout=%u fused=%d proj=%d", tag,
		         p->pb.d_model, p->pb.d_q, p->pb.d_kv, p->T, p->wt.layout, p->fused, q);
		assert_same(ref[q], p->buf[q], p->len[q], what);
		free(ref[q]);
	}
}

static void compare(unsigned K, unsigned nh, unsigned nkv, unsigned hd, size_t T, int layout,
                    int bias, enum fill f, int fused, unsigned threads)
{
	struct prob p;
	prob_make(&p, K, nh, nkv, hd, T, layout, bias, f, fused, QKV_INT8);
	compare_prob(&p, threads, f == SATURATE ? "saturate" : "random");
	prob_free(&p);
}

Test(onednn, int8_random_shapes_bit_identical, .init = setup)
{
	need_int8();
	for (int i = 0; i < 24; i++) {
		unsigned K = 1 + (unsigned)(test_rng_unit(&rng) * 300);
		unsigned nkv = 1 + (unsigned)(test_rng_unit(&rng) * 3),
		         nh = nkv * (1 + (unsigned)(test_rng_unit(&rng) * 3));
		unsigned hd = 1 + (unsigned)(test_rng_unit(&rng) * 40);
		size_t T = 1 + (size_t)(test_rng_unit(&rng) * 70);
		compare(K, nh, nkv, hd, T, i % 2, i % 3 != 0, GAUSS, (i / 2) % 2,
		        1 + (unsigned)(i % 2));
	}
	compare(1024, 4, 2, 32, 40, QKV_LAYOUT_IN_OUT, 1, GAUSS, 1, 2);
	compare(1031, 5, 5, 13, 3, QKV_LAYOUT_OUT_IN, 0, GAUSS, 0, 2);
}

/* +-3 and +-0.75 everywhere: every quantized entry is +-127; long K makes runs of
 * 127*127 products that a 16-bit saturating kernel gets wrong. */
Test(onednn, int8_saturation_vectors, .init = setup)
{
	need_int8();
	compare(4099, 2, 1, 17, 5, QKV_LAYOUT_IN_OUT, 1, SATURATE, 0, 2);
	compare(8192, 1, 1, 16, 2, QKV_LAYOUT_OUT_IN, 0, SATURATE, 1, 1);
	compare(6000, 2, 2, 32, 17, QKV_LAYOUT_OUT_IN, 1, SATURATE, 0, 2);
}

/* Zero column of W, zero row of X, NaN row, Inf row, bit-identical to scalar and with
 * the values the scheme prescribes. */
Test(onednn, int8_zero_and_nan_rows_and_columns, .init = setup)
{
	need_int8();
	for (int fused = 0; fused < 2; fused++)
		for (int layout = 0; layout < 2; layout++) {
			struct prob p;
			prob_make(&p, 37, 2, 1, 8, 5, layout, 1, GAUSS, fused, QKV_INT8);
			p.x[0 * p.ldx + 5] = NAN;
			p.x[1 * p.ldx + 36] = -INFINITY;
			memset(p.x + 2 * p.ldx, 0, 37 * sizeof(float));
			for (size_t k = 0; k < 37; k++)
				p.w[QKV_K][layout == QKV_LAYOUT_IN_OUT ? k * p.dout[QKV_K] + 3
				                                       : 3 * 37 + k] = 0.0f;
			compare_prob(&p, 1, "special");
			for (int q = 0; q < 3; q++) {
				const float *y = (fused ? p.buf[0] + (q ? p.dout[0] : 0) +
				                              (q == 2 ? p.dout[1] : 0)
				                        : p.buf[q]) +
				                 GUARD;
				for (size_t n = 0; n < p.dout[q]; n++) {
					cr_assert(isnan(y[0 * p.ld[q] + n]), "NaN row, proj %d", q);
					cr_assert(isnan(y[1 * p.ld[q] + n]), "Inf row, proj %d", q);
					cr_assert_eq(y[2 * p.ld[q] + n], p.b[q][n] + 0.0f,
					             "zero row, proj %d", q);
				}
				if (q == QKV_K)
					for (size_t t = 3; t < 5; t++)
						cr_assert_eq(y[t * p.ld[q] + 3], p.b[q][3],
						             "zero column");
			}
			prob_free(&p);
		}
}

Test(onednn, int8_prequantized_weights, .init = setup)
{
	need_int8();
	for (int layout = 0; layout < 2; layout++) {
		struct prob p;
		prob_make(&p, 129, 4, 2, 12, 9, layout, 1, GAUSS, layout, QKV_INT8);
		prob_prequantize(&p);
		compare_prob(&p, 2, "prequantized");
		prob_free(&p);
	}
}

/* prepare must refuse p with `status` and a message containing `what`; frees p. */
static void expect_refused(struct prob *p, enum qkv_status status, const char *what)
{
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(dnn_be->prepare(&p->pb, &p->wt, &h, err, sizeof(err)), status, "%s", err);
	cr_assert(strstr(err, what), "message: %s", err);
	dnn_be->release(h);
	prob_free(p);
}

Test(onednn, int8_prequantized_out_of_range_refused, .init = setup)
{
	need_int8();
	struct prob p;
	prob_make(&p, 8, 1, 1, 4, 1, QKV_LAYOUT_OUT_IN, 0, GAUSS, 0, QKV_INT8);
	prob_prequantize(&p);
	p.wq[QKV_V][17] = -128;
	expect_refused(&p, QKV_ERR_FORMAT, "-128");
}

/* f32 against float64 with the bound in the header. */
static void check_f32(struct prob *p)
{
	size_t K = p->pb.d_model;
	for (int q = 0; q < 3; q++) {
		const float *y =
		    (p->fused ? p->buf[0] + (q ? p->dout[0] : 0) + (q == 2 ? p->dout[1] : 0)
		              : p->buf[q]) +
		    GUARD;
		for (size_t t = 0; t < p->T; t++)
			for (size_t n = 0; n < p->dout[q]; n++) {
				double acc = 0, mag = 0;
				for (size_t k = 0; k < K; k++) {
					double w = p->wt.layout == QKV_LAYOUT_OUT_IN
					               ? p->w[q][n * K + k]
					               : p->w[q][k * p->dout[q] + n];
					acc += p->x[t * p->ldx + k] * w;
					mag += fabs(p->x[t * p->ldx + k] * w);
				}
				double b = p->wt.bias[q] ? p->b[q][n] : 0;
				double bound =
				    2.0 * (double)K * FLT_EPSILON * mag + FLT_EPSILON * fabs(b);
				double got = y[t * p->ld[q] + n];
				cr_assert(fabs(got - (acc + b)) <= bound,
				          "proj %d t %zu n %zu: %.9g vs %.9g (bound %g)", q, t, n,
				          got, acc + b, bound);
			}
	}
	/* guards untouched */
	for (int q = 0; q < 3; q++)
		if (p->buf[q])
			for (size_t i = 0; i < GUARD; i++)
				cr_assert(p->buf[q][i] == SENTINEL &&
				              p->buf[q][p->len[q] - 1 - i] == SENTINEL,
				          "guard of output %d written", q);
}

Test(onednn, f32_against_float64, .init = setup)
{
	for (int i = 0; i < 8; i++) {
		struct prob p;
		unsigned K = 1 + (unsigned)(test_rng_unit(&rng) * 400);
		prob_make(&p, K, 4, 2, 1 + (unsigned)(test_rng_unit(&rng) * 20),
		          1 + (size_t)(test_rng_unit(&rng) * 40), i % 2, i % 3 != 0, GAUSS,
		          (i / 2) % 2, QKV_F32);
		run(dnn_be, &p, 1 + (unsigned)(i % 2));
		check_f32(&p);
		prob_free(&p);
	}
}

Test(onednn, refuses_bf16, .init = setup)
{
	struct prob p;
	prob_make(&p, 8, 1, 1, 4, 1, QKV_LAYOUT_OUT_IN, 0, GAUSS, 0, QKV_BF16);
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(dnn_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	dnn_be->release(h);
	prob_free(&p);
}

/* 1 when onednn prepares int8 here; else 0 and why (not declared, or refused with
 * QKV_ERR_UNSUPPORTED because the sums would be inexact). */
static int int8_served(char *why, size_t len)
{
	if (!(dnn_be->precisions & QKV_PRECISION_BIT(QKV_INT8))) {
		snprintf(why, len, "int8 is not declared by onednn here (refused: inexact sums)");
		return 0;
	}
	struct prob p;
	prob_make(&p, 64, 2, 1, 8, 3, QKV_LAYOUT_OUT_IN, 1, GAUSS, 0, QKV_INT8);
	void *h = NULL;
	char err[256] = "";
	enum qkv_status st = dnn_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err));
	dnn_be->release(h);
	prob_free(&p);
	if (st == QKV_ERR_UNSUPPORTED && strstr(err, "exact")) {
		snprintf(why, len, "int8 refused by onednn here: %s", err);
		return 0;
	}
	cr_assert_eq(st, QKV_OK, "int8 prepare: %s", err);
	return 1;
}

/* Where int8 cannot be exact (not declared, or an ISA without VNNI), prepare refuses it
 * with QKV_ERR_UNSUPPORTED and says why. */
Test(onednn, int8_refused_where_inexact, .init = setup)
{
	char why[400];
	if (int8_served(why, sizeof(why)))
		cr_skip_test("int8 is served here (the int8 tests check it)");
	struct prob p;
	prob_make(&p, 64, 2, 1, 8, 3, QKV_LAYOUT_OUT_IN, 1, GAUSS, 0, QKV_INT8);
	expect_refused(&p, QKV_ERR_UNSUPPORTED, "exact");
}

/* 8 threads wait at a barrier, then all make their first call on one fresh handle at
 * once, each with its own T: the primitives are created concurrently. */
#define NTH 8
struct worker {
	const struct qkv_backend *be;
	void *h;
	pthread_barrier_t *bar;
	struct prob p; /* own T, own outputs; weights shared through wt */
	int rc;
	char err[256];
};

static void *first_call(void *arg)
{
	struct worker *w = arg;
	struct qkv_batch b = batch_of(&w->p, 1 + (unsigned)(w->p.T % 2));
	pthread_barrier_wait(w->bar);
	w->rc = (int)w->be->project(w->h, &b, w->err, sizeof(w->err));
	return NULL;
}

static void concurrent_first_calls(uint32_t precision)
{
	struct prob base;
	prob_make(&base, 300, 4, 2, 16, 1, QKV_LAYOUT_IN_OUT, 1, GAUSS, 0, precision);
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(dnn_be->prepare(&base.pb, &base.wt, &h, err, sizeof(err)), QKV_OK, "%s", err);
	static struct worker w[NTH];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTH);
	pthread_t th[NTH];
	for (int i = 0; i < NTH; i++) {
		w[i] = (struct worker){.be = dnn_be, .h = h, .bar = &bar};
		size_t T = (size_t)(1 + 7 * i + (i * i) % 5); /* 8 distinct T */
		prob_make(&w[i].p, 300, 4, 2, 16, T, QKV_LAYOUT_IN_OUT, 1, GAUSS, i % 2, precision);
		for (int q = 0; q < 3; q++) { /* the handle's weights */
			memcpy(w[i].p.w[q], base.w[q], 300 * w[i].p.dout[q] * sizeof(float));
			memcpy(w[i].p.b[q], base.b[q], w[i].p.dout[q] * sizeof(float));
		}
		cr_assert_eq(pthread_create(&th[i], NULL, first_call, &w[i]), 0);
	}
	for (int i = 0; i < NTH; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	for (int i = 0; i < NTH; i++) {
		cr_assert_eq(w[i].rc, QKV_OK, "thread %d: %s", i, w[i].err);
		if (precision == QKV_F32) {
			check_f32(&w[i].p);
		} else {
			float *got[3] = {snapshot(&w[i].p, 0), snapshot(&w[i].p, 1),
			                 snapshot(&w[i].p, 2)};
			run(scalar_be, &w[i].p, 1);
			for (int q = 0; q < 3; q++)
				if (got[q]) {
					assert_same(w[i].p.buf[q], got[q], w[i].p.len[q],
					            "concurrent first call");
					free(got[q]);
				}
		}
		prob_free(&w[i].p);
	}
	dnn_be->release(h);
	prob_free(&base);
}

Test(onednn, concurrent_first_calls_f32, .init = setup)
{
	concurrent_first_calls(QKV_F32);
}

Test(onednn, concurrent_first_calls_int8, .init = setup)
{
	need_int8();
	concurrent_first_calls(QKV_INT8);
}

/* More distinct T than the cache holds (32): entries are evicted and remade. */
Test(onednn, many_distinct_T, .init = setup)
{
	need_int8();
	struct prob big;
	prob_make(&big, 64, 2, 1, 8, 45, QKV_LAYOUT_OUT_IN, 1, GAUSS, 0, QKV_INT8);
	run(scalar_be, &big, 1);
	float *ref[3] = {snapshot(&big, 0), snapshot(&big, 1), snapshot(&big, 2)};
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(dnn_be->prepare(&big.pb, &big.wt, &h, err, sizeof(err)), QKV_OK, "%s", err);
	for (int round = 0; round < 2; round++)
		for (size_t T = 1; T <= big.T; T++) {
			struct qkv_batch b = batch_of(&big, 1);
			b.T = T;
			cr_assert_eq(dnn_be->project(h, &b, err, sizeof(err)), QKV_OK, "%s", err);
			for (int q = 0; q < 3; q++) /* rows < T equal the reference */
				assert_same(ref[q] + GUARD, big.buf[q] + GUARD, T * big.ld[q],
				            "many T");
		}
	dnn_be->release(h);
	for (int q = 0; q < 3; q++)
		free(ref[q]);
	prob_free(&big);
}

/* The caller's OpenMP setting survives a call; calls from inside the caller's parallel
 * region (1 thread each, no nested team) are correct. */
Test(onednn, openmp_settings_and_parallel_region, .init = setup)
{
	need_int8();
	struct prob p;
	prob_make(&p, 200, 4, 2, 16, 20, QKV_LAYOUT_OUT_IN, 1, GAUSS, 0, QKV_INT8);
	run(scalar_be, &p, 1);
	float *ref[3] = {snapshot(&p, 0), snapshot(&p, 1), snapshot(&p, 2)};
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(dnn_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err)), QKV_OK, "%s", err);
	omp_set_num_threads(3);
	struct qkv_batch b = batch_of(&p, 2);
	cr_assert_eq(dnn_be->project(h, &b, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(omp_get_max_threads(), 3, "the caller's OpenMP thread count changed");
	for (int q = 0; q < 3; q++)
		assert_same(ref[q], p.buf[q], p.len[q], "after setting check");

	size_t N = p.pb.d_q + 2 * p.pb.d_kv;
	float *y[2] = {malloc(p.T * N * sizeof(float)), malloc(p.T * N * sizeof(float))};
	int rc[2] = {-1, -1}, inner[2] = {0, 0};
#pragma omp parallel num_threads(2)
	{
		int i = omp_get_thread_num();
		if (i < 2) {
			struct qkv_batch c = {
			    sizeof(c), 2,     p.T,
			    p.x,       p.ldx, {y[i], y[i] + p.pb.d_q, y[i] + p.pb.d_q + p.pb.d_kv},
			    {N, N, N}};
			char e[128];
			rc[i] = (int)dnn_be->project(h, &c, e, sizeof(e));
			inner[i] = omp_get_max_threads();
		}
	}
	for (int i = 0; i < 2; i++) {
		if (rc[i] == -1) /* the runtime gave the region one thread */
			continue;
		cr_assert_eq(rc[i], QKV_OK);
		cr_assert_eq(inner[i], 3, "ICV inside the region changed");
		for (int q = 0; q < 3; q++)
			for (size_t t = 0; t < p.T; t++) {
				size_t off = q == 0 ? 0 : q == 1 ? p.pb.d_q : p.pb.d_q + p.pb.d_kv;
				assert_same(ref[q] + GUARD + t * p.ld[q], y[i] + t * N + off,
				            p.dout[q], "inside a parallel region");
			}
	}
	omp_set_num_threads(omp_get_num_procs());
	free(y[0]);
	free(y[1]);
	for (int q = 0; q < 3; q++)
		free(ref[q]);
	dnn_be->release(h);
	prob_free(&p);
}
