/* int8 vs f32 accuracy report for `qkv quantize`. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/plugin.h>

#include <qkv/precision.h>
#include "quantize_report.h"

static uint64_t next_u64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double uniform(uint64_t *s)
{
	return ((next_u64(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static void gaussian_fill(float *x, size_t n, uint64_t seed)
{
	uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull; /* xorshift state must be non-zero */
	for (size_t i = 0; i < n; i += 2) {
		double r = sqrt(-2.0 * log(uniform(&s))), a = 6.283185307179586 * uniform(&s);
		x[i] = (float)(r * cos(a));
		if (i + 1 < n)
			x[i + 1] = (float)(r * sin(a));
	}
}

/* The int8 outputs of one projection: y8 [T x d_out]. */
static void project_int8(const struct quant_proj *p, size_t K, uint32_t layout, size_t T,
                         const int8_t *xq, const float *xs, float *y8, int32_t *acc)
{
	size_t d_out = p->d_out;
	for (size_t t = 0; t < T; t++) {
		const int8_t *x = xq + t * K; /* [K] */
		if (layout == QKV_LAYOUT_IN_OUT) {
			memset(acc, 0, d_out * sizeof(*acc)); /* acc: [d_out] */
			for (size_t k = 0; k < K; k++)
				for (size_t n = 0; n < d_out; n++)
					acc[n] += (int32_t)x[k] * p->qw[k * d_out + n];
		} else {
			for (size_t n = 0; n < d_out; n++) {
				int32_t a = 0;
				for (size_t k = 0; k < K; k++)
					a += (int32_t)x[k] * p->qw[n * K + k];
				acc[n] = a;
			}
		}
		for (size_t n = 0; n < d_out; n++)
			y8[t * d_out + n] = qkv_int8_dequant(acc[n], xs[t], p->scale[n],
			                                     p->bias ? p->bias[n] : 0.0f);
	}
}

/* sum_k |W[k][n]| of every column: colabs [d_out] */
static void column_abs_sums(const struct quant_proj *p, size_t K, uint32_t layout, double *colabs)
{
	memset(colabs, 0, p->d_out * sizeof(*colabs));
	if (layout == QKV_LAYOUT_IN_OUT) { /* rows of W are contiguous */
		for (size_t k = 0; k < K; k++)
			for (size_t n = 0; n < p->d_out; n++)
				colabs[n] += fabs((double)p->w[k * p->d_out + n]);
	} else { /* columns of W are contiguous */
		for (size_t n = 0; n < p->d_out; n++)
			for (size_t k = 0; k < K; k++)
				colabs[n] += fabs((double)p->w[n * K + k]);
	}
}

/* The worst case of the scheme: each operand is off by at most half a step (dx = sx/2,
 * dw = sw/2), so |y8 - y| <= dw sum|x| + dx sum|w| + K dx dw (f32 rounding aside). */
static void compare(const struct quant_proj *p, size_t K, size_t T, const double *rowabs,
                    const double *colabs, const float *xs, const float *y8, const float *y,
                    struct quant_error *e)
{
	double se = 0, sr = 0;
	memset(e, 0, sizeof(*e));
	for (size_t t = 0; t < T; t++)
		for (size_t n = 0; n < p->d_out; n++) {
			double d = fabs((double)y8[t * p->d_out + n] - y[t * p->d_out + n]);
			double r = fabs((double)y[t * p->d_out + n]);
			double dx = xs[t] / 2.0, dw = p->scale[n] / 2.0;
			double b = dw * rowabs[t] + dx * colabs[n] + (double)K * dx * dw;
			e->max_abs = d > e->max_abs ? d : e->max_abs;
			e->max_ref = r > e->max_ref ? r : e->max_ref;
			if (b > 0 && d / b > e->bound_use)
				e->bound_use = d / b;
			se += d * d;
			sr += r * r;
		}
	e->max_rel = e->max_ref > 0 ? e->max_abs / e->max_ref : 0;
	e->nmse = sr > 0 ? se / sr : 0;
}

int quant_report(const struct quant_proj proj[3], size_t K, uint32_t layout, size_t T,
                 uint64_t seed, struct quant_error err[3])
{
	size_t wide = proj[QKV_Q].d_out > proj[QKV_K].d_out ? proj[QKV_Q].d_out : proj[QKV_K].d_out;
	float *x = calloc(T * K, sizeof(float));        /* [T x K] */
	int8_t *xq = malloc(T * K);                     /* [T x K] */
	float *xs = malloc(T * sizeof(float));          /* [T] */
	float *y = malloc(T * wide * sizeof(float));    /* [T x d_out] f32 */
	float *y8 = malloc(T * wide * sizeof(float));   /* [T x d_out] int8 */
	int32_t *acc = malloc(wide * sizeof(int32_t));  /* [d_out] */
	double *rowabs = malloc(T * sizeof(double));    /* [T]: sum_k |x[t][k]| */
	double *colabs = malloc(wide * sizeof(double)); /* [d_out]: sum_k |W[k][n]| */
	int rc = -1;
	if (!x || !xq || !xs || !y || !y8 || !acc || !rowabs || !colabs)
		goto out;
	gaussian_fill(x, T * K, seed);
	for (size_t t = 0; t < T; t++) {
		xs[t] = qkv_int8_quantize(x + t * K, K, xq + t * K);
		rowabs[t] = 0;
		for (size_t k = 0; k < K; k++)
			rowabs[t] += fabs((double)x[t * K + k]);
	}
	for (int p = 0; p < 3; p++) {
		const struct quant_proj *pr = &proj[p];
		int n = (int)pr->d_out;
		cblas_sgemm(CblasRowMajor, CblasNoTrans,
		            layout == QKV_LAYOUT_IN_OUT ? CblasNoTrans : CblasTrans, (int)T, n,
		            (int)K, 1.0f, x, (int)K, pr->w,
		            layout == QKV_LAYOUT_IN_OUT ? n : (int)K, 0.0f, y, n);
		for (size_t t = 0; pr->bias && t < T; t++)
			for (size_t j = 0; j < pr->d_out; j++)
				y[t * pr->d_out + j] += pr->bias[j];
		project_int8(pr, K, layout, T, xq, xs, y8, acc);
		column_abs_sums(pr, K, layout, colabs);
		compare(pr, K, T, rowabs, colabs, xs, y8, y, &err[p]);
	}
	rc = 0;
out:
	free(x);
	free(xq);
	free(xs);
	free(y);
	free(y8);
	free(acc);
	free(rowabs);
	free(colabs);
	return rc;
}
