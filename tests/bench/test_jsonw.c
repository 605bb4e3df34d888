/* The tools' one JSON writer (tools/common/jsonw.c): exact text for a document with
 * nesting, both layouts, escapes and non-finite numbers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"

static char *write_doc(int wrap_depth)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	struct jsonw w;
	jsonw_init(&w, f, wrap_depth);
	jsonw_object(&w);
	jsonw_kv_string(&w, "s", "a\"b\\c\n\x01");
	jsonw_kv_double(&w, "x", 0.5, 6);
	jsonw_kv_double(&w, "nan", NAN, 6);
	jsonw_key(&w, "rows");
	jsonw_array(&w);
	jsonw_object(&w);
	jsonw_kv_uint(&w, "T", 16);
	jsonw_key(&w, "ok");
	jsonw_bool(&w, true);
	jsonw_end(&w);
	jsonw_int(&w, -3);
	jsonw_string(&w, NULL);
	jsonw_end(&w);
	jsonw_key(&w, "empty");
	jsonw_array(&w);
	jsonw_end(&w);
	jsonw_end(&w);
	cr_assert(jsonw_ok(&w));
	fclose(f);
	return buf;
}

Test(jsonw, one_line_document)
{
	char *s = write_doc(0);
	cr_assert_str_eq(s, "{\"s\": \"a\\\"b\\\\c\\n\\u0001\", \"x\": 0.5, \"nan\": null, "
	                    "\"rows\": [{\"T\": 16, \"ok\": true}, -3, null], \"empty\": []}\n");
	free(s);
}

Test(jsonw, wrapped_to_depth_two)
{
	char *s = write_doc(2);
	cr_assert_str_eq(s, "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001\",\n  \"x\": 0.5,\n"
	                    "  \"nan\": null,\n  \"rows\": [\n    {\"T\": 16, \"ok\": true},\n"
	                    "    -3,\n    null\n  ],\n  \"empty\": []\n}\n");
	free(s);
}

Test(jsonw, invalid_utf8_becomes_the_replacement_character)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	/* valid: e-acute (2 bytes), euro (3), U+1F600 (4); invalid: a lone continuation
	 * byte, an overlong '/', a surrogate, a truncated sequence at the end */
	jsonw_quote(f, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82");
	fclose(f);
	cr_assert_str_eq(buf, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|"
	                      "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"");
	free(buf);
}

Test(jsonw, too_deep_is_reported)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jsonw w;
	jsonw_init(&w, f, 0);
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array(&w);
	cr_assert_not(jsonw_ok(&w));
	fclose(f);
	free(buf);
}

/* The tools' one UTF-8 check (issue 21: jsonw.c and conform_json.c had one each), at the
 * edges of every rule: overlong forms, surrogates, > U+10FFFF, truncation. */
Test(utf8, sequence_lengths_at_the_edges)
{
	const struct {
		const char *s;
		size_t len;
	} cases[] = {
	    {"a", 1},
	    {"\x7f", 1},
	    {"\xc2\x80", 2},
	    {"\xc1\xbf", 0},
	    {"\xdf\xbf", 2},
	    {"\xe0\xa0\x80", 3},
	    {"\xe0\x9f\xbf", 0},
	    {"\xed\x9f\xbf", 3},
	    {"\xed\xa0\x80", 0},
	    {"\xef\xbf\xbf", 3},
	    {"\xf0\x90\x80\x80", 4},
	    {"\xf0\x8f\xbf\xbf", 0},
	    {"\xf4\x8f\xbf\xbf", 4},
	    {"\xf4\x90\x80\x80", 0},
	    {"\xf5\x80\x80\x80", 0},
	    {"\x80", 0},
	    {"\xe2\x82", 0},
	    {"\xc3", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(utf8_seq_len((const unsigned char *)cases[i].s), cases[i].len,
		             "case %zu: %zu", i, utf8_seq_len((const unsigned char *)cases[i].s));
}
