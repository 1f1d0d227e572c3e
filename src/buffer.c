/* buffer.c — ring arithmetic and the buffer pool. Allocation happens only
 * when the pool has no spare; the relay's steady state allocates nothing. */
#include "buffer.h"

#include <assert.h>
#include <stdlib.h>

void buffer_pool_init(struct buffer_pool *p, size_t size, size_t max_free)
{
	p->size = size;
	p->free_list = NULL;
	p->nfree = 0;
	p->max_free = max_free;
	p->in_use = 0;
	p->low_free = 0;
}

void buffer_pool_destroy(struct buffer_pool *p)
{
	while (p->free_list != NULL) {
		void *next = *(void **)p->free_list;
		free(p->free_list);
		p->free_list = next;
	}
	p->nfree = 0;
	p->low_free = 0;
}

size_t buffer_pool_trim(struct buffer_pool *p, size_t floor)
{
	size_t n = p->low_free, freed = 0;

	while (n-- > 0 && p->nfree > floor) {
		void *b = p->free_list;
		p->free_list = *(void **)b;
		p->nfree--;
		free(b);
		freed++;
	}
	p->low_free = p->nfree;
	return freed;
}

static char *buffer_get(struct buffer_pool *p)
{
	char *b = p->free_list;

	if (b != NULL) {
		p->free_list = *(void **)b;
		p->nfree--;
		if (p->nfree < p->low_free)
			p->low_free = p->nfree;
	} else {
		p->low_free = 0;
		b = malloc(p->size);
		if (b == NULL)
			return NULL;
	}
	p->in_use++;
	return b;
}

static void buffer_put(struct buffer_pool *p, char *b)
{
	p->in_use--;
	if (p->nfree >= p->max_free) {
		free(b);
		return;
	}
	*(void **)b = p->free_list;
	p->free_list = b;
	p->nfree++;
}

int ring_space(struct ring *r, struct buffer_pool *p, struct iovec iov[2])
{
	size_t tail, size = p->size;

	if (r->len == size)
		return 0;
	if (r->data == NULL) {
		r->data = buffer_get(p);
		if (r->data == NULL)
			return -1;
		r->head = 0;
	}
	tail = (r->head + r->len) % size;
	if (tail >= r->head) {
		/* Free space is [tail, size) then [0, head). */
		iov[0].iov_base = r->data + tail;
		iov[0].iov_len = size - tail;
		if (r->head == 0)
			return 1;
		iov[1].iov_base = r->data;
		iov[1].iov_len = r->head;
		return 2;
	}
	iov[0].iov_base = r->data + tail;
	iov[0].iov_len = r->head - tail;
	return 1;
}

void ring_produce(struct ring *r, const struct buffer_pool *p, size_t n)
{
	assert(r->len + n <= p->size);
	r->len += (uint32_t)n;
}

int ring_data(const struct ring *r, const struct buffer_pool *p, struct iovec iov[2])
{
	size_t first;

	if (r->len == 0)
		return 0;
	first = p->size - r->head;
	iov[0].iov_base = r->data + r->head;
	if (r->len <= first) {
		iov[0].iov_len = r->len;
		return 1;
	}
	iov[0].iov_len = first;
	iov[1].iov_base = r->data;
	iov[1].iov_len = r->len - first;
	return 2;
}

void ring_consume(struct ring *r, struct buffer_pool *p, size_t n)
{
	assert(n <= r->len);
	r->len -= (uint32_t)n;
	r->head = (uint32_t)((r->head + n) % p->size);
	if (r->len == 0)
		ring_clear(r, p);
}

void ring_clear(struct ring *r, struct buffer_pool *p)
{
	if (r->data != NULL)
		buffer_put(p, r->data);
	r->data = NULL;
	r->head = 0;
	r->len = 0;
}
