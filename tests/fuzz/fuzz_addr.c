/* fuzz_addr.c — libFuzzer target for the two small parsers every address
 * and duration of a configuration file goes through: addr_parse() and
 * config_parse_duration(). Neither may read past the string it is given
 * (each parses a heap copy of exactly the string and its NUL); an
 * address it accepts is well formed and survives addr_format() and
 * parsing back; a duration it accepts is what the documented grammar
 * says, in milliseconds, and one it refuses the grammar refuses too.
 *
 * The input is the address, a NUL, and the duration; without a NUL the
 * whole input is tried as both. Host names go to the fixed table of
 * fuzz_resolver_common.c, never to a resolver. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "fuzz_common.h"
#include "fuzz_resolver_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) /* NOLINT(readability-non-const-parameter) */
{
	(void)argc;
	(void)argv;
	fuzz_resolver_require();
	return 0;
}

static int fuzz_addr_parse(const char *text, size_t n, struct addr *a)
{
	char *copy = fuzz_strndup((const uint8_t *)text, n);
	const char *err = NULL;
	int rc;

	rc = addr_parse(copy, a, &err);
	free(copy);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == 0 || (err != NULL && err[0] != '\0'));
	return rc;
}

/* What an accepted TEXT must have become. */
static void fuzz_addr_check_shape(const char *text, const struct addr *a)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);

	switch (a->u.sa.sa_family) {
	case AF_INET:
		FUZZ_CHECK(a->len == sizeof(a->u.sin) && a->u.sin.sin_port != 0);
		break;
	case AF_INET6:
		FUZZ_CHECK(a->len == sizeof(a->u.sin6) && a->u.sin6.sin6_port != 0);
		FUZZ_CHECK(text[0] == '[' || strchr(text, ':') == strrchr(text, ':'));
		break;
	case AF_UNIX:
		/* "unix:" and the path, NUL included, as it was written. */
		FUZZ_CHECK(strncmp(text, "unix:", 5) == 0 && text[5] != '\0');
		FUZZ_CHECK(strcmp(a->u.sun.sun_path, text + 5) == 0);
		FUZZ_CHECK(a->len == off + strlen(text + 5) + 1 && a->len <= sizeof(a->u.sun));
		break;
	default:
		FUZZ_CHECK(false);
	}
}

/* Formatted and parsed again, A is itself, and the text is a fixed
 * point: formatting that gives the same text again. */
static void fuzz_addr_check_round_trip(const struct addr *a)
{
	char text[ADDR_STRLEN], again_text[ADDR_STRLEN];
	struct addr again;

	addr_format(a, text, sizeof(text));
	FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);
	FUZZ_CHECK(fuzz_addr_parse(text, strlen(text), &again) == 0);
	FUZZ_CHECK(addr_equal(&again, a) && again.len == a->len);
	addr_format(&again, again_text, sizeof(again_text));
	FUZZ_CHECK(strcmp(text, again_text) == 0);
}

/* The grammar of durations as the SPEC and config.h give it: one or more
 * NUMBER UNIT parts, units h, m, s, ms from largest to smallest, each at
 * most once; every number and the total in a uint32_t of milliseconds.
 * Written here independently of config.c, to be compared with it. */
static bool fuzz_addr_duration_model(const char *p, uint64_t *ms)
{
	static const char *const units[] = { "h", "m", "s", "ms" };
	static const uint64_t mult[] = { 3600000, 60000, 1000, 1 };
	uint64_t total = 0;
	size_t next = 0;

	if (*p == '\0')
		return false;
	while (*p != '\0') {
		uint64_t n = 0;
		size_t len = 0, i;

		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (uint64_t)(*p - '0');
			if (n > UINT32_MAX)
				return false;
		}
		while ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= 'A' && p[len] <= 'Z'))
			len++;
		for (i = 0; i < 4; i++)
			if (strlen(units[i]) == len && strncmp(p, units[i], len) == 0)
				break;
		if (i == 4 || i < next)
			return false;
		next = i + 1;
		total += n * mult[i];
		p += len;
	}
	if (total > UINT32_MAX)
		return false;
	*ms = total;
	return true;
}

static void fuzz_addr_check_duration(const char *text, size_t n)
{
	char *copy = fuzz_strndup((const uint8_t *)text, n), canon[64];
	const char *err = NULL;
	uint64_t ms = 0, model_ms = 0, back = 0;
	int rc = config_parse_duration(copy, &ms, &err);
	bool ok = fuzz_addr_duration_model(copy, &model_ms);

	free(copy);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == 0 || (err != NULL && err[0] != '\0'));
	FUZZ_CHECK((rc == 0) == ok);
	if (rc != 0)
		return;
	FUZZ_CHECK(ms == model_ms && ms <= UINT32_MAX);
	/* Written again as hours, minutes, seconds and ms, it reads the same. */
	snprintf(canon, sizeof(canon), "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s%" PRIu64 "ms",
		 ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
	FUZZ_CHECK(config_parse_duration(canon, &back, &err) == 0 && back == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t alen = nul != NULL ? (size_t)(nul - data) : size;
	const char *dtext = nul != NULL ? (const char *)nul + 1 : text;
	size_t dlen = nul != NULL ? strnlen(dtext, size - alen - 1) : size;
	struct addr a;

	if (fuzz_addr_parse(text, alen, &a) == 0) {
		char *copy = fuzz_strndup(data, alen);

		fuzz_addr_check_shape(copy, &a);
		free(copy);
		fuzz_addr_check_round_trip(&a);
	}
	fuzz_addr_check_duration(dtext, dlen);
	return 0;
}
