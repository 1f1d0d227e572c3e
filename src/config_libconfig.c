/* config_libconfig.c — libconfig reads the file; this copies its settings
 * into the neutral tree, keeping each setting's line. libconfig's own
 * types map one to one, except that a list and an array both become a
 * LIST: users should not have to care which brackets they typed. */
#include "config_libconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "config_tree.h"

/* @include would put lines of other files into this file's messages, and
 * YAML has no equivalent, so it is refused where it is written. libconfig
 * 1.7 lets us say so; before it, an include directory below a device
 * makes every (relative or absolute) @include fail to open. */
#define CONFIG_LIBCONFIG_NO_INCLUDE "@include is not supported"
#if LIBCONFIG_VER_MAJOR > 1 || (LIBCONFIG_VER_MAJOR == 1 && LIBCONFIG_VER_MINOR >= 7)
static const char **config_libconfig_include(config_t *cf, const char *dir,
					     const char *path, const char **err)
{
	(void)cf;
	(void)dir;
	(void)path;
	*err = CONFIG_LIBCONFIG_NO_INCLUDE;
	return NULL;
}
#define config_libconfig_refuse_includes(cf) \
	config_set_include_func((cf), config_libconfig_include)
#else
#define config_libconfig_refuse_includes(cf) config_set_include_dir((cf), "/dev/null")
#endif
/* What libconfig 1.5 then says, replaced by something the user can act on. */
#define CONFIG_LIBCONFIG_INCLUDE_FAILED "cannot open include file"

/* libconfig 1.5 leaks the text of a string token met where the grammar
 * has no place for it (`"x";` at the top level): its parser has no
 * destructor for tokens it discards. A daemon that is reloaded with such
 * files again and again must not grow, so, when isolated, a child process
 * parses the file first and only tells the verdict; the file is parsed
 * here only once the child found its syntax sound. */
static bool isolated;

void config_libconfig_isolate(bool on)
{
	isolated = on;
}

struct config_libconfig_verdict {
	int ok;                         /* the syntax is sound */
	int line;                       /* else where libconfig stopped */
	char text[200];                 /* and what it said */
};

/* In the child: nothing of the parent's but FP and the pipe stays open
 * (a socket the parent closes meanwhile must not linger here), then the
 * parse, the verdict, and out without running exit handlers. */
static void __attribute__((noreturn)) config_libconfig_child(FILE *fp, int out)
{
	struct config_libconfig_verdict v = { 0 };
	int keep[2] = { fileno(fp) < out ? fileno(fp) : out, fileno(fp) < out ? out : fileno(fp) };
	unsigned from = 3;
	config_t cf;

	for (size_t i = 0; i < 2; i++) {
		if (keep[i] < (int)from)
			continue;
		if (keep[i] > (int)from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0u, 0);
	config_init(&cf);
	config_libconfig_refuse_includes(&cf);
	v.ok = config_read(&cf, fp) == CONFIG_TRUE;
	if (!v.ok) {
		v.line = config_error_line(&cf);
		snprintf(v.text, sizeof(v.text), "%s",
			 config_error_text(&cf) != NULL ? config_error_text(&cf) : "");
	}
	_exit(write(out, &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
}

/* The child's verdict on FP, which is rewound for the real read. -1 if
 * there is none (no process, no pipe): the caller parses it itself. */
static int config_libconfig_check(FILE *fp, struct config_libconfig_verdict *v)
{
	int p[2], status, rc = -1;
	struct stat st;
	ssize_t n;
	pid_t pid;

	/* The child's read must leave the file to read again: a pipe or a
	 * FIFO (-c /dev/stdin) would be empty for us, so it is read here. */
	if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode) || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	(void)fflush(fp);
	pid = fork();
	if (pid == 0)
		config_libconfig_child(fp, p[1]);
	close(p[1]);
	if (pid > 0) {
		do
			n = read(p[0], v, sizeof(*v));
		while (n < 0 && errno == EINTR);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof(*v)) {
			v->text[sizeof(v->text) - 1] = '\0';
			rc = 0;
		}
	}
	close(p[0]);
	rewind(fp);
	return rc;
}

static struct config_node *config_libconfig_convert(const config_setting_t *s);

static int config_libconfig_add_children(struct config_node *node,
					 const config_setting_t *s)
{
	int n = config_setting_length(s);

	for (int i = 0; i < n; i++) {
		const config_setting_t *child = config_setting_get_elem(s, (unsigned)i);
		struct config_node *value = config_libconfig_convert(child);
		int rc;

		if (value == NULL)
			return -1;
		if (node->kind == CONFIG_NODE_MAP)
			rc = config_tree_map_add(node, config_setting_name(child),
						 (int)config_setting_source_line(child), value);
		else
			rc = config_tree_list_add(node, value);
		if (rc == -1) {
			config_tree_free(value);
			return -1;
		}
	}
	return 0;
}

/* NULL only when memory is short: libconfig has already judged syntax. */
static struct config_node *config_libconfig_convert(const config_setting_t *s)
{
	int line = (int)config_setting_source_line(s);
	struct config_node *node = NULL;

	/* The root group has no line of its own. */
	if (line < 1)
		line = 1;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		node = config_tree_new(CONFIG_NODE_MAP, line);
		break;
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		node = config_tree_new(CONFIG_NODE_LIST, line);
		break;
	case CONFIG_TYPE_STRING: {
		const char *text = config_setting_get_string(s);
		return config_tree_new_string(text, strlen(text), line);
	}
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		node = config_tree_new(CONFIG_NODE_INT, line);
		if (node != NULL)
			node->u.integer = config_setting_get_int64(s);
		return node;
	case CONFIG_TYPE_BOOL:
		node = config_tree_new(CONFIG_NODE_BOOL, line);
		if (node != NULL)
			node->u.boolean = config_setting_get_bool(s) != 0;
		return node;
	case CONFIG_TYPE_FLOAT:
	default:                        /* CONFIG_TYPE_NONE: never in a parsed file */
		/* No key takes a float: kept so the validator can say so. */
		node = config_tree_new(CONFIG_NODE_FLOAT, line);
		if (node != NULL)
			node->u.real = config_setting_get_float(s);
		return node;
	}
	if (node != NULL && config_libconfig_add_children(node, s) == -1) {
		config_tree_free(node);
		return NULL;
	}
	return node;
}

/* libconfig's syntax error, in words the user can act on. */
static void config_libconfig_syntax_error(const char *path, int line, const char *text,
					  struct config_errors *errs)
{
	if (text != NULL && strcmp(text, CONFIG_LIBCONFIG_INCLUDE_FAILED) == 0)
		text = CONFIG_LIBCONFIG_NO_INCLUDE;
	config_errors_add(errs, path, line > 0 ? line : 1, "%s",
			  text != NULL && text[0] != '\0' ? text : "cannot read the file");
}

struct config_node *config_libconfig_read(FILE *fp, const char *path,
					  struct config_errors *errs)
{
	struct config_libconfig_verdict v;
	struct config_node *root = NULL;
	config_t cf;

	if (isolated && config_libconfig_check(fp, &v) == 0 && !v.ok) {
		config_libconfig_syntax_error(path, v.line, v.text, errs);
		return NULL;
	}
	config_init(&cf);
	config_libconfig_refuse_includes(&cf);
	if (config_read(&cf, fp) != CONFIG_TRUE) {
		config_libconfig_syntax_error(path, config_error_line(&cf), config_error_text(&cf),
					      errs);
		goto out;
	}
	root = config_libconfig_convert(config_root_setting(&cf));
	if (root == NULL)
		config_errors_add(errs, path, 0, "out of memory");
out:
	config_destroy(&cf);
	return root;
}
