/* qkv run: load a model, project one batch, write q/k/v and print a summary line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <qkv/qkv.h>

#include "commands.h"
#include "weights.h"

static const char run_help[] =
    "usage: qkv run CONFIG [options]\n"
    "\n"
    "Load the model CONFIG describes, select a backend, compute Q, K, V for one batch\n"
    "and print one summary line (backend, precision, T, time, GFLOP/s).\n"
    "\n"
    "options:\n"
    "  --machine FILE   machine profile (backend preferences, threads, routes)\n"
    "  --input X.npy    input rows: float32 (or float16) [T, d_model] or [d_model]\n"
    "  --tokens T       without --input: T random rows, uniform in [-1, 1) (default 1)\n"
    "  --seed S         seed of the random rows (default 1)\n"
    "  --out DIR        write DIR/q.npy [T, d_q], DIR/k.npy and DIR/v.npy [T, d_kv]\n"
    "  --backend LIST   use these backends (comma-separated), overriding config and profile\n"
    "  --threads N      thread budget (0 = all cores)\n"
    "  --strict         fail instead of falling back past the first backend\n"
    "  --verbose        print the backend selection log\n";

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

static float *random_rows(size_t T, size_t d, uint64_t seed)
{
	size_t n = T * d;
	float *x = alloc_floats(T, d);
	if (!x)
		return NULL;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((double)(next_u64(&seed) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
	return x;
}

/* Read X from a .npy file; *T gets the row count. */
static float *read_input(const char *path, size_t d_model, size_t *T)
{
	struct qkv_mapped_file f;
	struct qkv_tensor_view v;
	char err[512];
	if (qkv_file_map(path, &f, err, sizeof(err)) != QKV_OK ||
	    qkv_npy_parse(&f, &v, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv: --input %s\n", err);
		return NULL;
	}
	float *x = NULL;
	uint64_t cols = v.ndim == 2 ? v.shape[1] : v.shape[0];
	uint64_t rows = v.ndim == 2 ? v.shape[0] : 1;
	if (v.dtype != QKV_DT_F32 && v.dtype != QKV_DT_F16 && v.dtype != QKV_DT_BF16) {
		fprintf(stderr, "qkv: --input %s: X must be float32 or float16\n", path);
	} else if (cols != d_model) {
		fprintf(stderr,
		        "qkv: --input %s: rows have %llu values, the model's d_model is %zu\n",
		        path, (unsigned long long)cols, d_model);
	} else if ((x = alloc_floats(rows, cols))) {
		qkv_convert_to_f32(&v, x, rows * cols);
		*T = rows;
	} else {
		fprintf(stderr, "qkv: --input %s: out of memory\n", path);
	}
	qkv_file_unmap(&f);
	return x;
}

static int write_outputs(const char *dir, size_t T, const float *q, size_t dq, const float *k,
                         const float *v, size_t dkv)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "qkv: --out %s: cannot create folder: %s\n", dir, strerror(errno));
		return -1;
	}
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

int qkv_cmd_run(int argc, char **argv)
{
	const char *config = NULL, *input = NULL, *out_dir = NULL;
	unsigned long long tokens = 1, seed = 1, threads = 0;
	bool verbose = false;
	struct qkv_open_options opts = QKV_OPEN_OPTIONS_INIT;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = !strcmp(a, "--machine") || !strcmp(a, "--input") ||
		             !strcmp(a, "--tokens") || !strcmp(a, "--seed") ||
		             !strcmp(a, "--out") || !strcmp(a, "--backend") ||
		             !strcmp(a, "--threads");
		if (takes && !val) {
			fprintf(stderr, "qkv run: option %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(run_help, stdout);
			return 0;
		} else if (!strcmp(a, "--machine")) {
			opts.machine_path = val;
		} else if (!strcmp(a, "--input")) {
			input = val;
		} else if (!strcmp(a, "--tokens")) {
			if (qkv_cli_parse_u64(a, val, 1u << 24, &tokens))
				return 2;
		} else if (!strcmp(a, "--seed")) {
			if (qkv_cli_parse_u64(a, val, UINT64_MAX, &seed))
				return 2;
		} else if (!strcmp(a, "--out")) {
			out_dir = val;
		} else if (!strcmp(a, "--backend")) {
			opts.backend = val;
		} else if (!strcmp(a, "--threads")) {
			if (qkv_cli_parse_u64(a, val, 1024, &threads))
				return 2;
			opts.threads = (int32_t)threads;
		} else if (!strcmp(a, "--strict")) {
			opts.strict = 1;
		} else if (!strcmp(a, "--verbose")) {
			verbose = true;
		} else if (a[0] == '-' || config) {
			fprintf(stderr, "qkv run: unexpected argument `%s` (see qkv run --help)\n",
			        a);
			return 2;
		} else {
			config = a;
		}
		if (takes)
			i++;
	}
	if (!config) {
		fputs(run_help, stderr);
		return 2;
	}

	char err[2048];
	qkv_model *m = NULL;
	enum qkv_status st = qkv_model_open(config, &opts, &m, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv: %s\n", err);
		if (strstr(err, "/weights/") && strstr(err, "No such file"))
			fprintf(stderr,
			        "qkv: hint: the shipped shape configs do not ship their weights; "
			        "the comment at the top of %s gives the qkv-genweights command\n",
			        config);
		return 1;
	}
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	/* Warnings (e.g. a profile tuned on another CPU) are shown even without --verbose. */
	qkv_cli_print_lines(stderr, verbose ? "" : "qkv: ", info.selection_log,
	                    verbose ? NULL : "warning:");

	size_t T = 0;
	float *x = input ? read_input(input, info.d_model, &T)
	                 : random_rows((size_t)tokens, info.d_model, seed);
	if (!input)
		T = (size_t)tokens;
	size_t n = (size_t)info.d_q + 2 * (size_t)info.d_kv;
	float *q = alloc_floats(T, info.d_q);
	float *k = alloc_floats(T, info.d_kv);
	float *v = alloc_floats(T, info.d_kv);
	int rc = 1;
	if (!x || !q || !k || !v) {
		if (x)
			fprintf(stderr, "qkv: out of memory for T = %zu\n", T);
		goto done;
	}
	double t0 = qkv_cli_now();
	st = qkv_project(m, T, x, info.d_model, q, info.d_q, k, info.d_kv, v, info.d_kv, err,
	                 sizeof(err));
	double secs = qkv_cli_now() - t0;
	if (st != QKV_OK) {
		fprintf(stderr, "qkv: %s\n", err);
		goto done;
	}
	static const char *const prec[] = {"f32", "bf16", "int8"};
	double flops = 2.0 * (double)T * info.d_model * (double)n;
	printf("qkv run: backend=%s precision=%s T=%zu d_model=%u N=%zu threads=%u time=%.3f ms "
	       "GFLOP/s=%.2f config=%s\n",
	       qkv_model_backend_for(m, T), prec[info.precision], T, info.d_model, n, info.threads,
	       secs * 1e3, secs > 0 ? flops / secs * 1e-9 : 0.0, config);
	rc = 0;
	if (out_dir && write_outputs(out_dir, T, q, info.d_q, k, v, info.d_kv) != 0)
		rc = 1;
done:
	free(x);
	free(q);
	free(k);
	free(v);
	qkv_model_close(m);
	return rc;
}
