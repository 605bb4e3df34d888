/* Machine-measurement kernels for `qkv bench`: an unrolled FMA loop (fp32 peak) and a
 * read-only vectorised sum (memory read bandwidth). The FMA loop uses the widest FMA the
 * CPU and the OS support (zmm with AVX-512F, else ymm with AVX2+FMA, chosen at run time),
 * the sum AVX2; portable C otherwise. Single-threaded: callers run
 * them on each thread of a parallel region. */
#ifndef QKV_TOOL_BENCH_KERNELS_H
#define QKV_TOOL_BENCH_KERNELS_H

#include <stddef.h>

/* Run `iters` iterations of independent FMA chains; returns the floating-point
 * operations done (an FMA counts 2). The result is kept alive in a sink. */
double bench_fma_loop(size_t iters);

/* Sum a[n] with as many independent vector accumulators as hide the add latency, reading
 * it as `streams` (>= 1) consecutive parts in turns of two cache lines each: one core's
 * read rate depends on how many streams its prefetchers track (Zen 3, 1 GiB: 21 GB/s
 * with one, 28 with six). */
float bench_read_sum(const float *a, size_t n, int streams);

/* Which ISA the fp32 peak was measured with, for the machine line: "avx512f zmm fma"
 * (the read sum then uses AVX2), "avx2+fma" or "portable C". */
const char *bench_kernel_name(void);

/* Peak rate of a loop like bench_fma_loop (returns the operations it did; <= 0 when it
 * cannot run here): calibrated on one thread from `start_iters` to about 0.1 s of CPU,
 * then the best of 5 trials of `threads` threads, each rate counted per thread CPU time
 * (robust to other processes) and summed. In units of 1e9 operations per second; 0 when
 * the loop cannot run. Used for the fp32 peak and the int8 peak alike. */
double bench_loop_rate(double (*loop)(size_t iters), size_t start_iters, unsigned threads);

#endif
