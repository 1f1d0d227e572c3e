/* check_reactor.c — the loop's contract: readiness, interest changes,
 * invalidation of closed fds, timers, deferred tasks, signals. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "reactor.h"

struct probe {
	int calls;              /* callbacks seen */
	unsigned last;          /* last event mask */
	int other_fd;           /* fd close_other() closes */
};

static void on_io(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct probe *p = arg;

	(void)r;
	(void)fd;
	p->calls++;
	p->last = events;
}

/* Reads its byte (so it is not reported again) and closes the other fd. */
static void close_other(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct probe *p = arg;
	char c;

	ck_assert_int_eq(read(fd, &c, 1), 1);
	p->calls++;
	p->last = events;
	reactor_close(r, p->other_fd);
}

static void stop_cb(void *arg)
{
	reactor_stop(arg);
}

/* Runs R until a timer DELAY_MS away stops it. */
static void run_for(struct reactor *r, uint64_t delay_ms)
{
	struct timer t;

	timer_init(&t, stop_cb, r);
	ck_assert_int_eq(reactor_timer_arm(r, &t, delay_ms), 0);
	ck_assert_int_eq(reactor_run(r), 0);
	reactor_timer_cancel(r, &t);
}

START_TEST(test_readable_fd_is_reported_until_interest_drops)
{
	struct reactor *r = reactor_create();
	struct probe p = { .other_fd = -1 };
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(reactor_add(r, sv[0], REACTOR_READ, on_io, &p), 0);
	run_for(r, 20);
	ck_assert_int_gt(p.calls, 0);
	ck_assert_uint_eq(p.last, REACTOR_READ);
	reactor_set(r, sv[0], 0);
	p.calls = 0;
	run_for(r, 20);
	ck_assert_int_eq(p.calls, 0);
	reactor_close(r, sv[0]);
	close(sv[1]);
	reactor_destroy(r);
}
END_TEST

/* A peer that hung up while we want nothing must not wake us at all. */
START_TEST(test_hung_up_fd_without_interest_is_silent)
{
	struct reactor *r = reactor_create();
	struct probe p = { .other_fd = -1 };
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(reactor_add(r, sv[0], REACTOR_READ, on_io, &p), 0);
	reactor_set(r, sv[0], 0);
	close(sv[1]);
	run_for(r, 30);
	ck_assert_int_eq(p.calls, 0);
	/* Asking to write again reports the hang-up as writability. */
	reactor_set(r, sv[0], REACTOR_WRITE);
	run_for(r, 10);
	ck_assert_int_gt(p.calls, 0);
	ck_assert_uint_eq(p.last & ~REACTOR_STATUS, REACTOR_WRITE);
	ck_assert_uint_ne(p.last & REACTOR_STATUS, 0);
	reactor_close(r, sv[0]);
	reactor_destroy(r);
}
END_TEST

/* Two ready fds; whichever runs first closes the other, whose pending
 * event in the same batch must then not be delivered. */
START_TEST(test_closed_fd_loses_its_pending_events)
{
	struct reactor *r = reactor_create();
	int a[2], b[2];
	struct probe pa = { .other_fd = -1 }, pb = { .other_fd = -1 };

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "x", 1), 1);
	pa.other_fd = b[0];
	pb.other_fd = a[0];
	ck_assert_int_eq(reactor_add(r, a[0], REACTOR_READ, close_other, &pa), 0);
	ck_assert_int_eq(reactor_add(r, b[0], REACTOR_READ, close_other, &pb), 0);
	run_for(r, 10);
	ck_assert_int_eq(pa.calls + pb.calls, 1);
	/* The survivor is still open and registered; close it. */
	if (pa.calls)
		reactor_close(r, a[0]);
	else
		reactor_close(r, b[0]);
	close(a[1]);
	close(b[1]);
	reactor_destroy(r);
}
END_TEST

static int order[8], norder;

static void record(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
}

/* Handing a registered fd to a new owner keeps the kernel's watch: the
 * new callback gets the events (no EPOLL_CTL_ADD that fails with EEXIST
 * and leaves the fd unwatched). */
START_TEST(test_re_adding_a_registered_fd_moves_it_to_the_new_owner)
{
	struct reactor *r = reactor_create();
	struct probe old = { .other_fd = -1 }, now = { .other_fd = -1 };
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(reactor_add(r, sv[0], REACTOR_READ, on_io, &old), 0);
	run_for(r, 5);             /* the kernel now watches it */
	ck_assert_int_eq(reactor_add(r, sv[0], REACTOR_READ, on_io, &now), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	run_for(r, 20);
	ck_assert_int_eq(old.calls, 0);
	ck_assert_int_gt(now.calls, 0);
	reactor_close(r, sv[0]);
	close(sv[1]);
	reactor_destroy(r);
}
END_TEST

/* epoll watches the open file: with a second descriptor on it (systemd's
 * copy of an inherited socket), close() alone leaves it in the set and
 * its events would go on waking the loop. A shared fd is removed. */
START_TEST(test_closed_shared_fd_reports_nothing_more)
{
	struct reactor *r = reactor_create();
	struct probe p = { .other_fd = -1 }, q = { .other_fd = -1 };
	int sv[2], copy, again[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	copy = dup(sv[0]);
	ck_assert_int_ge(copy, 0);
	ck_assert_int_eq(reactor_add(r, sv[0], REACTOR_READ, on_io, &p), 0);
	reactor_share(r, sv[0]);
	run_for(r, 5);
	reactor_close(r, sv[0]);
	/* The number comes back for something else that is not readable. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, again), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(reactor_add(r, again[0], REACTOR_READ, on_io, &q), 0);
	run_for(r, 20);
	ck_assert_int_eq(p.calls, 0);
	ck_assert_int_eq(q.calls, 0);
	reactor_close(r, again[0]);
	close(again[1]);
	close(copy);
	close(sv[1]);
	reactor_destroy(r);
}
END_TEST

START_TEST(test_timers_fire_in_deadline_order)
{
	struct reactor *r = reactor_create();
	struct timer t[3];

	norder = 0;
	timer_init(&t[0], record, (void *)30);
	timer_init(&t[1], record, (void *)10);
	timer_init(&t[2], record, (void *)20);
	reactor_timer_arm(r, &t[0], 30);
	reactor_timer_arm(r, &t[1], 10);
	reactor_timer_arm(r, &t[2], 20);
	run_for(r, 60);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 10);
	ck_assert_int_eq(order[1], 20);
	ck_assert_int_eq(order[2], 30);
	reactor_destroy(r);
}
END_TEST

static void defer_from_io(struct reactor *r, int fd, unsigned events, void *arg)
{
	(void)events;
	reactor_set(r, fd, 0);
	record((void *)1);
	reactor_defer(r, arg);
	reactor_defer(r, arg);  /* queued once only */
	record((void *)2);
}

START_TEST(test_deferred_task_runs_once_after_the_batch)
{
	struct reactor *r = reactor_create();
	struct reactor_task task;
	int sv[2];

	norder = 0;
	reactor_task_init(&task, record, (void *)3);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	reactor_add(r, sv[0], REACTOR_READ, defer_from_io, &task);
	run_for(r, 20);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 1);
	ck_assert_int_eq(order[1], 2);
	ck_assert_int_eq(order[2], 3);
	reactor_close(r, sv[0]);
	close(sv[1]);
	reactor_destroy(r);
}
END_TEST

static void on_signal(struct reactor *r, int signo, void *arg)
{
	*(int *)arg = signo;
	reactor_stop(r);
}

START_TEST(test_signal_is_delivered_inside_the_loop)
{
	struct reactor *r = reactor_create();
	struct timer guard;
	int got = 0;

	ck_assert_int_eq(reactor_signal(r, SIGUSR1, on_signal, &got), 0);
	timer_init(&guard, stop_cb, r);
	reactor_timer_arm(r, &guard, 5000);
	raise(SIGUSR1);
	ck_assert_int_eq(got, 0);   /* nothing ran in the handler itself */
	ck_assert_int_eq(reactor_run(r), 0);
	ck_assert_int_eq(got, SIGUSR1);
	reactor_timer_cancel(r, &guard);
	reactor_destroy(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reactor");
	TCase *tc = tcase_create("loop");

	tcase_add_test(tc, test_readable_fd_is_reported_until_interest_drops);
	tcase_add_test(tc, test_hung_up_fd_without_interest_is_silent);
	tcase_add_test(tc, test_closed_fd_loses_its_pending_events);
	tcase_add_test(tc, test_re_adding_a_registered_fd_moves_it_to_the_new_owner);
	tcase_add_test(tc, test_closed_shared_fd_reports_nothing_more);
	tcase_add_test(tc, test_timers_fire_in_deadline_order);
	tcase_add_test(tc, test_deferred_task_runs_once_after_the_batch);
	tcase_add_test(tc, test_signal_is_delivered_inside_the_loop);
	suite_add_tcase(s, tc);
	return check_run(s);
}
