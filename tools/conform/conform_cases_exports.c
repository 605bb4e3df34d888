/* The plugin file exports its descriptor and nothing else (its ELF dynamic symbols). */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

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
