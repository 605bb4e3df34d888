/* Safetensors writer for `qkv quantize`. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "st_write.h"

/* The JSON header, padded with spaces to a multiple of 8 bytes: *out (malloc'ed),
 * *len. -1 when out of memory. */
static int build_header(char **out, size_t *len, const struct st_tensor *t, size_t n)
{
	*out = NULL;
	FILE *f = open_memstream(out, len);
	if (!f)
		return -1;
	struct jsonw w;
	jsonw_init(&w, f, 0);
	jsonw_object(&w);
	jsonw_key(&w, "__metadata__");
	jsonw_object(&w);
	jsonw_kv_string(&w, "format", "pt");
	jsonw_kv_string(&w, "writer", "qkv quantize");
	jsonw_end(&w);
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		jsonw_key(&w, t[i].name);
		jsonw_object(&w);
		jsonw_kv_string(&w, "dtype", t[i].dtype);
		jsonw_key(&w, "shape");
		jsonw_array(&w);
		for (uint32_t d = 0; d < t[i].ndim; d++)
			jsonw_uint(&w, t[i].shape[d]);
		jsonw_end(&w);
		jsonw_key(&w, "data_offsets");
		jsonw_array(&w);
		jsonw_uint(&w, off);
		jsonw_uint(&w, off + t[i].nbytes);
		jsonw_end(&w);
		jsonw_end(&w);
		off += t[i].nbytes;
	}
	jsonw_end(&w);
	bool ok = jsonw_ok(&w);
	while (ok && ftell(f) % 8 != 0)
		ok = fputc(' ', f) != EOF;
	if (fclose(f) != 0 || !ok) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
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
	struct {
		char *s;
		size_t len;
	} h;
	if (build_header(&h.s, &h.len, t, n) != 0) {
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
