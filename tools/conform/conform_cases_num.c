/* Numeric cases: shapes, layouts, biases, strides, guards, special values. */
#include <stdio.h>

#include "conform_list.h"
#include "conform_int.h"
#include "conform_rng.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct cf_opts opts(int precision, uint32_t layout, bool bias)
{
	return (struct cf_opts){.precision = (uint32_t)precision,
	                        .layout = layout,
	                        .threads = 1,
	                        .bias = bias,
	                        .fill = CF_FILL_RANDOM};
}

/* Run every shape in both layouts with `o` as a template; each problem gets its own
 * seed from the case seed. */
static bool run_shapes(const struct qkv_backend *be, const struct cf_shape *sh, size_t n,
                       struct cf_opts o, uint64_t seed, struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < n; i++) {
		for (uint32_t l = 0; l < 2; l++) {
			o.layout = (uint32_t)((i + l) % 2);
			if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
				return false;
		}
	}
	return true;
}

void cf_case_seed_example(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)seed;
	static const struct cf_shape sh = {1, 2, 1, 1, 2};
	struct cf_opts o = opts(precision, 0, false);
	o.fill = CF_FILL_SEED;
	o.exact = precision != QKV_INT8; /* int8 rounds 3*127/3.. : checked against its bound */
	for (uint32_t l = 0; l < 2; l++) {
		o.layout = l;
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, 0, r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, 1, r) && cf_call(&s, 0, 1, &out, 1, r) &&
		          cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
		/* the literal numbers of docs/DESIGN.md, independent of the reference code */
		if (ok && o.exact && (out.y[0].p[0] != 2.0f || out.y[0].p[1] != 17.0f))
			ok = cf_fail(r, "%s: q = (%g, %g), want (2, 17)", s.desc, out.y[0].p[0],
			             out.y[0].p[1]);
		cf_out_free(&out);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "(2,17), (4,34), (-2,-17) in both layouts");
}

void cf_case_exact_integers(const struct qkv_backend *be, int precision, uint64_t seed,
                            struct cf_report *r)
{
	/* K*127*127 + 8 < 2^24: every partial sum is exact in f32 in any order */
	static const struct cf_shape sh[] = {{7, 257, 3, 3, 11}, {2, 1000, 2, 1, 40}};
	struct cf_opts o = opts(precision, 0, true);
	o.fill = CF_FILL_INTEGER;
	o.exact = true; /* int8 too: amax = 127 makes every scale exactly 1 */
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "%zu shapes x 2 layouts bit for bit", COUNT(sh));
}

void cf_case_random_sizes(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {1, 1, 1, 1, 1},      {2, 3, 1, 1, 5},      {7, 31, 3, 3, 7},      {64, 64, 4, 4, 16},
	    {257, 127, 2, 2, 13}, {1, 4096, 8, 8, 128}, {2, 2053, 1, 1, 1021}, {7, 1000, 3, 3, 67},
	    {64, 509, 5, 5, 64},  {257, 256, 4, 4, 64}, {3, 17, 1, 1, 1031},
	};
	struct cf_opts o = opts(precision, 0, false);
	o.threads = 2;
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "%zu shapes x 2 layouts within bound", COUNT(sh));
}

void cf_case_layouts(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	/* the same logical W (same seed) in both layouts: both must match one reference */
	static const struct cf_shape sh = {7, 97, 2, 2, 24};
	for (uint32_t l = 0; l < 2; l++) {
		struct cf_opts o = opts(precision, l, true);
		if (!cf_check_problem(be, &sh, &o, seed, r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "in_out and out_in within bound of one reference");
}

void cf_case_gqa(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {7, 96, 8, 2, 16}, {5, 64, 4, 1, 16}, {3, 50, 6, 3, 7}};
	if (run_shapes(be, sh, COUNT(sh), opts(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "GQA 8/2, MQA 4/1, 6/3 within bound");
}

void cf_case_bias(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 65, 3, 3, 11}, {1, 513, 2, 1, 64}};
	if (run_shapes(be, sh, COUNT(sh), opts(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "biases added in %zu shapes x 2 layouts",
		         COUNT(sh));
}

void cf_case_strides(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 9}, {64, 100, 4, 2, 8}};
	struct cf_opts o = opts(precision, 0, true);
	o.x_pad = 5;
	o.y_pad = 3;
	o.unaligned = true;
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "ldx = K+5, ld = width+3, pointers 4 bytes off");
}

void cf_case_guard_bytes(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sh[] = {{3, 10, 1, 1, 5}, {1, 7, 3, 1, 3}, {257, 20, 1, 1, 9}};
	struct cf_opts o = opts(precision, 0, false);
	struct cf_rng g = {seed};
	for (int u = 0; u < 2; u++) {
		o.unaligned = u;
		if (!run_shapes(be, sh, COUNT(sh), o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "%d guard floats around every output untouched", CF_GUARD);
}

void cf_case_t_zero(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {{0, 16, 2, 1, 4}};
	if (run_shapes(be, sh, COUNT(sh), opts(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "T = 0: OK, nothing written");
}

void cf_case_nan_inf(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 5}, {5, 300, 2, 1, 16}};
	struct cf_opts o = opts(precision, 0, true);
	o.fill = CF_FILL_SPECIAL;
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "NaN, +Inf, -Inf rows match float64");
}

void cf_case_int8_saturation(const struct qkv_backend *be, int precision, uint64_t seed,
                             struct cf_report *r)
{
	static const struct cf_shape sh[] = {{4, 4096, 1, 1, 16}, {6, 3001, 2, 2, 8}};
	struct cf_opts o = opts(precision, 0, false);
	o.fill = CF_FILL_SATURATE;
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg),
		         "all +-127 products, K up to 4096: exact int8 sums");
}

void cf_case_int8_prequantized(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 96, 4, 2, 16}, {64, 1000, 2, 2, 64}};
	struct cf_opts o = opts(precision, 0, true);
	o.prequantized = true;
	if (run_shapes(be, sh, COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "w_i8 + w_scale with w = NULL, both layouts");
}

void cf_case_x_bounds(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	/* odd K: a vector loop that over-reads the last row's tail touches the page */
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 9}, {1, 1, 1, 1, 3}, {64, 100, 4, 2, 8}};
	struct cf_opts o = opts(precision, 0, true);
	struct cf_rng g = {seed};
	for (int placement = 1; placement <= 2; placement++) {
		o.x_paged = placement;
		if (!run_shapes(be, sh, COUNT(sh), o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "no read outside X (PROT_NONE pages on both sides)");
}
