/* `qkv bench --baseline OLD.json`: read the rows of an earlier --json run and flag rows
 * that got slower than a threshold beyond the measured noise. */
#ifndef QKV_TOOL_BENCH_BASELINE_H
#define QKV_TOOL_BENCH_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench_machine.h"
#include "bench_plan.h"

struct bench_base_row {
	char key[128];
	bool ok, reference;
	double median, p10, p90, mad; /* seconds */
	double reps;                  /* samples behind the median */
};

struct bench_baseline {
	char cpu[128], flags[512], version[32], shape_name[64];
	char layout[16]; /* shape.layout: in_out, out_in, config; "" in older files */
	double cores;
	double dims[4]; /* d_model, n_heads, n_kv_heads, head_dim */
	struct bench_base_row *rows;
	size_t n;
};

/* Read a --json file (JSON is YAML: libyaml's parser reads it). Errors name the file,
 * line and what was expected. */
bool bench_baseline_load(const char *path, struct bench_baseline *b, char *err, size_t errlen);
void bench_baseline_free(struct bench_baseline *b);

/* Compare rows of the same backend, precision, T and threads, when the baseline was
 * measured on the same shape and machine (CPU, flags, cores); otherwise nothing is
 * compared and -1 is returned after saying why. A row regresses when
 *     new_median > old_median * (1 + threshold_pct/100) + noise,
 *     noise = 3 * sqrt(se_old^2 + se_new^2),  se = 1.86 * MAD / sqrt(reps),
 * se being the standard error of a median (1.253 sigma / sqrt(n), sigma ~ 1.4826 MAD).
 * MAD rather than p10-p90 because a busy machine gives long tails (a sleep that
 * overshoots, a preempted call) that say little about where the median lies. The
 * threshold covers what sampling does not: clocks, other load, run-to-run drift.
 * Reference rows (library calls) are compared but counted only with gate_all. Writes
 * one line per row to `out`; returns how many gated rows regressed. */
long bench_baseline_compare(const struct bench_baseline *b, const struct bench_result *r,
                            const struct bench_machine *m, const char *layout, double threshold_pct,
                            bool gate_all, FILE *out);

#endif
