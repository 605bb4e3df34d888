/* Concurrency stress of qkv_project on one shared model, shared by the Criterion test
 * (suite 'stress') and the standalone binary tools/tsan.sh runs under ThreadSanitizer
 * (Criterion's forking runner and TSan do not mix). */
#ifndef QKV_STRESS_H
#define QKV_STRESS_H

#include <stddef.h>

/* Small shapes so 16 x 1000 calls stay quick: d_model 48, 4 heads of 12, 2 KV heads. */
#define STRESS_D 48
#define STRESS_HEADS 4
#define STRESS_KV_HEADS 2
#define STRESS_HEAD_DIM 12
#define STRESS_DQ (STRESS_HEADS * STRESS_HEAD_DIM)
#define STRESS_DKV (STRESS_KV_HEADS * STRESS_HEAD_DIM)
#define STRESS_TMAX 17

struct stress_report {
	int opened;             /* 0: the backend could not be opened here (see msg) */
	unsigned long calls;    /* calls made */
	unsigned long failures; /* calls that returned an error */
	unsigned long mismatch; /* calls whose output differs from the serial result */
	long thread_growth;     /* OS threads added by calls inside an OpenMP region */
	char msg[512];
};

/* n_threads threads x calls calls on one model of `backend`, mixed T, each compared
 * bit for bit with a serial run of the same T. */
void stress_threads(const char *backend, int n_threads, int calls, struct stress_report *r);

/* calls from inside the caller's `#pragma omp parallel` region of `team` threads. */
void stress_omp_region(const char *backend, int team, int calls, struct stress_report *r);

/* The in-tree backends, NULL-terminated. */
extern const char *const stress_backends[];

#endif
