/* .npy reader: "\x93NUMPY", version byte pair, header length (2 bytes LE in v1.0,
 * 4 bytes in v2.0 and v3.0), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the data.
 *
 * The dict is parsed here by hand, strictly: exactly the three keys, each once;
 * string literals in single or double quotes without escapes; True/False; a tuple of
 * non-negative decimal integers. Everything accepted is ASCII, so the v1/v2 (latin-1)
 * and v3 (UTF-8) header encodings need no distinction: any other byte is refused.
 * fortran_order True is refused (not transposed) because a silently transposed
 * weight is worse than an error; np.ascontiguousarray() fixes the file. Only 1-D and
 * 2-D arrays are weights; the data must be exactly elements x itemsize bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "weights.h"

#define NPY_MAX_HEADER 65536u /* numpy's own headers are ~128 bytes */
#define NPY_MAX_SHAPE 8       /* parsed up to this many dims, then refused if > 2 */

struct npy_cur {
	const char *s; /* [n] the dict text */
	size_t n, pos;
	const char *path;
	uint32_t accept; /* QKV_DT_BIT of the dtypes this use reads */
	const char *use; /* "weights", "input rows" */
	char *err;
	size_t errlen;
};

static enum qkv_status bad(struct npy_cur *c, const char *problem)
{
	return qkv_fail(c->err, c->errlen, QKV_ERR_FORMAT, "%s: npy header byte %zu: %s", c->path,
	                c->pos, problem);
}

static void skip_sp(struct npy_cur *c)
{
	while (c->pos < c->n && c->s[c->pos] == ' ')
		c->pos++;
}

static bool accept(struct npy_cur *c, char ch)
{
	skip_sp(c);
	if (c->pos < c->n && c->s[c->pos] == ch) {
		c->pos++;
		return true;
	}
	return false;
}

/* A quoted literal without escapes, copied into buf[cap]. */
static enum qkv_status str_lit(struct npy_cur *c, char *buf, size_t cap, const char *what)
{
	skip_sp(c);
	if (c->pos >= c->n || (c->s[c->pos] != '\'' && c->s[c->pos] != '"')) {
		char m[96];
		snprintf(m, sizeof(m), "expected a quoted string for %s", what);
		return bad(c, m);
	}
	char q = c->s[c->pos++];
	size_t len = 0;
	while (c->pos < c->n && c->s[c->pos] != q) {
		if (c->s[c->pos] == '\\')
			return bad(c, "escape sequences are not allowed in the header");
		if (len + 1 >= cap)
			return bad(c, "string too long");
		buf[len++] = c->s[c->pos++];
	}
	if (c->pos >= c->n)
		return bad(c, "unterminated string");
	c->pos++;
	buf[len] = '\0';
	return QKV_OK;
}

/* The dtypes qkv reads from .npy files, as numpy writes them (one row per spelling). */
static const struct {
	const char *descr;
	enum qkv_dtype dt;
	const char *name; /* numpy's name, for messages */
	const char *note; /* when the use is narrower than the dtype, or NULL */
} npy_dtypes[] = {
    {"<f4", QKV_DT_F32, "float32", NULL},
    {"<f2", QKV_DT_F16, "float16", NULL},
    {"|i1", QKV_DT_I8, "int8", "pre-quantized weights: model.precision int8, with scales"},
    {"<i1", QKV_DT_I8, "int8", NULL}, /* the same bytes; numpy itself writes '|i1' */
};
#define N_NPY_DTYPES (sizeof(npy_dtypes) / sizeof(npy_dtypes[0]))

/* numpy's name of a well-formed descr ("<i4" -> "int32"), or "" when it has none here. */
static void numpy_name(const char *d, char *buf, size_t len)
{
	static const char *const kinds[][2] = {
	    {"b", "bool"},    {"i", "int"},        {"u", "uint"},       {"f", "float"},
	    {"c", "complex"}, {"O", "object"},     {"U", "str"},        {"S", "bytes"},
	    {"V", "void"},    {"M", "datetime64"}, {"m", "timedelta64"}};
	buf[0] = '\0';
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (d[1] == kinds[k][0][0]) {
			unsigned bytes = (unsigned)strtoul(d + 2, NULL, 10);
			bool sized = strchr("iufc", d[1]) && bytes;
			snprintf(buf, len, " (%s%.0u)", kinds[k][1], sized ? bytes * 8 : 0);
		}
}

/* A descr numpy writes for a plain array: byte order, kind letter, item size, and for
 * datetimes a unit in brackets ("<i4", "|u1", ">f8", "<U10", "<M8[ns]"). */
static bool well_formed_descr(const char *d)
{
	if (!d[0] || !strchr("<>|=", d[0]) || !d[1] || !strchr("biufcOUSVMm", d[1]))
		return false;
	size_t digits = strspn(d + 2, "0123456789");
	const char *rest = d + 2 + digits;
	return !rest[0] || (rest[0] == '[' && rest[strlen(rest) - 1] == ']');
}

/* "'<f4' float32, '<f2' float16" for the dtypes of `accept`. */
static void supported_list(uint32_t accept, char *buf, size_t len)
{
	size_t used = 0;
	uint32_t listed = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < N_NPY_DTYPES; k++) {
		uint32_t bit = QKV_DT_BIT(npy_dtypes[k].dt);
		if (!(accept & bit) || (listed & bit))
			continue;
		listed |= bit;
		int n = snprintf(
		    buf + used, len - used, "%s'%s' %s%s%s%s", used ? ", " : "",
		    npy_dtypes[k].descr, npy_dtypes[k].name, npy_dtypes[k].note ? " (" : "",
		    npy_dtypes[k].note ? npy_dtypes[k].note : "", npy_dtypes[k].note ? ")" : "");
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
}

static enum qkv_status parse_descr(struct npy_cur *c, struct qkv_tensor_view *out)
{
	skip_sp(c);
	if (c->pos < c->n && (c->s[c->pos] == '[' || c->s[c->pos] == '('))
		return bad(c, "structured dtypes (a list of fields in 'descr') are not supported");
	char d[32] = "";
	enum qkv_status s = str_lit(c, d, sizeof(d), "'descr'");
	if (s != QKV_OK)
		return s;
	for (size_t k = 0; k < N_NPY_DTYPES; k++)
		if (!strcmp(d, npy_dtypes[k].descr) && (c->accept & QKV_DT_BIT(npy_dtypes[k].dt))) {
			out->dtype = npy_dtypes[k].dt;
			return QKV_OK;
		}
	if (!well_formed_descr(d))
		return bad(c, "'descr' is not a numpy dtype such as '<f4'");
	/* Well formed, not read for this use: say what is. */
	char name[32], list[256], why[64] = "";
	numpy_name(d, name, sizeof(name));
	supported_list(c->accept, list, sizeof(list));
	if (d[1] == 'O')
		snprintf(why, sizeof(why), ": pickled data is never loaded");
	else if (d[0] == '>')
		snprintf(why, sizeof(why), ": big-endian; qkv reads little-endian");
	return qkv_fail(c->err, c->errlen, QKV_ERR_UNSUPPORTED,
	                "%s: dtype '%s'%s is not supported for %s%s (supported: %s)", c->path, d,
	                name, c->use, why, list);
}

static enum qkv_status parse_bool(struct npy_cur *c, bool *v)
{
	skip_sp(c);
	if (c->n - c->pos >= 4 && !memcmp(c->s + c->pos, "True", 4)) {
		c->pos += 4;
		*v = true;
	} else if (c->n - c->pos >= 5 && !memcmp(c->s + c->pos, "False", 5)) {
		c->pos += 5;
		*v = false;
	} else {
		return bad(c, "'fortran_order' must be True or False");
	}
	return QKV_OK;
}

static enum qkv_status parse_shape(struct npy_cur *c, uint64_t *shape, uint32_t *ndim)
{
	*ndim = 0;
	if (!accept(c, '('))
		return bad(c, "'shape' must be a tuple like (3, 4)");
	for (;;) {
		skip_sp(c);
		if (accept(c, ')'))
			return QKV_OK;
		if (c->pos < c->n && c->s[c->pos] == '-')
			return bad(c, "negative dimension in 'shape'");
		if (c->pos >= c->n || c->s[c->pos] < '0' || c->s[c->pos] > '9')
			return bad(c, "expected a non-negative integer in 'shape'");
		uint64_t v = 0;
		while (c->pos < c->n && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
			if (__builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, (uint64_t)(c->s[c->pos] - '0'), &v))
				return bad(c, "dimension in 'shape' overflows 64 bits");
			c->pos++;
		}
		if (*ndim == NPY_MAX_SHAPE)
			return bad(c, "too many dimensions in 'shape'");
		shape[(*ndim)++] = v;
		if (accept(c, ','))
			continue;
		if (!accept(c, ')'))
			return bad(c, "expected ',' or ')' in 'shape'");
		return QKV_OK;
	}
}

static enum qkv_status parse_dict(struct npy_cur *c, struct qkv_tensor_view *out, uint64_t *shape,
                                  uint32_t *ndim)
{
	bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
	enum qkv_status s;
	if (!accept(c, '{'))
		return bad(c, "header is not a dict: expected '{'");
	while (!accept(c, '}')) {
		char key[32];
		s = str_lit(c, key, sizeof(key), "a key");
		if (s != QKV_OK)
			return s;
		bool *seen = !strcmp(key, "descr")           ? &have_descr
		             : !strcmp(key, "fortran_order") ? &have_fortran
		             : !strcmp(key, "shape")         ? &have_shape
		                                             : NULL;
		if (!seen || *seen) {
			char m[96];
			snprintf(m, sizeof(m), "%s key '%s'", seen ? "duplicate" : "unknown", key);
			return bad(c, m);
		}
		*seen = true;
		if (!accept(c, ':'))
			return bad(c, "expected ':' after a key");
		if (seen == &have_descr)
			s = parse_descr(c, out);
		else if (seen == &have_fortran)
			s = parse_bool(c, &fortran);
		else
			s = parse_shape(c, shape, ndim);
		if (s != QKV_OK)
			return s;
		if (!accept(c, ',')) {
			if (!accept(c, '}'))
				return bad(c, "expected ',' or '}' in the header dict");
			break;
		}
	}
	/* the rest of the header is padding */
	while (c->pos < c->n && (c->s[c->pos] == ' ' || c->s[c->pos] == '\n'))
		c->pos++;
	if (c->pos != c->n)
		return bad(c, "unexpected bytes after the header dict");
	if (!have_descr || !have_fortran || !have_shape)
		return qkv_fail(c->err, c->errlen, QKV_ERR_FORMAT, "%s: npy header lacks '%s'",
		                c->path,
		                !have_descr     ? "descr"
		                : !have_fortran ? "fortran_order"
		                                : "shape");
	if (fortran)
		return qkv_fail(c->err, c->errlen, QKV_ERR_FORMAT,
		                "%s: fortran_order True is not supported: save the array in C "
		                "order (np.ascontiguousarray)",
		                c->path);
	return QKV_OK;
}

enum qkv_status qkv_npy_parse(const struct qkv_mapped_file *f, uint32_t accept, const char *use,
                              struct qkv_tensor_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const uint8_t *d = f->data; /* [f->size] */
	if (f->size < 10 || memcmp(d, "\x93NUMPY", 6) != 0)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: not a .npy file (missing the \\x93NUMPY magic)", f->path);
	unsigned major = d[6], minor = d[7];
	if ((major != 1 && major != 2 && major != 3) || minor != 0)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: unsupported .npy version %u.%u (supported: 1.0, 2.0, 3.0)",
		                f->path, major, minor);
	size_t pre = major == 1 ? 10 : 12; /* magic + version + length field */
	if (f->size < pre)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT, "%s: truncated .npy preamble",
		                f->path);
	uint64_t hlen = major == 1 ? (uint64_t)(d[8] | d[9] << 8)
	                           : (uint64_t)d[8] | (uint64_t)d[9] << 8 | (uint64_t)d[10] << 16 |
	                                 (uint64_t)d[11] << 24;
	if (hlen > NPY_MAX_HEADER)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: .npy header length %llu exceeds the %u-byte limit", f->path,
		                (unsigned long long)hlen, NPY_MAX_HEADER);
	if (hlen > f->size - pre)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: .npy header length %llu runs past the end of the file (%zu "
		                "bytes)",
		                f->path, (unsigned long long)hlen, f->size);
	for (size_t i = 0; i < hlen; i++)
		if (d[pre + i] < 0x20 && d[pre + i] != '\n')
			return qkv_fail(err, errlen, QKV_ERR_FORMAT,
			                "%s: npy header byte %zu: control byte 0x%02x", f->path, i,
			                d[pre + i]);
		else if (d[pre + i] >= 0x7f)
			return qkv_fail(err, errlen, QKV_ERR_FORMAT,
			                "%s: npy header byte %zu: non-ASCII byte 0x%02x", f->path,
			                i, d[pre + i]);
	struct npy_cur c = {.s = (const char *)d + pre,
	                    .n = (size_t)hlen,
	                    .path = f->path,
	                    .accept = accept,
	                    .use = use,
	                    .err = err,
	                    .errlen = errlen};
	uint64_t shape[NPY_MAX_SHAPE];
	uint32_t ndim = 0;
	enum qkv_status s = parse_dict(&c, out, shape, &ndim);
	if (s != QKV_OK)
		return s;
	if (ndim != 1 && ndim != 2)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: .npy array is %u-D; weights must be 1-D or 2-D", f->path,
		                ndim);
	uint64_t count = 1, bytes;
	for (uint32_t i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(count, shape[i], &count))
			return qkv_fail(err, errlen, QKV_ERR_FORMAT,
			                "%s: .npy shape product overflows 64 bits", f->path);
	size_t isz = qkv_dtype_size(out->dtype);
	size_t avail = f->size - pre - (size_t)hlen;
	if (__builtin_mul_overflow(count, (uint64_t)isz, &bytes))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: .npy byte size of %llu elements overflows 64 bits", f->path,
		                (unsigned long long)count);
	if (bytes != avail)
		return qkv_fail(
		    err, errlen, QKV_ERR_FORMAT,
		    "%s: .npy data is %zu bytes but the shape needs %llu elements x %zu "
		    "bytes%s",
		    f->path, avail, (unsigned long long)count, isz,
		    bytes < avail ? " (trailing bytes)" : "");
	out->ndim = ndim;
	for (uint32_t i = 0; i < ndim; i++)
		out->shape[i] = shape[i];
	out->nbytes = avail;
	out->data = d + pre + hlen;
	return QKV_OK;
}
