#define _DEFAULT_SOURCE /* mincore */
#include "proc_mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Resident KiB of the mappings of files whose path ends in `tail` (/proc/self/smaps). */
long proc_mapping_rss_kb(const char *tail)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	long sum = 0;
	int in = 0;
	size_t n = strlen(tail);
	while (f && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
			line[--l] = '\0';
		/* a mapping's header starts with its lower-case hex address; fields ("Rss:") with
		 * a capital letter */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
			in = l >= n && !strcmp(line + l - n, tail);
		else if (in && !strncmp(line, "Rss:", 4))
			sum += strtol(line + 4, NULL, 10);
	}
	if (f)
		fclose(f);
	return sum;
}

/* Pages of [lo, hi) present in memory (mincore), in KiB. */
static long resident_kb(uintptr_t lo, uintptr_t hi)
{
	static unsigned char vec[256];
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	long kb = 0;
	for (uintptr_t a = lo; a < hi; a += 256 * page) {
		size_t len = hi - a < 256 * page ? hi - a : 256 * page;
		if (mincore((void *)a, len, vec) != 0)
			return -1;
		for (size_t i = 0; i < (len + page - 1) / page; i++)
			kb += (vec[i] & 1) ? (long)(page / 1024) : 0;
	}
	return kb;
}

/* From /proc/self/maps: the bytes mapped from files whose path ends in `tail` (into
 * *mapped), and the resident KiB of the readable anonymous mappings (returned; -1 when
 * mincore refuses one). Unlike smaps and /proc/self/status, both stay true under
 * qemu-user: its maps lists the guest's mappings only, and mincore asks about those. */
long proc_anon_resident_kb(const char *tail, unsigned long long *mapped)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long kb = 0;
	size_t n = strlen(tail);
	*mapped = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[8];
		int at = 0;
		if (sscanf(line, "%lx-%lx %7s %*x %*x:%*x %*u %n", &lo, &hi, perm, &at) < 3 || !at)
			continue;
		char *path = line + at;
		path[strcspn(path, "\n")] = '\0';
		size_t l = strlen(path);
		if (l >= n && n && !strcmp(path + l - n, tail))
			*mapped += hi - lo;
		int anon = !*path || !strcmp(path, "[heap]") || !strcmp(path, "[stack]");
		if (hi - lo > (1ul << 36)) /* a sanitizer's shadow (terabytes, reserved): skipped */
			anon = 0;
		long r = anon && perm[0] == 'r' ? resident_kb(lo, hi) : 0;
		if (r < 0) {
			kb = -1;
			break;
		}
		kb += r;
	}
	if (f)
		fclose(f);
	return kb;
}

long proc_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n))
			v = strtol(line + n, NULL, 10);
	if (f)
		fclose(f);
	return v;
}
