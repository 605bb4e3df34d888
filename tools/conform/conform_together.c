/* Threads that start together (cf_together, conform_int.h): a spinning start line, so
 * that their first steps overlap as much as the machine allows (a condition variable
 * wakes waiters one by one). The races the concurrency cases look for need that. */
#include <pthread.h>
#include <stdatomic.h>

#include "conform_int.h"

#define MAX_TOGETHER 16

struct runner {
	void (*before)(void *), (*work)(void *);
	void *arg;
	atomic_int *ready;
	int n;
};

static void *run(void *p)
{
	struct runner *u = p;
	if (u->before)
		u->before(u->arg);
	atomic_fetch_add(u->ready, 1);
	while (atomic_load(u->ready) < u->n + 1)
		; /* spin: all start within a few hundred nanoseconds */
	u->work(u->arg);
	return NULL;
}

bool cf_together(int n, void (*before)(void *), void (*work)(void *), void *args, size_t arg_size,
                 struct cf_report *r)
{
	if (n > MAX_TOGETHER)
		return cf_fail(r, "harness: %d threads at once, at most %d", n, MAX_TOGETHER);
	struct runner u[MAX_TOGETHER];
	pthread_t tid[MAX_TOGETHER];
	atomic_int ready = 0;
	int started = 0;
	for (int i = 0; i < n; i++) {
		u[i] =
		    (struct runner){before, work, (char *)args + (size_t)i * arg_size, &ready, n};
		if (pthread_create(&tid[i], NULL, run, &u[i]) != 0)
			break;
		started++;
	}
	while (atomic_load(&ready) < started)
		;                                  /* every thread is at the line */
	atomic_fetch_add(&ready, 1 + n - started); /* go (or release those that started) */
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	return started == n || cf_fail(r, "harness: pthread_create failed");
}
