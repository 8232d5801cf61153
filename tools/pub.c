/*
 * pub.c - shmq pub: publish each argument, each file (--file), or what
 * stdin holds: lines (default), NUL-terminated records (-0) or the frames
 * shmq sub --length-prefixed writes, or (--json) the JSON lines shmq sub
 * --json writes, each with its own header fields (cli_json.c). Otherwise
 * every message carries the header fields given (--key, --header, --msg-id
 * counting up, --corr-id, --content-type, --reply-to). --count N publishes
 * N (arguments and files are repeated in turn; stdin stops after N),
 * --rate paces them against the monotonic clock. Waits as long as a block
 * channel needs. --confirm (durable channels) exits only once every message
 * is durable; a journal that failed (SHMQ_EIO) makes it exit 1. A bad JSON line stops it: the lines
 * before it are published, none after, and the message names the line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_json.h"

/* Why publishing stopped without a SHMQ error (positive). */
enum pub_end {
	PUB_TRUNCATED = 1, /* stdin ended inside a length-prefixed frame */
	PUB_READ = 2,	   /* reading stdin or a file failed (errno) */
	PUB_EOF = 3,	   /* read_exact(): the input ended before the first byte */
	PUB_BAD_LINE = 4,  /* --json: a line that is not a message (why says how) */
};

struct pub_run {
	struct shmq_pub *p;
	const struct opts *o;
	struct shmq_msg_opts mo; /* o->msg; msg_id counts up */
	uint64_t sent;
	uint64_t start_ns;
	const char *path;  /* the file that failed to read */
	int read_errno;	   /* why, with PUB_READ */
	uint64_t line;	   /* --json: lines read */
	char why[256];	   /* --json: what is wrong with the line */
	uint64_t last_off; /* the last message's offset, for --confirm */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool pub_done(const struct pub_run *r)
{
	return r->o->count && r->sent >= r->o->count;
}

/* --rate: sleep until message number r->sent is due. */
static void pub_pace(const struct pub_run *r)
{
	uint64_t due = r->start_ns + (uint64_t)((double)r->sent * 1e9 / r->o->rate);
	struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* One message with header fields mo (NULL: none). */
static int pub_one_opts(struct pub_run *r, const void *data, size_t len,
			const struct shmq_msg_opts *mo)
{
	uint32_t max = shmq_pub_max_message(r->p);
	uint64_t off = 0;
	int err;

	if (len > max) {
		fprintf(stderr,
			"shmq: pub: a message of %zu bytes is above the channel's limit of "
			"%" PRIu32 " bytes\n",
			len, max);
		return -SHMQ_ETOOBIG;
	}
	if (r->o->rate > 0)
		pub_pace(r);
	err = shmq_publish_opts(r->p, data, (uint32_t)len, mo, -1, &off);
	if (err == -SHMQ_EDUPLICATE)
		fprintf(stderr, "shmq: pub: msg id %" PRIu64 ": duplicate of offset %" PRIu64 "\n",
			mo->msg_id, off);
	if (err)
		return err;
	r->last_off = off;
	r->sent++;
	return 0;
}

/* One message with the fields of the command line; --msg-id counts up. */
static int pub_one(struct pub_run *r, const void *data, size_t len)
{
	int err;

	if (r->o->ttl_s > 0) { /* --ttl: from now, for each message */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		r->mo.fields |= SHMQ_F_EXPIRY;
		r->mo.expiry_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec +
				  (uint64_t)(r->o->ttl_s * 1e9);
	}
	err = pub_one_opts(r, data, len, r->mo.fields ? &r->mo : NULL);

	if (!err)
		r->mo.msg_id++;
	return err;
}

/* One line of --json: a message with its own fields, or PUB_BAD_LINE. */
static int pub_json_line(struct pub_run *r, const char *line, size_t len)
{
	json_error_t je;
	struct json_msg m;
	json_t *obj;
	int err;

	if (len == strspn(line, " \t\r\n")) {
		snprintf(r->why, sizeof(r->why), "an empty line, not a JSON object");
		return PUB_BAD_LINE;
	}
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!obj) {
		snprintf(r->why, sizeof(r->why), "not JSON: %s (column %d)", je.text, je.column);
		return PUB_BAD_LINE;
	}
	err = json_msg_decode(obj, &m, r->why, sizeof(r->why)) ? PUB_BAD_LINE : 0;
	if (!err)
		err = pub_one_opts(r, m.payload, m.len, m.mo.fields ? &m.mo : NULL);
	json_msg_free(&m);
	json_decref(obj);
	return err;
}

/* --json: a message a line, in the schema shmq sub --json writes. */
static int pub_json(struct pub_run *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	while (!err && !pub_done(r) && (len = getline(&line, &cap, stdin)) >= 0) {
		r->line++;
		err = pub_json_line(r, line, (size_t)len);
	}
	if (!err && ferror(stdin))
		err = PUB_READ;
	free(line);
	return err;
}

/* Arguments in turn: once through, or until --count. */
static int pub_args(struct pub_run *r, char **msgs, int n)
{
	int err = 0;

	for (int i = 0; !err && !pub_done(r); i = (i + 1) % n) {
		err = pub_one(r, msgs[i], strlen(msgs[i]));
		if (!r->o->count && i == n - 1)
			break;
	}
	return err;
}

/* Lines (the newline dropped) or NUL-terminated records (the NUL dropped). */
static int pub_delimited(struct pub_run *r, int delim)
{
	char *rec = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	while (!err && !pub_done(r) && (len = getdelim(&rec, &cap, delim, stdin)) >= 0) {
		if (len && rec[len - 1] == delim)
			len--;
		err = pub_one(r, rec, (size_t)len);
	}
	if (!err && ferror(stdin))
		err = PUB_READ;
	free(rec);
	return err;
}

/* Read exactly len bytes: 0, PUB_EOF if none were left, PUB_TRUNCATED after some, PUB_READ. */
static int read_exact(void *buf, size_t len)
{
	size_t got = fread(buf, 1, len, stdin);

	if (got == len)
		return 0;
	if (ferror(stdin))
		return PUB_READ;
	return got ? PUB_TRUNCATED : PUB_EOF;
}

/* Frames: a 4-byte big-endian length, then the payload (see format.c). */
static int pub_frames(struct pub_run *r)
{
	unsigned char hdr[FRAME_HDR_BYTES];
	char *buf = malloc(shmq_pub_max_message(r->p) + 1u);
	uint32_t len;
	int err = buf ? 0 : -SHMQ_ENOMEM;

	while (!err && !pub_done(r)) {
		err = read_exact(hdr, sizeof(hdr));
		if (err == PUB_EOF) {
			err = 0;
			break;
		}
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		      hdr[3];
		if (!err && len > shmq_pub_max_message(r->p))
			err = pub_one(r, NULL, len); /* refused before reading: it says the limit */
		if (!err)
			err = read_exact(buf, len);
		if (err == PUB_EOF)
			err = PUB_TRUNCATED;
		if (!err)
			err = pub_one(r, buf, len);
	}
	free(buf);
	return err;
}

/*
 * The file at path, malloc'd, into *data and *len: all of it, or the first
 * limit + 1 bytes if it is longer (a file that never ends, /dev/zero, is
 * refused as too big). 0, PUB_READ or -SHMQ_ENOMEM.
 */
static int file_read(const char *path, size_t limit, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, n = 0, got = 1;
	char *buf = NULL, *bigger;
	int err = f ? 0 : PUB_READ;

	while (!err && got && n <= limit) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			bigger = realloc(buf, cap);
			if (!bigger) {
				err = -SHMQ_ENOMEM;
				break;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n < limit + 1 - n ? cap - n : limit + 1 - n, f);
		n += got;
		if (!got && ferror(f))
			err = PUB_READ;
	}
	if (f)
		fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*data = buf;
	*len = n;
	return 0;
}

/* Each file is one message, read first; in turn, once through or until --count. */
static int pub_files(struct pub_run *r)
{
	const struct opts *o = r->o;
	char *data[PUB_FILES_MAX] = {0};
	size_t len[PUB_FILES_MAX];
	unsigned i;
	int err = 0;

	for (i = 0; i < o->nfiles && !err; i++)
		if ((err = file_read(o->files[i], shmq_pub_max_message(r->p), &data[i], &len[i])))
			r->path = o->files[i];
	for (i = 0; !err && !pub_done(r); i = (i + 1) % o->nfiles) {
		err = pub_one(r, data[i], len[i]);
		if (!o->count && i == o->nfiles - 1)
			break;
	}
	for (i = 0; i < o->nfiles; i++)
		free(data[i]);
	return err;
}

static int pub_input(struct pub_run *r, char **msgs, int nmsgs)
{
	if (nmsgs)
		return pub_args(r, msgs, nmsgs);
	if (r->o->json)
		return pub_json(r);
	switch (r->o->in) {
	case IN_FILES:
		return pub_files(r);
	case IN_NUL:
		return pub_delimited(r, 0);
	case IN_LENGTH:
		return pub_frames(r);
	default:
		return pub_delimited(r, '\n');
	}
}

/* Open without creating; with --create, create a missing channel. 0 or an exit code. */
static int pub_open(struct shmq_client *c, const char *name, struct pub_run *r)
{
	struct shmq_pub_opts po = {.channel = r->o->chan};
	int err = shmq_pub_open(c, name, &po, &r->p);

	if (err == -SHMQ_ENOENT && r->o->create) {
		po.create = 1;
		err = shmq_pub_open(c, name, &po, &r->p);
	}
	if (err == -SHMQ_ENOENT) {
		fprintf(stderr,
			"shmq: pub %s: no such channel (SHMQ_ENOENT); create it with "
			"\"shmq create\" or pass --create\n",
			name);
		return CLI_FAILED;
	}
	return err ? cli_fail("pub", name, err, r->o) : 0;
}

/*
 * --json takes its messages and their fields from stdin only: 0, or
 * CLI_USAGE. -0, -L and --file with it are refused earlier, as options
 * that conflict (opt_group() in shmq.c).
 */
static int json_conflicts(const struct opts *o, int nmsgs)
{
	const char *with = nmsgs	   ? "MESSAGE arguments"
			   : o->msg.fields ? "header options (each line carries its own)"
					   : NULL;

	if (!o->json || !with)
		return 0;
	fprintf(stderr, "shmq: pub --json reads JSON lines from stdin: it does not go with %s\n",
		with);
	return CLI_USAGE;
}

/* How far --json got when it stopped: the line, and what went out before it. */
static int json_stopped(const char *name, int err, const struct pub_run *r)
{
	if (err == PUB_BAD_LINE)
		fprintf(stderr, "shmq: pub %s: line %" PRIu64 ": %s\n", name, r->line, r->why);
	fprintf(stderr,
		"shmq: pub %s: stopped at line %" PRIu64 " of the input; %" PRIu64
		" message(s) published before it, none after\n",
		name, r->line, r->sent);
	return CLI_FAILED;
}

int cmd_pub(struct shmq_client *c, const char *name, char **msgs, int nmsgs, const struct opts *o)
{
	struct pub_run r = {.o = o, .mo = o->msg};
	int rc = json_conflicts(o, nmsgs), err;

	if (!rc)
		rc = cli_check_settings(c, "pub", name, o);
	if (!rc)
		rc = pub_open(c, name, &r);
	if (rc)
		return rc;
	r.mo.headers = o->headers;
	r.start_ns = mono_ns();
	err = pub_input(&r, msgs, nmsgs);
	r.read_errno = errno;
	if (o->confirm && r.sent && !err) { /* all durable, or why not (SHMQ_EIO: exit 1) */
		int cerr = shmq_wait_durable(r.p, r.last_off, -1);

		if (cerr) {
			shmq_pub_close(r.p);
			return cli_fail("pub --confirm", name, cerr, o);
		}
	}
	shmq_pub_close(r.p);
	if (err && o->json && err < 0)
		cli_fail("pub", name, err, o);
	if (err == PUB_READ)
		fprintf(stderr, "shmq: pub %s: reading %s: %s\n", name, r.path ? r.path : "stdin",
			strerror(r.read_errno));
	if (err && o->json)
		return json_stopped(name, err, &r);
	if (err == PUB_TRUNCATED) {
		fprintf(stderr, "shmq: pub %s: the input ends inside a length-prefixed frame\n",
			name);
		return CLI_FAILED;
	}
	if (err == PUB_READ)
		return CLI_FAILED;
	return err ? cli_fail("pub", name, err, o) : CLI_OK;
}
