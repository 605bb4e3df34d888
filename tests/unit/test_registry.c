/* Registry: every refusal step names the file and the step; sharing; search path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "util.h"

static char err[1024];

static enum qkv_status load_fake(const char *name, struct qkv_plugin **p)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/qkv_%s.so", QKV_FAKE_PLUGIN_DIR, name);
	err[0] = '\0';
	return qkv_plugin_load_file(path, p, err, sizeof(err));
}

static void expect_refused(const char *name, const char *step)
{
	struct qkv_plugin *p = NULL;
	cr_assert_eq(load_fake(name, &p), QKV_ERR_PLUGIN, "%s loaded: %s", name, err);
	cr_assert_null(p);
	cr_assert(strstr(err, name), "message does not name the file: %s", err);
	cr_assert(strstr(err, step), "message does not name step `%s`: %s", step, err);
}

Test(registry, refuses_other_abi_major)
{
	expect_refused("fake_abi2", "ABI major");
}

Test(registry, refuses_missing_entry_symbol)
{
	expect_refused("fake_nosym", "entry symbol");
}

Test(registry, refuses_short_descriptor)
{
	expect_refused("fake_short", "struct size");
}

Test(registry, refuses_null_member)
{
	expect_refused("fake_nullproj", "`project` is NULL");
}

Test(registry, refuses_bad_name)
{
	expect_refused("fake_badname", "name:");
}

Test(registry, refuses_missing_file)
{
	struct qkv_plugin *p = NULL;
	cr_assert_eq(qkv_plugin_load_file("/nonexistent/qkv_x.so", &p, err, sizeof(err)),
	             QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "/nonexistent/qkv_x.so: open:"), "%s", err);
}

Test(registry, refuses_non_elf)
{
	char dir[] = "/tmp/qkv-reg-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/qkv_text.so", dir);
	FILE *f = fopen(path, "w");
	fputs("this is not a shared object\n", f);
	fclose(f);
	struct qkv_plugin *p = NULL;
	cr_assert_eq(qkv_plugin_load_file(path, &p, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "dlopen:"), "%s", err);
	unlink(path);
	rmdir(dir);
}

Test(registry, refuses_world_writable_file_and_folder)
{
	char dir[] = "/tmp/qkv-reg-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char src[4096], dst[256], cmd[8192];
	snprintf(src, sizeof(src), "%s/qkv_fake_ok.so", QKV_FAKE_PLUGIN_DIR);
	snprintf(dst, sizeof(dst), "%s/qkv_fake_ok.so", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	cr_assert_eq(system(cmd), 0);
	chmod(dst, 0666);
	struct qkv_plugin *p = NULL;
	cr_assert_eq(qkv_plugin_load_file(dst, &p, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "writable by other users"), "%s", err);
	chmod(dst, 0644);
	chmod(dir, 0777);
	cr_assert_eq(qkv_plugin_load_file(dst, &p, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "folder") && strstr(err, "writable by other users"), "%s", err);
	unlink(dst);
	rmdir(dir);
}

Test(registry, loads_probes_and_shares)
{
	struct qkv_plugin *a = NULL, *b = NULL, *c = NULL;
	cr_assert_eq(load_fake("fake_ok", &a), QKV_OK, "%s", err);
	cr_assert_str_eq(a->be->name, "fake_ok");
	cr_assert_gt(a->probe.score, 0);
	cr_assert_eq(load_fake("fake_ok", &b), QKV_OK, "%s", err);
	cr_assert_eq(a, b, "the same file must be loaded once and shared");
	cr_assert_eq(load_fake("fake_probeno", &c), QKV_OK, "%s", err);
	cr_assert_eq(c->probe.score, 0);
	cr_assert(strstr(c->probe.detail, "xyz"), "%s", c->probe.detail);
	qkv_plugin_unref(a);
	qkv_plugin_unref(b);
	qkv_plugin_unref(c);
}

Test(registry, descriptor_checks_without_loading)
{
	struct qkv_backend be = {0};
	cr_assert_eq(qkv_plugin_check_descriptor(NULL, err, sizeof(err)), QKV_ERR_PLUGIN);
	be.abi_major = QKV_PLUGIN_ABI_MAJOR;
	be.struct_size = sizeof(be);
	be.name = "ok_name";
	be.version = "1";
	cr_assert_eq(qkv_plugin_check_descriptor(&be, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "precisions"), "%s", err);
	be.precisions = 1;
	cr_assert_eq(qkv_plugin_check_descriptor(&be, err, sizeof(err)), QKV_ERR_PLUGIN);
	cr_assert(strstr(err, "`probe` is NULL"), "%s", err);
}

Test(registry, names)
{
	cr_assert(qkv_backend_name_valid("blas"));
	cr_assert(qkv_backend_name_valid("int8_avx2"));
	cr_assert_not(qkv_backend_name_valid(""));
	cr_assert_not(qkv_backend_name_valid("BLAS"));
	cr_assert_not(qkv_backend_name_valid("../x"));
	cr_assert_not(qkv_backend_name_valid("a234567890123456789012345678901x"));
	cr_assert(qkv_backend_name_valid("a23456789012345678901234567890x"));
}

Test(registry, search_path_order_and_find)
{
	struct qkv_backend_cfg bc;
	memset(&bc, 0, sizeof(bc));
	char first[] = "/cfg/dir";
	bc.plugin_dirs[0] = first;
	bc.n_plugin_dirs = 1;
	setenv("QKV_PLUGIN_PATH", "/env/a:/env/b", 1);
	char **dirs = qkv_search_path(&bc);
	unsetenv("QKV_PLUGIN_PATH");
	cr_assert_not_null(dirs);
	cr_assert_str_eq(dirs[0], "/cfg/dir");
	cr_assert_str_eq(dirs[1], "/env/a");
	cr_assert_str_eq(dirs[2], "/env/b");
	/* The test runs from the build tree: the build's backends are found by name. */
	char *scalar = qkv_plugin_find(dirs, "scalar");
	cr_assert_not_null(scalar, "scalar backend not found on the build-tree path");
	cr_assert(strstr(scalar, "/backends/scalar/qkv_scalar.so"), "%s", scalar);
	cr_assert_null(qkv_plugin_find(dirs, "no_such_backend"));
	cr_assert_null(qkv_plugin_find(dirs, "../../etc"));
	char **files = qkv_plugin_list(dirs);
	bool seen = false;
	for (size_t i = 0; files && files[i]; i++)
		seen |= strcmp(files[i], scalar) == 0;
	cr_assert(seen, "qkv_plugin_list misses %s", scalar);
	qkv_free(scalar);
	qkv_search_path_free(files);
	qkv_search_path_free(dirs);
}
