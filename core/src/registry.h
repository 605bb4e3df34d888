/* Plugin registry: find backend plugins, load them once per process (reference
 * counted), check their ABI, probe them, and select one for a model.
 *
 * Load order, each refusal explained with the file and the step:
 *   open (dlopen RTLD_NOW|RTLD_LOCAL) -> entry symbol -> ABI major -> struct size ->
 *   name format -> precisions -> required members -> probe.
 */
#ifndef QKV_CORE_REGISTRY_H
#define QKV_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <qkv/plugin.h>

#include "config.h"

/* A loaded plugin, shared by every model that uses it. */
struct qkv_plugin {
	char *path;                    /* the file it was loaded from */
	void *dl;                      /* dlopen handle */
	const struct qkv_backend *be;  /* its descriptor, ABI-checked */
	struct qkv_probe_result probe; /* probed once at load */
	unsigned refs;                 /* guarded by the registry lock */
};

/* Load (or share) the plugin in file `path` and check its ABI. Probing is done too;
 * the caller decides what a score of 0 means. On failure returns QKV_ERR_PLUGIN with
 * "PATH: STEP: reason" in err. Release with qkv_plugin_unref. Thread-safe. */
enum qkv_status qkv_plugin_load_file(const char *path, struct qkv_plugin **out, char *err,
                                     size_t errlen);

/* Check a descriptor's ABI fields and members without calling any function of it.
 * Used by the loader and by `qkv conform`. */
enum qkv_status qkv_plugin_check_descriptor(const struct qkv_backend *be, char *err, size_t errlen);

/* Take one more reference to a loaded plugin; returns p. */
struct qkv_plugin *qkv_plugin_ref(struct qkv_plugin *p);
void qkv_plugin_unref(struct qkv_plugin *p);

/* Plugin search path, in order: cfg plugin_dirs, QKV_PLUGIN_PATH (':'-separated),
 * the build tree's backends (only when libqkv itself runs from the build tree),
 * then the install directory. Returns a NULL-terminated array of folders the
 * caller frees with qkv_search_path_free. */
char **qkv_search_path(const struct qkv_backend_cfg *cfg);
void qkv_search_path_free(char **dirs);

/* Find the file of backend `name` (qkv_<name>.so) on the search path; NULL if none.
 * The caller frees the result with qkv_free. */
char *qkv_plugin_find(char *const *dirs, const char *name);

/* The same with the reason: QKV_OK and *path (free with qkv_free), QKV_ERR_PLUGIN when
 * no folder has it, QKV_ERR_NOMEM when the path could not be allocated. */
enum qkv_status qkv_plugin_locate(char *const *dirs, const char *name, char **path);

/* Every plugin file on the search path (for `qkv info` and `--backends all`),
 * NULL-terminated; free with qkv_search_path_free. */
char **qkv_plugin_list(char *const *dirs);

#endif
