/* qkv conform: run the conformance cases on any backend plugin file or name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "conform_heap.h"
#include "conform_run.h"
#include <qkv/precision.h>
#include <qkv/qkv.h>

static const struct cli_opt conform_opts[] = {
    {OPT_CASES, NULL, "only cases matching comma-separated globs, e.g. 'f32_*,abi_*'"},
    {OPT_SEED, NULL,
     "base seed of the random data (default: a fixed seed, shown in\n"
     "each run's first line); --seed S --cases NAME replays a failure"},
    {OPT_JSON, NULL,
     "also write the JSON report to FILE (- = stdout: the table then goes\n"
     "to stderr); --report FILE: the same, the old name"},
    {OPT_TIMEOUT, NULL,
     "per-case limit in seconds (default 30; the slowest case takes\n"
     "a few seconds on a correct backend)"},
    {OPT_LIST, NULL, "list the cases and what each checks, then exit"},
    {OPT_BACKEND, NULL, "the backends to check, by name (the same as giving each NAME)"},
    {OPT_PRECISION, NULL,
     "only the cases of these precisions (and those of none, such as\n"
     "abi_*); default: every precision the backend declares"},
    {OPT_PLUGIN_DIR, NULL, NULL},
    {OPT_COUNT, NULL, NULL},
};

/* The cases fix their own thread counts and models: part of what they check. */
static const struct cli_refused conform_refused[] = {
    {OPT_THREADS, "each case sets the thread counts it checks (1, 2\nand more: see --list)"},
    {OPT_MACHINE,
     "conform checks plugins, not a model's selection;\nqkv info CONFIG --machine FILE "
     "shows that"},
    {OPT_STRICT, "conform selects nothing: it runs the plugins named"},
    {OPT_LAYER, "conform runs its own cases on the plugins, not a model config"},
    {OPT_SHARD, "conform runs its own cases on the plugins, not a model config"},
    {OPT_COUNT, NULL},
};

const struct cli_spec qkv_conform_spec = {
    "conform",
    "PLUGIN.so|NAME [PLUGIN.so|NAME ...] | --backend LIST [options]",
    "Run the conformance cases (the same ones `meson test --suite conformance` runs on the\n"
    "in-tree backends) on each backend plugin: a file path, or a backend NAME looked up\n"
    "as qkv_NAME.so on the plugin search path (QKV_PLUGIN_PATH, then the install folder).\n"
    "Each case runs in its own child process: a crash or a hang is reported as a failed\n"
    "case, not fatal to the run; a plugin that printed to stdout or stderr fails the case.\n"
    "After a case times out, the remaining cases of that plugin are not run (reported as\n"
    "failed), so a plugin that hangs gets its verdict after one timeout. Cases for a\n"
    "precision the backend does not declare are skipped (not counted as passed).\n",
    conform_opts,
    0,
    64,
    "1 also when a case failed, 2 when a plugin cannot be found",
    conform_refused};

struct conform_args {
	const char *plugins[64];
	size_t n_plugins;
	const char *cases, *report;
	uint32_t precisions; /* --precision: QKV_PRECISION_BIT mask; 0 = every one */
	char backends[1024]; /* --backend LIST, split in place into plugins[] */
	FILE *out;           /* the table: stdout, or stderr when the JSON goes to stdout */
	uint64_t seed;
	unsigned timeout;
	int list;
};

static void list_cases(void)
{
	for (size_t i = 0; i < cf_case_count(); i++)
		printf("%-30s %s\n", cf_case_at(i)->name, cf_case_at(i)->what);
}

/* 0 ok, 1 exit 0 now (help/list), -1 usage error (printed). */
static int parse(int argc, char **argv, struct conform_args *a)
{
	const struct cli_spec *sp = &qkv_conform_spec;
	struct cli_args o;
	unsigned long long seed, timeout;
	int rc = cli_parse(sp, argc, argv, &o);
	if (rc)
		return rc < 0 ? 1 : -1;
	if (cli_uint(sp, &o, OPT_SEED, 0, UINT64_MAX, CF_DEFAULT_SEED, &seed) ||
	    cli_uint(sp, &o, OPT_TIMEOUT, 1, 86400, 30, &timeout))
		return -1;
	a->seed = seed;
	a->timeout = (unsigned)timeout;
	a->cases = o.val[OPT_CASES];
	a->report = o.val[OPT_JSON];
	a->out = a->report && !strcmp(a->report, "-") ? stderr : stdout;
	if (cli_check_output(sp, &o, OPT_JSON))
		return -1;
	for (size_t i = 0; i < o.npos; i++)
		a->plugins[a->n_plugins++] = o.pos[i];
	if (cli_precisions(sp, &o, &a->precisions) ||
	    cli_check_backends(sp, o.val[OPT_BACKEND], false))
		return -1;
	snprintf(a->backends, sizeof(a->backends), "%s",
	         o.val[OPT_BACKEND] ? o.val[OPT_BACKEND] : "");
	for (char *s = a->backends, *next; *s; s = next) {
		next = s + strcspn(s, ",");
		if (*next)
			*next++ = '\0';
		if (*s && a->n_plugins < sizeof(a->plugins) / sizeof(a->plugins[0]))
			a->plugins[a->n_plugins++] = s;
	}
	if (o.val[OPT_LIST])
		return list_cases(), 1;
	if (a->n_plugins == 0) {
		cli_usage_error(sp, "no plugin given");
		return -1;
	}
	return 0;
}

/* A path when the argument looks like one, else the named backend's file on the
 * search path. The caller frees the result with free(); NULL (printed) if none. */
static char *resolve(const char *arg)
{
	if (strchr(arg, '/') || strstr(arg, ".so")) {
		if (access(arg, R_OK) != 0) {
			fprintf(stderr, "qkv conform: %s: %s\n", arg, strerror(errno));
			return NULL;
		}
		return strdup(arg);
	}
	qkv_plugin_set *set = NULL;
	char name[300], *copy = NULL;
	snprintf(name, sizeof(name), "/qkv_%s.so", arg);
	if (qkv_plugins_scan(NULL, &set, NULL, 0) != QKV_OK)
		fprintf(stderr, "qkv conform: out of memory\n");
	for (size_t i = 0; set && !copy && i < qkv_plugins_count(set); i++) {
		struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
		qkv_plugins_get(set, i, &pi);
		size_t n = strlen(pi.path), k = strlen(name);
		if (n >= k && !strcmp(pi.path + n - k, name)) /* loaded or refused */
			copy = strdup(pi.path);
	}
	if (set && !copy) {
		fprintf(stderr,
		        "qkv conform: no backend `%s` (qkv_%s.so) on the plugin search path:", arg,
		        arg);
		for (size_t i = 0; qkv_plugins_dir(set, i); i++)
			fprintf(stderr, " %s", qkv_plugins_dir(set, i));
		fprintf(stderr, "\n");
	}
	qkv_plugins_free(set);
	return copy;
}

static void print_row(FILE *out, const struct conform_outcome *o)
{
	const struct cf_report *r = &o->r;
	char err[48] = "-", msg[sizeof(r->msg) * 2];
	if (r->worst_bound > 0)
		snprintf(err, sizeof(err), "%.2e / %.2e", r->worst_err, r->worst_bound);
	conform_text_clean(r->result == CF_PASS ? "" : r->msg, msg, sizeof(msg)); /* one line */
	fprintf(out, "%-30s %-6s %-21s %7.2f s  %s\n", o->c->name, cf_result_str(r->result), err,
	        o->seconds, msg);
	fflush(out);
}

/* Run every selected case on one plugin; returns the number of failures. */
static size_t run_plugin(const char *path, const struct conform_args *a, FILE *json, int first)
{
	size_t n = cf_case_count(), ran = 0, count[3] = {0, 0, 0};
	struct conform_outcome *o = calloc(n, sizeof(*o));
	if (!o) {
		fprintf(stderr, "qkv conform: out of memory\n");
		return 1;
	}
	FILE *out = a->out;
	fprintf(out, "qkv conform %s (seed %llu)\n", path, (unsigned long long)a->seed);
	fprintf(out, "%-30s %-6s %-21s %9s\n", "case", "result", "error / bound", "time");
	const char *hung = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct cf_case *c = cf_case_at(i);
		if (!cf_name_matches(c->name, a->cases) ||
		    (a->precisions && c->precision >= 0 &&
		     !(a->precisions & QKV_PRECISION_BIT((uint32_t)c->precision))))
			continue;
		if (hung) { /* it would most likely hang again: one timeout is the verdict */
			o[ran].c = c;
			o[ran].r.result = CF_FAIL;
			o[ran].r.seed = a->seed;
			snprintf(o[ran].r.msg, sizeof(o[ran].r.msg),
			         "not run: %s timed out (after a hang no further case runs; "
			         "--cases %s runs this one)",
			         hung, c->name);
		} else {
			conform_run_case(path, c, a->seed, a->timeout, &o[ran]);
			if (o[ran].timed_out)
				hung = c->name;
		}
		print_row(out, &o[ran]);
		count[(unsigned)o[ran].r.result <= CF_SKIP ? o[ran].r.result : CF_FAIL]++;
		ran++;
	}
	fprintf(out,
	        "%s: %zu passed, %zu failed, %zu skipped (precision not declared, or refused on "
	        "this machine)%s\n",
	        path, count[CF_PASS], count[CF_FAIL], count[CF_SKIP],
	        ran == 0 ? " -- no case matches --cases and --precision" : "");
	for (size_t i = 0; i < ran; i++) {
		if (o[i].r.result == CF_FAIL) { /* one line to replay the first failure */
			fprintf(out, "replay: qkv conform %s --cases %s --seed %llu\n", path,
			        o[i].c->name, (unsigned long long)o[i].r.seed);
			break;
		}
	}
	fprintf(out, "\n");
	if (json)
		conform_json_plugin(json, path, o, ran, first);
	free(o);
	return count[CF_FAIL] + (ran == 0);
}

int qkv_cmd_conform(int argc, char **argv)
{
	cf_heap_exact_reexec(); /* no_leaks needs exact heap counts: glibc's tcache off */
	struct conform_args a = {.seed = CF_DEFAULT_SEED, .timeout = 30, .out = stdout};
	int pr = parse(argc, argv, &a);
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	char *paths[64];
	for (size_t i = 0; i < a.n_plugins; i++) {
		paths[i] = resolve(a.plugins[i]);
		if (!paths[i]) {
			for (size_t j = 0; j < i; j++)
				free(paths[j]);
			return 2;
		}
	}
	FILE *json = NULL;
	if (a.report) {
		json = cli_open_output(a.report);
		if (!json) {
			perror(a.report);
			for (size_t i = 0; i < a.n_plugins; i++)
				free(paths[i]);
			return 2;
		}
		fprintf(json, "{\"qkv_conform\": 1, \"seed\": %llu, \"plugins\": [",
		        (unsigned long long)a.seed);
	}
	size_t failed = 0;
	for (size_t i = 0; i < a.n_plugins; i++) {
		failed += run_plugin(paths[i], &a, json, i == 0);
		free(paths[i]);
	}
	if (json) {
		fputs("\n]}\n", json);
		if (cli_close_output(&qkv_conform_spec, json, a.report))
			return 2;
	}
	return failed ? 1 : 0;
}
