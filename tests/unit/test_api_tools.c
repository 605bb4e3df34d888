/* The public functions for tools (<qkv/qkv.h>: qkv_system_get_info, the plugin set,
 * qkv_checkpoint, qkv_npy_read_f32), through libqkv only, against independent
 * references: <qkv/cpu_features.h> for the CPU, the registry's test plugins (one defect
 * each) for the set, and the model's own projections for the checkpoint's weights. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/cpu_features.h>
#include <qkv/qkv.h>

Test(api_tools, system_info_matches_the_public_cpu_header)
{
	struct qkv_system_info s = {.struct_size = 8};
	cr_assert_eq(qkv_system_get_info(&s), QKV_ERR_ARGUMENT, "a struct too small accepted");
	cr_assert_eq(qkv_system_get_info(NULL), QKV_ERR_ARGUMENT);
	s.struct_size = sizeof(s);
	cr_assert_eq(qkv_system_get_info(&s), QKV_OK);
	struct qkv_cpu_features f;
	char want[512];
	qkv_cpu_features_detect(&f);
	qkv_cpu_features_string(&f, want, sizeof(want));
	cr_assert_str_eq(s.cpu_features, want);
	cr_assert(s.cpu_name && s.cpu_name[0]);
	cr_assert(s.cpus >= 1 && (long)s.cpus <= sysconf(_SC_NPROCESSORS_CONF), "%u cpus", s.cpus);
}

static long find_path(const qkv_plugin_set *set, const char *tail, struct qkv_plugin_info *pi)
{
	for (size_t i = 0; i < qkv_plugins_count(set); i++) {
		pi->struct_size = sizeof(*pi);
		cr_assert_eq(qkv_plugins_get(set, i, pi), QKV_OK);
		size_t n = strlen(pi->path), k = strlen(tail);
		if (n >= k && !strcmp(pi->path + n - k, tail))
			return (long)i;
	}
	return -1;
}

Test(api_tools, plugin_set_lists_probes_refusals_and_near_names)
{
	qkv_plugin_set *set = NULL;
	char err[256];
	cr_assert_eq(qkv_plugins_scan(QKV_FAKE_PLUGIN_DIR, &set, err, sizeof(err)), QKV_OK, "%s",
	             err);
	cr_assert_str_eq(qkv_plugins_dir(set, 0), QKV_FAKE_PLUGIN_DIR, "first folder");
	cr_assert_null(qkv_plugins_dir(set, 1000));
	struct qkv_plugin_info pi;
	cr_assert_geq(find_path(set, "/qkv_fake_ok.so", &pi), 0);
	cr_assert_str_eq(pi.name, "fake_ok");
	cr_assert(pi.score > 0 && pi.backend && pi.backend->project);
	cr_assert_geq(find_path(set, "/qkv_fake_probeno.so", &pi), 0);
	cr_assert(pi.name && pi.score <= 0, "a refusing probe listed as usable");
	cr_assert_geq(find_path(set, "/qkv_fake_abi2.so", &pi), 0);
	cr_assert(!pi.name && !pi.backend && pi.detail && strstr(pi.detail, "qkv_fake_abi2.so"),
	          "refused plugin: %s", pi.detail ? pi.detail : "(no detail)");
	const char *near = "x";
	cr_assert_geq(qkv_plugins_find(set, "fake_ok", &near), 0);
	cr_assert_eq(qkv_plugins_find(set, "fake_ko", &near), -1);
	cr_assert_str_eq(near, "fake_ok");
	cr_assert_eq(qkv_plugins_find(set, "zzzzzzzz", &near), -1);
	cr_assert_null(near);
	cr_assert_eq(qkv_plugins_find(set, "fake_abi2", NULL), -1, "a refused plugin found");
	pi.struct_size = sizeof(pi);
	cr_assert_eq(qkv_plugins_get(set, qkv_plugins_count(set), &pi), QKV_ERR_ARGUMENT);
	qkv_plugins_free(set);

	cr_assert_eq(
	    qkv_plugins_load(QKV_FAKE_PLUGIN_DIR "/qkv_fake_nosym.so", &set, err, sizeof(err)),
	    QKV_OK);
	cr_assert_eq(qkv_plugins_count(set), 1);
	pi.struct_size = sizeof(pi);
	cr_assert_eq(qkv_plugins_get(set, 0, &pi), QKV_OK);
	cr_assert(!pi.backend && strstr(pi.detail, "qkv_fake_nosym.so"), "%s", pi.detail);
	qkv_plugins_free(set);
	qkv_plugins_free(NULL);
}

/* The checkpoint's weights are what the model computes with: q(e_i) - q(0) is row i of
 * Wq (in_out), column i of the out_in matrix the checkpoint hands out. */
Test(api_tools, checkpoint_dims_and_weights_agree_with_the_model)
{
	const char *cfg = QKV_SOURCE_ROOT "/configs/default.yaml";
	qkv_checkpoint *ck = NULL;
	char err[512];
	cr_assert_eq(qkv_checkpoint_open(cfg, 0, &ck, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_checkpoint_info in = {.struct_size = sizeof(in)};
	cr_assert_eq(qkv_checkpoint_get_info(ck, &in), QKV_OK);
	cr_assert(in.d_model == 64 && in.n_heads == 4 && in.n_kv_heads == 2 && in.head_dim == 16);
	cr_assert(in.d_q == 64 && in.d_kv == 32 && in.precision == QKV_F32);
	cr_assert_str_eq(in.tensor[0], "model.layers.0.self_attn.q_proj.weight");
	cr_assert_null(in.w[0], "weights without QKV_CHECKPOINT_WEIGHTS");
	qkv_checkpoint_close(ck);

	cr_assert_eq(qkv_checkpoint_open(cfg, QKV_CHECKPOINT_WEIGHTS, &ck, err, sizeof(err)),
	             QKV_OK, "%s", err);
	cr_assert_eq(qkv_checkpoint_get_info(ck, &in), QKV_OK);
	cr_assert(in.w[0] && in.w[1] && in.w[2] && in.layout == QKV_LAYOUT_OUT_IN);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "scalar";
	o.strict = 1;
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open(cfg, &o, &m, err, sizeof(err)), QKV_OK, "%s", err);
	float x[2][64] = {{0}}, q[2][64], k[2][32], v[2][32];
	for (size_t i = 0; i < 64; i += 7) {
		memset(x, 0, sizeof(x));
		x[1][i] = 1.0f;
		cr_assert_eq(qkv_project(m, 2, &x[0][0], 64, &q[0][0], 64, &k[0][0], 32, &v[0][0],
		                         32, err, sizeof(err)),
		             QKV_OK, "%s", err);
		for (size_t o2 = 0; o2 < 64; o2++) {
			float w = in.w[0][o2 * 64 + i], got = q[1][o2] - q[0][o2];
			cr_assert(fabsf(got - w) <= 1e-6f * (1 + fabsf(w)),
			          "Wq[%zu][%zu]: %g vs %g", o2, i, got, w);
		}
	}
	qkv_model_close(m);
	qkv_checkpoint_close(ck);
	cr_assert_neq(qkv_checkpoint_open("/nonexistent.yaml", 0, &ck, err, sizeof(err)), QKV_OK);
	cr_assert_null(ck);
	cr_assert(strstr(err, "/nonexistent.yaml"), "%s", err);
}

static void write_npy(const char *path, const char *descr, const void *data, size_t bytes,
                      const char *shape)
{
	char head[128];
	int n = snprintf(head, sizeof(head),
	                 "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
	int pad = 63 - (10 + n) % 64;
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	unsigned len = (unsigned)(n + pad + 1);
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc((int)(len & 0xff), f);
	fputc((int)(len >> 8), f);
	fprintf(f, "%s%*s\n", head, pad, "");
	fwrite(data, 1, bytes, f);
	cr_assert_eq(fclose(f), 0);
}

Test(api_tools, npy_read_f32_and_its_refusals)
{
	char path[] = "/tmp/qkv-api-npy-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	const float a[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
	write_npy(path, "<f4", a, sizeof(a), "(2, 3)");
	float *x = NULL;
	uint64_t rows = 0, cols = 0;
	char err[512];
	cr_assert_eq(qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert(rows == 2 && cols == 3 && !memcmp(x, a, sizeof(a)));
	qkv_array_free(x);
	const uint16_t h[3] = {0x3c00, 0xc000, 0x3800}; /* 1, -2, 0.5 in binary16 */
	write_npy(path, "<f2", h, sizeof(h), "(3,)");
	cr_assert_eq(qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert(rows == 1 && cols == 3 && x[0] == 1.0f && x[1] == -2.0f && x[2] == 0.5f);
	qkv_array_free(x);
	const double d[2] = {1, 2};
	write_npy(path, "<f8", d, sizeof(d), "(2,)");
	cr_assert_eq(qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err)),
	             QKV_ERR_UNSUPPORTED);
	cr_assert_null(x);
	cr_assert(strstr(err, path) && strstr(err, "<f8"), "%s", err);
	/* well-formed integer arrays: UNSUPPORTED, listing exactly what input rows take */
	const int8_t i8[4] = {1, 2, 3, 4};
	const char *ints[] = {"|i1", "<i4"};
	for (size_t i = 0; i < 2; i++) {
		write_npy(path, ints[i], i8, i ? 4 : 2, "(2,)");
		cr_assert_eq(qkv_npy_read_f32(path, &x, &rows, &cols, err, sizeof(err)),
		             QKV_ERR_UNSUPPORTED, "%s", err);
		cr_assert(strstr(err, ints[i]) && strstr(err, "not supported for input rows"), "%s",
		          err);
		cr_assert(strstr(err, "(supported: '<f4' float32, '<f2' float16)"), "%s", err);
	}
	unlink(path);
}
