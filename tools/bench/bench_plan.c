#include "bench_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "bench_direct.h"
#include "bench_onednn.h"
#include "bench_peak_int8.h"
#include "bench_progress.h"
#include "bench_stored.h"

#define BENCH_MAX_GIB 8

/* A backend to measure, as found on the plugin search path. */
struct backend {
	char name[32];
	unsigned precisions; /* what it declares */
	char missing[256];   /* why it cannot be measured at all ("" = usable) */
	qkv_model *model[QKV_PRECISION_COUNT];
	bool tried[QKV_PRECISION_COUNT];
	char why[QKV_PRECISION_COUNT][256];             /* why the model did not open */
	char detail[QKV_PRECISION_COUNT][BENCH_DETAIL]; /* the probe's whole detail */
	double prepare_s[QKV_PRECISION_COUNT];
	double stored_bytes; /* precision stored: the weights' bytes in their types */
	bool stored_integer; /* and all of them block types (integer dot products) */
	double mem[QKV_PRECISION_COUNT][2]; /* bytes prepared, bytes read in place (info) */
};

/* Last measured row per (backend, precision, threads), to skip hopeless rows. */
struct last_row {
	size_t T;
	double median;
};

static void note(struct bench_result *r, const char *fmt, ...)
{
	size_t len = strlen(r->notes);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->notes + len, sizeof(r->notes) - len, fmt, ap);
	va_end(ap);
	len = strlen(r->notes);
	if (len + 1 < sizeof(r->notes)) {
		r->notes[len] = '\n';
		r->notes[len + 1] = '\0';
	}
}

/* The backends to measure: those named, or every plugin that runs here. */
static size_t find_backends(const struct bench_plan *p, struct backend *be, size_t max,
                            struct bench_result *r)
{
	qkv_plugin_set *set = NULL;
	char err[512];
	if (qkv_plugins_scan(NULL, &set, err, sizeof(err)) != QKV_OK) {
		note(r, "%s", err);
		return 0;
	}
	size_t n = 0, count = p->nbackends ? p->nbackends : qkv_plugins_count(set);
	for (size_t i = 0; i < count && n < max; i++) {
		struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
		const char *near = NULL;
		long k = p->nbackends ? qkv_plugins_find(set, p->backends[i], &near) : (long)i;
		memset(&be[n], 0, sizeof(be[n]));
		bench_strcpy(be[n].name, sizeof(be[n].name), p->nbackends ? p->backends[i] : "");
		if (k < 0 || qkv_plugins_get(set, (size_t)k, &pi) != QKV_OK) {
			snprintf(be[n].missing, sizeof(be[n].missing),
			         "no qkv_%s.so on the plugin search path%s%s%s (see `qkv info`)",
			         p->backends[i], near ? " (did you mean `" : "", near ? near : "",
			         near ? "`?)" : "");
			n++;
			continue;
		}
		if (!pi.name) { /* only when listing all: a named one is found loaded */
			note(r, "plugin passed over: %s", pi.detail);
			continue;
		}
		bool seen = false; /* a second file of the same backend: models use the first */
		for (size_t j = 0; j < n && !p->nbackends; j++)
			seen |= !strcmp(be[j].name, pi.name);
		if (seen) {
			note(r, "%s: %s passed over: the search path has this backend earlier",
			     pi.name, pi.path);
			continue;
		}
		bench_strcpy(be[n].name, sizeof(be[n].name), pi.name);
		be[n].precisions = pi.precisions;
		if (pi.score <= 0)
			snprintf(be[n].missing, sizeof(be[n].missing), "does not run here: %.200s",
			         pi.detail);
		if (be[n].missing[0] && !p->nbackends)
			note(r, "%s: %s", be[n].name, be[n].missing);
		else
			n++;
	}
	qkv_plugins_free(set);
	return n;
}

/* Shape and precision of a model config, read without opening its weights. */
static bool config_shape(struct bench_plan *p, char *err, size_t errlen)
{
	qkv_checkpoint *ck;
	if (qkv_checkpoint_open(p->config_path, 0, &ck, err, errlen) != QKV_OK)
		return false;
	struct qkv_checkpoint_info info = {.struct_size = sizeof(info)};
	qkv_checkpoint_get_info(ck, &info);
	qkv_checkpoint_close(ck);
	struct bench_shape *s = &p->shape;
	const char *base = strrchr(p->config_path, '/');
	snprintf(s->name, sizeof(s->name), "%s", base ? base + 1 : p->config_path);
	s->d_model = info.d_model;
	s->n_heads = info.n_heads;
	s->n_kv_heads = info.n_kv_heads;
	s->head_dim = info.head_dim;
	bench_shape_finish(s);
	unsigned want = QKV_PRECISION_BIT(info.precision);
	if (p->precisions && !(p->precisions & want)) {
		snprintf(err, errlen, "--precision: %s has precision %s; a config fixes it",
		         p->config_path, qkv_precision_name(info.precision));
		return false;
	}
	p->precisions = want;
	return true;
}

/* --shard R/W: the shape one rank computes. The rules are the library's (README "Scaling
 * out"); checked here too so that a bad world is one error, not a failed row per backend,
 * and a preset's slice gets a shape. A config's weights are then cut by the library. */
static bool shard_shape(struct bench_plan *p, char *err, size_t errlen)
{
	struct bench_shape *s = &p->shape;
	uint32_t w = p->shard_world, h = s->n_heads, kv = s->n_kv_heads;
	const char *why = h % w               ? "does not divide n_heads"
	                  : w <= kv && kv % w ? "does not divide n_kv_heads"
	                  : w > kv && w % kv  ? "is above n_kv_heads but not a multiple of it"
	                                      : NULL;
	if (why) {
		snprintf(err, errlen, "--shard %u/%u: world %u %s (n_heads %u, n_kv_heads %u)",
		         p->shard_rank, w, w, why, h, kv);
		return false;
	}
	s->n_heads = h / w;
	s->n_kv_heads = w <= kv ? kv / w : 1;
	bench_shape_finish(s);
	size_t len = strlen(s->name);
	snprintf(s->name + len, sizeof(s->name) - len, " shard %u/%u", p->shard_rank, w);
	return true;
}

static void open_model(const struct bench_plan *p, const struct bench_weights *w,
                       struct backend *be, unsigned prec, unsigned threads)
{
	be->tried[prec] = true;
	char *why = be->why[prec];
	size_t whylen = sizeof(be->why[prec]);
	double t0 = bench_now();
	enum qkv_status st;
	qkv_model *m = NULL;
	/* a preset in a block type opens the file written for it (already the shard's shape) */
	const char *config = p->config_path       ? p->config_path
	                     : prec == QKV_STORED ? p->stored_config
	                                          : NULL;
	if (config) {
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.backend = be->name;
		o.threads = (int32_t)threads;
		o.strict = 1;
		if (p->config_path) {
			o.shard_rank = p->shard_rank;
			o.shard_world = p->shard_world;
			o.layer_set = p->layer_set;
			o.layer = p->layer;
		}
		st = qkv_model_open(config, &o, &m, why, whylen);
	} else {
		const struct bench_shape *s = &p->shape;
		struct qkv_model_desc d = {
		    .struct_size = sizeof(d),
		    .d_model = s->d_model,
		    .n_heads = s->n_heads,
		    .n_kv_heads = s->n_kv_heads,
		    .head_dim = s->head_dim,
		    .precision = prec,
		    .layout = p->layout,
		    .w = {w->w[0], w->w[1], w->w[2]},
		    .prefer = be->name,
		    .threads = (int32_t)threads,
		    .strict = 1,
		};
		st = qkv_model_open_memory(&d, &m, why, whylen);
	}
	be->prepare_s[prec] = bench_now() - t0;
	if (st != QKV_OK)
		return;
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	if (!info.backend || strcmp(info.backend, be->name)) {
		snprintf(why, whylen, "the model selected `%s`, not `%s`",
		         info.backend ? info.backend : "?", be->name);
		qkv_model_close(m);
		return;
	}
	snprintf(be->detail[prec], sizeof(be->detail[prec]), "%s",
	         info.backend_detail ? info.backend_detail : "");
	be->mem[prec][0] = (double)info.bytes_prepared;
	be->mem[prec][1] = (double)info.bytes_in_place;
	if (info.precision == QKV_STORED) { /* %bw of a block type counts its own bytes */
		be->stored_bytes = (double)(info.wbytes[0] + info.wbytes[1] + info.wbytes[2]);
		be->stored_integer = true;
		for (int p = 0; p < 3; p++)
			be->stored_integer &= qkv_wtype_traits(info.wtype[p]) &&
			                      qkv_wtype_traits(info.wtype[p])->act != QKV_ACT_F32;
	}
	be->model[prec] = m;
}

static struct bench_row *push_row(struct bench_result *r, const char *name, enum bench_kind kind,
                                  unsigned prec, size_t T, unsigned threads)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct bench_row *g = realloc(r->rows, cap * sizeof(*g));
		if (!g)
			return NULL;
		r->rows = g;
		r->cap = cap;
	}
	struct bench_row *row = &r->rows[r->n++];
	memset(row, 0, sizeof(*row));
	snprintf(row->backend, sizeof(row->backend), "%s", name);
	row->precision = prec;
	row->kind = kind;
	row->T = T;
	row->threads = threads;
	return row;
}

/* Rows of one (T, threads) pair waiting to be timed together (bench_time_group). */
#define GROUP_MAX 64
struct pending {
	size_t row; /* index into r->rows (the array may move while rows are added) */
	bench_call_fn fn;
	void *ctx;               /* owned: released by done() */
	void (*done)(void *ctx); /* may be NULL */
	struct last_row *last;   /* backend rows: updated with the median */
};
struct group {
	struct pending item[GROUP_MAX];
	size_t n;
};

static void group_add(struct group *g, struct bench_result *r, bench_call_fn fn, void *ctx,
                      void (*done)(void *), struct last_row *last)
{
	if (g->n == GROUP_MAX) { /* cannot happen with BENCH_MAX_LIST backends; stay safe */
		if (done)
			done(ctx);
		snprintf(r->rows[r->n - 1].status, sizeof(r->rows[0].status), "too many rows");
		return;
	}
	g->item[g->n++] = (struct pending){r->n - 1, fn, ctx, done, last};
}

#define MAX_ATTEMPTS 3

static void group_run(struct group *g, struct bench_result *r, size_t nbuf, double min_time,
                      double slice_s)
{
	struct bench_job jobs[GROUP_MAX];
	struct bench_stats st[GROUP_MAX];
	struct bench_busy *busy = calloc(GROUP_MAX, sizeof(*busy)); /* NULL: not measured */
	size_t idx[GROUP_MAX]; /* jobs[j] measures g->item[idx[j]] */
	if (g->n) {
		const struct bench_row *row = &r->rows[g->item[0].row];
		char label[128];
		snprintf(label, sizeof(label), "T=%zu threads=%u: %zu rows", row->T, row->threads,
		         g->n);
		bench_progress_step(label);
	}
	/* Measure every row, then again (at most MAX_ATTEMPTS in all) the rows whose spread
	 * or stalls say the machine disturbed them; keep each row's least noisy attempt. */
	for (unsigned attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		size_t n = 0;
		for (size_t i = 0; i < g->n; i++) {
			struct bench_row *row = &r->rows[g->item[i].row];
			if (attempt && (!row->ok || !row->noisy))
				continue;
			idx[n] = i;
			if (busy)
				memset(&busy[n], 0, sizeof(*busy));
			jobs[n] = (struct bench_job){.fn = g->item[i].fn,
			                             .ctx = g->item[i].ctx,
			                             .nbuf = nbuf,
			                             .st = &st[n],
			                             .busy = busy ? &busy[n] : NULL,
			                             .ok = true,
			                             .err = row->status,
			                             .errlen = sizeof(row->status)};
			n++;
		}
		if (!n)
			break;
		bench_time_group(jobs, n, min_time, slice_s);
		for (size_t j = 0; j < n; j++) {
			struct bench_row *row = &r->rows[g->item[idx[j]].row];
			row->attempts++;
			row->ok = jobs[j].ok;
			if (!row->ok)
				continue;
			if (attempt == 0) /* later attempts start warm */
				row->first_call_s = jobs[j].first_s;
			if (attempt == 0 ||
			    bench_stats_spread(&st[j]) < bench_stats_spread(&row->st)) {
				row->st = st[j];
				if (busy) {
					row->threads_busy = bench_busy_threads(&busy[j]);
					row->cpu_per_wall = bench_busy_cpu_per_wall(&busy[j]);
				}
			}
			row->noisy = bench_stats_noisy(&row->st);
		}
	}
	for (size_t i = 0; i < g->n; i++) {
		struct pending *it = &g->item[i];
		struct bench_row *row = &r->rows[it->row];
		if (row->ok)
			snprintf(row->status, sizeof(row->status), "ok");
		if (row->ok && it->last) {
			it->last->T = row->T;
			it->last->median = row->st.median;
		}
		if (it->done)
			it->done(it->ctx);
	}
	g->n = 0;
	free(busy);
}

/* A heap copy of a call context, freed by group_run through free(). */
static void *dup_ctx(const void *ctx, size_t size)
{
	void *c = malloc(size);
	if (c)
		memcpy(c, ctx, size);
	return c;
}

/* Reference rows for one (T, threads): OpenBLAS, then oneDNN when built. */
static bool reference_rows(const struct bench_plan *p, const struct bench_weights *w,
                           const struct bench_buffers *b, unsigned threads, struct bench_result *r,
                           struct group *g)
{
	struct bench_blas_call bc = {&p->shape, b, w->fused, threads};
	for (int gemv = 0; gemv <= (b->T == 1); gemv++) {
		struct bench_row *row = push_row(r, gemv ? "cblas_sgemv" : "cblas_sgemm",
		                                 BENCH_REFERENCE, QKV_F32, b->T, threads);
		void *ctx = dup_ctx(&bc, sizeof(bc));
		if (!row || !ctx) {
			free(ctx);
			return false;
		}
		bench_blas_detail(row->detail, sizeof(row->detail));
		group_add(g, r, gemv ? bench_call_sgemv : bench_call_sgemm, ctx, free, NULL);
	}
	for (unsigned prec = 0; prec < QKV_PRECISION_COUNT; prec++) {
		if (!bench_onednn_supports(prec) ||
		    !(p->precisions & QKV_PRECISION_BIT(prec) || prec == QKV_F32))
			continue;
		char name[32];
		snprintf(name, sizeof(name), "onednn_%s", qkv_precision_name(prec));
		struct bench_row *row = push_row(r, name, BENCH_REFERENCE, prec, b->T, threads);
		if (!row)
			return false;
		void *ctx =
		    bench_onednn_prepare(&p->shape, w->fused, b, prec, threads, row->detail,
		                         sizeof(row->detail), row->status, sizeof(row->status));
		if (ctx)
			group_add(g, r, bench_onednn_call, ctx, bench_onednn_free, NULL);
	}
	return true;
}

static bool backend_row(const struct bench_plan *p, const struct bench_weights *w,
                        const struct bench_buffers *b, struct backend *be, unsigned prec,
                        unsigned threads, unsigned max_threads, struct last_row *last,
                        struct bench_result *r, struct group *g)
{
	struct bench_row *row = push_row(r, be->name, BENCH_BACKEND, prec, b->T, threads);
	if (!row)
		return false;
	if (!be->tried[prec])
		open_model(p, w, be, prec, max_threads);
	if (be->stored_bytes > 0) {
		r->shape.stored_bytes = be->stored_bytes;
		r->shape.stored_integer = be->stored_integer;
	}
	row->prepare_s = be->prepare_s[prec];
	row->bytes_prepared = be->mem[prec][0];
	row->bytes_in_place = be->mem[prec][1];
	snprintf(row->detail, sizeof(row->detail), "%s", be->detail[prec]);
	if (!be->model[prec]) {
		snprintf(row->status, sizeof(row->status), "did not open: %s", be->why[prec]);
		return true;
	}
	/* Time grows with T but GFLOP/s improves with T too (weights reused from cache);
	 * grant up to 4x better GFLOP/s. More lets a backend that does not improve with T
	 * (the scalar reference: 0.2 s at T = 1, 29 s at T = 128 on Llama-3-8B) through. */
	double grow = last->T ? (double)b->T / (double)last->T : 0.0;
	double better = grow > 4 ? 4 : (grow > 1 ? grow : 1);
	double est = last->median * grow / better;
	if (est > p->max_call) {
		snprintf(
		    row->status, sizeof(row->status),
		    "skipped: about %.1f s per call (estimated from T=%zu) > --max-call %.1f s",
		    est, last->T, p->max_call);
		return true;
	}
	struct bench_model_call mc = {be->model[prec], &p->shape, b, threads};
	void *ctx = dup_ctx(&mc, sizeof(mc));
	if (!ctx)
		return false;
	group_add(g, r, bench_call_model, ctx, free, last);
	if (p->overhead && !p->config_path) {
		char name[40];
		snprintf(name, sizeof(name), "%s_direct", be->name);
		struct bench_row *d = push_row(r, name, BENCH_REFERENCE, prec, b->T, threads);
		if (!d)
			return false;
		snprintf(d->detail, sizeof(d->detail), "plugin project() without the core");
		ctx = bench_direct_prepare(be->name, &p->shape, w, p->layout, prec, b, threads,
		                           d->status, sizeof(d->status));
		if (ctx)
			group_add(g, r, bench_direct_call, ctx, bench_direct_free, NULL);
	}
	return true;
}

/* Release the contexts of a group that will not run (out of memory). */
static void group_drop(struct group *g)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->item[i].done)
			g->item[i].done(g->item[i].ctx);
	g->n = 0;
}

/* Dispatcher cost: API row median minus the matching _direct row median. */
static void overhead_notes(struct bench_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *d = &r->rows[i];
		size_t len = strlen(d->backend);
		if (!d->ok || len < 8 || strcmp(d->backend + len - 7, "_direct"))
			continue;
		for (size_t j = 0; j < r->n; j++) {
			const struct bench_row *a = &r->rows[j];
			if (a->ok && a->kind == BENCH_BACKEND && a->T == d->T &&
			    a->threads == d->threads && a->precision == d->precision &&
			    strlen(a->backend) == len - 7 &&
			    !strncmp(a->backend, d->backend, len - 7))
				note(r,
				     "dispatch overhead %s %s T=%zu threads=%u: %.3f us per call "
				     "(API median %.3f us - direct median %.3f us)",
				     a->backend, bench_precision_name(a->precision), a->T,
				     a->threads, (a->st.median - d->st.median) * 1e6,
				     a->st.median * 1e6, d->st.median * 1e6);
		}
	}
}

static void derive(struct bench_result *r, const struct bench_machine *m)
{
	const struct bench_shape *s = &r->shape;
	overhead_notes(r);
	for (size_t i = 0; i < r->n; i++) {
		struct bench_row *row = &r->rows[i];
		if (!row->ok || row->st.median <= 0)
			continue;
		double sec = row->st.median;
		row->gflops = 2.0 * (double)row->T * s->d_model * s->n / sec * 1e-9;
		row->weight_gbs = bench_weight_bytes(s, row->precision) / sec * 1e-9;
		bool integer = row->precision == QKV_INT8 ||
		               (row->precision == QKV_STORED && s->stored_integer);
		double peak = integer ? bench_machine_peak_int8(m, row->threads)
		                      : bench_machine_peak(m, row->threads),
		       bw = bench_machine_bw(m, row->threads);
		row->peak_pct = peak > 0 ? 100.0 * row->gflops / peak : 0.0;
		row->bw_pct = bw > 0 ? 100.0 * row->weight_gbs / bw : 0.0;
		for (size_t j = 0; j < r->n; j++) {
			const struct bench_row *ref = &r->rows[j];
			if (!ref->ok || ref->T != row->T || ref->threads != row->threads)
				continue;
			if (!strcmp(ref->backend, "cblas_sgemm"))
				row->vs_sgemm = ref->st.median / sec;
			if (!strcmp(ref->backend, "cblas_sgemv"))
				row->vs_sgemv = ref->st.median / sec;
		}
	}
}

/* The 1-minute load average: how busy the machine was while measuring. */
static double load_average(void)
{
	double v = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Refuse sizes that would exhaust memory (and meet the OOM killer, not malloc's NULL):
 * two buffer sets of X and Y for the largest T, plus two copies of the weights. */
static bool sizes_fit(const struct bench_plan *p, char *err, size_t errlen)
{
	const struct bench_shape *s = &p->shape;
	for (size_t i = 0; i < p->nT; i++) {
		double gib = (2.0 * (double)p->T[i] * (s->d_model + s->n) +
		              2.0 * (double)s->d_model * s->n) *
		             sizeof(float) / (1u << 30);
		if (gib > BENCH_MAX_GIB) {
			snprintf(err, errlen,
			         "--tokens %zu: %s would need %.0f GiB of buffers (limit %d GiB)",
			         p->T[i], s->name, gib, BENCH_MAX_GIB);
			return false;
		}
	}
	return true;
}

/* A preset whose rows of precision stored need a block type: its weights written in that
 * type (bench_stored.h), p->stored_config set for open_model, the type named in the shape. */
static bool stored_preset(struct bench_plan *p, const struct bench_weights *w,
                          struct bench_result *r, struct bench_stored *stored, char *err,
                          size_t errlen)
{
	memset(stored, 0, sizeof(*stored));
	p->stored_config = NULL;
	if (p->config_path || !(p->precisions & QKV_PRECISION_BIT(QKV_STORED)))
		return true;
	const struct qkv_wtype_traits *tr =
	    p->wtype >= 0 ? qkv_wtype_traits((uint32_t)p->wtype) : NULL;
	if (!tr || tr->block == 1) {
		snprintf(err, errlen,
		         "--precision stored: a preset needs a block type "
		         "(q8_0, q4_k, ...) to store its weights in");
		return false;
	}
	if (!bench_stored_make(&p->shape, w, (uint32_t)p->wtype, stored, err, errlen))
		return false;
	p->stored_config = stored->config;
	size_t len = strlen(r->shape.name);
	snprintf(r->shape.name + len, sizeof(r->shape.name) - len, ", stored %s", tr->name);
	note(r,
	     "stored %s: the preset's weights quantized by the type's reference quantizer "
	     "into a GGUF file, used in place; no reference library has this arithmetic "
	     "(oneDNN and OpenBLAS have no GGUF block types)",
	     tr->name);
	return true;
}

bool bench_plan_run(struct bench_plan *p, const struct bench_machine *m, struct bench_result *r,
                    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->load[0] = load_average();
	if (p->config_path && !config_shape(p, err, errlen))
		return false;
	if (p->shard_world > 1 && !shard_shape(p, err, errlen))
		return false;
	if (!p->precisions)
		p->precisions = QKV_PRECISION_BIT(QKV_F32);
	r->shape = p->shape;
	struct backend *be = calloc(BENCH_MAX_LIST, sizeof(*be));
	if (!be) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	size_t nbe = find_backends(p, be, BENCH_MAX_LIST, r);
	for (size_t i = 0; i < nbe; i++) {
		if (be[i].missing[0] && p->nbackends)
			continue;
		for (unsigned prec = 0; prec < QKV_PRECISION_COUNT; prec++)
			if ((p->precisions & QKV_PRECISION_BIT(prec)) &&
			    !(be[i].precisions & QKV_PRECISION_BIT(prec)))
				note(r, "%s: does not support %s", be[i].name,
				     qkv_precision_name(prec));
	}
	if (p->references && !bench_onednn_supports(QKV_F32))
		note(r, "oneDNN reference rows: %s", bench_onednn_status());
	if (!sizes_fit(p, err, errlen)) {
		free(be);
		return false;
	}
	struct bench_weights w;
	if (!bench_weights_make(&p->shape, p->layout, &w)) {
		snprintf(err, errlen, "out of memory for the %s weights", p->shape.name);
		free(be);
		return false;
	}
	struct bench_stored stored;
	if (!stored_preset(p, &w, r, &stored, err, errlen)) {
		free(be);
		bench_weights_free(&w);
		return false;
	}
	unsigned max_threads = 1;
	for (size_t i = 0; i < p->nthreads; i++)
		if (p->threads[i] > max_threads)
			max_threads = (unsigned)p->threads[i];
	struct last_row *last = calloc(nbe * QKV_PRECISION_COUNT * p->nthreads + 1, sizeof(*last));
	struct group *g = calloc(1, sizeof(*g));
	bool ok = last && g;
	bench_progress_start(p->nT * p->nthreads, p->quiet);
	for (size_t ti = 0; ok && ti < p->nT; ti++) {
		struct bench_buffers b;
		if (!bench_buffers_make(&b, &p->shape, p->T[ti])) {
			ok = false;
			break;
		}
		for (size_t hi = 0; ok && hi < p->nthreads; hi++) {
			unsigned th = (unsigned)p->threads[hi];
			if (p->references)
				ok = reference_rows(p, &w, &b, th, r, g);
			for (size_t i = 0; ok && i < nbe; i++) {
				if (be[i].missing[0]) {
					if (ti == 0 && hi == 0 && p->nbackends) {
						note(r, "%s: %s", be[i].name, be[i].missing);
					}
					continue;
				}
				for (unsigned prec = 0; ok && prec < QKV_PRECISION_COUNT; prec++)
					if (p->precisions & be[i].precisions &
					    QKV_PRECISION_BIT(prec))
						ok = backend_row(
						    p, &w, &b, &be[i], prec, th, max_threads,
						    &last[(i * QKV_PRECISION_COUNT + prec) *
						              p->nthreads +
						          hi],
						    r, g);
			}
			if (ok)
				group_run(g, r, b.nbuf, p->min_time, p->interleave);
			else if (g)
				group_drop(g);
		}
		bench_buffers_free(&b);
	}
	bench_progress_end();
	for (size_t i = 0; i < nbe; i++)
		for (unsigned prec = 0; prec < QKV_PRECISION_COUNT; prec++)
			qkv_model_close(be[i].model[prec]);
	free(last);
	free(g);
	free(be);
	bench_weights_free(&w);
	bench_stored_remove(&stored);
	p->stored_config = NULL;
	if (!ok) {
		snprintf(err, errlen, "out of memory while measuring");
		return false;
	}
	for (size_t i = 0; i < p->nbackends; i++) { /* named backends that gave no row */
		size_t measured = 0;
		for (size_t k = 0; k < r->n; k++)
			measured += r->rows[k].ok && r->rows[k].kind == BENCH_BACKEND &&
			            !strcmp(r->rows[k].backend, p->backends[i]);
		r->failed_named += measured == 0;
	}
	r->load[1] = load_average();
	derive(r, m);
	return true;
}

void bench_result_free(struct bench_result *r)
{
	free(r->rows);
	memset(r, 0, sizeof(*r));
}
