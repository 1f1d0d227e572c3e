/* health.h — whether a backend's servers can take connections: active TCP
 * connect checks on the reactor's timers (health_check), and passive
 * marking from the connects sessions make. State lives in each server's
 * shared counters block, so it survives a reload. */
#ifndef NETPOLLD_HEALTH_H
#define NETPOLLD_HEALTH_H

#include <stdint.h>

struct backend;
struct reactor;
struct server;

/* Starts B's checks, if it has health_check, spread over one interval.
 * -1 if memory ran out (then B runs on passive marking alone). */
int health_start(struct backend *b, struct reactor *r);
/* Stops them (B's generation is no longer current); a check in flight
 * is abandoned. */
void health_stop(struct backend *b, struct reactor *r);
/* Passive: a session's connect to S failed with ERR, or succeeded. */
void health_connect_failed(struct backend *b, struct server *s, int err, uint64_t now_ms);
void health_connect_ok(struct backend *b, struct server *s, uint64_t now_ms);
/* "connect refused", "connect timeout", ...: how the log says ERR. */
const char *health_reason(int err);

#endif
