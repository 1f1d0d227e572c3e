/* fuzz_common.h — what the fuzz targets share: checking an invariant,
 * and copying an input to a heap block of exactly its size, so that
 * AddressSanitizer sees a read one byte past what a parser was given. */
#ifndef NETPOLLD_FUZZ_COMMON_H
#define NETPOLLD_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points, which each target defines (TestOneInput)
 * or may (Initialize: once, before the first input). */
int LLVMFuzzerInitialize(int *argc, char ***argv); /* NOLINT(readability-non-const-parameter): libFuzzer's */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: says which one on stderr and abort()s, which
 * libFuzzer reports as a crash and saves the input for. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

__attribute__((noreturn)) void fuzz_fail(const char *what, const char *file, int line);

/* The N bytes at DATA in a block of exactly N bytes (a 1-byte block for
 * N 0, which must not be read either). Free it with free(). */
char *fuzz_memdup(const uint8_t *data, size_t n);
/* The N bytes at DATA and a NUL in a block of exactly N + 1 bytes. */
char *fuzz_strndup(const uint8_t *data, size_t n);

#endif
