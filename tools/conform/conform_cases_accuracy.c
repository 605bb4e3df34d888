/* Accuracy beyond the worst-case bound: exact 12-bit integer data (no bf16/f16
 * rounding), the statistical bound, subnormal X (no FTZ/DAZ), and int8's special rows and
 * columns against the exact scheme. */
#include <stdio.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* Exact integer data whose values need 12 significant bits (bf16 keeps 8, f16 11):
 * every partial sum is an integer below 2^24, so any f32 order is exact and the
 * result must match bit for bit; a kernel that rounds W, X, products or sums to
 * bf16/f16 cannot. K up to 4096 dense, and to 65537 with sparse X. */
void cf_case_exact_wide(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	static const struct cf_shape dense[] = {
	    {5, 257, 2, 2, 16}, {70, 1000, 2, 1, 40}, {3, 4096, 1, 1, 24}, {1, 2048, 4, 4, 8}};
	static const struct cf_shape sparse[] = {{2, 16411, 1, 1, 16}, {3, 65537, 1, 1, 4}};
	struct cf_rng g = {seed};
	for (int fill = 0; fill < 2; fill++) {
		for (size_t i = 0; i < CF_COUNT(dense); i++) {
			struct cf_opts o =
			    cf_opts_make(precision, (uint32_t)((i + (size_t)fill) % 2), true);
			o.fill = fill ? CF_FILL_WIDE_X : CF_FILL_WIDE_W;
			o.exact = true;
			o.threads = 1 + (uint32_t)(i % 2);
			if (!cf_check_problem(be, &dense[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	for (size_t i = 0; i < CF_COUNT(sparse); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
		o.fill = CF_FILL_SPARSE;
		o.exact = true;
		if (!cf_check_problem(be, &sparse[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "12-bit integers, K up to 65537: bit for bit (no bf16/f16 rounding)");
}

/* Random data against float64 with a statistical bound: under the standard model of
 * rounding errors (independent, mean zero, |delta| <= u) the error of any summation
 * order of K products has variance <= u^2*(2K+2)*(sum|x*w| + |b|)^2, so the mean of
 * z^2 = (err / (u*sqrt(2K+2)*m))^2 is <= 1 for a correct f32 kernel (measured:
 * <= 3.3e-4 on the in-tree backends). A kernel with bf16 operands makes z^2 about (2^15/K)^2, f16
 * (2^12/K)^2: K = 256 .. 1024 sees f16, up to 4096 bf16. */
void cf_case_accuracy(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	static const struct cf_shape sh[] = {{16, 256, 4, 4, 32},
	                                     {9, 1024, 2, 2, 64},
	                                     {70, 1024, 2, 1, 32},
	                                     {4, 4096, 2, 2, 64},
	                                     {1, 1000, 8, 8, 16}};
	struct cf_rng g = {seed};
	double ms = 0;
	for (size_t i = 0; i < CF_COUNT(sh); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
		o.threads = 1 + (uint32_t)(i % 2);
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh[i], &o, cf_rng_next(&g), r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, sh[i].T, r);
		if (ok) {
			ok = cf_call(&s, 0, sh[i].T, &out, o.threads, r) &&
			     cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r) &&
			     cf_check_stat(&s, &out, &ms, r);
			cf_out_free(&out);
		}
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "statistical check: largest mean z^2 %.2g of 1 allowed; worst-case bound too", ms);
}

/* Subnormal X (integers * 2^-140) times integer W: exact in f32, so bit for bit; a
 * kernel running with FTZ/DAZ flushes them. (Every call also checks that project
 * leaves the caller's rounding mode and FTZ/DAZ bits as it found them.) */
void cf_case_subnormal(const struct qkv_backend *be, int precision, uint64_t seed,
                       struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 5}, {70, 300, 2, 1, 16}};
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(sh); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
		o.fill = CF_FILL_TINY;
		o.exact = true;
		o.threads = 2;
		if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "subnormal X exact; FP environment untouched");
}

/* int8: zero columns and rows, subnormal and tiny-normal amax (counted as zero),
 * amax just above QKV_INT8_AMAX_MIN, one non-zero element, rounding ties, and
 * magnitudes 2^-20 .. 2^60, against the exact scheme. */
void cf_case_int8_special(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {9, 40, 3, 3, 6}, {18, 257, 3, 1, 12}, {70, 1000, 2, 2, 24}, {27, 17, 9, 9, 1}};
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(sh); i++) {
		for (int pre = 0; pre < 2; pre++) {
			/* without biases too: an output that should be exactly 0 (a row or
			 * column counted as zero) shows any value a backend puts there */
			struct cf_opts o =
			    cf_opts_make(precision, (uint32_t)((i + (size_t)pre) % 2), pre);
			o.fill = CF_FILL_INT8;
			o.prequantized = pre;
			o.threads = 1 + (uint32_t)(i % 2);
			if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "zero / subnormal / tiny / huge rows and columns, ties: exact scheme");
}
