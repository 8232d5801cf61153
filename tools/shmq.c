/*
 * shmq.c - the command-line client: ls, create, rm, info, pub, sub.
 * Uses only the public API (shmq.h). Exit status: 0 success, 1 a failed
 * operation (the message names the error code), 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmq.h"

struct opts {
	const char *socket;
	struct shmq_channel_opts chan;
	uint64_t count;    /* sub: stop after this many, 0 = no limit */
	double timeout_s;  /* sub: stop after this long, < 0 = never */
	uint32_t start;
	uint64_t offset;
	int quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmq [--socket PATH] COMMAND [ARGS]\n"
		"  ls                               list channels\n"
		"  create NAME [CHANNEL OPTIONS]\n"
		"  rm NAME                          delete a channel\n"
		"  info NAME                        show a channel's settings and tail\n"
		"  pub NAME [MESSAGE...]            publish each argument, or each stdin line\n"
		"  sub NAME [--count N] [--from latest|earliest|OFFSET] [--timeout SECONDS]\n"
		"Channel options (create, and pub and sub when they create):\n"
		"  --capacity BYTES --max-message BYTES --policy block|drop\n"
		"  --publishers one|many  --numa none|local|NODE  --no-timestamps\n"
		"The socket is --socket, else $SHMQ_SOCKET, else the default path.\n"
		"pub and sub create a missing channel with the given settings.\n");
}

static int fail(const char *what, const char *name, int err, const struct opts *o)
{
	char path[108] = "";

	if (err == -SHMQ_ENODAEMON) {
		shmq_socket_path(o->socket, path, sizeof(path));
		fprintf(stderr, "shmq: %s: shmqd is not reachable at %s (is shmqd running?)\n",
			what, path);
		return 1;
	}
	fprintf(stderr, "shmq: %s%s%s: %s (%s)\n", what, name ? " " : "", name ? name : "",
		shmq_strerror(err), shmq_errname(err));
	return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mult = 1024ull * 1024 * 1024, end++;
	if (*end)
		return -1;
	*out = v * mult;
	return 0;
}

/* none | local | a node number, into SHMQ_NUMA_* */
static int parse_numa(const char *s, int32_t *out)
{
	uint64_t node;

	if (!strcmp(s, "none"))
		*out = SHMQ_NUMA_NONE;
	else if (!strcmp(s, "local"))
		*out = SHMQ_NUMA_LOCAL;
	else if (s[strspn(s, "0123456789")] == 0 && !parse_u64(s, &node) && node < INT32_MAX)
		*out = SHMQ_NUMA_NODE((int32_t)node);
	else
		return -1;
	return 0;
}

static int parse_from(const char *s, struct opts *o)
{
	if (!strcmp(s, "latest"))
		o->start = SHMQ_START_LATEST;
	else if (!strcmp(s, "earliest"))
		o->start = SHMQ_START_EARLIEST;
	else if (!parse_u64(s, &o->offset))
		o->start = SHMQ_START_OFFSET;
	else
		return -1;
	return 0;
}

static int parse_opt(int c, const char *arg, struct opts *o)
{
	uint64_t v;
	char *end;

	switch (c) {
	case 's':
		o->socket = arg;
		return 0;
	case 'C':
		return parse_u64(arg, &o->chan.capacity_bytes);
	case 'M':
		if (parse_u64(arg, &v) || v == 0 || v > UINT32_MAX)
			return -1;
		o->chan.max_message_bytes = (uint32_t)v;
		return 0;
	case 'P':
		if (strcmp(arg, "block") && strcmp(arg, "drop"))
			return -1;
		o->chan.policy = !strcmp(arg, "block") ? SHMQ_POLICY_BLOCK : SHMQ_POLICY_DROP;
		return 0;
	case 'U':
		if (strcmp(arg, "one") && strcmp(arg, "many"))
			return -1;
		o->chan.publishers =
		    !strcmp(arg, "one") ? SHMQ_PUBLISHERS_ONE : SHMQ_PUBLISHERS_MANY;
		return 0;
	case 'N':
		return parse_numa(arg, &o->chan.numa_node);
	case 'T':
		o->chan.flags |= SHMQ_CHAN_NO_TIMESTAMP;
		return 0;
	case 'n':
		return parse_u64(arg, &o->count);
	case 'f':
		return parse_from(arg, o);
	case 't':
		o->timeout_s = strtod(arg, &end);
		return *end || end == arg || o->timeout_s < 0 ? -1 : 0;
	case 'q':
		o->quiet = 1;
		return 0;
	default:
		return -1;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"capacity", required_argument, NULL, 'C'},
		{"max-message", required_argument, NULL, 'M'},
		{"policy", required_argument, NULL, 'P'},
		{"publishers", required_argument, NULL, 'U'},
		{"numa", required_argument, NULL, 'N'},
		{"no-timestamps", no_argument, NULL, 'T'},
		{"count", required_argument, NULL, 'n'},
		{"from", required_argument, NULL, 'f'},
		{"timeout", required_argument, NULL, 't'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_s = -1;
	o->start = SHMQ_START_EARLIEST;
	while ((c = getopt_long(argc, argv, "s:n:t:qh", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_opt(c, optarg, o)) {
			if (c != '?')
				fprintf(stderr, "shmq: bad value for option: %s\n", optarg);
			usage(stderr);
			return -1;
		}
	}
	return 0;
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

static int cmd_ls(struct shmq_client *c, const struct opts *o)
{
	struct shmq_channel_info *rows = NULL;
	int n = shmq_channel_list(c, NULL, 0);

	if (n < 0)
		return fail("ls", NULL, n, o);
	if (n) {
		int cap = n;

		rows = calloc((size_t)cap, sizeof(*rows));
		if (!rows)
			return fail("ls", NULL, -SHMQ_ENOMEM, o);
		n = shmq_channel_list(c, rows, (size_t)cap);
		if (n < 0) {
			free(rows);
			return fail("ls", NULL, n, o);
		}
		if (n > cap) /* channels created since the first call: print what fits */
			n = cap;
	}
	for (int i = 0; i < n; i++)
		print_info(&rows[i]);
	free(rows);
	return 0;
}

static int cmd_pub(struct shmq_client *c, const char *name, char **msgs, int nmsgs,
		   const struct opts *o)
{
	struct shmq_pub_opts po = {.create = 1, .channel = o->chan};
	struct shmq_pub *p;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = shmq_pub_open(c, name, &po, &p);

	if (err)
		return fail("pub", name, err, o);
	for (int i = 0; i < nmsgs && !err; i++)
		err = shmq_publish(p, msgs[i], (uint32_t)strlen(msgs[i]), -1, NULL);
	while (!nmsgs && !err && (len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			len--;
		err = (uint64_t)len > UINT32_MAX ? -SHMQ_ETOOBIG
						 : shmq_publish(p, line, (uint32_t)len, -1, NULL);
	}
	free(line);
	shmq_pub_close(p);
	return err ? fail("pub", name, err, o) : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The next message, copied: a copy is checked intact (on a drop channel a
 * lapping publisher may rewrite a view while it is printed; a torn copy is
 * counted lost instead). The buffer grows to the largest message seen.
 * Output waiting in stdio goes out whenever no message is ready.
 */
static int sub_next(struct shmq_sub *s, char **buf, size_t *cap, struct shmq_msg *m,
		    int64_t left)
{
	int err = shmq_recv_copy(s, *buf, *cap, m, 0);

	if (err == -SHMQ_EAGAIN) {
		fflush(stdout);
		err = shmq_recv_copy(s, *buf, *cap, m, left);
	}
	while (err == -SHMQ_EINVAL && m->len > *cap) { /* not consumed: grow, read again */
		char *bigger = realloc(*buf, m->len);

		if (!bigger)
			return -SHMQ_ENOMEM;
		*buf = bigger;
		*cap = m->len;
		err = shmq_recv_copy(s, *buf, *cap, m, 0);
	}
	return err;
}

static int sub_loop(struct shmq_sub *s, const struct opts *o)
{
	uint64_t deadline = o->timeout_s >= 0 ? now_ns() + (uint64_t)(o->timeout_s * 1e9) : 0;
	size_t cap = 4096;
	char *buf = malloc(cap);
	struct shmq_msg m;
	uint64_t got = 0;
	int err = buf ? 0 : -SHMQ_ENOMEM;

	while (!err && (!o->count || got < o->count)) {
		int64_t left = -1;

		if (deadline) {
			uint64_t now = now_ns();

			if (now >= deadline)
				break;
			left = (int64_t)(deadline - now);
		}
		err = sub_next(s, &buf, &cap, &m, left);
		if (err == -SHMQ_ETIMEDOUT) {
			err = 0;
			break;
		}
		if (err)
			break;
		if (m.lost)
			fprintf(stderr, "shmq: lost %" PRIu64 " message(s) before offset %" PRIu64 "\n",
				m.lost, m.offset);
		fwrite(m.data, 1, m.len, stdout);
		fputc('\n', stdout);
		got++;
	}
	free(buf);
	return err;
}

static int cmd_sub(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_sub_opts so = {
		.start = o->start, .offset = o->offset, .create = 1, .channel = o->chan};
	struct shmq_sub *s;
	int err = shmq_sub_open(c, name, &so, &s);

	if (err)
		return fail("sub", name, err, o);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	err = sub_loop(s, o);
	fflush(stdout);
	shmq_sub_close(s);
	return err ? fail("sub", name, err, o) : 0;
}

static int dispatch(struct shmq_client *c, const char *cmd, char **args, int nargs,
		    const struct opts *o)
{
	struct shmq_channel_info ci;
	int err;

	if (!strcmp(cmd, "ls"))
		return cmd_ls(c, o);
	if (nargs < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "pub"))
		return cmd_pub(c, args[0], args + 1, nargs - 1, o);
	if (nargs != 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "sub"))
		return cmd_sub(c, args[0], o);
	if (!strcmp(cmd, "create")) {
		err = shmq_channel_create(c, args[0], &o->chan);
		return err ? fail("create", args[0], err, o) : 0;
	}
	if (!strcmp(cmd, "rm")) {
		err = shmq_channel_delete(c, args[0]);
		return err ? fail("rm", args[0], err, o) : 0;
	}
	if (!strcmp(cmd, "info")) {
		err = shmq_channel_info(c, args[0], &ci);
		if (err)
			return fail("info", args[0], err, o);
		print_info(&ci);
		return 0;
	}
	fprintf(stderr, "shmq: unknown command: %s\n", cmd);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const char *const known[] = {"ls", "create", "rm", "info", "pub", "sub"};
	struct shmq_client *c;
	struct opts o;
	const char *cmd;
	int err, rc;
	size_t i;

	if (parse_args(argc, argv, &o))
		return 2;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(cmd, known[i]); i++)
		;
	if (i == sizeof(known) / sizeof(known[0])) {
		fprintf(stderr, "shmq: unknown command: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	err = shmq_connect(o.socket, &c);
	if (err)
		return fail(cmd, NULL, err, &o);
	rc = dispatch(c, cmd, argv + optind + 1, argc - optind - 1, &o);
	shmq_disconnect(c);
	return rc;
}
