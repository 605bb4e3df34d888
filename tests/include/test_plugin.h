/* What the test plugins (spy, crash, halfbuilt, broken_blocks) write the same way. Their
 * descriptors use QKV_BACKEND_FIELDS of <qkv/backend_util.h>, as the in-tree backends do. */
#ifndef QKV_TEST_PLUGIN_H
#define QKV_TEST_PLUGIN_H

#include <stdio.h>

#include <qkv/backend_util.h> /* QKV_BACKEND_FIELDS, the descriptor's fixed part */

/* A probe that says the plugin runs here, with `detail` as its note. */
static inline void test_plugin_probe_ok(struct qkv_probe_result *out, const char *detail)
{
	out->score = 1;
	snprintf(out->detail, sizeof(out->detail), "%s", detail);
}

#endif
