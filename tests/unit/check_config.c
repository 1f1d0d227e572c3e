/* check_config.c — configuration loading and validation, through
 * config_load() on real files. Most cases are written twice, as a libconfig
 * and as a YAML file laid out line for line alike, and must produce the
 * very same messages: one validator, two syntaxes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"

/* Each test's own directory; set afresh so CK_FORK=no works too. */
static char tmpdir[64];

/* The files a test wrote, removed by the teardown. */
static char written[8][128];
static size_t nwritten;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	nwritten = 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < nwritten; i++)
		unlink(written[i]);
	rmdir(tmpdir);
}

/* Writes TEXT to NAME in the test's directory; returns the path. */
static const char *write_file(const char *name, const char *text)
{
	char path[sizeof(written[0])];
	size_t i;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	for (i = 0; i < nwritten && strcmp(written[i], path) != 0; i++)
		;
	ck_assert_uint_lt(i, sizeof(written) / sizeof(written[0]));
	if (i == nwritten)
		strcpy(written[nwritten++], path);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return written[i];
}

/* All of ERRS on one line each, for failure messages. */
static const char *dump(const struct config_errors *errs)
{
	static char buf[8192];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < errs->count && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n  %s", errs->msgs[i]);
	return buf;
}

/* Loading TEXT as NAME fails with exactly WANT, in order: each entry is
 * "LINE: message" (or ": message"), to follow the file's path. */
static void check_errors(const char *name, const char *text, const char *const *want)
{
	struct config_errors errs = { 0 };
	const char *path = write_file(name, text);
	struct config *cfg = config_load(path, &errs);
	size_t n = 0;
	char line[2048];

	ck_assert_msg(cfg == NULL, "%s was accepted", name);
	for (; want[n] != NULL; n++) {
		snprintf(line, sizeof(line), "%s:%s", path, want[n]);
		ck_assert_msg(n < errs.count && strcmp(errs.msgs[n], line) == 0,
			      "%s: message %zu should be\n  %s\ngot:%s", name, n, line, dump(&errs));
	}
	ck_assert_msg(errs.count == n, "%s: %zu messages, want %zu:%s", name, errs.count, n,
		      dump(&errs));
	config_errors_free(&errs);
}

/* The same case in both syntaxes gives the same messages. */
#define CHECK_BOTH(conf, yaml, ...)                                                   \
	do {                                                                          \
		const char *const want_[] = { __VA_ARGS__, NULL };                    \
		check_errors("t.conf", conf, want_);                                  \
		check_errors("t.yaml", yaml, want_);                                  \
	} while (0)
#define CHECK_CONF(conf, ...) check_errors("t.conf", conf, (const char *const[]){ __VA_ARGS__, NULL })
#define CHECK_YAML(yaml, ...) check_errors("t.yaml", yaml, (const char *const[]){ __VA_ARGS__, NULL })

/* Loads TEXT as NAME, which must be valid. */
static struct config *load_ok(const char *name, const char *text)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(write_file(name, text), &errs);

	ck_assert_msg(cfg != NULL && errs.count == 0, "%s refused:%s", name, dump(&errs));
	config_errors_free(&errs);
	return cfg;
}

/* Every field of the model but the path it came from, and the lines if
 * LINES is false (files not laid out line for line alike). */
static void check_same_model(const struct config *a, const struct config *b, bool lines)
{
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
		ck_assert(!lines || x->line == y->line);
		ck_assert_uint_eq(x->nservers, y->nservers);
		for (size_t j = 0; j < x->nservers; j++) {
			ck_assert_str_eq(x->servers[j].address.text, y->servers[j].address.text);
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
	CHECK_BOTH("global = { log_level = \"info\"; max_connections = 10; };\n"
		   CONF_LISTENERS CONF_BACKENDS,
		   "global: { log_level: info, max_connections: 10 }\n"
		   YAML_LISTENERS YAML_BACKENDS,
		   "1: global: unknown key 'max_connections'");
	CHECK_BOTH("defaults = { timeout = \"5s\"; };\n" CONF_LISTENERS CONF_BACKENDS,
		   "defaults: { timeout: 5s }\n" YAML_LISTENERS YAML_BACKENDS,
		   "1: defaults: unknown key 'timeout'");
	CHECK_BOTH("listeners = (\n"
		   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\";\n"
		   "    max_connections = 5000; }\n"
		   ");\n" CONF_BACKENDS,
		   "listeners:\n"
		   "  - { name: web, listen: \"127.0.0.1:8080\", backend: pool,\n"
		   "      max_connections: 5000 }\n"
		   "\n" YAML_BACKENDS,
		   "3: listeners[0] (\"web\"): unknown key 'max_connections'");
	CHECK_BOTH(CONF_LISTENERS "backends = (\n"
		   "  { name = \"pool\"; balance = \"leastconn\";\n"
		   "    servers = ( { address = \"127.0.0.1:8000\"; weight = 2; } ); }\n"
		   ");\n",
		   YAML_LISTENERS "backends:\n"
		   "  - { name: pool, balance: leastconn,\n"
		   "      servers: [ { address: \"127.0.0.1:8000\", weight: 2 } ] }\n"
		   "\n",
		   "5: backends[0] (\"pool\"): unknown key 'balance'",
		   "6: backends[0] (\"pool\"): servers[0]: unknown key 'weight'");
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
	suite_add_tcase(s, bad);

	tcase_add_checked_fixture(yaml, setup, teardown);
	tcase_add_test(yaml, libconfig_include_is_refused_where_it_is_written);
	tcase_add_test(yaml, yaml_duplicate_key_is_an_error);
	tcase_add_test(yaml, yaml_alias_is_an_error);
	tcase_add_test(yaml, yaml_null_value_is_an_error);
	tcase_add_test(yaml, yaml_second_document_or_custom_tag_is_an_error);
	tcase_add_test(yaml, yaml_number_too_large_for_64_bits_is_an_error);
	tcase_add_test(yaml, yaml_nesting_deeper_than_64_levels_is_refused_not_recursed);
	suite_add_tcase(s, yaml);
	return s;
}

int main(void)
{
	return check_run(config_suite());
}
