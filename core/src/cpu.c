#include "cpu.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
	unsigned eax, edx;
	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((unsigned long long)edx << 32) | eax;
}
#endif

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
	buf[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	__builtin_cpu_init();
	int osxsave = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE);
	unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
	int ymm = (xcr0 & 0x6) == 0x6;          /* XMM and YMM state saved */
	int zmm = ymm && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
	struct {
		const char *name;
		int ok;
	} f[] = {
	    {"sse4.2", __builtin_cpu_supports("sse4.2")},
	    {"avx", ymm && __builtin_cpu_supports("avx")},
	    {"avx2", ymm && __builtin_cpu_supports("avx2")},
	    {"fma", ymm && __builtin_cpu_supports("fma")},
	    {"f16c", ymm && __builtin_cpu_supports("avx") && (c & bit_F16C)},
	    {"avx512f", zmm && __builtin_cpu_supports("avx512f")},
	    {"avx512bw", zmm && __builtin_cpu_supports("avx512bw")},
	    {"avx512vl", zmm && __builtin_cpu_supports("avx512vl")},
	    {"avx512vnni", zmm && __builtin_cpu_supports("avx512vnni")},
	    {"avx512bf16", zmm && __builtin_cpu_supports("avx512bf16")},
	};
	size_t used = 0;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!f[i].ok)
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", f[i].name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
#elif defined(__aarch64__)
	snprintf(buf, len, "neon");
#endif
}

unsigned qkv_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1u;
}
