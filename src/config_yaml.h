/* config_yaml.h — the YAML front end: a ".yaml"/".yml" file into the
 * neutral tree of config_tree.h. It judges syntax only, never meaning. */
#ifndef NETPOLLD_CONFIG_YAML_H
#define NETPOLLD_CONFIG_YAML_H

#include <stdio.h>

struct config_errors;
struct config_node;

/* Reads FP (named PATH in messages). Returns the root node (an empty MAP
 * for an empty file), or NULL with every problem appended to ERRS as
 * "PATH:LINE: message". */
struct config_node *config_yaml_read(FILE *fp, const char *path,
				     struct config_errors *errs);

#endif
