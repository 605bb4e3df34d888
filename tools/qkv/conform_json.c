/* The JSON report of `qkv conform --report FILE`. */
#include <math.h>
#include <stdio.h>

#include "conform_run.h"

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
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
		count[o[i].r.result]++;
	fprintf(f, "%s\n    {\"plugin\": ", first ? "" : ",");
	json_string(f, path);
	fprintf(f, ", \"passed\": %zu, \"failed\": %zu, \"skipped\": %zu, \"cases\": [",
	        count[CF_PASS], count[CF_FAIL], count[CF_SKIP]);
	for (size_t i = 0; i < n; i++) {
		const struct cf_report *r = &o[i].r;
		fprintf(f, "%s\n      {\"case\": ", i ? "," : "");
		json_string(f, o[i].c->name);
		fprintf(f, ", \"result\": \"%s\", \"seed\": %llu, \"error\": ",
		        r->result == CF_PASS   ? "pass"
		        : r->result == CF_SKIP ? "skip"
		                               : "fail",
		        (unsigned long long)r->seed);
		json_number(f, r->worst_err);
		fputs(", \"bound\": ", f);
		json_number(f, r->worst_bound);
		fprintf(f, ", \"seconds\": %.3f, \"message\": ", o[i].seconds);
		json_string(f, r->msg);
		fputc('}', f);
	}
	fputs("\n    ]}", f);
}
