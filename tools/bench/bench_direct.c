#include "bench_direct.h"

#include <stdio.h>
#include <stdlib.h>

#include <qkv/plugin.h>
#include <qkv/qkv.h>

struct direct_call {
	qkv_plugin_set *set; /* keeps the plugin loaded */
	const struct qkv_backend *be;
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
	return c->be->project(c->handle, &batch, err, errlen) != QKV_OK;
}

void bench_direct_free(void *ctx)
{
	struct direct_call *c = ctx;
	if (!c)
		return;
	if (c->be)
		c->be->release(c->handle); /* accepts NULL and half-built handles */
	qkv_plugins_free(c->set);
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
	long i = -1;
	if (qkv_plugins_scan(NULL, &c->set, err, errlen) == QKV_OK &&
	    (i = qkv_plugins_find(c->set, name, NULL)) < 0)
		snprintf(err, errlen, "no usable qkv_%s.so on the plugin search path", name);
	struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
	if (i < 0 || qkv_plugins_get(c->set, (size_t)i, &pi) != QKV_OK) {
		bench_direct_free(c);
		return NULL;
	}
	c->be = pi.backend;
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
	if (c->be->prepare(&pb, &wt, &c->handle, err, errlen) != QKV_OK) {
		bench_direct_free(c); /* releases what the failed prepare built, as the ABI asks */
		return NULL;
	}
	return c;
}
