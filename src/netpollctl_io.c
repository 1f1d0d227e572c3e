/* netpollctl_io.c — talking to the stats socket: a blocking connect
 * bounded by SO_SNDTIMEO, then non-blocking send and receive through
 * poll() against the exchange's deadline. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* poll, sockets, fcntl under -std=c11 */
#endif
#include "netpollctl_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A stats answer is a few KiB per thousand servers; anything this large
 * is not netpolld talking, and holding more would only hurt the host. */
#define CTL_REPLY_MAX        ((size_t)64 << 20)

volatile sig_atomic_t ctl_stop_signal;

/* One connection being used for an exchange. */
struct ctl_conn {
	int fd;                         /* the socket, or -1 before there is one */
	int64_t deadline_ms;            /* monotonic; the exchange is over by then */
	int timeout_ms;                 /* the budget, for the message */
	struct ctl_error *err;          /* where a failure's reason goes */
};

static int ctl_fail(struct ctl_conn *c, const char *reason)
{
	snprintf(c->err->reason, sizeof c->err->reason, "%s", reason);
	return -1;
}

/* A failed call's errno, worded for a user. */
static int ctl_fail_errno(struct ctl_conn *c)
{
	char msg[64];

	if (errno == ETIMEDOUT || errno == EAGAIN || errno == EWOULDBLOCK) {
		snprintf(msg, sizeof msg, "timed out after %d s", c->timeout_ms / 1000);
		return ctl_fail(c, msg);
	}
	if (errno == EINTR)
		return ctl_fail(c, "interrupted");
	return ctl_fail(c, strerror(errno));
}

/* Waits until FD is ready for EVENTS or the deadline passes (errno
 * ETIMEDOUT). A signal is waited through unless it asked watch to stop. */
static int ctl_wait(struct ctl_conn *c, short events)
{
	for (;;) {
		int64_t left = c->deadline_ms - now_ms();
		struct pollfd p = { .fd = c->fd, .events = events };
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			errno = ETIMEDOUT;
		if (n == 0 || errno != EINTR || ctl_stop_signal)
			return -1;
	}
}

static int ctl_connect(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };

	c->err->connecting = true;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return ctl_fail_errno(c);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c->fd < 0)
		return ctl_fail_errno(c);
	/* A daemon whose listen backlog is full makes connect() wait;
	 * SO_SNDTIMEO bounds that wait for unix sockets. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
#ifdef SO_NOSIGPIPE
	setsockopt(c->fd, SOL_SOCKET, SO_NOSIGPIPE, &(int){ 1 }, sizeof(int));
#endif
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		if (errno != EINTR || ctl_stop_signal)
			return ctl_fail_errno(c);
	c->err->connecting = false;
	/* From here on every wait goes through poll() and the deadline. */
	return fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0 ? ctl_fail_errno(c) : 0;
}

#ifdef MSG_NOSIGNAL
#define CTL_SEND_FLAGS MSG_NOSIGNAL     /* a closed socket is an error, not a death */
#else
#define CTL_SEND_FLAGS 0                /* SO_NOSIGPIPE does it there */
#endif

static int ctl_send(struct ctl_conn *c, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, CTL_SEND_FLAGS);

		if (n >= 0)
			off += (size_t)n;
		else if (errno == EINTR && !ctl_stop_signal)
			continue;       /* NOLINT(bugprone-branch-clone): two reasons to retry */
		else if ((errno == EAGAIN || errno == EWOULDBLOCK) && ctl_wait(c, POLLOUT) == 0)
			continue;
		else
			return ctl_fail_errno(c);
	}
	return 0;
}

/* An answer ends with an empty line: a '\n' at the answer's very start
 * or right after another '\n'. Scans only bytes not yet looked at. */
static void reply_scan(struct ctl_reply *r)
{
	const char *d = r->raw.data;

	for (; r->scan < r->raw.len && r->n < r->want; r->scan++) {
		size_t start = r->n ? r->end[r->n - 1] + 1 : 0;

		if (d[r->scan] != '\n' || (r->scan > start && d[r->scan - 1] != '\n'))
			continue;
		r->start[r->n] = start;
		r->end[r->n] = r->scan;
		r->n++;
	}
}

static int ctl_recv(struct ctl_conn *c, struct ctl_reply *r)
{
	while (r->n < r->want) {
		ssize_t n;

		if (r->raw.len > CTL_REPLY_MAX)
			return ctl_fail(c, "answer larger than 64 MiB");
		buf_reserve(&r->raw, 65536);
		n = recv(c->fd, r->raw.data + r->raw.len, r->raw.cap - r->raw.len - 1, 0);
		if (n > 0) {
			r->raw.len += (size_t)n;
			r->raw.data[r->raw.len] = '\0';
			reply_scan(r);
		} else if (n == 0) {
			return ctl_fail(c, "connection closed before the answer ended");
		} else if (errno == EINTR && !ctl_stop_signal) {
			continue;
		} else if ((errno != EAGAIN && errno != EWOULDBLOCK) || ctl_wait(c, POLLIN) < 0) {
			return ctl_fail_errno(c);
		}
	}
	return 0;
}

int ctl_query(const char *path, const char *cmds, size_t want, int timeout_ms,
	      struct ctl_reply *r, struct ctl_error *err)
{
	struct ctl_conn c = { .fd = -1, .deadline_ms = now_ms() + timeout_ms,
			      .timeout_ms = timeout_ms, .err = err };
	int rc;

	*r = (struct ctl_reply){ .want = want };
	rc = ctl_connect(&c, path);
	if (rc == 0)
		rc = ctl_send(&c, cmds);
	if (rc == 0)
		rc = ctl_recv(&c, r);
	if (c.fd >= 0)
		close(c.fd);
	for (size_t i = 0; rc == 0 && i < r->n; i++)
		r->raw.data[r->end[i]] = '\0';
	return rc;
}

char *reply_answer(struct ctl_reply *r, size_t i)
{
	return r->raw.data + r->start[i];
}

void reply_free(struct ctl_reply *r)
{
	buf_free(&r->raw);
}

bool answer_is_error(const char *a)
{
	return strncmp(a, "error:", 6) == 0;
}
