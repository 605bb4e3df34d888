/* Manifest reading and expectation matching for the corpus runners. */
#include "corpus.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CASES 512

static const char *const status_names[] = {"OK",      "ARGUMENT", "NOMEM",  "IO",
                                           "CONFIG",  "FORMAT",   "PLUGIN", "UNSUPPORTED",
                                           "BACKEND", "INTERNAL"};

const char *corpus_status_name(enum qkv_status st)
{
	size_t n = sizeof(status_names) / sizeof(status_names[0]);
	return (size_t)st < n ? status_names[st] : "UNKNOWN";
}

const char *corpus_basename(const char *rel)
{
	const char *s = strrchr(rel, '/');
	return s ? s + 1 : rel;
}

static bool contains_nocase(const char *hay, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return true;
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < nlen && hay[i] &&
		       tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == nlen)
			return true;
	}
	return false;
}

/* Call match(alt, len) for each '|'-separated alternative; true when one matches. */
static bool any_alt(const char *want, bool (*match)(const char *, size_t, const void *),
                    const void *arg)
{
	const char *s = want;
	for (;;) {
		const char *bar = strchr(s, '|');
		size_t len = bar ? (size_t)(bar - s) : strlen(s);
		if (match(s, len, arg))
			return true;
		if (!bar)
			return false;
		s = bar + 1;
	}
}

static bool status_alt(const char *s, size_t len, const void *arg)
{
	const char *name = corpus_status_name(*(const enum qkv_status *)arg);
	return strlen(name) == len && strncmp(s, name, len) == 0;
}

bool corpus_status_ok(const char *want, enum qkv_status st)
{
	return any_alt(want, status_alt, &st);
}

static bool msg_alt(const char *s, size_t len, const void *arg)
{
	return contains_nocase(arg, s, len);
}

bool corpus_msg_ok(const char *want, const char *msg)
{
	if (strcmp(want, "-") == 0)
		return true;
	return any_alt(want, msg_alt, msg);
}

bool corpus_check(const struct corpus_case *c, enum qkv_status st, const char *msg, char *why,
                  size_t whylen)
{
	if (!corpus_status_ok(c->status, st)) {
		snprintf(why, whylen, "%s: status %s, expected %s; message: %s", c->rel,
		         corpus_status_name(st), c->status, msg);
		return false;
	}
	if (st == QKV_OK)
		return true;
	if (!msg[0]) {
		snprintf(why, whylen, "%s: %s with an empty message", c->rel,
		         corpus_status_name(st));
		return false;
	}
	const char *base = corpus_basename(c->rel);
	if (!contains_nocase(msg, base, strlen(base))) {
		snprintf(why, whylen, "%s: message does not name the file: %s", c->rel, msg);
		return false;
	}
	if (!corpus_msg_ok(c->substr, msg)) {
		snprintf(why, whylen, "%s: message lacks `%s`: %s", c->rel, c->substr, msg);
		return false;
	}
	return true;
}

size_t corpus_load(const char *surface, const struct corpus_case **out)
{
	static struct corpus_case cases[MAX_CASES];
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/corpus/cases.txt", QKV_SOURCE_ROOT);
	*out = cases;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = 0;
	char line[1024];
	while (n < MAX_CASES && fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		struct corpus_case *c = &cases[n];
		memset(c, 0, sizeof(*c));
		char *save = NULL;
		char *tok[4 + CORPUS_MAX_ARGS];
		int nt = 0;
		for (char *t = strtok_r(line, " \t\n", &save); t && nt < 4 + CORPUS_MAX_ARGS;
		     t = strtok_r(NULL, " \t\n", &save))
			tok[nt++] = t;
		if (nt < 4 || strcmp(tok[0], surface) != 0)
			continue;
		snprintf(c->surface, sizeof(c->surface), "%s", tok[0]);
		snprintf(c->rel, sizeof(c->rel), "%s", tok[1]);
		snprintf(c->path, sizeof(c->path), "%s/tests/corpus/%s", QKV_SOURCE_ROOT, tok[1]);
		snprintf(c->status, sizeof(c->status), "%s", tok[2]);
		snprintf(c->substr, sizeof(c->substr), "%s", tok[3]);
		for (int i = 4; i < nt; i++)
			snprintf(c->args[c->n_args++], sizeof(c->args[0]), "%s", tok[i]);
		n++;
	}
	fclose(f);
	return n;
}
