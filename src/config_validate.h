/* config_validate.h — from the neutral tree to the model: every check and
 * every message about what a file means, the same for both syntaxes. */
#ifndef NETPOLLD_CONFIG_VALIDATE_H
#define NETPOLLD_CONFIG_VALIDATE_H

struct config;
struct config_errors;
struct config_node;

/* The model ROOT describes, defaults folded in, or NULL with every
 * problem appended to ERRS in file order as "PATH:LINE: message". Host
 * names in addresses are resolved here. */
struct config *config_validate(const struct config_node *root, const char *path,
			       struct config_errors *errs);

#endif
