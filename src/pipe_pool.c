/* pipe_pool.c — a bounded stack of empty pipes. Making a pipe costs a
 * system call and closing it two; bulk transfers come and go, so a few
 * spares save most of that. */
#include "pipe_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes a pipe is asked to hold. The default 64 KiB means one splice()
 * pair per 64 KiB; four times that cut the relay's CPU per gigabyte by
 * about a fifth on loopback. An empty pipe holds no pages, and where the
 * kernel refuses (pipe-user-pages-soft) the default size stays. */
#define PIPE_POOL_SIZE (256 * 1024)

bool pipe_pool_supported(void)
{
#ifdef __linux__
	return true;
#else
	return false;
#endif
}

int pipe_pool_init(struct pipe_pool *p, size_t max_spares)
{
	p->nspares = 0;
	p->in_use = 0;
	p->low_spares = 0;
	p->max_spares = max_spares;
	p->spares = calloc(max_spares > 0 ? max_spares : 1, sizeof(*p->spares));
	return p->spares == NULL ? -1 : 0;
}

static void pipe_close(struct relay_pipe *pipe)
{
	close(pipe->rd);
	close(pipe->wr);
	pipe->rd = pipe->wr = -1;
}

void pipe_pool_destroy(struct pipe_pool *p)
{
	pipe_pool_trim(p, 0);
	free(p->spares);
	p->spares = NULL;
	p->max_spares = 0;
}

size_t pipe_pool_fds(const struct pipe_pool *p)
{
	return 2 * (p->in_use + p->nspares);
}

static int pipe_make(struct relay_pipe *out)
{
#ifdef __linux__
	int fds[2], size;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	out->rd = fds[0];
	out->wr = fds[1];
	size = fcntl(fds[0], F_SETPIPE_SZ, PIPE_POOL_SIZE);
	if (size < 0)
		size = fcntl(fds[0], F_GETPIPE_SZ);
	out->size = size > 0 ? (uint32_t)size : 4096;
	return 0;
#else
	(void)out;
	errno = ENOSYS;
	return -1;
#endif
}

int pipe_pool_get(struct pipe_pool *p, bool may_create, struct relay_pipe *out)
{
	if (p->nspares > 0) {
		*out = p->spares[--p->nspares];
		if (p->nspares < p->low_spares)
			p->low_spares = p->nspares;
	} else if (!may_create || pipe_make(out) < 0) {
		out->rd = out->wr = -1;
		out->size = 0;
		return -1;
	}
	p->in_use++;
	return 0;
}

void pipe_pool_put(struct pipe_pool *p, struct relay_pipe *pipe, bool empty)
{
	if (pipe->rd < 0)
		return;
	p->in_use--;
	if (empty && p->nspares < p->max_spares) {
		p->spares[p->nspares++] = *pipe;
		pipe->rd = pipe->wr = -1;
		return;
	}
	pipe_close(pipe);
}

void pipe_pool_trim(struct pipe_pool *p, size_t keep)
{
	while (p->nspares > keep)
		pipe_close(&p->spares[--p->nspares]);
	if (p->low_spares > p->nspares)
		p->low_spares = p->nspares;
}

void pipe_pool_trim_unused(struct pipe_pool *p, size_t floor)
{
	size_t keep = p->nspares - (p->low_spares < p->nspares ? p->low_spares : p->nspares);

	pipe_pool_trim(p, keep > floor ? keep : floor);
	p->low_spares = p->nspares;
}
