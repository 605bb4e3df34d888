/* qkv_big_alloc and qkv_big_free: big_alloc.h. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise, MADV_HUGEPAGE */
#include "big_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* bytes rounded up to whole pages of the system (4 KiB on x86-64, 4-64 KiB on aarch64) */
static size_t mapped_len(size_t bytes)
{
	long sz = sysconf(_SC_PAGESIZE);
	size_t page = sz > 0 ? (size_t)sz : 4096;
	return (bytes + page - 1) / page * page;
}

void *qkv_big_alloc(size_t bytes)
{
	if (bytes < QKV_BIG_ALLOC_MIN) {
		void *p = NULL;
		return posix_memalign(&p, 64, bytes ? bytes : 1) ? NULL : p;
	}
	size_t len = mapped_len(bytes);
	if (len > SIZE_MAX - HUGE_PAGE)
		return NULL;
	char *map =
	    mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	/* keep [start, start + len), 2 MiB aligned; unmap the slack on both sides */
	char *start = map + ((HUGE_PAGE - (uintptr_t)map % HUGE_PAGE) % HUGE_PAGE);
	size_t head = (size_t)(start - map), tail = HUGE_PAGE - head;
	if (head)
		(void)munmap(map, head);
	if (tail)
		(void)munmap(start + len, tail);
#ifdef MADV_HUGEPAGE
	(void)madvise(start, len, MADV_HUGEPAGE);
#endif
	return start;
}

void qkv_big_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < QKV_BIG_ALLOC_MIN)
		free(p);
	else
		(void)munmap(p, mapped_len(bytes));
}
