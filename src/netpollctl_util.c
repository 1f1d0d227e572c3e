/* netpollctl_util.c — netpollctl's shared helpers: memory, the clock,
 * small parsers and growable text (see netpollctl_util.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* clock_gettime under -std=c11 */
#endif
#include "netpollctl_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die_nomem(void)
{
	/* exit() runs watch's atexit handler, so the terminal is restored. */
	fputs("netpollctl: out of memory\n", stderr);
	exit(CTL_EXIT_IO);
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die_nomem();
	p = realloc(p, n && size ? n * size : 1);     /* never realloc(p, 0) */
	if (!p)
		die_nomem();
	return p;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !is_digit(*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

char *line_next(char **cur)
{
	char *s = *cur, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = s + strlen(s);
	}
	return s;
}

size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* ---- growable text -------------------------------------------------- */

void buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + more + 1 <= b->cap)
		return;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void buf_append(struct buf *b, const char *s, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_pad(struct buf *b, size_t n)
{
	while (n--)
		buf_append(b, " ", 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}
