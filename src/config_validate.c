/* config_validate.c — from the neutral tree to the model: every check
 * and every message about what a file means, whatever its syntax.
 *
 * Each group is described by a table of keys (name, the shape its value
 * must have, a setter), as in twemproxy's nc_conf.c: adding a key is a
 * line in a table (and a field in config.h). config_walk() reports the
 * unknown, missing and mistyped keys; setters judge values. Problems are
 * collected, not stopped at (config_diag.h). */
#include "config_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_diag.h"
#include "config_tree.h"

/* Listener and backend names end up in logfmt lines and Prometheus
 * labels, so they stay short and need no quoting in either. */
#define CONFIG_NAME_MAX 64
#define CONFIG_NAME_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* Room for "backends[12] ("a 64-character name"): servers[3]". */
#define CONFIG_LABEL_MAX 192

/* The defaults section as read; the zero/negative values mean "absent". */
struct config_defaults {
	uint32_t connect_timeout_ms;    /* 0 if absent (0 is not valid) */
	uint32_t idle_timeout_ms;       /* 0 if absent (0 is not valid) */
	int retries;                    /* -1 if absent */
};

/* Everything one run of the validator works with. */
struct config_ctx {
	struct config *cfg;                     /* the model being built */
	struct config_defaults defaults;        /* folded in at the end */
	const struct config_node *listeners;    /* to name other listeners in messages */
	struct config_diags diags;              /* problems found so far */
};

/* What a value must look like: the node kinds taken, and how to say so. */
enum config_shape {
	CONFIG_SHAPE_STRING,
	CONFIG_SHAPE_INT,
	CONFIG_SHAPE_BOOL,
	CONFIG_SHAPE_DURATION,
	CONFIG_SHAPE_STRINGS,
	CONFIG_SHAPE_GROUP,
	CONFIG_SHAPE_GROUPS,
};

static const struct {
	unsigned kinds;                 /* enum config_node_kind bits accepted */
	const char *expected;           /* for "expected X, got Y" */
} config_shapes[] = {
	[CONFIG_SHAPE_STRING] = { CONFIG_NODE_STRING, "a string" },
	[CONFIG_SHAPE_INT] = { CONFIG_NODE_INT, "an integer" },
	[CONFIG_SHAPE_BOOL] = { CONFIG_NODE_BOOL, "a boolean" },
	[CONFIG_SHAPE_DURATION] = { CONFIG_NODE_STRING | CONFIG_NODE_INT,
				    "a duration (\"5s\" or integer seconds)" },
	[CONFIG_SHAPE_STRINGS] = { CONFIG_NODE_STRING | CONFIG_NODE_LIST,
				   "a string or a list of strings" },
	[CONFIG_SHAPE_GROUP] = { CONFIG_NODE_MAP, "a group" },
	[CONFIG_SHAPE_GROUPS] = { CONFIG_NODE_LIST, "a list of groups" },
};

struct config_key;

/* Stores VALUE, already of a kind the key's shape takes, into OBJ;
 * reports problems with the value itself under LABEL. */
typedef void config_set_cb(struct config_ctx *ctx, const struct config_key *key,
			   void *obj, const struct config_node *value, const char *label);

struct config_key {
	const char *name;               /* as written in the file */
	enum config_shape shape;        /* checked before set is called */
	bool required;                  /* absent is an error */
	config_set_cb *set;             /* stores the value; NULL: read elsewhere */
	size_t offset;                  /* of the field set fills, in its object */
	int64_t min, max;               /* range, for integers and durations (ms) */
};

/* How to read a list of groups into an array of model objects. */
struct config_list {
	const char *name;               /* the key, "listeners" */
	const char *what;               /* one of them, "listener"; NULL: unnamed */
	const struct config_key *keys;  /* what each group may hold */
	size_t size;                    /* of one object in the model */
	void (*init)(void *obj, int line);      /* before its keys are read */
};

static void config_walk(struct config_ctx *ctx, const struct config_node *map,
			const struct config_key *keys, void *obj, const char *label);
static void config_read_list(struct config_ctx *ctx, const struct config_list *desc,
			     const struct config_node *list, const char *parent,
			     void *array, size_t *count);

static bool config_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= CONFIG_NAME_MAX && strspn(name, CONFIG_NAME_CHARS) == n;
}

/* "listeners[2] ("web")": position, and the name when it is a valid one;
 * PARENT (possibly "") is the label of the group the list is in. */
static void config_label(char *buf, size_t len, const char *parent, const char *list,
			 size_t index, const struct config_node *item)
{
	const struct config_member *m = NULL;
	const char *sep = *parent != '\0' ? ": " : "";

	if (item->kind == CONFIG_NODE_MAP)
		m = config_tree_map_find(item, "name");
	if (m != NULL && m->value->kind == CONFIG_NODE_STRING && config_name_valid(m->value->u.string))
		snprintf(buf, len, "%s%s%s[%zu] (\"%s\")", parent, sep, list, index,
			 m->value->u.string);
	else
		snprintf(buf, len, "%s%s%s[%zu]", parent, sep, list, index);
}

static void *config_field(void *obj, const struct config_key *key)
{
	return (char *)obj + key->offset;
}

static char *config_strdup(struct config_ctx *ctx, const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		ctx->diags.oom = true;
	return copy;
}

static void config_set_bool(struct config_ctx *ctx, const struct config_key *key, void *obj,
			    const struct config_node *value, const char *label)
{
	(void)ctx;
	(void)label;
	*(bool *)config_field(obj, key) = value->u.boolean;
}

/* 0 when VALUE is in the key's range; else says so. */
static int config_check_range(struct config_ctx *ctx, const struct config_key *key,
			      const struct config_node *value, const char *label)
{
	if (value->u.integer >= key->min && value->u.integer <= key->max)
		return 0;
	config_diags_add(&ctx->diags, value->line, label, "%s: %lld is out of range (%lld-%lld)",
			 key->name, (long long)value->u.integer, (long long)key->min,
			 (long long)key->max);
	return -1;
}

static void config_set_int(struct config_ctx *ctx, const struct config_key *key, void *obj,
			   const struct config_node *value, const char *label)
{
	if (config_check_range(ctx, key, value, label) == 0)
		*(int *)config_field(obj, key) = (int)value->u.integer;
}

static void config_set_size(struct config_ctx *ctx, const struct config_key *key, void *obj,
			    const struct config_node *value, const char *label)
{
	if (config_check_range(ctx, key, value, label) == 0)
		*(size_t *)config_field(obj, key) = (size_t)value->u.integer;
}

/* Integer seconds go through the same parser as "5s", so both are
 * bounded and worded the same way. */
static void config_set_duration(struct config_ctx *ctx, const struct config_key *key,
				void *obj, const struct config_node *value, const char *label)
{
	const char *text = value->u.string, *err = NULL;
	char seconds[32];
	uint64_t ms;

	if (value->kind == CONFIG_NODE_INT) {
		snprintf(seconds, sizeof(seconds), "%llds", (long long)value->u.integer);
		text = seconds;
	}
	if (config_parse_duration(text, &ms, &err) == 0 && (int64_t)ms < key->min)
		err = "must be greater than 0";
	if (err == NULL)
		*(uint32_t *)config_field(obj, key) = (uint32_t)ms;
	else if (value->kind == CONFIG_NODE_STRING)
		config_diags_add(&ctx->diags, value->line, label, "%s: \"%s\": %s", key->name,
				 value->u.string, err);
	else
		config_diags_add(&ctx->diags, value->line, label, "%s: %lld: %s", key->name,
				 (long long)value->u.integer, err);
}

static void config_set_log_level(struct config_ctx *ctx, const struct config_key *key,
				 void *obj, const struct config_node *value, const char *label)
{
	if (log_level_parse(value->u.string, config_field(obj, key)) == -1)
		config_diags_add(&ctx->diags, value->line, label,
				 "%s: \"%s\": use error, warn, info or debug", key->name,
				 value->u.string);
}

static void config_set_name(struct config_ctx *ctx, const struct config_key *key, void *obj,
			    const struct config_node *value, const char *label)
{
	if (!config_name_valid(value->u.string))
		config_diags_add(&ctx->diags, value->line, label,
				 "%s \"%s\": use 1-%d characters of A-Z a-z 0-9 _ . -", key->name,
				 value->u.string, CONFIG_NAME_MAX);
	*(char **)config_field(obj, key) = config_strdup(ctx, value->u.string);
}

/* Fills OUT from the string VALUE; 0, or -1 with the problem reported. */
static int config_address(struct config_ctx *ctx, const char *what,
			  const struct config_node *value, struct config_address *out,
			  const char *label)
{
	const char *err;

	out->line = value->line;
	out->text = config_strdup(ctx, value->u.string);
	if (addr_parse(value->u.string, &out->addr, &err) == 0)
		return 0;
	/* len 0 marks it unusable for the duplicate check. */
	memset(&out->addr, 0, sizeof(out->addr));
	config_diags_add(&ctx->diags, value->line, label, "%s \"%s\": %s", what, value->u.string,
			 err);
	return -1;
}

static void config_set_address(struct config_ctx *ctx, const struct config_key *key,
			       void *obj, const struct config_node *value, const char *label)
{
	config_address(ctx, key->name, value, config_field(obj, key), label);
}

/* An address listened on twice, in this listener or an earlier one, could
 * never be bound twice: say where it was first. */
static void config_check_listen_unique(struct config_ctx *ctx, const struct config_address *a,
				       const char *label)
{
	const struct config *cfg = ctx->cfg;
	char other[CONFIG_LABEL_MAX];

	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct config_listener *l = &cfg->listeners[i];
		for (size_t j = 0; j < l->nlisten && &l->listen[j] != a; j++) {
			if (l->listen[j].addr.len == 0 || !addr_equal(&l->listen[j].addr, &a->addr))
				continue;
			config_label(other, sizeof(other), "", "listeners", i,
				     ctx->listeners->u.list.items[i]);
			config_diags_add(&ctx->diags, a->line, label,
					 "listen \"%s\" is already used by %s at line %d", a->text,
					 other, l->listen[j].line);
			return;
		}
	}
}

/* A single string or a non-empty list of them. */
static void config_set_listen(struct config_ctx *ctx, const struct config_key *key, void *obj,
			      const struct config_node *value, const char *label)
{
	struct config_listener *l = obj;
	const struct config_node *const *items = &value;
	size_t n = 1;

	(void)key;
	if (value->kind == CONFIG_NODE_LIST) {
		items = (const struct config_node *const *)value->u.list.items;
		n = value->u.list.count;
	}
	if (n == 0) {
		config_diags_add(&ctx->diags, value->line, label,
				 "listen: empty list (need at least one address)");
		return;
	}
	l->listen = calloc(n, sizeof(*l->listen));
	if (l->listen == NULL) {
		ctx->diags.oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i]->kind != CONFIG_NODE_STRING) {
			config_diags_add(&ctx->diags, items[i]->line, label,
					 "listen[%zu]: expected a string, got %s", i,
					 config_tree_kind_name(items[i]->kind));
			continue;
		}
		l->nlisten = i + 1;
		if (config_address(ctx, "listen", items[i], &l->listen[i], label) == 0)
			config_check_listen_unique(ctx, &l->listen[i], label);
	}
}

/* Backends are read before listeners, so the name resolves right here. */
static void config_set_backend_ref(struct config_ctx *ctx, const struct config_key *key,
				   void *obj, const struct config_node *value, const char *label)
{
	struct config_listener *l = obj;
	const struct config *cfg = ctx->cfg;

	(void)key;
	l->backend = config_strdup(ctx, value->u.string);
	for (size_t i = 0; i < cfg->nbackends; i++) {
		if (cfg->backends[i].name != NULL &&
		    strcmp(cfg->backends[i].name, value->u.string) == 0) {
			l->backend_index = i;
			return;
		}
	}
	config_diags_add(&ctx->diags, value->line, label, "backend \"%s\" is not defined",
			 value->u.string);
}

static void config_set_unsigned(struct config_ctx *ctx, const struct config_key *key,
				void *obj, const struct config_node *value, const char *label)
{
	if (config_check_range(ctx, key, value, label) == 0)
		*(unsigned *)config_field(obj, key) = (unsigned)value->u.integer;
}

static void config_set_balance(struct config_ctx *ctx, const struct config_key *key,
			       void *obj, const struct config_node *value, const char *label)
{
	if (balance_algo_parse(value->u.string, config_field(obj, key)) < 0)
		config_diags_add(&ctx->diags, value->line, label,
				 "%s: \"%s\": use roundrobin, leastconn, source or random",
				 key->name, value->u.string);
}

static void config_set_send_proxy(struct config_ctx *ctx, const struct config_key *key,
				  void *obj, const struct config_node *value, const char *label)
{
	static const char *const names[] = {
		[CONFIG_SEND_PROXY_OFF] = "off", [CONFIG_SEND_PROXY_V1] = "v1",
		[CONFIG_SEND_PROXY_V2] = "v2",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value->u.string, names[i]) == 0) {
			*(enum config_send_proxy *)config_field(obj, key) = (enum config_send_proxy)i;
			return;
		}
	}
	config_diags_add(&ctx->diags, value->line, label, "%s: \"%s\": use off, v1 or v2",
			 key->name, value->u.string);
}

/* allow / deny: one CIDR or a list of them, into the listener's acl. */
static void config_set_cidrs(struct config_ctx *ctx, const struct config_key *key, void *obj,
			     const struct config_node *value, const char *label)
{
	struct config_listener *l = obj;
	bool allow = strcmp(key->name, "allow") == 0;
	const struct config_node *const *items = &value;
	struct acl_rule *rules;
	size_t n = 1, *count = allow ? &l->acl.nallow : &l->acl.ndeny;
	const char *err;

	if (value->kind == CONFIG_NODE_LIST) {
		items = (const struct config_node *const *)value->u.list.items;
		n = value->u.list.count;
	}
	l->acl.has_allow |= allow;
	rules = calloc(n ? n : 1, sizeof(*rules));
	if (rules == NULL) {
		ctx->diags.oom = true;
		return;
	}
	*(allow ? &l->acl.allow : &l->acl.deny) = rules;
	for (size_t i = 0; i < n; i++) {
		if (items[i]->kind != CONFIG_NODE_STRING)
			config_diags_add(&ctx->diags, items[i]->line, label,
					 "%s[%zu]: expected a string, got %s", key->name, i,
					 config_tree_kind_name(items[i]->kind));
		else if (acl_parse(items[i]->u.string, &rules[(*count)], &err) < 0)
			config_diags_add(&ctx->diags, items[i]->line, label, "%s[%zu] \"%s\": %s",
					 key->name, i, items[i]->u.string, err);
		else
			(*count)++;
	}
}

static const struct config_key config_health_keys[] = {
	{ "interval", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_health, interval_ms), 1, UINT32_MAX },
	{ "timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_health, timeout_ms), 1, UINT32_MAX },
	{ "rise", CONFIG_SHAPE_INT, false, config_set_int,
	  offsetof(struct config_health, rise), 1, 100 },
	{ "fall", CONFIG_SHAPE_INT, false, config_set_int,
	  offsetof(struct config_health, fall), 1, 100 },
	{ NULL },
};

static void config_set_health(struct config_ctx *ctx, const struct config_key *key, void *obj,
			      const struct config_node *value, const char *label)
{
	struct config_health *h = config_field(obj, key);
	char sub[CONFIG_LABEL_MAX];

	h->enabled = true;
	h->line = value->line;
	h->interval_ms = CONFIG_DEFAULT_CHECK_INTERVAL_MS;
	h->timeout_ms = CONFIG_DEFAULT_CHECK_TIMEOUT_MS;
	h->rise = CONFIG_DEFAULT_CHECK_RISE;
	h->fall = CONFIG_DEFAULT_CHECK_FALL;
	snprintf(sub, sizeof(sub), "%s: health_check", label);
	config_walk(ctx, value, config_health_keys, h, sub);
	if (h->timeout_ms > h->interval_ms)
		config_diags_add(&ctx->diags, value->line, sub,
				 "timeout (%u ms) must not exceed interval (%u ms)", h->timeout_ms,
				 h->interval_ms);
}

/* BACKEND/ADDR names a server in commands and metrics: one per address. */
static void config_check_servers_unique(struct config_ctx *ctx, const struct config_backend *b,
					const char *label)
{
	for (size_t i = 0; i < b->nservers; i++) {
		const char *a = b->servers[i].address.text;
		for (size_t j = 0; a != NULL && j < i; j++) {
			const char *other = b->servers[j].address.text;
			if (other != NULL && strcmp(a, other) == 0) {
				config_diags_add(&ctx->diags, b->servers[i].line, label,
						 "servers[%zu]: address \"%s\" already used by servers[%zu]",
						 i, a, j);
				break;
			}
		}
	}
}

static void config_init_server(void *obj, int line)
{
	struct config_server *s = obj;

	s->line = line;
	s->weight = 1;
}

static const struct config_key config_server_keys[] = {
	/* name, shape, required, setter, field, min, max */
	{ "address", CONFIG_SHAPE_STRING, true, config_set_address,
	  offsetof(struct config_server, address), 0, 0 },
	{ "weight", CONFIG_SHAPE_INT, false, config_set_unsigned,
	  offsetof(struct config_server, weight), 1, CONFIG_WEIGHT_MAX },
	{ "max_connections", CONFIG_SHAPE_INT, false, config_set_size,
	  offsetof(struct config_server, max_connections), 0, CONFIG_CONNECTIONS_MAX },
	{ "backup", CONFIG_SHAPE_BOOL, false, config_set_bool,
	  offsetof(struct config_server, backup), 0, 0 },
	{ NULL },
};

static const struct config_list config_servers = {
	"servers", NULL, config_server_keys, sizeof(struct config_server), config_init_server,
};

static void config_set_servers(struct config_ctx *ctx, const struct config_key *key, void *obj,
			       const struct config_node *value, const char *label)
{
	struct config_backend *b = obj;

	(void)key;
	if (value->u.list.count == 0) {
		config_diags_add(&ctx->diags, value->line, label,
				 "servers: empty list (need at least one server)");
		return;
	}
	b->servers = calloc(value->u.list.count, sizeof(*b->servers));
	config_read_list(ctx, &config_servers, value, label, b->servers, &b->nservers);
	config_check_servers_unique(ctx, b, label);
}

/* A path, as the SPEC writes it ("/run/netpolld/stats.sock"): stored as
 * the unix address it is, so it is checked like one. */
static void config_set_socket_path(struct config_ctx *ctx, const struct config_key *key,
				   void *obj, const struct config_node *value, const char *label)
{
	struct config_address *out = config_field(obj, key);
	const char *path = value->u.string, *err = NULL;
	char text[sizeof(out->addr.u.sun.sun_path) + 16];

	out->line = value->line;
	if (path[0] != '/')
		err = "must be an absolute path";
	else if (snprintf(text, sizeof(text), "unix:%s", path) >= (int)sizeof(text) ||
		 addr_parse(text, &out->addr, &err) < 0)
		err = err != NULL ? err : "path too long";
	if (err != NULL) {
		config_diags_add(&ctx->diags, value->line, label, "%s \"%s\": %s", key->name,
				 path, err);
		return;
	}
	out->text = config_strdup(ctx, path);
}

static const struct config_key config_global_keys[] = {
	{ "log_level", CONFIG_SHAPE_STRING, false, config_set_log_level,
	  offsetof(struct config, log_level), 0, 0 },
	{ "log_connections", CONFIG_SHAPE_BOOL, false, config_set_bool,
	  offsetof(struct config, log_connections), 0, 0 },
	{ "buffer_size", CONFIG_SHAPE_INT, false, config_set_size,
	  offsetof(struct config, buffer_size), CONFIG_BUFFER_SIZE_MIN, CONFIG_BUFFER_SIZE_MAX },
	{ "shutdown_timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config, shutdown_timeout_ms), 0, UINT32_MAX },
	{ "stats_socket", CONFIG_SHAPE_STRING, false, config_set_socket_path,
	  offsetof(struct config, stats_socket), 0, 0 },
	{ "metrics_listen", CONFIG_SHAPE_STRING, false, config_set_address,
	  offsetof(struct config, metrics_listen), 0, 0 },
	{ "max_connections", CONFIG_SHAPE_INT, false, config_set_size,
	  offsetof(struct config, max_connections), 1, CONFIG_CONNECTIONS_MAX },
	{ "splice", CONFIG_SHAPE_BOOL, false, config_set_bool,
	  offsetof(struct config, splice), 0, 0 },
	{ NULL },
};

static const struct config_key config_defaults_keys[] = {
	{ "connect_timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_defaults, connect_timeout_ms), 1, UINT32_MAX },
	{ "idle_timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_defaults, idle_timeout_ms), 1, UINT32_MAX },
	{ "retries", CONFIG_SHAPE_INT, false, config_set_int,
	  offsetof(struct config_defaults, retries), 0, CONFIG_RETRIES_MAX },
	{ NULL },
};

static const struct config_key config_listener_keys[] = {
	{ "name", CONFIG_SHAPE_STRING, true, config_set_name,
	  offsetof(struct config_listener, name), 0, 0 },
	{ "listen", CONFIG_SHAPE_STRINGS, true, config_set_listen, 0, 0, 0 },
	{ "backend", CONFIG_SHAPE_STRING, true, config_set_backend_ref, 0, 0, 0 },
	{ "idle_timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_listener, idle_timeout_ms), 1, UINT32_MAX },
	{ "max_connections", CONFIG_SHAPE_INT, false, config_set_size,
	  offsetof(struct config_listener, max_connections), 0, CONFIG_CONNECTIONS_MAX },
	{ "accept_proxy", CONFIG_SHAPE_BOOL, false, config_set_bool,
	  offsetof(struct config_listener, accept_proxy), 0, 0 },
	{ "allow", CONFIG_SHAPE_STRINGS, false, config_set_cidrs, 0, 0, 0 },
	{ "deny", CONFIG_SHAPE_STRINGS, false, config_set_cidrs, 0, 0, 0 },
	{ NULL },
};

static const struct config_key config_backend_keys[] = {
	{ "name", CONFIG_SHAPE_STRING, true, config_set_name,
	  offsetof(struct config_backend, name), 0, 0 },
	{ "connect_timeout", CONFIG_SHAPE_DURATION, false, config_set_duration,
	  offsetof(struct config_backend, connect_timeout_ms), 1, UINT32_MAX },
	{ "retries", CONFIG_SHAPE_INT, false, config_set_int,
	  offsetof(struct config_backend, retries), 0, CONFIG_RETRIES_MAX },
	{ "balance", CONFIG_SHAPE_STRING, false, config_set_balance,
	  offsetof(struct config_backend, balance), 0, 0 },
	{ "send_proxy", CONFIG_SHAPE_STRING, false, config_set_send_proxy,
	  offsetof(struct config_backend, send_proxy), 0, 0 },
	{ "health_check", CONFIG_SHAPE_GROUP, false, config_set_health,
	  offsetof(struct config_backend, health), 0, 0 },
	{ "servers", CONFIG_SHAPE_GROUPS, true, config_set_servers, 0, 0, 0 },
	{ NULL },
};

static void config_set_global(struct config_ctx *ctx, const struct config_key *key, void *obj,
			      const struct config_node *value, const char *label)
{
	(void)key;
	(void)obj;
	(void)label;
	config_walk(ctx, value, config_global_keys, ctx->cfg, "global");
}

static void config_set_defaults(struct config_ctx *ctx, const struct config_key *key,
				void *obj, const struct config_node *value, const char *label)
{
	(void)key;
	(void)obj;
	(void)label;
	config_walk(ctx, value, config_defaults_keys, &ctx->defaults, "defaults");
}

/* Listeners refer to backends, and both take defaults from anywhere in the
 * file: with no setter, the lists are read once the top level is done
 * (config_check_root). */
static const struct config_key config_top_keys[] = {
	{ "global", CONFIG_SHAPE_GROUP, false, config_set_global, 0, 0, 0 },
	{ "defaults", CONFIG_SHAPE_GROUP, false, config_set_defaults, 0, 0, 0 },
	{ "listeners", CONFIG_SHAPE_GROUPS, false, NULL, 0, 0, 0 },
	{ "backends", CONFIG_SHAPE_GROUPS, false, NULL, 0, 0, 0 },
	{ NULL },
};

static void config_init_backend(void *obj, int line)
{
	struct config_backend *b = obj;

	b->line = line;
	b->retries = -1;                /* not set: defaults decide */
}

static void config_init_listener(void *obj, int line)
{
	struct config_listener *l = obj;

	l->line = line;
}

static const struct config_list config_backends = {
	"backends", "backend", config_backend_keys, sizeof(struct config_backend),
	config_init_backend,
};

static const struct config_list config_listeners = {
	"listeners", "listener", config_listener_keys, sizeof(struct config_listener),
	config_init_listener,
};

/* Missing keys first: they are reported at the group's own line, which
 * comes before its members'. */
static void config_walk(struct config_ctx *ctx, const struct config_node *map,
			const struct config_key *keys, void *obj, const char *label)
{
	const struct config_key *k;

	for (k = keys; k->name != NULL; k++)
		if (k->required && config_tree_map_find(map, k->name) == NULL)
			config_diags_add(&ctx->diags, map->line, label, "missing required key '%s'",
					 k->name);
	for (size_t i = 0; i < map->u.map.count; i++) {
		const struct config_member *m = &map->u.map.members[i];
		for (k = keys; k->name != NULL && strcmp(k->name, m->key) != 0; k++)
			;
		if (k->name == NULL)
			config_diags_add(&ctx->diags, m->line, label, "unknown key '%s'", m->key);
		else if ((config_shapes[k->shape].kinds & m->value->kind) == 0)
			config_diags_add(&ctx->diags, m->line, label, "%s: expected %s, got %s",
					 k->name, config_shapes[k->shape].expected,
					 config_tree_kind_name(m->value->kind));
		else if (k->set != NULL)
			k->set(ctx, k, obj, m->value, label);
	}
}

/* Names must be unique within their list; the tree still knows where each
 * one was written, valid or not. */
static void config_check_name_unique(struct config_ctx *ctx, const struct config_node *list,
				     size_t index, const char *what, const char *label)
{
	const struct config_member *name = config_tree_map_find(list->u.list.items[index], "name");

	if (name == NULL || name->value->kind != CONFIG_NODE_STRING)
		return;
	for (size_t i = 0; i < index; i++) {
		const struct config_node *item = list->u.list.items[i];
		const struct config_member *first;
		if (item->kind != CONFIG_NODE_MAP)
			continue;
		first = config_tree_map_find(item, "name");
		if (first != NULL && first->value->kind == CONFIG_NODE_STRING &&
		    strcmp(first->value->u.string, name->value->u.string) == 0) {
			config_diags_add(&ctx->diags, name->value->line, label,
					 "duplicate %s name '%s' (first at line %d)", what,
					 name->value->u.string, first->value->line);
			return;
		}
	}
}

/* Reads the non-empty LIST into ARRAY (zeroed room for all its items,
 * already stored in the model; NULL if calloc failed) index for index:
 * object i is item i, so messages can name any of them by position.
 * *COUNT says how far it is filled, for config_free() and the checks. */
static void config_read_list(struct config_ctx *ctx, const struct config_list *desc,
			     const struct config_node *list, const char *parent,
			     void *array, size_t *count)
{
	char label[CONFIG_LABEL_MAX];

	if (array == NULL) {
		ctx->diags.oom = true;
		return;
	}
	for (size_t i = 0; i < list->u.list.count; i++) {
		const struct config_node *item = list->u.list.items[i];
		void *obj = (char *)array + i * desc->size;
		config_label(label, sizeof(label), parent, desc->name, i, item);
		if (item->kind != CONFIG_NODE_MAP) {
			config_diags_add(&ctx->diags, item->line, label, "expected a group, got %s",
					 config_tree_kind_name(item->kind));
			continue;
		}
		*count = i + 1;
		desc->init(obj, item->line);
		if (desc->what != NULL)
			config_check_name_unique(ctx, list, i, desc->what, label);
		config_walk(ctx, item, desc->keys, obj, label);
	}
}

/* The top-level list for DESC, or NULL when there is none to read: absent
 * or empty (said here) or of the wrong type (said by config_walk). */
static const struct config_node *config_top_list(struct config_ctx *ctx,
						 const struct config_node *root,
						 const struct config_list *desc)
{
	const struct config_member *m = config_tree_map_find(root, desc->name);

	if (m != NULL && m->value->kind != CONFIG_NODE_LIST)
		return NULL;
	if (m == NULL || m->value->u.list.count == 0) {
		config_diags_add(&ctx->diags, m != NULL ? m->value->line : 1, "", "no %s defined",
				 desc->name);
		return NULL;
	}
	return m->value;
}

/* Own value, else the defaults section's, else the built-in default. */
static void config_fold_defaults(struct config_ctx *ctx)
{
	const struct config_defaults *d = &ctx->defaults;
	struct config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct config_backend *b = &cfg->backends[i];
		if (b->connect_timeout_ms == 0)
			b->connect_timeout_ms = d->connect_timeout_ms != 0 ? d->connect_timeout_ms
					      : CONFIG_DEFAULT_CONNECT_TIMEOUT_MS;
		if (b->retries < 0)
			b->retries = d->retries >= 0 ? d->retries : CONFIG_DEFAULT_RETRIES;
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct config_listener *l = &cfg->listeners[i];
		if (l->idle_timeout_ms == 0)
			l->idle_timeout_ms = d->idle_timeout_ms != 0 ? d->idle_timeout_ms
					   : CONFIG_DEFAULT_IDLE_TIMEOUT_MS;
	}
}

static void config_check_root(struct config_ctx *ctx, const struct config_node *root)
{
	struct config *cfg = ctx->cfg;
	const struct config_node *list;

	if (root->kind != CONFIG_NODE_MAP) {
		config_diags_add(&ctx->diags, root->line, "", "expected a group of settings, got %s",
				 config_tree_kind_name(root->kind));
		return;
	}
	if (root->u.map.count == 0) {
		config_diags_add(&ctx->diags, root->line, "", "empty configuration");
		return;
	}
	config_walk(ctx, root, config_top_keys, ctx, "");
	list = config_top_list(ctx, root, &config_backends);
	if (list != NULL) {
		cfg->backends = calloc(list->u.list.count, sizeof(*cfg->backends));
		config_read_list(ctx, &config_backends, list, "", cfg->backends, &cfg->nbackends);
	}
	/* After the backends: listeners name them. */
	ctx->listeners = list = config_top_list(ctx, root, &config_listeners);
	if (list != NULL) {
		cfg->listeners = calloc(list->u.list.count, sizeof(*cfg->listeners));
		config_read_list(ctx, &config_listeners, list, "", cfg->listeners, &cfg->nlisteners);
	}
	config_fold_defaults(ctx);
}

struct config *config_validate(const struct config_node *root, const char *path,
			       struct config_errors *errs)
{
	struct config_ctx ctx = { .defaults.retries = -1 };
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	*cfg = (struct config){
		.log_level = LOG_LEVEL_INFO,
		.log_connections = true,
		.splice = true,
		.buffer_size = CONFIG_DEFAULT_BUFFER_SIZE,
		.shutdown_timeout_ms = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS,
	};
	ctx.cfg = cfg;
	cfg->path = config_strdup(&ctx, path);
	config_check_root(&ctx, root);
	if (config_diags_flush(&ctx.diags, path, errs) == 0)
		return cfg;
	config_free(cfg);
	return NULL;
}
