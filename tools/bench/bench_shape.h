/* Shapes `qkv bench` and `qkv tune` measure: presets of real models, and the random
 * weights (fixed seed) that stand in for a preset's tensors. */
#ifndef QKV_TOOL_BENCH_SHAPE_H
#define QKV_TOOL_BENCH_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_shape {
	char name[64];
	uint32_t d_model, n_heads, n_kv_heads, head_dim;
	uint32_t d_q, d_kv, n; /* n = d_q + 2*d_kv */
	double stored_bytes;   /* precision stored: the weights' bytes in their own types (from
	                        * qkv_model_info.wbytes of the opened config); 0 = not known */
	bool stored_integer;   /* precision stored: every type computes with integer dot products
	                        * (block types): its rows' %peak is of the int8 peak */
};

/* Fill `s` from a preset name (gpt2-small, llama2-7b, llama3-8b, tiny); false if unknown. */
bool bench_shape_preset(const char *name, struct bench_shape *s);

/* Fill d_q, d_kv, n from the four dimensions. */
void bench_shape_finish(struct bench_shape *s);

/* Comma-separated preset names, for --help and messages. */
const char *bench_shape_preset_names(void);

/* Random weights for a shape: one fused W [d_model x n] for the reference GEMM, and
 * Wq, Wk, Wv holding the same columns in `layout` (enum qkv_layout): in_out
 * [d_model x d_out] or out_in [d_out x d_model], as Hugging Face files store them. */
struct bench_weights {
	float *fused; /* [d_model x n] */
	float *w[3];
};
bool bench_weights_make(const struct bench_shape *s, unsigned layout, struct bench_weights *w);
void bench_weights_free(struct bench_weights *w);

/* Fill a[n] with uniform values in [-1, 1) from a xorshift generator seeded by seed. */
void bench_fill_random(float *a, size_t n, uint64_t seed);

#endif
