/* http.h — just enough HTTP/1.x for the metrics endpoint: parse one
 * request head, format one response head. Pure: no sockets, no logs. */
#ifndef NETPOLLD_HTTP_H
#define NETPOLLD_HTTP_H

#include <stddef.h>

#include "strbuf.h"

enum http_parse {
	HTTP_PARSE_INCOMPLETE,          /* no blank line yet; read more */
	HTTP_PARSE_DONE,                /* a whole, valid head */
	HTTP_PARSE_BAD,                 /* not a request we accept: answer 400 */
};

struct http_request {
	char method[16];                /* "GET": 1-15 upper-case letters */
	char path[256];                 /* the target up to '?'; the query is dropped */
	size_t header_len;              /* bytes up to and including the blank line */
};

/* Parses the head at the start of BUF (LEN bytes, all read so far;
 * bytes after the head are left alone). Each call starts over, so the
 * caller passes everything it has and bounds its total size and time.
 * REQ is filled on HTTP_PARSE_DONE; otherwise its contents are
 * unspecified. CRLF and bare LF line ends are both accepted. */
enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Appends "HTTP/1.1 STATUS REASON\r\nContent-Type: ...\r\nContent-Length: N\r\n
 * Connection: close\r\n\r\n". CONTENT_TYPE NULL leaves that line out. */
void http_format_head(struct strbuf *out, int status, const char *content_type, size_t body_len);
/* The same with HEADERS (whole "Name: value\r\n" lines, may be NULL) after
 * Content-Type: "Allow: GET, HEAD\r\n" for a 405. */
void http_format_head_with(struct strbuf *out, int status, const char *content_type,
			   size_t body_len, const char *headers);

/* "OK", "Not Found"... for the statuses the endpoint answers with;
 * "Unknown" for any other. */
const char *http_reason(int status);

#endif
