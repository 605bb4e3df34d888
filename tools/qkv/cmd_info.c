/* qkv info: what this machine can run, and which backend a model would get and why. */
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "commands.h"

static const struct cli_opt info_opts[] = {
    {OPT_MACHINE, NULL, NULL}, {OPT_BACKEND, NULL, "with CONFIG: the backends to select from"},
    {OPT_THREADS, NULL, NULL}, {OPT_PLUGIN_DIR, NULL, NULL},
    {OPT_SHARD, NULL, NULL},   {OPT_LAYER, NULL, NULL},
    {OPT_COUNT, NULL, NULL},
};

const struct cli_spec qkv_info_spec = {
    "info",
    "[CONFIG] [options]",
    "Print the CPU and its usable SIMD features, the plugin search path, every plugin\n"
    "found with its probe result (or why it was refused), and, with CONFIG, the backend\n"
    "selected for that model and why each earlier candidate was passed over.\n",
    info_opts,
    0,
    1,
    NULL};

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

static int print_plugins(void)
{
	qkv_plugin_set *set = NULL;
	char err[256];
	if (qkv_plugins_scan(NULL, &set, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv info: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	printf("plugin search path:\n");
	for (size_t i = 0; qkv_plugins_dir(set, i); i++)
		printf("  %s\n", qkv_plugins_dir(set, i));
	printf("plugins:\n");
	for (size_t i = 0; i < qkv_plugins_count(set); i++) {
		struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
		qkv_plugins_get(set, i, &pi);
		if (!pi.name) {
			printf("  refused  %s\n", pi.detail);
			continue;
		}
		char prec[32];
		precision_list(pi.precisions, prec, sizeof(prec));
		printf("  %-8s %-8s v%-7s %-14s %s: %s\n", pi.name,
		       pi.score > 0 ? "usable" : "unusable", pi.version, prec, pi.path, pi.detail);
	}
	if (!qkv_plugins_count(set))
		printf("  (none found)\n");
	qkv_plugins_free(set);
	return QKV_EXIT_OK;
}

int qkv_cmd_info(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_info_spec;
	struct cli_args a;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	unsigned long long threads;
	uint32_t shard_rank, shard_world, layer_set, layer;
	if (cli_uint(sp, &a, OPT_THREADS, 0, QKV_MAX_THREADS, 0, &threads) ||
	    cli_shard(sp, &a, &shard_rank, &shard_world) || cli_layer(sp, &a, &layer_set, &layer))
		return QKV_EXIT_USAGE;
	if ((rc = cli_check_backends(sp, a.val[OPT_BACKEND], false)))
		return rc;
	struct qkv_system_info sys = {.struct_size = sizeof(sys)};
	qkv_system_get_info(&sys);
	printf("qkv %s\ncpu: %s (%u logical cpus)\nsimd: %s\n", qkv_version(), sys.cpu_name,
	       sys.cpus, sys.cpu_features[0] ? sys.cpu_features : "(none beyond the baseline)");
	if ((rc = print_plugins()) || !a.npos)
		return rc;

	const char *config = a.pos[0];
	struct qkv_open_options opts = QKV_OPEN_OPTIONS_INIT;
	opts.machine_path = a.val[OPT_MACHINE];
	opts.backend = a.val[OPT_BACKEND];
	opts.threads = (int32_t)threads;
	opts.shard_rank = shard_rank;
	opts.shard_world = shard_world;
	opts.layer_set = layer_set;
	opts.layer = layer;
	char err[2048];
	qkv_model *m = NULL;
	printf("model %s:\n", config);
	if (qkv_model_open(config, &opts, &m, err, sizeof(err)) != QKV_OK) {
		printf("  selection log: see error\n");
		fprintf(stderr, "qkv info: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	printf(
	    "  d_model %u, heads %u, kv heads %u, head_dim %u, d_q %u, d_kv %u, %s, %u threads\n",
	    info.d_model, info.n_heads, info.n_kv_heads, info.head_dim, info.d_q, info.d_kv,
	    qkv_precision_name(info.precision), info.threads);
	if (info.shard_world > 1)
		printf("  shard %u/%u: query heads %u-%u of %u, kv heads %u-%u of %u%s\n",
		       info.shard_rank, info.shard_world, info.q_head_begin,
		       info.q_head_begin + info.n_heads - 1, info.model_n_heads, info.kv_head_begin,
		       info.kv_head_begin + info.n_kv_heads - 1, info.model_n_kv_heads,
		       info.shard_world > info.model_n_kv_heads ? " (replicated)" : "");
	printf("  weights: %.1f MiB loaded%s\n", (double)info.weight_bytes / 1048576.0,
	       info.shard_world > 1 ? " (this slice only)" : "");
	printf("  selected: %s %s (%s): %s\n", info.backend, info.backend_version,
	       info.backend_path, info.backend_detail);
	printf("  selection log:\n");
	qkv_cli_print_lines(stdout, "    ", info.selection_log, NULL);
	qkv_model_close(m);
	return QKV_EXIT_OK;
}
