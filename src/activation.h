/* activation.h — listening sockets handed over by systemd (socket
 * activation: LISTEN_FDS, LISTEN_FDNAMES). A listener whose address
 * matches one takes it instead of binding; one whose name equals a
 * socket's FileDescriptorName takes that socket too. */
#ifndef NETPOLLD_ACTIVATION_H
#define NETPOLLD_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

struct activation_sock {
	int fd;                         /* as inherited, now non-blocking */
	char *name;                     /* FileDescriptorName, owned */
	struct addr addr;               /* what it is bound to */
	bool used;                      /* a listener took it */
};

struct activation {
	struct activation_sock *socks;
	size_t n;
};

/* Takes the inherited sockets (none without socket activation). Logs
 * and returns -1 if they are unusable (not listening stream sockets). */
int activation_init(struct activation *a);
/* Closes those no listener took. */
void activation_fini(struct activation *a);
/* An unused inherited socket bound to ADDR, or -1. Marks it used. */
int activation_take_addr(struct activation *a, const struct addr *addr);
/* The next unused socket named NAME, or NULL. Marks it used. */
const struct activation_sock *activation_take_named(struct activation *a, const char *name);
/* Logs each inherited socket no listener took. */
void activation_warn_unused(const struct activation *a);

#endif
