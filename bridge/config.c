/*
 * config.c - shmq-bridge's settings, from the command line and from
 * --config files, which hold the same settings one a line ("to-nats
 * orders=orders.eu", "# comments", blank lines) and count where --config
 * stands among the flags. Routes are explicit: an out route names one
 * channel and one subject without wildcards; an in route may name a
 * subject with wildcards if it names its channel too. Every mistake is a
 * line on stderr and BRIDGE_USAGE. main() only.
 */
#include "bridge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SHMQ_TOOL_VERSION
#define SHMQ_TOOL_VERSION "0"
#endif

static const char usage[] =
    "usage: shmq-bridge [options] --to-nats CHANNEL[=SUBJECT] ... --from-nats SUBJECT[=CHANNEL] "
    "...\n"
    "  --to-nats CHANNEL[=SUBJECT]    forward a channel to a JetStream subject (default: its "
    "name)\n"
    "  --from-nats SUBJECT[=CHANNEL]  forward a subject to a channel (default: its name)\n"
    "  --config FILE       the same settings, one a line: \"to-nats orders=orders.eu\"\n"
    "  --nats URL          NATS server (default nats://127.0.0.1:4222)\n"
    "  --socket PATH       shmqd's socket (default $SHMQ_SOCKET or the usual path)\n"
    "  --state-dir DIR     where out routes record their offsets\n"
    "                      (default $STATE_DIRECTORY, else /var/lib/shmq-bridge)\n"
    "  --start earliest|latest  where an out route without a record starts (earliest)\n"
    "  --create-stream NAME  create a stream for the out subjects unless it exists\n"
    "  --durable-prefix P  in routes' durable consumers are P-SUBJECT (default shmq-bridge)\n"
    "  --batch N           messages in flight per route, 1..4096 (default 256)\n"
    "  --ack-wait S        in routes: seconds before JetStream redelivers (default 30)\n"
    "  --stats S           a stats line every S seconds, 0: none (default 10)\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT, 1 a failure, 2 a usage error.\n";

static int bad(const char *what, const char *value)
{
	fprintf(stderr, "shmq-bridge: %s: %s\n", what, value);
	return BRIDGE_USAGE;
}

static int copy(char *dst, size_t len, const char *src, size_t n, const char *what)
{
	if (n == 0 || n >= len)
		return bad(what, n ? "too long" : "empty");
	memcpy(dst, src, n);
	dst[n] = 0;
	return 0;
}

static int subject_check(const char *s, int wildcards_ok)
{
	if (strpbrk(s, " \t\r\n") || s[0] == '.' || strstr(s, "..") || s[strlen(s) - 1] == '.')
		return bad("not a NATS subject", s);
	if (!wildcards_ok && (strchr(s, '*') || strchr(s, '>')))
		return bad("an out route's subject has no wildcards", s);
	return 0;
}

/* "A[=B]": dir OUT reads CHANNEL[=SUBJECT], dir IN reads SUBJECT[=CHANNEL]. */
static int route_add(struct bridge *b, enum route_dir dir, const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t n1 = eq ? (size_t)(eq - spec) : strlen(spec);
	const char *second = eq ? eq + 1 : spec;
	struct route *r = &b->routes[b->nroutes];
	int err;

	if (b->nroutes == BRIDGE_ROUTES_MAX)
		return bad("too many routes", spec);
	*r = (struct route){.dir = dir};
	if (dir == ROUTE_OUT)
		err = copy(r->channel, sizeof(r->channel), spec, n1, "channel") ||
		      copy(r->subject, sizeof(r->subject), second, strlen(second), "subject");
	else
		err = copy(r->subject, sizeof(r->subject), spec, n1, "subject") ||
		      copy(r->channel, sizeof(r->channel), second, strlen(second), "channel");
	if (err)
		return BRIDGE_USAGE;
	if (dir == ROUTE_IN && !eq && (strchr(spec, '*') || strchr(spec, '>')))
		return bad("a subject with wildcards needs =CHANNEL", spec);
	if (subject_check(r->subject, dir == ROUTE_IN))
		return BRIDGE_USAGE;
	for (unsigned i = 0; i < b->nroutes; i++)
		if (dir == ROUTE_OUT && b->routes[i].dir == ROUTE_OUT &&
		    !strcmp(b->routes[i].channel, r->channel))
			return bad("a channel goes out once", r->channel);
	b->nroutes++;
	return 0;
}

static int number(const char *s, unsigned lo, unsigned hi, unsigned *out, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return bad(what, s);
	*out = (unsigned)v;
	return 0;
}

static int config_file(struct bridge *b, const char *path, int depth);

/* One setting: key and value, from a flag ("--key value") or a file line. */
static int setting(struct bridge *b, const char *key, const char *v, int depth)
{
	if (!strcmp(key, "to-nats"))
		return route_add(b, ROUTE_OUT, v);
	if (!strcmp(key, "from-nats"))
		return route_add(b, ROUTE_IN, v);
	if (!strcmp(key, "nats"))
		return b->nats_url = v, 0;
	if (!strcmp(key, "socket"))
		return b->socket = v, 0;
	if (!strcmp(key, "state-dir"))
		return b->state_dir = v, 0;
	if (!strcmp(key, "create-stream"))
		return b->create_stream = v, 0;
	if (!strcmp(key, "durable-prefix"))
		return strpbrk(v, ".*> ") ? bad("not a durable name", v)
					  : (b->durable_prefix = v, 0);
	if (!strcmp(key, "start"))
		return strcmp(v, "earliest") && strcmp(v, "latest") ? bad("--start", v)
								    : (b->start = v, 0);
	if (!strcmp(key, "batch"))
		return number(v, 1, BRIDGE_BATCH_MAX, &b->batch, "--batch");
	if (!strcmp(key, "ack-wait"))
		return number(v, 1, 3600, &b->ack_wait_s, "--ack-wait");
	if (!strcmp(key, "stats"))
		return number(v, 0, 86400, &b->stats_s, "--stats");
	if (!strcmp(key, "config"))
		return depth > 4 ? bad("--config nests too deep", v) : config_file(b, v, depth + 1);
	return bad("unknown setting", key);
}

/* Trim s in place: leading and trailing blanks. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* A copy of s that lives until config_free(); NULL without memory. */
static char *keep(struct bridge *b, const char *s)
{
	char **owned = realloc(b->owned, (b->nowned + 1) * sizeof(*owned));

	if (!owned)
		return NULL;
	b->owned = owned;
	return owned[b->nowned] = strdup(s), owned[b->nowned] ? owned[b->nowned++] : NULL;
}

void config_free(struct bridge *b)
{
	for (unsigned i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	free(b->owned);
	b->owned = NULL;
	b->nowned = 0;
}

static int config_line(struct bridge *b, char *line, const char *path, int lineno, int depth)
{
	char *key = trim(line), *v;

	if (!*key || *key == '#')
		return 0;
	v = key + strcspn(key, " \t");
	if (*v)
		*v++ = 0;
	v = trim(v);
	if (!*v) {
		fprintf(stderr, "shmq-bridge: %s:%d: \"%s\" needs a value\n", path, lineno, key);
		return BRIDGE_USAGE;
	}
	/* the value must outlive the file's buffer: settings keep pointers */
	v = keep(b, v);
	if (!v || setting(b, key, v, depth)) {
		fprintf(stderr, "shmq-bridge: in %s, line %d\n", path, lineno);
		return BRIDGE_USAGE;
	}
	return 0;
}

static int config_file(struct bridge *b, const char *path, int depth)
{
	char line[1024];
	int lineno = 0, err = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "shmq-bridge: cannot read %s: %s\n", path, strerror(errno));
		return BRIDGE_USAGE;
	}
	while (!err && fgets(line, sizeof(line), f))
		err = config_line(b, line, path, ++lineno, depth);
	fclose(f);
	return err;
}

static void defaults(struct bridge *b)
{
	const char *dir = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */

	*b = (struct bridge){.nats_url = "nats://127.0.0.1:4222",
			     .state_dir = dir && *dir ? dir : "/var/lib/shmq-bridge",
			     .durable_prefix = "shmq-bridge",
			     .start = "earliest",
			     .batch = 256,
			     .ack_wait_s = 30,
			     .stats_s = 10};
}

int config_parse(struct bridge *b, int argc, char **argv)
{
	defaults(b);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return fputs(usage, stdout), -1;
		if (!strcmp(a, "--version"))
			return puts("shmq-bridge " SHMQ_TOOL_VERSION), -1;
		if (strncmp(a, "--", 2) || i + 1 == argc) {
			fputs(usage, stderr);
			return bad(strncmp(a, "--", 2) ? "unexpected argument" : "needs a value",
				   a);
		}
		if (setting(b, a + 2, argv[++i], 0))
			return BRIDGE_USAGE;
	}
	if (b->nroutes == 0) {
		fputs(usage, stderr);
		return bad("no route", "give --to-nats or --from-nats (or --config)");
	}
	return 0;
}
