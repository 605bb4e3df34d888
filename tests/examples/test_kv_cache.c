/* K and V written straight into a KV cache with a row stride: every in-tree backend
 * writes exactly the addressed rows and columns (guard bytes around and between the
 * cache rows stay intact), values match a float64 reference, and a spy backend shows
 * that the caller's own pointers reach the backend (no intermediate copy). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "test_model.h"

/* Odd sizes on purpose: GQA with 6 query heads over 2 kv heads of width 5. */
#define D_MODEL 40
#define N_HEADS 6
#define N_KV 2
#define HD 5
#define D_Q (N_HEADS * HD)
#define D_KV (N_KV * HD)
#define MAX_SEQ 24
#define LDC (D_KV + 3) /* cache row stride: 3 padding floats per row */
#define LDX (D_MODEL + 7)
#define LDQ (D_Q + 2)
#define GUARD 16             /* floats before and after each buffer */
#define SENTINEL 0xffa5a5a5u /* a NaN no backend computes */

/* A buffer of rows x ld floats with GUARD sentinel floats on both sides. */
struct guarded {
	float *base; /* [GUARD + rows*ld + GUARD] */
	float *rows; /* base + GUARD */
	size_t n_rows, ld;
};

static struct guarded guarded_new(size_t n_rows, size_t ld)
{
	struct guarded g = {NULL, NULL, n_rows, ld};
	size_t n = 2 * GUARD + n_rows * ld;
	g.base = malloc(n * sizeof(float));
	cr_assert_not_null(g.base);
	for (size_t i = 0; i < n; i++)
		memcpy(&g.base[i], &(uint32_t){SENTINEL}, sizeof(float));
	g.rows = g.base + GUARD;
	return g;
}

/* A test's outputs: the q rows (LDQ) and the k and v caches (LDC), MAX_SEQ rows each. */
static void outputs_new(struct guarded c[3])
{
	c[0] = guarded_new(MAX_SEQ, LDQ);
	c[1] = guarded_new(MAX_SEQ, LDC);
	c[2] = guarded_new(MAX_SEQ, LDC);
}

static void outputs_free(struct guarded c[3])
{
	for (int i = 0; i < 3; i++)
		free(c[i].base);
}

static int is_sentinel(const float *f)
{
	uint32_t u;
	memcpy(&u, f, sizeof(u));
	return u == SENTINEL;
}

/* Every float outside rows [r0, r0+T) x columns [0, width) still holds the sentinel
 * (rows in `keep` are rows written earlier and are not checked). */
static void check_guards(const struct guarded *g, size_t r0, size_t T, size_t width,
                         const unsigned char *keep, const char *what)
{
	size_t n = 2 * GUARD + g->n_rows * g->ld;
	for (size_t i = 0; i < n; i++) {
		long off = (long)i - GUARD;
		long row = off >= 0 ? off / (long)g->ld : -1;
		size_t col = off >= 0 ? (size_t)off % g->ld : 0;
		int in_rows = off >= 0 && (size_t)row < g->n_rows;
		if (in_rows && col < width &&
		    (((size_t)row >= r0 && (size_t)row < r0 + T) || (keep && keep[row])))
			continue;
		cr_assert(is_sentinel(&g->base[i]),
		          "%s: float %ld of the buffer (row %ld, column %zu) was written outside "
		          "rows %zu..%zu x [0, %zu)",
		          what, off, row, col, r0, r0 + T - 1, width);
	}
}

static float rnd(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*st >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f; /* [-1, 1) */
}

struct weights {
	float w[3][D_MODEL * D_Q]; /* big enough for every projection */
	float b[3][D_Q];
};

static double w_at(const struct weights *w, uint32_t layout, int p, size_t k, size_t n)
{
	size_t d_out = p == 0 ? D_Q : D_KV;
	return layout == QKV_LAYOUT_IN_OUT ? w->w[p][k * d_out + n] : w->w[p][n * D_MODEL + k];
}

/* float64 reference of element n of projection p for input row x, and its bound:
 * f32  g(K+1) * sum|x w| + |b|   (g(n) = n u / (1 - n u), u = 2^-24, any order)
 * bf16 adds 2^-8 * sum|x w| (weights rounded to bf16)
 * int8 adds half a quantization step of x and of w per term (precision.h's scheme). */
static double ref_elem(const struct weights *w, uint32_t layout, uint32_t prec, int p,
                       const float *x, size_t n, double *bound)
{
	const double u = 0x1p-24, g = (D_MODEL + 4) * u / (1 - (D_MODEL + 4) * u);
	double acc = w->b[p][n], mag = fabs(w->b[p][n]), xmax = 0, wmax = 0, xs = 0, ws = 0;
	for (size_t k = 0; k < D_MODEL; k++) {
		double wk = w_at(w, layout, p, k, n);
		acc += x[k] * wk;
		mag += fabs(x[k] * wk);
		xmax = fmax(xmax, fabs(x[k]));
		wmax = fmax(wmax, fabs(wk));
		xs += fabs(x[k]);
		ws += fabs(wk);
	}
	*bound = g * mag;
	if (prec == QKV_BF16)
		*bound += 0x1p-8 * mag * (1 + g);
	if (prec == QKV_INT8)
		*bound += 0.51 * (wmax / 127 * xs + xmax / 127 * ws) +
		          0.26 * D_MODEL * xmax * wmax / (127.0 * 127.0);
	return acc;
}

static enum qkv_status open_model(const char *backend, const char *dirs, uint32_t prec,
                                  uint32_t layout, const struct weights *w, qkv_model **m,
                                  char *err, size_t errlen)
{
	struct qkv_model_desc d =
	    test_model_desc(D_MODEL, N_HEADS, N_KV, HD, layout, w->w[0], w->w[1], w->w[2]);
	for (int p = 0; p < 3; p++)
		d.bias[p] = w->b[p];
	d.precision = prec;
	d.prefer = backend;
	d.strict = 1;
	d.plugin_dirs = dirs;
	return qkv_model_open_memory(&d, m, err, errlen);
}

/* Positions and lengths of the calls: a prefill, decode steps, a second chunk. */
static const size_t steps[][2] = {{0, 4}, {4, 1}, {5, 1}, {6, 7}, {13, 1}, {14, 10}};

/* Runs the steps on one backend; returns 0 when it does not compute `prec`, else 1. */
static int run_cache(const char *backend, uint32_t prec, uint32_t layout, const struct weights *w,
                     const float *x /* [MAX_SEQ x LDX] */)
{
	char err[512] = "", what[96];
	qkv_model *m = NULL;
	enum qkv_status st = open_model(backend, NULL, prec, layout, w, &m, err, sizeof(err));
	/* A strict open reports a refused precision as a plugin error naming it. */
	if (st == QKV_ERR_UNSUPPORTED ||
	    (st == QKV_ERR_PLUGIN && strstr(err, "does not support precision"))) {
		cr_log_info("%s does not compute %s: %s", backend, qkv_precision_name(prec), err);
		return 0;
	}
	cr_assert_eq(st, QKV_OK, "open %s %s: %s", backend, qkv_precision_name(prec), err);
	struct guarded c[3];
	outputs_new(c);
	unsigned char written[MAX_SEQ] = {0};
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		size_t pos = steps[s][0], T = steps[s][1];
		float *q = c[0].rows; /* Q of this call: rows 0..T-1 */
		float *k = c[1].rows + pos * LDC, *v = c[2].rows + pos * LDC;
		if (s % 2 == 0) {
			st = qkv_project(m, T, x + pos * LDX, LDX, q, LDQ, k, LDC, v, LDC, err,
			                 sizeof(err));
		} else { /* the per-call form, with the caller's thread count */
			struct qkv_call call = {.struct_size = sizeof(call),
			                        .T = T,
			                        .x = x + pos * LDX,
			                        .ldx = LDX,
			                        .out = {q, k, v},
			                        .ld_out = {LDQ, LDC, LDC},
			                        .threads = 2};
			st = qkv_project_call(m, &call, err, sizeof(err));
		}
		cr_assert_eq(st, QKV_OK, "%s %s: project at %zu: %s", backend,
		             qkv_precision_name(prec), pos, err);
		snprintf(what, sizeof(what), "%s %s step %zu", backend, qkv_precision_name(prec),
		         s);
		check_guards(&c[0], 0, T, D_Q, NULL, what);
		check_guards(&c[1], pos, T, D_KV, written, what);
		check_guards(&c[2], pos, T, D_KV, written, what);
		for (size_t t = 0; t < T; t++) {
			for (int p = 0; p < 3; p++) {
				size_t width = p == 0 ? D_Q : D_KV, row = p == 0 ? t : pos + t;
				for (size_t n = 0; n < width; n++) {
					double bound;
					double ref = ref_elem(w, layout, prec, p,
					                      x + (pos + t) * LDX, n, &bound);
					float got = c[p].rows[row * c[p].ld + n];
					cr_assert(fabs(got - ref) <= bound,
					          "%s: proj %d row %zu col %zu: %.9g vs %.9g "
					          "(bound %.3g)",
					          what, p, pos + t, n, got, ref, bound);
				}
			}
			written[pos + t] = 1;
		}
		for (size_t i = 0; i < T * LDQ; i++) /* reset Q rows for the next call */
			memcpy(&c[0].rows[i], &(uint32_t){SENTINEL}, sizeof(float));
	}
	outputs_free(c);
	qkv_model_close(m);
	return 1;
}

static void make_inputs_seeded(struct weights *w, float *x, uint64_t st)
{
	for (int p = 0; p < 3; p++) {
		for (size_t i = 0; i < D_MODEL * D_Q; i++)
			w->w[p][i] = rnd(&st) * 0.2f;
		for (size_t i = 0; i < D_Q; i++)
			w->b[p][i] = rnd(&st) * 0.1f;
	}
	for (size_t i = 0; i < MAX_SEQ * LDX; i++)
		x[i] = rnd(&st);
}

static void make_inputs(struct weights *w, float *x)
{
	make_inputs_seeded(w, x, 7);
}

Test(kv_cache, every_backend_writes_only_its_rows)
{
	static struct weights w;
	static float x[MAX_SEQ * LDX];
	make_inputs(&w, x);
	char list[] = KV_BACKENDS; /* "scalar,openmp,...", from meson */
	for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		int ran = 0;
		for (uint32_t prec = 0; prec < QKV_PRECISION_COUNT; prec++) /* stored: f32 here */
			for (uint32_t layout = 0; layout < 2; layout++)
				ran += run_cache(name, prec, layout, &w, x);
		cr_assert(ran > 0, "backend %s computed no precision at all", name);
	}
}

/* make_inputs, then the f32 in_out model on `backend`; it must open. */
static qkv_model *open_f32(const char *backend, const char *dirs, struct weights *w, float *x,
                           char *err, size_t errlen)
{
	make_inputs(w, x);
	qkv_model *m = NULL;
	cr_assert_eq(open_model(backend, dirs, QKV_F32, QKV_LAYOUT_IN_OUT, w, &m, err, errlen),
	             QKV_OK, "open %s: %s", backend, err);
	return m;
}

/* The spy backend stores in each element the low 24 bits of the address it wrote. */
static void check_spy(const float *rows, size_t T, size_t width, size_t ld, const char *what)
{
	for (size_t t = 0; t < T; t++)
		for (size_t n = 0; n < width; n++) {
			const float *e = rows + t * ld + n;
			cr_assert_eq(*e, (float)((uintptr_t)e & 0xffffffu),
			             "%s row %zu col %zu: the backend wrote elsewhere and the core "
			             "copied (got %.0f, address ends 0x%06lx)",
			             what, t, n, *e, (unsigned long)((uintptr_t)e & 0xffffffu));
		}
}

Test(kv_cache, outputs_reach_the_backend_without_a_copy)
{
	static struct weights w;
	static float x[MAX_SEQ * LDX];
	char err[512] = "";
	qkv_model *m = open_f32("spy", KV_SPY_DIR, &w, x, err, sizeof(err));
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	cr_assert_eq(qkv_model_get_info(m, &info), QKV_OK);
	cr_assert_str_eq(info.backend, "spy");
	struct guarded c[3];
	outputs_new(c);
	struct guarded *q = &c[0], *k = &c[1], *v = &c[2];
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		size_t pos = steps[s][0], T = steps[s][1];
		cr_assert_eq(qkv_project(m, T, x + pos * LDX, LDX, q->rows, LDQ,
		                         k->rows + pos * LDC, LDC, v->rows + pos * LDC, LDC, err,
		                         sizeof(err)),
		             QKV_OK, "spy project: %s", err);
		check_spy(q->rows, T, D_Q, LDQ, "q");
		check_spy(k->rows + pos * LDC, T, D_KV, LDC, "k");
		check_spy(v->rows + pos * LDC, T, D_KV, LDC, "v");
	}
	check_guards(k, 0, MAX_SEQ, D_KV, NULL, "spy k");
	check_guards(v, 0, MAX_SEQ, D_KV, NULL, "spy v");
	outputs_free(c);
	qkv_model_close(m);
}

Test(kv_cache, a_stride_below_the_width_is_refused_and_nothing_is_written)
{
	static struct weights w;
	static float x[MAX_SEQ * LDX];
	char err[512] = "";
	qkv_model *m = open_f32("scalar", NULL, &w, x, err, sizeof(err));
	struct guarded c[3];
	outputs_new(c);
	struct guarded *q = &c[0], *k = &c[1], *v = &c[2];
	err[0] = '\0';
	enum qkv_status st = qkv_project(m, 2, x, LDX, q->rows, LDQ, k->rows, D_KV - 1, v->rows,
	                                 LDC, err, sizeof(err));
	cr_assert_eq(st, QKV_ERR_ARGUMENT, "ldk < d_kv accepted: %s", qkv_status_str(st));
	cr_assert(strlen(err) > 0, "no message for a bad stride");
	cr_log_info("message: %s", err);
	check_guards(q, 0, 0, 0, NULL, "refused q");
	check_guards(k, 0, 0, 0, NULL, "refused k");
	check_guards(v, 0, 0, 0, NULL, "refused v");
	outputs_free(c);
	qkv_model_close(m);
}

/* A runtime's use: one model per layer, opened, used and closed from several threads at
 * once, all served by one shared plugin (same file, loaded once per process). */
#define LAYERS 6

struct layer {
	struct weights w;
	float x[MAX_SEQ * LDX];
	float q[MAX_SEQ * D_Q], k[MAX_SEQ * LDC], v[MAX_SEQ * LDC]; /* this layer's cache */
	char path[512]; /* the plugin file that served it */
	char err[512];  /* first failure, or empty */
};

static void *layer_run(void *arg)
{
	struct layer *L = arg;
	qkv_model *m = NULL;
	if (open_model(NULL, NULL, QKV_F32, QKV_LAYOUT_OUT_IN, &L->w, &m, L->err, sizeof(L->err)))
		return NULL;
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m, &info);
	snprintf(L->path, sizeof(L->path), "%s", info.backend_path);
	for (size_t pos = 0; pos < MAX_SEQ && !L->err[0]; pos++) /* decode, token by token */
		if (qkv_project(m, 1, L->x + pos * LDX, LDX, L->q + pos * D_Q, D_Q,
		                L->k + pos * LDC, LDC, L->v + pos * LDC, LDC, L->err,
		                sizeof(L->err)) != QKV_OK)
			break;
	qkv_model_close(m);
	return NULL;
}

Test(kv_cache, one_model_per_layer_from_many_threads_shares_the_plugin)
{
	static struct layer layers[LAYERS];
	pthread_t th[LAYERS];
	for (int round = 0; round < 2; round++) { /* the second round reloads after close */
		for (int l = 0; l < LAYERS; l++) {
			memset(&layers[l], 0, sizeof(layers[l]));
			make_inputs_seeded(&layers[l].w, layers[l].x, 100 + (uint64_t)l);
			cr_assert_eq(pthread_create(&th[l], NULL, layer_run, &layers[l]), 0);
		}
		for (int l = 0; l < LAYERS; l++)
			pthread_join(th[l], NULL);
		for (int l = 0; l < LAYERS; l++) {
			struct layer *L = &layers[l];
			cr_assert(!L->err[0], "layer %d: %s", l, L->err);
			cr_assert_str_eq(L->path, layers[0].path,
			                 "layer %d got another plugin file", l);
			for (size_t pos = 0; pos < MAX_SEQ; pos++)
				for (size_t n = 0; n < D_KV; n++) {
					double bound;
					double ref = ref_elem(&L->w, QKV_LAYOUT_OUT_IN, QKV_F32, 1,
					                      L->x + pos * LDX, n, &bound);
					cr_assert(fabs(L->k[pos * LDC + n] - ref) <= bound,
					          "layer %d k[%zu][%zu] = %.9g, reference %.9g", l,
					          pos, n, L->k[pos * LDC + n], ref);
				}
		}
		cr_log_info("round %d: %d layers on %s", round, LAYERS, layers[0].path);
	}
}

/* In-memory weights are borrowed: the core hands the caller's pointers to the backend.
 * The scalar backend computes f32 from them as they are (zero copy), so a change to the
 * caller's array shows in the next call (a contract violation, done here only to
 * observe it); a backend that repacks made its own copy at open and does not see it. */
Test(kv_cache, memory_weights_reach_the_backend_without_a_copy)
{
	static struct weights w;
	static float x[MAX_SEQ * LDX];
	char list[] = KV_BACKENDS;
	for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		make_inputs(&w, x);
		char err[512] = "";
		qkv_model *m = NULL;
		enum qkv_status st =
		    open_model(name, NULL, QKV_F32, QKV_LAYOUT_IN_OUT, &w, &m, err, sizeof(err));
		if (st != QKV_OK && strstr(err, "does not support precision"))
			continue;
		cr_assert_eq(st, QKV_OK, "open %s: %s", name, err);
		float q0[D_Q], q1[D_Q], k[D_KV], v[D_KV];
		cr_assert_eq(qkv_project(m, 1, x, LDX, q0, D_Q, k, D_KV, v, D_KV, err, sizeof(err)),
		             QKV_OK, "%s: %s", name, err);
		for (size_t i = 0; i < D_MODEL * D_Q; i++)
			w.w[QKV_Q][i] += 1.0f;
		cr_assert_eq(qkv_project(m, 1, x, LDX, q1, D_Q, k, D_KV, v, D_KV, err, sizeof(err)),
		             QKV_OK, "%s: %s", name, err);
		int borrowed = memcmp(q0, q1, sizeof(q0)) != 0;
		cr_log_info("%s f32: %s", name,
		            borrowed ? "computes from the caller's weights (zero copy)"
		                     : "computes from its own prepared copy");
		if (!strcmp(name, "scalar"))
			cr_assert(borrowed, "scalar f32 should use the caller's weights in place");
		qkv_model_close(m);
	}
}
