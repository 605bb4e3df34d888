/* What every test plugin's descriptor says the same way: the ABI it was built against and
 * its four functions, named PREFIX_probe, PREFIX_prepare, PREFIX_project, PREFIX_release.
 * Test plugins only: plugins/template/template.c spells its descriptor out for readers. */
#ifndef QKV_TEST_PLUGIN_H
#define QKV_TEST_PLUGIN_H

#include <qkv/plugin.h>

#include <stdio.h>

/* Initializers for a `struct qkv_backend`; a plugin adds any optional member (.memory,
 * .wtypes) after them. */
#define TEST_PLUGIN_FIELDS(prefix, plugin_name, plugin_version, precision_bits)                    \
	.abi_major = QKV_PLUGIN_ABI_MAJOR, .abi_minor = QKV_PLUGIN_ABI_MINOR,                      \
	.struct_size = sizeof(struct qkv_backend), .precisions = precision_bits,                   \
	.name = plugin_name, .version = plugin_version, .probe = prefix##_probe,                   \
	.prepare = prefix##_prepare, .project = prefix##_project, .release = prefix##_release

/* A probe that says the plugin runs here, with `detail` as its note. */
static inline void test_plugin_probe_ok(struct qkv_probe_result *out, const char *detail)
{
	out->score = 1;
	snprintf(out->detail, sizeof(out->detail), "%s", detail);
}

#endif
