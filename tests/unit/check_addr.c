/* check_addr.c — addresses as users write them (addr.h) and durations
 * (config_parse_duration): what is accepted, what it means, and the exact
 * message for each way of getting it wrong. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "addr.h"
#include "config.h"

/* TEXT parses, and formats back as WANT. */
static void check_parse_format(const char *text, const char *want)
{
	char buf[ADDR_STRLEN];
	const char *err = NULL;
	struct addr a;

	ck_assert_msg(addr_parse(text, &a, &err) == 0, "%s: %s", text, err);
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), want);
}

/* TEXT is refused with exactly WANT. */
static void check_parse_error(const char *text, const char *want)
{
	const char *err = NULL;
	struct addr a;

	ck_assert_msg(addr_parse(text, &a, &err) == -1, "%s was accepted", text);
	ck_assert_str_eq(err, want);
}

START_TEST(ipv4_literal_parses_to_inet_and_formats_back)
{
	struct addr a;
	const char *err;

	ck_assert_int_eq(addr_parse("10.1.2.3:80", &a, &err), 0);
	ck_assert_int_eq(a.u.sa.sa_family, AF_INET);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohs(a.u.sin.sin_port), 80);
	check_parse_format("10.1.2.3:80", "10.1.2.3:80");
	check_parse_format("0.0.0.0:65535", "0.0.0.0:65535");
}
END_TEST

START_TEST(star_means_every_ipv4_address)
{
	check_parse_format("*:8080", "0.0.0.0:8080");
}
END_TEST

START_TEST(bracketed_ipv6_parses_to_inet6_and_formats_back)
{
	struct addr a;
	const char *err;

	ck_assert_int_eq(addr_parse("[::1]:443", &a, &err), 0);
	ck_assert_int_eq(a.u.sa.sa_family, AF_INET6);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(ntohs(a.u.sin6.sin6_port), 443);
	check_parse_format("[::1]:443", "[::1]:443");
	check_parse_format("[::]:8080", "[::]:8080");
	check_parse_format("[2001:db8::10]:1", "[2001:db8::10]:1");
	/* A link-local address needs its interface; kept by number. */
	check_parse_format("[fe80::1%1]:80", "[fe80::1%1]:80");
}
END_TEST

START_TEST(unix_path_fills_sun_path_with_its_exact_length)
{
	struct addr a;
	const char *err;

	ck_assert_int_eq(addr_parse("unix:/run/netpolld/web.sock", &a, &err), 0);
	ck_assert_int_eq(a.u.sa.sa_family, AF_UNIX);
	ck_assert_str_eq(a.u.sun.sun_path, "/run/netpolld/web.sock");
	ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) +
				 strlen("/run/netpolld/web.sock") + 1);
	check_parse_format("unix:/run/netpolld/web.sock", "unix:/run/netpolld/web.sock");
}
END_TEST

START_TEST(unix_path_of_the_largest_size_fits)
{
	char text[sizeof(((struct sockaddr_un *)0)->sun_path) + 8] = "unix:/";
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	memset(text + 6, 'a', max - 1);
	text[5 + max] = '\0';
	check_parse_format(text, text);
}
END_TEST

START_TEST(localhost_resolves_to_a_loopback_address)
{
	char buf[ADDR_STRLEN];
	const char *err = NULL;
	struct addr a;

	ck_assert_msg(addr_parse("localhost:8000", &a, &err) == 0, "%s", err);
	addr_format(&a, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, "127.0.0.1:8000") == 0 || strcmp(buf, "[::1]:8000") == 0,
		      "localhost became %s", buf);
}
END_TEST

START_TEST(unresolvable_host_is_an_error)
{
	const char *err = NULL;
	struct addr a;

	/* RFC 6761: .invalid never resolves. The text is the resolver's. */
	ck_assert_int_eq(addr_parse("no-such-host.invalid:80", &a, &err), -1);
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(missing_port_is_an_error)
{
	check_parse_error("10.0.0.1", "missing port (HOST:PORT)");
	check_parse_error("10.0.0.1:", "missing port (HOST:PORT)");
	check_parse_error("localhost", "missing port (HOST:PORT)");
	check_parse_error("[::1]", "missing port after ']' ([IPv6]:PORT)");
	check_parse_error("[::1]:", "missing port (HOST:PORT)");
}
END_TEST

START_TEST(port_outside_1_to_65535_is_an_error)
{
	check_parse_error("10.0.0.1:0", "port must be 1-65535");
	check_parse_error("10.0.0.1:65536", "port must be 1-65535");
	check_parse_error("10.0.0.1:99999", "port must be 1-65535");
	check_parse_error("10.0.0.1:99999999999999999999999", "port must be 1-65535");
}
END_TEST

START_TEST(port_that_is_not_plain_decimal_is_an_error)
{
	check_parse_error("10.0.0.1:80a", "port must be a decimal number");
	check_parse_error("10.0.0.1:+80", "port must be a decimal number");
	check_parse_error("10.0.0.1:-1", "port must be a decimal number");
	check_parse_error("10.0.0.1: 80", "port must be a decimal number");
	check_parse_error("10.0.0.1:http", "port must be a decimal number");
}
END_TEST

START_TEST(bad_ipv6_literal_is_an_error)
{
	check_parse_error("[zz::1]:80", "bad IPv6 address");
	check_parse_error("[1.2.3.4]:80", "bad IPv6 address");
	check_parse_error("[]:80", "bad IPv6 address");
	check_parse_error("[::1:80", "missing ']' after IPv6 address");
	check_parse_error("[::1]80", "missing port after ']' ([IPv6]:PORT)");
}
END_TEST

START_TEST(unbracketed_ipv6_asks_for_brackets)
{
	check_parse_error("::1:80", "IPv6 addresses need brackets: [::1]:80");
	check_parse_error("2001:db8::1:443", "IPv6 addresses need brackets: [::1]:80");
}
END_TEST

START_TEST(bad_ipv4_literal_is_an_error_not_a_shorthand)
{
	/* inet_aton() would read "10.1" as 10.0.0.1. */
	check_parse_error("10.1:80", "bad IPv4 address");
	check_parse_error("256.1.1.1:80", "bad IPv4 address");
	/* Nor hex, octal or one big number: found by fuzz_addr. */
	check_parse_error("0x7f.1:80", "bad IPv4 address");
	check_parse_error("0x0a000001:80", "bad IPv4 address");
	check_parse_error("2130706433:80", "bad IPv4 address");
	check_parse_error("0177.0.0.1:80", "bad IPv4 address");
}
END_TEST

START_TEST(empty_address_or_host_is_an_error)
{
	check_parse_error("", "empty address");
	check_parse_error(":80", "missing host (use *:PORT for any address)");
}
END_TEST

START_TEST(empty_unix_path_is_an_error)
{
	check_parse_error("unix:", "unix socket path is empty");
}
END_TEST

START_TEST(too_long_unix_path_is_an_error)
{
	char text[sizeof(((struct sockaddr_un *)0)->sun_path) + 16] = "unix:/";
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	/* One byte more than sun_path can hold with its NUL. */
	memset(text + 6, 'a', max);
	text[6 + max] = '\0';
	check_parse_error(text, "unix socket path is too long");
}
END_TEST

START_TEST(format_of_accepted_unix_peer_without_path_is_bare_unix)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	/* What accept() fills in for an unbound client socket. */
	memset(&a, 0, sizeof(a));
	a.u.sun.sun_family = AF_UNIX;
	a.len = sizeof(sa_family_t);
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "unix:");
}
END_TEST

START_TEST(format_of_unix_path_without_nul_uses_the_length)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	memset(&a, 'x', sizeof(a));
	a.u.sun.sun_family = AF_UNIX;
	memcpy(a.u.sun.sun_path, "/tmp/s", 6);
	a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "unix:/tmp/s");
}
END_TEST

START_TEST(format_of_abstract_unix_address_uses_at_sign)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.sun.sun_family = AF_UNIX;
	memcpy(a.u.sun.sun_path, "\0np", 3);
	a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 3);
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "unix:@np");
}
END_TEST

START_TEST(format_truncates_to_the_buffer_and_terminates)
{
	char buf[5];
	struct addr a;
	const char *err;

	ck_assert_int_eq(addr_parse("10.1.2.3:80", &a, &err), 0);
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "10.1");
}
END_TEST

START_TEST(equal_compares_family_address_and_port)
{
	struct addr a, b;
	const char *err;

	addr_parse("10.0.0.1:80", &a, &err);
	addr_parse("10.0.0.1:80", &b, &err);
	ck_assert(addr_equal(&a, &b));
	addr_parse("10.0.0.1:81", &b, &err);
	ck_assert(!addr_equal(&a, &b));
	addr_parse("10.0.0.2:80", &b, &err);
	ck_assert(!addr_equal(&a, &b));
	addr_parse("[::ffff:10.0.0.1]:80", &b, &err);
	ck_assert(!addr_equal(&a, &b));
	addr_parse("*:80", &a, &err);
	addr_parse("0.0.0.0:80", &b, &err);
	ck_assert(addr_equal(&a, &b));
	addr_parse("[::1]:80", &a, &err);
	addr_parse("[0:0::1]:80", &b, &err);
	ck_assert(addr_equal(&a, &b));
	addr_parse("[::1]:81", &b, &err);
	ck_assert(!addr_equal(&a, &b));
}
END_TEST

START_TEST(equal_compares_unix_paths_whatever_the_length_field)
{
	struct addr a, b;
	const char *err;

	addr_parse("unix:/tmp/a.sock", &a, &err);
	addr_parse("unix:/tmp/a.sock", &b, &err);
	ck_assert(addr_equal(&a, &b));
	b.len--;                        /* as getsockname() may report it: no NUL */
	ck_assert(addr_equal(&a, &b));
	addr_parse("unix:/tmp/b.sock", &b, &err);
	ck_assert(!addr_equal(&a, &b));
	addr_parse("unix:/tmp/a.sock.2", &b, &err);
	ck_assert(!addr_equal(&a, &b));
}
END_TEST

/* TEXT is a duration of WANT milliseconds. */
static void check_duration(const char *text, uint64_t want)
{
	const char *err = NULL;
	uint64_t ms = 0;

	ck_assert_msg(config_parse_duration(text, &ms, &err) == 0, "%s: %s", text, err);
	ck_assert_msg(ms == want, "%s: got %llu ms, want %llu", text, (unsigned long long)ms,
		      (unsigned long long)want);
}

static void check_duration_error(const char *text, const char *want)
{
	const char *err = NULL;
	uint64_t ms = 0;

	ck_assert_msg(config_parse_duration(text, &ms, &err) == -1, "%s was accepted", text);
	ck_assert_str_eq(err, want);
}

START_TEST(duration_units_are_ms_s_m_h)
{
	check_duration("250ms", 250);
	check_duration("5s", 5000);
	check_duration("10m", 600000);
	check_duration("1h", 3600000);
	check_duration("0s", 0);
	check_duration("007s", 7000);
}
END_TEST

START_TEST(duration_parts_add_up_largest_first)
{
	check_duration("1m30s", 90000);
	check_duration("1h2m3s4ms", 3723004);
	check_duration("2h500ms", 7200500);
}
END_TEST

START_TEST(duration_up_to_uint32_milliseconds_is_accepted)
{
	check_duration("4294967295ms", UINT32_MAX);
	check_duration("1193h", 1193ull * 3600000);
}
END_TEST

START_TEST(duration_that_does_not_fit_uint32_milliseconds_is_too_large)
{
	const char *want = "too large (the maximum is about 49 days)";

	check_duration_error("4294967296ms", want);
	check_duration_error("1194h", want);
	check_duration_error("1193h3m", want);   /* 4294980000 */
	check_duration_error("99999999999999999999999s", want);
}
END_TEST

START_TEST(duration_empty_or_negative_is_an_error)
{
	check_duration_error("", "empty duration");
	check_duration_error("-5s", "must not be negative");
}
END_TEST

START_TEST(duration_without_a_known_unit_is_an_error)
{
	check_duration_error("5", "missing unit (use ms, s, m, h)");
	check_duration_error("5 s", "missing unit (use ms, s, m, h)");
	check_duration_error("5x", "unknown unit (use ms, s, m, h)");
	check_duration_error("5S", "unknown unit (use ms, s, m, h)");
	check_duration_error("5sec", "unknown unit (use ms, s, m, h)");
	check_duration_error("1d", "unknown unit (use ms, s, m, h)");
}
END_TEST

START_TEST(duration_malformed_is_an_error)
{
	check_duration_error("s", "expected a number and a unit, such as \"5s\"");
	check_duration_error("+5s", "expected a number and a unit, such as \"5s\"");
	check_duration_error(" 5s", "expected a number and a unit, such as \"5s\"");
	check_duration_error("5s ", "expected a number and a unit, such as \"5s\"");
	check_duration_error("1.5s", "no fractions (write \"1500ms\", not \"1.5s\")");
}
END_TEST

START_TEST(duration_parts_out_of_order_or_repeated_are_an_error)
{
	const char *want = "units must go from largest to smallest, each once (e.g. \"1m30s\")";

	check_duration_error("30s1m", want);
	check_duration_error("1s1s", want);
	check_duration_error("500ms1s", want);
}
END_TEST

static Suite *addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("parse");
	TCase *dns = tcase_create("resolver");
	TCase *fmt = tcase_create("format");
	TCase *dur = tcase_create("duration");

	tcase_add_test(tc, ipv4_literal_parses_to_inet_and_formats_back);
	tcase_add_test(tc, star_means_every_ipv4_address);
	tcase_add_test(tc, bracketed_ipv6_parses_to_inet6_and_formats_back);
	tcase_add_test(tc, unix_path_fills_sun_path_with_its_exact_length);
	tcase_add_test(tc, unix_path_of_the_largest_size_fits);
	tcase_add_test(tc, missing_port_is_an_error);
	tcase_add_test(tc, port_outside_1_to_65535_is_an_error);
	tcase_add_test(tc, port_that_is_not_plain_decimal_is_an_error);
	tcase_add_test(tc, bad_ipv6_literal_is_an_error);
	tcase_add_test(tc, unbracketed_ipv6_asks_for_brackets);
	tcase_add_test(tc, bad_ipv4_literal_is_an_error_not_a_shorthand);
	tcase_add_test(tc, empty_address_or_host_is_an_error);
	tcase_add_test(tc, empty_unix_path_is_an_error);
	tcase_add_test(tc, too_long_unix_path_is_an_error);
	suite_add_tcase(s, tc);

	/* A resolver without a reachable DNS server may take its timeouts. */
	tcase_set_timeout(dns, 30);
	tcase_add_test(dns, localhost_resolves_to_a_loopback_address);
	tcase_add_test(dns, unresolvable_host_is_an_error);
	suite_add_tcase(s, dns);

	tcase_add_test(fmt, format_of_accepted_unix_peer_without_path_is_bare_unix);
	tcase_add_test(fmt, format_of_unix_path_without_nul_uses_the_length);
	tcase_add_test(fmt, format_of_abstract_unix_address_uses_at_sign);
	tcase_add_test(fmt, format_truncates_to_the_buffer_and_terminates);
	tcase_add_test(fmt, equal_compares_family_address_and_port);
	tcase_add_test(fmt, equal_compares_unix_paths_whatever_the_length_field);
	suite_add_tcase(s, fmt);

	tcase_add_test(dur, duration_units_are_ms_s_m_h);
	tcase_add_test(dur, duration_parts_add_up_largest_first);
	tcase_add_test(dur, duration_up_to_uint32_milliseconds_is_accepted);
	tcase_add_test(dur, duration_that_does_not_fit_uint32_milliseconds_is_too_large);
	tcase_add_test(dur, duration_empty_or_negative_is_an_error);
	tcase_add_test(dur, duration_without_a_known_unit_is_an_error);
	tcase_add_test(dur, duration_malformed_is_an_error);
	tcase_add_test(dur, duration_parts_out_of_order_or_repeated_are_an_error);
	suite_add_tcase(s, dur);
	return s;
}

int main(void)
{
	return check_run(addr_suite());
}
