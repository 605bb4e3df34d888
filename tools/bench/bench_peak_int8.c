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

/* The exact AVX2 sequence of backends/int8/kernel_avx2.c per 32 multiply-adds: vpsignb
 * (x's sign onto w), vpmaddubsw (|x| x signed w, pairs into int16), vpmaddwd by ones
 * (into int32), vpaddd. 6 chains, each with its own w so nothing is shared or hoisted
 * (the empty asm makes w opaque in every iteration): 6 acc + 6 w + 3 shared = 15 ymm. */
__attribute__((target("avx2"))) static double avx2_loop(size_t iters)
{
	const __m256i xs = _mm256_set1_epi32(0x01ff02fe), xa = _mm256_abs_epi8(xs);
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i w0 = _mm256_set1_epi8(3), w1 = _mm256_set1_epi8(5), w2 = _mm256_set1_epi8(7);
	__m256i w3 = _mm256_set1_epi8(9), w4 = _mm256_set1_epi8(11), w5 = _mm256_set1_epi8(13);
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
#define STEP(j)                                                                                    \
	a##j = _mm256_add_epi32(                                                                   \
	    a##j, _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w##j, xs)), ones))
	for (size_t i = 0; i < iters; i++) {
		__asm__("" : "+x"(w0), "+x"(w1), "+x"(w2), "+x"(w3), "+x"(w4), "+x"(w5));
		STEP(0);
		STEP(1);
		STEP(2);
		STEP(3);
		STEP(4);
		STEP(5);
	}
#undef STEP
	__m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), a2),
	                             _mm256_add_epi32(_mm256_add_epi32(a3, a4), a5));
	int32_t out[8];
	_mm256_storeu_si256((__m256i *)out, s);
	sink = (uint32_t)out[0] + (uint32_t)out[7];
	return (double)iters * 6.0 * 32.0 * 2.0;
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
	static const char *const names[] = {"none", "avx2 vpsignb+vpmaddubsw+vpmaddwd+vpaddd",
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

/* The cached values for exactly m's CPU, flags and thread counts, else false. */
static bool cache_read(struct bench_machine *m, const char *path)
{
	FILE *f = path[0] ? fopen(path, "r") : NULL;
	if (!f)
		return false;
	char line[1024];
	bool cpu_ok = false, flags_ok = false;
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
			bench_strcpy(m->kernel_int8, sizeof(m->kernel_int8), line + 12);
		else if (sscanf(line, "threads=%u peak_int8_gops=%lf", &t, &p) == 2 && p > 0)
			for (size_t i = 0; i < m->n; i++)
				if (m->threads[i] == t && m->peak_int8_gops[i] <= 0) {
					m->peak_int8_gops[i] = p;
					found++;
				}
	}
	fclose(f);
	return cpu_ok && flags_ok && found == m->n;
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
