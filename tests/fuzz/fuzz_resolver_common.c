/* fuzz_resolver_common.c — getaddrinfo() and freeaddrinfo() for the fuzz
 * targets: numeric hosts as glibc reads them, two fixed names, no
 * lookups (why: fuzz_resolver_common.h). */
#include "fuzz_resolver_common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "fuzz_common.h"

/* Calls answered here: proof that the interposition took. */
static unsigned long fuzz_resolver_calls;

/* One result and its address in one block, as freeaddrinfo() frees it. */
struct fuzz_resolver_result {
	struct addrinfo ai;             /* handed out; ai_addr points at addr */
	struct sockaddr_storage addr;   /* the address itself */
};

/* What glibc's getaddrinfo() takes as an IPv4 literal: inet_aton()'s
 * forms ("127.1", "0x7f000001" too), with nothing after them. */
static int fuzz_resolver_ipv4(const char *host, struct sockaddr_in *out)
{
	for (const char *p = host; *p != '\0'; p++)
		if (isspace((unsigned char)*p))
			return -1;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	return inet_aton(host, &out->sin_addr) != 0 ? 0 : -1;
}

/* An IPv6 literal with an optional numeric "%scope". glibc would also
 * look an interface name up for a link-local address; that is system
 * state, so here a named scope is not found. */
static int fuzz_resolver_ipv6(const char *host, struct sockaddr_in6 *out)
{
	char text[INET6_ADDRSTRLEN + 1];
	const char *pct = strchr(host, '%');
	size_t n = pct != NULL ? (size_t)(pct - host) : strlen(host);

	if (n >= sizeof(text))
		return -1;
	memcpy(text, host, n);
	text[n] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, text, &out->sin6_addr) != 1)
		return -1;
	if (pct != NULL) {
		char *end;
		unsigned long scope;

		if (!isdigit((unsigned char)pct[1]))
			return -1;
		errno = 0;
		scope = strtoul(pct + 1, &end, 10);
		if (*end != '\0' || errno != 0 || scope > UINT32_MAX)
			return -1;
		out->sin6_scope_id = (uint32_t)scope;
	}
	return 0;
}

/* The fixed table, for names (not numeric hosts). */
static int fuzz_resolver_name(const char *host, int family, struct sockaddr_storage *out)
{
	if (strcmp(host, FUZZ_RESOLVER_NAME4) == 0 && family != AF_INET6)
		return fuzz_resolver_ipv4("127.0.0.1", (struct sockaddr_in *)out);
	if (strcmp(host, FUZZ_RESOLVER_NAME6) == 0 && family != AF_INET)
		return fuzz_resolver_ipv6("::1", (struct sockaddr_in6 *)out);
	return -1;
}

/* The parameters are named as glibc's <netdb.h> names them. */
int getaddrinfo(const char *name, const char *service, const struct addrinfo *req,
		struct addrinfo **pai)
{
	int family = req != NULL ? req->ai_family : AF_UNSPEC;
	int flags = req != NULL ? req->ai_flags : 0;
	struct fuzz_resolver_result *r;
	struct sockaddr_storage ss;

	fuzz_resolver_calls++;
	/* Nothing of netpolld asks for a service or no host. */
	if (name == NULL || service != NULL)
		return EAI_NONAME;
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return EAI_FAMILY;
	if (!((family != AF_INET6 && fuzz_resolver_ipv4(name, (struct sockaddr_in *)&ss) == 0) ||
	      (family != AF_INET && fuzz_resolver_ipv6(name, (struct sockaddr_in6 *)&ss) == 0) ||
	      ((flags & AI_NUMERICHOST) == 0 && fuzz_resolver_name(name, family, &ss) == 0)))
		return EAI_NONAME;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return EAI_MEMORY;
	r->addr = ss;
	r->ai.ai_family = ss.ss_family;
	r->ai.ai_socktype = req != NULL ? req->ai_socktype : 0;
	r->ai.ai_protocol = r->ai.ai_socktype == SOCK_STREAM ? IPPROTO_TCP : 0;
	r->ai.ai_addrlen = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
			   : sizeof(struct sockaddr_in6);
	r->ai.ai_addr = (struct sockaddr *)&r->addr;
	*pai = &r->ai;
	return 0;
}

void freeaddrinfo(struct addrinfo *ai)
{
	/* ai is the first member: the result is the block. */
	free(ai);
}

void fuzz_resolver_require(void)
{
	unsigned long before = fuzz_resolver_calls;
	struct addr a;
	const char *err;

	FUZZ_CHECK(addr_parse(FUZZ_RESOLVER_NAME4 ":80", &a, &err) == 0);
	FUZZ_CHECK(fuzz_resolver_calls == before + 1);
	FUZZ_CHECK(a.u.sa.sa_family == AF_INET && a.u.sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	/* And what no table has is not found (real DNS would be asked). */
	FUZZ_CHECK(addr_parse("netpolld-fuzz.invalid:80", &a, &err) == -1);
	FUZZ_CHECK(fuzz_resolver_calls == before + 2);
}
