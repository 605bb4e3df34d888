/* Accuracy of the int8 scheme against f32 for one model, on random Gaussian inputs. */
#ifndef QKV_TOOL_QUANTIZE_REPORT_H
#define QKV_TOOL_QUANTIZE_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* One projection's weights in both forms, in the same `layout`. */
struct quant_proj {
	const float *w;     /* f32 [d_model x d_out] through layout */
	const int8_t *qw;   /* int8, same shape and layout */
	const float *scale; /* [d_out] */
	const float *bias;  /* [d_out] or NULL */
	size_t d_out;
};

struct quant_error {
	double max_abs;   /* max |y_int8 - y_f32| */
	double max_ref;   /* max |y_f32| */
	double max_rel;   /* max_abs / max_ref: error relative to the output's scale */
	double nmse;      /* sum (y_int8 - y_f32)^2 / sum y_f32^2 */
	double bound_use; /* max over elements of |error| / worst-case bound (README); <= 1 */
};

/* Project T rows of Gaussian X (xorshift64* seeded with `seed`, Box-Muller, mean 0,
 * variance 1) through f32 (cblas_sgemm) and through the int8 scheme of precision.h;
 * fill err[3]. Returns 0, or -1 when out of memory. */
int quant_report(const struct quant_proj proj[3], size_t d_model, uint32_t layout, size_t T,
                 uint64_t seed, struct quant_error err[3]);

#endif
