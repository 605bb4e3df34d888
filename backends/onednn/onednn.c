/* The onednn backend: Q, K and V through oneDNN's matmul primitive (f32 and int8).
 *
 * prepare fuses q|k|v into one weight matrix W [K x N] (N = d_q + 2*d_kv), described
 * to oneDNN in the source's orientation (in_out: plain rows; out_in: the transposed
 * tag, so no transpose copy of ours) and reordered once into the layout the matmul
 * asks for (format_tag_any). int8 weights are quantized per column with the project's
 * scheme (<qkv/precision.h>) or taken pre-quantized (w_i8 / w_scale).
 *
 * project runs one matmul primitive made for (T, ldx, ld_dst, threads): oneDNN's
 * fast kernels (brgemm) need M fixed at creation (run-time M selects gemm:jit with
 * plain weights instead, README.md), so primitives are made per distinct key, kept in
 * a per-handle cache of CACHE_CAP entries (least recently used evicted when idle),
 * reference counted so an entry in use is never destroyed.
 *   f32, outputs fused q|k|v with one stride: the matmul writes straight into the
 *        output (strided dst descriptor) with the bias added by the primitive;
 *        separate outputs: the matmul writes a [T x N] scratch, copied to Q, K, V.
 *   int8: every X row is quantized with qkv_int8_quantize into an s8 scratch; the
 *        matmul computes exact int32 sums (s8 x s8, dst s32); our own loop applies
 *        ((float)acc * sx) * sw + b (qkv_int8_dequant) and writes each output.
 *        Fused outputs receive the int32 sums in place (same 4-byte slots) and are
 *        rescaled in place, so no [T x N] temporary.
 * Scratch (oneDNN's scratchpad in user mode, the quantized X, the row scales, the
 * temporary) and a stream come from a per-handle pool of slots: a call takes a free
 * slot under a mutex, or makes one, so concurrent calls never share scratch.
 *
 * Threads: oneDNN in Debian runs on OpenMP (libgomp). See threads_enter below.
 */
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
	const float *bias[3];    /* int8: borrowed from the core */
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

static enum qkv_status dfail(char *err, size_t errlen, const char *what, dnnl_status_t s)
{
	return qkv_backend_fail(err, errlen,
	                        s == dnnl_out_of_memory ? QKV_ERR_NOMEM : QKV_ERR_BACKEND,
	                        "%s failed (dnnl status %d)", what, (int)s);
}

static size_t round_up(size_t v)
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
static int threads_for(uint32_t budget)
{
	if (omp_in_parallel())
		return 1;
	if (budget < 1)
		return 1;
	return budget > QKV_MAX_THREADS ? QKV_MAX_THREADS : (int)budget;
}

static int threads_enter(int nthr)
{
	int old = omp_get_max_threads();
	if (old != nthr)
		omp_set_num_threads(nthr);
	return old;
}

static void threads_leave(int old, int nthr)
{
	if (old != nthr)
		omp_set_num_threads(old);
}

/* ---- primitives ---- */

static void prim_destroy(struct prim *p)
{
	if (!p)
		return;
	if (p->mm)
		dnnl_primitive_destroy(p->mm);
	free(p);
}

/* The weights in layout `md`: the prepared copy, an alternate made earlier, or a new
 * alternate reordered from the prepared copy (through a plain [K x N] buffer). Some
 * kernels ask for another layout at small T: on AMX, int8 at T < 16 runs the VNNI
 * kernel, whose s8 weights carry a compensation the AMX layout has not. NULL when
 * MAX_ALT layouts exist already or the reorder fails: the caller then uses the
 * prepared layout with whatever kernel accepts it. */
static dnnl_memory_t weights_for(struct onednn_handle *h, const dnnl_memory_desc_t *md)
{
	if (dnnl_memory_desc_equal(md, &h->w_md))
		return h->wmem;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->nalt; i++)
		if (dnnl_memory_desc_equal(md, &h->alt_md[i])) {
			dnnl_memory_t m = h->alt_mem[i];
			pthread_mutex_unlock(&h->mu);
			return m;
		}
	int full = h->nalt == MAX_ALT;
	pthread_mutex_unlock(&h->mu);
	if (full)
		return NULL;

	dnnl_dims_t wd = {(dnnl_dim_t)h->K, (dnnl_dim_t)h->N};
	dnnl_memory_desc_t plain_md;
	dnnl_memory_t plain = NULL, mem = NULL;
	dnnl_primitive_desc_t r1 = NULL, r2 = NULL;
	dnnl_primitive_t p1 = NULL, p2 = NULL;
	dnnl_stream_t str = NULL;
	void *buf = malloc(h->K * h->N * (h->i8 ? 1 : sizeof(float)));
	int ok =
	    buf &&
	    !dnnl_memory_desc_init_by_tag(&plain_md, 2, wd, h->i8 ? dnnl_s8 : dnnl_f32, dnnl_ab) &&
	    !dnnl_memory_create(&plain, &plain_md, h->eng, buf) &&
	    !dnnl_memory_create(&mem, md, h->eng, DNNL_MEMORY_ALLOCATE) &&
	    !dnnl_reorder_primitive_desc_create(&r1, &h->w_md, h->eng, &plain_md, h->eng, NULL) &&
	    !dnnl_reorder_primitive_desc_create(&r2, &plain_md, h->eng, md, h->eng, NULL) &&
	    !dnnl_primitive_create(&p1, r1) && !dnnl_primitive_create(&p2, r2) &&
	    !dnnl_stream_create(&str, h->eng, dnnl_stream_default_flags);
	if (ok) {
		dnnl_exec_arg_t a1[2] = {{DNNL_ARG_FROM, h->wmem}, {DNNL_ARG_TO, plain}};
		dnnl_exec_arg_t a2[2] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, mem}};
		ok = !dnnl_primitive_execute(p1, str, 2, a1) && !dnnl_stream_wait(str) &&
		     !dnnl_primitive_execute(p2, str, 2, a2) && !dnnl_stream_wait(str);
	}
	if (str)
		dnnl_stream_destroy(str);
	if (p1)
		dnnl_primitive_destroy(p1);
	if (p2)
		dnnl_primitive_destroy(p2);
	if (r1)
		dnnl_primitive_desc_destroy(r1);
	if (r2)
		dnnl_primitive_desc_destroy(r2);
	if (plain)
		dnnl_memory_destroy(plain);
	free(buf);
	if (!ok) {
		if (mem)
			dnnl_memory_destroy(mem);
		return NULL;
	}
	pthread_mutex_lock(&h->mu);
	dnnl_memory_t use = NULL;
	for (size_t i = 0; i < h->nalt && !use; i++) /* made by another thread meanwhile? */
		if (dnnl_memory_desc_equal(md, &h->alt_md[i]))
			use = h->alt_mem[i];
	if (!use && h->nalt < MAX_ALT) {
		h->alt_md[h->nalt] = *md;
		h->alt_mem[h->nalt++] = mem;
		use = mem;
		mem = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (mem)
		dnnl_memory_destroy(mem);
	return use;
}

/* Make the matmul for T rows: src [T x K] with row stride ldx, dst [T x N] with row
 * stride ldd, weights in the prepared layout. Called with the OpenMP ICV set. */
static enum qkv_status prim_create(struct onednn_handle *h, size_t T, size_t ldx, size_t ldd,
                                   int nthr, struct prim **out, char *err, size_t errlen)
{
	*out = NULL;
	struct prim *p = calloc(1, sizeof(*p));
	if (!p)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	p->T = T;
	p->ldx = ldx;
	p->ldd = ldd;
	p->nthr = nthr;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t s;
	enum qkv_status st = QKV_OK;
	const char *what = "memory descriptor";
	dnnl_dims_t sd = {(dnnl_dim_t)T, (dnnl_dim_t)h->K}, ss = {(dnnl_dim_t)ldx, 1};
	dnnl_dims_t dd = {(dnnl_dim_t)T, (dnnl_dim_t)h->N}, ds = {(dnnl_dim_t)ldd, 1};
	s = dnnl_memory_desc_init_by_strides(&p->src_md, 2, sd, h->i8 ? dnnl_u8 : dnnl_f32, ss);
	if (s == dnnl_success)
		s = dnnl_memory_desc_init_by_strides(&p->dst_md, 2, dd, h->i8 ? dnnl_s32 : dnnl_f32,
		                                     ds);
	if (s != dnnl_success)
		goto out;
	what = "primitive attributes";
	if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success ||
	    (s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) !=
	        dnnl_success)
		goto out;
	/* The layout this T asks for; when it is not the prepared one, that layout is made
	 * once (weights_for), else the prepared layout is imposed. */
	what = "matmul descriptor";
	dnnl_matmul_desc_t md;
	dnnl_memory_desc_t any_md;
	dnnl_dims_t wd = {(dnnl_dim_t)h->K, (dnnl_dim_t)h->N};
	if ((s = dnnl_memory_desc_init_by_tag(&any_md, 2, wd, h->w_md.data_type,
	                                      dnnl_format_tag_any)) ||
	    (s = dnnl_matmul_desc_init(&md, &p->src_md, &any_md, h->bmem ? &h->b_md : NULL,
	                               &p->dst_md)))
		goto out;
	what = "matmul primitive descriptor";
	if ((s = dnnl_primitive_desc_create(&pd, &md, attr, h->eng, NULL)) != dnnl_success)
		goto out;
	p->wmem = weights_for(h, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
	if (!p->wmem) {
		dnnl_primitive_desc_destroy(pd);
		pd = NULL;
		p->wmem = h->wmem;
		if ((s = dnnl_matmul_desc_init(&md, &p->src_md, &h->w_md, h->bmem ? &h->b_md : NULL,
		                               &p->dst_md)) ||
		    (s = dnnl_primitive_desc_create(&pd, &md, attr, h->eng, NULL)))
			goto out;
	}
	p->scratch_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	p->scratch_bytes = dnnl_memory_desc_get_size(&p->scratch_md);
	what = "matmul primitive";
	s = dnnl_primitive_create(&p->mm, pd);
out:
	if (s != dnnl_success)
		st = dfail(err, errlen, what, s);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (st != QKV_OK) {
		prim_destroy(p);
		return st;
	}
	*out = p;
	return QKV_OK;
}

/* Find or make the primitive for this key; the caller holds a reference until
 * prim_put. Creation happens outside the lock, so first calls with different T on
 * many threads build their primitives in parallel; two threads making the same key
 * at once keep the first one inserted and destroy the other. */
static enum qkv_status prim_get(struct onednn_handle *h, size_t T, size_t ldx, size_t ldd, int nthr,
                                struct prim **out, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->ncache; i++) {
		struct prim *p = h->cache[i];
		if (p->T == T && p->ldx == ldx && p->ldd == ldd && p->nthr == nthr) {
			p->refs++;
			p->stamp = ++h->clock;
			pthread_mutex_unlock(&h->mu);
			*out = p;
			return QKV_OK;
		}
	}
	pthread_mutex_unlock(&h->mu);

	struct prim *mine = NULL;
	enum qkv_status st = prim_create(h, T, ldx, ldd, nthr, &mine, err, errlen);
	if (st != QKV_OK)
		return st;

	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->ncache; i++) {
		struct prim *p = h->cache[i];
		if (p->T == T && p->ldx == ldx && p->ldd == ldd && p->nthr == nthr) {
			p->refs++;
			p->stamp = ++h->clock;
			pthread_mutex_unlock(&h->mu);
			prim_destroy(mine);
			*out = p;
			return QKV_OK;
		}
	}
	mine->refs = 1;
	mine->stamp = ++h->clock;
	if (h->ncache == CACHE_CAP) { /* evict the least recently used idle entry */
		size_t victim = CACHE_CAP;
		for (size_t i = 0; i < h->ncache; i++)
			if (h->cache[i]->refs == 0 &&
			    (victim == CACHE_CAP || h->cache[i]->stamp < h->cache[victim]->stamp))
				victim = i;
		if (victim < CACHE_CAP) {
			prim_destroy(h->cache[victim]);
			h->cache[victim] = h->cache[--h->ncache];
		}
	}
	if (h->ncache < CACHE_CAP) {
		mine->cached = 1;
		h->cache[h->ncache++] = mine;
	} /* else every entry is in use: this one lives for this call only */
	pthread_mutex_unlock(&h->mu);
	*out = mine;
	return QKV_OK;
}

static void prim_put(struct onednn_handle *h, struct prim *p)
{
	pthread_mutex_lock(&h->mu);
	int drop = --p->refs == 0 && !p->cached;
	pthread_mutex_unlock(&h->mu);
	if (drop)
		prim_destroy(p);
}

/* ---- scratch slots ---- */

static void slot_destroy(struct slot *s)
{
	if (!s)
		return;
	if (s->stream)
		dnnl_stream_destroy(s->stream);
	free(s->buf);
	free(s);
}

static struct slot *slot_get(struct onednn_handle *h, size_t bytes)
{
	pthread_mutex_lock(&h->mu);
	struct slot *s = h->free_slots;
	if (s)
		h->free_slots = s->next;
	pthread_mutex_unlock(&h->mu);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		if (dnnl_stream_create(&s->stream, h->eng, dnnl_stream_default_flags) !=
		    dnnl_success) {
			s->stream = NULL;
			slot_destroy(s);
			return NULL;
		}
	}
	if (s->cap < bytes) {
		free(s->buf);
		s->cap = 0;
		s->buf = NULL;
		if (posix_memalign(&s->buf, ALIGN, bytes) != 0) {
			s->buf = NULL;
			slot_destroy(s);
			return NULL;
		}
		s->cap = bytes;
	}
	return s;
}

static void slot_put(struct onednn_handle *h, struct slot *s)
{
	pthread_mutex_lock(&h->mu);
	s->next = h->free_slots;
	h->free_slots = s;
	pthread_mutex_unlock(&h->mu);
}

/* ---- prepare / release ---- */

static void onednn_release(void *hp)
{
	struct onednn_handle *h = hp;
	if (!h)
		return;
	for (size_t i = 0; i < h->ncache; i++)
		prim_destroy(h->cache[i]);
	while (h->free_slots) {
		struct slot *s = h->free_slots;
		h->free_slots = s->next;
		slot_destroy(s);
	}
	if (h->wmem)
		dnnl_memory_destroy(h->wmem);
	for (size_t i = 0; i < h->nalt; i++)
		dnnl_memory_destroy(h->alt_mem[i]);
	if (h->bmem)
		dnnl_memory_destroy(h->bmem);
	if (h->eng)
		dnnl_engine_destroy(h->eng);
	if (h->mu_ok)
		pthread_mutex_destroy(&h->mu);
	free(h->bias_f);
	free(h->wscale);
	free(h->comp);
	free(h->zeros);
	free(h);
}

/* Quantize (or copy pre-quantized) int8 weights into a fused plain buffer of the
 * source's orientation: in_out -> wq [K x N]; out_in -> wq [N x K]. */
static enum qkv_status fuse_int8(struct onednn_handle *h, const struct qkv_weights *wt,
                                 uint32_t layout, int8_t *wq, char *err, size_t errlen)
{
	size_t K = h->K, N = h->N;
	float *col = malloc(K * sizeof(float));
	int8_t *qcol = malloc(K);
	if (!col || !qcol) {
		free(col);
		free(qcol);
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for int8 weights");
	}
	enum qkv_status st = QKV_OK;
	for (int p = 0; p < 3 && st == QKV_OK; p++) {
		size_t d = qkv_out_width(&h->pb, p), c0 = h->col0[p];
		int pre = wt->w_i8[p] && wt->w_scale[p];
		if (!pre && !wt->w[p]) {
			st = qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                      "int8 needs f32 or int8 weights");
			break;
		}
		if (pre) {
			size_t cnt = K * d;
			for (size_t i = 0; i < cnt; i++)
				if (wt->w_i8[p][i] < -127) {
					char m[160];
					snprintf(
					    m, sizeof(m),
					    "pre-quantized weights of %c hold %d at element %zu "
					    "(must be in [-127, 127])",
					    "qkv"[p], wt -> w_i8[p][i], i);
					st = qkv_backend_fail(err, errlen, QKV_ERR_FORMAT, "%s", m);
					break;
				}
			if (st != QKV_OK)
				break;
		}
		for (size_t n = 0; n < d; n++) {
			const int8_t *q;
			if (pre) {
				h->wscale[c0 + n] = wt->w_scale[p][n];
				if (layout == QKV_LAYOUT_OUT_IN) {
					q = wt->w_i8[p] + n * K;
				} else {
					for (size_t k = 0; k < K; k++)
						qcol[k] = wt->w_i8[p][k * d + n];
					q = qcol;
				}
			} else {
				for (size_t k = 0; k < K; k++)
					col[k] = layout == QKV_LAYOUT_OUT_IN ? wt->w[p][n * K + k]
					                                     : wt->w[p][k * d + n];
				h->wscale[c0 + n] = qkv_int8_quantize(col, K, qcol);
				q = qcol;
			}
			if (layout == QKV_LAYOUT_OUT_IN)
				memcpy(wq + (c0 + n) * K, q, K);
			else
				for (size_t k = 0; k < K; k++)
					wq[k * N + c0 + n] = q[k];
		}
	}
	free(col);
	free(qcol);
	return st;
}

static void fuse_f32(const struct onednn_handle *h, const struct qkv_weights *wt, uint32_t layout,
                     float *w)
{
	size_t K = h->K, N = h->N;
	for (int p = 0; p < 3; p++) {
		size_t d = qkv_out_width(&h->pb, p);
		if (layout == QKV_LAYOUT_OUT_IN)
			memcpy(w + h->col0[p] * K, wt->w[p], d * K * sizeof(float));
		else
			for (size_t k = 0; k < K; k++)
				memcpy(w + k * N + h->col0[p], wt->w[p] + k * d, d * sizeof(float));
	}
}

/* int8 needs exact int32 sums. Kernels without VNNI multiply u8 x s8 pairs with an
 * int16 saturating add (vpmaddubsw); their sums are not exact, so int8 is refused
 * below avx512_core_vnni / avx2_vnni. */
static int isa_exact_int8(dnnl_cpu_isa_t isa)
{
	return isa == dnnl_cpu_isa_avx512_core_vnni || isa == dnnl_cpu_isa_avx512_core_bf16 ||
	       isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx2_vnni;
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
	switch (isa) {
	case dnnl_cpu_isa_sse41:
		return "sse41";
	case dnnl_cpu_isa_avx:
		return "avx";
	case dnnl_cpu_isa_avx2:
		return "avx2";
	case dnnl_cpu_isa_avx2_vnni:
		return "avx2_vnni";
	case dnnl_cpu_isa_avx512_mic:
		return "avx512_mic";
	case dnnl_cpu_isa_avx512_mic_4ops:
		return "avx512_mic_4ops";
	case dnnl_cpu_isa_avx512_core:
		return "avx512_core";
	case dnnl_cpu_isa_avx512_core_vnni:
		return "avx512_core_vnni";
	case dnnl_cpu_isa_avx512_core_bf16:
		return "avx512_core_bf16";
	case dnnl_cpu_isa_avx512_core_amx:
		return "avx512_core_amx";
	default:
		return "unknown";
	}
}

/* Self-check after the int8 reorder: rows of all +127 and alternating +-127 through
 * the real primitive must give the exact column sums (a saturating kernel would not). */
static enum qkv_status int8_selfcheck(struct onednn_handle *h, const int8_t *wq, uint32_t layout,
                                      char *err, size_t errlen);

static enum qkv_status onednn_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (pb->precision != QKV_F32 && pb->precision != QKV_INT8)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "only precisions f32 and int8");
	if (wt->layout != QKV_LAYOUT_IN_OUT && wt->layout != QKV_LAYOUT_OUT_IN)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "unknown weight layout");
	int i8 = pb->precision == QKV_INT8;
	size_t K = pb->d_model, N = (size_t)pb->d_q + 2 * (size_t)pb->d_kv;
	if (K == 0 || pb->d_q == 0 || pb->d_kv == 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "a dimension is 0");
	if (i8 && K > (size_t)INT32_MAX / (255 * 127))
		return qkv_backend_fail(
		    err, errlen, QKV_ERR_UNSUPPORTED,
		    "int8: d_model above 66311 could overflow the int32 sums of "
		    "the u8 x s8 product");
	if (N > SIZE_MAX / sizeof(float) / K)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "d_model * N overflows size_t");
	if (i8 && !isa_exact_int8(dnnl_get_effective_cpu_isa())) {
		char m[160];
		snprintf(m, sizeof(m),
		         "int8 needs exact int32 sums; oneDNN's ISA here is %s (needs "
		         "avx512_core_vnni, avx2_vnni or amx)",
		         isa_name(dnnl_get_effective_cpu_isa()));
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "%s", m);
	}
	if (!i8)
		for (int p = 0; p < 3; p++)
			if (!wt->w[p])
				return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
				                        "f32 weights missing");

	struct onednn_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = h;
	if (pthread_mutex_init(&h->mu, NULL) != 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_INTERNAL, "pthread_mutex_init failed");
	h->mu_ok = 1;
	h->pb = *pb;
	h->K = K;
	h->N = N;
	h->i8 = i8;
	h->col0[QKV_Q] = 0;
	h->col0[QKV_K] = pb->d_q;
	h->col0[QKV_V] = (size_t)pb->d_q + pb->d_kv;
	for (int p = 0; p < 3; p++)
		h->bias[p] = wt->bias[p];

	dnnl_status_t s;
	if ((s = dnnl_engine_create(&h->eng, dnnl_cpu, 0)) != dnnl_success) {
		h->eng = NULL;
		return dfail(err, errlen, "engine", s);
	}

	/* Fused plain weights in the source orientation. */
	size_t esz = i8 ? 1 : sizeof(float);
	void *wplain = malloc(K * N * esz);
	if (!wplain)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for the fused weights");
	enum qkv_status st = QKV_OK;
	if (i8) {
		h->wscale = malloc(N * sizeof(float));
		st = h->wscale ? fuse_int8(h, wt, wt->layout, wplain, err, errlen)
		               : qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	} else {
		fuse_f32(h, wt, wt->layout, wplain);
		if (wt->bias[0] || wt->bias[1] || wt->bias[2]) {
			h->bias_f = calloc(N, sizeof(float));
			if (!h->bias_f) {
				free(wplain);
				return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
				                        "out of memory");
			}
			for (int p = 0; p < 3; p++)
				if (wt->bias[p])
					memcpy(h->bias_f + h->col0[p], wt->bias[p],
					       qkv_out_width(pb, p) * sizeof(float));
		}
	}
	if (st == QKV_OK && i8) { /* the u8 shift's compensation, exact in int64 */
		h->comp = malloc(N * sizeof(uint32_t));
		h->zeros = calloc(N, sizeof(float));
		if (!h->comp || !h->zeros)
			st = qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		for (size_t n = 0; st == QKV_OK && n < N; n++) {
			int64_t sum = 0;
			const int8_t *wq = wplain;
			for (size_t k = 0; k < K; k++)
				sum +=
				    wt->layout == QKV_LAYOUT_OUT_IN ? wq[n * K + k] : wq[k * N + n];
			h->comp[n] = (uint32_t)(128 * sum);
		}
	}
	if (st != QKV_OK) {
		free(wplain);
		return st;
	}

	/* The layout the matmul prefers (it does not depend on M here: README.md), then
	 * one reorder into it. */
	dnnl_data_type_t wt_dt = i8 ? dnnl_s8 : dnnl_f32;
	dnnl_dims_t wd = {(dnnl_dim_t)K, (dnnl_dim_t)N}, sd = {64, (dnnl_dim_t)K},
	            dd = {64, (dnnl_dim_t)N}, bd = {1, (dnnl_dim_t)N};
	dnnl_memory_desc_t any_md, user_md, src_md, dst_md;
	dnnl_matmul_desc_t md;
	dnnl_primitive_desc_t pd = NULL, rpd = NULL;
	dnnl_primitive_t reorder = NULL;
	dnnl_memory_t user = NULL;
	dnnl_stream_t str = NULL;
	const char *what = "weights descriptor";
	if ((s = dnnl_memory_desc_init_by_tag(&any_md, 2, wd, wt_dt, dnnl_format_tag_any)) ||
	    (s = dnnl_memory_desc_init_by_tag(
	         &user_md, 2, wd, wt_dt, wt->layout == QKV_LAYOUT_OUT_IN ? dnnl_ba : dnnl_ab)) ||
	    (s = dnnl_memory_desc_init_by_tag(&src_md, 2, sd, i8 ? dnnl_u8 : dnnl_f32, dnnl_ab)) ||
	    (s = dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, i8 ? dnnl_s32 : dnnl_f32, dnnl_ab)) ||
	    (s = dnnl_memory_desc_init_by_tag(&h->b_md, 2, bd, dnnl_f32, dnnl_ab)))
		goto out;
	what = "matmul descriptor";
	if ((s = dnnl_matmul_desc_init(&md, &src_md, &any_md, h->bias_f ? &h->b_md : NULL,
	                               &dst_md)))
		goto out;
	what = "matmul primitive descriptor";
	if ((s = dnnl_primitive_desc_create(&pd, &md, NULL, h->eng, NULL)))
		goto out;
	h->w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	what = "weights reorder";
	if ((s = dnnl_memory_create(&user, &user_md, h->eng, wplain)) ||
	    (s = dnnl_memory_create(&h->wmem, &h->w_md, h->eng, DNNL_MEMORY_ALLOCATE)) ||
	    (s = dnnl_reorder_primitive_desc_create(&rpd, &user_md, h->eng, &h->w_md, h->eng,
	                                            NULL)) ||
	    (s = dnnl_primitive_create(&reorder, rpd)) ||
	    (s = dnnl_stream_create(&str, h->eng, dnnl_stream_default_flags)))
		goto out;
	dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, h->wmem}};
	int old = threads_enter(threads_for(pb->threads));
	s = dnnl_primitive_execute(reorder, str, 2, rargs);
	if (s == dnnl_success)
		s = dnnl_stream_wait(str);
	threads_leave(old, threads_for(pb->threads));
	if (s)
		goto out;
	if (h->bias_f) {
		what = "bias memory";
		if ((s = dnnl_memory_create(&h->bmem, &h->b_md, h->eng, h->bias_f)))
			goto out;
	}
out:
	if (s != dnnl_success)
		st = dfail(err, errlen, what, s);
	if (str)
		dnnl_stream_destroy(str);
	if (reorder)
		dnnl_primitive_destroy(reorder);
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (user)
		dnnl_memory_destroy(user);
	if (s != dnnl_success && h->wmem) {
		dnnl_memory_destroy(h->wmem);
		h->wmem = NULL;
	}
	if (st == QKV_OK && i8)
		st = int8_selfcheck(h, wplain, wt->layout, err, errlen);
	free(wplain);
	return st;
}

/* ---- project ---- */

/* q + 128 as u8, in place: oneDNN then runs u8 x s8 (vpdpbusd / tdpbusd), whose
 * int32 sums are exact, and project subtracts 128 * sum_k w[k][n] (h->comp). s8 src
 * would make oneDNN do that shift itself, with a weights layout of its own for the
 * VNNI kernel; oneDNN 2.6 got one of those sums wrong by 1 at K = 3001 (README.md). */
static void to_u8(int8_t *q, size_t n)
{
	uint8_t *u = (uint8_t *)q;
	for (size_t i = 0; i < n; i++)
		u[i] ^= 0x80u;
}

/* One X row: qkv_int8_quantize (the scheme's function, unchanged) then the u8 shift.
 * Compiled twice: baseline, and for SSE4.1, where nearbyintf becomes one roundss
 * instead of a libm call (same IEEE result: round to nearest even in the default
 * mode; no FMA is enabled, so nothing is contracted). */
static inline __attribute__((always_inline)) void quant_row_body(const float *x, size_t K,
                                                                 int8_t *q, float *sx)
{
	*sx = qkv_int8_quantize(x, K, q);
	to_u8(q, K);
}

static void quant_row(const float *x, size_t K, int8_t *q, float *sx)
{
	quant_row_body(x, K, q, sx);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("sse4.1"))) static void quant_row_sse41(const float *x, size_t K, int8_t *q,
                                                              float *sx)
{
	quant_row_body(x, K, q, sx);
}
#endif

static void (*quant_pick(void))(const float *, size_t, int8_t *, float *)
{
#if defined(__x86_64__) || defined(__i386__)
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	if (f.sse41)
		return quant_row_sse41;
#endif
	return quant_row;
}

/* One output row: y[n] = ((float)(acc[n] - comp[n]) * sx) * sw[n] + bias[n], i.e.
 * qkv_int8_dequant after the u8 compensation. acc may be y itself (fused outputs: the
 * int32 sums sit in the output's slots): each element is read before it is written.
 * Compiled also for AVX2 and AVX-512F: the module is ISO C (-std=c11), so GCC does
 * not contract the multiply and add into an FMA, and these targets do not enable FMA
 * contraction either way (no -ffp-contract=fast): the same IEEE operations in the
 * same order, only wider. A missing bias is a row of zeros (scalar adds 0.0f too). */
static inline __attribute__((always_inline)) void rescale_body(const char *acc,
                                                               const uint32_t *comp, float sx,
                                                               const float *sw, const float *bias,
                                                               float *y, size_t d)
{
	uint32_t u[256]; /* a block of sums copied out first: y may be acc itself */
	for (size_t n0 = 0; n0 < d; n0 += 256) {
		size_t len = d - n0 < 256 ? d - n0 : 256;
		memcpy(u, acc + n0 * 4, len * 4);
		for (size_t i = 0; i < len; i++) {
			int32_t a = (int32_t)(u[i] - comp[n0 + i]); /* exact: |a| <= 127*127*K */
			y[n0 + i] = qkv_int8_dequant(a, sx, sw[n0 + i], bias[n0 + i]);
		}
	}
}

static void rescale_row(const char *acc, const uint32_t *comp, float sx, const float *sw,
                        const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void rescale_row_avx2(const char *acc, const uint32_t *comp,
                                                             float sx, const float *sw,
                                                             const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}

__attribute__((target("avx512f"))) static void
rescale_row_avx512(const char *acc, const uint32_t *comp, float sx, const float *sw,
                   const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}
#endif

static void (*rescale_pick(void))(const char *, const uint32_t *, float, const float *,
                                  const float *, float *, size_t)
{
#if defined(__x86_64__) || defined(__i386__)
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	if (f.avx512f)
		return rescale_row_avx512;
	if (f.avx2)
		return rescale_row_avx2;
#endif
	return rescale_row;
}

static int outputs_fused(const struct onednn_handle *h, const struct qkv_batch *b)
{
	return b->out[QKV_K] == b->out[QKV_Q] + h->pb.d_q &&
	       b->out[QKV_V] == b->out[QKV_K] + h->pb.d_kv &&
	       b->ld_out[QKV_K] == b->ld_out[QKV_Q] && b->ld_out[QKV_V] == b->ld_out[QKV_Q];
}

static enum qkv_status execute(struct onednn_handle *h, struct prim *p, struct slot *sl,
                               void *scratch, const void *src, void *dst, char *err, size_t errlen)
{
	dnnl_memory_t ms = NULL, md = NULL, mp = NULL;
	dnnl_status_t s;
	const char *what = "memory";
	if ((s = dnnl_memory_create(&ms, &p->src_md, h->eng, (void *)src)) ||
	    (s = dnnl_memory_create(&md, &p->dst_md, h->eng, dst)) ||
	    (s = dnnl_memory_create(&mp, &p->scratch_md, h->eng, scratch)))
		goto out;
	dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, ms},
	                           {DNNL_ARG_WEIGHTS, p->wmem},
	                           {DNNL_ARG_DST, md},
	                           {DNNL_ARG_SCRATCHPAD, mp},
	                           {DNNL_ARG_BIAS, h->bmem}};
	what = "matmul";
	s = dnnl_primitive_execute(p->mm, sl->stream, h->bmem ? 5 : 4, args);
	if (s == dnnl_success)
		s = dnnl_stream_wait(sl->stream);
out:
	if (ms)
		dnnl_memory_destroy(ms);
	if (md)
		dnnl_memory_destroy(md);
	if (mp)
		dnnl_memory_destroy(mp);
	return s == dnnl_success ? QKV_OK : dfail(err, errlen, what, s);
}

static enum qkv_status onednn_project(const void *hp, const struct qkv_batch *b, char *err,
                                      size_t errlen)
{
	/* The handle's cache and slot pool are the only mutable parts, behind h->mu. */
	struct onednn_handle *h = (struct onednn_handle *)(uintptr_t)hp;
	if (!h || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (b->T == 0)
		return QKV_OK;
	if (!b->x || b->ldx < h->K)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "x is NULL or ldx is below d_model");
	for (int p = 0; p < 3; p++)
		if (!b->out[p] || b->ld_out[p] < qkv_out_width(&h->pb, p))
			return qkv_backend_fail(
			    err, errlen, QKV_ERR_ARGUMENT,
			    "an output is NULL or its stride is below its width");
	size_t T = b->T, K = h->K, N = h->N;
	if (T > (size_t)INT64_MAX / (K > N ? K : N) || b->ldx > (size_t)INT64_MAX / T)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "T is too large");
	int fused = outputs_fused(h, b);
	int nthr = threads_for(b->threads);
	int old = threads_enter(nthr);

	/* Where the matmul reads and writes, and what scratch it needs. */
	size_t ldx = h->i8 ? K : b->ldx;
	size_t ldd = fused ? b->ld_out[QKV_Q] : N;
	struct prim *p = NULL;
	struct slot *sl = NULL;
	enum qkv_status st = prim_get(h, T, ldx, ldd, nthr, &p, err, errlen);
	if (st != QKV_OK)
		goto done;
	size_t off_x = round_up(p->scratch_bytes);
	size_t off_sx = off_x + (h->i8 ? round_up(T * K) : 0);
	size_t off_y = off_sx + (h->i8 ? round_up(T * sizeof(float)) : 0);
	size_t bytes = off_y + (fused ? 0 : T * N * 4);
	if (bytes < ALIGN)
		bytes = ALIGN;
	sl = slot_get(h, bytes);
	if (!sl) {
		st = qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                      "out of memory for per-call scratch");
		goto done;
	}
	char *buf = sl->buf;
	void *dst = fused ? (void *)b->out[QKV_Q] : (void *)(buf + off_y);
	if (!h->i8) {
		st = execute(h, p, sl, buf, b->x, dst, err, errlen);
		if (st == QKV_OK && !fused)
			for (int q = 0; q < 3; q++) {
				size_t d = qkv_out_width(&h->pb, q);
				const float *y = (const float *)(void *)(buf + off_y) + h->col0[q];
				for (size_t t = 0; t < T; t++)
					memcpy(b->out[q] + t * b->ld_out[q], y + t * N,
					       d * sizeof(float));
			}
		goto done;
	}

	/* int8: quantize each row (same function as every backend), exact int32 sums,
	 * then ((float)acc * sx) * sw + b in the scheme's order. */
	int8_t *xq = (int8_t *)(buf + off_x);
	float *sx = (float *)(void *)(buf + off_sx);
	/* Rows split over the call's threads when there is enough work (static split,
	 * no nested team: nthr is 1 inside a caller's parallel region). */
	int par = nthr > 1 && T > 1 && T * K >= 65536;
	void (*quant)(const float *, size_t, int8_t *, float *) = quant_pick();
#pragma omp parallel for num_threads(nthr) if (par) schedule(static)
	for (size_t t = 0; t < T; t++)
		quant(b->x + t * b->ldx, K, xq + t * K, sx + t);
	st = execute(h, p, sl, buf, xq, dst, err, errlen);
	if (st != QKV_OK)
		goto done;
	void (*rescale)(const char *, const uint32_t *, float, const float *, const float *,
	                float *, size_t) = rescale_pick();
#pragma omp parallel for num_threads(nthr) if (par) schedule(static)
	for (size_t t = 0; t < T; t++)
		for (int q = 0; q < 3; q++) {
			size_t d = qkv_out_width(&h->pb, q), c0 = h->col0[q];
			float *y = b->out[q] + t * b->ld_out[q];
			const char *acc = fused ? (const char *)y : buf + off_y + (t * N + c0) * 4;
			rescale(acc, h->comp + c0, sx[t], h->wscale + c0,
			        h->bias[q] ? h->bias[q] : h->zeros, y, d);
		}
done:
	if (sl)
		slot_put(h, sl);
	if (p)
		prim_put(h, p);
	threads_leave(old, nthr);
	return st;
}

static enum qkv_status int8_selfcheck(struct onednn_handle *h, const int8_t *wq, uint32_t layout,
                                      char *err, size_t errlen)
{
	/* Two row counts: kernels (and weight layouts) differ between small and large T. */
	static const size_t rows[2] = {2, 16};
	size_t K = h->K, N = h->N;
	int8_t *x = malloc(16 * K);
	int32_t *y = malloc(16 * N * sizeof(int32_t));
	int64_t *ref = malloc(2 * N * sizeof(int64_t));
	enum qkv_status st = QKV_OK;
	int nthr = threads_for(1);
	int old = threads_enter(nthr);
	if (!x || !y || !ref) {
		st = qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t t = 0; t < 16; t++) /* even rows all +127, odd rows alternate signs */
		for (size_t k = 0; k < K; k++)
			x[t * K + k] = (int8_t)(t % 2 && k % 2 ? -127 : 127);
	for (size_t n = 0; n < N; n++) {
		ref[n] = ref[N + n] = 0;
		for (size_t k = 0; k < K; k++) {
			int w = layout == QKV_LAYOUT_OUT_IN ? wq[n * K + k] : wq[k * N + n];
			ref[n] += (int64_t)x[k] * w;
			ref[N + n] += (int64_t)x[K + k] * w;
		}
	}
	for (int r = 0; r < 2 && st == QKV_OK; r++) {
		struct prim *p = NULL;
		struct slot *sl = NULL;
		st = prim_get(h, rows[r], K, N, nthr, &p, err, errlen);
		if (st == QKV_OK) {
			sl = slot_get(h, p->scratch_bytes > ALIGN ? p->scratch_bytes : ALIGN);
			to_u8(x, 16 * K);
			st = sl ? execute(h, p, sl, sl->buf, x, y, err, errlen)
			        : qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
			to_u8(x, 16 * K);
		}
		for (size_t t = 0; st == QKV_OK && t < rows[r]; t++)
			for (size_t n = 0; n < N; n++)
				if ((int32_t)((uint32_t)y[t * N + n] - h->comp[n]) !=
				    ref[(t % 2) * N + n]) {
					st = qkv_backend_fail(
					    err, errlen, QKV_ERR_UNSUPPORTED,
					    "int8: oneDNN's int32 sums are not exact on this "
					    "CPU (self-check with saturating rows failed)");
					break;
				}
		if (sl)
			slot_put(h, sl);
		if (p)
			prim_put(h, p);
	}
out:
	threads_leave(old, nthr);
	free(x);
	free(y);
	free(ref);
	return st;
}

static void onednn_probe(struct qkv_probe_result *out)
{
	const dnnl_version_t *v = dnnl_version();
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	/* Scores: openmp with AVX2 60, blas 50 (less on a generic core), int8 70. oneDNN's
	 * brgemm kernels beat them from AVX-512 up (README.md), so rank above them there;
	 * on AVX2 next to openmp; below that a fallback. */
	int score;
	switch (isa) {
	case dnnl_cpu_isa_avx512_core_amx:
		score = 90;
		break;
	case dnnl_cpu_isa_avx512_core_bf16:
	case dnnl_cpu_isa_avx512_core_vnni:
		score = 80;
		break;
	case dnnl_cpu_isa_avx512_core:
		score = 75;
		break;
	case dnnl_cpu_isa_avx2_vnni:
	case dnnl_cpu_isa_avx2:
		score = 55;
		break;
	default:
		score = 20;
		break;
	}
	snprintf(out->detail, sizeof(out->detail),
	         "oneDNN %d.%d.%d, ISA %s, OpenMP runtime, int8 %s", v->major, v->minor, v->patch,
	         isa_name(isa), isa_exact_int8(isa) ? "exact (VNNI/AMX)" : "refused (no VNNI)");
	out->score = score;
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    .abi_major = QKV_PLUGIN_ABI_MAJOR,
    .abi_minor = QKV_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(struct qkv_backend),
    .precisions = QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8),
    .name = "onednn",
    .version = "1.0.0",
    .probe = onednn_probe,
    .prepare = onednn_prepare,
    .project = onednn_project,
    .release = onednn_release,
};
