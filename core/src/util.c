#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum qkv_status qkv_fail(char *err, size_t errlen, enum qkv_status status, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* Fault injection state. Atomic so that concurrent calls in tests stay defined. */
static _Atomic unsigned long alloc_count;
static _Atomic unsigned long alloc_fail_at;
static _Atomic bool alloc_fail_sticky;

void qkv_alloc_fail_at(unsigned long n, bool sticky)
{
	alloc_count = 0;
	alloc_fail_sticky = sticky;
	alloc_fail_at = n;
}

unsigned long qkv_alloc_count(void)
{
	return alloc_count;
}

static bool alloc_should_fail(void)
{
	unsigned long n = ++alloc_count;
	unsigned long at = alloc_fail_at;
	if (at == 0)
		return false;
	return n == at || (alloc_fail_sticky && n > at);
}

void *qkv_malloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *qkv_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *qkv_realloc(void *p, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void qkv_free(void *p)
{
	free(p);
}

char *qkv_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = qkv_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
