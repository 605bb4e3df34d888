/* The stand-in qkv_onednn.so built when oneDNN is not (absent.c): it must load like any
 * backend, probe unusable with the reason and the way to fix it, and refuse work with
 * QKV_ERR_UNSUPPORTED and the same reason, so a config that asks for onednn learns why. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <string.h>

#include <qkv/plugin.h>

static const struct qkv_backend *load(void **dl)
{
	*dl = dlopen(ABSENT_SO, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(*dl, "%s", dlerror());
	const struct qkv_backend *be = dlsym(*dl, QKV_BACKEND_SYMBOL);
	cr_assert_not_null(be);
	return be;
}

Test(onednn_absent, probes_unusable_with_the_reason)
{
	void *dl;
	const struct qkv_backend *be = load(&dl);
	cr_expect_eq(be->abi_major, QKV_PLUGIN_ABI_MAJOR);
	cr_expect_str_eq(be->name, "onednn");
	struct qkv_probe_result pr = {.struct_size = sizeof(pr), .score = 99};
	be->probe(&pr);
	cr_expect_eq(pr.score, 0);
	cr_expect(strstr(pr.detail, "absent: test reason") != NULL, "%s", pr.detail);
	cr_expect(strstr(pr.detail, "libdnnl-dev") != NULL, "%s", pr.detail);
	dlclose(dl);
}

Test(onednn_absent, refuses_work_with_the_reason)
{
	void *dl;
	const struct qkv_backend *be = load(&dl);
	struct qkv_problem pb = {.struct_size = sizeof(pb),
	                         .precision = QKV_F32,
	                         .d_model = 2,
	                         .n_heads = 1,
	                         .n_kv_heads = 1,
	                         .head_dim = 2,
	                         .d_q = 2,
	                         .d_kv = 2,
	                         .threads = 1};
	float w[4] = {1, 2, 3, 4};
	struct qkv_weights wt = {.struct_size = sizeof(wt), .w = {w, w, w}};
	void *h = (void *)&wt;
	char err[256] = "";
	cr_expect_eq(be->prepare(&pb, &wt, &h, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	cr_expect(strstr(err, "test reason") != NULL, "%s", err);
	be->release(h); /* whatever prepare left, as the core does */
	float x[2] = {1, 1}, o[3][2];
	struct qkv_batch b = {.struct_size = sizeof(b),
	                      .threads = 1,
	                      .T = 1,
	                      .x = x,
	                      .ldx = 2,
	                      .out = {o[0], o[1], o[2]},
	                      .ld_out = {2, 2, 2}};
	cr_expect_eq(be->project(NULL, &b, err, sizeof(err)), QKV_ERR_UNSUPPORTED);
	dlclose(dl);
}
