#include "bench_machine.h"

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_kernels.h"
#include "bench_peak_int8.h"
#include "bench_stats.h"
#include <qkv/qkv.h>

#define READ_BYTES ((size_t)1 << 30) /* far larger than any L3 this runs on */
#define TRIALS 5                     /* best of: other processes only slow a trial down */
/* Read streams per thread that measure_bw tries (the best counts), and their name in the
 * cache: a cache measured another way is stale. One sequential stream understated a Zen 3
 * core by a quarter (21 GB/s against 28 with six streams). */
static const int read_streams[] = {1, 2, 4, 6, 8};
#define N_READ_STREAMS (sizeof(read_streams) / sizeof(read_streams[0]))

/* The cache's name of the read loop: "streams 1,2,4,6,8" */
static void read_loop_name(char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "streams");
	for (size_t i = 0; i < N_READ_STREAMS && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : " ",
		                         read_streams[i]);
}

static volatile float bw_sink; /* keeps the sums observable */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* CPU time of the calling thread: unlike the wall clock it does not advance while
 * other processes hold the core, so a busy machine does not lower the measured peak. */
static double thread_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best FLOP rate of `threads` threads each running the FMA loop for about 0.1 s: the
 * sum of each thread's operations per second of its own CPU time (each thread is
 * assumed to have a core of its own: thread counts never exceed the cores). */
static double measure_peak(unsigned threads)
{
	return bench_loop_rate(bench_fma_loop, (size_t)1 << 16, threads);
}

/* Best read rate of `threads` threads summing disjoint slices of a[n], each as every
 * count of read_streams, counted the same way (bytes per second of each thread's CPU
 * time, summed). */
static double measure_bw(const float *a, size_t n, unsigned threads)
{
	double best = 0.0;
	for (size_t r = 0; r < TRIALS * N_READ_STREAMS; r++) {
		int streams = read_streams[r % N_READ_STREAMS];
		double rate = 0.0;
		float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : rate, total)
		{
			size_t nt = (size_t)omp_get_num_threads(),
			       id = (size_t)omp_get_thread_num();
			size_t lo = n * id / nt, hi = n * (id + 1) / nt;
			double t0 = thread_cpu_now();
			total += bench_read_sum(a + lo, hi - lo, streams);
			rate += (double)((hi - lo) * sizeof(float)) / (thread_cpu_now() - t0);
		}
		bw_sink = total;
		best = rate > best ? rate : best;
	}
	return best * 1e-9;
}

static void cache_file(struct bench_machine *m)
{
	char dir[400];
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	m->cache_path[0] = '\0';
	if (xdg && *xdg)
		snprintf(dir, sizeof(dir), "%s/qkv", xdg);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.cache/qkv", home);
	else
		return;
	char ncores[16];
	snprintf(ncores, sizeof(ncores), "%u", m->cores);
	uint64_t h = fnv1a(ncores, fnv1a(m->flags, fnv1a(m->cpu, 1469598103934665603ull)));
	snprintf(m->cache_path, sizeof(m->cache_path), "%s/machine-%016llx.txt", dir,
	         (unsigned long long)h);
}

/* Read a cache written by cache_write for this very CPU; false if absent or stale. */
static bool cache_read(struct bench_machine *m)
{
	FILE *f = m->cache_path[0] ? fopen(m->cache_path, "r") : NULL;
	if (!f)
		return false;
	char line[1024];
	bool cpu_ok = false, flags_ok = false, read_ok = false;
	char loop[64];
	read_loop_name(loop, sizeof(loop));
	m->n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		unsigned t;
		double p, b;
		if (!strncmp(line, "cpu=", 4))
			cpu_ok = !strcmp(line + 4, m->cpu);
		else if (!strncmp(line, "flags=", 6))
			flags_ok = !strcmp(line + 6, m->flags);
		else if (!strncmp(line, "read=", 5))
			read_ok = !strcmp(line + 5, loop);
		else if (!strncmp(line, "kernel=", 7))
			bench_strcpy(m->kernel, sizeof(m->kernel), line + 7);
		else if (sscanf(line, "threads=%u peak_gflops=%lf read_gbs=%lf", &t, &p, &b) == 3 &&
		         m->n < BENCH_MACHINE_MAXT && t > 0 && p > 0 && b > 0) {
			m->threads[m->n] = t;
			m->peak_gflops[m->n] = p;
			m->read_gbs[m->n] = b;
			m->n++;
		}
	}
	fclose(f);
	/* Measured with another FMA kernel (e.g. before the zmm peak existed) or another read
	 * loop: stale. */
	bool kernel_ok = !strcmp(m->kernel, bench_kernel_name());
	return cpu_ok && flags_ok && kernel_ok && read_ok && m->n > 0;
}

static void cache_write(const struct bench_machine *m)
{
	if (!m->cache_path[0])
		return;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", m->cache_path);
	for (char *s = dir + 1; *s; s++) /* mkdir -p of the folder */
		if (*s == '/') {
			*s = '\0';
			if (mkdir(dir, 0755) && errno != EEXIST)
				return;
			*s = '/';
		}
	FILE *f = fopen(m->cache_path, "w");
	if (!f)
		return;
	fprintf(f, "# qkv bench machine measurement; delete or use --remeasure to redo\n");
	char loop[64];
	read_loop_name(loop, sizeof(loop));
	fprintf(f, "cpu=%s\nflags=%s\nkernel=%s\nread=%s\n", m->cpu, m->flags, m->kernel, loop);
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "threads=%u peak_gflops=%.3f read_gbs=%.3f\n", m->threads[i],
		        m->peak_gflops[i], m->read_gbs[i]);
	fclose(f);
}

bool bench_machine_get(struct bench_machine *m, bool remeasure, void (*log)(const char *msg),
                       char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	struct qkv_system_info sys = {.struct_size = sizeof(sys)};
	qkv_system_get_info(&sys);
	bench_strcpy(m->cpu, sizeof(m->cpu), sys.cpu_name);
	bench_strcpy(m->flags, sizeof(m->flags), sys.cpu_features);
	m->cores = sys.cpus;
	cache_file(m);
	if (!remeasure && cache_read(m)) {
		m->from_cache = true;
		bench_peak_int8_fill(m, false, log);
		return true;
	}
	size_t n = READ_BYTES / sizeof(float);
	float *a = malloc(n * sizeof(float)); /* [n], 1 GiB */
	if (!a) {
		snprintf(err, errlen, "cannot allocate %zu MiB to measure memory bandwidth",
		         READ_BYTES >> 20);
		return false;
	}
	if (log)
		log("measuring this machine's fp32 peak and read bandwidth (once; cached)");
#pragma omp parallel for num_threads(m->cores) schedule(static)
	for (size_t i = 0; i < n; i++) /* first touch, spread over the threads */
		a[i] = (float)(i & 1023) * 1e-3f;
	unsigned cand[3] = {1, 2, m->cores};
	m->n = 0;
	for (int i = 0; i < 3; i++) {
		if (cand[i] > m->cores || (m->n && cand[i] <= m->threads[m->n - 1]))
			continue;
		m->threads[m->n] = cand[i];
		m->peak_gflops[m->n] = measure_peak(cand[i]);
		m->read_gbs[m->n] = measure_bw(a, n, cand[i]);
		m->n++;
	}
	free(a);
	snprintf(m->kernel, sizeof(m->kernel), "%s", bench_kernel_name());
	cache_write(m);
	bench_peak_int8_fill(m, true, log);
	return true;
}

double bench_machine_peak(const struct bench_machine *m, unsigned threads)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->threads[i] == threads)
			return m->peak_gflops[i];
	return m->n ? m->peak_gflops[0] * threads : 0.0;
}

double bench_machine_bw(const struct bench_machine *m, unsigned threads)
{
	double best = 0.0;
	for (size_t i = 0; i < m->n; i++)
		if (m->threads[i] <= threads && m->read_gbs[i] > best)
			best = m->read_gbs[i];
	return best;
}
