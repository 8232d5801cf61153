/*
 * sub.c - shmq sub: open a subscriber in the wait mode of --wait (waiting
 * for the channel with --wait-channel; at the last messages with --last),
 * print each message as a verified copy, and stop at --count,
 * at --timeout (CLI_TIMEOUT), at the tail (-e), on SIGINT or SIGTERM, or
 * when the reader of the output goes away. Output goes out per message on
 * a terminal and otherwise whenever no further message is ready, so
 * nothing received is ever left in the buffer for long. Waits are cut
 * into slices of SLICE_NS to notice signals and a closed output. A name
 * with `*` or `>` is a subject pattern: every matching channel, now and
 * later, each message printed with its channel (%n, "channel" in --json).
 * --key, --key-prefix, -H NAME=VALUE and --content-type become the
 * subscriber's filter: messages without them are passed over in the ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"

#define SLICE_NS 100000000    /* 100 ms */
#define WAIT_POLL_NS 20000000 /* --wait-channel: look for the channel every 20 ms */

/* Why the loop stopped without an error (positive, beside -SHMQ_E… codes). */
enum sub_end {
	SUB_CAUGHT_UP = 1, /* -e: no further message ready */
	SUB_STOPPED = 2,   /* a signal, or nobody reads the output any more */
	SUB_TIMEOUT = 3,   /* --timeout ran out */
	SUB_WRITE = 4,	   /* writing the output failed (errno) */
};

struct sub_run {
	struct shmq_sub *s;
	const struct opts *o;
	struct out out;
	char *buf; /* the copy: header fields first (8-aligned), then the payload */
	size_t cap;
	uint64_t lost_pending; /* torn copies not yet reported */
	uint64_t deadline_ns;  /* 0: none */
	uint64_t looked_ns;    /* when say_outage() last looked */
	bool tty;	       /* stdout is a terminal: flush each message */
	bool away;	       /* we said the daemon went away */
	struct shmq_client *c;
	const char *name;
	bool pattern; /* name is a subject pattern */
};

volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/*
 * SIGINT and SIGTERM end the loop at the next slice; SA_RESTART lets a
 * write in progress finish, so that what was received still goes out. A
 * closed pipe is an EPIPE, not a death.
 */
void signals_install(void)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True when stdout is a pipe or terminal whose other end has gone. */
static bool output_closed(void)
{
	struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* Flush stdout: 0, SUB_STOPPED when its reader is gone, SUB_WRITE on another error. */
static int output_flush(FILE *f)
{
	if (fflush(f) == 0)
		return 0;
	return errno == EPIPE ? SUB_STOPPED : SUB_WRITE;
}

/* Time left before the deadline, at most SLICE_NS; 0 once it has passed. */
static int64_t slice_left(const struct sub_run *r)
{
	uint64_t now;

	if (!r->deadline_ns)
		return SLICE_NS;
	now = now_ns();
	if (now >= r->deadline_ns)
		return 0;
	return r->deadline_ns - now < SLICE_NS ? (int64_t)(r->deadline_ns - now) : SLICE_NS;
}

/*
 * A daemon that goes away and comes back is an outage to ride out: the
 * messages keep coming meanwhile; say so on stderr, once each way. Looked
 * at every SLICE_NS, whether messages flow or not (the library reconnects
 * whenever the reader runs dry, at 200 messages a second too). The
 * library ends the subscription (-SHMQ_ECLOSED) if the daemon stays away
 * for 30 s, or comes back without the channel.
 */
static void say_outage(struct sub_run *r)
{
	struct timespec ts;
	uint64_t now;
	bool away;

	/* the coarse clock (a few ms fine) costs a few ns a message, not tens */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

	if (now - r->looked_ns < SLICE_NS)
		return;
	r->looked_ns = now;
	away = shmq_client_connected(r->c) == 0;
	if (away == r->away)
		return;
	r->away = away;
	if (away)
		fprintf(stderr,
			"shmq: sub %s: shmqd went away; still receiving, waiting up to 30 s "
			"for it to come back\n",
			r->name);
	else
		fprintf(stderr, "shmq: sub %s: shmqd is back\n", r->name);
}

/* The next message as a view, waiting in slices; or a sub_end, or an error. */
static int sub_wait(struct sub_run *r, struct shmq_msg *m)
{
	int64_t left;
	int err = shmq_recv(r->s, m, 0);

	if (err != -SHMQ_EAGAIN)
		return err;
	err = output_flush(r->out.f);
	if (err)
		return err;
	if (r->o->exit_at_end)
		return SUB_CAUGHT_UP;
	do {
		if (stop_signal || output_closed())
			return SUB_STOPPED;
		left = slice_left(r);
		if (!left)
			return SUB_TIMEOUT;
		err = shmq_recv(r->s, m, left);
		if (err == -SHMQ_ETIMEDOUT)
			say_outage(r);
	} while (err == -SHMQ_ETIMEDOUT);
	return err;
}

/*
 * Copy the view m and its header fields into r->buf, then check that the
 * record was not overwritten meanwhile (drop channels); a torn copy counts
 * as lost and is reported with the next message. 0 or -SHMQ_EOVERRUN.
 */
static int sub_copy(struct sub_run *r, struct shmq_msg *m)
{
	size_t need = (size_t)m->ext_bytes + m->len + 1; /* + 1: a buffer even for an empty one */

	if (need > r->cap) {
		char *bigger = realloc(r->buf, need);

		if (!bigger)
			return -SHMQ_ENOMEM;
		r->buf = bigger;
		r->cap = need;
	}
	if (m->ext_bytes)
		memcpy(r->buf, m->ext, m->ext_bytes);
	memcpy(r->buf + m->ext_bytes, m->data, m->len);
	if (shmq_msg_verify(r->s, m)) {
		r->lost_pending += m->lost + 1;
		return -SHMQ_EOVERRUN;
	}
	m->ext = m->ext_bytes ? r->buf : NULL;
	m->data = r->buf + m->ext_bytes;
	m->lost += r->lost_pending;
	r->lost_pending = 0;
	return 0;
}

/* The channel of m, for %n and --json. */
static void msg_channel(struct sub_run *r, const struct shmq_msg *m)
{
	struct shmq_sub_channel ch;

	r->out.channel = r->name;
	if (r->pattern && !shmq_sub_channel(r->s, m->channel, &ch))
		r->out.channel = ch.name;
}

/* Receive and print until a sub_end or an error. */
static int sub_loop(struct sub_run *r)
{
	struct shmq_msg m;
	uint64_t got = 0;
	int err = 0;

	while (!err && (!r->o->count || got < r->o->count)) {
		if (stop_signal)
			return SUB_STOPPED;
		err = sub_wait(r, &m);
		if (!err)
			err = sub_copy(r, &m);
		if (err == -SHMQ_EOVERRUN) {
			err = 0;
			continue;
		}
		if (err)
			break;
		say_outage(r);
		msg_channel(r, &m);
		if (m.lost)
			fprintf(stderr,
				"shmq: sub %s: lost %" PRIu64 " message(s) before offset %" PRIu64
				"\n",
				r->out.channel, m.lost, m.offset);
		if (format_message(&r->out, &m))
			return errno == EPIPE ? SUB_STOPPED : SUB_WRITE;
		if (r->tty && (err = output_flush(r->out.f)))
			break;
		got++;
	}
	return err;
}

/* "--from N" beyond the tail: say where the tail is. */
static int fail_from(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_channel_info ci;

	if (shmq_channel_info(c, name, &ci))
		return cli_fail("sub", name, -SHMQ_EINVAL, o);
	fprintf(stderr,
		"shmq: sub %s: --from %s is beyond the tail: the next message gets offset %" PRIu64
		" (SHMQ_EINVAL)\n",
		name, o->from, ci.tail);
	return CLI_FAILED;
}

static int fail_missing(const char *name, bool waited)
{
	if (waited) {
		fprintf(stderr,
			"shmq: sub %s: no such channel appeared before the timeout "
			"(SHMQ_ENOENT)\n",
			name);
		return CLI_TIMEOUT;
	}
	fprintf(stderr,
		"shmq: sub %s: no such channel (SHMQ_ENOENT); create it with "
		"\"shmq create\" or pass --create\n",
		name);
	return CLI_FAILED;
}

/*
 * Open once. --last N starts N messages before the tail as it is now (the
 * library raises an offset below the oldest retained one to that); a
 * channel that --create makes is empty, and starts at its beginning.
 */
static int sub_open_once(struct shmq_client *c, const char *name, struct shmq_sub_opts *so,
			 struct sub_run *r)
{
	struct shmq_channel_info ci;
	int err;

	if (r->pattern)
		return shmq_sub_open_pattern(c, name, so, &r->s);
	if (r->o->from_last && !so->create) {
		err = shmq_channel_info(c, name, &ci);
		if (err)
			return err;
		so->start = SHMQ_START_OFFSET;
		so->offset = ci.tail > r->o->last ? ci.tail - r->o->last : 0;
	}
	err = shmq_sub_open(c, name, so, &r->s);
	if (!err && r->o->expired)
		shmq_sub_deliver_expired(r->s, 1);
	return err;
}

/*
 * Open without creating; a missing channel is created (--create), waited
 * for (--wait, until the deadline or a signal) or an error. 0 or an exit code.
 */
static int sub_open(struct shmq_client *c, const char *name, struct sub_run *r)
{
	const struct opts *o = r->o;
	struct shmq_sub_opts so = {
	    .start = o->start, .wait = o->wait_mode, .offset = o->offset, .channel = o->chan};
	int err = sub_open_once(c, name, &so, r);

	if (err == -SHMQ_ENOENT && o->create) {
		so.create = 1;
		err = sub_open_once(c, name, &so, r);
	}
	while (err == -SHMQ_ENOENT && o->wait && !stop_signal && slice_left(r)) {
		struct timespec nap = {0, WAIT_POLL_NS};

		nanosleep(&nap, NULL);
		err = sub_open_once(c, name, &so, r);
	}
	if (err == -SHMQ_ENOENT)
		return stop_signal ? CLI_OK : fail_missing(name, o->wait);
	if (err == -SHMQ_EINVAL && o->start == SHMQ_START_OFFSET)
		return fail_from(c, name, o);
	return err ? cli_fail("sub", name, err, o) : 0;
}

/* The exit code for how the loop ended. */
static int sub_exit(const char *name, int end, const struct opts *o)
{
	switch (end) {
	case 0:
	case SUB_CAUGHT_UP:
	case SUB_STOPPED:
		return CLI_OK;
	case SUB_TIMEOUT:
		return CLI_TIMEOUT;
	case SUB_WRITE:
		fprintf(stderr, "shmq: sub %s: writing the output: %s\n", name, strerror(errno));
		return CLI_FAILED;
	case -SHMQ_EDELETED:
		fprintf(stderr, "shmq: sub %s: the channel was deleted (SHMQ_EDELETED)\n", name);
		return CLI_FAILED;
	case -SHMQ_ECLOSED:
	case -SHMQ_ENODAEMON:
		fprintf(stderr, "shmq: sub %s: lost the connection to shmqd (%s)\n", name,
			shmq_errname(end));
		return CLI_FAILED;
	default:
		return cli_fail("sub", name, end, o);
	}
}

/* --key, --key-prefix, -H NAME=VALUE, --content-type: the filter's terms (all must hold). */
static int sub_filter(struct sub_run *r)
{
	const struct opts *o = r->o;
	struct shmq_filter_term t[SHMQ_FILTER_MAX_TERMS];
	struct shmq_filter f = {t, 0, SHMQ_FILTER_ALL};
	char names[SHMQ_FILTER_MAX_TERMS][256]; /* -H NAME=VALUE: NAME, terminated */

	if (o->msg.fields & SHMQ_F_KEY)
		t[f.nterms++] = (struct shmq_filter_term){
		    .kind = SHMQ_FILTER_KEY_EQ, .value = o->msg.key, .value_len = o->msg.key_len};
	if (o->key_prefix)
		t[f.nterms++] =
		    (struct shmq_filter_term){.kind = SHMQ_FILTER_KEY_PREFIX,
					      .value = o->key_prefix,
					      .value_len = (uint32_t)strlen(o->key_prefix)};
	if (o->msg.fields & SHMQ_F_CONTENT_TYPE)
		t[f.nterms++] =
		    (struct shmq_filter_term){.kind = SHMQ_FILTER_CONTENT_TYPE,
					      .value = o->msg.content_type,
					      .value_len = (uint32_t)strlen(o->msg.content_type)};
	for (uint32_t i = 0; i < o->msg.nheaders && f.nterms < SHMQ_FILTER_MAX_TERMS; i++) {
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)o->headers[i].name_len,
			 o->headers[i].name);
		t[f.nterms++] = (struct shmq_filter_term){.kind = SHMQ_FILTER_HEADER_EQ,
							  .name = names[i],
							  .value = o->headers[i].value,
							  .value_len = o->headers[i].value_len};
	}
	return f.nterms ? shmq_sub_set_filter(r->s, &f) : 0;
}

int cmd_sub(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct sub_run r = {.o = o, .c = c, .name = name, .pattern = strpbrk(name, "*>") != NULL};
	int rc, end, flushed, err;

	if (r.pattern && (o->create || o->from_last || o->wait || o->group)) {
		fprintf(stderr,
			"shmq: sub %s: --create, --last, --wait-channel and --group take a "
			"channel name, not a pattern\n",
			name);
		return CLI_USAGE;
	}
	if (o->group && (o->key_prefix || o->msg.nheaders ||
			 (o->msg.fields & (SHMQ_F_KEY | SHMQ_F_CONTENT_TYPE)))) {
		fprintf(stderr,
			"shmq: sub %s: --group takes no filter (--key, --key-prefix, --header, "
			"--content-type): a member is given every message of its group\n",
			name);
		return CLI_USAGE;
	}
	if (o->group)
		return cmd_sub_group(c, name, o);
	signals_install();
	if (o->timeout_s >= 0)
		r.deadline_ns = now_ns() + (uint64_t)(o->timeout_s * 1e9) + 1;
	rc = r.pattern ? 0 : cli_check_settings(c, "sub", name, o);
	if (!rc)
		rc = sub_open(c, name, &r);
	if (rc || !r.s)
		return rc;
	err = sub_filter(&r);
	if (err) {
		shmq_sub_close(r.s);
		return cli_fail("sub", name, err, o);
	}
	r.tty = isatty(STDOUT_FILENO);
	r.out = (struct out){.f = stdout,
			     .mode = o->out,
			     .format = o->format,
			     .escape = r.tty && (o->out == OUT_PLAIN || o->out == OUT_FORMAT),
			     .json_channel = r.pattern};
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	end = sub_loop(&r);
	flushed = output_flush(stdout); /* also after a signal: what was received goes out */
	if (flushed && (end == 0 || end == SUB_CAUGHT_UP || end == SUB_TIMEOUT))
		end = flushed;
	rc = sub_exit(name, end, o); /* before the close: SUB_WRITE reads errno */
	shmq_sub_close(r.s);
	free(r.buf);
	return rc;
}
