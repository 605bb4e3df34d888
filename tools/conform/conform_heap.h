/* Heap bytes in use, exact enough to see a leak of a few bytes per block of work.
 *
 * glibc keeps up to 7 freed blocks per size class and thread (its tcache) and counts them
 * as in use. A correct plugin whose threads free blocks of ever new sizes (oneDNN's do)
 * then looks as if it grew for a hundred prepares. The tunable that turns the tcache off
 * is read only when a process starts, so the programs that measure heap use start
 * themselves once more with it set (cf_heap_exact_reexec, first thing in main or in a
 * constructor). Under ASan the sanitizer's own count is used; under valgrind neither
 * count means anything (valgrind finds leaks itself). */
#ifndef QKV_CONFORM_HEAP_H
#define QKV_CONFORM_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* Execute this program again, same arguments, with glibc's tcache off, unless it is off
 * already, ASan counts, valgrind runs it, or it was tried once (QKV_HEAP_EXACT set). On
 * failure it carries on as it is, with the environment as it was. */
void cf_heap_exact_reexec(void);

/* True when cf_heap_in_use counts every block exactly (no tcache, or ASan). */
bool cf_heap_exact(void);

/* Bytes the allocator has handed out and not taken back (ASan's count under ASan). */
size_t cf_heap_in_use(void);

#endif
