/* This machine's int8 peak, the denominator of "% of peak" for int8 rows: the
 * multiply-add rate of the fastest exact int8 instruction sequence usable here
 * (vpdpbusd zmm with AVX-512 VNNI, else vpdpbusd ymm with AVX-VNNI, else AVX2's
 * multiplier vpmaddubsw with vpaddw, one per 32 multiply-adds; on aarch64
 * smmla, sdot or smull + sadalp, bench_peak_neon.h). One
 * multiply-add counts 2 operations, as the int8 rows' GOP/s do. Measured with the fp32
 * peak and cached next to it (bench_machine.c). */
#ifndef QKV_TOOL_BENCH_PEAK_INT8_H
#define QKV_TOOL_BENCH_PEAK_INT8_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_machine.h"

/* Run `iters` iterations of independent chains of the chosen sequence; returns the
 * operations done. 0 where no SIMD int8 sequence is usable (portable builds). */
double bench_int8_loop(size_t iters);

/* The sequence bench_int8_loop runs: "vpdpbusd zmm", "vpdpbusd ymm (AVX-VNNI)",
 * "avx2 vpmaddubsw+vpaddw", an aarch64 one (bench_neon_int8_name) or
 * "none". */
const char *bench_int8_kernel_name(void);

/* Fill m->peak_int8_gops and m->kernel_int8 for every thread count m has: from
 * `cache_path`-int8 unless `remeasure` or stale, else measure (about a second) and
 * write that cache. `log` (may be NULL) receives progress text. */
void bench_peak_int8_fill(struct bench_machine *m, bool remeasure, void (*log)(const char *msg));

/* int8 peak GOP/s for `threads` threads (the measured count, else one thread's times
 * threads); 0 when not measured. */
double bench_machine_peak_int8(const struct bench_machine *m, unsigned threads);

#endif
