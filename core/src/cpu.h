/* What this CPU is and which SIMD features it (and the OS) can use: for `qkv info`,
 * machine profiles written by `qkv tune`, and selection messages. */
#ifndef QKV_CORE_CPU_H
#define QKV_CORE_CPU_H

#include <stddef.h>

/* The CPU model name ("AMD EPYC 9R14 96-Core Processor"), or "unknown". */
void qkv_cpu_name(char *buf, size_t len);

/* Space-separated SIMD features usable here, each present in CPUID and enabled by the
 * OS (XCR0): e.g. "sse4.2 avx avx2 fma f16c avx512f avx512bw avx512vnni avx512bf16". */
void qkv_cpu_features(char *buf, size_t len);

/* Logical CPUs this process may run on: its affinity mask (sched_getaffinity), >= 1. */
unsigned qkv_cpu_count(void);

/* What a thread budget of 0 ("all cores") means: OMP_NUM_THREADS when it is set to a
 * count (its first, outer-level entry), else qkv_cpu_count(); at most QKV_MAX_THREADS. */
unsigned qkv_threads_all(void);

#endif
