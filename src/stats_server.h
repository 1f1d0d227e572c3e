/* stats_server.h — the stats socket (global.stats_socket): one command
 * a line, each answer ending with an empty line (SPEC "Stats socket"). */
#ifndef NETPOLLD_STATS_SERVER_H
#define NETPOLLD_STATS_SERVER_H

struct ctl_server;
struct daemon;
struct config_address;

/* NULL (logged) if it cannot listen. Mode 0660. */
struct ctl_server *stats_server_open(struct daemon *d, const struct config_address *path);

#endif
