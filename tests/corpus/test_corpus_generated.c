/* Corpus cases too big or too special to commit as files: 200,000-deep YAML nesting,
 * files over the size cap, FIFOs, directories, devices and symlinks where a regular
 * file is expected. Made at test time in a private temporary folder. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "config.h"
#include "corpus.h"
#include "test_tmpdir.h"
#include "weights.h"

#define DEEP 200000

static char tmpdir[256];
static char err[1024];

static void make_tmp(void)
{
	test_tmpdir_make(tmpdir, sizeof(tmpdir), "corpus");
}

static void rm_tmp(void)
{
	test_tmpdir_remove(tmpdir);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot write %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* "model: " followed by n openers and n closers of a flow sequence or mapping. */
static char *deep_yaml(size_t n, bool maps, size_t *len)
{
	const char *open = maps ? "{a: " : "[";
	const char *close = maps ? "}" : "]";
	size_t lo = strlen(open), lc = strlen(close);
	char *s = malloc(16 + n * (lo + lc));
	cr_assert_not_null(s);
	size_t k = (size_t)sprintf(s, "model: ");
	for (size_t i = 0; i < n; i++, k += lo)
		memcpy(s + k, open, lo);
	for (size_t i = 0; i < n; i++, k += lc)
		memcpy(s + k, close, lc);
	s[k++] = '\n';
	*len = k;
	return s;
}

static void expect_msg(enum qkv_status got, const char *want_status, const char *want_sub,
                       const char *name)
{
	cr_expect(corpus_status_ok(want_status, got), "%s: status %s, expected %s: %s", name,
	          corpus_status_name(got), want_status, err);
	if (got != QKV_OK) {
		cr_expect(corpus_msg_ok(want_sub, err), "%s: message lacks `%s`: %s", name,
		          want_sub, err);
		cr_expect(strstr(err, name) != NULL, "message does not name `%s`: %s", name, err);
	}
}

#ifdef HAVE_CONFIG
static void deep_parse(bool maps)
{
	size_t len;
	char *s = deep_yaml(DEEP, maps, &len);
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	enum qkv_status st = qkv_config_parse("deep.yaml", "/tmp", s, len, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	free(s);
	expect_msg(st, "CONFIG", "depth|deep|nest", "deep.yaml");
}

/* Depth is counted over the event stream, so this fails long before the timeout. */
Test(generated, yaml_nesting_200000_sequences, .timeout = 20)
{
	deep_parse(false);
}

Test(generated, yaml_nesting_200000_mappings, .timeout = 20)
{
	deep_parse(true);
}

Test(generated, yaml_nesting_200000_file, .init = make_tmp, .fini = rm_tmp, .timeout = 20)
{
	size_t len;
	char *s = deep_yaml(DEEP, false, &len);
	char path[300];
	snprintf(path, sizeof(path), "%s/deep_file.yaml", tmpdir);
	write_file(path, s, len);
	free(s);
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load(path, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	expect_msg(st, "CONFIG", "depth|deep|nest", "deep_file.yaml");
}

/* A file one byte over the cap: comments, so only its size is wrong. */
Test(generated, yaml_over_size_cap, .init = make_tmp, .fini = rm_tmp)
{
	size_t len = (size_t)QKV_CONFIG_MAX_BYTES + 1;
	char *s = malloc(len);
	cr_assert_not_null(s);
	memset(s, '#', len);
	for (size_t i = 79; i < len; i += 80)
		s[i] = '\n';
	char path[300];
	snprintf(path, sizeof(path), "%s/huge.yaml", tmpdir);
	write_file(path, s, len);
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load(path, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	expect_msg(st, "CONFIG|IO", "size|large|big|bytes|cap|limit", "huge.yaml");

	memset(&cfg, 0, sizeof(cfg));
	st = qkv_config_parse("huge_mem.yaml", "/tmp", s, len, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	free(s);
	expect_msg(st, "CONFIG|IO", "size|large|big|bytes|cap|limit", "huge_mem.yaml");
}

/* Opening a FIFO for reading would block until a writer comes: it must be refused. */
Test(generated, yaml_config_is_fifo, .init = make_tmp, .fini = rm_tmp, .timeout = 20)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/fifo.yaml", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load(path, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	expect_msg(st, "CONFIG|IO", "fifo|regular|pipe", "fifo.yaml");
}

Test(generated, yaml_config_is_directory, .init = make_tmp, .fini = rm_tmp)
{
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load(tmpdir, &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	expect_msg(st, "CONFIG|IO", "directory|folder|regular", tmpdir + 5);
}

Test(generated, yaml_config_missing)
{
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load("/nonexistent/missing.yaml", &cfg, err, sizeof(err));
	qkv_config_free(&cfg);
	expect_msg(st, "IO|CONFIG", "no such|not found|exist", "missing.yaml");
}
#endif

#ifdef HAVE_WEIGHTS_FILE
static enum qkv_status map(const char *path)
{
	struct qkv_mapped_file f;
	memset(&f, 0, sizeof(f));
	err[0] = '\0';
	enum qkv_status st = qkv_file_map(path, &f, err, sizeof(err));
	if (st == QKV_OK)
		qkv_file_unmap(&f);
	return st;
}

Test(generated, weights_fifo, .init = make_tmp, .fini = rm_tmp, .timeout = 20)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/w.fifo", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_msg(map(path), "IO|FORMAT", "fifo|regular|pipe", "w.fifo");
}

Test(generated, weights_directory, .init = make_tmp, .fini = rm_tmp)
{
	expect_msg(map(tmpdir), "IO|FORMAT", "directory|folder|regular", tmpdir + 5);
}

Test(generated, weights_device, .timeout = 20)
{
	expect_msg(map("/dev/zero"), "IO|FORMAT", "device|regular|character", "/dev/zero");
}

Test(generated, weights_missing)
{
	expect_msg(map("/nonexistent/w.npy"), "IO", "no such|not found|exist", "w.npy");
}

/* An empty file maps to nothing; it must be refused or yield an empty, safe mapping. */
Test(generated, weights_empty_file, .init = make_tmp, .fini = rm_tmp)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/empty.bin", tmpdir);
	write_file(path, "", 0);
	struct qkv_mapped_file f;
	memset(&f, 0, sizeof(f));
	enum qkv_status st = qkv_file_map(path, &f, err, sizeof(err));
	if (st == QKV_OK) {
		cr_expect_eq(f.size, 0);
		struct qkv_tensor_view v;
		enum qkv_status st2 = qkv_raw_view(&f, QKV_DT_F32, 1, &v, err, sizeof(err));
		cr_expect_eq(st2, QKV_ERR_FORMAT, "an empty file gave one f32: %s", err);
		qkv_file_unmap(&f);
	} else {
		expect_msg(st, "IO|FORMAT", "empty|size|0", "empty.bin");
	}
}
#endif

#ifdef HAVE_MODEL
/* A model whose Wq path is `target`, written into tmpdir/model.yaml; returns the status. */
static enum qkv_status open_with_wq(const char *target)
{
	char path[300], text[2048];
	snprintf(path, sizeof(path), "%s/model.yaml", tmpdir);
	int n = snprintf(text, sizeof(text),
	                 "model: {d_model: 4, n_heads: 2, n_kv_heads: 1, head_dim: 2}\n"
	                 "weights:\n  layout: in_out\n  q: {file: %s}\n"
	                 "  k: {file: %s/tests/corpus/data/wk.npy}\n"
	                 "  v: {file: %s/tests/corpus/data/wv.npy}\n",
	                 target, QKV_SOURCE_ROOT, QKV_SOURCE_ROOT);
	write_file(path, text, (size_t)n);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "scalar";
	qkv_model *m = NULL;
	err[0] = '\0';
	enum qkv_status st = qkv_model_open(path, &o, &m, err, sizeof(err));
	qkv_model_close(m);
	return st;
}

Test(generated, model_weight_fifo, .init = make_tmp, .fini = rm_tmp, .timeout = 20)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/wq_fifo.npy", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_msg(open_with_wq("wq_fifo.npy"), "IO|FORMAT", "fifo|regular|pipe", "wq_fifo.npy");
}

Test(generated, model_weight_directory, .init = make_tmp, .fini = rm_tmp)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/wq_dir.npy", tmpdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	expect_msg(open_with_wq("wq_dir.npy"), "IO|FORMAT", "directory|folder|regular",
	           "wq_dir.npy");
}

/* Policy (SECURITY.md): a symlink is followed like any path the config names; the
 * file it reaches gets every check a regular file gets. So this loads. */
Test(generated, model_weight_symlink_out_of_folder, .init = make_tmp, .fini = rm_tmp)
{
	char link[300], target[512];
	snprintf(link, sizeof(link), "%s/wq_link.npy", tmpdir);
	snprintf(target, sizeof(target), "%s/tests/corpus/data/wq.npy", QKV_SOURCE_ROOT);
	cr_assert_eq(symlink(target, link), 0);
	enum qkv_status st = open_with_wq("wq_link.npy");
	cr_expect(st == QKV_OK || strstr(err, "wq_link.npy"), "status %s: %s",
	          corpus_status_name(st), err);
}

Test(generated, model_weight_symlink_loop, .init = make_tmp, .fini = rm_tmp)
{
	char a[300], b[300];
	snprintf(a, sizeof(a), "%s/loop_a.npy", tmpdir);
	snprintf(b, sizeof(b), "%s/loop_b.npy", tmpdir);
	cr_assert_eq(symlink(b, a), 0);
	cr_assert_eq(symlink(a, b), 0);
	expect_msg(open_with_wq("loop_a.npy"), "IO|FORMAT", "-", "loop_a.npy");
}
#endif
