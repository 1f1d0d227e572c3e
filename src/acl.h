/* acl.h — a listener's allow/deny lists: CIDR networks of IPv4 and IPv6
 * clients. Deny is checked first; if an allow list exists, a client it
 * does not match is denied. An IPv4 client reaching an IPv6 socket
 * (v4-mapped, ::ffff:a.b.c.d) matches the IPv4 rules. */
#ifndef NETPOLLD_ACL_H
#define NETPOLLD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct acl_rule {
	uint8_t net[16];                /* the network: IPv4 as v4-mapped IPv6 */
	unsigned prefix;                /* bits that must match, of the 128 */
};

struct acl {
	struct acl_rule *allow;         /* NULL with nallow 0: no allow list */
	size_t nallow;
	bool has_allow;                 /* `allow` was given (even an empty list) */
	struct acl_rule *deny;
	size_t ndeny;
};

/* "10.0.0.0/8", "::1/128", "192.0.2.7" (a single host) -> 0 and *OUT;
 * -1 with a static message in *ERR ("prefix must be 0-32", "host bits
 * set beyond the prefix (write the network address)"). */
int acl_parse(const char *text, struct acl_rule *out, const char **err);
/* Whether rule R covers A (an IP client; unix clients match nothing). */
bool acl_rule_match(const struct acl_rule *r, const struct addr *a);
/* Deny first, then allow. A client no rule can match (a unix client)
 * is denied only when an allow list exists. */
bool acl_permits(const struct acl *acl, const struct addr *client);

#endif
