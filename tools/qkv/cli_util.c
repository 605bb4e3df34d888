/* What the subcommands share: the option vocabulary and its parser, help, checked
 * values, output files, backend names, time, .npy output. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "commands.h"

/* The vocabulary: one name, one meaning, the help line every command shows unless it
 * says more. arg NULL = a flag. */
static const struct {
	const char *name, *arg, *help;
} vocab[OPT_COUNT] = {
    [OPT_BACKEND] = {"backend", "LIST", "backend names, comma-separated (--backends: the same)"},
    [OPT_THREADS] = {"threads", "N", "thread budget; 0 = every core this process may use"},
    [OPT_TYPE] = {"type", "T", "weight type: q8_0 q4_0 q4_k q5_k q6_k f16 bf16 f32"},
    [OPT_PRECISION] = {"precision", "LIST", "f32, bf16, int8 (comma-separated)"},
    [OPT_PLUGIN_DIR] = {"plugin-dir", "DIR", "search DIR for plugins first (repeatable)"},
    [OPT_MACHINE] = {"machine", "FILE", "machine profile (qkv tune): preferences, threads, routes"},
    [OPT_STRICT] = {"strict", NULL, "fail instead of falling back past the first backend"},
    [OPT_VERBOSE] = {"verbose", NULL, "print the backend selection log"},
    [OPT_QUIET] = {"quiet", NULL, "no progress on stderr"},
    [OPT_INPUT] = {"input", "X.npy", "input rows"},
    [OPT_TOKENS] = {"tokens", "T", "number of rows (tokens)"},
    [OPT_SEED] = {"seed", "S", "seed of the random data"},
    [OPT_OUT] = {"out", "PATH", "where to write"},
    [OPT_REPEAT] = {"repeat", "N", "repetitions"},
    [OPT_JSON] = {"json", "FILE", "write JSON to FILE (- = stdout)"},
    [OPT_CSV] = {"csv", "FILE", "write CSV to FILE (- = stdout)"},
    [OPT_MARKDOWN] = {"markdown", "FILE", "write Markdown to FILE (- = stdout)"},
    [OPT_PLOT] = {"plot", "F.svg|F.png", "plot"},
    [OPT_BASELINE] = {"baseline", "OLD.json", "compare with an earlier --json run"},
    [OPT_THRESHOLD] = {"threshold", "PCT", "regression threshold in percent"},
    [OPT_GATE] = {"gate", "WHICH", "rows that decide the exit status"},
    [OPT_PRESET] = {"preset", "NAME", "a model shape by name, with random weights"},
    [OPT_MIN_TIME] = {"min-time", "S", "seconds of repetitions per measurement"},
    [OPT_MAX_CALL] = {"max-call", "S", "skip measurements estimated slower than S per call"},
    [OPT_INTERLEAVE] = {"interleave", "S", "time the rows of one T in turns of S seconds"},
    [OPT_LAYOUT] = {"layout", "L", "in_out or out_in: how a preset's weights are stored"},
    [OPT_NO_REFERENCE] = {"no-reference", NULL, "no reference rows"},
    [OPT_OVERHEAD] = {"overhead", NULL, "also time each plugin called without the core"},
    [OPT_REMEASURE] = {"remeasure", NULL, "measure the machine's peak and bandwidth again"},
    [OPT_FORCE] = {"force", NULL, "go on although the machine is too noisy"},
    [OPT_CONFIG_OUT] = {"config-out", "FILE", "also write the config to FILE"},
    [OPT_CASES] = {"cases", "PATTERN", "only cases matching comma-separated globs"},
    [OPT_TIMEOUT] = {"timeout", "S", "limit in seconds"},
    [OPT_LIST] = {"list", NULL, "list, then exit"},
    [OPT_SHARD] = {"shard", "R/W",
                   "only slice R of W of the heads (tensor parallelism): its weights\n"
                   "are all that is loaded; replaces the config's `shard:`"},
    [OPT_LAYER] = {"layer", "N",
                   "layer N of the model: replaces the config's weights.layer in the\n"
                   "tensor names' {layer}"},
    [OPT_ALL_LAYERS] = {"all-layers", NULL,
                        "every layer of the model (model.n_layers, or GGUF block_count)"},
    [OPT_CHECK] = {"check", "ROWS", "compare the first ROWS rows with a float64 reference"},
};

/* Old spellings, kept so scripts keep working; each command's help names them. */
static const struct {
	const char *name;
	enum cli_opt_id id;
} aliases[] = {
    {"backends", OPT_BACKEND}, /* qkv info, bench */
    {"rows", OPT_TOKENS},      /* qkv quantize before 0.2 */
    {"report", OPT_JSON},      /* qkv conform before 0.2 */
};
#define N_ALIASES (sizeof(aliases) / sizeof(aliases[0]))

static size_t spec_count(const struct cli_spec *spec)
{
	size_t n = 0;
	while (spec->opts[n].id != OPT_COUNT)
		n++;
	return n;
}

static size_t refused_count(const struct cli_spec *spec)
{
	size_t n = 0;
	while (spec->refused && spec->refused[n].id != OPT_COUNT)
		n++;
	return n;
}

void cli_help(const struct cli_spec *spec, FILE *out)
{
	fprintf(out, "usage: qkv %s %s\n\n%s\n", spec->name, spec->usage, spec->about);
	fprintf(out, "options (--opt VALUE or --opt=VALUE, before or after the arguments):\n");
	for (size_t i = 0; i < spec_count(spec); i++) {
		const struct cli_opt *o = &spec->opts[i];
		const char *arg = o->arg ? o->arg : vocab[o->id].arg;
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", vocab[o->id].name, arg ? " " : "",
		         arg ? arg : "");
		const char *help = o->help ? o->help : vocab[o->id].help;
		/* continuation lines of a long help text are indented under the first */
		fprintf(out, "  %-22s ", left);
		for (const char *s = help; *s; s++) {
			fputc(*s, out);
			if (*s == '\n' && s[1])
				fprintf(out, "  %-22s ", "");
		}
		fputc('\n', out);
	}
	fprintf(out, "  %-22s this help (also: qkv help %s)\n", "--help", spec->name);
	/* options refused for the same reason (adjacent in the table) are listed together */
	for (size_t i = 0, n = refused_count(spec); i < n;) {
		const char *why = spec->refused[i].why;
		fprintf(out, "%snot taken by qkv %s:", i ? "" : "\n", spec->name);
		for (; i < n && !strcmp(spec->refused[i].why, why); i++)
			fprintf(out, " --%s", vocab[spec->refused[i].id].name);
		fprintf(out, "\n  %-22s ", "");
		for (const char *s = why; *s; s++) {
			fputc(*s, out);
			if (*s == '\n' && s[1])
				fprintf(out, "  %-22s ", "");
		}
		fputc('\n', out);
	}
	fprintf(out, "\nexit status: 0 ok, 1 error, 2 usage error%s%s\n",
	        spec->exit_extra ? "; " : "", spec->exit_extra ? spec->exit_extra : "");
}

int cli_usage_error(const struct cli_spec *spec, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "qkv %s: %s (see qkv help %s)\n", spec->name, msg, spec->name);
	return QKV_EXIT_USAGE;
}

/* Prepend a folder to QKV_PLUGIN_PATH so the registry searches it first. */
static int add_plugin_dir(const char *dir)
{
	const char *old = getenv("QKV_PLUGIN_PATH");
	size_t len = strlen(dir) + (old ? strlen(old) : 0) + 2;
	char *v = malloc(len);
	if (!v)
		return -1;
	snprintf(v, len, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
	int rc = setenv("QKV_PLUGIN_PATH", v, 1);
	free(v);
	return rc;
}

/* A warning on stderr for each folder of the ':'-separated `list` that does not exist. */
static void warn_missing_dirs(const struct cli_spec *spec, const char *what, const char *list)
{
	for (const char *s = list; s && *s;) {
		size_t len = strcspn(s, ":");
		char dir[4096];
		struct stat sb;
		snprintf(dir, sizeof(dir), "%.*s", (int)len, s);
		if (len && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
			fprintf(stderr, "qkv %s: warning: %s %s: %s\n", spec->name, what, dir,
			        stat(dir, &sb) != 0 ? "no such folder" : "not a folder");
		s += len + (s[len] == ':');
	}
}

/* getopt values past the options: --help, alias i at ALIAS_VAL + i, refused option i at
 * REFUSED_VAL + i (above every character getopt returns: ':', '?', 'h'). */
enum { HELP_VAL = OPT_COUNT, ALIAS_VAL, REFUSED_VAL = 1000 };

static bool spec_has(const struct cli_spec *spec, enum cli_opt_id id)
{
	for (size_t i = 0; i < spec_count(spec); i++)
		if (spec->opts[i].id == id)
			return true;
	return false;
}

/* An unknown option: the command's option (or alias) it is a typo of, or NULL. */
static const char *near_option(const struct cli_spec *spec, const char *arg)
{
	char name[64];
	const char *cand[OPT_COUNT + N_ALIASES + 1];
	size_t n = 0;
	arg += strspn(arg, "-");
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	for (size_t i = 0; i < spec_count(spec); i++)
		cand[n++] = vocab[spec->opts[i].id].name;
	for (size_t i = 0; i < N_ALIASES; i++)
		if (spec_has(spec, aliases[i].id))
			cand[n++] = aliases[i].name;
	for (size_t i = 0; i < refused_count(spec) && n < OPT_COUNT + N_ALIASES; i++)
		cand[n++] = vocab[spec->refused[i].id].name;
	cand[n++] = "help";
	return qkv_near_name(name, cand, n);
}

int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_args *a)
{
	memset(a, 0, sizeof(*a));
	size_t n = spec_count(spec);
	struct option lo[2 * OPT_COUNT + N_ALIASES + 2];
	size_t k = 0;
	for (size_t i = 0; i < refused_count(spec) && i < OPT_COUNT; i++) {
		enum cli_opt_id id = spec->refused[i].id;
		lo[k++] =
		    (struct option){vocab[id].name, vocab[id].arg ? required_argument : no_argument,
		                    NULL, REFUSED_VAL + (int)i};
	}
	for (size_t i = 0; i < n; i++) {
		enum cli_opt_id id = spec->opts[i].id;
		lo[k++] = (struct option){
		    vocab[id].name, vocab[id].arg ? required_argument : no_argument, NULL, (int)id};
	}
	for (size_t i = 0; i < N_ALIASES; i++)
		if (spec_has(spec, aliases[i].id))
			lo[k++] = (struct option){aliases[i].name,
			                          vocab[aliases[i].id].arg ? required_argument
			                                                   : no_argument,
			                          NULL, ALIAS_VAL + (int)i};
	lo[k++] = (struct option){"help", no_argument, NULL, HELP_VAL};
	lo[k] = (struct option){NULL, 0, NULL, 0};
	optind = 0; /* glibc: start afresh */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'h' || c == HELP_VAL) {
			cli_help(spec, stdout);
			return -1;
		}
		if (c >= REFUSED_VAL || ((c == ':' || c == '?') && optopt >= REFUSED_VAL)) {
			const struct cli_refused *r =
			    &spec->refused[(c >= REFUSED_VAL ? c : optopt) - REFUSED_VAL];
			char why[512];
			snprintf(why, sizeof(why), "%s", r->why);
			for (char *nl = why; (nl = strchr(nl, '\n'));)
				*nl = ' ';
			return cli_usage_error(spec, "--%s is not an option of qkv %s: %s",
			                       vocab[r->id].name, spec->name, why);
		}
		if (c == ':') {
			int id = optopt >= ALIAS_VAL ? (int)aliases[optopt - ALIAS_VAL].id : optopt;
			const char *opt = id >= 0 && id < OPT_COUNT ? vocab[id].name : "?";
			return cli_usage_error(spec, "--%s needs a value: --%s %s", opt, opt,
			                       id >= 0 && id < OPT_COUNT ? vocab[id].arg : "VALUE");
		}
		if (c == '?') {
			const char *bad = argv[optind - 1];
			if (optopt && optopt < OPT_COUNT)
				return cli_usage_error(spec, "--%s takes no value (`%s`)",
				                       vocab[optopt].name, bad);
			const char *near = near_option(spec, bad);
			if (near)
				return cli_usage_error(
				    spec, "unknown option `%s`; did you mean --%s?", bad, near);
			return cli_usage_error(spec, "unknown option `%s`", bad);
		}
		if (c >= ALIAS_VAL)
			c = (int)aliases[c - ALIAS_VAL].id;
		a->val[c] = optarg ? optarg : "";
		if (c == OPT_PLUGIN_DIR) {
			if (a->n_plugin_dirs == sizeof(a->plugin_dirs) / sizeof(a->plugin_dirs[0]))
				return cli_usage_error(spec, "too many --plugin-dir");
			a->plugin_dirs[a->n_plugin_dirs++] = optarg;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == spec->max_pos || a->npos == sizeof(a->pos) / sizeof(a->pos[0]))
			return cli_usage_error(spec, "unexpected argument `%s`", argv[i]);
		a->pos[a->npos++] = argv[i];
	}
	if (a->npos < spec->min_pos) {
		cli_help(spec, stderr);
		return QKV_EXIT_USAGE;
	}
	/* Folders that are not there: a typo, said before any work (the library says so
	 * for the config's plugin_dirs). */
	warn_missing_dirs(spec, "QKV_PLUGIN_PATH", getenv("QKV_PLUGIN_PATH"));
	for (size_t i = 0; i < a->n_plugin_dirs; i++)
		warn_missing_dirs(spec, "--plugin-dir", a->plugin_dirs[i]);
	/* Later folders are prepended first so the first --plugin-dir is searched first. */
	for (size_t i = a->n_plugin_dirs; i-- > 0;)
		if (add_plugin_dir(a->plugin_dirs[i]))
			return cli_usage_error(spec, "--plugin-dir: cannot set QKV_PLUGIN_PATH");
	return 0;
}

int cli_uint(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id,
             unsigned long long min, unsigned long long max, unsigned long long def,
             unsigned long long *out)
{
	const char *s = a->val[id];
	*out = def;
	if (!s)
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || v < min || v > max)
		return cli_usage_error(spec, "--%s: `%s` is not an integer in %llu..%llu",
		                       vocab[id].name, s, min, max);
	*out = v;
	return 0;
}

int cli_precisions(const struct cli_spec *spec, const struct cli_args *a, uint32_t *out)
{
	return cli_precisions_types(spec, a, out, NULL);
}

int cli_precisions_types(const struct cli_spec *spec, const struct cli_args *a, uint32_t *out,
                         int32_t *wtype)
{
	*out = 0;
	if (wtype)
		*wtype = -1;
	for (const char *s = a->val[OPT_PRECISION] ? a->val[OPT_PRECISION] : ""; *s;) {
		size_t len = strcspn(s, ",");
		char name[16], names[64] = "";
		uint32_t prec, t;
		snprintf(name, sizeof(name), "%.*s", (int)(len < 15 ? len : 15), s);
		s += len + (s[len] == ',');
		bool block = wtype && qkv_wtype_parse(name, &t) && qkv_wtype_traits(t)->block > 1;
		if (block && *wtype >= 0 && (uint32_t)*wtype != t)
			return cli_usage_error(
			    spec, "--precision: one block type per run (`%s` and `%s`)",
			    qkv_wtype_name((uint32_t)*wtype), name);
		if (block) {
			*wtype = (int32_t)t;
			*out |= QKV_PRECISION_BIT(QKV_STORED);
			continue;
		}
		if (!qkv_precision_parse(name, &prec)) {
			for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names),
				         "%s%s", p ? ", " : "", qkv_precision_name(p));
			return cli_usage_error(spec, "--precision: `%s` is not one of %s%s", name,
			                       names,
			                       wtype ? " or a block type (q8_0, q4_k, ...)" : "");
		}
		*out |= QKV_PRECISION_BIT(prec);
	}
	return 0;
}

int cli_shard(const struct cli_spec *spec, const struct cli_args *a, uint32_t *rank,
              uint32_t *world)
{
	const char *s = a->val[OPT_SHARD];
	*rank = *world = 0;
	if (!s)
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long r = strtoul(s, &end, 10), w = 0;
	bool ok = end != s && *end == '/' && s[0] != '-' && s[0] != '+' && !errno;
	if (ok) {
		const char *t = end + 1;
		w = strtoul(t, &end, 10);
		ok = end != t && !*end && t[0] != '-' && t[0] != '+' && !errno && w >= 1 &&
		     w <= 65536 && r < w;
	}
	if (!ok)
		return cli_usage_error(spec,
		                       "--shard: `%s` is not R/W with 0 <= R < W <= 65536 (rank R "
		                       "of world W, e.g. 0/2)",
		                       s);
	*rank = (uint32_t)r;
	*world = (uint32_t)w;
	return 0;
}

int cli_layer(const struct cli_spec *spec, const struct cli_args *a, uint32_t *set, uint32_t *layer)
{
	unsigned long long v = 0;
	*set = a->val[OPT_LAYER] != NULL;
	*layer = 0;
	if (cli_uint(spec, a, OPT_LAYER, 0, 65535, 0, &v))
		return QKV_EXIT_USAGE;
	*layer = (uint32_t)v;
	return 0;
}

int cli_double(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id,
               double min, double def, double *out)
{
	const char *s = a->val[id];
	*out = def;
	if (!s)
		return 0;
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min) || v > 1e9)
		return cli_usage_error(spec, "--%s: `%s` is not a number >= %g", vocab[id].name, s,
		                       min);
	*out = v;
	return 0;
}

int cli_check_output(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id)
{
	const char *path = a->val[id];
	if (!path || !strcmp(path, "-"))
		return 0;
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!*path || (slash && !slash[1])) {
		fprintf(stderr, "qkv %s: --%s `%s`: not a file name\n", spec->name, vocab[id].name,
		        path);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	if (access(path, F_OK) == 0 ? access(path, W_OK) != 0 : access(dir, W_OK | X_OK) != 0) {
		fprintf(stderr, "qkv %s: --%s %s: cannot write there: %s\n", spec->name,
		        vocab[id].name, path, strerror(errno));
		return 1;
	}
	return 0;
}

FILE *cli_open_output(const char *path)
{
	return strcmp(path, "-") ? fopen(path, "w") : stdout;
}

int cli_close_output(const struct cli_spec *spec, FILE *f, const char *path)
{
	bool bad = ferror(f) != 0;
	if (f == stdout)
		bad |= fflush(f) != 0;
	else
		bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "qkv %s: %s: write failed: %s\n", spec->name, path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* A qkv_NAME.so on the search path, even one the registry refuses: the model's open
 * then says why, which is more than "not found". */
static bool plugin_file(const qkv_plugin_set *set, const char *name)
{
	char tail[80];
	snprintf(tail, sizeof(tail), "/qkv_%s.so", name);
	for (size_t i = 0; i < qkv_plugins_count(set); i++) {
		struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
		size_t n, k = strlen(tail);
		if (qkv_plugins_get(set, i, &pi) == QKV_OK && (n = strlen(pi.path)) >= k &&
		    !strcmp(pi.path + n - k, tail))
			return true;
	}
	return false;
}

int cli_check_backends(const struct cli_spec *spec, const char *list, bool all_ok)
{
	if (!list || (all_ok && !strcmp(list, "all")))
		return 0;
	qkv_plugin_set *set = NULL;
	char err[512];
	if (qkv_plugins_scan(NULL, &set, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv %s: %s\n", spec->name, err);
		return QKV_EXIT_ERROR;
	}
	int rc = 0;
	for (const char *s = list; *s && !rc;) {
		size_t len = strcspn(s, ",");
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(len < 63 ? len : 63), s);
		const char *near = NULL;
		if (!len) {
			rc = cli_usage_error(spec, "--backend `%s`: empty name", list);
		} else if (qkv_plugins_find(set, name, &near) < 0 && !plugin_file(set, name)) {
			char found[512] = "";
			for (size_t i = 0, n = 0; i < qkv_plugins_count(set); i++) {
				struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
				if (qkv_plugins_get(set, i, &pi) == QKV_OK && pi.name)
					n += (size_t)snprintf(found + n, sizeof(found) - n, "%s%s",
					                      n ? ", " : "", pi.name);
				if (n >= sizeof(found))
					break;
			}
			if (near)
				rc = cli_usage_error(
				    spec,
				    "--backend: no backend `%s` (did you mean `%s`? "
				    "found: %s)",
				    name, near, found[0] ? found : "none");
			else
				rc = cli_usage_error(
				    spec,
				    "--backend: no backend `%s` on the plugin search "
				    "path (found: %s%s)",
				    name, found[0] ? found : "none", all_ok ? "; or `all`" : "");
		}
		s += len;
		if (*s)
			s++;
	}
	qkv_plugins_free(set);
	return rc;
}

void qkv_cli_print_lines(FILE *out, const char *prefix, const char *text, const char *only)
{
	size_t n_only = only ? strlen(only) : 0;
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		if (!only || !strncmp(text, only, n_only))
			fprintf(out, "%s%.*s\n", prefix, len, text);
		text += len + (nl ? 1 : 0);
	}
}

int qkv_cli_write_npy(const char *path, const float *data, size_t rows, size_t cols, size_t ld)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "qkv: %s: cannot create: %s\n", path, strerror(errno));
		return -1;
	}
	/* .npy v1.0: magic, version, 2-byte header length, dict padded so data is 64-aligned. */
	char dict[128];
	int n =
	    snprintf(dict, sizeof(dict),
	             "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
	size_t total = 10 + (size_t)n + 1;
	size_t pad = (64 - total % 64) % 64;
	unsigned hlen = (unsigned)((size_t)n + pad + 1);
	unsigned char head[10] = {0x93,
	                          'N',
	                          'U',
	                          'M',
	                          'P',
	                          'Y',
	                          1,
	                          0,
	                          (unsigned char)(hlen & 0xff),
	                          (unsigned char)(hlen >> 8)};
	int ok = fwrite(head, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
	for (size_t i = 0; ok && i < pad; i++)
		ok = fputc(' ', f) != EOF;
	ok = ok && fputc('\n', f) != EOF;
	for (size_t r = 0; ok && r < rows; r++) /* little-endian hosts */
		ok = fwrite(data + r * ld, sizeof(float), cols, f) == cols;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "qkv: %s: write failed: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
