/* Plugin registry: search path, loading with ABI checks, process-wide sharing. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Plugins loaded in this process, shared by every model (guarded by registry_lock). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qkv_plugin *loaded[64];
static size_t n_loaded;

_Static_assert(QKV_NAME_MAX == QKV_BACKEND_NAME_MAX, "one name length for configs and plugins");

bool qkv_backend_name_valid(const char *name)
{
	return qkv_backend_name_ok(name);
}

/* The 1.0 descriptor ends with `release`: a plugin's struct must cover it. */
#define DESCRIPTOR_1_0_SIZE QKV_SIZE_THROUGH(struct qkv_backend, release)

/* The decision is <qkv/plugin.h>'s qkv_descriptor_check (the harness calls it too); the
 * words, naming the loader's step, are here. */
enum qkv_status qkv_plugin_check_descriptor(const struct qkv_backend *be, char *err, size_t errlen)
{
	switch (qkv_descriptor_check(be)) {
	case QKV_DESCRIPTOR_OK:
		return QKV_OK;
	case QKV_DESCRIPTOR_NULL:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "descriptor is NULL");
	case QKV_DESCRIPTOR_ABI_MAJOR:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN,
		                "ABI major: plugin was built for ABI %u.%u, this qkv speaks %u.x",
		                be->abi_major, be->abi_minor, QKV_PLUGIN_ABI_MAJOR);
	case QKV_DESCRIPTOR_STRUCT_SIZE:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN,
		                "struct size: descriptor is %u bytes, ABI 1.0 needs at least %zu",
		                be->struct_size, (size_t)DESCRIPTOR_1_0_SIZE);
	case QKV_DESCRIPTOR_NAME:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "name: `%.40s` is not [a-z0-9_]{1,31}",
		                be->name ? be->name : "(null)");
	case QKV_DESCRIPTOR_VERSION:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "version: missing");
	case QKV_DESCRIPTOR_NO_PRECISION:
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN,
		                "precisions: declares none this qkv knows (mask 0x%x)",
		                be->precisions);
	case QKV_DESCRIPTOR_UNKNOWN_PRECISION:
		return qkv_fail(
		    err, errlen, QKV_ERR_PLUGIN,
		    "precisions: unknown bits 0x%x from a plugin built for ABI %u.%u "
		    "(only a newer minor may declare precisions this qkv does not know)",
		    be->precisions & ~qkv_precisions_at_minor(be->abi_minor), be->abi_major,
		    be->abi_minor);
	case QKV_DESCRIPTOR_MEMBERS:
		break;
	}
	const char *missing = !be->probe     ? "probe"
	                      : !be->prepare ? "prepare"
	                      : !be->project ? "project"
	                                     : "release";
	return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "members: `%s` is NULL", missing);
}

/* Refuse files and folders that other users could have replaced. */
static enum qkv_status check_trusted(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: open: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: open: not a regular file", path);
	if (st.st_mode & S_IWOTH)
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN,
		                "%s: open: refused, the file is writable by other users", path);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN,
		                "%s: open: refused, folder %s is writable by other users", path,
		                dir);
	return QKV_OK;
}

static void plugin_destroy(struct qkv_plugin *p)
{
	if (!p)
		return;
	if (p->dl)
		dlclose(p->dl); /* RTLD_NODELETE keeps the code mapped for runtimes' threads */
	qkv_free(p->path);
	qkv_free(p);
}

/* Open and check one file; no locking. */
static enum qkv_status plugin_open(const char *real, struct qkv_plugin **out, char *err,
                                   size_t errlen)
{
	enum qkv_status st = check_trusted(real, err, errlen);
	if (st != QKV_OK)
		return st;
	struct qkv_plugin *p = qkv_calloc(1, sizeof(*p));
	if (!p)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", real);
	p->path = qkv_strdup(real);
	if (!p->path) {
		plugin_destroy(p);
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", real);
	}
	dlerror();
	p->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!p->dl) {
		const char *why = dlerror();
		qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: dlopen: %s", real, why ? why : "failed");
		plugin_destroy(p);
		return QKV_ERR_PLUGIN;
	}
	p->be = dlsym(p->dl, QKV_BACKEND_SYMBOL);
	if (!p->be) {
		qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: entry symbol: `%s` not exported", real,
		         QKV_BACKEND_SYMBOL);
		plugin_destroy(p);
		return QKV_ERR_PLUGIN;
	}
	char why[200];
	if (qkv_plugin_check_descriptor(p->be, why, sizeof(why)) != QKV_OK) {
		qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: %s", real, why);
		plugin_destroy(p);
		return QKV_ERR_PLUGIN;
	}
	/* Room past the struct: a probe built against a newer header that fills a member
	 * without looking at struct_size writes there, not into the core's memory
	 * (`qkv conform` catches that plugin with a guard page). */
	union {
		struct qkv_probe_result pr;
		unsigned char room[sizeof(struct qkv_probe_result) + 256];
	} slack;
	memset(&slack, 0, sizeof(slack));
	slack.pr.struct_size = sizeof(slack.pr);
	p->be->probe(&slack.pr);
	p->probe = slack.pr;
	p->probe.struct_size = sizeof(p->probe);
	p->probe.detail[sizeof(p->probe.detail) - 1] = '\0';
	*out = p;
	return QKV_OK;
}

enum qkv_status qkv_plugin_load_file(const char *path, struct qkv_plugin **out, char *err,
                                     size_t errlen)
{
	*out = NULL;
	if (!path || !path[0])
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "plugin path is empty");
	char real[PATH_MAX];
	if (!realpath(path, real))
		return qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: open: %s", path, strerror(errno));

	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < n_loaded; i++) {
		if (strcmp(loaded[i]->path, real) == 0) {
			loaded[i]->refs++;
			*out = loaded[i];
			pthread_mutex_unlock(&registry_lock);
			return QKV_OK;
		}
	}
	enum qkv_status st = QKV_OK;
	if (n_loaded == sizeof(loaded) / sizeof(loaded[0]))
		st = qkv_fail(err, errlen, QKV_ERR_PLUGIN, "%s: too many plugins loaded (%zu)",
		              real, n_loaded);
	else
		st = plugin_open(real, out, err, errlen);
	if (st == QKV_OK) {
		(*out)->refs = 1;
		loaded[n_loaded++] = *out;
	}
	pthread_mutex_unlock(&registry_lock);
	return st;
}

struct qkv_plugin *qkv_plugin_ref(struct qkv_plugin *p)
{
	pthread_mutex_lock(&registry_lock);
	p->refs++;
	pthread_mutex_unlock(&registry_lock);
	return p;
}

void qkv_plugin_unref(struct qkv_plugin *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&registry_lock);
	if (--p->refs == 0) {
		for (size_t i = 0; i < n_loaded; i++) {
			if (loaded[i] == p) {
				loaded[i] = loaded[--n_loaded];
				break;
			}
		}
		plugin_destroy(p);
	}
	pthread_mutex_unlock(&registry_lock);
}

/* ---- search path ------------------------------------------------------------------- */

struct strlist {
	char **v;
	size_t n, cap;
	bool failed;
};

static void strlist_add(struct strlist *l, const char *s, size_t len)
{
	if (l->failed || len == 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
			return;
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **v = qkv_realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->failed = true;
			return;
		}
		l->v = v;
		l->cap = cap;
		l->v[l->n] = NULL; /* a failure below frees v up to this NULL */
	}
	char *d = qkv_malloc(len + 1);
	if (!d) {
		l->failed = true;
		return;
	}
	memcpy(d, s, len);
	d[len] = '\0';
	l->v[l->n++] = d;
	l->v[l->n] = NULL;
}

static char **strlist_finish(struct strlist *l)
{
	if (l->failed) {
		qkv_search_path_free(l->v);
		return NULL;
	}
	if (!l->v) {
		l->v = qkv_calloc(1, sizeof(*l->v));
	}
	return l->v;
}

void qkv_search_path_free(char **dirs)
{
	if (!dirs)
		return;
	for (size_t i = 0; dirs[i]; i++)
		qkv_free(dirs[i]);
	qkv_free(dirs);
}

/* True when the code of libqkv (or the program it is linked into) lives in the build
 * tree: then the build's backends are on the path, so `build/tools/qkv/qkv` and the
 * tests work with no environment variable, and an installed copy never looks there. */
static bool running_from_build_tree(void)
{
	Dl_info info;
	char real[PATH_MAX];
	if (!dladdr((void *)&running_from_build_tree, &info) || !info.dli_fname)
		return false;
	/* Linked into the program itself (static library), glibc names it by argv[0],
	 * which may be relative or a bare name found on PATH: ask the kernel instead. */
	bool in_program = !strstr(info.dli_fname, ".so");
	const char *self =
	    realpath(in_program ? "/proc/self/exe" : info.dli_fname, real) ? real : info.dli_fname;
	size_t n = strlen(QKV_BUILD_ROOT);
	return strncmp(self, QKV_BUILD_ROOT, n) == 0 && self[n] == '/';
}

static void add_build_tree_dirs(struct strlist *l)
{
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/backends", QKV_BUILD_ROOT);
	DIR *d = opendir(root);
	if (!d)
		return;
	/* Sorted for a stable order: backends/<name>/qkv_<name>.so */
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if (e->d_name[0] == '.')
			continue;
		names[n] = qkv_strdup(e->d_name);
		if (!names[n]) {
			l->failed = true; /* reported as out of memory, not as a missing backend */
			break;
		}
		n++;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX];
		int len = snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
		struct stat st;
		if (len > 0 && (size_t)len < sizeof(dir) && stat(dir, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			strlist_add(l, dir, (size_t)len);
		qkv_free(names[i]);
	}
}

/* An installed libqkv.so finds `qkv/backends` beside itself, so an install tree that
 * was moved (or staged with DESTDIR) still finds its own backends. */
static void add_beside_library(struct strlist *l)
{
	Dl_info info;
	char real[PATH_MAX];
	if (!dladdr((void *)&add_beside_library, &info) || !info.dli_fname ||
	    !strstr(info.dli_fname, ".so") || !realpath(info.dli_fname, real))
		return;
	char *slash = strrchr(real, '/');
	if (!slash)
		return;
	*slash = '\0';
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/qkv/backends", real);
	if (n > 0 && (size_t)n < sizeof(dir))
		strlist_add(l, dir, (size_t)n);
}

static void add_colon_list(struct strlist *l, const char *s)
{
	while (s && *s) {
		const char *end = strchr(s, ':');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		strlist_add(l, s, len);
		s = end ? end + 1 : NULL;
	}
}

char **qkv_search_path(const struct qkv_backend_cfg *cfg)
{
	struct strlist l = {0};
	if (cfg)
		for (size_t i = 0; i < cfg->n_plugin_dirs; i++)
			strlist_add(&l, cfg->plugin_dirs[i], strlen(cfg->plugin_dirs[i]));
	add_colon_list(&l, getenv("QKV_PLUGIN_PATH"));
	if (running_from_build_tree())
		add_build_tree_dirs(&l);
	add_beside_library(&l);
	strlist_add(&l, QKV_INSTALL_BACKEND_DIR, strlen(QKV_INSTALL_BACKEND_DIR));
	return strlist_finish(&l);
}

enum qkv_status qkv_plugin_locate(char *const *dirs, const char *name, char **out)
{
	*out = NULL;
	if (!dirs || !qkv_backend_name_valid(name))
		return QKV_ERR_PLUGIN;
	for (size_t i = 0; dirs[i]; i++) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/qkv_%s.so", dirs[i], name);
		if (n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0) {
			*out = qkv_strdup(path);
			return *out ? QKV_OK : QKV_ERR_NOMEM;
		}
	}
	return QKV_ERR_PLUGIN;
}

char *qkv_plugin_find(char *const *dirs, const char *name)
{
	char *path;
	qkv_plugin_locate(dirs, name, &path);
	return path;
}

char **qkv_plugin_list(char *const *dirs)
{
	struct strlist names = {0}, files = {0};
	for (size_t i = 0; dirs && dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			if (len <= 7 || strncmp(e->d_name, "qkv_", 4) ||
			    strcmp(e->d_name + len - 3, ".so"))
				continue;
			size_t before = names.n;
			strlist_add(&names, e->d_name, len); /* first folder wins a name */
			if (names.n == before)
				continue;
			char path[PATH_MAX];
			int n = snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			if (n > 0 && (size_t)n < sizeof(path))
				strlist_add(&files, path, (size_t)n);
		}
		closedir(d);
	}
	bool failed = names.failed;
	qkv_search_path_free(strlist_finish(&names));
	if (failed)
		files.failed = true;
	return strlist_finish(&files);
}
