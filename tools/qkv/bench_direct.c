#include "bench_direct.h"

#include <stdio.h>
#include <stdlib.h>

#include <qkv/plugin.h>

#include "registry.h"

struct direct_call {
	const struct qkv_backend *be;
	const void *handle;
	const struct bench_shape *s;
	const struct bench_buffers *b;
	unsigned threads;
};

static int call_direct(void *ctx, size_t buf, char *err, size_t errlen)
{
	const struct direct_call *c = ctx;
	const struct bench_shape *s = c->s;
	float *y = c->b->y[buf]; /* [T x n] */
	struct qkv_batch batch = {
	    .struct_size = sizeof(batch),
	    .threads = c->threads,
	    .T = c->b->T,
	    .x = c->b->x[buf],
	    .ldx = s->d_model,
	    .out = {y, y + s->d_q, y + s->d_q + s->d_kv},
	    .ld_out = {s->n, s->n, s->n},
	};
	return c->be->project(c->handle, &batch, err, errlen) != QKV_OK;
}

bool bench_direct_time(const char *name, const struct bench_shape *s, const struct bench_weights *w,
                       unsigned layout, unsigned prec, const struct bench_buffers *b,
                       unsigned threads, double min_time, struct bench_stats *st, char *err,
                       size_t errlen)
{
	char **dirs = qkv_search_path(NULL);
	char *path = qkv_plugin_find(dirs, name);
	qkv_search_path_free(dirs);
	struct qkv_plugin *pl = NULL;
	if (!path) {
		snprintf(err, errlen, "no qkv_%s.so on the plugin search path", name);
		return false;
	}
	enum qkv_status rc = qkv_plugin_load_file(path, &pl, err, errlen);
	free(path);
	if (rc != QKV_OK)
		return false;
	struct qkv_problem pb = {
	    .struct_size = sizeof(pb),
	    .precision = prec,
	    .d_model = s->d_model,
	    .n_heads = s->n_heads,
	    .n_kv_heads = s->n_kv_heads,
	    .head_dim = s->head_dim,
	    .d_q = s->d_q,
	    .d_kv = s->d_kv,
	    .threads = threads,
	};
	struct qkv_weights wt = {
	    .struct_size = sizeof(wt),
	    .layout = layout,
	    .w = {w->w[0], w->w[1], w->w[2]},
	};
	void *handle = NULL;
	bool ok = pl->be->prepare(&pb, &wt, &handle, err, errlen) == QKV_OK;
	if (ok) {
		struct direct_call c = {pl->be, handle, s, b, threads};
		ok = bench_time(call_direct, &c, b->nbuf, min_time, st, err, errlen);
	}
	pl->be->release(handle);
	qkv_plugin_unref(pl);
	return ok;
}
