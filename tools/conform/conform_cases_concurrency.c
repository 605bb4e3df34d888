/* Concurrent calls: 8 threads on one handle against serial calls, the first calls of
 * fresh handles made concurrently with thread budgets 2-4, and concurrent prepares. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* The concurrency case: 8 threads call project at once on one prepared handle, each
 * on its own rows of X into its own outputs, and must get what serial calls got. */

#define CF_THREADS 8

#define CF_ROUNDS 3

#define CF_ROWS 32 /* rows per thread: long enough calls that the threads overlap */

/* A start line: threads wait until every one exists, then run together. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
};

struct worker {
	const struct cf_setup *s;
	struct gate *start;
	size_t t0;
	struct cf_out out;
	struct cf_report r; /* per thread; merged after join */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->start->mu);
	while (!w->start->open)
		pthread_cond_wait(&w->start->cv, &w->start->mu);
	pthread_mutex_unlock(&w->start->mu);
	cf_call(w->s, w->t0, CF_ROWS, &w->out, 1, &w->r);
	return NULL;
}

/* One concurrent round: every thread's output compared with the serial one. */
static bool round_once(const struct cf_setup *s, const struct cf_out *serial, int round,
                       struct cf_report *r)
{
	struct worker w[CF_THREADS] = {0};
	pthread_t tid[CF_THREADS];
	struct gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	int started = 0;
	bool ok = true;
	for (int i = 0; i < CF_THREADS && ok; i++) {
		w[i].s = s;
		w[i].start = &start;
		w[i].t0 = (size_t)i * CF_ROWS;
		ok = cf_out_alloc(&w[i].out, s, CF_ROWS, r);
	}
	for (int i = 0; ok && i < CF_THREADS; i++) {
		if (pthread_create(&tid[i], NULL, work, &w[i]) != 0) {
			ok = cf_fail(r, "harness: pthread_create failed");
			break;
		}
		started++;
	}
	pthread_mutex_lock(&start.mu);
	start.open = true;
	pthread_cond_broadcast(&start.cv);
	pthread_mutex_unlock(&start.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; ok && i < CF_THREADS; i++) {
		char what[64];
		snprintf(what, sizeof(what), "round %d, thread %d of %d concurrent", round, i,
		         CF_THREADS);
		if (w[i].r.result == CF_FAIL)
			ok = cf_fail(r, "%s: %s", what, w[i].r.msg);
		else
			ok = cf_check_guards(s, &w[i].out, r) &&
			     cf_check_same(s, &serial[i], &w[i].out, what, r);
	}
	for (int i = 0; i < CF_THREADS; i++)
		cf_out_free(&w[i].out);
	return ok;
}

void cf_case_concurrency(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sh = {CF_THREADS * CF_ROWS, 384, 4, 2, 64};
	struct cf_opts o = {.precision = (uint32_t)precision, .threads = 1, .bias = true};
	struct cf_setup s;
	if (!cf_setup_init(&s, be, &sh, &o, seed, r))
		return;
	struct cf_out serial[CF_THREADS] = {0};
	bool ok = true;
	for (int i = 0; ok && i < CF_THREADS; i++) {
		size_t t0 = (size_t)i * CF_ROWS;
		ok = cf_out_alloc(&serial[i], &s, CF_ROWS, r) &&
		     cf_call(&s, t0, CF_ROWS, &serial[i], 1, r) &&
		     cf_check_guards(&s, &serial[i], r) && cf_check_values(&s, t0, &serial[i], r);
	}
	for (int round = 1; ok && round <= CF_ROUNDS; round++)
		ok = round_once(&s, serial, round, r);
	for (int i = 0; i < CF_THREADS; i++)
		cf_out_free(&serial[i]);
	cf_setup_free(&s);
	if (ok)
		snprintf(r->msg, sizeof(r->msg), "%d rounds of %d threads equal serial calls",
		         CF_ROUNDS, CF_THREADS);
}

#define COLD_THREADS 4

#define COLD_ROWS 8

#define COLD_ROUNDS 10       /* fresh handles whose first calls overlapped in time */
#define COLD_MAX_ROUNDS 40   /* fresh handles at most, when a loaded machine serialises them */
#define COLD_EXTRA_SECONDS 8 /* rounds past COLD_ROUNDS start only this long into the case */

struct cold_worker {
	const struct cf_setup *s;
	size_t t0;
	uint32_t threads;
	struct timespec start, end; /* of the call, CLOCK_MONOTONIC */
	struct cf_out out;
	struct cf_report r;
};

static void cold_probe(void *arg)
{
	struct cold_worker *w = arg;
	struct qkv_probe_result pr = {.struct_size = sizeof(pr)};
	w->s->be->probe(&pr); /* probe may be called from any thread, any time */
}

static void cold_work(void *arg)
{
	struct cold_worker *w = arg;
	clock_gettime(CLOCK_MONOTONIC, &w->start);
	cf_call(w->s, w->t0, COLD_ROWS, &w->out, w->threads, &w->r);
	clock_gettime(CLOCK_MONOTONIC, &w->end);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Another round: until COLD_ROUNDS overlapped, the first COLD_ROUNDS always, more only
 * while the case is younger than COLD_EXTRA_SECONDS (a machine loaded enough to
 * serialise most rounds would otherwise push it towards the runner's time limit). */
static bool cold_more(int round, int overlapped, const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return overlapped < COLD_ROUNDS &&
	       (round <= COLD_ROUNDS ||
	        (round <= COLD_MAX_ROUNDS && now.tv_sec - t0->tv_sec < COLD_EXTRA_SECONDS));
}

/* True when two of the calls were in progress at the same moment: only then could a
 * race between first calls happen (on a loaded machine the threads, released together,
 * may still run one after another). Not a check on time: it only decides whether the
 * round counts towards COLD_ROUNDS. */
static bool cold_overlapped(const struct cold_worker *w, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (before(&w[j].start, &w[i].end) && before(&w[i].start, &w[j].end))
				return true;
	return false;
}

/* A freshly prepared handle whose very first calls are concurrent, each with a thread
 * budget of 2..4: lazy initialisation on the first call, and scratch kept per handle
 * for multi-threaded calls, race here. Every output is then checked against the
 * reference and against a serial call with the same budget. A race shows only when
 * the calls overlap, so new handles are made until COLD_ROUNDS rounds overlapped (at
 * most COLD_MAX_ROUNDS, and none past COLD_ROUNDS after COLD_EXTRA_SECONDS): a loaded
 * machine gets more tries, not a weaker check. */
/* One round on the fresh handle of s: concurrent first calls, then the checks. Sets
 * *overlap when two of the calls were in progress at once. */
static bool cold_round(const struct cf_setup *s, int round, bool *overlap, struct cf_report *r)
{
	struct cold_worker w[COLD_THREADS];
	memset(w, 0, sizeof(w));
	bool ok = true;
	for (int i = 0; i < COLD_THREADS && ok; i++) {
		w[i].s = s;
		w[i].t0 = (size_t)i * COLD_ROWS;
		w[i].threads = 2 + (uint32_t)(i % 3);
		ok = cf_out_alloc(&w[i].out, s, COLD_ROWS, r);
	}
	cf_progress("%s: %d concurrent first calls on a fresh handle", s->desc, COLD_THREADS);
	ok = ok && cf_together(COLD_THREADS, cold_probe, cold_work, w, sizeof(w[0]), r);
	*overlap = ok && cold_overlapped(w, COLD_THREADS);
	for (int i = 0; ok && i < COLD_THREADS; i++) {
		char what[96];
		snprintf(
		    what, sizeof(what),
		    "round %d (fresh handle), thread %d of %d concurrent first calls, threads %u",
		    round, i, COLD_THREADS, w[i].threads);
		struct cf_report sub;
		memset(&sub, 0, sizeof(sub));
		if (w[i].r.result == CF_FAIL) {
			ok = cf_fail(r, "%s: %s", what, w[i].r.msg);
		} else if (!cf_check_guards(s, &w[i].out, &sub) ||
		           !cf_check_values(s, w[i].t0, &w[i].out, &sub)) {
			ok = cf_fail(r, "%s: %s", what, sub.msg);
		} else {
			struct cf_out again;
			ok = cf_out_alloc(&again, s, COLD_ROWS, r);
			if (ok) {
				ok = cf_call(s, w[i].t0, COLD_ROWS, &again, w[i].threads, r) &&
				     cf_check_same(s, &again, &w[i].out, what, r);
				cf_out_free(&again);
			}
		}
	}
	for (int i = 0; i < COLD_THREADS; i++)
		cf_out_free(&w[i].out);
	return ok;
}

void cf_case_concurrency_cold(const struct qkv_backend *be, int precision, uint64_t seed,
                              struct cf_report *r)
{
	/* weights big enough that packing them on the first call takes a while */
	static const struct cf_shape sh = {COLD_THREADS * COLD_ROWS, 1024, 4, 2, 64};
	struct cf_rng g = {seed};
	/* one problem per layout; each round after the first two prepares its problem
	 * again (a fresh handle) instead of building new data and references */
	struct cf_setup s[2];
	memset(s, 0, sizeof(s));
	bool ok = true;
	int round, overlapped = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (round = 1; ok && cold_more(round, overlapped, &t0); round++) {
		struct cf_setup *cur = &s[round % 2];
		if (!cur->handle) {
			struct cf_opts o = {.precision = (uint32_t)precision,
			                    .layout = (uint32_t)(round % 2),
			                    .threads = 4,
			                    .bias = true};
			ok = cf_setup_init(cur, be, &sh, &o, cf_rng_next(&g), r);
		} else {
			ok = cf_setup_reprepare(cur, r);
		}
		bool overlap = false;
		ok = ok && cold_round(cur, round, &overlap, r);
		overlapped += overlap;
	}
	cf_setup_free(&s[0]);
	cf_setup_free(&s[1]);
	if (ok)
		snprintf(r->msg, sizeof(r->msg),
		         "%d fresh handles, %d concurrent first calls each (threads 2-4), in %d of "
		         "them overlapping: correct",
		         round - 1, COLD_THREADS, overlapped);
}

#define PREP_THREADS 6

#define PREP_ROUNDS 3

struct prep_worker {
	const struct qkv_backend *be;
	struct cf_shape sh;
	struct cf_opts o;
	uint64_t seed;
	struct cf_report r;
};

static void prep_work(void *arg)
{
	struct prep_worker *w = arg;
	struct cf_setup s;
	if (!cf_setup_init(&s, w->be, &w->sh, &w->o, w->seed, &w->r))
		return;
	struct cf_out out;
	if (cf_out_alloc(&out, &s, w->sh.T, &w->r)) {
		if (cf_call(&s, 0, w->sh.T, &out, w->o.threads, &w->r) &&
		    cf_check_guards(&s, &out, &w->r))
			cf_check_values(&s, 0, &out, &w->r);
		cf_out_free(&out);
	}
	cf_setup_free(&s);
}

/* Six threads prepare (different shapes and precisions), call, check and release at
 * the same moment, three times. Models are opened from many threads; a backend whose
 * first prepare sets up something global (a dispatch table, a lookup table) without
 * a lock serves the others half-made state. */
void cf_case_concurrent_prepare(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
	struct cf_rng g = {seed};
	for (int round = 1; round <= PREP_ROUNDS; round++) {
		struct prep_worker w[PREP_THREADS];
		memset(w, 0, sizeof(w));
		for (int i = 0; i < PREP_THREADS; i++) {
			w[i].be = be;
			w[i].sh = (struct cf_shape){3 + (size_t)i, 48 + 16 * (uint32_t)(i % 3),
			                            2 + (uint32_t)(i % 2) * 2, 2,
			                            8 + 8 * (uint32_t)(i % 2)};
			w[i].o = (struct cf_opts){.precision = (uint32_t)prec[(i + round) % n],
			                          .layout = (uint32_t)((i + round) % 2),
			                          .threads = 1 + (uint32_t)(i % 2),
			                          .bias = true};
			w[i].seed = cf_rng_next(&g);
			w[i].r.seed = r->seed;
		}
		cf_progress("round %d: %d threads prepare, call and release at once", round,
		            PREP_THREADS);
		if (!cf_together(PREP_THREADS, NULL, prep_work, w, sizeof(w[0]), r))
			return;
		for (int i = 0; i < PREP_THREADS; i++)
			if (w[i].r.result == CF_FAIL)
				return (void)cf_fail(
				    r, "round %d, thread %d of %d preparing at once: %s", round, i,
				    PREP_THREADS, w[i].r.msg);
	}
	snprintf(r->msg, sizeof(r->msg), "%d rounds of %d concurrent prepare/project/release",
	         PREP_ROUNDS, PREP_THREADS);
}
