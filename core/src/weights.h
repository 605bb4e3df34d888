/* Weight files: safetensors, .npy and raw little-endian, memory-mapped read-only.
 * Every size, offset and shape is checked with overflow-safe arithmetic before use;
 * errors name the file, the tensor and both values of a mismatch. */
#ifndef QKV_CORE_WEIGHTS_H
#define QKV_CORE_WEIGHTS_H

#include <stdbool.h>
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
	uint32_t wtype; /* enum qkv_wtype when dtype is QKV_DT_BLOCK */
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

/* GGUF v2/v3 (llama.cpp), little-endian: header, key/value metadata and tensor table
 * parsed fully and strictly (see weights_gguf.c). find() returns F32, F16 and BF16
 * tensors with the dimensions outermost first (ggml ne = [d_model, d_out] gives shape
 * [d_out, d_model], the out_in layout) and refuses quantized ones naming the type.
 * The parsed file borrows f->path: close it before unmapping f. */
struct qkv_gguf;
struct qkv_gguf_dims {
	const char *arch; /* general.architecture, or NULL */
	/* <arch>.embedding_length, .attention.head_count, .attention.head_count_kv,
	 * .attention.key_length, .block_count; 0 = not in the file */
	uint64_t d_model, n_heads, n_kv_heads, head_dim, n_layers;
};
enum qkv_status qkv_gguf_open(const struct qkv_mapped_file *f, struct qkv_gguf **out, char *err,
                              size_t errlen);
enum qkv_status qkv_gguf_find(const struct qkv_gguf *g, const char *name,
                              struct qkv_tensor_view *out, char *err, size_t errlen);
const struct qkv_gguf_dims *qkv_gguf_dims(const struct qkv_gguf *g);
void qkv_gguf_close(struct qkv_gguf *g);

/* model.safetensors.index.json (sharded Hugging Face checkpoints): the weight_map,
 * read strictly (see weights_index.c). lookup() gives the shard's file name, a plain
 * name relative to the index's folder. Borrows f->path. */
struct qkv_st_index;
enum qkv_status qkv_st_index_open(const struct qkv_mapped_file *f, struct qkv_st_index **out,
                                  char *err, size_t errlen);
enum qkv_status qkv_st_index_lookup(const struct qkv_st_index *ix, const char *name,
                                    const char **shard, char *err, size_t errlen);
size_t qkv_st_index_shard_count(const struct qkv_st_index *ix);
void qkv_st_index_close(struct qkv_st_index *ix);

/* Fused q|k|v: the view of projection p (0 q, 1 k, 2 v) inside `full`, a fused weight
 * ([N x d_model] out_in or [d_model x N] in_out) or bias ([N]), N = d_q + 2 d_kv.
 * Zero copy (a sub-view of full, same dtype) when p's outputs are contiguous in the
 * file; otherwise one f32 copy in *owned (the caller frees it with qkv_free). */
struct qkv_fused_dims {
	uint64_t d_model;
	uint32_t n_heads, n_kv_heads, head_dim;
};
enum qkv_status qkv_fused_slice(const struct qkv_tensor_view *full, enum qkv_split split,
                                uint32_t layout, bool is_bias, const struct qkv_fused_dims *d,
                                int p, struct qkv_tensor_view *out, void **owned, char *err,
                                size_t errlen);
const char *qkv_split_name(enum qkv_split s);

/* "{layer}" in `name` replaced by the decimal `layer` into out[outlen]. Returns false
 * (and leaves a message in err) when it does not fit or when the name has {layer} and
 * has_layer is false. */
bool qkv_layer_name(const char *name, bool has_layer, uint32_t layer, char *out, size_t outlen,
                    char *err, size_t errlen);

/* Use layer `layer` (for {layer} in tensor names) instead of the config's weights.layer;
 * refused when the config knows n_layers and layer is not below it. `what` names the
 * source for the message ("option `layer`", "--layer"). */
enum qkv_status qkv_config_set_layer(struct qkv_config *cfg, uint32_t layer, const char *what,
                                     char *err, size_t errlen);

/* A config whose weights.file is GGUF: fill the model dimensions the config leaves out
 * from the file's metadata, and check those it gives against it (also n_layers from
 * <arch>.block_count). Other configs: nothing to do. qkv_config_load calls this. */
enum qkv_status qkv_config_gguf_dims(struct qkv_config *cfg, char *err, size_t errlen);

/* .npy v1-v3, C order (fortran_order True is refused with a clear message), 1-D or 2-D,
 * of the dtypes `accept` names (QKV_DT_BIT of <f4, <f2, |i1). A well-formed numpy dtype
 * outside them (int32, float64, big-endian, ...) is QKV_ERR_UNSUPPORTED, the message
 * naming `use` ("weights") and the dtypes it reads; a broken header QKV_ERR_FORMAT. */
#define QKV_DT_BIT(dt) (1u << (unsigned)(dt))
#define QKV_NPY_WEIGHTS (QKV_DT_BIT(QKV_DT_F32) | QKV_DT_BIT(QKV_DT_F16) | QKV_DT_BIT(QKV_DT_I8))
#define QKV_NPY_ROWS (QKV_DT_BIT(QKV_DT_F32) | QKV_DT_BIT(QKV_DT_F16))
enum qkv_status qkv_npy_parse(const struct qkv_mapped_file *f, uint32_t accept, const char *use,
                              struct qkv_tensor_view *out, char *err, size_t errlen);

/* Raw little-endian: the whole file is `count` elements of `dtype`; the size must match
 * exactly. */
enum qkv_status qkv_raw_view(const struct qkv_mapped_file *f, enum qkv_dtype dtype, uint64_t count,
                             struct qkv_tensor_view *out, char *err, size_t errlen);

/* Convert `count` elements of a tensor to f32 (f16, bf16 widened exactly; a block type
 * widened block by block, count a multiple of its block). */
void qkv_convert_to_f32(const struct qkv_tensor_view *t, float *dst, size_t count);

/* Bytes per element of `dt` (0 for QKV_DT_NONE) and its name as safetensors spells
 * it ("F32", "F16", "BF16", "I8"). */
size_t qkv_dtype_size(enum qkv_dtype dt);
const char *qkv_dtype_name(enum qkv_dtype dt);

/* Bytes of `elems` consecutive elements of the view's type (0 when they are not whole
 * blocks of a block type), and the type's name ("F32", ..., "Q4_K") for messages. */
size_t qkv_view_span(const struct qkv_tensor_view *v, uint64_t elems);
const char *qkv_view_type_name(const struct qkv_tensor_view *v);

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
	/* precision stored: each projection's enum qkv_wtype, and for every type but F32 its
	 * rows as stored (out_in, 2-byte aligned; w[p] is then NULL). */
	uint32_t wtype[3];
	const void *w_blk[3];
	uint32_t layout;
	/* Bytes of weight data this process reads and keeps: the (sliced) tensors as the
	 * backend gets them (mapped pages touched or copies), plus f16/bf16 sources
	 * widened. With a `shard:` only the rank's slice (see shard.h). */
	size_t weight_bytes;
	/* owned resources */
	struct qkv_mapped_file files[16];
	size_t n_files;
	/* What each file held (for qkv_model_info): the on-disk types of the tensors read
	 * from files[i], ", "-separated in first-use order ("F16", "Q4_K, F32"), or "index"
	 * for a sharded checkpoint's index; file_path/file_type point at files[i].path and
	 * file_types[i] once loaded. */
	char file_types[16][48];
	const char *file_path[16], *file_type[16];
	void *owned[24];
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
/* Once no backend reads the weights: every mapped file's pages dropped, the copies the
 * loader made freed, the pointers into either cleared. The files stay mapped and named. */
void qkv_weights_let_go(struct qkv_loaded_weights *lw);

#endif
