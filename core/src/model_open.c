/* Opening a model: from a YAML config (+ machine profile) or from caller-held tensors.
 *
 * Backend settings are merged in one place, later sources winning:
 *   model config `backend:` < machine profile < environment < the program's explicit
 *   choice (qkv_open_options, or the qkv_model_desc of qkv_model_open_memory).
 * An explicit value left unset (NULL, 0) lets the earlier sources decide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>

#include "cpu.h"
#include "model.h"
#include "util.h"
#include "weights.h"

enum qkv_status qkv_prefer_parse(struct qkv_backend_cfg *bc, const char *list, const char *what,
                                 char *err, size_t errlen)
{
	for (size_t i = 0; i < bc->n_prefer; i++)
		qkv_free(bc->prefer[i]);
	bc->n_prefer = 0;
	const char *s = list;
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char name[QKV_NAME_MAX + 2];
		if (len == 0 || len > QKV_NAME_MAX)
			return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
			                "%s: backend name `%.*s` is not [a-z0-9_]{1,31}", what,
			                (int)(len > 40 ? 40 : len), s);
		memcpy(name, s, len);
		name[len] = '\0';
		if (!qkv_backend_name_valid(name))
			return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
			                "%s: backend name `%s` is not [a-z0-9_]{1,31}", what, name);
		if (bc->n_prefer == QKV_CONFIG_MAX_LIST)
			return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "%s: more than %d backends",
			                what, QKV_CONFIG_MAX_LIST);
		bc->prefer[bc->n_prefer] = qkv_strdup(name);
		if (!bc->prefer[bc->n_prefer])
			return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		bc->n_prefer++;
		s = end ? end + 1 : s + len;
	}
	if (bc->n_prefer == 0)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "%s: empty backend list", what);
	return QKV_OK;
}

static enum qkv_status parse_threads(const char *s, const char *what, int32_t *out, char *err,
                                     size_t errlen)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0 || v > QKV_MAX_THREADS)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "%s: `%.40s` is not a thread count in 0..%d", what, s,
		                QKV_MAX_THREADS);
	*out = (int32_t)v;
	return QKV_OK;
}

/* The environment: QKV_BACKEND and QKV_THREADS (QKV_PLUGIN_PATH is read by the search
 * path). */
static enum qkv_status apply_env(struct qkv_model *m, struct qkv_backend_cfg *bc, char *err,
                                 size_t errlen)
{
	enum qkv_status st;
	const char *env = getenv("QKV_BACKEND");
	if (env && *env) {
		if ((st = qkv_prefer_parse(bc, env, "QKV_BACKEND", err, errlen)) != QKV_OK)
			return st;
		m->prefer_source = "the environment (QKV_BACKEND)";
	}
	env = getenv("QKV_THREADS");
	if (env && *env &&
	    (st = parse_threads(env, "QKV_THREADS", &bc->threads, err, errlen)) != QKV_OK)
		return st;
	return QKV_OK;
}

/* The program's explicit choice (open options or descriptor), applied last. A value
 * means "not set" when NULL or 0, and then the earlier sources decide. `what` starts
 * the name in errors: "option `" or "argument `desc.". */
static enum qkv_status apply_explicit(struct qkv_model *m, struct qkv_backend_cfg *bc,
                                      const char *prefer, const char *prefer_key, int32_t threads,
                                      int32_t strict, const char *what, char *err, size_t errlen)
{
	char src[64];
	enum qkv_status st;
	snprintf(src, sizeof(src), "%s%s`", what, prefer_key);
	if (prefer) {
		if ((st = qkv_prefer_parse(bc, prefer, src, err, errlen)) != QKV_OK)
			return st;
		m->prefer_source = prefer_key[0] == 'b' ? "the API option `backend` (--backend)"
		                                        : "the API (qkv_model_desc.prefer)";
	}
	if (threads < 0 || threads > QKV_MAX_THREADS)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "%sthreads` = %d is not in 0..%d",
		                what, (int)threads, QKV_MAX_THREADS);
	if (threads > 0)
		bc->threads = threads;
	if (strict)
		bc->strict = 1;
	return QKV_OK;
}

enum qkv_status qkv_backend_cfg_override(struct qkv_model *m, struct qkv_backend_cfg *bc,
                                         const struct qkv_open_options *opts, char *err,
                                         size_t errlen)
{
	enum qkv_status st = apply_env(m, bc, err, errlen);
	if (st != QKV_OK || !opts)
		return st;
	if (!QKV_HAS_MEMBER(opts, struct qkv_open_options, strict))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `opts`: struct_size %u is too small", opts->struct_size);
	return apply_explicit(m, bc, opts->backend, "backend", opts->threads, opts->strict,
	                      "option `", err, errlen);
}

/* Append the folders of a ':'-separated list to bc's plugin_dirs (the search path's
 * first part); folders past QKV_CONFIG_MAX_LIST are refused naming `what`. */
static enum qkv_status add_plugin_dirs(struct qkv_backend_cfg *bc, const char *list,
                                       const char *what, char *err, size_t errlen)
{
	for (const char *s = list; s && *s;) {
		const char *end = strchr(s, ':');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len && bc->n_plugin_dirs == QKV_CONFIG_MAX_LIST)
			return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
			                "%s: more than %d plugin folders in all", what,
			                QKV_CONFIG_MAX_LIST);
		if (len) {
			char *dir = qkv_malloc(len + 1);
			if (!dir)
				return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
			memcpy(dir, s, len);
			dir[len] = '\0';
			bc->plugin_dirs[bc->n_plugin_dirs++] = dir;
		}
		s = end ? end + 1 : s + len;
	}
	return QKV_OK;
}

/* The open options' own members beyond the backend settings: the precision and the
 * plugin folders. */
static enum qkv_status apply_open_extras(struct qkv_config *cfg,
                                         const struct qkv_open_options *opts, char *err,
                                         size_t errlen)
{
	if (!opts || !QKV_HAS_MEMBER(opts, struct qkv_open_options, plugin_dirs))
		return QKV_OK;
	if (opts->precision && !qkv_precision_parse(opts->precision, &cfg->precision)) {
		char names[64] = "";
		for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			         p ? ", " : "", qkv_precision_name(p));
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "option `precision`: `%.40s` is not one of %s", opts->precision,
		                names);
	}
	return add_plugin_dirs(&cfg->backend, opts->plugin_dirs, "option `plugin_dirs`", err,
	                       errlen);
}

/* A budget of 0 ("all cores"): OMP_NUM_THREADS when set, else the CPUs this process may
 * run on, capped at QKV_MAX_THREADS (cpu.h). An explicit budget was checked against
 * QKV_MAX_THREADS where it was given (config, environment, options): refused, not capped. */
static uint32_t resolve_threads(int32_t threads)
{
	return threads > 0 ? (uint32_t)threads : qkv_threads_all();
}

/* "d_model,n_heads,n_kv_heads,head_dim" as `qkv tune` records it in tuned.shape. */
static void shape_text(char *buf, size_t len, uint32_t d_model, uint32_t n_heads,
                       uint32_t n_kv_heads, uint32_t head_dim)
{
	if (!n_kv_heads)
		n_kv_heads = n_heads;
	if (!head_dim && n_heads)
		head_dim = d_model / n_heads;
	snprintf(buf, len, "%u,%u,%u,%u", d_model, n_heads, n_kv_heads, head_dim);
	if (!d_model) /* dimensions the weights file will give: not known yet */
		buf[0] = '\0';
}

/* Move the machine profile's settings over the model config's. `shape` is the model's
 * (shape_text): a profile tuned for another shape or by another qkv is used with a
 * warning in the selection log. */
static enum qkv_status merge_profile(struct qkv_model *m, struct qkv_backend_cfg *dst,
                                     struct qkv_backend_cfg *prof, const char *shape, char *err,
                                     size_t errlen)
{
	if (prof->shape && shape[0] && strcmp(prof->shape, shape))
		qkv_model_log(m,
		              "warning: machine profile %s was tuned for shape %s (d_model,n_heads,"
		              "n_kv_heads,head_dim), this model is %s: its routes may not be the "
		              "fastest here; run qkv tune for this shape",
		              prof->path ? prof->path : "", prof->shape, shape);
	if (prof->version && strcmp(prof->version, qkv_version()))
		qkv_model_log(m,
		              "warning: machine profile %s was tuned with qkv %s, this is qkv %s: "
		              "run qkv tune again",
		              prof->path ? prof->path : "", prof->version, qkv_version());
	if (prof->n_prefer) {
		m->prefer_source = "the machine profile";
		for (size_t i = 0; i < dst->n_prefer; i++)
			qkv_free(dst->prefer[i]);
		memcpy(dst->prefer, prof->prefer, prof->n_prefer * sizeof(char *));
		dst->n_prefer = prof->n_prefer;
		prof->n_prefer = 0;
	}
	if (prof->threads >= 0)
		dst->threads = prof->threads;
	if (prof->strict >= 0)
		dst->strict = prof->strict;
	for (size_t i = 0; i < prof->n_plugin_dirs; i++) {
		if (dst->n_plugin_dirs == QKV_CONFIG_MAX_LIST)
			return qkv_fail(err, errlen, QKV_ERR_CONFIG,
			                "%s: too many plugin_dirs with the model config's",
			                prof->path);
		dst->plugin_dirs[dst->n_plugin_dirs++] = prof->plugin_dirs[i];
	}
	prof->n_plugin_dirs = 0;
	if (prof->n_routes) {
		char here[128];
		qkv_cpu_name(here, sizeof(here));
		if (prof->cpu && strcmp(prof->cpu, here) != 0) {
			qkv_model_log(m,
			              "warning: machine profile %s was tuned on `%s`, this CPU is "
			              "`%s`: its routes are ignored",
			              prof->path ? prof->path : "", prof->cpu, here);
		} else {
			memcpy(dst->routes, prof->routes, prof->n_routes * sizeof(prof->routes[0]));
			dst->n_routes = prof->n_routes;
		}
	}
	return QKV_OK;
}

QKV_API enum qkv_status qkv_model_open(const char *config_path, const struct qkv_open_options *opts,
                                       qkv_model **out, char *err, size_t errlen)
{
	if (!out)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `out` is NULL");
	*out = NULL;
	if (!config_path)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `config_path` is NULL");
	struct qkv_model *m = qkv_model_new();
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	struct qkv_config cfg;
	struct qkv_backend_cfg prof;
	memset(&prof, 0, sizeof(prof));
	bool have_prof = false;
	enum qkv_status st = qkv_config_load(config_path, &cfg, err, errlen);
	if (st != QKV_OK) {
		qkv_model_close(m);
		return st;
	}
	if (cfg.backend.n_prefer)
		m->prefer_source = "the model config (backend.prefer)";
	if (opts && QKV_HAS_MEMBER(opts, struct qkv_open_options, machine_path) &&
	    opts->machine_path) {
		st = qkv_machine_load(opts->machine_path, &prof, err, errlen);
		have_prof = st == QKV_OK;
		char shape[64];
		shape_text(shape, sizeof(shape), cfg.d_model, cfg.n_heads, cfg.n_kv_heads,
		           cfg.head_dim);
		if (st == QKV_OK)
			st = merge_profile(m, &cfg.backend, &prof, shape, err, errlen);
	}
	if (st == QKV_OK)
		st = qkv_backend_cfg_override(m, &cfg.backend, opts, err, errlen);
	if (st == QKV_OK && opts && QKV_HAS_MEMBER(opts, struct qkv_open_options, layer) &&
	    opts->layer_set)
		st = qkv_config_set_layer(&cfg, opts->layer, "option `layer`", err, errlen);
	if (st == QKV_OK)
		st = apply_open_extras(&cfg, opts, err, errlen);
	if (opts && QKV_HAS_MEMBER(opts, struct qkv_open_options, zero_copy))
		m->zero_copy = opts->zero_copy != 0;
	if (st == QKV_OK)
		st = qkv_shard_options(&cfg, opts, err, errlen);
	if (st == QKV_OK)
		st = qkv_shard_problem(m, cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim,
		                       cfg.precision, cfg.shard_rank, cfg.shard_world,
		                       "config `shard`: ", err, errlen);
	if (st == QKV_OK) {
		st = qkv_weights_load(&cfg, &m->lw, err, errlen);
		m->has_lw = st == QKV_OK;
		m->weight_bytes = m->lw.weight_bytes;
	}
	if (st == QKV_OK) {
		m->pb.threads = resolve_threads(cfg.backend.threads);
		m->wt.layout = m->lw.layout;
		for (int p = 0; p < 3; p++) {
			m->wt.w[p] = m->lw.w[p];
			m->wt.bias[p] = m->lw.bias[p];
			m->wt.w_i8[p] = m->lw.w_i8[p];
			m->wt.w_scale[p] = m->lw.w_scale[p];
			m->wt.w_blk[p] = m->lw.w_blk[p];
			m->pb.wtype[p] = m->lw.wtype[p];
		}
		st = qkv_model_select(m, &cfg.backend, err, errlen);
	}
	if (st == QKV_OK)
		qkv_model_let_go_weights(m);
	if (have_prof)
		qkv_backend_cfg_free(&prof);
	qkv_config_free(&cfg);
	if (st != QKV_OK) {
		qkv_model_close(m);
		return st;
	}
	*out = m;
	return QKV_OK;
}

/* The descriptor's machine profile, the environment, then the descriptor's own backend
 * settings (the program's explicit choice wins), then its extra plugin folders. */
static enum qkv_status desc_backend_cfg(struct qkv_model *m, const struct qkv_model_desc *d,
                                        struct qkv_backend_cfg *bc, char *err, size_t errlen)
{
	enum qkv_status st = QKV_OK;
	if (QKV_HAS_MEMBER(d, struct qkv_model_desc, machine_path) && d->machine_path) {
		struct qkv_backend_cfg prof;
		memset(&prof, 0, sizeof(prof));
		st = qkv_machine_load(d->machine_path, &prof, err, errlen);
		char shape[64];
		shape_text(shape, sizeof(shape), d->d_model, d->n_heads, d->n_kv_heads,
		           d->head_dim);
		if (st == QKV_OK) {
			st = merge_profile(m, bc, &prof, shape, err, errlen);
			qkv_backend_cfg_free(&prof);
		}
	}
	if (st == QKV_OK)
		st = apply_env(m, bc, err, errlen);
	if (st == QKV_OK)
		st = apply_explicit(m, bc, d->prefer, "prefer", d->threads, d->strict,
		                    "argument `desc.", err, errlen);
	if (st != QKV_OK)
		return st;
	return add_plugin_dirs(bc, d->plugin_dirs, "argument `desc.plugin_dirs`", err, errlen);
}

QKV_API enum qkv_status qkv_model_open_memory(const struct qkv_model_desc *d, qkv_model **out,
                                              char *err, size_t errlen)
{
	if (!out)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `out` is NULL");
	*out = NULL;
	if (!d)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `desc` is NULL");
	if (!QKV_HAS_MEMBER(d, struct qkv_model_desc, plugin_dirs))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `desc`: struct_size %u is too small", d->struct_size);
	if (d->layout > QKV_LAYOUT_OUT_IN)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `desc.layout`: unknown value %u", d->layout);
	static const char *const wn[3] = {"desc.w[0] (Wq)", "desc.w[1] (Wk)", "desc.w[2] (Wv)"};
	for (int p = 0; p < 3; p++)
		if (!d->w[p])
			return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `%s` is NULL",
			                wn[p]);
	struct qkv_model *m = qkv_model_new();
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	struct qkv_backend_cfg bc;
	memset(&bc, 0, sizeof(bc));
	bool has_shard = QKV_HAS_MEMBER(d, struct qkv_model_desc, shard_world);
	enum qkv_status st =
	    qkv_shard_problem(m, d->d_model, d->n_heads, d->n_kv_heads, d->head_dim, d->precision,
	                      has_shard ? d->shard_rank : 0, has_shard ? d->shard_world : 1,
	                      "argument `desc.", err, errlen);
	if (st == QKV_OK) /* environment < descriptor */
		st = desc_backend_cfg(m, d, &bc, err, errlen);
	if (st == QKV_OK) {
		m->pb.threads = resolve_threads(bc.threads);
		st = qkv_shard_desc_weights(m, d, (uint64_t)m->model_n_heads * m->pb.head_dim,
		                            (uint64_t)m->model_n_kv_heads * m->pb.head_dim, err,
		                            errlen);
	}
	if (QKV_HAS_MEMBER(d, struct qkv_model_desc, zero_copy))
		m->zero_copy = d->zero_copy != 0;
	if (st == QKV_OK)
		st = qkv_model_select(m, &bc, err, errlen);
	if (st == QKV_OK) /* the caller's own buffers stay; only the core's copies go */
		qkv_model_let_go_weights(m);
	qkv_backend_cfg_free(&bc);
	if (st != QKV_OK) {
		qkv_model_close(m);
		return st;
	}
	*out = m;
	return QKV_OK;
}
