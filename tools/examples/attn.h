/* The attention block of the example: shapes, weights, the f32 block that runs after
 * qkv's projections, and the float64 reference of the whole block. */
#ifndef QKV_EXAMPLES_ATTN_H
#define QKV_EXAMPLES_ATTN_H

#include <stddef.h>
#include <stdint.h>

struct attn_shape {
	size_t d_model, n_heads, n_kv_heads, head_dim;
	size_t d_q, d_kv; /* n_heads * head_dim, n_kv_heads * head_dim */
};

/* What the runtime holds for one layer. */
struct attn_weights {
	uint32_t layout;   /* enum qkv_layout of w[] */
	const float *w[3]; /* Wq [d_model x d_q], Wk, Wv [d_model x d_kv], read through layout */
	const float *b[3]; /* [d_q], [d_kv], [d_kv], or NULL */
	const float *wo;   /* output projection [d_q x d_model], row-major (in_out) */
};

/* Causal grouped-query attention for the T query rows at positions t0 .. t0+T-1; keys
 * and values are read from cache rows 0 .. t (query head h uses kv head
 * h / (n_heads / n_kv_heads)).
 *   q  [T x d_q]          row stride ldq
 *   kc, vc [t0+T x d_kv]  row stride ldc (the KV cache qkv wrote into)
 *   o  [T x d_q]          row stride ldo (heads concatenated)
 *   p  [t0+T]             scratch for one row of probabilities */
void attn_heads(const struct attn_shape *s, size_t t0, size_t T, const float *q, size_t ldq,
                const float *kc, const float *vc, size_t ldc, float *o, size_t ldo, float *p);

/* y [T x d_model] = o [T x d_q] (row stride ldo) . wo [d_q x d_model] */
void attn_out(const struct attn_shape *s, size_t T, const float *o, size_t ldo, const float *wo,
              float *y);

/* The whole block for T tokens x [T x d_model] in float64 from the same f32 inputs:
 * y [T x d_model]. bound [T x d_model] is a first-order worst-case bound on
 * |f32 result - y| for a backend computing `precision` (enum qkv_precision) followed
 * by attn_heads and attn_out in f32; see attn_ref.c for its derivation.
 * Returns 0, or -1 when out of memory. */
int attn_ref(const struct attn_shape *s, const struct attn_weights *w, uint32_t precision, size_t T,
             const float *x, double *y, double *bound);

#endif
