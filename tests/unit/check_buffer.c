/* check_buffer.c — ring arithmetic and the buffer pool. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "buffer.h"

/* Copies LEN bytes from SRC into the ring's free slices. */
static size_t put(struct ring *r, struct buffer_pool *p, const char *src, size_t len)
{
	struct iovec iov[2];
	int n = ring_space(r, p, iov);
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy(iov[i].iov_base, src + done, k);
		done += k;
	}
	ring_produce(r, p, done);
	return done;
}

/* Copies up to LEN held bytes into DST without consuming them. */
static size_t peek(const struct ring *r, const struct buffer_pool *p, char *dst, size_t len)
{
	struct iovec iov[2];
	int n = ring_data(r, p, iov);
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy(dst + done, iov[i].iov_base, k);
		done += k;
	}
	return done;
}

START_TEST(test_empty_ring_holds_no_memory)
{
	struct buffer_pool p;
	struct ring r = { 0 };
	struct iovec iov[2];

	buffer_pool_init(&p, 1024, 4);
	ck_assert(ring_empty(&r));
	ck_assert_ptr_null(r.data);
	ck_assert_int_eq(ring_data(&r, &p, iov), 0);
	ck_assert_int_eq(ring_space(&r, &p, iov), 1);
	ck_assert_ptr_nonnull(r.data);
	ck_assert_uint_eq(iov[0].iov_len, 1024);
	ck_assert_uint_eq(p.in_use, 1);
	ring_clear(&r, &p);
	ck_assert_ptr_null(r.data);
	ck_assert_uint_eq(p.in_use, 0);
	ck_assert_uint_eq(p.nfree, 1);
	buffer_pool_destroy(&p);
}
END_TEST

START_TEST(test_consuming_everything_returns_the_buffer)
{
	struct buffer_pool p;
	struct ring r = { 0 };

	buffer_pool_init(&p, 64, 4);
	ck_assert_uint_eq(put(&r, &p, "hello", 5), 5);
	ring_consume(&r, &p, 2);
	ck_assert_uint_eq(r.len, 3);
	ck_assert_uint_eq(p.in_use, 1);
	ring_consume(&r, &p, 3);
	ck_assert(ring_empty(&r));
	ck_assert_ptr_null(r.data);
	ck_assert_uint_eq(p.in_use, 0);
	buffer_pool_destroy(&p);
}
END_TEST

START_TEST(test_ring_is_bounded_by_pool_size)
{
	struct buffer_pool p;
	struct ring r = { 0 };
	struct iovec iov[2];
	char big[100];

	memset(big, 'x', sizeof(big));
	buffer_pool_init(&p, 64, 4);
	ck_assert_uint_eq(put(&r, &p, big, sizeof(big)), 64);
	ck_assert(ring_full(&r, &p));
	ck_assert_int_eq(ring_space(&r, &p, iov), 0);
	ring_clear(&r, &p);
	buffer_pool_destroy(&p);
}
END_TEST

/* Bytes come out in order across the wrap-around, in two slices. */
START_TEST(test_wrap_around_keeps_order)
{
	struct buffer_pool p;
	struct ring r = { 0 };
	struct iovec iov[2];
	char out[64];

	buffer_pool_init(&p, 16, 4);
	put(&r, &p, "0123456789abcdef", 16);
	ring_consume(&r, &p, 10);                     /* "abcdef" left at 10..15 */
	ck_assert_int_eq(ring_space(&r, &p, iov), 1); /* free: 0..9 */
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_assert_uint_eq(put(&r, &p, "GHIJKLMNOPQ", 11), 10);
	ck_assert(ring_full(&r, &p));
	ck_assert_int_eq(ring_data(&r, &p, iov), 2);
	ck_assert_uint_eq(peek(&r, &p, out, sizeof(out)), 16);
	ck_assert_mem_eq(out, "abcdefGHIJKLMNOP", 16);
	ring_consume(&r, &p, 7);
	/* head at 1, bytes 1..9: free is 10..15 and then 0..0 */
	ck_assert_int_eq(ring_space(&r, &p, iov), 2);
	ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, 7);
	ck_assert_uint_eq(peek(&r, &p, out, sizeof(out)), 9);
	ck_assert_mem_eq(out, "HIJKLMNOP", 9);
	ring_clear(&r, &p);
	buffer_pool_destroy(&p);
}
END_TEST

/* Free space split in two: after the tail and before the head. */
START_TEST(test_space_in_two_slices)
{
	struct buffer_pool p;
	struct ring r = { 0 };
	struct iovec iov[2];
	char out[16];

	buffer_pool_init(&p, 16, 4);
	put(&r, &p, "abcdefgh", 8);
	ring_consume(&r, &p, 4);                      /* "efgh" at 4..7 */
	ck_assert_int_eq(ring_space(&r, &p, iov), 2);
	ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, 12);
	ck_assert_uint_eq(put(&r, &p, "ijklmnopqrst", 12), 12);
	ck_assert_uint_eq(peek(&r, &p, out, sizeof(out)), 16);
	ck_assert_mem_eq(out, "efghijklmnopqrst", 16);
	ring_clear(&r, &p);
	buffer_pool_destroy(&p);
}
END_TEST

/* A random workload against a plain FIFO model. */
START_TEST(test_random_traffic_matches_fifo)
{
	struct buffer_pool p;
	struct ring r = { 0 };
	static char model[1 << 16], in[64], out[64];
	size_t mhead = 0, mlen = 0;
	unsigned seed = 12345;

	buffer_pool_init(&p, 37, 2);
	for (int step = 0; step < 20000; step++) {
		seed = seed * 1103515245 + 12345;
		size_t k = (seed >> 16) % 40;
		if ((seed >> 8) & 1) {
			for (size_t i = 0; i < k; i++)
				in[i] = (char)(seed + step + i);
			size_t n = put(&r, &p, in, k);
			ck_assert_uint_eq(n, k < 37 - mlen ? k : 37 - mlen);
			memcpy(model + mhead + mlen, in, n);
			mlen += n;
		} else {
			size_t n = peek(&r, &p, out, k);
			ck_assert_uint_eq(n, k < mlen ? k : mlen);
			ck_assert_mem_eq(out, model + mhead, n);
			ring_consume(&r, &p, n);
			mhead += n;
			mlen -= n;
		}
		if (mhead > sizeof(model) / 2) {
			memmove(model, model + mhead, mlen);
			mhead = 0;
		}
		ck_assert_uint_eq(r.len, mlen);
		ck_assert_uint_eq(p.in_use, r.data != NULL);
	}
	ring_clear(&r, &p);
	buffer_pool_destroy(&p);
}
END_TEST

START_TEST(test_pool_keeps_at_most_max_free_spares)
{
	struct buffer_pool p;
	struct ring r[5] = { 0 };
	struct iovec iov[2];

	buffer_pool_init(&p, 128, 2);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ring_space(&r[i], &p, iov), 1);
	ck_assert_uint_eq(p.in_use, 5);
	for (int i = 0; i < 5; i++)
		ring_clear(&r[i], &p);
	ck_assert_uint_eq(p.in_use, 0);
	ck_assert_uint_eq(p.nfree, 2);
	buffer_pool_destroy(&p);
	ck_assert_uint_eq(p.nfree, 0);
}
END_TEST

/* Spares a whole period left untouched go back; those it used stay. */
START_TEST(test_trim_frees_only_spares_unused_since_last_trim)
{
	struct buffer_pool p;
	struct ring r[8] = { 0 };
	struct iovec iov[2];

	buffer_pool_init(&p, 128, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(ring_space(&r[i], &p, iov), 1);
	for (int i = 0; i < 8; i++)
		ring_clear(&r[i], &p);
	ck_assert_uint_eq(p.nfree, 8);
	/* The burst itself took every spare there was: nothing to free. */
	ck_assert_uint_eq(buffer_pool_trim(&p, 1), 0);
	/* Two of the spares in use during the next period: the six
	 * others were not needed. */
	ck_assert_int_eq(ring_space(&r[0], &p, iov), 1);
	ck_assert_int_eq(ring_space(&r[1], &p, iov), 1);
	ring_clear(&r[0], &p);
	ring_clear(&r[1], &p);
	ck_assert_uint_eq(buffer_pool_trim(&p, 1), 6);
	ck_assert_uint_eq(p.nfree, 2);
	/* A quiet period: down to the floor, never below. */
	ck_assert_uint_eq(buffer_pool_trim(&p, 1), 1);
	ck_assert_uint_eq(p.nfree, 1);
	ck_assert_uint_eq(buffer_pool_trim(&p, 1), 0);
	buffer_pool_destroy(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buffer");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_empty_ring_holds_no_memory);
	tcase_add_test(tc, test_consuming_everything_returns_the_buffer);
	tcase_add_test(tc, test_ring_is_bounded_by_pool_size);
	tcase_add_test(tc, test_wrap_around_keeps_order);
	tcase_add_test(tc, test_space_in_two_slices);
	tcase_add_test(tc, test_random_traffic_matches_fifo);
	tcase_add_test(tc, test_pool_keeps_at_most_max_free_spares);
	tcase_add_test(tc, test_trim_frees_only_spares_unused_since_last_trim);
	suite_add_tcase(s, tc);
	return check_run(s);
}
