/* int8 backend tests that the conformance suite cannot make: every kernel of this
 * module (not only the one the CPU selects) against the scalar int8 reference, bit for
 * bit, on the shapes that stress the packing (K not a multiple of 4/16/64, N not a
 * multiple of any panel width, panels straddling q|k|v, T = 1..9 and around every
 * kernel's mr and the 64-row block) and on saturation vectors, zero and NaN rows, zero
 * columns; the scheme's error bound against a float64 product; and the refusals.
 *
 * Each kernel runs twice where the CPU allows: natively (qkv_int8.so, forced with
 * QKV_INT8_KERNEL) and emulated (int8_simde_test.so: the same sources compiled through
 * SIMDe, where every kernel is usable on any CPU). The log says which ran how; a kernel
 * that ran neither way fails the test.
 *
 * Bound (README): each operand is off by at most half a quantization step, so
 *   |y_int8 - y| <= sw/2 * sum|x| + sx/2 * sum|w| + K * sx/2 * sw/2
 * plus f32 rounding of the rescale, covered here by 1e-5 * sum|x||w|.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
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

static uint64_t rng = 0x2545F4914F6CDD1Dull; /* test_rng.h */

/* TIES: odd integers with 254 at k = 0, so 127/amax = 0.5 and most products v * 0.5 are
 * exact halves: rounding must be to even (0.5 -> 0, 1.5 -> 2) in every kernel. */
enum fill { GAUSS, SATURATE, ZEROS, TIES };

static float odd(void)
{
	return (float)(2 * (int)(test_rng_unit(&rng) * 8) - 7);
}

/* One problem: weights (both layouts via `layout`), X with row stride, outputs with
 * row strides and 8 guard floats either side. */
struct prob {
	struct qkv_problem pb;
	struct qkv_weights wt;
	float *w[3], *b[3], *x, *out[3];
	int8_t *wq[3]; /* prequantize(): w_i8 in w's layout */
	float *ws[3];  /* prequantize(): per-column scales */
	size_t T, ldx, ld[3], dout[3];
};

#define GUARD 8
#define SENTINEL 12345.0f

static void prob_make(struct prob *p, unsigned K, unsigned nh, unsigned nkv, unsigned hd, size_t T,
                      int layout, int bias, enum fill f)
{
	memset(p, 0, sizeof(*p));
	p->pb = (struct qkv_problem){sizeof(p->pb), QKV_INT8, K, nh, nkv, hd,
	                             nh * hd,       nkv * hd, 1, {0}};
	p->wt.struct_size = sizeof(p->wt);
	p->wt.layout = (uint32_t)layout;
	p->T = T;
	p->ldx = K + 3;
	for (int q = 0; q < 3; q++) {
		p->dout[q] = q == QKV_Q ? p->pb.d_q : p->pb.d_kv;
		size_t c = (size_t)K * p->dout[q];
		p->w[q] = malloc(c * sizeof(float));
		p->b[q] = malloc(p->dout[q] * sizeof(float));
		for (size_t i = 0; i < c; i++)
			p->w[q][i] = f == SATURATE ? (test_rng_unit(&rng) < 0.5 ? -0.75f : 0.75f)
			             : f == TIES   ? odd()
			                           : test_rng_gauss(&rng);
		for (size_t n = 0; f == TIES && n < p->dout[q]; n++) /* k = 0 of every column */
			p->w[q][layout == QKV_LAYOUT_IN_OUT ? n : n * K] = 254.0f;
		for (size_t i = 0; i < p->dout[q]; i++)
			p->b[q][i] = test_rng_gauss(&rng);
		p->wt.w[q] = p->w[q];
		p->wt.bias[q] = bias ? p->b[q] : NULL;
		p->ld[q] = p->dout[q] + (size_t)q + 1;
		p->out[q] = malloc((T * p->ld[q] + 2 * GUARD) * sizeof(float));
	}
	p->x = malloc(T * p->ldx * sizeof(float));
	for (size_t i = 0; i < T * p->ldx; i++)
		p->x[i] = f == SATURATE ? (test_rng_unit(&rng) < 0.5 ? -3.0f : 3.0f)
		          : f == ZEROS  ? 0
		          : f == TIES   ? (i % p->ldx == 0 ? -254.0f : odd())
		                        : test_rng_gauss(&rng);
}

static void prob_free(struct prob *p)
{
	for (int q = 0; q < 3; q++) {
		free(p->w[q]);
		free(p->b[q]);
		free(p->out[q]);
		free(p->wq[q]);
		free(p->ws[q]);
	}
	free(p->x);
}

/* Prepare with kernel `kern` (NULL = the CPU's choice), project, release. Returns the
 * prepare status; outputs land in p->out (guards set to SENTINEL first). */
static enum qkv_status run(const struct qkv_backend *be, const char *kern, struct prob *p,
                           unsigned threads)
{
	char err[256] = "";
	void *h = NULL;
	if (kern)
		setenv("QKV_INT8_KERNEL", kern, 1);
	else
		unsetenv("QKV_INT8_KERNEL");
	p->pb.threads = threads;
	enum qkv_status st = be->prepare(&p->pb, &p->wt, &h, err, sizeof(err));
	if (st != QKV_OK) {
		be->release(h);
		return st;
	}
	struct qkv_batch b = {sizeof(b), threads, p->T, p->x, p->ldx, {0}, {0}};
	for (int q = 0; q < 3; q++) {
		for (size_t i = 0; i < p->T * p->ld[q] + 2 * GUARD; i++)
			p->out[q][i] = SENTINEL;
		b.out[q] = p->out[q] + GUARD;
		b.ld_out[q] = p->ld[q];
	}
	st = be->project(h, &b, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "project: %s", err);
	be->release(h);
	return QKV_OK;
}

static float *snapshot(const struct prob *p, int q)
{
	size_t n = p->T * p->ld[q] + 2 * GUARD;
	float *s = malloc(n * sizeof(float));
	memcpy(s, p->out[q], n * sizeof(float));
	return s;
}

/* Bit-identical, NaN matching NaN; the guards and stride gaps included. */
static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (isnan(a[i]) && isnan(b[i]))
			continue;
		cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0,
		          "%s: element %zu: reference %.9g, int8 %.9g", what, i, (double)a[i],
		          (double)b[i]);
	}
}

/* Give p pre-quantized weights (w_i8 + w_scale, as `qkv quantize` writes them) made from
 * its f32 weights column by column, and drop the f32 ones from wt. */
static void prequantize(struct prob *p)
{
	size_t K = p->pb.d_model;
	float *col = malloc(K * sizeof(float));
	int8_t *colq = malloc(K);
	for (int q = 0; q < 3; q++) {
		size_t d = p->dout[q];
		int in_out = p->wt.layout == QKV_LAYOUT_IN_OUT;
		p->wq[q] = malloc(K * d);
		p->ws[q] = malloc(d * sizeof(float));
		for (size_t n = 0; n < d; n++) {
			for (size_t k = 0; k < K; k++)
				col[k] = p->w[q][in_out ? k * d + n : n * K + k];
			p->ws[q][n] = qkv_int8_quantize(col, K, colq);
			for (size_t k = 0; k < K; k++)
				p->wq[q][in_out ? k * d + n : n * K + k] = colq[k];
		}
		p->wt.w[q] = NULL;
		p->wt.w_i8[q] = p->wq[q];
		p->wt.w_scale[q] = p->ws[q];
	}
	free(col);
	free(colq);
}

static const struct qkv_backend *int8_be, *scalar_be, *simde_be;

static void setup(void)
{
	int8_be = load(INT8_SO);
	scalar_be = load(SCALAR_SO);
#ifdef INT8_SIMDE_SO
	simde_be = load(INT8_SIMDE_SO);
#endif
}

/* Every kernel of the modules, slowest first (kernel.h's tiles: c and avx2 4x16,
 * avxvnni 6x16, avx512vnni_ymm 8x24, avx512vnni 8x32; neon 2x16, neon_dot and neon_i8mm
 * 4x16). */
static const char *const kernels[] = {"c",          "avx2", "avxvnni",  "avx512vnni_ymm",
                                      "avx512vnni", "neon", "neon_dot", "neon_i8mm"};
#define N_KERNELS (sizeof(kernels) / sizeof(kernels[0]))

/* Runs per kernel in this test: [kernel][0 native, 1 emulated] */
static unsigned ran[N_KERNELS][2];

/* Every kernel, native and emulated, on problem p: bit-identical to the scalar
 * reference (computed on p first). */
static void compare_prob(struct prob *p, unsigned threads, const char *shape)
{
	cr_assert_eq(run(scalar_be, NULL, p, 1), QKV_OK);
	float *ref[3] = {snapshot(p, 0), snapshot(p, 1), snapshot(p, 2)};
	const struct qkv_backend *mods[2] = {int8_be, simde_be};
	for (size_t k = 0; k < N_KERNELS; k++)
		for (int e = 0; e < 2; e++) {
			if (!mods[e])
				continue;
			enum qkv_status st = run(mods[e], kernels[k], p, threads);
			if (st == QKV_ERR_UNSUPPORTED && e == 0) /* not on this CPU */
				continue;
			cr_assert_eq(st, QKV_OK, "kernel %s %s", kernels[k],
			             e ? "emulated" : "native");
			ran[k][e]++;
			char what[200];
			for (int q = 0; q < 3; q++) {
				snprintf(what, sizeof(what), "kernel %s %s %s T=%zu proj=%d",
				         kernels[k], e ? "emulated" : "native", shape, p->T, q);
				assert_same(ref[q], p->out[q], p->T * p->ld[q] + 2 * GUARD, what);
			}
		}
	for (int q = 0; q < 3; q++)
		free(ref[q]);
}

static void compare_kernels(unsigned K, unsigned nh, unsigned nkv, unsigned hd, size_t T,
                            int layout, int bias, enum fill f, unsigned threads)
{
	struct prob p;
	char shape[120];
	snprintf(shape, sizeof(shape), "K=%u nh=%u nkv=%u hd=%u layout=%d bias=%d fill=%d", K, nh,
	         nkv, hd, layout, bias, (int)f);
	prob_make(&p, K, nh, nkv, hd, T, layout, bias, f);
	compare_prob(&p, threads, shape);
	prob_free(&p);
}

/* Say which kernels ran natively and which emulated; fail if one ran neither way, or
 * was not emulated although SIMDe was built. */
static void report_kernels(const char *test)
{
	for (size_t k = 0; k < N_KERNELS; k++) {
		fprintf(stderr,
		        "int8 %s: kernel %-15s native %s (%u runs), emulated %s (%u runs)\n", test,
		        kernels[k], ran[k][0] ? "yes" : "no (CPU lacks it)", ran[k][0],
		        ran[k][1] ? "yes" : (simde_be ? "no" : "no (SIMDe not built)"), ran[k][1]);
		cr_assert(ran[k][0] + ran[k][1] > 0, "kernel %s ran neither way", kernels[k]);
		cr_assert(!simde_be || ran[k][1] > 0, "kernel %s not emulated", kernels[k]);
	}
	/* QKV_TEST_NATIVE=a,b,c (set by the emulated aarch64 runs for each qemu -cpu): exactly
	 * these kernels must have run natively, i.e. the HWCAP dispatch saw what that CPU
	 * model has and refused what it lacks. */
	const char *want = getenv("QKV_TEST_NATIVE");
	if (!want)
		return;
	for (size_t k = 0; k < N_KERNELS; k++) {
		char item[40];
		snprintf(item, sizeof(item), ",%s,", kernels[k]);
		char list[200];
		snprintf(list, sizeof(list), ",%s,", want);
		int expect = strstr(list, item) != NULL;
		cr_assert_eq(ran[k][0] > 0, expect, "kernel %s: native run %s, expected %s (%s)",
		             kernels[k], ran[k][0] ? "yes" : "no", expect ? "yes" : "no", want);
	}
}

/* T = 1..9, around every mr multiple (4, 6, 8: 11-13, 15-17, 23-25) and the 64-row
 * block; K not a multiple of 4, 16 or 64 (and some that are); N = nh*hd + 2*nkv*hd not
 * a multiple of 16, 24 or 32 for most shapes; GQA (nkv < nh) and MHA; both layouts. */
Test(int8, kernels_equal_scalar_reference, .init = setup)
{
	static const size_t Ts[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  11, 12,
	                            13, 15, 16, 17, 23, 24, 25, 63, 64, 65, 130};
	static const unsigned Ks[] = {1, 3, 5, 17, 63, 64, 65, 130, 257, 129};
	static const unsigned hds[] = {1, 7, 16, 9, 24, 5, 32};
	int i = 0;
	for (size_t t = 0; t < sizeof(Ts) / sizeof(Ts[0]); t++)
		for (int layout = 0; layout < 2; layout++, i++)
			compare_kernels(Ks[i % 10], 3 * (1 + i % 2), i % 3 == 0 ? 3 : 1, hds[i % 7],
			                Ts[t], layout, i % 2, GAUSS, 1 + (unsigned)(i % 3));
	report_kernels("kernels_equal_scalar_reference");
}

/* Big enough that the work is split over threads (small calls run serially). */
Test(int8, threaded_split_equals_reference, .init = setup)
{
	compare_kernels(2048, 8, 2, 16, 130, QKV_LAYOUT_IN_OUT, 1, GAUSS, 2);
	compare_kernels(1031, 5, 5, 13, 3, QKV_LAYOUT_OUT_IN, 0, GAUSS, 3);
	report_kernels("threaded_split_equals_reference");
}

/* More rows than one pass quantizes (1024): the row offset of later passes. */
Test(int8, rows_beyond_one_pass, .init = setup)
{
	compare_kernels(37, 2, 1, 8, 2100, QKV_LAYOUT_IN_OUT, 1, GAUSS, 2);
	compare_kernels(300, 4, 2, 16, 1030, QKV_LAYOUT_OUT_IN, 0, GAUSS, 2);
	report_kernels("rows_beyond_one_pass");
}

/* INT8_WHOLE_K_BLOCKS (4) row blocks of 64 and more: all of k in one call per row group
 * (T = 257: 5 blocks, the last of one row), against several k slices (T = 130: 3 blocks);
 * K = 1031 is 258 k groups, three slices of the vpdpbusd kernels. */
Test(int8, whole_k_for_many_row_blocks, .init = setup)
{
	compare_kernels(1031, 4, 2, 16, 257, QKV_LAYOUT_OUT_IN, 1, GAUSS, 2);
	compare_kernels(1031, 3, 1, 13, 193, QKV_LAYOUT_IN_OUT, 0, GAUSS, 1);
	report_kernels("whole_k_for_many_row_blocks");
}

/* Pre-quantized weights (w_i8 + w_scale): the column sums of the +128 kernels come from
 * the given int8 columns; both layouts, every kernel. */
Test(int8, prequantized_weights, .init = setup)
{
	for (int layout = 0; layout < 2; layout++) {
		struct prob p;
		prob_make(&p, 1031, 3, 1, 13, 11, layout, 1, GAUSS);
		prequantize(&p);
		compare_prob(
		    &p, 2, layout ? "pre-quantized K=1031 out_in" : "pre-quantized K=1031 in_out");
		prob_free(&p);
		prob_make(&p, 67, 2, 2, 9, 17, layout, 0, SATURATE);
		prequantize(&p);
		compare_prob(&p, 1, "pre-quantized saturating K=67");
		prob_free(&p);
	}
	report_kernels("prequantized_weights");
}

Test(int8, rounding_ties_to_even, .init = setup)
{
	compare_kernels(45, 3, 1, 7, 6, QKV_LAYOUT_IN_OUT, 1, TIES, 1);
	compare_kernels(300, 2, 2, 9, 3, QKV_LAYOUT_OUT_IN, 0, TIES, 2);
	report_kernels("rounding_ties_to_even");
}

/* +-3 and +-0.75 everywhere: every quantized entry is +-127; K in the thousands makes
 * long runs of 127*127 products, which a 16-bit saturating path gets wrong. */
Test(int8, saturation_vectors, .init = setup)
{
	compare_kernels(4099, 2, 1, 17, 5, QKV_LAYOUT_IN_OUT, 1, SATURATE, 2);
	compare_kernels(8192, 1, 1, 16, 2, QKV_LAYOUT_OUT_IN, 0, SATURATE, 1);
	compare_kernels(1027, 3, 1, 11, 9, QKV_LAYOUT_OUT_IN, 1, SATURATE, 1);
	/* all signs equal: acc = 127*127*K exactly, y = (acc * sx) * sw; for the offset
	 * kernels x + 128 = 1 and the compensation -128 * 127 * K carries the result. Then
	 * the other sign of x: x + 128 = 255, the largest u8 operand. */
	for (int sign = -1; sign <= 1; sign += 2) {
		struct prob p;
		prob_make(&p, 6000, 1, 1, 3, 1, QKV_LAYOUT_IN_OUT, 0, SATURATE);
		for (size_t i = 0; i < 6000 * 3; i++)
			p.w[0][i] = p.w[1][i] = p.w[2][i] = 0.75f;
		for (size_t i = 0; i < 6000; i++)
			p.x[i] = 3.0f * (float)sign;
		float want =
		    ((float)(sign * 127 * 127 * 6000) * (3.0f / 127.0f)) * (0.75f / 127.0f);
		for (size_t k = 0; k < N_KERNELS; k++)
			for (int e = 0; e < 2; e++) {
				const struct qkv_backend *be = e ? simde_be : int8_be;
				if (!be || run(be, kernels[k], &p, 1) != QKV_OK)
					continue;
				ran[k][e]++;
				for (int q = 0; q < 3; q++)
					for (int n = 0; n < 3; n++)
						cr_assert_eq(
						    p.out[q][GUARD + n], want,
						    "%s %s proj %d col %d: %.9g, want %.9g",
						    kernels[k], e ? "emulated" : "native", q, n,
						    (double)p.out[q][GUARD + n], (double)want);
			}
		prob_free(&p);
	}
	report_kernels("saturation_vectors");
}

Test(int8, within_bound_of_float64, .init = setup)
{
	struct prob p;
	prob_make(&p, 777, 4, 2, 24, 9, QKV_LAYOUT_OUT_IN, 1, GAUSS);
	cr_assert_eq(run(int8_be, NULL, &p, 2), QKV_OK);
	size_t K = 777;
	for (int q = 0; q < 3; q++)
		for (size_t t = 0; t < p.T; t++) {
			const float *x = p.x + t * p.ldx;
			double sx = qkv_absmax(x, K) / 127.0, sumx = 0;
			for (size_t k = 0; k < K; k++)
				sumx += fabs(x[k]);
			for (size_t n = 0; n < p.dout[q]; n++) {
				const float *w = p.w[q] + n * K; /* out_in: column n */
				double sw = qkv_absmax(w, K) / 127.0, y = p.b[q][n], sumw = 0,
				       sxw = 0;
				for (size_t k = 0; k < K; k++) {
					y += (double)x[k] * w[k];
					sumw += fabs(w[k]);
					sxw += fabs((double)x[k] * w[k]);
				}
				double bound =
				    sw / 2 * sumx + sx / 2 * sumw + K * sx * sw / 4 + 1e-5 * sxw;
				double got = p.out[q][GUARD + t * p.ld[q] + n];
				cr_assert(fabs(got - y) <= bound,
				          "proj %d t %zu n %zu: %g vs %g > %g", q, t, n, got, y,
				          bound);
			}
		}
	prob_free(&p);
}

/* NaN/Inf in a row -> NaN outputs; an all-zero row -> exactly the bias; an all-zero
 * column -> exactly the bias; each kernel, native and emulated, bit-identical to the
 * reference on such a problem (rows spread over two mr blocks of every kernel). */
Test(int8, special_rows_and_columns, .init = setup)
{
	struct prob p;
	prob_make(&p, 37, 2, 1, 8, 4, QKV_LAYOUT_IN_OUT, 1, GAUSS);
	p.x[0 * p.ldx + 5] = NAN;
	p.x[1 * p.ldx + 36] = -INFINITY;
	memset(p.x + 2 * p.ldx, 0, 37 * sizeof(float));
	for (size_t k = 0; k < 37; k++)
		p.w[QKV_K][k * p.dout[QKV_K] + 3] = 0.0f;
	struct prob big;
	prob_make(&big, 131, 3, 1, 11, 19, QKV_LAYOUT_OUT_IN, 1, GAUSS);
	for (size_t t = 0; t < 19; t += 3) /* rows 0, 3, ..., 18: NaN, zero, Inf, ... */
		for (size_t k = 0; k < 131; k++)
			big.x[t * big.ldx + k] = t % 9 == 0 ? NAN
			                                    : (t % 9 == 3 ? 0.0f
			                                       : k == 7   ? INFINITY
			                                                  : big.x[t * big.ldx + k]);
	for (size_t k = 0; k < 131; k++) /* columns 0 of q and 10 of v: zero */
		big.w[QKV_Q][0 * 131 + k] = big.w[QKV_V][10 * 131 + k] = 0.0f;
	compare_prob(&big, 1, "special rows/columns K=131");
	prob_free(&big);
	compare_prob(&p, 1, "special rows/columns K=37");
	report_kernels("special_rows_and_columns");
	cr_assert_eq(run(int8_be, NULL, &p, 1), QKV_OK);
	for (int q = 0; q < 3; q++)
		for (size_t n = 0; n < p.dout[q]; n++) {
			const float *y = p.out[q] + GUARD;
			cr_assert(isnan(y[0 * p.ld[q] + n]), "NaN row, proj %d col %zu", q, n);
			cr_assert(isnan(y[1 * p.ld[q] + n]), "Inf row, proj %d col %zu", q, n);
			cr_assert_eq(y[2 * p.ld[q] + n], p.b[q][n], "zero row, proj %d", q);
		}
	cr_assert_eq(p.out[QKV_K][GUARD + 3 * p.ld[QKV_K] + 3], p.b[QKV_K][3], "zero column");
	prob_free(&p);
}

Test(int8, refusals, .init = setup)
{
	struct prob p;
	prob_make(&p, 8, 1, 1, 4, 1, QKV_LAYOUT_OUT_IN, 0, GAUSS);
	void *h = NULL;
	char err[256] = "";
	p.pb.precision = QKV_F32;
	cr_assert_eq(int8_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	int8_be->release(h);
	p.pb.precision = QKV_INT8;
	cr_assert_eq(run(int8_be, "no_such_kernel", &p, 1), QKV_ERR_UNSUPPORTED);
	int8_t qw[32];
	float sc[4] = {1, 1, 1, 1};
	memset(qw, 1, sizeof(qw));
	qw[17] = -128; /* outside [-127, 127] */
	p.wt.w_i8[QKV_V] = qw;
	p.wt.w_scale[QKV_V] = sc;
	unsetenv("QKV_INT8_KERNEL");
	cr_assert_eq(int8_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "-128") && strstr(err, " v "), "message: %s", err);
	int8_be->release(h);
	prob_free(&p);
}

/* Many threads on one handle, each with its own outputs, all equal to one serial run. */
struct worker {
	const void *h;
	struct prob *p;
	float *y; /* [T x N] fused */
	int rc;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	size_t dq = w->p->pb.d_q, dkv = w->p->pb.d_kv, N = dq + 2 * dkv;
	struct qkv_batch b = {sizeof(b), 2,         w->p->T,
	                      w->p->x,   w->p->ldx, {w->y, w->y + dq, w->y + dq + dkv},
	                      {N, N, N}};
	char err[128];
	for (int i = 0; i < 20 && !w->rc; i++)
		w->rc = (int)int8_be->project(w->h, &b, err, sizeof(err));
	return NULL;
}

Test(int8, concurrent_calls, .init = setup)
{
	struct prob p;
	prob_make(&p, 300, 4, 2, 16, 13, QKV_LAYOUT_IN_OUT, 1, GAUSS);
	unsetenv("QKV_INT8_KERNEL");
	void *h;
	char err[256];
	cr_assert_eq(int8_be->prepare(&p.pb, &p.wt, &h, err, sizeof(err)), QKV_OK);
	size_t N = p.pb.d_q + 2 * p.pb.d_kv;
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){h, &p, calloc(p.T * N, sizeof(float)), 0};
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct worker serial = {h, &p, calloc(p.T * N, sizeof(float)), 0};
	work(&serial);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(w[i].rc, 0);
		assert_same(serial.y, w[i].y, p.T * N, "thread outputs");
	}
	for (int i = 0; i < 4; i++)
		free(w[i].y);
	free(serial.y);
	int8_be->release(h);
	prob_free(&p);
}
