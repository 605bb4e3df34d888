#include "bench_shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct bench_shape presets[] = {
    /* name        d_model heads kv  head_dim */
    {"gpt2-small", 768, 12, 12, 64, 0, 0, 0, 0, false},
    {"llama2-7b", 4096, 32, 32, 128, 0, 0, 0, 0, false},
    {"llama3-8b", 4096, 32, 8, 128, 0, 0, 0, 0, false}, /* GQA: 8 KV heads */
    {"tiny", 64, 4, 2, 16, 0, 0, 0, 0, false},          /* for tests: runs in microseconds */
};

void bench_shape_finish(struct bench_shape *s)
{
	s->d_q = s->n_heads * s->head_dim;
	s->d_kv = s->n_kv_heads * s->head_dim;
	s->n = s->d_q + 2 * s->d_kv;
}

bool bench_shape_preset(const char *name, struct bench_shape *s)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, name)) {
			*s = presets[i];
			bench_shape_finish(s);
			return true;
		}
	return false;
}

const char *bench_shape_preset_names(void)
{
	return "gpt2-small, llama2-7b, llama3-8b, tiny";
}

void bench_fill_random(float *a, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a[i] = (float)(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
	}
}

bool bench_weights_make(const struct bench_shape *s, unsigned layout, struct bench_weights *w)
{
	memset(w, 0, sizeof(*w));
	size_t k = s->d_model, n = s->n;
	size_t width[3] = {s->d_q, s->d_kv, s->d_kv}, first[3] = {0, s->d_q, s->d_q + s->d_kv};
	w->fused = malloc(k * n * sizeof(float));
	for (int p = 0; p < 3; p++)
		w->w[p] = malloc(k * width[p] * sizeof(float));
	if (!w->fused || !w->w[0] || !w->w[1] || !w->w[2]) {
		bench_weights_free(w);
		return false;
	}
	/* Uniform in [-1, 1): sums over K in the thousands stay far from overflow. */
	bench_fill_random(w->fused, k * n, 42);
	for (int p = 0; p < 3; p++)
		for (size_t r = 0; r < k; r++) {
			const float *src = w->fused + r * n + first[p]; /* [width] of row r */
			if (layout == 0)                                /* in_out */
				memcpy(w->w[p] + r * width[p], src, width[p] * sizeof(float));
			else
				for (size_t c = 0; c < width[p]; c++)
					w->w[p][c * k + r] = src[c];
		}
	return true;
}

void bench_weights_free(struct bench_weights *w)
{
	free(w->fused);
	for (int p = 0; p < 3; p++)
		free(w->w[p]);
	memset(w, 0, sizeof(*w));
}
