/* reload.c — the configuration loader thread. It shares nothing with
 * the reactor but the job: the thread fills in the result, then writes
 * one byte to a pipe the reactor watches; only after reading that byte
 * does the reactor look at the result (pthread_join orders the two). */
#include "reload.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor.h"

struct reload_job {
	struct reactor *reactor;        /* where DONE runs */
	char *path;                     /* owned copy */
	reload_done_cb done;
	void *arg;                      /* handed to done */
	pthread_t thread;
	int pipe[2];                    /* thread -> reactor: "finished" */
	struct config *cfg;             /* the thread's result */
	struct config_errors errs;      /* likewise */
};

static void *reload_thread(void *arg)
{
	struct reload_job *job = arg;
	char c = 1;

	job->cfg = config_load(job->path, &job->errs);
	/* A full or closed pipe cannot happen: one byte, read once. */
	if (write(job->pipe[1], &c, 1) < 0) {
		/* nothing to do: reload_cancel() joins without it */
	}
	return NULL;
}

static void reload_job_free(struct reload_job *job)
{
	reactor_close(job->reactor, job->pipe[0]);
	close(job->pipe[1]);
	free(job->path);
	free(job);
}

static void reload_on_done(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct reload_job *job = arg;
	reload_done_cb done = job->done;
	struct config_errors errs = job->errs;
	struct config *cfg;
	void *done_arg = job->arg;

	(void)r;
	(void)fd;
	(void)events;
	pthread_join(job->thread, NULL);
	cfg = job->cfg;
	reload_job_free(job);
	done(done_arg, cfg, &errs);
}

/* The thread starts with every signal blocked, so signals always reach
 * the reactor thread, whose handlers expect to interrupt it. */
static int reload_spawn(struct reload_job *job)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&job->thread, NULL, reload_thread, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

struct reload_job *reload_start(struct reactor *r, const char *path, reload_done_cb done,
				void *arg)
{
	struct reload_job *job = calloc(1, sizeof(*job));
	int err;

	if (job == NULL)
		return NULL;
	job->reactor = r;
	job->done = done;
	job->arg = arg;
	job->path = strdup(path);
	if (job->path == NULL || pipe2(job->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(job->path);
		free(job);
		errno = ENOMEM;
		return NULL;
	}
	if (reactor_add(r, job->pipe[0], REACTOR_READ, reload_on_done, job) < 0) {
		err = ENOMEM;
		goto fail;
	}
	err = reload_spawn(job);
	if (err == 0)
		return job;
fail:
	reload_job_free(job);
	errno = err;
	return NULL;
}

void reload_cancel(struct reload_job *job)
{
	struct pollfd finished;

	if (job == NULL)
		return;
	/* A loader still in the resolver (a DNS server that never answers)
	 * must not hold the stop hostage: the process is ending, so the
	 * thread is left the job it still uses, and exit ends them both. */
	finished = (struct pollfd){ .fd = job->pipe[0], .events = POLLIN };
	if (poll(&finished, 1, 0) == 0) {
		pthread_detach(job->thread);
		return;
	}
	pthread_join(job->thread, NULL);
	config_free(job->cfg);
	config_errors_free(&job->errs);
	reload_job_free(job);
}
