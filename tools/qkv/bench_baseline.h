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
	double median, p10, p90; /* seconds */
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
 *     noise = (old_p90 - old_p10)/2 + (new_p90 - new_p10)/2,
 * i.e. it is slower by more than the threshold even after giving both runs the benefit
 * of their own spread. Writes one line per compared row to `out`; returns how many
 * rows regressed. */
size_t bench_baseline_compare(const struct bench_baseline *b, const struct bench_result *r,
                              double threshold_pct, FILE *out);

#endif
