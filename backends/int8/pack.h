/* Quantize and repack: W once at prepare, X rows at every call (kernel.h layouts). */
#ifndef QKV_INT8_PACK_H
#define QKV_INT8_PACK_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

#include "kernel.h"

/* The projection that fused column n (< d_q + 2 d_kv) belongs to; *first gets that
 * projection's first fused column. */
static inline int int8_fused_proj(const struct qkv_problem *pb, size_t n, size_t *first)
{
	int p = n < pb->d_q ? QKV_Q : (n < (size_t)pb->d_q + pb->d_kv ? QKV_K : QKV_V);
	*first = p == QKV_Q ? 0 : pb->d_q + (p == QKV_V ? (size_t)pb->d_kv : 0);
	return p;
}

/* Fused weights of q|k|v, packed for one kernel (its nr): column n of the fused [d_model x N]
 * matrix is column n of Wq for n < d_q, then Wk, then Wv (N = d_q + 2 d_kv). */
struct int8_weights {
	size_t k;            /* d_model */
	size_t kg;           /* ceil(d_model / 4): k groups, the last zero-padded */
	size_t n;            /* N */
	size_t nr;           /* columns per panel: the kernel's */
	size_t n_panels;     /* ceil(N / nr) */
	int8_t *panels;      /* [n_panels][kg][nr][4], zero past k and past N (qkv_big_alloc) */
	size_t panels_bytes; /* its size, for qkv_big_free */
	int32_t *comp;       /* [n_panels * nr]: -128 * column sum, wrapped (kernel.h) */
	float *scale;        /* [n_panels * nr]: per-column scale, 0 past N */
	float *bias;         /* [n_panels * nr]: bias or +0.0f (what the reference adds) */
};

/* Build `out` from f32 weights (quantized per column with qkv_int8_quantize) or from
 * pre-quantized w_i8 + w_scale, projection by projection like the scalar reference.
 * Quantizes with kern->quantize; uses up to `threads` OpenMP threads. On failure writes err and
 * returns non-OK; out may then be partly filled (int8_weights_free cleans it). */
enum qkv_status int8_weights_pack(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                  const struct int8_kernel *kern, unsigned threads,
                                  struct int8_weights *out, char *err, size_t errlen);
void int8_weights_free(struct int8_weights *w);

/* Quantize one row x[k] into xq[kg * int8_xg(kern)] in the kernel's packed X layout
 * (kernel.h: values and absolute values per k group, or values + 128; zero past k) and
 * its scale into *xs, exactly like the reference (NaN/Inf row: zeros and a NaN scale). */
void int8_quantize_row(const struct int8_kernel *kern, const float *x, size_t k, size_t kg,
                       int8_t *xq, float *xs);

#endif
