/* net.c — socket plumbing for listeners and sessions. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int net_socket(int family)
{
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* A unix socket file nobody accepts on is left-over from a crash; one that
 * answers belongs to a live process and must not be stolen. */
static int net_unix_reclaim(const struct addr *a)
{
	struct stat st;
	int fd, r;

	if (lstat(a->u.sun.sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = connect(fd, &a->u.sa, a->len);
	close(fd);
	if (r == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(a->u.sun.sun_path);
}

int net_listen(const struct addr *a, int backlog)
{
	int one = 1, fd, saved;

	if (a->u.sa.sa_family == AF_UNIX && net_unix_reclaim(a) < 0)
		return -1;
	fd = net_socket(a->u.sa.sa_family);
	if (fd < 0)
		return -1;
	if (a->u.sa.sa_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* "[::]:80" and "0.0.0.0:80" are two listeners, as in nginx. */
	if (a->u.sa.sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, &a->u.sa, a->len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void net_unlink(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_UNIX && a->u.sun.sun_path[0] != '\0')
		unlink(a->u.sun.sun_path);
}

int net_accept(int lfd, struct addr *peer)
{
	struct addr scratch;

	if (peer == NULL)
		peer = &scratch;
	peer->len = sizeof(peer->u);
	return accept4(lfd, &peer->u.sa, &peer->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int net_connect(const struct addr *a, int *fd)
{
	int saved;

	*fd = net_socket(a->u.sa.sa_family);
	if (*fd < 0)
		return -1;
	net_nodelay(*fd, a);
	if (connect(*fd, &a->u.sa, a->len) == 0)
		return 0;
	if (errno == EINPROGRESS)
		return 1;
	saved = errno;
	close(*fd);
	*fd = -1;
	/* A unix listener with a full backlog says EAGAIN: for us, refused. */
	errno = saved == EAGAIN ? ECONNREFUSED : saved;
	return -1;
}

int net_connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

void net_nodelay(int fd, const struct addr *a)
{
	int one = 1;

	if (a->u.sa.sa_family == AF_INET || a->u.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void net_accepted_nodelay(int fd, const struct addr *a)
{
#ifdef __linux__
	(void)fd;
	(void)a;
#else
	net_nodelay(fd, a);
#endif
}

size_t net_unsent(int fd)
{
#ifdef TIOCOUTQ
	int n = 0;

	/* TIOCOUTQ is SIOCOUTQ: unsent plus unacknowledged bytes. */
	if (ioctl(fd, TIOCOUTQ, &n) == 0 && n > 0)
		return (size_t)n;
#else
	(void)fd;
#endif
	return 0;
}

enum io_result net_readv(int fd, struct iovec *iov, int n, size_t *moved)
{
	ssize_t r;

	*moved = 0;
	do
		r = readv(fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		*moved = (size_t)r;
		return IO_OK;
	}
	if (r == 0)
		return IO_EOF;
	return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
}

enum io_result net_writev(int fd, const struct iovec *iov, int n, size_t *moved)
{
	ssize_t r;

	*moved = 0;
	do
		r = writev(fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r >= 0) {
		*moved = (size_t)r;
		return r > 0 ? IO_OK : IO_AGAIN;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
}

/* Both directions: the socket is non-blocking already, and
 * SPLICE_F_NONBLOCK makes the pipe side so too. */
static ssize_t net_splice(int from, int to, size_t max)
{
#ifdef __linux__
	ssize_t r;

	do
		r = splice(from, NULL, to, NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (r < 0 && errno == EINTR);
	return r;
#else
	(void)from;
	(void)to;
	(void)max;
	errno = ENOSYS;
	return -1;
#endif
}

enum io_result net_splice_in(int fd, int pipe_wr, size_t max, size_t *moved)
{
	ssize_t r = net_splice(fd, pipe_wr, max);

	*moved = r > 0 ? (size_t)r : 0;
	if (r > 0)
		return IO_OK;
	if (r == 0)
		return IO_EOF;
	return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
}

enum io_result net_splice_out(int pipe_rd, int fd, size_t max, size_t *moved)
{
	ssize_t r = net_splice(pipe_rd, fd, max);

	*moved = r > 0 ? (size_t)r : 0;
	if (r > 0)
		return IO_OK;
	if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
		return IO_AGAIN;
	return IO_ERR;
}
