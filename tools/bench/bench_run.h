/* One measured row of `qkv bench`: the timing loop (warm-up, repetitions until a
 * minimum time, rotating buffers) and the calls it times: a qkv model, or a reference
 * library call on the same shape. */
#ifndef QKV_TOOL_BENCH_RUN_H
#define QKV_TOOL_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkv/precision.h> /* bench_row.precision: qkv_precision_name */
#include <qkv/qkv.h>

#include "bench_shape.h"
#include "bench_stats.h"
#include "bench_threads.h"

/* A row's precision by name ("?" for a value that is not one, never NULL). */
static inline const char *bench_precision_name(uint32_t precision)
{
	const char *n = qkv_precision_name(precision);
	return n ? n : "?";
}

enum bench_kind { BENCH_BACKEND = 0, BENCH_REFERENCE = 1 };

/* Room for a backend's whole probe detail (the plugin ABI's 256) or a library's */
#define BENCH_DETAIL 256

struct bench_row {
	char backend[40]; /* plugin name, or a reference: "cblas_sgemm", "onednn_f32", ... */
	enum bench_kind kind;
	uint32_t precision; /* enum qkv_precision (<qkv/precision.h> names it) */
	size_t T;
	unsigned threads;
	bool ok; /* measured; else `status` says why not */
	char status[256];
	char detail[BENCH_DETAIL]; /* what the backend's probe said, or the library */
	struct bench_stats st;     /* seconds per call */
	unsigned attempts;         /* measurements made (more than 1: the first were noisy) */
	bool noisy;                /* still noisy after the last attempt (bench_stats_noisy) */
	double prepare_s;          /* model open (select + prepare) time; 0 for references */
	double first_call_s;       /* the row's first call (cold: a backend's per-T setup, e.g. the
	                            * oneDNN primitive for a new T, shows here) */
	double bytes_prepared;     /* backend rows: what the backend made at prepare (model info) */
	double bytes_in_place;     /* backend rows: weight bytes it reads from the file in place */
	unsigned threads_busy; /* threads that worked during the timed calls (bench_threads.h) */
	double cpu_per_wall;   /* process CPU time / wall time of the timed calls */
	/* derived (bench_row_derive) */
	double gflops;     /* 2*T*d_model*N / median */
	double weight_gbs; /* weight bytes of the precision / median */
	double peak_pct, bw_pct;
	double vs_sgemm, vs_sgemv; /* reference time / this time (> 1 = faster); 0 = none */
};

/* Rotating inputs and outputs: nbuf sets of X [T x d_model] and Y [T x n], cycled call
 * after call so small shapes do not keep X and Y hot in L1/L2 between calls. */
#define BENCH_MAX_BUFS 16
struct bench_buffers {
	size_t T, nbuf, d_model, n;
	float *x[BENCH_MAX_BUFS]; /* [T x d_model] */
	float *y[BENCH_MAX_BUFS]; /* [T x n]: q | k | v side by side, row stride n */
};
bool bench_buffers_make(struct bench_buffers *b, const struct bench_shape *s, size_t T);
void bench_buffers_free(struct bench_buffers *b);

/* A call to time: returns 0, or non-zero with a message in err. `buf` selects the
 * buffer set. */
typedef int (*bench_call_fn)(void *ctx, size_t buf, char *err, size_t errlen);

/* One call to time inside a group; st, ok and err are outputs. */
struct bench_job {
	bench_call_fn fn;
	void *ctx;
	size_t nbuf;
	struct bench_stats *st;
	bool ok;
	char *err;
	size_t errlen;
	double first_s;          /* out: seconds of the job's first call, before any warm-up */
	struct bench_busy *busy; /* NULL, or out: CPU time per thread over the timed calls */
};

/* Time several calls. With slice_s <= 0 one after the other, each warmed up and then
 * called until it has min_time of calls (and at least 5 unless that takes more than
 * 3*min_time). With slice_s > 0 interleaved: after a warm-up of each, every job in turn
 * runs for a slice of slice_s seconds, round after round, so that load coming and going
 * on a shared machine hits every row alike. (Libraries whose idle threads spin after a
 * call, OpenBLAS and OpenMP runtimes, slow the start of the next slice a little; on
 * this shared 2-core machine that costs far less than load drifting between rows:
 * blas/sgemm ratios, which should be 1, spread 0.15-1.83 one row after the other and
 * 0.75-1.20 in 50 ms turns.) A job whose call fails stops alone. */
void bench_time_group(struct bench_job *jobs, size_t n, double min_time, double slice_s);

/* Calls on a qkv model through the public API (per-call thread count). */
struct bench_model_call {
	const qkv_model *model;
	const struct bench_shape *s;
	const struct bench_buffers *b;
	unsigned threads;
};
int bench_call_model(void *ctx, size_t buf, char *err, size_t errlen);

/* Direct OpenBLAS calls on the fused weights W [d_model x n]: Y = X.W with sgemm, or
 * y = W^T x with sgemv (T = 1), OpenBLAS set to `threads` before each call. */
struct bench_blas_call {
	const struct bench_shape *s;
	const struct bench_buffers *b;
	const float *w; /* [d_model x n] */
	unsigned threads;
};
int bench_call_sgemm(void *ctx, size_t buf, char *err, size_t errlen);
int bench_call_sgemv(void *ctx, size_t buf, char *err, size_t errlen);
void bench_blas_detail(char *buf, size_t len); /* "OpenBLAS Zen" */

/* Bytes of weights a call reads in a precision (f32 4, bf16 2, int8 1 + per-column scales). */
double bench_weight_bytes(const struct bench_shape *s, uint32_t precision);

#endif
