/* `qkv quantize --type T`: any checkpoint qkv reads, written as a GGUF file of weight type
 * T (<qkv/wtype.h>) with llama.cpp's tensor names and metadata, plus the config that
 * loads it with precision stored, and the accuracy of the type's arithmetic against
 * float64 on random Gaussian rows. */
#ifndef QKV_TOOLS_QUANTIZE_GGUF_H
#define QKV_TOOLS_QUANTIZE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <qkv/qkv.h>

struct gguf_job {
	const char *config, *out, *config_out;
	uint32_t wtype;                        /* enum qkv_wtype of the weights (biases stay F32) */
	bool layered;                          /* the source's tensor names hold {layer} */
	uint32_t first, count;                 /* the layers written */
	const struct qkv_checkpoint_info *src; /* shapes and names of the source */
	size_t rows;                           /* random rows of the accuracy report */
	uint64_t seed;
	FILE *text; /* where the config and the report go */
};

/* 0, or an exit status after printing why. */
int quantize_gguf(const struct gguf_job *j);

#endif
