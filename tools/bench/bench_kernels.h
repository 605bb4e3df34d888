/* Machine-measurement kernels for `qkv bench`: an unrolled FMA loop (fp32 peak) and a
 * read-only vectorised sum (memory read bandwidth). AVX2+FMA when the CPU and the OS
 * support it (chosen at run time), portable C otherwise. Single-threaded: callers run
 * them on each thread of a parallel region. */
#ifndef QKV_TOOL_BENCH_KERNELS_H
#define QKV_TOOL_BENCH_KERNELS_H

#include <stddef.h>

/* Run `iters` iterations of independent FMA chains; returns the floating-point
 * operations done (an FMA counts 2). The result is kept alive in a sink. */
double bench_fma_loop(size_t iters);

/* Sum a[n] with as many independent vector accumulators as hide the add latency. */
float bench_read_sum(const float *a, size_t n);

/* Which kernel the two functions above use: "avx2+fma" or "portable C". */
const char *bench_kernel_name(void);

#endif
