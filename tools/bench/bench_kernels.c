/* The x86 kernels use __attribute__((target)) so the rest of the tool stays baseline
 * x86-64; <qkv/cpu_features.h> checks CPUID and that the OS saves the YMM (and for
 * AVX-512 the ZMM and opmask) state, so a kernel never runs where the OS would fault on
 * it. The fp32 peak uses the widest FMA usable (zmm where AVX-512F is), so the "% of
 * peak" of a kernel using it can not exceed 100 %. */
#include "bench_kernels.h"

#include <stdbool.h>
#include <time.h>

#include <omp.h>

#include <qkv/cpu_features.h>

#include "bench_peak_neon.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static volatile float sink; /* keeps results observable; written, never read back */

#if defined(__x86_64__)
static bool have_avx2_fma(void)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	return f.avx2 && f.fma;
}

static bool have_avx512f(void)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	return f.avx512f;
}

/* 16 independent zmm chains: every AVX-512 core so far (Skylake-SP to Sapphire Rapids,
 * Zen 4, Zen 5) retires at most 2 zmm FMAs per cycle with a latency of 4, so 8 chains
 * saturate it; 16 leave margin and fit 32 ZMM registers. */
/* Named variables, not an array: an array of __m512 on the stack needs 64-byte alignment,
 * which ASan's fake stack (detect_stack_use_after_return) does not give. */
#define FMA16(X)                                                                                   \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
__attribute__((target("avx512f"))) static double fma_avx512(size_t iters)
{
	const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(j) __m512 a##j = _mm512_set1_ps(1.0f + 0.01f * (float)(j));
#define STEP(j) a##j = _mm512_fmadd_ps(a##j, m, c);
#define SUM(j) s = _mm512_add_ps(s, a##j);
	FMA16(DECL)
	for (size_t i = 0; i < iters; i++) {
		FMA16(STEP)
	}
	__m512 s = _mm512_setzero_ps();
	FMA16(SUM)
#undef DECL
#undef STEP
#undef SUM
	float out[16];
	_mm512_storeu_ps(out, s);
	sink = out[0] + out[15];
	return (double)iters * 16.0 * 16.0 * 2.0;
}

/* 12 independent chains: Zen 4 and Intel cores retire 2 FMAs per cycle with a latency
 * of 4 cycles, so 8 chains saturate them; 12 leave margin and fit 16 YMM registers. */
__attribute__((target("avx2,fma"))) static double fma_avx2(size_t iters)
{
	const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
	__m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f);
	__m256 a2 = _mm256_set1_ps(1.02f), a3 = _mm256_set1_ps(1.03f);
	__m256 a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f);
	__m256 a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f);
	__m256 a8 = _mm256_set1_ps(1.08f), a9 = _mm256_set1_ps(1.09f);
	__m256 a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
	for (size_t i = 0; i < iters; i++) {
		a0 = _mm256_fmadd_ps(a0, m, c);
		a1 = _mm256_fmadd_ps(a1, m, c);
		a2 = _mm256_fmadd_ps(a2, m, c);
		a3 = _mm256_fmadd_ps(a3, m, c);
		a4 = _mm256_fmadd_ps(a4, m, c);
		a5 = _mm256_fmadd_ps(a5, m, c);
		a6 = _mm256_fmadd_ps(a6, m, c);
		a7 = _mm256_fmadd_ps(a7, m, c);
		a8 = _mm256_fmadd_ps(a8, m, c);
		a9 = _mm256_fmadd_ps(a9, m, c);
		a10 = _mm256_fmadd_ps(a10, m, c);
		a11 = _mm256_fmadd_ps(a11, m, c);
	}
	__m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
	                         _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
	s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
	float out[8];
	_mm256_storeu_ps(out, s);
	sink = out[0] + out[7];
	return (double)iters * 12.0 * 8.0 * 2.0;
}

/* a[n] as `streams` consecutive parts of m values (m a multiple of 32), read in turns of
 * two cache lines per part; 4 accumulators hide the add latency. */
__attribute__((target("avx2"))) static float sum_avx2(const float *a, size_t m, int streams)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	for (size_t i = 0; i < m; i += 32)
		for (int j = 0; j < streams; j++) {
			const float *p = a + (size_t)j * m + i;
			s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p));
			s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + 8));
			s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + 16));
			s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + 24));
		}
	float out[8], r = 0.0f;
	_mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	for (int j = 0; j < 8; j++)
		r += out[j];
	return r;
}
#endif

/* Portable: 32 independent chains the compiler vectorises with the baseline ISA
 * (mul + add, no fused instruction, each counted as one operation). */
static double fma_portable(size_t iters)
{
	float a[32];
	for (int j = 0; j < 32; j++)
		a[j] = 1.0f + 0.01f * (float)j;
	for (size_t i = 0; i < iters; i++)
		for (int j = 0; j < 32; j++)
			a[j] = a[j] * 0.9999999f + 1e-7f;
	float s = 0.0f;
	for (int j = 0; j < 32; j++)
		s += a[j];
	sink = s;
	return (double)iters * 32.0 * 2.0;
}

static float sum_portable(const float *a, size_t m, int streams)
{
	float s[16] = {0};
	for (size_t i = 0; i < m; i += 32)
		for (int j = 0; j < streams; j++)
			for (int k = 0; k < 32; k++)
				s[k & 15] += a[(size_t)j * m + i + k];
	float r = 0.0f;
	for (int j = 0; j < 16; j++)
		r += s[j];
	return r;
}

double bench_fma_loop(size_t iters)
{
#if defined(__x86_64__)
	if (have_avx512f())
		return fma_avx512(iters);
	if (have_avx2_fma())
		return fma_avx2(iters);
#elif defined(__aarch64__)
	return bench_neon_fma_loop(iters);
#endif
	return fma_portable(iters);
}

float bench_read_sum(const float *a, size_t n, int streams)
{
	size_t m = n / (size_t)streams / 32 * 32;
	float r;
#if defined(__x86_64__)
	if (have_avx2_fma())
		r = sum_avx2(a, m, streams);
	else
#endif
		r = sum_portable(a, m, streams);
	for (size_t i = m * (size_t)streams; i < n; i++)
		r += a[i];
	return r;
}

const char *bench_kernel_name(void)
{
#if defined(__x86_64__)
	if (have_avx512f())
		return "avx512f zmm fma";
	if (have_avx2_fma())
		return "avx2+fma";
#elif defined(__aarch64__)
	return "neon fmla";
#endif
	return "portable C";
}

static double thread_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_loop_rate(double (*loop)(size_t iters), size_t start_iters, unsigned threads)
{
	size_t iters = start_iters;
	for (;;) { /* calibrate on one thread */
		double t0 = thread_cpu_now();
		if (loop(iters) <= 0.0)
			return 0.0;
		if (thread_cpu_now() - t0 > 0.02 || iters > ((size_t)1 << 40))
			break;
		iters *= 4;
	}
	iters *= 5;
	double best = 0.0;
	for (int r = 0; r < 5; r++) { /* best of: other processes only slow a trial down */
		double rate = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : rate)
		{
			double t0 = thread_cpu_now();
			double ops = loop(iters);
			rate += ops / (thread_cpu_now() - t0);
		}
		best = rate > best ? rate : best;
	}
	return best * 1e-9;
}
