#include "bench_threads.h"

#include <dirent.h>
#include <stdlib.h>
#include <time.h>

/* A thread's CPU clock from its id: the encoding glibc's pthread_getcpuclockid uses
 * (Linux: ~tid << 3, scheduler clock 2, per-thread bit 4). The pool threads of OpenMP
 * and OpenBLAS have no pthread_t we could ask for, only their ids in /proc. */
static clockid_t thread_clock(pid_t tid)
{
	return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

void bench_tasks_snapshot(struct bench_tasks *t)
{
	t->n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL && t->n < BENCH_MAX_TASKS;) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		struct timespec ts;
		if (*end || tid <= 0 || clock_gettime(thread_clock((pid_t)tid), &ts) != 0)
			continue; /* "." and "..", or a thread that ended meanwhile */
		t->tid[t->n] = (pid_t)tid;
		t->cpu[t->n++] = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
	}
	closedir(d);
}

static double cpu_of(const struct bench_tasks *t, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->tid[i] == tid)
			return t->cpu[i];
	return 0; /* started during the span: all of its time is in it */
}

void bench_busy_add(struct bench_busy *b, const struct bench_tasks *before,
                    const struct bench_tasks *after, double wall)
{
	b->wall += wall;
	for (size_t i = 0; i < after->n; i++) {
		double d = after->cpu[i] - cpu_of(before, after->tid[i]);
		size_t k = 0;
		while (k < b->n && b->tid[k] != after->tid[i])
			k++;
		if (k == b->n) {
			if (b->n == BENCH_MAX_TASKS)
				continue;
			b->tid[b->n] = after->tid[i];
			b->cpu[b->n++] = 0;
		}
		b->cpu[k] += d > 0 ? d : 0;
	}
}

unsigned bench_busy_threads(const struct bench_busy *b)
{
	double most = 0;
	for (size_t i = 0; i < b->n; i++)
		most = b->cpu[i] > most ? b->cpu[i] : most;
	unsigned n = 0;
	for (size_t i = 0; i < b->n && most > 0; i++)
		n += b->cpu[i] >= BENCH_BUSY_SHARE * most;
	return n;
}

double bench_busy_cpu_per_wall(const struct bench_busy *b)
{
	double all = 0;
	for (size_t i = 0; i < b->n; i++)
		all += b->cpu[i];
	return b->wall > 0 ? all / b->wall : 0;
}
