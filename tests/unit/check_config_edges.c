/* check_config_edges.c — configuration errors at the edges of the
 * syntaxes and of the address rules, through config_load() on real
 * files: YAML keys that are not plain names, NUL characters smuggled in
 * by a YAML escape, host names and socket paths too long for the
 * system. Each is an error with its file and line, never a truncated or
 * silently changed value. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"

#include "config_files.h"

#define CHECK_FILE(name, text, ...) \
	check_errors(name, text, (const char *const[]){ __VA_ARGS__, NULL })

#define YAML_REST                                  \
	"listeners:\n"                             \
	"  - name: web\n"                          \
	"    listen: 127.0.0.1:8080\n"             \
	"    backend: pool\n"                      \
	"backends:\n"                              \
	"  - name: pool\n"                         \
	"    servers:\n"                           \
	"      - address: 127.0.0.1:8000\n"

/* A list or a map where a key belongs is refused where it is written,
 * and reading goes on: the second one is reported too. */
START_TEST(yaml_list_or_map_as_a_key_is_an_error_and_reading_goes_on)
{
	CHECK_FILE("t.yaml",
		   "global:\n"
		   "  [log_level, splice]: true\n"
		   "  ? { a: 1 }\n"
		   "  : 2\n"
		   YAML_REST,
		   "2: keys must be plain names",
		   "3: keys must be plain names");
}
END_TEST

/* "\0" in a double-quoted YAML string would cut the C string short: a
 * path or a name would silently become another one. */
START_TEST(yaml_nul_escape_in_a_string_is_an_error)
{
	CHECK_FILE("t.yaml",
		   "global:\n"
		   "  stats_socket: \"/run/netpolld/stats.sock\\0.evil\"\n"
		   YAML_REST,
		   "2: strings must not contain NUL characters");
}
END_TEST

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(host_name_longer_than_the_system_allows_is_an_error)
{
	char *host = repeat('h', 300), text[1024], want[512];

	snprintf(text, sizeof(text),
		 "listeners = ({ name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\"; });\n"
		 "backends = ({ name = \"pool\"; servers = ({ address = \"%s:80\"; }); });\n",
		 host);
	snprintf(want, sizeof(want),
		 "2: backends[0] (\"pool\"): servers[0]: address \"%s:80\": host name is too long",
		 host);
	CHECK_FILE("t.conf", text, want);
	free(host);
}
END_TEST

/* sun_path holds 107 bytes and a NUL: a longer path is refused, never
 * bound under a truncated name. Both a little and far too long. */
START_TEST(unix_paths_longer_than_sun_path_are_errors)
{
	static const size_t lengths[] = { 108, 160 };

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		char *p = repeat('p', lengths[i]), text[2048], want[2][512];

		p[0] = '/';
		snprintf(text, sizeof(text),
			 "listeners = ({ name = \"web\"; listen = \"unix:%s\"; backend = \"pool\"; });\n"
			 "backends = ({ name = \"pool\"; servers = ({ address = \"unix:%s\"; }); });\n",
			 p, p);
		snprintf(want[0], sizeof(want[0]),
			 "1: listeners[0] (\"web\"): listen \"unix:%s\": unix socket path is too long",
			 p);
		snprintf(want[1], sizeof(want[1]),
			 "2: backends[0] (\"pool\"): servers[0]: address \"unix:%s\": "
			 "unix socket path is too long", p);
		CHECK_FILE("t.conf", text, want[0], want[1]);
		free(p);
	}
}
END_TEST

START_TEST(stats_socket_path_longer_than_sun_path_is_an_error)
{
	char *p = repeat('p', 108), text[2048], want[512];

	p[0] = '/';
	snprintf(text, sizeof(text),
		 "global = { stats_socket = \"%s\"; };\n"
		 "listeners = ({ name = \"web\"; listen = \"127.0.0.1:8080\"; backend = \"pool\"; });\n"
		 "backends = ({ name = \"pool\"; servers = ({ address = \"127.0.0.1:80\"; }); });\n",
		 p);
	snprintf(want, sizeof(want), "1: global: stats_socket \"%s\": unix socket path is too long",
		 p);
	CHECK_FILE("t.conf", text, want);
	free(p);
}
END_TEST

/* 107 bytes is the longest path that fits: accepted. */
START_TEST(unix_path_of_107_bytes_is_accepted)
{
	char *p = repeat('p', 107), text[2048];
	struct config *cfg;

	p[0] = '/';
	snprintf(text, sizeof(text),
		 "listeners = ({ name = \"web\"; listen = \"unix:%s\"; backend = \"pool\"; });\n"
		 "backends = ({ name = \"pool\"; servers = ({ address = \"127.0.0.1:80\"; }); });\n",
		 p);
	cfg = load_ok("ok.conf", text);
	ck_assert_str_eq(cfg->listeners[0].listen[0].text + strlen("unix:"), p);
	config_free(cfg);
	free(p);
}
END_TEST

static Suite *config_edges_suite(void)
{
	Suite *s = suite_create("config_edges");
	TCase *tc = tcase_create("edges");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, yaml_list_or_map_as_a_key_is_an_error_and_reading_goes_on);
	tcase_add_test(tc, yaml_nul_escape_in_a_string_is_an_error);
	tcase_add_test(tc, host_name_longer_than_the_system_allows_is_an_error);
	tcase_add_test(tc, unix_paths_longer_than_sun_path_are_errors);
	tcase_add_test(tc, stats_socket_path_longer_than_sun_path_is_an_error);
	tcase_add_test(tc, unix_path_of_107_bytes_is_accepted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(config_edges_suite());
}
