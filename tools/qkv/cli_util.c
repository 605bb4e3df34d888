/* Helpers shared by the subcommands: option values, time, .npy output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"

int qkv_cli_parse_u64(const char *opt, const char *s, unsigned long long max,
                      unsigned long long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s ? s : "", &end, 10);
	if (!s || !*s || *end || errno || s[0] == '-' || s[0] == '+' || v > max) {
		fprintf(stderr, "qkv: option %s: `%s` is not an integer in 0..%llu\n", opt,
		        s ? s : "(missing)", max);
		return -1;
	}
	*out = v;
	return 0;
}

void qkv_cli_print_lines(FILE *out, const char *prefix, const char *text, const char *only)
{
	size_t n_only = only ? strlen(only) : 0;
	while (*text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		if (!only || !strncmp(text, only, n_only))
			fprintf(out, "%s%.*s\n", prefix, len, text);
		text += len + (nl ? 1 : 0);
	}
}

double qkv_cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int qkv_cli_write_npy(const char *path, const float *data, size_t rows, size_t cols, size_t ld)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "qkv: %s: cannot create: %s\n", path, strerror(errno));
		return -1;
	}
	/* .npy v1.0: magic, version, 2-byte header length, dict padded so data is 64-aligned. */
	char dict[128];
	int n =
	    snprintf(dict, sizeof(dict),
	             "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
	size_t total = 10 + (size_t)n + 1;
	size_t pad = (64 - total % 64) % 64;
	unsigned hlen = (unsigned)((size_t)n + pad + 1);
	unsigned char head[10] = {0x93,
	                          'N',
	                          'U',
	                          'M',
	                          'P',
	                          'Y',
	                          1,
	                          0,
	                          (unsigned char)(hlen & 0xff),
	                          (unsigned char)(hlen >> 8)};
	int ok = fwrite(head, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
	for (size_t i = 0; ok && i < pad; i++)
		ok = fputc(' ', f) != EOF;
	ok = ok && fputc('\n', f) != EOF;
	for (size_t r = 0; ok && r < rows; r++)
		ok =
		    fwrite(data + r * ld, sizeof(float), cols, f) == cols; /* little-endian hosts */
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "qkv: %s: write failed: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
