/* listener.h — the listening sockets of one configured listener, and the
 * accept path that turns connections into sessions. */
#ifndef NETPOLLD_LISTENER_H
#define NETPOLLD_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct proxy;
struct backend;
struct config_listener;

struct listener_socket {
	const char *text;               /* address as configured */
	struct addr addr;               /* address bound */
	int fd;                         /* -1 while not bound */
	struct listener *listener;      /* owner */
};

struct listener {
	const char *name;               /* as configured */
	struct proxy *proxy;            /* the running proxy it feeds */
	struct backend *backend;        /* where its sessions go */
	uint32_t idle_timeout_ms;       /* for its sessions */
	struct listener_socket *socks;  /* one per listen address */
	size_t nsocks;
};

int listener_init(struct listener *l, const struct config_listener *cl, struct proxy *p,
		  struct backend *b);
void listener_fini(struct listener *l);
/* Binds every address; on failure logs which one and returns -1. */
int listener_start(struct listener *l);
/* Accepting on or off, without giving up the sockets. */
void listener_pause(struct listener *l);
void listener_resume(struct listener *l);
/* Closes the sockets: new connections are refused from here on. */
void listener_stop(struct listener *l);

#endif
