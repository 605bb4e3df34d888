/* Shared by the weight-file fuzz targets: read every element of a parsed view, so an
 * offset or size the parser accepted but got wrong shows up as an ASan report. */
#ifndef QKV_FUZZ_WEIGHTS_H
#define QKV_FUZZ_WEIGHTS_H

#include <stdlib.h>

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

#endif
