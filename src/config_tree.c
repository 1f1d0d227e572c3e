/* config_tree.c — building and freeing the neutral configuration tree.
 * Containers grow by doubling; config files are small, so no more. */
#include "config_tree.h"

#include <stdlib.h>
#include <string.h>

struct config_node *config_tree_new(enum config_node_kind kind, int line)
{
	struct config_node *node = calloc(1, sizeof(*node));

	if (node == NULL)
		return NULL;
	node->kind = kind;
	node->line = line;
	return node;
}

struct config_node *config_tree_new_string(const char *text, size_t len, int line)
{
	struct config_node *node = config_tree_new(CONFIG_NODE_STRING, line);

	if (node == NULL)
		return NULL;
	node->u.string = malloc(len + 1);
	if (node->u.string == NULL) {
		free(node);
		return NULL;
	}
	memcpy(node->u.string, text, len);
	node->u.string[len] = '\0';
	return node;
}

void config_tree_free(struct config_node *node)
{
	if (node == NULL)
		return;
	switch (node->kind) {
	case CONFIG_NODE_MAP:
		for (size_t i = 0; i < node->u.map.count; i++) {
			free(node->u.map.members[i].key);
			config_tree_free(node->u.map.members[i].value);
		}
		free(node->u.map.members);
		break;
	case CONFIG_NODE_LIST:
		for (size_t i = 0; i < node->u.list.count; i++)
			config_tree_free(node->u.list.items[i]);
		free(node->u.list.items);
		break;
	case CONFIG_NODE_STRING:
		free(node->u.string);
		break;
	case CONFIG_NODE_INT:
	case CONFIG_NODE_BOOL:
	case CONFIG_NODE_FLOAT:
		break;
	}
	free(node);
}

/* ARRAY (of COUNT items of SIZE bytes) with room for one more, or NULL.
 * The capacity is not stored: it is the power of two at or above COUNT. */
static void *config_tree_grow(void *array, size_t count, size_t size)
{
	if (count != 0 && (count & (count - 1)) != 0)
		return array;           /* not a power of two: room is left */
	return realloc(array, (count == 0 ? 1 : count * 2) * size);
}

int config_tree_map_add(struct config_node *map, const char *key, int line,
			struct config_node *value)
{
	struct config_member *members;
	char *copy = strdup(key);

	if (copy == NULL)
		return -1;
	members = config_tree_grow(map->u.map.members, map->u.map.count, sizeof(*members));
	if (members == NULL) {
		free(copy);
		return -1;
	}
	map->u.map.members = members;
	members[map->u.map.count++] = (struct config_member){ copy, line, value };
	/* cppcheck-suppress memleak ; the member owns COPY (cppcheck loses it in the literal) */
	return 0;
}

int config_tree_list_add(struct config_node *list, struct config_node *item)
{
	struct config_node **items;

	items = config_tree_grow(list->u.list.items, list->u.list.count, sizeof(*items));
	if (items == NULL)
		return -1;
	list->u.list.items = items;
	items[list->u.list.count++] = item;
	return 0;
}

const struct config_member *config_tree_map_find(const struct config_node *map,
						 const char *key)
{
	for (size_t i = 0; i < map->u.map.count; i++)
		if (strcmp(map->u.map.members[i].key, key) == 0)
			return &map->u.map.members[i];
	return NULL;
}

const char *config_tree_kind_name(enum config_node_kind kind)
{
	switch (kind) {
	case CONFIG_NODE_MAP:
		return "a group";
	case CONFIG_NODE_LIST:
		return "a list";
	case CONFIG_NODE_STRING:
		return "a string";
	case CONFIG_NODE_INT:
		return "an integer";
	case CONFIG_NODE_BOOL:
		return "a boolean";
	case CONFIG_NODE_FLOAT:
		return "a floating-point number";
	}
	return "a value";
}
