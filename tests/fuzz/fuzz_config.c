/* libFuzzer target: the YAML config reader (qkv_config_parse) on arbitrary bytes.
 * Any status is fine; a crash, leak, sanitizer report or hang is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qkv_config cfg;
	char err[256];
	memset(&cfg, 0, sizeof(cfg));
	/* A folder that does not exist: relative weight paths resolve but never open. */
	qkv_config_parse("fuzz.yaml", "/nonexistent-qkv-fuzz", (const char *)data, size, &cfg, err,
	                 sizeof(err));
	qkv_config_free(&cfg);
	return 0;
}
