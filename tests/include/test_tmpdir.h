/* A fresh folder under /tmp for a Criterion test's files, and its removal with all inside.
 * Typical use: a TestSuite's .init makes it, its .fini removes it. */
#ifndef QKV_TEST_TMPDIR_H
#define QKV_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

/* dir[size] receives "/tmp/qkv-TAG-XXXXXX" with the X's made unique. */
static inline void test_tmpdir_make(char *dir, size_t size, const char *tag)
{
	snprintf(dir, size, "/tmp/qkv-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(dir), "cannot make %s", dir);
}

static inline void test_tmpdir_remove(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

#endif
