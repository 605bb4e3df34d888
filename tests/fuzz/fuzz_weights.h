/* Shared by the weight-file fuzz targets: the driver that hands the input to a reader as a
 * mapped file, and a check that reads every element of a parsed view, so an offset or size
 * the parser accepted but got wrong shows up as an ASan report. */
#ifndef QKV_FUZZ_WEIGHTS_H
#define QKV_FUZZ_WEIGHTS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weights.h"

static inline void fuzz_touch_view(const struct qkv_mapped_file *f, const struct qkv_tensor_view *v)
{
	if (v->data < f->data || v->nbytes > f->size ||
	    (size_t)(v->data - f->data) > f->size - v->nbytes)
		__builtin_trap(); /* the view escapes the file */
	uint64_t count = qkv_tensor_count(v);
	if (count > (1u << 20))
		return;
	/* element types and block types (bytes of whole blocks) alike */
	if (qkv_view_span(v, count) != v->nbytes)
		__builtin_trap(); /* shape and byte length disagree */
	float *dst = malloc((size_t)count * sizeof(float) + 1);
	if (!dst)
		return;
	if (v->dtype != QKV_DT_I8)
		qkv_convert_to_f32(v, dst, (size_t)count);
	free(dst);
}

/* Looks each of the array `names` up with `find` on `handle` (a reader's lookup: handle,
 * name, view, err, errlen) and reads every view found. */
#define FUZZ_FIND_EACH(find, handle, f, names)                                                     \
	for (size_t i_ = 0; i_ < sizeof(names) / sizeof((names)[0]); i_++) {                       \
		struct qkv_tensor_view v_;                                                         \
		char e_[256];                                                                      \
		if (find(handle, (names)[i_], &v_, e_, sizeof(e_)) == QKV_OK)                      \
			fuzz_touch_view(f, &v_);                                                   \
	}

/* One target's reader of the mapped input; any status is fine, a crash or report is a bug. */
typedef void (*fuzz_reader)(const struct qkv_mapped_file *f);

/* The body of LLVMFuzzerTestOneInput for a weight file named `path`. A private copy, so
 * reads past `size` hit ASan's redzone (the fuzzer's buffer is exact-sized too, but this
 * keeps the target honest under replay). */
static inline int fuzz_weight_file(const uint8_t *data, size_t size, const char *path,
                                   fuzz_reader read)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct qkv_mapped_file f = {.path = (char *)path, .data = copy, .size = size};
	read(&f);
	free(copy);
	return 0;
}

#endif
