/* config.h — the configuration model: what a file means once it has been
 * read by a front end (libconfig or YAML) and validated. The daemon only
 * ever sees a fully valid model; defaults are already folded in. */
#ifndef NETPOLLD_CONFIG_H
#define NETPOLLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"

/* Defaults when a key is absent (SPEC "Configuration"). */
#define CONFIG_DEFAULT_CONNECT_TIMEOUT_MS  5000u
#define CONFIG_DEFAULT_IDLE_TIMEOUT_MS     600000u
#define CONFIG_DEFAULT_RETRIES             2
#define CONFIG_DEFAULT_BUFFER_SIZE         16384u
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS 30000u

/* Accepted ranges; outside them is a configuration error. */
#define CONFIG_BUFFER_SIZE_MIN 1024u
#define CONFIG_BUFFER_SIZE_MAX (16u * 1024 * 1024)
#define CONFIG_RETRIES_MAX     100

struct config_address {
	char *text;                     /* as written: names the object in logs */
	struct addr addr;               /* resolved at load time */
	int line;                       /* where it was written */
};

struct config_server {
	struct config_address address;  /* "10.0.0.1:80": the server's name */
	int line;                       /* line of the server's entry */
};

struct config_backend {
	char *name;                     /* unique among backends */
	uint32_t connect_timeout_ms;    /* own value, else defaults, else 5s */
	int retries;                    /* further servers tried after a failure */
	struct config_server *servers;  /* at least one */
	size_t nservers;
	int line;                       /* line of the backend's entry */
};

struct config_listener {
	char *name;                     /* unique among listeners */
	struct config_address *listen;  /* at least one; unique process-wide */
	size_t nlisten;
	char *backend;                  /* name as written */
	size_t backend_index;           /* index into config.backends */
	uint32_t idle_timeout_ms;       /* own value, else defaults, else 10m */
	int line;                       /* line of the listener's entry */
};

struct config {
	char *path;                     /* the file it came from */
	enum log_level log_level;       /* global.log_level */
	bool log_connections;           /* global.log_connections */
	size_t buffer_size;             /* bytes per direction per connection */
	uint32_t shutdown_timeout_ms;   /* graceful stop bound; 0 = at once */
	struct config_address stats_socket;    /* global.stats_socket; text NULL = none */
	struct config_address metrics_listen;  /* global.metrics_listen; text NULL = none */
	struct config_listener *listeners;  /* at least one */
	size_t nlisteners;
	struct config_backend *backends;    /* at least one */
	size_t nbackends;
};

/* Every problem found, each already formatted "FILE:LINE: message", in
 * file order. Start from a zeroed struct; config_load() appends. */
struct config_errors {
	char **msgs;                    /* owned, count of them */
	size_t count;                   /* messages in msgs */
};

/* Reads and validates PATH (".yaml"/".yml" -> YAML, else libconfig).
 * Returns the model, or NULL with every error appended to ERRS. */
struct config *config_load(const char *path, struct config_errors *errs);
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);

/* Appends "FILE:LINE: message" to ERRS, or "FILE: message" when LINE is 0
 * (a problem with the file as a whole, such as "cannot open"), or just
 * the message when FILE is NULL (a problem beyond the file: a bind). The front
 * ends report through it too. -1 when memory is short. */
int config_errors_add(struct config_errors *errs, const char *file, int line,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "250ms", "5s", "10m", "1h" -> milliseconds. 0 on success, -1 with a
 * static message in *ERR. (Integers of seconds are handled by the
 * validator, which knows the value's type.) */
int config_parse_duration(const char *text, uint64_t *ms, const char **err);

#endif
