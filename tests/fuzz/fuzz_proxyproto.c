/* fuzz_proxyproto.c — libFuzzer target for proxyproto_parse(): whatever a
 * client sends, the parser must not crash or read past what it was given,
 * and must answer the same however the bytes were split across reads.
 * Any broken invariant abort()s, which libFuzzer reports as a crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

/* Every prefix up to this length is parsed (a v1 line and a v2 header
 * with its addresses fit); beyond it only a few chosen ones, to keep the
 * executions per second high. */
#define FUZZ_ALL_PREFIXES 160

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool addr_well_formed(const struct addr *a)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);

	switch (a->u.sa.sa_family) {
	case AF_INET:
		return a->len == sizeof(struct sockaddr_in);
	case AF_INET6:
		return a->len == sizeof(struct sockaddr_in6) && a->u.sin6.sin6_scope_id == 0 &&
		       a->u.sin6.sin6_flowinfo == 0;
	case AF_UNIX:
		return a->len >= off && a->len <= sizeof(struct sockaddr_un);
	default:
		return false;
	}
}

/* What a DONE answer for SIZE input bytes must satisfy on its own. */
static void check_header(const uint8_t *data, size_t size, const struct proxyproto_header *h)
{
	check(h->len <= size && h->len <= PROXYPROTO_PARSE_MAX);
	check(h->version == 1 || h->version == 2);
	if (h->version == 1) {
		check(h->len >= 15 && h->len <= 107 && memcmp(data, "PROXY ", 6) == 0);
		check(data[h->len - 2] == '\r' && data[h->len - 1] == '\n');
	} else {
		check(h->len >= 16 && h->len == 16 + (size_t)(data[14] << 8 | data[15]));
	}
	if (!h->has_addr)
		return;
	check(addr_well_formed(&h->src) && addr_well_formed(&h->dst));
	check(h->src.u.sa.sa_family == h->dst.u.sa.sa_family);
	check(h->version == 2 || h->src.u.sa.sa_family != AF_UNIX);
}

/* Parses DATA[0..N) from a heap copy of exactly N bytes, so AddressSanitizer
 * catches a read past N even when N is shorter than the input. */
static enum proxyproto_result parse_copy(const uint8_t *data, size_t n,
					 struct proxyproto_header *h)
{
	uint8_t *copy = malloc(n ? n : 1);
	const char *err = NULL;
	enum proxyproto_result r;

	check(copy != NULL);
	memcpy(copy, data, n);
	r = proxyproto_parse(copy, n, h, &err);
	free(copy);
	check(r == PROXYPROTO_INCOMPLETE || r == PROXYPROTO_DONE || r == PROXYPROTO_ERROR);
	check(r != PROXYPROTO_ERROR || (err != NULL && err[0] != '\0'));
	return r;
}

/* A prefix of N bytes against the answer R/H for the whole input: a
 * valid prefix never becomes an error later, and once the header is all
 * there, the answer no longer changes. */
static void check_prefix(const uint8_t *data, size_t n, enum proxyproto_result r,
			 const struct proxyproto_header *h)
{
	struct proxyproto_header p;
	enum proxyproto_result rp = parse_copy(data, n, &p);

	if (rp == PROXYPROTO_DONE) {
		check(r == PROXYPROTO_DONE && p.len == h->len && p.version == h->version &&
		      p.has_addr == h->has_addr);
		check(!p.has_addr || (addr_equal(&p.src, &h->src) && addr_equal(&p.dst, &h->dst)));
	}
	if (r == PROXYPROTO_INCOMPLETE)
		check(rp == PROXYPROTO_INCOMPLETE);
	if (r == PROXYPROTO_DONE)
		check(rp == (n < h->len ? PROXYPROTO_INCOMPLETE : PROXYPROTO_DONE));
}

/* Addresses we accepted, written out again by our encoders, parse back
 * to themselves (unix ones are written as LOCAL/UNKNOWN instead). */
static void check_round_trip(const struct proxyproto_header *h)
{
	char line[PROXYPROTO_V1_MAX];
	unsigned char bin[PROXYPROTO_V2_MAX];
	struct proxyproto_header back;
	const char *err;

	if (!h->has_addr || h->src.u.sa.sa_family == AF_UNIX)
		return;
	check(proxyproto_parse((const unsigned char *)line, proxyproto_v1_encode(line, &h->src, &h->dst),
			       &back, &err) == PROXYPROTO_DONE);
	check(back.has_addr && addr_equal(&back.src, &h->src) && addr_equal(&back.dst, &h->dst));
	check(proxyproto_parse(bin, proxyproto_v2_encode(bin, &h->src, &h->dst), &back, &err) ==
	      PROXYPROTO_DONE);
	check(back.has_addr && addr_equal(&back.src, &h->src) && addr_equal(&back.dst, &h->dst));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_header h;
	const char *err = NULL;
	enum proxyproto_result r = proxyproto_parse(data, size, &h, &err);

	check(r != PROXYPROTO_ERROR || (err != NULL && err[0] != '\0'));
	/* Past the limit a header is either complete or refused. */
	check(r != PROXYPROTO_INCOMPLETE || size < PROXYPROTO_PARSE_MAX);
	if (r == PROXYPROTO_DONE) {
		check_header(data, size, &h);
		check_round_trip(&h);
	}
	for (size_t n = 0; n < size && n <= FUZZ_ALL_PREFIXES; n++)
		check_prefix(data, n, r, &h);
	if (size > FUZZ_ALL_PREFIXES) {
		check_prefix(data, size - 1, r, &h);
		check_prefix(data, size / 2, r, &h);
		if (r == PROXYPROTO_DONE && h.len > FUZZ_ALL_PREFIXES) {
			check_prefix(data, h.len - 1, r, &h);
			check_prefix(data, h.len, r, &h);
		}
	}
	return 0;
}
