/* Edge cases: non-finite weights and biases, sizes past 16-bit and 2^11 counters and
 * the largest thread budget, and weights at the alignment a mapped file gives. Each
 * case runs every precision the backend declares. */
#include <stdio.h>

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

static bool declared(const struct qkv_backend *be, int p)
{
	return (be->precisions & QKV_PRECISION_BIT(p)) != 0;
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
		if (!declared(be, p))
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
