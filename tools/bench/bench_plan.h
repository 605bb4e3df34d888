/* What `qkv bench` and `qkv tune` measure, and the loop that measures it: every
 * (T, threads) pair gets the reference rows and one row per backend and precision. */
#ifndef QKV_TOOL_BENCH_PLAN_H
#define QKV_TOOL_BENCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_machine.h"
#include "bench_run.h"
#include "bench_shape.h"

#define BENCH_MAX_LIST 32

struct bench_plan {
	const char *config_path;  /* a model config, or NULL for the preset in `shape` */
	struct bench_shape shape; /* preset; filled from the config by bench_plan_resolve */
	size_t T[BENCH_MAX_LIST];
	size_t nT;
	size_t threads[BENCH_MAX_LIST];
	size_t nthreads;
	char backends[BENCH_MAX_LIST][32]; /* names; empty list = all on the search path */
	size_t nbackends;
	unsigned precisions;       /* QKV_PRECISION_BIT mask; 0 = default (f32, or the config's) */
	int32_t wtype;             /* a preset's rows of precision stored: its weights in this block
	                            * type (enum qkv_wtype; bench_stored.h); -1 = none */
	const char *stored_config; /* set by bench_plan_run while it measures such rows */
	unsigned layout;   /* enum qkv_layout of a preset's weights (a config has its own) */
	double min_time;   /* seconds of repetitions per row */
	double max_call;   /* skip a row whose calls are estimated slower than this */
	double interleave; /* > 0: time a group's rows in turns of this many seconds */
	bool references;   /* add cblas (and oneDNN) rows */
	bool overhead;     /* add NAME_direct rows: the plugin called without the core */
	uint32_t shard_rank, shard_world; /* world > 1: measure that head slice (--shard) */
	uint32_t layer_set, layer;        /* a config's layer (--layer, --all-layers) */
	bool quiet;                       /* no progress output */
};

struct bench_result {
	struct bench_shape shape;
	struct bench_row *rows;
	size_t n, cap;
	char notes[2048];    /* lines about backends passed over, references not built */
	size_t failed_named; /* backends named in --backends that could not be measured */
	double load[2];      /* 1-minute load average at start and end (-1: unknown) */
};

/* Resolve the plan: the shape and precision of a config, the backend list ("all" when
 * empty: every plugin on the search path with a non-zero probe score). Then measure.
 * Fails (false + err) only for errors that make every row meaningless: a config that
 * does not open, out of memory. A backend that fails gets rows saying why. */
bool bench_plan_run(struct bench_plan *p, const struct bench_machine *m, struct bench_result *r,
                    char *err, size_t errlen);
void bench_result_free(struct bench_result *r);

#endif
