/* Entry points of the config reader: read the file, then run the three steps
 * (tree, parse, validate; see config_internal.h) and leave nothing behind on failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "shard.h"
#include "util.h"
#include "weights.h"

void cfg_backend_init(struct qkv_backend_cfg *b)
{
	memset(b, 0, sizeof(*b));
	b->threads = -1;
	b->strict = -1;
}

static void ref_free(struct qkv_tensor_ref *r)
{
	qkv_free(r->file);
	qkv_free(r->tensor);
}

void qkv_backend_cfg_free(struct qkv_backend_cfg *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_prefer; i++)
		qkv_free(b->prefer[i]);
	for (size_t i = 0; i < b->n_plugin_dirs; i++)
		qkv_free(b->plugin_dirs[i]);
	qkv_free(b->cpu);
	qkv_free(b->path);
	qkv_free(b->flags);
	qkv_free(b->date);
	qkv_free(b->version);
	qkv_free(b->shape);
	cfg_backend_init(b);
}

void qkv_config_free(struct qkv_config *cfg)
{
	if (!cfg)
		return;
	qkv_free(cfg->path);
	qkv_free(cfg->dir);
	qkv_free(cfg->file);
	for (size_t p = 0; p < 3; p++) {
		ref_free(&cfg->w[p]);
		ref_free(&cfg->bias[p]);
		ref_free(&cfg->scale[p]);
	}
	ref_free(&cfg->qkv);
	ref_free(&cfg->qkv_bias);
	qkv_backend_cfg_free(&cfg->backend);
	memset(cfg, 0, sizeof(*cfg));
	cfg_backend_init(&cfg->backend);
}

static enum qkv_status check_size(const struct cfg_ctx *c, size_t len)
{
	if (len > QKV_CONFIG_MAX_BYTES)
		return cfg_fail(c, (struct qkv_mark){1, 1}, "", QKV_ERR_CONFIG,
		                "the file is larger than %u bytes: a config is small",
		                QKV_CONFIG_MAX_BYTES);
	return QKV_OK;
}

/* The node tree of a config or profile held in memory (`fn` names the API function in
 * argument errors). */
static enum qkv_status read_tree(const struct cfg_ctx *c, const char *fn, const char *text,
                                 size_t len, struct cfg_node **root)
{
	if (!text && len)
		return qkv_fail(c->err, c->errlen, QKV_ERR_ARGUMENT,
		                "%s: text is NULL but len is %zu", fn, len);
	enum qkv_status st = check_size(c, len);
	return st == QKV_OK ? cfg_tree_read(c, text, len, root) : st;
}

enum qkv_status qkv_config_parse(const char *name, const char *dir, const char *text, size_t len,
                                 struct qkv_config *cfg, char *err, size_t errlen)
{
	if (!cfg)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_config_parse: cfg is NULL");
	memset(cfg, 0, sizeof(*cfg));
	cfg_backend_init(&cfg->backend);
	struct cfg_ctx c = {name ? name : "<memory>", dir ? dir : ".", err, errlen};
	struct cfg_node *root = NULL;
	enum qkv_status st = read_tree(&c, "qkv_config_parse", text, len, &root);
	if (st != QKV_OK)
		return st;
	cfg->path = qkv_strdup(c.name);
	cfg->dir = qkv_strdup(c.dir);
	if (!cfg->path || !cfg->dir)
		st = cfg_fail(&c, root->mark, "", QKV_ERR_NOMEM, "out of memory");
	if (st == QKV_OK)
		st = cfg_parse_model(&c, root, cfg);
	if (st == QKV_OK)
		st = cfg_validate_model(&c, root, cfg);
	cfg_tree_free(root);
	if (st != QKV_OK)
		qkv_config_free(cfg);
	return st;
}

enum qkv_status qkv_machine_parse(const char *name, const char *dir, const char *text, size_t len,
                                  struct qkv_backend_cfg *out, char *err, size_t errlen)
{
	if (!out)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_machine_parse: out is NULL");
	cfg_backend_init(out);
	struct cfg_ctx c = {name ? name : "<memory>", dir ? dir : ".", err, errlen};
	struct cfg_node *root = NULL;
	enum qkv_status st = read_tree(&c, "qkv_machine_parse", text, len, &root);
	if (st != QKV_OK)
		return st;
	st = cfg_parse_machine(&c, root, out);
	if (st == QKV_OK)
		st = cfg_validate_backend(&c, cfg_get(root, "backend"), "backend", out);
	cfg_tree_free(root);
	if (st != QKV_OK)
		qkv_backend_cfg_free(out);
	return st;
}

/* Read a whole config file (at most QKV_CONFIG_MAX_BYTES + 1 bytes, so that an
 * oversized file is recognised without reading all of it). */
static enum qkv_status read_file(const char *path, char **text, size_t *len, char *err,
                                 size_t errlen)
{
	*text = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: cannot open: %s", path,
		                strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: not a regular file", path);
	}
	if ((uintmax_t)sb.st_size > QKV_CONFIG_MAX_BYTES) {
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_CONFIG,
		                "%s:1:1: the file is %jd bytes; a config may have at most %u", path,
		                (intmax_t)sb.st_size, QKV_CONFIG_MAX_BYTES);
	}
	size_t cap = (size_t)sb.st_size + 1, n = 0;
	char *buf = qkv_malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", path);
	}
	/* The file may change size after fstat: read at most what was allocated. */
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			qkv_free(buf);
			return qkv_fail(err, errlen, QKV_ERR_IO, "%s: read failed: %s", path,
			                strerror(e));
		}
		if (r == 0 || (n += (size_t)r) == cap)
			break;
	}
	close(fd);
	if (n == cap) {
		qkv_free(buf);
		return qkv_fail(err, errlen, QKV_ERR_IO, "%s: the file grew while being read",
		                path);
	}
	*text = buf;
	*len = n;
	return QKV_OK;
}

/* The folder of `path` ("." when it has none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return qkv_strdup(".");
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	char *d = qkv_malloc(n + 1);
	if (d) {
		memcpy(d, path, n);
		d[n] = '\0';
	}
	return d;
}

/* Read `path` and hand it to the in-memory parser for a config or a profile. */
static enum qkv_status load(const char *path, struct qkv_config *cfg,
                            struct qkv_backend_cfg *machine, char *err, size_t errlen)
{
	if (!path)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "config path is NULL");
	char *text, *dir = dir_of(path);
	if (!dir)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", path);
	size_t len;
	enum qkv_status st = read_file(path, &text, &len, err, errlen);
	if (st == QKV_OK && cfg)
		st = qkv_config_parse(path, dir, text, len, cfg, err, errlen);
	else if (st == QKV_OK)
		st = qkv_machine_parse(path, dir, text, len, machine, err, errlen);
	if (st == QKV_OK && cfg && (st = qkv_config_gguf_dims(cfg, err, errlen)) != QKV_OK)
		qkv_config_free(cfg); /* dimensions from a GGUF file's metadata */
	if (st == QKV_OK && cfg && (st = qkv_config_shard_check(cfg, err, errlen)) != QKV_OK)
		qkv_config_free(cfg); /* `shard:` against the dimensions a GGUF file gave */
	qkv_free(text);
	qkv_free(dir);
	return st;
}

enum qkv_status qkv_config_load(const char *path, struct qkv_config *cfg, char *err, size_t errlen)
{
	if (!cfg)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_config_load: cfg is NULL");
	memset(cfg, 0, sizeof(*cfg));
	cfg_backend_init(&cfg->backend);
	return load(path, cfg, NULL, err, errlen);
}

enum qkv_status qkv_machine_load(const char *path, struct qkv_backend_cfg *out, char *err,
                                 size_t errlen)
{
	if (!out)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "qkv_machine_load: out is NULL");
	cfg_backend_init(out);
	return load(path, NULL, out, err, errlen);
}
