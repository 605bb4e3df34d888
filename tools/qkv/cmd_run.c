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
    {OPT_SHARD, NULL, NULL},
    {OPT_LAYER, NULL, NULL},
    {OPT_STRICT, NULL, NULL},
    {OPT_PLUGIN_DIR, NULL, NULL},
    {OPT_VERBOSE, NULL, NULL},
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
	if (qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv run: --input %s\n", err);
		if (strstr(err, "'<f8'"))
			fprintf(stderr,
			        "qkv run: hint: float64 input is not read (it would be rounded "
			        "silently); convert it: python3 -c \"import numpy as np; "
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
	const char *names[3] = {"q", "k", "v"};
	const float *data[3] = {q, k, v};
	for (int p = 0; p < 3; p++) {
		size_t w = p ? dkv : dq;
		snprintf(path, sizeof(path), "%s/%s.npy", dir, names[p]);
		if (qkv_cli_write_npy(path, data[p], T, w, w) != 0)
			return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
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

int qkv_cmd_run(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_run_spec;
	struct cli_args a;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	unsigned long long tokens, seed, threads, repeat;
	uint32_t shard_rank, shard_world, layer_set, layer;
	if (cli_shard(sp, &a, &shard_rank, &shard_world) || cli_layer(sp, &a, &layer_set, &layer) ||
	    cli_uint(sp, &a, OPT_TOKENS, 1, 1ull << 24, 1, &tokens) ||
	    cli_uint(sp, &a, OPT_SEED, 0, UINT64_MAX, 1, &seed) ||
	    cli_uint(sp, &a, OPT_THREADS, 0, QKV_MAX_THREADS, 0, &threads) ||
	    cli_uint(sp, &a, OPT_REPEAT, 1, 100000, 1, &repeat))
		return QKV_EXIT_USAGE;
	if (a.val[OPT_INPUT] && a.val[OPT_TOKENS])
		return cli_usage_error(sp, "give --input or --tokens, not both");
	if ((rc = cli_check_backends(sp, a.val[OPT_BACKEND], false)))
		return rc;
	if (cli_check_output(sp, &a, OPT_JSON) || (a.val[OPT_OUT] && make_out_dir(a.val[OPT_OUT])))
		return QKV_EXIT_ERROR;
	const char *config = a.pos[0];
	struct qkv_open_options opts = QKV_OPEN_OPTIONS_INIT;
	opts.machine_path = a.val[OPT_MACHINE];
	opts.backend = a.val[OPT_BACKEND];
	opts.threads = (int32_t)threads;
	opts.shard_rank = shard_rank;
	opts.shard_world = shard_world;
	opts.layer_set = layer_set;
	opts.layer = layer;
	opts.strict = a.val[OPT_STRICT] ? 1 : 0;
	bool verbose = a.val[OPT_VERBOSE] != NULL;

	char err[2048];
	qkv_model *m = NULL;
	enum qkv_status st = qkv_model_open(config, &opts, &m, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv run: %s\n", err);
		if (strstr(err, "/weights/") && strstr(err, "No such file"))
			fprintf(
			    stderr,
			    "qkv run: hint: the shipped shape configs do not ship their weights; "
			    "the comment at the top of %s gives the qkv-genweights command\n",
			    config);
		return QKV_EXIT_ERROR;
	}
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	/* Warnings (e.g. a profile tuned on another CPU) are shown even without --verbose. */
	qkv_cli_print_lines(stderr, verbose ? "" : "qkv run: ", info.selection_log,
	                    verbose ? NULL : "warning:");

	size_t T = (size_t)tokens, n = (size_t)info.d_q + 2 * (size_t)info.d_kv;
	float *x = NULL, *q = NULL, *k = NULL, *v = NULL;
	double *times = NULL;
	rc = QKV_EXIT_ERROR;
	if (a.val[OPT_INPUT]) {
		if (!(x = read_input(a.val[OPT_INPUT], info.d_model, &T)))
			goto done;
	} else if ((x = alloc_floats(T, info.d_model))) {
		uint64_t s = seed;
		for (size_t i = 0; i < T * info.d_model; i++)
			x[i] = (float)((double)(next_u64(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
	}
	q = alloc_floats(T, info.d_q);
	k = alloc_floats(T, info.d_kv);
	v = alloc_floats(T, info.d_kv);
	times = malloc((size_t)repeat * sizeof(double));
	if (!x || !q || !k || !v || !times) {
		fprintf(stderr,
		        "qkv run: out of memory: T = %zu rows need %.2f GiB for X, Q, K and V "
		        "(T x (d_model + d_q + 2 d_kv) floats); use fewer --tokens\n",
		        T, (double)T * (info.d_model + n) * sizeof(float) / (1u << 30));
		goto done;
	}
	for (size_t r = 0; r < repeat; r++) {
		double t0 = qkv_cli_now();
		st = qkv_project(m, T, x, info.d_model, q, info.d_q, k, info.d_kv, v, info.d_kv,
		                 err, sizeof(err));
		times[r] = qkv_cli_now() - t0;
		if (st != QKV_OK) {
			fprintf(stderr, "qkv run: %s\n", err);
			goto done;
		}
	}
	struct run_result res = {
	    qkv_model_backend_for(m, T), config, &info, T, n, (size_t)repeat, 0, times[0], 0};
	qsort(times, (size_t)repeat, sizeof(double), cmp_double);
	res.median_s =
	    repeat % 2 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
	double flops = 2.0 * (double)T * info.d_model * (double)n;
	res.gflops = res.median_s > 0 ? flops / res.median_s * 1e-9 : 0.0;
	if (a.val[OPT_OUT] && write_outputs(a.val[OPT_OUT], T, q, info.d_q, k, v, info.d_kv))
		goto done;
	/* With --json - stdout is the JSON alone; the line goes to stderr. */
	FILE *line = a.val[OPT_JSON] && !strcmp(a.val[OPT_JSON], "-") ? stderr : stdout;
	fprintf(line,
	        "qkv run: backend=%s precision=%s T=%zu d_model=%u N=%zu threads=%u time=%.3f ms "
	        "(%s) GFLOP/s=%.2f config=%s\n",
	        res.backend, qkv_precision_name(info.precision), T, info.d_model, n, info.threads,
	        res.median_s * 1e3,
	        repeat == 1 ? "one cold call; --repeat N for a median" : "median of --repeat calls",
	        res.gflops, config);
	rc = QKV_EXIT_OK;
	if (a.val[OPT_JSON]) {
		FILE *f = cli_open_output(a.val[OPT_JSON]);
		if (!f) {
			fprintf(stderr, "qkv run: --json %s: %s\n", a.val[OPT_JSON],
			        strerror(errno));
			rc = QKV_EXIT_ERROR;
		} else {
			print_json(f, &res);
			if (cli_close_output(sp, f, a.val[OPT_JSON]))
				rc = QKV_EXIT_ERROR;
		}
	}
done:
	if (a.val[OPT_INPUT])
		qkv_array_free(x);
	else
		free(x);
	free(q);
	free(k);
	free(v);
	free(times);
	qkv_model_close(m);
	return rc;
}
