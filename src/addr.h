/* addr.h — socket addresses as users write them: "HOST:PORT",
 * "[IPv6]:PORT" and "unix:/path"; parsing (with name resolution) and
 * formatting for logs. Pure helpers: nothing here logs. */
#ifndef NETPOLLD_ADDR_H
#define NETPOLLD_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest text addr_format() produces, with its NUL: a unix path. */
#define ADDR_STRLEN (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

struct addr {
	socklen_t len;                  /* bytes of u that are meaningful */
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		struct sockaddr_un sun;
		struct sockaddr_storage ss;
	} u;                            /* the address itself */
};

/* Parses TEXT into OUT. Host names are resolved (first result). On
 * failure returns -1 and points *ERR at a static message such as
 * "port must be 1-65535". */
int addr_parse(const char *text, struct addr *out, const char **err);

/* "1.2.3.4:80", "[::1]:80" or "unix:/path" into BUF; returns BUF. */
char *addr_format(const struct addr *a, char *buf, size_t len);

/* Same family, address and port (or path). */
bool addr_equal(const struct addr *a, const struct addr *b);

#endif
