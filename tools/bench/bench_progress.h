/* Progress on stderr for long runs: a redrawn bar when stderr is a terminal, one plain
 * line per step otherwise (logs, CI). Only the CLI prints; this is CLI code. */
#ifndef QKV_TOOL_BENCH_PROGRESS_H
#define QKV_TOOL_BENCH_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

void bench_progress_start(size_t total, bool quiet);
void bench_progress_step(const char *label); /* about to run step i+1 of total */
void bench_progress_end(void);
void bench_log(const char *msg); /* a message line that keeps the bar intact */

#endif
