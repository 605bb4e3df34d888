/* Internal interfaces of the openmp backend: the prepared handle and the driver. */
#ifndef QKV_OPENMP_BACKEND_H
#define QKV_OPENMP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

#include "kernels.h"

/* One packed weight panel: up to nr (kern->nr) columns of one projection. Panels never straddle
 * q|k|v, so each projection's last panel is zero-padded on its own. */
struct ompb_panel {
	uint32_t p;  /* enum qkv_proj: which output */
	uint32_t n0; /* first column inside that output */
	uint32_t nw; /* valid columns, 1..nr */
};

struct ompb_handle {
	struct qkv_problem pb;
	const struct ompb_kernels *kern; /* picked once at prepare */
	size_t npanels;                  /* ceil(d_q/nr) + 2*ceil(d_kv/nr) */
	struct ompb_panel *panels;       /* [npanels], q panels, then k, then v */
	float *wp;                       /* f32: [npanels][d_model][nr], 64-byte aligned */
	uint16_t *wb;                    /* bf16: [npanels][d_model][nr], 64-byte aligned */
	size_t w_bytes;                  /* wp's or wb's size (qkv_big_alloc) */
	float *bias[3];                  /* [d_out] or NULL: copies, the handle keeps nothing
	                                  * of the weights it was given */
	uint64_t bytes;                  /* what the handle allocated (qkv_handle_memory) */
};

/* The plugin's prepare with a given kernel set (the plugin passes the one
 * qkv_omp_kernels_pick chose; tests pass each set in turn). */
enum qkv_status qkv_omp_prepare_with(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                     const struct ompb_kernels *kern, void **handle, char *err,
                                     size_t errlen);

/* Pack weights into h (h->pb set); returns QKV_OK or QKV_ERR_NOMEM. */
enum qkv_status qkv_omp_pack(struct ompb_handle *h, const struct qkv_weights *wt);

/* Compute a validated batch with T >= 1. */
enum qkv_status qkv_omp_run(const struct ompb_handle *h, const struct qkv_batch *b, char *err,
                            size_t errlen);

#endif
