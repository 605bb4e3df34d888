/* `qkv run --check ROWS`: the first rows of Q, K and V against a float64 product of the
 * weights as the config loads them, within the f32 bound of the README,
 * |err| <= 2 (K + 1) u (sum |x w| + |b|), u = 2^-24. It checks the backend's arithmetic on
 * the real weights; it cannot check the layout (the reference reads the weights through
 * the same config: configs/README.md "Checking the layout" says how). */
#include <math.h>
#include <stdio.h>

#include <qkv/qkv.h>

#include "commands.h"

/* Element (k, j) of a [K x d_out] matrix stored in `layout`. */
static double w_at(const float *w, uint32_t layout, size_t K, size_t d_out, size_t k, size_t j)
{
	return layout == QKV_LAYOUT_IN_OUT ? w[k * d_out + j] : w[j * K + k];
}

int run_check(const char *config, const struct qkv_open_options *o,
              const struct qkv_model_info *info, const float *x, size_t rows, float *const out[3])
{
	if (info->precision != QKV_F32 || info->shard_world > 1) {
		fprintf(stderr,
		        "qkv run: --check compares f32 models without a shard (this one: %s%s)\n",
		        info->precision == QKV_F32 ? "f32" : "not f32",
		        info->shard_world > 1 ? ", sharded" : "");
		return QKV_EXIT_ERROR;
	}
	char err[1024];
	qkv_checkpoint *ck = NULL;
	enum qkv_status st =
	    o->layer_set
	        ? qkv_checkpoint_open_layer(config, o->layer, QKV_CHECKPOINT_WEIGHTS, &ck, err,
	                                    sizeof(err))
	        : qkv_checkpoint_open(config, QKV_CHECKPOINT_WEIGHTS, &ck, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv run: --check: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct qkv_checkpoint_info c = QKV_CHECKPOINT_INFO_INIT;
	qkv_checkpoint_get_info(ck, &c);
	size_t K = c.d_model, worst_t = 0, worst_j = 0;
	unsigned worst_p = 0;
	double worst = 0, worst_ref = 0;
	for (unsigned p = 0; p < 3; p++) {
		size_t d_out = p ? c.d_kv : c.d_q;
		for (size_t t = 0; t < rows; t++)
			for (size_t j = 0; j < d_out; j++) {
				double ref = c.bias[p] ? c.bias[p][j] : 0.0, mag = fabs(ref);
				for (size_t k = 0; k < K; k++) {
					double v = (double)x[t * K + k] *
					           w_at(c.w[p], c.layout, K, d_out, k, j);
					ref += v;
					mag += fabs(v);
				}
				double bound = 2.0 * (double)(K + 1) * 0x1p-24 * mag;
				double e = fabs((double)out[p][t * d_out + j] - ref);
				double r = bound > 0 ? e / bound : e > 0 ? INFINITY : 0;
				if (!(r <= worst)) { /* NaN counts as the worst */
					worst = r, worst_p = p, worst_t = t, worst_j = j,
					worst_ref = ref;
					if (isnan(r))
						worst = INFINITY;
				}
			}
	}
	int rc = worst <= 1.0 ? QKV_EXIT_OK : QKV_EXIT_ERROR;
	size_t d_out = worst_p ? c.d_kv : c.d_q;
	printf("check: %zu row(s) of q, k, v against a float64 reference of the config's weights: "
	       "worst |err| / bound %.3g (%s[%zu][%zu] = %.9g, reference %.9g): %s\n",
	       rows, worst, qkv_proj_name(worst_p), worst_t, worst_j,
	       (double)out[worst_p][worst_t * d_out + worst_j], worst_ref,
	       rc ? "OUTSIDE the f32 bound" : "within the f32 bound");
	qkv_checkpoint_close(ck);
	return rc;
}
