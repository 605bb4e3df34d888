/* `qkv bench --overhead`: time a backend's `project` called directly on a handle its own
 * `prepare` made, bypassing the core, so that the API row minus this row is what the
 * dispatcher (argument checks, routing, batch set-up) costs per call. */
#ifndef QKV_TOOL_BENCH_DIRECT_H
#define QKV_TOOL_BENCH_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_run.h"
#include "bench_shape.h"

/* Time backend `name` on weights `w` (in `layout`), precision `prec`. */
bool bench_direct_time(const char *name, const struct bench_shape *s, const struct bench_weights *w,
                       unsigned layout, unsigned prec, const struct bench_buffers *b,
                       unsigned threads, double min_time, struct bench_stats *st, char *err,
                       size_t errlen);

#endif
