/* check_stats_cmd.c — the stats socket's command lines (stats_cmd.h):
 * each command, the blanks and line ends around it, BACKEND/ADDR, and
 * the exact message for each way of getting a command wrong. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "stats_cmd.h"

/* TEXT (a C string, so no NULs) parses to KIND. */
static struct stats_cmd parse_ok(const char *text, enum stats_cmd_kind kind)
{
	struct stats_cmd cmd;
	const char *err = NULL;

	ck_assert_msg(stats_cmd_parse(text, strlen(text), &cmd, &err) == 0, "'%s': %s", text, err);
	ck_assert_int_eq(cmd.kind, kind);
	return cmd;
}

/* LEN bytes of LINE are refused with exactly WANT. */
static void parse_bad_len(const char *line, size_t len, const char *want)
{
	struct stats_cmd cmd;
	const char *err = NULL;

	ck_assert_msg(stats_cmd_parse(line, len, &cmd, &err) == -1, "'%.*s' was accepted",
		      (int)len, line);
	ck_assert_str_eq(err, want);
}

static void parse_bad(const char *text, const char *want)
{
	parse_bad_len(text, strlen(text), want);
}

/* A server command with TARGET names BACKEND and SERVER. */
static void parse_target(const char *text, enum stats_cmd_kind kind, const char *backend,
			 const char *server)
{
	struct stats_cmd cmd = parse_ok(text, kind);

	ck_assert_str_eq(cmd.backend, backend);
	ck_assert_str_eq(cmd.server, server);
}

START_TEST(every_command_parses)
{
	struct stats_cmd cmd;

	cmd = parse_ok("show info", STATS_CMD_SHOW_INFO);
	ck_assert_str_eq(cmd.backend, "");
	ck_assert_str_eq(cmd.server, "");
	parse_ok("show stat", STATS_CMD_SHOW_STAT);
	parse_ok("show stat json", STATS_CMD_SHOW_STAT_JSON);
	parse_ok("show conns", STATS_CMD_SHOW_CONNS);
	parse_target("server enable web/10.0.0.1:80", STATS_CMD_SERVER_ENABLE, "web", "10.0.0.1:80");
	parse_target("server disable web/10.0.0.1:80", STATS_CMD_SERVER_DISABLE, "web",
		     "10.0.0.1:80");
	parse_target("server drain web/10.0.0.1:80", STATS_CMD_SERVER_DRAIN, "web", "10.0.0.1:80");
	parse_ok("reload", STATS_CMD_RELOAD);
	parse_ok("help", STATS_CMD_HELP);
	parse_ok("quit", STATS_CMD_QUIT);
}
END_TEST

START_TEST(blanks_and_line_ends_are_ignored)
{
	parse_ok("  show   info  ", STATS_CMD_SHOW_INFO);
	parse_ok("\tshow\t \tstat\tjson\t", STATS_CMD_SHOW_STAT_JSON);
	parse_ok("show info\r", STATS_CMD_SHOW_INFO);
	parse_ok("quit \r", STATS_CMD_QUIT);
	parse_target(" server\tdrain   b/[::1]:80 \r", STATS_CMD_SERVER_DRAIN, "b", "[::1]:80");
}
END_TEST

/* The line need not be NUL-terminated: only LEN bytes count. */
START_TEST(only_len_bytes_are_read)
{
	struct stats_cmd cmd;
	const char *err = NULL;

	ck_assert_int_eq(stats_cmd_parse("show infoXYZ", 9, &cmd, &err), 0);
	ck_assert_int_eq(cmd.kind, STATS_CMD_SHOW_INFO);
	ck_assert_int_eq(stats_cmd_parse("server enable b/a:1ZZZ", 19, &cmd, &err), 0);
	ck_assert_str_eq(cmd.server, "a:1");
}
END_TEST

START_TEST(commands_are_case_sensitive)
{
	parse_bad("SHOW INFO", "unknown command (try 'help')");
	parse_bad("show Info", "unknown command (try 'help')");
	parse_bad("Quit", "unknown command (try 'help')");
	parse_bad("show stat JSON", "extra argument (try 'help')");
}
END_TEST

/* BACKEND/ADDR splits at the first '/': addresses keep theirs. */
START_TEST(addresses_of_every_kind)
{
	parse_target("server enable web_pool/unix:/run/app/app.sock", STATS_CMD_SERVER_ENABLE,
		     "web_pool", "unix:/run/app/app.sock");
	parse_target("server disable b/unix:/a/b/c", STATS_CMD_SERVER_DISABLE, "b", "unix:/a/b/c");
	parse_target("server drain b-1.x_Y/[2001:db8::1]:443", STATS_CMD_SERVER_DRAIN, "b-1.x_Y",
		     "[2001:db8::1]:443");
	parse_target("server enable b/host.example:80", STATS_CMD_SERVER_ENABLE, "b",
		     "host.example:80");
	parse_target("server enable b//x", STATS_CMD_SERVER_ENABLE, "b", "/x");
}
END_TEST

START_TEST(backend_name_of_64_fits_65_does_not)
{
	char name[66], line[200];

	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(line, sizeof(line), "server enable %s/a:1", name);
	parse_target(line, STATS_CMD_SERVER_ENABLE, name, "a:1");
	name[64] = 'n';
	name[65] = '\0';
	snprintf(line, sizeof(line), "server enable %s/a:1", name);
	parse_bad(line, "backend name is too long (at most 64 characters)");
}
END_TEST

START_TEST(longest_address_fits_one_more_does_not)
{
	char addr[STATS_CMD_SERVER_MAX + 2], line[400];

	memset(addr, 'h', sizeof(addr));
	memcpy(addr + STATS_CMD_SERVER_MAX - 3, ":80", 4);
	snprintf(line, sizeof(line), "server drain b/%s", addr);
	parse_target(line, STATS_CMD_SERVER_DRAIN, "b", addr);
	memcpy(addr + STATS_CMD_SERVER_MAX - 3, "h:80", 5);
	snprintf(line, sizeof(line), "server drain b/%s", addr);
	parse_bad(line, "server address is too long");
}
END_TEST

START_TEST(empty_lines)
{
	parse_bad("", "empty command (try 'help')");
	parse_bad("   \t ", "empty command (try 'help')");
	parse_bad("\r", "empty command (try 'help')");
	parse_bad_len(NULL, 0, "empty command (try 'help')");
}
END_TEST

START_TEST(unknown_commands)
{
	parse_bad("x", "unknown command (try 'help')");
	parse_bad("show foo", "unknown command (try 'help')");
	parse_bad("server stop b/a:1", "unknown command (try 'help')");
	parse_bad("showinfo", "unknown command (try 'help')");
}
END_TEST

START_TEST(missing_and_extra_arguments)
{
	parse_bad("show", "missing argument (try 'help')");
	parse_bad("server", "missing argument (try 'help')");
	parse_bad("server enable", "missing BACKEND/ADDR");
	parse_bad("server drain  \r", "missing BACKEND/ADDR");
	parse_bad("show info now", "extra argument (try 'help')");
	parse_bad("show stat json x", "extra argument (try 'help')");
	parse_bad("show stat x y z w", "extra argument (try 'help')");
	parse_bad("reload now", "extra argument (try 'help')");
	parse_bad("quit 1", "extra argument (try 'help')");
	parse_bad("help me", "extra argument (try 'help')");
	parse_bad("server enable b/a:1 b/a:2", "extra argument (try 'help')");
}
END_TEST

START_TEST(bad_targets)
{
	parse_bad("server enable web", "missing '/' between BACKEND and ADDR");
	parse_bad("server enable /10.0.0.1:80", "empty backend name");
	parse_bad("server enable web/", "empty server address");
	parse_bad("server enable w*b/a:1", "invalid backend name (use A-Z a-z 0-9 _ . -)");
	parse_bad("server enable w:b/a:1", "invalid backend name (use A-Z a-z 0-9 _ . -)");
}
END_TEST

START_TEST(control_bytes_are_refused)
{
	parse_bad_len("show\0info", 9, "NUL byte in command");
	parse_bad_len("show info\0", 10, "NUL byte in command");
	parse_bad("show\x01info", "control character in command");
	parse_bad("show info\r\r", "control character in command");
	parse_bad("show\rinfo", "control character in command");
	parse_bad("show info\n", "control character in command");
	parse_bad("server enable b/a\x7f:1", "control character in command");
	parse_bad("\x1b[Ashow info", "control character in command");
}
END_TEST

/* Each help line, with a sample target, is a command; together they
 * are every command, so help cannot fall behind the parser. */
START_TEST(help_lists_every_command)
{
	const char *p = stats_cmd_help;
	int seen[STATS_CMD_QUIT + 1] = { 0 };
	int lines = 0;

	ck_assert_int_eq(stats_cmd_help[strlen(stats_cmd_help) - 1], '\n');
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		const char *gap = strstr(p, "  ");
		char line[128];
		struct stats_cmd cmd;
		const char *err = NULL;
		size_t n;

		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(gap != NULL && gap < nl, "no description: %.*s", (int)(nl - p), p);
		n = (size_t)(gap - p);
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (strstr(line, "BACKEND/ADDR") != NULL)
			snprintf(line + n - strlen("BACKEND/ADDR"), sizeof(line) - n, "b/a:1");
		ck_assert_msg(stats_cmd_parse(line, strlen(line), &cmd, &err) == 0, "%s: %s", line, err);
		seen[cmd.kind]++;
		lines++;
		p = nl + 1;
	}
	ck_assert_int_eq(lines, STATS_CMD_QUIT + 1);
	for (int k = 0; k <= STATS_CMD_QUIT; k++)
		ck_assert_int_eq(seen[k], 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats_cmd");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, every_command_parses);
	tcase_add_test(tc, blanks_and_line_ends_are_ignored);
	tcase_add_test(tc, only_len_bytes_are_read);
	tcase_add_test(tc, commands_are_case_sensitive);
	tcase_add_test(tc, addresses_of_every_kind);
	tcase_add_test(tc, backend_name_of_64_fits_65_does_not);
	tcase_add_test(tc, longest_address_fits_one_more_does_not);
	tcase_add_test(tc, empty_lines);
	tcase_add_test(tc, unknown_commands);
	tcase_add_test(tc, missing_and_extra_arguments);
	tcase_add_test(tc, bad_targets);
	tcase_add_test(tc, control_bytes_are_refused);
	tcase_add_test(tc, help_lists_every_command);
	suite_add_tcase(s, tc);
	return check_run(s);
}
