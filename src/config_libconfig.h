/* config_libconfig.h — the libconfig front end: a ".conf" file into the
 * neutral tree of config_tree.h. It judges syntax only, never meaning. */
#ifndef NETPOLLD_CONFIG_LIBCONFIG_H
#define NETPOLLD_CONFIG_LIBCONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct config_errors;
struct config_node;

/* Reads FP (named PATH in messages). Returns the root MAP, or NULL with
 * every problem appended to ERRS as "PATH:LINE: message". */
struct config_node *config_libconfig_read(FILE *fp, const char *path,
					  struct config_errors *errs);

/* ON: a child process judges the syntax first, so that what libconfig
 * leaks on a syntax error is the child's (the daemon, reloaded with bad
 * files for months, must not grow). Off (the default) for tools and
 * fuzzers that parse in-process and know the leak by name. */
void config_libconfig_isolate(bool on);

#endif
