/* A minimal safetensors writer: an 8-byte little-endian header length, a JSON header
 * (padded with spaces to a multiple of 8 bytes so the data stays aligned), then the
 * tensor bytes back to back in the order given. */
#ifndef QKV_TOOL_ST_WRITE_H
#define QKV_TOOL_ST_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

struct st_tensor {
	const char *name;  /* any UTF-8 text; escaped in the header */
	const char *dtype; /* safetensors spelling: "F32", "I8", ... */
	uint32_t ndim;     /* 1 or 2 */
	uint64_t shape[2];
	const void *data; /* nbytes little-endian bytes, owned by the caller */
	size_t nbytes;
};

/* Write n tensors to `path` (replacing it). Names must be distinct. On failure returns
 * QKV_ERR_IO (or NOMEM / ARGUMENT) with a message naming the file. */
enum qkv_status st_write(const char *path, const struct st_tensor *t, size_t n, char *err,
                         size_t errlen);

#endif
