/* safetensors reader: valid headers, and every rejection class of the format
 * (lengths, JSON syntax, UTF-8, dtypes, shapes, offsets, layout of the data),
 * each with a check of the message. Files are built in memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "weights.h"

static uint8_t buf[1 << 17];

/* 8-byte LE length + header text + `data_len` data bytes (value = index). */
static size_t mk_st(const char *hdr, size_t data_len)
{
	size_t n = strlen(hdr);
	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t)((uint64_t)n >> (8 * b));
	memcpy(buf + 8, hdr, n);
	for (size_t i = 0; i < data_len; i++)
		buf[8 + n + i] = (uint8_t)i;
	return 8 + n + data_len;
}

static enum qkv_status open_st(size_t size, struct qkv_safetensors **st, char *err)
{
	struct qkv_mapped_file f = {.path = "m.safetensors", .data = buf, .size = size};
	return qkv_safetensors_open(&f, st, err, 256);
}

#define REFUSED(size, what)                                                                        \
	do {                                                                                       \
		struct qkv_safetensors *st_ = (struct qkv_safetensors *)1;                         \
		char e_[256] = "";                                                                 \
		cr_assert_eq(open_st((size), &st_, e_), QKV_ERR_FORMAT, "accepted; wanted: %s",    \
		             what);                                                                \
		cr_assert_null(st_);                                                               \
		cr_assert(strstr(e_, "m.safetensors"), "message lacks the file: %s", e_);          \
		cr_assert(strstr(e_, what), "message '%s' lacks '%s'", e_, what);                  \
	} while (0)

#define HDR_REFUSED(hdr, data_len, what) REFUSED(mk_st(hdr, data_len), what)

Test(safetensors, valid_file_with_metadata_and_padding)
{
	size_t n =
	    mk_st("{\"__metadata__\": {\"format\": \"pt\"},"
	          " \"b\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [24, 30]},"
	          " \"a\": {\"shape\": [2, 3], \"dtype\": \"F32\", \"data_offsets\": [0, 24]},"
	          " \"z\": {\"dtype\": \"I8\", \"shape\": [0, 5], \"data_offsets\": [30, 30]},"
	          " \"s\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [30, 32]}}   ",
	          32);
	struct qkv_safetensors *st;
	char err[256];
	cr_assert_eq(open_st(n, &st, err), QKV_OK, "%s", err);
	struct qkv_tensor_view v;
	const uint8_t *data = buf + n - 32;
	cr_assert_eq(qkv_safetensors_find(st, "a", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_F32);
	cr_assert_eq(v.ndim, 2);
	cr_assert_eq(v.shape[0], 2);
	cr_assert_eq(v.shape[1], 3);
	cr_assert_eq(v.nbytes, 24);
	cr_assert_eq(v.data, data);
	cr_assert_eq(qkv_safetensors_find(st, "b", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_BF16);
	cr_assert_eq(v.data, data + 24);
	cr_assert_eq(qkv_safetensors_find(st, "s", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.ndim, 0);
	cr_assert_eq(qkv_tensor_count(&v), 1);
	cr_assert_eq(qkv_safetensors_find(st, "z", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_tensor_count(&v), 0);
	cr_assert_eq(qkv_safetensors_find(st, "nope", &v, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "no tensor named nope"), "%s", err);
	cr_assert_eq(qkv_safetensors_find(st, "__metadata__", &v, err, sizeof(err)),
	             QKV_ERR_FORMAT);
	qkv_safetensors_close(st);
}

Test(safetensors, escaped_names_and_empty_header)
{
	size_t n = mk_st("{\"caf\\u00e9\\n\\ud83d\\ude00\": {\"dtype\": \"I8\", \"shape\": [2],"
	                 " \"data_offsets\": [0, 2]}}",
	                 2);
	struct qkv_safetensors *st;
	char err[256];
	struct qkv_tensor_view v;
	cr_assert_eq(open_st(n, &st, err), QKV_OK, "%s", err);
	cr_assert_eq(qkv_safetensors_find(st, "caf\xc3\xa9\n\xf0\x9f\x98\x80", &v, err, 256),
	             QKV_OK, "%s", err);
	qkv_safetensors_close(st);
	cr_assert_eq(open_st(mk_st("{}", 0), &st, err), QKV_OK, "%s", err);
	cr_assert_eq(qkv_safetensors_find(st, "x", &v, err, 256), QKV_ERR_FORMAT);
	qkv_safetensors_close(st);
}

static void set_len(uint64_t n)
{
	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t)(n >> (8 * b));
}

Test(safetensors, header_length)
{
	REFUSED(0, "too short");
	REFUSED(7, "too short");
	size_t n = mk_st("{}", 0);
	set_len(UINT64_MAX);
	REFUSED(n, "overflows");
	set_len(UINT64_MAX - 7);
	REFUSED(n, "overflows");
	set_len((uint64_t)1 << 62);
	REFUSED(n, "exceeds");
	set_len(200u << 20);
	REFUSED(n, "exceeds");
	set_len(3);
	REFUSED(n, "runs past the end");
	set_len(0);
	REFUSED(n, "does not start with '{'");
}

Test(safetensors, not_json_object)
{
	HDR_REFUSED(" {}", 0, "does not start with '{'");
	HDR_REFUSED("[1]", 0, "does not start with '{'");
	HDR_REFUSED("{\"a\xff\": 1}", 0, "not valid UTF-8");
	HDR_REFUSED("{\"a\xc0\xaf\": 1}", 0, "not valid UTF-8");     /* overlong '/' */
	HDR_REFUSED("{\"a\xed\xa0\x80\": 1}", 0, "not valid UTF-8"); /* surrogate */
	HDR_REFUSED("{\"a\xe2\x82\": 1}", 0, "not valid UTF-8");     /* truncated */
	HDR_REFUSED("{} x", 0, "trailing bytes after the header");
	HDR_REFUSED("{", 0, "expected a string");
	HDR_REFUSED("{\"a", 0, "unterminated string");
	HDR_REFUSED("{\"a\x01\": {}}", 0, "control byte");
	HDR_REFUSED("{\"a\\q\": {}}", 0, "bad escape");
	HDR_REFUSED("{\"a\\u00\": {}}", 0, "bad \\u escape");
	HDR_REFUSED("{\"a\\u0000\": {}}", 0, "\\u0000");
	HDR_REFUSED("{\"a\\udc00\": {}}", 0, "lone low surrogate");
	HDR_REFUSED("{\"a\\ud800x\": {}}", 0, "without a low one");
	HDR_REFUSED("{\"a\" {}}", 0, "expected ':'");
	HDR_REFUSED("{\"a\": []}", 0, "expected '{' starting a tensor entry");
	HDR_REFUSED("{\"a\": {}}", 0, "empty entry");
	HDR_REFUSED("{\"__metadata__\": {\"k\": 1}}", 0, "expected a string");
	HDR_REFUSED("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "duplicate __metadata__");
}

Test(safetensors, deep_nesting_fails_fast)
{
	/* The reader follows the schema, so nesting is refused at the first level
	 * the schema does not allow, never recursed into. */
	static char hdr[60000];
	strcpy(hdr, "{\"a\": {\"shape\": ");
	size_t n = strlen(hdr);
	memset(hdr + n, '[', 50000);
	hdr[n + 50000] = '\0';
	HDR_REFUSED(hdr, 0, "expected a non-negative integer");
}

#define ENTRY(dt, shape, off)                                                                      \
	"{\"t\": {\"dtype\": \"" dt "\", \"shape\": " shape ", \"data_offsets\": " off "}}"

Test(safetensors, entries)
{
	HDR_REFUSED(ENTRY("F64", "[2]", "[0, 16]"), 16, "unsupported dtype F64 for tensor t");
	HDR_REFUSED(ENTRY("U8", "[2]", "[0, 2]"), 2, "unsupported dtype U8 for tensor t");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 8.0]"), 8, "non-integer");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 8e0]"), 8, "exponent");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 8E0]"), 8, "exponent");
	HDR_REFUSED(ENTRY("F32", "[2]", "[-0, 8]"), 8, "negative");
	HDR_REFUSED(ENTRY("F32", "[2]", "[00, 8]"), 8, "leading zero");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, \"8\"]"), 8, "expected a non-negative integer");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 99999999999999999999]"), 8, "too large");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0]"), 8, "expected ','");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 8, 9]"), 8, "expected ']'");
	HDR_REFUSED(ENTRY("F32", "[-2]", "[0, 8]"), 8, "negative");
	HDR_REFUSED(ENTRY("F32", "[2.5]", "[0, 8]"), 8, "non-integer");
	HDR_REFUSED(ENTRY("F32", "[1,2,3,4,5,6,7,8,9]", "[0, 8]"), 8, "more than 8 dimensions");
	HDR_REFUSED(ENTRY("F32", "[4294967296, 4294967296]", "[0, 8]"), 8,
	            "shape product overflows");
	HDR_REFUSED(ENTRY("F32", "[4294967296, 1073741824]", "[0, 8]"), 8,
	            "byte size of 4611686018427387904 elements overflows");
	HDR_REFUSED(ENTRY("F32", "[3]", "[0, 8]"), 8, "span 8 bytes but the shape needs 12");
	HDR_REFUSED(ENTRY("F32", "[2]", "[8, 0]"), 8, "end 0 < begin 8");
	HDR_REFUSED(ENTRY("F32", "[2]", "[0, 8]"), 7, "past the end of the data (7 bytes)");
	HDR_REFUSED("{\"t\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "missing \"data_offsets\"");
	HDR_REFUSED("{\"t\": {\"dtype\": \"F32\", \"dtype\": \"F32\"}}", 8,
	            "duplicate key \"dtype\"");
	HDR_REFUSED("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8], "
	            "\"extra\": 1}}",
	            8, "unknown key \"extra\"");
}

Test(safetensors, table_layout)
{
	const char *two = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [%s]},"
	                  " \"%s\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [%s]}}";
	char h[512];
	snprintf(h, sizeof(h), two, "0, 8", "a", "8, 16");
	HDR_REFUSED(h, 16, "duplicate tensor name a");
	snprintf(h, sizeof(h), two, "0, 8", "b", "4, 12");
	HDR_REFUSED(h, 16, "tensors a and b overlap");
	snprintf(h, sizeof(h), two, "0, 8", "b", "12, 20");
	HDR_REFUSED(h, 20, "gap in the data: bytes [8, 12)");
	snprintf(h, sizeof(h), two, "4, 12", "b", "12, 20");
	HDR_REFUSED(h, 20, "gap in the data: bytes [0, 4)");
	snprintf(h, sizeof(h), two, "0, 8", "b", "8, 16");
	HDR_REFUSED(h, 17, "1 trailing data bytes");
	HDR_REFUSED("{}", 3, "3 trailing data bytes but no tensors");
	/* the same two tensors, stored in the other order, are fine */
	snprintf(h, sizeof(h), two, "8, 16", "b", "0, 8");
	struct qkv_safetensors *st;
	char err[256];
	cr_assert_eq(open_st(mk_st(h, 16), &st, err), QKV_OK, "%s", err);
	qkv_safetensors_close(st);
}

Test(safetensors, huge_names_refused)
{
	static char hdr[QKV_JSON_MAX_STRING + 64];
	hdr[0] = '{';
	hdr[1] = '"';
	memset(hdr + 2, 'n', QKV_JSON_MAX_STRING + 1);
	strcpy(hdr + 3 + QKV_JSON_MAX_STRING, "\": {}}");
	HDR_REFUSED(hdr, 0, "exceeds the 65536-byte limit");
}
