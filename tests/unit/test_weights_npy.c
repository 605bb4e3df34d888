/* .npy reader: valid files of every accepted version and dtype, and every class of
 * malformed header or data, each refused with a message naming the problem.
 * Files are built in memory (the parser takes a mapped view, not a path). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "weights.h"

static uint8_t buf[1 << 17];

/* Build "\x93NUMPY" + version + length + dict (padded with spaces and '\n' to a
 * multiple of 64 as numpy does) + data. Returns the total size. */
static size_t mk_npy(int major, int minor, const char *dict, const void *data, size_t n)
{
	size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
	size_t hlen = dl + 1;
	while ((pre + hlen) % 64)
		hlen++;
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (uint8_t)major;
	buf[7] = (uint8_t)minor;
	for (size_t b = 0; b < pre - 8; b++)
		buf[8 + b] = (uint8_t)(hlen >> (8 * b));
	memcpy(buf + pre, dict, dl);
	memset(buf + pre + dl, ' ', hlen - dl - 1);
	buf[pre + hlen - 1] = '\n';
	if (n)
		memcpy(buf + pre + hlen, data, n);
	return pre + hlen + n;
}

static enum qkv_status parse(size_t size, struct qkv_tensor_view *v, char *err)
{
	struct qkv_mapped_file f = {.path = "w.npy", .data = buf, .size = size};
	return qkv_npy_parse(&f, QKV_NPY_WEIGHTS, "weights", v, err, 256);
}

#define REFUSED(size, what)                                                                        \
	do {                                                                                       \
		struct qkv_tensor_view v_;                                                         \
		char e_[256] = "";                                                                 \
		cr_assert_eq(parse((size), &v_, e_), QKV_ERR_FORMAT, "accepted; wanted: %s",       \
		             what);                                                                \
		cr_assert(strstr(e_, "w.npy"), "message lacks the file: %s", e_);                  \
		cr_assert(strstr(e_, what), "message '%s' lacks '%s'", e_, what);                  \
	} while (0)

static const float f6[6] = {1, 2, 3, 4, 5, -6};

Test(npy, v1_f4_2d)
{
	size_t n = mk_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f6,
	                  sizeof(f6));
	struct qkv_tensor_view v;
	char err[256];
	cr_assert_eq(parse(n, &v, err), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_F32);
	cr_assert_eq(v.ndim, 2);
	cr_assert_eq(v.shape[0], 2);
	cr_assert_eq(v.shape[1], 3);
	cr_assert_eq(v.nbytes, 24);
	cr_assert_eq(v.data, buf + n - 24);
	float out[6];
	qkv_convert_to_f32(&v, out, 6);
	cr_assert_eq(memcmp(out, f6, sizeof(f6)), 0);
}

Test(npy, v2_v3_and_other_dtypes)
{
	struct qkv_tensor_view v;
	char err[256];
	uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7c00}; /* 1, -2, 2^-24, inf */
	size_t n = mk_npy(2, 0, "{\"descr\": \"<f2\", \"fortran_order\": False, \"shape\": (4,)}",
	                  h, sizeof(h));
	cr_assert_eq(parse(n, &v, err), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_F16);
	cr_assert_eq(v.ndim, 1);
	float out[4];
	qkv_convert_to_f32(&v, out, 4);
	cr_assert_eq(out[0], 1.0f);
	cr_assert_eq(out[1], -2.0f);
	cr_assert_eq(out[2], 0x1p-24f);
	cr_assert(out[3] > 3e38f);
	int8_t q[4] = {-127, 0, 5, 127};
	n = mk_npy(3, 0, "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2), }", q, 4);
	cr_assert_eq(parse(n, &v, err), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_I8);
	n = mk_npy(1, 0, "{'shape': (4,), 'fortran_order': False, 'descr': '<i1'}", q, 4);
	cr_assert_eq(parse(n, &v, err), QKV_OK, "%s", err);
	cr_assert_eq(v.shape[0], 4);
}

Test(npy, bad_magic_version_and_lengths)
{
	size_t n = mk_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f6,
	                  sizeof(f6));
	buf[1] = 'X';
	REFUSED(n, "magic");
	REFUSED(0, "magic"); /* empty file */
	REFUSED(5, "magic");
	n = mk_npy(4, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f6,
	           sizeof(f6));
	REFUSED(n, "version 4.0");
	n = mk_npy(1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f6,
	           sizeof(f6));
	REFUSED(n, "version 1.1");
	/* header length past the end of the file */
	n = mk_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f6,
	           sizeof(f6));
	buf[8] = 0xff;
	buf[9] = 0x7f;
	REFUSED(n, "runs past the end");
	/* v2 header length over the cap (checked before reading it) */
	n = mk_npy(2, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f6,
	           sizeof(f6));
	buf[10] = 0x10; /* 1 MiB */
	REFUSED(n, "exceeds");
	buf[11] = 0xff; /* 4 GiB */
	REFUSED(n, "exceeds");
	/* truncated before the length field */
	memcpy(buf, "\x93NUMPY\x02\x00\x01", 9);
	REFUSED(10, "truncated");
}

Test(npy, refused_dtypes)
{
	const char *cases[][2] = {
	    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", "structured"},
	    {"{'descr': 'f4', 'fortran_order': False, 'shape': (6,), }", "not a numpy dtype"},
	    {"{'descr': '<q4', 'fortran_order': False, 'shape': (6,), }", "not a numpy dtype"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		REFUSED(mk_npy(1, 0, cases[i][0], f6, sizeof(f6)), cases[i][1]);
}

/* A well-formed dtype qkv does not read for a use is UNSUPPORTED (not a broken file),
 * and the message lists exactly the dtypes that use reads: int8 for weights (with its
 * condition), never for input rows, which refuse it. */
Test(npy, unsupported_dtypes_name_what_the_use_reads)
{
	const struct {
		const char *descr, *name;
		uint32_t accept;
		const char *use, *why;
	} cases[] = {
	    {"<i4", "(int32)", QKV_NPY_WEIGHTS, "weights", NULL},
	    {"<i4", "(int32)", QKV_NPY_ROWS, "input rows", NULL},
	    {"|i1", "(int8)", QKV_NPY_ROWS, "input rows", NULL},
	    {"<i1", "(int8)", QKV_NPY_ROWS, "input rows", NULL},
	    {"|u1", "(uint8)", QKV_NPY_WEIGHTS, "weights", NULL},
	    {"<f8", "(float64)", QKV_NPY_ROWS, "input rows", NULL},
	    {"<c8", "(complex64)", QKV_NPY_WEIGHTS, "weights", NULL},
	    {"|b1", "(bool)", QKV_NPY_WEIGHTS, "weights", NULL},
	    {">f4", "(float32)", QKV_NPY_WEIGHTS, "weights", "big-endian"},
	    {"|O", "(object)", QKV_NPY_WEIGHTS, "weights", "pickled data is never loaded"},
	    {"<M8[ns]", "(datetime64)", QKV_NPY_ROWS, "input rows", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dict[128], err[512] = "";
		snprintf(dict, sizeof(dict),
		         "{'descr': '%s', 'fortran_order': False, 'shape': (6,), }",
		         cases[i].descr);
		struct qkv_mapped_file f = {
		    .path = "w.npy", .data = buf, .size = mk_npy(1, 0, dict, f6, sizeof(f6))};
		struct qkv_tensor_view v;
		cr_assert_eq(qkv_npy_parse(&f, cases[i].accept, cases[i].use, &v, err, sizeof(err)),
		             QKV_ERR_UNSUPPORTED, "%s: %s", cases[i].descr, err);
		char want[64];
		snprintf(want, sizeof(want), "w.npy: dtype '%s' %s is not supported for %s",
		         cases[i].descr, cases[i].name, cases[i].use);
		cr_assert(strstr(err, want), "'%s' lacks '%s'", err, want);
		cr_assert(!cases[i].why || strstr(err, cases[i].why), "%s", err);
		const char *list = strstr(err, "(supported: ");
		cr_assert(list, "%s", err);
		cr_assert(strstr(list, "'<f4' float32, '<f2' float16"), "%s", err);
		bool int8_listed = strstr(list, "int8") != NULL;
		cr_assert_eq(int8_listed, (cases[i].accept & QKV_DT_BIT(QKV_DT_I8)) != 0,
		             "int8 listed iff the use reads it: %s", err);
	}
	/* and the same int8 file is read as weights */
	struct qkv_mapped_file f = {
	    .path = "w.npy",
	    .data = buf,
	    .size = mk_npy(1, 0, "{'descr': '|i1', 'fortran_order': False, 'shape': (6,), }",
	                   "abcdef", 6)};
	struct qkv_tensor_view v;
	char err[256];
	cr_assert_eq(qkv_npy_parse(&f, QKV_NPY_WEIGHTS, "weights", &v, err, sizeof(err)), QKV_OK,
	             "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_I8);
}

Test(npy, refused_headers)
{
	const char *cases[][2] = {
	    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "fortran_order True"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", "3-D"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "0-D"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", "negative"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
	     "overflows 64 bits"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
	     "overflows 64 bits"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", "unknown key 'x'"},
	    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
	     "duplicate key 'descr'"},
	    {"{'descr': '<f4', 'shape': (6,)}", "lacks 'fortran_order'"},
	    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "True or False"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", "tuple"},
	    {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (6,)}", "escape"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "after the header"},
	    {"['descr', '<f4']", "not a dict"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)\t}", "control byte"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'd\xc3\xa9': 1}",
	     "non-ASCII"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		REFUSED(mk_npy(1, 0, cases[i][0], f6, sizeof(f6)), cases[i][1]);
}

Test(npy, data_size_must_match_exactly)
{
	const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
	REFUSED(mk_npy(1, 0, d, f6, sizeof(f6) - 1), "data is 23 bytes");
	REFUSED(mk_npy(1, 0, d, f6, sizeof(f6) - 4), "data is 20 bytes");
	uint8_t longer[25] = {0};
	REFUSED(mk_npy(1, 0, d, longer, sizeof(longer)), "trailing bytes");
	REFUSED(mk_npy(1, 0, d, NULL, 0), "data is 0 bytes");
}

Test(npy, zero_sized_dims_parse)
{
	/* A [0, 3] array is well-formed; the loader then refuses its shape. */
	struct qkv_tensor_view v;
	char err[256];
	size_t n =
	    mk_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0);
	cr_assert_eq(parse(n, &v, err), QKV_OK, "%s", err);
	cr_assert_eq(v.shape[0], 0);
	cr_assert_eq(v.nbytes, 0);
}
