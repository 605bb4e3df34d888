/* Decode passes: every layer of a model once, in order, as a decode loop calls them, timed
 * as one pass. Timing one layer over and over (--all-layers' per-layer lines) keeps that
 * layer's weights in the last-level cache whenever they fit, so it says nothing about
 * decode from memory; a pass over a model larger than the caches does. */
#ifndef QKV_TOOL_BENCH_PASS_H
#define QKV_TOOL_BENCH_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_stats.h"

struct bench_pass {
	const char *config;    /* the model config */
	const char *backend;   /* forced, strict */
	const char *precision; /* qkv_open_options.precision: NULL = the config's */
	unsigned threads;
	size_t T;
	uint32_t layers; /* layers 0 .. layers - 1 */
	double min_time; /* seconds of timed passes (at least 5 passes) */
};

struct bench_pass_result {
	struct bench_stats st; /* seconds per pass */
	double weight_bytes;   /* qkv_model_info.weight_bytes, summed over the layers */
};

/* Open every layer, run 2 passes to warm up, then time passes. False with err when a
 * layer does not open or a call fails. */
bool bench_pass_run(const struct bench_pass *p, struct bench_pass_result *r, char *err,
                    size_t errlen);

#endif
