/* Output of `qkv bench`: the table on stdout, --json and --csv files. */
#ifndef QKV_TOOL_BENCH_REPORT_H
#define QKV_TOOL_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench_machine.h"
#include "bench_plan.h"

/* The key rows are matched by across runs: "backend/precision/T=t/threads=h". */
/* How the run's weights are stored: "in_out", "out_in", or "config" (as it says). */
const char *bench_layout_name(const struct bench_plan *p);
void bench_row_key(const struct bench_row *row, char *buf, size_t len);

/* A row above 100 % of the measured peak: the peak loop was too slow for this CPU, so
 * %peak is reported as broken, not printed. */
bool bench_row_peak_broken(const struct bench_row *row);
/* The threads that worked during a row differ from the threads it asked for (a
 * reference library that fixed its team size elsewhere, or a backend backing off). */
bool bench_row_threads_differ(const struct bench_row *row);

/* The machine line: "AMD EPYC, 2 cores (avx2 fma ...), fp32 peak ..., read ...". */
void bench_machine_line(const struct bench_machine *m, char *buf, size_t len);

void bench_report_table(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                        const struct bench_plan *p);

/* Write the whole run (machine, shape, plan, rows) as JSON, CSV, or the table as
 * Markdown (for README/docs); `command` is the command line, recorded for provenance.
 * False when the FILE saw a write error. */
bool bench_report_json(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                       const struct bench_plan *p, const char *command);
bool bench_report_csv(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                      const struct bench_plan *p, const char *command);
bool bench_report_markdown(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                           const struct bench_plan *p, const char *command);

#endif
