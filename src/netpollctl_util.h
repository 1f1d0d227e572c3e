/* netpollctl_util.h — the few helpers every part of netpollctl uses:
 * exit codes, memory that never comes back NULL, the monotonic clock,
 * decimal and line parsing, and growable text. The client links nothing
 * from the daemon, so these are its own, not strbuf.h's. */
#ifndef NETPOLLD_NETPOLLCTL_UTIL_H
#define NETPOLLD_NETPOLLCTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Exit codes: documented in netpollctl(1). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ANSWER = 1,            /* the daemon answered `error: ...` */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_IO = 3,                /* socket unreachable, timeout, I/O error */
};

/* realloc() for N items of SIZE bytes; out of memory, it exits with
 * CTL_EXIT_IO after saying so. */
void *xreallocarray(void *p, size_t n, size_t size);
/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);
bool is_digit(char c);
/* Parses a whole decimal string; false for anything else. */
bool parse_u64(const char *s, uint64_t *v);
/* Cuts the next line out of *CUR in place; NULL when none is left. */
char *line_next(char **cur);
size_t count_char(const char *s, char c);

/* Growable text; starts as (struct buf){0}. Running out of memory exits. */
struct buf {
	char *data;                     /* NUL-terminated once anything was added */
	size_t len;                     /* bytes held, without the NUL */
	size_t cap;                     /* bytes allocated */
};

/* Makes room for MORE bytes and a NUL after what is held. */
void buf_reserve(struct buf *b, size_t more);
void buf_append(struct buf *b, const char *s, size_t len);
void buf_puts(struct buf *b, const char *s);
/* Appends N spaces. */
void buf_pad(struct buf *b, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

#endif
