/* A model over weights in memory (qkv_model_open_memory) as the tests describe one: its
 * shape, the layout of w[] and the three arrays, everything else at QKV_MODEL_DESC_INIT's
 * defaults; each test then sets what it is about (prefer, threads, strict, bias, ...). */
#ifndef QKV_TEST_MODEL_H
#define QKV_TEST_MODEL_H

#include <qkv/qkv.h>

/* n_kv_heads 0 means n_heads, as in struct qkv_model_desc. */
static inline struct qkv_model_desc test_model_desc(uint32_t d_model, uint32_t n_heads,
                                                    uint32_t n_kv_heads, uint32_t head_dim,
                                                    uint32_t layout, const float *wq,
                                                    const float *wk, const float *wv)
{
	struct qkv_model_desc d = QKV_MODEL_DESC_INIT;
	d.d_model = d_model;
	d.n_heads = n_heads;
	d.n_kv_heads = n_kv_heads;
	d.head_dim = head_dim;
	d.layout = layout;
	d.w[0] = wq;
	d.w[1] = wk;
	d.w[2] = wv;
	return d;
}

#endif
