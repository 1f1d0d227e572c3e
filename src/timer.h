/* timer.h — a binary min-heap of deadlines. Arm and cancel are O(log n),
 * the next deadline is O(1). Timers are embedded in their owners, so the
 * heap never allocates per timer, only when it grows. */
#ifndef NETPOLLD_TIMER_H
#define NETPOLLD_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*timer_cb)(void *arg);

struct timer {
	uint64_t deadline;      /* monotonic milliseconds */
	uint64_t seq;           /* arming order: equal deadlines fire FIFO */
	size_t slot;            /* position in the heap + 1; 0 = not armed */
	timer_cb cb;            /* called once when the deadline passes */
	void *arg;              /* handed to cb */
};

struct timer_heap {
	struct timer **items;   /* items[0] is the earliest deadline */
	size_t count;           /* armed timers */
	size_t cap;             /* allocated slots */
	uint64_t next_seq;      /* source of timer.seq */
};

void timer_init(struct timer *t, timer_cb cb, void *arg);
static inline bool timer_armed(const struct timer *t)
{
	return t->slot != 0;
}

void timer_heap_init(struct timer_heap *h);
void timer_heap_free(struct timer_heap *h);
/* Arms (or re-arms) T for DEADLINE. -1 only if the heap cannot grow. */
int timer_heap_arm(struct timer_heap *h, struct timer *t, uint64_t deadline);
void timer_heap_cancel(struct timer_heap *h, struct timer *t);
/* The earliest armed timer, or NULL. */
struct timer *timer_heap_peek(const struct timer_heap *h);

#endif
