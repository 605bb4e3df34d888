#include "bench_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_progress.h"
#include "cpu.h"

#define MAX_TOKENS ((size_t)1 << 20)
#define MAX_THREADS 1024

void bench_cli_log(const char *msg)
{
	bench_log(msg);
}

void bench_cli_command(int argc, char **argv, char *buf, size_t len)
{
	int n = snprintf(buf, len, "qkv");
	for (int i = 0; i < argc && n >= 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, " %s", argv[i]);
}

/* Prepend a folder to QKV_PLUGIN_PATH so the registry searches it first. */
static int add_plugin_dir(const char *dir)
{
	const char *old = getenv("QKV_PLUGIN_PATH");
	size_t len = strlen(dir) + (old ? strlen(old) : 0) + 2;
	char *v = malloc(len);
	if (!v)
		return 1;
	snprintf(v, len, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
	int rc = setenv("QKV_PLUGIN_PATH", v, 1);
	free(v);
	return rc;
}

static int usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "qkv %s: %s (see qkv %s --help)\n", cmd, msg, cmd);
	return 2;
}

static int backends_list(struct bench_plan *p, const char *text, char *err, size_t errlen)
{
	p->nbackends = 0;
	if (!strcmp(text, "all"))
		return 0;
	const char *s = text;
	while (*s) {
		size_t len = strcspn(s, ",");
		if (len == 0 || len >= sizeof(p->backends[0]) || p->nbackends == BENCH_MAX_LIST) {
			snprintf(err, errlen, "--backends: `%s` is not a list of backend names",
			         text);
			return 1;
		}
		memcpy(p->backends[p->nbackends], s, len);
		p->backends[p->nbackends][len] = '\0';
		for (size_t i = 0; i < len; i++) {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
				snprintf(err, errlen, "--backends: bad backend name `%.*s`",
				         (int)len, s);
				return 1;
			}
		}
		p->nbackends++;
		s += len;
		if (*s && !*++s) {
			snprintf(err, errlen, "--backends: trailing comma in `%s`", text);
			return 1;
		}
	}
	return 0;
}

int bench_cli_parse(int argc, char **argv, struct bench_cli *cli,
                    const struct bench_extra_opt *extra, const char *usage,
                    const char *default_tokens)
{
	const char *cmd = argc > 0 ? argv[0] : "bench";
	struct bench_plan *p = &cli->plan;
	memset(cli, 0, sizeof(*cli));
	p->min_time = 0.3;
	p->max_call = 2.0;
	p->interleave = 0.05; /* fair ratios on a shared machine: see bench_time_group */
	p->references = true;
	cli->threshold = 10.0;
	p->threads[0] = qkv_cpu_count();
	p->nthreads = 1;
	const char *preset = NULL, *tokens = default_tokens;
	char err[512] = "";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return -1;
		}
		if (a[0] != '-') {
			if (p->config_path)
				return usage_error(cmd, "more than one CONFIG given");
			p->config_path = a;
			continue;
		}
		char name[64];
		size_t nlen = strcspn(a, "=");
		snprintf(name, sizeof(name), "%.*s", (int)(nlen < 63 ? nlen : 63), a);
		bool flag = !strcmp(name, "--remeasure") || !strcmp(name, "--quiet") ||
		            !strcmp(name, "--overhead") || !strcmp(name, "--no-reference");
		const struct bench_extra_opt *ex = NULL;
		for (size_t k = 0; extra && extra[k].name; k++)
			if (!strcmp(extra[k].name, name))
				ex = &extra[k];
		if (ex && !ex->has_value)
			flag = true;
		if (!flag) {
			if (a[nlen] == '=')
				val = a + nlen + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				snprintf(err, sizeof(err), "%s needs a value", name);
				return usage_error(cmd, err);
			}
		} else if (a[nlen] == '=') {
			snprintf(err, sizeof(err), "%s takes no value", name);
			return usage_error(cmd, err);
		}
		if (ex) {
			cli->opt[ex->slot] = flag ? "1" : val;
		} else if (!strcmp(name, "--preset")) {
			preset = val;
		} else if (!strcmp(name, "--tokens")) {
			tokens = val;
		} else if (!strcmp(name, "--threads")) {
			p->nthreads = bench_parse_sizes(val, "--threads", MAX_THREADS, p->threads,
			                                BENCH_MAX_LIST, err, sizeof(err));
			if (!p->nthreads)
				return usage_error(cmd, err);
		} else if (!strcmp(name, "--backends")) {
			if (backends_list(p, val, err, sizeof(err)))
				return usage_error(cmd, err);
		} else if (!strcmp(name, "--precision")) {
			p->precisions = bench_parse_precisions(val, err, sizeof(err));
			if (!p->precisions)
				return usage_error(cmd, err);
		} else if (!strcmp(name, "--interleave")) {
			if (!bench_parse_double(val, &p->interleave)) {
				snprintf(err, sizeof(err),
				         "--interleave: `%s` is not a number of seconds", val);
				return usage_error(cmd, err);
			}
		} else if (!strcmp(name, "--min-time") || !strcmp(name, "--max-call") ||
		           !strcmp(name, "--threshold")) {
			double v;
			if (!bench_parse_double(val, &v) || (v <= 0 && name[2] != 't')) {
				snprintf(err, sizeof(err), "%s: `%s` is not a positive number",
				         name, val);
				return usage_error(cmd, err);
			}
			if (!strcmp(name, "--min-time"))
				p->min_time = v;
			else if (!strcmp(name, "--max-call"))
				p->max_call = v;
			else
				cli->threshold = v;
		} else if (!strcmp(name, "--layout")) {
			if (strcmp(val, "in_out") && strcmp(val, "out_in")) {
				snprintf(err, sizeof(err), "--layout: `%s` is not in_out or out_in",
				         val);
				return usage_error(cmd, err);
			}
			p->layout = strcmp(val, "in_out") ? QKV_LAYOUT_OUT_IN : QKV_LAYOUT_IN_OUT;
		} else if (!strcmp(name, "--plugin-dir")) {
			if (add_plugin_dir(val))
				return usage_error(cmd, "--plugin-dir: cannot set QKV_PLUGIN_PATH");
		} else if (!strcmp(name, "--remeasure")) {
			cli->remeasure = true;
		} else if (!strcmp(name, "--quiet")) {
			p->quiet = true;
		} else if (!strcmp(name, "--overhead")) {
			p->overhead = true;
		} else if (!strcmp(name, "--no-reference")) {
			p->references = false;
		} else {
			snprintf(err, sizeof(err), "unknown option `%s`", a);
			return usage_error(cmd, err);
		}
	}
	if (!!preset == !!p->config_path)
		return usage_error(cmd, "give either CONFIG or --preset NAME");
	if (preset && !bench_shape_preset(preset, &p->shape)) {
		snprintf(err, sizeof(err), "--preset: unknown preset `%s` (%s)", preset,
		         bench_shape_preset_names());
		return usage_error(cmd, err);
	}
	p->nT = bench_parse_sizes(tokens, "--tokens", MAX_TOKENS, p->T, BENCH_MAX_LIST, err,
	                          sizeof(err));
	if (!p->nT)
		return usage_error(cmd, err);
	return 0;
}
