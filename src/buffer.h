/* buffer.h — bounded byte rings for the relay, and the pool they borrow
 * their memory from. A ring holds memory only while it holds bytes: an
 * idle connection costs no buffer at all. */
#ifndef NETPOLLD_BUFFER_H
#define NETPOLLD_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct buffer_pool {
	size_t size;            /* bytes in every buffer */
	void *free_list;        /* spare buffers, linked through their first bytes */
	size_t nfree;           /* buffers on free_list */
	size_t max_free;        /* spares kept; more go back to the allocator */
	size_t in_use;          /* buffers lent to rings */
	size_t low_free;        /* fewest spares since the last trim */
};

struct ring {
	char *data;             /* NULL while empty: no memory held */
	uint32_t head;          /* offset of the first byte */
	uint32_t len;           /* bytes held */
};

void buffer_pool_init(struct buffer_pool *p, size_t size, size_t max_free);
void buffer_pool_destroy(struct buffer_pool *p);
/* Frees the spares no one took since the last trim (the fewest there
 * were meanwhile), keeping at least FLOOR. Returns how many it freed. */
size_t buffer_pool_trim(struct buffer_pool *p, size_t floor);

static inline bool ring_empty(const struct ring *r)
{
	return r->len == 0;
}
static inline bool ring_full(const struct ring *r, const struct buffer_pool *p)
{
	return r->len == p->size;
}

/* Where the next bytes may go (1 or 2 slices); borrows memory if the ring
 * has none. Returns the slice count, 0 if full, -1 if memory ran out. */
int ring_space(struct ring *r, struct buffer_pool *p, struct iovec iov[2]);
void ring_produce(struct ring *r, const struct buffer_pool *p, size_t n);
/* The bytes held, oldest first (0, 1 or 2 slices). */
int ring_data(const struct ring *r, const struct buffer_pool *p, struct iovec iov[2]);
/* Drops N bytes from the front; an emptied ring gives its memory back. */
void ring_consume(struct ring *r, struct buffer_pool *p, size_t n);
/* Forget the contents (undeliverable) and give the memory back. */
void ring_clear(struct ring *r, struct buffer_pool *p);

#endif
