/* Edge cases: non-finite weights and biases, sizes past 16-bit and 2^11 counters and
 * the largest thread budget, and weights at the alignment a mapped file gives. Each
 * case runs every precision the backend declares. */
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct cf_opts edge_opts(int precision, uint32_t layout, bool bias)
{
	return (struct cf_opts){.precision = (uint32_t)precision,
	                        .layout = layout,
	                        .threads = 1,
	                        .bias = bias,
	                        .fill = CF_FILL_RANDOM};
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
		for (size_t i = 0; i < COUNT(sh); i++) {
			for (uint32_t l = 0; l < 2; l++) {
				struct cf_opts o =
				    edge_opts(p, (uint32_t)((i + l) % 2), i != 1 || l);
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
		for (size_t i = 0; i < COUNT(Ts); i++) {
			struct cf_shape sh = {Ts[i], 19 + 2 * (uint32_t)i, 2, 1 + (uint32_t)(i % 2),
			                      8};
			struct cf_opts o = edge_opts(p, (uint32_t)(i % 2), true);
			o.x_pad = 1 + i % 3;
			o.y_pad = 2 - i % 2;
			o.unaligned = i % 2 == 0;
			o.no_bias = i == 3 ? 2 : 0;
			o.threads = 1 + (uint32_t)(i % 3);
			if (!cf_check_problem(be, &sh, &o, cf_rng_next(&g), r))
				return;
		}
		for (uint32_t l = 0; l < 2; l++) {
			struct cf_opts o = edge_opts(p, l, l == 0);
			o.threads = 2;
			if (!cf_check_problem(be, &wide, &o, cf_rng_next(&g), r))
				return;
		}
		/* the problem's budget the largest too, then a smaller one (a table sized
		 * by the problem's threads and indexed by the call's) */
		for (size_t i = 0; i < COUNT(few); i++) {
			struct cf_opts o = edge_opts(p, (uint32_t)(i % 2), true);
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

/* Weights used in place from a mapped safetensors or GGUF file are only as aligned as
 * their offset in the file: w, bias and w_scale start at 4 mod 64 here, w_i8 at an
 * odd address. A kernel that loads them with aligned vector loads faults (x86) or
 * reads the wrong elements. Both layouts, biases, and pre-quantized int8; widths and
 * K that are multiples of 8 and 16 too, where a vector path is most likely. */
void cf_case_misaligned_weights(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh[] = {
	    {7, 64, 2, 2, 16}, {70, 96, 4, 2, 32}, {5, 33, 3, 3, 8}, {3, 17, 2, 1, 5}};
	struct cf_rng g = {seed};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		for (size_t i = 0; i < COUNT(sh); i++) {
			for (uint32_t l = 0; l < 2; l++) {
				struct cf_opts o = edge_opts(p, l, true);
				o.w_misalign = true;
				o.no_bias = i == 3 ? 4 : 0;
				o.prequantized = p == QKV_INT8 && (i + l) % 2 == 1;
				o.threads = 1 + (uint32_t)(i % 2);
				if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
					return;
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "weights, biases, scales at 4 mod 64, w_i8 odd, both layouts: within bound");
}
