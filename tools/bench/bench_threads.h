/* Which threads of this process ran during a measurement: each thread's CPU clock read
 * before and after the timed calls. A row that asks for 2 threads but keeps one busy
 * (a library that fixed its team size when it was set up) shows here whatever the load
 * of the machine: a thread that worked gets CPU time even when it shares a core. */
#ifndef QKV_TOOL_BENCH_THREADS_H
#define QKV_TOOL_BENCH_THREADS_H

#include <stddef.h>
#include <sys/types.h>

#define BENCH_MAX_TASKS 256

/* CPU seconds of every thread of the process at one moment. */
struct bench_tasks {
	size_t n;
	pid_t tid[BENCH_MAX_TASKS];
	double cpu[BENCH_MAX_TASKS];
};
void bench_tasks_snapshot(struct bench_tasks *t);

/* CPU seconds each thread spent over one or more measured spans (bench_busy_add). */
struct bench_busy {
	size_t n;
	pid_t tid[BENCH_MAX_TASKS];
	double cpu[BENCH_MAX_TASKS];
	double wall; /* seconds of the spans */
};
void bench_busy_add(struct bench_busy *b, const struct bench_tasks *before,
                    const struct bench_tasks *after, double wall);

/* Threads that worked: those with at least BENCH_BUSY_SHARE of the busiest one's CPU
 * time (an idle pool thread spinning for a few microseconds after a call does not
 * count). 0 when nothing was measured. */
#define BENCH_BUSY_SHARE 0.25
unsigned bench_busy_threads(const struct bench_busy *b);
/* Process CPU time over wall time of the spans (2 threads working on an idle machine: ~2). */
double bench_busy_cpu_per_wall(const struct bench_busy *b);

#endif
