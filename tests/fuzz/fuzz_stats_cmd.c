/* fuzz_stats_cmd.c — libFuzzer target for stats_cmd_parse(): whatever a
 * client of the stats socket sends as one line, the parser must not read
 * past it, must answer a command or one message, and a command must be
 * what the words of the line say.
 *
 * An input is one line without its newline, as stats_server.c hands it
 * over. Each parse reads from a heap copy of exactly the line's size. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "stats_cmd.h"

/* What the output of each kind looks like, written canonically. */
static const struct {
	const char *words;              /* the fixed words, one space apart */
	enum stats_cmd_kind kind;       /* what they parse to */
	bool target;                    /* BACKEND/ADDR follows */
} fuzz_stats_cmds[] = {
	{ "show info", STATS_CMD_SHOW_INFO, false },
	{ "show stat", STATS_CMD_SHOW_STAT, false },
	{ "show stat json", STATS_CMD_SHOW_STAT_JSON, false },
	{ "show conns", STATS_CMD_SHOW_CONNS, false },
	{ "server enable", STATS_CMD_SERVER_ENABLE, true },
	{ "server disable", STATS_CMD_SERVER_DISABLE, true },
	{ "server drain", STATS_CMD_SERVER_DRAIN, true },
	{ "reload", STATS_CMD_RELOAD, false },
	{ "help", STATS_CMD_HELP, false },
	{ "quit", STATS_CMD_QUIT, false },
};

#define FUZZ_STATS_NCMDS (sizeof(fuzz_stats_cmds) / sizeof(fuzz_stats_cmds[0]))

/* A parse's whole answer, to compare two of them. */
struct fuzz_stats_answer {
	int rc;                         /* stats_cmd_parse()'s return */
	const char *err;                /* its message; NULL while rc is 0 */
	struct stats_cmd cmd;           /* filled when rc is 0 */
};

static void fuzz_stats_parse(const uint8_t *data, size_t n, struct fuzz_stats_answer *a)
{
	char *line = fuzz_memdup(data, n);

	/* Garbage in, so that "filled on success" is really tested. */
	memset(&a->cmd, 0xa5, sizeof(a->cmd));
	a->err = NULL;
	a->rc = stats_cmd_parse(line, n, &a->cmd, &a->err);
	free(line);
	FUZZ_CHECK(a->rc == 0 || a->rc == -1);
	FUZZ_CHECK(a->rc != 0 || a->err == NULL);
	FUZZ_CHECK(a->rc == 0 || (a->err != NULL && a->err[0] != '\0'));
}

static bool fuzz_stats_same(const struct fuzz_stats_answer *a, const struct fuzz_stats_answer *b)
{
	if (a->rc != b->rc || a->err != b->err)
		return false;
	return a->rc != 0 || (a->cmd.kind == b->cmd.kind &&
			      strcmp(a->cmd.backend, b->cmd.backend) == 0 &&
			      strcmp(a->cmd.server, b->cmd.server) == 0);
}

static bool fuzz_stats_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* What a parsed command must be on its own. Returns its table entry. */
static size_t fuzz_stats_check_cmd(const struct stats_cmd *cmd)
{
	size_t i, blen, slen;

	for (i = 0; i < FUZZ_STATS_NCMDS && fuzz_stats_cmds[i].kind != cmd->kind; i++)
		;
	FUZZ_CHECK(i < FUZZ_STATS_NCMDS);
	/* NUL-terminated inside their arrays. */
	FUZZ_CHECK(memchr(cmd->backend, '\0', sizeof(cmd->backend)) != NULL);
	FUZZ_CHECK(memchr(cmd->server, '\0', sizeof(cmd->server)) != NULL);
	blen = strlen(cmd->backend);
	slen = strlen(cmd->server);
	/* Only server commands name one, and they always do. */
	FUZZ_CHECK(fuzz_stats_cmds[i].target ? (blen >= 1 && slen >= 1) : (blen == 0 && slen == 0));
	FUZZ_CHECK(blen <= STATS_CMD_BACKEND_MAX && slen <= STATS_CMD_SERVER_MAX);
	for (size_t k = 0; k < blen; k++)
		FUZZ_CHECK(fuzz_stats_name_char(cmd->backend[k]));
	/* ADDR is the rest of one word: no blank, no control byte. */
	for (size_t k = 0; k < slen; k++) {
		unsigned char c = (unsigned char)cmd->server[k];
		FUZZ_CHECK(c > ' ' && c != 0x7f);
	}
	return i;
}

/* The command written canonically ("server drain B/A") parses back to
 * itself: the parse depends on the words, not on the blanks between. */
static void fuzz_stats_check_canonical(const struct fuzz_stats_answer *a, size_t i)
{
	char text[sizeof("server disable ") + STATS_CMD_BACKEND_MAX + 1 + STATS_CMD_SERVER_MAX + 1];
	struct fuzz_stats_answer back;
	int n;

	if (fuzz_stats_cmds[i].target)
		n = snprintf(text, sizeof(text), "%s %s/%s", fuzz_stats_cmds[i].words,
			     a->cmd.backend, a->cmd.server);
	else
		n = snprintf(text, sizeof(text), "%s", fuzz_stats_cmds[i].words);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	fuzz_stats_parse((const uint8_t *)text, (size_t)n, &back);
	FUZZ_CHECK(fuzz_stats_same(a, &back));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_stats_answer a, b;

	fuzz_stats_parse(data, size, &a);
	if (a.rc == 0)
		fuzz_stats_check_canonical(&a, fuzz_stats_check_cmd(&a.cmd));
	/* A client ending its lines "\r\n" gets the same answers. */
	if (size == 0 || data[size - 1] != '\r') {
		uint8_t *crlf = malloc(size + 1);

		FUZZ_CHECK(crlf != NULL);
		if (size > 0)
			memcpy(crlf, data, size);
		crlf[size] = '\r';
		fuzz_stats_parse(crlf, size + 1, &b);
		free(crlf);
		FUZZ_CHECK(fuzz_stats_same(&a, &b));
	}
	return 0;
}
