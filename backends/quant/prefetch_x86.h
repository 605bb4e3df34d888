/* The panel kernels' prefetches (x86), shared by the zmm panels of panel_avx512.c and the
 * ymm panels of panel_avx2.c. */
#ifndef QKV_QUANT_PREFETCH_X86_H
#define QKV_QUANT_PREFETCH_X86_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "simd.h"

/* Bytes ahead in a panel stream. Decoding a model larger than the caches (T = 1, every
 * layer once per pass: `qkv bench --all-layers`) the panels stream from memory, and the
 * hardware prefetcher alone kept one core at about half its read bandwidth: Llama-3-8B
 * Q4_K, 16 layers, 1 thread, Zen 5: 13.2-17.3 ms a pass without, 7.5-7.6 ms with 16 KiB
 * ahead (4 KiB: 7.8-10.8 ms). Prefetching past the end of the panels is harmless (no
 * fault). */
#define QUANT_PREFETCH 16384

/* Prefetch the cache lines of [p, p + bytes) QUANT_PREFETCH bytes ahead: once per block. */
static inline void quant_prefetch(const uint8_t *p, size_t bytes)
{
	uintptr_t a = ((uintptr_t)p + QUANT_PREFETCH) & ~(uintptr_t)63;
	for (uintptr_t end = (uintptr_t)p + QUANT_PREFETCH + bytes; a < end; a += 64)
		_mm_prefetch((const char *)a, _MM_HINT_T0);
}

/* A panel kernel's prefetches in block b (kernel.h's struct quant_pf), part k of n: its
 * own stream ahead, the block's bytes in n parts, so that a large block (6.7 KB of a
 * 32-row Q6_K super-block) does not send 100 prefetches at once (decode was 6-40 % slower
 * so); or at part 0 its share of the next panel into L2. */
static inline void panel_prefetch(const uint8_t *blk, size_t bytes, struct quant_pf pf, size_t b,
                                  int k, int n)
{
	if (!pf.step) {
		size_t lo = bytes * (size_t)k / (size_t)n, hi = bytes * (size_t)(k + 1) / (size_t)n;
		quant_prefetch(blk + lo, hi - lo);
		return;
	}
	if (k)
		return;
	if (!pf.next)
		return;
	uintptr_t a = ((uintptr_t)pf.next + b * pf.step) & ~(uintptr_t)63;
	for (uintptr_t end = (uintptr_t)pf.next + (b + 1) * pf.step; a < end; a += 64)
		_mm_prefetch((const char *)a, _MM_HINT_T1);
}

#endif
