/* Inputs of one problem, generated from a seed: weights, biases and X for each fill. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* An integer + 1/2 in [-126.5, 126.5], and +-127 at k == pivot: amax = 127 makes
 * 127/amax exactly 1, so every value is a rounding tie of the int8 quantization. */
static float tie_value(struct cf_rng *g, size_t k, size_t pivot)
{
	if (k == pivot)
		return (cf_rng_next(g) & 1) ? -127.0f : 127.0f;
	return (float)cf_rng_int(g, -127, 126) + 0.5f;
}

/* The int8 special vectors, kind by kind (a row of X or a column of W). */
static float int8_value(struct cf_rng *g, unsigned kind, size_t k, size_t pivot)
{
	switch (kind) {
	case 0: /* all zero */
		return 0.0f;
	case 1: /* subnormal amax */
		return cf_rng_unit(g) * 0x1p-130f;
	case 2: /* normal but amax < 2^-120: 127/amax would overflow */
		return cf_rng_unit(g) * 0x1p-124f;
	case 3: /* amax just above QKV_INT8_AMAX_MIN: quantized with a tiny scale */
		return k == pivot ? 0x1p-118f : cf_rng_unit(g) * 0x1p-119f;
	case 4: /* one non-zero element */
		return k == pivot ? cf_rng_unit(g) * 3.0f + 5.0f : 0.0f;
	case 5: /* rounding ties */
		return tie_value(g, k, pivot);
	case 6: /* large */
		return cf_rng_unit(g) * 0x1p50f;
	case 7: /* small */
		return cf_rng_unit(g) * 0x1p-20f;
	default:
		return cf_rng_unit(g);
	}
}

static float weight_value(const struct cf_setup *s, struct cf_rng *g, int p, size_t k, size_t n)
{
	switch (s->o.fill) {
	case CF_FILL_SEED:
		return seed_weight(p, k, n);
	case CF_FILL_INTEGER:
	case CF_FILL_TINY:
		if (k == n % s->sh.d_model)
			return (cf_rng_next(g) & 1) ? -127.0f : 127.0f;
		return (float)cf_rng_int(g, -127, 127);
	case CF_FILL_SATURATE:
		return sign_pattern(n, k, 0x5a5a + (uint64_t)p);
	case CF_FILL_WIDE_W:
	case CF_FILL_SPARSE:
		return (float)cf_rng_int(g, -4095, 4095);
	case CF_FILL_WIDE_X:
		return (float)cf_rng_int(g, -1, 1);
	case CF_FILL_INT8:
		return int8_value(g, (unsigned)((n + (size_t)p) % 9), k, n % s->sh.d_model);
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
	case CF_FILL_WIDE_W:
		return (float)cf_rng_int(g, -1, 1);
	case CF_FILL_SPARSE: /* about 3000 non-zeros a row; data_make caps them at 4000 */
		return cf_rng_next(g) % s->sh.d_model < 3000 ? (float)cf_rng_int(g, -1, 1) : 0.0f;
	case CF_FILL_WIDE_X:
		return (float)cf_rng_int(g, -4095, 4095);
	case CF_FILL_TINY:
		return (float)cf_rng_int(g, -127, 127) * 0x1p-140f;
	case CF_FILL_INT8:
		/* rows 0-8 of every 9: the kinds above (8 = ordinary, with the scales of
		 * columns ranging over 2^-20..2^50, and huge rows below) */
		if (t % 9 == 6)
			return cf_rng_unit(g) * 0x1p60f; /* huge row */
		return int8_value(g, (unsigned)(t % 9), k, t % s->sh.d_model);
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

/* CF_FILL_NONFINITE_W: three positions of K, and what sits there. */
static void nonfinite_ks(const struct cf_setup *s, size_t ks[3])
{
	ks[0] = 0;
	ks[1] = s->sh.d_model / 2;
	ks[2] = s->sh.d_model - 1;
}

/* W columns by n % 8: +Inf, -Inf, NaN, +Inf with -Inf at one of the three positions,
 * and exact zeros at the middle one (n % 8 >= 4), so that a zero X element meets an
 * infinite weight and an infinite X element a zero weight: 0 * Inf = NaN, which a
 * kernel that skips zero terms (sparsity) misses. Biases: NaN in the last column, +Inf
 * and -Inf in the two before it. K >= 3 keeps the positions apart. */
static void put_w_specials(struct cf_setup *s, int p, float *w, float *bias)
{
	size_t K = s->sh.d_model, N = s->width[p], ks[3];
	nonfinite_ks(s, ks);
	for (size_t n = 0; n < N; n++) {
		size_t c = n % 8;
		if (c == 0 || c == 3)
			w[cf_w_index(s->o.layout, ks[0], n, K, N)] = INFINITY;
		if (c == 1)
			w[cf_w_index(s->o.layout, ks[1], n, K, N)] = -INFINITY;
		if (c == 2)
			w[cf_w_index(s->o.layout, ks[2], n, K, N)] = NAN;
		if (c == 3)
			w[cf_w_index(s->o.layout, ks[2], n, K, N)] = -INFINITY;
		if (c >= 4)
			w[cf_w_index(s->o.layout, ks[1], n, K, N)] = 0.0f;
		if (c == 5)
			w[cf_w_index(s->o.layout, ks[0], n, K, N)] = 0.0f;
	}
	static const float tail[3] = {-INFINITY, INFINITY, NAN};
	for (size_t i = 0; bias && i < 3 && i < N; i++)
		bias[N - 1 - i] = tail[2 - i];
}

/* X rows by t % 8: ordinary; zeros at all three positions; +Inf at the middle one;
 * zero at the first; zero at the first and -Inf at the last; all zero; NaN at the
 * middle; zeros at the middle and the last. */
static void put_x_nonfinite(struct cf_setup *s)
{
	size_t ks[3];
	nonfinite_ks(s, ks);
	for (size_t t = 0; t < s->sh.T; t++) {
		float *x = s->x.p + t * s->x.ld; /* [K] */
		switch (t % 8) {
		case 1:
			x[ks[0]] = x[ks[1]] = x[ks[2]] = 0.0f;
			break;
		case 2:
			x[ks[1]] = INFINITY;
			break;
		case 3:
			x[ks[0]] = 0.0f;
			break;
		case 4:
			x[ks[0]] = 0.0f;
			x[ks[2]] = -INFINITY;
			break;
		case 5:
			for (size_t k = 0; k < s->sh.d_model; k++)
				x[k] = 0.0f;
			break;
		case 6:
			x[ks[1]] = NAN;
			break;
		case 7:
			x[ks[1]] = x[ks[2]] = 0.0f;
			break;
		default:
			break;
		}
	}
}

/* Weight-side arrays: malloc, or (w_paged) a mapping with the array against a
 * PROT_NONE page, made read-only by cf_data_protect. kind: 0 w, 1 bias, 2 w_i8, 3 scale. */
static void *walloc(struct cf_setup *s, int kind, int p, size_t bytes)
{
	if (s->o.w_misalign) { /* 4 mod 64 (int8: 1 mod 64), as at an offset in a file */
		char *raw = malloc(bytes + 128);
		if (!raw)
			return NULL;
		s->wraw[kind][p] = raw;
		uintptr_t a = ((uintptr_t)raw + 63) & ~(uintptr_t)63;
		return raw + (a - (uintptr_t)raw) + (kind == 2 ? 1 : 4);
	}
	if (!s->o.w_paged)
		return malloc(bytes ? bytes : 1);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (bytes + page - 1) / page;
	pages = pages ? pages : 1;
	size_t len = (pages + 2) * page;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m, page, PROT_NONE) != 0 ||
	    mprotect(m + (pages + 1) * page, page, PROT_NONE) != 0) {
		munmap(m, len);
		return NULL;
	}
	s->wmap[kind][p] = m;
	s->wmap_len[kind][p] = len;
	return s->o.w_paged == 1 ? m + page + pages * page - bytes : m + page;
}

void cf_data_wfree(struct cf_setup *s, int kind, int p, void *ptr)
{
	if (s->wmap[kind][p])
		munmap(s->wmap[kind][p], s->wmap_len[kind][p]);
	else if (s->wraw[kind][p])
		free(s->wraw[kind][p]);
	else
		free(ptr);
	s->wmap[kind][p] = NULL;
	s->wraw[kind][p] = NULL;
}

bool cf_data_protect(struct cf_setup *s)
{
	const void *arr[4][3];
	for (int p = 0; p < 3; p++) {
		arr[0][p] = s->w[p];
		arr[1][p] = s->bias[p];
		arr[2][p] = s->w_i8[p];
		arr[3][p] = s->w_scale[p];
		s->wbytes[0][p] = (size_t)s->sh.d_model * s->width[p] * sizeof(float);
		s->wbytes[1][p] = s->width[p] * sizeof(float);
		s->wbytes[2][p] = (size_t)s->sh.d_model * s->width[p];
		s->wbytes[3][p] = s->width[p] * sizeof(float);
	}
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (int kind = 0; kind < 4; kind++) {
		for (int p = 0; p < 3; p++) {
			if (!arr[kind][p])
				continue;
			s->wcopy[kind][p] = malloc(s->wbytes[kind][p] ? s->wbytes[kind][p] : 1);
			if (!s->wcopy[kind][p])
				return false;
			memcpy(s->wcopy[kind][p], arr[kind][p], s->wbytes[kind][p]);
			if (s->wmap[kind][p] &&
			    mprotect((char *)s->wmap[kind][p] + page,
			             s->wmap_len[kind][p] - 2 * page, PROT_READ) != 0)
				return false;
		}
	}
	return true;
}

static bool x_protect(struct cf_setup *s, int prot)
{
	if (!s->o.x_readonly || !s->x.map)
		return true;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return mprotect((char *)s->x.map + page, s->x.map_len - 2 * page, prot) == 0;
}

static void fill_x(struct cf_setup *s, struct cf_rng *g)
{
	size_t K = s->sh.d_model, T = s->sh.T;
	for (size_t t = 0; t < T; t++) {
		size_t nonzero = 0;
		for (size_t k = 0; k < K; k++) {
			float v = x_value(s, g, t, k);
			if (s->o.fill == CF_FILL_SPARSE && v != 0.0f && ++nonzero > 4000)
				v = 0.0f; /* sum |x*w| <= 4000*4095 < 2^24: still exact */
			s->x.p[t * s->x.ld + k] = v;
		}
	}
	if (s->o.fill == CF_FILL_SPECIAL)
		put_specials(s);
	if (s->o.fill == CF_FILL_NONFINITE_W)
		put_x_nonfinite(s);
	memcpy(s->x_copy, s->x.base, s->x.total * sizeof(float));
}

bool cf_data_make(struct cf_setup *s, uint64_t seed)
{
	struct cf_rng g = {seed};
	size_t K = s->sh.d_model, T = s->sh.T;
	for (int p = 0; p < 3; p++) {
		size_t N = s->width[p];
		bool has_bias = s->o.bias && !(s->o.no_bias & (1u << p));
		s->w[p] = walloc(s, 0, p, K * N * sizeof(float));
		s->bias[p] = has_bias ? walloc(s, 1, p, N * sizeof(float)) : NULL;
		if (!s->w[p] || (has_bias && !s->bias[p]))
			return false;
		for (size_t k = 0; k < K; k++)
			for (size_t n = 0; n < N; n++)
				s->w[p][cf_w_index(s->o.layout, k, n, K, N)] =
				    weight_value(s, &g, p, k, n);
		for (size_t n = 0; has_bias && n < N; n++) {
			float b = cf_rng_unit(&g);
			if (s->o.fill == CF_FILL_INTEGER || s->o.fill == CF_FILL_WIDE_W ||
			    s->o.fill == CF_FILL_WIDE_X || s->o.fill == CF_FILL_SPARSE)
				b = (float)cf_rng_int(&g, -8, 8);
			else if (s->o.fill == CF_FILL_TINY)
				b = (float)cf_rng_int(&g, -8, 8) * 0x1p-140f;
			s->bias[p][n] = b;
		}
		if (s->o.fill == CF_FILL_NONFINITE_W)
			put_w_specials(s, p, s->w[p], s->bias[p]);
	}
	bool got = s->o.x_paged
	               ? cf_gbuf_alloc_paged(&s->x, T, K, K + s->o.x_pad, s->o.x_paged == 1)
	               : cf_gbuf_alloc(&s->x, T, K, K + s->o.x_pad, s->o.unaligned);
	if (!got)
		return false;
	s->x_copy = malloc(s->x.total * sizeof(float));
	if (!s->x_copy)
		return false;
	fill_x(s, &g);
	return x_protect(s, PROT_READ);
}

bool cf_data_refill_x(struct cf_setup *s, uint64_t seed)
{
	struct cf_rng g = {seed};
	if (!x_protect(s, PROT_READ | PROT_WRITE))
		return false;
	fill_x(s, &g);
	return x_protect(s, PROT_READ);
}

bool cf_data_prequantize(struct cf_setup *s)
{
	size_t K = s->sh.d_model;
	float *col = malloc(K * sizeof(float)); /* [K] one column of W */
	int8_t *q = malloc(K);
	bool ok = col && q;
	for (int p = 0; ok && p < 3; p++) {
		size_t N = s->width[p];
		s->w_i8[p] = walloc(s, 2, p, K * N);
		s->w_scale[p] = walloc(s, 3, p, N * sizeof(float));
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
