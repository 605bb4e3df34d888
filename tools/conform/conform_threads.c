/* The concurrency case: 8 threads call project at once on one prepared handle, each
 * on its own rows of X into its own outputs, and must get what serial calls got. */
#include <pthread.h>
#include <stdio.h>

#include "conform_int.h"
#include "conform_list.h"

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
