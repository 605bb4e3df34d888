/* The onednn backend's internal header: the handle, the primitive cache entry and the
 * scratch slot, shared by its three files:
 *   onednn.c        the plugin face (probe, prepare, project, release) and f32;
 *   onednn_cache.c  primitives per (T, strides, threads) and scratch slots, per handle;
 *   onednn_int8.c   the int8 path: weight quantization, X quantization, our rescale, and
 *                   the self-check of the exact int32 sums;
 *   onednn_isa.c    what oneDNN's ISA means here (name, score, int8 exact), per architecture.
 * The design (why a cache, why u8 x s8, threads) is described at the top of onednn.c. */
#ifndef QKV_ONEDNN_IMPL_H
#define QKV_ONEDNN_IMPL_H

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#define QKV_BACKEND_NAME "onednn"
#include <qkv/backend_util.h>
#include <qkv/cpu_features.h>
#include <qkv/plugin.h>
#include <qkv/precision.h>

#define CACHE_CAP 32 /* primitives kept per handle */
#define ALIGN 64
#define MAX_ALT 3 /* extra weight layouts per handle */

struct prim {
	size_t T, ldx, ldd;
	int nthr;
	dnnl_primitive_t mm;
	dnnl_memory_t wmem; /* the handle's weights in this primitive's layout (borrowed) */
	dnnl_memory_desc_t src_md, dst_md;
	size_t scratch_bytes; /* oneDNN's scratchpad (user mode) */
	dnnl_memory_desc_t scratch_md;
	unsigned refs;
	int cached; /* 0: evicted or never cached; destroyed when refs drops to 0 */
	uint64_t stamp;
};

struct slot {
	struct slot *next;
	dnnl_stream_t stream;
	void *buf;
	size_t cap;
};

struct onednn_handle {
	struct qkv_problem pb;
	size_t K, N;
	size_t col0[3];
	int i8;
	dnnl_engine_t eng;
	dnnl_memory_desc_t w_md; /* the matmul's weights layout (asked for at T = 64) */
	dnnl_memory_t wmem;      /* W in that layout */
	/* Layouts other T ask for (made on first need, under mu; see weights_for). */
	dnnl_memory_desc_t alt_md[MAX_ALT];
	dnnl_memory_t alt_mem[MAX_ALT];
	size_t nalt;
	dnnl_memory_desc_t b_md; /* f32 bias [1 x N] */
	dnnl_memory_t bmem;      /* f32: fused bias, or NULL */
	float *bias_f;           /* f32: [N] fused bias (zeros where a projection has none) */
	float *bias[3];          /* int8: copies (the handle keeps nothing of the weights) */
	float *wscale;           /* int8: [N] per-column scales (owned copy) */
	uint32_t *comp;          /* int8: [N] 128 * sum_k w[k][n] (mod 2^32), see project */
	float *zeros;            /* int8: [N] zeros, the bias of a projection without one */
	pthread_mutex_t mu;
	int mu_ok;
	struct prim *cache[CACHE_CAP];
	size_t ncache;
	uint64_t clock;
	struct slot *free_slots;
};

static inline enum qkv_status dfail(char *err, size_t errlen, const char *what, dnnl_status_t s)
{
	return qkv_backend_fail(err, errlen,
	                        s == dnnl_out_of_memory ? QKV_ERR_NOMEM : QKV_ERR_BACKEND,
	                        "%s failed (dnnl status %d)", what, (int)s);
}

static inline size_t round_up(size_t v)
{
	return (v + ALIGN - 1) / ALIGN * ALIGN;
}

/* ---- threads ----
 * oneDNN (Debian's build: DNNL_CPU_THREADING_RUNTIME = OMP) sizes its parallel regions
 * by omp_get_max_threads() of the calling thread, both when a primitive is created
 * (its work split) and when it runs. We set that ICV to the call's thread count
 * before and put the caller's value back after; omp_set_num_threads only changes the
 * calling thread's own ICV, so concurrent calls on other threads are not affected.
 * Inside a caller's active parallel region we use 1 thread: no nested team, no
 * oversubscription, whatever the caller's nesting settings. */
static inline int threads_for(uint32_t budget)
{
	if (omp_in_parallel())
		return 1;
	if (budget < 1)
		return 1;
	return budget > QKV_MAX_THREADS ? QKV_MAX_THREADS : (int)budget;
}

static inline int threads_enter(int nthr)
{
	int old = omp_get_max_threads();
	if (old != nthr)
		omp_set_num_threads(nthr);
	return old;
}

static inline void threads_leave(int old, int nthr)
{
	if (old != nthr)
		omp_set_num_threads(old);
}

/* onednn_cache.c */
void prim_destroy(struct prim *p);
enum qkv_status prim_get(struct onednn_handle *h, size_t T, size_t ldx, size_t ldd, int nthr,
                         struct prim **out, char *err, size_t errlen);
void prim_put(struct onednn_handle *h, struct prim *p);
void slot_destroy(struct slot *s);
struct slot *slot_get(struct onednn_handle *h, size_t bytes);
void slot_put(struct onednn_handle *h, struct slot *s);

#include "onednn_isa.h"
/* The precisions the descriptor declares: not int8 on aarch64, where oneDNN's int8 sums
 * are inexact on every ISA (onednn_isa.c); on x86 int8 is declared, and refused at prepare
 * on an ISA without VNNI. */
#if defined(__aarch64__)
#define ONEDNN_PRECISIONS QKV_PRECISION_BIT(QKV_F32)
#else
#define ONEDNN_PRECISIONS (QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8))
#endif

/* onednn_int8.c */
enum qkv_status fuse_int8(struct onednn_handle *h, const struct qkv_weights *wt, uint32_t layout,
                          int8_t *wq, char *err, size_t errlen);
void to_u8(int8_t *q, size_t n);
void (*quant_pick(void))(const float *, size_t, int8_t *, float *);
void (*rescale_pick(void))(const char *, const uint32_t *, float, const float *, const float *,
                           float *, size_t);
enum qkv_status int8_selfcheck(struct onednn_handle *h, const int8_t *wq, uint32_t layout,
                               char *err, size_t errlen);

/* onednn.c */
enum qkv_status execute(struct onednn_handle *h, struct prim *p, struct slot *sl, void *scratch,
                        const void *src, void *dst, char *err, size_t errlen);

#endif
