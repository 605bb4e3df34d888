/* End to end: a Llama-3-8B-shaped layer (d_model 4096, 32 heads, 8 KV heads, head_dim 128)
 * generated as Hugging Face safetensors (out_in, HF names), opened from a config through
 * the public API on every in-tree f32 backend, checked against a float64 reference.
 *
 * Bound per element (f32 accumulation of K products in any order, plus the bias):
 *   |y - y64| <= 2 * K * 2^-24 * sum_k |x_k w_kn|  (+ 2^-24 |y64| for the final rounding)
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "config.h"
#include "weights.h"

#define K 4096
#define DQ 4096
#define DKV 1024
#define T 3

/* The 100 MB file is made once per run, not once per test: Criterion runs each test in a
 * re-executed child, so the runner makes it before any test (PRE_ALL) and hands its
 * folder, or why it failed, down in the environment. Under qemu each making cost ~10 s. */
#define ENV_DIR "QKV_E2E_DIR"
#define ENV_ERR "QKV_E2E_ERROR"
static char dir[] = "/tmp/qkv-e2e-XXXXXX";
static int dir_made; /* in the runner */
static char config_path[256];

static int generate_in(const char *d, char *err, size_t errlen)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "%s/tools/genweights/qkv-genweights --preset llama3-8b --out %s/l3.safetensors",
	         QKV_BUILD_ROOT, d);
	if (system(cmd) != 0)
		return snprintf(err, errlen, "failed: %s", cmd), -1;
	/* The shipped config, pointed at the generated file. */
	char src[512], dst[512];
	snprintf(src, sizeof(src), "%s/configs/llama3-8b.yaml", QKV_SOURCE_ROOT);
	snprintf(dst, sizeof(dst), "%s/llama3-8b.yaml", d);
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	if (!in || !out) {
		snprintf(err, errlen, "cannot open %s", in ? dst : src);
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return -1;
	}
	char line[512];
	while (fgets(line, sizeof(line), in)) {
		if (strstr(line, "file: weights/llama3-8b.safetensors"))
			fputs("  file: l3.safetensors\n", out);
		else
			fputs(line, out);
	}
	fclose(in);
	return fclose(out) == 0 ? 0 : (snprintf(err, errlen, "cannot write %s", dst), -1);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	char err[1200] = "";
	unsetenv(ENV_DIR); /* never one left in the environment by someone else */
	unsetenv(ENV_ERR);
	if (!mkdtemp(dir)) {
		snprintf(err, sizeof(err), "mkdtemp %s failed", dir);
	} else {
		dir_made = 1;
		if (generate_in(dir, err, sizeof(err)) == 0)
			setenv(ENV_DIR, dir, 1);
	}
	if (err[0])
		setenv(ENV_ERR, err, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (!dir_made)
		return;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void find_generated(void)
{
	const char *d = getenv(ENV_DIR), *why = getenv(ENV_ERR);
	cr_assert_not_null(d, "the test file was not made before the tests: %s",
	                   why ? why : "(no reason recorded)");
	snprintf(config_path, sizeof(config_path), "%s/llama3-8b.yaml", d);
}

TestSuite(e2e, .init = find_generated, .timeout = 300);

/* x: [T x K]; w: out_in [d_out x K]; checks y [T x d_out]. */
static void check(const char *what, const float *x, const float *w, size_t d_out, const float *y)
{
	double worst = 0;
	for (size_t t = 0; t < T; t++)
		for (size_t n = 0; n < d_out; n++) {
			double ref = 0, mag = 0;
			for (size_t k = 0; k < K; k++) {
				double p = (double)x[t * K + k] * (double)w[n * K + k];
				ref += p;
				mag += fabs(p);
			}
			double bound = 2.0 * K * 0x1p-24 * mag + 0x1p-24 * fabs(ref);
			double e = fabs((double)y[t * d_out + n] - ref);
			cr_assert(e <= bound,
			          "%s[%zu][%zu] = %.9g, float64 %.9g, error %.3g > bound %.3g",
			          what, t, n, y[t * d_out + n], ref, e, bound);
			if (bound > 0 && e / bound > worst)
				worst = e / bound;
		}
	cr_log_info("%s: worst error / bound = %.2e", what, worst);
}

static void run_backend(const char *backend)
{
	char err[2048];
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = backend;
	o.strict = 1;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open(config_path, &o, &m, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.d_q, DQ);
	cr_assert_eq(info.d_kv, DKV);
	cr_assert_eq(info.n_kv_heads, 8);
	cr_assert_str_eq(info.backend, backend);

	/* The weights, read independently of the model (same loader, no arithmetic). */
	struct qkv_config cfg;
	struct qkv_loaded_weights lw;
	cr_assert_eq(qkv_config_load(config_path, &cfg, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_weights_load(&cfg, &lw, err, sizeof(err)), QKV_OK, "%s", err);

	static float x[T * K], q[T * DQ], k[T * DKV], v[T * DKV];
	uint64_t s = 12345;
	for (size_t i = 0; i < T * K; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
	}
	cr_assert_eq(qkv_project(m, T, x, K, q, DQ, k, DKV, v, DKV, err, sizeof(err)), QKV_OK, "%s",
	             err);
	check("q", x, lw.w[0], DQ, q);
	check("k", x, lw.w[1], DKV, k);
	check("v", x, lw.w[2], DKV, v);
	qkv_weights_free(&lw);
	qkv_config_free(&cfg);
	qkv_model_close(m);
}

Test(e2e, llama3_8b_scalar)
{
	run_backend("scalar");
}

Test(e2e, llama3_8b_openmp)
{
	run_backend("openmp");
}

Test(e2e, llama3_8b_blas)
{
	run_backend("blas");
}
