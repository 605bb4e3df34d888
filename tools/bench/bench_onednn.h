/* Optional oneDNN reference rows (meson option `onednn`, Debian libdnnl-dev): the
 * matmul primitive on the same shape, in f32 and in int8 (u8/s8 activations and
 * weights, s32 accumulation, the library's own quantized kernel). When the library was
 * not found at build time, bench_onednn_none.c says so and adds no rows. */
#ifndef QKV_TOOL_BENCH_ONEDNN_H
#define QKV_TOOL_BENCH_ONEDNN_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_run.h"
#include "bench_shape.h"
#include "bench_stats.h"

/* True when built with oneDNN and `precision` (enum qkv_precision) has a row. */
bool bench_onednn_supports(unsigned precision);

/* "oneDNN 2.6.3 (cpu runtime: OpenMP)" or "not built (...)". */
const char *bench_onednn_status(void);

/* Set up oneDNN's matmul X [T x d_model] . W [d_model x n] on the buffers of b for
 * `threads` threads (weights reordered once); NULL with err when it cannot. `detail`
 * gets the library version and implementation. Time it with bench_onednn_call. */
void *bench_onednn_prepare(const struct bench_shape *s, const float *w,
                           const struct bench_buffers *b, unsigned precision, unsigned threads,
                           char *detail, size_t dlen, char *err, size_t errlen);
int bench_onednn_call(void *ctx, size_t buf, char *err, size_t errlen);
void bench_onednn_free(void *ctx); /* accepts NULL */

#endif
