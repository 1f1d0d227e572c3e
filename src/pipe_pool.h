/* pipe_pool.h — kernel pipes for the splice() relay, lent to a direction
 * of a connection while it carries a bulk transfer. A pipe costs two
 * descriptors, so spares are few and every one counts against the
 * open-file limit (the runtime decides whether one may be made). */
#ifndef NETPOLLD_PIPE_POOL_H
#define NETPOLLD_PIPE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct relay_pipe {
	int rd, wr;             /* -1, -1 while none is held */
	uint32_t size;          /* bytes it holds at most */
};

struct pipe_pool {
	struct relay_pipe *spares;  /* empty pipes kept for reuse */
	size_t nspares;
	size_t max_spares;          /* more go back to the kernel */
	size_t in_use;              /* lent out (pipes_in_use) */
	size_t low_spares;          /* fewest spares since the last trim */
};

/* Whether this system relays with splice() at all. */
bool pipe_pool_supported(void);
/* 0, or -1 if memory for MAX_SPARES slots ran out. */
int pipe_pool_init(struct pipe_pool *p, size_t max_spares);
void pipe_pool_destroy(struct pipe_pool *p);
/* Descriptors the pool holds, lent or spare. */
size_t pipe_pool_fds(const struct pipe_pool *p);
/* A spare if there is one, else a new pipe if MAY_CREATE; 0 or -1. */
int pipe_pool_get(struct pipe_pool *p, bool may_create, struct relay_pipe *out);
/* Takes PIPE back. One still holding bytes (EMPTY false) cannot be
 * reused: it is closed and its bytes go with it. */
void pipe_pool_put(struct pipe_pool *p, struct relay_pipe *pipe, bool empty);
/* Closes spares beyond KEEP (descriptors are short). */
void pipe_pool_trim(struct pipe_pool *p, size_t keep);
/* Closes the spares no one took since the last call, keeping FLOOR. */
void pipe_pool_trim_unused(struct pipe_pool *p, size_t floor);

#endif
