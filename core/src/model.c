/* Model lifetime, backend selection and the project entry points. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "dims.h"
#include "near.h"
#include "util.h"

const char *qkv_version(void)
{
#define QKV_STR2(x) #x
#define QKV_STR(x) QKV_STR2(x)
	return QKV_STR(QKV_VERSION_MAJOR) "." QKV_STR(QKV_VERSION_MINOR) "." QKV_STR(
	    QKV_VERSION_PATCH);
}

const char *qkv_status_str(enum qkv_status status)
{
	switch (status) {
	case QKV_OK:
		return "ok";
	case QKV_ERR_ARGUMENT:
		return "invalid argument";
	case QKV_ERR_NOMEM:
		return "out of memory";
	case QKV_ERR_IO:
		return "I/O error";
	case QKV_ERR_CONFIG:
		return "invalid config";
	case QKV_ERR_FORMAT:
		return "invalid weight file";
	case QKV_ERR_PLUGIN:
		return "no usable backend plugin";
	case QKV_ERR_UNSUPPORTED:
		return "unsupported";
	case QKV_ERR_BACKEND:
		return "backend failure";
	case QKV_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown status";
}

enum qkv_status qkv_problem_init(struct qkv_problem *pb, uint32_t d_model, uint32_t n_heads,
                                 uint32_t n_kv_heads, uint32_t head_dim, uint32_t precision,
                                 char *err, size_t errlen)
{
	memset(pb, 0, sizeof(*pb));
	struct qkv_dims d = {.d_model = d_model,
	                     .n_heads = n_heads,
	                     .n_kv_heads = n_kv_heads,
	                     .head_dim = head_dim,
	                     .precision = precision};
	char msg[400];
	enum qkv_status st;
	const char *bad = qkv_dims_check(&d, msg, sizeof(msg), &st);
	if (bad)
		return qkv_fail(err, errlen, st, "argument `%s`: %s", bad, msg);
	pb->struct_size = sizeof(*pb);
	pb->precision = precision;
	pb->d_model = d_model;
	pb->n_heads = n_heads;
	pb->n_kv_heads = d.n_kv_heads;
	pb->head_dim = d.head_dim;
	pb->d_q = d.d_q;
	pb->d_kv = d.d_kv;
	pb->threads = 1;
	return QKV_OK;
}

struct qkv_model *qkv_model_new(void)
{
	struct qkv_model *m = qkv_calloc(1, sizeof(*m));
	if (m) {
		m->wt.struct_size = sizeof(m->wt);
		m->def.t_max = UINT64_MAX;
	}
	return m;
}

void qkv_model_log(struct qkv_model *m, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strlen(line);
	if (m->log_len + len + 2 > m->log_cap) {
		size_t cap = (m->log_cap ? 2 * m->log_cap : 512) + len + 2;
		char *p = qkv_realloc(m->log, cap);
		if (!p)
			return;
		m->log = p;
		m->log_cap = cap;
	}
	memcpy(m->log + m->log_len, line, len);
	m->log_len += len;
	m->log[m->log_len++] = '\n';
	m->log[m->log_len] = '\0';
}

static void route_release(struct qkv_model_route *r)
{
	if (r->plugin) {
		if (r->owns_handle)
			r->plugin->be->release(r->handle);
		qkv_plugin_unref(r->plugin);
	}
	memset(r, 0, sizeof(*r));
}

void qkv_model_close(qkv_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_routes; i++)
		route_release(&m->routes[i]);
	route_release(&m->def);
	if (m->has_lw)
		qkv_weights_free(&m->lw);
	qkv_free(m->log);
	qkv_free(m);
}

/* The backend on the search path whose name is nearest to `name`, into near[len] ("" if
 * none is close): for the "did you mean" of a backend name that is not there. */
static void near_backend(char *const *dirs, const char *name, char *near, size_t len)
{
	char **files = qkv_plugin_list(dirs);
	char names[32][64]; /* [file] backend name from qkv_NAME.so */
	struct qkv_near nr = {.name = name};
	for (size_t i = 0; files && files[i] && i < 32; i++) {
		const char *base = strrchr(files[i], '/');
		base = base ? base + 1 : files[i];
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)strlen(base) - 7, base + 4);
		qkv_near_try(&nr, names[i]);
	}
	snprintf(near, len, "%s", nr.best ? nr.best : "");
	qkv_search_path_free(files);
}

/* A backend the program or user named (prefer, QKV_BACKEND, routes) is not on the
 * search path: that is a typo or a missing install, never silently skipped. */
static void warn_not_found(struct qkv_model *m, char *const *dirs, const char *name,
                           const char *what)
{
	char near[64];
	near_backend(dirs, name, near, sizeof(near));
	qkv_model_log(
	    m, "warning: %s names backend `%s`, which is not on the plugin search path%s%s%s", what,
	    name, near[0] ? " (did you mean `" : "", near, near[0] ? "`?)" : "");
}

/* Try one backend by name: find, load, probe, check precision, prepare. On success
 * fills r; otherwise writes the reason into why. */
static enum qkv_status try_backend(struct qkv_model *m, char *const *dirs, const char *name,
                                   struct qkv_model_route *r, char *why, size_t whylen)
{
	char *path = NULL;
	enum qkv_status st = qkv_plugin_locate(dirs, name, &path);
	if (st == QKV_ERR_NOMEM)
		return qkv_fail(why, whylen, st, "out of memory for the path of qkv_%s.so", name);
	if (!path) {
		char searched[300] = "";
		size_t used = 0;
		for (size_t i = 0; dirs && dirs[i] && used < sizeof(searched); i++) {
			int n = snprintf(searched + used, sizeof(searched) - used, "%s%s",
			                 i ? ", " : "", dirs[i]);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		return qkv_fail(why, whylen, QKV_ERR_PLUGIN, "not found (qkv_%s.so in: %s)", name,
		                searched[0] ? searched : "no folders");
	}
	struct qkv_plugin *p = NULL;
	st = qkv_plugin_load_file(path, &p, why, whylen);
	qkv_free(path);
	if (st != QKV_OK)
		return st;
	if (strcmp(p->be->name, name) != 0) {
		qkv_fail(why, whylen, QKV_ERR_PLUGIN, "%s: declares the name `%s`", p->path,
		         p->be->name);
		qkv_plugin_unref(p);
		return QKV_ERR_PLUGIN;
	}
	if (p->probe.score <= 0) {
		qkv_fail(why, whylen, QKV_ERR_UNSUPPORTED, "probe: cannot run here: %s",
		         p->probe.detail);
		qkv_plugin_unref(p);
		return QKV_ERR_UNSUPPORTED;
	}
	if (!(p->be->precisions & QKV_PRECISION_BIT(m->pb.precision))) {
		qkv_fail(why, whylen, QKV_ERR_UNSUPPORTED, "does not support precision %s",
		         qkv_precision_name(m->pb.precision));
		qkv_plugin_unref(p);
		return QKV_ERR_UNSUPPORTED;
	}
	void *handle = NULL;
	char msg[400] = "";
	st = p->be->prepare(&m->pb, &m->wt, &handle, msg, sizeof(msg));
	if (st != QKV_OK) {
		p->be->release(handle); /* half-built handles are the plugin's to free */
		msg[sizeof(msg) - 1] = '\0';
		qkv_fail(why, whylen, st == QKV_ERR_NOMEM ? QKV_ERR_NOMEM : QKV_ERR_BACKEND,
		         "prepare failed (%s): %s", qkv_status_str(st), msg);
		qkv_plugin_unref(p);
		return st == QKV_ERR_NOMEM ? QKV_ERR_NOMEM : QKV_ERR_BACKEND;
	}
	r->plugin = p;
	r->handle = handle;
	r->owns_handle = true;
	return QKV_OK;
}

#if defined(__aarch64__)
/* OpenBLAS's tuned NEON sgemm first: our NEON kernel is not yet measured on ARM
 * (backends/openmp/README.md, "Default on aarch64"). */
static const char *const default_prefer[] = {"blas", "openmp", "int8", "scalar"};
#else
static const char *const default_prefer[] = {"openmp", "blas", "int8", "scalar"};
#endif

static enum qkv_status select_default(struct qkv_model *m, const struct qkv_backend_cfg *bc,
                                      char *const *dirs, bool strict, char *err, size_t errlen)
{
	size_t n = bc->n_prefer ? bc->n_prefer : sizeof(default_prefer) / sizeof(*default_prefer);
	char reasons[1200] = "";
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = bc->n_prefer ? bc->prefer[i] : default_prefer[i];
		char why[600];
		enum qkv_status st = try_backend(m, dirs, name, &m->def, why, sizeof(why));
		if (st == QKV_OK) {
			qkv_model_log(m, "%s: selected (%s)", name, m->def.plugin->probe.detail);
			return QKV_OK;
		}
		qkv_model_log(m, "%s: passed over: %s", name, why);
		if (bc->n_prefer && !strncmp(why, "not found (", 11))
			warn_not_found(m, dirs, name, "the backend list (prefer, QKV_BACKEND)");
		if (st == QKV_ERR_NOMEM)
			return qkv_fail(err, errlen, st, "backend %s: %s", name, why);
		if (strict) /* the candidate's own status: unsupported, plugin, backend */
			return qkv_fail(err, errlen, st, "backend %s (first choice, strict): %s",
			                name, why);
		int k = snprintf(reasons + used, sizeof(reasons) - used, "%s%s: %s",
		                 used ? "; " : "", name, why);
		if (k > 0 && (size_t)k < sizeof(reasons) - used)
			used += (size_t)k;
	}
	return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "no usable backend: %s", reasons);
}

/* Routes written by `qkv tune`: a backend per range of T for this precision. */
static enum qkv_status select_routes(struct qkv_model *m, const struct qkv_backend_cfg *bc,
                                     char *const *dirs, bool strict, char *err, size_t errlen)
{
	for (size_t i = 0; i < bc->n_routes; i++) {
		const struct qkv_route *rt = &bc->routes[i];
		if (rt->precision != m->pb.precision)
			continue;
		struct qkv_model_route *r = &m->routes[m->n_routes];
		r->t_min = rt->t_min;
		r->t_max = rt->t_max;
		if (strcmp(rt->name, m->def.plugin->be->name) == 0) {
			/* Same backend as the default route: share its prepared weights. */
			r->plugin = qkv_plugin_ref(m->def.plugin);
			r->handle = m->def.handle;
			r->owns_handle = false;
			m->n_routes++;
			qkv_model_log(m, "route T %llu..%llu: %s", (unsigned long long)r->t_min,
			              (unsigned long long)r->t_max, rt->name);
			continue;
		}
		char why[600];
		enum qkv_status st = try_backend(m, dirs, rt->name, r, why, sizeof(why));
		if (st == QKV_OK) {
			m->n_routes++;
			qkv_model_log(m, "route T %llu..%llu: %s (%s)",
			              (unsigned long long)r->t_min, (unsigned long long)r->t_max,
			              rt->name, r->plugin->probe.detail);
			continue;
		}
		memset(r, 0, sizeof(*r));
		qkv_model_log(m, "route T %llu..%llu: %s passed over: %s",
		              (unsigned long long)rt->t_min, (unsigned long long)rt->t_max,
		              rt->name, why);
		if (!strncmp(why, "not found (", 11))
			warn_not_found(m, dirs, rt->name, "a route of the machine profile");
		if (strict || st == QKV_ERR_NOMEM)
			return qkv_fail(err, errlen, st == QKV_ERR_NOMEM ? st : QKV_ERR_PLUGIN,
			                "route backend %s: %s", rt->name, why);
	}
	return QKV_OK;
}

enum qkv_status qkv_model_select(struct qkv_model *m, const struct qkv_backend_cfg *bc, char *err,
                                 size_t errlen)
{
	char **dirs = qkv_search_path(bc);
	if (!dirs)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory for the plugin path");
	bool strict = bc->strict == 1;
	enum qkv_status st = select_default(m, bc, dirs, strict, err, errlen);
	if (st == QKV_OK)
		st = select_routes(m, bc, dirs, strict, err, errlen);
	qkv_search_path_free(dirs);
	return st;
}

/* ---- calls ------------------------------------------------------------------------- */

/* Element span [first, last] in bytes of a T x width matrix with row stride ld. */
struct span {
	uintptr_t lo, hi; /* hi exclusive */
	const float *p;
	size_t ld, width;
};

static bool spans_clash(const struct span *a, const struct span *b)
{
	if (a->hi <= b->lo || b->hi <= a->lo)
		return false;
	/* Interleaved rows (the fused [q|k|v] layout): same stride, disjoint columns. */
	if (a->ld != b->ld)
		return true;
	intptr_t d = (intptr_t)((const char *)b->p - (const char *)a->p);
	if (d % (intptr_t)sizeof(float))
		return true;
	intptr_t ld = (intptr_t)a->ld, c = (d / (intptr_t)sizeof(float)) % ld;
	if (c < 0)
		c += ld;
	/* b's columns, relative to a's row start: [c, c + wb), possibly wrapping. */
	intptr_t wa = (intptr_t)a->width, wb = (intptr_t)b->width;
	if (c < wa)
		return true;
	return c + wb > ld; /* wraps into the next row, where a's columns start */
}

static enum qkv_status check_matrix(const char *name, const float *p, size_t T, size_t width,
                                    size_t ld, const char *ldname, struct span *s, char *err,
                                    size_t errlen)
{
	if (!p)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `%s` is NULL", name);
	if (((uintptr_t)p) % _Alignof(float))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `%s` is not aligned to a float (%p)", name, (void *)p);
	if (ld < width)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `%s` = %zu is smaller than the row width %zu", ldname, ld,
		                width);
	size_t elems, bytes;
	if (!qkv_mul_size(T - 1, ld, &elems) || !qkv_add_size(elems, width, &elems) ||
	    !qkv_mul_size(elems, sizeof(float), &bytes) || (uintptr_t)p + bytes < (uintptr_t)p)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "arguments `T` = %zu and `%s` = %zu overflow the address space", T,
		                ldname, ld);
	s->lo = (uintptr_t)p;
	s->hi = (uintptr_t)p + bytes;
	s->p = p;
	s->ld = ld;
	s->width = width;
	return QKV_OK;
}

enum qkv_status qkv_project_call(const qkv_model *m, const struct qkv_call *call, char *err,
                                 size_t errlen)
{
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `model` is NULL");
	if (!call)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `call` is NULL");
	if (!QKV_HAS_MEMBER(call, struct qkv_call, threads))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `call`: struct_size %u is too small", call->struct_size);
	if (call->threads < 0)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `threads` = %d is negative", (int)call->threads);
	size_t T = call->T;
	if (T == 0)
		return QKV_OK;
	static const char *const names[3] = {"q", "k", "v"};
	static const char *const ldnames[3] = {"ldq", "ldk", "ldv"};
	struct span s[4];
	enum qkv_status st =
	    check_matrix("x", call->x, T, m->pb.d_model, call->ldx, "ldx", &s[3], err, errlen);
	for (int p = 0; p < 3 && st == QKV_OK; p++)
		st = check_matrix(names[p], call->out[p], T, p ? m->pb.d_kv : m->pb.d_q,
		                  call->ld_out[p], ldnames[p], &s[p], err, errlen);
	if (st != QKV_OK)
		return st;
	for (int a = 0; a < 4; a++)
		for (int b = a + 1; b < 4; b++)
			if (spans_clash(&s[a], &s[b]))
				return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
				                "arguments `%s` and `%s` overlap",
				                a == 3 ? "x" : names[a], b == 3 ? "x" : names[b]);

	const struct qkv_model_route *r = &m->def;
	for (size_t i = 0; i < m->n_routes; i++)
		if (T >= m->routes[i].t_min && T <= m->routes[i].t_max) {
			r = &m->routes[i];
			break;
		}
	struct qkv_batch b = {
	    .struct_size = sizeof(b),
	    .threads =
	        call->threads > 0
	            ? (uint32_t)(call->threads > QKV_MAX_THREADS ? QKV_MAX_THREADS : call->threads)
	            : m->pb.threads,
	    .T = T,
	    .x = call->x,
	    .ldx = call->ldx,
	    .out = {call->out[0], call->out[1], call->out[2]},
	    .ld_out = {call->ld_out[0], call->ld_out[1], call->ld_out[2]},
	};
	char msg[256] = "";
	st = r->plugin->be->project(r->handle, &b, msg, sizeof(msg));
	if (st != QKV_OK) {
		msg[sizeof(msg) - 1] = '\0';
		return qkv_fail(err, errlen, st, "backend %s: %s", r->plugin->be->name, msg);
	}
	return QKV_OK;
}

enum qkv_status qkv_project(const qkv_model *m, size_t T, const float *x, size_t ldx, float *q,
                            size_t ldq, float *k, size_t ldk, float *v, size_t ldv, char *err,
                            size_t errlen)
{
	struct qkv_call c = {.struct_size = sizeof(c),
	                     .T = T,
	                     .x = x,
	                     .ldx = ldx,
	                     .out = {q, k, v},
	                     .ld_out = {ldq, ldk, ldv}};
	return qkv_project_call(m, &c, err, errlen);
}

enum qkv_status qkv_project_fused(const qkv_model *m, size_t T, const float *x, size_t ldx,
                                  float *y, size_t ldy, char *err, size_t errlen)
{
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `model` is NULL");
	size_t n = (size_t)m->pb.d_q + 2 * (size_t)m->pb.d_kv;
	if (T > 0 && !y)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `y` is NULL");
	if (T > 0 && ldy < n)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `ldy` = %zu is smaller than the row width N = %zu", ldy,
		                n);
	struct qkv_call c = {
	    .struct_size = sizeof(c),
	    .T = T,
	    .x = x,
	    .ldx = ldx,
	    .out = {y, y ? y + m->pb.d_q : NULL, y ? y + m->pb.d_q + m->pb.d_kv : NULL},
	    .ld_out = {ldy, ldy, ldy}};
	return qkv_project_call(m, &c, err, errlen);
}

/* ---- description ------------------------------------------------------------------- */

/* The 0.1 struct is the smallest a caller can hold; later members are filled only when
 * the caller's struct_size covers them (an older caller's struct is smaller). */
#define INFO_HAS(info, member) QKV_HAS_MEMBER(info, struct qkv_model_info, member)

enum qkv_status qkv_model_get_info(const qkv_model *m, struct qkv_model_info *info)
{
	if (!m || !info || !INFO_HAS(info, selection_log))
		return QKV_ERR_ARGUMENT;
	/* since 0.1 */
	info->d_model = m->pb.d_model;
	info->n_heads = m->pb.n_heads;
	info->n_kv_heads = m->pb.n_kv_heads;
	info->head_dim = m->pb.head_dim;
	info->d_q = m->pb.d_q;
	info->d_kv = m->pb.d_kv;
	info->precision = m->pb.precision;
	info->threads = m->pb.threads;
	info->backend = m->def.plugin->be->name;
	info->backend_version = m->def.plugin->be->version;
	info->backend_path = m->def.plugin->path;
	info->backend_detail = m->def.plugin->probe.detail;
	info->selection_log = m->log ? m->log : "";
	/* Members appended later go below, each under INFO_HAS(info, member). */
	if (INFO_HAS(info, weight_bytes)) /* since 0.2: the head shard (model_shard.c) */
		qkv_shard_info(m, info);
	return QKV_OK;
}

const char *qkv_model_backend_for(const qkv_model *m, size_t T)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_routes; i++)
		if (T >= m->routes[i].t_min && T <= m->routes[i].t_max)
			return m->routes[i].plugin->be->name;
	return m->def.plugin->be->name;
}
