/* activation.c — sockets inherited from systemd through sd-daemon. */
#include "activation.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"

/* What we need of an inherited socket: a listening stream socket, made
 * non-blocking and close-on-exec like the ones we bind ourselves. */
static int activation_adopt(struct activation_sock *s)
{
	int flags;

	if (sd_is_socket(s->fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		log_errorx("socket activation: fd %d (%s) is not a listening stream socket",
			   s->fd, s->name);
		return -1;
	}
	s->addr.len = sizeof(s->addr.u);
	if (getsockname(s->fd, &s->addr.u.sa, &s->addr.len) < 0) {
		log_error("socket activation: fd %d (%s)", s->fd, s->name);
		return -1;
	}
	flags = fcntl(s->fd, F_GETFL);
	if (flags < 0 || fcntl(s->fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("socket activation: fd %d (%s)", s->fd, s->name);
		return -1;
	}
	return 0;
}

int activation_init(struct activation *a)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (n <= 0) {
		if (n < 0)
			log_warnx("socket activation: LISTEN_FDS unusable: error %d", -n);
		return 0;
	}
	a->socks = calloc((size_t)n, sizeof(*a->socks));
	for (int i = 0; i < n; i++) {
		struct activation_sock *s = &a->socks[i];

		if (a->socks == NULL) {
			close(SD_LISTEN_FDS_START + i);
			free(names[i]);
			continue;
		}
		s->fd = SD_LISTEN_FDS_START + i;
		s->name = names[i];     /* "unknown" when systemd names none */
		a->n++;
		if (rc == 0 && activation_adopt(s) < 0)
			rc = -1;
	}
	free(names);
	if (a->socks == NULL) {
		log_errorx("socket activation: out of memory");
		return -1;
	}
	return rc;
}

void activation_fini(struct activation *a)
{
	for (size_t i = 0; i < a->n; i++) {
		if (!a->socks[i].used)
			close(a->socks[i].fd);
		free(a->socks[i].name);
	}
	free(a->socks);
	memset(a, 0, sizeof(*a));
}

int activation_take_addr(struct activation *a, const struct addr *addr)
{
	for (size_t i = 0; i < a->n; i++) {
		if (!a->socks[i].used && addr_equal(&a->socks[i].addr, addr)) {
			a->socks[i].used = true;
			return a->socks[i].fd;
		}
	}
	return -1;
}

const struct activation_sock *activation_take_named(struct activation *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++) {
		if (!a->socks[i].used && strcmp(a->socks[i].name, name) == 0) {
			a->socks[i].used = true;
			return &a->socks[i];
		}
	}
	return NULL;
}

void activation_warn_unused(const struct activation *a)
{
	for (size_t i = 0; i < a->n; i++) {
		char buf[ADDR_STRLEN];

		if (!a->socks[i].used)
			log_warnx("socket activation: %s (%s) matches no listener; not accepting on it",
				  addr_format(&a->socks[i].addr, buf, sizeof(buf)), a->socks[i].name);
	}
}
