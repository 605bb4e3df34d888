/* backends/big_alloc.c: the memory of the backends' packed weight copies. What it
 * promises (big_alloc.h): alignment, zero fill from QKV_BIG_ALLOC_MIN on, and no resident
 * byte past the copy (no 2 MiB slack, no huge page over the tail), given back by
 * qkv_big_free. Whether Linux grants huge pages depends on the machine: logged, not
 * asserted. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/big_alloc.h"
#include "proc_mem.h"

Test(big_alloc, small_is_heap_memory_64_aligned)
{
	size_t sizes[] = {0, 1, 100, 4096, QKV_BIG_ALLOC_MIN - 1};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		unsigned char *p = qkv_big_alloc(sizes[i]);
		cr_assert_not_null(p, "%zu bytes", sizes[i]);
		cr_assert_eq((uintptr_t)p % 64, 0, "%zu bytes at %p", sizes[i], (void *)p);
		memset(p, 0xa5, sizes[i]);
		qkv_big_free(p, sizes[i]);
	}
	qkv_big_free(NULL, 0);
	qkv_big_free(NULL, QKV_BIG_ALLOC_MIN);
}

/* Huge pages of this process's mapping at p, in KiB (smaps), for the log. */
static long huge_kb_at(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	long kb = -1;
	int in = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb;
}

Test(big_alloc, large_is_aligned_zeroed_and_exactly_resident)
{
	unsigned long long mapped = 0;
	/* odd sizes: a partial last page, a partial last 2 MiB, and a whole number of them */
	size_t sizes[] = {QKV_BIG_ALLOC_MIN + 12345, 3 * ((size_t)2 << 20) + 1, (size_t)8 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		size_t n = sizes[i];
		long before = proc_anon_resident_kb("/no-such-file", &mapped);
		unsigned char *p = qkv_big_alloc(n);
		cr_assert_not_null(p, "%zu bytes", n);
		cr_assert_eq((uintptr_t)p % ((uintptr_t)2 << 20), 0, "%zu bytes at %p", n,
		             (void *)p);
		size_t nonzero = 0;
		for (size_t j = 0; j < n; j++)
			nonzero += p[j] != 0;
		cr_assert_eq(nonzero, 0, "%zu of %zu bytes not zero", nonzero, n);
		memset(p, 0x5a, n);
		long used = proc_anon_resident_kb("/no-such-file", &mapped);
		long huge = huge_kb_at(p);
		long want = (long)((n + 4095) / 4096 * 4);
		cr_log_info(
		    "%zu bytes: +%ld KiB resident (the pages: %ld KiB), %ld KiB on huge pages", n,
		    used - before, want, huge);
		cr_assert_geq(before, 0);
		/* a kept 2 MiB slack that got touched, or a huge page over the tail, would add
		 * up to 2 MiB; 256 KiB leaves room for the test's own heap */
		cr_assert_leq(used - before, want + 256, "%zu bytes made %ld KiB resident", n,
		              used - before);
		cr_assert_geq(used - before, want - 256, "%zu bytes made %ld KiB resident", n,
		              used - before);
		qkv_big_free(p, n);
		long after = proc_anon_resident_kb("/no-such-file", &mapped);
		cr_assert_leq(after - before, 256, "%zu bytes: %ld KiB still resident after free",
		              n, after - before);
	}
}
