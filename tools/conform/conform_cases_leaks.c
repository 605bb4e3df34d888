/* Leaks over repeated identical work: heap bytes in use, and descriptors, threads and
 * mapped address space. */
#define _GNU_SOURCE /* M_ARENA_MAX */
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>

#include "conform_heap.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define LEAK_WARM 2 /* blocks before the first measurement: lazy set-up, caches */

#define LEAK_BLOCKS 8

#define LEAK_CYCLES 4 /* prepare, 8 calls, release */

bool cf_leak_block(const struct qkv_backend *be, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh = {9, 64, 2, 1, 16};
	for (int c = 0; c < LEAK_CYCLES; c++) {
		cf_failed_prepare(be);
		for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
			if (!(be->precisions & QKV_PRECISION_BIT(p)))
				continue;
			struct cf_opts o = {.precision = (uint32_t)p, .threads = 2, .bias = true};
			struct cf_setup s;
			if (!cf_setup_init(&s, be, &sh, &o, seed + (uint64_t)c, r))
				return false;
			bool ok = true;
			for (int call = 0; ok && call < 8; call++) {
				struct cf_out out;
				size_t rows = call % 2 ? sh.T : 1;
				if ((ok = cf_out_alloc(&out, &s, rows, r))) {
					ok =
					    cf_call(&s, 0, rows, &out, 1 + (uint32_t)(call % 2), r);
					cf_out_free(&out);
				}
			}
			cf_setup_free(&s);
			if (!ok)
				return false;
		}
	}
	return true;
}

/* Memory in use after blocks of identical work (prepare, 8 calls, release, per
 * precision, 4 times): a leak grows it after every block; lazy one-time allocations
 * and bounded caches grow it only now and then. Fails when each of 8 blocks after
 * 2 warm-up blocks grew it. */
void cf_case_no_leaks(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	(void)precision;
	mallopt(M_ARENA_MAX, 1);
	size_t m[LEAK_BLOCKS + 1];
	for (int b = -LEAK_WARM; b <= LEAK_BLOCKS; b++) {
		cf_progress("leak check: block %d of %d", b + LEAK_WARM, LEAK_WARM + LEAK_BLOCKS);
		if (!cf_leak_block(be, seed, r))
			return;
		if (b >= 0)
			m[b] = cf_heap_in_use();
	}
	bool grew = true;
	for (int b = 1; b <= LEAK_BLOCKS; b++)
		grew = grew && m[b] > m[b - 1];
	long per_block = (long)(m[LEAK_BLOCKS] - m[0]) / LEAK_BLOCKS;
	if (grew)
		return (void)cf_fail(r,
		                     "memory in use grew after each of %d identical blocks of "
		                     "prepare/project/release, by %ld bytes a block on average "
		                     "(%zu -> %zu bytes): a leak%s",
		                     LEAK_BLOCKS, per_block, m[0], m[LEAK_BLOCKS],
		                     cf_heap_exact() ? ""
		                                     : " (or blocks glibc's tcache keeps: this "
		                                       "process could not turn it off)");
	snprintf(r->msg, sizeof(r->msg), "heap in use stable over %d blocks (%zu -> %zu bytes)",
	         LEAK_BLOCKS, m[0], m[LEAK_BLOCKS]);
}

static long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	long n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static long vm_pages(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = -1;
	if (f && fscanf(f, "%ld", &pages) != 1)
		pages = -1;
	if (f)
		fclose(f);
	return pages;
}

#define RES_WARM 2

#define RES_BLOCKS 8

/* File descriptors, threads and mapped address space after blocks of identical work
 * (the no_leaks block: prepare, 8 calls, release, per precision, 4 times): one that
 * grows after every block leaks (a descriptor or a mapping per prepare, a helper
 * thread never joined). Lazily made pools and caches grow it once. */
void cf_case_no_resource_leaks(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	(void)precision;
	static const char *const what[3] = {"open file descriptors", "threads",
	                                    "mapped address space (pages)"};
	long m[3][RES_BLOCKS + 1];
	for (int b = -RES_WARM; b <= RES_BLOCKS; b++) {
		cf_progress("resource check: block %d of %d", b + RES_WARM, RES_WARM + RES_BLOCKS);
		if (!cf_leak_block(be, seed, r))
			return;
		if (b < 0)
			continue;
		m[0][b] = count_entries("/proc/self/fd");
		m[1][b] = count_entries("/proc/self/task");
		m[2][b] = vm_pages();
	}
	for (int k = 0; k < 3; k++) {
		bool grew = m[k][0] >= 0;
		for (int b = 1; b <= RES_BLOCKS; b++)
			grew = grew && m[k][b] > m[k][b - 1];
		if (grew)
			return (void)cf_fail(r,
			                     "%s grew after each of %d identical blocks of "
			                     "prepare/project/release (%ld -> %ld): a leak",
			                     what[k], RES_BLOCKS, m[k][0], m[k][RES_BLOCKS]);
	}
	snprintf(r->msg, sizeof(r->msg), "%ld fds, %ld threads, %ld pages: stable over %d blocks",
	         m[0][RES_BLOCKS], m[1][RES_BLOCKS], m[2][RES_BLOCKS], RES_BLOCKS);
}
