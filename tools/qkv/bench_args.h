/* What `qkv bench` and `qkv tune` share: their common options and how they become a
 * bench plan (cmd_bench.c). */
#ifndef QKV_TOOLS_BENCH_ARGS_H
#define QKV_TOOLS_BENCH_ARGS_H

#include "bench_plan.h"
#include "commands.h"

/* The options both commands take, in their help order (each spec adds its own). */
#define BENCH_COMMON_OPTS                                                                          \
	{OPT_PRESET, NULL, "gpt2-small, llama2-7b, llama3-8b or tiny, instead of CONFIG"},         \
	    {OPT_BACKEND, "LIST|all", "backends to measure (default all: every plugin found)"},    \
	    {OPT_PRECISION, NULL,                                                                  \
	     "f32, bf16, int8, stored (comma-separated); on a preset also one block type\n"        \
	     "(q8_0, q4_0, q4_k, q5_k, q6_k): its weights quantized into a GGUF file\n"            \
	     "in $TMPDIR (removed after), measured as precision stored"},                          \
	    {OPT_MIN_TIME, NULL, NULL}, {OPT_MAX_CALL, NULL, NULL}, {OPT_INTERLEAVE, NULL, NULL},  \
	    {OPT_LAYOUT, NULL, NULL}, {OPT_PLUGIN_DIR, NULL, NULL},                                \
	{                                                                                          \
		OPT_QUIET, NULL, NULL                                                              \
	}

/* Fill the plan from the options: 0, or 2 after printing a usage error. Backend names
 * are checked here, before anything is measured. */
int bench_args_plan(const struct cli_spec *sp, const struct cli_args *a, struct bench_plan *p,
                    const char *default_tokens, double default_min_time);

/* argv joined with spaces, "qkv" first, into buf. */
void bench_args_command(int argc, char **argv, char *buf, size_t len);

#endif
