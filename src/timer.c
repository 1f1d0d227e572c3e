/* timer.c — the deadline heap behind the reactor's timers. */
#include "timer.h"

#include <stdlib.h>

void timer_init(struct timer *t, timer_cb cb, void *arg)
{
	t->deadline = 0;
	t->seq = 0;
	t->slot = 0;
	t->cb = cb;
	t->arg = arg;
}

void timer_heap_init(struct timer_heap *h)
{
	h->items = NULL;
	h->count = 0;
	h->cap = 0;
	h->next_seq = 0;
}

void timer_heap_free(struct timer_heap *h)
{
	for (size_t i = 0; i < h->count; i++)
		h->items[i]->slot = 0;
	free(h->items);
	timer_heap_init(h);
}

static bool timer_before(const struct timer *a, const struct timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void timer_heap_place(struct timer_heap *h, size_t i, struct timer *t)
{
	h->items[i] = t;
	t->slot = i + 1;
}

static void timer_heap_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->items[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, h->items[parent]))
			break;
		timer_heap_place(h, i, h->items[parent]);
		i = parent;
	}
	timer_heap_place(h, i, t);
}

static void timer_heap_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->items[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->count)
			break;
		if (child + 1 < h->count && timer_before(h->items[child + 1], h->items[child]))
			child++;
		if (!timer_before(h->items[child], t))
			break;
		timer_heap_place(h, i, h->items[child]);
		i = child;
	}
	timer_heap_place(h, i, t);
}

int timer_heap_arm(struct timer_heap *h, struct timer *t, uint64_t deadline)
{
	if (timer_armed(t))
		timer_heap_cancel(h, t);
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct timer **items = realloc(h->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		h->items = items;
		h->cap = cap;
	}
	t->deadline = deadline;
	t->seq = h->next_seq++;
	timer_heap_place(h, h->count++, t);
	timer_heap_up(h, h->count - 1);
	return 0;
}

void timer_heap_cancel(struct timer_heap *h, struct timer *t)
{
	size_t i;
	struct timer *last;

	if (!timer_armed(t))
		return;
	i = t->slot - 1;
	t->slot = 0;
	last = h->items[--h->count];
	if (i == h->count)
		return;
	/* The last leaf fills the hole and moves whichever way it must. */
	timer_heap_place(h, i, last);
	if (i > 0 && timer_before(last, h->items[(i - 1) / 2]))
		timer_heap_up(h, i);
	else
		timer_heap_down(h, i);
}

struct timer *timer_heap_peek(const struct timer_heap *h)
{
	return h->count ? h->items[0] : NULL;
}
