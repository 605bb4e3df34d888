#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cpu.h"

#include <sched.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <qkv/cpu_features.h>
#include <qkv/plugin.h>

void qkv_cpu_name(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
#if defined(__x86_64__) || defined(__i386__)
	unsigned r[12];
	if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
		for (unsigned i = 0; i < 3; i++)
			__get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2],
			            &r[4 * i + 3]);
		char name[49];
		memcpy(name, r, 48);
		name[48] = '\0';
		char *s = name;
		while (*s == ' ')
			s++;
		size_t n = strlen(s);
		while (n && s[n - 1] == ' ')
			s[--n] = '\0';
		if (*s)
			snprintf(buf, len, "%s", s);
	}
#else
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "CPU part", 8))) {
			colon++;
			while (*colon == ' ')
				colon++;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, len, "%s", colon);
			break;
		}
	}
	fclose(f);
#endif
}

void qkv_cpu_features(char *buf, size_t len)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	qkv_cpu_features_string(&f, buf, len);
}

unsigned qkv_cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN); /* more CPUs than cpu_set_t holds */
	return n > 0 ? (unsigned)n : 1u;
}

unsigned qkv_threads_all(void)
{
	/* OMP_NUM_THREADS is a list, one count per nesting level: take the outer one. */
	const char *omp = getenv("OMP_NUM_THREADS");
	if (omp && *omp) {
		char *end = NULL;
		long v = strtol(omp, &end, 10);
		if (end != omp && (*end == '\0' || *end == ',') && v >= 1)
			return v > QKV_MAX_THREADS ? QKV_MAX_THREADS : (unsigned)v;
	}
	unsigned n = qkv_cpu_count();
	return n > QKV_MAX_THREADS ? QKV_MAX_THREADS : n;
}
