#include "bench_run.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROTATE_BYTES ((size_t)16 << 20) /* rotate over >= 16 MiB: well past any L2 */
#define MAX_SAMPLES ((size_t)1 << 18)

bool bench_buffers_make(struct bench_buffers *b, const struct bench_shape *s, size_t T)
{
	memset(b, 0, sizeof(*b));
	b->T = T;
	b->d_model = s->d_model;
	b->n = s->n;
	size_t set = T * (s->d_model + s->n) * sizeof(float);
	size_t nbuf = (ROTATE_BYTES + set - 1) / set;
	b->nbuf = nbuf < 2 ? 2 : (nbuf > BENCH_MAX_BUFS ? BENCH_MAX_BUFS : nbuf);
	for (size_t i = 0; i < b->nbuf; i++) {
		b->x[i] = malloc(T * s->d_model * sizeof(float));
		b->y[i] = calloc(T * s->n, sizeof(float));
		if (!b->x[i] || !b->y[i]) {
			bench_buffers_free(b);
			return false;
		}
		bench_fill_random(b->x[i], T * s->d_model, 1000 + i);
	}
	return true;
}

void bench_buffers_free(struct bench_buffers *b)
{
	for (size_t i = 0; i < BENCH_MAX_BUFS; i++) {
		free(b->x[i]);
		free(b->y[i]);
	}
	memset(b, 0, sizeof(*b));
}

/* Per-job state of a group: recorded samples and where the job stands. */
struct job_state {
	double *s; /* [n] seconds per call */
	size_t n, cap, buf;
	double spent;
	bool done;
};

static bool record(struct job_state *a, double dt)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;
		double *g = realloc(a->s, cap * sizeof(*g));
		if (!g)
			return false;
		a->s = g;
		a->cap = cap;
	}
	a->s[a->n++] = dt;
	a->spent += dt;
	return true;
}

/* Warm-up: first touch, lazy plugin work, clocks ramping up. */
static void warm_up(struct bench_job *jb, struct job_state *s, double min_time)
{
	double t0 = bench_now();
	bool first = true;
	do {
		double c0 = bench_now();
		if (jb->fn(jb->ctx, s->buf, jb->err, jb->errlen)) {
			jb->ok = false;
			s->done = true;
			return;
		}
		if (first)
			jb->first_s = bench_now() - c0;
		first = false;
		s->buf = (s->buf + 1) % jb->nbuf;
	} while (bench_now() - t0 < 0.1 * min_time);
}

/* One slice of calls of one job (all of its calls when slice_s <= 0); marks it done
 * once it has enough. */
static void slice_calls(struct bench_job *jb, struct job_state *s, double min_time, double slice_s)
{
	double start = bench_now(), now = start;
	do {
		double t0 = bench_now();
		if (jb->fn(jb->ctx, s->buf, jb->err, jb->errlen)) {
			jb->ok = false;
			s->done = true;
			return;
		}
		now = bench_now();
		s->buf = (s->buf + 1) % jb->nbuf;
		if (!record(s, now - t0) || s->n >= MAX_SAMPLES) {
			s->done = true;
			return;
		}
		if (s->spent >= min_time && (s->n >= 5 || s->spent >= 3 * min_time)) {
			s->done = true;
			return;
		}
	} while (slice_s <= 0 || now - start < slice_s);
}

/* A slice, with the CPU time of every thread over it (which threads the call used). */
static void slice(struct bench_job *jb, struct job_state *s, double min_time, double slice_s)
{
	static _Thread_local struct bench_tasks before, after; /* 3 KiB each: off the stack */
	if (!jb->busy) {
		slice_calls(jb, s, min_time, slice_s);
		return;
	}
	bench_tasks_snapshot(&before);
	double t0 = bench_now();
	slice_calls(jb, s, min_time, slice_s);
	double wall = bench_now() - t0;
	bench_tasks_snapshot(&after);
	bench_busy_add(jb->busy, &before, &after, wall);
}

void bench_time_group(struct bench_job *jobs, size_t n, double min_time, double slice_s)
{
	struct job_state *a = calloc(n ? n : 1, sizeof(*a));
	for (size_t j = 0; j < n; j++) {
		jobs[j].ok = a != NULL;
		if (!a)
			snprintf(jobs[j].err, jobs[j].errlen, "out of memory");
	}
	if (!a)
		return;
	for (size_t j = 0; j < n && slice_s <= 0; j++) { /* contiguous: warm up right before */
		warm_up(&jobs[j], &a[j], min_time);
		if (!a[j].done)
			slice(&jobs[j], &a[j], min_time, 0);
	}
	for (size_t j = 0; j < n; j++)
		if (!a[j].done)
			warm_up(&jobs[j], &a[j], min_time);
	for (bool busy = true; busy;) {
		busy = false;
		for (size_t j = 0; j < n; j++)
			if (!a[j].done) {
				slice(&jobs[j], &a[j], min_time, slice_s);
				busy |= !a[j].done;
			}
	}
	for (size_t j = 0; j < n; j++) {
		if (jobs[j].ok && a[j].n)
			bench_stats_compute(a[j].s, a[j].n, jobs[j].st);
		else if (jobs[j].ok) {
			jobs[j].ok = false;
			snprintf(jobs[j].err, jobs[j].errlen, "out of memory for samples");
		}
		free(a[j].s);
	}
	free(a);
}

int bench_call_model(void *ctx, size_t buf, char *err, size_t errlen)
{
	const struct bench_model_call *c = ctx;
	const struct bench_shape *s = c->s;
	float *y = c->b->y[buf]; /* [T x n] */
	struct qkv_call call = {
	    .struct_size = sizeof(call),
	    .T = c->b->T,
	    .x = c->b->x[buf],
	    .ldx = s->d_model,
	    .out = {y, y + s->d_q, y + s->d_q + s->d_kv},
	    .ld_out = {s->n, s->n, s->n},
	    .threads = (int32_t)c->threads,
	};
	return qkv_project_call(c->model, &call, err, errlen) != QKV_OK;
}

/* OpenBLAS to `threads` (a blas plugin may have set another); returns the caller's
 * OpenMP team size to restore after the call: OpenBLAS's OpenMP build, the one linked
 * here, sets it too, and a later row (oneDNN creates its primitive under it) would
 * otherwise inherit this row's count. */
static int blas_threads_set(unsigned threads)
{
	int old = omp_get_max_threads();
	openblas_set_num_threads((int)threads);
	return old;
}

int bench_call_sgemm(void *ctx, size_t buf, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct bench_blas_call *c = ctx;
	int T = (int)c->b->T, K = (int)c->s->d_model, N = (int)c->s->n;
	int old = blas_threads_set(c->threads);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, N, K, 1.0f, c->b->x[buf], K, c->w,
	            N, 0.0f, c->b->y[buf], N);
	omp_set_num_threads(old);
	return 0;
}

int bench_call_sgemv(void *ctx, size_t buf, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct bench_blas_call *c = ctx;
	int K = (int)c->s->d_model, N = (int)c->s->n;
	int old = blas_threads_set(c->threads);
	/* W is [K x N] row-major: y[n] = sum_k W[k][n] x[k] is W^T x. */
	cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, c->w, N, c->b->x[buf], 1, 0.0f,
	            c->b->y[buf], 1);
	omp_set_num_threads(old);
	return 0;
}

void bench_blas_detail(char *buf, size_t len)
{
	snprintf(buf, len, "OpenBLAS %s", openblas_get_corename());
}

double bench_weight_bytes(const struct bench_shape *s, uint32_t precision)
{
	double kn = (double)s->d_model * s->n;
	if (precision == QKV_INT8) /* int8 weights and an f32 scale per column */
		return kn + 4.0 * s->n;
	if (precision == QKV_BF16)
		return 2.0 * kn;
	if (precision == QKV_STORED && s->stored_bytes > 0)
		return s->stored_bytes;
	return 4.0 * kn;
}
