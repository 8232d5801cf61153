/*
 * shmq.c - the command-line client: ls, create, rm, info, repair, pub, sub,
 * help.
 * Uses only the public API (shmq.h). This file parses the command line
 * (options may come anywhere; "--" ends them), checks each option applies
 * to the command, and runs the channel commands; pub.c and sub.c run
 * theirs. Exit status: enum cli_exit (0 success, 1 a failed operation
 * whose message names the error code, 2 a usage error, 3 a timeout).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"
#include "duration.h"
#include "format.h"

#ifndef SHMQ_TOOL_VERSION
#define SHMQ_TOOL_VERSION "unknown"
#endif

/* Which commands an option applies to (struct cli_opt.cmds). */
#define FOR_CREATE 0x1u
#define FOR_PUB 0x2u
#define FOR_SUB 0x4u
#define FOR_LS 0x8u
#define FOR_INFO 0x10u
#define FOR_REQUEST 0x20u
#define FOR_REPLY 0x40u
#define FOR_CHANNEL (FOR_CREATE | FOR_PUB | FOR_SUB)
#define FOR_ALL 0xffu

enum {
	O_CAPACITY = 256,
	O_MAX_MESSAGE,
	O_POLICY,
	O_PUBLISHERS,
	O_NUMA,
	O_NO_TIMESTAMPS,
	O_FROM,
	O_RATE,
	O_MSG_ID,
	O_CORR_ID,
	O_CONTENT_TYPE,
	O_REPLY_TO,
	O_LAST,
	O_WAIT_MODE,
	O_GROUP,
	O_ACK,
	O_KEY_PREFIX,
	O_TTL,
	O_EXPIRED,
	O_ECHO,
	O_EXEC,
	O_DEDUPE_SLOTS,
	O_DURABLE,
	O_CONFIRM,
};

static const struct option longopts[] = {{"socket", required_argument, NULL, 's'},
					 {"help", no_argument, NULL, 'h'},
					 {"version", no_argument, NULL, 'V'},
					 {"capacity", required_argument, NULL, O_CAPACITY},
					 {"max-message", required_argument, NULL, O_MAX_MESSAGE},
					 {"policy", required_argument, NULL, O_POLICY},
					 {"publishers", required_argument, NULL, O_PUBLISHERS},
					 {"numa", required_argument, NULL, O_NUMA},
					 {"no-timestamps", no_argument, NULL, O_NO_TIMESTAMPS},
					 {"create", no_argument, NULL, 'c'},
					 {"count", required_argument, NULL, 'n'},
					 {"from", required_argument, NULL, O_FROM},
					 {"timeout", required_argument, NULL, 't'},
					 {"wait-channel", no_argument, NULL, 'w'},
					 {"wait", required_argument, NULL, O_WAIT_MODE},
					 {"last", required_argument, NULL, O_LAST},
					 {"exit-at-end", no_argument, NULL, 'e'},
					 {"format", required_argument, NULL, 'f'},
					 {"json", no_argument, NULL, 'j'},
					 {"raw", no_argument, NULL, 'r'},
					 {"length-prefixed", no_argument, NULL, 'L'},
					 {"null", no_argument, NULL, '0'},
					 {"file", required_argument, NULL, 'F'},
					 {"rate", required_argument, NULL, O_RATE},
					 {"key", required_argument, NULL, 'k'},
					 {"header", required_argument, NULL, 'H'},
					 {"msg-id", required_argument, NULL, O_MSG_ID},
					 {"corr-id", required_argument, NULL, O_CORR_ID},
					 {"content-type", required_argument, NULL, O_CONTENT_TYPE},
					 {"reply-to", required_argument, NULL, O_REPLY_TO},
					 {"group", required_argument, NULL, O_GROUP},
					 {"ack", required_argument, NULL, O_ACK},
					 {"key-prefix", required_argument, NULL, O_KEY_PREFIX},
					 {"ttl", required_argument, NULL, O_TTL},
					 {"expired", no_argument, NULL, O_EXPIRED},
					 {"echo", no_argument, NULL, O_ECHO},
					 {"exec", required_argument, NULL, O_EXEC},
					 {"dedupe-slots", required_argument, NULL, O_DEDUPE_SLOTS},
					 {"durable", required_argument, NULL, O_DURABLE},
					 {"confirm", no_argument, NULL, O_CONFIRM},
					 {NULL, 0, NULL, 0}};

static const char shortopts[] = "s:hVcn:t:wef:jrL0F:k:H:";

/* The commands each option applies to, by its getopt value. */
static unsigned opt_cmds(int c)
{
	switch (c) {
	case 's':
	case 'h':
	case 'V':
		return FOR_ALL;
	case O_CAPACITY:
	case O_MAX_MESSAGE:
	case O_POLICY:
	case O_PUBLISHERS:
	case O_NUMA:
	case O_NO_TIMESTAMPS:
	case O_DEDUPE_SLOTS:
	case O_DURABLE:
		return FOR_CHANNEL;
	case 'n':
		return FOR_PUB | FOR_SUB | FOR_REPLY;
	case 't':
		return FOR_SUB | FOR_REQUEST;
	case O_ECHO:
	case O_EXEC:
		return FOR_REPLY;
	case 'c':
	case 'L':
		return FOR_PUB | FOR_SUB;
	case 'j': /* sub and ls, info write JSON; pub reads it */
		return FOR_PUB | FOR_SUB | FOR_LS | FOR_INFO;
	case 'k': /* pub sets them, sub delivers only the messages that carry them */
	case 'H':
	case O_CONTENT_TYPE:
		return FOR_PUB | FOR_SUB;
	case O_KEY_PREFIX:
	case O_FROM:
	case O_LAST:
	case O_WAIT_MODE:
	case O_GROUP:
	case O_ACK:
	case O_EXPIRED:
	case 'w':
	case 'e':
	case 'f':
	case 'r':
		return FOR_SUB;
	default:
		return FOR_PUB;
	}
}

/*
 * After SHMQ_EPERM: who may do what was refused, and which setting of
 * shmqd's configuration (docs/CONFIG.md) grants it to more uids.
 */
static void say_perm_hint(const char *what, const struct opts *o)
{
	const char *list = !strcmp(what, "pub") ? "publish" : "subscribe";

	if (!strcmp(what, "create") ||
	    ((!strcmp(what, "pub") || !strcmp(what, "sub")) && o->create))
		fputs(
		    "shmq: creating a channel takes root, shmqd's uid or a uid in the \"create =\" "
		    "list of the [daemon] section of shmqd's configuration\n",
		    stderr);
	if (!strcmp(what, "pub") || !strcmp(what, "sub"))
		fprintf(stderr,
			"shmq: to %s, a uid must own the channel or be in the \"%s =\" list of "
			"its [channel NAME] section in shmqd's configuration (a channel created on "
			"demand admits only its creator)\n",
			list, list);
	else if (!strcmp(what, "info"))
		fputs(
		    "shmq: to see a channel, a uid must own it or be in the \"publish =\" or "
		    "\"subscribe =\" list of its [channel NAME] section in shmqd's configuration\n",
		    stderr);
	else if (!strcmp(what, "rm") || !strcmp(what, "repair"))
		fprintf(stderr,
			"shmq: %s takes root, shmqd's uid or the channel's owner; no setting "
			"grants it to other uids\n",
			what);
}

int cli_fail(const char *what, const char *name, int err, const struct opts *o)
{
	char path[108] = "";

	if (err == -SHMQ_ENODAEMON) {
		shmq_socket_path(o->socket, path, sizeof(path));
		fprintf(stderr, "shmq: %s: shmqd is not reachable at %s (is shmqd running?)\n",
			what, path);
		return CLI_FAILED;
	}
	fprintf(stderr, "shmq: %s%s%s: %s (%s)\n", what, name ? " " : "", name ? name : "",
		shmq_strerror(err), shmq_errname(err));
	if (err == -SHMQ_EPERM)
		say_perm_hint(what, o);
	return CLI_FAILED;
}

/* Parsers return -1 for a bad value, or USAGE_SAID when they said why already. */
#define USAGE_SAID (-2)

static int usage_error(const char *fmt, const char *a, const char *b)
{
	fputs("shmq: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputs("\n", stderr);
	return USAGE_SAID;
}

/* "--name" of the option whose getopt value is c. */
static const char *opt_name(int c, char *buf, size_t len)
{
	for (const struct option *l = longopts; l->name; l++)
		if (l->val == c)
			return snprintf(buf, len, "--%s", l->name), buf;
	return snprintf(buf, len, "-%c", c), buf;
}

/* A size for messages: "17 MiB", "4 KiB", "1 byte", "4097 bytes". */
static const char *size_text(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	int u = -1;

	while (v && !(v & 1023) && u < 5) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64 " byte%s", v, v == 1 ? "" : "s");
	else
		snprintf(buf, len, "%" PRIu64 " %s", v, units[u]);
	return buf;
}

/* --capacity and --max-message: a size within [min, max]; errors name the limit. */
static int parse_size(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char v[48], lim[48];
	int err = shmq_size_parse(arg, out);

	if (err == -SHMQ_ELIMIT)
		return usage_error("--%s %s: too large (it does not fit in 64 bits)", opt, arg);
	if (err)
		return usage_error("--%s %s: not a size (N, then K, M, G or T, optionally B or iB)",
				   opt, arg);
	if (*out < min || *out > max) {
		fprintf(stderr, "shmq: --%s %s: %s is %s the %s of %s\n", opt, arg,
			size_text(*out, v, sizeof(v)), *out < min ? "below" : "above",
			*out < min ? "minimum" : "limit",
			size_text(*out < min ? min : max, lim, sizeof(lim)));
		return USAGE_SAID;
	}
	return 0;
}

/* A decimal integer, nothing else. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* none | local | a node number, into SHMQ_NUMA_* */
static int parse_numa(const char *s, int32_t *out)
{
	uint64_t node;

	if (!strcasecmp(s, "none"))
		*out = SHMQ_NUMA_NONE;
	else if (!strcasecmp(s, "local"))
		*out = SHMQ_NUMA_LOCAL;
	else if (!parse_u64(s, &node) && node < INT32_MAX)
		*out = SHMQ_NUMA_NODE((int32_t)node);
	else
		return -1;
	return 0;
}

/* --from: earliest, latest, last (the last message), -N (the last N) or an offset. */
static int parse_from(const char *s, struct opts *o)
{
	o->from = s;
	o->from_last = 0;
	if (!strcasecmp(s, "latest"))
		o->start = SHMQ_START_LATEST;
	else if (!strcasecmp(s, "earliest"))
		o->start = SHMQ_START_EARLIEST;
	else if (!strcasecmp(s, "last"))
		o->from_last = 1, o->last = 1;
	else if (s[0] == '-' && !parse_u64(s + 1, &o->last))
		o->from_last = 1;
	else if (!parse_u64(s, &o->offset))
		o->start = SHMQ_START_OFFSET;
	else
		return -1;
	return 0;
}

/* --wait: the library's four wait modes, by the names shmq-stat shows too. */
static int parse_wait_mode(const char *s, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t mode;
	} modes[] = {{"spin-sleep", SHMQ_WAIT_SPIN_SLEEP},
		     {"spin_sleep", SHMQ_WAIT_SPIN_SLEEP},
		     {"spin", SHMQ_WAIT_SPIN},
		     {"sleep", SHMQ_WAIT_SLEEP},
		     {"event", SHMQ_WAIT_EVENTFD},
		     {"eventfd", SHMQ_WAIT_EVENTFD}};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcasecmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return 0;
		}
	}
	return -1;
}

/* --rate: a positive number, a fraction is fine. */
static int parse_rate(const char *s, double *out)
{
	char *end;

	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.') || strpbrk(s, "xX"))
		return -1;
	*out = strtod(s, &end);
	return *end || end == s || !(*out > 0) || *out > 1e9 ? -1 : 0;
}

/* --header NAME=VALUE */
static int parse_header(const char *s, struct opts *o)
{
	const char *eq = strchr(s, '=');
	struct shmq_header *h = &o->headers[o->msg.nheaders];

	if (o->msg.nheaders == PUB_HEADERS_MAX)
		return usage_error("--header %s: at most %s headers", s, "16");
	if (!eq || eq == s || eq - s > 255 || strlen(eq + 1) > 1024)
		return usage_error("--header %s: %s", s,
				   "not NAME=VALUE (name 1..255 bytes, value up to 1024)");
	*h = (struct shmq_header){s, (uint32_t)(eq - s), eq + 1, (uint32_t)strlen(eq + 1)};
	o->msg.nheaders++;
	o->msg.fields |= SHMQ_F_HEADERS;
	return 0;
}

/* One of the choices a|b, in any case, into *out (0 or 1). */
static int parse_choice(const char *s, const char *zero, const char *one, uint32_t *out)
{
	if (strcasecmp(s, zero) && strcasecmp(s, one))
		return -1;
	*out = !strcasecmp(s, one);
	return 0;
}

static int parse_channel_opt(int c, const char *arg, struct opts *o)
{
	uint64_t v = 0;
	int err;

	switch (c) {
	case O_CAPACITY:
		o->given |= GIVEN_CAPACITY;
		return parse_size("capacity", arg, SHMQ_CAPACITY_MIN, SHMQ_CAPACITY_MAX,
				  &o->chan.capacity_bytes);
	case O_MAX_MESSAGE:
		o->given |= GIVEN_MAX_MESSAGE;
		err = parse_size("max-message", arg, 1, SHMQ_MESSAGE_MAX, &v);
		o->chan.max_message_bytes = (uint32_t)v;
		return err;
	case O_POLICY: /* SHMQ_POLICY_DROP 0, SHMQ_POLICY_BLOCK 1 */
		o->given |= GIVEN_POLICY;
		return parse_choice(arg, "drop", "block", &o->chan.policy);
	case O_PUBLISHERS: /* SHMQ_PUBLISHERS_MANY 0, SHMQ_PUBLISHERS_ONE 1 */
		o->given |= GIVEN_PUBLISHERS;
		return parse_choice(arg, "many", "one", &o->chan.publishers);
	case O_NUMA:
		o->given |= GIVEN_NUMA;
		return parse_numa(arg, &o->chan.numa_node);
	case O_DURABLE: /* SHMQ_SYNC_OS 1, BATCH 2, ALWAYS 3 */
		v = !strcmp(arg, "os")	     ? 1
		    : !strcmp(arg, "batch")  ? 2
		    : !strcmp(arg, "always") ? 3
					     : 0;
		o->chan.flags |= SHMQ_CHAN_DURABLE(v);
		return v ? 0 : -1;
	case O_DEDUPE_SLOTS: /* a power of two, 16..2^24 (shmqd says the same) */
		if (parse_u64(arg, &v) || v < 16 || v > (1u << 24) || (v & (v - 1)))
			return -1;
		o->chan.dedupe_slots = (uint32_t)v;
		return 0;
	default: /* O_NO_TIMESTAMPS */
		o->given |= GIVEN_NO_TIMESTAMPS;
		o->chan.flags |= SHMQ_CHAN_NO_TIMESTAMP;
		return 0;
	}
}

static int parse_pub_opt(int c, const char *arg, struct opts *o)
{
	switch (c) {
	case O_CONFIRM:
		o->confirm = 1;
		return 0;
	case '0':
		o->in = IN_NUL;
		return 0;
	case 'F':
		if (o->nfiles == PUB_FILES_MAX)
			return usage_error("--file %s: at most %s files", arg, "64");
		o->files[o->nfiles++] = arg;
		o->in = IN_FILES;
		return 0;
	case O_RATE:
		return parse_rate(arg, &o->rate);
	case 'k':
		o->msg.key = arg;
		o->msg.key_len = (uint32_t)strlen(arg);
		o->msg.fields |= SHMQ_F_KEY;
		return 0;
	case 'H':
		return parse_header(arg, o);
	case O_TTL:
		return duration_parse(arg, &o->ttl_s) || o->ttl_s <= 0 ? -1 : 0;
	case O_MSG_ID:
		o->msg.fields |= SHMQ_F_MSG_ID;
		return parse_u64(arg, &o->msg.msg_id);
	case O_CORR_ID:
		o->msg.fields |= SHMQ_F_CORR_ID;
		return parse_u64(arg, &o->msg.corr_id);
	case O_CONTENT_TYPE:
		o->msg.content_type = arg;
		o->msg.fields |= SHMQ_F_CONTENT_TYPE;
		return 0;
	default: /* O_REPLY_TO */
		o->msg.reply_to = arg;
		o->msg.fields |= SHMQ_F_REPLY_TO;
		return 0;
	}
}

static int parse_sub_opt(int c, const char *arg, struct opts *o)
{
	const char *bad;

	switch (c) {
	case O_FROM:
		return parse_from(arg, o);
	case O_LAST:
		o->from_last = 1;
		return parse_u64(arg, &o->last);
	case O_WAIT_MODE:
		return parse_wait_mode(arg, &o->wait_mode);
	case O_GROUP:
		o->group = arg;
		return 0;
	case O_ACK: /* after the output is written (auto), or as taken (none) */
		if (strcmp(arg, "auto") && strcmp(arg, "none"))
			return -1;
		o->ack_none = !strcmp(arg, "none");
		return 0;
	case O_EXPIRED:
		o->expired = 1;
		return 0;
	case 'w':
		o->wait = 1;
		return 0;
	case 'e':
		o->exit_at_end = 1;
		return 0;
	case 'f':
		o->out = OUT_FORMAT;
		o->format = arg;
		if (format_check(arg, &bad))
			return usage_error("--format %s: unknown placeholder or escape at \"%s\"",
					   arg, bad);
		return 0;
	case O_KEY_PREFIX:
		if (!arg[0] || strlen(arg) > 1024)
			return usage_error("--key-prefix %s: %s", arg, "1 to 1024 bytes");
		o->key_prefix = arg;
		return 0;
	default: /* 'r' */
		o->out = OUT_RAW;
		return 0;
	}
}

static int parse_opt(int c, const char *arg, struct opts *o)
{
	switch (c) {
	case 's':
		o->socket = arg;
		return 0;
	case 'c':
		o->create = 1;
		return 0;
	case 'n':
		return parse_u64(arg, &o->count);
	case 'L': /* pub reads frames, sub writes them */
		o->in = IN_LENGTH;
		o->out = OUT_LENGTH;
		return 0;
	case 'j': /* pub reads JSON lines; sub, ls and info write JSON */
		o->json = 1;
		o->out = OUT_JSON;
		return 0;
	case 't': /* sub, request */
		return duration_parse(arg, &o->timeout_s);
	case O_ECHO:
		o->echo = 1;
		return 0;
	case O_EXEC:
		o->exec = arg;
		return 0;
	}
	switch (opt_cmds(c)) {
	case FOR_CHANNEL:
		return parse_channel_opt(c, arg, o);
	case FOR_SUB:
		return parse_sub_opt(c, arg, o);
	default:
		return parse_pub_opt(c, arg, o);
	}
}

/* What an option takes, for its "not a valid value" error. */
static const char *opt_values(int c)
{
	switch (c) {
	case O_POLICY:
		return "block or drop";
	case O_PUBLISHERS:
		return "one or many";
	case O_NUMA:
		return "none, local or a node number";
	case O_FROM:
		return "earliest, latest, last, -N for the last N messages, or an offset";
	case O_WAIT_MODE:
		return "spin, spin-sleep, sleep or event; -w, --wait-channel waits for the channel";
	case 't':
	case O_TTL:
		return "a duration: " DURATION_SYNTAX;
	case O_DEDUPE_SLOTS:
		return "a power of two from 16 to 16777216";
	case O_RATE:
		return "messages a second, above 0 (a fraction is fine)";
	case O_ACK:
		return "auto or none";
	case O_DURABLE:
		return "os, batch or always";
	default: /* -n, --last, --msg-id, --corr-id */
		return "a whole number, 0 or more";
	}
}

/* Options that choose the same thing: two different ones of a group conflict. */
static int opt_group(int c)
{
	switch (c) {
	case 'j':
	case 'r':
	case 'f':
	case 'L':
	case '0':
	case 'F':
		return 1; /* how sub writes messages, or how pub reads them */
	case O_FROM:
	case O_LAST:
		return 2; /* where sub starts */
	default:
		return 0;
	}
}

/* Two different options of one group among seen: a usage error naming both. */
static int check_conflicts(const int *seen, int nseen)
{
	char a[32], b[32];

	for (int i = 1; i < nseen; i++) {
		for (int j = 0; j < i; j++) {
			if (!opt_group(seen[i]) || opt_group(seen[i]) != opt_group(seen[j]) ||
			    seen[i] == seen[j])
				continue;
			return usage_error("%s and %s conflict: give one of them",
					   opt_name(seen[j], a, sizeof(a)),
					   opt_name(seen[i], b, sizeof(b)));
		}
	}
	return 0;
}

/* The bit of FOR_* a command is, 0 for rm, repair, help. */
static unsigned cmd_bit(const char *cmd)
{
	if (!strcmp(cmd, "create"))
		return FOR_CREATE;
	if (!strcmp(cmd, "pub"))
		return FOR_PUB;
	if (!strcmp(cmd, "sub"))
		return FOR_SUB;
	if (!strcmp(cmd, "ls"))
		return FOR_LS;
	if (!strcmp(cmd, "info"))
		return FOR_INFO;
	if (!strcmp(cmd, "request"))
		return FOR_REQUEST;
	if (!strcmp(cmd, "reply"))
		return FOR_REPLY;
	return 0;
}

/*
 * Parse every option (anywhere on the line, as getopt_long permutes them)
 * into o; *help is set by -h, and -V prints the version. Options that do
 * not apply to the command are usage errors. 0, 1 (done: exit 0), or -1.
 */
static int parse_args(int argc, char **argv, struct opts *o, int *help)
{
	int c, err, seen[64], nseen = 0;
	unsigned cmds;
	char name[32];

	memset(o, 0, sizeof(*o));
	o->timeout_s = -1;
	o->start = SHMQ_START_EARLIEST;
	o->from = "earliest";
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return -1;
		if (c == 'V') {
			printf("shmq %s\n", SHMQ_TOOL_VERSION);
			return 1;
		}
		err = c == 'h' ? (*help = 1, 0) : parse_opt(c, optarg, o);
		if (err == -1)
			fprintf(stderr, "shmq: %s %s: not a valid value (valid: %s)\n",
				opt_name(c, name, sizeof(name)), optarg, opt_values(c));
		if (err)
			return -1;
		if (nseen < 64)
			seen[nseen++] = c;
	}
	if (optind < argc) /* shmq list, shmq subscribe: the command's own name */
		argv[optind] = (char *)help_command_name(argv[optind]);
	for (int i = 0; optind < argc && i < nseen; i++) {
		cmds = opt_cmds(seen[i]);
		if (cmds != FOR_ALL && !(cmds & cmd_bit(argv[optind])))
			return usage_error("%s does not apply to %s (shmq help)",
					   opt_name(seen[i], name, sizeof(name)), argv[optind]);
	}
	return check_conflicts(seen, nseen) ? -1 : 0;
}

/* The channel's ring for --capacity asked and a largest message (what shmqd makes). */
static uint64_t ring_for(uint64_t asked, uint32_t max_message)
{
	uint64_t ring = SHMQ_CAPACITY_MIN,
		 max_record = SHMQ_RECORD_BYTES(max_message) + SHMQ_FIELDS_MAX;

	while (ring < asked || ring < 4 * max_record)
		ring *= 2;
	return ring;
}

static int mismatch(const char *what, const char *name, const char *setting, const char *has,
		    const char *asked)
{
	fprintf(stderr,
		"shmq: %s %s: the channel exists with %s %s, not %s as asked "
		"(SHMQ_EMISMATCH)\n",
		what, name, setting, has, asked);
	return CLI_FAILED;
}

static int check_numbers(const char *what, const char *name, const struct shmq_channel_info *ci,
			 const struct opts *o)
{
	uint32_t max_msg =
	    o->given & GIVEN_MAX_MESSAGE ? o->chan.max_message_bytes : ci->max_message_bytes;
	char has[48], asked[48];

	if ((o->given & GIVEN_MAX_MESSAGE) && max_msg != ci->max_message_bytes)
		return mismatch(what, name, "max-message",
				size_text(ci->max_message_bytes, has, sizeof(has)),
				size_text(max_msg, asked, sizeof(asked)));
	if ((o->given & GIVEN_CAPACITY) &&
	    ring_for(o->chan.capacity_bytes, max_msg) != ci->capacity_bytes) {
		size_text(ci->capacity_bytes, has, sizeof(has));
		size_text(ring_for(o->chan.capacity_bytes, max_msg), asked, sizeof(asked));
		return mismatch(what, name, "capacity", has, asked);
	}
	if ((o->given & GIVEN_NUMA) && o->chan.numa_node != ci->numa_node) {
		snprintf(has, sizeof(has), "%" PRId32, ci->numa_node - 1);
		snprintf(asked, sizeof(asked), "%" PRId32, o->chan.numa_node - 1);
		return mismatch(what, name, "numa node", ci->numa_node ? has : "none",
				o->chan.numa_node ? asked : "none");
	}
	return 0;
}

int cli_check_settings(struct shmq_client *c, const char *what, const char *name,
		       const struct opts *o)
{
	static const char *const policy[] = {"drop", "block"}, *const pubs[] = {"many", "one"};
	struct shmq_channel_info ci;
	int err;

	if (!o->given)
		return 0;
	err = shmq_channel_info(c, name, &ci);
	if (err == -SHMQ_ENOENT)
		return 0; /* the open says so, or creates it */
	if (err)
		return cli_fail(what, name, err, o);
	if ((o->given & GIVEN_POLICY) && o->chan.policy != ci.policy && ci.policy < 2)
		return mismatch(what, name, "policy", policy[ci.policy], policy[o->chan.policy]);
	if ((o->given & GIVEN_PUBLISHERS) && o->chan.publishers != ci.publishers &&
	    ci.publishers < 2)
		return mismatch(what, name, "publishers", pubs[ci.publishers],
				pubs[o->chan.publishers]);
	if ((o->given & GIVEN_NO_TIMESTAMPS) && !(ci.flags & SHMQ_CHAN_NO_TIMESTAMP))
		return mismatch(what, name, "timestamps", "on", "off");
	return check_numbers(what, name, &ci, o);
}

/* SHMQ_NUMA_* as asked: none, local or the node number */
static const char *numa_str(int32_t wire, char *buf, size_t len)
{
	if (wire == SHMQ_NUMA_NONE)
		return "none";
	if (wire == SHMQ_NUMA_LOCAL)
		return "local";
	snprintf(buf, len, "%" PRId32, wire - 1);
	return buf;
}

/*
 * One line a channel: name, policy, ring bytes, max_message, readers,
 * publishers mode and open publisher handles, NUMA node asked and node of
 * the pages ("-": unknown or mixed), timestamps, oldest and tail offsets.
 */
static void print_info(const struct shmq_channel_info *ci)
{
	char asked[16], pages[16] = "-";

	if (ci->numa_pages_node >= 0)
		snprintf(pages, sizeof(pages), "%" PRId32, ci->numa_pages_node);
	printf("%-40s %-5s ring=%-10" PRIu64 " max_message=%-8u readers=%-3u publishers=%-4s "
	       "open=%-3u numa=%-5s pages_node=%-2s timestamps=%-3s oldest=%" PRIu64
	       " tail=%" PRIu64 "\n",
	       ci->name, ci->policy ? "block" : "drop", ci->capacity_bytes, ci->max_message_bytes,
	       ci->readers, ci->publishers == SHMQ_PUBLISHERS_ONE ? "one" : "many",
	       ci->publishers_open, numa_str(ci->numa_node, asked, sizeof(asked)), pages,
	       ci->flags & SHMQ_CHAN_NO_TIMESTAMP ? "off" : "on", ci->oldest, ci->tail);
}

/*
 * ls: say on stderr how many channels this uid may not see (a daemon
 * before protocol minor 5 cannot tell, and is not asked).
 */
static void say_hidden(struct shmq_client *c)
{
	int n = shmq_channel_hidden(c);

	if (n > 0)
		fprintf(stderr,
			"shmq: ls: %d more channel%s hidden: uid %u may neither publish to nor "
			"subscribe to %s (the \"publish =\" and \"subscribe =\" lists of shmqd's "
			"configuration grant it)\n",
			n, n == 1 ? " is" : "s are", (unsigned)getuid(), n == 1 ? "it" : "them");
}

/* The channels, or (pattern not NULL) those matching pattern: as shmq_channel_list(). */
static int ls_rows(struct shmq_client *c, const char *pattern, struct shmq_channel_info *out,
		   size_t max)
{
	return pattern ? shmq_channel_match(c, pattern, out, max) : shmq_channel_list(c, out, max);
}

static int cmd_ls(struct shmq_client *c, const char *pattern, const struct opts *o)
{
	struct shmq_channel_info *rows = NULL;
	int n = ls_rows(c, pattern, NULL, 0);

	if (n < 0)
		return cli_fail("ls", pattern, n, o);
	if (n) {
		int cap = n;

		rows = calloc((size_t)cap, sizeof(*rows));
		if (!rows)
			return cli_fail("ls", NULL, -SHMQ_ENOMEM, o);
		n = ls_rows(c, pattern, rows, (size_t)cap);
		if (n < 0) {
			free(rows);
			return cli_fail("ls", pattern, n, o);
		}
		if (n > cap) /* channels created since the first call: print what fits */
			n = cap;
	}
	if (o->json && json_print_ls(stdout, rows, n)) {
		free(rows);
		return cli_fail("ls", NULL, -SHMQ_ENOMEM, o);
	}
	for (int i = 0; !o->json && i < n; i++)
		print_info(&rows[i]);
	free(rows);
	if (!pattern) /* the count is of every channel, not of those matching */
		say_hidden(c);
	return 0;
}

static int cmd_name(struct shmq_client *c, const char *cmd, const char *name, const struct opts *o)
{
	struct shmq_channel_info ci;
	int err;

	if (!strcmp(cmd, "create"))
		err = shmq_channel_create(c, name, &o->chan);
	else if (!strcmp(cmd, "rm"))
		err = shmq_channel_delete(c, name);
	else if (!(err = shmq_channel_info(c, name, &ci)) && !o->json)
		print_info(&ci);
	else if (!err && json_print_info(stdout, &ci))
		err = -SHMQ_ENOMEM;
	return err ? cli_fail(cmd, name, err, o) : CLI_OK;
}

/* shmq repair NAME: cut readers stuck at a bad record forward. */
static int cmd_repair(struct shmq_client *c, const char *name, const struct opts *o)
{
	uint32_t cut = 0;
	int err = shmq_channel_repair(c, name, &cut);

	if (err)
		return cli_fail("repair", name, err, o);
	printf("%s: cut %u reader%s forward\n", name, cut, cut == 1 ? "" : "s");
	return CLI_OK;
}

/* shmq groups NAME: the channel's consumer groups, a line each. */
static int cmd_groups(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_group_info g[16];
	int n = shmq_group_info(c, name, NULL, g, 16);

	if (n < 0)
		return cli_fail("groups", name, n, o);
	printf("%-20s %7s %12s %12s %9s %12s %12s %9s %9s\n", "GROUP", "MEMBERS", "FLOOR",
	       "DISPATCH", "PENDING", "DELIVERED", "REDELIVERED", "DEAD", "LOST");
	for (int i = 0; i < n && i < 16; i++)
		printf("%-20s %7u %12" PRIu64 " %12" PRIu64 " %9" PRIu64 " %12" PRIu64 " %12" PRIu64
		       " %9" PRIu64 " %9" PRIu64 "\n",
		       g[i].name, g[i].members, g[i].floor, g[i].dispatch,
		       g[i].dispatch > g[i].floor ? g[i].dispatch - g[i].floor : 0, g[i].delivered,
		       g[i].redelivered, g[i].dead, g[i].lost);
	return CLI_OK;
}

/* shmq group rm NAME GROUP: delete a consumer group no member is in. */
static int cmd_group(struct shmq_client *c, char **args, const struct opts *o)
{
	struct shmq_channel_info ci;
	int err;

	if (strcmp(args[0], "rm")) {
		fprintf(stderr, "shmq: group: unknown subcommand: %s (shmq help group)\n", args[0]);
		return CLI_USAGE;
	}
	err = shmq_group_delete(c, args[1], args[2]);
	if (err == -SHMQ_EBUSY || (err == -SHMQ_ENOENT && !shmq_channel_info(c, args[1], &ci))) {
		fprintf(stderr, "shmq: group rm %s %s: %s (%s)\n", args[1], args[2],
			err == -SHMQ_EBUSY ? "the group has members" : "no such group",
			shmq_errname(err));
		return CLI_FAILED;
	}
	return err ? cli_fail("group rm", args[1], err, o) : CLI_OK;
}

/* The number of arguments cmd takes: exactly (>= 0), or at least -n - 1. */
static int cmd_args(const char *cmd)
{
	static const struct {
		const char *cmd;
		int nargs;
	} cmds[] = {{"ls", -1},	   {"create", 1},  {"rm", 1},	 {"info", 1},
		    {"repair", 1}, {"pub", -2},	   {"sub", 1},	 {"groups", 1},
		    {"group", 3},  {"request", 2}, {"reply", 1}, {"journal", -2}};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].cmd))
			return cmds[i].nargs;
	return INT32_MIN;
}

static int run(const char *cmd, char **args, int nargs, const struct opts *o)
{
	struct shmq_client *c;
	int err = shmq_connect(o->socket, &c), rc;

	if (err)
		return cli_fail(cmd, NULL, err, o);
	if (!strcmp(cmd, "ls"))
		rc = cmd_ls(c, nargs ? args[0] : NULL, o);
	else if (!strcmp(cmd, "pub"))
		rc = cmd_pub(c, args[0], args + 1, nargs - 1, o);
	else if (!strcmp(cmd, "sub"))
		rc = cmd_sub(c, args[0], o);
	else if (!strcmp(cmd, "repair"))
		rc = cmd_repair(c, args[0], o);
	else if (!strcmp(cmd, "groups"))
		rc = cmd_groups(c, args[0], o);
	else if (!strcmp(cmd, "group"))
		rc = cmd_group(c, args, o);
	else if (!strcmp(cmd, "request"))
		rc = cmd_request(c, args[0], args[1], o);
	else if (!strcmp(cmd, "reply"))
		rc = cmd_reply(c, args[0], o);
	else if (!strcmp(cmd, "journal"))
		rc = cmd_journal_show(c, args[0], o);
	else
		rc = cmd_name(c, cmd, args[0], o);
	shmq_disconnect(c);
	return rc;
}

/* shmq help [CMD], shmq CMD --help */
static int help(const char *cmd)
{
	if (!cmd) {
		help_overview(stdout);
		return CLI_OK;
	}
	if (help_command(stdout, cmd)) {
		fprintf(stderr, "shmq: help: unknown command: %s\n", cmd);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd;
	int want_help = 0, nargs, rc = parse_args(argc, argv, &o, &want_help);

	if (rc)
		return rc > 0 ? CLI_OK : CLI_USAGE;
	cmd = optind < argc ? argv[optind] : NULL;
	if (cmd && !strcmp(cmd, "help")) /* shmq help [CMD] */
		return help(optind + 1 < argc ? help_command_name(argv[optind + 1]) : NULL);
	if (want_help) /* shmq --help, shmq CMD --help */
		return help(cmd);
	if (!cmd) {
		help_overview(stderr);
		return CLI_USAGE;
	}
	nargs = cmd_args(cmd);
	if (nargs == INT32_MIN) {
		fprintf(stderr, "shmq: unknown command: %s (shmq --help lists them)\n", cmd);
		return CLI_USAGE;
	}
	if ((nargs >= 0 ? argc - optind - 1 != nargs : argc - optind - 1 < -nargs - 1) ||
	    (!strcmp(cmd, "ls") && argc - optind - 1 > 1)) {
		help_command(stderr, cmd);
		return CLI_USAGE;
	}
	if (!strcmp(cmd, "journal") && !strcmp(argv[optind + 1], "verify")) {
		if (argc - optind - 1 != 2) {
			help_command(stderr, cmd);
			return CLI_USAGE;
		}
		return cmd_journal(argv + optind + 1); /* offline: no daemon */
	}
	if (!strcmp(cmd, "journal") && argc - optind - 1 != 1) {
		help_command(stderr, cmd);
		return CLI_USAGE;
	}
	return run(cmd, argv + optind + 1, argc - optind - 1, &o);
}
