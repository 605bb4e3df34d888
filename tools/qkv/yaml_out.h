/* YAML output of the qkv tools (machine profiles from `qkv tune`, configs from
 * `qkv quantize`) through libyaml's emitter: quoting and escaping are libyaml's. */
#ifndef QKV_TOOLS_YAML_OUT_H
#define QKV_TOOLS_YAML_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

struct yaml_out {
	yaml_emitter_t em;
	bool ok;
};

/* Start one document on f (after any comment lines the caller already wrote). */
bool yo_begin(struct yaml_out *y, FILE *f);
void yo_map(struct yaml_out *y, bool flow);
void yo_seq(struct yaml_out *y, bool flow);
void yo_end_map(struct yaml_out *y);
void yo_end_seq(struct yaml_out *y);
void yo_str(struct yaml_out *y, const char *s);    /* plain when YAML allows, else quoted */
void yo_quoted(struct yaml_out *y, const char *s); /* always double-quoted */
void yo_uint(struct yaml_out *y, uint64_t v);
/* key: value shortcuts in a mapping */
void yo_kv_str(struct yaml_out *y, const char *key, const char *s);
void yo_kv_uint(struct yaml_out *y, const char *key, uint64_t v);
/* End the document and flush; false when any event failed. Frees the emitter. */
bool yo_finish(struct yaml_out *y);

#endif
