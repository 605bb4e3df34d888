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
 * Threads: oneDNN in Debian runs on OpenMP (libgomp); see threads_enter in onednn_impl.h.
 *
 * This file is the plugin face and the f32 path; onednn_cache.c holds the primitive
 * cache and the scratch slots, onednn_int8.c the int8 path.
 */
#include "onednn_impl.h"

/* ---- prepare / release ---- */

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
	for (int p = 0; p < 3; p++)
		free(h->bias[p]);
	free(h);
}

/* Weights in the matmul's layout and the per-column arrays; a layout another T asks for
 * later (onednn_cache.c) adds one more copy then, not counted here. */
static void onednn_memory(const void *hp, struct qkv_handle_memory *out)
{
	const struct onednn_handle *h = hp;
	size_t cols = h->N * sizeof(float);
	uint64_t b = sizeof(*h) + dnnl_memory_desc_get_size(&h->w_md);
	b += (h->bias_f ? cols : 0) + (h->wscale ? cols : 0) + (h->comp ? cols : 0) +
	     (h->zeros ? cols : 0);
	for (int p = 0; p < 3; p++)
		b += h->bias[p] ? qkv_out_width(&h->pb, p) * sizeof(float) : 0;
	out->keeps_weights = 0;
	out->bytes_made = b;
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

/* What prepare refuses before it builds anything. */
static enum qkv_status prepare_check(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                     char *err, size_t errlen)
{
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
	if (i8 && !onednn_isa_int8_exact())
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "int8 needs exact int32 sums; oneDNN's ISA here is %s (%s)",
		                        onednn_isa_name(), onednn_isa_int8_refused());
	if (!i8)
		for (int p = 0; p < 3; p++)
			if (!wt->w[p])
				return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
				                        "f32 weights missing");
	return QKV_OK;
}

/* The fused plain weights [K x N] in the source orientation (*wplain, the caller frees it),
 * and what goes with them: int8 scales and the u8 shift's compensation, or f32 biases. */
static enum qkv_status plain_weights(struct onednn_handle *h, const struct qkv_weights *wt,
                                     void **wplain, char *err, size_t errlen)
{
	size_t K = h->K, N = h->N, esz = h->i8 ? 1 : sizeof(float);
	void *w = *wplain = malloc(K * N * esz);
	if (!w)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for the fused weights");
	if (!h->i8) {
		fuse_f32(h, wt, wt->layout, w);
		if (!wt->bias[0] && !wt->bias[1] && !wt->bias[2])
			return QKV_OK;
		h->bias_f = calloc(N, sizeof(float));
		if (!h->bias_f)
			return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		for (int p = 0; p < 3; p++)
			if (wt->bias[p])
				memcpy(h->bias_f + h->col0[p], wt->bias[p],
				       qkv_out_width(&h->pb, p) * sizeof(float));
		return QKV_OK;
	}
	h->wscale = malloc(N * sizeof(float));
	enum qkv_status st = h->wscale
	                         ? fuse_int8(h, wt, wt->layout, w, err, errlen)
	                         : qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	if (st != QKV_OK)
		return st;
	/* the u8 shift's compensation, exact in int64 */
	h->comp = malloc(N * sizeof(uint32_t));
	h->zeros = calloc(N, sizeof(float));
	if (!h->comp || !h->zeros)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	const int8_t *wq = w;
	for (size_t n = 0; n < N; n++) {
		int64_t sum = 0;
		for (size_t k = 0; k < K; k++)
			sum += wt->layout == QKV_LAYOUT_OUT_IN ? wq[n * K + k] : wq[k * N + n];
		h->comp[n] = (uint32_t)(128 * sum);
	}
	return QKV_OK;
}

/* The layout the matmul prefers (it does not depend on M here: README.md), then one
 * reorder of the plain weights into it (h->wmem), and the bias memory. */
static enum qkv_status reorder_weights(struct onednn_handle *h, const struct qkv_weights *wt,
                                       void *wplain, char *err, size_t errlen)
{
	int i8 = h->i8;
	size_t K = h->K, N = h->N;
	dnnl_status_t s;
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
	int old = threads_enter(threads_for(h->pb.threads));
	s = dnnl_primitive_execute(reorder, str, 2, rargs);
	if (s == dnnl_success)
		s = dnnl_stream_wait(str);
	threads_leave(old, threads_for(h->pb.threads));
	if (s)
		goto out;
	if (h->bias_f) {
		what = "bias memory";
		if ((s = dnnl_memory_create(&h->bmem, &h->b_md, h->eng, h->bias_f)))
			goto out;
	}
out:
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
	if (s == dnnl_success)
		return QKV_OK;
	if (h->wmem) {
		dnnl_memory_destroy(h->wmem);
		h->wmem = NULL;
	}
	return dfail(err, errlen, what, s);
}

static enum qkv_status onednn_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	enum qkv_status st = prepare_check(pb, wt, err, errlen);
	if (st != QKV_OK)
		return st;
	struct onednn_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = h;
	if (pthread_mutex_init(&h->mu, NULL) != 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_INTERNAL, "pthread_mutex_init failed");
	h->mu_ok = 1;
	h->pb = *pb;
	h->K = pb->d_model;
	h->N = (size_t)pb->d_q + 2 * (size_t)pb->d_kv;
	h->i8 = pb->precision == QKV_INT8;
	h->col0[QKV_Q] = 0;
	h->col0[QKV_K] = pb->d_q;
	h->col0[QKV_V] = (size_t)pb->d_q + pb->d_kv;
	if (h->i8 && qkv_biases_copy(pb, wt, h->bias) < 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory for the biases");
	dnnl_status_t s;
	if ((s = dnnl_engine_create(&h->eng, dnnl_cpu, 0)) != dnnl_success) {
		h->eng = NULL;
		return dfail(err, errlen, "engine", s);
	}
	void *wplain = NULL;
	st = plain_weights(h, wt, &wplain, err, errlen);
	if (st == QKV_OK)
		st = reorder_weights(h, wt, wplain, err, errlen);
	if (st == QKV_OK && h->i8)
		st = int8_selfcheck(h, wplain, wt->layout, err, errlen);
	free(wplain);
	return st;
}

/* ---- project ---- */

static int outputs_fused(const struct onednn_handle *h, const struct qkv_batch *b)
{
	return b->out[QKV_K] == b->out[QKV_Q] + h->pb.d_q &&
	       b->out[QKV_V] == b->out[QKV_K] + h->pb.d_kv &&
	       b->ld_out[QKV_K] == b->ld_out[QKV_Q] && b->ld_out[QKV_V] == b->ld_out[QKV_Q];
}

enum qkv_status execute(struct onednn_handle *h, struct prim *p, struct slot *sl, void *scratch,
                        const void *src, void *dst, char *err, size_t errlen)
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

static void onednn_probe(struct qkv_probe_result *out)
{
	const dnnl_version_t *v = dnnl_version();
	const char *exact = onednn_isa_int8_exact();
	snprintf(out->detail, sizeof(out->detail),
	         "oneDNN %d.%d.%d, ISA %s, OpenMP runtime, int8 %s%s%s", v->major, v->minor,
	         v->patch, onednn_isa_name(), exact ? exact : "refused (",
	         exact ? "" : onednn_isa_int8_refused(), exact ? "" : ")");
	out->score = onednn_isa_score();
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(onednn, "onednn", "1.0.0", ONEDNN_PRECISIONS),
    .memory = onednn_memory,
};
