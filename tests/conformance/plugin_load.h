/* How the Criterion runners load a plugin file: through the public API (<qkv/qkv.h>),
 * as `qkv conform` does, so the runners see exactly what the core's loader decides. */
#ifndef QKV_TEST_PLUGIN_LOAD_H
#define QKV_TEST_PLUGIN_LOAD_H

#include <stddef.h>

#include <qkv/qkv.h>

/* The plugin at `path`, loaded and checked by the core. Returns its descriptor, or NULL
 * with the loader's reason in err[errlen]. *set keeps it loaded: qkv_plugins_free it after
 * the case (NULL is fine). */
const struct qkv_backend *test_plugin_load(const char *path, qkv_plugin_set **set, char *err,
                                           size_t errlen);

#endif
