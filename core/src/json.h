/* A small strict JSON pull reader, enough for safetensors headers.
 *
 * There is no tree and no recursion: the caller walks the document with these calls
 * following its own schema, so the nesting depth is bounded by the schema (3 for
 * safetensors), never by the input. Strings are capped at QKV_JSON_MAX_STRING bytes.
 * Numbers are read only as non-negative integers without fraction or exponent
 * (safetensors never needs more); anything else is refused with a reason.
 * On failure a call returns false and leaves a problem text and the byte offset in
 * the reader, for the caller to wrap with its file name.
 */
#ifndef QKV_CORE_JSON_H
#define QKV_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QKV_JSON_MAX_STRING (1u << 16)

struct qkv_json {
	const uint8_t *s; /* [n] the document */
	size_t n;
	size_t pos;        /* next byte to read */
	size_t err_pos;    /* where the problem was found */
	char problem[160]; /* set when a call returns false */
};

void qkv_json_init(struct qkv_json *j, const uint8_t *s, size_t n);

/* Is s[n] valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF)? On false,
 * *bad is the offset of the first invalid byte. */
bool qkv_json_utf8_valid(const uint8_t *s, size_t n, size_t *bad);

/* Skip whitespace; then, if the next byte is `c`, consume it and return true. */
bool qkv_json_accept(struct qkv_json *j, char c);

/* Skip whitespace and require `c` (what = what was expected, for the message). */
bool qkv_json_expect(struct qkv_json *j, char c, const char *what);

/* Skip whitespace and read a string into a new NUL-terminated buffer (qkv_malloc'd,
 * the caller frees it with qkv_free). Escapes are decoded; \u0000 is refused since
 * names are C strings. On allocation failure: false with problem "out of memory"
 * and *oom set. */
bool qkv_json_string(struct qkv_json *j, char **out, bool *oom);

/* Skip whitespace and read a non-negative integer that fits in uint64_t. Negative
 * numbers, fractions, exponents, leading zeros are refused by name. */
bool qkv_json_uint(struct qkv_json *j, uint64_t *out);

/* Skip whitespace; true when only whitespace remains. */
bool qkv_json_at_end(struct qkv_json *j);

#endif
