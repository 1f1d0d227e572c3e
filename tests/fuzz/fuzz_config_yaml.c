/* fuzz_config_yaml.c — libFuzzer target for configuration files in
 * YAML: any bytes as a ".yaml" file through config_load() to the
 * validated model, and that model as a reload over a running
 * configuration (what is checked: fuzz_config_common.c). */
#include "fuzz_common.h"
#include "fuzz_config_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) /* NOLINT(readability-non-const-parameter) */
{
	(void)argc;
	(void)argv;
	fuzz_config_init(".yaml");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_config_one(data, size);
	return 0;
}
