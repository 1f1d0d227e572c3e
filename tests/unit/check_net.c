/* check_net.c — the socket helpers' promises about the kernel: accepted
 * clients get TCP_NODELAY from their listener, and splice moves bytes
 * socket to pipe to socket with the same answers as readv/writev. */
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "listener.h"
#include "net.h"
#include "pipe_pool.h"

/* A connected pair of TCP sockets on loopback: *CLIENT and *SERVER,
 * accepted from a listening socket that went through a listener as
 * every listening socket of the daemon does. */
static void tcp_pair(int *client, int *server)
{
	struct listener l = { 0 };
	struct addr a = { 0 }, bound;
	socklen_t len = sizeof(bound.u);
	int lfd, rc;

	/* Port 0, which addr_parse() rightly refuses: any free one. */
	a.u.sin.sin_family = AF_INET;
	a.u.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof(a.u.sin);
	lfd = net_listen(&a, 8);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(listener_new_socket(&l, 0, lfd, false, "127.0.0.1:0", &a), 0);
	ck_assert_int_eq(getsockname(lfd, &bound.u.sa, &len), 0);
	bound.len = len;
	rc = net_connect(&bound, client);
	ck_assert_int_ge(rc, 0);
	for (int i = 0; i < 1000 && (*server = net_accept(lfd, NULL)) < 0; i++)
		usleep(1000);
	ck_assert_int_ge(*server, 0);
	net_accepted_nodelay(*server, &a);
	close(lfd);
	free(l.socks[0]->text);
	free(l.socks[0]);
	free(l.socks);
}

START_TEST(test_accepted_socket_has_nodelay)
{
	int c, s, on = 0;
	socklen_t len = sizeof(on);

	tcp_pair(&c, &s);
	ck_assert_int_eq(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	ck_assert_int_ne(on, 0);
	close(c);
	close(s);
}
END_TEST

START_TEST(test_splice_relays_and_reports_eof)
{
	struct pipe_pool pool;
	struct relay_pipe p;
	int c, s, c2, s2;
	size_t n;
	char buf[16];

	if (!pipe_pool_supported())
		return;
	ck_assert_int_eq(pipe_pool_init(&pool, 1), 0);
	ck_assert_int_eq(pipe_pool_get(&pool, true, &p), 0);
	tcp_pair(&c, &s);
	tcp_pair(&c2, &s2);
	ck_assert_int_eq(net_splice_in(s, p.wr, p.size, &n), IO_AGAIN);
	ck_assert_int_eq(write(c, "hello", 5), 5);
	for (int i = 0; i < 1000 && net_splice_in(s, p.wr, p.size, &n) == IO_AGAIN; i++)
		usleep(1000);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(net_splice_out(p.rd, s2, n, &n), IO_OK);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(read(c2, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	/* An empty pipe has nothing to give: "again", not an error. */
	ck_assert_int_eq(net_splice_out(p.rd, s2, 5, &n), IO_AGAIN);
	shutdown(c, SHUT_WR);
	for (int i = 0; i < 1000 && net_splice_in(s, p.wr, p.size, &n) == IO_AGAIN; i++)
		usleep(1000);
	ck_assert_int_eq(net_splice_in(s, p.wr, p.size, &n), IO_EOF);
	pipe_pool_put(&pool, &p, true);
	pipe_pool_destroy(&pool);
	close(c);
	close(s);
	close(c2);
	close(s2);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("net");
	TCase *tc = tcase_create("net");

	tcase_add_test(tc, test_accepted_socket_has_nodelay);
	tcase_add_test(tc, test_splice_relays_and_reports_eof);
	suite_add_tcase(su, tc);
	return check_run(su);
}
