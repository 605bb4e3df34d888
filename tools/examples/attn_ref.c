/* Float64 reference of the attention block and a bound on the error of the f32 path.
 *
 * The reference computes everything in double from the operands the precision defines
 * (docs/DESIGN.md "Precision"): the f32 weights for f32; the weights rounded to bf16 for
 * bf16; for int8 each X row and each W column quantized to [-127, 127] with its f32
 * scale, multiplied exactly. Quantizing is re-implemented here from the spec, not taken
 * from <qkv/precision.h>, so a bug there shows up. Beside every value v* it
 * carries a first-order worst-case bound e on |v~ - v*|, where v~ is what the backend
 * and then attn_heads/attn_out compute in f32 (u = 2^-24, g(n) = n*u / (1 - n*u),
 * K = d_model):
 *
 *   projection, f32 and bf16 (mag = sum_k |x_k||w_k| + |b|, w as rounded):
 *     e = g(K+1) * mag                                (any summation order, FMA or not)
 *   projection, int8 (acc = sum_k qx_k qw_k exact, y = acc*sx*sw + b):
 *     e = g(5) * (|acc| sx sw + |b|)                   (three f32 roundings, any order)
 *   score s = q.k / sqrt(hd):
 *     e_s = [sum(|q| e_k + e_q |k| + e_q e_k) + g(hd+3) sum (|q|+e_q)(|k|+e_k)] / sqrt(hd)
 *   softmax over keys 0..t, E = max_j e_s: the exact softmax of perturbed scores moves
 *     each p_j by at most p_j * expm1(2E); f32 exp/sum/divide add g(t+6) + 2u*R relative
 *     (R = largest |s_j - max s| + 2E): rel = a + b + a*b of those two.
 *   head output o = sum_j p_j v_j:
 *     e_o = sum_j p_j [rel (|v_j| + e_v) + e_v] + g(t+2) (1 + rel) sum_j p_j (|v_j| + e_v)
 *   block output y = o . Wo:  e_y = sum_i e_o_i |wo_i| + g(d_q) sum_i (|o_i| + e_o_i) |wo_i|
 *
 * The returned bound is 1.1 * e_y: the factor covers the second-order terms dropped
 * above. Worst-case bounds like these sit two to three orders of magnitude above the
 * errors seen in practice (the example prints the ratio), so a result outside it is a
 * bug, not bad luck. How far bf16/int8 move the block from the f32 weights is a
 * property of the scheme, not of a backend; the example prints it for information. */
#include <math.h>
#include <stdlib.h>

#include <qkv/plugin.h>

#include "attn.h"

static const double U = 0x1p-24;

static double gam(double n)
{
	return n * U / (1.0 - n * U);
}

static double w_at(const struct attn_weights *w, int p, size_t k, size_t n, size_t d_model,
                   size_t d_out)
{
	return w->layout == QKV_LAYOUT_IN_OUT ? w->w[p][k * d_out + n] : w->w[p][n * d_model + k];
}

/* bf16(w): nearest value with 8 significant bits, ties to even (normal numbers). */
static double bf16(double w)
{
	int e;
	double m = frexp(w, &e); /* w = m 2^e, 0.5 <= |m| < 1 */
	return ldexp(nearbyint(ldexp(m, 8)), e - 8);
}

/* docs/DESIGN.md's int8 quantization of n values (f32 arithmetic, as specified): q [n] in
 * [-127, 127] as doubles; returns the scale. */
static float quantize(const float *v, size_t n, double *q)
{
	float amax = 0.0f;
	for (size_t i = 0; i < n; i++)
		amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
	if (amax == 0.0f) {
		for (size_t i = 0; i < n; i++)
			q[i] = 0.0;
		return 0.0f;
	}
	float inv = 127.0f / amax;
	for (size_t i = 0; i < n; i++)
		q[i] = fmin(127.0, fmax(-127.0, nearbyintf(v[i] * inv)));
	return amax / 127.0f;
}

/* One projection p for all T rows: ref [T x d_out] and its bound err [T x d_out].
 * col, qx, qw: scratch [K] each. */
static void ref_project(const struct attn_shape *s, const struct attn_weights *w, int p,
                        uint32_t precision, size_t T, const float *x, double *ref, double *err,
                        float *col, double *qx, double *qw)
{
	size_t K = s->d_model, d_out = p == QKV_Q ? s->d_q : s->d_kv;
	for (size_t t = 0; t < T; t++) {
		const float *xt = x + t * K; /* [K] */
		float sx = quantize(xt, K, qx);
		for (size_t n = 0; n < d_out; n++) {
			double b = w->b[p] ? w->b[p][n] : 0.0;
			double acc = 0.0, mag = 0.0;
			if (precision == QKV_INT8) {
				for (size_t k = 0; k < K; k++)
					col[k] = (float)w_at(w, p, k, n, K, d_out);
				float sw = quantize(col, K, qw);
				for (size_t k = 0; k < K; k++)
					acc += qx[k] * qw[k]; /* exact: integers below 2^53 */
				ref[t * d_out + n] = acc * sx * sw + b;
				err[t * d_out + n] = gam(5) * (fabs(acc) * sx * sw + fabs(b));
				continue;
			}
			for (size_t k = 0; k < K; k++) {
				double wk = w_at(w, p, k, n, K, d_out);
				wk = precision == QKV_BF16 ? bf16(wk) : wk;
				acc += xt[k] * wk;
				mag += fabs(xt[k] * wk);
			}
			ref[t * d_out + n] = acc + b;
			err[t * d_out + n] = gam((double)K + 1) * (mag + fabs(b));
		}
	}
}

struct proj {
	double *v[3], *e[3]; /* reference and bound: Q [T x d_q], K, V [T x d_kv] */
};

/* Head h of query row t: o [hd] and its bound eo [hd]; sr, se scratch [t+1]. */
static void ref_head(const struct attn_shape *s, const struct proj *pr, size_t t, size_t h,
                     double *sr, double *se, double *o, double *eo)
{
	size_t hd = s->head_dim, kv = (h / (s->n_heads / s->n_kv_heads)) * hd;
	const double *q = pr->v[QKV_Q] + t * s->d_q + h * hd,
	             *eq = pr->e[QKV_Q] + t * s->d_q + h * hd;
	double rs = 1.0 / sqrt((double)hd), m = -INFINITY, E = 0.0;
	for (size_t j = 0; j <= t; j++) {
		const double *k = pr->v[QKV_K] + j * s->d_kv + kv,
		             *ek = pr->e[QKV_K] + j * s->d_kv + kv;
		double dot = 0.0, lin = 0.0, mag = 0.0;
		for (size_t i = 0; i < hd; i++) {
			dot += q[i] * k[i];
			lin += fabs(q[i]) * ek[i] + eq[i] * fabs(k[i]) + eq[i] * ek[i];
			mag += (fabs(q[i]) + eq[i]) * (fabs(k[i]) + ek[i]);
		}
		sr[j] = dot * rs;
		se[j] = (lin + gam((double)hd + 3) * mag) * rs;
		m = fmax(m, sr[j]);
		E = fmax(E, se[j]);
	}
	double sum = 0.0, R = 0.0;
	for (size_t j = 0; j <= t; j++) {
		R = fmax(R, m - sr[j]);
		sr[j] = exp(sr[j] - m);
		sum += sr[j];
	}
	double a = expm1(2.0 * E), b = gam((double)t + 6) + 2.0 * U * (R + 2.0 * E);
	double rel = a + b + a * b;
	for (size_t i = 0; i < hd; i++) {
		double acc = 0.0, lin = 0.0, mag = 0.0;
		for (size_t j = 0; j <= t; j++) {
			double pj = sr[j] / sum;
			double v = pr->v[QKV_V][j * s->d_kv + kv + i];
			double ev = pr->e[QKV_V][j * s->d_kv + kv + i];
			acc += pj * v;
			lin += pj * (rel * (fabs(v) + ev) + ev);
			mag += pj * (fabs(v) + ev);
		}
		o[i] = acc;
		eo[i] = lin + gam((double)t + 2) * (1.0 + rel) * mag;
	}
}

int attn_ref(const struct attn_shape *s, const struct attn_weights *w, uint32_t precision, size_t T,
             const float *x, double *y, double *bound)
{
	struct proj pr = {0};
	double *sr = malloc(2 * T * sizeof(double));           /* scores, then bounds: [2T] */
	double *o = malloc(2 * s->d_q * sizeof(double));       /* one row of o, then eo: [2 d_q] */
	double *qxw = malloc(2 * s->d_model * sizeof(double)); /* quantized x row, w column */
	float *col = malloc(s->d_model * sizeof(float));       /* one W column */
	int rc = sr && o && qxw && col ? 0 : -1;
	for (int p = 0; p < 3 && rc == 0; p++) {
		size_t n = T * (p == QKV_Q ? s->d_q : s->d_kv);
		pr.v[p] = malloc(n * sizeof(double));
		pr.e[p] = malloc(n * sizeof(double));
		if (!pr.v[p] || !pr.e[p])
			rc = -1;
		else
			ref_project(s, w, p, precision, T, x, pr.v[p], pr.e[p], col, qxw,
			            qxw + s->d_model);
	}
	for (size_t t = 0; t < T && rc == 0; t++) {
		double *eo = o + s->d_q;
		for (size_t h = 0; h < s->n_heads; h++)
			ref_head(s, &pr, t, h, sr, sr + T, o + h * s->head_dim,
			         eo + h * s->head_dim);
		for (size_t c = 0; c < s->d_model; c++) {
			double acc = 0.0, lin = 0.0, mag = 0.0;
			for (size_t i = 0; i < s->d_q; i++) {
				double wo = fabs((double)w->wo[i * s->d_model + c]);
				acc += o[i] * w->wo[i * s->d_model + c];
				lin += eo[i] * wo;
				mag += (fabs(o[i]) + eo[i]) * wo;
			}
			y[t * s->d_model + c] = acc;
			bound[t * s->d_model + c] = 1.1 * (lin + gam((double)s->d_q) * mag);
		}
	}
	for (int p = 0; p < 3; p++) {
		free(pr.v[p]);
		free(pr.e[p]);
	}
	free(sr);
	free(o);
	free(qxw);
	free(col);
	return rc;
}
