/*
 * sub_group.c - shmq sub NAME --group G: join consumer group G of NAME
 * (made if missing, starting where --from says), print each message taken
 * as shmq sub prints it, and ack it once it is written out: the output is
 * flushed before the acks that follow it go out, so a message is acked
 * only after it reached the output (at least once: one printed but not
 * acked when shmq dies is delivered again, to this group's next member).
 * --ack none acks each message as it is taken. Stops at --count, at
 * --timeout (CLI_TIMEOUT), once nothing is ready (-e), on SIGINT or
 * SIGTERM (what was printed is flushed and acked), or on an error.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "format.h"

#define SLICE_NS 100000000 /* 100 ms: look at signals this often */
#define ACKS_MAX 256u	   /* acks held back for one flush of the output */

struct group_run {
	struct shmq_member *m;
	const struct opts *o;
	struct out out;
	uint64_t acks[ACKS_MAX]; /* printed, to ack after the next flush */
	unsigned nacks;
	uint64_t deadline_ns; /* 0: none */
	const char *name;
};

/* Flush the output, then ack what it held; a failed flush acks nothing. */
static int flush_and_ack(struct group_run *r)
{
	int err = fflush(r->out.f) ? -errno : 0;

	if (!err && r->nacks)
		shmq_ackv(r->m, r->acks, r->nacks);
	r->nacks = 0;
	return err;
}

/* The next message, waiting in slices; 1 timed out, 2 stopped, 3 caught up, or an error. */
static int group_wait(struct group_run *r, struct shmq_msg *msg)
{
	int err = shmq_group_recv(r->m, msg, 0);

	if (err != -SHMQ_EAGAIN)
		return err;
	if (flush_and_ack(r))
		return -SHMQ_ESYS;
	if (r->o->exit_at_end)
		return 3;
	do {
		uint64_t now = now_ns(), left = SLICE_NS;

		if (stop_signal)
			return 2;
		if (r->deadline_ns && now >= r->deadline_ns)
			return 1;
		if (r->deadline_ns && r->deadline_ns - now < left)
			left = r->deadline_ns - now;
		err = shmq_group_recv(r->m, msg, (int64_t)left);
	} while (err == -SHMQ_ETIMEDOUT);
	return err;
}

static int group_loop(struct group_run *r)
{
	struct shmq_msg msg;
	uint64_t got = 0;
	int err = 0;

	while (!r->o->count || got < r->o->count) {
		err = stop_signal ? 2 : group_wait(r, &msg);
		if (err)
			break;
		if (format_message(&r->out, &msg)) {
			err = -SHMQ_ESYS; /* not acked: delivered again */
			break;
		}
		if (!r->o->ack_none)
			r->acks[r->nacks++] = msg.offset;
		if (r->nacks == ACKS_MAX && flush_and_ack(r)) {
			err = -SHMQ_ESYS;
			break;
		}
		got++;
	}
	if (flush_and_ack(r) && !err)
		err = -SHMQ_ESYS;
	return err;
}

int cmd_sub_group(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_group_opts go = {.start = o->start,
				     .offset = o->offset,
				     .wait = o->wait_mode,
				     .flags =
					 SHMQ_GROUP_CREATE | (o->ack_none ? SHMQ_GROUP_NOACK : 0)};
	struct group_run r = {.o = o, .name = name};
	int err;

	signals_install();
	if (o->timeout_s >= 0)
		r.deadline_ns = now_ns() + (uint64_t)(o->timeout_s * 1e9) + 1;
	if (o->from_last)
		return fprintf(stderr, "shmq: sub %s: --last does not apply to --group\n", name),
		       CLI_USAGE;
	err = shmq_group_open(c, name, o->group, &go, &r.m);
	if (err)
		return cli_fail("sub", name, err, o);
	r.out = (struct out){.f = stdout, .mode = o->out, .format = o->format};
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	err = group_loop(&r);
	shmq_group_close(r.m);
	switch (err) {
	case 0:
	case 2:
	case 3:
		return CLI_OK;
	case 1:
		return CLI_TIMEOUT;
	case -SHMQ_ESYS:
		fprintf(stderr, "shmq: sub %s: writing the output: %s\n", name, strerror(errno));
		return CLI_FAILED;
	default:
		return cli_fail("sub", name, err, o);
	}
}
