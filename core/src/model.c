/* Model lifetime, backend selection and the project entry points. */
#include "model.h"

#include <stdarg.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <qkv/backend_util.h>
#include <qkv/cpu_features.h>
#include <qkv/precision.h>
#include <qkv/wtype.h>

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

/* Try one backend by name: find, load, probe, check precision, prepare. On success
 * fills r; otherwise writes the reason into why, and *typo is the installed backend
 * whose name is nearest to a name that is not on the search path at all ("" when the
 * name was found, or nothing is near: then it is a backend that is not installed). */
static enum qkv_status try_backend(struct qkv_model *m, char *const *dirs, const char *name,
                                   struct qkv_model_route *r, char *why, size_t whylen,
                                   char near[64])
{
	char *path = NULL;
	near[0] = '\0';
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
		near_backend(dirs, name, near, 64);
		return qkv_fail(why, whylen, QKV_ERR_PLUGIN, "not found (qkv_%s.so in: %s)%s%s%s",
		                name, searched[0] ? searched : "no folders",
		                near[0] ? "; did you mean `" : "", near, near[0] ? "`?" : "");
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
	if (m->pb.precision == QKV_STORED) {
		uint32_t takes = QKV_WTYPE_BIT(QKV_WT_F32);
		if (QKV_HAS_MEMBER(p->be, struct qkv_backend, wtypes))
			takes |= p->be->wtypes;
		for (int j = 0; j < 3; j++)
			if (!(takes & QKV_WTYPE_BIT(m->pb.wtype[j]))) {
				qkv_fail(why, whylen, QKV_ERR_UNSUPPORTED,
				         "does not take weight type %s (the %s weights)",
				         qkv_wtype_name(m->pb.wtype[j]),
				         qkv_proj_name((unsigned)j));
				qkv_plugin_unref(p);
				return QKV_ERR_UNSUPPORTED;
			}
	}
	void *handle = NULL;
	char msg[400] = "";
	st = p->be->prepare(&m->pb, &m->wt, &handle, msg, sizeof(msg));
	if (st != QKV_OK) {
		p->be->release(handle); /* half-built handles are the plugin's to free */
		msg[sizeof(msg) - 1] = '\0';
		/* out of memory, and a request this machine cannot serve (oneDNN's int8
		 * without VNNI), keep their status; any other failure is the backend's */
		enum qkv_status out =
		    st == QKV_ERR_NOMEM || st == QKV_ERR_UNSUPPORTED ? st : QKV_ERR_BACKEND;
		qkv_fail(why, whylen, out, "prepare failed (%s): %s", qkv_status_str(st), msg);
		qkv_plugin_unref(p);
		return out;
	}
	struct qkv_handle_memory mem = {.struct_size = sizeof(mem), .keeps_weights = 1};
	bool known = QKV_HAS_MEMBER(p->be, struct qkv_backend, memory) && p->be->memory;
	if (known) {
		p->be->memory(handle, &mem);
		mem.struct_size = sizeof(mem);
	}
	if (m->zero_copy && !mem.keeps_weights) {
		p->be->release(handle);
		qkv_fail(why, whylen, QKV_ERR_UNSUPPORTED,
		         "makes its own copy of the weights (%.1f MiB), and zero_copy asks for "
		         "backends that read them in place",
		         (double)mem.bytes_made / 1048576.0);
		qkv_plugin_unref(p);
		return QKV_ERR_UNSUPPORTED;
	}
	r->plugin = p;
	r->handle = handle;
	r->owns_handle = true;
	r->mem = mem;
	r->mem_known = known;
	return QKV_OK;
}

size_t qkv_default_order(const struct qkv_cpu_features *f, const char *out[], size_t max)
{
#if defined(__aarch64__)
	/* OpenBLAS's tuned NEON sgemm first: our NEON kernel is not yet measured on ARM
	 * (backends/openmp/README.md, "Default on aarch64"). */
	static const char *const base[] = {"blas", "openmp", "int8", "quant", "scalar"};
#else
	static const char *const base[] = {"openmp", "blas", "int8", "quant", "scalar"};
#endif
	size_t n = 0;
	for (size_t i = 0; i < sizeof(base) / sizeof(*base) && n < max; i++) {
		/* AMX tiles: oneDNN's int8 matmul uses them and was 1.7 x the int8 backend at
		 * T >= 128 on a Sapphire-Rapids-class Xeon (issue 24); f32 stays with openmp
		 * and blas, which come first and take f32 */
		if (f->amx_int8 && !strcmp(base[i], "int8") && n < max)
			out[n++] = "onednn";
		if (n < max)
			out[n++] = base[i];
	}
	return n;
}

static enum qkv_status select_default(struct qkv_model *m, const struct qkv_backend_cfg *bc,
                                      char *const *dirs, bool strict, char *err, size_t errlen)
{
	const char *default_prefer[8];
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	size_t n_default = qkv_default_order(&f, default_prefer, 8);
	size_t n = bc->n_prefer ? bc->n_prefer : n_default;
	char reasons[1200] = "";
	size_t used = 0;
	m->order[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(m->order);
		snprintf(m->order + len, sizeof(m->order) - len, "%s%s", i ? ", " : "",
		         bc->n_prefer ? bc->prefer[i] : default_prefer[i]);
	}
	if (!bc->n_prefer || !m->prefer_source)
		m->prefer_source = "the default";
	qkv_model_log(m, "order: %s (from %s)", m->order, m->prefer_source);
	for (size_t i = 0; i < n; i++) {
		const char *name = bc->n_prefer ? bc->prefer[i] : default_prefer[i];
		char why[600], near[64];
		enum qkv_status st = try_backend(m, dirs, name, &m->def, why, sizeof(why), near);
		if (st == QKV_OK) {
			qkv_model_log(m, "%s: selected (%s)", name, m->def.plugin->probe.detail);
			return QKV_OK;
		}
		qkv_model_log(m, "%s: passed over: %s", name, why);
		/* A misspelt name would silently cost the backend the user asked for. */
		if (near[0] && bc->n_prefer)
			return qkv_fail(
			    err, errlen, QKV_ERR_CONFIG,
			    "the backend list (from %s) names `%s`, which is not on the plugin "
			    "search path; did you mean `%s`?",
			    m->prefer_source, name, near);
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

/* "T 1..63", or "T >= 64" for a range open at the top. */
static const char *range_text(char buf[64], uint64_t lo, uint64_t hi)
{
	if (hi == UINT64_MAX)
		snprintf(buf, 64, "T >= %llu", (unsigned long long)lo);
	else
		snprintf(buf, 64, "T %llu..%llu", (unsigned long long)lo, (unsigned long long)hi);
	return buf;
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
		char rg[64];
		r->t_min = rt->t_min;
		r->t_max = rt->t_max;
		if (strcmp(rt->name, m->def.plugin->be->name) == 0) {
			/* Same backend as the default route: share its prepared weights. */
			r->plugin = qkv_plugin_ref(m->def.plugin);
			r->handle = m->def.handle;
			r->owns_handle = false;
			m->n_routes++;
			qkv_model_log(m, "route %s: %s", range_text(rg, r->t_min, r->t_max),
			              rt->name);
			continue;
		}
		char why[600], near[64];
		enum qkv_status st = try_backend(m, dirs, rt->name, r, why, sizeof(why), near);
		if (st == QKV_OK) {
			m->n_routes++;
			qkv_model_log(m, "route %s: %s (%s)", range_text(rg, r->t_min, r->t_max),
			              rt->name, r->plugin->probe.detail);
			continue;
		}
		memset(r, 0, sizeof(*r));
		qkv_model_log(m, "route %s: %s passed over: %s",
		              range_text(rg, rt->t_min, rt->t_max), rt->name, why);
		if (near[0])
			return qkv_fail(
			    err, errlen, QKV_ERR_CONFIG,
			    "a route of the machine profile names `%s`, which is not on "
			    "the plugin search path; did you mean `%s`?",
			    rt->name, near);
		if (strict || st == QKV_ERR_NOMEM)
			return qkv_fail(err, errlen, st == QKV_ERR_NOMEM ? st : QKV_ERR_PLUGIN,
			                "route backend %s: %s", rt->name, why);
	}
	return QKV_OK;
}

/* A plugin folder named by the program or user (config, profile, options; the tools check
 * QKV_PLUGIN_PATH and --plugin-dir themselves) that is not there: a typo or a missing
 * install, said in the log rather than searched in silence. */
static void warn_missing_dirs(struct qkv_model *m, const struct qkv_backend_cfg *bc)
{
	for (size_t i = 0; i < bc->n_plugin_dirs; i++) {
		struct stat sb;
		if (stat(bc->plugin_dirs[i], &sb) != 0 || !S_ISDIR(sb.st_mode))
			qkv_model_log(m, "warning: plugin folder %s (plugin_dirs) %s",
			              bc->plugin_dirs[i],
			              stat(bc->plugin_dirs[i], &sb) != 0 ? "does not exist"
			                                                 : "is not a folder");
	}
}

enum qkv_status qkv_model_select(struct qkv_model *m, const struct qkv_backend_cfg *bc, char *err,
                                 size_t errlen)
{
	warn_missing_dirs(m, bc);
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

/* ---- description ------------------------------------------------------------------- */

/* The 0.1 struct is the smallest a caller can hold; later members are filled only when
 * the caller's struct_size covers them (an older caller's struct is smaller). */
#define INFO_HAS(info, member) QKV_HAS_MEMBER(info, struct qkv_model_info, member)

/* Is p one of the buffers the core made (a widened, gathered or sliced copy)? Every copy
 * is handed out from its start; anything else is the file's mapping or the caller's. */
static bool core_copy(const struct qkv_model *m, const void *p)
{
	for (size_t i = 0; m->has_lw && i < m->lw.n_owned; i++)
		if (m->lw.owned[i] == p)
			return true;
	return false;
}

/* Each projection's type, bytes and whether it is used in place, as prepare got them. */
static void weights_record(struct qkv_model *m)
{
	m->in_place = 0;
	for (int p = 0; p < 3; p++) {
		uint64_t d_out = qkv_out_width(&m->pb, p), K = m->pb.d_model;
		const void *w = m->wt.w_blk[p]  ? m->wt.w_blk[p]
		                : m->wt.w_i8[p] ? (const void *)m->wt.w_i8[p]
		                                : (const void *)m->wt.w[p];
		m->wtype[p] = m->pb.wtype[p];
		m->wbytes[p] = m->wt.w_blk[p]  ? d_out * qkv_wtype_row_bytes(m->pb.wtype[p], K)
		               : m->wt.w_i8[p] ? d_out * K
		                               : d_out * K * sizeof(float);
		if (w && !core_copy(m, w))
			m->in_place |= 1u << p;
	}
}

/* Every route with its own handle, the default first. */
static size_t owned_routes(const struct qkv_model *m, const struct qkv_model_route *out[],
                           size_t max)
{
	size_t n = 0;
	if (m->def.plugin && m->def.owns_handle)
		out[n++] = &m->def;
	for (size_t i = 0; i < m->n_routes && n < max; i++)
		if (m->routes[i].plugin && m->routes[i].owns_handle)
			out[n++] = &m->routes[i];
	return n;
}

static bool weights_needed(const struct qkv_model *m)
{
	const struct qkv_model_route *r[QKV_CONFIG_MAX_LIST + 1];
	size_t n = owned_routes(m, r, QKV_CONFIG_MAX_LIST + 1);
	for (size_t i = 0; i < n; i++)
		if (r[i]->mem.keeps_weights)
			return true;
	return false;
}

void qkv_model_let_go_weights(struct qkv_model *m)
{
	weights_record(m);
	if (weights_needed(m))
		return;
	if (m->has_lw)
		qkv_weights_let_go(&m->lw);
	uint32_t layout = m->wt.layout;
	memset(&m->wt, 0, sizeof(m->wt));
	m->wt.struct_size = sizeof(m->wt);
	m->wt.layout = layout;
	m->weights_released = true;
#if defined(__GLIBC__)
	malloc_trim(0); /* prepare's temporaries and the freed copies back to the system */
#endif
}

static void weights_info(const struct qkv_model *m, struct qkv_model_info *info)
{
	for (int p = 0; p < 3; p++) {
		info->wtype[p] = m->wtype[p];
		info->wbytes[p] = m->wbytes[p];
	}
	info->in_place = m->in_place; /* how the core handed them over; memory_info says more */
}

/* Bytes the prepared handles hold and read (since 0.3 members). */
static void memory_info(const struct qkv_model *m, struct qkv_model_info *info)
{
	const struct qkv_model_route *r[QKV_CONFIG_MAX_LIST + 1];
	size_t n = owned_routes(m, r, QKV_CONFIG_MAX_LIST + 1);
	info->bytes_prepared = 0;
	info->prepared_known = 1;
	for (size_t i = 0; i < n; i++) {
		info->bytes_prepared += r[i]->mem.bytes_made;
		info->prepared_known &= r[i]->mem_known;
	}
	info->weights_needed = weights_needed(m);
	info->bytes_in_place = 0;
	for (int p = 0; p < 3 && info->weights_needed; p++)
		if (m->in_place & (1u << p))
			info->bytes_in_place += m->wbytes[p];
	info->weights_released = m->weights_released;
}

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
	if (INFO_HAS(info, in_place)) /* since 0.2: each projection's type and bytes */
		weights_info(m, info);
	if (INFO_HAS(info, order_source)) { /* since 0.2: the backend order in force */
		info->order = m->order;
		info->order_source = m->prefer_source ? m->prefer_source : "the default";
	}
	if (INFO_HAS(info, file_types)) { /* since 0.3: the weight files read */
		info->n_files = m->has_lw ? (uint32_t)m->lw.n_files : 0;
		info->file = m->has_lw ? m->lw.file_path : NULL;
		info->file_types = m->has_lw ? m->lw.file_type : NULL;
	}
	if (INFO_HAS(info, weights_released)) /* since 0.3: memory */
		memory_info(m, info);
	return QKV_OK;
}

const char *qkv_model_backend_for(const qkv_model *m, size_t T)
{
	return m ? qkv_model_route_for(m, T)->plugin->be->name : NULL;
}
