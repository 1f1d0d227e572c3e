/* generation.h — the objects built from one configuration: listeners,
 * backends and their servers. A reload builds a new generation beside
 * the current one (as nginx builds a new cycle), hands it the listening
 * sockets whose address is unchanged, and drops the old one; objects the
 * old one made live on for as long as a session holds them. */
#ifndef NETPOLLD_GENERATION_H
#define NETPOLLD_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct activation;
struct backend;
struct config;
struct config_errors;
struct listener;
struct runtime;

struct generation {
	uint64_t number;                /* 0 at start, +1 per successful reload */
	struct config *cfg;             /* owned: global settings */
	struct runtime *rt;             /* what its listeners feed */
	struct listener **listeners;    /* each holds a reference */
	size_t nlisteners;
	struct backend **backends;      /* each holds a reference */
	size_t nbackends;
};

/* Builds the objects of CFG (taken over, freed on failure). Same-named
 * objects of PREV (may be NULL) hand on their counters and state. No
 * socket is opened. NULL if memory ran out. */
struct generation *generation_new(struct config *cfg, const struct generation *prev,
				  struct runtime *rt, uint64_t number);
/* Drops the generation's references; objects still used by sessions
 * stay. Sockets it still owns are closed. */
void generation_free(struct generation *g);
/* Finds a socket for every listen address: PREV's socket with that
 * address, else an inherited one from ACT (may be NULL), else a new
 * bind. Nothing of PREV changes. On failure every problem is appended to
 * ERRS, what was opened is closed, and -1 is returned. */
int generation_open(struct generation *g, const struct generation *prev,
		    struct activation *act, struct config_errors *errs);
/* G takes its sockets from PREV (may be NULL) and starts accepting if
 * ACCEPTING; PREV's remaining sockets (removed addresses) are closed. */
int generation_commit(struct generation *g, struct generation *prev, bool accepting);
/* Every listener of G accepting on or off. */
void generation_set_accepting(struct generation *g, bool on);
/* Closes every listening socket (the graceful stop). */
void generation_close(struct generation *g);
/* Active health checks of G's backends on, or off. */
void generation_start_checks(struct generation *g);
void generation_stop_checks(struct generation *g);
/* Servers under active checks (a descriptor each while checked). */
size_t generation_nchecks(const struct generation *g);
/* Listening sockets G holds, for the descriptor budget. */
size_t generation_nsockets(const struct generation *g);
struct backend *generation_find_backend(const struct generation *g, const char *name);

#endif
