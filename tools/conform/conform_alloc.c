/* The interposed allocator of the prepare-failure checks (conform_alloc.h): the plugin's
 * GOT entries for the allocation functions point here; in a guarded stretch every block
 * gets pages of its own, ends at a PROT_NONE page, and becomes PROT_NONE when freed. */
#define _GNU_SOURCE /* dl_iterate_phdr, MAP_ANONYMOUS, memalign */
#include "conform_alloc.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_BLOCKS 8192 /* guarded blocks at once; more are counted but not guarded */

struct block {
	char *map, *p;
	size_t map_len, size;
	unsigned serial;     /* its number in the stretch it was allocated in */
	bool freed, stretch; /* stretch: allocated in the current one */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct block blocks[MAX_BLOCKS]; /* [n_blocks], guarded by mu */
static atomic_size_t n_blocks;
static bool guarding;
static unsigned serial, fail_at, double_free, double_free_of, unguarded;

static struct block *find(const void *p)
{
	size_t n = atomic_load(&n_blocks);
	for (size_t i = 0; i < n; i++)
		if (blocks[i].p == p)
			return &blocks[i];
	return NULL;
}

/* A block of `size` bytes aligned to `align`, ending at a PROT_NONE page; mu held. NULL
 * for the allocation meant to fail. */
static void *guarded(size_t size, size_t align)
{
	if (++serial == fail_at)
		return NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = atomic_load(&n_blocks);
	size_t pages = (size + align + page - 1) / page;
	if (n == MAX_BLOCKS || size > ((size_t)1 << 40)) {
		unguarded++;
		void *p = NULL;
		return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
	}
	size_t len = (pages + 1) * page;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + pages * page, page, PROT_NONE) != 0) {
		munmap(m, len);
		return NULL;
	}
	char *p = (char *)(((uintptr_t)(m + pages * page) - size) & ~(uintptr_t)(align - 1));
	blocks[n] = (struct block){m, p, len, size, serial, false, true};
	atomic_store(&n_blocks, n + 1);
	return p;
}

static void *alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	pthread_mutex_lock(&mu);
	bool g = guarding;
	void *p = g ? guarded(size, align) : NULL;
	pthread_mutex_unlock(&mu);
	if (!g && posix_memalign(&p, align, size ? size : 1) != 0)
		p = NULL;
	if (!p)
		errno = ENOMEM;
	return p;
}

static void cf_free(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&mu);
	struct block *b = atomic_load(&n_blocks) ? find(p) : NULL;
	if (b && b->freed) {
		if (double_free++ == 0)
			double_free_of = b->stretch ? b->serial : 0;
	} else if (b) {
		b->freed = true;
		mprotect(b->map, b->map_len, PROT_NONE); /* any later access faults */
	}
	pthread_mutex_unlock(&mu);
	if (!b)
		free(p);
}

static void *cf_malloc(size_t size)
{
	return alloc(size, 16);
}

static void *cf_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = alloc(n * size, 16);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *cf_realloc(void *p, size_t size)
{
	if (!p)
		return cf_malloc(size);
	pthread_mutex_lock(&mu);
	struct block *b = atomic_load(&n_blocks) ? find(p) : NULL;
	size_t old = b ? b->size : 0;
	bool freed = b && b->freed;
	pthread_mutex_unlock(&mu);
	if (freed) { /* realloc of a freed block: a use after free, counted as a double free */
		cf_free(p);
		return NULL;
	}
	if (!b) { /* a block from before the stretch: the C library's */
		pthread_mutex_lock(&mu);
		bool fail = guarding && ++serial == fail_at;
		pthread_mutex_unlock(&mu);
		return fail ? NULL : realloc(p, size);
	}
	void *q = cf_malloc(size);
	if (!q)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	cf_free(p);
	return q;
}

static void *cf_aligned_alloc(size_t align, size_t size)
{
	return alloc(size, align);
}

static void *cf_memalign(size_t align, size_t size)
{
	return alloc(size, align);
}

static int cf_posix_memalign(void **out, size_t align, size_t size)
{
	void *p = alloc(size, align);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void cf_alloc_begin(unsigned fail)
{
	pthread_mutex_lock(&mu);
	serial = 0;
	fail_at = fail;
	double_free = double_free_of = unguarded = 0;
	for (size_t i = 0; i < atomic_load(&n_blocks); i++)
		blocks[i].stretch = false;
	guarding = true;
	pthread_mutex_unlock(&mu);
}

void cf_alloc_end(void)
{
	pthread_mutex_lock(&mu);
	guarding = false;
	fail_at = 0;
	pthread_mutex_unlock(&mu);
}

void cf_alloc_stats(struct cf_alloc_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&mu);
	st->count = serial;
	st->double_free = double_free;
	st->double_free_of = double_free_of;
	st->unguarded = unguarded;
	for (size_t i = 0; i < atomic_load(&n_blocks); i++)
		if (blocks[i].stretch && !blocks[i].freed && st->live++ == 0)
			st->first_live = blocks[i].serial;
	pthread_mutex_unlock(&mu);
}

void cf_alloc_reset(void)
{
	pthread_mutex_lock(&mu);
	size_t n = atomic_load(&n_blocks), kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (blocks[i].freed)
			munmap(blocks[i].map, blocks[i].map_len);
		else
			blocks[kept++] = blocks[i];
	}
	atomic_store(&n_blocks, kept);
	pthread_mutex_unlock(&mu);
}

/* ---- the trap for faults on freed blocks ------------------------------------------ */

static sigjmp_buf trap_jmp;
static pthread_t trap_thread;
static volatile sig_atomic_t trap_armed;
static volatile unsigned trap_block;
static struct sigaction old_segv, old_bus;

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (trap_armed && pthread_equal(pthread_self(), trap_thread)) {
		uintptr_t a = (uintptr_t)si->si_addr;
		size_t n = atomic_load(&n_blocks);
		for (size_t i = 0; i < n; i++) {
			const struct block *b = &blocks[i];
			if (b->freed && a >= (uintptr_t)b->map &&
			    a < (uintptr_t)b->map + b->map_len) {
				trap_block = b->stretch ? b->serial : 0;
				trap_armed = 0;
				siglongjmp(trap_jmp, 1);
			}
		}
	}
	/* not a freed block, or another thread: what was there before runs (a crash) */
	sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

bool cf_alloc_trap(void (*fn)(void *), void *arg, unsigned *block)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	trap_thread = pthread_self();
	volatile bool ok = true;
	if (sigsetjmp(trap_jmp, 1) == 0) {
		trap_armed = 1;
		fn(arg);
		trap_armed = 0;
	} else {
		ok = false;
		*block = trap_block;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return ok;
}

/* ---- pointing the plugin's GOT entries here ---------------------------------------- */

static const struct {
	const char *name;
	uintptr_t fn;
} table[] = {
    {"malloc", (uintptr_t)cf_malloc},
    {"calloc", (uintptr_t)cf_calloc},
    {"realloc", (uintptr_t)cf_realloc},
    {"free", (uintptr_t)cf_free},
    {"aligned_alloc", (uintptr_t)cf_aligned_alloc},
    {"memalign", (uintptr_t)cf_memalign},
    {"posix_memalign", (uintptr_t)cf_posix_memalign},
};

/* The relocations that hold a function's address: PLT slots and GOT entries, and plain
 * 64-bit addresses (a function pointer in the plugin's data, plus its addend). */
#if defined(__x86_64__)
#define RELOC_SLOT(t) ((t) == R_X86_64_JUMP_SLOT || (t) == R_X86_64_GLOB_DAT)
#define RELOC_ABS(t) ((t) == R_X86_64_64)
#elif defined(__aarch64__)
#define RELOC_SLOT(t) ((t) == R_AARCH64_JUMP_SLOT || (t) == R_AARCH64_GLOB_DAT)
#define RELOC_ABS(t) ((t) == R_AARCH64_ABS64)
#else
#define RELOC_SLOT(t) ((void)(t), 0)
#define RELOC_ABS(t) ((void)(t), 0)
#endif

struct object {
	uintptr_t addr; /* an address inside it */
	struct dl_phdr_info info;
	bool found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct object *o = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && o->addr >= lo && o->addr < lo + ph->p_memsz) {
			o->info = *info;
			o->found = true;
			return 1;
		}
	}
	return 0;
}

/* Write fn into the slot at `at`, making its page writable for the moment. */
static bool patch(uintptr_t at, uintptr_t fn)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *pg = (void *)(at & ~(uintptr_t)(page - 1));
	if (mprotect(pg, page, PROT_READ | PROT_WRITE) != 0)
		return false;
	*(uintptr_t *)at = fn;
	return true; /* left writable: RELRO is a hardening of the plugin, not its contract */
}

static bool patch_relocs(uintptr_t base, const ElfW(Rela) * rel, size_t bytes,
                         const ElfW(Sym) * sym, const char *str, int *patched)
{
	for (size_t i = 0; i < bytes / sizeof(*rel); i++) {
		unsigned type = (unsigned)ELF64_R_TYPE(rel[i].r_info);
		size_t s = ELF64_R_SYM(rel[i].r_info);
		if (!s || !(RELOC_SLOT(type) || RELOC_ABS(type)))
			continue;
		const char *name = str + sym[s].st_name;
		for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++)
			if (strcmp(name, table[k].name) == 0) {
				uintptr_t add = RELOC_ABS(type) ? (uintptr_t)rel[i].r_addend : 0;
				if (!patch(base + rel[i].r_offset, table[k].fn + add))
					return false;
				(*patched)++;
			}
	}
	return true;
}

bool cf_alloc_attach(const struct qkv_backend *be, char *why, size_t len)
{
#if !defined(__x86_64__) && !defined(__aarch64__)
	snprintf(why, len, "no allocator interposition on this architecture");
	return false;
#endif
	struct object o = {.addr = (uintptr_t)be};
	dl_iterate_phdr(find_object, &o);
	if (!o.found)
		return snprintf(why, len, "the plugin's object is not in the link map"), false;
	uintptr_t base = o.info.dlpi_addr;
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < o.info.dlpi_phnum; i++)
		if (o.info.dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(base + o.info.dlpi_phdr[i].p_vaddr);
	uintptr_t v[DT_NUM] = {0};
	for (; dyn && dyn->d_tag != DT_NULL; dyn++)
		if (dyn->d_tag >= 0 && dyn->d_tag < DT_NUM)
			v[dyn->d_tag] = dyn->d_un.d_ptr;
	for (int t = 0; t < DT_NUM; t++) /* glibc relocates these in place; others may not */
		if ((t == DT_SYMTAB || t == DT_STRTAB || t == DT_RELA || t == DT_JMPREL) && v[t] &&
		    v[t] < base)
			v[t] += base;
	if (!v[DT_SYMTAB] || !v[DT_STRTAB] || (v[DT_JMPREL] && v[DT_PLTREL] != DT_RELA))
		return snprintf(why, len,
		                "the plugin's dynamic section is not one the harness "
		                "reads"),
		       false;
	const ElfW(Sym) *sym = (const ElfW(Sym) *)v[DT_SYMTAB];
	const char *str = (const char *)v[DT_STRTAB];
	int patched = 0; /* slots written (for a debugger) */
	if ((v[DT_RELA] && !patch_relocs(base, (const ElfW(Rela) *)v[DT_RELA], v[DT_RELASZ], sym,
	                                 str, &patched)) ||
	    (v[DT_JMPREL] && !patch_relocs(base, (const ElfW(Rela) *)v[DT_JMPREL], v[DT_PLTRELSZ],
	                                   sym, str, &patched)))
		return snprintf(why, len, "cannot write the plugin's GOT"), false;
	return true; /* patched may be 0: a plugin that allocates nothing */
}
