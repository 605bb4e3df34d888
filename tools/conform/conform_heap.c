/* Exact heap counts: glibc's tcache off, by starting again (conform_heap.h). */
#define _GNU_SOURCE /* mallinfo2 */
#include "conform_heap.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_TCACHE "glibc.malloc.tcache_count=0"
#define TRIED "QKV_HEAP_EXACT"

extern char **environ;

extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");
	return pre && strstr(pre, "vgpreload");
}

static bool tcache_off(void)
{
	const char *t = getenv("GLIBC_TUNABLES");
	return t && strstr(t, NO_TCACHE);
}

bool cf_heap_exact(void)
{
	return __sanitizer_get_current_allocated_bytes || (tcache_off() && !under_valgrind());
}

size_t cf_heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* This process's arguments from /proc/self/cmdline (NUL-separated) into a NULL-ended
 * array in one allocation; NULL when unreadable. */
static char **own_argv(void)
{
	FILE *f = fopen("/proc/self/cmdline", "rb");
	if (!f)
		return NULL;
	char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	int complete = n < sizeof(buf) && !ferror(f);
	fclose(f);
	if (!complete || n == 0 || buf[n - 1] != '\0')
		return NULL;
	size_t argc = 0;
	for (size_t i = 0; i < n; i++)
		argc += buf[i] == '\0';
	char **argv = malloc((argc + 1) * sizeof(char *) + n);
	if (!argv)
		return NULL;
	char *text = (char *)(argv + argc + 1);
	memcpy(text, buf, n);
	for (size_t i = 0, a = 0; a < argc; a++) {
		argv[a] = text + i;
		i += strlen(text + i) + 1;
	}
	argv[argc] = NULL;
	return argv;
}

void cf_heap_exact_reexec(void)
{
	if (cf_heap_exact() || under_valgrind() || getenv(TRIED))
		return;
	char **argv = own_argv();
	if (!argv)
		return;
	const char *old = getenv("GLIBC_TUNABLES");
	char *saved = old ? strdup(old) : NULL;
	size_t len = (old ? strlen(old) + 1 : 0) + sizeof(NO_TCACHE);
	char *tunables = malloc(len);
	if (tunables && (!old || saved)) {
		snprintf(tunables, len, "%s%s%s", old ? old : "", old ? ":" : "", NO_TCACHE);
		setenv(TRIED, "1", 1);
		setenv("GLIBC_TUNABLES", tunables, 1);
		fflush(NULL);
		execve("/proc/self/exe", argv, environ); /* execve: preloads can see it (qemu) */
		/* not executed: as it was, except TRIED (so no program tries twice) */
		if (saved)
			setenv("GLIBC_TUNABLES", saved, 1);
		else
			unsetenv("GLIBC_TUNABLES");
	}
	free(tunables);
	free(saved);
	free(argv);
}
