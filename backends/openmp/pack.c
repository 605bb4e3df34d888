/* Weight packing at prepare: q|k|v cut into column panels of nr (the picked kernel set's), each
 * stored K-major (panel[k][0..nr)) so a micro-kernel reads one contiguous, aligned stream. */
#include <stdlib.h>
#include <string.h>

#include <qkv/backend_util.h>
#include <qkv/precision.h>

#include "../big_alloc.h"
#include "ompb.h"

/* One panel from W [d_model x d_out] in `layout`; columns past nw stay zero. */
static void pack_panel(float *dst, const float *w, uint32_t layout, size_t K, size_t d_out,
                       size_t nr, const struct ompb_panel *pn)
{
	memset(dst, 0, K * nr * sizeof(float));
	if (layout == QKV_LAYOUT_IN_OUT) {
		for (size_t k = 0; k < K; k++)
			memcpy(dst + k * nr, w + k * d_out + pn->n0, pn->nw * sizeof(float));
		return;
	}
	for (size_t j = 0; j < pn->nw; j++) { /* out_in: read each W row contiguously */
		const float *src = w + (pn->n0 + j) * K;
		for (size_t k = 0; k < K; k++)
			dst[k * nr + j] = src[k];
	}
}

enum qkv_status qkv_omp_pack(struct ompb_handle *h, const struct qkv_weights *wt)
{
	const struct qkv_problem *pb = &h->pb;
	size_t K = pb->d_model, nr = h->kern->nr;
	size_t np = 0;
	for (uint32_t p = 0; p < 3; p++)
		np += (qkv_out_width(pb, (int)p) + nr - 1) / nr;
	h->panels = calloc(np, sizeof(*h->panels));
	if (!h->panels)
		return QKV_ERR_NOMEM;
	size_t panel = K * nr; /* elements per panel */
	size_t esize = pb->precision == QKV_BF16 ? sizeof(uint16_t) : sizeof(float);
	size_t bytes = 0; /* rounded up to 64 below; each panel starts 32- or 64-aligned */
	if (__builtin_mul_overflow(np, panel * esize, &bytes))
		return QKV_ERR_NOMEM;
	bytes = (bytes + 63) / 64 * 64;
	h->w_bytes = bytes;
	if (pb->precision == QKV_BF16)
		h->wb = qkv_big_alloc(bytes);
	else
		h->wp = qkv_big_alloc(bytes);
	if (!h->wb && !h->wp)
		return QKV_ERR_NOMEM;
	h->bytes += bytes + np * sizeof(*h->panels);
	size_t i = 0;
	for (uint32_t p = 0; p < 3; p++) {
		uint32_t d = (uint32_t)qkv_out_width(pb, (int)p);
		for (uint32_t n0 = 0; n0 < d; n0 += (uint32_t)nr, i++) {
			h->panels[i].p = p;
			h->panels[i].n0 = n0;
			h->panels[i].nw = d - n0 < nr ? d - n0 : (uint32_t)nr;
		}
	}
	h->npanels = np;
	long n = (long)np;
	int nt = pb->threads >= 1 ? (int)pb->threads : 1;
	int nomem = 0;
#pragma omp parallel num_threads(nt) reduction(| : nomem)
	{
		/* bf16: each thread packs f32 into its own panel, then rounds it. */
		float *tmp = h->wb ? malloc(panel * sizeof(float)) : NULL;
		nomem = h->wb && !tmp;
#pragma omp for schedule(static)
		for (long j = 0; j < n; j++) {
			const struct ompb_panel *pn = &h->panels[j];
			float *dst = h->wb ? tmp : h->wp + (size_t)j * panel;
			if (!dst)
				continue;
			pack_panel(dst, wt->w[pn->p], wt->layout, K, qkv_out_width(pb, (int)pn->p),
			           nr, pn);
			if (!h->wb)
				continue;
			uint16_t *wb = h->wb + (size_t)j * panel; /* [K][nr] */
			for (size_t e = 0; e < panel; e++) {
				float r = qkv_bf16_round(dst[e]);
				uint32_t u;
				memcpy(&u, &r, sizeof(u));
				wb[e] = (uint16_t)(u >> 16);
			}
		}
		free(tmp);
	}
	return nomem ? QKV_ERR_NOMEM : QKV_OK;
}
