/* config_tree.h — the neutral form both front ends read a file into, so
 * that one validator (config.c) judges every file the same way whatever
 * its syntax. Nodes remember their line for "FILE:LINE:" messages. */
#ifndef NETPOLLD_CONFIG_TREE_H
#define NETPOLLD_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bit values, so a key can accept several kinds in one mask. */
enum config_node_kind {
	CONFIG_NODE_MAP = 1 << 0,       /* libconfig group, YAML mapping */
	CONFIG_NODE_LIST = 1 << 1,      /* libconfig list or array, YAML sequence */
	CONFIG_NODE_STRING = 1 << 2,
	CONFIG_NODE_INT = 1 << 3,
	CONFIG_NODE_BOOL = 1 << 4,
	CONFIG_NODE_FLOAT = 1 << 5,     /* no key takes one: kept to be refused */
};

struct config_member;

struct config_node {
	enum config_node_kind kind;     /* says which part of u is in use */
	int line;                       /* 1-based line where the value starts */
	union {
		char *string;           /* CONFIG_NODE_STRING, owned */
		int64_t integer;        /* CONFIG_NODE_INT */
		bool boolean;           /* CONFIG_NODE_BOOL */
		double real;            /* CONFIG_NODE_FLOAT */
		struct {
			struct config_member *members;  /* in file order */
			size_t count;
		} map;                  /* CONFIG_NODE_MAP */
		struct {
			struct config_node **items;     /* in file order */
			size_t count;
		} list;                 /* CONFIG_NODE_LIST */
	} u;
};

struct config_member {
	char *key;                      /* owned */
	int line;                       /* line of the key, may differ from the value's */
	struct config_node *value;      /* owned, never NULL */
};

/* A zeroed node of KIND, or NULL when memory is short. */
struct config_node *config_tree_new(enum config_node_kind kind, int line);
/* A STRING node holding a copy of the LEN bytes at TEXT. */
struct config_node *config_tree_new_string(const char *text, size_t len, int line);
/* Frees NODE and everything below it; NULL is fine. */
void config_tree_free(struct config_node *node);

/* Append to a MAP or a LIST. On success the container owns VALUE (and a
 * copy of KEY); on failure (-1, out of memory) the caller still owns it. */
int config_tree_map_add(struct config_node *map, const char *key, int line,
			struct config_node *value);
int config_tree_list_add(struct config_node *list, struct config_node *item);

/* The first member called KEY, or NULL. */
const struct config_member *config_tree_map_find(const struct config_node *map,
						 const char *key);

/* "a string", "an integer", ... for "expected X, got Y" messages. */
const char *config_tree_kind_name(enum config_node_kind kind);

#endif
