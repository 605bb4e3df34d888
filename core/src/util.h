/* Small helpers shared by the core: error messages, checked arithmetic, allocation. */
#ifndef QKV_CORE_UTIL_H
#define QKV_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

/* Write a formatted message into err[errlen] (truncating) and return `status`.
 * err may be NULL. */
enum qkv_status qkv_fail(char *err, size_t errlen, enum qkv_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool qkv_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool qkv_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Every allocation in the core goes through these, so a test can make the n-th
 * one fail (SQLite-style fault injection). qkv_free accepts NULL. */
void *qkv_malloc(size_t size);
void *qkv_calloc(size_t n, size_t size);
void *qkv_realloc(void *p, size_t size);
void qkv_free(void *p);
char *qkv_strdup(const char *s);

/* Test hook (internal, not exported from libqkv.so): fail allocation number n
 * (1-based) counted from now, and every later one when `sticky`; n = 0 disables.
 * qkv_alloc_count() tells how many allocations were attempted since the last call
 * of qkv_alloc_fail_at. */
void qkv_alloc_fail_at(unsigned long n, bool sticky);
unsigned long qkv_alloc_count(void);

#endif
