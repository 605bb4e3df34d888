#include "proc_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
			in = l >= n && !strcmp(line + l - n, tail);
		else if (in && !strncmp(line, "Rss:", 4))
			sum += strtol(line + 4, NULL, 10);
	}
	if (f)
		fclose(f);
	return sum;
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
