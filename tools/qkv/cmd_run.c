/* qkv run: load a model, project one batch, write q/k/v and print a summary line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "bench_stats.h"
#include "commands.h"
#include "jsonw.h"

static const struct cli_opt run_opts[] = {
    {OPT_MACHINE, NULL, NULL},
    {OPT_INPUT, NULL,
     "input rows: float32 or float16 .npy, [T, d_model] or [d_model]\n"
     "(float64: convert first, see the message)"},
    {OPT_TOKENS, NULL, "without --input: T random rows, uniform in [-1, 1) (default 1)"},
    {OPT_SEED, NULL, "seed of the random rows (default 1)"},
    {OPT_OUT, "DIR",
     "write DIR/q.npy [T, d_q], DIR/k.npy and DIR/v.npy [T, d_kv]\n"
     "(DIR is created and checked before computing)"},
    {OPT_REPEAT, NULL, "time N calls and report the median (default 1: one cold call)"},
    {OPT_JSON, NULL, "the summary as JSON to FILE (- = stdout)"},
    {OPT_BACKEND, NULL, "use these backends, overriding config and profile"},
    {OPT_THREADS, NULL, NULL},
    {OPT_PRECISION, "P", "f32, bf16, int8 or stored: replaces the config's\nmodel.precision"},
    {OPT_SHARD, NULL, NULL},
    {OPT_LAYER, NULL, NULL},
    {OPT_STRICT, NULL, NULL},
    {OPT_PLUGIN_DIR, NULL, NULL},
    {OPT_VERBOSE, NULL, NULL},
    {OPT_CHECK, NULL,
     "compare the first ROWS rows of q, k, v with a float64 product of the\n"
     "weights as the config loads them, within the f32 bound (f32 models;\n"
     "loads the weights a second time; cannot tell a wrong layout)"},
    {OPT_COUNT, NULL, NULL},
};

const struct cli_spec qkv_run_spec = {
    "run",
    "CONFIG [options]",
    "Load the model CONFIG describes, select a backend, compute Q, K, V for one batch\n"
    "and print one summary line: backend, precision, T, the time of one call (the median\n"
    "of --repeat calls; the first call includes one-time work), GFLOP/s.\n",
    run_opts,
    1,
    1,
    NULL,
    NULL};

/* splitmix64: small, deterministic, good enough for test inputs. */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* rows x cols floats, or NULL on overflow or allocation failure. */
static float *alloc_floats(size_t rows, size_t cols)
{
	size_t n;
	if (__builtin_mul_overflow(rows, cols, &n) || n > SIZE_MAX / sizeof(float) - 1)
		return NULL;
	return malloc((n + 1) * sizeof(float));
}

/* Read X from a .npy file; *T gets the row count. */
static float *read_input(const char *path, size_t d_model, size_t *T)
{
	char err[600];
	float *x = NULL;
	uint64_t rows, cols;
	enum qkv_status st = qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv run: --input %s\n", err);
		if (st == QKV_ERR_FORMAT || st == QKV_ERR_UNSUPPORTED)
			fprintf(
			    stderr,
			    "qkv run: hint: --input takes float32 or float16 rows; float64 is not "
			    "read (it would be rounded silently), nor are integers; convert: "
			    "python3 -c \"import numpy as np; "
			    "np.save('%s.f32.npy', np.load('%s').astype(np.float32))\"\n",
			    path, path);
		return NULL;
	}
	if (cols != d_model) {
		fprintf(stderr,
		        "qkv run: --input %s: rows have %llu values, the model's d_model is %zu\n",
		        path, (unsigned long long)cols, d_model);
		qkv_array_free(x);
		return NULL;
	}
	*T = (size_t)rows;
	return x;
}

static int make_out_dir(const char *dir)
{
	struct stat sb;
	if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		fprintf(stderr,
		        "qkv run: --out %s: exists and is not a folder (--out names the folder "
		        "that gets q.npy, k.npy and v.npy)\n",
		        dir);
		return -1;
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "qkv run: --out %s: cannot create folder: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		fprintf(stderr, "qkv run: --out %s: cannot write there: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	return 0;
}

static int write_outputs(const char *dir, size_t T, const float *q, size_t dq, const float *k,
                         const float *v, size_t dkv)
{
	char path[4096];
	const float *data[3] = {q, k, v};
	for (unsigned p = 0; p < 3; p++) {
		size_t w = p ? dkv : dq;
		snprintf(path, sizeof(path), "%s/%s.npy", dir, qkv_proj_name(p));
		if (qkv_cli_write_npy(path, data[p], T, w, w) != 0)
			return -1;
	}
	return 0;
}

struct run_result {
	const char *backend, *config;
	const struct qkv_model_info *info;
	size_t T, N, repeat;
	double median_s, first_s, gflops;
};

static void print_json(FILE *f, const struct run_result *r)
{
	struct jsonw w;
	jsonw_init(&w, f, 1);
	jsonw_object(&w);
	jsonw_kv_string(&w, "config", r->config);
	jsonw_kv_string(&w, "backend", r->backend);
	jsonw_kv_string(&w, "precision", qkv_precision_name(r->info->precision));
	jsonw_kv_uint(&w, "T", r->T);
	jsonw_kv_uint(&w, "d_model", r->info->d_model);
	jsonw_kv_uint(&w, "N", r->N);
	jsonw_kv_uint(&w, "threads", r->info->threads);
	jsonw_kv_uint(&w, "repeat", r->repeat);
	jsonw_kv_double(&w, "median_s", r->median_s, 9);
	jsonw_kv_double(&w, "first_s", r->first_s, 9);
	jsonw_kv_double(&w, "gflops", r->gflops, 6);
	jsonw_end(&w);
}

/* X from --input, or T random rows from --seed: [*T x d_model], freed by free_input. */
static float *make_input(const struct cli_args *a, size_t d_model, size_t *T, uint64_t seed)
{
	if (a->val[OPT_INPUT])
		return read_input(a->val[OPT_INPUT], d_model, T);
	float *x = alloc_floats(*T, d_model);
	uint64_t s = seed;
	for (size_t i = 0; x && i < *T * d_model; i++)
		x[i] = (float)((double)(next_u64(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
	return x;
}

static void free_input(const struct cli_args *a, float *x)
{
	if (a->val[OPT_INPUT])
		qkv_array_free(x);
	else
		free(x);
}

/* `repeat` timed calls into q, k, v; the summary's times and rates in r. 0, or -1 after
 * printing the library's error. */
static int time_calls(qkv_model *m, const struct qkv_model_info *info, const float *x,
                      float *out[3], double *times, struct run_result *r)
{
	char err[2048];
	for (size_t i = 0; i < r->repeat; i++) {
		double t0 = bench_now();
		enum qkv_status st =
		    qkv_project(m, r->T, x, info->d_model, out[0], info->d_q, out[1], info->d_kv,
		                out[2], info->d_kv, err, sizeof(err));
		times[i] = bench_now() - t0;
		if (st != QKV_OK) {
			fprintf(stderr, "qkv run: %s\n", err);
			return -1;
		}
	}
	r->first_s = times[0];
	struct bench_stats stats;
	bench_stats_compute(times, r->repeat, &stats);
	r->median_s = stats.median;
	double flops = 2.0 * (double)r->T * info->d_model * (double)r->N;
	r->gflops = r->median_s > 0 ? flops / r->median_s * 1e-9 : 0.0;
	return 0;
}

/* The summary line (stderr when the JSON goes to stdout) and --json. */
static int report(const struct cli_spec *sp, const struct cli_args *a, const struct run_result *r)
{
	FILE *line = a->val[OPT_JSON] && !strcmp(a->val[OPT_JSON], "-") ? stderr : stdout;
	fprintf(line,
	        "qkv run: backend=%s precision=%s T=%zu d_model=%u N=%zu threads=%u time=%.3f ms "
	        "(%s) GFLOP/s=%.2f config=%s\n",
	        r->backend, qkv_precision_name(r->info->precision), r->T, r->info->d_model, r->N,
	        r->info->threads, r->median_s * 1e3,
	        r->repeat == 1 ? "one cold call; --repeat N for a median"
	                       : "median of --repeat calls",
	        r->gflops, r->config);
	if (!a->val[OPT_JSON])
		return QKV_EXIT_OK;
	FILE *f = cli_open_output(a->val[OPT_JSON]);
	if (!f) {
		fprintf(stderr, "qkv run: --json %s: %s\n", a->val[OPT_JSON], strerror(errno));
		return QKV_EXIT_ERROR;
	}
	print_json(f, r);
	return cli_close_output(sp, f, a->val[OPT_JSON]) ? QKV_EXIT_ERROR : QKV_EXIT_OK;
}

int qkv_cmd_run(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_run_spec;
	struct cli_args a;
	struct qkv_open_options opts;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	unsigned long long tokens, seed, repeat, check;
	if (cli_uint(sp, &a, OPT_TOKENS, 1, 1ull << 24, 1, &tokens) ||
	    cli_uint(sp, &a, OPT_SEED, 0, UINT64_MAX, 1, &seed) ||
	    cli_uint(sp, &a, OPT_REPEAT, 1, 100000, 1, &repeat) ||
	    cli_uint(sp, &a, OPT_CHECK, 1, 1u << 20, 0, &check))
		return QKV_EXIT_USAGE;
	if (a.val[OPT_INPUT] && a.val[OPT_TOKENS])
		return cli_usage_error(sp, "give --input or --tokens, not both");
	if ((rc = cli_open_options(sp, &a, &opts)))
		return rc;
	if (cli_check_output(sp, &a, OPT_JSON) || (a.val[OPT_OUT] && make_out_dir(a.val[OPT_OUT])))
		return QKV_EXIT_ERROR;
	qkv_model *m = NULL;
	if ((rc = cli_model_open(sp, a.pos[0], &opts, &m)))
		return rc;
	struct qkv_model_info info = QKV_MODEL_INFO_INIT;
	qkv_model_get_info(m, &info);
	bool verbose = a.val[OPT_VERBOSE] != NULL;
	/* Warnings (e.g. a profile tuned on another CPU) are shown even without --verbose. */
	qkv_cli_print_lines(stderr, verbose ? "" : "qkv run: ", info.selection_log,
	                    verbose ? NULL : "warning:");

	struct run_result r = {.config = a.pos[0],
	                       .info = &info,
	                       .T = (size_t)tokens,
	                       .N = (size_t)info.d_q + 2 * (size_t)info.d_kv,
	                       .repeat = (size_t)repeat};
	float *x = make_input(&a, info.d_model, &r.T, seed), *out[3] = {NULL, NULL, NULL};
	double *times = malloc(r.repeat * sizeof(double));
	rc = QKV_EXIT_ERROR;
	if (!x && a.val[OPT_INPUT])
		goto done;
	for (unsigned p = 0; p < 3; p++)
		out[p] = alloc_floats(r.T, p ? info.d_kv : info.d_q);
	if (!x || !out[0] || !out[1] || !out[2] || !times) {
		fprintf(stderr,
		        "qkv run: out of memory: T = %zu rows need %.2f GiB for X, Q, K and V "
		        "(T x (d_model + d_q + 2 d_kv) floats); use fewer --tokens\n",
		        r.T, (double)r.T * (info.d_model + r.N) * sizeof(float) / (1u << 30));
		goto done;
	}
	r.backend = qkv_model_backend_for(m, r.T);
	if (time_calls(m, &info, x, out, times, &r) ||
	    (a.val[OPT_OUT] &&
	     write_outputs(a.val[OPT_OUT], r.T, out[0], info.d_q, out[1], out[2], info.d_kv)))
		goto done;
	rc = report(sp, &a, &r);
	if (rc == QKV_EXIT_OK && check)
		rc = run_check(a.pos[0], &opts, &info, x, check < r.T ? (size_t)check : r.T, out);
done:
	free_input(&a, x);
	for (unsigned p = 0; p < 3; p++)
		free(out[p]);
	free(times);
	qkv_model_close(m);
	return rc;
}
