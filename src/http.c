/* http.c — the metrics endpoint's HTTP/1.x: a byte-at-a-time parser for
 * one request head, and the response head. Byte at a time, so a head
 * that is already wrong is refused at the first bad byte, without
 * waiting for a blank line that may never come; and a head that is
 * only cut short is INCOMPLETE, however it was split. Strict on
 * purpose: Prometheus and curl send plain heads, anything odd is 400. */
#include "http.h"

#include <stdbool.h>
#include <string.h>

/* The request line's states come first: http_parse_request() tells
 * the two parts apart by order. */
enum http_state {
	HTTP_METHOD,                    /* "GET" */
	HTTP_TARGET_START,              /* after the first space: must be '/' */
	HTTP_PATH,                      /* the target up to '?' */
	HTTP_QUERY,                     /* after '?': checked, not kept */
	HTTP_VERSION,                   /* "HTTP/1.0" or "HTTP/1.1" */
	HTTP_LINE_CR,                   /* a line's '\r': '\n' must follow */
	HTTP_LINE_START,                /* a header's name, or the blank line */
	HTTP_NAME,                      /* a header's name, up to ':' */
	HTTP_VALUE,                     /* a header's value, up to the line end */
	HTTP_END_CR,                    /* the blank line's '\r' */
};

/* RFC 9110 tchar: what a method or header name may be made of. */
static bool http_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A request-target byte: visible ASCII, no space. */
static bool http_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* A header value byte: anything but control bytes, tab allowed. */
static bool http_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Where the parser is in the head, carried from byte to byte. */
struct http_parser {
	enum http_state state;          /* what the next byte may be */
	size_t mlen;                    /* bytes of method */
	size_t plen;                    /* bytes of path */
	size_t tlen;                    /* bytes of the whole target */
	size_t vlen;                    /* bytes of "HTTP/1.x" seen */
};

/* The request line, one byte C. Returns false if C makes it bad. */
static bool http_request_line(struct http_parser *p, struct http_request *req, unsigned char c)
{
	static const char version[] = "HTTP/1.";

	switch (p->state) {
	case HTTP_METHOD:
		if (c == ' ' && p->mlen > 0) {
			p->state = HTTP_TARGET_START;
			return true;
		}
		if (c < 'A' || c > 'Z' || p->mlen == sizeof(req->method) - 1)
			return false;
		req->method[p->mlen++] = (char)c;
		return true;
	case HTTP_TARGET_START:
		if (c != '/')
			return false;
		p->state = HTTP_PATH;
		/* fall through */
	case HTTP_PATH:
	case HTTP_QUERY:
		if (c == ' ') {
			p->state = HTTP_VERSION;
			return true;
		}
		if (!http_target_char(c) || p->tlen == sizeof(req->path) - 1)
			return false;
		p->tlen++;
		if (p->state == HTTP_PATH && c == '?')
			p->state = HTTP_QUERY;
		else if (p->state == HTTP_PATH)
			req->path[p->plen++] = (char)c;
		return true;
	case HTTP_VERSION:
		if (p->vlen < sizeof(version) - 1) {
			if (c != (unsigned char)version[p->vlen++])
				return false;
		} else if (p->vlen == sizeof(version) - 1) {
			if (c != '0' && c != '1')
				return false;
			p->vlen++;
		} else if (c == '\r') {
			p->state = HTTP_LINE_CR;
		} else if (c == '\n') {
			p->state = HTTP_LINE_START;
		} else {
			return false;
		}
		return true;
	default:
		return false;
	}
}

/* The header lines, one byte C. Returns -1 if C makes the head bad,
 * 1 if it ends it, 0 to go on. */
static int http_header_byte(struct http_parser *p, unsigned char c)
{
	switch (p->state) {
	case HTTP_LINE_CR:
		if (c != '\n')
			return -1;
		p->state = HTTP_LINE_START;
		return 0;
	case HTTP_LINE_START:
		if (c == '\r') {
			p->state = HTTP_END_CR;
			return 0;
		}
		if (c == '\n')
			return 1;
		/* A leading blank would be an obsolete folded line. */
		if (!http_tchar(c))
			return -1;
		p->state = HTTP_NAME;
		return 0;
	case HTTP_NAME:
		if (c == ':')
			p->state = HTTP_VALUE;
		else if (!http_tchar(c))
			return -1;
		return 0;
	case HTTP_VALUE:
		if (c == '\r')
			p->state = HTTP_LINE_CR;
		else if (c == '\n')
			p->state = HTTP_LINE_START;
		else if (!http_value_char(c))
			return -1;
		return 0;
	case HTTP_END_CR:
		return c == '\n' ? 1 : -1;
	default:
		return -1;
	}
}

enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct http_parser p = { HTTP_METHOD, 0, 0, 0, 0 };

	memset(req, 0, sizeof(*req));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		int r;

		if (p.state <= HTTP_VERSION) {
			if (!http_request_line(&p, req, c))
				return HTTP_PARSE_BAD;
			continue;
		}
		r = http_header_byte(&p, c);
		if (r == -1)
			return HTTP_PARSE_BAD;
		if (r == 1) {
			req->header_len = i + 1;
			return HTTP_PARSE_DONE;
		}
	}
	return HTTP_PARSE_INCOMPLETE;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

/* Connection: close, always: one request per connection keeps the
 * endpoint's state to a single buffer each way. */
void http_format_head(struct strbuf *out, int status, const char *content_type, size_t body_len)
{
	http_format_head_with(out, status, content_type, body_len, NULL);
}

void http_format_head_with(struct strbuf *out, int status, const char *content_type,
			   size_t body_len, const char *headers)
{
	strbuf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (content_type != NULL)
		strbuf_printf(out, "Content-Type: %s\r\n", content_type);
	if (headers != NULL)
		strbuf_puts(out, headers);
	strbuf_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
}
