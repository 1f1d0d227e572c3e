/* addr.c — the three address forms users write, turned into sockaddrs and
 * back into text. Parsing may block in getaddrinfo(): it runs at config
 * load, never on the reactor's per-connection path. */
#include "addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#define ADDR_UNIX_PREFIX "unix:"

/* The host is copied out to be NUL-terminated for the resolver; DNS
 * names are at most 253 characters, so this refuses nothing real. */
#define ADDR_HOST_MAX 256

static int addr_parse_port(const char *text, in_port_t *port, const char **err)
{
	unsigned long v = 0;

	if (*text == '\0') {
		*err = "missing port (HOST:PORT)";
		return -1;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			*err = "port must be a decimal number";
			return -1;
		}
		/* Stop counting early so a long digit run cannot overflow. */
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535) {
		*err = "port must be 1-65535";
		return -1;
	}
	*port = htons((in_port_t)v);
	return 0;
}

static int addr_parse_unix(const char *path, struct addr *out, const char **err)
{
	size_t n = strlen(path);

	if (n == 0) {
		*err = "unix socket path is empty";
		return -1;
	}
	if (n >= sizeof(out->u.sun.sun_path)) {
		*err = "unix socket path is too long";
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->u.sun.sun_family = AF_UNIX;
	memcpy(out->u.sun.sun_path, path, n + 1);
	out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* A host is an IPv4 literal, "*", or a name; a literal is tried first so
 * that a numeric address never waits on a resolver. Between brackets only
 * an IPv6 literal (with an optional %scope) is taken. */
static int addr_resolve(const char *host, bool bracketed, struct addr *out, const char **err)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!bracketed && (strcmp(host, "*") == 0 ||
			   inet_pton(AF_INET, host, &out->u.sin.sin_addr) == 1)) {
		out->u.sin.sin_family = AF_INET;
		out->len = sizeof(out->u.sin);
		return 0;
	}
	/* getaddrinfo() would take "10.1" as 10.0.0.1, and "0x7f.1" or
	 * "2130706433" as 127.0.0.1 (inet_aton's forms); nobody means that. */
	if (!bracketed && (strspn(host, "0123456789.") == strlen(host) ||
			   inet_aton(host, &out->u.sin.sin_addr) != 0)) {
		*err = "bad IPv4 address";
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = bracketed ? AI_NUMERICHOST : 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		/* gai_strerror() texts are static; EAI_SYSTEM's is not telling. */
		*err = bracketed ? "bad IPv6 address"
		       : rc == EAI_SYSTEM ? "cannot resolve host name" : gai_strerror(rc);
		return -1;
	}
	if (res->ai_addrlen > sizeof(out->u)) {
		freeaddrinfo(res);
		*err = "unsupported address family";
		return -1;
	}
	memcpy(&out->u, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int addr_parse(const char *text, struct addr *out, const char **err)
{
	char host[ADDR_HOST_MAX];
	const char *hstart = text, *colon;
	size_t hlen;
	in_port_t port;
	bool bracketed = false;

	if (strncmp(text, ADDR_UNIX_PREFIX, strlen(ADDR_UNIX_PREFIX)) == 0)
		return addr_parse_unix(text + strlen(ADDR_UNIX_PREFIX), out, err);
	if (*text == '\0') {
		*err = "empty address";
		return -1;
	}
	if (*text == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL) {
			*err = "missing ']' after IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*err = "missing port after ']' ([IPv6]:PORT)";
			return -1;
		}
		hstart = text + 1;
		hlen = (size_t)(close - hstart);
		colon = close + 1;
		bracketed = true;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*err = "missing port (HOST:PORT)";
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (memchr(text, ':', hlen) != NULL) {
			*err = "IPv6 addresses need brackets: [::1]:80";
			return -1;
		}
	}
	if (hlen == 0) {
		*err = bracketed ? "bad IPv6 address" : "missing host (use *:PORT for any address)";
		return -1;
	}
	if (hlen >= sizeof(host)) {
		*err = "host name is too long";
		return -1;
	}
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	if (addr_parse_port(colon + 1, &port, err) == -1 ||
	    addr_resolve(host, bracketed, out, err) == -1)
		return -1;
	if (out->u.sa.sa_family == AF_INET)
		out->u.sin.sin_port = port;
	else
		out->u.sin6.sin6_port = port;
	return 0;
}

/* Bytes of sun_path in use: accept() and getpeername() may hand back an
 * unnamed socket (no path at all) or a path without its NUL. */
static size_t addr_unix_path_len(const struct addr *a)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t max;

	if (a->len <= off)
		return 0;
	max = a->len - off;
	if (max > sizeof(a->u.sun.sun_path))
		max = sizeof(a->u.sun.sun_path);
	/* An abstract address starts with NUL and uses every byte given. */
	if (a->u.sun.sun_path[0] == '\0')
		return max;
	return strnlen(a->u.sun.sun_path, max);
}

static void addr_format_unix(const struct addr *a, char *buf, size_t len)
{
	size_t n = addr_unix_path_len(a);

	if (n > 0 && a->u.sun.sun_path[0] == '\0') {
		/* Abstract namespace: written "@name", as ss(8) and systemd do. */
		snprintf(buf, len, ADDR_UNIX_PREFIX "@%.*s", (int)(n - 1), a->u.sun.sun_path + 1);
		return;
	}
	snprintf(buf, len, ADDR_UNIX_PREFIX "%.*s", (int)n, a->u.sun.sun_path);
}

char *addr_format(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	switch (a->len >= sizeof(sa_family_t) ? a->u.sa.sa_family : AF_UNSPEC) {
	case AF_INET:
		inet_ntop(AF_INET, &a->u.sin.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->u.sin.sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &a->u.sin6.sin6_addr, ip, sizeof(ip));
		if (a->u.sin6.sin6_scope_id != 0)
			snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)a->u.sin6.sin6_scope_id,
				 (unsigned)ntohs(a->u.sin6.sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(a->u.sin6.sin6_port));
		break;
	case AF_UNIX:
		addr_format_unix(a, buf, len);
		break;
	default:
		snprintf(buf, len, "unknown");
		break;
	}
	return buf;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	size_t n;

	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	switch (a->u.sa.sa_family) {
	case AF_INET:
		return a->u.sin.sin_port == b->u.sin.sin_port &&
		       a->u.sin.sin_addr.s_addr == b->u.sin.sin_addr.s_addr;
	case AF_INET6:
		return a->u.sin6.sin6_port == b->u.sin6.sin6_port &&
		       a->u.sin6.sin6_scope_id == b->u.sin6.sin6_scope_id &&
		       memcmp(&a->u.sin6.sin6_addr, &b->u.sin6.sin6_addr,
			      sizeof(a->u.sin6.sin6_addr)) == 0;
	case AF_UNIX:
		n = addr_unix_path_len(a);
		return n == addr_unix_path_len(b) &&
		       memcmp(a->u.sun.sun_path, b->u.sun.sun_path, n) == 0;
	default:
		return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
	}
}
