/* `qkv bench --plot F.svg|F.png`: GFLOP/s against T, one line per backend, precision and
 * thread count. SVG is written directly (no dependency); PNG goes through gnuplot when it
 * is installed and is refused with a clear message otherwise. */
#ifndef QKV_TOOL_BENCH_PLOT_H
#define QKV_TOOL_BENCH_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_plan.h"

/* The file name ends in .svg, or .png and gnuplot is installed; else false + err.
 * Checked before measuring, so a typo does not cost a run. */
bool bench_plot_check(const char *path, char *err, size_t errlen);
bool bench_plot_write(const char *path, const struct bench_result *r, const char *title, char *err,
                      size_t errlen);

#endif
