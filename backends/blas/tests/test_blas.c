/* blas backend tests the conformance suite cannot make: both call paths (one GEMM into
 * a fused q|k|v row, three GEMMs into separate strided outputs) and both GEMV paths give
 * the float64 result; the thread budget reaches OpenBLAS's process-wide setting
 * (`threads: 1` -> one OpenBLAS thread) and is left as documented in README.md; sizes
 * BLAS cannot take are refused before any BLAS call.
 *
 * Bound as in the openmp tests: (K + 2) * 1.2e-7 * sum |x w| (+|b|), twice gamma_{K+1}.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <qkv/cpu_features.h>
#include <qkv/plugin.h>

#include "test_rng.h"

extern const struct qkv_backend qkv_backend_descriptor;
#define BE qkv_backend_descriptor

static uint64_t rng = 0x243F6A8885A308D3ull; /* test_rng.h */

struct prob {
	size_t K, dq, dkv, d[3], T;
	int layout;
	float *w[3], *b[3], *x; /* w[p]: [K x d] in layout; x: [T x K] */
	void *h;
};

static void make(struct prob *p, size_t K, size_t H, size_t KVH, size_t hd, size_t T, int layout,
                 int bias, uint32_t threads)
{
	memset(p, 0, sizeof(*p));
	p->K = K, p->dq = H * hd, p->dkv = KVH * hd, p->T = T, p->layout = layout;
	p->d[0] = p->dq, p->d[1] = p->d[2] = p->dkv;
	for (int q = 0; q < 3; q++) {
		p->w[q] = malloc(K * p->d[q] * sizeof(float));
		for (size_t i = 0; i < K * p->d[q]; i++)
			p->w[q][i] = test_rng_sym(&rng);
		if (bias && q != QKV_V) { /* v without bias: mixed case */
			p->b[q] = malloc(p->d[q] * sizeof(float));
			for (size_t i = 0; i < p->d[q]; i++)
				p->b[q][i] = test_rng_sym(&rng);
		}
	}
	p->x = malloc((T ? T : 1) * K * sizeof(float));
	for (size_t i = 0; i < T * K; i++)
		p->x[i] = test_rng_sym(&rng);
	struct qkv_problem pb = {sizeof(pb),    QKV_F32,      (uint32_t)K,     (uint32_t)H,
	                         (uint32_t)KVH, (uint32_t)hd, (uint32_t)p->dq, (uint32_t)p->dkv,
	                         threads,       {0}};
	struct qkv_weights wt = {.struct_size = sizeof(wt),
	                         .layout = (uint32_t)layout,
	                         .w = {p->w[0], p->w[1], p->w[2]},
	                         .bias = {p->b[0], p->b[1], p->b[2]}};
	char err[256] = "";
	cr_assert_eq(BE.prepare(&pb, &wt, &p->h, err, sizeof(err)), QKV_OK, "%s", err);
}

static void unmake(struct prob *p)
{
	BE.release(p->h);
	for (int q = 0; q < 3; q++) {
		free(p->w[q]);
		free(p->b[q]);
	}
	free(p->x);
}

/* Check out[q] (row stride ld[q]) against float64. */
static void check(const struct prob *p, float *const out[3], const size_t ld[3], const char *what)
{
	for (int q = 0; q < 3; q++)
		for (size_t t = 0; t < p->T; t++)
			for (size_t n = 0; n < p->d[q]; n++) {
				double ref = 0, mag = 0;
				for (size_t k = 0; k < p->K; k++) {
					float w = p->layout == QKV_LAYOUT_IN_OUT
					              ? p->w[q][k * p->d[q] + n]
					              : p->w[q][n * p->K + k];
					ref += (double)p->x[t * p->K + k] * w;
					mag += fabs((double)p->x[t * p->K + k] * w);
				}
				if (p->b[q]) {
					ref += p->b[q][n];
					mag += fabs(p->b[q][n]);
				}
				double got = out[q][t * ld[q] + n];
				cr_assert(fabs(got - ref) <= (double)(p->K + 2) * 1.2e-7 * mag,
				          "%s K=%zu T=%zu proj %d [%zu][%zu]: %g, want %g", what,
				          p->K, p->T, q, t, n, got, ref);
			}
}

static void run(struct prob *p, float *const out[3], const size_t ld[3], uint32_t threads)
{
	struct qkv_batch b = {
	    sizeof(b), threads, p->T, p->x, p->K, {out[0], out[1], out[2]}, {ld[0], ld[1], ld[2]}};
	char err[256] = "";
	cr_assert_eq(BE.project(p->h, &b, err, sizeof(err)), QKV_OK, "%s", err);
}

/* Fused row [q | k | v] (one GEMM / GEMV) and separate strided outputs (three), with
 * NaN-filled outputs so a path that reads C before writing it shows up. */
Test(blas, fused_and_separate_paths)
{
	size_t Ts[] = {1, 2, 7, 33};
	for (size_t i = 0; i < 4; i++)
		for (int layout = 0; layout < 2; layout++)
			for (int bias = 0; bias < 2; bias++) {
				struct prob p;
				make(&p, 37 + 50 * i, 3, 1, 5 + i, Ts[i], layout, bias, 1);
				size_t N = p.dq + 2 * p.dkv, ldy = N + 3;
				float *y = malloc(p.T * ldy * sizeof(float));
				for (size_t e = 0; e < p.T * ldy; e++)
					y[e] = NAN;
				float *fused[3] = {y, y + p.dq, y + p.dq + p.dkv};
				size_t ldf[3] = {ldy, ldy, ldy};
				run(&p, fused, ldf, 1);
				check(&p, fused, ldf, "fused");
				float *sep[3];
				size_t lds[3];
				for (int q = 0; q < 3; q++) {
					lds[q] = p.d[q] + (size_t)q;
					sep[q] = malloc(p.T * lds[q] * sizeof(float));
					for (size_t e = 0; e < p.T * lds[q]; e++)
						sep[q][e] = NAN;
				}
				run(&p, sep, lds, 2);
				check(&p, sep, lds, "separate");
				for (int q = 0; q < 3; q++)
					free(sep[q]);
				free(y);
				unmake(&p);
			}
}

/* pthreads OpenBLAS: the budget reaches OpenBLAS (process-wide) and stays there after
 * the call. OpenMP OpenBLAS: the budget is the calling thread's OpenMP ICV for the
 * call only; the caller's setting is the same afterwards, and calls from inside the
 * caller's parallel region are correct. */
Test(blas, thread_budget_sets_openblas)
{
	if (openblas_get_parallel() == 2) {
		struct prob p;
		make(&p, 64, 2, 2, 16, 20, 0, 1, 1);
		size_t N = p.dq + 2 * p.dkv;
		float *y = malloc(2 * p.T * N * sizeof(float));
		size_t ld[3] = {N, N, N};
		for (int icv = 1; icv <= 3; icv++)
			for (uint32_t budget = 1; budget <= 2; budget++) {
				omp_set_num_threads(icv);
				float *out[3] = {y, y + p.dq, y + p.dq + p.dkv};
				run(&p, out, ld, budget);
				cr_assert_eq(omp_get_max_threads(), icv,
				             "budget %u changed the caller's ICV %d to %d", budget,
				             icv, omp_get_max_threads());
				check(&p, out, ld, "omp budget");
			}
		omp_set_num_threads(2);
#pragma omp parallel num_threads(2)
		{
			int i = omp_get_thread_num() % 2;
			float *out[3] = {y + i * p.T * N, y + i * p.T * N + p.dq,
			                 y + i * p.T * N + p.dq + p.dkv};
			struct qkv_batch b = {sizeof(b), 2, p.T, p.x, p.K, {out[0], out[1], out[2]},
			                      {N, N, N}};
			char err[128];
			if (BE.project(p.h, &b, err, sizeof(err)) != QKV_OK)
				out[0][0] = NAN;
		}
		for (int i = 0; i < 2; i++) {
			float *out[3] = {y + i * p.T * N, y + i * p.T * N + p.dq,
			                 y + i * p.T * N + p.dq + p.dkv};
			check(&p, out, ld, "inside a parallel region");
		}
		free(y);
		unmake(&p);
		return;
	}
	if (openblas_get_num_procs() < 2)
		cr_skip_test("one core: OpenBLAS caps the count at 1");
	struct prob p;
	make(&p, 64, 2, 2, 16, 20, 0, 0, 1);
	float *y = malloc(p.T * (p.dq + 2 * p.dkv) * sizeof(float));
	float *out[3] = {y, y + p.T * p.dq, y + p.T * (p.dq + p.dkv)};
	size_t ld[3] = {p.dq, p.dkv, p.dkv};
	openblas_set_num_threads(2);
	run(&p, out, ld, 1);
	cr_assert_eq(openblas_get_num_threads(), 1, "threads: 1 left OpenBLAS at %d",
	             openblas_get_num_threads());
	run(&p, out, ld, 2);
	cr_assert_eq(openblas_get_num_threads(), 2);
	run(&p, out, ld, 1000); /* capped at the cores OpenBLAS sees */
	cr_assert_eq(openblas_get_num_threads(), openblas_get_num_procs());
	free(y);
	unmake(&p);
}

Test(blas, refusals_before_blas)
{
	struct prob p;
	make(&p, 8, 1, 1, 4, 2, 0, 0, 1);
	float y[64];
	char err[256] = "";
	struct qkv_batch b = {sizeof(b), 1, 2, p.x, 7, {y, y, y}, {4, 4, 4}};
	cr_assert_eq(BE.project(p.h, &b, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "ldx") != NULL, "%s", err);
	b.ldx = 8; /* (strides past INT_MAX are taken row by row: conformance huge_strides) */
	b.ld_out[2] = 3;
	cr_assert_eq(BE.project(p.h, &b, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "stride") != NULL, "%s", err);
	b.T = 0; /* nothing to do, nothing checked beyond that */
	cr_assert_eq(BE.project(p.h, &b, err, sizeof(err)), QKV_OK);
	unmake(&p);
	struct qkv_problem pb = {sizeof(pb), QKV_BF16, 4, 1, 1, 4, 4, 4, 1, {0}};
	float w[16] = {0};
	struct qkv_weights wt = {sizeof(wt), 0, {w, w, w}, {0}, {0}, {0}, {0}};
	void *h = NULL;
	cr_assert_eq(BE.prepare(&pb, &wt, &h, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	cr_assert(strstr(err, "blas") != NULL);
	BE.release(h);
}

/* The probe names a generic OpenBLAS core on an AVX2/AVX-512 CPU, with the fix, and
 * ranks itself below openmp (60) then; otherwise it scores 50 without the hint. */
Test(blas, probe_flags_generic_core)
{
	struct qkv_probe_result r = {sizeof(r), 0, ""};
	BE.probe(&r);
	const char *core = openblas_get_corename();
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	static const char *const fast[] = {"haswell",        "zen",      "skylakex", "cooperlake",
	                                   "sapphirerapids", "excavator"};
	int known = 0;
	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		known |= !strcasecmp(core, fast[i]);
	cr_assert(strstr(r.detail, core), "detail names the core: %s", r.detail);
	if (f.avx2 && f.fma && !known) {
		cr_assert_eq(r.score, 15, "%s", r.detail);
		cr_assert(strstr(r.detail,
		                 f.avx512f ? "OPENBLAS_CORETYPE=SkylakeX" : "OPENBLAS_CORETYPE="),
		          "no fix named: %s", r.detail);
	} else {
		cr_assert_eq(r.score, 50, "%s", r.detail);
		cr_assert(!strstr(r.detail, "OPENBLAS_CORETYPE"), "%s", r.detail);
	}
}
