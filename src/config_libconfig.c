/* config_libconfig.c — libconfig reads the file; this copies its settings
 * into the neutral tree, keeping each setting's line. libconfig's own
 * types map one to one, except that a list and an array both become a
 * LIST: users should not have to care which brackets they typed. */
#include "config_libconfig.h"

#include <libconfig.h>
#include <string.h>

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

struct config_node *config_libconfig_read(FILE *fp, const char *path,
					  struct config_errors *errs)
{
	struct config_node *root = NULL;
	config_t cf;

	config_init(&cf);
	config_libconfig_refuse_includes(&cf);
	if (config_read(&cf, fp) != CONFIG_TRUE) {
		const char *text = config_error_text(&cf);

		if (text != NULL && strcmp(text, CONFIG_LIBCONFIG_INCLUDE_FAILED) == 0)
			text = CONFIG_LIBCONFIG_NO_INCLUDE;
		config_errors_add(errs, path, config_error_line(&cf) > 0 ? config_error_line(&cf) : 1,
				  "%s", text != NULL ? text : "cannot read the file");
		goto out;
	}
	root = config_libconfig_convert(config_root_setting(&cf));
	if (root == NULL)
		config_errors_add(errs, path, 0, "out of memory");
out:
	config_destroy(&cf);
	return root;
}
