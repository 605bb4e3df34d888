/* Thread budgets: batch threads 1, 2, 3, 8 and above or below the problem's; a budget of
 * one keeps other threads idle (CPU time); a caller with a small stack. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

void cf_case_threads(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh = {64, 300, 5, 5, 24};
	static const uint32_t counts[] = {1, 2, 3, 8};
	struct cf_opts o = {.precision = (uint32_t)precision, .bias = true};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		o.threads = counts[i];
		if (!cf_check_problem(be, &sh, &o, seed, r))
			return;
	}
	/* a call's budget above and below the problem's (per-thread scratch sized by one
	 * and indexed by the other) */
	static const uint32_t pairs[][2] = {{1, 8}, {8, 1}, {2, 5}};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		o.threads = pairs[i][0];
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, seed, r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, sh.T, r);
		if (ok) {
			ok = cf_call(&s, 0, sh.T, &out, pairs[i][1], r) &&
			     cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
			cf_out_free(&out);
		}
		cf_setup_free(&s);
		if (!ok) {
			size_t n = strlen(r->msg);
			snprintf(r->msg + n, sizeof(r->msg) - n,
			         " (problem threads %u, batch threads %u)", pairs[i][0],
			         pairs[i][1]);
			return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "threads 1, 2, 3, 8, and batch threads above / below the problem's: within "
	         "bound");
}

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time the process's other threads use in `seconds` of sleep. */
static double others_idle(double seconds)
{
	double self0 = clock_s(CLOCK_THREAD_CPUTIME_ID), proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	nanosleep(&(struct timespec){0, (long)(seconds * 1e9)}, NULL);
	return clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 -
	       (clock_s(CLOCK_THREAD_CPUTIME_ID) - self0);
}

/* Calls with batch.threads = 1 while the model's budget (problem.threads) is 4: the
 * process's CPU time minus the calling thread's is what other threads did for the
 * calls, and it includes threads that have exited. It does not depend on the load or
 * on how many cores the machine has: work split over two threads shows as about as
 * much CPU time on the other thread as on the caller. Allowed: a quarter of the
 * caller's time plus 5 ms (a pool waking up, a timer). */
void cf_case_thread_budget(const struct qkv_backend *be, int precision, uint64_t seed,
                           struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {48, 384, 4, 2, 32};
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
	struct cf_rng g = {seed};
	double worst = 0;
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 4, .bias = true};
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, sh.T, r) && cf_call(&s, 0, sh.T, &out, 1, r) &&
		          cf_check_values(&s, 0, &out, r);
		/* Pools woken before (probe, prepare with problem.threads = 4) spin a while
		 * before they sleep: OpenBLAS's about 0.1 s, libgomp's a few ms. Each
		 * measurement starts when 20 ms pass with under 1 ms of CPU on other threads
		 * (at most 2 s). A budget overrun happens on every call; a pool stirring for
		 * its own reasons does not, so an excess counts only when a second
		 * measurement shows it too. */
		double self = 0, others = 0;
		int calls = 0;
		for (int attempt = 0; ok && attempt < 2; attempt++) {
			for (int w = 0; w < 100 && others_idle(0.02) >= 0.001; w++)
				;
			double self0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
			double proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
			double wall0 = clock_s(CLOCK_MONOTONIC);
			calls = 0;
			while (ok &&
			       (calls < 3 || clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 < 0.05) &&
			       calls < 20000 && clock_s(CLOCK_MONOTONIC) - wall0 < 10) {
				cf_progress("%s: call %d with a budget of 1 thread", s.desc,
				            calls + 1);
				ok = cf_call(&s, 0, sh.T, &out, 1, r);
				calls++;
			}
			self = clock_s(CLOCK_THREAD_CPUTIME_ID) - self0;
			others = clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0 - self;
			if (others <= 0.25 * self + 0.005)
				break;
		}
		char desc[sizeof(s.desc)];
		memcpy(desc, s.desc, sizeof(desc));
		cf_out_free(&out);
		cf_setup_free(&s);
		if (!ok)
			return;
		if (others > 0.25 * self + 0.005)
			return (void)cf_fail(
			    r,
			    "%s: with a budget of 1 thread (batch.threads = 1, problem.threads = "
			    "4) other threads used %.1f ms of CPU while the calling thread used "
			    "%.1f ms in %d calls (twice in a row): project ran on more threads "
			    "than batch.threads",
			    desc, others * 1e3, self * 1e3, calls);
		if (self > 0 && others / self > worst)
			worst = others / self;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "budget 1: other threads' CPU time at most %.3f of the caller's", worst);
}

/* A runtime may call from a thread with a small stack (musl's default is 128 KiB):
 * project runs on a 256 KiB stack with K = 100,000 (int8: 66,000), where a row of K
 * floats on the stack (400 KB, 264 KB) overflows it. The in-tree backends pass it
 * under ASan too. */
#define SMALL_STACK (256 * 1024)

struct stack_call {
	struct cf_setup *s;
	struct cf_out *out;
	bool ok;
	struct cf_report r;
};

static void *stack_work(void *arg)
{
	struct stack_call *c = arg;
	c->ok = cf_call(c->s, 0, c->s->sh.T, c->out, 1, &c->r);
	return NULL;
}

void cf_case_small_stack(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	(void)precision;
	struct cf_shape sh = {2, 100000, 2, 1, 8};
	int prec[QKV_PRECISION_COUNT];
	int n = cf_declared(be, prec);
	struct cf_rng g = {seed};
	for (int i = 0; i < n; i++) {
		struct cf_opts o = {.precision = (uint32_t)prec[i], .threads = 1, .bias = true};
		/* int8: a K every int8 backend takes (onednn's u8 path stops at 66,311) */
		sh.d_model = prec[i] == QKV_INT8 ? 66000 : 100000;
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		struct cf_out out;
		struct stack_call c = {.s = &s, .out = &out};
		bool ok = cf_out_alloc(&out, &s, sh.T, r);
		pthread_attr_t attr;
		pthread_t tid;
		bool started = false;
		if (ok && pthread_attr_init(&attr) == 0) {
			started = pthread_attr_setstacksize(&attr, SMALL_STACK) == 0 &&
			          pthread_create(&tid, &attr, stack_work, &c) == 0;
			pthread_attr_destroy(&attr);
		}
		if (ok && !started)
			ok = cf_fail(r, "harness: cannot start a thread with a %d KiB stack",
			             SMALL_STACK / 1024);
		else if (ok) {
			cf_progress("%s: project on a thread with a %d KiB stack", s.desc,
			            SMALL_STACK / 1024);
			pthread_join(tid, NULL);
			if (!c.ok)
				ok = cf_fail(r, "%s", c.r.msg);
			else
				ok =
				    cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
		}
		cf_out_free(&out);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "project on a %d KiB stack, K = 100,000 (int8 66,000)",
	         SMALL_STACK / 1024);
}
