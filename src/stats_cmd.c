/* stats_cmd.c — parsing one stats socket command line. The commands are
 * a table of fixed words plus an optional BACKEND/ADDR, so every command
 * is matched, and every mistake reported, the same way. An operator
 * typing at a socket gets one specific message per kind of mistake. */
#include "stats_cmd.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

/* No command has more; one more is kept to tell "extra argument". */
#define STATS_CMD_MAX_WORDS 4

struct stats_cmd_word {
	const char *p;                  /* into the line; not NUL-terminated */
	size_t len;                     /* bytes at p */
};

struct stats_cmd_def {
	const char *words[3];           /* the fixed words; NULL after the last */
	bool target;                    /* BACKEND/ADDR follows them */
	enum stats_cmd_kind kind;       /* what it parses to */
};

static const struct stats_cmd_def stats_cmd_defs[] = {
	{ { "show", "info" }, false, STATS_CMD_SHOW_INFO },
	{ { "show", "stat" }, false, STATS_CMD_SHOW_STAT },
	{ { "show", "stat", "json" }, false, STATS_CMD_SHOW_STAT_JSON },
	{ { "show", "conns" }, false, STATS_CMD_SHOW_CONNS },
	{ { "server", "enable" }, true, STATS_CMD_SERVER_ENABLE },
	{ { "server", "disable" }, true, STATS_CMD_SERVER_DISABLE },
	{ { "server", "drain" }, true, STATS_CMD_SERVER_DRAIN },
	{ { "reload" }, false, STATS_CMD_RELOAD },
	{ { "help" }, false, STATS_CMD_HELP },
	{ { "quit" }, false, STATS_CMD_QUIT },
};

#define STATS_CMD_NDEFS (sizeof(stats_cmd_defs) / sizeof(stats_cmd_defs[0]))

const char stats_cmd_help[] =
	"show info                    process-wide counters\n"
	"show stat                    one CSV row per listener, backend and server\n"
	"show stat json               the same rows as a JSON array\n"
	"show conns                   one line per open connection\n"
	"server enable BACKEND/ADDR   let the server take new connections again\n"
	"server disable BACKEND/ADDR  put the server in maintenance (MAINT)\n"
	"server drain BACKEND/ADDR    take no new connections; open ones finish\n"
	"reload                       reload the configuration, like SIGHUP\n"
	"help                         this list\n"
	"quit                         close this connection\n";

static bool stats_cmd_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits at runs of blanks; returns how many words there are, keeping
 * the first STATS_CMD_MAX_WORDS of them. */
static size_t stats_cmd_split(const char *line, size_t len, struct stats_cmd_word *w)
{
	size_t i = 0, n = 0;

	for (;;) {
		size_t start;

		while (i < len && stats_cmd_blank(line[i]))
			i++;
		if (i == len)
			return n;
		start = i;
		while (i < len && !stats_cmd_blank(line[i]))
			i++;
		if (n < STATS_CMD_MAX_WORDS) {
			w[n].p = line + start;
			w[n].len = i - start;
		}
		n++;
	}
}

static bool stats_cmd_word_is(const struct stats_cmd_word *w, const char *s)
{
	return strlen(s) == w->len && memcmp(w->p, s, w->len) == 0;
}

static size_t stats_cmd_nfixed(const struct stats_cmd_def *d)
{
	size_t n = 0;

	while (n < 3 && d->words[n] != NULL)
		n++;
	return n;
}

/* The command whose fixed words all match, the longest such ("show stat
 * json" over "show stat"); else NULL and why. */
static const struct stats_cmd_def *stats_cmd_match(const struct stats_cmd_word *w, size_t nw,
						   const char **err)
{
	const struct stats_cmd_def *best = NULL;
	size_t best_n = 0;
	bool cut_short = false;

	for (size_t i = 0; i < STATS_CMD_NDEFS; i++) {
		const struct stats_cmd_def *d = &stats_cmd_defs[i];
		size_t nf = stats_cmd_nfixed(d), k = 0;

		while (k < nf && k < nw && stats_cmd_word_is(&w[k], d->words[k]))
			k++;
		if (k == nf && nf > best_n) {
			best = d;
			best_n = nf;
		} else if (k < nf && k == nw) {
			cut_short = true;       /* "show", "server enable"... */
		}
	}
	if (best == NULL)
		*err = cut_short ? "missing argument (try 'help')" : "unknown command (try 'help')";
	return best;
}

static bool stats_cmd_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* BACKEND/ADDR, split at the first '/': a unix ADDR has its own. */
static int stats_cmd_target(const struct stats_cmd_word *w, struct stats_cmd *cmd,
			    const char **err)
{
	const char *slash = memchr(w->p, '/', w->len);
	size_t blen, alen;

	if (slash == NULL) {
		*err = "missing '/' between BACKEND and ADDR";
		return -1;
	}
	blen = (size_t)(slash - w->p);
	alen = w->len - blen - 1;
	if (blen == 0) {
		*err = "empty backend name";
		return -1;
	}
	if (blen > STATS_CMD_BACKEND_MAX) {
		*err = "backend name is too long (at most 64 characters)";
		return -1;
	}
	for (size_t i = 0; i < blen; i++) {
		if (!stats_cmd_name_char(w->p[i])) {
			*err = "invalid backend name (use A-Z a-z 0-9 _ . -)";
			return -1;
		}
	}
	if (alen == 0) {
		*err = "empty server address";
		return -1;
	}
	if (alen > STATS_CMD_SERVER_MAX) {
		*err = "server address is too long";
		return -1;
	}
	memcpy(cmd->backend, w->p, blen);
	cmd->backend[blen] = '\0';
	memcpy(cmd->server, slash + 1, alen);
	cmd->server[alen] = '\0';
	return 0;
}

/* Control bytes have no business in a command, and a NUL would cut it
 * short wherever it is later treated as a C string. */
static int stats_cmd_check_bytes(const char *line, size_t len, const char **err)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0') {
			*err = "NUL byte in command";
			return -1;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*err = "control character in command";
			return -1;
		}
	}
	return 0;
}

int stats_cmd_parse(const char *line, size_t len, struct stats_cmd *cmd, const char **err)
{
	struct stats_cmd_word w[STATS_CMD_MAX_WORDS];
	const struct stats_cmd_def *d;
	size_t nw, nf;

	memset(cmd, 0, sizeof(*cmd));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (stats_cmd_check_bytes(line, len, err) == -1)
		return -1;
	nw = stats_cmd_split(line, len, w);
	if (nw == 0) {
		*err = "empty command (try 'help')";
		return -1;
	}
	d = stats_cmd_match(w, nw, err);
	if (d == NULL)
		return -1;
	nf = stats_cmd_nfixed(d);
	assert(nf <= nw);       /* a match has all its fixed words */
	if (d->target && nw == nf) {
		*err = "missing BACKEND/ADDR";
		return -1;
	}
	if (nw > nf + (d->target ? 1 : 0)) {
		*err = "extra argument (try 'help')";
		return -1;
	}
	if (d->target && stats_cmd_target(&w[nf], cmd, err) == -1)
		return -1;
	cmd->kind = d->kind;
	return 0;
}
