/* Independent float64 references and their per-element error bounds.
 *
 * f32 and bf16: ref = sum_k x[k]*w[k] (+ b) in float64 (bf16: w rounded with
 * qkv_bf16_round first). Any f32 summation order (blocked, pairwise, FMA) satisfies
 *     |got - ref| <= c*(K+1)*u*(sum_k |x[k]*w[k]| + |b|) + 2^-120,  c = 2, u = 2^-24
 * (Higham's gamma_K bound doubled for safety; K+1 counts the bias addition; the
 * absolute term only matters for subnormal results).
 *
 * int8: ref8 is the exact scheme of <qkv/precision.h> with the same f32
 * scales (qkv_int8_quantize), the int32 sum computed exactly in int64, then
 * acc*sx*sw + b in float64. A backend's f32 rescale rounds at most 4 times:
 *     |got - ref8| <= 8*u*(|acc*sx*sw| + |b|) + 2^-120          (about 4 ulps)
 * Against the float64 f32 reference, with x = sx*qx + ex, |ex| <= sx/2 (same for w):
 *     x.w - sx*sw*qx.qw = sum ex*w + sx*qx*ew, so
 *     |err| <= 1.01*(sx/2*sum|w| + sw/2*sum|x| + K*sx*sw/4) + 8u*sum|x*w| + bound8
 * (1.01 and 8u cover the f32 rounding of scales and of v*127/amax.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>
#include "conform_data.h"

#define REF_ROWS 4 /* rows of X per pass over W */

/* ref[t*N + n] = X.W (+b) in float64 and mag = sum |x*w| + |b|, for weights wr.
 * Loops run along W's rows in either layout, so large K x N stay quick, and take
 * REF_ROWS rows of X per pass over W (W is read T / REF_ROWS times, and the rows' sums
 * are independent chains). Each element is still summed over k in ascending order, the
 * same bits as one row at a time. */
static void dot_ref(const struct cf_setup *s, int p, const float *wr, double *ref, double *mag)
{
	size_t K = s->sh.d_model, N = s->width[p], T = s->sh.T;
	for (size_t t0 = 0; t0 < T; t0 += REF_ROWS) {
		size_t rows = T - t0 < REF_ROWS ? T - t0 : REF_ROWS;
		const float *x[REF_ROWS];          /* [rows][K] */
		double *y[REF_ROWS], *m[REF_ROWS]; /* [rows][N] */
		for (size_t j = 0; j < REF_ROWS; j++) {
			size_t t = t0 + (j < rows ? j : 0); /* past the end: row t0 again, unused */
			x[j] = s->x.p + t * s->x.ld;
			y[j] = ref + t * N;
			m[j] = mag + t * N;
		}
		if (s->o.layout == QKV_LAYOUT_IN_OUT) {
			for (size_t j = 0; j < rows; j++)
				for (size_t n = 0; n < N; n++)
					y[j][n] = m[j][n] = 0;
			for (size_t k = 0; k < K; k++) {
				const float *wk = wr + k * N; /* row k of W: [N] */
				for (size_t j = 0; j < rows; j++) {
					double xk = x[j][k];
					for (size_t n = 0; n < N; n++) {
						double prod = xk * wk[n];
						y[j][n] += prod;
						m[j][n] += fabs(prod);
					}
				}
			}
		} else {
			for (size_t n = 0; n < N; n++) {
				const float *wn = wr + n * K; /* column n of W: [K] */
				double acc[REF_ROWS] = {0}, a[REF_ROWS] = {0};
				if (rows == REF_ROWS) {
					for (size_t k = 0; k < K; k++)
						for (size_t j = 0; j < REF_ROWS; j++) {
							double prod = (double)x[j][k] * wn[k];
							acc[j] += prod;
							a[j] += fabs(prod);
						}
				} else {
					for (size_t j = 0; j < rows; j++)
						for (size_t k = 0; k < K; k++) {
							double prod = (double)x[j][k] * wn[k];
							acc[j] += prod;
							a[j] += fabs(prod);
						}
				}
				for (size_t j = 0; j < rows; j++) {
					y[j][n] = acc[j];
					m[j][n] = a[j];
				}
			}
		}
		for (size_t j = 0; j < rows; j++)
			for (size_t n = 0; n < N; n++) {
				double b = s->bias[p] ? s->bias[p][n] : 0.0;
				y[j][n] += b;
				m[j][n] += fabs(b);
			}
	}
}

/* The exact int8 reference for projection p; bound[] grows by the int8-vs-f32 term. */
static bool int8_ref(struct cf_setup *s, int p)
{
	size_t K = s->sh.d_model, N = s->width[p], T = s->sh.T;
	int8_t *qw = malloc(K * N), *qx = malloc(K); /* [N x K] column-major, [K] */
	float *col = malloc(K * sizeof(float));
	float *sw = malloc(N * sizeof(float));
	double *sumw = malloc(N * sizeof(double));
	bool ok = qw && qx && col && sw && sumw;
	for (size_t n = 0; ok && n < N; n++) {
		sumw[n] = 0;
		for (size_t k = 0; k < K; k++) {
			col[k] = s->w[p][cf_w_index(s->o.layout, k, n, K, N)];
			sumw[n] += fabs(col[k]);
		}
		sw[n] = qkv_int8_quantize(col, K, qw + n * K);
	}
	for (size_t t = 0; ok && t < T; t++) {
		const float *x = s->x.p + t * s->x.ld;
		float sx = qkv_int8_quantize(x, K, qx);
		double sumx = 0;
		for (size_t k = 0; k < K; k++)
			sumx += fabs(x[k]);
		for (size_t n = 0; n < N; n++) {
			int64_t acc = 0;
			for (size_t k = 0; k < K; k++)
				acc += (int64_t)qx[k] * qw[n * K + k];
			double b = s->bias[p] ? s->bias[p][n] : 0.0;
			double y = (double)acc * sx * sw[n];
			size_t i = t * N + n;
			s->ref8[p][i] = isnan(sx) ? NAN : y + b;
			s->bound8[p][i] = 8 * CF_U * (fabs(y) + fabs(b)) + CF_TINY;
			/* bound[] holds c*(K+1)*u*mag here: add the quantization term */
			double mag = s->bound[p][i] / (CF_C * (double)(K + 1) * CF_U);
			s->bound[p][i] += 1.01 * (0.5 * sx * sumw[n] + 0.5 * sw[n] * sumx +
			                          0.25 * (double)K * sx * sw[n]) +
			                  8 * CF_U * mag + s->bound8[p][i];
			/* amax below QKV_INT8_AMAX_MIN: the row or column counts as zero */
			if (sx == 0 || sw[n] == 0)
				s->bound[p][i] += mag;
		}
	}
	free(qw);
	free(qx);
	free(col);
	free(sw);
	free(sumw);
	return ok;
}

bool cf_ref_make(struct cf_setup *s)
{
	size_t K = s->sh.d_model, T = s->sh.T;
	for (int p = 0; p < 3; p++) {
		size_t N = s->width[p], cnt = T * N > 0 ? T * N : 1;
		s->ref[p] = malloc(cnt * sizeof(double));
		s->bound[p] = malloc(cnt * sizeof(double));
		if (!s->ref[p] || !s->bound[p])
			return false;
		const float *wr = s->w[p];
		float *rounded = NULL;
		if (s->o.precision == QKV_BF16) {
			rounded = malloc(K * N * sizeof(float));
			if (!rounded)
				return false;
			for (size_t i = 0; i < K * N; i++)
				rounded[i] = qkv_bf16_round(s->w[p][i]);
			wr = rounded;
		}
		dot_ref(s, p, wr, s->ref[p], s->bound[p]);
		free(rounded);
		for (size_t i = 0; i < T * N; i++)
			s->bound[p][i] = CF_C * (double)(K + 1) * CF_U * s->bound[p][i] + CF_TINY;
		if (s->o.precision == QKV_INT8) {
			s->ref8[p] = malloc(cnt * sizeof(double));
			s->bound8[p] = malloc(cnt * sizeof(double));
			if (!s->ref8[p] || !s->bound8[p] || !int8_ref(s, p))
				return false;
		}
	}
	return true;
}
