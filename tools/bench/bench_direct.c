#include "bench_direct.h"

#include <stdio.h>
#include <stdlib.h>

#include <qkv/plugin.h>

#include "registry.h"

struct direct_call {
	struct qkv_plugin *pl;
	void *handle;
	const struct bench_shape *s;
	const struct bench_buffers *b;
	unsigned threads;
};

int bench_direct_call(void *ctx, size_t buf, char *err, size_t errlen)
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
	return c->pl->be->project(c->handle, &batch, err, errlen) != QKV_OK;
}

void bench_direct_free(void *ctx)
{
	struct direct_call *c = ctx;
	if (!c)
		return;
	if (c->pl) {
		c->pl->be->release(c->handle);
		qkv_plugin_unref(c->pl);
	}
	free(c);
}

void *bench_direct_prepare(const char *name, const struct bench_shape *s,
                           const struct bench_weights *w, unsigned layout, unsigned prec,
                           const struct bench_buffers *b, unsigned threads, char *err,
                           size_t errlen)
{
	struct direct_call *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->s = s;
	c->b = b;
	c->threads = threads;
	char **dirs = qkv_search_path(NULL);
	char *path = qkv_plugin_find(dirs, name);
	qkv_search_path_free(dirs);
	if (!path) {
		snprintf(err, errlen, "no qkv_%s.so on the plugin search path", name);
		free(c);
		return NULL;
	}
	enum qkv_status rc = qkv_plugin_load_file(path, &c->pl, err, errlen);
	free(path);
	if (rc != QKV_OK) {
		c->pl = NULL;
		bench_direct_free(c);
		return NULL;
	}
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
	if (c->pl->be->prepare(&pb, &wt, &c->handle, err, errlen) != QKV_OK) {
		bench_direct_free(c);
		return NULL;
	}
	return c;
}
