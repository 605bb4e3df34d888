/* Sizes where backends switch code paths: T across every power of two to 1100 and past
 * 2048 and 4096, K above 4096 to 66001, d_q above 65535, and the largest thread budget. */
#include <stdio.h>
#include <string.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* T crossing every power of two a blocked kernel switches at (and its neighbours),
 * each twice: (a) in_out, biases, ldx > K, ld > width, unaligned pointers, threads
 * 1..3; (b) out_in, only Q has a bias, packed and aligned, threads 2. */
void cf_case_rows(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const size_t Ts[] = {1,   2,   3,   4,   5,   8,    9,    15,   16,  17,
	                            31,  32,  33,  63,  64,  65,   127,  128,  129, 255,
	                            256, 257, 511, 512, 513, 1023, 1024, 1025, 1100};
	static const uint32_t Ks[] = {33, 64, 17, 100, 48};
	static const uint32_t hds[] = {8, 5, 16, 3, 12};
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(Ts); i++) {
		struct cf_shape sh = {Ts[i], Ks[i % CF_COUNT(Ks)], 3, 1 + (uint32_t)(i % 3),
		                      hds[i % CF_COUNT(hds)]};
		if (sh.n_heads % sh.n_kv_heads)
			sh.n_kv_heads = 1;
		struct cf_opts a = cf_opts_make(precision, QKV_LAYOUT_IN_OUT, true);
		a.x_pad = 1 + i % 5;
		a.y_pad = 1 + i % 3;
		a.unaligned = true;
		a.threads = 1 + (uint32_t)(i % 3);
		struct cf_opts b = cf_opts_make(precision, QKV_LAYOUT_OUT_IN, true);
		b.no_bias = 6; /* K and V have NULL biases */
		b.threads = 2;
		if (!cf_check_problem(be, &sh, &a, cf_rng_next(&g), r) ||
		    !cf_check_problem(be, &sh, &b, cf_rng_next(&g), r))
			return;
	}
	/* the same crossings with sizes big enough for a GEMM path */
	static const struct cf_shape big[] = {{513, 512, 4, 2, 64},
	                                      {1025, 300, 2, 2, 48},
	                                      {1100, 256, 4, 4, 32},
	                                      {257, 1024, 2, 1, 96}};
	for (size_t i = 0; i < CF_COUNT(big); i++) {
		struct cf_opts a = cf_opts_make(precision, (uint32_t)(i % 2), true);
		a.x_pad = 3;
		a.y_pad = 5;
		a.unaligned = i % 2 == 0;
		a.no_bias = i == 1 ? 2 : 0;
		a.threads = 2 + (uint32_t)(i % 2);
		if (!cf_check_problem(be, &big[i], &a, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "T = 1..1100 across 64/256/512/1024 with biases, strides, unaligned");
}

/* K above 4096: blocking, K tails and 16-bit counters. */
void cf_case_large_k(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {3, 4097, 2, 1, 16}, {2, 8192, 1, 1, 33}, {65, 5000, 2, 2, 24}, {1, 16411, 2, 2, 8},
	    {2, 65537, 1, 1, 8}, {4, 66001, 1, 1, 3}, {3, 100, 33, 3, 128}, {2, 64, 5, 5, 1000}};
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(sh); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), i % 2 == 0);
		o.threads = 2;
		o.x_pad = i % 3;
		if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "K = 4097 .. 66001, d_q = 4224 and 5000: within bound");
}

/* cf_check_problem with a batch budget of `threads` (the problem's is o->threads). */
static bool check_threads(const struct qkv_backend *be, const struct cf_shape *sh,
                          const struct cf_opts *o, uint32_t threads, uint64_t seed,
                          struct cf_report *r)
{
	bool ok = cf_check_problem_threads(be, sh, o, threads, seed, r);
	if (!ok) {
		size_t n = strlen(r->msg);
		snprintf(r->msg + n, sizeof(r->msg) - n, " (problem threads %u, batch threads %u)",
		         o->threads, threads);
	}
	return ok;
}

/* The sizes no other case reaches: T just below, at and above 2048 and above 4096
 * (row blocks and counters of 11 and 12 bits), d_q above 65535 (16-bit column or
 * panel counters; 4100 heads), and the largest thread budget, QKV_MAX_THREADS, with
 * fewer rows than threads (a fixed per-thread table, or rows divided by threads).
 * K and the widths stay small: the case is quick on any backend. */
void cf_case_edge_sizes(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	(void)precision;
	static const size_t Ts[] = {2047, 2048, 2049, 4097};
	static const struct cf_shape wide = {3, 5, 4100, 1, 16};
	static const struct cf_shape few[] = {{3, 33, 2, 1, 8}, {50, 17, 3, 3, 4}};
	struct cf_rng g = {seed};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		for (size_t i = 0; i < CF_COUNT(Ts); i++) {
			struct cf_shape sh = {Ts[i], 19 + 2 * (uint32_t)i, 2, 1 + (uint32_t)(i % 2),
			                      8};
			struct cf_opts o = cf_opts_make(p, (uint32_t)(i % 2), true);
			o.x_pad = 1 + i % 3;
			o.y_pad = 2 - i % 2;
			o.unaligned = i % 2 == 0;
			o.no_bias = i == 3 ? 2 : 0;
			o.threads = 1 + (uint32_t)(i % 3);
			if (!cf_check_problem(be, &sh, &o, cf_rng_next(&g), r))
				return;
		}
		for (uint32_t l = 0; l < 2; l++) {
			struct cf_opts o = cf_opts_make(p, l, l == 0);
			o.threads = 2;
			if (!cf_check_problem(be, &wide, &o, cf_rng_next(&g), r))
				return;
		}
		/* the problem's budget the largest too, then a smaller one (a table sized
		 * by the problem's threads and indexed by the call's) */
		for (size_t i = 0; i < CF_COUNT(few); i++) {
			struct cf_opts o = cf_opts_make(p, (uint32_t)(i % 2), true);
			o.threads = i == 0 ? QKV_MAX_THREADS : 3;
			if (!check_threads(be, &few[i], &o, QKV_MAX_THREADS, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "T = 2047, 2048, 2049, 4097; d_q = 65600; threads %d with T < threads: "
	         "within bound",
	         QKV_MAX_THREADS);
}
