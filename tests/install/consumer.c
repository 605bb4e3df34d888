/* An out-of-tree program built against an installed qkv with pkg-config only.
 * It projects docs/DESIGN.md's worked example, x = (2, 3), W = [[1, 10], [0, -1]] -> (2, 17),
 * and checks that the backend came from the expected folder (the installed backend
 * folder, found with no environment variable, or a plugin folder given here).
 * A backend that does not compute f32 is run in int8, within the int8 bound of
 * docs/DESIGN.md's scheme: 0.51 * (sw * sum|x| + sx * sum|w|) + K * sx * sw / 4 <= 0.35 here.
 *
 *   consumer EXPECTED_DIR [BACKEND [PLUGIN_DIR]]
 * Exit: 0 ok, 1 wrong result or wrong folder, 2 qkv error. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

static enum qkv_status open_model(uint32_t precision, int argc, char **argv, qkv_model **m,
                                  char *err, size_t errlen)
{
	static const float w[4] = {1, 10, 0, -1}; /* [d_model=2 x d_out=2], in_out */
	struct qkv_model_desc d = {
	    .struct_size = sizeof(d),
	    .d_model = 2,
	    .n_heads = 1,
	    .head_dim = 2,
	    .precision = precision,
	    .layout = QKV_LAYOUT_IN_OUT,
	    .w = {w, w, w},
	    .prefer = argc > 2 ? argv[2] : NULL,
	    .strict = argc > 2,
	    .plugin_dirs = argc > 3 ? argv[3] : NULL,
	};
	return qkv_model_open_memory(&d, m, err, errlen);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: consumer EXPECTED_DIR [BACKEND [PLUGIN_DIR]]\n");
		return 2;
	}
	char err[512];
	qkv_model *m = NULL;
	float tol = 0.0f; /* small integers: exact in f32 in any summation order */
	enum qkv_status st = open_model(QKV_F32, argc, argv, &m, err, sizeof(err));
	if (st != QKV_OK && strstr(err, "does not support precision f32")) {
		/* int8 backends; then precision stored, whose f32 weights stay f32 (quant) */
		st = open_model(QKV_INT8, argc, argv, &m, err, sizeof(err));
		tol = st == QKV_OK ? 0.35f : 0.0f;
		if (st != QKV_OK && strstr(err, "does not support precision int8"))
			st = open_model(QKV_STORED, argc, argv, &m, err, sizeof(err));
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
	for (int i = 0; i < 2; i++) {
		float want = i ? 17.0f : 2.0f;
		ok &= fabsf(q[i] - want) <= tol && fabsf(k[i] - want) <= tol &&
		      fabsf(v[i] - want) <= tol;
	}
	size_t n = strlen(argv[1]);
	int here = strncmp(info.backend_path, argv[1], n) == 0 && info.backend_path[n] == '/';
	printf("qkv %s: backend %s (%s) from %s: q = (%g, %g) %s\n", qkv_version(), info.backend,
	       tol > 0 ? "int8" : "f32", info.backend_path, q[0], q[1],
	       ok && here ? "ok" : "WRONG");
	if (!here)
		fprintf(stderr, "consumer: expected a backend from %s\n", argv[1]);
	qkv_model_close(m);
	return ok && here ? 0 : 1;
}
