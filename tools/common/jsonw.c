#include "jsonw.h"
#include "utf8.h"

#include <inttypes.h>
#include <math.h>

void jsonw_init(struct jsonw *w, FILE *f, int wrap_depth)
{
	*w = (struct jsonw){.f = f, .wrap_depth = wrap_depth};
}

void jsonw_quote(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	while (*s) {
		size_t n = utf8_seq_len(s);
		if (n == 0) {
			fputs("\\ufffd", f); /* an invalid byte: the replacement character */
			n = 1;
		} else if (*s == '"' || *s == '\\') {
			fprintf(f, "\\%c", *s);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else if (*s == '\t') {
			fputs("\\t", f);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s);
		} else {
			fwrite(s, 1, n, f);
		}
		s += n;
	}
	fputc('"', f);
}

static void indent(struct jsonw *w, int depth)
{
	fputc('\n', w->f);
	for (int i = 0; i < depth; i++)
		fputs("  ", w->f);
}

/* Before any value or key: the comma and line break its container asks for. */
static void member(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	int d = w->depth - 1;
	if (w->has_member[d])
		fputc(',', w->f);
	if (w->wrapped[d])
		indent(w, w->depth);
	else if (w->has_member[d])
		fputc(' ', w->f);
	w->has_member[d] = true;
}

static void open_container(struct jsonw *w, char c)
{
	if (w->depth == JSONW_MAX_DEPTH) {
		w->too_deep = true;
		return;
	}
	member(w);
	fputc(c, w->f);
	w->has_member[w->depth] = false;
	w->wrapped[w->depth] = w->depth < w->wrap_depth;
	w->closer[w->depth] = c == '{' ? '}' : ']';
	w->depth++;
}

void jsonw_object(struct jsonw *w)
{
	open_container(w, '{');
}

void jsonw_array(struct jsonw *w)
{
	open_container(w, '[');
}

void jsonw_end(struct jsonw *w)
{
	if (w->depth == 0)
		return;
	int d = --w->depth;
	if (w->wrapped[d] && w->has_member[d])
		indent(w, d);
	fputc(w->closer[d], w->f);
	if (d == 0)
		fputc('\n', w->f);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	member(w);
	jsonw_quote(w->f, key);
	fputs(": ", w->f);
	w->after_key = true;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	member(w);
	jsonw_quote(w->f, s);
}

void jsonw_double(struct jsonw *w, double v, int digits)
{
	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	member(w);
	fprintf(w->f, "%.*g", digits, v);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	member(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	member(w);
	fprintf(w->f, "%" PRId64, v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	member(w);
	fputs(v ? "true" : "false", w->f);
}

void jsonw_null(struct jsonw *w)
{
	member(w);
	fputs("null", w->f);
}

void jsonw_kv_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_kv_double(struct jsonw *w, const char *key, double v, int digits)
{
	jsonw_key(w, key);
	jsonw_double(w, v, digits);
}

void jsonw_kv_uint(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

bool jsonw_ok(const struct jsonw *w)
{
	return !w->too_deep && !ferror(w->f);
}
