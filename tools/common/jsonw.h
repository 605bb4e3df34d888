/* The one JSON writer of the qkv tools (bench --json, conform --report): a streaming
 * writer that places commas, quotes and escapes strings, and lays the document out.
 *
 *     struct jsonw w;
 *     jsonw_init(&w, f, 2);          containers opened at depth < 2 put one member a line
 *     jsonw_object(&w);              {
 *     jsonw_key(&w, "rows");         "rows":
 *     jsonw_array(&w);               [
 *     ...
 *     jsonw_end(&w);                 ]
 *     jsonw_end(&w);                 }
 *
 * Numbers that are not finite are written as null (JSON has no NaN). The writer does not
 * check that keys appear only inside objects: that is the caller's structure. Write
 * errors are seen by ferror() on the FILE. */
#ifndef QKV_TOOLS_JSONW_H
#define QKV_TOOLS_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSONW_MAX_DEPTH 16

struct jsonw {
	FILE *f;
	int depth, wrap_depth;
	bool has_member[JSONW_MAX_DEPTH]; /* [depth] a member was written in this container */
	bool wrapped[JSONW_MAX_DEPTH];    /* [depth] members go on lines of their own */
	char closer[JSONW_MAX_DEPTH];     /* [depth] '}' or ']' */
	bool after_key;
	bool too_deep; /* a container beyond JSONW_MAX_DEPTH was refused: output incomplete */
};

/* Containers opened at a depth below wrap_depth list their members one a line, indented
 * by two spaces a level; deeper ones stay on one line ("a, b"). */
void jsonw_init(struct jsonw *w, FILE *f, int wrap_depth);

void jsonw_object(struct jsonw *w);
void jsonw_array(struct jsonw *w);
void jsonw_end(struct jsonw *w); /* closes the innermost object or array; a newline at depth 0 */

void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s);        /* NULL writes null */
void jsonw_double(struct jsonw *w, double v, int digits); /* %.{digits}g */
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* key + value in one call, for objects. */
void jsonw_kv_string(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_double(struct jsonw *w, const char *key, double v, int digits);
void jsonw_kv_uint(struct jsonw *w, const char *key, uint64_t v);

/* True when the document so far is well formed and the FILE saw no error. */
bool jsonw_ok(const struct jsonw *w);

/* The escaper alone: s as a JSON string literal, quotes included; bytes that are not
 * valid UTF-8 become U+FFFD, so the output is always valid JSON. */
void jsonw_quote(FILE *f, const char *s);

#endif
