#include "cpu.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <qkv/cpu_features.h>

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
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1u;
}
