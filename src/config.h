/* config.h — the configuration model: what a file means once it has been
 * read by a front end (libconfig or YAML) and validated. The daemon only
 * ever sees a fully valid model; defaults are already folded in. */
#ifndef NETPOLLD_CONFIG_H
#define NETPOLLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "addr.h"
#include "balance.h"
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
#define CONFIG_WEIGHT_MAX      256
#define CONFIG_CONNECTIONS_MAX 10000000

/* health_check's defaults for the keys it leaves out (SPEC's example). */
#define CONFIG_DEFAULT_CHECK_INTERVAL_MS 2000u
#define CONFIG_DEFAULT_CHECK_TIMEOUT_MS  1000u
#define CONFIG_DEFAULT_CHECK_RISE        2
#define CONFIG_DEFAULT_CHECK_FALL        3

/* send_proxy: the PROXY protocol header written to servers. */
enum config_send_proxy {
	CONFIG_SEND_PROXY_OFF,
	CONFIG_SEND_PROXY_V1,
	CONFIG_SEND_PROXY_V2,
};

struct config_address {
	char *text;                     /* as written: names the object in logs */
	struct addr addr;               /* resolved at load time */
	int line;                       /* where it was written */
};

struct config_server {
	struct config_address address;  /* "10.0.0.1:80": the server's name */
	unsigned weight;                /* 1-256; 0 until folded to the default 1 */
	size_t max_connections;         /* 0 = no limit */
	bool backup;                    /* used only while no primary is */
	int line;                       /* line of the server's entry */
};

/* Active TCP connect checks of a backend's servers. */
struct config_health {
	bool enabled;                   /* health_check was given */
	uint32_t interval_ms;           /* between two checks of a server */
	uint32_t timeout_ms;            /* for one check's connect */
	int rise;                       /* passes in a row that bring a server up */
	int fall;                       /* failures in a row that take it down */
	int line;                       /* where it was written */
};

struct config_backend {
	char *name;                     /* unique among backends */
	uint32_t connect_timeout_ms;    /* own value, else defaults, else 5s */
	int retries;                    /* further servers tried after a failure */
	enum balance_algo balance;      /* how the next server is chosen */
	enum config_send_proxy send_proxy;  /* header written before client bytes */
	struct config_health health;    /* active checks, if enabled */
	struct config_server *servers;  /* at least one; addresses unique */
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
	size_t max_connections;         /* 0 = no limit of its own */
	bool accept_proxy;              /* clients start with a PROXY header */
	struct acl acl;                 /* allow / deny */
	int line;                       /* line of the listener's entry */
};

struct config {
	char *path;                     /* the file it came from */
	enum log_level log_level;       /* global.log_level */
	bool log_connections;           /* global.log_connections */
	size_t buffer_size;             /* bytes per direction per connection */
	size_t max_connections;         /* process-wide; 0 = what the fd limit carries */
	bool splice;                    /* global.splice: bulk transfers through pipes (Linux) */
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
