/* The onednn backend's per-handle caches: matmul primitives made per (T, ldx, ld_dst,
 * threads), reference counted and evicted least recently used when idle, the alternate
 * weight layouts some kernels ask for, and the scratch slots (a stream and a buffer)
 * that concurrent calls take one each (onednn.c explains why). */
#include "onednn_impl.h"

/* ---- primitives ---- */

void prim_destroy(struct prim *p)
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

/* With h->mu held: the cached primitive of this key, referenced and stamped, with the lock
 * released; or NULL with the lock still held. */
static struct prim *cache_take(struct onednn_handle *h, size_t T, size_t ldx, size_t ldd, int nthr)
{
	for (size_t i = 0; i < h->ncache; i++) {
		struct prim *p = h->cache[i];
		if (p->T == T && p->ldx == ldx && p->ldd == ldd && p->nthr == nthr) {
			p->refs++;
			p->stamp = ++h->clock;
			pthread_mutex_unlock(&h->mu);
			return p;
		}
	}
	return NULL;
}

/* Find or make the primitive for this key; the caller holds a reference until
 * prim_put. Creation happens outside the lock, so first calls with different T on
 * many threads build their primitives in parallel; two threads making the same key
 * at once keep the first one inserted and destroy the other. */
enum qkv_status prim_get(struct onednn_handle *h, size_t T, size_t ldx, size_t ldd, int nthr,
                         struct prim **out, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->mu);
	if ((*out = cache_take(h, T, ldx, ldd, nthr)) != NULL)
		return QKV_OK;
	pthread_mutex_unlock(&h->mu);

	struct prim *mine = NULL;
	enum qkv_status st = prim_create(h, T, ldx, ldd, nthr, &mine, err, errlen);
	if (st != QKV_OK)
		return st;

	pthread_mutex_lock(&h->mu);
	if ((*out = cache_take(h, T, ldx, ldd, nthr)) != NULL) {
		prim_destroy(mine);
		return QKV_OK;
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

void prim_put(struct onednn_handle *h, struct prim *p)
{
	pthread_mutex_lock(&h->mu);
	int drop = --p->refs == 0 && !p->cached;
	pthread_mutex_unlock(&h->mu);
	if (drop)
		prim_destroy(p);
}

/* ---- scratch slots ---- */

void slot_destroy(struct slot *s)
{
	if (!s)
		return;
	if (s->stream)
		dnnl_stream_destroy(s->stream);
	free(s->buf);
	free(s);
}

struct slot *slot_get(struct onednn_handle *h, size_t bytes)
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

void slot_put(struct onednn_handle *h, struct slot *s)
{
	pthread_mutex_lock(&h->mu);
	s->next = h->free_slots;
	h->free_slots = s;
	pthread_mutex_unlock(&h->mu);
}
