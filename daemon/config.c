/*
 * config.c - parse shmqd's INI-style configuration (see config.h):
 *
 *   [daemon]                      [channel orders.eu.created]
 *   stuck_ms = 500                capacity = 4M
 *   max_channels = 1024           max_message = 4096
 *   max_channels_per_uid = 64     policy = drop | block
 *   max_connections_per_uid = 64
 *   create = 1000, 1001 | *
 *                                 publishers = many | one
 *                                 numa_node = none | local | 0
 *                                 timestamps = on | off
 *                                 publish = *  |  1000, 1001
 *                                 subscribe = *
 * Every error names its line. Main thread only.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->stuck_ms = 500;
	cfg->max_channels = 1024;
	cfg->max_channels_per_uid = 64;
	cfg->max_connections_per_uid = 64;
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

/* "4096", "64K", "4M", "1G" */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 0:
		break;
	case 'K':
		v <<= 10, end++;
		break;
	case 'M':
		v <<= 20, end++;
		break;
	case 'G':
		v <<= 30, end++;
		break;
	default:
		return -1;
	}
	if (*end && !(toupper((unsigned char)*end) == 'B' && !end[1]))
		return -1;
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
	for (char *tok = strtok(s, ", "); tok; tok = strtok(NULL, ", ")) {
		uint64_t uid;

		if (acl->n == CONFIG_MAX_UIDS || parse_size(tok, &uid) || uid > UINT32_MAX)
			return -1;
		acl->uids[acl->n++] = (uint32_t)uid;
	}
	return 0;
}

static int set_daemon_key(struct config *cfg, const char *key, char *val)
{
	uint64_t v;

	if (!strcmp(key, "create"))
		return parse_acl(val, &cfg->create);
	if (parse_size(val, &v))
		return -1;
	if (!strcmp(key, "stuck_ms") && v > 0 && v <= 60000)
		cfg->stuck_ms = v;
	else if (!strcmp(key, "max_channels") && v > 0 && v <= 65536)
		cfg->max_channels = (uint32_t)v;
	else if (!strcmp(key, "max_channels_per_uid") && v > 0 && v <= 65536)
		cfg->max_channels_per_uid = (uint32_t)v;
	else if (!strcmp(key, "max_connections_per_uid") && v > 0 && v <= 65536)
		cfg->max_connections_per_uid = (uint32_t)v;
	else
		return -1;
	return 0;
}

/* "none", "local" or a node number, into the wire's SHMQ_NUMA_* value. */
static int parse_numa(const char *s, int32_t *out)
{
	uint64_t node;

	if (!strcmp(s, "none"))
		*out = SHMQ_NUMA_NONE;
	else if (!strcmp(s, "local"))
		*out = SHMQ_NUMA_LOCAL;
	else if (s[strspn(s, "0123456789")] == 0 && !parse_size(s, &node) &&
		 node < CONFIG_MAX_NUMA_NODE)
		*out = SHMQ_NUMA_NODE((int32_t)node);
	else
		return -1;
	return 0;
}

/* publishers, numa_node, timestamps: the keys of words, not numbers */
static int set_channel_word(struct channel_spec *ch, const char *key, const char *val)
{
	if (!strcmp(key, "publishers")) {
		if (!strcmp(val, "one"))
			ch->publishers = SHMQ_PUBLISHERS_ONE;
		else if (!strcmp(val, "many"))
			ch->publishers = SHMQ_PUBLISHERS_MANY;
		else
			return -1;
		return 0;
	}
	if (!strcmp(key, "numa_node"))
		return parse_numa(val, &ch->numa_node);
	if (!strcmp(val, "on"))
		ch->flags &= ~SHMQ_CHAN_NO_TIMESTAMP;
	else if (!strcmp(val, "off"))
		ch->flags |= SHMQ_CHAN_NO_TIMESTAMP;
	else
		return -1;
	return 0;
}

static int set_channel_key(struct channel_spec *ch, const char *key, char *val)
{
	uint64_t v;

	if (!strcmp(key, "publishers") || !strcmp(key, "numa_node") || !strcmp(key, "timestamps"))
		return set_channel_word(ch, key, val);
	if (!strcmp(key, "policy")) {
		if (!strcmp(val, "drop"))
			ch->policy = 0;
		else if (!strcmp(val, "block"))
			ch->policy = 1;
		else
			return -1;
		return 0;
	}
	if (!strcmp(key, "publish"))
		return parse_acl(val, &ch->publish);
	if (!strcmp(key, "subscribe"))
		return parse_acl(val, &ch->subscribe);
	if (parse_size(val, &v))
		return -1;
	if (!strcmp(key, "capacity") && v >= 4096 && v <= (1ull << 40))
		ch->capacity_bytes = v;
	else if (!strcmp(key, "max_message") && v > 0 && v <= (16u << 20))
		ch->max_message_bytes = (uint32_t)v;
	else
		return -1;
	return 0;
}

static int open_section(struct config *cfg, char *line, struct channel_spec **ch)
{
	char *end = strchr(line, ']'), *name;

	if (!end || trim(end + 1)[0])
		return -1;
	*end = 0;
	name = trim(line + 1);
	*ch = NULL;
	if (!strcmp(name, "daemon"))
		return 0;
	if (strncmp(name, "channel ", 8) || cfg->nchannels == CONFIG_MAX_CHANNELS)
		return -1;
	name = trim(name + 8);
	if (name_check(name))
		return -1;
	for (uint32_t i = 0; i < cfg->nchannels; i++)
		if (!strcmp(cfg->channels[i].name, name))
			return -1;
	*ch = &cfg->channels[cfg->nchannels++];
	memset(*ch, 0, sizeof(**ch));
	strcpy((*ch)->name, name);
	(*ch)->capacity_bytes = 4u << 20;
	(*ch)->max_message_bytes = 4096;
	(*ch)->publish.everyone = (*ch)->subscribe.everyone = true;
	(*ch)->numa_resolved = -1; /* numa_spec_resolve() sets it at creation */
	return 0;
}

static int parse_line(struct config *cfg, char *line, struct channel_spec **ch, bool *in_section)
{
	char *eq, *key, *val;

	line = trim(line);
	if (!line[0] || line[0] == '#' || line[0] == ';')
		return 0;
	if (line[0] == '[') {
		*in_section = true;
		return open_section(cfg, line, ch);
	}
	eq = strchr(line, '=');
	if (!eq || !*in_section)
		return -1;
	*eq = 0;
	key = trim(line);
	val = trim(eq + 1);
	if (!val[0])
		return -1;
	return *ch ? set_channel_key(*ch, key, val) : set_daemon_key(cfg, key, val);
}

int config_parse(struct config *cfg, const char *text, char *err, unsigned err_len)
{
	struct channel_spec *ch = NULL;
	bool in_section = false;
	char *copy = strdup(text), *save = NULL, *line, shown[61];
	unsigned lineno = 0;
	int rc = 0;

	if (!copy) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (char *p = copy; p; p = save) {
		save = strchr(p, '\n');
		if (save)
			*save++ = 0;
		line = trim(p);
		lineno++;
		/* the line as written: parse_line() cuts it at the '=' */
		snprintf(shown, sizeof(shown), "%s", line);
		if (parse_line(cfg, line, &ch, &in_section)) {
			snprintf(err, err_len, "line %u: cannot understand \"%s\"", lineno, shown);
			rc = -1;
			break;
		}
	}
	free(copy);
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
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(err, err_len, "%s: unreadable or larger than 1 MiB", path);
		return -1;
	}
	text = calloc(1, (size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		fclose(f);
		snprintf(err, err_len, "%s: read failed", path);
		return -1;
	}
	fclose(f);
	rc = config_parse(cfg, text, err, err_len);
	free(text);
	return rc;
}
