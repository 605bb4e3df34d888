/* Head-sharded tensor parallelism: which heads slice `rank` of `world` owns, and how a
 * weight tensor is cut down to them. Used by the config validator (rules), the loader
 * (slices of file tensors) and the from-memory open (slices of caller tensors).
 *
 * Rules (the same for every source):
 *   - world >= 1 and rank < world;
 *   - world divides n_heads: rank r owns query heads [r*H/W, (r+1)*H/W);
 *   - world <= n_kv_heads: world divides n_kv_heads and the K/V heads split evenly,
 *     rank r owning [r*KV/W, (r+1)*KV/W);
 *   - world > n_kv_heads: world is a multiple of n_kv_heads and K/V heads are
 *     replicated: rank r holds the one K/V head its query heads use, r / (W/KV).
 * Both cases keep each rank's problem an ordinary GQA problem with the same group size
 * as the whole model (or MHA when n_heads == n_kv_heads). */
#ifndef QKV_CORE_SHARD_H
#define QKV_CORE_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "weights.h"

struct qkv_shard {
	uint32_t rank, world;        /* world 1 = the whole model */
	uint32_t q_head0, q_heads;   /* query heads [q_head0, q_head0 + q_heads) */
	uint32_t kv_head0, kv_heads; /* K/V heads [kv_head0, kv_head0 + kv_heads) */
};

enum qkv_shard_fault { QKV_SHARD_OK = 0, QKV_SHARD_BAD_RANK, QKV_SHARD_BAD_WORLD };

/* Plan slice rank/world of a model with n_heads query and n_kv_heads K/V heads
 * (n_kv_heads already defaulted, dividing n_heads). Returns which key is at fault,
 * with the reason (no key name, no file) in why[whylen]. */
enum qkv_shard_fault qkv_shard_plan(uint32_t n_heads, uint32_t n_kv_heads, uint32_t rank,
                                    uint32_t world, struct qkv_shard *out, char *why,
                                    size_t whylen);

/* A config's `shard:` against its final dimensions (for a GGUF config they come from the
 * file after validation): "CONFIG:LINE:COL: key `shard.world`: reason". */
enum qkv_status qkv_config_shard_check(const struct qkv_config *cfg, char *err, size_t errlen);

/* First output column and column count of projection p (QKV_Q, QKV_K, QKV_V). */
void qkv_shard_cols(const struct qkv_shard *s, int p, uint32_t head_dim, uint64_t *c0, uint64_t *n);

/* Cut output columns [c0, c0 + n) out of weight view `v`, whose shape was checked to be
 * [d_model x d_out] (in_out), [d_out x d_model] (out_in) or a 1-D raw run of
 * d_model * d_out elements, stored contiguously.
 *   out_in: the rows are contiguous, so `out` points into the same memory (no copy;
 *           only those rows are ever touched).
 *   in_out: the columns are strided, so they are copied into a new buffer returned in
 *           *owned (the caller frees it with qkv_free): f32 for float dtypes (widened
 *           exactly), int8 for I8.
 * `out` is 2-D [n x d_model] or [d_model x n]. *owned is NULL when no copy is made. */
enum qkv_status qkv_view_slice(const struct qkv_tensor_view *v, uint32_t layout, uint64_t d_model,
                               uint64_t d_out, uint64_t c0, uint64_t n, struct qkv_tensor_view *out,
                               void **owned, char *err, size_t errlen);

/* Elements [c0, c0 + n) of a 1-D view (a bias or scale vector): a view, no copy. */
void qkv_vec_slice(const struct qkv_tensor_view *v, uint64_t c0, uint64_t n,
                   struct qkv_tensor_view *out);

/* Drop the pages inside [p, p + len) from this process's resident set, for a range of a
 * read-only, never-written file mapping whose columns were copied out: a later read
 * faults them back in from the file. Best effort. NEVER for anonymous or caller memory
 * (MADV_DONTNEED would zero it). */
void qkv_release_pages(const void *p, size_t len);

#endif
