/* check_http.c — the metrics endpoint's HTTP (http.h): what request heads
 * are accepted and what they mean, that a head cut anywhere is
 * INCOMPLETE, each way a head is refused, and the response head. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "http.h"

static enum http_parse parse(const char *text, struct http_request *req)
{
	return http_parse_request(text, strlen(text), req);
}

static void check_bad(const char *text)
{
	struct http_request req;

	ck_assert_msg(parse(text, &req) == HTTP_PARSE_BAD, "accepted: %s", text);
}

static void check_bad_len(const char *text, size_t len)
{
	struct http_request req;

	ck_assert_msg(http_parse_request(text, len, &req) == HTTP_PARSE_BAD, "accepted: %.*s",
		      (int)len, text);
}

/* A literal with NULs in it, all of it. */
#define check_bad_bytes(lit) check_bad_len(lit, sizeof(lit) - 1)

/* Every proper prefix of TEXT is INCOMPLETE; the whole is DONE. */
static void check_prefixes(const char *text, struct http_request *req)
{
	size_t len = strlen(text);

	for (size_t n = 0; n < len; n++)
		ck_assert_msg(http_parse_request(text, n, req) == HTTP_PARSE_INCOMPLETE,
			      "prefix of %zu bytes is not INCOMPLETE", n);
	ck_assert_int_eq(http_parse_request(text, len, req), HTTP_PARSE_DONE);
}

START_TEST(get_with_headers)
{
	static const char head[] =
		"GET /metrics HTTP/1.1\r\n"
		"Host: 127.0.0.1:9901\r\n"
		"User-Agent: Prometheus/2.45.0\r\n"
		"Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
		"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
		"\r\n";
	struct http_request req;

	ck_assert_int_eq(parse(head, &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.method, "GET");
	ck_assert_str_eq(req.path, "/metrics");
	ck_assert_uint_eq(req.header_len, sizeof(head) - 1);
}
END_TEST

START_TEST(no_headers_at_all)
{
	struct http_request req;

	ck_assert_int_eq(parse("HEAD / HTTP/1.0\r\n\r\n", &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.method, "HEAD");
	ck_assert_str_eq(req.path, "/");
	ck_assert_uint_eq(req.header_len, 19);
}
END_TEST

START_TEST(query_is_dropped)
{
	struct http_request req;

	ck_assert_int_eq(parse("GET /stats?x=1&y=?2 HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/stats");
	ck_assert_int_eq(parse("GET /metrics? HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/metrics");
	ck_assert_int_eq(parse("GET /?a HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/");
}
END_TEST

START_TEST(http_1_0_and_bare_lf)
{
	static const char head[] = "GET /stats HTTP/1.0\nHost: x\nAccept: */*\n\n";
	struct http_request req;

	ck_assert_int_eq(parse(head, &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/stats");
	ck_assert_uint_eq(req.header_len, sizeof(head) - 1);
	/* Mixed line ends, as a hand-typed request may have. */
	ck_assert_int_eq(parse("GET / HTTP/1.1\nHost: x\r\n\n", &req), HTTP_PARSE_DONE);
	ck_assert_uint_eq(req.header_len, 25);
}
END_TEST

/* Bytes after the blank line belong to no head. */
START_TEST(header_len_stops_at_the_blank_line)
{
	static const char buf[] = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
	struct http_request req;

	ck_assert_int_eq(parse(buf, &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.method, "POST");
	ck_assert_uint_eq(req.header_len, sizeof(buf) - 1 - 4);
	ck_assert_int_eq(parse("GET / HTTP/1.1\n\n\x01\x02", &req), HTTP_PARSE_DONE);
	ck_assert_uint_eq(req.header_len, 16);
}
END_TEST

/* However the bytes arrive, the head is INCOMPLETE until its end. */
START_TEST(split_anywhere_is_incomplete_then_done)
{
	static const char crlf[] =
		"GET /metrics?name[]=x HTTP/1.1\r\nHost: localhost:9901\r\nAccept:\r\n"
		"X-Empty:\t \r\n\r\n";
	static const char lf[] = "GET /stats HTTP/1.0\nHost: a\n\n";
	struct http_request req;

	check_prefixes(crlf, &req);
	ck_assert_str_eq(req.path, "/metrics");
	ck_assert_uint_eq(req.header_len, sizeof(crlf) - 1);
	check_prefixes(lf, &req);
	ck_assert_str_eq(req.path, "/stats");
	ck_assert_uint_eq(req.header_len, sizeof(lf) - 1);
}
END_TEST

START_TEST(longest_path_fits)
{
	char head[400];
	struct http_request req;

	strcpy(head, "GET /");
	memset(head + 5, 'p', 254);
	strcpy(head + 5 + 254, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(head, &req), HTTP_PARSE_DONE);
	ck_assert_uint_eq(strlen(req.path), 255);
	/* One more byte of target, even in the query, is too long. */
	strcpy(head, "GET /");
	memset(head + 5, 'p', 250);
	strcpy(head + 5 + 250, "?abcd HTTP/1.1\r\n\r\n");
	check_bad(head);
}
END_TEST

START_TEST(longest_method_fits)
{
	struct http_request req;

	ck_assert_int_eq(parse("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.method, "ABCDEFGHIJKLMNO");
	check_bad("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n");
}
END_TEST

START_TEST(bad_request_lines)
{
	check_bad("GET\r\n\r\n");                        /* missing target and version */
	check_bad("GET /\r\n\r\n");                      /* HTTP/0.9: no version */
	check_bad("GET / \r\n\r\n");                     /* empty version */
	check_bad(" GET / HTTP/1.1\r\n\r\n");            /* leading space */
	check_bad("GET  / HTTP/1.1\r\n\r\n");            /* two spaces */
	check_bad("GET /  HTTP/1.1\r\n\r\n");
	check_bad("GET / HTTP/1.1 \r\n\r\n");            /* trailing space */
	check_bad("GET\t/ HTTP/1.1\r\n\r\n");            /* tab for space */
	check_bad("GET / HTTP/2.0\r\n\r\n");             /* wrong version */
	check_bad("GET / HTTP/1.2\r\n\r\n");
	check_bad("GET / http/1.1\r\n\r\n");
	check_bad("GET / HTTP/1.10\r\n\r\n");
	check_bad("GET / HTTP/1\r\n\r\n");
	check_bad("get / HTTP/1.1\r\n\r\n");             /* method not upper case */
	check_bad("G3T / HTTP/1.1\r\n\r\n");
	check_bad("M-SEARCH / HTTP/1.1\r\n\r\n");
	check_bad("GET metrics HTTP/1.1\r\n\r\n");       /* target not starting with '/' */
	check_bad("GET http://x/metrics HTTP/1.1\r\n\r\n");
	check_bad("OPTIONS * HTTP/1.1\r\n\r\n");
	check_bad("\r\nGET / HTTP/1.1\r\n\r\n");         /* blank line first */
	check_bad("GET /a\x01 HTTP/1.1\r\n\r\n");        /* control byte in target */
	check_bad("GET /a\x7f HTTP/1.1\r\n\r\n");
	check_bad("GET /\xc3\xa9 HTTP/1.1\r\n\r\n");     /* raw non-ASCII in target */
	check_bad("GET / HTTP/1.1\r\r\n\r\n");           /* CR not before LF */
	check_bad("GET / HTTP/1.1\rX: y\r\n\r\n");
	check_bad_bytes("GET /\0 HTTP/1.1\r\n\r\n");       /* NUL */
	check_bad_bytes("G\0T / HTTP/1.1\r\n\r\n");
}
END_TEST

START_TEST(bad_header_lines)
{
	check_bad("GET / HTTP/1.1\r\nHost\r\n\r\n");              /* no ':' */
	check_bad("GET / HTTP/1.1\r\nHost\n\n");
	check_bad("GET / HTTP/1.1\r\n: x\r\n\r\n");               /* empty name */
	check_bad("GET / HTTP/1.1\r\nHo st: x\r\n\r\n");          /* space in name */
	check_bad("GET / HTTP/1.1\r\nHost : x\r\n\r\n");          /* space before ':' */
	check_bad("GET / HTTP/1.1\r\n Host: x\r\n\r\n");          /* folded / leading blank */
	check_bad("GET / HTTP/1.1\r\nHost: x\r\n\tmore\r\n\r\n");
	check_bad("GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n");       /* control byte in name */
	check_bad("GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n");      /* control byte in value */
	check_bad("GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n");
	check_bad("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n");     /* lone CR */
	check_bad("GET / HTTP/1.1\r\nHost: x\r\n\r\r\n");         /* blank line with CR CR */
	check_bad_bytes("GET / HTTP/1.1\r\nHost: a\0z\r\n\r\n");  /* NUL in value */
}
END_TEST

/* A head already wrong is refused at once, before its blank line. */
START_TEST(bad_is_seen_before_the_end)
{
	struct http_request req;

	ck_assert_int_eq(parse("get", &req), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse("GET x", &req), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse("GET / HTTP/2", &req), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nBad Name", &req), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: x\x02", &req), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: x", &req), HTTP_PARSE_INCOMPLETE);
	ck_assert_int_eq(parse("", &req), HTTP_PARSE_INCOMPLETE);
}
END_TEST

/* Header values may be empty, hold tabs, colons and non-ASCII. */
START_TEST(header_values_are_free_text)
{
	struct http_request req;

	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nA:\r\nB:\tx: y\r\nC: caf\xc3\xa9\r\n"
			       "X-Weird_!#$%&'*+.^`|~: 1\r\n\r\n", &req), HTTP_PARSE_DONE);
}
END_TEST

static void check_head(int status, const char *type, size_t len, const char *want)
{
	struct strbuf b;

	strbuf_init(&b, 4096);
	http_format_head(&b, status, type, len);
	ck_assert(!b.overflow);
	ck_assert_str_eq(b.data, want);
	strbuf_free(&b);
}

START_TEST(response_heads)
{
	check_head(200, "text/plain; version=0.0.4; charset=utf-8", 1234,
		   "HTTP/1.1 200 OK\r\n"
		   "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		   "Content-Length: 1234\r\n"
		   "Connection: close\r\n"
		   "\r\n");
	check_head(404, "text/plain", 10,
		   "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
		   "Content-Length: 10\r\nConnection: close\r\n\r\n");
	check_head(400, NULL, 0,
		   "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(response_head_with_extra_headers)
{
	struct strbuf b;

	strbuf_init(&b, 4096);
	http_format_head_with(&b, 405, "text/plain", 3, "Allow: GET, HEAD\r\n");
	ck_assert_str_eq(b.data, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n"
			 "Allow: GET, HEAD\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
	strbuf_free(&b);
}
END_TEST

START_TEST(reason_phrases)
{
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(400), "Bad Request");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(405), "Method Not Allowed");
	ck_assert_str_eq(http_reason(408), "Request Timeout");
	ck_assert_str_eq(http_reason(413), "Content Too Large");
	ck_assert_str_eq(http_reason(500), "Internal Server Error");
	ck_assert_str_eq(http_reason(503), "Service Unavailable");
	ck_assert_str_eq(http_reason(418), "Unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");

	tcase_add_test(tc, get_with_headers);
	tcase_add_test(tc, no_headers_at_all);
	tcase_add_test(tc, query_is_dropped);
	tcase_add_test(tc, http_1_0_and_bare_lf);
	tcase_add_test(tc, header_len_stops_at_the_blank_line);
	tcase_add_test(tc, split_anywhere_is_incomplete_then_done);
	tcase_add_test(tc, longest_path_fits);
	tcase_add_test(tc, longest_method_fits);
	tcase_add_test(tc, bad_request_lines);
	tcase_add_test(tc, bad_header_lines);
	tcase_add_test(tc, bad_is_seen_before_the_end);
	tcase_add_test(tc, header_values_are_free_text);
	tcase_add_test(tc, response_heads);
	tcase_add_test(tc, response_head_with_extra_headers);
	tcase_add_test(tc, reason_phrases);
	suite_add_tcase(s, tc);
	return check_run(s);
}
