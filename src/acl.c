/* acl.c — CIDR rules, compared in one 128-bit form: IPv4 networks and
 * clients are written as v4-mapped IPv6, so a v4 client seen on an IPv6
 * socket and one seen on an IPv4 socket match the same rules. */
#include "acl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t acl_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* A's address in the 128-bit form; false for non-IP addresses. */
static bool acl_key(const struct addr *a, uint8_t key[16])
{
	switch (a->u.sa.sa_family) {
	case AF_INET:
		memcpy(key, acl_v4_mapped, 12);
		memcpy(key + 12, &a->u.sin.sin_addr, 4);
		return true;
	case AF_INET6:
		memcpy(key, &a->u.sin6.sin6_addr, 16);
		return true;
	default:
		return false;
	}
}

/* The first BITS bits of A and B agree. */
static bool acl_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* No bit set beyond the first BITS. */
static bool acl_host_bits_clear(const uint8_t *net, unsigned bits)
{
	uint8_t zero[16] = { 0 };
	uint8_t tail[16];

	memcpy(tail, net, 16);
	for (unsigned i = 0; i < bits; i++)
		tail[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return memcmp(tail, zero, 16) == 0;
}

/* "/N" after an address of MAX bits: 0 and *BITS, or -1. */
static int acl_parse_prefix(const char *s, unsigned max, unsigned *bits)
{
	unsigned long n = 0;

	if (*s == '\0')
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > max)
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n > max || (s[0] == '0' && s[1] != '\0'))
		return -1;
	*bits = (unsigned)n;
	return 0;
}

int acl_parse(const char *text, struct acl_rule *out, const char **err)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	bool v6 = memchr(text, ':', n) != NULL;
	unsigned max = v6 ? 128 : 32, bits = max;

	if (n == 0 || n >= sizeof(host)) {
		*err = "expected an address or a network such as 10.0.0.0/8";
		return -1;
	}
	memcpy(host, text, n);
	host[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (v6 ? inet_pton(AF_INET6, host, out->net) != 1
	       : inet_pton(AF_INET, host, out->net + 12) != 1) {
		*err = v6 ? "not an IPv6 address" : "not an IPv4 address";
		return -1;
	}
	if (!v6)
		memcpy(out->net, acl_v4_mapped, 12);
	if (slash != NULL && acl_parse_prefix(slash + 1, max, &bits) < 0) {
		*err = v6 ? "prefix must be 0-128" : "prefix must be 0-32";
		return -1;
	}
	out->prefix = v6 ? bits : bits + 96;
	if (!acl_host_bits_clear(out->net, out->prefix)) {
		*err = "host bits set beyond the prefix (write the network address)";
		return -1;
	}
	return 0;
}

bool acl_rule_match(const struct acl_rule *r, const struct addr *a)
{
	uint8_t key[16];

	return acl_key(a, key) && acl_prefix_equal(key, r->net, r->prefix);
}

static bool acl_any(const struct acl_rule *rules, size_t n, const struct addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (acl_rule_match(&rules[i], a))
			return true;
	return false;
}

bool acl_permits(const struct acl *acl, const struct addr *client)
{
	if (acl_any(acl->deny, acl->ndeny, client))
		return false;
	return !acl->has_allow || acl_any(acl->allow, acl->nallow, client);
}
