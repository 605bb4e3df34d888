/* openmp backend tests the conformance suite cannot make: the whole driver with EVERY
 * kernel set (the portable C one too, not only the one this CPU picks; natively where this
 * CPU runs it, and emulated in openmp_simde_test.so, the module built through SIMDe),
 * on shapes that cross each blocking edge (K around KC = 256, T around mr, the
 * matrix-vector limit 4 and MC = 288, widths not a multiple of the 16-column panel),
 * in f32 and bf16 (weights rounded as precision.h says), against a float64 reference; guard floats
 * around every output; results that do not depend on the thread count; and a call from inside a
 * caller's parallel region.
 *
 * Bound: f32 dot products of length K with any summation order satisfy
 *   |y - y64| <= gamma_{K+1} * sum_k |x_k w_k| (+|b|),  gamma_n ~ n * 2^-24;
 * we assert (K + 2) * 1.2e-7 * sum|x w|, twice the worst case, far below a wrong term.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ompb.h"
#include <qkv/cpu_features.h>
#include <qkv/precision.h>

#include "test_rng.h"

extern const struct qkv_backend qkv_backend_descriptor;

#define GUARD 8
static const float SENTINEL = -1234.5f;

static uint64_t rng = 0x9E3779B97F4A7C15ull; /* test_rng.h */

struct shape {
	size_t K, H, KVH, hd, T;
	int layout, bias, pad;
};

struct prob {
	const struct qkv_backend *be; /* this module's, or the SIMDe module's */
	struct shape s;
	uint32_t precision; /* QKV_F32 or QKV_BF16 */
	size_t dout[3], ldx, ld[3];
	float *w[3], *b[3], *x;
	float *buf[3]; /* [GUARD + T*ld + GUARD] */
	void *h;
};

/* Prepared by module `be` (NULL: this one) with the kernel set QKV_OPENMP_KERNEL=kname
 * (NULL: the module's own pick). */
static void prob_make_k(struct prob *p, struct shape s, size_t threads, uint32_t prec,
                        const struct qkv_backend *be, const char *kname)
{
	memset(p, 0, sizeof(*p));
	p->be = be ? be : &qkv_backend_descriptor;
	p->s = s;
	p->precision = prec;
	p->dout[0] = s.H * s.hd;
	p->dout[1] = p->dout[2] = s.KVH * s.hd;
	p->ldx = s.K + (size_t)s.pad;
	p->x = malloc((s.T * p->ldx + 1) * sizeof(float)); /* [T x ldx] */
	for (size_t i = 0; i < s.T * p->ldx; i++)
		p->x[i] = test_rng_sym(&rng);
	for (int q = 0; q < 3; q++) {
		p->w[q] = malloc(s.K * p->dout[q] * sizeof(float)); /* [K x d_out] in layout */
		for (size_t i = 0; i < s.K * p->dout[q]; i++)
			p->w[q][i] = test_rng_sym(&rng);
		if (s.bias && q != QKV_K) { /* k without bias: mixed case */
			p->b[q] = malloc(p->dout[q] * sizeof(float));
			for (size_t i = 0; i < p->dout[q]; i++)
				p->b[q][i] = test_rng_sym(&rng);
		}
		p->ld[q] = p->dout[q] + (size_t)s.pad * (size_t)(q + 1);
	}
	struct qkv_problem pb = {sizeof(pb),           prec,
	                         (uint32_t)s.K,        (uint32_t)s.H,
	                         (uint32_t)s.KVH,      (uint32_t)s.hd,
	                         (uint32_t)p->dout[0], (uint32_t)p->dout[1],
	                         (uint32_t)threads,    {0}};
	struct qkv_weights wt = {.struct_size = sizeof(wt),
	                         .layout = (uint32_t)s.layout,
	                         .w = {p->w[0], p->w[1], p->w[2]},
	                         .bias = {p->b[0], p->b[1], p->b[2]}};
	char err[256] = "";
	if (kname)
		setenv("QKV_OPENMP_KERNEL", kname, 1);
	else
		unsetenv("QKV_OPENMP_KERNEL");
	enum qkv_status st = p->be->prepare(&pb, &wt, &p->h, err, sizeof(err));
	unsetenv("QKV_OPENMP_KERNEL");
	cr_assert_eq(st, QKV_OK, "%s", err);
}

static void prob_make(struct prob *p, struct shape s, size_t threads)
{
	prob_make_k(p, s, threads, QKV_F32, NULL, NULL);
}

static void prob_run(struct prob *p, size_t threads)
{
	struct qkv_batch b = {sizeof(b), (uint32_t)threads, p->s.T, p->x, p->ldx, {0}, {0}};
	for (int q = 0; q < 3; q++) {
		size_t n = p->s.T * p->ld[q] + 2 * GUARD;
		free(p->buf[q]);
		p->buf[q] = malloc(n * sizeof(float));
		for (size_t i = 0; i < n; i++)
			p->buf[q][i] = SENTINEL;
		b.out[q] = p->buf[q] + GUARD;
		b.ld_out[q] = p->ld[q];
	}
	char err[256] = "";
	cr_assert_eq(p->be->project(p->h, &b, err, sizeof(err)), QKV_OK, "%s", err);
}

/* W[k][n] as the precision defines it: bf16 rounds the weight, nearest-even. */
static double w_at(const struct prob *p, int q, size_t k, size_t n)
{
	float w = p->s.layout == QKV_LAYOUT_IN_OUT ? p->w[q][k * p->dout[q] + n]
	                                           : p->w[q][n * p->s.K + k];
	return p->precision == QKV_BF16 ? qkv_bf16_round(w) : w;
}

static void prob_check(const struct prob *p, const char *kname)
{
	const struct shape *s = &p->s;
	for (int q = 0; q < 3; q++) {
		const float *y = p->buf[q] + GUARD;
		for (size_t t = 0; t < s->T; t++)
			for (size_t n = 0; n < p->dout[q]; n++) {
				double ref = 0, mag = 0;
				for (size_t k = 0; k < s->K; k++) {
					double v = (double)p->x[t * p->ldx + k] * w_at(p, q, k, n);
					ref += v;
					mag += fabs(v);
				}
				if (p->b[q]) {
					ref += p->b[q][n];
					mag += fabs(p->b[q][n]);
				}
				double got = y[t * p->ld[q] + n];
				cr_assert(fabs(got - ref) <= (double)(s->K + 2) * 1.2e-7 * mag,
				          "%s K=%zu T=%zu proj %d row %zu col %zu: %g, want %g",
				          kname, s->K, s->T, q, t, n, got, ref);
			}
		/* Nothing outside the T x d_out addressed elements was written. */
		size_t total = s->T * p->ld[q] + 2 * GUARD;
		for (size_t i = 0; i < total; i++) {
			long off = (long)i - GUARD;
			int inside = off >= 0 && (size_t)off < s->T * p->ld[q] &&
			             (size_t)off % p->ld[q] < p->dout[q];
			if (!inside)
				cr_assert_eq(p->buf[q][i], SENTINEL,
				             "%s K=%zu T=%zu proj %d: write outside at %ld", kname,
				             s->K, s->T, q, off);
		}
	}
}

static void prob_free(struct prob *p)
{
	p->be->release(p->h);
	for (int q = 0; q < 3; q++) {
		free(p->w[q]);
		free(p->b[q]);
		free(p->buf[q]);
	}
	free(p->x);
}

/* {K, H, KVH, hd, T, layout, bias, pad}: K around 4/16/64 multiples and the K slices
 * (256, 512; 4096 of the tall tile, 2048 before it), widths around the 16- and 32-column panels, T
 * from 1 to past MC = 288 and past the tall tile's X block (144 rows). */
static const struct shape shapes[] = {
    {1, 1, 1, 1, 1, 0, 0, 0},      {7, 3, 1, 5, 2, 1, 1, 1},      {16, 2, 2, 8, 3, 0, 1, 0},
    {255, 4, 2, 9, 4, 1, 0, 3},    {256, 1, 1, 16, 5, 0, 1, 1},   {257, 5, 5, 7, 6, 1, 1, 0},
    {300, 6, 3, 11, 7, 0, 0, 2},   {64, 4, 1, 33, 13, 1, 1, 0},   {513, 2, 1, 24, 143, 0, 1, 1},
    {129, 3, 3, 17, 289, 1, 0, 0}, {40, 8, 2, 12, 301, 0, 1, 5},  {65, 2, 1, 16, 8, 1, 1, 1},
    {63, 1, 1, 32, 9, 0, 0, 0},    {520, 3, 1, 31, 17, 1, 1, 2},  {77, 2, 2, 33, 24, 0, 1, 0},
    {2049, 2, 1, 17, 50, 1, 1, 1}, {2047, 1, 1, 33, 61, 0, 0, 0}, {90, 2, 1, 20, 145, 0, 1, 2},
    {4097, 2, 1, 17, 49, 0, 1, 1}, {4095, 1, 1, 33, 59, 1, 0, 0},
};

/* Every row count 1..MR+1 and around 2*MR and 3*MR of each tile, with a width that
 * leaves a column remainder in both panel widths (33 = 32 + 1 = 2*16 + 1, 11 < 16); from
 * 47 on, the avx512 set's tall tile (12 rows from T = 48): each remainder 0..11 and the
 * edge of its 144-row X block. */
static const size_t edge_T[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,  13,  15,
                                16, 17, 18, 19, 23, 24, 25, 31, 32, 33, 47, 48,  49,  50,
                                51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 143, 144, 145};

static void check_one(const struct qkv_backend *be, const char *kname, struct shape s,
                      size_t threads, uint32_t prec)
{
	struct prob p;
	prob_make_k(&p, s, threads, prec, be, kname);
	prob_run(&p, threads);
	prob_check(&p, kname);
	prob_free(&p);
}

static void kernel_set(const struct qkv_backend *be, const char *kname)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		for (size_t threads = 1; threads <= 2; threads++) {
			check_one(be, kname, shapes[i], threads, QKV_F32);
			check_one(be, kname, shapes[i], threads, QKV_BF16);
		}
	for (size_t i = 0; i < sizeof(edge_T) / sizeof(edge_T[0]); i++) {
		struct shape s = {77, 3, 1, 11, edge_T[i], (int)(i & 1), 1, (int)(i % 3)};
		check_one(be, kname, s, 1, i % 4 == 3 ? QKV_BF16 : QKV_F32);
	}
}

/* The SIMDe build of this module (the same sources, every ISA emulated), or NULL. */
static const struct qkv_backend *simde_module(void)
{
#if defined(OPENMP_SIMDE_SO)
	void *dl = dlopen(OPENMP_SIMDE_SO, RTLD_NOW | RTLD_LOCAL);
	cr_assert(dl, "dlopen %s: %s", OPENMP_SIMDE_SO, dlerror());
	const struct qkv_backend *be = dlsym(dl, QKV_BACKEND_SYMBOL);
	cr_assert(be, "%s: no descriptor", OPENMP_SIMDE_SO);
	return be;
#else
	return NULL;
#endif
}

/* Kernel set `kname` (a row of dispatch.c's table) natively where this CPU runs it and
 * emulated through SIMDe where built; says which, and fails when it ran neither way or
 * was not emulated although SIMDe was built. */
static void kernel_both(const char *kname)
{
	char why[256];
	setenv("QKV_OPENMP_KERNEL", kname, 1);
	int native = qkv_omp_kernels_pick(why, sizeof(why)) != NULL;
	unsetenv("QKV_OPENMP_KERNEL");
	if (native)
		kernel_set(NULL, kname);
	const struct qkv_backend *emu = simde_module();
	if (emu)
		kernel_set(emu, kname);
	fprintf(stderr, "openmp kernel set %s: native %s, emulated %s\n", kname,
	        native ? "yes" : "no (not usable or not built here)",
	        emu ? "yes (SIMDe)" : "no (SIMDe not built)");
	cr_assert(native || emu, "kernel set %s ran neither way", kname);
}

Test(openmp, kernels_c)
{
	kernel_both("c");
}

Test(openmp, kernels_avx2, .timeout = 240)
{
	kernel_both("avx2");
}

Test(openmp, kernels_avx512, .timeout = 240)
{
	kernel_both("avx512");
}

Test(openmp, kernels_neon, .timeout = 240)
{
	kernel_both("neon");
}

/* QKV_OPENMP_KERNEL forces a usable set, and refuses (NULL, with the reason) a name that
 * is absent or a set this CPU cannot run; unset, the widest usable set is taken. */
Test(openmp, kernel_env_override)
{
	char why[256];
	setenv("QKV_OPENMP_KERNEL", "c", 1);
	cr_assert_eq(qkv_omp_kernels_pick(why, sizeof(why)), &qkv_omp_kernels_c, "%s", why);
	cr_assert(strstr(why, "forced by QKV_OPENMP_KERNEL=c") != NULL, "%s", why);
	setenv("QKV_OPENMP_KERNEL", "avx1024", 1);
	cr_assert_null(qkv_omp_kernels_pick(why, sizeof(why)), "%s", why);
	cr_assert(strstr(why, "QKV_OPENMP_KERNEL=avx1024 refused: no such kernel") != NULL, "%s",
	          why);
	/* the plugin then probes unusable and refuses to prepare, naming the variable */
	struct qkv_probe_result pr = {sizeof(pr), 0, ""};
	qkv_backend_descriptor.probe(&pr);
	cr_assert_eq(pr.score, 0, "%s", pr.detail);
	cr_assert(strstr(pr.detail, "QKV_OPENMP_KERNEL=avx1024") != NULL, "%s", pr.detail);
	unsetenv("QKV_OPENMP_KERNEL");
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	const struct ompb_kernels *k = qkv_omp_kernels_pick(why, sizeof(why));
#if defined(__x86_64__)
	setenv("QKV_OPENMP_KERNEL", "avx512", 1);
	const struct ompb_kernels *k5 = qkv_omp_kernels_pick(why, sizeof(why));
	if (f.avx512f)
		cr_assert_eq(k5, &qkv_omp_kernels_avx512, "%s", why);
	else
		cr_assert(!k5 && strstr(why, "QKV_OPENMP_KERNEL=avx512 refused") != NULL, "%s",
		          why);
	setenv("QKV_OPENMP_KERNEL", "avx2", 1);
	const struct ompb_kernels *k2 = qkv_omp_kernels_pick(why, sizeof(why));
	if (f.avx2 && f.fma)
		cr_assert_eq(k2, &qkv_omp_kernels_avx2, "%s", why);
	else
		cr_assert(!k2 && strstr(why, "refused") != NULL, "%s", why);
	unsetenv("QKV_OPENMP_KERNEL");
	cr_assert_eq(k,
	             f.avx512f ? &qkv_omp_kernels_avx512
	                       : (f.avx2 && f.fma ? &qkv_omp_kernels_avx2 : &qkv_omp_kernels_c),
	             "%s", why);
#elif defined(__aarch64__)
	cr_assert_eq(k, f.neon ? &qkv_omp_kernels_neon : &qkv_omp_kernels_c, "%s", why);
	setenv("QKV_OPENMP_KERNEL", "neon", 1);
	cr_assert_eq(qkv_omp_kernels_pick(why, sizeof(why)), f.neon ? &qkv_omp_kernels_neon : NULL,
	             "%s", why);
	unsetenv("QKV_OPENMP_KERNEL");
#endif
	k = qkv_omp_kernels_pick(why, sizeof(why));
	cr_assert(k && strstr(why, k->name) == why, "%s", why);
}

/* Partitions split panels and rows, never K, so every thread count gives the same
 * bits; and a call inside a caller's parallel region runs serial, same bits again. */
static void same_bits(struct shape s)
{
	struct prob p;
	prob_make(&p, s, 2);
	prob_run(&p, 1);
	size_t n = s.T * p.ld[0] + 2 * GUARD;
	float *one = malloc(n * sizeof(float));
	memcpy(one, p.buf[0], n * sizeof(float));
	for (size_t threads = 2; threads <= 3; threads++) {
		prob_run(&p, threads);
		cr_assert(memcmp(one, p.buf[0], n * sizeof(float)) == 0, "threads=%zu differs",
		          threads);
	}
	int same = 1;
#pragma omp parallel num_threads(2) reduction(&& : same)
	{
		struct qkv_batch b = {sizeof(b), 2, s.T, p.x, p.ldx, {0}, {0}};
		float *out[3];
		for (int q = 0; q < 3; q++) {
			out[q] = calloc(s.T * p.ld[q], sizeof(float));
			b.out[q] = out[q];
			b.ld_out[q] = p.ld[q];
		}
		char err[128];
		same = qkv_backend_descriptor.project(p.h, &b, err, sizeof(err)) == QKV_OK;
		for (size_t t = 0; t < s.T; t++) /* addressed elements only */
			same = same && memcmp(out[0] + t * p.ld[0], one + GUARD + t * p.ld[0],
			                      p.dout[0] * sizeof(float)) == 0;
		for (int q = 0; q < 3; q++)
			free(out[q]);
	}
	cr_assert(same, "a call from inside a parallel region gave different results");
	free(one);
	prob_free(&p);
}

Test(openmp, same_bits_for_any_thread_count_and_nested)
{
	/* GEMM path (units over panels), T <= 4 path, and few panels (rows split too). */
	struct shape ss[] = {{700, 6, 2, 20, 150, 0, 1, 1},
	                     {700, 6, 2, 20, 3, 1, 0, 0},
	                     {300, 1, 1, 16, 40, 0, 1, 2}};
	for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++)
		same_bits(ss[i]);
}

/* NaN and Inf in X reach the outputs of their row (no flush, no fast-math). */
Test(openmp, nan_inf_propagate)
{
	struct shape shp[] = {{33, 2, 1, 16, 1, 0, 0, 0}, {33, 2, 1, 16, 9, 1, 1, 0}};
	for (int i = 0; i < 2; i++) {
		struct prob p;
		prob_make(&p, shp[i], 1);
		p.x[0] = NAN;
		if (shp[i].T > 1)
			p.x[p.ldx + 5] = INFINITY;
		prob_run(&p, 1);
		for (int q = 0; q < 3; q++)
			for (size_t n = 0; n < p.dout[q]; n++) {
				cr_assert(isnan(p.buf[q][GUARD + n]), "row 0 col %zu not NaN", n);
				if (shp[i].T > 1)
					cr_assert(!isfinite(p.buf[q][GUARD + p.ld[q] + n]),
					          "row 1 col %zu finite", n);
			}
		prob_free(&p);
	}
}

Test(openmp, refusals)
{
	struct qkv_problem pb = {sizeof(pb), QKV_INT8, 4, 1, 1, 4, 4, 4, 1, {0}};
	float w[16] = {0};
	struct qkv_weights wt = {sizeof(wt), 0, {w, w, w}, {0}, {0}, {0}, {0}};
	void *h = NULL;
	char err[256] = "";
	cr_assert_eq(qkv_backend_descriptor.prepare(&pb, &wt, &h, err, sizeof(err)),
	             QKV_ERR_UNSUPPORTED); /* int8 is the int8 backend's */
	cr_assert(strstr(err, "openmp") != NULL);
	qkv_backend_descriptor.release(h);
	pb.precision = QKV_F32;
	cr_assert_eq(qkv_backend_descriptor.prepare(&pb, &wt, &h, err, sizeof(err)), QKV_OK);
	float x[4] = {0}, y[4];
	struct qkv_batch b = {sizeof(b), 1, 1, x, 3, {y, y, y}, {4, 4, 4}};
	cr_assert_eq(qkv_backend_descriptor.project(h, &b, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "ldx") != NULL, "%s", err);
	b.ldx = 4;
	b.out[1] = NULL;
	cr_assert_eq(qkv_backend_descriptor.project(h, &b, err, sizeof(err)), QKV_ERR_ARGUMENT);
	qkv_backend_descriptor.release(h);
}

/* Threads in this process, from /proc (Linux); -1 when unknown. */
static int thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	int n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* `threads: 1` uses one core: calls with a budget of 1 start no thread at all (Criterion
 * runs each test in a fresh process, so no earlier team exists); the same call with a
 * budget of 2 does start one, which shows the check can fail. */
Test(openmp, threads_one_starts_no_thread)
{
	int before = thread_count();
	if (before < 0)
		cr_skip_test("no /proc/self/status");
	struct shape s = {512, 8, 2, 32, 64, 0, 1, 0}; /* above the serial threshold */
	struct prob p;
	prob_make(&p, s, 1);
	for (int i = 0; i < 3; i++)
		prob_run(&p, 1);
	struct shape s1 = s;
	s1.T = 1; /* the matrix-vector path too */
	struct prob p1;
	prob_make(&p1, s1, 1);
	prob_run(&p1, 1);
	cr_assert_eq(thread_count(), before, "threads=1 started %d thread(s)",
	             thread_count() - before);
	prob_run(&p, 2);
	cr_assert_gt(thread_count(), before, "threads=2 started no thread");
	prob_free(&p);
	prob_free(&p1);
}
