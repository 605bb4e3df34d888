/* The tools' one UTF-8 check (the library keeps its own in core/src/json.c): a JSON
 * report, a table row or a plugin's message keeps valid UTF-8 and replaces the rest. */
#ifndef QKV_TOOLS_UTF8_H
#define QKV_TOOLS_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s does not start one (stray
 * continuation byte, overlong form, surrogate, > U+10FFFF, truncated by the NUL). */
size_t utf8_seq_len(const unsigned char *s);

#endif
