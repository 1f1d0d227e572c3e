/* check_stats.c — the bounded text buffer (strbuf.h) and every stats
 * output (stats.h): `show info`, `show stat` as CSV and JSON, and the
 * Prometheus exposition, byte for byte where users' tools parse them. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "stats.h"
#include "strbuf.h"

/* --- strbuf ------------------------------------------------------------ */

START_TEST(strbuf_starts_empty_and_unallocated)
{
	struct strbuf b;

	strbuf_init(&b, 100);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert(!b.overflow);
	strbuf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(strbuf_adds_are_nul_terminated)
{
	struct strbuf b;

	strbuf_init(&b, 100);
	strbuf_add(&b, "abcXXX", 3);
	ck_assert_str_eq(b.data, "abc");
	strbuf_puts(&b, "def");
	strbuf_printf(&b, "-%d-%s", 42, "x");
	ck_assert_str_eq(b.data, "abcdef-42-x");
	ck_assert_uint_eq(b.len, 11);
	ck_assert(!b.overflow);
	strbuf_free(&b);
}
END_TEST

/* Growing past the first allocation, by append and by printf. */
START_TEST(strbuf_grows_up_to_max_and_no_further)
{
	struct strbuf b;
	char big[3000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_init(&b, 5000);
	strbuf_printf(&b, "%s", big);
	ck_assert_uint_eq(b.len, 2999);
	ck_assert_uint_eq(strlen(b.data), 2999);
	strbuf_add(&b, big, 2001);
	ck_assert_uint_eq(b.len, 5000);
	ck_assert(!b.overflow);
	ck_assert_uint_le(b.cap, 5001);
	ck_assert_int_eq(b.data[5000], '\0');
	strbuf_add(&b, "z", 1);
	ck_assert(b.overflow);
	ck_assert_uint_eq(b.len, 5000);
	strbuf_free(&b);
}
END_TEST

/* An append that does not fit adds nothing at all, and later ones are
 * refused too, so the text is a clean prefix of what was meant. */
START_TEST(strbuf_overflow_appends_nothing_and_sticks)
{
	struct strbuf b;

	strbuf_init(&b, 10);
	strbuf_puts(&b, "12345678");
	strbuf_puts(&b, "abc");
	ck_assert(b.overflow);
	ck_assert_str_eq(b.data, "12345678");
	strbuf_puts(&b, "x");
	ck_assert_str_eq(b.data, "12345678");
	strbuf_printf(&b, "%d", 7);
	ck_assert_str_eq(b.data, "12345678");
	ck_assert_uint_eq(b.len, 8);
	strbuf_free(&b);
}
END_TEST

/* vsnprintf writes a truncated tail into the free space; it must not
 * show. */
START_TEST(strbuf_printf_overflow_leaves_no_partial_text)
{
	struct strbuf b;

	strbuf_init(&b, 300);
	strbuf_puts(&b, "head ");           /* allocates 256 */
	strbuf_printf(&b, "%0400d", 1);
	ck_assert(b.overflow);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_str_eq(b.data, "head ");
	strbuf_free(&b);
}
END_TEST

START_TEST(strbuf_exactly_max_fits)
{
	struct strbuf b;

	strbuf_init(&b, 4);
	strbuf_printf(&b, "%s", "abcd");
	ck_assert(!b.overflow);
	ck_assert_str_eq(b.data, "abcd");
	ck_assert_uint_le(b.cap, 5);
	strbuf_free(&b);

	strbuf_init(&b, 0);
	strbuf_puts(&b, "");
	ck_assert(!b.overflow);
	strbuf_puts(&b, "a");
	ck_assert(b.overflow);
	strbuf_free(&b);
}
END_TEST

START_TEST(strbuf_reset_keeps_memory_and_clears_overflow)
{
	struct strbuf b;
	char *mem;
	size_t cap;

	strbuf_init(&b, 8);
	strbuf_puts(&b, "1234");
	strbuf_puts(&b, "56789");
	ck_assert(b.overflow);
	mem = b.data;
	cap = b.cap;
	strbuf_reset(&b);
	ck_assert(!b.overflow);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	ck_assert_ptr_eq(b.data, mem);
	ck_assert_uint_eq(b.cap, cap);
	strbuf_puts(&b, "ok");
	ck_assert_str_eq(b.data, "ok");
	strbuf_free(&b);
}
END_TEST

START_TEST(strbuf_consume_drops_what_was_sent)
{
	struct strbuf b;

	strbuf_init(&b, 100);
	strbuf_puts(&b, "hello world");
	strbuf_consume(&b, 6);
	ck_assert_str_eq(b.data, "world");
	ck_assert_uint_eq(b.len, 5);
	strbuf_consume(&b, 0);
	ck_assert_str_eq(b.data, "world");
	strbuf_consume(&b, 99);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	strbuf_puts(&b, "again");
	ck_assert_str_eq(b.data, "again");
	strbuf_free(&b);

	strbuf_init(&b, 100);
	strbuf_consume(&b, 3);              /* nothing held, nothing allocated */
	ck_assert_ptr_null(b.data);
	strbuf_free(&b);
}
END_TEST

/* Consuming frees room under the bound. */
START_TEST(strbuf_consume_makes_room_again)
{
	struct strbuf b;

	strbuf_init(&b, 6);
	strbuf_puts(&b, "abcdef");
	strbuf_consume(&b, 4);
	strbuf_puts(&b, "1234");
	ck_assert(!b.overflow);
	ck_assert_str_eq(b.data, "ef1234");
	strbuf_free(&b);
}
END_TEST

/* --- the snapshot ------------------------------------------------------ */

static const struct stats_row rows[] = {
	{ STATS_LISTENER, "web", "web_pool", "OPEN", 3, 10, 5000, 100, 1000, 2000, 2, 1, 0, 0,
	  "", -1, 3600 },
	{ STATS_BACKEND, "web_pool", "", "UP", 3, 9, 0, 98, 990, 1990, 0, 1, 2, 2, "", 3, 3600 },
	{ STATS_SERVER, "[::1]:8080", "web_pool", "UP", 2, 6, 0, 60, 600, 1200, 0, 1, 2, 1,
	  "L4OK", 1, 120 },
	{ STATS_SERVER, "unix:/run/app/app.sock", "web_pool", "DRAIN", 1, 4, 100, 38, 390, 790,
	  0, 0, 0, 0, "-", 2, 30 },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const struct stats_info info = {
	.version = "1.2.3",
	.pid = 4242,
	.uptime_s = 3600,
	.generation = 2,
	.last_reload = "ok",
	.reload_failures = 1,
	.connections_current = 3,
	.connections_total = 100,
	.bytes_in = 1000,
	.bytes_out = 2000,
	.accept_paused = 1,
	.buffers_in_use = 4,
	.pipes_in_use = 1,
	.log_dropped = 7,
};

static struct strbuf out;

static void out_setup(void)
{
	strbuf_init(&out, 1 << 20);
}

static void out_teardown(void)
{
	strbuf_free(&out);
}

START_TEST(info_lists_every_key_in_spec_order)
{
	stats_format_info(&out, &info);
	ck_assert(!out.overflow);
	ck_assert_str_eq(out.data,
			 "version: 1.2.3\n"
			 "pid: 4242\n"
			 "uptime_s: 3600\n"
			 "generation: 2\n"
			 "last_reload: ok\n"
			 "connections_current: 3\n"
			 "connections_total: 100\n"
			 "bytes_in: 1000\n"
			 "bytes_out: 2000\n"
			 "accept_paused: 1\n"
			 "buffers_in_use: 4\n"
			 "pipes_in_use: 1\n"
			 "log_dropped: 7\n");
}
END_TEST

/* A reload error spanning lines must not end the answer early. */
START_TEST(info_keeps_a_failed_reload_on_one_line)
{
	struct stats_info i = info;

	i.last_reload = "failed: a.conf:3: bad\na.conf:9: worse";
	i.accept_paused = 0;
	stats_format_info(&out, &i);
	ck_assert_ptr_nonnull(strstr(out.data,
				     "\nlast_reload: failed: a.conf:3: bad_a.conf:9: worse\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\naccept_paused: 0\n"));
	ck_assert_ptr_null(strstr(out.data, "reload_failures"));
}
END_TEST

START_TEST(csv_has_header_and_one_row_each)
{
	stats_format_csv(&out, rows, NROWS);
	ck_assert(!out.overflow);
	ck_assert_str_eq(out.data,
		"# type,name,parent,status,cur,max,limit,total,bytes_in,bytes_out,denied,errors,"
		"connect_errors,retries,health,weight,last_change_s\n"
		"listener,web,web_pool,OPEN,3,10,5000,100,1000,2000,2,1,0,0,,,3600\n"
		"backend,web_pool,,UP,3,9,0,98,990,1990,0,1,2,2,,3,3600\n"
		"server,[::1]:8080,web_pool,UP,2,6,0,60,600,1200,0,1,2,1,L4OK,1,120\n"
		"server,unix:/run/app/app.sock,web_pool,DRAIN,1,4,100,38,390,790,0,0,0,0,-,2,30\n");
}
END_TEST

START_TEST(csv_without_rows_is_the_header)
{
	stats_format_csv(&out, rows, 0);
	ck_assert_str_eq(out.data,
		"# type,name,parent,status,cur,max,limit,total,bytes_in,bytes_out,denied,errors,"
		"connect_errors,retries,health,weight,last_change_s\n");
}
END_TEST

/* Whatever a string holds, a row stays one line of 17 fields. */
START_TEST(csv_field_cannot_break_the_row)
{
	struct stats_row r = rows[2];

	r.name = "a,b\nc\rd";
	r.health = "L7STS,500";
	r.parent = NULL;
	stats_format_csv(&out, &r, 1);
	ck_assert_ptr_nonnull(strstr(out.data,
		"\nserver,a_b_c_d,,UP,2,6,0,60,600,1200,0,1,2,1,L7STS_500,1,120\n"));
}
END_TEST

START_TEST(json_is_one_object_per_row)
{
	stats_format_json(&out, rows, NROWS);
	ck_assert(!out.overflow);
	ck_assert_str_eq(out.data,
		"[\n"
		"{\"type\":\"listener\",\"name\":\"web\",\"parent\":\"web_pool\",\"status\":\"OPEN\","
		"\"cur\":3,\"max\":10,\"limit\":5000,\"total\":100,\"bytes_in\":1000,\"bytes_out\":2000,"
		"\"denied\":2,\"errors\":1,\"connect_errors\":0,\"retries\":0,\"health\":\"\","
		"\"weight\":null,\"last_change_s\":3600},\n"
		"{\"type\":\"backend\",\"name\":\"web_pool\",\"parent\":\"\",\"status\":\"UP\","
		"\"cur\":3,\"max\":9,\"limit\":0,\"total\":98,\"bytes_in\":990,\"bytes_out\":1990,"
		"\"denied\":0,\"errors\":1,\"connect_errors\":2,\"retries\":2,\"health\":\"\","
		"\"weight\":3,\"last_change_s\":3600},\n"
		"{\"type\":\"server\",\"name\":\"[::1]:8080\",\"parent\":\"web_pool\",\"status\":\"UP\","
		"\"cur\":2,\"max\":6,\"limit\":0,\"total\":60,\"bytes_in\":600,\"bytes_out\":1200,"
		"\"denied\":0,\"errors\":1,\"connect_errors\":2,\"retries\":1,\"health\":\"L4OK\","
		"\"weight\":1,\"last_change_s\":120},\n"
		"{\"type\":\"server\",\"name\":\"unix:/run/app/app.sock\",\"parent\":\"web_pool\","
		"\"status\":\"DRAIN\",\"cur\":1,\"max\":4,\"limit\":100,\"total\":38,\"bytes_in\":390,"
		"\"bytes_out\":790,\"denied\":0,\"errors\":0,\"connect_errors\":0,\"retries\":0,"
		"\"health\":\"-\",\"weight\":2,\"last_change_s\":30}\n"
		"]\n");
}
END_TEST

START_TEST(json_without_rows_is_an_empty_array)
{
	stats_format_json(&out, rows, 0);
	ck_assert_str_eq(out.data, "[\n]\n");
}
END_TEST

START_TEST(json_escapes_strings)
{
	struct stats_row r = rows[2];

	r.name = "a\"b\\c\x01\n\x1f\x7f";
	stats_format_json(&out, &r, 1);
	ck_assert_ptr_nonnull(strstr(out.data,
		"\"name\":\"a\\\"b\\\\c\\u0001\\u000a\\u001f\x7f\","));
}
END_TEST

START_TEST(json_largest_counter_is_exact)
{
	struct stats_row r = rows[0];

	r.bytes_in = UINT64_MAX;
	stats_format_json(&out, &r, 1);
	ck_assert_ptr_nonnull(strstr(out.data, "\"bytes_in\":18446744073709551615,"));
}
END_TEST

/* --- Prometheus -------------------------------------------------------- */

static void format_prometheus(const struct stats_info *i, const struct stats_row *r, size_t n)
{
	struct stats_snapshot snap = { *i, r, n };

	stats_format_prometheus(&out, &snap);
	ck_assert(!out.overflow);
}

/* The block of family NAME: its HELP line up to the next HELP. */
static char *family(const char *name)
{
	char key[128];
	const char *start, *end;
	char *copy;

	snprintf(key, sizeof(key), "# HELP %s ", name);
	start = strstr(out.data, key);
	ck_assert_msg(start != NULL, "no family %s", name);
	end = strstr(start + 1, "# HELP ");
	if (end == NULL)
		end = start + strlen(start);
	copy = strndup(start, (size_t)(end - start));
	ck_assert_ptr_nonnull(copy);
	return copy;
}

/* Family NAME, without its HELP line, is exactly WANT. */
static void check_family(const char *name, const char *want)
{
	char *block = family(name);
	char *body = strchr(block, '\n') + 1;

	ck_assert_str_eq(body, want);
	free(block);
}

#define MAX_FAMILIES 128

/* Every family: HELP then TYPE, each once; its samples right after,
 * all together; a name ending in _total iff it is a counter. */
static size_t check_exposition(void)
{
	char *text = strdup(out.data), *save = NULL, *line;
	char names[MAX_FAMILIES][96];
	size_t n = 0;
	int expect = 0;                 /* 0 HELP or sample, 1 TYPE */

	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(out.data[out.len - 1], '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[96], type[16];

		if (strncmp(line, "# HELP ", 7) == 0) {
			ck_assert_msg(expect == 0, "HELP where TYPE belongs: %s", line);
			ck_assert_int_eq(sscanf(line, "# HELP %95s", name), 1);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(strcmp(names[i], name) != 0, "%s twice", name);
			ck_assert_uint_lt(n, MAX_FAMILIES);
			strcpy(names[n++], name);
			expect = 1;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t l;

			ck_assert_msg(expect == 1, "TYPE without HELP: %s", line);
			ck_assert_int_eq(sscanf(line, "# TYPE %95s %15s", name, type), 2);
			ck_assert_str_eq(name, names[n - 1]);
			l = strlen(name);
			if (strcmp(type, "counter") == 0)
				ck_assert_msg(l > 6 && strcmp(name + l - 6, "_total") == 0, "%s", name);
			else
				ck_assert_msg(strcmp(type, "gauge") == 0 &&
					      (l <= 6 || strcmp(name + l - 6, "_total") != 0), "%s", line);
			expect = 0;
		} else {
			size_t l = strcspn(line, "{ ");

			ck_assert_msg(expect == 0 && n > 0, "sample before TYPE: %s", line);
			ck_assert_msg(strlen(names[n - 1]) == l && strncmp(line, names[n - 1], l) == 0,
				      "sample %s outside family %s", line, names[n - 1]);
			ck_assert_msg(strspn(strrchr(line, ' ') + 1, "0123456789") ==
				      strlen(strrchr(line, ' ') + 1), "not an unsigned value: %s", line);
		}
	}
	ck_assert_int_eq(expect, 0);
	free(text);
	return n;
}

START_TEST(prometheus_families_are_well_formed)
{
	format_prometheus(&info, rows, NROWS);
	ck_assert_uint_gt(check_exposition(), 40);
}
END_TEST

START_TEST(prometheus_without_rows_still_names_every_family)
{
	format_prometheus(&info, rows, 0);
	check_exposition();
	check_family("netpolld_server_up", "# TYPE netpolld_server_up gauge\n");
}
END_TEST

/* Every name SPEC and dashboards rely on, with its type. */
START_TEST(prometheus_has_every_documented_family)
{
	static const char *const want[] = {
		"netpolld_build_info gauge",
		"netpolld_uptime_seconds gauge",
		"netpolld_generation gauge",
		"netpolld_last_reload_success gauge",
		"netpolld_reload_failures_total counter",
		"netpolld_process_connections_current gauge",
		"netpolld_process_connections_total counter",
		"netpolld_process_bytes_in_total counter",
		"netpolld_process_bytes_out_total counter",
		"netpolld_accept_paused gauge",
		"netpolld_buffers_in_use gauge",
		"netpolld_pipes_in_use gauge",
		"netpolld_log_dropped_total counter",
		"netpolld_connections_current gauge",
		"netpolld_connections_max gauge",
		"netpolld_connections_limit gauge",
		"netpolld_connections_total counter",
		"netpolld_bytes_in_total counter",
		"netpolld_bytes_out_total counter",
		"netpolld_denied_total counter",
		"netpolld_errors_total counter",
		"netpolld_listener_status gauge",
		"netpolld_backend_connections_current gauge",
		"netpolld_backend_connections_max gauge",
		"netpolld_backend_connections_total counter",
		"netpolld_backend_bytes_in_total counter",
		"netpolld_backend_bytes_out_total counter",
		"netpolld_backend_errors_total counter",
		"netpolld_backend_connect_errors_total counter",
		"netpolld_backend_retries_total counter",
		"netpolld_backend_up gauge",
		"netpolld_server_connections_current gauge",
		"netpolld_server_connections_max gauge",
		"netpolld_server_connections_limit gauge",
		"netpolld_server_connections_total counter",
		"netpolld_server_bytes_in_total counter",
		"netpolld_server_bytes_out_total counter",
		"netpolld_server_errors_total counter",
		"netpolld_server_connect_errors_total counter",
		"netpolld_server_retries_total counter",
		"netpolld_server_up gauge",
		"netpolld_server_weight gauge",
		"netpolld_server_status gauge",
		"netpolld_server_last_change_seconds gauge",
	};
	size_t n = sizeof(want) / sizeof(want[0]);

	format_prometheus(&info, rows, NROWS);
	ck_assert_uint_eq(check_exposition(), n);
	for (size_t i = 0; i < n; i++) {
		char line[128];

		snprintf(line, sizeof(line), "\n# TYPE %s\n", want[i]);
		ck_assert_msg(strstr(out.data, line) != NULL, "missing %s", want[i]);
	}
}
END_TEST

START_TEST(prometheus_process_families)
{
	format_prometheus(&info, rows, NROWS);
	check_family("netpolld_build_info",
		     "# TYPE netpolld_build_info gauge\n"
		     "netpolld_build_info{version=\"1.2.3\"} 1\n");
	check_family("netpolld_reload_failures_total",
		     "# TYPE netpolld_reload_failures_total counter\n"
		     "netpolld_reload_failures_total 1\n");
	check_family("netpolld_last_reload_success",
		     "# TYPE netpolld_last_reload_success gauge\n"
		     "netpolld_last_reload_success 1\n");
	check_family("netpolld_accept_paused",
		     "# TYPE netpolld_accept_paused gauge\n"
		     "netpolld_accept_paused 1\n");
	check_family("netpolld_log_dropped_total",
		     "# TYPE netpolld_log_dropped_total counter\n"
		     "netpolld_log_dropped_total 7\n");
	ck_assert_str_eq(strstr(out.data, "# HELP netpolld_build_info "),
			 strstr(out.data, "# HELP "));
}
END_TEST

START_TEST(prometheus_last_reload_success_follows_last_reload)
{
	struct stats_info i = info;

	i.last_reload = "failed: x.conf:1: syntax error";
	format_prometheus(&i, rows, NROWS);
	check_family("netpolld_last_reload_success",
		     "# TYPE netpolld_last_reload_success gauge\n"
		     "netpolld_last_reload_success 0\n");
	strbuf_reset(&out);
	i.last_reload = "never";
	format_prometheus(&i, rows, NROWS);
	check_family("netpolld_last_reload_success",
		     "# TYPE netpolld_last_reload_success gauge\n"
		     "netpolld_last_reload_success 1\n");
}
END_TEST

START_TEST(prometheus_listener_families)
{
	format_prometheus(&info, rows, NROWS);
	check_family("netpolld_connections_total",
		     "# TYPE netpolld_connections_total counter\n"
		     "netpolld_connections_total{listener=\"web\"} 100\n");
	check_family("netpolld_denied_total",
		     "# TYPE netpolld_denied_total counter\n"
		     "netpolld_denied_total{listener=\"web\"} 2\n");
	check_family("netpolld_listener_status",
		     "# TYPE netpolld_listener_status gauge\n"
		     "netpolld_listener_status{listener=\"web\",status=\"OPEN\"} 1\n");
}
END_TEST

START_TEST(prometheus_backend_families)
{
	struct stats_row r[NROWS];

	memcpy(r, rows, sizeof(r));
	format_prometheus(&info, r, NROWS);
	check_family("netpolld_backend_connect_errors_total",
		     "# TYPE netpolld_backend_connect_errors_total counter\n"
		     "netpolld_backend_connect_errors_total{backend=\"web_pool\"} 2\n");
	check_family("netpolld_backend_up",
		     "# TYPE netpolld_backend_up gauge\n"
		     "netpolld_backend_up{backend=\"web_pool\"} 1\n");
	strbuf_reset(&out);
	r[1].status = "DOWN";
	format_prometheus(&info, r, NROWS);
	check_family("netpolld_backend_up",
		     "# TYPE netpolld_backend_up gauge\n"
		     "netpolld_backend_up{backend=\"web_pool\"} 0\n");
}
END_TEST

START_TEST(prometheus_server_families)
{
	format_prometheus(&info, rows, NROWS);
	check_family("netpolld_server_connections_total",
		     "# TYPE netpolld_server_connections_total counter\n"
		     "netpolld_server_connections_total{backend=\"web_pool\",server=\"[::1]:8080\"} 60\n"
		     "netpolld_server_connections_total{backend=\"web_pool\","
		     "server=\"unix:/run/app/app.sock\"} 38\n");
	check_family("netpolld_server_status",
		     "# TYPE netpolld_server_status gauge\n"
		     "netpolld_server_status{backend=\"web_pool\",server=\"[::1]:8080\",status=\"UP\"} 1\n"
		     "netpolld_server_status{backend=\"web_pool\","
		     "server=\"unix:/run/app/app.sock\",status=\"DRAIN\"} 1\n");
	check_family("netpolld_server_weight",
		     "# TYPE netpolld_server_weight gauge\n"
		     "netpolld_server_weight{backend=\"web_pool\",server=\"[::1]:8080\"} 1\n"
		     "netpolld_server_weight{backend=\"web_pool\",server=\"unix:/run/app/app.sock\"} 2\n");
	check_family("netpolld_server_last_change_seconds",
		     "# TYPE netpolld_server_last_change_seconds gauge\n"
		     "netpolld_server_last_change_seconds{backend=\"web_pool\",server=\"[::1]:8080\"} 120\n"
		     "netpolld_server_last_change_seconds{backend=\"web_pool\","
		     "server=\"unix:/run/app/app.sock\"} 30\n");
}
END_TEST

/* A draining server is up (it serves what it has); MAINT and DOWN are not. */
START_TEST(prometheus_server_up_by_status)
{
	static const char *const status[] = { "UP", "DRAIN", "MAINT", "DOWN" };
	struct stats_row r[4];

	for (int i = 0; i < 4; i++) {
		r[i] = rows[2];
		r[i].status = status[i];
	}
	r[0].name = "a:1";
	r[1].name = "b:1";
	r[2].name = "c:1";
	r[3].name = "d:1";
	format_prometheus(&info, r, 4);
	check_family("netpolld_server_up",
		     "# TYPE netpolld_server_up gauge\n"
		     "netpolld_server_up{backend=\"web_pool\",server=\"a:1\"} 1\n"
		     "netpolld_server_up{backend=\"web_pool\",server=\"b:1\"} 1\n"
		     "netpolld_server_up{backend=\"web_pool\",server=\"c:1\"} 0\n"
		     "netpolld_server_up{backend=\"web_pool\",server=\"d:1\"} 0\n");
}
END_TEST

START_TEST(prometheus_escapes_label_values)
{
	struct stats_row r[2] = { rows[0], rows[2] };
	struct stats_info i = info;

	r[0].name = "we\"b\\x\ny";
	r[1].name = "unix:/tmp/a\"b";
	i.version = "1.0\"rc\\1";
	format_prometheus(&i, r, 2);
	check_exposition();
	check_family("netpolld_connections_total",
		     "# TYPE netpolld_connections_total counter\n"
		     "netpolld_connections_total{listener=\"we\\\"b\\\\x\\ny\"} 100\n");
	check_family("netpolld_server_up",
		     "# TYPE netpolld_server_up gauge\n"
		     "netpolld_server_up{backend=\"web_pool\",server=\"unix:/tmp/a\\\"b\"} 1\n");
	check_family("netpolld_build_info",
		     "# TYPE netpolld_build_info gauge\n"
		     "netpolld_build_info{version=\"1.0\\\"rc\\\\1\"} 1\n");
}
END_TEST

/* A row appears only in the families of its own type. */
START_TEST(prometheus_rows_stay_in_their_families)
{
	format_prometheus(&info, rows, NROWS);
	ck_assert_ptr_null(strstr(out.data, "{listener=\"web_pool\""));
	ck_assert_ptr_null(strstr(out.data, "netpolld_backend_up{backend=\"web_pool\",server"));
	ck_assert_ptr_null(strstr(out.data, "netpolld_connections_total{listener=\"[::1]"));
	ck_assert_ptr_null(strstr(out.data, "netpolld_server_up{backend=\"\""));
}
END_TEST

START_TEST(prometheus_overflow_is_reported)
{
	struct stats_snapshot snap = { info, rows, NROWS };
	struct strbuf small;

	strbuf_init(&small, 512);
	stats_format_prometheus(&small, &snap);
	ck_assert(small.overflow);
	ck_assert_uint_le(small.len, 512);
	ck_assert_uint_eq(strlen(small.data), small.len);
	strbuf_free(&small);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tb = tcase_create("strbuf");
	TCase *tf = tcase_create("stat");
	TCase *tp = tcase_create("prometheus");

	tcase_add_test(tb, strbuf_starts_empty_and_unallocated);
	tcase_add_test(tb, strbuf_adds_are_nul_terminated);
	tcase_add_test(tb, strbuf_grows_up_to_max_and_no_further);
	tcase_add_test(tb, strbuf_overflow_appends_nothing_and_sticks);
	tcase_add_test(tb, strbuf_printf_overflow_leaves_no_partial_text);
	tcase_add_test(tb, strbuf_exactly_max_fits);
	tcase_add_test(tb, strbuf_reset_keeps_memory_and_clears_overflow);
	tcase_add_test(tb, strbuf_consume_drops_what_was_sent);
	tcase_add_test(tb, strbuf_consume_makes_room_again);
	suite_add_tcase(s, tb);

	tcase_add_checked_fixture(tf, out_setup, out_teardown);
	tcase_add_test(tf, info_lists_every_key_in_spec_order);
	tcase_add_test(tf, info_keeps_a_failed_reload_on_one_line);
	tcase_add_test(tf, csv_has_header_and_one_row_each);
	tcase_add_test(tf, csv_without_rows_is_the_header);
	tcase_add_test(tf, csv_field_cannot_break_the_row);
	tcase_add_test(tf, json_is_one_object_per_row);
	tcase_add_test(tf, json_without_rows_is_an_empty_array);
	tcase_add_test(tf, json_escapes_strings);
	tcase_add_test(tf, json_largest_counter_is_exact);
	suite_add_tcase(s, tf);

	tcase_add_checked_fixture(tp, out_setup, out_teardown);
	tcase_add_test(tp, prometheus_families_are_well_formed);
	tcase_add_test(tp, prometheus_without_rows_still_names_every_family);
	tcase_add_test(tp, prometheus_has_every_documented_family);
	tcase_add_test(tp, prometheus_process_families);
	tcase_add_test(tp, prometheus_last_reload_success_follows_last_reload);
	tcase_add_test(tp, prometheus_listener_families);
	tcase_add_test(tp, prometheus_backend_families);
	tcase_add_test(tp, prometheus_server_families);
	tcase_add_test(tp, prometheus_server_up_by_status);
	tcase_add_test(tp, prometheus_escapes_label_values);
	tcase_add_test(tp, prometheus_rows_stay_in_their_families);
	tcase_add_test(tp, prometheus_overflow_is_reported);
	suite_add_tcase(s, tp);
	return check_run(s);
}
