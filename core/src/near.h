/* "Did you mean" (near.c): the candidate name nearest to a name nobody has, for messages about
 * backend and tensor names; config keys (config_values.c) use the same distance with
 * their own rule: at most 2 edits.
 *
 *     struct qkv_near nr = {.name = wanted};
 *     for (...) qkv_near_try(&nr, candidate);
 *     if (nr.best) ... "did you mean `%s`?", nr.best
 */
#ifndef QKV_CORE_NEAR_H
#define QKV_CORE_NEAR_H

#include <stddef.h>

struct qkv_near {
	const char *name; /* the name that was not found */
	const char *best; /* nearest candidate so far (borrowed), or NULL */
	size_t dist;      /* its edit distance */
};

/* Levenshtein distance of a and b (64 for names longer than 63 bytes). */
size_t qkv_edit_distance(const char *a, const char *b);

/* Consider a candidate: kept when nearer than any before and close enough to be a typo
 * (at most 2 edits, or a fifth of the name's length; never half the name or more). */
void qkv_near_try(struct qkv_near *nr, const char *candidate);

#endif
