/* qkv info: what this machine can run, and which backend a model would get and why. */
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

#include "commands.h"
#include "cpu.h"
#include "registry.h"
#include "util.h"

static const char info_help[] =
    "usage: qkv info [CONFIG] [--machine FILE] [--backend LIST]\n"
    "\n"
    "Print the CPU and its usable SIMD features, the plugin search path, every plugin\n"
    "found with its probe result (or why it was refused), and, with CONFIG, the backend\n"
    "selected for that model and why each earlier candidate was passed over.\n";

static void precision_list(uint32_t mask, char *buf, size_t len)
{
	static const char *const names[] = {"f32", "bf16", "int8"};
	size_t used = 0;
	buf[0] = '\0';
	for (int p = 0; p < QKV_PRECISION_COUNT; p++)
		if (mask & QKV_PRECISION_BIT(p)) {
			int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[p]);
			if (n > 0 && (size_t)n < len - used)
				used += (size_t)n;
		}
}

static void print_plugins(void)
{
	char **dirs = qkv_search_path(NULL);
	if (!dirs) {
		fprintf(stderr, "qkv info: out of memory\n");
		return;
	}
	printf("plugin search path:\n");
	for (size_t i = 0; dirs[i]; i++)
		printf("  %s\n", dirs[i]);
	char **files = qkv_plugin_list(dirs);
	printf("plugins:\n");
	for (size_t i = 0; files && files[i]; i++) {
		struct qkv_plugin *p = NULL;
		char err[600];
		if (qkv_plugin_load_file(files[i], &p, err, sizeof(err)) != QKV_OK) {
			printf("  refused  %s\n", err);
			continue;
		}
		char prec[32];
		precision_list(p->be->precisions, prec, sizeof(prec));
		printf("  %-8s %-8s v%-7s %-14s %s: %s\n", p->be->name,
		       p->probe.score > 0 ? "usable" : "unusable", p->be->version, prec, p->path,
		       p->probe.detail);
		qkv_plugin_unref(p);
	}
	if (!files || !files[0])
		printf("  (none found)\n");
	qkv_search_path_free(files);
	qkv_search_path_free(dirs);
}

int qkv_cmd_info(int argc, char **argv)
{
	const char *config = NULL;
	struct qkv_open_options opts = QKV_OPEN_OPTIONS_INIT;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(info_help, stdout);
			return 0;
		} else if ((!strcmp(argv[i], "--machine") || !strcmp(argv[i], "--backend")) &&
		           i + 1 < argc) {
			if (argv[i][2] == 'm')
				opts.machine_path = argv[i + 1];
			else
				opts.backend = argv[i + 1];
			i++;
		} else if (argv[i][0] != '-' && !config) {
			config = argv[i];
		} else {
			fprintf(stderr,
			        "qkv info: unexpected argument `%s` (see qkv info --help)\n",
			        argv[i]);
			return 2;
		}
	}
	char name[128], feats[256];
	qkv_cpu_name(name, sizeof(name));
	qkv_cpu_features(feats, sizeof(feats));
	printf("qkv %s\ncpu: %s (%u logical cpus)\nsimd: %s\n", qkv_version(), name,
	       qkv_cpu_count(), feats[0] ? feats : "(none beyond the baseline)");
	print_plugins();
	if (!config)
		return 0;

	char err[2048];
	qkv_model *m = NULL;
	printf("model %s:\n", config);
	if (qkv_model_open(config, &opts, &m, err, sizeof(err)) != QKV_OK) {
		printf("  selection log: see error\n");
		fprintf(stderr, "qkv: %s\n", err);
		return 1;
	}
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	static const char *const prec[] = {"f32", "bf16", "int8"};
	printf(
	    "  d_model %u, heads %u, kv heads %u, head_dim %u, d_q %u, d_kv %u, %s, %u threads\n",
	    info.d_model, info.n_heads, info.n_kv_heads, info.head_dim, info.d_q, info.d_kv,
	    prec[info.precision], info.threads);
	printf("  selected: %s %s (%s): %s\n", info.backend, info.backend_version,
	       info.backend_path, info.backend_detail);
	printf("  selection log:\n");
	qkv_cli_print_lines(stdout, "    ", info.selection_log, NULL);
	qkv_model_close(m);
	return 0;
}
