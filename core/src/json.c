#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static bool fail_at(struct qkv_json *j, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail_at(struct qkv_json *j, size_t pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->problem, sizeof(j->problem), fmt, ap);
	va_end(ap);
	j->err_pos = pos;
	return false;
}

void qkv_json_init(struct qkv_json *j, const uint8_t *s, size_t n)
{
	memset(j, 0, sizeof(*j));
	j->s = s;
	j->n = n;
}

bool qkv_json_utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			*bad = i;
			return false;
		}
		if (n - i < len) {
			*bad = i;
			return false;
		}
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				*bad = i + k;
				return false;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return false;
		}
		i += len;
	}
	return true;
}

static void skip_ws(struct qkv_json *j)
{
	while (j->pos < j->n) {
		uint8_t c = j->s[j->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		j->pos++;
	}
}

bool qkv_json_accept(struct qkv_json *j, char c)
{
	skip_ws(j);
	if (j->pos < j->n && j->s[j->pos] == (uint8_t)c) {
		j->pos++;
		return true;
	}
	return false;
}

static void describe(const struct qkv_json *j, char *buf, size_t len)
{
	if (j->pos >= j->n)
		snprintf(buf, len, "end of header");
	else if (j->s[j->pos] >= 0x20 && j->s[j->pos] < 0x7f)
		snprintf(buf, len, "'%c'", j->s[j->pos]);
	else
		snprintf(buf, len, "byte 0x%02x", j->s[j->pos]);
}

bool qkv_json_expect(struct qkv_json *j, char c, const char *what)
{
	if (qkv_json_accept(j, c))
		return true;
	char got[32];
	describe(j, got, sizeof(got));
	return fail_at(j, j->pos, "expected %s, found %s", what, got);
}

static int hex4(const uint8_t *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode one \u escape (and its low surrogate) at s[*i] (just after the 'u'). */
static bool unicode_escape(struct qkv_json *j, size_t *i, uint32_t *cp)
{
	const uint8_t *s = j->s;
	if (j->n - *i < 4 || hex4(s + *i) < 0)
		return fail_at(j, *i, "bad \\u escape in string");
	uint32_t c = (uint32_t)hex4(s + *i);
	*i += 4;
	if (c >= 0xdc00 && c <= 0xdfff)
		return fail_at(j, *i - 6, "lone low surrogate \\u%04x in string", c);
	if (c >= 0xd800 && c <= 0xdbff) {
		if (j->n - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u' || hex4(s + *i + 2) < 0)
			return fail_at(j, *i - 6, "high surrogate \\u%04x without a low one", c);
		uint32_t lo = (uint32_t)hex4(s + *i + 2);
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail_at(j, *i, "high surrogate \\u%04x without a low one", c);
		*i += 6;
		c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (c == 0)
		return fail_at(j, *i - 6, "\\u0000 in string");
	*cp = c;
	return true;
}

bool qkv_json_string(struct qkv_json *j, char **out, bool *oom)
{
	*out = NULL;
	*oom = false;
	if (!qkv_json_expect(j, '"', "a string"))
		return false;
	/* First pass: find the closing quote; the decoded text is never longer. */
	size_t start = j->pos, i = start;
	while (i < j->n && j->s[i] != '"') {
		if (j->s[i] < 0x20)
			return fail_at(j, i, "control byte 0x%02x in string", j->s[i]);
		i += (j->s[i] == '\\') ? 2 : 1;
	}
	if (i >= j->n)
		return fail_at(j, start - 1, "unterminated string");
	size_t raw = i - start;
	if (raw > QKV_JSON_MAX_STRING)
		return fail_at(j, start - 1, "string of %zu bytes exceeds the %u-byte limit", raw,
		               QKV_JSON_MAX_STRING);
	char *o = qkv_malloc(raw + 1);
	if (!o) {
		*oom = true;
		return fail_at(j, start, "out of memory");
	}
	size_t w = 0;
	for (i = start; j->s[i] != '"';) {
		uint8_t c = j->s[i++];
		if (c != '\\') {
			o[w++] = (char)c;
			continue;
		}
		uint32_t cp = 0;
		switch (j->s[i++]) {
		case '"':
			cp = '"';
			break;
		case '\\':
			cp = '\\';
			break;
		case '/':
			cp = '/';
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (!unicode_escape(j, &i, &cp)) {
				qkv_free(o);
				return false;
			}
			break;
		default:
			qkv_free(o);
			return fail_at(j, i - 2, "bad escape '\\%c' in string", j->s[i - 1]);
		}
		w += put_utf8(o + w, cp);
	}
	o[w] = '\0';
	j->pos = i + 1;
	*out = o;
	return true;
}

bool qkv_json_uint(struct qkv_json *j, uint64_t *out)
{
	skip_ws(j);
	size_t at = j->pos;
	if (at < j->n && j->s[at] == '-')
		return fail_at(j, at, "negative number where a non-negative integer is required");
	if (at >= j->n || j->s[at] < '0' || j->s[at] > '9') {
		char got[32];
		describe(j, got, sizeof(got));
		return fail_at(j, at, "expected a non-negative integer, found %s", got);
	}
	uint64_t v = 0;
	size_t i = at;
	while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(j->s[i] - '0'), &v))
			return fail_at(j, at, "integer too large for 64 bits");
		i++;
	}
	if (i - at > 1 && j->s[at] == '0')
		return fail_at(j, at, "integer with a leading zero");
	if (i < j->n && j->s[i] == '.')
		return fail_at(j, at, "non-integer number where an integer is required");
	if (i < j->n && (j->s[i] == 'e' || j->s[i] == 'E'))
		return fail_at(j, at, "number in exponent form where a plain integer is required");
	j->pos = i;
	*out = v;
	return true;
}

bool qkv_json_at_end(struct qkv_json *j)
{
	skip_ws(j);
	return j->pos == j->n;
}
