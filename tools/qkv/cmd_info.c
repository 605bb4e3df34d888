/* qkv info: what this machine can run, and which backend a model would get and why:
 * the order in force and its source, the backend per range of T, what was loaded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "commands.h"
#include "jsonw.h"

static const struct cli_opt info_opts[] = {
    {OPT_MACHINE, NULL, NULL},
    {OPT_BACKEND, NULL, "with CONFIG: the backends to select from"},
    {OPT_THREADS, NULL, NULL},
    {OPT_PRECISION, "P", "with CONFIG: f32, bf16, int8 or stored, replacing\nmodel.precision"},
    {OPT_PLUGIN_DIR, NULL, NULL},
    {OPT_SHARD, NULL, NULL},
    {OPT_LAYER, NULL, NULL},
    {OPT_STRICT, NULL, NULL},
    {OPT_JSON, NULL, "the same as JSON to FILE (- = stdout)"},
    {OPT_COUNT, NULL, NULL},
};

const struct cli_spec qkv_info_spec = {
    "info",
    "[CONFIG] [options]",
    "Print the CPU and its usable SIMD features, the plugin search path (folders that\n"
    "do not exist are marked), every plugin found with its probe result (or why it was\n"
    "refused), and, with CONFIG: the backend order in force and where it came from\n"
    "(default, model config, machine profile, QKV_BACKEND, --backend), the backend that\n"
    "serves each T (routes of a tuned profile), what was loaded (layer, tensors, their\n"
    "weight types and bytes, in place or copied, shard; each weight file read with the\n"
    "types its tensors have on disk, e.g. `file model.safetensors: F16`),\n"
    "and why each earlier candidate was passed over.\n",
    info_opts,
    0,
    1,
    NULL,
    NULL};

/* T values at which `qkv info` says which backend serves a call (routes split by T). */
static const size_t sample_T[] = {1, 4, 16, 64, 256, 1024, 4096};
#define N_SAMPLE_T (sizeof(sample_T) / sizeof(sample_T[0]))

static void precision_list(uint32_t mask, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
		if (mask & QKV_PRECISION_BIT(p)) {
			int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
			                 qkv_precision_name(p));
			if (n > 0 && (size_t)n < len - used)
				used += (size_t)n;
		}
}

static bool dir_exists(const char *dir)
{
	struct stat sb;
	return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Everything info prints, gathered once, printed as text or JSON. */
struct info_view {
	struct qkv_system_info sys;
	qkv_plugin_set *set;
	const char *config;
	qkv_model *m;
	struct qkv_model_info mi;
	qkv_checkpoint *ck;
	struct qkv_checkpoint_info ci;
};

static void text_plugins(const struct info_view *v)
{
	printf("plugin search path:\n");
	for (size_t i = 0; qkv_plugins_dir(v->set, i); i++)
		printf("  %s%s\n", qkv_plugins_dir(v->set, i),
		       dir_exists(qkv_plugins_dir(v->set, i)) ? "" : "  (does not exist)");
	printf("plugins:\n");
	for (size_t i = 0; i < qkv_plugins_count(v->set); i++) {
		struct qkv_plugin_info pi = QKV_PLUGIN_INFO_INIT;
		qkv_plugins_get(v->set, i, &pi);
		if (!pi.name) {
			printf("  refused  %s\n", pi.detail);
			continue;
		}
		char prec[32];
		precision_list(pi.precisions, prec, sizeof(prec));
		printf("  %-8s %-8s v%-7s %-14s %s: %s\n", pi.name,
		       pi.score > 0 ? "usable" : "unusable", pi.version, prec, pi.path, pi.detail);
	}
	if (!qkv_plugins_count(v->set))
		printf("  (none found)\n");
}

/* Whether `name` is one of the ", "-separated names of `list`. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *s = list; s && *s;) {
		size_t len = strcspn(s, ",");
		if (len == n && !strncmp(s, name, n))
			return true;
		s += len;
		s += strspn(s, ", ");
	}
	return false;
}

/* Usable plugins the order in force does not name, ", "-separated into buf. */
static void not_in_order(const struct info_view *v, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < qkv_plugins_count(v->set); k++) {
		struct qkv_plugin_info pi = QKV_PLUGIN_INFO_INIT;
		if (qkv_plugins_get(v->set, k, &pi) != QKV_OK || !pi.name || pi.score <= 0 ||
		    in_list(v->mi.order, pi.name))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", pi.name);
		if (w > 0 && (size_t)w < len - used)
			used += (size_t)w;
	}
}

/* "48.5 KiB" below 1 MiB, "26.0 MiB" above: a tiny model is not "0.0 MiB". */
static const char *size_text(uint64_t bytes, char buf[32])
{
	bool mib = bytes >= 1048576;
	snprintf(buf, 32, "%.1f %s", (double)bytes / (mib ? 1048576.0 : 1024.0),
	         mib ? "MiB" : "KiB");
	return buf;
}

static void text_model(const struct info_view *v)
{
	const struct qkv_model_info *i = &v->mi;
	printf(
	    "  d_model %u, heads %u, kv heads %u, head_dim %u, d_q %u, d_kv %u, %s, %u threads\n",
	    i->d_model, i->n_heads, i->n_kv_heads, i->head_dim, i->d_q, i->d_kv,
	    qkv_precision_name(i->precision), i->threads);
	if (i->shard_world > 1)
		printf("  shard %u/%u: query heads %u-%u of %u, kv heads %u-%u of %u%s\n",
		       i->shard_rank, i->shard_world, i->q_head_begin,
		       i->q_head_begin + i->n_heads - 1, i->model_n_heads, i->kv_head_begin,
		       i->kv_head_begin + i->n_kv_heads - 1, i->model_n_kv_heads,
		       i->shard_world > i->model_n_kv_heads ? " (replicated)" : "");
	if (v->ci.layer_set)
		printf("  layer %u%s\n", v->ci.layer,
		       v->ci.n_layers ? "" : " (the config does not say how many layers)");
	for (unsigned p = 0; p < 3; p++) {
		const char *wt = qkv_wtype_name(i->wtype[p]);
		printf("  %s: held as %s, %.1f KiB, %s%s%s%s%s\n", qkv_proj_name(p), wt ? wt : "?",
		       (double)i->wbytes[p] / 1024.0,
		       i->in_place & (1u << p) ? "handed over in place" : "copied at open",
		       v->ci.tensor[p] ? ", tensor " : "", v->ci.tensor[p] ? v->ci.tensor[p] : "",
		       v->ci.bias_tensor[p] ? ", bias " : "",
		       v->ci.bias_tensor[p] ? v->ci.bias_tensor[p] : "");
	}
	char sz[2][32];
	printf("  weights: %s loaded%s, layout %s\n", size_text(i->weight_bytes, sz[0]),
	       i->shard_world > 1 ? " (this slice only)" : "",
	       v->ci.layout == QKV_LAYOUT_IN_OUT ? "in_out" : "out_in");
	for (uint32_t k = 0; k < i->n_files; k++)
		printf("  file %s: %s\n", i->file[k], i->file_types[k]);
	printf("  memory: %s made by the backend at prepare%s, %s of weights read in place; %s\n",
	       size_text(i->bytes_prepared, sz[0]), i->prepared_known ? "" : " (some unknown)",
	       size_text(i->bytes_in_place, sz[1]),
	       i->weights_released ? "the loaded weights were let go after prepare (the backend "
	                             "holds its own copy)"
	       : i->weights_needed ? "the weights stay: the backend reads them"
	                           : "the caller's weights may be freed (no backend reads them)");
	char others[256];
	not_in_order(v, others, sizeof(others));
	printf("  order in force: %s (from %s)\n", i->order, i->order_source);
	if (others[0])
		printf("  usable here but not in that order: %s (name it in prefer, QKV_BACKEND or "
		       "--backend to use it)\n",
		       others);
	printf("  selected: %s %s (%s): %s\n", i->backend, i->backend_version, i->backend_path,
	       i->backend_detail);
	printf("  backend by T:");
	for (size_t k = 0; k < N_SAMPLE_T; k++)
		printf("%s T=%zu %s", k ? "," : "", sample_T[k],
		       qkv_model_backend_for(v->m, sample_T[k]));
	printf("\n  selection log:\n");
	qkv_cli_print_lines(stdout, "    ", i->selection_log, NULL);
}

static void json_lines(struct jsonw *w, const char *key, const char *text)
{
	jsonw_key(w, key);
	jsonw_array(w);
	while (text && *text) {
		size_t len = strcspn(text, "\n");
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 1023 ? len : 1023), text);
		jsonw_string(w, line);
		text += len + (text[len] == '\n');
	}
	jsonw_end(w);
}

static void json_model(struct jsonw *w, const struct info_view *v)
{
	const struct qkv_model_info *i = &v->mi;
	jsonw_key(w, "model");
	jsonw_object(w);
	jsonw_kv_string(w, "config", v->config);
	jsonw_kv_uint(w, "d_model", i->d_model);
	jsonw_kv_uint(w, "n_heads", i->n_heads);
	jsonw_kv_uint(w, "n_kv_heads", i->n_kv_heads);
	jsonw_kv_uint(w, "head_dim", i->head_dim);
	jsonw_kv_string(w, "precision", qkv_precision_name(i->precision));
	jsonw_kv_uint(w, "threads", i->threads);
	jsonw_kv_uint(w, "shard_rank", i->shard_rank);
	jsonw_kv_uint(w, "shard_world", i->shard_world);
	jsonw_key(w, "layer");
	if (v->ci.layer_set)
		jsonw_uint(w, v->ci.layer);
	else
		jsonw_null(w);
	jsonw_key(w, "weights");
	jsonw_object(w);
	for (unsigned p = 0; p < 3; p++) {
		jsonw_key(w, qkv_proj_name(p));
		jsonw_object(w);
		jsonw_kv_string(w, "tensor", v->ci.tensor[p]);
		jsonw_kv_string(w, "bias", v->ci.bias_tensor[p]);
		jsonw_kv_string(w, "type", qkv_wtype_name(i->wtype[p]));
		jsonw_kv_uint(w, "bytes", i->wbytes[p]);
		jsonw_key(w, "in_place");
		jsonw_bool(w, (i->in_place >> p) & 1u);
		jsonw_end(w);
	}
	jsonw_end(w);
	jsonw_kv_uint(w, "weight_bytes", i->weight_bytes);
	jsonw_key(w, "memory");
	jsonw_object(w);
	jsonw_kv_uint(w, "bytes_prepared", i->bytes_prepared);
	jsonw_key(w, "prepared_known");
	jsonw_bool(w, i->prepared_known != 0);
	jsonw_kv_uint(w, "bytes_in_place", i->bytes_in_place);
	jsonw_key(w, "weights_needed");
	jsonw_bool(w, i->weights_needed != 0);
	jsonw_key(w, "weights_released");
	jsonw_bool(w, i->weights_released != 0);
	jsonw_end(w);
	jsonw_key(w, "files");
	jsonw_array(w);
	for (uint32_t k = 0; k < i->n_files; k++) {
		jsonw_object(w);
		jsonw_kv_string(w, "path", i->file[k]);
		jsonw_key(w, "types");
		jsonw_array(w);
		for (const char *t = i->file_types[k]; *t; t += strspn(t, ", ")) {
			size_t len = strcspn(t, ",");
			char one[48];
			snprintf(one, sizeof(one), "%.*s", (int)(len < 47 ? len : 47), t);
			jsonw_string(w, one);
			t += len;
		}
		jsonw_end(w);
		jsonw_end(w);
	}
	jsonw_end(w);
	char others[256];
	not_in_order(v, others, sizeof(others));
	jsonw_kv_string(w, "order", i->order);
	jsonw_kv_string(w, "order_source", i->order_source);
	jsonw_kv_string(w, "usable_not_in_order", others);
	jsonw_kv_string(w, "backend", i->backend);
	jsonw_kv_string(w, "backend_path", i->backend_path);
	jsonw_kv_string(w, "backend_detail", i->backend_detail);
	jsonw_key(w, "backend_by_T");
	jsonw_object(w);
	for (size_t k = 0; k < N_SAMPLE_T; k++) {
		char t[24];
		snprintf(t, sizeof(t), "%zu", sample_T[k]);
		jsonw_kv_string(w, t, qkv_model_backend_for(v->m, sample_T[k]));
	}
	jsonw_end(w);
	json_lines(w, "selection_log", i->selection_log);
	jsonw_end(w);
}

static void json_all(FILE *f, const struct info_view *v)
{
	struct jsonw w;
	jsonw_init(&w, f, 2);
	jsonw_object(&w);
	jsonw_kv_string(&w, "qkv_version", qkv_version());
	jsonw_kv_string(&w, "cpu", v->sys.cpu_name);
	jsonw_kv_string(&w, "simd", v->sys.cpu_features);
	jsonw_kv_uint(&w, "cpus", v->sys.cpus);
	jsonw_key(&w, "plugin_dirs");
	jsonw_array(&w);
	for (size_t i = 0; qkv_plugins_dir(v->set, i); i++) {
		jsonw_object(&w);
		jsonw_kv_string(&w, "path", qkv_plugins_dir(v->set, i));
		jsonw_key(&w, "exists");
		jsonw_bool(&w, dir_exists(qkv_plugins_dir(v->set, i)));
		jsonw_end(&w);
	}
	jsonw_end(&w);
	jsonw_key(&w, "plugins");
	jsonw_array(&w);
	for (size_t i = 0; i < qkv_plugins_count(v->set); i++) {
		struct qkv_plugin_info pi = QKV_PLUGIN_INFO_INIT;
		qkv_plugins_get(v->set, i, &pi);
		char prec[32];
		precision_list(pi.precisions, prec, sizeof(prec));
		jsonw_object(&w);
		jsonw_kv_string(&w, "path", pi.path);
		jsonw_kv_string(&w, "name", pi.name);
		jsonw_kv_string(&w, "version", pi.version);
		jsonw_kv_string(&w, "precisions", prec);
		jsonw_key(&w, "usable");
		jsonw_bool(&w, pi.name && pi.score > 0);
		jsonw_kv_string(&w, "detail", pi.detail);
		jsonw_end(&w);
	}
	jsonw_end(&w);
	if (v->m)
		json_model(&w, v);
	jsonw_end(&w);
}

/* The model and its checkpoint view (tensor names for the layer in use). */
static int open_model(const struct cli_spec *sp, const struct qkv_open_options *o,
                      struct info_view *v)
{
	struct qkv_open_options opts = *o;
	char err[1024];
	int rc = cli_model_open(sp, v->config, &opts, &v->m);
	if (rc)
		return rc;
	v->mi = (struct qkv_model_info)QKV_MODEL_INFO_INIT;
	qkv_model_get_info(v->m, &v->mi);
	enum qkv_status st =
	    opts.layer_set
	        ? qkv_checkpoint_open_layer(v->config, opts.layer, 0, &v->ck, err, sizeof(err))
	        : qkv_checkpoint_open(v->config, 0, &v->ck, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv info: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	v->ci = (struct qkv_checkpoint_info)QKV_CHECKPOINT_INFO_INIT;
	qkv_checkpoint_get_info(v->ck, &v->ci);
	return 0;
}

int qkv_cmd_info(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_info_spec;
	struct cli_args a;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	struct qkv_open_options opts;
	if ((rc = cli_open_options(sp, &a, &opts)) || cli_check_output(sp, &a, OPT_JSON))
		return rc ? rc : QKV_EXIT_ERROR;
	struct info_view v = {.sys = QKV_SYSTEM_INFO_INIT, .config = a.npos ? a.pos[0] : NULL};
	char err[256];
	qkv_system_get_info(&v.sys);
	if (qkv_plugins_scan(NULL, &v.set, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv info: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	const char *json = a.val[OPT_JSON];
	if (!json || strcmp(json, "-")) {
		printf("qkv %s\ncpu: %s (%u logical cpus)\nsimd: %s\n", qkv_version(),
		       v.sys.cpu_name, v.sys.cpus,
		       v.sys.cpu_features[0] ? v.sys.cpu_features : "(none beyond the baseline)");
		text_plugins(&v);
		if (v.config)
			printf("model %s:\n", v.config);
	}
	if (v.config && (rc = open_model(sp, &opts, &v)) == 0 && (!json || strcmp(json, "-")))
		text_model(&v);
	if (!rc && json) {
		FILE *f = cli_open_output(json);
		if (!f) {
			fprintf(stderr, "qkv info: --json %s: %s\n", json, strerror(errno));
			rc = QKV_EXIT_ERROR;
		} else {
			json_all(f, &v);
			rc = cli_close_output(sp, f, json) ? QKV_EXIT_ERROR : QKV_EXIT_OK;
		}
	}
	qkv_checkpoint_close(v.ck);
	qkv_model_close(v.m);
	qkv_plugins_free(v.set);
	return rc;
}
