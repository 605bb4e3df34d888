/* Output of `qkv bench`: the table on stdout, --json and --csv files. */
#ifndef QKV_TOOL_BENCH_REPORT_H
#define QKV_TOOL_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench_machine.h"
#include "bench_plan.h"

/* The key rows are matched by across runs: "backend/precision/T=t/threads=h". */
void bench_row_key(const struct bench_row *row, char *buf, size_t len);

/* The machine line: "AMD EPYC, 2 cores (avx2 fma ...), fp32 peak ..., read ...". */
void bench_machine_line(const struct bench_machine *m, char *buf, size_t len);

void bench_report_table(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                        const struct bench_plan *p);

/* Write the whole run (machine, shape, plan, rows) as JSON or CSV; `command` is the
 * command line, recorded for provenance. False with err naming the file. */
bool bench_report_json(const char *path, const struct bench_result *r,
                       const struct bench_machine *m, const struct bench_plan *p,
                       const char *command, char *err, size_t errlen);
/* The table as Markdown (for README/docs), with the machine line and the command. */
bool bench_report_markdown(const char *path, const struct bench_result *r,
                           const struct bench_machine *m, const struct bench_plan *p,
                           const char *command, char *err, size_t errlen);
bool bench_report_csv(const char *path, const struct bench_result *r, char *err, size_t errlen);

#endif
