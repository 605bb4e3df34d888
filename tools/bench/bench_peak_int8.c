/* int8 peak of this machine (bench_peak_int8.h). The x86 loops carry target attributes,
 * so the tool stays baseline x86-64; <qkv/cpu_features.h> decides which one may run. The
 * aarch64 loops are in bench_peak_neon.c. */
#include "bench_peak_int8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench_kernels.h"
#include "bench_peak_neon.h"
#include "bench_stats.h"
#include <qkv/cpu_features.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum seq { SEQ_NONE, SEQ_AVX2, SEQ_AVXVNNI, SEQ_ZMM };

#if defined(__x86_64__)
static volatile uint32_t sink; /* keeps results observable (unsigned: the sums wrap) */

static enum seq pick(void)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	if (f.avx512f && f.avx512vnni)
		return SEQ_ZMM;
	if (f.avxvnni)
		return SEQ_AVXVNNI;
	if (f.avx2)
		return SEQ_AVX2;
	return SEQ_NONE;
}

/* Named registers, not an array: under ASan's fake stack an array of vectors may lose its
 * 64-byte alignment (see bench_kernels.c). D(j) is one vpdpbusd on chain j. */
#define D(j) a##j = DP(a##j, x, w)
#define CHAINS_8                                                                                   \
	D(0);                                                                                      \
	D(1);                                                                                      \
	D(2);                                                                                      \
	D(3);                                                                                      \
	D(4);                                                                                      \
	D(5);                                                                                      \
	D(6);                                                                                      \
	D(7)

/* 16 independent zmm chains: Ice Lake-SP / Sapphire Rapids retire 2 vpdpbusd zmm per
 * cycle with a latency of 5 (10 chains saturate them), Zen 4 one; 16 leave margin. */
__attribute__((target("avx512f,avx512vnni"))) static double zmm_loop(size_t iters)
{
#define DP _mm512_dpbusd_epi32
	const __m512i x = _mm512_set1_epi32(0x01020304), w = _mm512_set1_epi32(0x01ff01ff);
	__m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2);
	__m512i a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5);
	__m512i a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8);
	__m512i a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10);
	__m512i a11 = _mm512_set1_epi32(11), a12 = _mm512_set1_epi32(12);
	__m512i a13 = _mm512_set1_epi32(13), a14 = _mm512_set1_epi32(14);
	__m512i a15 = _mm512_set1_epi32(15);
	for (size_t i = 0; i < iters; i++) {
		CHAINS_8;
		D(8);
		D(9);
		D(10);
		D(11);
		D(12);
		D(13);
		D(14);
		D(15);
	}
#undef DP
	__m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), a2), a3);
	s = _mm512_add_epi32(s,
	                     _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
	s = _mm512_add_epi32(
	    s, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
	s = _mm512_add_epi32(
	    s, _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15)));
	int32_t out[16];
	_mm512_storeu_si512(out, s);
	sink = (uint32_t)out[0] + (uint32_t)out[15];
	return (double)iters * 16.0 * 64.0 * 2.0;
}

/* 12 chains of VEX vpdpbusd ymm (16 registers): Alder Lake P-cores retire 2 per cycle,
 * latency 5. */
__attribute__((target("avx2,avxvnni"))) static double avxvnni_loop(size_t iters)
{
#define DP _mm256_dpbusd_avx_epi32
	const __m256i x = _mm256_set1_epi32(0x01020304), w = _mm256_set1_epi32(0x01ff01ff);
	__m256i a0 = _mm256_set1_epi32(0), a1 = _mm256_set1_epi32(1), a2 = _mm256_set1_epi32(2);
	__m256i a3 = _mm256_set1_epi32(3), a4 = _mm256_set1_epi32(4), a5 = _mm256_set1_epi32(5);
	__m256i a6 = _mm256_set1_epi32(6), a7 = _mm256_set1_epi32(7), a8 = _mm256_set1_epi32(8);
	__m256i a9 = _mm256_set1_epi32(9), a10 = _mm256_set1_epi32(10);
	__m256i a11 = _mm256_set1_epi32(11);
	for (size_t i = 0; i < iters; i++) {
		CHAINS_8;
		D(8);
		D(9);
		D(10);
		D(11);
	}
#undef DP
	__m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), a2), a3);
	s = _mm256_add_epi32(s,
	                     _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
	s = _mm256_add_epi32(
	    s, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
	int32_t out[8];
	_mm256_storeu_si256((__m256i *)out, s);
	sink = (uint32_t)out[0] + (uint32_t)out[7];
	return (double)iters * 12.0 * 32.0 * 2.0;
}
#undef CHAINS_8
#undef D

/* AVX2 has no int8 dot product into int32; its multiplier is vpmaddubsw (32 u8 x s8
 * products, pairs summed into int16), and a kernel needs one per 32 multiply-adds at
 * least: the quant backend's 4-bit panels sum them in int16 (vpaddw) and widen rarely,
 * the int8 backend's sign trick (backends/int8/kernel_avx2.c) widens each one by
 * vpmaddwd, which on a Zen 3 takes the same multiplier and halves the rate. So the peak
 * is vpmaddubsw + vpaddw: 8 accumulator chains, each a different product of 4 w and 2 x,
 * in assembly (the compiler kept accumulators in memory when the inputs were made opaque
 * by an empty asm, and hoisted the products when they were not). */
__attribute__((target("avx2"))) static double avx2_loop(size_t iters)
{
	int32_t out[8];
	size_t n = iters;
	__asm__ volatile("vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
	                 "vpabsb %%ymm0, %%ymm1\n\t" /* w: all 1 and all 255 as u8 */
	                 "vpaddb %%ymm1, %%ymm1, %%ymm2\n\t"
	                 "vpaddb %%ymm2, %%ymm1, %%ymm3\n\t"
	                 "vpsubb %%ymm3, %%ymm0, %%ymm4\n\t" /* x: small signed values */
	                 "vpsubb %%ymm2, %%ymm0, %%ymm5\n\t"
	                 "vpxor %%ymm6, %%ymm6, %%ymm6\n\t"
	                 "vmovdqa %%ymm6, %%ymm7\n\t"
	                 "vmovdqa %%ymm6, %%ymm8\n\t"
	                 "vmovdqa %%ymm6, %%ymm9\n\t"
	                 "vmovdqa %%ymm6, %%ymm10\n\t"
	                 "vmovdqa %%ymm6, %%ymm11\n\t"
	                 "vmovdqa %%ymm6, %%ymm12\n\t"
	                 "vmovdqa %%ymm6, %%ymm13\n\t"
	                 "test %[n], %[n]\n\t"
	                 "jz 2f\n\t"
	                 "1:\n\t"
	                 "vpmaddubsw %%ymm4, %%ymm0, %%ymm14\n\t"
	                 "vpaddw %%ymm14, %%ymm6, %%ymm6\n\t"
	                 "vpmaddubsw %%ymm4, %%ymm1, %%ymm15\n\t"
	                 "vpaddw %%ymm15, %%ymm7, %%ymm7\n\t"
	                 "vpmaddubsw %%ymm4, %%ymm2, %%ymm14\n\t"
	                 "vpaddw %%ymm14, %%ymm8, %%ymm8\n\t"
	                 "vpmaddubsw %%ymm4, %%ymm3, %%ymm15\n\t"
	                 "vpaddw %%ymm15, %%ymm9, %%ymm9\n\t"
	                 "vpmaddubsw %%ymm5, %%ymm0, %%ymm14\n\t"
	                 "vpaddw %%ymm14, %%ymm10, %%ymm10\n\t"
	                 "vpmaddubsw %%ymm5, %%ymm1, %%ymm15\n\t"
	                 "vpaddw %%ymm15, %%ymm11, %%ymm11\n\t"
	                 "vpmaddubsw %%ymm5, %%ymm2, %%ymm14\n\t"
	                 "vpaddw %%ymm14, %%ymm12, %%ymm12\n\t"
	                 "vpmaddubsw %%ymm5, %%ymm3, %%ymm15\n\t"
	                 "vpaddw %%ymm15, %%ymm13, %%ymm13\n\t"
	                 "dec %[n]\n\t"
	                 "jnz 1b\n\t"
	                 "2:\n\t"
	                 "vpaddw %%ymm7, %%ymm6, %%ymm6\n\t"
	                 "vpaddw %%ymm9, %%ymm8, %%ymm8\n\t"
	                 "vpaddw %%ymm11, %%ymm10, %%ymm10\n\t"
	                 "vpaddw %%ymm13, %%ymm12, %%ymm12\n\t"
	                 "vpaddw %%ymm8, %%ymm6, %%ymm6\n\t"
	                 "vpaddw %%ymm12, %%ymm10, %%ymm10\n\t"
	                 "vpaddw %%ymm10, %%ymm6, %%ymm6\n\t"
	                 "vmovdqu %%ymm6, %[out]\n\t"
	                 "vzeroupper"
	                 : [n] "+r"(n), [out] "=m"(out)
	                 :
	                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	                   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
	sink = (uint32_t)out[0] + (uint32_t)out[7];
	return (double)iters * 8.0 * 32.0 * 2.0;
}
#endif

double bench_int8_loop(size_t iters)
{
#if defined(__x86_64__)
	switch (pick()) {
	case SEQ_ZMM:
		return zmm_loop(iters);
	case SEQ_AVXVNNI:
		return avxvnni_loop(iters);
	case SEQ_AVX2:
		return avx2_loop(iters);
	default:
		break;
	}
#elif defined(__aarch64__)
	return bench_neon_int8_loop(iters);
#endif
	(void)iters;
	return 0.0;
}

const char *bench_int8_kernel_name(void)
{
#if defined(__aarch64__)
	return bench_neon_int8_name();
#else
	static const char *const names[] = {"none", "avx2 vpmaddubsw+vpaddw",
	                                    "vpdpbusd ymm (AVX-VNNI)", "vpdpbusd zmm"};
#if defined(__x86_64__)
	return names[pick()];
#else
	return names[SEQ_NONE];
#endif
#endif
}

/* bench_machine.c measures the fp32 peak the same way (bench_loop_rate). */
static double measure(unsigned threads)
{
	return bench_loop_rate(bench_int8_loop, (size_t)1 << 12, threads);
}

static void cache_name(const struct bench_machine *m, char *buf, size_t len)
{
	buf[0] = '\0';
	size_t n = strlen(m->cache_path);
	if (n > 4 && !strcmp(m->cache_path + n - 4, ".txt") && n + 6 < len)
		snprintf(buf, len, "%.*s-int8.txt", (int)(n - 4), m->cache_path);
}

/* The cached values for exactly m's CPU, flags, thread counts and peak sequence (a cache
 * written by a build that measured another one is stale), else false. */
static bool cache_read(struct bench_machine *m, const char *path)
{
	FILE *f = path[0] ? fopen(path, "r") : NULL;
	if (!f)
		return false;
	char line[1024];
	bool cpu_ok = false, flags_ok = false, kernel_ok = false;
	size_t found = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		unsigned t;
		double p;
		if (!strncmp(line, "cpu=", 4))
			cpu_ok = !strcmp(line + 4, m->cpu);
		else if (!strncmp(line, "flags=", 6))
			flags_ok = !strcmp(line + 6, m->flags);
		else if (!strncmp(line, "kernel_int8=", 12))
			kernel_ok = !strcmp(line + 12, bench_int8_kernel_name()); /* else stale */
		else if (sscanf(line, "threads=%u peak_int8_gops=%lf", &t, &p) == 2 && p > 0)
			for (size_t i = 0; i < m->n; i++)
				if (m->threads[i] == t && m->peak_int8_gops[i] <= 0) {
					m->peak_int8_gops[i] = p;
					found++;
				}
	}
	fclose(f);
	if (kernel_ok)
		bench_strcpy(m->kernel_int8, sizeof(m->kernel_int8), bench_int8_kernel_name());
	return cpu_ok && flags_ok && kernel_ok && found == m->n;
}

void bench_peak_int8_fill(struct bench_machine *m, bool remeasure, void (*log)(const char *msg))
{
	char path[600];
	cache_name(m, path, sizeof(path));
	for (size_t i = 0; i < BENCH_MACHINE_MAXT; i++)
		m->peak_int8_gops[i] = 0.0;
	if (!remeasure && cache_read(m, path))
		return;
	if (log)
		log("measuring this machine's int8 peak (once; cached)");
	bench_strcpy(m->kernel_int8, sizeof(m->kernel_int8), bench_int8_kernel_name());
	for (size_t i = 0; i < m->n; i++)
		m->peak_int8_gops[i] = measure(m->threads[i]);
	FILE *f = path[0] ? fopen(path, "w") : NULL; /* the folder exists: the fp32 cache's */
	if (!f)
		return;
	fprintf(f, "# qkv bench int8 peak; delete or use --remeasure to redo\n");
	fprintf(f, "cpu=%s\nflags=%s\nkernel_int8=%s\n", m->cpu, m->flags, m->kernel_int8);
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "threads=%u peak_int8_gops=%.3f\n", m->threads[i], m->peak_int8_gops[i]);
	fclose(f);
}

double bench_machine_peak_int8(const struct bench_machine *m, unsigned threads)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->threads[i] == threads)
			return m->peak_int8_gops[i];
	return m->n ? m->peak_int8_gops[0] * threads : 0.0;
}
