/* metrics.h — the HTTP endpoint (global.metrics_listen): GET /metrics in
 * Prometheus text format 0.0.4, GET /stats as `show stat json`. */
#ifndef NETPOLLD_METRICS_H
#define NETPOLLD_METRICS_H

struct ctl_server;
struct daemon;
struct config_address;

/* NULL (logged) if it cannot listen. */
struct ctl_server *metrics_open(struct daemon *d, const struct config_address *addr);

#endif
