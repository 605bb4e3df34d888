/* `qkv bench --baseline OLD.json`: read the rows of an earlier --json run and flag rows
 * that got slower than a threshold beyond the measured noise. */
#ifndef QKV_TOOL_BENCH_BASELINE_H
#define QKV_TOOL_BENCH_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench_plan.h"

struct bench_base_row {
	char key[128];
	bool ok;
	double median, p10, p90, mad; /* seconds */
	double reps;                  /* samples behind the median */
};

struct bench_baseline {
	char cpu[128];
	struct bench_base_row *rows;
	size_t n;
};

/* Parse a --json file. Errors name the file, line and what was expected. */
bool bench_baseline_load(const char *path, struct bench_baseline *b, char *err, size_t errlen);
void bench_baseline_free(struct bench_baseline *b);

/* Compare rows with equal keys. A row regresses when
 *     new_median > old_median * (1 + threshold_pct/100) + noise,
 *     noise = 3 * sqrt(se_old^2 + se_new^2),  se = 1.86 * MAD / sqrt(reps),
 * se being the standard error of a median (1.253 sigma / sqrt(n), sigma ~ 1.4826 MAD).
 * MAD rather than p10-p90 because a busy machine gives long tails (a sleep that
 * overshoots, a preempted call) that say little about where the median lies. The
 * threshold covers what sampling does not: clocks, other load, run-to-run drift. Writes one line
 * per compared row to `out`; returns how many rows regressed. */
size_t bench_baseline_compare(const struct bench_baseline *b, const struct bench_result *r,
                              double threshold_pct, FILE *out);

#endif
