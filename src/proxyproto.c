/* proxyproto.c — PROXY protocol v1 and v2 headers, written and parsed as
 * doc/proxy-protocol.txt says. The parser is handed everything received so
 * far, however it was split, so it judges prefixes: a prefix that can still
 * become a valid header waits, anything else is refused at once (the spec
 * asks to abort "as soon as possible"). */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define V1_PREFIX       "PROXY "
#define V1_PREFIX_LEN   (sizeof(V1_PREFIX) - 1)
/* Including the CRLF: a CR later than this would make the line too long. */
#define V1_LINE_MAX     107
#define V1_CR_MAX       (V1_LINE_MAX - 2)
#define V1_IP4_TEXT_MAX 15              /* "255.255.255.255" */
#define V1_IP6_TEXT_MAX 45              /* inet_pton also takes "x:x:x:x:x:x:d.d.d.d" */
#define V1_PORT_TEXT_MAX 5

#define V2_SIG_LEN      12
#define V2_HDR_LEN      16
#define V2_VERSION      0x20
#define V2_CMD_LOCAL    0x0
#define V2_CMD_PROXY    0x1
#define V2_FAM_UNSPEC   0x00
#define V2_FAM_TCP4     0x11
#define V2_FAM_UDP4     0x12
#define V2_FAM_TCP6     0x21
#define V2_FAM_UDP6     0x22
#define V2_FAM_UNIX     0x31
#define V2_FAM_UNIX_DGRAM 0x32
#define V2_ADDR_LEN_TCP4 12
#define V2_ADDR_LEN_TCP6 36
#define V2_UNIX_PATH    108
#define V2_ADDR_LEN_UNIX (2 * V2_UNIX_PATH)
#define V2_TLV_HDR      3               /* type, length hi, length lo */

/* The NUL at its 5th byte keeps it from being mistaken for a string. */
static const unsigned char v2_sig[V2_SIG_LEN] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

static enum proxyproto_result fail(const char **err, const char *msg)
{
	*err = msg;
	return PROXYPROTO_ERROR;
}

/* ---- encoding ---- */

/* AF_INET or AF_INET6 when both addresses are of that family and long
 * enough to hold it; AF_UNSPEC otherwise (unix, mixed, unnamed). */
static int pair_family(const struct addr *src, const struct addr *dst)
{
	if (src->len < sizeof(sa_family_t) || dst->len < sizeof(sa_family_t) ||
	    src->u.sa.sa_family != dst->u.sa.sa_family)
		return AF_UNSPEC;
	if (src->u.sa.sa_family == AF_INET && src->len >= sizeof(struct sockaddr_in) &&
	    dst->len >= sizeof(struct sockaddr_in))
		return AF_INET;
	if (src->u.sa.sa_family == AF_INET6 && src->len >= sizeof(struct sockaddr_in6) &&
	    dst->len >= sizeof(struct sockaddr_in6))
		return AF_INET6;
	return AF_UNSPEC;
}

size_t proxyproto_v1_encode(char buf[PROXYPROTO_V1_MAX], const struct addr *src,
			    const struct addr *dst)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int family = pair_family(src, dst);
	int n;

	if (family == AF_INET) {
		inet_ntop(AF_INET, &src->u.sin.sin_addr, s, sizeof(s));
		inet_ntop(AF_INET, &dst->u.sin.sin_addr, d, sizeof(d));
		n = snprintf(buf, PROXYPROTO_V1_MAX, "PROXY TCP4 %s %s %u %u\r\n", s, d,
			     (unsigned)ntohs(src->u.sin.sin_port),
			     (unsigned)ntohs(dst->u.sin.sin_port));
	} else if (family == AF_INET6) {
		/* inet_ntop's compressed form is at most 39 characters, so the
		 * line fits; the scope id has no place in the protocol. */
		inet_ntop(AF_INET6, &src->u.sin6.sin6_addr, s, sizeof(s));
		inet_ntop(AF_INET6, &dst->u.sin6.sin6_addr, d, sizeof(d));
		n = snprintf(buf, PROXYPROTO_V1_MAX, "PROXY TCP6 %s %s %u %u\r\n", s, d,
			     (unsigned)ntohs(src->u.sin6.sin6_port),
			     (unsigned)ntohs(dst->u.sin6.sin6_port));
	} else {
		n = snprintf(buf, PROXYPROTO_V1_MAX, "PROXY UNKNOWN\r\n");
	}
	return (size_t)n;
}

/* Addresses are copied as they sit in the sockaddrs: both are already in
 * network byte order, as the v2 block wants them. */
static size_t v2_encode_addrs(unsigned char *p, const void *sa, const void *da, size_t alen,
			      const in_port_t *sp, const in_port_t *dp)
{
	memcpy(p, sa, alen);
	memcpy(p + alen, da, alen);
	memcpy(p + 2 * alen, sp, sizeof(*sp));
	memcpy(p + 2 * alen + sizeof(*sp), dp, sizeof(*dp));
	return 2 * alen + sizeof(*sp) + sizeof(*dp);
}

size_t proxyproto_v2_encode(unsigned char buf[PROXYPROTO_V2_MAX], const struct addr *src,
			    const struct addr *dst)
{
	int family = pair_family(src, dst);
	size_t n = 0;

	memcpy(buf, v2_sig, V2_SIG_LEN);
	buf[12] = V2_VERSION | (family == AF_UNSPEC ? V2_CMD_LOCAL : V2_CMD_PROXY);
	if (family == AF_INET) {
		buf[13] = V2_FAM_TCP4;
		n = v2_encode_addrs(buf + V2_HDR_LEN, &src->u.sin.sin_addr, &dst->u.sin.sin_addr,
				    sizeof(struct in_addr), &src->u.sin.sin_port,
				    &dst->u.sin.sin_port);
	} else if (family == AF_INET6) {
		buf[13] = V2_FAM_TCP6;
		n = v2_encode_addrs(buf + V2_HDR_LEN, &src->u.sin6.sin6_addr,
				    &dst->u.sin6.sin6_addr, sizeof(struct in6_addr),
				    &src->u.sin6.sin6_port, &dst->u.sin6.sin6_port);
	} else {
		/* LOCAL: the receiver keeps the connection's own endpoints,
		 * which every receiver must accept (UNSPEC under PROXY may be
		 * refused). */
		buf[13] = V2_FAM_UNSPEC;
	}
	buf[14] = (unsigned char)(n >> 8);
	buf[15] = (unsigned char)(n & 0xff);
	return V2_HDR_LEN + n;
}

/* ---- v1: one text line ---- */

/* A v1 field seen so far: P[0..N), WHOLE when a space or the CR ended it
 * (else more of it may still arrive). */
struct v1_field {
	const char *p;                  /* first character */
	size_t n;                       /* characters received */
	bool whole;                     /* terminated: no more will be added */
};

/* Port text, or a prefix of it: decimal 0-65535, no leading zero. */
static bool v1_port_ok(const struct v1_field *f, in_port_t *port)
{
	unsigned long v = 0;

	if (f->n > V1_PORT_TEXT_MAX || (f->n > 1 && f->p[0] == '0') || (f->whole && f->n == 0))
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(f->p[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = htons((in_port_t)v);
	return true;
}

/* The spec forbids leading zeros in IPv4 numbers (octal confusion); some
 * inet_pton() take them, so look for one ourselves. */
static bool v1_ip4_has_leading_zero(const struct v1_field *f)
{
	for (size_t i = 0; i + 1 < f->n; i++)
		if (f->p[i] == '0' && (i == 0 || f->p[i - 1] == '.') &&
		    f->p[i + 1] >= '0' && f->p[i + 1] <= '9')
			return true;
	return false;
}

/* Address text for FAMILY, or a prefix of it. A prefix is only checked
 * for its characters and length; a whole field goes through inet_pton. */
static bool v1_addr_ok(int family, const struct v1_field *f, struct addr *a)
{
	const char *chars = family == AF_INET ? "0123456789." : "0123456789abcdefABCDEF:.";
	size_t max = family == AF_INET ? V1_IP4_TEXT_MAX : V1_IP6_TEXT_MAX;
	char text[V1_IP6_TEXT_MAX + 1];
	void *dst;

	if (f->n > max || (f->whole && f->n == 0))
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (strchr(chars, f->p[i]) == NULL)
			return false;
	if (family == AF_INET && v1_ip4_has_leading_zero(f))
		return false;
	if (!f->whole)
		return true;
	memcpy(text, f->p, f->n);
	text[f->n] = '\0';
	memset(a, 0, sizeof(*a));
	a->u.sa.sa_family = (sa_family_t)family;
	a->len = family == AF_INET ? sizeof(a->u.sin) : sizeof(a->u.sin6);
	dst = family == AF_INET ? (void *)&a->u.sin.sin_addr : (void *)&a->u.sin6.sin6_addr;
	return inet_pton(family, text, dst) == 1;
}

static void v1_set_port(struct addr *a, in_port_t port)
{
	if (a->u.sa.sa_family == AF_INET)
		a->u.sin.sin_port = port;
	else
		a->u.sin6.sin6_port = port;
}

/* The four fields after "TCP4 "/"TCP6 ": SRC DST SPORT DPORT, one space
 * between each. P[0..N) is what arrived of them, WHOLE when the CR did. */
static enum proxyproto_result v1_parse_inet(int family, const char *p, size_t n, bool whole,
					    struct proxyproto_header *h, const char **err)
{
	struct addr a[2];
	in_port_t port[2];
	size_t pos = 0;

	for (int i = 0; i < 4; i++) {
		struct v1_field f = { .p = p + pos, .n = 0 };
		bool last;

		while (pos + f.n < n && p[pos + f.n] != ' ')
			f.n++;
		last = pos + f.n == n;
		f.whole = !last || whole;
		if (f.whole && f.n == 0)
			return fail(err, "v1 fields need exactly one space between them");
		if (i < 2 ? !v1_addr_ok(family, &f, &a[i]) : !v1_port_ok(&f, &port[i - 2]))
			return fail(err, i < 2 ? "bad v1 address" : "bad v1 port");
		if (last && !whole)
			return PROXYPROTO_INCOMPLETE;
		if (last != (i == 3))
			return fail(err, last ? "v1 line has too few fields"
					      : "v1 line has too many fields");
		pos += f.n + 1;
	}
	v1_set_port(&a[0], port[0]);
	v1_set_port(&a[1], port[1]);
	h->has_addr = true;
	h->src = a[0];
	h->dst = a[1];
	return PROXYPROTO_DONE;
}

/* True when the first N bytes of P could begin WORD followed by a space
 * or the CR (that is, the whole of it when WHOLE). */
static bool v1_word_prefix(const char *p, size_t n, bool whole, const char *word)
{
	size_t wlen = strlen(word);

	return whole ? n == wlen && memcmp(p, word, n) == 0
		     : n <= wlen && memcmp(p, word, n) == 0;
}

/* What follows "PROXY " up to the CR (or up to LEN while it has not come):
 * the protocol, then its fields. UNKNOWN makes the rest of the line
 * meaningless: the spec has the receiver ignore it. */
static enum proxyproto_result v1_parse_body(const char *p, size_t n, bool whole,
					    struct proxyproto_header *h, const char **err)
{
	size_t k = 0;
	bool proto_whole;

	while (k < n && p[k] != ' ')
		k++;
	proto_whole = k < n || whole;
	if (v1_word_prefix(p, k, proto_whole, "UNKNOWN")) {
		if (!whole)
			return PROXYPROTO_INCOMPLETE;
		h->has_addr = false;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
		return PROXYPROTO_DONE;
	}
	if (!proto_whole && (v1_word_prefix(p, k, false, "TCP4") ||
			     v1_word_prefix(p, k, false, "TCP6")))
		return PROXYPROTO_INCOMPLETE;
	if (!v1_word_prefix(p, k, true, "TCP4") && !v1_word_prefix(p, k, true, "TCP6"))
		return fail(err, k == 0 && n > 0 ? "v1 fields need exactly one space between them"
						 : "bad v1 protocol");
	if (k == n)
		return fail(err, "v1 line has too few fields");
	return v1_parse_inet(p[3] == '4' ? AF_INET : AF_INET6, p + k + 1, n - k - 1, whole, h,
			     err);
}

/* Finds the CR ending the line: *CR is its index (INCOMPLETE: the bytes
 * scanned so far). A lone CR or LF is refused, as the spec demands, and
 * so is a line whose CRLF could no longer fit in 107 bytes. */
static enum proxyproto_result v1_find_end(const unsigned char *buf, size_t len, size_t *cr,
					  const char **err)
{
	size_t scan = len > V1_CR_MAX ? V1_CR_MAX + 1 : len;

	for (size_t i = 0; i < scan; i++) {
		if (buf[i] == '\n')
			return fail(err, "v1 line must end in CRLF");
		if (buf[i] != '\r')
			continue;
		*cr = i;
		if (i + 1 == len)
			return PROXYPROTO_INCOMPLETE;
		return buf[i + 1] == '\n' ? PROXYPROTO_DONE : fail(err, "v1 line must end in CRLF");
	}
	if (len > V1_CR_MAX)
		return fail(err, "v1 line too long");
	*cr = len;
	return PROXYPROTO_INCOMPLETE;
}

static enum proxyproto_result v1_parse(const unsigned char *buf, size_t len,
				       struct proxyproto_header *h, const char **err)
{
	size_t cr = 0;
	enum proxyproto_result r = v1_find_end(buf, len, &cr, err);
	bool whole = r == PROXYPROTO_DONE || (r == PROXYPROTO_INCOMPLETE && cr < len);

	if (r == PROXYPROTO_ERROR)
		return r;
	/* The body is checked even while the CRLF is awaited, so that
	 * garbage is refused without waiting for a line end. */
	r = v1_parse_body((const char *)buf + V1_PREFIX_LEN, cr - V1_PREFIX_LEN, whole, h, err);
	if (r != PROXYPROTO_DONE)
		return r;
	if (cr + 1 == len)
		return PROXYPROTO_INCOMPLETE;
	h->len = cr + 2;
	h->version = 1;
	return PROXYPROTO_DONE;
}

/* ---- v2: binary ---- */

static uint16_t v2_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Address block bytes FAM needs under PROXY, or -1 with *ERR set. */
static long v2_family_addr_len(unsigned char fam, const char **err)
{
	switch (fam) {
	case V2_FAM_UNSPEC:
		return 0;
	case V2_FAM_TCP4:
		return V2_ADDR_LEN_TCP4;
	case V2_FAM_TCP6:
		return V2_ADDR_LEN_TCP6;
	case V2_FAM_UNIX:
		return V2_ADDR_LEN_UNIX;
	case V2_FAM_UDP4:
	case V2_FAM_UDP6:
	case V2_FAM_UNIX_DGRAM:
		*err = "unsupported v2 family (datagram)";
		return -1;
	default:
		*err = "bad v2 family";
		return -1;
	}
}

/* TLVs fill [OFF, TOTAL); only their framing is checked, on the bytes
 * received so far, and never beyond TOTAL. */
static enum proxyproto_result v2_check_tlvs(const unsigned char *buf, size_t len, size_t off,
					    size_t total, const char **err)
{
	size_t avail = len < total ? len : total;

	while (off < total) {
		if (total - off < V2_TLV_HDR)
			return fail(err, "bad v2 TLV");
		if (off + V2_TLV_HDR > avail)
			return PROXYPROTO_INCOMPLETE;
		off += V2_TLV_HDR + v2_get16(buf + off + 1);
		if (off > total)
			return fail(err, "bad v2 TLV");
	}
	return len < total ? PROXYPROTO_INCOMPLETE : PROXYPROTO_DONE;
}

/* A 108-byte v2 path, NUL-padded or filling the field. A leading NUL is
 * the abstract namespace (its name ends at the padding) or, with nothing
 * after it, an unnamed socket. */
static bool v2_unix_addr(const unsigned char *p, struct addr *a)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t lead = p[0] == '\0' ? 1 : 0;
	size_t n = lead + strnlen((const char *)p + lead, V2_UNIX_PATH - lead);

	memset(a, 0, sizeof(*a));
	a->u.sun.sun_family = AF_UNIX;
	if (n > sizeof(a->u.sun.sun_path))
		return false;           /* only where sun_path is short (BSD: 104) */
	memcpy(a->u.sun.sun_path, p, n);
	if (n == 1 && lead)
		n = 0;
	/* A filesystem path's NUL is counted, as getsockname() does. */
	a->len = (socklen_t)(off + n + (!lead && n < sizeof(a->u.sun.sun_path) ? 1 : 0));
	return true;
}

static void v2_inet_addrs(unsigned char fam, const unsigned char *p, struct addr *src,
			  struct addr *dst)
{
	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	if (fam == V2_FAM_TCP4) {
		src->u.sin.sin_family = dst->u.sin.sin_family = AF_INET;
		src->len = dst->len = sizeof(struct sockaddr_in);
		memcpy(&src->u.sin.sin_addr, p, 4);
		memcpy(&dst->u.sin.sin_addr, p + 4, 4);
		memcpy(&src->u.sin.sin_port, p + 8, 2);
		memcpy(&dst->u.sin.sin_port, p + 10, 2);
	} else {
		src->u.sin6.sin6_family = dst->u.sin6.sin6_family = AF_INET6;
		src->len = dst->len = sizeof(struct sockaddr_in6);
		memcpy(&src->u.sin6.sin6_addr, p, 16);
		memcpy(&dst->u.sin6.sin6_addr, p + 16, 16);
		memcpy(&src->u.sin6.sin6_port, p + 32, 2);
		memcpy(&dst->u.sin6.sin6_port, p + 34, 2);
	}
}

/* The address block of a complete PROXY header into *H. */
static enum proxyproto_result v2_fill_addrs(const unsigned char *buf, struct proxyproto_header *h,
					    const char **err)
{
	unsigned char fam = buf[13];
	const unsigned char *p = buf + V2_HDR_LEN;

	h->has_addr = fam != V2_FAM_UNSPEC;
	if (fam == V2_FAM_UNIX) {
		struct addr src, dst;

		if (!v2_unix_addr(p, &src) || !v2_unix_addr(p + V2_UNIX_PATH, &dst))
			return fail(err, "v2 unix path too long");
		h->src = src;
		h->dst = dst;
	} else if (h->has_addr) {
		v2_inet_addrs(fam, p, &h->src, &h->dst);
	} else {
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
	}
	return PROXYPROTO_DONE;
}

/* After the signature (LEN > 12): version/command, family, length,
 * addresses, TLVs, each refused as soon as it has arrived and is wrong. */
static enum proxyproto_result v2_parse(const unsigned char *buf, size_t len,
				       struct proxyproto_header *h, const char **err)
{
	enum proxyproto_result r;
	size_t total, tlv_off;
	unsigned char cmd;
	long need = 0;

	if ((buf[12] & 0xf0) != V2_VERSION)
		return fail(err, "unsupported v2 version");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(err, "bad v2 command");
	if (len <= 13)
		return PROXYPROTO_INCOMPLETE;
	/* LOCAL: "discard the protocol block including the family". */
	if (cmd == V2_CMD_PROXY && (need = v2_family_addr_len(buf[13], err)) < 0)
		return PROXYPROTO_ERROR;
	if (len < V2_HDR_LEN)
		return PROXYPROTO_INCOMPLETE;
	total = V2_HDR_LEN + v2_get16(buf + 14);
	if (total > PROXYPROTO_PARSE_MAX)
		return fail(err, "v2 header too large");
	if (total - V2_HDR_LEN < (size_t)need)
		return fail(err, "v2 address block too short");
	/* Under LOCAL or UNSPEC the block is opaque: where addresses would
	 * end, and so where TLVs would start, is unknown. */
	tlv_off = cmd == V2_CMD_LOCAL || need == 0 ? total : V2_HDR_LEN + (size_t)need;
	r = v2_check_tlvs(buf, len, tlv_off, total, err);
	if (r != PROXYPROTO_DONE)
		return r;
	if (cmd == V2_CMD_LOCAL) {
		h->has_addr = false;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
	} else if (v2_fill_addrs(buf, h, err) != PROXYPROTO_DONE) {
		return PROXYPROTO_ERROR;
	}
	h->len = total;
	h->version = 2;
	return PROXYPROTO_DONE;
}

/* True when BUF[0..LEN) agrees with the first bytes of SIG[0..N). */
static bool starts_like(const unsigned char *buf, size_t len, const void *sig, size_t n)
{
	return memcmp(buf, sig, len < n ? len : n) == 0;
}

static enum proxyproto_result parse(const unsigned char *buf, size_t len,
				    struct proxyproto_header *h, const char **err)
{
	/* "P" and "\r" differ, so the first byte picks the version. */
	if (len == 0)
		return PROXYPROTO_INCOMPLETE;
	if (starts_like(buf, len, V1_PREFIX, V1_PREFIX_LEN))
		return len <= V1_PREFIX_LEN ? PROXYPROTO_INCOMPLETE : v1_parse(buf, len, h, err);
	if (starts_like(buf, len, v2_sig, V2_SIG_LEN))
		return len <= V2_SIG_LEN ? PROXYPROTO_INCOMPLETE : v2_parse(buf, len, h, err);
	return fail(err, "not a PROXY protocol header");
}

enum proxyproto_result proxyproto_parse(const unsigned char *buf, size_t len,
					struct proxyproto_header *h, const char **err)
{
	struct proxyproto_header tmp;
	enum proxyproto_result r = parse(buf, len, &tmp, err);

	/* The helpers fill fields as they go; the caller's *h only changes
	 * with a whole header. */
	if (r == PROXYPROTO_DONE)
		*h = tmp;
	return r;
}
