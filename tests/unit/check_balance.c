/* check_balance.c — server selection (balance.h): the order roundrobin
 * serves servers in, where leastconn sends the next client, that source
 * keeps a client on its server and moves only the clients of a server
 * that leaves, random's shares, and when backups take over. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check_run.h"
#include "balance.h"

#define POOL_MAX 8

/* A backend as balance_pick() sees it. */
struct pool {
	struct balance_slot slot[POOL_MAX];     /* the servers */
	struct balance_slot *ptr[POOL_MAX];     /* what balance_pick() takes */
	size_t n;                               /* servers in use */
	struct balance_state st;                /* the backend's state */
};

/* N eligible primaries "10.0.0.<i+1>:80" with WEIGHTS. */
static void pool_init(struct pool *p, const unsigned *weights, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "10.0.0.%zu:80", i + 1);
		p->slot[i].weight = weights[i];
		p->slot[i].id_hash = balance_hash_name(name);
		p->slot[i].eligible = true;
		p->ptr[i] = &p->slot[i];
	}
}

static ssize_t pool_pick(struct pool *p, enum balance_algo algo, const struct addr *client)
{
	ssize_t i = balance_pick(algo, p->ptr, p->n, client, &p->st);

	ck_assert(i >= -1 && i < (ssize_t)p->n);
	if (i >= 0)
		ck_assert_msg(p->slot[i].eligible, "picked ineligible slot %zd", i);
	return i;
}

/* The next COUNT picks as letters, slot 0 = 'a': "aabacaa". */
static const char *pool_sequence(struct pool *p, enum balance_algo algo, size_t count)
{
	static char seq[256];

	ck_assert_uint_lt(count, sizeof(seq));
	for (size_t k = 0; k < count; k++) {
		ssize_t i = pool_pick(p, algo, NULL);
		seq[k] = i < 0 ? '-' : (char)('a' + i);
	}
	seq[count] = '\0';
	return seq;
}

/* How many of COUNT picks each slot got, into HITS[0..p->n). */
static void pool_count(struct pool *p, enum balance_algo algo, size_t count, unsigned *hits)
{
	memset(hits, 0, p->n * sizeof(*hits));
	for (size_t k = 0; k < count; k++) {
		ssize_t i = pool_pick(p, algo, NULL);
		ck_assert_int_ge(i, 0);
		hits[i]++;
	}
}

static int64_t pool_credit_sum(const struct pool *p)
{
	int64_t sum = 0;

	for (size_t i = 0; i < p->n; i++)
		sum += p->slot[i].current;
	return sum;
}

/* ---- clients ---- */

static struct addr client_v4(uint32_t ip, uint16_t port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.u.sin);
	a.u.sin.sin_family = AF_INET;
	a.u.sin.sin_addr.s_addr = htonl(ip);
	a.u.sin.sin_port = htons(port);
	return a;
}

static struct addr client_v6(const unsigned char bytes[16], uint16_t port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.u.sin6);
	a.u.sin6.sin6_family = AF_INET6;
	memcpy(a.u.sin6.sin6_addr.s6_addr, bytes, 16);
	a.u.sin6.sin6_port = htons(port);
	return a;
}

/* ::ffff:IP, as a dual-stack listener reports an IPv4 client. */
static struct addr client_v4_mapped(uint32_t ip, uint16_t port)
{
	unsigned char b[16] = { [10] = 0xff, [11] = 0xff };

	b[12] = (unsigned char)(ip >> 24);
	b[13] = (unsigned char)(ip >> 16);
	b[14] = (unsigned char)(ip >> 8);
	b[15] = (unsigned char)ip;
	return client_v6(b, port);
}

static struct addr client_unix(const char *path)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.sun.sun_family = AF_UNIX;
	snprintf(a.u.sun.sun_path, sizeof(a.u.sun.sun_path), "%s", path);
	a.len = sizeof(a.u.sun);
	return a;
}

/* The test's own generator, so the clients are the same on every run. */
static uint64_t test_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Client I of a fixed population: even ones IPv4, odd ones IPv6. */
static struct addr client_nth(uint64_t i)
{
	uint64_t s = i * 7919 + 1;
	uint64_t r = test_rand(&s);

	if (i % 2 == 0)
		return client_v4((uint32_t)r, (uint16_t)(r >> 32));
	unsigned char b[16];
	uint64_t r2 = test_rand(&s);
	for (int k = 0; k < 8; k++) {
		b[k] = (unsigned char)(r >> (8 * k));
		b[8 + k] = (unsigned char)(r2 >> (8 * k));
	}
	b[0] = 0x20;                    /* global unicast, never v4-mapped */
	return client_v6(b, (uint16_t)(r2 >> 48));
}

#define NCLIENTS 10000

/* Which slot each of NCLIENTS clients is sent to, into WHERE. */
static void pool_map_clients(struct pool *p, ssize_t *where)
{
	for (uint64_t c = 0; c < NCLIENTS; c++) {
		struct addr a = client_nth(c);
		where[c] = pool_pick(p, BALANCE_SOURCE, &a);
	}
}

static void pool_tally(const struct pool *p, const ssize_t *where, unsigned *hits)
{
	memset(hits, 0, p->n * sizeof(*hits));
	for (size_t c = 0; c < NCLIENTS; c++) {
		ck_assert_int_ge(where[c], 0);
		hits[where[c]]++;
	}
}

/* GOT is within PCT percent of WANT. */
static void check_near(unsigned got, unsigned want, unsigned pct, const char *what)
{
	unsigned slack = want * pct / 100;

	ck_assert_msg(got + slack >= want && got <= want + slack,
		      "%s: %u, want %u +-%u%%", what, got, want, pct);
}

static const enum balance_algo all_algos[] = {
	BALANCE_ROUNDROBIN, BALANCE_LEASTCONN, BALANCE_SOURCE, BALANCE_RANDOM,
};

/* ---- names ---- */

START_TEST(the_four_names_parse_and_name_themselves)
{
	static const char *const names[] = { "roundrobin", "leastconn", "source", "random" };

	for (size_t i = 0; i < 4; i++) {
		enum balance_algo a = BALANCE_RANDOM;
		ck_assert_int_eq(balance_algo_parse(names[i], &a), 0);
		ck_assert_int_eq(a, all_algos[i]);
		ck_assert_str_eq(balance_algo_name(a), names[i]);
	}
	/* A zeroed configuration means the documented default. */
	ck_assert_int_eq(BALANCE_ROUNDROBIN, 0);
}
END_TEST

START_TEST(other_words_are_refused_and_leave_the_value_alone)
{
	static const char *const bad[] = { "", "RoundRobin", "round-robin", "leastconn ",
					   "hash", "rr" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum balance_algo a = BALANCE_SOURCE;
		ck_assert_int_eq(balance_algo_parse(bad[i], &a), -1);
		ck_assert_int_eq(a, BALANCE_SOURCE);
	}
}
END_TEST

/* ---- roundrobin ---- */

START_TEST(roundrobin_equal_weights_alternate_15_15)
{
	struct pool p;
	unsigned hits[2];

	pool_init(&p, (unsigned[]){ 1, 1 }, 2);
	ck_assert_str_eq(pool_sequence(&p, BALANCE_ROUNDROBIN, 6), "ababab");
	pool_init(&p, (unsigned[]){ 1, 1 }, 2);
	pool_count(&p, BALANCE_ROUNDROBIN, 30, hits);
	ck_assert_uint_eq(hits[0], 15);
	ck_assert_uint_eq(hits[1], 15);
}
END_TEST

START_TEST(roundrobin_weights_1_2_interleave_never_burst)
{
	struct pool p;
	unsigned hits[2];

	pool_init(&p, (unsigned[]){ 1, 2 }, 2);
	ck_assert_str_eq(pool_sequence(&p, BALANCE_ROUNDROBIN, 30),
			 "babbabbabbabbabbabbabbabbabbab");
	pool_init(&p, (unsigned[]){ 1, 2 }, 2);
	pool_count(&p, BALANCE_ROUNDROBIN, 30, hits);
	ck_assert_uint_eq(hits[0], 10);
	ck_assert_uint_eq(hits[1], 20);
}
END_TEST

START_TEST(roundrobin_weights_5_1_1_follow_nginx)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 5, 1, 1 }, 3);
	ck_assert_str_eq(pool_sequence(&p, BALANCE_ROUNDROBIN, 21), "aabacaaaabacaaaabacaa");
	/* Each cycle ends where it began. */
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(p.slot[i].current, 0);
}
END_TEST

START_TEST(roundrobin_skips_an_ineligible_slot_without_touching_its_credit)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 1, 1 }, 3);
	ck_assert_str_eq(pool_sequence(&p, BALANCE_ROUNDROBIN, 2), "ab");
	int64_t credit = p.slot[1].current;
	p.slot[1].eligible = false;
	/* c, owed its turn, goes first; then the two alternate. */
	ck_assert_str_eq(pool_sequence(&p, BALANCE_ROUNDROBIN, 6), "ccacac");
	ck_assert_int_eq(p.slot[1].current, credit);
}
END_TEST

/* The credit is kept while away: the sum of all credits stays zero, and
 * the shares are fair again as soon as the server is back. */
START_TEST(roundrobin_returning_slot_resumes_its_fair_share)
{
	struct pool p;
	unsigned hits[3];

	pool_init(&p, (unsigned[]){ 1, 2, 3 }, 3);
	pool_sequence(&p, BALANCE_ROUNDROBIN, 4);
	p.slot[2].eligible = false;
	pool_sequence(&p, BALANCE_ROUNDROBIN, 7);
	ck_assert_int_eq(pool_credit_sum(&p), 0);
	p.slot[2].eligible = true;
	pool_count(&p, BALANCE_ROUNDROBIN, 600, hits);
	ck_assert_int_eq(pool_credit_sum(&p), 0);
	ck_assert_uint_le(hits[0] > 100 ? hits[0] - 100 : 100 - hits[0], 1);
	ck_assert_uint_le(hits[1] > 200 ? hits[1] - 200 : 200 - hits[1], 1);
	ck_assert_uint_le(hits[2] > 300 ? hits[2] - 300 : 300 - hits[2], 1);
}
END_TEST

/* A server that flaps at its max_connections neither gains nor loses
 * turns: it gets its weight's share of the picks it was eligible for. */
START_TEST(roundrobin_flapping_slot_gets_its_share_of_its_eligible_picks)
{
	struct pool p;
	unsigned hits[3] = { 0 }, eligible = 0;
	uint64_t s = 7;

	pool_init(&p, (unsigned[]){ 1, 1, 1 }, 3);
	for (int k = 0; k < 30000; k++) {
		p.slot[0].eligible = test_rand(&s) & 1;
		eligible += p.slot[0].eligible;
		hits[pool_pick(&p, BALANCE_ROUNDROBIN, NULL)]++;
		ck_assert_int_eq(pool_credit_sum(&p), 0);
	}
	ck_assert_uint_le(hits[0] > eligible / 3 ? hits[0] - eligible / 3 : eligible / 3 - hits[0], 1);
}
END_TEST

/* ---- every algorithm ---- */

START_TEST(no_eligible_slot_gives_minus_one)
{
	struct pool p;
	struct addr c = client_v4(0x0a000001, 1234);

	for (size_t a = 0; a < 4; a++) {
		pool_init(&p, (unsigned[]){ 1, 2, 3 }, 3);
		p.slot[2].backup = true;
		for (size_t i = 0; i < 3; i++)
			p.slot[i].eligible = false;
		ck_assert_int_eq(pool_pick(&p, all_algos[a], &c), -1);
		ck_assert_int_eq(balance_pick(all_algos[a], p.ptr, 0, &c, &p.st), -1);
		for (size_t i = 0; i < 3; i++)
			ck_assert_int_eq(p.slot[i].current, 0);
	}
}
END_TEST

START_TEST(backups_serve_only_while_every_primary_is_out)
{
	struct pool p;
	struct addr c = client_v4(0xc0a80101, 5555);

	for (size_t a = 0; a < 4; a++) {
		pool_init(&p, (unsigned[]){ 1, 1, 1, 2 }, 4);
		p.slot[2].backup = p.slot[3].backup = true;
		/* Idle backups do not draw leastconn from a loaded primary. */
		p.slot[0].conns = p.slot[1].conns = 1000;
		for (int k = 0; k < 50; k++)
			ck_assert_int_lt(pool_pick(&p, all_algos[a], &c), 2);
		p.slot[0].eligible = p.slot[1].eligible = false;
		for (int k = 0; k < 50; k++)
			ck_assert_int_ge(pool_pick(&p, all_algos[a], &c), 2);
		p.slot[1].eligible = true;
		for (int k = 0; k < 50; k++)
			ck_assert_int_eq(pool_pick(&p, all_algos[a], &c), 1);
	}
}
END_TEST

START_TEST(backups_share_by_weight_among_themselves)
{
	struct pool p;
	unsigned hits[4];

	pool_init(&p, (unsigned[]){ 1, 1, 1, 2 }, 4);
	p.slot[2].backup = p.slot[3].backup = true;
	p.slot[0].eligible = p.slot[1].eligible = false;
	pool_count(&p, BALANCE_ROUNDROBIN, 30, hits);
	ck_assert_uint_eq(hits[2], 10);
	ck_assert_uint_eq(hits[3], 20);
}
END_TEST

/* ---- leastconn ---- */

START_TEST(leastconn_picks_the_least_loaded)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 1, 1 }, 3);
	p.slot[0].conns = 5;
	p.slot[1].conns = 2;
	p.slot[2].conns = 7;
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(pool_pick(&p, BALANCE_LEASTCONN, NULL), 1);
	/* Idle but out: not a candidate. */
	p.slot[1].conns = 0;
	p.slot[1].eligible = false;
	ck_assert_int_eq(pool_pick(&p, BALANCE_LEASTCONN, NULL), 0);
}
END_TEST

START_TEST(leastconn_measures_load_against_weight)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 2 }, 2);
	p.slot[0].conns = 4;            /* 4 per unit of weight */
	p.slot[1].conns = 6;            /* 3 per unit */
	ck_assert_int_eq(pool_pick(&p, BALANCE_LEASTCONN, NULL), 1);
	p.slot[0].conns = 2;            /* 2 per unit */
	ck_assert_int_eq(pool_pick(&p, BALANCE_LEASTCONN, NULL), 0);
}
END_TEST

/* Connections that stay open fill the servers in proportion to weight. */
START_TEST(leastconn_fills_servers_in_weight_proportion)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 3 }, 2);
	for (int k = 0; k < 40; k++) {
		ssize_t i = pool_pick(&p, BALANCE_LEASTCONN, NULL);
		p.slot[i].conns++;
		/* Loads per unit of weight never differ by more than one. */
		uint64_t a = p.slot[0].conns * 3, b = p.slot[1].conns;
		ck_assert_uint_le(a > b ? a - b : b - a, 3);
	}
	ck_assert_uint_eq(p.slot[0].conns, 10);
	ck_assert_uint_eq(p.slot[1].conns, 30);
}
END_TEST

START_TEST(leastconn_serves_equal_loads_in_turn)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 1, 1 }, 3);
	ck_assert_str_eq(pool_sequence(&p, BALANCE_LEASTCONN, 9), "abcabcabc");
	p.slot[1].eligible = false;
	ck_assert_str_eq(pool_sequence(&p, BALANCE_LEASTCONN, 6), "acacac");
	/* Equal per unit of weight is a tie too. */
	pool_init(&p, (unsigned[]){ 1, 2 }, 2);
	p.slot[0].conns = 3;
	p.slot[1].conns = 6;
	ck_assert_str_eq(pool_sequence(&p, BALANCE_LEASTCONN, 4), "abab");
}
END_TEST

START_TEST(leastconn_survives_absurd_counts)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 256 }, 2);
	p.slot[0].conns = 1000;
	p.slot[1].conns = UINT64_MAX;
	ck_assert_int_eq(pool_pick(&p, BALANCE_LEASTCONN, NULL), 0);
}
END_TEST

/* ---- source ---- */

START_TEST(source_keeps_a_client_on_its_server_whatever_its_port)
{
	struct pool p;

	pool_init(&p, (unsigned[]){ 1, 1, 1, 1, 1 }, 5);
	for (uint64_t c = 0; c < 1000; c++) {
		struct addr a = client_nth(c);
		ssize_t first = pool_pick(&p, BALANCE_SOURCE, &a);
		for (uint16_t port = 1; port < 60000; port += 9999) {
			if (a.u.sa.sa_family == AF_INET)
				a.u.sin.sin_port = htons(port);
			else
				a.u.sin6.sin6_port = htons(port);
			ck_assert_int_eq(pool_pick(&p, BALANCE_SOURCE, &a), first);
		}
	}
	/* Asking changes nothing. */
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(p.slot[i].current, 0);
}
END_TEST

START_TEST(source_spreads_clients_evenly_over_equal_servers)
{
	static ssize_t where[NCLIENTS];
	struct pool p;
	unsigned hits[4];

	pool_init(&p, (unsigned[]){ 1, 1, 1, 1 }, 4);
	pool_map_clients(&p, where);
	pool_tally(&p, where, hits);
	for (size_t i = 0; i < 4; i++)
		check_near(hits[i], NCLIENTS / 4, 10, "clients of an equal server");
}
END_TEST

START_TEST(source_shares_clients_by_weight)
{
	static ssize_t where[NCLIENTS];
	struct pool p;
	unsigned hits[4];

	pool_init(&p, (unsigned[]){ 1, 3 }, 2);
	pool_map_clients(&p, where);
	pool_tally(&p, where, hits);
	check_near(hits[0], NCLIENTS / 4, 10, "weight 1 of 1:3");
	check_near(hits[1], NCLIENTS * 3 / 4, 10, "weight 3 of 1:3");

	pool_init(&p, (unsigned[]){ 1, 2, 3, 4 }, 4);
	pool_map_clients(&p, where);
	pool_tally(&p, where, hits);
	for (size_t i = 0; i < 4; i++)
		check_near(hits[i], NCLIENTS * (unsigned)(i + 1) / 10, 10, "weight of 1:2:3:4");
}
END_TEST

/* When one of four leaves, only its clients move, and spread over the
 * other three; when it returns, they all come back. */
START_TEST(source_moves_only_the_clients_of_a_server_that_leaves)
{
	static ssize_t before[NCLIENTS], during[NCLIENTS], after[NCLIENTS];
	struct pool p;
	unsigned moved = 0, landed[4] = { 0 };

	pool_init(&p, (unsigned[]){ 1, 1, 1, 1 }, 4);
	pool_map_clients(&p, before);
	p.slot[2].eligible = false;
	pool_map_clients(&p, during);
	for (size_t c = 0; c < NCLIENTS; c++) {
		if (before[c] != 2) {
			ck_assert_int_eq(during[c], before[c]);
			continue;
		}
		ck_assert_int_ne(during[c], 2);
		moved++;
		landed[during[c]]++;
	}
	check_near(moved, NCLIENTS / 4, 10, "clients moved");
	for (size_t i = 0; i < 4; i++)
		if (i != 2)
			check_near(landed[i], moved / 3, 20, "moved clients landing on one server");
	p.slot[2].eligible = true;
	pool_map_clients(&p, after);
	ck_assert_mem_eq(after, before, sizeof(before));
}
END_TEST

START_TEST(source_also_moves_few_clients_in_a_weighted_pool)
{
	static ssize_t before[NCLIENTS], during[NCLIENTS];
	struct pool p;

	pool_init(&p, (unsigned[]){ 4, 1, 2, 3 }, 4);
	pool_map_clients(&p, before);
	p.slot[0].eligible = false;
	pool_map_clients(&p, during);
	for (size_t c = 0; c < NCLIENTS; c++)
		if (before[c] != 0)
			ck_assert_int_eq(during[c], before[c]);
}
END_TEST

START_TEST(source_treats_v4_mapped_ipv6_as_the_ipv4_client)
{
	struct pool p;
	uint64_t s = 99;
	unsigned hits[7] = { 0 };

	pool_init(&p, (unsigned[]){ 1, 1, 1, 1, 1, 1, 1 }, 7);
	for (int k = 0; k < 1000; k++) {
		uint32_t ip = (uint32_t)test_rand(&s);
		struct addr v4 = client_v4(ip, 80), mapped = client_v4_mapped(ip, 443);
		ssize_t i = pool_pick(&p, BALANCE_SOURCE, &v4);
		ck_assert_int_eq(pool_pick(&p, BALANCE_SOURCE, &mapped), i);
		hits[i]++;
	}
	/* And not because everyone lands on one server. */
	for (size_t i = 0; i < 7; i++)
		ck_assert_uint_gt(hits[i], 0);
}
END_TEST

START_TEST(source_sends_unix_clients_to_one_server)
{
	struct pool p;
	struct addr a = client_unix("/run/a.sock"), b = client_unix("/tmp/other");

	pool_init(&p, (unsigned[]){ 1, 1, 1, 1, 1 }, 5);
	ssize_t i = pool_pick(&p, BALANCE_SOURCE, &a);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(pool_pick(&p, BALANCE_SOURCE, &b), i);
	ck_assert_int_eq(pool_pick(&p, BALANCE_SOURCE, NULL), i);
}
END_TEST

START_TEST(server_name_hash_is_stable_and_distinguishes_names)
{
	ck_assert_uint_eq(balance_hash_name("10.0.0.1:80"), balance_hash_name("10.0.0.1:80"));
	ck_assert_uint_ne(balance_hash_name("10.0.0.1:80"), balance_hash_name("10.0.0.2:80"));
	ck_assert_uint_ne(balance_hash_name("10.0.0.1:80"), balance_hash_name("10.0.0.1:81"));
	ck_assert_uint_ne(balance_hash_name(""), balance_hash_name("unix:/x"));
}
END_TEST

/* ---- random ---- */

START_TEST(random_shares_by_weight_and_never_picks_an_ineligible_slot)
{
	struct pool p;
	unsigned hits[3];

	pool_init(&p, (unsigned[]){ 1, 5, 3 }, 3);
	p.slot[1].eligible = false;
	p.st.rng = 12345;
	pool_count(&p, BALANCE_RANDOM, 10000, hits);
	ck_assert_uint_eq(hits[1], 0);
	check_near(hits[0], 2500, 5, "weight 1 of 1:3");
	check_near(hits[2], 7500, 5, "weight 3 of 1:3");
}
END_TEST

/* Zeroed states seed themselves, each differently. */
START_TEST(random_zeroed_states_seed_themselves_apart)
{
	struct pool p[2];
	char seq[2][65];

	for (int k = 0; k < 2; k++) {
		pool_init(&p[k], (unsigned[]){ 1, 1 }, 2);
		memcpy(seq[k], pool_sequence(&p[k], BALANCE_RANDOM, 64), sizeof(seq[k]));
		ck_assert_uint_ne(p[k].st.rng, 0);
		ck_assert_ptr_nonnull(strchr(seq[k], 'a'));
		ck_assert_ptr_nonnull(strchr(seq[k], 'b'));
	}
	ck_assert_str_ne(seq[0], seq[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("balance");
	TCase *names = tcase_create("names");
	TCase *rr = tcase_create("roundrobin");
	TCase *all = tcase_create("tiers");
	TCase *lc = tcase_create("leastconn");
	TCase *src = tcase_create("source");
	TCase *rnd = tcase_create("random");

	tcase_add_test(names, the_four_names_parse_and_name_themselves);
	tcase_add_test(names, other_words_are_refused_and_leave_the_value_alone);
	tcase_add_test(rr, roundrobin_equal_weights_alternate_15_15);
	tcase_add_test(rr, roundrobin_weights_1_2_interleave_never_burst);
	tcase_add_test(rr, roundrobin_weights_5_1_1_follow_nginx);
	tcase_add_test(rr, roundrobin_skips_an_ineligible_slot_without_touching_its_credit);
	tcase_add_test(rr, roundrobin_returning_slot_resumes_its_fair_share);
	tcase_add_test(rr, roundrobin_flapping_slot_gets_its_share_of_its_eligible_picks);
	tcase_add_test(all, no_eligible_slot_gives_minus_one);
	tcase_add_test(all, backups_serve_only_while_every_primary_is_out);
	tcase_add_test(all, backups_share_by_weight_among_themselves);
	tcase_add_test(lc, leastconn_picks_the_least_loaded);
	tcase_add_test(lc, leastconn_measures_load_against_weight);
	tcase_add_test(lc, leastconn_fills_servers_in_weight_proportion);
	tcase_add_test(lc, leastconn_serves_equal_loads_in_turn);
	tcase_add_test(lc, leastconn_survives_absurd_counts);
	tcase_add_test(src, source_keeps_a_client_on_its_server_whatever_its_port);
	tcase_add_test(src, source_spreads_clients_evenly_over_equal_servers);
	tcase_add_test(src, source_shares_clients_by_weight);
	tcase_add_test(src, source_moves_only_the_clients_of_a_server_that_leaves);
	tcase_add_test(src, source_also_moves_few_clients_in_a_weighted_pool);
	tcase_add_test(src, source_treats_v4_mapped_ipv6_as_the_ipv4_client);
	tcase_add_test(src, source_sends_unix_clients_to_one_server);
	tcase_add_test(src, server_name_hash_is_stable_and_distinguishes_names);
	tcase_add_test(rnd, random_shares_by_weight_and_never_picks_an_ineligible_slot);
	tcase_add_test(rnd, random_zeroed_states_seed_themselves_apart);
	suite_add_tcase(s, names);
	suite_add_tcase(s, rr);
	suite_add_tcase(s, all);
	suite_add_tcase(s, lc);
	suite_add_tcase(s, src);
	suite_add_tcase(s, rnd);
	return check_run(s);
}
