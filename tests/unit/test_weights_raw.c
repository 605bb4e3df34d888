/* Mapping files (regular, empty, directory, FIFO, missing), raw views with exact
 * size checks, and the widening of f16/bf16/i8/unaligned f32 to f32, compared with
 * independent double-precision decodings. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weights.h"
#include "test_tmpdir.h"

static char dir[64];

static void mk_dir(void)
{
	test_tmpdir_make(dir, sizeof(dir), "raw");
}

static void rm_dir(void)
{
	test_tmpdir_remove(dir);
}

TestSuite(raw, .init = mk_dir, .fini = rm_dir);

static const char *write_file(const char *name, const void *data, size_t n)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
	return path;
}

Test(raw, map_regular_and_exact_view)
{
	const float w[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
	const char *p = write_file("w.bin", w, sizeof(w));
	struct qkv_mapped_file f;
	char err[256];
	cr_assert_eq(qkv_file_map(p, &f, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(f.size, sizeof(w));
	cr_assert_str_eq(f.path, p);
	struct qkv_tensor_view v;
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 6, &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.ndim, 1);
	cr_assert_eq(v.shape[0], 6);
	cr_assert_eq(v.data, f.data);
	cr_assert_eq(memcmp(v.data, w, sizeof(w)), 0);
	/* one element short and long: both values named */
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 7, &v, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "w.bin: raw file is 24 bytes, expected 28"), "%s", err);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 5, &v, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "24 bytes, expected 20"), "%s", err);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_BF16, 12, &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_NONE, 6, &v, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "need a dtype"), "%s", err);
	/* element count times size overflows */
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, UINT64_MAX / 2, &v, err, sizeof(err)),
	             QKV_ERR_FORMAT);
	cr_assert(strstr(err, "overflows"), "%s", err);
	qkv_file_unmap(&f);
	cr_assert_null(f.path);
	qkv_file_unmap(&f); /* twice is harmless */
}

Test(raw, one_byte_off)
{
	uint8_t b[9] = {0};
	char err[256];
	struct qkv_mapped_file f;
	struct qkv_tensor_view v;
	cr_assert_eq(qkv_file_map(write_file("s.bin", b, 7), &f, err, 256), QKV_OK, "%s", err);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 2, &v, err, 256), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "7 bytes, expected 8"), "%s", err);
	qkv_file_unmap(&f);
	cr_assert_eq(qkv_file_map(write_file("l.bin", b, 9), &f, err, 256), QKV_OK, "%s", err);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 2, &v, err, 256), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "9 bytes, expected 8"), "%s", err);
	qkv_file_unmap(&f);
}

Test(raw, empty_file_maps_as_zero_bytes)
{
	struct qkv_mapped_file f;
	struct qkv_tensor_view v;
	char err[256];
	cr_assert_eq(qkv_file_map(write_file("e.bin", "", 0), &f, err, 256), QKV_OK, "%s", err);
	cr_assert_eq(f.size, 0);
	cr_assert_eq(qkv_raw_view(&f, QKV_DT_F32, 4, &v, err, 256), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "0 bytes, expected 16"), "%s", err);
	cr_assert_eq(qkv_npy_parse(&f, QKV_NPY_WEIGHTS, "weights", &v, err, 256), QKV_ERR_FORMAT);
	struct qkv_safetensors *st;
	cr_assert_eq(qkv_safetensors_open(&f, &st, err, 256), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "e.bin: file is 0 bytes"), "%s", err);
	qkv_file_unmap(&f);
}

Test(raw, non_regular_files_refused)
{
	struct qkv_mapped_file f;
	char err[256];
	cr_assert_eq(qkv_file_map(dir, &f, err, sizeof(err)), QKV_ERR_IO);
	cr_assert(strstr(err, dir) && strstr(err, "is a directory"), "%s", err);
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/pipe", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	/* must neither hang (no writer) nor map */
	cr_assert_eq(qkv_file_map(fifo, &f, err, sizeof(err)), QKV_ERR_IO);
	cr_assert(strstr(err, "is a FIFO"), "%s", err);
	cr_assert_eq(qkv_file_map("/dev/null", &f, err, sizeof(err)), QKV_ERR_IO);
	cr_assert(strstr(err, "/dev/null: is a character device"), "%s", err);
	char missing[128];
	snprintf(missing, sizeof(missing), "%s/missing.bin", dir);
	cr_assert_eq(qkv_file_map(missing, &f, err, sizeof(err)), QKV_ERR_IO);
	cr_assert(strstr(err, "missing.bin: cannot open: No such file or directory"), "%s", err);
	cr_assert_eq(qkv_file_map("", &f, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert_null(f.path);
}

/* Independent f16 decoding: (-1)^s * 2^(e-15) * (1 + m/1024), subnormal 2^-14 * m/1024. */
static double f16_ref(uint16_t h)
{
	int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
	double v;
	if (e == 31)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m / 1024.0, -14);
	else
		v = ldexp(1.0 + m / 1024.0, e - 15);
	return s ? -v : v;
}

Test(raw, widen_every_f16_value)
{
	static uint8_t in[65536 * 2 + 1];
	static float out[65536];
	for (unsigned i = 0; i < 65536; i++) {
		in[1 + 2 * i] = (uint8_t)i; /* little-endian, at an odd address */
		in[2 + 2 * i] = (uint8_t)(i >> 8);
	}
	struct qkv_tensor_view v = {
	    .dtype = QKV_DT_F16, .ndim = 1, .shape = {65536}, .data = in + 1};
	qkv_convert_to_f32(&v, out, 65536);
	for (unsigned i = 0; i < 65536; i++) {
		double r = f16_ref((uint16_t)i);
		if (isnan(r))
			cr_assert(isnan(out[i]), "f16 0x%04x: %g", i, (double)out[i]);
		else
			cr_assert_eq((double)out[i], r, "f16 0x%04x: %a != %a", i, (double)out[i],
			             r);
		if (r == 0)
			cr_assert_eq(signbit(out[i]) != 0, (i >> 15) != 0);
	}
}

Test(raw, widen_bf16_i8_and_unaligned_f32)
{
	uint8_t bf[6] = {0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40}; /* 1, -2, 3.140625 */
	struct qkv_tensor_view v = {.dtype = QKV_DT_BF16, .ndim = 1, .shape = {3}, .data = bf};
	float out[4];
	qkv_convert_to_f32(&v, out, 3);
	cr_assert_eq(out[0], 1.0f);
	cr_assert_eq(out[1], -2.0f);
	cr_assert_eq(out[2], 3.140625f);
	int8_t q[3] = {-127, 0, 127};
	v = (struct qkv_tensor_view){
	    .dtype = QKV_DT_I8, .ndim = 1, .shape = {3}, .data = (const uint8_t *)q};
	qkv_convert_to_f32(&v, out, 3);
	cr_assert_eq(out[0], -127.0f);
	cr_assert_eq(out[2], 127.0f);
	uint8_t f32[9] = {0, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc1}; /* 1, -10 */
	v = (struct qkv_tensor_view){.dtype = QKV_DT_F32, .ndim = 1, .shape = {2}, .data = f32 + 1};
	qkv_convert_to_f32(&v, out, 2);
	cr_assert_eq(out[0], 1.0f);
	cr_assert_eq(out[1], -10.0f);
	cr_assert_eq(qkv_dtype_size(QKV_DT_BF16), 2);
	cr_assert_str_eq(qkv_dtype_name(QKV_DT_I8), "I8");
}
