/* Public API, issue 26 item 10: skipped projections (NULL outputs), per-head strides
 * (head-major caches), the initializer macros, and near names for misspelt backends.
 * Inputs are small integers, so every f32 backend's result is exact and checked against
 * an exact double reference. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

#include "test_model.h"

static char err[2048];

/* d_model 6, 4 query heads, 2 K/V heads of head_dim 3: d_q 12, d_kv 6. */
enum { DM = 6, NH = 4, NKV = 2, HD = 3, DQ = NH * HD, DKV = NKV * HD, T = 5 };
static float wq[DM * DQ], wk[DM * DKV], wv[DM * DKV], x[T * DM];
static const float *const w[3] = {wq, wk, wv};
static const size_t width[3] = {DQ, DKV, DKV};

static void fill(float *a, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)((int)((i * 7 + (size_t)seed * 13) % 7) - 3);
}

/* Exact reference: element (t, j) of projection p (in_out weights). */
static float ref(int p, size_t t, size_t j)
{
	double s = 0;
	for (size_t i = 0; i < DM; i++)
		s += (double)x[t * DM + i] * w[p][i * width[p] + j];
	return (float)s;
}

static qkv_model *open_model(const char *prefer)
{
	fill(wq, DM * DQ, 1);
	fill(wk, DM * DKV, 2);
	fill(wv, DM * DKV, 3);
	fill(x, T * DM, 4);
	struct qkv_model_desc d = test_model_desc(DM, NH, NKV, HD, QKV_LAYOUT_IN_OUT, wq, wk, wv);
	d.precision = QKV_F32;
	d.prefer = prefer;
	d.threads = 2;
	d.strict = 1;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s: %s", prefer,
	             err);
	return m;
}

static const char *const f32_backends[] = {"scalar", "openmp", "blas"};

Test(model_call, initializers_set_struct_size)
{
	struct qkv_model_desc d = QKV_MODEL_DESC_INIT;
	struct qkv_call c = QKV_CALL_INIT;
	struct qkv_model_info mi = QKV_MODEL_INFO_INIT;
	struct qkv_system_info si = QKV_SYSTEM_INFO_INIT;
	struct qkv_plugin_info pi = QKV_PLUGIN_INFO_INIT;
	struct qkv_checkpoint_info ci = QKV_CHECKPOINT_INFO_INIT;
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	cr_assert_eq(d.struct_size, sizeof(d));
	cr_assert(d.prefer == NULL && d.w[2] == NULL && d.threads == 0);
	cr_assert_eq(c.struct_size, sizeof(c));
	cr_assert(c.out[0] == NULL && c.head_stride[2] == 0);
	cr_assert_eq(mi.struct_size, sizeof(mi));
	cr_assert_eq(si.struct_size, sizeof(si));
	cr_assert_eq(pi.struct_size, sizeof(pi));
	cr_assert_eq(ci.struct_size, sizeof(ci));
	cr_assert_eq(o.struct_size, sizeof(o));
	cr_assert_eq(qkv_system_get_info(&si), QKV_OK);
}

/* Every subset of one or two NULL outputs: the others are exact and bit-identical to a
 * full call on the same backend. */
Test(model_call, null_outputs_skip_that_projection)
{
	for (size_t b = 0; b < sizeof(f32_backends) / sizeof(*f32_backends); b++) {
		qkv_model *m = open_model(f32_backends[b]);
		for (int mask = 1; mask < 7; mask++) { /* bit p set: output p requested */
			float out[3][T * DQ];
			float *o[3];
			for (int p = 0; p < 3; p++) {
				for (size_t i = 0; i < T * DQ; i++)
					out[p][i] = -77.0f;
				o[p] = mask & (1 << p) ? out[p] : NULL;
			}
			cr_assert_eq(qkv_project(m, T, x, DM, o[0], DQ, o[1], DKV, o[2], DKV, err,
			                         sizeof(err)),
			             QKV_OK, "%s mask %d: %s", f32_backends[b], mask, err);
			for (int p = 0; p < 3; p++)
				for (size_t t = 0; t < T; t++)
					for (size_t j = 0; j < width[p]; j++) {
						float want = o[p] ? ref(p, t, j) : -77.0f;
						cr_assert_eq(
						    out[p][t * width[p] + j], want,
						    "%s mask %d: %c[%zu][%zu] = %g, want %g",
						    f32_backends[b], mask, "qkv"[p], t, j,
						    out[p][t * width[p] + j], want);
					}
		}
		cr_assert_eq(qkv_project(m, T, x, DM, NULL, 0, NULL, 0, NULL, 0, err, sizeof(err)),
		             QKV_ERR_ARGUMENT);
		cr_assert(strstr(err, "all NULL"), "%s", err);
		qkv_model_close(m);
	}
}

/* A head-major cache [heads][MAXT][HD], rows written at t0..t0+T-1: exactly those
 * elements change, to the exact values. */
Test(model_call, head_stride_writes_a_head_major_cache)
{
	enum { MAXT = 9, T0 = 2 };
	for (size_t b = 0; b < sizeof(f32_backends) / sizeof(*f32_backends); b++) {
		qkv_model *m = open_model(f32_backends[b]);
		static float kc[NKV * MAXT * HD], vc[NKV * MAXT * HD], q[T * DQ];
		for (size_t i = 0; i < NKV * MAXT * HD; i++)
			kc[i] = vc[i] = -5.5f;
		struct qkv_call c = QKV_CALL_INIT;
		c.T = T;
		c.x = x;
		c.ldx = DM;
		c.out[0] = q;
		c.ld_out[0] = DQ; /* q in the plain layout, zero copy */
		c.out[1] = kc + T0 * HD;
		c.out[2] = vc + T0 * HD;
		c.ld_out[1] = c.ld_out[2] = HD;
		c.head_stride[1] = c.head_stride[2] = MAXT * HD;
		cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_OK, "%s", err);
		for (size_t t = 0; t < T; t++)
			for (size_t j = 0; j < DQ; j++)
				cr_assert_eq(q[t * DQ + j], ref(0, t, j));
		for (int p = 1; p < 3; p++) {
			const float *cache = p == 1 ? kc : vc;
			for (size_t h = 0; h < NKV; h++)
				for (size_t r = 0; r < MAXT; r++)
					for (size_t d = 0; d < HD; d++) {
						float got = cache[(h * MAXT + r) * HD + d];
						float want = r >= T0 && r < T0 + T
						                 ? ref(p, r - T0, h * HD + d)
						                 : -5.5f;
						cr_assert_eq(
						    got, want,
						    "%s %c head %zu row %zu dim %zu: %g, want %g",
						    f32_backends[b], "qkv"[p], h, r, d, got, want);
					}
		}
		/* A head stride equal to head_dim is the plain layout. */
		float k2[T * DKV];
		c.out[0] = NULL;
		c.out[1] = k2;
		c.out[2] = NULL;
		c.ld_out[1] = DKV;
		c.head_stride[1] = HD;
		cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_OK, "%s", err);
		for (size_t i = 0; i < T * DKV; i++)
			cr_assert_eq(k2[i], ref(1, i / DKV, i % DKV));
		qkv_model_close(m);
	}
}

Test(model_call, head_strides_that_overlap_are_refused)
{
	qkv_model *m = open_model("scalar");
	static float buf[4096];
	struct qkv_call c = QKV_CALL_INIT;
	c.T = T;
	c.x = x;
	c.ldx = DM;
	c.out[1] = buf;
	c.ld_out[1] = HD;
	c.head_stride[1] = 2 * HD; /* head 1 of row 0 is row 2 of head 0 */
	cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "`k`") && strstr(err, "overlap"), "%s", err);
	c.head_stride[1] = 1; /* smaller than head_dim */
	cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_ERR_ARGUMENT);
	/* Head-major k and v whose ranges interleave in one buffer: refused, not raced. */
	c.head_stride[1] = T * HD * 2;
	c.out[2] = buf + HD * T;
	c.ld_out[2] = HD;
	c.head_stride[2] = T * HD * 2;
	cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "`k` and `v` overlap"), "%s", err);
	/* A call struct from before head_stride: its size ends at threads; still served. */
	struct qkv_call old = QKV_CALL_INIT;
	old.struct_size = (uint32_t)QKV_SIZE_THROUGH(struct qkv_call, threads);
	old.T = 1;
	old.x = x;
	old.ldx = DM;
	old.out[2] = buf;
	old.ld_out[2] = DKV;
	old.head_stride[2] = 12345; /* beyond struct_size: must not be read */
	cr_assert_eq(qkv_project_call(m, &old, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(buf[DKV - 1], ref(2, 0, DKV - 1));
	qkv_model_close(m);
}

/* A misspelt backend in the API gets the near name, and a typo in a list is an error
 * rather than a silent fallback; a name with nothing near stays a fallback. */
Test(model_call, misspelt_backends_name_the_near_one)
{
	qkv_model *m = NULL;
	struct qkv_model_desc d = QKV_MODEL_DESC_INIT;
	float w2[4] = {1, 0, 0, 1};
	d.d_model = 2;
	d.n_heads = 1;
	d.precision = QKV_F32;
	d.w[0] = d.w[1] = d.w[2] = w2;
	d.prefer = "scalr,openmp";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_assert(strstr(err, "`scalr`") && strstr(err, "did you mean `scalar`?") &&
	              strstr(err, "qkv_model_desc.prefer"),
	          "%s", err);
	d.prefer = NULL;
	setenv("QKV_BACKEND", "scalr", 1);
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_assert(strstr(err, "did you mean `scalar`?") && strstr(err, "QKV_BACKEND"), "%s", err);
	unsetenv("QKV_BACKEND");
	d.prefer = "zzzzzz_absent,scalar";
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_model_info info = QKV_MODEL_INFO_INIT;
	qkv_model_get_info(m, &info);
	cr_assert(strstr(info.selection_log,
	                 "order: zzzzzz_absent, scalar (from the API (qkv_model_desc.prefer))"),
	          "%s", info.selection_log);
	cr_assert(strstr(info.selection_log, "zzzzzz_absent: passed over: not found"), "%s",
	          info.selection_log);
	cr_assert_str_eq(info.order, "zzzzzz_absent, scalar");
	cr_assert_str_eq(info.order_source, "the API (qkv_model_desc.prefer)");
	qkv_model_close(m);
	d.prefer = NULL;
	cr_assert_eq(qkv_model_open_memory(&d, &m, err, sizeof(err)), QKV_OK, "%s", err);
	qkv_model_get_info(m, &info);
#if defined(__aarch64__)
	const char *head = "blas, openmp, "; /* core/src/model.c: OpenBLAS first on ARM */
#else
	const char *head = "openmp, blas, ";
#endif
	cr_assert(!strncmp(info.order, head, strlen(head)) && strstr(info.order, ", scalar"), "%s",
	          info.order); /* the default list, whatever it grows to in between */
	cr_assert_str_eq(info.order_source, "the default");
	char want[64];
	snprintf(want, sizeof(want), "order: %s", head);
	cr_assert(strstr(info.selection_log, want), "%s", info.selection_log);
	qkv_model_close(m);
}

/* A per-call thread count above QKV_MAX_THREADS is refused naming the argument, as every
 * explicit budget is (config, environment, options), never silently capped. */
Test(model_call, threads_above_the_cap_are_refused)
{
	qkv_model *m = open_model("scalar");
	static float q[T * 64];
	struct qkv_call c = QKV_CALL_INIT;
	c.T = T;
	c.x = x;
	c.ldx = DM;
	c.out[0] = q;
	c.ld_out[0] = 64;
	c.threads = QKV_MAX_THREADS + 1;
	cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "`threads` = 1025 is not in 0..1024"), "%s", err);
	c.threads = QKV_MAX_THREADS;
	cr_assert_eq(qkv_project_call(m, &c, err, sizeof(err)), QKV_OK, "%s", err);
	qkv_model_close(m);
}
