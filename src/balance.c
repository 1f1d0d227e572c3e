/* balance.c — the server-selection algorithms behind `balance`. Each
 * pick first settles the tier (eligible primaries, else eligible
 * backups), then runs one algorithm over the slots of that tier.
 * Integer arithmetic only, so the daemon needs no libm. */
#include "balance.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

static const char *const balance_algo_names[] = {
	[BALANCE_ROUNDROBIN] = "roundrobin",
	[BALANCE_LEASTCONN] = "leastconn",
	[BALANCE_SOURCE] = "source",
	[BALANCE_RANDOM] = "random",
};

#define BALANCE_NALGOS (sizeof(balance_algo_names) / sizeof(balance_algo_names[0]))

/* 2^64 / golden ratio: splitmix64's increment, also used to offset inputs
 * so that small values (id 0, address 0.0.0.0) do not hash from zero. */
#define BALANCE_GOLDEN 0x9e3779b97f4a7c15ull

int balance_algo_parse(const char *name, enum balance_algo *out)
{
	for (size_t i = 0; i < BALANCE_NALGOS; i++)
		if (strcmp(name, balance_algo_names[i]) == 0) {
			*out = (enum balance_algo)i;
			return 0;
		}
	return -1;
}

const char *balance_algo_name(enum balance_algo a)
{
	return (size_t)a < BALANCE_NALGOS ? balance_algo_names[a] : "unknown";
}

/* splitmix64's finalizer: every input bit flips about half the output
 * bits, so structured inputs (neighbouring addresses) spread evenly. */
static uint64_t balance_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t balance_hash_name(const char *name)
{
	/* FNV-1a gathers the bytes, the mixer fixes its weak high bits. */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return (uint32_t)(balance_mix64(h) >> 32);
}

/* ---- tiers ---- */

static bool balance_in_tier(const struct balance_slot *s, bool backups)
{
	return s->eligible && s->backup == backups;
}

/* Backups serve only while no primary can: sets *BACKUPS to the tier of
 * this pick; false when neither tier has an eligible slot. */
static bool balance_choose_tier(struct balance_slot *const *slots, size_t n, bool *backups)
{
	bool have_backup = false;

	for (size_t i = 0; i < n; i++) {
		assert(slots[i]->weight >= 1 && slots[i]->weight <= BALANCE_WEIGHT_MAX);
		if (!slots[i]->eligible)
			continue;
		if (!slots[i]->backup) {
			*backups = false;
			return true;
		}
		have_backup = true;
	}
	*backups = true;
	return have_backup;
}

/* ---- roundrobin ---- */

/* nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every
 * slot earns its weight, the richest is picked and pays the total, so
 * picks interleave (5:1:1 gives a a b a c a a) instead of bursting.
 * Slots outside the tier keep their credit. Keeping it, rather than
 * resetting it when a slot returns, keeps the sum of all credits at zero:
 * a server that flaps at its max_connections neither gains nor loses
 * turns, and once every slot is back the exact pattern resumes. Credits
 * stay within about the total weight, so int64 cannot overflow. */
static ssize_t balance_roundrobin(struct balance_slot *const *slots, size_t n, bool backups)
{
	ssize_t best = -1;
	int64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		struct balance_slot *s = slots[i];
		if (!balance_in_tier(s, backups))
			continue;
		s->current += s->weight;
		total += s->weight;
		if (best < 0 || s->current > slots[best]->current)
			best = (ssize_t)i;
	}
	slots[best]->current -= total;
	return best;
}

/* ---- leastconn ---- */

/* No server holds 2^55 connections; capping there keeps conns * weight
 * inside 64 bits without a wider type. */
static uint64_t balance_capped_conns(const struct balance_slot *s)
{
	const uint64_t cap = UINT64_MAX / BALANCE_WEIGHT_MAX;

	return s->conns < cap ? s->conns : cap;
}

/* A carries less load per unit of weight than B: conns_a / w_a < conns_b / w_b,
 * cross-multiplied so that no division rounds two loads into a tie. */
static bool balance_lighter(const struct balance_slot *a, const struct balance_slot *b)
{
	return balance_capped_conns(a) * b->weight < balance_capped_conns(b) * a->weight;
}

/* The scan starts after the previous pick, and only a strictly lighter slot
 * displaces the first found: equal loads are served in turn. */
static ssize_t balance_leastconn(struct balance_slot *const *slots, size_t n, bool backups,
				 struct balance_state *st)
{
	ssize_t best = -1;

	for (size_t k = 0; k < n; k++) {
		size_t i = (st->cursor + k) % n;
		if (!balance_in_tier(slots[i], backups))
			continue;
		if (best < 0 || balance_lighter(slots[i], slots[best]))
			best = (ssize_t)i;
	}
	st->cursor = ((size_t)best + 1) % n;
	return best;
}

/* ---- source ---- */

/* The client's address bytes, port left out, as one 64-bit key. A
 * v4-mapped IPv6 address is the IPv4 client it stands for; unix
 * clients, and those with no address, share one key. */
static uint64_t balance_client_key(const struct addr *client)
{
	const unsigned char *b;
	uint64_t hi = 0, lo = 0;

	if (client == NULL)
		return balance_mix64(BALANCE_GOLDEN);
	switch (client->u.sa.sa_family) {
	case AF_INET:
		return balance_mix64(BALANCE_GOLDEN * 4 + ntohl(client->u.sin.sin_addr.s_addr));
	case AF_INET6:
		b = client->u.sin6.sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&client->u.sin6.sin6_addr))
			return balance_mix64(BALANCE_GOLDEN * 4 + ((uint64_t)b[12] << 24 |
				(uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 | b[15]));
		for (int i = 0; i < 8; i++) {
			hi = hi << 8 | b[i];
			lo = lo << 8 | b[8 + i];
		}
		return balance_mix64(balance_mix64(BALANCE_GOLDEN * 6 + hi) ^ lo);
	default:
		return balance_mix64(BALANCE_GOLDEN);
	}
}

/* -log2(x / 2^64) in 32.32 fixed point, for x > 0; at least 1, so never
 * zero. Binary logarithm by repeated squaring of the mantissa (one bit of
 * the fraction per square), within 2e-9 of the true value: far finer than
 * the gaps between the best scores of any realistic pool. */
static uint64_t balance_neg_log2(uint64_t x)
{
	unsigned shift = 0;
	uint64_t m, frac = 0;

	while ((x >> 63) == 0) {
		x <<= 1;
		shift++;
	}
	m = x >> 32;                    /* 1.31 fixed point, in [1, 2) */
	for (uint64_t bit = 1ull << 31; bit != 0; bit >>= 1) {
		m = (m * m) >> 31;
		if (m >> 32) {
			m >>= 1;
			frac |= bit;
		}
	}
	return ((uint64_t)(shift + 1) << 32) - frac;
}

/* Weighted rendezvous (highest random weight) hashing: each slot draws
 * u in (0,1) from hash(client, slot) and scores -weight / ln(u); the best
 * score wins. A slot's score depends on the client and that slot alone,
 * so a server that leaves moves only its own clients, and each wins with
 * probability weight / total weight. Integer form: ln(u) = log2(u) * ln 2,
 * the constant cancels, and w_a / L_a > w_b / L_b is compared as
 * w_a * L_b > w_b * L_a with L = -log2(u) (below 2^38, weight <= 2^8). */
static ssize_t balance_source(struct balance_slot *const *slots, size_t n, bool backups,
			      const struct addr *client)
{
	uint64_t key = balance_client_key(client);
	uint64_t best_cost = 0;
	unsigned best_weight = 0;
	ssize_t best = -1;

	for (size_t i = 0; i < n; i++) {
		const struct balance_slot *s = slots[i];
		if (!balance_in_tier(s, backups))
			continue;
		uint64_t h = balance_mix64(key ^ balance_mix64(BALANCE_GOLDEN + s->id_hash));
		uint64_t cost = balance_neg_log2(h | 1);
		if (best < 0 || (uint64_t)s->weight * best_cost > (uint64_t)best_weight * cost) {
			best = (ssize_t)i;
			best_cost = cost;
			best_weight = s->weight;
		}
	}
	return best;
}

/* ---- random ---- */

/* splitmix64: any state is valid, so a zero state only means "not seeded
 * yet"; the address of the state is a cheap seed that differs between
 * backends (and between runs, with ASLR). */
static uint64_t balance_rng_next(struct balance_state *st)
{
	if (st->rng == 0)
		st->rng = balance_mix64((uint64_t)(uintptr_t)st ^ BALANCE_GOLDEN);
	st->rng += BALANCE_GOLDEN;
	return balance_mix64(st->rng);
}

/* Uniform in [0, total) by multiply-shift: its bias, total / 2^32, is
 * nothing next to the noise of random choice itself. */
static uint64_t balance_rng_below(struct balance_state *st, uint64_t total)
{
	return ((balance_rng_next(st) >> 32) * total) >> 32;
}

static ssize_t balance_random(struct balance_slot *const *slots, size_t n, bool backups,
			      struct balance_state *st)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < n; i++)
		if (balance_in_tier(slots[i], backups))
			total += slots[i]->weight;
	r = balance_rng_below(st, total);
	for (size_t i = 0; i < n; i++) {
		if (!balance_in_tier(slots[i], backups))
			continue;
		if (r < slots[i]->weight)
			return (ssize_t)i;
		r -= slots[i]->weight;
	}
	return -1;                      /* not reached: r < total */
}

ssize_t balance_pick(enum balance_algo algo, struct balance_slot *const *slots, size_t n,
		     const struct addr *client, struct balance_state *st)
{
	bool backups;

	if (!balance_choose_tier(slots, n, &backups))
		return -1;
	switch (algo) {
	case BALANCE_ROUNDROBIN:
		return balance_roundrobin(slots, n, backups);
	case BALANCE_LEASTCONN:
		return balance_leastconn(slots, n, backups, st);
	case BALANCE_SOURCE:
		return balance_source(slots, n, backups, client);
	case BALANCE_RANDOM:
		return balance_random(slots, n, backups, st);
	}
	return -1;
}
