/* The bad-input corpus manifest (cases.txt, written by gen_corpus.py) and the checks
 * every case shares: the status class and the text the message must contain. */
#ifndef QKV_TESTS_CORPUS_H
#define QKV_TESTS_CORPUS_H

#include <stdbool.h>
#include <stddef.h>

#include <qkv/plugin.h>

#define CORPUS_MAX_ARGS 4

struct corpus_case {
	char surface[16];
	char path[256];   /* absolute: QKV_SOURCE_ROOT/tests/corpus/<rel> */
	char rel[160];    /* as written in the manifest */
	char status[64];  /* "FORMAT" or "OK|FORMAT" */
	char substr[128]; /* "dtype|F64" or "-" */
	char args[CORPUS_MAX_ARGS][64];
	int n_args;
};

/* Read every case of `surface` from the manifest into a static array; returns the
 * count (0 when the manifest is missing, which the caller asserts against). */
size_t corpus_load(const char *surface, const struct corpus_case **out);

/* Does `st` match one of the '|'-separated status names in `want`? */
bool corpus_status_ok(const char *want, enum qkv_status st);

/* Does `msg` contain (ignoring case) one of the '|'-separated alternatives? "-" = yes. */
bool corpus_msg_ok(const char *want, const char *msg);

/* The last path component of rel ("config/dup_key.yaml" -> "dup_key.yaml"). */
const char *corpus_basename(const char *rel);

/* A string that names a status ("FORMAT"), for messages. */
const char *corpus_status_name(enum qkv_status st);

/* Check one result against its case: returns true when it matches, else writes why
 * into why[whylen]. Failing cases must also name the file. */
bool corpus_check(const struct corpus_case *c, enum qkv_status st, const char *msg, char *why,
                  size_t whylen);

#endif
