/* This machine's measured fp32 peak and memory read bandwidth, the denominators of the
 * "% of peak" and "% of bandwidth" columns. Measured once and cached per machine in
 * $XDG_CACHE_HOME/qkv (or ~/.cache/qkv), keyed by CPU model, SIMD flags and core count. */
#ifndef QKV_TOOL_BENCH_MACHINE_H
#define QKV_TOOL_BENCH_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#define BENCH_MACHINE_MAXT 4

struct bench_machine {
	char cpu[128];
	char flags[512];
	unsigned cores;
	char kernel[32];                      /* kernel that measured it ("avx2+fma") */
	size_t n;                             /* thread counts measured */
	unsigned threads[BENCH_MACHINE_MAXT]; /* ascending: 1, 2, cores */
	double peak_gflops[BENCH_MACHINE_MAXT];
	double read_gbs[BENCH_MACHINE_MAXT];
	double peak_int8_gops[BENCH_MACHINE_MAXT]; /* bench_peak_int8.h */
	char kernel_int8[48];                      /* sequence that measured it */
	char cache_path[512];                      /* where it was cached ("" when not) */
	bool from_cache;
};

/* Fill `m`: from the cache unless `remeasure`, else measure (a few seconds) and write
 * the cache. `log` (may be NULL) receives progress text for stderr. Fails only when
 * the measurement buffer cannot be allocated. */
bool bench_machine_get(struct bench_machine *m, bool remeasure, void (*log)(const char *msg),
                       char *err, size_t errlen);

/* Peak GFLOP/s and read GB/s for `threads` threads: the measured value for that count,
 * else the one-thread peak times threads and the best bandwidth measured with at most
 * that many threads. */
double bench_machine_peak(const struct bench_machine *m, unsigned threads);
double bench_machine_bw(const struct bench_machine *m, unsigned threads);

#endif
