#include "yaml_out.h"

#include <inttypes.h>
#include <string.h>

static void emit(struct yaml_out *y, int made, yaml_event_t *ev)
{
	if (!made) {
		y->ok = false;
		return;
	}
	if (!y->ok) {
		yaml_event_delete(ev);
		return;
	}
	if (!yaml_emitter_emit(&y->em, ev)) /* takes the event, success or not */
		y->ok = false;
}

bool yo_begin(struct yaml_out *y, FILE *f)
{
	memset(y, 0, sizeof(*y));
	if (!yaml_emitter_initialize(&y->em))
		return false;
	y->ok = true;
	yaml_emitter_set_output_file(&y->em, f);
	yaml_emitter_set_unicode(&y->em, 1);
	yaml_emitter_set_width(&y->em, -1); /* no folding: one line per value */
	yaml_event_t ev;
	emit(y, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING), &ev);
	emit(y, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1), &ev);
	return y->ok;
}

void yo_map(struct yaml_out *y, bool flow)
{
	yaml_event_t ev;
	emit(y,
	     yaml_mapping_start_event_initialize(
	         &ev, NULL, NULL, 1, flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE),
	     &ev);
}

void yo_seq(struct yaml_out *y, bool flow)
{
	yaml_event_t ev;
	emit(y,
	     yaml_sequence_start_event_initialize(
	         &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE),
	     &ev);
}

void yo_end_map(struct yaml_out *y)
{
	yaml_event_t ev;
	emit(y, yaml_mapping_end_event_initialize(&ev), &ev);
}

void yo_end_seq(struct yaml_out *y)
{
	yaml_event_t ev;
	emit(y, yaml_sequence_end_event_initialize(&ev), &ev);
}

static void scalar(struct yaml_out *y, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	emit(y,
	     yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
	                                  style),
	     &ev);
}

void yo_str(struct yaml_out *y, const char *s)
{
	scalar(y, s, YAML_ANY_SCALAR_STYLE);
}

void yo_quoted(struct yaml_out *y, const char *s)
{
	scalar(y, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

void yo_uint(struct yaml_out *y, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	scalar(y, buf, YAML_PLAIN_SCALAR_STYLE);
}

void yo_kv_str(struct yaml_out *y, const char *key, const char *s)
{
	yo_str(y, key);
	yo_str(y, s);
}

void yo_kv_uint(struct yaml_out *y, const char *key, uint64_t v)
{
	yo_str(y, key);
	yo_uint(y, v);
}

bool yo_finish(struct yaml_out *y)
{
	yaml_event_t ev;
	emit(y, yaml_document_end_event_initialize(&ev, 1), &ev);
	emit(y, yaml_stream_end_event_initialize(&ev), &ev);
	if (y->ok && !yaml_emitter_flush(&y->em))
		y->ok = false;
	yaml_emitter_delete(&y->em);
	return y->ok;
}
