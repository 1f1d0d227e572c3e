/* fuzz_config_common.c — what both configuration fuzz targets do with an
 * input (fuzz_config_common.h).
 *
 * The input is written to a file and read by config_load(), as netpolld
 * -t or a reload would. Either the file is refused, with every message
 * in "FILE:LINE: message" form and in file order, or the model holds
 * everything config.h promises the daemon (which trusts it blindly).
 * A model is then built into a generation over a running one made from a
 * fixed valid file, as a SIGHUP does: same-named objects must share
 * their counter blocks, others get their own, and what the new
 * generation holds must outlive the old one. No socket is opened and no
 * health check started; host names never reach a resolver
 * (fuzz_resolver_common.h). */
#include "fuzz_config_common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "addr.h"
#include "backend.h"
#include "config.h"
#include "counters.h"
#include "fuzz_common.h"
#include "fuzz_resolver_common.h"
#include "generation.h"
#include "listener.h"
#include "reactor.h"
#include "runtime.h"

/* What config_validate.c allows as a listener or backend name. */
#define FUZZ_CONFIG_NAME_MAX 64
#define FUZZ_CONFIG_NAME_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* The running configuration every fuzzed file is reloaded over. Its
 * names are the ones the seed corpora use, so that mutated files keep
 * hitting the hand-over of same-named objects. */
static const char fuzz_config_base[] =
	"global = { log_level = \"warn\"; buffer_size = 16384; shutdown_timeout = \"30s\"; };\n"
	"defaults = { connect_timeout = \"5s\"; idle_timeout = \"10m\"; retries = 2; };\n"
	"listeners = (\n"
	"  { name = \"web\"; listen = [ \"127.0.0.1:8080\", \"[::1]:8080\" ];\n"
	"    backend = \"web_pool\"; max_connections = 100;\n"
	"    allow = [ \"127.0.0.0/8\", \"::1/128\" ]; deny = \"127.0.0.2\"; },\n"
	"  { name = \"db\"; listen = \"unix:/tmp/netpolld-fuzz-db.sock\"; backend = \"db_pool\";\n"
	"    accept_proxy = true; idle_timeout = \"1h\"; }\n"
	");\n"
	"backends = (\n"
	"  { name = \"web_pool\"; balance = \"roundrobin\";\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; weight = 1; },\n"
	"                { address = \"127.0.0.1:8001\"; weight = 2; max_connections = 10; },\n"
	"                { address = \"[::1]:8002\"; backup = true; } ); },\n"
	"  { name = \"db_pool\"; balance = \"leastconn\"; send_proxy = \"v2\"; retries = 0;\n"
	"    health_check = { interval = \"2s\"; timeout = \"1s\"; rise = 2; fall = 3; };\n"
	"    servers = ( { address = \"unix:/tmp/netpolld-fuzz-pg.sock\"; } ); }\n"
	");\n";

/* The process's state: one of each, made at init. */
static struct {
	char path[PATH_MAX];            /* each input is written here */
	char base_path[PATH_MAX];       /* fuzz_config_base, for each reload */
	bool yaml;                      /* the suffix picks the YAML front end */
	struct reactor *reactor;        /* only for its clock: nothing is watched */
	struct runtime rt;              /* what generations' listeners would feed */
} fz;

/* Writes the whole file at PATH, replacing what it held. */
static void fuzz_config_write(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	FUZZ_CHECK(fd >= 0);
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		FUZZ_CHECK(n > 0);
		p += n;
		size -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

/* config_load() of the SIZE bytes at DATA as the file PATH. The file is
 * gone again before anything is checked, so that an input that aborts
 * the fuzzer leaves nothing behind. */
static struct config *fuzz_config_load(const char *path, const void *data, size_t size,
				       struct config_errors *errs)
{
	struct config *cfg;

	fuzz_config_write(path, data, size);
	cfg = config_load(path, errs);
	FUZZ_CHECK(unlink(path) == 0);
	return cfg;
}

static void fuzz_config_set_accepting(void *arg, bool on)
{
	(void)arg;
	(void)on;
}

static void fuzz_config_close_all(void *arg)
{
	(void)arg;
}

void fuzz_config_init(const char *suffix)
{
	static const struct runtime_callbacks cb = {
		fuzz_config_set_accepting, fuzz_config_close_all, NULL,
	};
	/* tmpfs if there is one: a file per input costs no disk I/O. */
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	/* One name per process: libFuzzer's -jobs/-fork run several at once. */
	snprintf(fz.path, sizeof(fz.path), "%s/netpolld-fuzz-%ld%s", dir, (long)getpid(), suffix);
	snprintf(fz.base_path, sizeof(fz.base_path), "%s/netpolld-fuzz-%ld-base.conf", dir,
		 (long)getpid());
	fz.yaml = strcmp(suffix, ".yaml") == 0 || strcmp(suffix, ".yml") == 0;
	fuzz_resolver_require();
	fz.reactor = reactor_create();
	FUZZ_CHECK(fz.reactor != NULL);
	runtime_init(&fz.rt, fz.reactor, CONFIG_DEFAULT_BUFFER_SIZE, &cb);
}

/* The highest line a message may name. libconfig counts '\n' only;
 * libyaml also counts '\r', NEL, LS and PS, in UTF-8 or UTF-16, so for
 * it only the input's size bounds the count. */
static long fuzz_config_max_line(const uint8_t *data, size_t size)
{
	long breaks = 0;

	if (fz.yaml)
		return (long)size + 1;
	for (size_t i = 0; i < size; i++)
		breaks += data[i] == '\n';
	return breaks + 1;
}

/* Every message is "PATH:LINE: text" with a line in the file, in file
 * order. "PATH: text" (no line) is for a file that cannot be opened and
 * for running out of memory, neither of which a fuzzed file may cause. */
static void fuzz_config_check_errors(const struct config_errors *errs, const uint8_t *data,
				     size_t size)
{
	size_t plen = strlen(fz.path);
	long max_line = fuzz_config_max_line(data, size), prev = 0;

	FUZZ_CHECK(errs->msgs != NULL);
	for (size_t i = 0; i < errs->count; i++) {
		const char *m = errs->msgs[i], *p;
		char *end;
		long line;

		FUZZ_CHECK(m != NULL && strncmp(m, fz.path, plen) == 0 && m[plen] == ':');
		p = m + plen + 1;
		FUZZ_CHECK(*p >= '1' && *p <= '9');
		line = strtol(p, &end, 10);
		FUZZ_CHECK(line >= 1 && line <= max_line);
		FUZZ_CHECK(line >= prev);
		prev = line;
		FUZZ_CHECK(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
	}
}

static bool fuzz_config_name_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	return n >= 1 && n <= FUZZ_CONFIG_NAME_MAX && strspn(name, FUZZ_CONFIG_NAME_CHARS) == n;
}

/* A resolved address: its text, parsed again, gives the same address. */
static void fuzz_config_check_address(const struct config_address *ca)
{
	struct addr again;
	const char *err;
	int family = ca->addr.u.sa.sa_family;

	FUZZ_CHECK(ca->text != NULL && ca->line >= 1);
	FUZZ_CHECK(family == AF_INET || family == AF_INET6 || family == AF_UNIX);
	FUZZ_CHECK(ca->addr.len > 0 && ca->addr.len <= sizeof(ca->addr.u));
	FUZZ_CHECK(addr_parse(ca->text, &again, &err) == 0 && addr_equal(&again, &ca->addr));
	FUZZ_CHECK(again.len == ca->addr.len);
}

/* A CIDR rule: a prefix of the 128 bits, no bits set beyond it, and the
 * network address itself matches. */
static void fuzz_config_check_rules(const struct acl_rule *rules, size_t n)
{
	FUZZ_CHECK(n == 0 || rules != NULL);
	for (size_t i = 0; i < n; i++) {
		const struct acl_rule *r = &rules[i];
		struct addr net = { .len = sizeof(struct sockaddr_in6) };

		FUZZ_CHECK(r->prefix <= 128);
		for (unsigned bit = r->prefix; bit < 128; bit++)
			FUZZ_CHECK((r->net[bit / 8] & (0x80u >> (bit % 8))) == 0);
		net.u.sin6.sin6_family = AF_INET6;
		memcpy(&net.u.sin6.sin6_addr, r->net, sizeof(r->net));
		FUZZ_CHECK(acl_rule_match(r, &net));
	}
}

static void fuzz_config_check_global(const struct config *cfg)
{
	const struct config_address *ss = &cfg->stats_socket;

	FUZZ_CHECK(cfg->path != NULL && strcmp(cfg->path, fz.path) == 0);
	FUZZ_CHECK(cfg->log_level <= LOG_LEVEL_DEBUG);
	FUZZ_CHECK(cfg->buffer_size >= CONFIG_BUFFER_SIZE_MIN &&
		   cfg->buffer_size <= CONFIG_BUFFER_SIZE_MAX);
	FUZZ_CHECK(cfg->max_connections <= CONFIG_CONNECTIONS_MAX);
	/* A path, stored as the unix address it is. */
	if (ss->text != NULL) {
		FUZZ_CHECK(ss->text[0] == '/' && ss->addr.u.sa.sa_family == AF_UNIX);
		FUZZ_CHECK(strcmp(ss->addr.u.sun.sun_path, ss->text) == 0);
	}
	if (cfg->metrics_listen.text != NULL)
		fuzz_config_check_address(&cfg->metrics_listen);
}

static void fuzz_config_check_backend(const struct config *cfg, size_t i)
{
	const struct config_backend *b = &cfg->backends[i];
	const struct config_health *h = &b->health;

	FUZZ_CHECK(fuzz_config_name_ok(b->name) && b->line >= 1);
	for (size_t k = 0; k < i; k++)
		FUZZ_CHECK(strcmp(cfg->backends[k].name, b->name) != 0);
	FUZZ_CHECK(b->connect_timeout_ms >= 1);
	FUZZ_CHECK(b->retries >= 0 && b->retries <= CONFIG_RETRIES_MAX);
	FUZZ_CHECK(b->balance <= BALANCE_RANDOM && b->send_proxy <= CONFIG_SEND_PROXY_V2);
	if (h->enabled) {
		FUZZ_CHECK(h->interval_ms >= 1 && h->timeout_ms >= 1 && h->timeout_ms <= h->interval_ms);
		FUZZ_CHECK(h->rise >= 1 && h->rise <= 100 && h->fall >= 1 && h->fall <= 100);
	} else {
		FUZZ_CHECK(h->interval_ms == 0 && h->timeout_ms == 0 && h->rise == 0 && h->fall == 0);
	}
	FUZZ_CHECK(b->nservers >= 1 && b->servers != NULL);
	for (size_t j = 0; j < b->nservers; j++) {
		const struct config_server *s = &b->servers[j];

		fuzz_config_check_address(&s->address);
		FUZZ_CHECK(s->weight >= 1 && s->weight <= CONFIG_WEIGHT_MAX);
		FUZZ_CHECK(s->max_connections <= CONFIG_CONNECTIONS_MAX);
		/* BACKEND/ADDR names one server. */
		for (size_t k = 0; k < j; k++)
			FUZZ_CHECK(strcmp(b->servers[k].address.text, s->address.text) != 0);
	}
}

static void fuzz_config_check_listener(const struct config *cfg, size_t i)
{
	const struct config_listener *l = &cfg->listeners[i];

	FUZZ_CHECK(fuzz_config_name_ok(l->name) && l->line >= 1);
	for (size_t k = 0; k < i; k++)
		FUZZ_CHECK(strcmp(cfg->listeners[k].name, l->name) != 0);
	FUZZ_CHECK(l->backend != NULL && l->backend_index < cfg->nbackends);
	FUZZ_CHECK(strcmp(cfg->backends[l->backend_index].name, l->backend) == 0);
	FUZZ_CHECK(l->idle_timeout_ms >= 1 && l->max_connections <= CONFIG_CONNECTIONS_MAX);
	FUZZ_CHECK(l->nlisten >= 1 && l->listen != NULL);
	for (size_t j = 0; j < l->nlisten; j++) {
		fuzz_config_check_address(&l->listen[j]);
		/* No address is listened on twice, in this listener or another. */
		for (size_t k = 0; k <= i; k++)
			for (size_t m = 0; m < (k < i ? cfg->listeners[k].nlisten : j); m++)
				FUZZ_CHECK(!addr_equal(&cfg->listeners[k].listen[m].addr,
						       &l->listen[j].addr));
	}
	FUZZ_CHECK(l->acl.nallow == 0 || l->acl.has_allow);
	fuzz_config_check_rules(l->acl.allow, l->acl.nallow);
	fuzz_config_check_rules(l->acl.deny, l->acl.ndeny);
}

static void fuzz_config_check_model(const struct config *cfg)
{
	fuzz_config_check_global(cfg);
	FUZZ_CHECK(cfg->nbackends >= 1 && cfg->backends != NULL);
	FUZZ_CHECK(cfg->nlisteners >= 1 && cfg->listeners != NULL);
	for (size_t i = 0; i < cfg->nbackends; i++)
		fuzz_config_check_backend(cfg, i);
	for (size_t i = 0; i < cfg->nlisteners; i++)
		fuzz_config_check_listener(cfg, i);
}

static const struct listener *fuzz_config_find_listener(const struct generation *g,
							const char *name)
{
	for (size_t i = 0; i < g->nlisteners; i++)
		if (strcmp(g->listeners[i]->name, name) == 0)
			return g->listeners[i];
	return NULL;
}

/* C is PREV's block (PREV an object of the old generation with the same
 * name), or a new one of its own. */
static void fuzz_config_check_shared(const struct counters *c, const struct counters *prev)
{
	FUZZ_CHECK(c != NULL);
	if (prev != NULL)
		FUZZ_CHECK(c == prev && c->refs == 2);
	else
		FUZZ_CHECK(c->refs == 1 && c->total == 0 && c->admin == COUNTERS_ADMIN_READY);
}

/* G, built over OLD: what the model says, and the hand-over by name. */
static void fuzz_config_check_handover(const struct generation *g, const struct generation *old)
{
	const struct config *cfg = g->cfg;

	FUZZ_CHECK(g->number == old->number + 1);
	FUZZ_CHECK(g->nbackends == cfg->nbackends && g->nlisteners == cfg->nlisteners);
	for (size_t i = 0; i < g->nbackends; i++) {
		const struct backend *b = g->backends[i];
		const struct config_backend *cb = &cfg->backends[i];
		const struct backend *pb = generation_find_backend(old, cb->name);

		FUZZ_CHECK(strcmp(b->name, cb->name) == 0 && b->nservers == cb->nservers);
		FUZZ_CHECK(b->retries == cb->retries && b->algo == cb->balance);
		FUZZ_CHECK(b->checks == NULL);
		fuzz_config_check_shared(b->ctr, pb != NULL ? pb->ctr : NULL);
		for (size_t j = 0; j < b->nservers; j++) {
			const struct server *s = b->servers[j];
			const struct server *ps = pb != NULL ? backend_find_server(pb, s->name) : NULL;

			FUZZ_CHECK(strcmp(s->name, cb->servers[j].address.text) == 0);
			FUZZ_CHECK(addr_equal(&s->addr, &cb->servers[j].address.addr));
			FUZZ_CHECK(s->slot.weight == cb->servers[j].weight && b->slots[j] == &s->slot);
			fuzz_config_check_shared(s->ctr, ps != NULL ? ps->ctr : NULL);
		}
	}
	for (size_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = g->listeners[i];
		const struct config_listener *cl = &cfg->listeners[i];
		const struct listener *pl = fuzz_config_find_listener(old, cl->name);

		FUZZ_CHECK(strcmp(l->name, cl->name) == 0);
		FUZZ_CHECK(l->backend == g->backends[cl->backend_index]);
		FUZZ_CHECK(l->nsocks == cl->nlisten);
		for (size_t j = 0; j < l->nsocks; j++)
			FUZZ_CHECK(l->socks[j] == NULL);
		fuzz_config_check_shared(l->ctr, pl != NULL ? pl->ctr : NULL);
	}
}

/* G after the old generation is gone: every block is G's alone, what it
 * inherited still reads right, and each backend can pick a server iff
 * one of them is UP (nothing is connected, so none is full). */
static void fuzz_config_check_alone(struct generation *g)
{
	uint64_t now = reactor_now(g->rt->reactor);
	struct addr client;
	const char *err;

	FUZZ_CHECK(addr_parse("127.0.0.1:40000", &client, &err) == 0);
	for (size_t i = 0; i < g->nlisteners; i++) {
		FUZZ_CHECK(g->listeners[i]->ctr->refs == 1);
		FUZZ_CHECK(strcmp(listener_status(g->listeners[i]), "OPEN") == 0);
	}
	for (size_t i = 0; i < g->nbackends; i++) {
		struct backend *b = g->backends[i];
		enum backend_none why;
		struct server *s;
		bool any_up = false;

		FUZZ_CHECK(b->ctr->refs == 1);
		for (size_t j = 0; j < b->nservers; j++) {
			FUZZ_CHECK(b->servers[j]->ctr->refs == 1);
			any_up |= strcmp(server_status(b->servers[j]), "UP") == 0;
		}
		FUZZ_CHECK(strcmp(backend_status(b, now), any_up ? "UP" : "DOWN") == 0);
		s = backend_pick(b, &client, NULL, now, &why);
		FUZZ_CHECK((s != NULL) == any_up);
		FUZZ_CHECK(s == NULL || strcmp(server_status(s), "UP") == 0);
		FUZZ_CHECK(s != NULL || why == BACKEND_NONE_DOWN);
	}
}

/* The running generation: the base file, with some state a reload must
 * carry over (an operator's drain, a count). */
static struct generation *fuzz_config_running(void)
{
	struct config_errors errs = { 0 };
	struct config *base = fuzz_config_load(fz.base_path, fuzz_config_base,
					       strlen(fuzz_config_base), &errs);
	struct generation *g;
	struct server *s;

	FUZZ_CHECK(base != NULL && errs.count == 0);
	g = generation_new(base, NULL, &fz.rt, 0);
	FUZZ_CHECK(g != NULL && g->nbackends == 2);
	s = generation_find_backend(g, "web_pool")->servers[0];
	s->ctr->admin = COUNTERS_ADMIN_DRAIN;
	s->ctr->total = 7;
	return g;
}

/* CFG as a reload over the running generation (taken over, freed). */
static void fuzz_config_reload(struct config *cfg)
{
	struct generation *old = fuzz_config_running(), *g;

	g = generation_new(cfg, old, &fz.rt, old->number + 1);
	FUZZ_CHECK(g != NULL);
	fuzz_config_check_handover(g, old);
	/* As the daemon does once the new generation is committed. */
	generation_free(old);
	fuzz_config_check_alone(g);
	generation_free(g);
}

void fuzz_config_one(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct config *cfg;

	cfg = fuzz_config_load(fz.path, data, size, &errs);
	FUZZ_CHECK((cfg == NULL) == (errs.count > 0));
	if (cfg == NULL) {
		fuzz_config_check_errors(&errs, data, size);
		config_errors_free(&errs);
		return;
	}
	fuzz_config_check_model(cfg);
	fuzz_config_reload(cfg);
}
