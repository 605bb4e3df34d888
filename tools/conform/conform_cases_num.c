/* Numeric cases: shapes, layouts, biases, strides, guards, special values. */
#include <stdio.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

void cf_case_seed_example(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)seed;
	static const struct cf_shape sh = {1, 2, 1, 1, 2};
	struct cf_opts o = cf_opts_make(precision, 0, false);
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
	struct cf_opts o = cf_opts_make(precision, 0, true);
	o.fill = CF_FILL_INTEGER;
	o.exact = true; /* int8 too: amax = 127 makes every scale exactly 1 */
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "%zu shapes x 2 layouts bit for bit",
		         CF_COUNT(sh));
}

void cf_case_random_sizes(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {1, 1, 1, 1, 1},      {2, 3, 1, 1, 5},      {7, 31, 3, 3, 7},      {64, 64, 4, 4, 16},
	    {257, 127, 2, 2, 13}, {1, 4096, 8, 8, 128}, {2, 2053, 1, 1, 1021}, {7, 1000, 3, 3, 67},
	    {64, 509, 5, 5, 64},  {257, 256, 4, 4, 64}, {3, 17, 1, 1, 1031},
	};
	struct cf_opts o = cf_opts_make(precision, 0, false);
	o.threads = 2;
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "%zu shapes x 2 layouts within bound",
		         CF_COUNT(sh));
}

void cf_case_layouts(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	/* the same logical W (same seed) in both layouts: both must match one reference */
	static const struct cf_shape sh = {7, 97, 2, 2, 24};
	for (uint32_t l = 0; l < 2; l++) {
		struct cf_opts o = cf_opts_make(precision, l, true);
		if (!cf_check_problem(be, &sh, &o, seed, r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "in_out and out_in within bound of one reference");
}

void cf_case_gqa(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {
	    {7, 96, 8, 2, 16}, {5, 64, 4, 1, 16}, {3, 50, 6, 3, 7}};
	if (cf_check_shapes(be, sh, CF_COUNT(sh), cf_opts_make(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "GQA 8/2, MQA 4/1, 6/3 within bound");
}

void cf_case_bias(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 65, 3, 3, 11}, {1, 513, 2, 1, 64}};
	if (cf_check_shapes(be, sh, CF_COUNT(sh), cf_opts_make(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "biases added in %zu shapes x 2 layouts",
		         CF_COUNT(sh));
}

void cf_case_strides(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 9}, {64, 100, 4, 2, 8}};
	struct cf_opts o = cf_opts_make(precision, 0, true);
	o.x_pad = 5;
	o.y_pad = 3;
	o.unaligned = true;
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "ldx = K+5, ld = width+3, pointers 4 bytes off");
}

void cf_case_guard_bytes(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sh[] = {{3, 10, 1, 1, 5}, {1, 7, 3, 1, 3}, {257, 20, 1, 1, 9}};
	struct cf_opts o = cf_opts_make(precision, 0, false);
	struct cf_rng g = {seed};
	for (int u = 0; u < 2; u++) {
		o.unaligned = u;
		if (!cf_check_shapes(be, sh, CF_COUNT(sh), o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "%d guard floats around every output untouched", CF_GUARD);
}

void cf_case_t_zero(const struct qkv_backend *be, int precision, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh[] = {{0, 16, 2, 1, 4}};
	if (cf_check_shapes(be, sh, CF_COUNT(sh), cf_opts_make(precision, 0, true), seed, r))
		snprintf(r->msg, sizeof(r->msg), "T = 0: OK, nothing written");
}

void cf_case_nan_inf(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 5}, {5, 300, 2, 1, 16}};
	struct cf_opts o = cf_opts_make(precision, 0, true);
	o.fill = CF_FILL_SPECIAL;
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "NaN, +Inf, -Inf rows match float64");
}

/* W holds +Inf, -Inf, NaN and exact zeros at three positions of K, X rows hold exact
 * zeros, Inf and NaN at the same positions, and three bias columns are -Inf, +Inf,
 * NaN (conform_data.c, CF_FILL_NONFINITE_W). Against float64: 0 * Inf = NaN must
 * show, so a kernel that skips zero activations or zero weights (sparsity), or a zero
 * row, gives a finite value where NaN is wanted; every row of a NaN or Inf bias column
 * is NaN or Inf. int8: the scheme's column scale is NaN for a non-finite amax
 * (qkv_int8_quantize), so such a column is NaN in every row; pre-quantized too (the
 * NaN scale given as w_scale). */
void cf_case_nonfinite_weights(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	(void)precision;
	/* T >= 8 reaches every kind of row; T = 3 the small-T paths (rows 0-2) */
	static const struct cf_shape sh[] = {
	    {8, 5, 2, 2, 8}, {3, 64, 2, 1, 16}, {24, 67, 4, 2, 16}, {70, 257, 2, 2, 40}};
	struct cf_rng g = {seed};
	int runs = 0;
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		for (size_t i = 0; i < CF_COUNT(sh); i++) {
			for (uint32_t l = 0; l < 2; l++) {
				struct cf_opts o =
				    cf_opts_make(p, (uint32_t)((i + l) % 2), i != 1 || l);
				o.fill = CF_FILL_NONFINITE_W;
				o.threads = 1 + (uint32_t)(i % 2);
				o.prequantized = p == QKV_INT8 && l == 1;
				if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
					return;
				runs++;
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d problems: +-Inf, NaN, zeros in W against zeros, Inf, NaN in X, NaN/Inf "
	         "biases: as float64 (int8: NaN columns)",
	         runs);
}

void cf_case_int8_saturation(const struct qkv_backend *be, int precision, uint64_t seed,
                             struct cf_report *r)
{
	static const struct cf_shape sh[] = {{4, 4096, 1, 1, 16}, {6, 3001, 2, 2, 8}};
	struct cf_opts o = cf_opts_make(precision, 0, false);
	o.fill = CF_FILL_SATURATE;
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg),
		         "all +-127 products, K up to 4096: exact int8 sums");
}

void cf_case_int8_prequantized(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	static const struct cf_shape sh[] = {{7, 96, 4, 2, 16}, {64, 1000, 2, 2, 64}};
	struct cf_opts o = cf_opts_make(precision, 0, true);
	o.prequantized = true;
	if (cf_check_shapes(be, sh, CF_COUNT(sh), o, seed, r))
		snprintf(r->msg, sizeof(r->msg), "w_i8 + w_scale with w = NULL, both layouts");
}
