/* Inputs of one problem, generated from a seed: weights, biases and X for each fill. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conform_data.h"
#include <qkv/precision.h>
#include "conform_rng.h"

size_t cf_w_index(uint32_t layout, size_t k, size_t n, size_t d_model, size_t d_out)
{
	return layout == QKV_LAYOUT_IN_OUT ? k * d_out + n : n * d_model + k;
}

/* A +-1 pattern of (i, j) with runs, alternations and pseudo-random bits. */
static float sign_pattern(size_t i, size_t j, uint64_t salt)
{
	switch (i) {
	case 0:
		return 1.0f;
	case 1:
		return -1.0f;
	case 2:
		return (j & 1) ? -1.0f : 1.0f;
	case 3:
		return ((j / 3) & 1) ? -1.0f : 1.0f;
	default: {
		struct cf_rng g = {salt ^ (i * 0x9e3779b97f4a7c15ull) ^ j};
		return (cf_rng_next(&g) & 1) ? -1.0f : 1.0f;
	}
	}
}

/* W[p](k, n) for the seed example: Wq = W, Wk = 2W, Wv = -W with W = [[1,10],[0,-1]]. */
static float seed_weight(int p, size_t k, size_t n)
{
	static const float w[2][2] = {{1, 10}, {0, -1}};
	float f = p == QKV_Q ? 1.0f : p == QKV_K ? 2.0f : -1.0f;
	return f * w[k][n];
}

static float weight_value(const struct cf_setup *s, struct cf_rng *g, int p, size_t k, size_t n)
{
	switch (s->o.fill) {
	case CF_FILL_SEED:
		return seed_weight(p, k, n);
	case CF_FILL_INTEGER:
		if (k == n % s->sh.d_model)
			return (cf_rng_next(g) & 1) ? -127.0f : 127.0f;
		return (float)cf_rng_int(g, -127, 127);
	case CF_FILL_SATURATE:
		return sign_pattern(n, k, 0x5a5a + (uint64_t)p);
	default:
		return cf_rng_unit(g);
	}
}

static float x_value(const struct cf_setup *s, struct cf_rng *g, size_t t, size_t k)
{
	switch (s->o.fill) {
	case CF_FILL_SEED:
		return k == 0 ? 2.0f : 3.0f;
	case CF_FILL_INTEGER:
		if (k == t % s->sh.d_model)
			return (cf_rng_next(g) & 1) ? -127.0f : 127.0f;
		return (float)cf_rng_int(g, -127, 127);
	case CF_FILL_SATURATE:
		return sign_pattern(t, k, 0xa5a5);
	default:
		return cf_rng_unit(g);
	}
}

/* Rows 0-3 of X get NaN, +Inf, -Inf, and +Inf with -Inf; the rest stay finite. */
static void put_specials(struct cf_setup *s)
{
	size_t K = s->sh.d_model, ld = s->x.ld;
	float *x = s->x.p;
	if (s->sh.T > 0)
		x[0 * ld + 0] = NAN;
	if (s->sh.T > 1)
		x[1 * ld + K / 2] = INFINITY;
	if (s->sh.T > 2)
		x[2 * ld + K - 1] = -INFINITY;
	if (s->sh.T > 3) {
		x[3 * ld + 0] = INFINITY;
		x[3 * ld + K - 1] = -INFINITY;
	}
}

bool cf_data_make(struct cf_setup *s, uint64_t seed)
{
	struct cf_rng g = {seed};
	size_t K = s->sh.d_model, T = s->sh.T;
	for (int p = 0; p < 3; p++) {
		size_t N = s->width[p];
		s->w[p] = malloc(K * N * sizeof(float));
		s->bias[p] = s->o.bias ? malloc(N * sizeof(float)) : NULL;
		if (!s->w[p] || (s->o.bias && !s->bias[p]))
			return false;
		for (size_t k = 0; k < K; k++)
			for (size_t n = 0; n < N; n++)
				s->w[p][cf_w_index(s->o.layout, k, n, K, N)] =
				    weight_value(s, &g, p, k, n);
		for (size_t n = 0; s->o.bias && n < N; n++)
			s->bias[p][n] = s->o.fill == CF_FILL_INTEGER ? (float)cf_rng_int(&g, -8, 8)
			                                             : cf_rng_unit(&g);
	}
	bool got = s->o.x_paged
	               ? cf_gbuf_alloc_paged(&s->x, T, K, K + s->o.x_pad, s->o.x_paged == 1)
	               : cf_gbuf_alloc(&s->x, T, K, K + s->o.x_pad, s->o.unaligned);
	if (!got)
		return false;
	for (size_t t = 0; t < T; t++)
		for (size_t k = 0; k < K; k++)
			s->x.p[t * s->x.ld + k] = x_value(s, &g, t, k);
	if (s->o.fill == CF_FILL_SPECIAL)
		put_specials(s);
	s->x_copy = malloc(s->x.total * sizeof(float));
	if (!s->x_copy)
		return false;
	memcpy(s->x_copy, s->x.base, s->x.total * sizeof(float));
	return true;
}

bool cf_data_prequantize(struct cf_setup *s)
{
	size_t K = s->sh.d_model;
	float *col = malloc(K * sizeof(float)); /* [K] one column of W */
	int8_t *q = malloc(K);
	bool ok = col && q;
	for (int p = 0; ok && p < 3; p++) {
		size_t N = s->width[p];
		s->w_i8[p] = malloc(K * N);
		s->w_scale[p] = malloc(N * sizeof(float));
		ok = s->w_i8[p] && s->w_scale[p];
		for (size_t n = 0; ok && n < N; n++) {
			for (size_t k = 0; k < K; k++)
				col[k] = s->w[p][cf_w_index(s->o.layout, k, n, K, N)];
			s->w_scale[p][n] = qkv_int8_quantize(col, K, q);
			for (size_t k = 0; k < K; k++)
				s->w_i8[p][cf_w_index(s->o.layout, k, n, K, N)] = q[k];
		}
	}
	free(col);
	free(q);
	return ok;
}
