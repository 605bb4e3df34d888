#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
/* Public API: opening from memory, selection and its log, argument validation, routing. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "cpu.h"
#include "model.h"

#include <qkv/cpu_features.h>

static char err[2048];

/* The seed example: x = (2, 3), Wq = [[1, 10], [0, -1]] -> q = (2, 17).
 * Wk = identity -> k = x; Wv = [[0, 1], [1, 0]] -> v = (3, 2). */
static const float wq_in_out[4] = {1, 10, 0, -1};
static const float wk_in_out[4] = {1, 0, 0, 1};
static const float wv_in_out[4] = {0, 1, 1, 0};
static const float wq_out_in[4] = {1, 0, 10, -1}; /* transpose of wq_in_out */

static struct qkv_model_desc seed_desc(uint32_t layout)
{
	struct qkv_model_desc d = {
	    .struct_size = sizeof(d),
	    .d_model = 2,
	    .n_heads = 1,
	    .precision = QKV_F32,
	    .layout = layout,
	    .w = {layout == QKV_LAYOUT_IN_OUT ? wq_in_out : wq_out_in, wk_in_out, wv_in_out},
	    .prefer = "scalar",
	    .threads = 1};
	return d;
}

static qkv_model *open_ok(const struct qkv_model_desc *d)
{
	qkv_model *m = NULL;
	enum qkv_status st = qkv_model_open_memory(d, &m, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "open failed: %s", err);
	cr_assert_not_null(m);
	return m;
}

Test(model, seed_example_both_layouts)
{
	for (uint32_t layout = 0; layout < 2; layout++) {
		struct qkv_model_desc d = seed_desc(layout);
		qkv_model *m = open_ok(&d);
		float x[2] = {2, 3}, q[2], k[2], v[2];
		cr_assert_eq(qkv_project(m, 1, x, 2, q, 2, k, 2, v, 2, err, sizeof(err)), QKV_OK,
		             "%s", err);
		cr_assert(q[0] == 2.0f && q[1] == 17.0f, "layout %u: q = (%g, %g)", layout, q[0],
		          q[1]);
		cr_assert(k[0] == 2.0f && k[1] == 3.0f);
		cr_assert(v[0] == 3.0f && v[1] == 2.0f);
		qkv_model_close(m);
	}
}

Test(model, fused_output_and_biases)
{
	static const float bq[2] = {0.5f, -1}, bv[2] = {100, 200};
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.bias[0] = bq;
	d.bias[2] = bv;
	qkv_model *m = open_ok(&d);
	float x[2 * 3] = {2, 3, 99, 1, -1, 99}; /* T = 2, ldx = 3 */
	float y[2 * 7];
	for (int i = 0; i < 14; i++)
		y[i] = -7;
	cr_assert_eq(qkv_project_fused(m, 2, x, 3, y, 7, err, sizeof(err)), QKV_OK, "%s", err);
	const float want[2][6] = {{2.5f, 16, 2, 3, 103, 202}, {1.5f, 10, 1, -1, 99, 201}};
	for (int t = 0; t < 2; t++) {
		for (int j = 0; j < 6; j++)
			cr_assert_eq(y[t * 7 + j], want[t][j], "y[%d][%d] = %g", t, j,
			             y[t * 7 + j]);
		cr_assert_eq(y[t * 7 + 6], -7.0f, "padding column written");
	}
	qkv_model_close(m);
}

Test(model, argument_errors_name_the_argument)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	qkv_model *m = open_ok(&d);
	float x[8] = {0}, q[8], k[8], v[8];
	struct {
		enum qkv_status st;
		const char *needle;
	} cases[9];
	int n = 0;
	cases[n].st = qkv_project(NULL, 1, x, 2, q, 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "`model` is NULL";
	cases[n].st = qkv_project(m, 1, NULL, 2, q, 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "`x` is NULL";
	cases[n].st = qkv_project(m, 1, x, 1, q, 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "`ldx` = 1 is smaller than the row width 2";
	cases[n].st = qkv_project(m, 1, x, 2, q, 2, k, 1, v, 2, err, sizeof(err));
	cases[n++].needle = "`ldk` = 1";
	cases[n].st = qkv_project(m, 1, x, 2, q, 2, q + 1, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "`q` and `k` overlap";
	cases[n].st = qkv_project(m, 2, x, 2, x + 2, 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "`q` and `x` overlap";
	cases[n].st = qkv_project(m, SIZE_MAX / 2, x, 2, q, 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "overflow";
	cases[n].st = qkv_project_fused(m, 1, x, 2, q, 5, err, sizeof(err));
	cases[n++].needle = "`ldy` = 5 is smaller than the row width N = 6";
	cases[n].st =
	    qkv_project(m, 1, x, 2, (float *)((char *)q + 1), 2, k, 2, v, 2, err, sizeof(err));
	cases[n++].needle = "not aligned";
	for (int i = 0; i < n; i++) {
		cr_expect_eq(cases[i].st, QKV_ERR_ARGUMENT, "case %d: status %d", i, cases[i].st);
	}
	/* Re-run each to check the message (err holds only the last). */
	qkv_project(m, 1, x, 1, q, 2, k, 2, v, 2, err, sizeof(err));
	cr_assert(strstr(err, cases[2].needle), "%s", err);
	qkv_project(m, 1, x, 2, q, 2, q + 1, 2, v, 2, err, sizeof(err));
	cr_assert(strstr(err, cases[4].needle), "%s", err);
	qkv_project_fused(m, 1, x, 2, q, 5, err, sizeof(err));
	cr_assert(strstr(err, cases[7].needle), "%s", err);
	/* T = 0: nothing to do, any pointers accepted, success. */
	cr_assert_eq(qkv_project(m, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, err, sizeof(err)),
	             QKV_OK);
	qkv_model_close(m);
}

Test(model, open_errors)
{
	qkv_model *m = (qkv_model *)1;
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.n_heads = 3;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert_null(m);
	cr_assert(strstr(err, "head_dim"), "%s", err);
	d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.w[1] = NULL;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "Wk"), "%s", err);
	d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.prefer = "scalar,Bad";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "`Bad`"), "%s", err);
	cr_assert_eq(qkv_model_open_memory(NULL, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "`desc` is NULL"), "%s", err);
}

Test(model, selection_log_explains_every_candidate)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	d.prefer = "no_such,fake_probeno,fake_prepfail,scalar";
	qkv_model *m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_assert_str_eq(info.backend, "scalar");
	const char *log = info.selection_log;
	cr_assert(strstr(log, "no_such: passed over: not found"), "%s", log);
	cr_assert(strstr(log, "fake_probeno: passed over: probe: cannot run here"), "%s", log);
	cr_assert(strstr(log, "fake_prepfail: passed over: prepare failed"), "%s", log);
	cr_assert(strstr(log, "scalar: selected"), "%s", log);
	qkv_model_close(m);
}

Test(model, strict_refuses_any_fallback)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	d.prefer = "fake_probeno,scalar";
	d.strict = 1;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	cr_assert(strstr(err, "fake_probeno") && strstr(err, "strict"), "%s", err);
	d.prefer = "no_such,scalar";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "no_such") && strstr(err, "not found"), "%s", err);
	cr_assert_null(m);
}

/* A backend that refuses at prepare because this machine cannot serve the request
 * (QKV_ERR_UNSUPPORTED, as oneDNN's int8 without VNNI) gives that status under strict;
 * any other prepare failure is QKV_ERR_BACKEND. */
Test(model, strict_prepare_refusal_keeps_its_status)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	d.strict = 1;
	qkv_model *m = NULL;
	d.prefer = "fake_prepunsup";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_UNSUPPORTED, "%s",
	             err);
	cr_assert(strstr(err, "lacks what the precision needs"), "%s", err);
	d.prefer = "fake_prepfail";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_BACKEND, "%s", err);
	cr_assert_null(m);
}

Test(model, precision_not_declared_is_passed_over)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	d.prefer = "fake_ok,scalar";
	d.precision = QKV_BF16;
	qkv_model *m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert(strstr(info.selection_log, "fake_ok: passed over: does not support precision "
	                                     "bf16"),
	          "%s", info.selection_log);
	qkv_model_close(m);
	d.prefer = "no_such";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "no usable backend"), "%s", err);
}

/* The environment decides what the program left unset (prefer NULL, threads 0,
 * strict 0)... */
Test(model, environment_fills_what_the_descriptor_leaves_unset)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.prefer = NULL;
	d.threads = 0;
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	setenv("QKV_BACKEND", "fake_ok", 1);
	setenv("QKV_THREADS", "3", 1);
	qkv_model *m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert_str_eq(info.backend, "fake_ok");
	cr_assert_eq(info.threads, 3);
	qkv_model_close(m);
	setenv("QKV_THREADS", "lots", 1);
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "QKV_THREADS"), "%s", err);
	unsetenv("QKV_THREADS");
	setenv("QKV_BACKEND", "scalar,,blas", 1);
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "QKV_BACKEND"), "%s", err);
	unsetenv("QKV_BACKEND");
}

/* ...but never overrides the program's explicit choice (issue 15: QKV_BACKEND and
 * QKV_THREADS exported, a runtime asking for scalar, 1 thread, strict got the
 * environment's backend on 2 threads). */
Test(model, descriptor_beats_environment)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.prefer = "scalar";
	d.threads = 1;
	d.strict = 1;
	d.plugin_dirs = QKV_FAKE_PLUGIN_DIR;
	setenv("QKV_BACKEND", "fake_ok", 1);
	setenv("QKV_THREADS", "2", 1);
	qkv_model *m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert_str_eq(info.backend, "scalar");
	cr_assert_eq(info.threads, 1);
	qkv_model_close(m);
	/* strict with an explicit choice that cannot be served: the environment's backend
	 * is not a fallback either */
	d.prefer = "fake_probeno";
	cr_assert_neq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK);
	cr_assert(strstr(err, "fake_probeno"), "%s", err);
	unsetenv("QKV_BACKEND");
	unsetenv("QKV_THREADS");
}

static unsigned affinity_cpus(void)
{
	cpu_set_t set;
	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	return (unsigned)CPU_COUNT(&set);
}

/* threads = 0: the CPUs this process may run on, or OMP_NUM_THREADS when set. */
Test(model, threads_zero_means_all_cores)
{
	unsetenv("OMP_NUM_THREADS");
	unsetenv("QKV_THREADS");
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.threads = 0;
	qkv_model *m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, affinity_cpus());
	qkv_model_close(m);

	/* a mask of one CPU (criterion runs each test in its own process) */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 1, "affinity mask of 1 CPU: threads %u", info.threads);
	qkv_model_close(m);

	setenv("OMP_NUM_THREADS", "3", 1); /* the user's OpenMP setting wins */
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 3);
	qkv_model_close(m);
	setenv("OMP_NUM_THREADS", "2,1", 1); /* nested list: the outer level */
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 2);
	qkv_model_close(m);
	setenv("OMP_NUM_THREADS", "junk", 1); /* not ours to refuse: ignored */
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 1);
	qkv_model_close(m);
	d.threads = 5; /* an explicit count beats OMP_NUM_THREADS */
	setenv("OMP_NUM_THREADS", "3", 1);
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 5);
	qkv_model_close(m);
	unsetenv("OMP_NUM_THREADS");
}

struct worker {
	const qkv_model *m;
	const float *x;
	float q[64 * 2];
	enum qkv_status st;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	float k[64 * 2], v[64 * 2];
	char e[256];
	for (int i = 0; i < 200 && w->st == QKV_OK; i++)
		w->st = qkv_project(w->m, 64, w->x, 2, w->q, 2, k, 2, v, 2, e, sizeof(e));
	return NULL;
}

Test(model, concurrent_calls_on_one_model)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_OUT_IN);
	qkv_model *m = open_ok(&d);
	float x[64 * 2];
	for (int i = 0; i < 128; i++)
		x[i] = (float)(i % 7) - 3.0f;
	struct worker w[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){.m = m, .x = x, .st = QKV_OK};
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(w[i].st, QKV_OK);
		for (int t = 0; t < 64; t++) {
			float x0 = x[2 * t], x1 = x[2 * t + 1];
			cr_assert_eq(w[i].q[2 * t], x0, "thread %d row %d", i, t);
			cr_assert_eq(w[i].q[2 * t + 1], 10 * x0 - x1, "thread %d row %d", i, t);
		}
	}
	qkv_model_close(m);
}

/* int8 accumulates exactly in int32 only while 127*127*d_model <= INT32_MAX. The core
 * refuses a larger int8 model for every backend (the scalar reference included, which
 * would overflow silently), and the largest allowed one is exact. */
Test(model, int8_exactness_limit_for_every_backend)
{
	cr_assert_eq(QKV_INT8_MAX_D_MODEL, (uint32_t)(INT32_MAX / (127 * 127)));
	cr_assert_eq(QKV_INT8_MAX_D_MODEL, 133144u);
	cr_assert_eq(QKV_INT8_AMAX_MIN, ldexpf(1.0f, -120));
	size_t k_max = QKV_INT8_MAX_D_MODEL + 1;
	float *w = malloc(k_max * sizeof(float)), *x = malloc(k_max * sizeof(float));
	cr_assert(w && x);
	for (size_t i = 0; i < k_max; i++)
		w[i] = x[i] = 1.0f; /* every product is 127 * 127: the largest |acc| */
	struct qkv_model_desc d = {.struct_size = sizeof(d),
	                           .d_model = QKV_INT8_MAX_D_MODEL + 1,
	                           .n_heads = 1,
	                           .head_dim = 1,
	                           .precision = QKV_INT8,
	                           .layout = QKV_LAYOUT_OUT_IN,
	                           .w = {w, w, w},
	                           .prefer = "scalar",
	                           .threads = 1,
	                           .strict = 1};
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_UNSUPPORTED, "%s",
	             err);
	cr_assert_null(m);
	cr_assert(strstr(err, "d_model") && strstr(err, "133144"), "%s", err);
	d.precision = QKV_F32; /* the limit is int8's only */
	m = open_ok(&d);
	qkv_model_close(m);

	d.precision = QKV_INT8;
	d.d_model = QKV_INT8_MAX_D_MODEL;
	m = open_ok(&d);
	float q, k, v;
	cr_assert_eq(qkv_project(m, 1, x, d.d_model, &q, 1, &k, 1, &v, 1, err, sizeof(err)), QKV_OK,
	             "%s", err);
	/* acc = 127*127*133144 = 2147479576 exactly; y = acc * (1/127) * (1/127) in f32:
	 * three roundings of relative size <= FLT_EPSILON/2 each. */
	double want = (double)QKV_INT8_MAX_D_MODEL;
	cr_assert(fabs(q - want) <= want * 2 * FLT_EPSILON, "q = %.9g, want %.9g", q, want);
	cr_assert(q == k && k == v);
	qkv_model_close(m);
	free(w);
	free(x);
}

/* A caller built against 0.1 passes the 0.1 struct_size: it gets every 0.1 member and
 * nothing past its struct is written; a struct smaller than 0.1's is refused. */
Test(model, get_info_fills_what_struct_size_covers)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	qkv_model *m = open_ok(&d);
	size_t size_0_1 = QKV_SIZE_THROUGH(struct qkv_model_info, selection_log);
	_Alignas(struct qkv_model_info) unsigned char buf[sizeof(struct qkv_model_info) + 64];
	memset(buf, 0xa5, sizeof(buf));
	struct qkv_model_info *info = (struct qkv_model_info *)(void *)buf;
	info->struct_size = (uint32_t)size_0_1;
	cr_assert_eq(qkv_model_get_info(m, info), QKV_OK);
	cr_assert_eq(info->d_model, 2);
	cr_assert_eq(info->d_kv, 2);
	cr_assert_eq(info->threads, 1);
	cr_assert_str_eq(info->backend, "scalar");
	cr_assert_not_null(info->selection_log);
	cr_assert(strstr(info->selection_log, "scalar: selected"), "%s", info->selection_log);
	for (size_t i = size_0_1; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0xa5, "byte %zu past the 0.1 struct (%zu bytes) written", i,
		             size_0_1);
	info->struct_size = (uint32_t)size_0_1 - 1;
	cr_assert_eq(qkv_model_get_info(m, info), QKV_ERR_ARGUMENT);
	info->struct_size = 0;
	cr_assert_eq(qkv_model_get_info(m, info), QKV_ERR_ARGUMENT);
	qkv_model_close(m);
}

/* The weight-file members came after order_source: a caller whose struct ends there gets
 * nothing written past it; a model from memory read no file. */
Test(model, get_info_files_only_when_covered)
{
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	qkv_model *m = open_ok(&d);
	size_t before = QKV_SIZE_THROUGH(struct qkv_model_info, order_source);
	_Alignas(struct qkv_model_info) unsigned char buf[sizeof(struct qkv_model_info) + 64];
	memset(buf, 0xa5, sizeof(buf));
	struct qkv_model_info *info = (struct qkv_model_info *)(void *)buf;
	info->struct_size = (uint32_t)before;
	cr_assert_eq(qkv_model_get_info(m, info), QKV_OK);
	cr_assert_not_null(info->order_source);
	for (size_t i = before; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0xa5, "byte %zu past a struct ending at order_source written",
		             i);
	info->struct_size = sizeof(struct qkv_model_info);
	cr_assert_eq(qkv_model_get_info(m, info), QKV_OK);
	cr_assert_eq(info->n_files, 0);
	cr_assert_null(info->file);
	cr_assert_null(info->file_types);
	qkv_model_close(m);
}

Test(model, status_strings)
{
	for (int s = 0; s <= QKV_ERR_INTERNAL; s++)
		cr_assert(strlen(qkv_status_str((enum qkv_status)s)) > 0);
	cr_assert_str_eq(qkv_status_str(QKV_OK), "ok");
	cr_assert_str_eq(qkv_status_str((enum qkv_status)1234), "unknown status");
}

/* Routes from a machine profile: used when tuned on this CPU, ignored with a warning when
 * the profile names another CPU. */
static const char *write_profile(const char *cpu)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/qkv-prof-%d.yaml", (int)getpid());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "backend:\n  prefer: [scalar]\n  plugin_dirs: [%s]\n  routes:\n"
	        "    - {precision: f32, t_min: 2, t_max: 3, backend: fake_ok}\n"
	        "tuned:\n  cpu: \"%s\"\n",
	        QKV_FAKE_PLUGIN_DIR, cpu);
	fclose(f);
	return path;
}

/* The from-memory descriptor takes a machine profile too (tuned routes for runtimes):
 * profile < environment < descriptor, and an older (0.1) descriptor is not read past
 * its size. */
Test(model, descriptor_machine_profile)
{
	char here[128];
	qkv_cpu_name(here, sizeof(here));
	unsetenv("QKV_BACKEND");
	struct qkv_model_desc d = seed_desc(QKV_LAYOUT_IN_OUT);
	d.prefer = NULL;
	d.machine_path = write_profile(here); /* prefer [scalar], fake_ok for T 2..3 */
	qkv_model *m = open_ok(&d);
	cr_assert_str_eq(qkv_model_backend_for(m, 1), "scalar");
	cr_assert_str_eq(qkv_model_backend_for(m, 2), "fake_ok");
	cr_assert_str_eq(qkv_model_backend_for(m, 3), "fake_ok");
	cr_assert_str_eq(qkv_model_backend_for(m, 4), "scalar");
	float x[2] = {2, 3}, q[2], k[2], v[2];
	cr_assert_eq(qkv_project(m, 1, x, 2, q, 2, k, 2, v, 2, err, sizeof(err)), QKV_OK, "%s",
	             err);
	cr_assert(q[0] == 2.0f && q[1] == 17.0f);
	qkv_model_close(m);

	/* the profile's prefer gives way to the environment's, then to the descriptor's */
	FILE *f = fopen(d.machine_path, "w");
	cr_assert_not_null(f);
	fprintf(f, "backend:\n  prefer: [fake_ok]\n  threads: 3\n  plugin_dirs: [%s]\n",
	        QKV_FAKE_PLUGIN_DIR);
	fclose(f);
	m = open_ok(&d);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert_str_eq(info.backend, "fake_ok");
	cr_assert_eq(info.threads, 1); /* the descriptor's threads = 1 */
	qkv_model_close(m);
	d.threads = 0;
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_eq(info.threads, 3); /* unset in the descriptor: the profile's */
	qkv_model_close(m);
	setenv("QKV_BACKEND", "scalar", 1);
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_str_eq(info.backend, "scalar");
	qkv_model_close(m);
	unsetenv("QKV_BACKEND");
	d.prefer = "scalar";
	m = open_ok(&d);
	qkv_model_get_info(m, &info);
	cr_assert_str_eq(info.backend, "scalar");
	qkv_model_close(m);
	unlink(d.machine_path);

	/* a missing profile names the file; a 0.1 descriptor never reads machine_path */
	d.machine_path = "/nonexistent/qkv-machine.yaml";
	cr_assert_neq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK);
	cr_assert(strstr(err, "/nonexistent/qkv-machine.yaml"), "%s", err);
	d.struct_size = (uint32_t)QKV_SIZE_THROUGH(struct qkv_model_desc, plugin_dirs);
	m = open_ok(&d);
	qkv_model_close(m);
}

Test(model, profile_routes_by_t_and_cpu_check)
{
	char here[128];
	qkv_cpu_name(here, sizeof(here));
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.machine_path = write_profile(here);
	qkv_model *m = NULL;
	cr_assert_eq(
	    qkv_model_open(QKV_SOURCE_ROOT "/configs/default.yaml", &o, &m, err, sizeof(err)),
	    QKV_OK, "%s", err);
	cr_assert_str_eq(qkv_model_backend_for(m, 1), "scalar");
	cr_assert_str_eq(qkv_model_backend_for(m, 2), "fake_ok");
	cr_assert_str_eq(qkv_model_backend_for(m, 3), "fake_ok");
	cr_assert_str_eq(qkv_model_backend_for(m, 4), "scalar");
	qkv_model_close(m);

	o.machine_path = write_profile("Some Other CPU");
	cr_assert_eq(
	    qkv_model_open(QKV_SOURCE_ROOT "/configs/default.yaml", &o, &m, err, sizeof(err)),
	    QKV_OK, "%s", err);
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	cr_assert(strstr(info.selection_log, "warning: machine profile") &&
	              strstr(info.selection_log, "Some Other CPU"),
	          "%s", info.selection_log);
	cr_assert_str_eq(qkv_model_backend_for(m, 2), "scalar");
	qkv_model_close(m);
	unlink(o.machine_path);
}

/* The default order by CPU: onednn (AMX int8 matmul) before int8 only where AMX is. */
Test(model, default_order_by_cpu)
{
	const char *o[8];
	char text[2][128] = {"", ""};
	for (int amx = 0; amx <= 1; amx++) {
		struct qkv_cpu_features f;
		memset(&f, 0, sizeof(f));
		f.amx_tile = f.amx_int8 = (unsigned char)amx;
		size_t n = qkv_default_order(&f, o, 8);
		for (size_t i = 0; i < n; i++)
			snprintf(text[amx] + strlen(text[amx]),
			         sizeof(text[amx]) - strlen(text[amx]), "%s%s", i ? "," : "", o[i]);
	}
#if defined(__aarch64__)
	cr_expect_str_eq(text[0], "blas,openmp,int8,quant,scalar");
#else
	cr_expect_str_eq(text[0], "openmp,blas,int8,quant,scalar");
	cr_expect_str_eq(text[1], "openmp,blas,onednn,int8,quant,scalar");
#endif
	const char *few[2];
	struct qkv_cpu_features f = {.amx_tile = 1, .amx_int8 = 1};
	cr_expect_eq(qkv_default_order(&f, few, 2), 2); /* never past max */
}
