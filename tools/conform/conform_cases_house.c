/* Housekeeping and ABI-edge cases: structs larger than sizeof, the error buffer,
 * nothing printed, no leaks, one exported symbol. */
#define _GNU_SOURCE /* dladdr, M_ARENA_MAX */
#include <dlfcn.h>
#include <elf.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* struct_size larger than this header's sizeof, zeroed tail: what a core of a later
 * 1.x minor passes. The backend must accept problem, weights, batch and probe result
 * and compute the same as with exact sizes. */
void cf_case_abi_struct_sizes(const struct qkv_backend *be, int precision, uint64_t seed,
                              struct cf_report *r)
{
	(void)precision;
	unsigned char big[sizeof(struct qkv_probe_result) + 64];
	memset(big, 0, sizeof(big));
	struct qkv_probe_result *pr = (struct qkv_probe_result *)(void *)big;
	pr->struct_size = (uint32_t)sizeof(big);
	be->probe(pr);
	if (!memchr(pr->detail, '\0', sizeof(pr->detail)))
		return (void)cf_fail(r, "probe with struct_size %zu left detail without a NUL",
		                     sizeof(big));
	static const struct cf_shape sh = {7, 40, 2, 1, 8};
	struct cf_rng g = {seed};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			continue;
		for (size_t extra = 8; extra <= 64; extra *= 8) {
			struct cf_opts o = {.precision = (uint32_t)p,
			                    .threads = 2,
			                    .bias = true,
			                    .struct_extra = extra,
			                    .prequantized = p == QKV_INT8 && extra == 64};
			if (!cf_check_problem(be, &sh, &o, cf_rng_next(&g), r)) {
				size_t n = strlen(r->msg);
				snprintf(r->msg + n, sizeof(r->msg) - n,
				         " (struct_size = sizeof + %zu, zeroed tail: a newer 1.x "
				         "core passes that)",
				         extra);
				return;
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "struct_size = sizeof + 8 and + 64 accepted, same results");
}

/* The error message stays inside err[errlen] and ends with a NUL there: errlen 0
 * (nothing written), 1, 7 and 300, on a refused precision. */
void cf_case_error_buffer(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	(void)seed;
	static const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const size_t lens[] = {0, 1, 7, 300};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char buf[400];
		memset(buf, 0x5a, sizeof(buf));
		struct qkv_problem pb = {sizeof(pb), 0xffffffffu, 4, 1, 1, 2, 2, 2, 1, {0}};
		struct qkv_weights wt = {.struct_size = sizeof(wt), .layout = QKV_LAYOUT_IN_OUT};
		for (int p = 0; p < 3; p++)
			wt.w[p] = w;
		void *h = NULL;
		cf_progress("prepare with a refused precision, errlen %zu", lens[i]);
		enum qkv_status st = be->prepare(&pb, &wt, &h, buf, lens[i]);
		be->release(h);
		if (st == QKV_OK)
			return (void)cf_fail(r, "prepare accepted precision 0xffffffff");
		for (size_t k = lens[i]; k < sizeof(buf); k++)
			if (buf[k] != 0x5a)
				return (void)cf_fail(
				    r,
				    "prepare's error message wrote byte %zu of err "
				    "with errlen %zu (must stay inside err[errlen])",
				    k, lens[i]);
		if (lens[i] > 0 && !memchr(buf, '\0', lens[i]))
			return (void)cf_fail(r,
			                     "prepare's error message is not NUL-terminated within "
			                     "errlen %zu",
			                     lens[i]);
	}
	snprintf(r->msg, sizeof(r->msg), "messages stay in err[errlen], NUL-terminated");
}

/* ---- nothing printed -------------------------------------------------------------- */

/* Every entry point on the good and the error paths, with fds 1 and 2 sent to a
 * temporary file: a backend never prints. */
void cf_case_no_output(const struct qkv_backend *be, int precision, uint64_t seed,
                       struct cf_report *r)
{
	(void)precision;
	fflush(NULL);
	FILE *tmp = tmpfile();
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
	if (!tmp || saved_out < 0 || saved_err < 0 || dup2(fileno(tmp), STDOUT_FILENO) < 0 ||
	    dup2(fileno(tmp), STDERR_FILENO) < 0) {
		if (tmp)
			fclose(tmp);
		return (void)cf_fail(r, "harness: cannot redirect stdout/stderr");
	}
	struct qkv_probe_result pr = {.struct_size = sizeof(pr)};
	be->probe(&pr);
	struct cf_report sub;
	memset(&sub, 0, sizeof(sub));
	cf_case_refuse_undeclared(be, -1, seed, &sub);
	struct cf_rng g = {seed};
	static const struct cf_shape sh[] = {{0, 8, 1, 1, 4}, {5, 24, 2, 1, 8}, {70, 64, 2, 2, 8}};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			continue;
		for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
			struct cf_opts o = {.precision = (uint32_t)p,
			                    .threads = 1 + (uint32_t)i,
			                    .bias = true,
			                    .fill = i == 2 ? CF_FILL_SPECIAL : CF_FILL_RANDOM};
			cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), &sub);
		}
	}
	fflush(NULL);
	long size = -1;
	if (fseek(tmp, 0, SEEK_END) == 0)
		size = ftell(tmp);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	char text[81] = "";
	if (size > 0) {
		rewind(tmp);
		size_t n = fread(text, 1, sizeof(text) - 1, tmp);
		text[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
				text[i] = ' ';
	}
	fclose(tmp);
	if (size != 0)
		return (void)cf_fail(r,
		                     "the plugin printed %ld bytes to stdout/stderr (a backend "
		                     "never prints): \"%s\"",
		                     size, text);
	snprintf(r->msg, sizeof(r->msg),
	         "probe, refusals, prepare, project, release: nothing printed");
}

/* ---- no leaks ---------------------------------------------------------------------- */

/* Bytes in use by malloc: ASan's count under ASan, else glibc's (with one arena, so
 * the backend's worker threads are counted too). */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

#define LEAK_WARM 2 /* blocks before the first measurement: lazy set-up, caches */
#define LEAK_BLOCKS 8
#define LEAK_CYCLES 4 /* prepare, 8 calls, release */

/* A prepare that must fail (precision 0xffffffff), then release: the error path must
 * not leak either. */
static void failed_prepare(const struct qkv_backend *be)
{
	static const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct qkv_problem pb = {sizeof(pb), 0xffffffffu, 4, 1, 1, 2, 2, 2, 1, {0}};
	struct qkv_weights wt = {.struct_size = sizeof(wt), .layout = QKV_LAYOUT_IN_OUT};
	for (int p = 0; p < 3; p++)
		wt.w[p] = w;
	void *h = NULL;
	char err[256];
	be->prepare(&pb, &wt, &h, err, sizeof(err));
	be->release(h);
}

bool cf_leak_block(const struct qkv_backend *be, uint64_t seed, struct cf_report *r)
{
	static const struct cf_shape sh = {9, 64, 2, 1, 16};
	for (int c = 0; c < LEAK_CYCLES; c++) {
		failed_prepare(be);
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
			m[b] = heap_in_use();
	}
	bool grew = true;
	for (int b = 1; b <= LEAK_BLOCKS; b++)
		grew = grew && m[b] > m[b - 1];
	long per_block = (long)(m[LEAK_BLOCKS] - m[0]) / LEAK_BLOCKS;
	if (grew)
		return (void)cf_fail(r,
		                     "memory in use grew after each of %d identical blocks of "
		                     "prepare/project/release, by %ld bytes a block on average "
		                     "(%zu -> %zu bytes): a leak",
		                     LEAK_BLOCKS, per_block, m[0], m[LEAK_BLOCKS]);
	snprintf(r->msg, sizeof(r->msg), "heap in use stable over %d blocks (%zu -> %zu bytes)",
	         LEAK_BLOCKS, m[0], m[LEAK_BLOCKS]);
}

/* ---- exported symbols ---------------------------------------------------------------- */

/* Symbols a toolchain adds on its own (sanitizer instrumentation, old binutils). */
static bool toolchain_symbol(const char *name)
{
	static const char *const prefixes[] = {"__asan", "__odr_asan",  "__ubsan", "__lsan",
	                                       "__tsan", "__sanitizer", "__gcov",  "__llvm_"};
	static const char *const names[] = {"_init", "_fini", "_edata", "_end", "__bss_start"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Read the file's dynamic symbol table: every defined global or weak symbol other than
 * qkv_backend_descriptor is an export it should not have. */
void cf_case_exports(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	(void)precision;
	(void)seed;
	Dl_info info;
	if (!dladdr(be, &info) || !info.dli_fname)
		return (void)cf_fail(r, "harness: cannot find the file the descriptor is in");
	FILE *f = fopen(info.dli_fname, "rb");
	if (!f)
		return (void)cf_fail(r, "harness: cannot open %s", info.dli_fname);
	char *img = NULL;
	long size = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (img = malloc((size_t)size)) && fread(img, 1, (size_t)size, f) != (size_t)size) {
		free(img);
		img = NULL;
	}
	fclose(f);
	if (!img)
		return (void)cf_fail(r, "harness: cannot read %s", info.dli_fname);
	size_t n = (size_t)size, extra = 0, found = 0;
	char first[128] = "";
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(void *)img;
	bool ok = n >= sizeof(*eh) && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
	          eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_shentsize == sizeof(Elf64_Shdr) &&
	          eh->e_shoff <= n && eh->e_shnum <= (n - eh->e_shoff) / sizeof(Elf64_Shdr);
	for (size_t i = 0; ok && i < eh->e_shnum; i++) {
		const Elf64_Shdr *sh = (const Elf64_Shdr *)(void *)(img + eh->e_shoff) + i;
		if (sh->sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Shdr *strs =
		    sh->sh_link < eh->e_shnum
		        ? (const Elf64_Shdr *)(void *)(img + eh->e_shoff) + sh->sh_link
		        : NULL;
		if (!strs || sh->sh_offset > n || sh->sh_size > n - sh->sh_offset ||
		    strs->sh_offset > n || strs->sh_size > n - strs->sh_offset) {
			ok = false;
			break;
		}
		const Elf64_Sym *sym = (const Elf64_Sym *)(void *)(img + sh->sh_offset);
		for (size_t k = 0; k < sh->sh_size / sizeof(Elf64_Sym); k++) {
			int bind = ELF64_ST_BIND(sym[k].st_info),
			    type = ELF64_ST_TYPE(sym[k].st_info);
			if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= strs->sh_size ||
			    (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) ||
			    type == STT_SECTION || type == STT_FILE)
				continue;
			const char *name = img + strs->sh_offset + sym[k].st_name;
			if (!memchr(name, '\0', strs->sh_size - sym[k].st_name))
				continue;
			if (sym[k].st_shndx == SHN_ABS && sym[k].st_value == 0 &&
			    sym[k].st_size == 0)
				continue; /* a symbol version's name */
			if (strcmp(name, QKV_BACKEND_SYMBOL) == 0) {
				found++;
			} else if (!toolchain_symbol(name) && extra++ == 0) {
				snprintf(first, sizeof(first), "%.100s", name);
			}
		}
	}
	free(img);
	if (!ok)
		return (void)cf_fail(r, "%s: not a 64-bit ELF file the harness can read",
		                     info.dli_fname);
	if (extra)
		return (void)cf_fail(r,
		                     "exports %zu symbol%s besides %s, e.g. `%s` (build with "
		                     "-fvisibility=hidden: they clash with other plugins')",
		                     extra, extra == 1 ? "" : "s", QKV_BACKEND_SYMBOL, first);
	if (found != 1)
		return (void)cf_fail(r, "%s is not in the dynamic symbol table",
		                     QKV_BACKEND_SYMBOL);
	snprintf(r->msg, sizeof(r->msg), "exports only %s", QKV_BACKEND_SYMBOL);
}
