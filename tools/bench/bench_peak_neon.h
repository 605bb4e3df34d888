/* aarch64 peak loops for `qkv bench`: the fp32 peak (fmla v.4s) and the int8 peak of the
 * fastest exact int8 instruction this CPU has (smmla with i8mm, sdot with the dot product,
 * else smull + sadalp, the sequences of backends/int8/kernel_neon.c), so the first ARM
 * machine that runs `qkv bench` gets "% of peak" columns. Declared on aarch64 only.
 * Figures: not yet measured (no ARM machine here; qemu runs are not timed). */
#ifndef QKV_TOOL_BENCH_PEAK_NEON_H
#define QKV_TOOL_BENCH_PEAK_NEON_H

#include <stddef.h>

#if defined(__aarch64__)
/* 16 independent fmla chains; returns the fp32 operations done (2 per lane). */
double bench_neon_fma_loop(size_t iters);

/* Independent chains of the best exact int8 sequence; returns the operations done (one
 * multiply-add = 2). */
double bench_neon_int8_loop(size_t iters);

/* "smmla (i8mm)", "sdot (dotprod)" or "smull+sadalp (neon)". */
const char *bench_neon_int8_name(void);
#endif

#endif
