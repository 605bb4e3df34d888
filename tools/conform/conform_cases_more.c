/* Cases of issue 13: sizes where backends switch code paths, int8 special values,
 * tight accuracy, and memory protection. */
#include <stdio.h>
#include <string.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct cf_opts base(int precision, uint32_t layout, bool bias)
{
	return (struct cf_opts){.precision = (uint32_t)precision,
	                        .layout = layout,
	                        .threads = 1,
	                        .bias = bias,
	                        .fill = CF_FILL_RANDOM};
}

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
	for (size_t i = 0; i < COUNT(Ts); i++) {
		struct cf_shape sh = {Ts[i], Ks[i % COUNT(Ks)], 3, 1 + (uint32_t)(i % 3),
		                      hds[i % COUNT(hds)]};
		if (sh.n_heads % sh.n_kv_heads)
			sh.n_kv_heads = 1;
		struct cf_opts a = base(precision, QKV_LAYOUT_IN_OUT, true);
		a.x_pad = 1 + i % 5;
		a.y_pad = 1 + i % 3;
		a.unaligned = true;
		a.threads = 1 + (uint32_t)(i % 3);
		struct cf_opts b = base(precision, QKV_LAYOUT_OUT_IN, true);
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
	for (size_t i = 0; i < COUNT(big); i++) {
		struct cf_opts a = base(precision, (uint32_t)(i % 2), true);
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
	for (size_t i = 0; i < COUNT(sh); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), i % 2 == 0);
		o.threads = 2;
		o.x_pad = i % 3;
		if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "K = 4097 .. 66001, d_q = 4224 and 5000: within bound");
}

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
		for (size_t i = 0; i < COUNT(dense); i++) {
			struct cf_opts o =
			    base(precision, (uint32_t)((i + (size_t)fill) % 2), true);
			o.fill = fill ? CF_FILL_WIDE_X : CF_FILL_WIDE_W;
			o.exact = true;
			o.threads = 1 + (uint32_t)(i % 2);
			if (!cf_check_problem(be, &dense[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	for (size_t i = 0; i < COUNT(sparse); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
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
	for (size_t i = 0; i < COUNT(sh); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
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
	for (size_t i = 0; i < COUNT(sh); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
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
	for (size_t i = 0; i < COUNT(sh); i++) {
		for (int pre = 0; pre < 2; pre++) {
			/* without biases too: an output that should be exactly 0 (a row or
			 * column counted as zero) shows any value a backend puts there */
			struct cf_opts o = base(precision, (uint32_t)((i + (size_t)pre) % 2), pre);
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

/* ---- memory protection ---------------------------------------------------------- */

static const struct cf_shape mem_shapes[] = {
    {7, 33, 2, 2, 9}, {1, 1, 1, 1, 3}, {70, 100, 4, 2, 8}, {3, 257, 3, 3, 5}};

/* X in read-only pages during every call: a backend writing into X (even to restore
 * it afterwards) faults. */
void cf_case_x_readonly(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < COUNT(mem_shapes); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
		o.x_paged = 1 + (int)(i % 2);
		o.x_readonly = true;
		o.x_pad = i % 2;
		o.threads = 1 + (uint32_t)(i % 2);
		if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "X read-only during project: not written");
}

/* The same X pointer with new contents between calls: a backend caching anything
 * keyed by the X pointer (quantized rows, results) gives stale outputs. */
void cf_case_x_refill(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < COUNT(mem_shapes); i++) {
		struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
		o.x_paged = 1;
		o.x_readonly = true;
		o.threads = 1 + (uint32_t)(i % 2);
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &mem_shapes[i], &o, cf_rng_next(&g), r))
			return;
		bool ok = true;
		for (int call = 0; ok && call < 3; call++) {
			struct cf_out out;
			if (call > 0)
				ok = cf_setup_refill_x(&s, cf_rng_next(&g), r);
			if (ok && (ok = cf_out_alloc(&out, &s, s.sh.T, r))) {
				ok = cf_call(&s, 0, s.sh.T, &out, o.threads, r) &&
				     cf_check_guards(&s, &out, r) &&
				     cf_check_values(&s, 0, &out, r);
				cf_out_free(&out);
			}
			if (!ok && call > 0) {
				size_t n = strlen(r->msg);
				snprintf(r->msg + n, sizeof(r->msg) - n,
				         " (call %d, after X was refilled in place: stale data "
				         "cached by X's address?)",
				         call + 1);
			}
		}
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "X refilled in place between calls: fresh results");
}

/* Weights, biases and int8 scales read-only, each array against a PROT_NONE page
 * (after it, then before it): a write into them or a read past them faults; they
 * are also compared with copies after prepare and after every call. */
void cf_case_w_readonly(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < COUNT(mem_shapes); i++) {
		for (int place = 1; place <= 2; place++) {
			struct cf_opts o =
			    base(precision, (uint32_t)((i + (size_t)place) % 2), true);
			o.w_paged = place;
			o.prequantized = precision == QKV_INT8 && place == 2;
			o.threads = 2;
			if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg), "weights read-only between guard pages: unchanged");
}

/* Each output's rows against a PROT_NONE page (the last row ends at it, then the first
 * starts at it): a read-modify-write or vector load past the rows faults, even one
 * that writes back what it read. */
void cf_case_out_pages(const struct qkv_backend *be, int precision, uint64_t seed,
                       struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < COUNT(mem_shapes); i++) {
		for (int place = 1; place <= 2; place++) {
			struct cf_opts o = base(precision, (uint32_t)(i % 2), true);
			o.y_paged = place;
			o.y_pad = i % 2 ? 3 : 0;
			o.threads = 1 + (uint32_t)(i % 2);
			if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg), "no access outside the output rows (guard pages)");
}
