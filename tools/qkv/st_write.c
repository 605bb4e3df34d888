/* Safetensors writer for `qkv quantize`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_write.h"

/* A growing text buffer; `bad` latches an allocation failure. */
struct text {
	char *s;
	size_t len, cap;
	int bad;
};

static void put(struct text *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *s2 = realloc(b->s, cap);
		if (!s2) {
			b->bad = 1;
			return;
		}
		b->s = s2;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct text *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void put_json_string(struct text *b, const char *s)
{
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(b, esc, 6);
		} else {
			put(b, (const char *)&c, 1);
		}
	}
	put(b, "\"", 1);
}

static int build_header(struct text *h, const struct st_tensor *t, size_t n)
{
	char num[96];
	uint64_t off = 0;
	puts_(h, "{\"__metadata__\":{\"format\":\"pt\",\"writer\":\"qkv quantize\"}");
	for (size_t i = 0; i < n; i++) {
		puts_(h, ",");
		put_json_string(h, t[i].name);
		puts_(h, ":{\"dtype\":");
		put_json_string(h, t[i].dtype);
		puts_(h, ",\"shape\":[");
		for (uint32_t d = 0; d < t[i].ndim; d++) {
			snprintf(num, sizeof(num), "%s%llu", d ? "," : "",
			         (unsigned long long)t[i].shape[d]);
			puts_(h, num);
		}
		snprintf(num, sizeof(num), "],\"data_offsets\":[%llu,%llu]}",
		         (unsigned long long)off, (unsigned long long)(off + t[i].nbytes));
		puts_(h, num);
		off += t[i].nbytes;
	}
	puts_(h, "}");
	while (!h->bad && h->len % 8 != 0)
		puts_(h, " ");
	return h->bad ? -1 : 0;
}

enum qkv_status st_write(const char *path, const struct st_tensor *t, size_t n, char *err,
                         size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(t[i].name, t[j].name) == 0) {
				snprintf(err, errlen, "%s: tensor name `%s` used twice", path,
				         t[i].name);
				return QKV_ERR_ARGUMENT;
			}
	struct text h = {0};
	if (build_header(&h, t, n) != 0) {
		free(h.s);
		snprintf(err, errlen, "%s: out of memory for the header", path);
		return QKV_ERR_NOMEM;
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		free(h.s);
		return QKV_ERR_IO;
	}
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
	int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.s, 1, h.len, f) == h.len;
	for (size_t i = 0; ok && i < n; i++)
		ok = fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
	free(h.s);
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
		remove(path);
		return QKV_ERR_IO;
	}
	return QKV_OK;
}
