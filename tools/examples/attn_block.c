/* The part of an attention layer after the projections, in plain f32: what a runtime
 * does with the Q, K and V that qkv wrote. */
#include <math.h>

#include "attn.h"

void attn_heads(const struct attn_shape *s, size_t t0, size_t T, const float *q, size_t ldq,
                const float *kc, const float *vc, size_t ldc, float *o, size_t ldo, float *p)
{
	size_t hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
	float scale = 1.0f / sqrtf((float)hd);
	for (size_t r = 0; r < T; r++) {
		size_t t = t0 + r; /* position of this query; it sees keys 0..t */
		for (size_t h = 0; h < s->n_heads; h++) {
			const float *qh = q + r * ldq + h * hd; /* [hd] */
			size_t kv = (h / group) * hd;           /* column of its kv head */
			float m = -INFINITY;
			for (size_t j = 0; j <= t; j++) {
				const float *kj = kc + j * ldc + kv; /* [hd] */
				float dot = 0.0f;
				for (size_t i = 0; i < hd; i++)
					dot += qh[i] * kj[i];
				p[j] = dot * scale;
				m = p[j] > m ? p[j] : m;
			}
			float sum = 0.0f;
			for (size_t j = 0; j <= t; j++) {
				p[j] = expf(p[j] - m); /* shifted by the max: no overflow */
				sum += p[j];
			}
			float *oh = o + r * ldo + h * hd; /* [hd] */
			for (size_t i = 0; i < hd; i++)
				oh[i] = 0.0f;
			for (size_t j = 0; j <= t; j++) {
				const float *vj = vc + j * ldc + kv; /* [hd] */
				float pj = p[j] / sum;
				for (size_t i = 0; i < hd; i++)
					oh[i] += pj * vj[i];
			}
		}
	}
}

void attn_out(const struct attn_shape *s, size_t T, const float *o, size_t ldo, const float *wo,
              float *y)
{
	for (size_t t = 0; t < T; t++) {
		float *yt = y + t * s->d_model; /* [d_model] */
		for (size_t c = 0; c < s->d_model; c++)
			yt[c] = 0.0f;
		for (size_t i = 0; i < s->d_q; i++) {
			float oi = o[t * ldo + i];
			for (size_t c = 0; c < s->d_model; c++)
				yt[c] += oi * wo[i * s->d_model + c];
		}
	}
}
