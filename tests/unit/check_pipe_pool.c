/* check_pipe_pool.c — lending, reusing and trimming splice pipes. */
#include <check.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "pipe_pool.h"

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(test_get_makes_a_nonblocking_pipe_and_counts_it)
{
	struct pipe_pool p;
	struct relay_pipe a;

	ck_assert_int_eq(pipe_pool_init(&p, 4), 0);
	ck_assert_int_eq(pipe_pool_get(&p, true, &a), 0);
	ck_assert_uint_eq(p.in_use, 1);
	ck_assert_uint_eq(pipe_pool_fds(&p), 2);
	ck_assert(fcntl(a.wr, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(a.rd, F_GETFD) & FD_CLOEXEC);
	ck_assert_uint_ge(a.size, 4096);
	ck_assert_int_eq(fcntl(a.rd, F_GETPIPE_SZ), (int)a.size);
	pipe_pool_put(&p, &a, true);
	ck_assert_int_eq(a.rd, -1);
	ck_assert_uint_eq(p.in_use, 0);
	ck_assert_uint_eq(p.nspares, 1);
	pipe_pool_destroy(&p);
}
END_TEST

START_TEST(test_empty_pipe_is_reused_a_full_one_closed)
{
	struct pipe_pool p;
	struct relay_pipe a, b;
	int rd;

	ck_assert_int_eq(pipe_pool_init(&p, 4), 0);
	ck_assert_int_eq(pipe_pool_get(&p, true, &a), 0);
	rd = a.rd;
	pipe_pool_put(&p, &a, true);
	/* A spare needs no new descriptors: MAY_CREATE does not matter. */
	ck_assert_int_eq(pipe_pool_get(&p, false, &b), 0);
	ck_assert_int_eq(b.rd, rd);
	ck_assert_int_eq(write(b.wr, "x", 1), 1);
	pipe_pool_put(&p, &b, false);
	ck_assert(!fd_open(rd));
	ck_assert_uint_eq(p.nspares, 0);
	ck_assert_uint_eq(p.in_use, 0);
	/* No spare and no room for a new one. */
	ck_assert_int_eq(pipe_pool_get(&p, false, &b), -1);
	ck_assert_int_eq(b.rd, -1);
	pipe_pool_destroy(&p);
}
END_TEST

START_TEST(test_spares_are_bounded)
{
	struct pipe_pool p;
	struct relay_pipe a[3];

	ck_assert_int_eq(pipe_pool_init(&p, 2), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pipe_pool_get(&p, true, &a[i]), 0);
	for (int i = 0; i < 3; i++)
		pipe_pool_put(&p, &a[i], true);
	ck_assert_uint_eq(p.nspares, 2);
	ck_assert_uint_eq(pipe_pool_fds(&p), 4);
	pipe_pool_destroy(&p);
}
END_TEST

START_TEST(test_trim_unused_closes_what_a_period_did_not_take)
{
	struct pipe_pool p;
	struct relay_pipe a[4];

	ck_assert_int_eq(pipe_pool_init(&p, 8), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pipe_pool_get(&p, true, &a[i]), 0);
	for (int i = 0; i < 4; i++)
		pipe_pool_put(&p, &a[i], true);
	/* The burst took them all: keep them for now. */
	pipe_pool_trim_unused(&p, 0);
	ck_assert_uint_eq(p.nspares, 4);
	/* One in use during the next period: three were not needed. */
	ck_assert_int_eq(pipe_pool_get(&p, false, &a[0]), 0);
	pipe_pool_put(&p, &a[0], true);
	pipe_pool_trim_unused(&p, 0);
	ck_assert_uint_eq(p.nspares, 1);
	pipe_pool_trim_unused(&p, 0);
	ck_assert_uint_eq(p.nspares, 0);
	pipe_pool_destroy(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipe_pool");
	TCase *tc = tcase_create("pool");

	if (!pipe_pool_supported())
		return 0;
	tcase_add_test(tc, test_get_makes_a_nonblocking_pipe_and_counts_it);
	tcase_add_test(tc, test_empty_pipe_is_reused_a_full_one_closed);
	tcase_add_test(tc, test_spares_are_bounded);
	tcase_add_test(tc, test_trim_unused_closes_what_a_period_did_not_take);
	suite_add_tcase(s, tc);
	return check_run(s);
}
