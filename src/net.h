/* net.h — thin socket helpers: non-blocking listen, accept, connect and
 * vectored I/O that answers with what the state machine needs to know.
 * Nothing here logs; callers add context. */
#ifndef NETPOLLD_NET_H
#define NETPOLLD_NET_H

#include <stddef.h>
#include <sys/uio.h>

#include "addr.h"

enum io_result {
	IO_OK,          /* some bytes moved */
	IO_AGAIN,       /* nothing now; wait for readiness */
	IO_EOF,         /* the peer finished sending */
	IO_ERR,         /* errno says why */
};

/* A bound, listening, non-blocking socket; -1 with errno. A stale unix
 * socket file (no one accepting behind it) is replaced. */
int net_listen(const struct addr *a, int backlog);
/* Undoes what net_listen left in the file system (unix sockets). */
void net_unlink(const struct addr *a);
/* A non-blocking connection; -1 with errno (EAGAIN/EMFILE/ENFILE: retry
 * later). PEER may be NULL. */
int net_accept(int lfd, struct addr *peer);
/* Starts a non-blocking connect: 0 connected, 1 in progress, -1 failed
 * (errno; *FD is then -1). */
int net_connect(const struct addr *a, int *fd);
/* After a connect in progress signals writability: 0 or the error. */
int net_connect_error(int fd);
void net_nodelay(int fd, const struct addr *a);
/* TCP_NODELAY for a client accepted from a listener that has it: Linux
 * copies the listener's options to the accepted socket, so there it
 * costs nothing. */
void net_accepted_nodelay(int fd, const struct addr *a);
/* Bytes written to FD that the peer has not acknowledged yet (0 where the
 * system cannot tell). */
size_t net_unsent(int fd);

enum io_result net_readv(int fd, struct iovec *iov, int n, size_t *moved);
enum io_result net_writev(int fd, const struct iovec *iov, int n, size_t *moved);
/* splice(): at most MAX bytes from socket FD into pipe PIPE_WR, or from
 * pipe PIPE_RD into socket FD; the answers mean what net_readv's and
 * net_writev's do. Linux only (elsewhere IO_ERR with ENOSYS). */
enum io_result net_splice_in(int fd, int pipe_wr, size_t max, size_t *moved);
enum io_result net_splice_out(int pipe_rd, int fd, size_t max, size_t *moved);

#endif
