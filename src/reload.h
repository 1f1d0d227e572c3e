/* reload.h — reading a configuration file off the reactor thread. A
 * host name in it may take the resolver seconds; a helper thread loads
 * and validates the file while the reactor goes on relaying, and the
 * result comes back to the reactor as a readiness event. */
#ifndef NETPOLLD_RELOAD_H
#define NETPOLLD_RELOAD_H

#include "config.h"

struct reactor;
struct reload_job;

/* Called on the reactor thread with the model (NULL if invalid) and
 * every error; both are the callee's to free. */
typedef void (*reload_done_cb)(void *arg, struct config *cfg, struct config_errors *errs);

/* Starts loading PATH; DONE runs on the reactor when it is read. NULL
 * (errno set) if no thread could be started. */
struct reload_job *reload_start(struct reactor *r, const char *path, reload_done_cb done,
				void *arg);
/* At exit, with a load still in flight: drops its result without
 * calling DONE. A load not finished yet is not waited for; its thread
 * keeps the job until the process ends. */
void reload_cancel(struct reload_job *job);

#endif
