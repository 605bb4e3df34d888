/* Internal interfaces of the openmp backend: the prepared handle and the driver. */
#ifndef QKV_OPENMP_BACKEND_H
#define QKV_OPENMP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

#include "kernels.h"

/* One packed weight panel: up to NR columns of one projection. Panels never straddle
 * q|k|v, so each projection's last panel is zero-padded on its own. */
struct omp_panel {
	uint32_t p;  /* enum qkv_proj: which output */
	uint32_t n0; /* first column inside that output */
	uint32_t nw; /* valid columns, 1..NR */
};

struct omp_handle {
	struct qkv_problem pb;
	const struct omp_kernels *kern; /* picked once at prepare */
	size_t npanels;                 /* ceil(d_q/NR) + 2*ceil(d_kv/NR) */
	struct omp_panel *panels;       /* [npanels], q panels, then k, then v */
	float *wp;                      /* f32: [npanels][d_model][NR], 64-byte aligned */
	uint16_t *wb;                   /* bf16: [npanels][d_model][NR], 64-byte aligned */
	const float *bias[3];           /* [d_out] or NULL, borrowed from the core */
};

/* Pack weights into h (h->pb set); returns QKV_OK or QKV_ERR_NOMEM. */
enum qkv_status qkv_omp_pack(struct omp_handle *h, const struct qkv_weights *wt);

/* Compute a validated batch with T >= 1. */
enum qkv_status qkv_omp_run(const struct omp_handle *h, const struct qkv_batch *b, char *err,
                            size_t errlen);

#endif
