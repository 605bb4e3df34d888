/* An allocator interposed between the plugin under test and the C library, for the
 * failure paths of prepare (conform_cases_failure.c): it counts the plugin's allocations
 * (malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign), fails the n-th one,
 * and guards every block it hands out, so that a double free or a use after free shows
 * without ASan, as SQLite's OOM loop and Electric Fence do.
 *
 * Only the plugin's own calls are interposed (its GOT entries are pointed at the
 * harness's functions): the harness, the core, libc and the engines the plugin links
 * (OpenMP, OpenBLAS, oneDNN) keep their allocators. */
#ifndef QKV_CONFORM_ALLOC_H
#define QKV_CONFORM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "conform.h"

/* Point the allocation entries of the shared object holding `be` at the interposer.
 * False (and why) when the object cannot be found or this architecture's relocations are
 * not known. Once attached, a plugin stays attached; outside a guarded stretch every call
 * goes to the C library as before. */
bool cf_alloc_attach(const struct qkv_backend *be, char *why, size_t len);

/* Start a guarded stretch: allocations are counted from 1 and each block gets pages of
 * its own, ending at a PROT_NONE page; allocation number `fail_at` (0: none) returns NULL.
 * A freed block becomes PROT_NONE (any later access faults) and stays so until
 * cf_alloc_reset. */
void cf_alloc_begin(unsigned fail_at);
/* Stop counting and failing (blocks stay guarded). */
void cf_alloc_end(void);

struct cf_alloc_stats {
	unsigned count;          /* allocations made in the stretch (the failed one included) */
	unsigned live;           /* blocks of the stretch not freed yet */
	unsigned first_live;     /* the number of the first of them */
	unsigned double_free;    /* frees of a block already freed */
	unsigned double_free_of; /* the number of the first block freed twice */
	unsigned unguarded;      /* allocations the table had no room for (not guarded) */
};
void cf_alloc_stats(struct cf_alloc_stats *st);

/* Run fn(arg) with a trap for faults on freed blocks: true when fn returned; false when it
 * touched a freed block, with *block the number of that block (0 when it was allocated
 * before the stretch) and the fault address in *addr. A fault anywhere else, or on another
 * thread, still crashes the process (the runners report it as a crash). */
bool cf_alloc_trap(void (*fn)(void *), void *arg, unsigned *block);

/* Unmap the freed blocks and forget the stretch. Live blocks stay (the plugin may still
 * own them). */
void cf_alloc_reset(void);

#endif
