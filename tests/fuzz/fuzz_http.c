/* fuzz_http.c — libFuzzer target for http_parse_request(), the metrics
 * endpoint's request parser: whatever a client sends, it must not read
 * past what it was given, and must give the same answer however the
 * bytes were split across reads (the endpoint parses everything it has
 * after each read).
 *
 * Each parse reads from a heap copy of exactly the bytes it is given. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http.h"

/* Every prefix up to this length is parsed (a short request line and
 * a header or two); beyond it, the ones around the head's end and
 * FUZZ_HTTP_SPOT_PREFIXES more at places the input's bytes choose, so
 * that the executions per second stay high while, over a run, every
 * split of long heads is tried too. */
#define FUZZ_HTTP_ALL_PREFIXES 64
#define FUZZ_HTTP_SPOT_PREFIXES 16

static enum http_parse fuzz_http_parse(const uint8_t *data, size_t n, struct http_request *req)
{
	char *copy = fuzz_memdup(data, n);
	enum http_parse r;

	/* Garbage in, so that whatever DONE says was really written. */
	memset(req, 0xa5, sizeof(*req));
	r = http_parse_request(copy, n, req);
	free(copy);
	FUZZ_CHECK(r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_DONE || r == HTTP_PARSE_BAD);
	return r;
}

/* What a DONE answer for the SIZE bytes at DATA must satisfy: the head
 * is there, the method and path are NUL-terminated and are what the
 * request line says. */
static void fuzz_http_check_done(const uint8_t *data, size_t size, const struct http_request *req)
{
	size_t mlen, plen;

	FUZZ_CHECK(req->header_len >= sizeof("A / HTTP/1.0\n\n") - 1 && req->header_len <= size);
	FUZZ_CHECK(data[req->header_len - 1] == '\n');
	FUZZ_CHECK(memchr(req->method, '\0', sizeof(req->method)) != NULL);
	mlen = strlen(req->method);
	FUZZ_CHECK(mlen >= 1 && mlen <= 15);
	for (size_t i = 0; i < mlen; i++)
		FUZZ_CHECK(req->method[i] >= 'A' && req->method[i] <= 'Z');
	FUZZ_CHECK(memcmp(data, req->method, mlen) == 0 && data[mlen] == ' ');
	FUZZ_CHECK(memchr(req->path, '\0', sizeof(req->path)) != NULL);
	plen = strlen(req->path);
	FUZZ_CHECK(plen >= 1 && req->path[0] == '/');
	/* The target up to '?' or its end. */
	FUZZ_CHECK(mlen + 1 + plen < req->header_len);
	FUZZ_CHECK(memcmp(data + mlen + 1, req->path, plen) == 0);
	FUZZ_CHECK(data[mlen + 1 + plen] == '?' || data[mlen + 1 + plen] == ' ');
	for (size_t i = 0; i < plen; i++)
		FUZZ_CHECK(req->path[i] > ' ' && req->path[i] < 0x7f && req->path[i] != '?');
}

static bool fuzz_http_same(const struct http_request *a, const struct http_request *b)
{
	return a->header_len == b->header_len && strcmp(a->method, b->method) == 0 &&
	       strcmp(a->path, b->path) == 0;
}

/* The prefix of N bytes against the answer R/REQ for the whole input:
 * a cut-short head is INCOMPLETE, never BAD or DONE before its end; once
 * it is all there, bytes after it change nothing; and what comes to be
 * refused was never DONE. Returns the prefix's answer. */
static enum http_parse fuzz_http_check_prefix(const uint8_t *data, size_t n, enum http_parse r,
				   const struct http_request *req)
{
	struct http_request p;
	enum http_parse rp = fuzz_http_parse(data, n, &p);

	switch (r) {
	case HTTP_PARSE_DONE:
		FUZZ_CHECK(rp == (n < req->header_len ? HTTP_PARSE_INCOMPLETE : HTTP_PARSE_DONE));
		FUZZ_CHECK(rp != HTTP_PARSE_DONE || fuzz_http_same(&p, req));
		break;
	case HTTP_PARSE_INCOMPLETE:
		FUZZ_CHECK(rp == HTTP_PARSE_INCOMPLETE);
		break;
	case HTTP_PARSE_BAD:
		FUZZ_CHECK(rp != HTTP_PARSE_DONE);
		break;
	}
	return rp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	enum http_parse r = fuzz_http_parse(data, size, &req);
	bool bad = false;               /* a shorter prefix was refused */
	uint32_t h = 2166136261u;       /* FNV-1a of the input: where the spot checks go */

	if (r == HTTP_PARSE_DONE)
		fuzz_http_check_done(data, size, &req);
	for (size_t n = 0; n < size && n <= FUZZ_HTTP_ALL_PREFIXES; n++) {
		enum http_parse rp = fuzz_http_check_prefix(data, n, r, &req);

		/* Refused at the first bad byte, and from then on. */
		FUZZ_CHECK(!bad || rp == HTTP_PARSE_BAD);
		bad = rp == HTTP_PARSE_BAD;
	}
	if (size <= FUZZ_HTTP_ALL_PREFIXES)
		return 0;
	fuzz_http_check_prefix(data, size - 1, r, &req);
	if (r == HTTP_PARSE_DONE && req.header_len > FUZZ_HTTP_ALL_PREFIXES) {
		fuzz_http_check_prefix(data, req.header_len - 1, r, &req);
		fuzz_http_check_prefix(data, req.header_len, r, &req);
	}
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	for (int i = 0; i < FUZZ_HTTP_SPOT_PREFIXES; i++) {
		h = h * 1103515245u + 12345u;
		fuzz_http_check_prefix(data, FUZZ_HTTP_ALL_PREFIXES + h % (size - FUZZ_HTTP_ALL_PREFIXES),
				       r, &req);
	}
	return 0;
}
