/* A preset in a block type (`qkv bench --preset NAME --precision q4_k`): the preset's
 * weights quantized by the type table's reference quantizer into a GGUF file and a config
 * in a temporary folder, so the rows measure what a user's GGUF file gets (weights used in
 * place from the mapping, precision `stored`). The folder is removed afterwards. */
#ifndef QKV_TOOL_BENCH_STORED_H
#define QKV_TOOL_BENCH_STORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_shape.h"

struct bench_stored {
	char dir[256];    /* the temporary folder ("" = none made) */
	char config[300]; /* its config, for qkv_model_open */
};

/* Write Wq, Wk, Wv of `w` (the preset `s`) as GGUF tensors of type `wtype` (enum
 * qkv_wtype, a block type) and a config naming them. false + err when d_model is not
 * whole blocks of the type or the folder cannot be written ($TMPDIR, else /tmp). */
bool bench_stored_make(const struct bench_shape *s, const struct bench_weights *w, uint32_t wtype,
                       struct bench_stored *out, char *err, size_t errlen);

/* Remove the files and the folder; accepts one never made. */
void bench_stored_remove(struct bench_stored *st);

#endif
