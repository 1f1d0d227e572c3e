/* check_config.c — configuration loading and validation, through
 * config_load() on real files. Most cases are written twice, as a libconfig
 * and as a YAML file laid out line for line alike, and must produce the
 * very same messages: one validator, two syntaxes. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"

#include "config_files.h"

/* The same rules, in the same order. */
static void check_same_rules(const struct acl_rule *a, size_t na, const struct acl_rule *b,
			     size_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++) {
		ck_assert_uint_eq(a[i].prefix, b[i].prefix);
		ck_assert(memcmp(a[i].net, b[i].net, sizeof(a[i].net)) == 0);
	}
}

/* Every field of the model but the path it came from, and the lines if
 * LINES is false (files not laid out line for line alike). */
static void check_same_model(const struct config *a, const struct config *b, bool lines)
{
	ck_assert_uint_eq(a->max_connections, b->max_connections);
	ck_assert_int_eq(a->log_level, b->log_level);
	ck_assert_int_eq(a->log_connections, b->log_connections);
	ck_assert_uint_eq(a->buffer_size, b->buffer_size);
	ck_assert_uint_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	ck_assert_int_eq(a->stats_socket.text == NULL, b->stats_socket.text == NULL);
	if (a->stats_socket.text != NULL)
		ck_assert_str_eq(a->stats_socket.text, b->stats_socket.text);
	ck_assert_int_eq(a->metrics_listen.text == NULL, b->metrics_listen.text == NULL);
	if (a->metrics_listen.text != NULL)
		ck_assert(addr_equal(&a->metrics_listen.addr, &b->metrics_listen.addr));
	ck_assert_uint_eq(a->nlisteners, b->nlisteners);
	for (size_t i = 0; i < a->nlisteners; i++) {
		const struct config_listener *x = &a->listeners[i], *y = &b->listeners[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert_str_eq(x->backend, y->backend);
		ck_assert_uint_eq(x->backend_index, y->backend_index);
		ck_assert_uint_eq(x->idle_timeout_ms, y->idle_timeout_ms);
		ck_assert_uint_eq(x->max_connections, y->max_connections);
		ck_assert_int_eq(x->accept_proxy, y->accept_proxy);
		ck_assert_int_eq(x->acl.has_allow, y->acl.has_allow);
		check_same_rules(x->acl.allow, x->acl.nallow, y->acl.allow, y->acl.nallow);
		check_same_rules(x->acl.deny, x->acl.ndeny, y->acl.deny, y->acl.ndeny);
		ck_assert(!lines || x->line == y->line);
		ck_assert_uint_eq(x->nlisten, y->nlisten);
		for (size_t j = 0; j < x->nlisten; j++) {
			ck_assert_str_eq(x->listen[j].text, y->listen[j].text);
			ck_assert(!lines || x->listen[j].line == y->listen[j].line);
			ck_assert(addr_equal(&x->listen[j].addr, &y->listen[j].addr));
		}
	}
	ck_assert_uint_eq(a->nbackends, b->nbackends);
	for (size_t i = 0; i < a->nbackends; i++) {
		const struct config_backend *x = &a->backends[i], *y = &b->backends[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert_uint_eq(x->connect_timeout_ms, y->connect_timeout_ms);
		ck_assert_int_eq(x->retries, y->retries);
		ck_assert_int_eq(x->balance, y->balance);
		ck_assert_int_eq(x->send_proxy, y->send_proxy);
		ck_assert_int_eq(x->health.enabled, y->health.enabled);
		ck_assert_uint_eq(x->health.interval_ms, y->health.interval_ms);
		ck_assert_uint_eq(x->health.timeout_ms, y->health.timeout_ms);
		ck_assert_int_eq(x->health.rise, y->health.rise);
		ck_assert_int_eq(x->health.fall, y->health.fall);
		ck_assert(!lines || x->health.line == y->health.line);
		ck_assert(!lines || x->line == y->line);
		ck_assert_uint_eq(x->nservers, y->nservers);
		for (size_t j = 0; j < x->nservers; j++) {
			ck_assert_str_eq(x->servers[j].address.text, y->servers[j].address.text);
			ck_assert_uint_eq(x->servers[j].weight, y->servers[j].weight);
			ck_assert_uint_eq(x->servers[j].max_connections, y->servers[j].max_connections);
			ck_assert_int_eq(x->servers[j].backup, y->servers[j].backup);
			ck_assert(!lines || x->servers[j].address.line == y->servers[j].address.line);
			ck_assert(!lines || x->servers[j].line == y->servers[j].line);
			ck_assert(addr_equal(&x->servers[j].address.addr, &y->servers[j].address.addr));
		}
	}
}

/* Three-line sections for cases about something else: lines 1-3 or 4-6. */
#define CONF_LISTENERS                                                                 \
	"listeners = (\n"                                                              \
	"  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\"; }\n"     \
	");\n"
#define YAML_LISTENERS                                                                 \
	"listeners:\n"                                                                 \
	"  - { name: web, listen: \"127.0.0.1:8080\", backend: pool }\n"               \
	"\n"
#define CONF_BACKENDS                                                                  \
	"backends = (\n"                                                               \
	"  { name = \"pool\"; servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"    \
	");\n"
#define YAML_BACKENDS                                                                  \
	"backends:\n"                                                                  \
	"  - { name: pool, servers: [ { address: \"127.0.0.1:8000\" } ] }\n"           \
	"\n"

/* The smallest valid file, in block style. */
static const char min_conf[] =
	"listeners = (\n"
	"  { name = \"web\";\n"
	"    listen = \"127.0.0.1:8080\";\n"
	"    backend = \"pool\"; } );\n"
	"backends = (\n"
	"  { name = \"pool\";\n"
	"    servers = (\n"
	"      { address = \"127.0.0.1:8000\"; } ); } );\n";
static const char min_yaml[] =
	"listeners:\n"
	"  - name: web\n"
	"    listen: 127.0.0.1:8080\n"
	"    backend: pool\n"
	"backends:\n"
	"  - name: pool\n"
	"    servers:\n"
	"      - address: 127.0.0.1:8000\n";

START_TEST(smallest_valid_file_gets_every_builtin_default)
{
	const char *const names[] = { "min.conf", "min.yaml" };
	const char *const texts[] = { min_conf, min_yaml };

	for (int i = 0; i < 2; i++) {
		struct config *cfg = load_ok(names[i], texts[i]);
		char buf[sizeof(written[0])];

		ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
		ck_assert(cfg->log_connections);
		ck_assert_uint_eq(cfg->buffer_size, 16384);
		ck_assert_uint_eq(cfg->shutdown_timeout_ms, 30000);
		/* No control endpoint unless asked for. */
		ck_assert_ptr_null(cfg->stats_socket.text);
		ck_assert_ptr_null(cfg->metrics_listen.text);
		ck_assert_uint_eq(cfg->nlisteners, 1);
		ck_assert_str_eq(cfg->listeners[0].name, "web");
		ck_assert_int_eq(cfg->listeners[0].line, 2);
		ck_assert_uint_eq(cfg->listeners[0].nlisten, 1);
		ck_assert_str_eq(cfg->listeners[0].listen[0].text, "127.0.0.1:8080");
		ck_assert_int_eq(cfg->listeners[0].listen[0].line, 3);
		ck_assert_str_eq(addr_format(&cfg->listeners[0].listen[0].addr, buf, sizeof(buf)),
				 "127.0.0.1:8080");
		ck_assert_str_eq(cfg->listeners[0].backend, "pool");
		ck_assert_uint_eq(cfg->listeners[0].backend_index, 0);
		ck_assert_uint_eq(cfg->listeners[0].idle_timeout_ms, 600000);
		ck_assert_uint_eq(cfg->nbackends, 1);
		ck_assert_str_eq(cfg->backends[0].name, "pool");
		ck_assert_int_eq(cfg->backends[0].line, 6);
		ck_assert_uint_eq(cfg->backends[0].connect_timeout_ms, 5000);
		ck_assert_int_eq(cfg->backends[0].retries, 2);
		ck_assert_uint_eq(cfg->backends[0].nservers, 1);
		ck_assert_str_eq(cfg->backends[0].servers[0].address.text, "127.0.0.1:8000");
		ck_assert_int_eq(cfg->backends[0].servers[0].line, 8);
		snprintf(buf, sizeof(buf), "%s/%s", tmpdir, names[i]);
		ck_assert_str_eq(cfg->path, buf);
		config_free(cfg);
	}
}
END_TEST

static const char full_conf[] =
	"# Every key there is, set away from its default.\n"
	"global = {\n"
	"  log_level = \"debug\";\n"
	"  log_connections = false;\n"
	"  buffer_size = 65536;\n"
	"  shutdown_timeout = \"1m30s\";\n"
	"  stats_socket = \"/run/netpolld/stats.sock\";\n"
	"  metrics_listen = \"127.0.0.1:9901\";\n"
	"};\n"
	"defaults = { connect_timeout = \"2s\"; idle_timeout = 300; retries = 0; };\n"
	"listeners = (\n"
	"  { name = \"web\";\n"
	"    listen = [ \"*:8080\", \"[::1]:8080\", \"unix:/tmp/np.sock\" ];\n"
	"    backend = \"api\";\n"
	"    idle_timeout = \"250ms\"; },\n"
	"  { name = \"admin\"; listen = \"127.0.0.1:9000\"; backend = \"web_pool\"; }\n"
	");\n"
	"backends = (\n"
	"  { name = \"web_pool\";\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; }, { address = \"[::1]:8001\"; } ); },\n"
	"  { name = \"api\"; connect_timeout = 7; retries = 5;\n"
	"    servers = ( { address = \"unix:/run/api.sock\"; } ); }\n"
	");\n";
static const char full_yaml[] =
	"# Every key there is, set away from its default.\n"
	"global:\n"
	"  log_level: debug\n"
	"  log_connections: false\n"
	"  buffer_size: 65536\n"
	"  shutdown_timeout: 1m30s\n"
	"  stats_socket: /run/netpolld/stats.sock\n"
	"  metrics_listen: 127.0.0.1:9901\n"
	"\n"
	"defaults: { connect_timeout: 2s, idle_timeout: 300, retries: 0 }\n"
	"listeners:\n"
	"  - name: web\n"
	"    listen: [ \"*:8080\", \"[::1]:8080\", \"unix:/tmp/np.sock\" ]\n"
	"    backend: api\n"
	"    idle_timeout: 250ms\n"
	"  - { name: admin, listen: \"127.0.0.1:9000\", backend: web_pool }\n"
	"\n"
	"backends:\n"
	"  - name: web_pool\n"
	"    servers: [ { address: 127.0.0.1:8000 }, { address: \"[::1]:8001\" } ]\n"
	"  - { name: api, connect_timeout: 7, retries: 5,\n"
	"      servers: [ { address: \"unix:/run/api.sock\" } ] }\n"
	"\n";

START_TEST(equivalent_conf_and_yaml_give_identical_models)
{
	struct config *a = load_ok("full.conf", full_conf);
	struct config *b = load_ok("full.yaml", full_yaml);

	check_same_model(a, b, true);
	/* And the values are the ones written, not just equal garbage. */
	ck_assert_int_eq(a->log_level, LOG_LEVEL_DEBUG);
	ck_assert(!a->log_connections);
	ck_assert_uint_eq(a->buffer_size, 65536);
	ck_assert_uint_eq(a->shutdown_timeout_ms, 90000);
	ck_assert_str_eq(a->stats_socket.text, "/run/netpolld/stats.sock");
	ck_assert_str_eq(b->stats_socket.text, "/run/netpolld/stats.sock");
	ck_assert_int_eq(a->stats_socket.addr.u.sa.sa_family, AF_UNIX);
	ck_assert_str_eq(a->stats_socket.addr.u.sun.sun_path, "/run/netpolld/stats.sock");
	ck_assert_str_eq(a->metrics_listen.text, "127.0.0.1:9901");
	ck_assert_str_eq(b->metrics_listen.text, "127.0.0.1:9901");
	ck_assert(addr_equal(&a->metrics_listen.addr, &b->metrics_listen.addr));
	ck_assert_uint_eq(a->listeners[0].nlisten, 3);
	ck_assert_uint_eq(a->listeners[0].backend_index, 1);
	ck_assert_uint_eq(a->listeners[1].backend_index, 0);
	ck_assert_uint_eq(a->backends[0].nservers, 2);
	ck_assert_int_eq(a->backends[1].servers[0].address.addr.u.sa.sa_family, AF_UNIX);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(defaults_section_fills_only_what_is_not_set)
{
	struct config *cfg = load_ok("full.conf", full_conf);

	/* Own values win... */
	ck_assert_uint_eq(cfg->listeners[0].idle_timeout_ms, 250);
	ck_assert_uint_eq(cfg->backends[1].connect_timeout_ms, 7000);
	ck_assert_int_eq(cfg->backends[1].retries, 5);
	/* ...else the defaults section's, even a 0 retries... */
	ck_assert_uint_eq(cfg->listeners[1].idle_timeout_ms, 300000);
	ck_assert_uint_eq(cfg->backends[0].connect_timeout_ms, 2000);
	ck_assert_int_eq(cfg->backends[0].retries, 0);
	config_free(cfg);
}
END_TEST

START_TEST(listen_as_single_string_equals_a_one_item_list)
{
	struct config *a = load_ok("a.conf", min_conf);
	struct config *b = load_ok("b.conf",
				   "listeners = (\n"
				   "  { name = \"web\";\n"
				   "    listen = [ \"127.0.0.1:8080\" ];\n"
				   "    backend = \"pool\"; } );\n"
				   "backends = (\n"
				   "  { name = \"pool\";\n"
				   "    servers = (\n"
				   "      { address = \"127.0.0.1:8000\"; } ); } );\n");
	struct config *c = load_ok("c.yaml",
				   "listeners:\n"
				   "  - name: web\n"
				   "    listen: [ 127.0.0.1:8080 ]\n"
				   "    backend: pool\n"
				   "backends:\n"
				   "  - name: pool\n"
				   "    servers:\n"
				   "      - address: 127.0.0.1:8000\n");

	check_same_model(a, b, true);
	check_same_model(a, c, true);
	config_free(a);
	config_free(b);
	config_free(c);
}
END_TEST

START_TEST(libconfig_list_and_array_are_both_accepted)
{
	struct config *a = load_ok("a.conf", "listeners = (\n"
				   "  { name = \"web\"; listen = [ \"127.0.0.1:1\", \"127.0.0.1:2\" ];"
				   " backend = \"pool\"; } );\n" CONF_BACKENDS);
	struct config *b = load_ok("b.conf", "listeners = (\n"
				   "  { name = \"web\"; listen = ( \"127.0.0.1:1\", \"127.0.0.1:2\" );"
				   " backend = \"pool\"; } );\n" CONF_BACKENDS);

	check_same_model(a, b, true);
	ck_assert_uint_eq(a->listeners[0].nlisten, 2);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(durations_take_integer_seconds_and_zero_shutdown_timeout)
{
	struct config *a = load_ok("a.conf", "global = { shutdown_timeout = 0; };\n"
				   "defaults = { connect_timeout = 3; idle_timeout = \"1h\"; };\n"
				   CONF_LISTENERS CONF_BACKENDS);
	struct config *b = load_ok("b.yaml", "global: { shutdown_timeout: 0s }\n"
				   "defaults: { connect_timeout: 3000ms, idle_timeout: 3600 }\n"
				   YAML_LISTENERS YAML_BACKENDS);

	check_same_model(a, b, true);
	ck_assert_uint_eq(a->shutdown_timeout_ms, 0);
	ck_assert_uint_eq(a->backends[0].connect_timeout_ms, 3000);
	ck_assert_uint_eq(a->listeners[0].idle_timeout_ms, 3600000);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(example_configs_load_and_agree)
{
	struct config_errors errs = { 0 };
	struct config *a = config_load("conf/netpolld.conf", &errs);
	struct config *b = config_load("conf/netpolld.yaml", &errs);

	ck_assert_msg(a != NULL && b != NULL && errs.count == 0, "examples refused:%s",
		      dump(&errs));
	/* Their comments differ, and so do their lines. */
	check_same_model(a, b, false);
	ck_assert_str_eq(a->listeners[0].name, "web");
	ck_assert_str_eq(a->backends[0].name, "web_pool");
	ck_assert_uint_eq(a->backends[0].nservers, 2);
	config_free(a);
	config_free(b);
}
END_TEST

/* What the traffic-control keys mean when a file leaves them out. */
START_TEST(traffic_control_keys_absent_take_their_defaults)
{
	const char *const names[] = { "min.conf", "min.yaml" };
	const char *const texts[] = { min_conf, min_yaml };

	for (int i = 0; i < 2; i++) {
		struct config *cfg = load_ok(names[i], texts[i]);
		const struct config_listener *l = &cfg->listeners[0];
		const struct config_backend *b = &cfg->backends[0];

		/* 0: the runtime derives the limit from RLIMIT_NOFILE. */
		ck_assert_uint_eq(cfg->max_connections, 0);
		ck_assert_uint_eq(l->max_connections, 0);
		ck_assert(!l->accept_proxy);
		ck_assert(!l->acl.has_allow);
		ck_assert_uint_eq(l->acl.nallow, 0);
		ck_assert_uint_eq(l->acl.ndeny, 0);
		ck_assert_int_eq(b->balance, BALANCE_ROUNDROBIN);
		ck_assert_int_eq(b->send_proxy, CONFIG_SEND_PROXY_OFF);
		ck_assert(!b->health.enabled);
		ck_assert_uint_eq(b->servers[0].weight, 1);
		ck_assert_uint_eq(b->servers[0].max_connections, 0);
		ck_assert(!b->servers[0].backup);
		config_free(cfg);
	}
}
END_TEST

/* RULE is TEXT's network: the bytes of the v4-mapped or IPv6 form. */
static void check_rule(const struct acl_rule *rule, const char *net, unsigned prefix)
{
	uint8_t want[16] = { 0 };

	if (strchr(net, ':') != NULL) {
		ck_assert_int_eq(inet_pton(AF_INET6, net, want), 1);
	} else {
		want[10] = want[11] = 0xff;
		ck_assert_int_eq(inet_pton(AF_INET, net, want + 12), 1);
	}
	ck_assert_uint_eq(rule->prefix, prefix);
	ck_assert_msg(memcmp(rule->net, want, 16) == 0, "rule is not %s", net);
}

static const char traffic_conf[] =
	"global = { max_connections = 20000; };\n"
	"listeners = (\n"
	"  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"lc\";\n"
	"    max_connections = 100; accept_proxy = true;\n"
	"    allow = [ \"10.0.0.0/8\", \"::1/128\", \"192.0.2.7\" ]; deny = \"10.1.0.0/16\"; },\n"
	"  { name = \"closed\"; listen = \"127.0.0.1:8081\"; backend = \"rr\"; allow = [ ]; }\n"
	");\n"
	"backends = (\n"
	"  { name = \"rr\"; balance = \"roundrobin\"; send_proxy = \"off\";\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
	"  { name = \"lc\"; balance = \"leastconn\"; send_proxy = \"v1\";\n"
	"    health_check = { interval = \"5s\"; timeout = 2; rise = 1; fall = 5; };\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; weight = 256; max_connections = 50; },\n"
	"                { address = \"127.0.0.1:8001\"; weight = 1; backup = true; } ); },\n"
	"  { name = \"src\"; balance = \"source\"; send_proxy = \"v2\";\n"
	"    health_check = { interval = \"10s\"; };\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; max_connections = 0; backup = false; } ); },\n"
	"  { name = \"rnd\"; balance = \"random\"; health_check = { };\n"
	"    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
	");\n";
static const char traffic_yaml[] =
	"global: { max_connections: 20000 }\n"
	"listeners:\n"
	"  - { name: web, listen: \"127.0.0.1:8080\", backend: lc,\n"
	"      max_connections: 100, accept_proxy: true,\n"
	"      allow: [ 10.0.0.0/8, \"::1/128\", 192.0.2.7 ], deny: 10.1.0.0/16 }\n"
	"  - { name: closed, listen: \"127.0.0.1:8081\", backend: rr, allow: [ ] }\n"
	"\n"
	"backends:\n"
	"  - { name: rr, balance: roundrobin, send_proxy: \"off\",\n"
	"      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
	"  - { name: lc, balance: leastconn, send_proxy: v1,\n"
	"      health_check: { interval: 5s, timeout: 2, rise: 1, fall: 5 },\n"
	"      servers: [ { address: \"127.0.0.1:8000\", weight: 256, max_connections: 50 },\n"
	"                 { address: \"127.0.0.1:8001\", weight: 1, backup: true } ] }\n"
	"  - { name: src, balance: source, send_proxy: v2,\n"
	"      health_check: { interval: 10s },\n"
	"      servers: [ { address: \"127.0.0.1:8000\", max_connections: 0, backup: false } ] }\n"
	"  - { name: rnd, balance: random, health_check: { },\n"
	"      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
	"\n";

START_TEST(traffic_control_keys_land_in_the_model_in_both_syntaxes)
{
	struct config *a = load_ok("traffic.conf", traffic_conf);
	struct config *b = load_ok("traffic.yaml", traffic_yaml);
	const struct config_listener *web = &a->listeners[0], *closed = &a->listeners[1];
	const struct config_backend *rr = &a->backends[0], *lc = &a->backends[1];
	const struct config_backend *src = &a->backends[2], *rnd = &a->backends[3];

	check_same_model(a, b, true);
	ck_assert_uint_eq(a->max_connections, 20000);

	ck_assert_uint_eq(web->max_connections, 100);
	ck_assert(web->accept_proxy);
	ck_assert(web->acl.has_allow);
	ck_assert_uint_eq(web->acl.nallow, 3);
	/* IPv4 networks are kept as v4-mapped IPv6: prefix + 96. */
	check_rule(&web->acl.allow[0], "10.0.0.0", 104);
	check_rule(&web->acl.allow[1], "::1", 128);
	/* A bare address is a single host. */
	check_rule(&web->acl.allow[2], "192.0.2.7", 128);
	/* A single string is a one-rule list, as for listen. */
	ck_assert_uint_eq(web->acl.ndeny, 1);
	check_rule(&web->acl.deny[0], "10.1.0.0", 112);
	/* An empty allow list is an allow list: it admits nobody. */
	ck_assert(closed->acl.has_allow);
	ck_assert_uint_eq(closed->acl.nallow, 0);
	ck_assert_uint_eq(closed->acl.ndeny, 0);
	ck_assert(!closed->accept_proxy);
	ck_assert_uint_eq(closed->max_connections, 0);

	ck_assert_int_eq(rr->balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(rr->send_proxy, CONFIG_SEND_PROXY_OFF);
	ck_assert(!rr->health.enabled);
	ck_assert_int_eq(lc->balance, BALANCE_LEASTCONN);
	ck_assert_int_eq(lc->send_proxy, CONFIG_SEND_PROXY_V1);
	ck_assert(lc->health.enabled);
	ck_assert_int_eq(lc->health.line, 12);
	ck_assert_uint_eq(lc->health.interval_ms, 5000);
	ck_assert_uint_eq(lc->health.timeout_ms, 2000);
	ck_assert_int_eq(lc->health.rise, 1);
	ck_assert_int_eq(lc->health.fall, 5);
	ck_assert_uint_eq(lc->servers[0].weight, 256);
	ck_assert_uint_eq(lc->servers[0].max_connections, 50);
	ck_assert(!lc->servers[0].backup);
	ck_assert_uint_eq(lc->servers[1].weight, 1);
	ck_assert_uint_eq(lc->servers[1].max_connections, 0);
	ck_assert(lc->servers[1].backup);
	ck_assert_int_eq(src->balance, BALANCE_SOURCE);
	ck_assert_int_eq(src->send_proxy, CONFIG_SEND_PROXY_V2);
	/* Only the interval given: the rest of health_check's defaults. */
	ck_assert(src->health.enabled);
	ck_assert_uint_eq(src->health.interval_ms, 10000);
	ck_assert_uint_eq(src->health.timeout_ms, 1000);
	ck_assert_int_eq(src->health.rise, 2);
	ck_assert_int_eq(src->health.fall, 3);
	ck_assert_uint_eq(src->servers[0].weight, 1);
	ck_assert(!src->servers[0].backup);
	/* An empty group turns the checks on with every default. */
	ck_assert_int_eq(rnd->balance, BALANCE_RANDOM);
	ck_assert_int_eq(rnd->send_proxy, CONFIG_SEND_PROXY_OFF);
	ck_assert(rnd->health.enabled);
	ck_assert_uint_eq(rnd->health.interval_ms, 2000);
	ck_assert_uint_eq(rnd->health.timeout_ms, 1000);
	ck_assert_int_eq(rnd->health.rise, 2);
	ck_assert_int_eq(rnd->health.fall, 3);
	/* The same address in several backends is fine: BACKEND/ADDR differ. */
	ck_assert_str_eq(rr->servers[0].address.text, rnd->servers[0].address.text);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(allow_as_single_string_equals_a_one_item_list)
{
	/* Like listen: one string is a list of one, in both syntaxes. */
	struct config *a = load_ok("a.conf", "listeners = (\n"
				   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";"
				   " allow = \"10.0.0.0/8\"; }\n"
				   ");\n" CONF_BACKENDS);
	struct config *b = load_ok("b.conf", "listeners = (\n"
				   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";"
				   " allow = [ \"10.0.0.0/8\" ]; }\n"
				   ");\n" CONF_BACKENDS);
	struct config *c = load_ok("c.yaml", "listeners:\n"
				   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool,"
				   " allow: 10.0.0.0/8 }\n"
				   "\n" YAML_BACKENDS);

	check_same_model(a, b, true);
	check_same_model(a, c, true);
	ck_assert(a->listeners[0].acl.has_allow);
	ck_assert_uint_eq(a->listeners[0].acl.nallow, 1);
	check_rule(&a->listeners[0].acl.allow[0], "10.0.0.0", 104);
	config_free(a);
	config_free(b);
	config_free(c);
}
END_TEST

/* SPEC.md's full example, verbatim, and the same by hand in YAML, each
 * key on the line of its libconfig twin. */
static const char spec_conf[] =
	"global = {\n"
	"  max_connections  = 10000;        # client connections, process-wide (default: from RLIMIT_NOFILE)\n"
	"  stats_socket     = \"/run/netpolld/stats.sock\";   # optional; mode 0660\n"
	"  metrics_listen   = \"127.0.0.1:9901\";             # optional; GET /metrics and /stats\n"
	"  log_level        = \"info\";\n"
	"  log_connections  = true;         # one line per finished connection\n"
	"  buffer_size      = 16384;        # bytes per direction per connection\n"
	"  splice           = true;         # Linux zero-copy relay where it applies\n"
	"  shutdown_timeout = \"30s\";\n"
	"};\n"
	"defaults = {                        # optional; listeners and backends may override\n"
	"  connect_timeout = \"5s\";\n"
	"  idle_timeout    = \"10m\";          # no byte either way for this long: close both sides\n"
	"  retries         = 2;              # further servers tried after a failed connect\n"
	"};\n"
	"listeners = (\n"
	"  {\n"
	"    name            = \"web\";\n"
	"    listen          = [ \"0.0.0.0:8080\", \"[::]:8080\" ];   # or a single string\n"
	"    backend         = \"web_pool\";\n"
	"    max_connections = 5000;\n"
	"    idle_timeout    = \"5m\";\n"
	"    accept_proxy    = false;        # expect a PROXY v1/v2 header from clients\n"
	"    allow           = [ \"10.0.0.0/8\", \"::1/128\" ];       # if present, all else is denied\n"
	"    deny            = [ \"10.1.0.0/16\" ];                  # checked before allow\n"
	"  }\n"
	");\n"
	"backends = (\n"
	"  {\n"
	"    name            = \"web_pool\";\n"
	"    balance         = \"roundrobin\"; # roundrobin (weighted) | leastconn | source | random\n"
	"    connect_timeout = \"2s\";\n"
	"    retries         = 2;\n"
	"    send_proxy      = \"off\";        # off | v1 | v2\n"
	"    health_check    = { interval = \"2s\"; timeout = \"1s\"; rise = 2; fall = 3; };\n"
	"    servers = (\n"
	"      { address = \"10.0.0.1:80\"; weight = 1; max_connections = 0; backup = false; },\n"
	"      { address = \"10.0.0.2:80\"; weight = 2; }\n"
	"    );\n"
	"  }\n"
	");\n";
static const char spec_yaml[] =
	"global:\n"
	"  max_connections: 10000         # client connections, process-wide (default: from RLIMIT_NOFILE)\n"
	"  stats_socket: /run/netpolld/stats.sock   # optional; mode 0660\n"
	"  metrics_listen: 127.0.0.1:9901           # optional; GET /metrics and /stats\n"
	"  log_level: info\n"
	"  log_connections: true          # one line per finished connection\n"
	"  buffer_size: 16384             # bytes per direction per connection\n"
	"  splice: true                   # Linux zero-copy relay where it applies\n"
	"  shutdown_timeout: 30s\n"
	"\n"
	"defaults:                        # optional; listeners and backends may override\n"
	"  connect_timeout: 5s\n"
	"  idle_timeout: 10m              # no byte either way for this long: close both sides\n"
	"  retries: 2                     # further servers tried after a failed connect\n"
	"\n"
	"listeners:\n"
	"  -\n"
	"    name: web\n"
	"    listen: [ \"0.0.0.0:8080\", \"[::]:8080\" ]   # or a single string\n"
	"    backend: web_pool\n"
	"    max_connections: 5000\n"
	"    idle_timeout: 5m\n"
	"    accept_proxy: false          # expect a PROXY v1/v2 header from clients\n"
	"    allow: [ 10.0.0.0/8, \"::1/128\" ]           # if present, all else is denied\n"
	"    deny: [ 10.1.0.0/16 ]                       # checked before allow\n"
	"\n"
	"\n"
	"backends:\n"
	"  -\n"
	"    name: web_pool\n"
	"    balance: roundrobin          # roundrobin (weighted) | leastconn | source | random\n"
	"    connect_timeout: 2s\n"
	"    retries: 2\n"
	"    send_proxy: \"off\"            # off | v1 | v2\n"
	"    health_check: { interval: 2s, timeout: 1s, rise: 2, fall: 3 }\n"
	"    servers:\n"
	"      - { address: \"10.0.0.1:80\", weight: 1, max_connections: 0, backup: false }\n"
	"      - { address: \"10.0.0.2:80\", weight: 2 }\n";

START_TEST(spec_example_loads_in_both_syntaxes_to_the_values_written)
{
	struct config *a = load_ok("spec.conf", spec_conf);
	struct config *b = load_ok("spec.yaml", spec_yaml);
	const struct config_listener *l = &a->listeners[0];
	const struct config_backend *bk = &a->backends[0];

	/* Lines aside: a YAML block mapping starts at its first key, the
	 * libconfig group at its brace. */
	check_same_model(a, b, false);
	ck_assert_uint_eq(a->max_connections, 10000);
	ck_assert_str_eq(a->stats_socket.text, "/run/netpolld/stats.sock");
	ck_assert_str_eq(a->metrics_listen.text, "127.0.0.1:9901");
	ck_assert_int_eq(a->log_level, LOG_LEVEL_INFO);
	ck_assert(a->log_connections);
	ck_assert_uint_eq(a->buffer_size, 16384);
	ck_assert_uint_eq(a->shutdown_timeout_ms, 30000);

	ck_assert_uint_eq(a->nlisteners, 1);
	ck_assert_str_eq(l->name, "web");
	ck_assert_uint_eq(l->nlisten, 2);
	ck_assert_str_eq(l->listen[0].text, "0.0.0.0:8080");
	ck_assert_str_eq(l->listen[1].text, "[::]:8080");
	ck_assert_str_eq(l->backend, "web_pool");
	ck_assert_uint_eq(l->max_connections, 5000);
	ck_assert_uint_eq(l->idle_timeout_ms, 300000);
	ck_assert(!l->accept_proxy);
	ck_assert(l->acl.has_allow);
	ck_assert_uint_eq(l->acl.nallow, 2);
	check_rule(&l->acl.allow[0], "10.0.0.0", 104);
	check_rule(&l->acl.allow[1], "::1", 128);
	ck_assert_uint_eq(l->acl.ndeny, 1);
	check_rule(&l->acl.deny[0], "10.1.0.0", 112);

	ck_assert_uint_eq(a->nbackends, 1);
	ck_assert_str_eq(bk->name, "web_pool");
	ck_assert_int_eq(bk->balance, BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(bk->connect_timeout_ms, 2000);
	ck_assert_int_eq(bk->retries, 2);
	ck_assert_int_eq(bk->send_proxy, CONFIG_SEND_PROXY_OFF);
	ck_assert(bk->health.enabled);
	ck_assert_uint_eq(bk->health.interval_ms, 2000);
	ck_assert_uint_eq(bk->health.timeout_ms, 1000);
	ck_assert_int_eq(bk->health.rise, 2);
	ck_assert_int_eq(bk->health.fall, 3);
	ck_assert_uint_eq(bk->nservers, 2);
	ck_assert_str_eq(bk->servers[0].address.text, "10.0.0.1:80");
	ck_assert_uint_eq(bk->servers[0].weight, 1);
	ck_assert_uint_eq(bk->servers[0].max_connections, 0);
	ck_assert(!bk->servers[0].backup);
	ck_assert_str_eq(bk->servers[1].address.text, "10.0.0.2:80");
	ck_assert_uint_eq(bk->servers[1].weight, 2);
	ck_assert_uint_eq(bk->servers[1].max_connections, 0);
	ck_assert(!bk->servers[1].backup);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(file_that_cannot_be_opened_is_reported_without_a_line)
{
	struct config_errors errs = { 0 };
	char path[256];

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	ck_assert_ptr_null(config_load(path, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0] + strlen(path), ": cannot open: No such file or directory");
	config_errors_free(&errs);
	/* A directory opens, and would crash libconfig's scanner if read. */
	ck_assert_ptr_null(config_load(tmpdir, &errs));
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0] + strlen(tmpdir), ": cannot open: Is a directory");
	config_errors_free(&errs);
}
END_TEST

START_TEST(empty_file_is_an_error)
{
	CHECK_BOTH("", "", "1: empty configuration");
	CHECK_BOTH("# nothing yet\n", "# nothing yet\n", "1: empty configuration");
	CHECK_YAML("---\n", "1: empty configuration");
}
END_TEST

START_TEST(syntax_error_is_reported_with_its_line)
{
	CHECK_CONF("global = {\n  log_level = ;\n};\n", "2: syntax error");
	CHECK_CONF("global = { buffer_size = 16384; };\nglobal = { };\n",
		   "2: duplicate setting name");
	CHECK_YAML("global:\n  log_level: [info\nlisteners: x\n",
		   "3: did not find expected ',' or ']' while parsing a flow sequence");
	CHECK_YAML("global:\n  log_level: info\n bad: 1\n",
		   "3: did not find expected key while parsing a block mapping");
}
END_TEST

START_TEST(bad_control_endpoints_are_errors)
{
	CHECK_BOTH("global = { stats_socket = \"run/stats.sock\"; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "global: { stats_socket: run/stats.sock }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: global: stats_socket \"run/stats.sock\": must be an absolute path");
	CHECK_BOTH("global = { stats_socket = 5; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "global: { stats_socket: 5 }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: global: stats_socket: expected a string, got an integer");
	CHECK_BOTH("global = { metrics_listen = \"127.0.0.1\"; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "global: { metrics_listen: 127.0.0.1 }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: global: metrics_listen \"127.0.0.1\": missing port (HOST:PORT)");
}
END_TEST

START_TEST(unknown_key_is_an_error_at_every_level)
{
	CHECK_BOTH(CONF_LISTENERS CONF_BACKENDS "stats_socket = \"/run/np.sock\";\n",
		   YAML_LISTENERS YAML_BACKENDS "stats_socket: /run/np.sock\n",
		   "7: unknown key 'stats_socket'");
	CHECK_BOTH("global = { log_level = \"info\"; max_conns = 10; };\n"
		   CONF_LISTENERS CONF_BACKENDS,
		   "global: { log_level: info, max_conns: 10 }\n"
		   YAML_LISTENERS YAML_BACKENDS,
		   "1: global: unknown key 'max_conns'");
	CHECK_BOTH("defaults = { timeout = \"5s\"; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "defaults: { timeout: 5s }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: defaults: unknown key 'timeout'");
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";\n"
		   "    max_conns = 5000; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool,\n"
		   "      max_conns: 5000 }\n"
		   "\n" YAML_BACKENDS,
		   "3: listeners[0] (\"web\"): unknown key 'max_conns'");
	CHECK_BOTH(CONF_LISTENERS "backends = (\n"
		   "  { name = \"pool\"; algorithm = \"leastconn\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; priority = 2; } ); }\n"
		   ");\n",
		   YAML_LISTENERS "backends:\n"
		   "  - { name: pool, algorithm: leastconn,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\", priority: 2 } ] }\n"
		   "\n",
		   "5: backends[0] (\"pool\"): unknown key 'algorithm'",
		   "6: backends[0] (\"pool\"): servers[0]: unknown key 'priority'");
}
END_TEST

START_TEST(wrong_type_is_an_error_in_both_syntaxes)
{
	CHECK_BOTH("global = { buffer_size = \"16384\"; log_connections = \"yes\"; };\n"
		   CONF_LISTENERS CONF_BACKENDS,
		   "global: { buffer_size: \"16384\", log_connections: yes }\n"
		   YAML_LISTENERS YAML_BACKENDS,
		   "1: global: buffer_size: expected an integer, got a string",
		   "1: global: log_connections: expected a boolean, got a string");
	/* Quoted in YAML is a string, as it is in libconfig. */
	CHECK_BOTH("defaults = { retries = \"2\"; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "defaults: { retries: \"2\" }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: defaults: retries: expected an integer, got a string");
	CHECK_BOTH("defaults = { retries = 2.5; idle_timeout = true; };\n"
		   CONF_LISTENERS CONF_BACKENDS,
		   "defaults: { retries: 2.5, idle_timeout: true }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: defaults: retries: expected an integer, got a floating-point number",
		   "1: defaults: idle_timeout: expected a duration (\"5s\" or integer seconds), "
		   "got a boolean");
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = ( \"127.0.0.1:8080\", 8081 ); backend = 7; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: [ \"127.0.0.1:8080\", 8081 ], backend: 7 }\n"
		   "\n" YAML_BACKENDS,
		   "2: listeners[0] (\"web\"): listen[1]: expected a string, got an integer",
		   "2: listeners[0] (\"web\"): backend: expected a string, got an integer");
	CHECK_BOTH("global = 1;\nlisteners = { name = \"web\"; };\n" CONF_BACKENDS,
		   "global: 1\nlisteners: { name: web }\n" YAML_BACKENDS,
		   "1: global: expected a group, got an integer",
		   "2: listeners: expected a list of groups, got a group");
	CHECK_BOTH(CONF_LISTENERS "backends = (\n  \"pool\",\n"
		   "  { name = \"pool\"; servers = ( \"127.0.0.1:8000\" ); }\n);\n",
		   YAML_LISTENERS "backends:\n  - pool\n"
		   "  - { name: pool, servers: [ \"127.0.0.1:8000\" ] }\n\n",
		   "5: backends[0]: expected a group, got a string",
		   "6: backends[1] (\"pool\"): servers[0]: expected a group, got a string");
	CHECK_YAML("- listeners\n- backends\n", "1: expected a group of settings, got a list");
}
END_TEST

START_TEST(duplicate_listener_or_backend_name_is_an_error)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\"; },\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8081\"; backend = \"pool\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"pool\"; servers = ( { address = \"127.0.0.1:8001\"; } ); }\n"
		   ");\n",
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool }\n"
		   "  - { name: web, listen: \"127.0.0.1:8081\", backend: pool }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: pool, servers: [ { address: \"127.0.0.1:8001\" } ] }\n"
		   "\n",
		   "3: listeners[1] (\"web\"): duplicate listener name 'web' (first at line 2)",
		   "7: backends[1] (\"pool\"): duplicate backend name 'pool' (first at line 6)");
}
END_TEST

START_TEST(listener_naming_an_undefined_backend_is_an_error)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"nope\"; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: nope }\n"
		   "\n" YAML_BACKENDS,
		   "2: listeners[0] (\"web\"): backend \"nope\" is not defined");
}
END_TEST

START_TEST(backend_no_listener_uses_is_fine)
{
	struct config *cfg = load_ok("t.conf", CONF_LISTENERS
				     "backends = (\n"
				     "  { name = \"spare\"; servers = ( { address = \"127.0.0.1:9\"; } ); },\n"
				     "  { name = \"pool\"; servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
				     ");\n");

	ck_assert_uint_eq(cfg->listeners[0].backend_index, 1);
	config_free(cfg);
}
END_TEST

START_TEST(bad_address_is_an_error_with_the_reason)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = [ \"10.0.0.1:99999\", \"::1:80\", \"unix:\" ];\n"
		   "    backend = \"pool\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; servers = ( { address = \"127.0.0.1\"; } ); }\n"
		   ");\n",
		   "listeners:\n"
		   "  - { name: web, listen: [ \"10.0.0.1:99999\", \"::1:80\", \"unix:\" ],\n"
		   "      backend: pool }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, servers: [ { address: \"127.0.0.1\" } ] }\n"
		   "\n",
		   "2: listeners[0] (\"web\"): listen \"10.0.0.1:99999\": port must be 1-65535",
		   "2: listeners[0] (\"web\"): listen \"::1:80\": IPv6 addresses need brackets: "
		   "[::1]:80",
		   "2: listeners[0] (\"web\"): listen \"unix:\": unix socket path is empty",
		   "6: backends[0] (\"pool\"): servers[0]: address \"127.0.0.1\": missing port "
		   "(HOST:PORT)");
}
END_TEST

START_TEST(bad_duration_is_an_error_with_the_reason)
{
	CHECK_BOTH("global = { shutdown_timeout = \"30\"; };\n"
		   "defaults = { connect_timeout = \"5x\"; idle_timeout = -1; };\n"
		   "listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";"
		   " idle_timeout = \"0s\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; connect_timeout = 4294968;"
		   " servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   "global: { shutdown_timeout: \"30\" }\n"
		   "defaults: { connect_timeout: 5x, idle_timeout: -1 }\n"
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool, idle_timeout: 0s }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, connect_timeout: 4294968,"
		   " servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "1: global: shutdown_timeout: \"30\": missing unit (use ms, s, m, h)",
		   "2: defaults: connect_timeout: \"5x\": unknown unit (use ms, s, m, h)",
		   "2: defaults: idle_timeout: -1: must not be negative",
		   "4: listeners[0] (\"web\"): idle_timeout: \"0s\": must be greater than 0",
		   "7: backends[0] (\"pool\"): connect_timeout: 4294968: too large (the maximum is "
		   "about 49 days)");
}
END_TEST

START_TEST(integer_out_of_range_is_an_error)
{
	CHECK_BOTH("global = { buffer_size = 512; };\n"
		   "defaults = { retries = -1; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "global: { buffer_size: 512 }\n"
		   "defaults: { retries: -1 }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: global: buffer_size: 512 is out of range (1024-16777216)",
		   "2: defaults: retries: -1 is out of range (0-100)");
	CHECK_BOTH("global = { buffer_size = 16777217; };\n" CONF_LISTENERS
		   "backends = (\n"
		   "  { name = \"pool\"; retries = 101; servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   "global: { buffer_size: 16777217 }\n" YAML_LISTENERS
		   "backends:\n"
		   "  - { name: pool, retries: 101, servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "1: global: buffer_size: 16777217 is out of range (1024-16777216)",
		   "6: backends[0] (\"pool\"): retries: 101 is out of range (0-100)");
}
END_TEST

START_TEST(bad_log_level_or_name_is_an_error)
{
	CHECK_BOTH("global = { log_level = \"verbose\"; };\n"
		   "listeners = (\n"
		   "  { name = \"web front\"; listen = \"127.0.0.1:8080\"; backend = \"pool\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"p0123456789012345678901234567890123456789012345678901234567890123\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   "global: { log_level: verbose }\n"
		   "listeners:\n"
		   "  - { name: web front, listen: \"127.0.0.1:8080\", backend: pool }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: p0123456789012345678901234567890123456789012345678901234567890123,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "1: global: log_level: \"verbose\": use error, warn, info or debug",
		   "3: listeners[0]: name \"web front\": use 1-64 characters of A-Z a-z 0-9 _ . -",
		   "3: listeners[0]: backend \"pool\" is not defined",
		   "6: backends[0]: name \"p0123456789012345678901234567890123456789012345678901234567890123\": "
		   "use 1-64 characters of A-Z a-z 0-9 _ . -");
}
END_TEST

START_TEST(missing_required_key_is_reported_at_its_group)
{
	CHECK_BOTH("listeners = (\n"
		   "  { listen = \"127.0.0.1:8080\"; },\n"
		   "  { name = \"api\"; backend = \"pool\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; servers = ( { address = \"127.0.0.1:8000\"; }, { } ); },\n"
		   "  { servers = ( { address = \"127.0.0.1:8001\"; } ); },\n"
		   "  { name = \"empty\"; }\n"
		   ");\n",
		   "listeners:\n"
		   "  - { listen: \"127.0.0.1:8080\" }\n"
		   "  - { name: api, backend: pool }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, servers: [ { address: \"127.0.0.1:8000\" }, {} ] }\n"
		   "  - { servers: [ { address: \"127.0.0.1:8001\" } ] }\n"
		   "  - { name: empty }\n"
		   "\n",
		   "2: listeners[0]: missing required key 'name'",
		   "2: listeners[0]: missing required key 'backend'",
		   "3: listeners[1] (\"api\"): missing required key 'listen'",
		   "6: backends[0] (\"pool\"): servers[1]: missing required key 'address'",
		   "7: backends[1]: missing required key 'name'",
		   "8: backends[2] (\"empty\"): missing required key 'servers'");
}
END_TEST

START_TEST(empty_servers_or_listen_list_is_an_error)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = [ ]; backend = \"pool\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; servers = ( ); }\n"
		   ");\n",
		   "listeners:\n"
		   "  - { name: web, listen: [ ], backend: pool }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, servers: [ ] }\n"
		   "\n",
		   "2: listeners[0] (\"web\"): listen: empty list (need at least one address)",
		   "5: backends[0] (\"pool\"): servers: empty list (need at least one server)");
}
END_TEST

START_TEST(same_listen_address_twice_is_an_error_naming_both)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = [ \"*:8080\", \"[::1]:8080\" ]; backend = \"pool\"; },\n"
		   "  { name = \"api\"; listen = [ \"0.0.0.0:8080\", \"unix:/tmp/a\" ];\n"
		   "    backend = \"pool\"; },\n"
		   "  { name = \"ops\"; listen = [ \"unix:/tmp/b\", \"unix:/tmp/b\" ]; backend = \"pool\"; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: [ \"*:8080\", \"[::1]:8080\" ], backend: pool }\n"
		   "  - { name: api, listen: [ \"0.0.0.0:8080\", \"unix:/tmp/a\" ],\n"
		   "      backend: pool }\n"
		   "  - { name: ops, listen: [ \"unix:/tmp/b\", \"unix:/tmp/b\" ], backend: pool }\n"
		   "\n" YAML_BACKENDS,
		   "3: listeners[1] (\"api\"): listen \"0.0.0.0:8080\" is already used by "
		   "listeners[0] (\"web\") at line 2",
		   "5: listeners[2] (\"ops\"): listen \"unix:/tmp/b\" is already used by "
		   "listeners[2] (\"ops\") at line 5");
}
END_TEST

START_TEST(no_listeners_or_backends_is_an_error)
{
	CHECK_BOTH("global = { log_level = \"info\"; };\n",
		   "global: { log_level: info }\n",
		   "1: no backends defined",
		   "1: no listeners defined");
	CHECK_BOTH("global = { log_level = \"info\"; };\nlisteners = ( );\n" CONF_BACKENDS,
		   "global: { log_level: info }\nlisteners: []\n" YAML_BACKENDS,
		   "2: no listeners defined");
}
END_TEST

START_TEST(every_error_is_reported_in_file_order)
{
	/* The dangling backend is found after the backends are read, and
	 * still comes out at its own line, before the later ones. */
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:0\"; backend = \"nope\"; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; retries = 1000;\n"
		   "    servers = ( { address = \"[::1]:8000\"; port = 1; } ); }\n"
		   ");\n"
		   "defaults = { idle_timeout = \"soon\"; };\n"
		   "global = { verbose = true; };\n",
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:0\", backend: nope }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, retries: 1000,\n"
		   "      servers: [ { address: \"[::1]:8000\", port: 1 } ] }\n"
		   "\n"
		   "defaults: { idle_timeout: soon }\n"
		   "global: { verbose: true }\n",
		   "2: listeners[0] (\"web\"): listen \"127.0.0.1:0\": port must be 1-65535",
		   "2: listeners[0] (\"web\"): backend \"nope\" is not defined",
		   "5: backends[0] (\"pool\"): retries: 1000 is out of range (0-100)",
		   "6: backends[0] (\"pool\"): servers[0]: unknown key 'port'",
		   "8: defaults: idle_timeout: \"soon\": expected a number and a unit, such as \"5s\"",
		   "9: global: unknown key 'verbose'");
}
END_TEST

START_TEST(traffic_control_key_of_the_wrong_type_is_an_error)
{
	CHECK_BOTH("global = { max_connections = \"10000\"; };\n"
		   "listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";\n"
		   "    max_connections = 1.5; accept_proxy = \"yes\"; "
		   "allow = 10; deny = ( \"10.0.0.0/8\", 7 ); }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; balance = 1; send_proxy = true; health_check = \"2s\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; "
		   "weight = \"2\"; max_connections = true; backup = 1; } ); },\n"
		   "  { name = \"hc\"; health_check = { interval = true; "
		   "timeout = [ \"1s\" ]; rise = \"2\"; fall = 2.0; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   "global: { max_connections: \"10000\" }\n"
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool,\n"
		   "      max_connections: 1.5, accept_proxy: yes, allow: 10, deny: [ 10.0.0.0/8, 7 ] }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, balance: 1, send_proxy: true, health_check: 2s,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\", "
		   "weight: \"2\", max_connections: true, backup: 1 } ] }\n"
		   "  - { name: hc, health_check: { interval: true, timeout: [ 1s ], rise: \"2\", fall: 2.0 },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "1: global: max_connections: expected an integer, got a string",
		   "4: listeners[0] (\"web\"): max_connections: expected an integer, got a "
		   "floating-point number",
		   "4: listeners[0] (\"web\"): accept_proxy: expected a boolean, got a string",
		   "4: listeners[0] (\"web\"): allow: expected a string or a list of strings, got an "
		   "integer",
		   "4: listeners[0] (\"web\"): deny[1]: expected a string, got an integer",
		   "7: backends[0] (\"pool\"): balance: expected a string, got an integer",
		   "7: backends[0] (\"pool\"): send_proxy: expected a string, got a boolean",
		   "7: backends[0] (\"pool\"): health_check: expected a group, got a string",
		   "8: backends[0] (\"pool\"): servers[0]: weight: expected an integer, got a string",
		   "8: backends[0] (\"pool\"): servers[0]: max_connections: expected an integer, got a "
		   "boolean",
		   "8: backends[0] (\"pool\"): servers[0]: backup: expected a boolean, got an integer",
		   "9: backends[1] (\"hc\"): health_check: interval: expected a duration (\"5s\" or "
		   "integer seconds), got a boolean",
		   "9: backends[1] (\"hc\"): health_check: timeout: expected a duration (\"5s\" or "
		   "integer seconds), got a list",
		   "9: backends[1] (\"hc\"): health_check: rise: expected an integer, got a string",
		   "9: backends[1] (\"hc\"): health_check: fall: expected an integer, got a "
		   "floating-point number");
}
END_TEST

START_TEST(traffic_control_value_out_of_range_is_an_error)
{
	/* 0 means "no limit" for a listener or a server; the process-wide
	 * limit has no such value: leaving it out means "what the fd limit
	 * carries". */
	CHECK_BOTH("global = { max_connections = 0; };\n"
		   "listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; "
		   "backend = \"pool\"; max_connections = -1; },\n"
		   "  { name = \"api\"; listen = \"127.0.0.1:8081\"; "
		   "backend = \"pool\"; max_connections = 10000001; }\n"
		   ");\n"
		   "backends = (\n"
		   "  { name = \"pool\"; health_check = { rise = 0; "
		   "fall = 101; interval = \"0s\"; timeout = 0; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; weight = 0; },\n"
		   "                { address = \"127.0.0.1:8001\"; "
		   "weight = 257; max_connections = 10000001; },\n"
		   "                { address = \"127.0.0.1:8002\"; weight = 256; max_connections = -1; } ); }\n"
		   ");\n",
		   "global: { max_connections: 0 }\n"
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool, max_connections: -1 }\n"
		   "  - { name: api, listen: \"127.0.0.1:8081\", backend: pool, max_connections: 10000001 }\n"
		   "\n"
		   "backends:\n"
		   "  - { name: pool, health_check: { rise: 0, fall: 101, interval: 0s, timeout: 0 },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\", weight: 0 },\n"
		   "                 { address: \"127.0.0.1:8001\", weight: 257, max_connections: 10000001 },\n"
		   "                 { address: \"127.0.0.1:8002\", weight: 256, max_connections: -1 } ] }\n"
		   "\n",
		   "1: global: max_connections: 0 is out of range (1-10000000)",
		   "3: listeners[0] (\"web\"): max_connections: -1 is out of range (0-10000000)",
		   "4: listeners[1] (\"api\"): max_connections: 10000001 is out of range (0-10000000)",
		   "7: backends[0] (\"pool\"): health_check: rise: 0 is out of range (1-100)",
		   "7: backends[0] (\"pool\"): health_check: fall: 101 is out of range (1-100)",
		   "7: backends[0] (\"pool\"): health_check: interval: \"0s\": must be greater than 0",
		   "7: backends[0] (\"pool\"): health_check: timeout: 0: must be greater than 0",
		   "8: backends[0] (\"pool\"): servers[0]: weight: 0 is out of range (1-256)",
		   "9: backends[0] (\"pool\"): servers[1]: weight: 257 is out of range (1-256)",
		   "9: backends[0] (\"pool\"): servers[1]: max_connections: 10000001 is out of range "
		   "(0-10000000)",
		   "10: backends[0] (\"pool\"): servers[2]: max_connections: -1 is out of range "
		   "(0-10000000)");
}
END_TEST

START_TEST(unknown_balance_or_send_proxy_names_the_valid_ones)
{
	CHECK_BOTH(CONF_LISTENERS
		   "backends = (\n"
		   "  { name = \"pool\"; balance = \"fastest\"; send_proxy = \"v3\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"p2\"; balance = \"RoundRobin\"; send_proxy = \"V1\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"p3\"; balance = \"\"; send_proxy = \"on\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   YAML_LISTENERS
		   "backends:\n"
		   "  - { name: pool, balance: fastest, send_proxy: v3,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: p2, balance: RoundRobin, send_proxy: V1,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: p3, balance: \"\", send_proxy: on,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "5: backends[0] (\"pool\"): balance: \"fastest\": use roundrobin, leastconn, source "
		   "or random",
		   "5: backends[0] (\"pool\"): send_proxy: \"v3\": use off, v1 or v2",
		   "7: backends[1] (\"p2\"): balance: \"RoundRobin\": use roundrobin, leastconn, source "
		   "or random",
		   "7: backends[1] (\"p2\"): send_proxy: \"V1\": use off, v1 or v2",
		   "9: backends[2] (\"p3\"): balance: \"\": use roundrobin, leastconn, source or random",
		   "9: backends[2] (\"p3\"): send_proxy: \"on\": use off, v1 or v2");
}
END_TEST

START_TEST(bad_cidr_in_allow_or_deny_is_an_error_with_the_reason)
{
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";\n"
		   "    allow = [ \"10.0.0.1/8\", \"10.0.0.0/33\", "
		   "\"::1/129\", \"1.2.3\", \"::ffff:10.0.0.0/104\" ];\n"
		   "    deny = [ \"nonsense\", \"10.0.0.0/08\", \"10.0.0.0/\", "
		   "\"::1/64\", \"\", \"fe80::1%eth0/64\" ]; },\n"
		   "  { name = \"api\"; listen = \"127.0.0.1:8081\"; "
		   "backend = \"pool\"; allow = \"10.0.0.0/-8\"; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool,\n"
		   "      allow: [ 10.0.0.1/8, 10.0.0.0/33, \"::1/129\", 1.2.3, \"::ffff:10.0.0.0/104\" ],\n"
		   "      deny: [ nonsense, 10.0.0.0/08, 10.0.0.0/, \"::1/64\", \"\", \"fe80::1%eth0/64\" ] }\n"
		   "  - { name: api, listen: \"127.0.0.1:8081\", backend: pool, allow: 10.0.0.0/-8 }\n"
		   "\n" YAML_BACKENDS,
		   "3: listeners[0] (\"web\"): allow[0] \"10.0.0.1/8\": host bits set beyond the prefix "
		   "(write the network address)",
		   "3: listeners[0] (\"web\"): allow[1] \"10.0.0.0/33\": prefix must be 0-32",
		   "3: listeners[0] (\"web\"): allow[2] \"::1/129\": prefix must be 0-128",
		   "3: listeners[0] (\"web\"): allow[3] \"1.2.3\": not an IPv4 address",
		   "4: listeners[0] (\"web\"): deny[0] \"nonsense\": not an IPv4 address",
		   /* No leading zeros: "08" is not a prefix length. */
		   "4: listeners[0] (\"web\"): deny[1] \"10.0.0.0/08\": prefix must be 0-32",
		   "4: listeners[0] (\"web\"): deny[2] \"10.0.0.0/\": prefix must be 0-32",
		   "4: listeners[0] (\"web\"): deny[3] \"::1/64\": host bits set beyond the prefix "
		   "(write the network address)",
		   "4: listeners[0] (\"web\"): deny[4] \"\": expected an address or a network such as "
		   "10.0.0.0/8",
		   "4: listeners[0] (\"web\"): deny[5] \"fe80::1%eth0/64\": not an IPv6 address",
		   /* A single string is checked as the one rule of a list. */
		   "5: listeners[1] (\"api\"): allow[0] \"10.0.0.0/-8\": prefix must be 0-32");
}
END_TEST

START_TEST(health_check_timeout_beyond_its_interval_is_an_error)
{
	/* Also when the timeout is the default 1s and only the interval is
	 * written, shorter. Equal is fine. */
	CHECK_BOTH(CONF_LISTENERS
		   "backends = (\n"
		   "  { name = \"pool\"; health_check = { interval = \"1s\"; timeout = \"1500ms\"; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"p2\"; health_check = { timeout = \"3s\"; rise = 1; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"p3\"; health_check = { interval = \"500ms\"; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); },\n"
		   "  { name = \"p4\"; health_check = { interval = 1; timeout = \"1000ms\"; port = 80; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   YAML_LISTENERS
		   "backends:\n"
		   "  - { name: pool, health_check: { interval: 1s, timeout: 1500ms },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: p2, health_check: { timeout: 3s, rise: 1 },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: p3, health_check: { interval: 500ms },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "  - { name: p4, health_check: { interval: 1, timeout: 1000ms, port: 80 },\n"
		   "      servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "5: backends[0] (\"pool\"): health_check: timeout (1500 ms) must not exceed "
		   "interval (1000 ms)",
		   "7: backends[1] (\"p2\"): health_check: timeout (3000 ms) must not exceed "
		   "interval (2000 ms)",
		   "9: backends[2] (\"p3\"): health_check: timeout (1000 ms) must not exceed "
		   "interval (500 ms)",
		   "11: backends[3] (\"p4\"): health_check: unknown key 'port'");
}
END_TEST

START_TEST(health_check_in_block_style_is_reported_at_the_same_line)
{
	CHECK_BOTH(CONF_LISTENERS
		   "backends = (\n"
		   "  { name = \"pool\";\n"
		   "    health_check = {\n"
		   "      interval = \"1s\";\n"
		   "      timeout = \"2s\"; };\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   YAML_LISTENERS
		   "backends:\n"
		   "  - name: pool\n"
		   "    health_check:\n"
		   "      interval: 1s\n"
		   "      timeout: 2s\n"
		   "    servers: [ { address: \"127.0.0.1:8000\" } ]\n"
		   "\n",
		   "6: backends[0] (\"pool\"): health_check: timeout (2000 ms) must not exceed "
		   "interval (1000 ms)");
}
END_TEST

START_TEST(same_server_address_twice_in_a_backend_is_an_error)
{
	/* The address names the server (BACKEND/ADDR): another backend may
	 * use it too. */
	CHECK_BOTH(CONF_LISTENERS
		   "backends = (\n"
		   "  { name = \"pool\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; },\n"
		   "                { address = \"127.0.0.1:8001\"; },\n"
		   "                { address = \"127.0.0.1:8000\"; weight = 2; },\n"
		   "                { address = \"127.0.0.1:8000\"; backup = true; } ); },\n"
		   "  { name = \"other\"; servers = ( { address = \"127.0.0.1:8000\"; } ); }\n"
		   ");\n",
		   YAML_LISTENERS
		   "backends:\n"
		   "  - name: pool\n"
		   "    servers: [ { address: \"127.0.0.1:8000\" },\n"
		   "               { address: \"127.0.0.1:8001\" },\n"
		   "               { address: \"127.0.0.1:8000\", weight: 2 },\n"
		   "               { address: \"127.0.0.1:8000\", backup: true } ]\n"
		   "  - { name: other, servers: [ { address: \"127.0.0.1:8000\" } ] }\n"
		   "\n",
		   "8: backends[0] (\"pool\"): servers[2]: address \"127.0.0.1:8000\" already used by "
		   "servers[0]",
		   "9: backends[0] (\"pool\"): servers[3]: address \"127.0.0.1:8000\" already used by "
		   "servers[0]");
}
END_TEST

START_TEST(libconfig_include_is_refused_where_it_is_written)
{
	CHECK_CONF("global = { log_level = \"info\"; };\n@include \"other.conf\"\n",
		   "2: @include is not supported");
}
END_TEST

START_TEST(yaml_duplicate_key_is_an_error)
{
	CHECK_YAML("global:\n"
		   "  log_level: info\n"
		   "  log_level: debug\n" YAML_LISTENERS YAML_BACKENDS,
		   "3: duplicate key 'log_level' (first at line 2)");
}
END_TEST

START_TEST(yaml_alias_is_an_error)
{
	CHECK_YAML("x-pool: &pool { address: \"127.0.0.1:8000\" }\n"
		   YAML_LISTENERS
		   "backends:\n"
		   "  - { name: pool, servers: [ *pool ] }\n",
		   "6: YAML aliases are not supported");
}
END_TEST

START_TEST(yaml_null_value_is_an_error)
{
	CHECK_YAML("global:\n"
		   "defaults: { retries: ~ }\n"
		   "listeners:\n"
		   "  - { name: web, listen: [ null ], backend: pool }\n"
		   "  -\n" YAML_BACKENDS,
		   "1: global: null value",
		   "2: retries: null value",
		   "4: null value",
		   "5: null value");
}
END_TEST

START_TEST(yaml_second_document_or_custom_tag_is_an_error)
{
	CHECK_YAML(YAML_LISTENERS YAML_BACKENDS "---\nglobal: {}\n",
		   "7: only one YAML document is allowed");
	CHECK_YAML("global: { log_level: !level info, buffer_size: !!int 4096 }\n"
		   YAML_LISTENERS YAML_BACKENDS,
		   "1: unsupported YAML tag '!level'");
}
END_TEST

START_TEST(yaml_number_too_large_for_64_bits_is_an_error)
{
	CHECK_YAML("global: { buffer_size: 99999999999999999999 }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: number 99999999999999999999 is out of range");
}
END_TEST

START_TEST(yaml_nesting_deeper_than_64_levels_is_refused_not_recursed)
{
	char text[256] = "global: ";
	size_t n = strlen(text);

	for (int i = 0; i < 80; i++)
		text[n++] = '[';
	for (int i = 0; i < 80; i++)
		text[n++] = ']';
	strcpy(text + n, "\n");
	CHECK_YAML(text, "1: nesting is deeper than 64 levels");
}
END_TEST

/* Found by fuzz_config_yaml: a tag is judged after the value, whose
 * own error may be about the key's earlier line. */
START_TEST(yaml_errors_come_in_file_order_with_a_tag_after_a_null_value)
{
	CHECK_YAML("a:\n  b:\n    !x\n", "2: b: null value",
		   "3: unsupported YAML tag '!x'");
}
END_TEST

/* libyaml decodes ahead of its parser: bad UTF-8 is placed by its byte
 * offset, not by where the parser had got to. */
START_TEST(yaml_bad_utf8_is_reported_on_its_own_line)
{
	char text[4096] = "";

	for (int i = 1; i < 51; i++)
		strcat(text, "# a comment line to read past\n");
	strcat(text, "global: { log_level: \"\xc3\x28\" }\n");
	CHECK_YAML(text, "51: invalid trailing UTF-8 octet");
	/* A lone CR breaks a line too, as libyaml counts them. */
	CHECK_YAML("# one\r# two\r\n# three\nglobal: { log_level: \"\xc3\x28\" }\n",
		   "4: invalid trailing UTF-8 octet");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *ok = tcase_create("valid");
	TCase *bad = tcase_create("errors");
	TCase *yaml = tcase_create("syntax-specific");

	tcase_add_checked_fixture(ok, setup, teardown);
	tcase_add_test(ok, smallest_valid_file_gets_every_builtin_default);
	tcase_add_test(ok, equivalent_conf_and_yaml_give_identical_models);
	tcase_add_test(ok, defaults_section_fills_only_what_is_not_set);
	tcase_add_test(ok, listen_as_single_string_equals_a_one_item_list);
	tcase_add_test(ok, libconfig_list_and_array_are_both_accepted);
	tcase_add_test(ok, durations_take_integer_seconds_and_zero_shutdown_timeout);
	tcase_add_test(ok, backend_no_listener_uses_is_fine);
	tcase_add_test(ok, example_configs_load_and_agree);
	tcase_add_test(ok, traffic_control_keys_absent_take_their_defaults);
	tcase_add_test(ok, traffic_control_keys_land_in_the_model_in_both_syntaxes);
	tcase_add_test(ok, allow_as_single_string_equals_a_one_item_list);
	tcase_add_test(ok, spec_example_loads_in_both_syntaxes_to_the_values_written);
	suite_add_tcase(s, ok);

	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_add_test(bad, file_that_cannot_be_opened_is_reported_without_a_line);
	tcase_add_test(bad, empty_file_is_an_error);
	tcase_add_test(bad, syntax_error_is_reported_with_its_line);
	tcase_add_test(bad, bad_control_endpoints_are_errors);
	tcase_add_test(bad, unknown_key_is_an_error_at_every_level);
	tcase_add_test(bad, wrong_type_is_an_error_in_both_syntaxes);
	tcase_add_test(bad, duplicate_listener_or_backend_name_is_an_error);
	tcase_add_test(bad, listener_naming_an_undefined_backend_is_an_error);
	tcase_add_test(bad, bad_address_is_an_error_with_the_reason);
	tcase_add_test(bad, bad_duration_is_an_error_with_the_reason);
	tcase_add_test(bad, integer_out_of_range_is_an_error);
	tcase_add_test(bad, bad_log_level_or_name_is_an_error);
	tcase_add_test(bad, missing_required_key_is_reported_at_its_group);
	tcase_add_test(bad, empty_servers_or_listen_list_is_an_error);
	tcase_add_test(bad, same_listen_address_twice_is_an_error_naming_both);
	tcase_add_test(bad, no_listeners_or_backends_is_an_error);
	tcase_add_test(bad, every_error_is_reported_in_file_order);
	tcase_add_test(bad, traffic_control_key_of_the_wrong_type_is_an_error);
	tcase_add_test(bad, traffic_control_value_out_of_range_is_an_error);
	tcase_add_test(bad, unknown_balance_or_send_proxy_names_the_valid_ones);
	tcase_add_test(bad, bad_cidr_in_allow_or_deny_is_an_error_with_the_reason);
	tcase_add_test(bad, health_check_timeout_beyond_its_interval_is_an_error);
	tcase_add_test(bad, health_check_in_block_style_is_reported_at_the_same_line);
	tcase_add_test(bad, same_server_address_twice_in_a_backend_is_an_error);
	suite_add_tcase(s, bad);

	tcase_add_checked_fixture(yaml, setup, teardown);
	tcase_add_test(yaml, libconfig_include_is_refused_where_it_is_written);
	tcase_add_test(yaml, yaml_duplicate_key_is_an_error);
	tcase_add_test(yaml, yaml_alias_is_an_error);
	tcase_add_test(yaml, yaml_null_value_is_an_error);
	tcase_add_test(yaml, yaml_second_document_or_custom_tag_is_an_error);
	tcase_add_test(yaml, yaml_number_too_large_for_64_bits_is_an_error);
	tcase_add_test(yaml, yaml_nesting_deeper_than_64_levels_is_refused_not_recursed);
	tcase_add_test(yaml, yaml_errors_come_in_file_order_with_a_tag_after_a_null_value);
	tcase_add_test(yaml, yaml_bad_utf8_is_reported_on_its_own_line);
	suite_add_tcase(s, yaml);
	return s;
}

int main(void)
{
	return check_run(config_suite());
}
