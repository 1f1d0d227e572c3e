/* check_timer.c — the deadline heap: order, cancel, re-arm, scale. */
#include <check.h>
#include <stdlib.h>

#include "check_run.h"
#include "timer.h"

static void noop(void *arg)
{
	(void)arg;
}

/* Pops everything, asserting non-decreasing deadlines; returns the count. */
static size_t drain_in_order(struct timer_heap *h)
{
	uint64_t last = 0;
	size_t n = 0;
	struct timer *t;

	while ((t = timer_heap_peek(h)) != NULL) {
		ck_assert_uint_ge(t->deadline, last);
		last = t->deadline;
		timer_heap_cancel(h, t);
		ck_assert(!timer_armed(t));
		n++;
	}
	return n;
}

START_TEST(test_earliest_deadline_comes_first)
{
	struct timer_heap h;
	struct timer t[5];
	uint64_t d[5] = { 50, 10, 40, 20, 30 };

	timer_heap_init(&h);
	for (int i = 0; i < 5; i++) {
		timer_init(&t[i], noop, NULL);
		ck_assert_int_eq(timer_heap_arm(&h, &t[i], d[i]), 0);
	}
	ck_assert_ptr_eq(timer_heap_peek(&h), &t[1]);
	ck_assert_uint_eq(drain_in_order(&h), 5);
	timer_heap_free(&h);
}
END_TEST

START_TEST(test_equal_deadlines_fire_in_arming_order)
{
	struct timer_heap h;
	struct timer t[4];

	timer_heap_init(&h);
	for (int i = 0; i < 4; i++) {
		timer_init(&t[i], noop, NULL);
		timer_heap_arm(&h, &t[i], 100);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_ptr_eq(timer_heap_peek(&h), &t[i]);
		timer_heap_cancel(&h, &t[i]);
	}
	timer_heap_free(&h);
}
END_TEST

START_TEST(test_cancel_removes_from_the_middle)
{
	struct timer_heap h;
	struct timer t[8];

	timer_heap_init(&h);
	for (int i = 0; i < 8; i++) {
		timer_init(&t[i], noop, NULL);
		timer_heap_arm(&h, &t[i], (uint64_t)(i * 7 % 8));
	}
	timer_heap_cancel(&h, &t[3]);
	timer_heap_cancel(&h, &t[3]);   /* twice is harmless */
	ck_assert(!timer_armed(&t[3]));
	ck_assert_uint_eq(h.count, 7);
	ck_assert_uint_eq(drain_in_order(&h), 7);
	timer_heap_free(&h);
}
END_TEST

START_TEST(test_rearm_moves_the_deadline)
{
	struct timer_heap h;
	struct timer a, b;

	timer_heap_init(&h);
	timer_init(&a, noop, NULL);
	timer_init(&b, noop, NULL);
	timer_heap_arm(&h, &a, 10);
	timer_heap_arm(&h, &b, 20);
	timer_heap_arm(&h, &a, 30);
	ck_assert_uint_eq(h.count, 2);
	ck_assert_ptr_eq(timer_heap_peek(&h), &b);
	timer_heap_arm(&h, &a, 5);
	ck_assert_ptr_eq(timer_heap_peek(&h), &a);
	timer_heap_free(&h);
	ck_assert(!timer_armed(&a));
	ck_assert(!timer_armed(&b));
}
END_TEST

/* 100k timers, random arms and cancels: the heap stays ordered. */
START_TEST(test_many_timers_random_operations)
{
	enum { N = 100000 };
	struct timer_heap h;
	struct timer *t = calloc(N, sizeof(*t));
	unsigned seed = 42;

	timer_heap_init(&h);
	for (int i = 0; i < N; i++) {
		timer_init(&t[i], noop, NULL);
		seed = seed * 1103515245 + 12345;
		timer_heap_arm(&h, &t[i], seed % 1000000);
	}
	for (int i = 0; i < N; i += 3)
		timer_heap_cancel(&h, &t[i]);
	for (int i = 1; i < N; i += 5) {
		seed = seed * 1103515245 + 12345;
		timer_heap_arm(&h, &t[i], seed % 1000000);
	}
	size_t armed = 0;
	for (int i = 0; i < N; i++)
		armed += timer_armed(&t[i]);
	ck_assert_uint_eq(h.count, armed);
	ck_assert_uint_eq(drain_in_order(&h), armed);
	timer_heap_free(&h);
	free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("heap");

	tcase_add_test(tc, test_earliest_deadline_comes_first);
	tcase_add_test(tc, test_equal_deadlines_fire_in_arming_order);
	tcase_add_test(tc, test_cancel_removes_from_the_middle);
	tcase_add_test(tc, test_rearm_moves_the_deadline);
	tcase_add_test(tc, test_many_timers_random_operations);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return check_run(s);
}
