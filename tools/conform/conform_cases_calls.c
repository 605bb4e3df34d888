/* Calls over the life of a handle: repeated calls give the same bits (4, 100, 3000 calls
 * of mixed T and threads), two live handles stay independent, and new weights at a
 * released handle's addresses give fresh results. */
#include <stdio.h>
#include <string.h>

#include "conform_classes.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

void cf_case_determinism(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sh = {64, 257, 3, 1, 32};
	struct cf_opts o = {.precision = (uint32_t)precision, .threads = 2, .bias = true};
	struct cf_setup s;
	if (!cf_setup_init(&s, be, &sh, &o, seed, r))
		return;
	struct cf_out first, again;
	bool have_first = cf_out_alloc(&first, &s, sh.T, r), ok = have_first;
	if (ok && cf_call(&s, 0, sh.T, &first, o.threads, r) && cf_check_guards(&s, &first, r) &&
	    cf_check_values(&s, 0, &first, r)) {
		for (int i = 2; ok && i <= 4; i++) {
			char what[32];
			snprintf(what, sizeof(what), "call %d", i);
			ok = cf_out_alloc(&again, &s, sh.T, r);
			if (ok) {
				ok = cf_call(&s, 0, sh.T, &again, o.threads, r) &&
				     cf_check_guards(&s, &again, r) &&
				     cf_check_same(&s, &first, &again, what, r);
				cf_out_free(&again);
			}
		}
	}
	if (have_first)
		cf_out_free(&first);
	cf_setup_free(&s);
	if (r->result != CF_FAIL)
		snprintf(r->msg, sizeof(r->msg), "4 calls bit-identical");
}

#define MANY_CALLS 100

/* 100 calls on one handle (threads 1 and 2 alternating, T alternating between 16 rows
 * and 1 row): every call bit-identical to the first with the same threads and rows.
 * A backend that re-tunes itself after N calls changes its results here. */
void cf_case_many_calls(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	static const struct cf_shape sh = {16, 160, 4, 2, 24};
	struct cf_opts o = {.precision = (uint32_t)precision, .threads = 2, .bias = true};
	struct cf_setup s;
	if (!cf_setup_init(&s, be, &sh, &o, seed, r))
		return;
	struct cf_out first[4];
	memset(first, 0, sizeof(first));
	bool ok = true;
	for (int call = 0; ok && call < MANY_CALLS; call++) {
		int kind = call % 4; /* threads 1 or 2, 16 rows or 1 */
		uint32_t threads = 1 + (uint32_t)(kind % 2);
		size_t rows = kind < 2 ? sh.T : 1;
		if (call < 4) {
			ok = cf_out_alloc(&first[kind], &s, rows, r) &&
			     cf_call(&s, 0, rows, &first[kind], threads, r) &&
			     cf_check_guards(&s, &first[kind], r) &&
			     cf_check_values(&s, 0, &first[kind], r);
			continue;
		}
		struct cf_out out;
		if (!(ok = cf_out_alloc(&out, &s, rows, r)))
			break;
		char what[64];
		snprintf(what, sizeof(what), "call %d of %d on one handle", call + 1, MANY_CALLS);
		ok = cf_call(&s, 0, rows, &out, threads, r) && cf_check_guards(&s, &out, r) &&
		     cf_check_same(&s, &first[kind], &out, what, r);
		cf_out_free(&out);
	}
	for (int k = 0; k < 4; k++)
		cf_out_free(&first[k]);
	cf_setup_free(&s);
	if (ok)
		snprintf(r->msg, sizeof(r->msg), "%d calls on one handle: stable bits", MANY_CALLS);
}

#define LONG_CALLS 3000

#define LONG_KINDS 4

/* 3000 calls on one small handle, T and threads cycling through four kinds: every
 * call bit-identical to the first of its kind. A backend that re-tunes itself after
 * some number of calls (40, 1000, 2048) changes its answers. */
void cf_case_calls_3000(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {5, 40, 2, 1, 8};
	static const size_t rows[LONG_KINDS] = {1, 5, 3, 5};
	static const uint32_t threads[LONG_KINDS] = {1, 2, 1, 3};
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
	struct cf_rng g = {seed};
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 3, .bias = true};
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out first[LONG_KINDS], out;
		memset(first, 0, sizeof(first));
		bool ok = true;
		for (int k = 0; ok && k < LONG_KINDS; k++)
			ok = cf_out_alloc(&first[k], &s, rows[k], r) &&
			     cf_call(&s, 0, rows[k], &first[k], threads[k], r) &&
			     cf_check_values(&s, 0, &first[k], r);
		for (int c = LONG_KINDS; ok && c < LONG_CALLS; c++) {
			int k = c % LONG_KINDS;
			if (!(ok = cf_out_alloc(&out, &s, rows[k], r)))
				break;
			char what[64];
			snprintf(what, sizeof(what), "call %d of %d on one handle", c + 1,
			         LONG_CALLS);
			ok = cf_call(&s, 0, rows[k], &out, threads[k], r) &&
			     cf_check_same(&s, &first[k], &out, what, r);
			cf_out_free(&out);
		}
		for (int k = 0; k < LONG_KINDS; k++)
			cf_out_free(&first[k]);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "%d calls per precision: stable bits", LONG_CALLS);
}

/* Two handles of different shapes alive at once, calls interleaved, then one
 * released while the other is used: a backend keeping per-problem state in globals
 * mixes them up. */
void cf_case_two_handles(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sa = {5, 48, 2, 2, 8}, sb = {70, 130, 3, 1, 20};
	struct cf_opts oa = {.precision = (uint32_t)precision, .threads = 1, .bias = true};
	struct cf_opts ob = oa;
	ob.layout = QKV_LAYOUT_OUT_IN;
	ob.threads = 2;
	struct cf_rng g = {seed};
	struct cf_setup a, b;
	if (!cf_setup_init(&a, be, &sa, &oa, cf_rng_next(&g), r))
		return;
	if (!cf_setup_init(&b, be, &sb, &ob, cf_rng_next(&g), r)) {
		cf_setup_free(&a);
		return;
	}
	bool ok = true;
	for (int i = 0; ok && i < 5; i++) {
		struct cf_setup *s = i % 2 ? &b : &a;
		if (i == 4) { /* a released: b must still work */
			cf_setup_free(&a);
			s = &b;
		}
		struct cf_out out;
		if (!(ok = cf_out_alloc(&out, s, s->sh.T, r)))
			break;
		ok = cf_call(s, 0, s->sh.T, &out, s->o.threads, r) && cf_check_guards(s, &out, r) &&
		     cf_check_values(s, 0, &out, r);
		cf_out_free(&out);
	}
	cf_setup_free(&a); /* no-op when released above (setup_free zeroes it) */
	cf_setup_free(&b);
	if (ok)
		snprintf(r->msg, sizeof(r->msg), "two live handles, interleaved: independent");
}

#define RECYCLE_CYCLES 6
#define RECYCLE_PER_CLASS 2 /* cycles at one size class: the second may land on the first */

/* One cycle: prepare (weights mapped, so a new one usually lands where the released
 * one was), call with budget `threads`, check, release. Counts the cycles whose
 * weights sit at the last cycle's address in *reused. */
static bool recycle_once(const struct qkv_backend *be, const struct cf_shape *sh,
                         const struct cf_opts *o, uint32_t threads, const void **last_w,
                         int *reused, int cycle, struct cf_rng *g, struct cf_report *r)
{
	struct cf_setup s;
	if (!cf_setup_init(&s, be, sh, o, cf_rng_next(g), r))
		return false;
	bool at_old = s.w[0] == *last_w;
	*reused += at_old;
	*last_w = s.w[0];
	struct cf_out out;
	bool ok = cf_out_alloc(&out, &s, s.sh.T, r) && cf_call(&s, 0, s.sh.T, &out, threads, r) &&
	          cf_check_values(&s, 0, &out, r);
	if (!ok) {
		size_t len = strlen(r->msg);
		snprintf(r->msg + len, sizeof(r->msg) - len,
		         " (cycle %d of prepare/project/release, batch threads %u; weights at the "
		         "address of the released ones: %s)",
		         cycle, threads, at_old ? "yes" : "no");
	}
	cf_out_free(&out);
	cf_setup_free(&s);
	return ok;
}

/* Prepare, call, release, six times with new weights, biases and X each time: the
 * weights are mappings, so a new one usually lands where the released one was (and
 * so may the backend's handle). A backend caching packed weights or results by
 * address answers with the old ones. Shapes alternate between two sizes. Then two
 * cycles at each size class (conform_classes.h): a cache on a large-T path only, or
 * keyed by T, shows there. */
void cf_case_recycled_addresses(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh[2] = {{9, 64, 4, 2, 8}, {5, 64, 2, 2, 16}};
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
	struct cf_rng g = {seed};
	int reused = 0, cycles = 0;
	for (int i = 0; i < n; i++) {
		const void *last_w = NULL;
		for (int c = 0; c < RECYCLE_CYCLES; c++) {
			struct cf_opts o = {.precision = (uint32_t)prec[i],
			                    .layout = (uint32_t)(c / 4 % 2),
			                    .threads = 1 + (uint32_t)(c % 2),
			                    .bias = true,
			                    .w_paged = 1};
			if (!recycle_once(be, &sh[c / 2 % 2], &o, o.threads, &last_w, &reused,
			                  ++cycles, &g, r))
				return;
		}
		for (size_t d = 0; d < CF_CLASS_DIAGONAL; d++) {
			struct cf_class_point c = cf_class_diagonal(d);
			struct cf_shape s = {c.T, c.K, 2, 1 + (uint32_t)(d % 2), 8};
			struct cf_opts o = {.precision = (uint32_t)prec[i],
			                    .layout = (uint32_t)(d / 2 % 2),
			                    .threads = CF_MODEL_THREADS,
			                    .bias = true,
			                    .w_paged = 1};
			for (int k = 0; k < RECYCLE_PER_CLASS; k++)
				if (!recycle_once(be, &s, &o, c.threads, &last_w, &reused, ++cycles,
				                  &g, r))
					return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d cycles (T = 1..2049, K = 33..64, threads 1-16), weights at a released "
	         "address %d times: fresh results",
	         cycles, reused);
}
