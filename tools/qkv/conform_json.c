/* The JSON report of `qkv conform --json FILE`, and one-line text for the table.
 * A plugin's messages are arbitrary bytes: both outputs keep valid UTF-8 and replace
 * everything else, so the report is always valid JSON and the table one row a case. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conform_run.h"
#include "jsonw.h"
#include "utf8.h"

void conform_text_clean(const char *in, char *out, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	while (*s && o + 1 < len) {
		size_t n = utf8_seq_len(s);
		if (n == 1) {
			out[o++] = (char)(*s < 0x20 || *s == 0x7f ? ' ' : *s);
		} else if (n == 0) {
			out[o++] = '?';
			n = 1;
		} else {
			if (o + n >= len)
				break;
			memcpy(out + o, s, n);
			o += n;
		}
		s += n;
	}
	out[o] = '\0';
}

static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

void conform_json_plugin(FILE *f, const char *path, const struct conform_outcome *o, size_t n,
                         int first)
{
	size_t count[3] = {0, 0, 0};
	for (size_t i = 0; i < n; i++)
		if ((unsigned)o[i].r.result <= CF_SKIP)
			count[o[i].r.result]++;
	fprintf(f, "%s\n    {\"plugin\": ", first ? "" : ",");
	jsonw_quote(f, path);
	fprintf(f, ", \"passed\": %zu, \"failed\": %zu, \"skipped\": %zu, \"cases\": [",
	        count[CF_PASS], count[CF_FAIL], count[CF_SKIP]);
	for (size_t i = 0; i < n; i++) {
		const struct cf_report *r = &o[i].r;
		fprintf(f, "%s\n      {\"case\": ", i ? "," : "");
		jsonw_quote(f, o[i].c->name);
		fprintf(f, ", \"result\": \"%s\", \"seed\": %llu, \"error\": ",
		        r->result == CF_PASS   ? "pass"
		        : r->result == CF_SKIP ? "skip"
		                               : "fail",
		        (unsigned long long)r->seed);
		json_number(f, r->worst_err);
		fputs(", \"bound\": ", f);
		json_number(f, r->worst_bound);
		fprintf(f, ", \"seconds\": %.3f, \"message\": ", o[i].seconds);
		jsonw_quote(f, r->msg);
		fputc('}', f);
	}
	fputs("\n    ]}", f);
}
