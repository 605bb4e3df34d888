/* Weight files: safetensors, .npy and raw little-endian, memory-mapped read-only.
 * Every size, offset and shape is checked with overflow-safe arithmetic before use;
 * errors name the file, the tensor and both values of a mismatch. */
#ifndef QKV_CORE_WEIGHTS_H
#define QKV_CORE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define QKV_MAX_DIMS 4

/* A read-only mapping of a whole file. */
struct qkv_mapped_file {
	char *path;
	const uint8_t *data;
	size_t size;
};

enum qkv_status qkv_file_map(const char *path, struct qkv_mapped_file *out, char *err,
                             size_t errlen);
void qkv_file_unmap(struct qkv_mapped_file *f);

/* A tensor found inside a mapped file. `data` points into the mapping (any alignment). */
struct qkv_tensor_view {
	enum qkv_dtype dtype;
	uint32_t ndim;
	uint64_t shape[QKV_MAX_DIMS];
	size_t nbytes;
	const uint8_t *data;
};

/* safetensors: parse the JSON header of a mapped file fully (every entry checked:
 * dtype known, shape product * element size == end - begin, offsets in range,
 * no overlaps, no duplicates) and find `name`. Policy: the tensors must tile the data
 * region exactly (gaps and trailing bytes are refused, as the reference validator
 * does); a tensor of a dtype other than F32/F16/BF16/I8 makes the whole file refused.
 * The parsed header borrows f->path: close it before unmapping f. */
struct qkv_safetensors; /* parsed header: opaque */
enum qkv_status qkv_safetensors_open(const struct qkv_mapped_file *f, struct qkv_safetensors **out,
                                     char *err, size_t errlen);
enum qkv_status qkv_safetensors_find(const struct qkv_safetensors *st, const char *name,
                                     struct qkv_tensor_view *out, char *err, size_t errlen);
void qkv_safetensors_close(struct qkv_safetensors *st);

/* .npy v1-v3, little-endian <f4, <f2 (and |i1 for int8), C order (fortran_order True is
 * refused with a clear message), 1-D or 2-D. */
enum qkv_status qkv_npy_parse(const struct qkv_mapped_file *f, struct qkv_tensor_view *out,
                              char *err, size_t errlen);

/* Raw little-endian: the whole file is `count` elements of `dtype`; the size must match
 * exactly. */
enum qkv_status qkv_raw_view(const struct qkv_mapped_file *f, enum qkv_dtype dtype, uint64_t count,
                             struct qkv_tensor_view *out, char *err, size_t errlen);

/* Convert `count` elements of a tensor to f32 (f16, bf16 widened exactly). */
void qkv_convert_to_f32(const struct qkv_tensor_view *t, float *dst, size_t count);

/* Bytes per element of `dt` (0 for QKV_DT_NONE) and its name as safetensors spells
 * it ("F32", "F16", "BF16", "I8"). */
size_t qkv_dtype_size(enum qkv_dtype dt);
const char *qkv_dtype_name(enum qkv_dtype dt);

/* Number of elements of a view (its shape product; the parsers checked it fits). */
uint64_t qkv_tensor_count(const struct qkv_tensor_view *t);

/* The weights of a whole config, resolved: loaded = mapped + validated + converted.
 * f32 pointers point into a mapping when the file holds aligned little-endian f32
 * (zero copy), else into buffers owned here. For an I8 weight (precision int8 only)
 * w[p] is NULL and w_i8[p] / w_scale[p] are set; otherwise those two are NULL.
 * Everything stays valid until qkv_weights_free. */
struct qkv_loaded_weights {
	const float *w[3];
	const float *bias[3];
	const int8_t *w_i8[3];
	const float *w_scale[3];
	uint32_t layout;
	/* Bytes of weight data this process reads and keeps: the (sliced) tensors as the
	 * backend gets them (mapped pages touched or copies), plus f16/bf16 sources
	 * widened. With a `shard:` only the rank's slice (see shard.h). */
	size_t weight_bytes;
	/* owned resources */
	struct qkv_mapped_file files[16];
	size_t n_files;
	void *owned[12];
	size_t n_owned;
};

/* Load every tensor the config names and check its shape against the model:
 * w[p] must be [d_model x d_out] (in_out) or [d_out x d_model] (out_in); biases and
 * scales [d_out]. With a `shard:` in the config, only the rank's output columns are
 * handed out (out_in: its rows, in place; in_out: a copy of its columns, after which
 * the mapping's pages are released), so w[p] has the rank's d_out. */
enum qkv_status qkv_weights_load(const struct qkv_config *cfg, struct qkv_loaded_weights *out,
                                 char *err, size_t errlen);
void qkv_weights_free(struct qkv_loaded_weights *lw);

#endif
