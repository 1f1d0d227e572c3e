/* check_acl.c — a listener's allow/deny rules: what acl_parse() takes and
 * refuses, and which clients acl_permits() lets in. IPv4 rules and clients
 * live in the v4-mapped part of one 128-bit space, so a v4 client seen on
 * an IPv6 socket is judged as the v4 client it is. */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "acl.h"
#include "check_run.h"

/* TEXT as a rule; it must parse. */
static struct acl_rule rule(const char *text)
{
	struct acl_rule r;
	const char *err = NULL;

	ck_assert_msg(acl_parse(text, &r, &err) == 0, "%s refused: %s", text, err);
	return r;
}

/* TEXT is refused with exactly WANT. */
static void refused(const char *text, const char *want)
{
	struct acl_rule r;
	const char *err = NULL;

	ck_assert_msg(acl_parse(text, &r, &err) == -1, "%s accepted", text);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strcmp(err, want) == 0, "%s: \"%s\", want \"%s\"", text, err, want);
}

/* An AF_INET client, as accept() gives it on an IPv4 socket. */
static struct addr v4(const char *ip)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.u.sin);
	a.u.sin.sin_family = AF_INET;
	a.u.sin.sin_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.u.sin.sin_addr), 1);
	return a;
}

/* An AF_INET6 client; "::ffff:10.1.2.3" is how an IPv4 client reaching an
 * IPv6 socket appears. */
static struct addr v6(const char *ip)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.u.sin6);
	a.u.sin6.sin6_family = AF_INET6;
	a.u.sin6.sin6_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.u.sin6.sin6_addr), 1);
	return a;
}

static struct addr unix_client(void)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(sa_family_t);      /* unnamed, as accept() reports it */
	a.u.sun.sun_family = AF_UNIX;
	return a;
}

static bool match(const char *net, struct addr a)
{
	struct acl_rule r = rule(net);

	return acl_rule_match(&r, &a);
}

START_TEST(parse_keeps_ipv4_as_v4_mapped_with_prefix_plus_96)
{
	const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0 };
	struct acl_rule r = rule("10.0.0.0/8"), m = rule("::ffff:10.0.0.0/104");

	ck_assert_uint_eq(r.prefix, 104);
	ck_assert(memcmp(r.net, want, 16) == 0);
	/* The same network written as v4-mapped IPv6 is the same rule. */
	ck_assert_uint_eq(m.prefix, 104);
	ck_assert(memcmp(m.net, want, 16) == 0);
	ck_assert_uint_eq(rule("0.0.0.0/0").prefix, 96);
	ck_assert_uint_eq(rule("::/0").prefix, 0);
	ck_assert_uint_eq(rule("10.1.2.3/32").prefix, 128);
	ck_assert_uint_eq(rule("::1/128").prefix, 128);
	/* A bare address is one host. */
	ck_assert_uint_eq(rule("192.0.2.7").prefix, 128);
	ck_assert_uint_eq(rule("2001:db8::1").prefix, 128);
	ck_assert_uint_eq(rule("10.0.0.2/31").prefix, 127);
	ck_assert_uint_eq(rule("10.0.128.0/17").prefix, 113);
	ck_assert_uint_eq(rule("2001:db8:0:0:8000::/65").prefix, 65);
}
END_TEST

START_TEST(parse_refuses_host_bits_beyond_the_prefix)
{
	const char *const host_bits = "host bits set beyond the prefix (write the network address)";

	refused("10.0.0.1/8", host_bits);
	refused("10.0.0.1/31", host_bits);
	/* /17: the third byte's top bit is the network's, the next is not. */
	refused("10.0.64.0/17", host_bits);
	refused("10.0.0.0/0", host_bits);
	refused("::1/127", host_bits);
	refused("::1/64", host_bits);
	refused("2001:db8:0:0:4000::/65", host_bits);
}
END_TEST

START_TEST(parse_refuses_bad_prefixes_and_addresses)
{
	refused("10.0.0.0/33", "prefix must be 0-32");
	refused("::1/129", "prefix must be 0-128");
	/* No leading zero, sign, space or trailing junk. */
	refused("10.0.0.0/08", "prefix must be 0-32");
	refused("::/00", "prefix must be 0-128");
	refused("10.0.0.0/+8", "prefix must be 0-32");
	refused("10.0.0.0/-8", "prefix must be 0-32");
	refused("10.0.0.0/8 ", "prefix must be 0-32");
	refused("10.0.0.0/8/8", "prefix must be 0-32");
	refused("10.0.0.0/", "prefix must be 0-32");
	/* Digits that would wrap an unsigned long do not come out small. */
	refused("10.0.0.0/18446744073709551624", "prefix must be 0-32");
	refused("1.2.3", "not an IPv4 address");
	refused("1.2.3.256", "not an IPv4 address");
	refused("nonsense", "not an IPv4 address");
	refused(" 10.0.0.0/8", "not an IPv4 address");
	refused("10.0.0.0:80", "not an IPv6 address");
	refused("[::1]/128", "not an IPv6 address");
	refused("fe80::1%eth0/64", "not an IPv6 address");
	refused("", "expected an address or a network such as 10.0.0.0/8");
	refused("/8", "expected an address or a network such as 10.0.0.0/8");
	/* Longer than any address text: not copied, refused. */
	refused("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa/128",
		"expected an address or a network such as 10.0.0.0/8");
}
END_TEST

START_TEST(ipv4_slash_0_matches_every_ipv4_client_and_no_ipv6_one)
{
	ck_assert(match("0.0.0.0/0", v4("0.0.0.0")));
	ck_assert(match("0.0.0.0/0", v4("10.1.2.3")));
	ck_assert(match("0.0.0.0/0", v4("255.255.255.255")));
	/* A v4 client on an IPv6 socket is still a v4 client. */
	ck_assert(match("0.0.0.0/0", v6("::ffff:192.0.2.1")));
	ck_assert(!match("0.0.0.0/0", v6("::1")));
	ck_assert(!match("0.0.0.0/0", v6("2001:db8::1")));
	/* The deprecated IPv4-compatible form is an IPv6 address. */
	ck_assert(!match("0.0.0.0/0", v6("::10.1.2.3")));
}
END_TEST

START_TEST(ipv6_slash_0_matches_every_ip_client_ipv4_included)
{
	/* One 128-bit space: ::/0 covers the v4-mapped part too, so it also
	 * matches clients on IPv4 sockets. */
	ck_assert(match("::/0", v6("::1")));
	ck_assert(match("::/0", v6("2001:db8::1")));
	ck_assert(match("::/0", v6("::ffff:10.1.2.3")));
	ck_assert(match("::/0", v4("10.1.2.3")));
	ck_assert(!match("::/0", unix_client()));
}
END_TEST

START_TEST(host_rules_match_only_that_host_whatever_the_port)
{
	struct addr a = v4("10.1.2.3");

	ck_assert(match("10.1.2.3/32", a));
	ck_assert(match("10.1.2.3", a));
	a.u.sin.sin_port = htons(1);
	ck_assert(match("10.1.2.3/32", a));
	ck_assert(!match("10.1.2.3/32", v4("10.1.2.2")));
	ck_assert(!match("10.1.2.3/32", v4("10.1.2.4")));
	ck_assert(match("10.1.2.3/32", v6("::ffff:10.1.2.3")));
	ck_assert(match("::1/128", v6("::1")));
	ck_assert(!match("::1/128", v6("::2")));
	ck_assert(!match("::1/128", v6("::")));
	/* Loopback in one family is not loopback in the other. */
	ck_assert(!match("::1/128", v4("127.0.0.1")));
	ck_assert(!match("127.0.0.1", v6("::1")));
}
END_TEST

START_TEST(odd_prefixes_split_inside_a_byte)
{
	/* /31: a pair. */
	ck_assert(!match("10.0.0.2/31", v4("10.0.0.1")));
	ck_assert(match("10.0.0.2/31", v4("10.0.0.2")));
	ck_assert(match("10.0.0.2/31", v4("10.0.0.3")));
	ck_assert(!match("10.0.0.2/31", v4("10.0.0.4")));
	/* /17: 10.0.128.0 - 10.0.255.255. */
	ck_assert(match("10.0.128.0/17", v4("10.0.128.0")));
	ck_assert(match("10.0.128.0/17", v4("10.0.255.255")));
	ck_assert(!match("10.0.128.0/17", v4("10.0.127.255")));
	ck_assert(!match("10.0.128.0/17", v4("10.1.128.0")));
	ck_assert(match("10.0.0.0/17", v4("10.0.127.255")));
	ck_assert(!match("10.0.0.0/17", v4("10.0.128.0")));
	/* /65: one bit into the interface identifier. */
	ck_assert(match("2001:db8:0:0:8000::/65", v6("2001:db8::8000:0:0:1")));
	ck_assert(match("2001:db8:0:0:8000::/65", v6("2001:db8::ffff:ffff:ffff:ffff")));
	ck_assert(!match("2001:db8:0:0:8000::/65", v6("2001:db8::7fff:ffff:ffff:ffff")));
	ck_assert(!match("2001:db8:0:0:8000::/65", v6("2001:db8:0:1:8000::1")));
	ck_assert(match("2001:db8::/65", v6("2001:db8::7fff:ffff:ffff:ffff")));
	ck_assert(!match("2001:db8::/65", v6("2001:db8::8000:0:0:0")));
}
END_TEST

START_TEST(v4_mapped_client_matches_v4_rule_and_v4_client_matches_mapped_rule)
{
	ck_assert(match("10.0.0.0/8", v6("::ffff:10.1.2.3")));
	ck_assert(!match("10.0.0.0/8", v6("::ffff:11.0.0.1")));
	ck_assert(match("::ffff:10.0.0.0/104", v4("10.1.2.3")));
	ck_assert(!match("::ffff:10.0.0.0/104", v4("11.0.0.1")));
	ck_assert(match("::ffff:0:0/96", v4("203.0.113.9")));
	/* Neither the IPv4-compatible nor a NAT64 form is the v4 client. */
	ck_assert(!match("10.0.0.0/8", v6("::10.1.2.3")));
	ck_assert(!match("10.0.0.0/8", v6("64:ff9b::10.1.2.3")));
}
END_TEST

START_TEST(unix_client_matches_no_rule_and_is_denied_only_by_an_allow_list)
{
	struct addr u = unix_client(), none;
	struct acl_rule any[2] = { rule("0.0.0.0/0"), rule("::/0") };
	struct acl deny_only = { .deny = any, .ndeny = 2 };
	struct acl allow_all = { .allow = any, .nallow = 2, .has_allow = true };

	memset(&none, 0, sizeof(none));
	ck_assert(!acl_rule_match(&any[0], &u));
	ck_assert(!acl_rule_match(&any[1], &u));
	ck_assert(acl_permits(&deny_only, &u));
	ck_assert(!acl_permits(&allow_all, &u));
	/* No address at all (family 0) is judged like a unix client. */
	ck_assert(!acl_rule_match(&any[1], &none));
	ck_assert(acl_permits(&deny_only, &none));
	ck_assert(!acl_permits(&allow_all, &none));
	/* The IP clients the same rules do cover. */
	none = v4("10.1.2.3");
	ck_assert(!acl_permits(&deny_only, &none));
	ck_assert(acl_permits(&allow_all, &none));
	none = v6("2001:db8::1");
	ck_assert(!acl_permits(&deny_only, &none));
	ck_assert(acl_permits(&allow_all, &none));
}
END_TEST

START_TEST(no_rules_permit_everyone)
{
	struct acl none = { 0 };
	struct addr a[3];

	a[0] = v4("10.1.2.3");
	a[1] = v6("::1");
	a[2] = unix_client();
	for (int i = 0; i < 3; i++)
		ck_assert(acl_permits(&none, &a[i]));
}
END_TEST

START_TEST(deny_is_checked_before_allow)
{
	struct acl_rule allow[2] = { rule("10.0.0.0/8"), rule("::1/128") };
	struct acl_rule deny[2] = { rule("10.1.0.0/16"), rule("::1") };
	struct acl acl = { .allow = allow, .nallow = 2, .has_allow = true, .deny = deny, .ndeny = 1 };
	struct addr a;

	a = v4("10.1.2.3");
	ck_assert(!acl_permits(&acl, &a));
	a = v6("::ffff:10.1.2.3");
	ck_assert(!acl_permits(&acl, &a));
	a = v4("10.2.0.1");
	ck_assert(acl_permits(&acl, &a));
	a = v6("::1");
	ck_assert(acl_permits(&acl, &a));
	/* An allow list exists: what it does not name is denied. */
	a = v4("192.0.2.1");
	ck_assert(!acl_permits(&acl, &a));
	a = v6("2001:db8::1");
	ck_assert(!acl_permits(&acl, &a));
	/* Allowed and denied at once: denied. */
	acl.ndeny = 2;
	a = v6("::1");
	ck_assert(!acl_permits(&acl, &a));
}
END_TEST

START_TEST(deny_list_alone_permits_the_rest)
{
	struct acl_rule deny[1] = { rule("10.1.0.0/16") };
	struct acl acl = { .deny = deny, .ndeny = 1 };
	struct addr a;

	a = v4("10.1.255.255");
	ck_assert(!acl_permits(&acl, &a));
	a = v4("10.2.0.0");
	ck_assert(acl_permits(&acl, &a));
	a = v4("192.0.2.1");
	ck_assert(acl_permits(&acl, &a));
	a = v6("2001:db8::1");
	ck_assert(acl_permits(&acl, &a));
}
END_TEST

START_TEST(empty_allow_list_denies_everyone)
{
	/* allow = [ ]: has_allow with no rule, as the validator builds it. */
	struct acl_rule spare[1];
	struct acl empty = { .allow = spare, .nallow = 0, .has_allow = true };
	struct acl null_list = { .allow = NULL, .nallow = 0, .has_allow = true };
	struct addr a[3];

	a[0] = v4("10.1.2.3");
	a[1] = v6("::1");
	a[2] = unix_client();
	for (int i = 0; i < 3; i++) {
		ck_assert(!acl_permits(&empty, &a[i]));
		ck_assert(!acl_permits(&null_list, &a[i]));
	}
}
END_TEST

START_TEST(ipv4_allow_everything_keeps_ipv6_out)
{
	struct acl_rule allow[1] = { rule("0.0.0.0/0") };
	struct acl acl = { .allow = allow, .nallow = 1, .has_allow = true };
	struct addr a;

	a = v4("198.51.100.1");
	ck_assert(acl_permits(&acl, &a));
	a = v6("::ffff:198.51.100.1");
	ck_assert(acl_permits(&acl, &a));
	a = v6("2001:db8::1");
	ck_assert(!acl_permits(&acl, &a));
	a = unix_client();
	ck_assert(!acl_permits(&acl, &a));
}
END_TEST

static Suite *acl_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *parse = tcase_create("parse");
	TCase *match_tc = tcase_create("match");
	TCase *permit = tcase_create("permit");

	tcase_add_test(parse, parse_keeps_ipv4_as_v4_mapped_with_prefix_plus_96);
	tcase_add_test(parse, parse_refuses_host_bits_beyond_the_prefix);
	tcase_add_test(parse, parse_refuses_bad_prefixes_and_addresses);
	suite_add_tcase(s, parse);

	tcase_add_test(match_tc, ipv4_slash_0_matches_every_ipv4_client_and_no_ipv6_one);
	tcase_add_test(match_tc, ipv6_slash_0_matches_every_ip_client_ipv4_included);
	tcase_add_test(match_tc, host_rules_match_only_that_host_whatever_the_port);
	tcase_add_test(match_tc, odd_prefixes_split_inside_a_byte);
	tcase_add_test(match_tc, v4_mapped_client_matches_v4_rule_and_v4_client_matches_mapped_rule);
	suite_add_tcase(s, match_tc);

	tcase_add_test(permit, unix_client_matches_no_rule_and_is_denied_only_by_an_allow_list);
	tcase_add_test(permit, no_rules_permit_everyone);
	tcase_add_test(permit, deny_is_checked_before_allow);
	tcase_add_test(permit, deny_list_alone_permits_the_rest);
	tcase_add_test(permit, empty_allow_list_denies_everyone);
	tcase_add_test(permit, ipv4_allow_everything_keeps_ipv6_out);
	suite_add_tcase(s, permit);
	return s;
}

int main(void)
{
	return check_run(acl_suite());
}
