/* fuzz_common.c — invariant checks and exact-size copies for the fuzz
 * targets (fuzz_common.h). */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

char *fuzz_memdup(const uint8_t *data, size_t n)
{
	char *copy = malloc(n > 0 ? n : 1);

	FUZZ_CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	return copy;
}

char *fuzz_strndup(const uint8_t *data, size_t n)
{
	char *copy = malloc(n + 1);

	FUZZ_CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	copy[n] = '\0';
	return copy;
}
