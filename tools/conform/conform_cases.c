/* The case table and the one entry that runs a case. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define CF_ENTRY(name, prec, fn, what) {#name, prec, what, fn},
static const struct cf_case cases[] = {CF_CASES(CF_ENTRY)};
#undef CF_ENTRY

size_t cf_case_count(void)
{
	return sizeof(cases) / sizeof(cases[0]);
}

const struct cf_case *cf_case_at(size_t i)
{
	return i < cf_case_count() ? &cases[i] : NULL;
}

const struct cf_case *cf_case_find(const char *name)
{
	for (size_t i = 0; i < cf_case_count(); i++)
		if (strcmp(cases[i].name, name) == 0)
			return &cases[i];
	return NULL;
}

bool cf_name_matches(const char *name, const char *pattern)
{
	if (!pattern || !pattern[0])
		return true;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", pattern);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (fnmatch(tok, name, 0) == 0)
			return true;
	return false;
}

const char *cf_result_str(enum cf_result res)
{
	return res == CF_PASS ? "pass" : res == CF_SKIP ? "skip" : "FAIL";
}

void cf_case_run(const struct cf_case *c, const struct qkv_backend *be, const char *load_err,
                 uint64_t seed, struct cf_report *r)
{
	memset(r, 0, sizeof(*r));
	r->seed = seed;
	if (!be) {
		if (strcmp(c->name, "abi_metadata") == 0)
			cf_fail(r, "plugin refused: %s", load_err ? load_err : "did not load");
		else
			cf_fail(r, "not run: the plugin did not load");
		return;
	}
	if (c->precision >= 0 && !(be->precisions & QKV_PRECISION_BIT(c->precision))) {
		r->result = CF_SKIP;
		snprintf(r->msg, sizeof(r->msg), "%s not declared by %s",
		         qkv_precision_name(c->precision), be->name ? be->name : "the backend");
		return;
	}
	/* contract cases must not touch a descriptor the ABI check has not vetted */
	if (strcmp(c->name, "abi_metadata") != 0) {
		struct cf_report abi;
		memset(&abi, 0, sizeof(abi));
		cf_case_abi_metadata(be, -1, seed, &abi);
		if (abi.result == CF_FAIL) {
			cf_fail(r, "not run: abi_metadata fails: %s", abi.msg);
			return;
		}
		memset(r->msg, 0, sizeof(r->msg));
	}
	c->run(be, c->precision, cf_seed_mix(seed, c->name), r);
}
