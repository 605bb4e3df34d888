/* Opening a model from the command line, shared by `qkv run` and `qkv info`: the
 * options that become qkv_open_options (checked, with their usage errors) and the open
 * itself, whose failure gets a hint chosen by its status code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "commands.h"

int cli_open_options(const struct cli_spec *sp, const struct cli_args *a,
                     struct qkv_open_options *o)
{
	unsigned long long threads;
	uint32_t shard_rank, shard_world, layer_set, layer, precision;
	int rc;
	if (cli_uint(sp, a, OPT_THREADS, 0, QKV_MAX_THREADS, 0, &threads) ||
	    cli_shard(sp, a, &shard_rank, &shard_world) || cli_layer(sp, a, &layer_set, &layer))
		return QKV_EXIT_USAGE;
	if (a->val[OPT_PRECISION] && !qkv_precision_parse(a->val[OPT_PRECISION], &precision)) {
		char names[64] = "";
		for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			         p ? ", " : "", qkv_precision_name(p));
		return cli_usage_error(sp, "--precision: `%s` is not one of %s",
		                       a->val[OPT_PRECISION], names);
	}
	if ((rc = cli_check_backends(sp, a->val[OPT_BACKEND], false)))
		return rc;
	if (a->val[OPT_MACHINE] && access(a->val[OPT_MACHINE], R_OK) != 0) {
		fprintf(stderr,
		        "qkv %s: --machine %s: %s (a machine profile, as qkv tune writes)\n",
		        sp->name, a->val[OPT_MACHINE], strerror(errno));
		return QKV_EXIT_ERROR;
	}
	*o = (struct qkv_open_options)QKV_OPEN_OPTIONS_INIT;
	o->machine_path = a->val[OPT_MACHINE];
	o->backend = a->val[OPT_BACKEND];
	o->threads = (int32_t)threads;
	o->shard_rank = shard_rank;
	o->shard_world = shard_world;
	o->layer_set = layer_set;
	o->layer = layer;
	o->strict = a->val[OPT_STRICT] ? 1 : 0;
	o->precision = a->val[OPT_PRECISION];
	return 0;
}

/* A config that says at its top how to make its weights (the shipped shape configs:
 * "qkv-genweights ..." in a comment). */
static bool config_names_genweights(const char *config)
{
	FILE *f = fopen(config, "r");
	char line[512];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f) && line[0] == '#')
		found = strstr(line, "qkv-genweights") != NULL;
	if (f)
		fclose(f);
	return found;
}

int cli_model_open(const struct cli_spec *sp, const char *config, const struct qkv_open_options *o,
                   qkv_model **m)
{
	char err[2048];
	enum qkv_status st = qkv_model_open(config, o, m, err, sizeof(err));
	if (st == QKV_OK)
		return 0;
	fprintf(stderr, "qkv %s: %s\n", sp->name, err);
	if (st == QKV_ERR_IO && config_names_genweights(config))
		fprintf(stderr,
		        "qkv %s: hint: the shipped shape configs do not ship their weights; the "
		        "comment at the top of %s gives the qkv-genweights command\n",
		        sp->name, config);
	return QKV_EXIT_ERROR;
}
