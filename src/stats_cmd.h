/* stats_cmd.h — the stats socket's command language (SPEC "Stats
 * socket"): one line in, one parsed command or one message out. Pure:
 * the daemon decides what a command does. */
#ifndef NETPOLLD_STATS_CMD_H
#define NETPOLLD_STATS_CMD_H

#include <stddef.h>

/* Longest backend name (as config validation allows). */
#define STATS_CMD_BACKEND_MAX 64
/* Longest server address as configured: a 255-byte host name in
 * brackets and ":65535" (263), with room to spare; longer than
 * ADDR_STRLEN, which only covers formatted numeric and unix addresses. */
#define STATS_CMD_SERVER_MAX 271

enum stats_cmd_kind {
	STATS_CMD_SHOW_INFO,
	STATS_CMD_SHOW_STAT,
	STATS_CMD_SHOW_STAT_JSON,
	STATS_CMD_SHOW_CONNS,
	STATS_CMD_SERVER_ENABLE,
	STATS_CMD_SERVER_DISABLE,
	STATS_CMD_SERVER_DRAIN,
	STATS_CMD_RELOAD,
	STATS_CMD_HELP,
	STATS_CMD_QUIT,
};

struct stats_cmd {
	enum stats_cmd_kind kind;                   /* what was asked */
	char backend[STATS_CMD_BACKEND_MAX + 1];    /* server commands: BACKEND; else "" */
	char server[STATS_CMD_SERVER_MAX + 1];      /* server commands: ADDR; else "" */
};

/* LINE is one command without its newline (a trailing '\r' is ignored).
 * Returns 0 and fills *CMD, or -1 with a static message in *ERR such as
 * "unknown command (try 'help')". */
int stats_cmd_parse(const char *line, size_t len, struct stats_cmd *cmd, const char **err);

/* The text `help` answers: one line per command, each ending in '\n'
 * (without the socket's closing empty line). */
extern const char stats_cmd_help[];

#endif
