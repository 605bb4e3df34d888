/* `qkv bench --overhead`: time a backend's `project` called directly on a handle its own
 * `prepare` made, bypassing the core, so that the API row minus this row is what the
 * dispatcher (argument checks, routing, batch set-up) costs per call. */
#ifndef QKV_TOOL_BENCH_DIRECT_H
#define QKV_TOOL_BENCH_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_run.h"
#include "bench_shape.h"

/* Load backend `name` and prepare it on weights `w` (in `layout`), precision `prec`,
 * for calls on the buffers of b with `threads`; NULL with err when it cannot. */
void *bench_direct_prepare(const char *name, const struct bench_shape *s,
                           const struct bench_weights *w, unsigned layout, unsigned prec,
                           const struct bench_buffers *b, unsigned threads, char *err,
                           size_t errlen);
int bench_direct_call(void *ctx, size_t buf, char *err, size_t errlen);
void bench_direct_free(void *ctx); /* accepts NULL */

#endif
