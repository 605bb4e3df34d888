/* The stress loops (see stress.h). */
#include "stress.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/qkv.h>

#include "test_model.h"

const char *const stress_backends[] = {"scalar", "openmp", "blas", "int8", NULL};

/* Shared, immutable after setup: weights (in_out), the input and serial results. */
static float wq[STRESS_D * STRESS_DQ], wk[STRESS_D * STRESS_DKV], wv[STRESS_D * STRESS_DKV];
static float bq[STRESS_DQ], bk[STRESS_DKV], bv[STRESS_DKV];
static float x[STRESS_TMAX * STRESS_D]; /* [TMAX x D] */

struct outputs {
	float q[STRESS_TMAX * STRESS_DQ], k[STRESS_TMAX * STRESS_DKV], v[STRESS_TMAX * STRESS_DKV];
};
static struct outputs serial[STRESS_TMAX + 1]; /* serial[T]: the first T rows computed alone */

static float lcg(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

static void fill_data(void)
{
	unsigned s = 7;
	for (size_t i = 0; i < sizeof(wq) / sizeof(float); i++)
		wq[i] = lcg(&s);
	for (size_t i = 0; i < sizeof(wk) / sizeof(float); i++) {
		wk[i] = lcg(&s);
		wv[i] = lcg(&s);
	}
	for (size_t i = 0; i < STRESS_DQ; i++)
		bq[i] = lcg(&s);
	for (size_t i = 0; i < STRESS_DKV; i++) {
		bk[i] = lcg(&s);
		bv[i] = lcg(&s);
	}
	for (size_t i = 0; i < sizeof(x) / sizeof(float); i++)
		x[i] = lcg(&s);
}

/* Open `backend` strictly with its first precision among f32, int8, bf16. */
static qkv_model *open_model(const char *backend, int threads, struct stress_report *r)
{
	static const uint32_t precisions[] = {QKV_F32, QKV_INT8, QKV_BF16};
	fill_data();
	for (size_t i = 0; i < 3; i++) {
		struct qkv_model_desc d =
		    test_model_desc(STRESS_D, STRESS_HEADS, STRESS_KV_HEADS, STRESS_HEAD_DIM,
		                    QKV_LAYOUT_IN_OUT, wq, wk, wv);
		d.precision = precisions[i];
		d.bias[0] = bq;
		d.bias[1] = bk;
		d.bias[2] = bv;
		d.prefer = backend;
		d.strict = 1;
		d.threads = threads;
		qkv_model *m = NULL;
		if (qkv_model_open_memory(&d, &m, r->msg, sizeof(r->msg)) == QKV_OK) {
			r->opened = 1;
			return m;
		}
	}
	return NULL;
}

static enum qkv_status project(const qkv_model *m, size_t T, struct outputs *o, char *err,
                               size_t errlen)
{
	return qkv_project(m, T, x, STRESS_D, o->q, STRESS_DQ, o->k, STRESS_DKV, o->v, STRESS_DKV,
	                   err, errlen);
}

static int compute_serial(const qkv_model *m, struct stress_report *r)
{
	for (size_t T = 1; T <= STRESS_TMAX; T++) {
		memset(&serial[T], 0, sizeof(serial[T]));
		if (project(m, T, &serial[T], r->msg, sizeof(r->msg)) != QKV_OK)
			return 0;
	}
	return 1;
}

/* Only the first T rows are compared: the rest of each buffer is never written. */
static int same(const struct outputs *a, const struct outputs *b, size_t T)
{
	return !memcmp(a->q, b->q, T * STRESS_DQ * sizeof(float)) &&
	       !memcmp(a->k, b->k, T * STRESS_DKV * sizeof(float)) &&
	       !memcmp(a->v, b->v, T * STRESS_DKV * sizeof(float));
}

struct worker {
	const qkv_model *m;
	int id, calls;
	atomic_ulong *failures, *mismatch;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct outputs *o = malloc(sizeof(*o));
	char err[256];
	if (!o) {
		atomic_fetch_add(w->failures, (unsigned long)w->calls);
		return NULL;
	}
	for (int i = 0; i < w->calls; i++) {
		size_t T = 1 + (size_t)(w->id * 7 + i * 5) % STRESS_TMAX; /* mixed T */
		if (project(w->m, T, o, err, sizeof(err)) != QKV_OK)
			atomic_fetch_add(w->failures, 1);
		else if (!same(o, &serial[T], T))
			atomic_fetch_add(w->mismatch, 1);
	}
	free(o);
	return NULL;
}

/* The model on `backend` (2 threads) with the serial results computed, or NULL with r
 * saying why (r is cleared first). */
static qkv_model *open_with_serial(const char *backend, struct stress_report *r)
{
	memset(r, 0, sizeof(*r));
	qkv_model *m = open_model(backend, 2, r);
	if (m && !compute_serial(m, r)) {
		r->failures = 1;
		qkv_model_close(m);
		return NULL;
	}
	return m;
}

void stress_threads(const char *backend, int n_threads, int calls, struct stress_report *r)
{
	qkv_model *m = open_with_serial(backend, r);
	if (!m)
		return;
	atomic_ulong failures = 0, mismatch = 0;
	pthread_t tid[64];
	struct worker w[64];
	if (n_threads > 64)
		n_threads = 64;
	int started = 0;
	for (int i = 0; i < n_threads; i++) {
		w[i] = (struct worker){m, i, calls, &failures, &mismatch};
		if (pthread_create(&tid[i], NULL, work, &w[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	r->calls = (unsigned long)started * (unsigned long)calls;
	r->failures = failures + (unsigned long)(n_threads - started) * (unsigned long)calls;
	r->mismatch = mismatch;
	qkv_model_close(m);
}

/* OS threads of this process now (Linux), or -1. */
static long os_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long n = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

void stress_omp_region(const char *backend, int team, int calls, struct stress_report *r)
{
	qkv_model *m = open_with_serial(backend, r);
	if (!m)
		return;
	unsigned long failures = 0, mismatch = 0;
	int sink = 0;
	/* The caller's own team exists before the measured region. */
#pragma omp parallel num_threads(team) reduction(+ : sink)
	sink += omp_get_thread_num();
	(void)sink;
	long before = os_threads();
#pragma omp parallel num_threads(team) reduction(+ : failures, mismatch)
	{
		struct outputs *o = malloc(sizeof(*o));
		char err[256];
		int id = omp_get_thread_num();
		for (int i = 0; o && i < calls; i++) {
			size_t T = 1 + (size_t)(id * 3 + i) % STRESS_TMAX;
			if (project(m, T, o, err, sizeof(err)) != QKV_OK)
				failures++;
			else if (!same(o, &serial[T], T))
				mismatch++;
		}
		if (!o)
			failures += (unsigned long)calls;
		free(o);
	}
	r->thread_growth = os_threads() - before;
	r->calls = (unsigned long)team * (unsigned long)calls;
	r->failures = failures;
	r->mismatch = mismatch;
	qkv_model_close(m);
}
