/* fuzz_config_common.h — the body of the two configuration fuzz targets
 * (fuzz_config_libconfig.c, fuzz_config_yaml.c): they differ only in the
 * file name's suffix, which is what picks the front end. */
#ifndef NETPOLLD_FUZZ_CONFIG_COMMON_H
#define NETPOLLD_FUZZ_CONFIG_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Once per process: SUFFIX (".conf", ".yaml") ends the name of the file
 * every input is written to. Sets up a reactor and a runtime for the
 * reload, and checks that no host name can reach a real resolver. */
void fuzz_config_init(const char *suffix);

/* One input as a whole configuration file: config_load() through to the
 * model, the model's guarantees, then the model as a reload over a
 * fixed valid configuration. Aborts on any broken invariant. */
void fuzz_config_one(const uint8_t *data, size_t size);

#endif
