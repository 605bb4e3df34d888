/* API corpus: hostile arguments to the public functions. Each must be refused with
 * QKV_ERR_ARGUMENT and a message naming the argument, without touching memory it was
 * not given; legal edge cases (T = 0, K and V interleaved in one cache) must work. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <qkv/qkv.h>

#include "corpus.h"
#include "test_model.h"

#ifdef HAVE_MODEL
#define D 4  /* d_model */
#define DQ 4 /* 2 heads of 2 */
#define DKV 2
#define N (DQ + 2 * DKV)

static float w_q[D * DQ], w_k[D * DKV], w_v[D * DKV]; /* in_out: [D x d_out] */
static char err[1024];
static qkv_model *model;

static void desc_init(struct qkv_model_desc *d)
{
	*d = test_model_desc(D, 2, 1, 2, QKV_LAYOUT_IN_OUT, w_q, w_k, w_v);
	d->precision = QKV_F32;
	d->prefer = "scalar";
}

static void open_model(void)
{
	for (int i = 0; i < D * DQ; i++)
		w_q[i] = (float)(i % 7) - 3.0f;
	for (int i = 0; i < D * DKV; i++) {
		w_k[i] = 0.5f * (float)(i % 5);
		w_v[i] = 1.0f - 0.25f * (float)i;
	}
	struct qkv_model_desc d;
	desc_init(&d);
	cr_assert_eq(qkv_model_open_memory(&d, &model, err, sizeof(err)), QKV_OK, "%s", err);
}

static void close_model(void)
{
	qkv_model_close(model);
	model = NULL;
}

/* st must be QKV_ERR_ARGUMENT with a message containing one of `want`. */
static void expect_arg(enum qkv_status st, const char *want, const char *what)
{
	cr_expect_eq(st, QKV_ERR_ARGUMENT, "%s: status %s: %s", what, corpus_status_name(st), err);
	cr_expect(corpus_msg_ok(want, err), "%s: message lacks `%s`: %s", what, want, err);
}

/* Sentinel-filled buffer; true when every element still holds the sentinel. */
static bool untouched(const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != -77.0f)
			return false;
	return true;
}

static void fill(float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = -77.0f;
}

Test(api, status_strings)
{
	for (int s = 0; s <= 9; s++) {
		const char *t = qkv_status_str((enum qkv_status)s);
		cr_expect(t && t[0], "status %d has no text", s);
	}
	cr_expect_not_null(qkv_status_str((enum qkv_status)999));
	cr_expect_not_null(qkv_version());
}

Test(api, open_memory_bad_descriptions)
{
	qkv_model *m = (qkv_model *)1;
	struct qkv_model_desc d;
	expect_arg(qkv_model_open_memory(NULL, &m, err, sizeof(err)), "desc", "NULL desc");
	cr_expect_null(m);
	desc_init(&d);
	expect_arg(qkv_model_open_memory(&d, NULL, err, sizeof(err)), "out", "NULL out");

	/* Each edit of a good description, one at a time. */
	desc_init(&d);
	d.struct_size = 0;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "struct_size", "size 0");
	desc_init(&d);
	d.d_model = 0;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "d_model", "d_model 0");
	desc_init(&d);
	d.n_heads = 0;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "n_heads", "n_heads 0");
	desc_init(&d);
	d.n_heads = 3;
	d.n_kv_heads = 3;
	d.head_dim = 0;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "n_heads|head_dim",
	           "d_model % n_heads");
	desc_init(&d);
	d.n_kv_heads = 3;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "n_kv_heads", "GQA 2/3");
	desc_init(&d);
	d.precision = 99;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "precision", "precision");
	desc_init(&d);
	d.layout = 7;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "layout", "layout");
	desc_init(&d);
	d.w[1] = NULL;
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "w[1]|wk|w", "NULL Wk");
	desc_init(&d);
	d.d_model = 1u << 20;
	d.n_heads = 1u << 16;
	d.n_kv_heads = 1u << 16;
	d.head_dim = 1u << 16; /* d_q = 2^32: does not fit */
	expect_arg(qkv_model_open_memory(&d, &m, err, sizeof(err)), "overflow|large|head_dim|d_q",
	           "d_q overflow");
	cr_expect_null(m);
}

Test(api, open_config_bad_arguments)
{
	qkv_model *m = (qkv_model *)1;
	enum qkv_status st = qkv_model_open(NULL, NULL, &m, err, sizeof(err));
	cr_expect(st == QKV_ERR_ARGUMENT, "NULL path: %s", err);
	cr_expect_null(m);
	st = qkv_model_open("", NULL, &m, err, sizeof(err));
	cr_expect(st == QKV_ERR_ARGUMENT || st == QKV_ERR_IO, "empty path: %s", err);
	st = qkv_model_open("x.yaml", NULL, NULL, err, sizeof(err));
	cr_expect_eq(st, QKV_ERR_ARGUMENT, "NULL out: %s", err);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.struct_size = 3;
	st = qkv_model_open("x.yaml", &o, &m, err, sizeof(err));
	cr_expect_neq(st, QKV_OK);
}

Test(api, project_bad_pointers_and_strides, .init = open_model, .fini = close_model)
{
	float x[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
	float q[2 * DQ], k[2 * DKV], v[2 * DKV];
	fill(q, 2 * DQ);
	fill(k, 2 * DKV);
	fill(v, 2 * DKV);
	expect_arg(qkv_project(NULL, 2, x, D, q, DQ, k, DKV, v, DKV, err, sizeof(err)), "model",
	           "NULL model");
	expect_arg(qkv_project(model, 2, NULL, D, q, DQ, k, DKV, v, DKV, err, sizeof(err)), "x",
	           "NULL x");
	/* One or two NULL outputs skip those projections (tests/unit/test_model_call.c); all
	 * three NULL is refused. */
	expect_arg(qkv_project(model, 2, x, D, NULL, DQ, NULL, DKV, NULL, DKV, err, sizeof(err)),
	           "all NULL", "NULL q, k and v");
	expect_arg(qkv_project(model, 2, x, D - 1, q, DQ, k, DKV, v, DKV, err, sizeof(err)), "ldx",
	           "ldx < d_model");
	expect_arg(qkv_project(model, 2, x, D, q, DQ - 1, k, DKV, v, DKV, err, sizeof(err)), "ldq",
	           "ldq < d_q");
	expect_arg(qkv_project(model, 2, x, D, q, DQ, k, DKV - 1, v, DKV, err, sizeof(err)), "ldk",
	           "ldk < d_kv");
	expect_arg(qkv_project(model, 2, x, D, q, DQ, k, DKV, v, 0, err, sizeof(err)), "ldv",
	           "ldv 0");
	cr_expect(untouched(q, 2 * DQ) && untouched(k, 2 * DKV) && untouched(v, 2 * DKV),
	          "a refused call wrote output");
}

/* T * ldx (and T * ldq) overflow size_t, or the byte span overflows: refused, not read. */
Test(api, project_size_overflow, .init = open_model, .fini = close_model)
{
	float x[D] = {0}, q[DQ], k[DKV], v[DKV];
	size_t huge = SIZE_MAX / 2;
	expect_arg(qkv_project(model, huge, x, D, q, DQ, k, DKV, v, DKV, err, sizeof(err)),
	           "overflow|T|large|size", "T huge");
	expect_arg(qkv_project(model, 3, x, SIZE_MAX / 2, q, DQ, k, DKV, v, DKV, err, sizeof(err)),
	           "overflow|ldx|large|size", "ldx huge");
	expect_arg(qkv_project(model, 3, x, D, q, SIZE_MAX / 3, k, DKV, v, DKV, err, sizeof(err)),
	           "overflow|ldq|large|size", "ldq huge");
	float y[N];
	expect_arg(qkv_project_fused(model, SIZE_MAX / 4, x, D, y, N, err, sizeof(err)),
	           "overflow|T|large|size", "fused T huge");
}

Test(api, project_overlaps, .init = open_model, .fini = close_model)
{
	float buf[64] = {0};
	float *x = buf; /* [2 x D] at buf[0..8) */
	float k[2 * DKV], v[2 * DKV], q[2 * DQ];
	expect_arg(qkv_project(model, 2, x, D, buf + 6, DQ, k, DKV, v, DKV, err, sizeof(err)),
	           "overlap", "q over x");
	expect_arg(qkv_project(model, 2, x, D, q, DQ, x, DKV, v, DKV, err, sizeof(err)), "overlap",
	           "k == x");
	expect_arg(qkv_project(model, 2, x, D, q, DQ, k, DKV, k + 1, DKV, err, sizeof(err)),
	           "overlap", "v over k");
	expect_arg(
	    qkv_project(model, 2, x, D, buf + 20, DQ, buf + 22, DKV, v, DKV, err, sizeof(err)),
	    "overlap", "k over q");
	expect_arg(qkv_project_fused(model, 2, x, D, buf + 4, N, err, sizeof(err)), "overlap",
	           "fused y over x");
}

/* The float64 reference of one projection (in_out weights, no bias). */
static double ref(const float *x, const float *w, int d_out, int n)
{
	double s = 0.0;
	for (int kk = 0; kk < D; kk++)
		s += (double)x[kk] * (double)w[kk * d_out + n];
	return s;
}

/* K and V interleaved in one cache row [k0 k1 v0 v1] with stride 4: no element overlaps,
 * so it is legal, and every element is computed. Tolerance: D products of small exact
 * values, 1e-5 relative. */
Test(api, interleaved_kv_cache_is_legal, .init = open_model, .fini = close_model)
{
	float x[2 * D] = {1, 2, 3, 4, -1, 0.5f, 2, -3};
	float q[2 * DQ], cache[2 * 2 * DKV];
	fill(cache, 4 * DKV);
	enum qkv_status st = qkv_project(model, 2, x, D, q, DQ, cache, 2 * DKV, cache + DKV,
	                                 2 * DKV, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "interleaved K/V refused: %s", err);
	for (int t = 0; t < 2; t++)
		for (int n = 0; n < DKV; n++) {
			double rk = ref(x + t * D, w_k, DKV, n), rv = ref(x + t * D, w_v, DKV, n);
			cr_expect(fabs(cache[t * 4 + n] - rk) <= 1e-5 * (1 + fabs(rk)));
			cr_expect(fabs(cache[t * 4 + DKV + n] - rv) <= 1e-5 * (1 + fabs(rv)));
		}
}

Test(api, t_zero_writes_nothing, .init = open_model, .fini = close_model)
{
	float q[DQ];
	fill(q, DQ);
	cr_expect_eq(
	    qkv_project(model, 0, NULL, D, NULL, DQ, NULL, DKV, NULL, DKV, err, sizeof(err)),
	    QKV_OK, "T = 0 with NULL pointers: %s", err);
	float x[D] = {1, 2, 3, 4};
	cr_expect_eq(qkv_project(model, 0, x, D, q, DQ, q, DKV, q, DKV, err, sizeof(err)), QKV_OK,
	             "%s", err);
	cr_expect(untouched(q, DQ));
}

Test(api, error_buffer_edge_cases, .init = open_model, .fini = close_model)
{
	float x[D] = {0}, q[DQ], k[DKV], v[DKV];
	cr_expect_eq(qkv_project(model, 1, NULL, D, q, DQ, k, DKV, v, DKV, NULL, 0),
	             QKV_ERR_ARGUMENT);
	char tiny[2] = {'z', 'z'};
	cr_expect_eq(qkv_project(model, 1, x, 0, q, DQ, k, DKV, v, DKV, tiny, 1), QKV_ERR_ARGUMENT);
	cr_expect_eq(tiny[0], '\0', "a 1-byte buffer must hold an empty string");
	cr_expect_eq(tiny[1], 'z', "wrote past errlen");
}

Test(api, fused_and_call_bad_arguments, .init = open_model, .fini = close_model)
{
	float x[D] = {0}, y[N];
	expect_arg(qkv_project_fused(model, 1, x, D, y, N - 1, err, sizeof(err)), "ldy", "ldy < N");
	expect_arg(qkv_project_fused(model, 1, x, D, NULL, N, err, sizeof(err)), "y", "NULL y");
	expect_arg(qkv_project_call(model, NULL, err, sizeof(err)), "call", "NULL call");
	struct qkv_call c = {0};
	expect_arg(qkv_project_call(model, &c, err, sizeof(err)), "struct_size", "call size 0");
	float q[DQ], k[DKV], v[DKV];
	c.struct_size = sizeof(c);
	c.T = 1;
	c.x = x;
	c.ldx = D;
	c.out[0] = q;
	c.out[1] = k;
	c.out[2] = v;
	c.ld_out[0] = DQ;
	c.ld_out[1] = DKV;
	c.ld_out[2] = DKV;
	c.threads = -3;
	expect_arg(qkv_project_call(model, &c, err, sizeof(err)), "threads", "threads -3");
}

Test(api, info_bad_arguments, .init = open_model, .fini = close_model)
{
	struct qkv_model_info info = {0};
	cr_expect_eq(qkv_model_get_info(NULL, &info), QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_model_get_info(model, NULL), QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_model_get_info(model, &info), QKV_ERR_ARGUMENT, "struct_size 0");
	info.struct_size = sizeof(info);
	cr_expect_eq(qkv_model_get_info(model, &info), QKV_OK);
	cr_expect_eq(info.d_model, D);
	cr_expect_eq(info.d_kv, DKV);
	qkv_model_close(NULL);
}
#endif
