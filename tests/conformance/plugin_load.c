/* Loading a plugin for the Criterion runners through the public API (plugin_load.h). */
#include "plugin_load.h"

#include <stdio.h>

const struct qkv_backend *test_plugin_load(const char *path, qkv_plugin_set **set, char *err,
                                           size_t errlen)
{
	struct qkv_plugin_info pi = {.struct_size = sizeof(pi)};
	*set = NULL;
	if (qkv_plugins_load(path, set, err, errlen) != QKV_OK)
		return NULL;
	if (qkv_plugins_get(*set, 0, &pi) != QKV_OK) {
		snprintf(err, errlen, "%s: the plugin set is empty", path);
		return NULL;
	}
	if (!pi.backend)
		snprintf(err, errlen, "%s", pi.detail ? pi.detail : "refused");
	return pi.backend;
}
