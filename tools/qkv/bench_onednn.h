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

/* Time oneDNN's matmul X [T x d_model] . W [d_model x n] with `threads` threads. */
bool bench_onednn_time(const struct bench_shape *s, const float *w, const struct bench_buffers *b,
                       unsigned precision, unsigned threads, double min_time,
                       struct bench_stats *st, char *detail, size_t dlen, char *err, size_t errlen);

#endif
