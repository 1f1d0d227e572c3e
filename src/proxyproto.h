/* proxyproto.h — the PROXY protocol (haproxy.org proxy-protocol.txt): the
 * header a proxy writes before the client's bytes, to say who the client
 * is. Encoding for send_proxy, parsing for accept_proxy. Pure code: no I/O,
 * no allocation, no logging. */
#ifndef NETPOLLD_PROXYPROTO_H
#define NETPOLLD_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* "PROXY UNKNOWN <39> <39> <5> <5>\r\n" is the longest v1 line the spec
 * allows (107 bytes with CRLF); one more for the NUL snprintf writes. */
#define PROXYPROTO_V1_MAX 108
/* 16 fixed bytes + 36 for TCP over IPv6: the most we write (no TLVs). */
#define PROXYPROTO_V2_MAX 52
/* The largest header we accept (v2 with TLVs); longer is an error, so a
 * connection never buffers more than this before its header is known. */
#define PROXYPROTO_PARSE_MAX 4096

/* Writes a v1 line for a client SRC connected to DST (our listening
 * address as the client sees it): TCP4/TCP6 when both are of the same IP
 * family, else (unix clients, mixed families) "PROXY UNKNOWN\r\n". Returns
 * the length; the NUL written after it is not counted. */
size_t proxyproto_v1_encode(char buf[PROXYPROTO_V1_MAX], const struct addr *src,
			    const struct addr *dst);

/* Writes a v2 header: command PROXY with TCP over IPv4 (0x11) or IPv6
 * (0x21) and the addresses and ports; for unix clients or mixed families
 * command LOCAL with family UNSPEC and no address block, as HAProxy does.
 * No TLVs. Returns the length. */
size_t proxyproto_v2_encode(unsigned char buf[PROXYPROTO_V2_MAX], const struct addr *src,
			    const struct addr *dst);

enum proxyproto_result {
	PROXYPROTO_INCOMPLETE,          /* a valid prefix: wait for more bytes */
	PROXYPROTO_DONE,                /* a whole header; *h is filled */
	PROXYPROTO_ERROR,               /* not a header we accept: drop the connection */
};

struct proxyproto_header {
	size_t len;                     /* bytes of the header; what follows is payload */
	int version;                    /* 1 or 2 */
	bool has_addr;                  /* false for v1 UNKNOWN, v2 LOCAL and v2 UNSPEC:
					   keep the connection's own addresses */
	struct addr src;                /* the client, when has_addr */
	struct addr dst;                /* what the client connected to, when has_addr */
};

/* Parses BUF[0..LEN): everything received so far on a connection that must
 * start with a header. Call again with more bytes after INCOMPLETE; every
 * prefix of a valid header gives INCOMPLETE, and an invalid one is refused
 * as soon as its bytes can no longer begin a valid header. Bytes from
 * h->len on are never read. ERROR points *ERR at a static message. */
enum proxyproto_result proxyproto_parse(const unsigned char *buf, size_t len,
					struct proxyproto_header *h, const char **err);

#endif
