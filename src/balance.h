/* balance.h — which server of a backend takes the next connection:
 * smooth weighted round-robin, weighted least-connections, weighted
 * rendezvous hashing of the client address, weighted random. Pure code:
 * no I/O, no logging, no allocation; the caller (backend.c) describes
 * its servers as slots and gets back an index. */
#ifndef NETPOLLD_BALANCE_H
#define NETPOLLD_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

/* BALANCE_ROUNDROBIN is 0 so a zeroed configuration has the default. */
enum balance_algo {
	BALANCE_ROUNDROBIN,
	BALANCE_LEASTCONN,
	BALANCE_SOURCE,
	BALANCE_RANDOM,
};

/* The configuration's limit; weights above it are not supported (they
 * keep the integer arithmetic of balance_pick() far from overflow). */
#define BALANCE_WEIGHT_MAX 256u

/* "roundrobin" | "leastconn" | "source" | "random" -> 0 and *OUT;
 * anything else -> -1, *OUT untouched. */
int balance_algo_parse(const char *name, enum balance_algo *out);
/* The configuration word for A. */
const char *balance_algo_name(enum balance_algo a);

/* What selection needs of one server. The caller embeds one per server
 * and refreshes the volatile fields before each pick. */
struct balance_slot {
	unsigned weight;                /* 1..BALANCE_WEIGHT_MAX, from the configuration */
	bool backup;                    /* only used while no primary is eligible */
	uint32_t id_hash;               /* balance_hash_name(configured address), for source */
	/* refreshed by the caller before each pick: */
	bool eligible;                  /* up, not drained/disabled, below its max_connections */
	uint64_t conns;                 /* its open connections now, for leastconn */
	/* kept by roundrobin between picks (zero to start, kept across
	 * reloads for a same-named server if the caller wishes): */
	int64_t current;                /* smooth weighted round-robin credit */
};

/* Per backend; all zero is a valid start. */
struct balance_state {
	size_t cursor;                  /* leastconn: where the next tie-break scan starts */
	uint64_t rng;                   /* random: PRNG state; 0 = seed on first use */
};

/* A stable, well-mixed hash of a server's configured address ("10.0.0.1:80"):
 * the same text gives the same value in every process and generation, so
 * source keeps sending a client to the same server across restarts. */
uint32_t balance_hash_name(const char *name);

/* The index of the chosen slot among SLOTS[0..N), or -1 when no slot is
 * eligible. Primaries (backup false) are considered first; backup slots
 * only while no primary is eligible. CLIENT is read by BALANCE_SOURCE only
 * (NULL elsewhere; NULL or a unix address there maps every such client to
 * one server). roundrobin updates the slots' current, leastconn and random
 * update ST; source changes nothing, so asking twice is harmless.
 * (netpolld's retries do not come here: backend.c moves a retry to the next
 * server in configuration order, so no algorithm's turn is spent on it.) */
ssize_t balance_pick(enum balance_algo algo, struct balance_slot *const *slots, size_t n,
		     const struct addr *client, struct balance_state *st);

#endif
