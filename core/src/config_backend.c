/* Step 2 of reading a config, for the `backend:` section (model config or machine
 * profile) and for a machine profile's top level: names, threads, strict, plugin
 * folders and the T routes `qkv tune` writes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "util.h"

static enum qkv_status parse_route(const struct cfg_ctx *c, const struct cfg_node *n,
                                   struct cfg_path *path, struct qkv_route *r)
{
	static const char *const keys[] = {"precision", "t_min", "t_max", "backend"};
	/* T values are row counts; 2^40 is far above any batch and keeps sums exact. */
	const uint64_t t_cap = 1ull << 40;
	enum qkv_status st = cfg_check_keys(c, n, path, keys, 4, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = cfg_field(n, path, "precision");
	st = v ? cfg_get_enum(c, v, path->buf, cfg_precision_names, QKV_PRECISION_COUNT,
	                      &r->precision)
	       : cfg_missing(c, n, path);
	cfg_path_pop(path);
	v = cfg_field(n, path, "t_min");
	if (st == QKV_OK)
		st = v ? cfg_get_uint(c, v, path->buf, 0, t_cap, &r->t_min)
		       : cfg_missing(c, n, path);
	cfg_path_pop(path);
	v = cfg_field(n, path, "t_max");
	r->t_max = UINT64_MAX;
	if (v && st == QKV_OK)
		st = cfg_get_uint(c, v, path->buf, 0, t_cap, &r->t_max);
	cfg_path_pop(path);
	v = cfg_field(n, path, "backend");
	const char *name = NULL;
	if (st == QKV_OK)
		st = v ? cfg_get_text(c, v, path->buf, &name) : cfg_missing(c, n, path);
	if (st == QKV_OK && !qkv_backend_name_valid(name)) {
		char shown[48];
		st = cfg_fail(c, v->mark, path->buf, QKV_ERR_CONFIG,
		              "`%s` is not a backend name ([a-z0-9_], 1 to %d characters)",
		              cfg_show(v->str, v->len, shown, sizeof(shown)), QKV_NAME_MAX);
	}
	if (st == QKV_OK)
		memcpy(r->name, name, strlen(name) + 1);
	cfg_path_pop(path);
	return st;
}

/* A list of at most QKV_CONFIG_MAX_LIST entries. */
static enum qkv_status parse_prefer(const struct cfg_ctx *c, const struct cfg_node *n,
                                    struct cfg_path *path, struct qkv_backend_cfg *b)
{
	enum qkv_status st = cfg_check_list(c, n, path->buf);
	for (size_t i = 0; st == QKV_OK && i < n->n; i++) {
		const struct cfg_node *e = n->kids[i];
		const char *name = NULL;
		char shown[48];
		cfg_path_index(path, i);
		st = cfg_get_text(c, e, path->buf, &name);
		if (st == QKV_OK && !qkv_backend_name_valid(name))
			st = cfg_fail(c, e->mark, path->buf, QKV_ERR_CONFIG,
			              "`%s` is not a backend name ([a-z0-9_], 1 to %d characters)",
			              cfg_show(e->str, e->len, shown, sizeof(shown)), QKV_NAME_MAX);
		for (size_t j = 0; st == QKV_OK && j < b->n_prefer; j++)
			if (strcmp(b->prefer[j], name) == 0)
				st = cfg_fail(c, e->mark, path->buf, QKV_ERR_CONFIG,
				              "`%s` is listed twice (first as entry %zu)", name, j);
		if (st == QKV_OK) {
			b->prefer[b->n_prefer] = qkv_strdup(name);
			if (!b->prefer[b->n_prefer])
				st =
				    cfg_fail(c, e->mark, path->buf, QKV_ERR_NOMEM, "out of memory");
			else
				b->n_prefer++;
		}
		cfg_path_pop(path);
	}
	return st;
}

enum qkv_status cfg_parse_backend(const struct cfg_ctx *c, const struct cfg_node *n,
                                  struct cfg_path *path, struct qkv_backend_cfg *b)
{
	static const char *const keys[] = {"prefer", "threads", "strict", "plugin_dirs", "routes"};
	enum qkv_status st = cfg_check_keys(c, n, path, keys, 5, NULL);
	if (st != QKV_OK)
		return st;
	b->path = qkv_strdup(c->name);
	if (!b->path)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_NOMEM, "out of memory");
	const struct cfg_node *v = cfg_field(n, path, "prefer");
	if (v)
		st = parse_prefer(c, v, path, b);
	cfg_path_pop(path);
	v = cfg_field(n, path, "threads");
	if (v && st == QKV_OK) {
		uint64_t t = 0;
		st = cfg_get_uint(c, v, path->buf, 0, QKV_MAX_THREADS, &t);
		b->threads = (int32_t)t;
	}
	cfg_path_pop(path);
	v = cfg_field(n, path, "strict");
	if (v && st == QKV_OK)
		st = cfg_get_bool(c, v, path->buf, &b->strict);
	cfg_path_pop(path);
	v = cfg_field(n, path, "plugin_dirs");
	if (v && st == QKV_OK)
		st = cfg_check_list(c, v, path->buf);
	for (size_t i = 0; v && st == QKV_OK && i < v->n; i++) {
		cfg_path_index(path, i);
		st = cfg_get_path(c, v->kids[i], path->buf, &b->plugin_dirs[i]);
		if (st == QKV_OK)
			b->n_plugin_dirs++;
		cfg_path_pop(path);
	}
	cfg_path_pop(path);
	v = cfg_field(n, path, "routes");
	if (v && st == QKV_OK)
		st = cfg_check_list(c, v, path->buf);
	for (size_t i = 0; v && st == QKV_OK && i < v->n; i++) {
		cfg_path_index(path, i);
		st = parse_route(c, v->kids[i], path, &b->routes[i]);
		if (st == QKV_OK)
			b->n_routes++;
		cfg_path_pop(path);
	}
	cfg_path_pop(path);
	return st;
}

enum qkv_status cfg_parse_machine(const struct cfg_ctx *c, const struct cfg_node *root,
                                  struct qkv_backend_cfg *b)
{
	static const char *const keys[] = {"backend", "tuned"};
	/* What qkv tune measured under: cpu/flags/date/qkv_version/shape are kept (the
	 * model warns about a mismatch), threads/load/noisy are for people. */
	static const char *const tuned_keys[] = {"cpu",   "flags",   "date", "qkv_version",
	                                         "shape", "threads", "load", "noisy"};
	struct cfg_path path = {.len = 0};
	enum qkv_status st =
	    cfg_check_keys(c, root, &path, keys, 2,
	                   "(a machine profile holds only `backend` and `tuned`; model and "
	                   "weights go in the model config)");
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = cfg_field(root, &path, "backend");
	st = v ? cfg_parse_backend(c, v, &path, b) : cfg_missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = cfg_field(root, &path, "tuned");
	if (v)
		st = cfg_check_keys(c, v, &path, tuned_keys, 8, NULL);
	char *info = NULL;
	char **dst[8] = {&b->cpu, &b->flags, &b->date, &b->version, &b->shape, &info, &info, &info};
	for (size_t i = 0; v && st == QKV_OK && i < 8; i++) {
		const struct cfg_node *t = cfg_field(v, &path, tuned_keys[i]);
		if (t)
			st = cfg_get_strdup(c, t, path.buf, dst[i]);
		qkv_free(info);
		info = NULL;
		cfg_path_pop(&path);
	}
	cfg_path_pop(&path);
	return st;
}
