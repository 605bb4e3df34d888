/* Public functions for tools: the machine, the plugin set, a config read without a
 * backend, .npy input. Thin layers over cpu.c, registry.c, config.c and the loaders. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <qkv/qkv.h>

#include "config.h"
#include "cpu.h"
#include "near.h"
#include "registry.h"
#include "util.h"
#include "weights.h"

static struct {
	char name[128], features[256];
	unsigned cpus;
} sys;
static pthread_once_t sys_once = PTHREAD_ONCE_INIT;

static void sys_detect(void)
{
	qkv_cpu_name(sys.name, sizeof(sys.name));
	qkv_cpu_features(sys.features, sizeof(sys.features));
	sys.cpus = qkv_cpu_count();
}

enum qkv_status qkv_system_get_info(struct qkv_system_info *info)
{
	if (!info || !QKV_HAS_MEMBER(info, struct qkv_system_info, cpus))
		return QKV_ERR_ARGUMENT;
	pthread_once(&sys_once, sys_detect);
	info->cpu_name = sys.name;
	info->cpu_features = sys.features;
	info->cpus = sys.cpus;
	return QKV_OK;
}

/* ---- plugin sets ---- */

struct set_entry {
	char *path;
	struct qkv_plugin *pl; /* NULL: refused, `why` says why */
	char *why;
};

struct qkv_plugin_set {
	char **dirs; /* NULL-terminated, or NULL */
	struct set_entry *e;
	size_t n;
};

void qkv_plugins_free(qkv_plugin_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		qkv_plugin_unref(set->e[i].pl);
		qkv_free(set->e[i].path);
		qkv_free(set->e[i].why);
	}
	qkv_free(set->e);
	qkv_search_path_free(set->dirs);
	qkv_free(set);
}

/* Load each file into the set; refusals are kept with their message. */
static enum qkv_status fill(qkv_plugin_set *set, char *const *files, char *err, size_t errlen)
{
	size_t n = 0;
	while (files[n])
		n++;
	set->e = qkv_calloc(n ? n : 1, sizeof(*set->e));
	if (!set->e)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory listing plugins");
	for (size_t i = 0; i < n; i++) {
		struct set_entry *e = &set->e[set->n++];
		char why[600] = "";
		e->path = qkv_strdup(files[i]);
		enum qkv_status st = qkv_plugin_load_file(files[i], &e->pl, why, sizeof(why));
		if (st == QKV_ERR_NOMEM || !e->path)
			return qkv_fail(err, errlen, QKV_ERR_NOMEM,
			                "out of memory listing plugins");
		if (st != QKV_OK) {
			e->pl = NULL;
			if (!(e->why = qkv_strdup(why)))
				return qkv_fail(err, errlen, QKV_ERR_NOMEM,
				                "out of memory listing plugins");
		}
	}
	return QKV_OK;
}

enum qkv_status qkv_plugins_scan(const char *plugin_dirs, qkv_plugin_set **out, char *err,
                                 size_t errlen)
{
	if (!out)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_plugins_scan: out is NULL");
	*out = NULL;
	struct qkv_backend_cfg bc;
	memset(&bc, 0, sizeof(bc));
	enum qkv_status st = QKV_ERR_NOMEM;
	char *copy = plugin_dirs ? qkv_strdup(plugin_dirs) : NULL;
	qkv_plugin_set *set = qkv_calloc(1, sizeof(*set));
	if (!set || (plugin_dirs && !copy))
		goto done;
	for (char *s = copy, *save = NULL, *dir; copy && (dir = strtok_r(s, ":", &save)); s = NULL)
		if (bc.n_plugin_dirs < QKV_CONFIG_MAX_LIST)
			bc.plugin_dirs[bc.n_plugin_dirs++] = dir;
	set->dirs = qkv_search_path(&bc);
	char **files = set->dirs ? qkv_plugin_list(set->dirs) : NULL;
	if (files) {
		st = fill(set, files, err, errlen);
		qkv_search_path_free(files);
	}
done:
	qkv_free(copy);
	if (st == QKV_OK)
		*out = set;
	else {
		qkv_plugins_free(set);
		if (st == QKV_ERR_NOMEM)
			qkv_fail(err, errlen, st, "out of memory listing plugins");
	}
	return st;
}

enum qkv_status qkv_plugins_load(const char *path, qkv_plugin_set **out, char *err, size_t errlen)
{
	if (!out || !path)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_plugins_load: NULL argument");
	char *files[2] = {(char *)path, NULL};
	qkv_plugin_set *set = qkv_calloc(1, sizeof(*set));
	enum qkv_status st = set ? fill(set, files, err, errlen)
	                         : qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	if (st != QKV_OK) {
		qkv_plugins_free(set);
		set = NULL;
	}
	*out = set;
	return st;
}

size_t qkv_plugins_count(const qkv_plugin_set *set)
{
	return set ? set->n : 0;
}

const char *qkv_plugins_dir(const qkv_plugin_set *set, size_t i)
{
	if (!set || !set->dirs)
		return NULL;
	for (size_t k = 0; k < i; k++)
		if (!set->dirs[k])
			return NULL;
	return set->dirs[i];
}

enum qkv_status qkv_plugins_get(const qkv_plugin_set *set, size_t i, struct qkv_plugin_info *info)
{
	if (!set || i >= set->n || !info || !QKV_HAS_MEMBER(info, struct qkv_plugin_info, backend))
		return QKV_ERR_ARGUMENT;
	const struct set_entry *e = &set->e[i];
	const struct qkv_plugin *pl = e->pl;
	info->path = e->path;
	info->name = pl ? pl->be->name : NULL;
	info->version = pl ? pl->be->version : NULL;
	info->precisions = pl ? pl->be->precisions : 0;
	info->score = pl ? pl->probe.score : 0;
	info->detail = pl ? pl->probe.detail : e->why;
	info->backend = pl ? pl->be : NULL;
	return QKV_OK;
}

long qkv_plugins_find(const qkv_plugin_set *set, const char *name, const char **near)
{
	struct qkv_near nr = {.name = name};
	for (size_t i = 0; set && name && i < set->n; i++)
		if (set->e[i].pl && !strcmp(set->e[i].pl->be->name, name))
			return (long)i;
	for (size_t i = 0; set && i < set->n; i++)
		if (set->e[i].pl)
			qkv_near_try(&nr, set->e[i].pl->be->name);
	if (near)
		*near = nr.best;
	return -1;
}

const char *qkv_near_name(const char *name, const char *const *candidates, size_t n)
{
	struct qkv_near nr = {.name = name};
	for (size_t i = 0; name && candidates && i < n; i++)
		if (candidates[i])
			qkv_near_try(&nr, candidates[i]);
	return nr.best;
}

/* ---- checkpoints ---- */

struct qkv_checkpoint {
	struct qkv_config cfg;
	struct qkv_loaded_weights lw;
	bool loaded;
	char names[2][3][512]; /* [weight, bias][q, k, v]: tensor names, {layer} substituted */
};

/* The source tensor of projection p: its own, or the fused q|k|v tensor it is cut from. */
static const char *weight_name(const struct qkv_config *c, int p)
{
	return c->w[p].tensor ? c->w[p].tensor : c->qkv.tensor;
}

static const char *bias_name(const struct qkv_config *c, int p)
{
	return c->bias[p].tensor ? c->bias[p].tensor : c->qkv_bias.tensor;
}

/* The tensor names as the file spells them, for a config with a layer set. */
static enum qkv_status layer_names(qkv_checkpoint *ck, char *err, size_t errlen)
{
	const struct qkv_config *c = &ck->cfg;
	for (int p = 0; p < 3; p++) {
		const char *src[2] = {weight_name(c, p), bias_name(c, p)};
		for (int b = 0; b < 2; b++)
			if (src[b] && !qkv_layer_name(src[b], true, c->layer, ck->names[b][p],
			                              sizeof(ck->names[b][p]), err, errlen))
				return QKV_ERR_CONFIG;
	}
	return QKV_OK;
}

static enum qkv_status checkpoint_open(const char *config_path, bool set_layer, uint32_t layer,
                                       uint32_t flags, qkv_checkpoint **out, char *err,
                                       size_t errlen)
{
	if (!out || !config_path)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "qkv_checkpoint_open: NULL argument");
	*out = NULL;
	qkv_checkpoint *ck = qkv_calloc(1, sizeof(*ck));
	if (!ck)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	enum qkv_status st = qkv_config_load(config_path, &ck->cfg, err, errlen);
	if (st != QKV_OK) {
		qkv_free(ck);
		return st;
	}
	if (set_layer)
		st = qkv_config_set_layer(&ck->cfg, layer, "argument `layer`", err, errlen);
	if (st == QKV_OK && ck->cfg.has_layer)
		st = layer_names(ck, err, errlen);
	if (st != QKV_OK) {
		qkv_config_free(&ck->cfg);
		qkv_free(ck);
		return st;
	}
	if (flags & QKV_CHECKPOINT_WEIGHTS) {
		st = qkv_weights_load(&ck->cfg, &ck->lw, err, errlen);
		if (st != QKV_OK) {
			qkv_config_free(&ck->cfg);
			qkv_free(ck);
			return st;
		}
		ck->loaded = true;
	}
	*out = ck;
	return QKV_OK;
}

enum qkv_status qkv_checkpoint_open(const char *config_path, uint32_t flags, qkv_checkpoint **out,
                                    char *err, size_t errlen)
{
	return checkpoint_open(config_path, false, 0, flags, out, err, errlen);
}

enum qkv_status qkv_checkpoint_open_layer(const char *config_path, uint32_t layer, uint32_t flags,
                                          qkv_checkpoint **out, char *err, size_t errlen)
{
	return checkpoint_open(config_path, true, layer, flags, out, err, errlen);
}

enum qkv_status qkv_checkpoint_get_info(const qkv_checkpoint *ck, struct qkv_checkpoint_info *info)
{
	if (!ck || !info || !QKV_HAS_MEMBER(info, struct qkv_checkpoint_info, bias))
		return QKV_ERR_ARGUMENT;
	const struct qkv_config *c = &ck->cfg;
	info->d_model = c->d_model;
	info->n_heads = c->n_heads;
	info->n_kv_heads = c->n_kv_heads;
	info->head_dim = c->head_dim;
	info->d_q = c->n_heads * c->head_dim;
	info->d_kv = c->n_kv_heads * c->head_dim;
	info->precision = c->precision;
	info->layout = c->layout;
	for (int p = 0; p < 3; p++) {
		info->tensor[p] =
		    weight_name(c, p) && c->has_layer ? ck->names[0][p] : weight_name(c, p);
		info->bias_tensor[p] =
		    bias_name(c, p) && c->has_layer ? ck->names[1][p] : bias_name(c, p);
		info->w[p] = ck->loaded ? ck->lw.w[p] : NULL;
		info->bias[p] = ck->loaded ? ck->lw.bias[p] : NULL;
	}
	if (QKV_HAS_MEMBER(info, struct qkv_checkpoint_info, layer)) {
		info->n_layers = c->n_layers;
		info->layer_set = c->has_layer;
		info->layer = c->layer;
	}
	if (QKV_HAS_MEMBER(info, struct qkv_checkpoint_info, bias_pattern))
		for (int p = 0; p < 3; p++) {
			info->tensor_pattern[p] = weight_name(c, p);
			info->bias_pattern[p] = bias_name(c, p);
		}
	return QKV_OK;
}

void qkv_checkpoint_close(qkv_checkpoint *ck)
{
	if (!ck)
		return;
	if (ck->loaded)
		qkv_weights_free(&ck->lw);
	qkv_config_free(&ck->cfg);
	qkv_free(ck);
}

/* ---- .npy input ---- */

enum qkv_status qkv_npy_read_f32(const char *path, float **data, uint64_t *rows, uint64_t *cols,
                                 char *err, size_t errlen)
{
	if (!path || !data || !rows || !cols)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_npy_read_f32: NULL argument");
	*data = NULL;
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return qkv_fail(err, errlen, QKV_ERR_IO,
		                "%s: is %s, not a file: a .npy array is read from a regular file "
		                "(save it to one first)",
		                path,
		                S_ISFIFO(sb.st_mode)  ? "a pipe (FIFO)"
		                : S_ISDIR(sb.st_mode) ? "a folder"
		                                      : "a device or socket");
	struct qkv_mapped_file f;
	struct qkv_tensor_view v;
	enum qkv_status st = qkv_file_map(path, &f, err, errlen);
	if (st != QKV_OK)
		return st;
	st = qkv_npy_parse(&f, QKV_NPY_ROWS, "input rows", &v, err, errlen);
	if (st == QKV_OK && v.ndim != 1 && v.ndim != 2)
		st = qkv_fail(err, errlen, QKV_ERR_FORMAT,
		              "%s: %u dimensions: expected [rows, cols] or [cols]", path, v.ndim);
	size_t n = 0;
	if (st == QKV_OK) {
		*rows = v.ndim == 2 ? v.shape[0] : 1;
		*cols = v.ndim == 2 ? v.shape[1] : v.shape[0];
		n = (size_t)qkv_tensor_count(&v);
		if (n > SIZE_MAX / sizeof(float) - 1 || !(*data = malloc((n + 1) * sizeof(float))))
			st = qkv_fail(err, errlen, QKV_ERR_NOMEM,
			              "%s: out of memory for %zu values", path, n);
	}
	if (st == QKV_OK)
		qkv_convert_to_f32(&v, *data, n);
	qkv_file_unmap(&f);
	return st;
}

void qkv_array_free(float *data)
{
	free(data);
}
