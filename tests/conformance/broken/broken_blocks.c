/* A precision-stored backend for the block types of <qkv/wtype.h> that is correct except
 * for the one defect selected by -DBROKEN_<NAME>, each a mistake a block-format kernel
 * author makes. It computes through the type table's reference on a copy of the weights
 * (or of the quantized X) altered the way the defect alters what the kernel reads, so
 * each plugin is exactly "the reference with that one bug". The case that catches each
 * one is in tests/conformance/test_broken.c.
 *   NIBBLE_SWAP     Q4_0 and Q4_K digits read high nibble first
 *   SCALE_MIN_SHIFT the top two bits of the 6-bit scales and mins 4-7 taken one bit off
 *   MIN_SIGN        the Q4_K/Q5_K min term added instead of subtracted
 *   SKIP_LAST_SUB   a super-block's last sub-block skipped (a loop bound off by one)
 *   IGNORE_SUMS     the activation's block sums ignored (the min term dropped)
 *   ONE_TYPE        the first projection's type assumed for all three
 */
#include <stdlib.h>
#include <string.h>

#define QKV_BACKEND_NAME "broken_blocks"
#include <qkv/backend_util.h>
#include <qkv/wtype.h>

#include "test_plugin.h"

struct handle {
	struct qkv_problem pb;
	uint32_t type[3]; /* the type each projection is computed as */
	uint8_t *w[3];    /* altered copies of the rows */
	size_t rb[3], rb_max;
	const float *f32[3], *bias[3];
};

static void blocks_release(void *hp)
{
	struct handle *h = hp;
	if (!h)
		return;
	for (int p = 0; p < 3; p++)
		free(h->w[p]);
	free(h);
}

/* The defect, applied to one block of type t. */
static void alter(uint32_t t, uint8_t *b)
{
	(void)t, (void)b;
#if defined(BROKEN_NIBBLE_SWAP)
	size_t at = t == QKV_WT_Q4_0 ? 2 : t == QKV_WT_Q4_K ? 16 : 0;
	size_t n = t == QKV_WT_Q4_0 ? 16 : t == QKV_WT_Q4_K ? 128 : 0;
	for (size_t i = at; i < at + n; i++)
		b[i] = (uint8_t)(b[i] >> 4 | b[i] << 4);
#elif defined(BROKEN_SCALE_MIN_SHIFT) || defined(BROKEN_SKIP_LAST_SUB)
	if (t == QKV_WT_Q4_K || t == QKV_WT_Q5_K) {
		uint8_t sc[8], m[8], *s = b + 4;
		for (int j = 0; j < 8; j++) {
			qkv_k_scale_min(s, j, &sc[j], &m[j]);
#if defined(BROKEN_SCALE_MIN_SHIFT)
			if (j >= 4) {
				sc[j] = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 5) & 3) << 4);
				m[j] = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 5) & 3) << 4);
			}
#endif
		}
#if defined(BROKEN_SKIP_LAST_SUB)
		sc[7] = m[7] = 0;
#endif
		qkv_k_scale_min_pack(s, sc, m);
	}
#if defined(BROKEN_SKIP_LAST_SUB)
	if (t == QKV_WT_Q6_K)
		b[192 + 15] = 0;
#endif
#elif defined(BROKEN_MIN_SIGN)
	if (t == QKV_WT_Q4_K || t == QKV_WT_Q5_K)
		b[3] ^= 0x80; /* dmin's sign bit */
#endif
}

static enum qkv_status blocks_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **out, char *err, size_t errlen)
{
	*out = NULL;
	if (pb->precision != QKV_STORED || !QKV_HAS_MEMBER(pb, struct qkv_problem, wtype))
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "stored only");
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*out = h;
	h->pb = *pb;
	for (int p = 0; p < 3; p++) {
		uint32_t t = pb->wtype[p];
		h->rb[p] = qkv_wtype_row_bytes(t, pb->d_model);
		h->rb_max = h->rb[p] > h->rb_max ? h->rb[p] : h->rb_max;
		h->type[p] = t;
#if defined(BROKEN_ONE_TYPE)
		h->type[p] = pb->wtype[0];
#endif
		h->bias[p] = wt->bias[p];
		if (t == QKV_WT_F32) {
			if (wt->layout != QKV_LAYOUT_OUT_IN)
				return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
				                        "out_in only");
			h->f32[p] = wt->w[p];
			continue;
		}
		size_t d_out = qkv_out_width(pb, p), bytes = h->rb[p] * d_out;
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		if (!r || !h->rb[p] || !wt->w_blk[p] || wt->layout != QKV_LAYOUT_OUT_IN)
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "bad weights");
		h->w[p] = malloc(bytes);
		if (!h->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		memcpy(h->w[p], wt->w_blk[p], bytes);
		for (size_t b = 0; b < bytes / r->bytes; b++)
			alter(t, h->w[p] + b * r->bytes);
	}
	return QKV_OK;
}

static enum qkv_status blocks_project(const void *hp, const struct qkv_batch *b, char *err,
                                      size_t errlen)
{
	const struct handle *h = hp;
	size_t K = h->pb.d_model;
	void *act = malloc(qkv_act_row_bytes(QKV_WT_Q4_K, K) + K * sizeof(float) + 64);
	uint8_t *row = calloc(1, h->rb_max + K * sizeof(float) + 64);
	if (!act || !row) {
		free(act);
		free(row);
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	}
	for (size_t t = 0; t < b->T; t++)
		for (int p = 0; p < 3; p++) {
			uint32_t ty = h->type[p];
			qkv_act_quantize(ty, b->x + t * b->ldx, K, act);
#if defined(BROKEN_IGNORE_SUMS)
			if (qkv_wtype_traits(ty)->act == QKV_ACT_Q8_K)
				for (size_t s = 0; s < K / 256; s++)
					memset(((struct qkv_act_q8_k *)act)[s].sum, 0, 32);
#endif
			for (size_t n = 0; n < qkv_out_width(&h->pb, p); n++) {
				const uint8_t *w = h->w[p] ? h->w[p] + n * h->rb[p]
				                           : (const uint8_t *)(h->f32[p] + n * K);
				memcpy(row, w, h->rb[p]); /* ONE_TYPE reads within the real row */
				float y = qkv_wtype_dot(ty, row, act, K);
				b->out[p][t * b->ld_out[p] + n] =
				    h->bias[p] ? y + h->bias[p][n] : y;
			}
		}
	free(act);
	free(row);
	return QKV_OK;
}

static void blocks_probe(struct qkv_probe_result *out)
{
	test_plugin_probe_ok(out, "");
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(blocks, "broken_blocks", "1.0.0", QKV_PRECISION_BIT(QKV_STORED)),
    .wtypes = QKV_WTYPE_ALL,
};
