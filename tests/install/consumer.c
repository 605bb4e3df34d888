/* An out-of-tree program built against an installed qkv with pkg-config only.
 * It projects DESIGN.md's worked example, x = (2, 3), W = [[1, 10], [0, -1]] -> (2, 17),
 * and checks that the backend came from the expected folder (the installed backend
 * folder, found with no environment variable, or a plugin folder given here).
 *
 *   consumer EXPECTED_DIR [BACKEND [PLUGIN_DIR]]
 * Exit: 0 ok, 1 wrong result or wrong folder, 2 qkv error, 77 precision unsupported. */
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: consumer EXPECTED_DIR [BACKEND [PLUGIN_DIR]]\n");
		return 2;
	}
	static const float w[4] = {1, 10, 0, -1}; /* [d_model=2 x d_out=2], in_out */
	struct qkv_model_desc d = {
		.struct_size = sizeof(d),
		.d_model = 2,
		.n_heads = 1,
		.head_dim = 2,
		.precision = QKV_F32,
		.layout = QKV_LAYOUT_IN_OUT,
		.w = {w, w, w},
		.prefer = argc > 2 ? argv[2] : NULL,
		.strict = argc > 2,
		.plugin_dirs = argc > 3 ? argv[3] : NULL,
	};
	char err[512];
	qkv_model *m = NULL;
	enum qkv_status st = qkv_model_open_memory(&d, &m, err, sizeof(err));
	if (st == QKV_ERR_UNSUPPORTED) {
		printf("skip: %s\n", err);
		return 77;
	}
	if (st != QKV_OK) {
		fprintf(stderr, "consumer: open: %s: %s\n", qkv_status_str(st), err);
		return 2;
	}
	const float x[2] = {2, 3};
	float q[2], k[2], v[2];
	st = qkv_project(m, 1, x, 2, q, 2, k, 2, v, 2, err, sizeof(err));
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	if (st != QKV_OK || qkv_model_get_info(m, &info) != QKV_OK) {
		fprintf(stderr, "consumer: project: %s: %s\n", qkv_status_str(st), err);
		qkv_model_close(m);
		return 2;
	}
	int ok = 1;
	for (int i = 0; i < 2; i++) /* small integers: exact in any summation order */
		ok &= q[i] == (i ? 17.0f : 2.0f) && k[i] == q[i] && v[i] == q[i];
	size_t n = strlen(argv[1]);
	int here = strncmp(info.backend_path, argv[1], n) == 0 && info.backend_path[n] == '/';
	printf("qkv %s: backend %s from %s: q = (%g, %g) %s\n", qkv_version(), info.backend,
	       info.backend_path, q[0], q[1], ok && here ? "ok" : "WRONG");
	if (!here)
		fprintf(stderr, "consumer: expected a backend from %s\n", argv[1]);
	qkv_model_close(m);
	return ok && here ? 0 : 1;
}
