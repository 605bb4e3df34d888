/* Plugin corpus: files that are not plugins, plugins with one defect each, plugins in
 * places other users can write, a probe that says no, and a plugin that crashes in
 * `project`. The core refuses everything it can check before running plugin code. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "corpus.h"
#include "registry.h"
#include "test_tmpdir.h"
#include "test_model.h"

static char tmpdir[256];
static char err[1024];

static void make_tmp(void)
{
	test_tmpdir_make(tmpdir, sizeof(tmpdir), "plugins");
}

static void rm_tmp(void)
{
	test_tmpdir_remove(tmpdir);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	FILE *in = fopen(from, "rb");
	cr_assert_not_null(in, "cannot read %s", from);
	FILE *out = fopen(to, "wb");
	cr_assert_not_null(out, "cannot write %s", to);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	cr_assert_eq(fclose(out), 0);
	cr_assert_eq(chmod(to, mode), 0);
}

/* Load `path`: it must be refused with QKV_ERR_PLUGIN and a message naming the file
 * (its last component) and one of `want`. */
static void expect_refused(const char *path, const char *want)
{
	struct qkv_plugin *p = (struct qkv_plugin *)1;
	err[0] = '\0';
	enum qkv_status st = qkv_plugin_load_file(path, &p, err, sizeof(err));
	cr_expect_eq(st, QKV_ERR_PLUGIN, "%s: status %s: %s", path, corpus_status_name(st), err);
	cr_expect_null(p, "%s: *out set after a refusal", path);
	if (st == QKV_OK && p)
		qkv_plugin_unref(p);
	const char *base = corpus_basename(path);
	cr_expect(strstr(err, base) != NULL, "message does not name %s: %s", base, err);
	cr_expect(corpus_msg_ok(want, err), "message lacks `%s`: %s", want, err);
}

static void fake(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/qkv_%s.so", QKV_FAKE_PLUGIN_DIR, name);
}

Test(plugins, missing_file)
{
	expect_refused("/nonexistent/qkv_missing.so", "no such|not found|exist");
}

Test(plugins, text_file_not_elf, .init = make_tmp, .fini = rm_tmp)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/qkv_text.so", tmpdir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not an ELF file\n", f);
	fclose(f);
	expect_refused(path, "dlopen");
}

Test(plugins, empty_file, .init = make_tmp, .fini = rm_tmp)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/qkv_empty.so", tmpdir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	expect_refused(path, "dlopen");
}

Test(plugins, directory, .init = make_tmp, .fini = rm_tmp)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/qkv_dir.so", tmpdir);
	cr_assert_eq(mkdir(path, 0700), 0);
	expect_refused(path, "regular|directory");
}

Test(plugins, fifo, .init = make_tmp, .fini = rm_tmp, .timeout = 20)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/qkv_fifo.so", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_refused(path, "regular|fifo");
}

Test(plugins, one_defect_each)
{
	static const char *const cases[][2] = {
	    {"fake_nosym", "entry symbol|qkv_backend_descriptor"},
	    {"fake_abi2", "ABI"},
	    {"fake_short", "struct size"},
	    {"fake_nullproj", "project"},
	    {"fake_badname", "name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512];
		fake(cases[i][0], path, sizeof(path));
		expect_refused(path, cases[i][1]);
	}
}

Test(plugins, world_writable_file, .init = make_tmp, .fini = rm_tmp)
{
	char from[512], to[300];
	fake("fake_ok", from, sizeof(from));
	snprintf(to, sizeof(to), "%s/qkv_fake_ok.so", tmpdir);
	copy_file(from, to, 0666);
	expect_refused(to, "writable");
}

Test(plugins, world_writable_folder, .init = make_tmp, .fini = rm_tmp)
{
	char from[512], to[300];
	fake("fake_ok", from, sizeof(from));
	snprintf(to, sizeof(to), "%s/qkv_fake_ok.so", tmpdir);
	copy_file(from, to, 0644);
	cr_assert_eq(chmod(tmpdir, 0777), 0);
	expect_refused(to, "writable");
}

/* A symlink from a safe folder into a world-writable one: the real folder is checked. */
Test(plugins, symlink_into_world_writable_folder, .init = make_tmp, .fini = rm_tmp)
{
	char from[512], sub[300], to[400], link[300];
	fake("fake_ok", from, sizeof(from));
	snprintf(sub, sizeof(sub), "%s/open", tmpdir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(to, sizeof(to), "%s/qkv_fake_ok.so", sub);
	copy_file(from, to, 0644);
	cr_assert_eq(chmod(sub, 0777), 0);
	snprintf(link, sizeof(link), "%s/qkv_link.so", tmpdir);
	cr_assert_eq(symlink(to, link), 0);
	struct qkv_plugin *p = NULL;
	err[0] = '\0';
	enum qkv_status st = qkv_plugin_load_file(link, &p, err, sizeof(err));
	cr_expect_eq(st, QKV_ERR_PLUGIN, "loaded through a symlink: %s", err);
	cr_expect(strstr(err, "writable"), "%s", err);
	qkv_plugin_unref(p);
}

Test(plugins, probe_refuses_loads_with_score_zero)
{
	char path[512];
	fake("fake_probeno", path, sizeof(path));
	struct qkv_plugin *p = NULL;
	cr_assert_eq(qkv_plugin_load_file(path, &p, err, sizeof(err)), QKV_OK, "%s", err);
	cr_expect_eq(p->probe.score, 0);
	cr_expect_neq(p->probe.detail[0], '\0', "a refusing probe must say why");
	qkv_plugin_unref(p);
}

#ifdef HAVE_MODEL
/* d_model 4, 2 heads of 2, 1 KV head: Wq [4 x 4], Wk, Wv [4 x 2] in in_out layout. */
static float w_q[16], w_k[8], w_v[8];

static enum qkv_status open_with(const char *prefer, const char *dirs, qkv_model **m)
{
	struct qkv_model_desc d = test_model_desc(4, 2, 1, 2, QKV_LAYOUT_IN_OUT, w_q, w_k, w_v);
	d.precision = QKV_F32;
	d.prefer = prefer;
	d.strict = 1;
	d.plugin_dirs = dirs;
	*m = NULL;
	err[0] = '\0';
	return qkv_model_open_memory(&d, m, err, sizeof(err));
}

Test(plugins, strict_probe_refusal_is_an_error)
{
	qkv_model *m;
	enum qkv_status st = open_with("fake_probeno", QKV_FAKE_PLUGIN_DIR, &m);
	/* The machine cannot serve it: UNSUPPORTED, or PLUGIN (no usable backend). */
	cr_expect(corpus_status_ok("PLUGIN|UNSUPPORTED", st), "status %s: %s",
	          corpus_status_name(st), err);
	cr_expect_null(m);
	cr_expect(strstr(err, "fake_probeno") && strstr(err, "probe"), "%s", err);
	qkv_model_close(m);
}

/* A strict open on `backend` fails with no model; the message names `named` (if given). */
static void expect_open_refused(const char *backend, const char *named)
{
	qkv_model *m;
	enum qkv_status st = open_with(backend, QKV_FAKE_PLUGIN_DIR, &m);
	cr_expect_neq(st, QKV_OK);
	cr_expect_null(m);
	if (named)
		cr_expect(strstr(err, named), "%s", err);
	qkv_model_close(m);
}

Test(plugins, strict_prepare_failure_is_an_error)
{
	expect_open_refused("fake_prepfail", "fake_prepfail");
}

Test(plugins, unknown_backend_name)
{
	expect_open_refused("no_such_backend", "no_such_backend");
}

Test(plugins, invalid_backend_name)
{
	expect_open_refused("../../etc/evil", NULL);
}

/* Bad calls are refused by the core and never reach the plugin (which would crash). */
Test(plugins, core_refuses_bad_calls_before_the_plugin)
{
	qkv_model *m;
	cr_assert_eq(open_with("corpus_crash", CORPUS_PLUGIN_DIR, &m), QKV_OK, "%s", err);
	float x[8] = {0}, q[8], k[4], v[4];
	cr_expect_eq(qkv_project(m, 0, x, 4, q, 4, k, 2, v, 2, err, sizeof(err)), QKV_OK);
	cr_expect_eq(qkv_project(m, 2, NULL, 4, q, 4, k, 2, v, 2, err, sizeof(err)),
	             QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_project(m, 2, x, 3, q, 4, k, 2, v, 2, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_project(m, 2, x, 4, q, 4, k, 2, k, 2, err, sizeof(err)), QKV_ERR_ARGUMENT);
	qkv_model_close(m);
}

/* A plugin that crashes takes the process down: qkv cannot contain it (plugins are
 * trusted code, SECURITY.md); Criterion's per-test process reports it as a failure of
 * this backend. This test passes when the crash is observed. */
Test(plugins, crash_in_project_is_reported, .signal = SIGILL)
{
	qkv_model *m;
	cr_assert_eq(open_with("corpus_crash", CORPUS_PLUGIN_DIR, &m), QKV_OK, "%s", err);
	float x[8] = {0}, q[8], k[4], v[4];
	qkv_project(m, 2, x, 4, q, 4, k, 2, v, 2, err, sizeof(err));
	qkv_model_close(m);
}
#endif
