/* check_proxyproto.c — PROXY protocol headers (proxyproto.h): the exact
 * bytes we send, what we accept from a header however it is split across
 * reads, and the message for each way a header can be wrong. */
#include <arpa/inet.h>
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "proxyproto.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define SIG_BYTES 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A

/* What a client may send right after its header. */
#define PAYLOAD "GET / HTTP/1.1\r\n\r\n"

static struct addr ip4(const char *ip, unsigned port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.sin.sin_family = AF_INET;
	a.len = sizeof(a.u.sin);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.u.sin.sin_addr), 1);
	a.u.sin.sin_port = htons((in_port_t)port);
	return a;
}

static struct addr ip6(const char *ip, unsigned port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.sin6.sin6_family = AF_INET6;
	a.len = sizeof(a.u.sin6);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.u.sin6.sin6_addr), 1);
	a.u.sin6.sin6_port = htons((in_port_t)port);
	return a;
}

static struct addr unix_peer(const char *path)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.sun.sun_family = AF_UNIX;
	strcpy(a.u.sun.sun_path, path);
	a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	return a;
}

/* Parses BUF[0..LEN) from a heap copy of exactly LEN bytes, so that under
 * AddressSanitizer (make check-asan) reading past LEN is caught. */
static enum proxyproto_result parse_exact(const void *buf, size_t len,
					  struct proxyproto_header *h, const char **err)
{
	unsigned char *copy = malloc(len ? len : 1);
	enum proxyproto_result r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	r = proxyproto_parse(copy, len, h, err);
	free(copy);
	return r;
}

/* HDR is a whole header of HLEN bytes: every shorter prefix waits for
 * more, and with a payload behind it the header ends exactly at HLEN
 * (the payload is left alone, even when it looks like another header). */
static struct proxyproto_header check_valid(const void *hdr, size_t hlen)
{
	unsigned char *buf = malloc(hlen + sizeof(PAYLOAD) + hlen);
	struct proxyproto_header h;
	const char *err = NULL;

	ck_assert_ptr_nonnull(buf);
	for (size_t n = 0; n < hlen; n++)
		ck_assert_msg(parse_exact(hdr, n, &h, &err) == PROXYPROTO_INCOMPLETE,
			      "prefix of %zu/%zu bytes not INCOMPLETE (%s)", n, hlen,
			      err ? err : "");
	memcpy(buf, hdr, hlen);
	memcpy(buf + hlen, PAYLOAD, sizeof(PAYLOAD) - 1);
	memcpy(buf + hlen + sizeof(PAYLOAD) - 1, hdr, hlen);
	ck_assert_int_eq(parse_exact(buf, hlen + sizeof(PAYLOAD) - 1 + hlen, &h, &err),
			 PROXYPROTO_DONE);
	ck_assert_uint_eq(h.len, hlen);
	ck_assert_mem_eq(buf + hlen, PAYLOAD, sizeof(PAYLOAD) - 1);
	free(buf);
	ck_assert_int_eq(parse_exact(hdr, hlen, &h, &err), PROXYPROTO_DONE);
	ck_assert_uint_eq(h.len, hlen);
	return h;
}

static struct proxyproto_header check_valid_str(const char *line)
{
	return check_valid(line, strlen(line));
}

/* BUF[0..LEN) is refused with WANT, and already when only its first
 * AT bytes have arrived; shorter prefixes still wait. */
static void check_error_at(const void *buf, size_t len, size_t at, const char *want)
{
	struct proxyproto_header h;
	const char *err = NULL;

	ck_assert_int_eq(parse_exact(buf, len, &h, &err), PROXYPROTO_ERROR);
	ck_assert_str_eq(err, want);
	for (size_t n = 0; n < at; n++)
		ck_assert_msg(parse_exact(buf, n, &h, &err) == PROXYPROTO_INCOMPLETE,
			      "refused after %zu bytes, expected %zu", n, at);
	err = NULL;
	ck_assert_int_eq(parse_exact(buf, at, &h, &err), PROXYPROTO_ERROR);
	ck_assert_str_eq(err, want);
}

/* LINE is refused with WANT once it has arrived whole. */
static void check_error_str(const char *line, const char *want)
{
	struct proxyproto_header h;
	const char *err = NULL;

	ck_assert_msg(parse_exact(line, strlen(line), &h, &err) == PROXYPROTO_ERROR,
		      "accepted: %s", line);
	ck_assert_msg(strcmp(err, want) == 0, "%s: got \"%s\", want \"%s\"", line, err, want);
}

static void check_addr_eq(const struct addr *got, const struct addr *want)
{
	ck_assert_uint_eq(got->len, want->len);
	ck_assert(addr_equal(got, want));
}

/* ---- encoding ---- */

START_TEST(v1_encodes_tcp4_as_the_spec_example)
{
	char buf[PROXYPROTO_V1_MAX];
	struct addr src = ip4("192.168.0.1", 56324), dst = ip4("192.168.0.11", 443);
	const char *want = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";

	ck_assert_uint_eq(proxyproto_v1_encode(buf, &src, &dst), strlen(want));
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(v1_encodes_tcp4_port_bounds)
{
	char buf[PROXYPROTO_V1_MAX];
	struct addr src = ip4("255.255.255.255", 65535), dst = ip4("0.0.0.0", 0);
	const char *want = "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n";

	ck_assert_uint_eq(proxyproto_v1_encode(buf, &src, &dst), strlen(want));
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(v1_encodes_tcp6_in_compressed_text)
{
	char buf[PROXYPROTO_V1_MAX];
	struct addr src = ip6("2001:0db8:0000:0000:0000:0000:0000:0001", 40000);
	struct addr dst = ip6("fe80:0000:0000:0000:0204:61ff:fe9d:f156", 8443);
	const char *want = "PROXY TCP6 2001:db8::1 fe80::204:61ff:fe9d:f156 40000 8443\r\n";

	ck_assert_uint_eq(proxyproto_v1_encode(buf, &src, &dst), strlen(want));
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(v1_encodes_longest_tcp6_line_within_its_buffer)
{
	char buf[PROXYPROTO_V1_MAX];
	struct addr a = ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	const char *want = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

	ck_assert_uint_eq(strlen(want), 104);
	ck_assert_uint_eq(proxyproto_v1_encode(buf, &a, &a), 104);
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(v1_encodes_unix_and_mixed_clients_as_unknown)
{
	char buf[PROXYPROTO_V1_MAX];
	struct addr u = unix_peer("/run/app.sock"), v4 = ip4("10.0.0.1", 1), v6 = ip6("::1", 2);

	ck_assert_uint_eq(proxyproto_v1_encode(buf, &u, &u), 15);
	ck_assert_str_eq(buf, "PROXY UNKNOWN\r\n");
	ck_assert_uint_eq(proxyproto_v1_encode(buf, &v4, &v6), 15);
	ck_assert_str_eq(buf, "PROXY UNKNOWN\r\n");
	ck_assert_uint_eq(proxyproto_v1_encode(buf, &v6, &v4), 15);
	ck_assert_str_eq(buf, "PROXY UNKNOWN\r\n");
}
END_TEST

START_TEST(v2_encodes_tcp4_byte_for_byte)
{
	static const unsigned char want[] = {
		SIG_BYTES,
		0x21,                           /* v2, PROXY */
		0x11,                           /* TCP over IPv4 */
		0x00, 0x0C,                     /* 12 address bytes */
		0xC0, 0xA8, 0x00, 0x01,         /* 192.168.0.1 */
		0xC0, 0xA8, 0x00, 0x0B,         /* 192.168.0.11 */
		0xDC, 0x04,                     /* 56324 */
		0x01, 0xBB,                     /* 443 */
	};
	unsigned char buf[PROXYPROTO_V2_MAX];
	struct addr src = ip4("192.168.0.1", 56324), dst = ip4("192.168.0.11", 443);

	ck_assert_uint_eq(proxyproto_v2_encode(buf, &src, &dst), sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

START_TEST(v2_encodes_tcp6_byte_for_byte)
{
	static const unsigned char want[] = {
		SIG_BYTES,
		0x21,                           /* v2, PROXY */
		0x21,                           /* TCP over IPv6 */
		0x00, 0x24,                     /* 36 address bytes */
		0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00,     /* 2001:db8::1 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
		0xFE, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* fe80::204:61ff:fe9d:f156 */
		0x02, 0x04, 0x61, 0xFF, 0xFE, 0x9D, 0xF1, 0x56,
		0x9C, 0x40,                     /* 40000 */
		0x20, 0xFB,                     /* 8443 */
	};
	unsigned char buf[PROXYPROTO_V2_MAX];
	struct addr src = ip6("2001:db8::1", 40000), dst = ip6("fe80::204:61ff:fe9d:f156", 8443);

	ck_assert_uint_eq(sizeof(want), PROXYPROTO_V2_MAX);
	ck_assert_uint_eq(proxyproto_v2_encode(buf, &src, &dst), sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

START_TEST(v2_encodes_unix_and_mixed_clients_as_local_unspec)
{
	static const unsigned char want[] = {
		SIG_BYTES,
		0x20,                           /* v2, LOCAL */
		0x00,                           /* UNSPEC */
		0x00, 0x00,                     /* no address block */
	};
	unsigned char buf[PROXYPROTO_V2_MAX];
	struct addr u = unix_peer("/run/app.sock"), v4 = ip4("10.0.0.1", 1), v6 = ip6("::1", 2);

	ck_assert_uint_eq(proxyproto_v2_encode(buf, &u, &u), 16);
	ck_assert_mem_eq(buf, want, sizeof(want));
	memset(buf, 0xAA, sizeof(buf));
	ck_assert_uint_eq(proxyproto_v2_encode(buf, &v4, &v6), 16);
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

/* ---- parsing v1 ---- */

START_TEST(v1_tcp4_line_gives_its_addresses)
{
	struct proxyproto_header h =
		check_valid_str("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	struct addr src = ip4("192.168.0.1", 56324), dst = ip4("192.168.0.11", 443);

	ck_assert_int_eq(h.version, 1);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v1_tcp4_takes_port_bounds_and_longest_addresses)
{
	struct proxyproto_header h =
		check_valid_str("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
	struct addr src = ip4("255.255.255.255", 65535), dst = ip4("0.0.0.0", 0);

	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v1_tcp6_line_gives_its_addresses)
{
	struct proxyproto_header h =
		check_valid_str("PROXY TCP6 2001:db8::1 FE80:0:0:0:204:61ff:fe9d:f156 40000 8443\r\n");
	struct addr src = ip6("2001:db8::1", 40000), dst = ip6("fe80::204:61ff:fe9d:f156", 8443);

	ck_assert_int_eq(h.version, 1);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v1_tcp6_longest_line_is_accepted)
{
	struct proxyproto_header h = check_valid_str(
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");

	ck_assert_uint_eq(h.len, 104);
}
END_TEST

START_TEST(v1_unknown_keeps_the_connection_addresses)
{
	struct proxyproto_header h = check_valid_str("PROXY UNKNOWN\r\n");

	ck_assert_int_eq(h.version, 1);
	ck_assert(!h.has_addr);
	ck_assert_uint_eq(h.len, 15);
	/* The rest of an UNKNOWN line is ignored, whatever it says. */
	h = check_valid_str("PROXY UNKNOWN ffff:f...f:ffff junk  with  spaces 65535 99999\r\n");
	ck_assert(!h.has_addr);
}
END_TEST

START_TEST(v1_unknown_line_of_107_bytes_is_the_longest_accepted)
{
	char line[200] = "PROXY UNKNOWN ";
	size_t pre = strlen(line);
	struct proxyproto_header h;

	memset(line + pre, 'f', 105 - pre);
	memcpy(line + 105, "\r\n", 3);
	ck_assert_uint_eq(strlen(line), 107);
	h = check_valid_str(line);
	ck_assert_uint_eq(h.len, 107);

	memset(line + pre, 'f', 106 - pre);
	memcpy(line + 106, "\r\n", 3);
	ck_assert_uint_eq(strlen(line), 108);
	check_error_at(line, strlen(line), 106, "v1 line too long");
}
END_TEST

START_TEST(v1_without_crlf_in_107_bytes_is_refused)
{
	char line[300] = "PROXY UNKNOWN ";
	size_t pre = strlen(line);

	memset(line + pre, 'a', 200);
	line[pre + 200] = '\0';
	check_error_at(line, strlen(line), 106, "v1 line too long");
}
END_TEST

START_TEST(v1_ipv4_mapped_ipv6_text_is_taken_as_inet_pton_does)
{
	struct proxyproto_header h =
		check_valid_str("PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n");
	struct addr src = ip6("::ffff:10.0.0.1", 1);

	check_addr_eq(&h.src, &src);
}
END_TEST

START_TEST(v1_truncated_lines_wait_for_more)
{
	struct proxyproto_header h;
	const char *err = NULL;
	static const char *const partial[] = {
		"", "P", "PROX", "PROXY ", "PROXY T", "PROXY TCP4", "PROXY TCP4 ",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
		"PROXY UNKNOWN", "PROXY UNKNOWN anything",
	};

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		ck_assert_msg(parse_exact(partial[i], strlen(partial[i]), &h, &err) ==
				      PROXYPROTO_INCOMPLETE,
			      "\"%s\" not INCOMPLETE", partial[i]);
}
END_TEST

START_TEST(v1_unknown_protocol_is_refused_early)
{
	const char *line = "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n";

	check_error_at(line, strlen(line), 10, "bad v1 protocol");
	check_error_str("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 protocol");
	check_error_str("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 protocol");
	check_error_str("PROXY UNKNOWNX\r\n", "bad v1 protocol");
	check_error_str("PROXY \r\n", "bad v1 protocol");
	check_error_str("PROXY TCP4\r\n", "v1 line has too few fields");
}
END_TEST

START_TEST(v1_bad_addresses_are_refused)
{
	const char *want = "bad v1 address";

	check_error_str("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 localhost 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP6 1::2::3 ::1 1 2\r\n", want);
	check_error_str("PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n", want);
	check_error_str("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", want);
}
END_TEST

START_TEST(v1_address_of_the_other_family_is_refused_at_its_first_wrong_byte)
{
	const char *line = "PROXY TCP4 ::1 ::1 1 2\r\n";

	check_error_at(line, strlen(line), 12, "bad v1 address");
	line = "PROXY TCP6 ::1 1.2.3.4 1 2\r\n";
	check_error_str(line, "bad v1 address");
	line = "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n";
	check_error_at(line, strlen(line), 13, "bad v1 address");
}
END_TEST

START_TEST(v1_bad_ports_are_refused)
{
	const char *want = "bad v1 port";
	const char *line = "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n";

	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 999999\r\n", want);
	/* A leading zero is wrong as soon as a digit follows it. */
	check_error_at(line, strlen(line), 29, want);
}
END_TEST

START_TEST(v1_spacing_other_than_single_spaces_is_refused)
{
	const char *want = "v1 fields need exactly one space between them";

	check_error_str("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", want);
	check_error_str("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "bad v1 address");
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "v1 line has too many fields");
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "v1 line has too many fields");
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1 line has too few fields");
}
END_TEST

START_TEST(v1_line_must_end_in_crlf)
{
	const char *want = "v1 line must end in CRLF";
	const char *line = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n";

	check_error_at(line, strlen(line), strlen(line), want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", want);
	check_error_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", want);
	check_error_str("PROXY UNKNOWN\n", want);
	check_error_str("PROXY UNKNOWN a\nb\r\n", want);
}
END_TEST

/* ---- parsing v2 ---- */

START_TEST(v2_proxy_tcp4_gives_its_addresses)
{
	static const unsigned char hdr[] = {
		SIG_BYTES, 0x21, 0x11, 0x00, 0x0C,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50,
	};
	struct proxyproto_header h = check_valid(hdr, sizeof(hdr));
	struct addr src = ip4("10.0.0.1", 12345), dst = ip4("10.0.0.2", 80);

	ck_assert_int_eq(h.version, 2);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v2_proxy_tcp6_gives_its_addresses)
{
	static const unsigned char hdr[] = {
		SIG_BYTES, 0x21, 0x21, 0x00, 0x24,
		0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0xFF, 0xFF, 0x00, 0x00,
	};
	struct proxyproto_header h = check_valid(hdr, sizeof(hdr));
	struct addr src = ip6("2001:db8::1", 65535), dst = ip6("::1", 0);

	ck_assert_int_eq(h.version, 2);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v2_tlvs_after_the_addresses_are_skipped)
{
	static const unsigned char hdr[] = {
		SIG_BYTES, 0x21, 0x11, 0x00, 12 + 3 + 2 + 3 + 0 + 3 + 4,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50,
		0x01, 0x00, 0x02, 'h', '2',             /* ALPN */
		0x04, 0x00, 0x00,                       /* NOOP, empty */
		0x05, 0x00, 0x04, 'a', 'b', 'c', 'd',   /* UNIQUE_ID */
	};
	struct proxyproto_header h = check_valid(hdr, sizeof(hdr));
	struct addr src = ip4("10.0.0.1", 12345);

	ck_assert_uint_eq(h.len, sizeof(hdr));
	check_addr_eq(&h.src, &src);
}
END_TEST

START_TEST(v2_tcp6_with_tlvs_is_accepted)
{
	unsigned char hdr[16 + 36 + 3 + 200];
	struct proxyproto_header h;
	struct addr src = ip6("2001:db8::1", 1), dst = ip6("2001:db8::2", 2);

	ck_assert_uint_eq(proxyproto_v2_encode(hdr, &src, &dst), 52);
	hdr[14] = 0x00;
	hdr[15] = 36 + 3 + 200;
	hdr[52] = 0x20;                         /* SSL, its value opaque to us */
	hdr[53] = 0x00;
	hdr[54] = 200;
	memset(hdr + 55, 0xEE, 200);
	h = check_valid(hdr, sizeof(hdr));
	check_addr_eq(&h.src, &src);
	check_addr_eq(&h.dst, &dst);
}
END_TEST

START_TEST(v2_local_ignores_family_and_addresses)
{
	static const unsigned char bare[] = { SIG_BYTES, 0x20, 0x00, 0x00, 0x00 };
	/* "Receivers MUST always consider this field to skip the appropriate
	 * number of bytes and must not assume zero is presented for LOCAL". */
	static const unsigned char with_block[] = {
		SIG_BYTES, 0x20, 0x11, 0x00, 0x0E,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50, 0xFF, 0xFF,
	};
	/* "discard the protocol block including the family which is ignored" */
	static const unsigned char odd_family[] = { SIG_BYTES, 0x20, 0x12, 0x00, 0x01, 0x99 };
	struct proxyproto_header h = check_valid(bare, sizeof(bare));

	ck_assert_int_eq(h.version, 2);
	ck_assert(!h.has_addr);
	ck_assert_uint_eq(h.len, 16);
	h = check_valid(with_block, sizeof(with_block));
	ck_assert(!h.has_addr);
	ck_assert_uint_eq(h.len, sizeof(with_block));
	h = check_valid(odd_family, sizeof(odd_family));
	ck_assert(!h.has_addr);
}
END_TEST

START_TEST(v2_proxy_unspec_keeps_the_connection_addresses)
{
	static const unsigned char bare[] = { SIG_BYTES, 0x21, 0x00, 0x00, 0x00 };
	/* The block of an UNSPEC header is opaque: no TLV framing to check. */
	static const unsigned char block[] = { SIG_BYTES, 0x21, 0x00, 0x00, 0x02, 0xAB, 0xCD };
	struct proxyproto_header h = check_valid(bare, sizeof(bare));

	ck_assert(!h.has_addr);
	ck_assert_int_eq(h.version, 2);
	h = check_valid(block, sizeof(block));
	ck_assert(!h.has_addr);
	ck_assert_uint_eq(h.len, 18);
}
END_TEST

START_TEST(v2_proxy_unix_gives_its_paths)
{
	unsigned char hdr[16 + 216];
	const char *path = "/run/client.sock";
	struct proxyproto_header h;
	struct addr want = unix_peer(path);

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, SIG, 12);
	hdr[12] = 0x21;
	hdr[13] = 0x31;
	hdr[14] = 0x00;
	hdr[15] = 216;
	memcpy(hdr + 16, path, strlen(path));
	/* A destination that fills its 108 bytes has no NUL. */
	memset(hdr + 16 + 108, 'd', 108);
	hdr[16 + 108] = '/';
	h = check_valid(hdr, sizeof(hdr));
	ck_assert(h.has_addr);
	ck_assert_int_eq(h.src.u.sa.sa_family, AF_UNIX);
	ck_assert_str_eq(h.src.u.sun.sun_path, path);
	check_addr_eq(&h.src, &want);
	ck_assert_int_eq(h.dst.u.sa.sa_family, AF_UNIX);
	ck_assert_uint_eq(h.dst.len, sizeof(struct sockaddr_un));
	ck_assert_mem_eq(h.dst.u.sun.sun_path, hdr + 16 + 108, 108);
}
END_TEST

START_TEST(v2_proxy_unix_abstract_and_unnamed)
{
	unsigned char hdr[16 + 216];
	struct proxyproto_header h;
	size_t off = offsetof(struct sockaddr_un, sun_path);

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, SIG, 12);
	hdr[12] = 0x21;
	hdr[13] = 0x31;
	hdr[15] = 216;
	memcpy(hdr + 16, "\0abstract", 9);
	h = check_valid(hdr, sizeof(hdr));
	ck_assert_uint_eq(h.src.len, off + 9);
	ck_assert_mem_eq(h.src.u.sun.sun_path, "\0abstract", 9);
	ck_assert_uint_eq(h.dst.len, off);
}
END_TEST

START_TEST(v2_truncated_headers_wait_for_more)
{
	static const unsigned char hdr[] = {
		SIG_BYTES, 0x21, 0x11, 0x00, 0x0C,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39,
	};
	struct proxyproto_header h;
	const char *err;

	for (size_t n = 0; n <= sizeof(hdr); n++)
		ck_assert_int_eq(parse_exact(hdr, n, &h, &err), PROXYPROTO_INCOMPLETE);
}
END_TEST

START_TEST(v2_version_other_than_2_is_refused_at_byte_13)
{
	static const unsigned char v1[] = { SIG_BYTES, 0x11, 0x11, 0x00, 0x00 };
	static const unsigned char v3[] = { SIG_BYTES, 0x31, 0x11, 0x00, 0x00 };
	static const unsigned char v0[] = { SIG_BYTES, 0x01, 0x11, 0x00, 0x00 };

	check_error_at(v1, sizeof(v1), 13, "unsupported v2 version");
	check_error_at(v3, sizeof(v3), 13, "unsupported v2 version");
	check_error_at(v0, sizeof(v0), 13, "unsupported v2 version");
}
END_TEST

START_TEST(v2_command_other_than_local_or_proxy_is_refused)
{
	static const unsigned char c3[] = { SIG_BYTES, 0x23, 0x11, 0x00, 0x0C };
	static const unsigned char cf[] = { SIG_BYTES, 0x2F, 0x00, 0x00, 0x00 };

	check_error_at(c3, sizeof(c3), 13, "bad v2 command");
	check_error_at(cf, sizeof(cf), 13, "bad v2 command");
}
END_TEST

START_TEST(v2_datagram_and_unknown_families_are_refused)
{
	static const unsigned char fams[] = { 0x12, 0x22, 0x32 };
	static const unsigned char bad[] = { 0x01, 0x10, 0x13, 0x41, 0xFF };
	unsigned char hdr[16 + 216] = { SIG_BYTES, 0x21, 0, 0x00, 216 };

	for (size_t i = 0; i < sizeof(fams); i++) {
		hdr[13] = fams[i];
		check_error_at(hdr, sizeof(hdr), 14, "unsupported v2 family (datagram)");
	}
	for (size_t i = 0; i < sizeof(bad); i++) {
		hdr[13] = bad[i];
		check_error_at(hdr, sizeof(hdr), 14, "bad v2 family");
	}
}
END_TEST

START_TEST(v2_header_larger_than_the_limit_is_refused_from_its_length)
{
	static const unsigned char big[] = { SIG_BYTES, 0x21, 0x11, 0x13, 0x88 }; /* 5000 */
	static const unsigned char local[] = { SIG_BYTES, 0x20, 0x00, 0xFF, 0xFF };
	unsigned char max[PROXYPROTO_PARSE_MAX] = { SIG_BYTES, 0x20, 0x00 };
	struct proxyproto_header h;

	check_error_at(big, sizeof(big), 16, "v2 header too large");
	check_error_at(local, sizeof(local), 16, "v2 header too large");
	/* Exactly the limit is still taken. */
	max[14] = (PROXYPROTO_PARSE_MAX - 16) >> 8;
	max[15] = (PROXYPROTO_PARSE_MAX - 16) & 0xff;
	h = check_valid(max, sizeof(max));
	ck_assert_uint_eq(h.len, PROXYPROTO_PARSE_MAX);
}
END_TEST

START_TEST(v2_address_block_shorter_than_its_family_is_refused)
{
	static const unsigned char tcp4[] = { SIG_BYTES, 0x21, 0x11, 0x00, 0x0B };
	static const unsigned char tcp6[] = { SIG_BYTES, 0x21, 0x21, 0x00, 0x23 };
	static const unsigned char unix4[] = { SIG_BYTES, 0x21, 0x31, 0x00, 0x0C };

	check_error_at(tcp4, sizeof(tcp4), 16, "v2 address block too short");
	check_error_at(tcp6, sizeof(tcp6), 16, "v2 address block too short");
	check_error_at(unix4, sizeof(unix4), 16, "v2 address block too short");
}
END_TEST

START_TEST(v2_tlv_overrunning_the_header_is_refused)
{
	/* Two stray bytes after the addresses: too short for a TLV. */
	static const unsigned char stray[] = {
		SIG_BYTES, 0x21, 0x11, 0x00, 0x0E,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50, 0x04, 0x00,
	};
	/* A TLV announcing 16 bytes where 2 are left. */
	static const unsigned char overrun[] = {
		SIG_BYTES, 0x21, 0x11, 0x00, 0x11,
		0x0A, 0x00, 0x00, 0x01, 0x0A, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50,
		0x01, 0x00, 0x10, 'h', '2',
	};

	check_error_at(stray, sizeof(stray), 16, "bad v2 TLV");
	/* Refused once the TLV's length has arrived, not at the header's end. */
	check_error_at(overrun, sizeof(overrun), 31, "bad v2 TLV");
}
END_TEST

/* ---- anything else ---- */

START_TEST(other_protocols_are_refused_at_their_first_byte)
{
	static const unsigned char tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC };
	static const unsigned char almost_sig[] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A,
						    0x51, 0x55, 0x49, 0x54, 0x0B, 0x21 };
	const char *want = "not a PROXY protocol header";

	check_error_at("GET / HTTP/1.1\r\n\r\n", 18, 1, want);
	check_error_at(tls, sizeof(tls), 1, want);
	check_error_at("SSH-2.0-OpenSSH_9.2\r\n", 21, 1, want);
	check_error_at("PROXX TCP4", 10, 5, want);
	check_error_at("PROXY\r\n", 7, 6, want);
	check_error_at("\r\n\r\nX", 5, 5, want);
	check_error_at("\r\nQUIT\r\n", 8, 3, want);
	check_error_at(almost_sig, sizeof(almost_sig), 12, want);
}
END_TEST

START_TEST(header_is_left_alone_until_done)
{
	static const char *const inputs[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY UNKNOWN\r", SIG "\x21\x11\x00\x0C\x0A\x00\x00\x01",
	};
	struct proxyproto_header h, untouched;
	const char *err;

	memset(&untouched, 0xA5, sizeof(untouched));
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = i == 3 ? 12 + 8 : strlen(inputs[i]);

		h = untouched;
		ck_assert_int_ne(proxyproto_parse((const unsigned char *)inputs[i], len, &h, &err),
				 PROXYPROTO_DONE);
		ck_assert_mem_eq(&h, &untouched, sizeof(h));
	}
}
END_TEST

/* ---- both directions ---- */

static void check_round_trip(const struct addr *src, const struct addr *dst)
{
	char line[PROXYPROTO_V1_MAX];
	unsigned char bin[PROXYPROTO_V2_MAX];
	struct proxyproto_header h;
	size_t n;

	n = proxyproto_v1_encode(line, src, dst);
	h = check_valid(line, n);
	ck_assert_int_eq(h.version, 1);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, src);
	check_addr_eq(&h.dst, dst);

	n = proxyproto_v2_encode(bin, src, dst);
	h = check_valid(bin, n);
	ck_assert_int_eq(h.version, 2);
	ck_assert(h.has_addr);
	check_addr_eq(&h.src, src);
	check_addr_eq(&h.dst, dst);
}

START_TEST(what_we_encode_parses_back_to_the_same_addresses)
{
	struct addr a4 = ip4("203.0.113.7", 51000), b4 = ip4("198.51.100.1", 443);
	struct addr a6 = ip6("2001:db8:1:2:3:4:5:6", 0), b6 = ip6("::", 65535);
	struct addr m6 = ip6("::ffff:192.0.2.1", 7), u = unix_peer("/tmp/x");
	char line[PROXYPROTO_V1_MAX];
	unsigned char bin[PROXYPROTO_V2_MAX];
	struct proxyproto_header h;

	check_round_trip(&a4, &b4);
	check_round_trip(&b4, &a4);
	check_round_trip(&a6, &b6);
	check_round_trip(&m6, &a6);

	h = check_valid(line, proxyproto_v1_encode(line, &u, &a4));
	ck_assert(!h.has_addr);
	h = check_valid(bin, proxyproto_v2_encode(bin, &u, &u));
	ck_assert(!h.has_addr);
}
END_TEST

static Suite *proxyproto_suite(void)
{
	Suite *s = suite_create("proxyproto");
	TCase *enc = tcase_create("encode");
	TCase *v1 = tcase_create("parse v1");
	TCase *v2 = tcase_create("parse v2");
	TCase *any = tcase_create("both");

	tcase_add_test(enc, v1_encodes_tcp4_as_the_spec_example);
	tcase_add_test(enc, v1_encodes_tcp4_port_bounds);
	tcase_add_test(enc, v1_encodes_tcp6_in_compressed_text);
	tcase_add_test(enc, v1_encodes_longest_tcp6_line_within_its_buffer);
	tcase_add_test(enc, v1_encodes_unix_and_mixed_clients_as_unknown);
	tcase_add_test(enc, v2_encodes_tcp4_byte_for_byte);
	tcase_add_test(enc, v2_encodes_tcp6_byte_for_byte);
	tcase_add_test(enc, v2_encodes_unix_and_mixed_clients_as_local_unspec);
	suite_add_tcase(s, enc);

	tcase_add_test(v1, v1_tcp4_line_gives_its_addresses);
	tcase_add_test(v1, v1_tcp4_takes_port_bounds_and_longest_addresses);
	tcase_add_test(v1, v1_tcp6_line_gives_its_addresses);
	tcase_add_test(v1, v1_tcp6_longest_line_is_accepted);
	tcase_add_test(v1, v1_unknown_keeps_the_connection_addresses);
	tcase_add_test(v1, v1_unknown_line_of_107_bytes_is_the_longest_accepted);
	tcase_add_test(v1, v1_without_crlf_in_107_bytes_is_refused);
	tcase_add_test(v1, v1_ipv4_mapped_ipv6_text_is_taken_as_inet_pton_does);
	tcase_add_test(v1, v1_truncated_lines_wait_for_more);
	tcase_add_test(v1, v1_unknown_protocol_is_refused_early);
	tcase_add_test(v1, v1_bad_addresses_are_refused);
	tcase_add_test(v1, v1_address_of_the_other_family_is_refused_at_its_first_wrong_byte);
	tcase_add_test(v1, v1_bad_ports_are_refused);
	tcase_add_test(v1, v1_spacing_other_than_single_spaces_is_refused);
	tcase_add_test(v1, v1_line_must_end_in_crlf);
	suite_add_tcase(s, v1);

	tcase_add_test(v2, v2_proxy_tcp4_gives_its_addresses);
	tcase_add_test(v2, v2_proxy_tcp6_gives_its_addresses);
	tcase_add_test(v2, v2_tlvs_after_the_addresses_are_skipped);
	tcase_add_test(v2, v2_tcp6_with_tlvs_is_accepted);
	tcase_add_test(v2, v2_local_ignores_family_and_addresses);
	tcase_add_test(v2, v2_proxy_unspec_keeps_the_connection_addresses);
	tcase_add_test(v2, v2_proxy_unix_gives_its_paths);
	tcase_add_test(v2, v2_proxy_unix_abstract_and_unnamed);
	tcase_add_test(v2, v2_truncated_headers_wait_for_more);
	tcase_add_test(v2, v2_version_other_than_2_is_refused_at_byte_13);
	tcase_add_test(v2, v2_command_other_than_local_or_proxy_is_refused);
	tcase_add_test(v2, v2_datagram_and_unknown_families_are_refused);
	tcase_add_test(v2, v2_header_larger_than_the_limit_is_refused_from_its_length);
	tcase_add_test(v2, v2_address_block_shorter_than_its_family_is_refused);
	tcase_add_test(v2, v2_tlv_overrunning_the_header_is_refused);
	suite_add_tcase(s, v2);

	tcase_add_test(any, other_protocols_are_refused_at_their_first_byte);
	tcase_add_test(any, header_is_left_alone_until_done);
	tcase_add_test(any, what_we_encode_parses_back_to_the_same_addresses);
	suite_add_tcase(s, any);
	return s;
}

int main(void)
{
	return check_run(proxyproto_suite());
}
