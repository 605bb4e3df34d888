#include "bench_run.h"

#include <cblas.h>
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

bool bench_time(bench_call_fn fn, void *ctx, size_t nbuf, double min_time, struct bench_stats *st,
                char *err, size_t errlen)
{
	size_t buf = 0;
	/* Warm-up: first-touch, lazy plugin work, CPU clocks ramping up. */
	double t0 = bench_now();
	do {
		if (fn(ctx, buf, err, errlen))
			return false;
		buf = (buf + 1) % nbuf;
	} while (bench_now() - t0 < 0.1 * min_time);

	size_t cap = 1024, n = 0;
	double *s = malloc(cap * sizeof(*s)); /* [n] seconds per call */
	if (!s) {
		snprintf(err, errlen, "out of memory for samples");
		return false;
	}
	double start = bench_now(), now = start;
	while (n < MAX_SAMPLES) {
		double a = bench_now();
		if (fn(ctx, buf, err, errlen)) {
			free(s);
			return false;
		}
		now = bench_now();
		buf = (buf + 1) % nbuf;
		if (n == cap) {
			double *g = realloc(s, 2 * cap * sizeof(*s));
			if (!g)
				break;
			s = g;
			cap *= 2;
		}
		s[n++] = now - a;
		double el = now - start;
		if (el >= min_time && (n >= 5 || el >= 3 * min_time))
			break;
	}
	bench_stats_compute(s, n, st);
	free(s);
	return true;
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

int bench_call_sgemm(void *ctx, size_t buf, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct bench_blas_call *c = ctx;
	int T = (int)c->b->T, K = (int)c->s->d_model, N = (int)c->s->n;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, N, K, 1.0f, c->b->x[buf], K, c->w,
	            N, 0.0f, c->b->y[buf], N);
	return 0;
}

int bench_call_sgemv(void *ctx, size_t buf, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct bench_blas_call *c = ctx;
	int K = (int)c->s->d_model, N = (int)c->s->n;
	/* W is [K x N] row-major: y[n] = sum_k W[k][n] x[k] is W^T x. */
	cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, c->w, N, c->b->x[buf], 1, 0.0f,
	            c->b->y[buf], 1);
	return 0;
}

void bench_blas_threads(unsigned threads)
{
	openblas_set_num_threads((int)threads);
}

void bench_blas_detail(char *buf, size_t len)
{
	snprintf(buf, len, "OpenBLAS %s", openblas_get_corename());
}

double bench_weight_bytes(const struct bench_shape *s, const char *precision)
{
	double kn = (double)s->d_model * s->n;
	if (!strcmp(precision, "int8"))
		return kn + 4.0 * s->n;
	if (!strcmp(precision, "bf16"))
		return 2.0 * kn;
	return 4.0 * kn;
}
