/* The memory-safety and concurrency checks at every size class a backend may special-case
 * (issue 25; the classes are in conform_classes.h), one handle from several threads and
 * several handles at once. Sizes stay small in K and N so a run takes well under a
 * second on any in-tree backend. */
#include <stdio.h>
#include <string.h>

#include "conform_classes.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* Every T with every K, X, outputs and weights against PROT_NONE pages: first ending at
 * them (a read or write past the last row faults), then starting right after them with
 * strides and, for int8, pre-quantized weights; X and weights read-only. Layouts
 * alternate. */
void cf_case_guards_by_size(const struct qkv_backend *be, int precision, uint64_t seed,
                            struct cf_report *r)
{
	struct cf_rng g = {seed};
	int runs = 0;
	for (size_t i = 0; i < CF_COUNT(cf_class_T); i++) {
		for (size_t k = 0; k < CF_COUNT(cf_class_K); k++) {
			struct cf_shape sh = {cf_class_T[i], cf_class_K[k], 2,
			                      1 + (uint32_t)(k % 2), 8};
			for (int place = 1; place <= 2; place++) {
				size_t n = (size_t)runs++;
				struct cf_opts o = cf_opts_make(
				    precision, (uint32_t)((i + k + (size_t)place) % 2), true);
				o.threads = CF_MODEL_THREADS;
				o.x_paged = o.y_paged = o.w_paged = place;
				o.x_readonly = true; /* and X read-only: no write into it */
				o.x_pad = place == 2 ? 3 : 0;
				o.y_pad = place == 2 ? 1 : 0;
				o.no_bias = n % 3 == 0 ? 4 : 0;
				o.prequantized = precision == QKV_INT8 && place == 2;
				uint32_t t = cf_class_threads[n % CF_COUNT(cf_class_threads)];
				if (!cf_check_problem_threads(be, &sh, &o, t, cf_rng_next(&g), r)) {
					size_t len = strlen(r->msg);
					snprintf(r->msg + len, sizeof(r->msg) - len,
					         " (batch threads %u, model's %u)", t,
					         CF_MODEL_THREADS);
					return;
				}
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d problems, T = 1..2049 x K = 33, 36, 40, 48, threads 1-16: X, outputs, "
	         "weights against guard pages untouched",
	         runs);
}

/* ---- concurrency at every size class ------------------------------------------------ */

#define SIZE_WORKERS 4 /* two per handle */
#define SIZE_ROUNDS 2  /* per size class, with other thread budgets */
static const size_t worker_T[] = {1, 3, 8, 16, 64, 128, 256, 520, 2100};

struct size_worker {
	const struct cf_setup *s;
	size_t t0, rows;
	uint32_t threads;
	struct cf_out out;
	struct cf_report r;
};

static void size_work(void *arg)
{
	struct size_worker *w = arg;
	cf_call(w->s, w->t0, w->rows, &w->out, w->threads, &w->r);
}

/* One round: each worker's serial call first (same rows, same budget), then all of them
 * at once; every concurrent output within bound and bit-identical to its serial one. */
static bool size_round(struct cf_setup *h[2], size_t rows, int round, struct cf_report *r)
{
	struct size_worker w[SIZE_WORKERS];
	struct cf_out serial[SIZE_WORKERS];
	memset(w, 0, sizeof(w));
	memset(serial, 0, sizeof(serial));
	bool ok = true;
	for (int i = 0; ok && i < SIZE_WORKERS; i++) {
		w[i].s = h[i % 2];
		w[i].t0 = (size_t)(i / 2) * rows;
		w[i].rows = rows;
		w[i].threads = cf_class_threads[((size_t)round + (size_t)(i / 2) * 3) %
		                                CF_COUNT(cf_class_threads)];
		ok = cf_out_alloc(&w[i].out, w[i].s, rows, r) &&
		     cf_out_alloc(&serial[i], w[i].s, rows, r) &&
		     cf_call(w[i].s, w[i].t0, rows, &serial[i], w[i].threads, r);
	}
	if (ok) {
		cf_progress("%s: %d concurrent calls of %zu rows on two handles", h[0]->desc,
		            SIZE_WORKERS, rows);
		ok = cf_together(SIZE_WORKERS, NULL, size_work, w, sizeof(w[0]), r);
	}
	for (int i = 0; ok && i < SIZE_WORKERS; i++) {
		char what[128];
		snprintf(what, sizeof(what),
		         "%zu rows, worker %d of %d (2 per handle) with batch threads %u", rows, i,
		         SIZE_WORKERS, w[i].threads);
		struct cf_report sub;
		memset(&sub, 0, sizeof(sub));
		if (w[i].r.result == CF_FAIL)
			ok = cf_fail(r, "%s: %s", what, w[i].r.msg);
		else if (!cf_check_guards(w[i].s, &w[i].out, &sub) ||
		         !cf_check_values(w[i].s, w[i].t0, &w[i].out, &sub) ||
		         !cf_check_same(w[i].s, &serial[i], &w[i].out, what, &sub))
			ok = cf_fail(r, "%s: %s", what, sub.msg);
	}
	for (int i = 0; i < SIZE_WORKERS; i++) {
		cf_out_free(&w[i].out);
		cf_out_free(&serial[i]);
	}
	return ok;
}

/* Two handles of different shapes and layouts (K = 67 and 100), two threads calling each
 * at once on their own rows, at every size class from 1 row to 2100, with per-call
 * budgets 1-16 paired so that two calls of 4 or more threads run together. */
void cf_case_concurrency_by_size(const struct qkv_backend *be, int precision, uint64_t seed,
                                 struct cf_report *r)
{
	size_t most = worker_T[CF_COUNT(worker_T) - 1];
	const struct cf_shape sh[2] = {{2 * most, 67, 2, 1, 16}, {2 * most, 100, 4, 2, 8}};
	struct cf_rng g = {seed};
	struct cf_setup a, b, *h[2] = {&a, &b};
	for (int i = 0; i < 2; i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)i, true);
		o.threads = CF_MODEL_THREADS;
		if (!cf_setup_init(h[i], be, &sh[i], &o, cf_rng_next(&g), r)) {
			if (i)
				cf_setup_free(&a);
			return;
		}
	}
	bool ok = true;
	int rounds = 0;
	for (size_t c = 0; ok && c < CF_COUNT(worker_T); c++)
		for (int round = 0; ok && round < SIZE_ROUNDS; round++, rounds++)
			ok = size_round(h, worker_T[c], rounds, r);
	cf_setup_free(&a);
	cf_setup_free(&b);
	if (ok)
		snprintf(r->msg, sizeof(r->msg),
		         "%d rounds of %d concurrent calls on two handles, 1..2100 rows, threads "
		         "1-16: equal to serial calls",
		         rounds, SIZE_WORKERS);
}
