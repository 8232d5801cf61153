/*
 * pub.c - shmq pub: publish each argument, each file (--file), or what
 * stdin holds: lines (default), NUL-terminated records (-0) or the frames
 * shmq sub --length-prefixed writes. Every message carries the header
 * fields given (--key, --header, --msg-id counting up, --corr-id,
 * --content-type, --reply-to). --count N publishes N (arguments and files
 * are repeated in turn; stdin stops after N), --rate paces them against
 * the monotonic clock. Waits as long as a block channel needs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Why publishing stopped without a SHMQ error (positive). */
enum pub_end {
	PUB_TRUNCATED = 1, /* stdin ended inside a length-prefixed frame */
	PUB_READ = 2,	   /* reading stdin or a file failed (errno) */
	PUB_EOF = 3,	   /* read_exact(): the input ended before the first byte */
};

struct pub_run {
	struct shmq_pub *p;
	const struct opts *o;
	struct shmq_msg_opts mo; /* o->msg; msg_id counts up */
	uint64_t sent;
	uint64_t start_ns;
	const char *path; /* the file that failed to read */
	int read_errno;	  /* why, with PUB_READ */
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

static int pub_one(struct pub_run *r, const void *data, size_t len)
{
	uint32_t max = shmq_pub_max_message(r->p);
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
	err = shmq_publish_opts(r->p, data, (uint32_t)len, r->mo.fields ? &r->mo : NULL, -1, NULL);
	if (err)
		return err;
	r->sent++;
	r->mo.msg_id++;
	return 0;
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

int cmd_pub(struct shmq_client *c, const char *name, char **msgs, int nmsgs, const struct opts *o)
{
	struct pub_run r = {.o = o, .mo = o->msg};
	int rc = cli_check_settings(c, "pub", name, o), err;

	if (!rc)
		rc = pub_open(c, name, &r);
	if (rc)
		return rc;
	r.mo.headers = o->headers;
	r.start_ns = mono_ns();
	err = pub_input(&r, msgs, nmsgs);
	r.read_errno = errno;
	shmq_pub_close(r.p);
	if (err == PUB_TRUNCATED) {
		fprintf(stderr, "shmq: pub %s: the input ends inside a length-prefixed frame\n",
			name);
		return CLI_FAILED;
	}
	if (err == PUB_READ) {
		fprintf(stderr, "shmq: pub %s: reading %s: %s\n", name, r.path ? r.path : "stdin",
			strerror(r.read_errno));
		return CLI_FAILED;
	}
	return err ? cli_fail("pub", name, err, o) : CLI_OK;
}
