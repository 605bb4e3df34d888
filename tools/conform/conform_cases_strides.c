/* Row strides whose offsets do not fit 32 bits. */
#define _DEFAULT_SOURCE /* MAP_NORESERVE, MAP_ANONYMOUS */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <qkv/precision.h>

#include "conform_classes.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define HUGE_PAD 16 /* sentinel floats checked before and after each row */
/* The T = 2049 class's stride, in floats; every class's stride is a multiple of it, so
 * the rows of all classes fall on the same few thousand pages of one mapping, touched
 * once per case (a page fault costs more than the call it serves). */
#define HUGE_GRID (((size_t)1 << 21) + 27)
/* Floats reserved per buffer: more than any class's (T - 1) * ld + width (< 2^33 + 2^23). */
#define HUGE_SPAN (((size_t)1 << 33) + ((size_t)1 << 24))

/* X and the three outputs, each a sparse mapping of HUGE_SPAN floats kept for the whole
 * case; only the pages the rows and their pads touch get memory. */
struct huge {
	float *x, *y[3];
};

static void huge_free(struct huge *h)
{
	float **b[4] = {&h->x, &h->y[0], &h->y[1], &h->y[2]};
	for (int i = 0; i < 4; i++)
		if (*b[i])
			munmap(*b[i] - HUGE_PAD, HUGE_SPAN * sizeof(float));
	memset(h, 0, sizeof(*h));
}

static bool huge_map(struct huge *h, struct cf_report *r)
{
	memset(h, 0, sizeof(*h));
	float **b[4] = {&h->x, &h->y[0], &h->y[1], &h->y[2]};
	for (int i = 0; i < 4; i++) {
		void *m = mmap(NULL, HUGE_SPAN * sizeof(float), PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			huge_free(h);
			return cf_fail(r, "harness: cannot reserve 4 x %zu GiB of address space",
			               (HUGE_SPAN * sizeof(float)) >> 30);
		}
		*b[i] = (float *)m + HUGE_PAD;
	}
	return true;
}

/* One call with ldx = ld_out = `ld`, checked row by row against the references. */
static bool huge_call(struct cf_setup *s, const struct huge *hm, size_t ld, uint32_t threads,
                      struct cf_report *r)
{
	size_t T = s->sh.T, K = s->sh.d_model;
	struct huge h = *hm;
	if ((T - 1) * ld + 2 * HUGE_PAD + K + s->width[0] + s->width[1] + s->width[2] > HUGE_SPAN)
		return cf_fail(r, "harness: T = %zu rows %zu floats apart exceed the mapping", T,
		               ld);
	for (size_t t = 0; t < T; t++) {
		memcpy(h.x + t * ld, s->x.p + t * s->x.ld, K * sizeof(float));
		for (int p = 0; p < 3; p++)
			cf_fill_sentinel(h.y[p] + t * ld - HUGE_PAD, s->width[p] + 2 * HUGE_PAD);
	}
	struct qkv_batch b = {
	    .struct_size = sizeof(b), .threads = threads, .T = T, .x = h.x, .ldx = ld};
	for (int p = 0; p < 3; p++) {
		b.out[p] = h.y[p];
		b.ld_out[p] = ld;
	}
	char err[256] = "";
	cf_progress("%s: project with ldx = ld_out = %zu floats (row offsets past 2^32 bytes), "
	            "threads %u",
	            s->desc, ld, threads);
	enum qkv_status st = s->be->project(s->handle, &b, err, sizeof(err));
	bool ok = true;
	if (st != QKV_OK)
		ok = cf_fail(r, "%s: project with ldx = ld_out = %zu failed (status %d): %s",
		             s->desc, ld, (int)st, err);
	for (int p = 0; ok && p < 3; p++)
		for (size_t t = 0; ok && t < T; t++) {
			const float *row = h.y[p] + t * ld;
			for (size_t i = 1; ok && i <= HUGE_PAD; i++)
				if (!cf_is_sentinel(row[-(ptrdiff_t)i]) ||
				    !cf_is_sentinel(row[s->width[p] - 1 + i]))
					ok = cf_fail(
					    r,
					    "%s: with ld_out = %zu, a float next to row %zu of "
					    "%s was written",
					    s->desc, ld, t, qkv_proj_name((unsigned)p));
		}
	if (ok) { /* the values, through an output view with the huge stride */
		struct cf_out view;
		memset(&view, 0, sizeof(view));
		for (int p = 0; p < 3; p++)
			view.y[p] = (struct cf_gbuf){
			    .p = h.y[p], .rows = T, .width = s->width[p], .ld = ld};
		ok = cf_check_values(s, 0, &view, r);
		if (!ok) {
			size_t n = strlen(r->msg);
			snprintf(r->msg + n, sizeof(r->msg) - n,
			         " (ldx = ld_out = %zu: row offsets computed in 32 bits wrap)", ld);
		}
	}
	for (size_t t = 0; ok && t < T; t++)
		if (memcmp(h.x + t * ld, s->x.p + t * s->x.ld, K * sizeof(float)) != 0)
			ok = cf_fail(r, "%s: project wrote into X (row %zu, ldx = %zu)", s->desc, t,
			             ld);
	return ok;
}

/* The stride, a multiple of HUGE_GRID, that puts the last of T rows past 2^32 floats
 * (2^34 bytes): every row offset computed in 32 bits (bytes, an int or a uint32_t float
 * index) wraps within the call. */
static size_t wrapping_ld(size_t T)
{
	size_t past = (size_t)1 << 32, rows = T < 2 ? 1 : T - 1;
	return (past / (rows * HUGE_GRID) + 1) * HUGE_GRID;
}

/* One problem in the mappings h with the given row strides (lds[n]) and batch budgets
 * (threads[n]), model budget o->threads. */
static bool huge_problem(const struct qkv_backend *be, const struct huge *h,
                         const struct cf_shape *sh, const struct cf_opts *o, const size_t *lds,
                         const uint32_t *threads, int n, struct cf_rng *g, struct cf_report *r)
{
	struct cf_setup s;
	if (!cf_setup_init(&s, be, sh, o, cf_rng_next(g), r))
		return false;
	bool ok = true;
	for (int i = 0; ok && i < n; i++)
		ok = huge_call(&s, h, lds[i], threads[i], r);
	cf_setup_free(&s);
	return ok;
}

/* Three rows 2^29 + 27 and then 2^31 + 27 floats apart in X and in every output (row 2
 * starts past 2^32 and then past 2^34 bytes): a backend computing row offsets as
 * `int` or `uint32_t` products (t * ldx) reads another row or faults. Then every T
 * class (conform_classes.h) with the stride that puts its last row past 2^34 bytes: a
 * large-T path with 32-bit offsets shows there. Only the pages the rows touch are ever
 * mapped in. */
void cf_case_huge_strides(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {3, 24, 2, 1, 8};
	static const size_t lds[2] = {((size_t)1 << 29) + 27, ((size_t)1 << 31) + 27};
	static const uint32_t threads[2] = {1, 2};
	struct cf_rng g = {seed};
	struct huge h;
	if (!huge_map(&h, r))
		return;
	bool ok = true;
	for (int p = 0; ok && p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		struct cf_opts o = {.precision = (uint32_t)p, .threads = 2, .bias = true};
		ok = huge_problem(be, &h, &sh, &o, lds, threads, 2, &g, r);
		for (size_t d = 0; ok && d < CF_CLASS_DIAGONAL; d++) {
			struct cf_class_point c = cf_class_diagonal(d);
			struct cf_shape cs = {c.T, c.K, 2, 1 + (uint32_t)(d % 2), 8};
			struct cf_opts co = {.precision = (uint32_t)p,
			                     .layout = (uint32_t)(d / 2 % 2),
			                     .threads = CF_MODEL_THREADS,
			                     .bias = true};
			size_t ld = wrapping_ld(c.T);
			ok = huge_problem(be, &h, &cs, &co, &ld, &c.threads, 1, &g, r);
		}
	}
	huge_free(&h);
	if (ok)
		snprintf(
		    r->msg, sizeof(r->msg),
		    "row strides of 2^29 + 27 and 2^31 + 27 floats, and at T = 1..2049 the last "
		    "row past 2^34 bytes, in X and outputs: right rows");
}
