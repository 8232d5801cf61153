/*
 * config.c - parse shmqd's INI-style configuration (see config.h):
 *
 *   [daemon]                      [channel orders.eu.created]
 *   stuck_ms = 500                capacity = 4M
 *   max_channels = 1024           max_message = 4096
 *   max_channels_per_uid = 64     policy = drop | block
 *   max_connections_per_uid = 64  publishers = many | one
 *   hello_timeout_ms = 5000
 *   max_handles_per_uid = 16      max_handles_per_uid = 16
 *   create = 1000, 1001 | *
 *                                 numa_node = none | local | 0
 *                                 timestamps = on | off
 *                                 publish = *  |  1000, 1001
 *                                 subscribe = *
 *                                 dedupe_slots = 65536 (a power of two, 16..16777216)
 *                                 dedupe_window = 120 (seconds, 1..86400)
 *
 * A '#' starts a comment anywhere on a line (no value may hold one), and a
 * line whose first character is ';' is a comment too. A section or a key
 * given twice is an error, and so is every unknown name or value: the
 * first error stops the parse and names the line, the reason and the line
 * as written. Main thread only.
 */
#include "config.h"
#include "dedupe.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "name.h"
#include "shmq_err.h"
#include "size.h"

#define MAX_SECTION_KEYS 16

struct parser;

/* One key of a section: how to set it, and what its value must be. */
struct key {
	const char *name;
	int (*set)(struct parser *p, char *val);
	const char *expect;
};

struct parser {
	struct config *cfg;
	struct channel_spec *ch; /* the [channel] being read, NULL elsewhere */
	const struct key *keys;	 /* the current section's keys, NULL before any section */
	unsigned nkeys;
	unsigned lineno;
	unsigned daemon_line;		     /* where [daemon] opened, 0 not yet */
	unsigned key_line[MAX_SECTION_KEYS]; /* where each key of this section was set */
	unsigned channel_line[CONFIG_MAX_CHANNELS];
	char section[220]; /* "[daemon]", "[channel NAME]", for messages */
	char why[300];
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->stuck_ms = 500;
	cfg->max_channels = 1024;
	cfg->max_channels_per_uid = 64;
	cfg->max_connections_per_uid = 64;
	cfg->hello_timeout_ms = 5000;
	cfg->max_handles_per_uid = 16;
	/* create: nobody but root and the daemon's uid (always allowed) */
}

bool acl_allows(const struct acl *acl, uint32_t uid)
{
	if (acl->everyone)
		return true;
	for (uint32_t i = 0; i < acl->n; i++)
		if (acl->uids[i] == uid)
			return true;
	return false;
}

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return -SHMQ_EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* A size in the syntax every shmq program takes (shm/size.c): 0 or -SHMQ_EINVAL. */
static int parse_size(const char *s, uint64_t *out)
{
	return size_parse(s, out) ? -SHMQ_EINVAL : 0;
}

/* A plain decimal number: digits only. */
static int parse_number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -SHMQ_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -SHMQ_EINVAL;
	*out = v;
	return 0;
}

static int parse_acl(char *s, struct acl *acl)
{
	memset(acl, 0, sizeof(*acl));
	if (!strcmp(s, "*")) {
		acl->everyone = true;
		return 0;
	}
	for (char *tok = strtok(s, ", \t"); tok; tok = strtok(NULL, ", \t")) {
		uint64_t uid;

		if (acl->n == CONFIG_MAX_UIDS || parse_number(tok, UINT32_MAX, &uid))
			return -SHMQ_EINVAL;
		acl->uids[acl->n++] = (uint32_t)uid;
	}
	return 0;
}

/* Picks one of two words: *out = 0 for first, 1 for second. */
static int parse_word(const char *s, const char *first, const char *second, uint32_t *out)
{
	if (!strcmp(s, first))
		*out = 0;
	else if (!strcmp(s, second))
		*out = 1;
	else
		return -SHMQ_EINVAL;
	return 0;
}

static int set_stuck_ms(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 60000, &v) || v == 0)
		return -SHMQ_EINVAL;
	p->cfg->stuck_ms = v;
	return 0;
}

static int set_max_channels(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 65536, &v) || v == 0)
		return -SHMQ_EINVAL;
	p->cfg->max_channels = (uint32_t)v;
	return 0;
}

static int set_max_channels_per_uid(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 65536, &v) || v == 0)
		return -SHMQ_EINVAL;
	p->cfg->max_channels_per_uid = (uint32_t)v;
	return 0;
}

static int set_max_connections_per_uid(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 65536, &v) || v == 0)
		return -SHMQ_EINVAL;
	p->cfg->max_connections_per_uid = (uint32_t)v;
	return 0;
}

static int set_hello_timeout_ms(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 60000, &v) || v < 100)
		return -SHMQ_EINVAL;
	p->cfg->hello_timeout_ms = (uint32_t)v;
	return 0;
}

/* Publishers, and subscribers, one uid may hold on a channel: 1 .. all of its slots. */
static int parse_handles(const char *val, uint32_t *out)
{
	uint64_t v;

	if (parse_number(val, MAX_READERS < MAX_PUBS ? MAX_READERS : MAX_PUBS, &v) || v == 0)
		return -SHMQ_EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int set_max_handles_per_uid(struct parser *p, char *val)
{
	return parse_handles(val, &p->cfg->max_handles_per_uid);
}

static int set_channel_handles(struct parser *p, char *val)
{
	return parse_handles(val, &p->ch->max_handles_per_uid);
}

static int set_dedupe_slots(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, DEDUPE_SLOTS_MAX, &v) || v < DEDUPE_SLOTS_MIN || (v & (v - 1)))
		return -1;
	p->ch->dedupe_slots = (uint32_t)v;
	return 0;
}

static int set_dedupe_window(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 86400, &v) || v == 0)
		return -1;
	p->ch->dedupe_window_s = (uint32_t)v;
	return 0;
}

static int set_data_dir(struct parser *p, char *val)
{
	if (val[0] != '/' || strlen(val) >= sizeof(p->cfg->data_dir))
		return -SHMQ_EINVAL;
	strcpy(p->cfg->data_dir, val);
	return 0;
}

static int set_durability(struct parser *p, char *val)
{
	static const char *const words[] = {"none", "os", "batch", "always"};

	for (uint32_t i = 0; i < 4; i++)
		if (!strcmp(val, words[i])) {
			p->ch->durability = i;
			return 0;
		}
	return -SHMQ_EINVAL;
}

static int set_sync_interval(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_number(val, 1000000, &v) || v == 0)
		return -SHMQ_EINVAL;
	p->ch->sync_interval_us = (uint32_t)v;
	return 0;
}

static int set_sync_bytes(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_size(val, &v) || v < 4096 || v > (1ull << 30))
		return -SHMQ_EINVAL;
	p->ch->sync_bytes = v;
	return 0;
}

static int set_segment_bytes(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_size(val, &v) || v < (64u << 10) || v > (1ull << 40))
		return -SHMQ_EINVAL;
	p->ch->segment_bytes = v;
	return 0;
}

static int set_create(struct parser *p, char *val)
{
	return parse_acl(val, &p->cfg->create);
}

static int set_capacity(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_size(val, &v) || v < 4096 || v > (1ull << 40))
		return -SHMQ_EINVAL;
	p->ch->capacity_bytes = v;
	return 0;
}

static int set_max_message(struct parser *p, char *val)
{
	uint64_t v;

	if (parse_size(val, &v) || v == 0 || v > (16u << 20))
		return -SHMQ_EINVAL;
	p->ch->max_message_bytes = (uint32_t)v;
	return 0;
}

static int set_policy(struct parser *p, char *val)
{
	/* SHMQ_POLICY_DROP = 0, SHMQ_POLICY_BLOCK = 1 */
	return parse_word(val, "drop", "block", &p->ch->policy);
}

static int set_publishers(struct parser *p, char *val)
{
	/* SHMQ_PUBLISHERS_MANY = 0, SHMQ_PUBLISHERS_ONE = 1 */
	return parse_word(val, "many", "one", &p->ch->publishers);
}

/* "none", "local" or a node number, into the wire's SHMQ_NUMA_* value. */
static int set_numa_node(struct parser *p, char *val)
{
	uint64_t node;

	if (!strcmp(val, "none"))
		p->ch->numa_node = SHMQ_NUMA_NONE;
	else if (!strcmp(val, "local"))
		p->ch->numa_node = SHMQ_NUMA_LOCAL;
	else if (!parse_number(val, CONFIG_MAX_NUMA_NODE - 1, &node))
		p->ch->numa_node = SHMQ_NUMA_NODE((int32_t)node);
	else
		return -SHMQ_EINVAL;
	return 0;
}

static int set_timestamps(struct parser *p, char *val)
{
	uint32_t off;

	if (parse_word(val, "on", "off", &off))
		return -SHMQ_EINVAL;
	if (off)
		p->ch->flags |= SHMQ_CHAN_NO_TIMESTAMP;
	else
		p->ch->flags &= ~SHMQ_CHAN_NO_TIMESTAMP;
	return 0;
}

static int set_publish(struct parser *p, char *val)
{
	return parse_acl(val, &p->ch->publish);
}

static int set_subscribe(struct parser *p, char *val)
{
	return parse_acl(val, &p->ch->subscribe);
}

#define UIDS "* or a list of at most 16 uids (1000, 1001)"

static const struct key daemon_keys[] = {
    {"stuck_ms", set_stuck_ms, "a number of milliseconds from 1 to 60000"},
    {"max_channels", set_max_channels, "a number from 1 to 65536"},
    {"max_channels_per_uid", set_max_channels_per_uid, "a number from 1 to 65536"},
    {"max_connections_per_uid", set_max_connections_per_uid, "a number from 1 to 65536"},
    {"hello_timeout_ms", set_hello_timeout_ms, "a number of milliseconds from 100 to 60000"},
    {"max_handles_per_uid", set_max_handles_per_uid, "a number from 1 to 64"},
    {"create", set_create, UIDS},
    {"data_dir", set_data_dir, "an absolute path"},
};

static const struct key channel_keys[] = {
    {"capacity", set_capacity, "a size from 4096 to 1T (suffix K, M, G or T)"},
    {"max_message", set_max_message, "a size from 1 to 16M (suffix K or M)"},
    {"policy", set_policy, "drop or block"},
    {"publishers", set_publishers, "many or one"},
    {"numa_node", set_numa_node, "none, local or a node number from 0 to 1023"},
    {"timestamps", set_timestamps, "on or off"},
    {"publish", set_publish, UIDS},
    {"subscribe", set_subscribe, UIDS},
    {"max_handles_per_uid", set_channel_handles, "a number from 1 to 64"},
    {"dedupe_slots", set_dedupe_slots, "a power of two from 16 to 16777216"},
    {"dedupe_window", set_dedupe_window, "a number of seconds from 1 to 86400"},
    {"durability", set_durability, "none, os, batch or always"},
    {"sync_interval_us", set_sync_interval, "a number of microseconds from 1 to 1000000"},
    {"sync_bytes", set_sync_bytes, "a size from 4K to 1G (suffix K, M or G)"},
    {"segment_bytes", set_segment_bytes, "a size from 64K to 1T (suffix K, M, G or T)"},
};

static_assert(sizeof(channel_keys) / sizeof(channel_keys[0]) <= MAX_SECTION_KEYS, "key_line");
static_assert(sizeof(daemon_keys) / sizeof(daemon_keys[0]) <= MAX_SECTION_KEYS, "key_line");

static void enter_section(struct parser *p, const struct key *keys, unsigned nkeys)
{
	p->keys = keys;
	p->nkeys = nkeys;
	memset(p->key_line, 0, sizeof(p->key_line));
}

static int open_daemon(struct parser *p)
{
	if (p->daemon_line)
		return fail(p, "duplicate section [daemon] (first on line %u)", p->daemon_line);
	p->daemon_line = p->lineno;
	p->ch = NULL;
	snprintf(p->section, sizeof(p->section), "[daemon]");
	enter_section(p, daemon_keys, sizeof(daemon_keys) / sizeof(daemon_keys[0]));
	return 0;
}

static int open_channel(struct parser *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct channel_spec *ch;

	if (name_check(name))
		return fail(p,
			    "bad channel name \"%s\" (dot-separated tokens of letters, digits, "
			    "_ and -, at most 200 bytes)",
			    name);
	for (uint32_t i = 0; i < cfg->nchannels; i++)
		if (!strcmp(cfg->channels[i].name, name))
			return fail(p, "duplicate section [channel %s] (first on line %u)", name,
				    p->channel_line[i]);
	if (cfg->nchannels == CONFIG_MAX_CHANNELS)
		return fail(p, "more than %d channels", CONFIG_MAX_CHANNELS);
	p->channel_line[cfg->nchannels] = p->lineno;
	ch = &cfg->channels[cfg->nchannels++];
	memset(ch, 0, sizeof(*ch));
	strcpy(ch->name, name);
	ch->capacity_bytes = 4u << 20;
	ch->max_message_bytes = 4096;
	ch->publish.everyone = ch->subscribe.everyone = true;
	ch->numa_resolved = -1; /* numa_spec_resolve() sets it at creation */
	p->ch = ch;
	snprintf(p->section, sizeof(p->section), "[channel %s]", name);
	enter_section(p, channel_keys, sizeof(channel_keys) / sizeof(channel_keys[0]));
	return 0;
}

/* line: "[...]", trimmed */
static int open_section(struct parser *p, char *line)
{
	char *end = strchr(line, ']'), *name;

	if (!end)
		return fail(p, "section header without its closing ']'");
	if (trim(end + 1)[0])
		return fail(p, "text after the section header's ']'");
	*end = 0;
	name = trim(line + 1);
	if (!strcmp(name, "daemon"))
		return open_daemon(p);
	if (!strncmp(name, "channel", 7) && isspace((unsigned char)name[7]))
		return open_channel(p, trim(name + 7));
	if (!strcmp(name, "channel"))
		return fail(p, "section [channel] without a channel name");
	return fail(p, "unknown section [%s] (expected [daemon] or [channel NAME])", name);
}

static int set_key(struct parser *p, const char *key, char *val)
{
	for (unsigned i = 0; i < p->nkeys; i++) {
		const struct key *k = &p->keys[i];

		if (strcmp(k->name, key))
			continue;
		if (p->key_line[i])
			return fail(p, "duplicate key \"%s\" in %s (first on line %u)", key,
				    p->section, p->key_line[i]);
		p->key_line[i] = p->lineno;
		if (k->set(p, val))
			return fail(p, "%s must be %s, not \"%s\"", key, k->expect, val);
		return 0;
	}
	return fail(p, "unknown key \"%s\" in %s", key, p->section);
}

/* line: without its comment, trimmed */
static int parse_line(struct parser *p, char *line)
{
	char *eq, *key, *val;

	if (!line[0] || line[0] == ';')
		return 0;
	if (line[0] == '[')
		return open_section(p, line);
	eq = strchr(line, '=');
	if (!eq)
		return fail(p, "expected \"[section]\" or \"key = value\"");
	*eq = 0;
	key = trim(line);
	val = trim(eq + 1);
	if (!key[0])
		return fail(p, "no key before '='");
	if (!p->keys)
		return fail(p, "key \"%s\" outside a section ([daemon] or [channel NAME])", key);
	if (!val[0])
		return fail(p, "no value for key \"%s\"", key);
	return set_key(p, key, val);
}

/* Report the error: where, why, and the line as written. */
static void report(const struct parser *p, const char *origin, const char *line, char *err,
		   unsigned err_len)
{
	int n = (int)strcspn(line, "\r\n");

	snprintf(err, err_len, "%s:%u: %s\n    %.*s", origin, p->lineno, p->why, n, line);
}

int config_parse(struct config *cfg, const char *text, const char *origin, char *err,
		 unsigned err_len)
{
	struct parser *p = calloc(1, sizeof(*p));
	size_t len;
	int rc = 0;

	if (!p) {
		snprintf(err, err_len, "%s: out of memory", origin);
		return -SHMQ_ENOMEM;
	}
	p->cfg = cfg;
	for (const char *at = text; *at && !rc; at += len + (at[len] == '\n')) {
		char *line;

		len = strcspn(at, "\n");
		p->lineno++;
		line = strndup(at, len);
		if (!line) {
			snprintf(err, err_len, "%s: out of memory", origin);
			rc = -SHMQ_ENOMEM;
			break;
		}
		line[strcspn(line, "#")] = 0;
		rc = parse_line(p, trim(line));
		if (rc)
			report(p, origin, at, err, err_len);
		free(line);
	}
	free(p);
	return rc;
}

int config_load(struct config *cfg, const char *path, char *err, unsigned err_len)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;
	int rc;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -SHMQ_ESYS;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(err, err_len, "%s: unreadable or larger than 1 MiB", path);
		return -SHMQ_EINVAL;
	}
	text = calloc(1, (size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		fclose(f);
		snprintf(err, err_len, "%s: read failed", path);
		return -SHMQ_ESYS;
	}
	fclose(f);
	if (memchr(text, 0, (size_t)n)) {
		free(text);
		snprintf(err, err_len, "%s: holds a NUL byte: not a text file", path);
		return -SHMQ_EINVAL;
	}
	rc = config_parse(cfg, text, path, err, err_len);
	free(text);
	return rc;
}
