#include "bench_baseline.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_report.h"
#include "bench_stats.h"

#define MAX_JSON_BYTES ((size_t)64 << 20)
#define MAX_DEPTH 32

/* A small recursive-descent JSON reader that keeps only what a baseline needs: the
 * machine's cpu and, per element of "rows", its key, status and times. */
struct jp {
	const char *s, *end, *path;
	char *err;
	size_t errlen;
	struct bench_baseline *b;
	bool failed;
};

static bool fail(struct jp *j, const char *what)
{
	if (!j->failed) {
		j->failed = true;
		snprintf(j->err, j->errlen, "%s: %s", j->path, what);
	}
	return false;
}

static void ws(struct jp *j)
{
	while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r'))
		j->s++;
}

/* A string into out[len] (truncated; \u escapes beyond ASCII become '?'). */
static bool str(struct jp *j, char *out, size_t len)
{
	size_t n = 0;
	if (j->s >= j->end || *j->s != '"')
		return fail(j, "expected a string");
	j->s++;
	while (j->s < j->end && *j->s != '"') {
		char c = *j->s++;
		if (c == '\\') {
			if (j->s >= j->end)
				break;
			c = *j->s++;
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++, j->s++) {
					if (j->s >= j->end)
						return fail(j, "truncated \\u escape");
					char h = *j->s;
					v = v * 16 + (unsigned)(h >= 'a'   ? h - 'a' + 10
					                        : h >= 'A' ? h - 'A' + 10
					                                   : h - '0');
				}
				c = v < 128 ? (char)v : '?';
				break;
			}
			default:
				break; /* \" \\ \/ */
			}
		}
		if (n + 1 < len)
			out[n++] = c;
	}
	if (j->s >= j->end)
		return fail(j, "unterminated string");
	j->s++;
	if (len)
		out[n] = '\0';
	return true;
}

static bool number(struct jp *j, double *v)
{
	char *e;
	errno = 0;
	*v = strtod(j->s, &e);
	if (e == j->s || e > j->end)
		return fail(j, "expected a number");
	j->s = e;
	return true;
}

static bool value(struct jp *j, int depth, int ctx, struct bench_base_row *row, const char *name);

/* ctx: 0 anything, 1 the top object, 2 the rows array, 3 one row, 4 the machine object */
static bool object(struct jp *j, int depth, int ctx, struct bench_base_row *row)
{
	j->s++; /* '{' */
	ws(j);
	if (j->s < j->end && *j->s == '}') {
		j->s++;
		return true;
	}
	for (;;) {
		char name[64];
		ws(j);
		if (!str(j, name, sizeof(name)))
			return false;
		ws(j);
		if (j->s >= j->end || *j->s != ':')
			return fail(j, "expected ':' after a member name");
		j->s++;
		int sub = 0;
		if (ctx == 1 && !strcmp(name, "rows"))
			sub = 2;
		else if (ctx == 1 && !strcmp(name, "machine"))
			sub = 4;
		if (!value(j, depth + 1, sub, ctx == 3 || ctx == 4 ? row : NULL, name))
			return false;
		ws(j);
		if (j->s < j->end && *j->s == ',') {
			j->s++;
			continue;
		}
		if (j->s < j->end && *j->s == '}') {
			j->s++;
			return true;
		}
		return fail(j, "expected ',' or '}' in an object");
	}
}

static bool array(struct jp *j, int depth, int ctx)
{
	j->s++; /* '[' */
	ws(j);
	if (j->s < j->end && *j->s == ']') {
		j->s++;
		return true;
	}
	for (;;) {
		struct bench_base_row *row = NULL;
		if (ctx == 2) {
			struct bench_base_row *g = realloc(j->b->rows, (j->b->n + 1) * sizeof(*g));
			if (!g)
				return fail(j, "out of memory");
			j->b->rows = g;
			row = &g[j->b->n++];
			memset(row, 0, sizeof(*row));
		}
		ws(j);
		if (!value(j, depth + 1, ctx == 2 ? 3 : 0, row, ""))
			return false;
		ws(j);
		if (j->s < j->end && *j->s == ',') {
			j->s++;
			continue;
		}
		if (j->s < j->end && *j->s == ']') {
			j->s++;
			return true;
		}
		return fail(j, "expected ',' or ']' in an array");
	}
}

static bool value(struct jp *j, int depth, int ctx, struct bench_base_row *row, const char *name)
{
	ws(j);
	if (depth > MAX_DEPTH)
		return fail(j, "nested too deeply");
	if (j->s >= j->end)
		return fail(j, "unexpected end of file");
	char c = *j->s;
	if (c == '{')
		return object(j, depth, ctx == 3 ? 3 : ctx == 4 ? 4 : ctx == 1 ? 1 : 0, row);
	if (c == '[')
		return array(j, depth, ctx == 2 ? 2 : 0);
	if (c == '"') {
		char buf[256];
		if (!str(j, buf, sizeof(buf)))
			return false;
		if (row && ctx == 0 && !strcmp(name, "key"))
			bench_strcpy(row->key, sizeof(row->key), buf);
		if (row && ctx == 0 && !strcmp(name, "status"))
			row->ok = !strcmp(buf, "ok");
		if (!row && ctx == 0 && !strcmp(name, "cpu"))
			bench_strcpy(j->b->cpu, sizeof(j->b->cpu), buf);
		return true;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		double v;
		if (!number(j, &v))
			return false;
		if (row && !strcmp(name, "median_s"))
			row->median = v;
		else if (row && !strcmp(name, "p10_s"))
			row->p10 = v;
		else if (row && !strcmp(name, "p90_s"))
			row->p90 = v;
		else if (row && !strcmp(name, "mad_s"))
			row->mad = v;
		else if (row && !strcmp(name, "reps"))
			row->reps = v;
		return true;
	}
	static const char *const words[] = {"true", "false", "null"};
	for (int i = 0; i < 3; i++) {
		size_t len = strlen(words[i]);
		if ((size_t)(j->end - j->s) >= len && !strncmp(j->s, words[i], len)) {
			j->s += len;
			return true;
		}
	}
	return fail(j, "expected a JSON value");
}

bool bench_baseline_load(const char *path, struct bench_baseline *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "--baseline %s: cannot open: %s", path, strerror(errno));
		return false;
	}
	char *text = malloc(MAX_JSON_BYTES);
	size_t len = text ? fread(text, 1, MAX_JSON_BYTES, f) : 0;
	bool too_big = text && len == MAX_JSON_BYTES;
	fclose(f);
	if (!text || too_big) {
		free(text);
		snprintf(err, errlen, "--baseline %s: %s", path,
		         too_big ? "larger than 64 MiB, not a qkv bench file" : "out of memory");
		return false;
	}
	struct jp j = {text, text + len, path, err, errlen, b, false};
	ws(&j);
	bool ok = j.s < j.end && *j.s == '{' && value(&j, 0, 1, NULL, "");
	if (ok) {
		ws(&j);
		if (j.s != j.end)
			ok = fail(&j, "text after the JSON object");
	} else if (!j.failed) {
		fail(&j, "not a JSON object");
	}
	if (!ok) { /* add the line of the error */
		unsigned line = 1;
		for (const char *c = text; c < j.s && c < j.end; c++)
			line += *c == '\n';
		size_t l = strlen(err);
		snprintf(err + l, errlen > l ? errlen - l : 0, " (line %u)", line);
	}
	free(text);
	for (size_t i = 0; ok && i < b->n; i++)
		if (!b->rows[i].key[0]) {
			snprintf(err, errlen, "--baseline %s: row %zu has no \"key\"", path, i + 1);
			ok = false;
		}
	if (ok && b->n == 0) {
		snprintf(err, errlen, "--baseline %s: no \"rows\": not a `qkv bench --json` file",
		         path);
		ok = false;
	}
	if (!ok)
		bench_baseline_free(b);
	return ok;
}

void bench_baseline_free(struct bench_baseline *b)
{
	free(b->rows);
	memset(b, 0, sizeof(*b));
}

size_t bench_baseline_compare(const struct bench_baseline *b, const struct bench_result *r,
                              double threshold_pct, FILE *out)
{
	size_t bad = 0, compared = 0;
	fprintf(out, "\nbaseline comparison (threshold %.1f%% beyond noise):\n", threshold_pct);
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		char key[128];
		bench_row_key(row, key, sizeof(key));
		const struct bench_base_row *old = NULL;
		for (size_t k = 0; k < b->n && !old; k++)
			if (!strcmp(b->rows[k].key, key))
				old = &b->rows[k];
		if (!old || !old->ok || !row->ok || old->median <= 0) {
			fprintf(out, "  %-40s %s\n", key,
			        !old       ? "new row, not in the baseline"
			        : !row->ok ? "not measured now"
			                   : "not measured in the baseline");
			continue;
		}
		compared++;
		double se_old = old->reps >= 1 ? 1.86 * old->mad / sqrt(old->reps) : 0;
		double se_new = row->st.n ? 1.86 * row->st.mad / sqrt((double)row->st.n) : 0;
		double noise = 3 * sqrt(se_old * se_old + se_new * se_new);
		double limit = old->median * (1 + threshold_pct / 100) + noise;
		bool slow = row->st.median > limit;
		bad += slow;
		fprintf(out, "  %-40s %10.4f ms -> %10.4f ms (%+6.1f%%, noise %.1f%%)%s\n", key,
		        old->median * 1e3, row->st.median * 1e3,
		        100 * (row->st.median / old->median - 1), 100 * noise / old->median,
		        slow ? "  SLOWER" : "");
	}
	fprintf(out,
	        "%zu of %zu compared rows slower than the baseline by more than %.1f%% "
	        "beyond noise\n",
	        bad, compared, threshold_pct);
	return bad;
}
