/*
 * scen_group.c - consumer-group throughput (shmq.h "consumer groups"):
 * a child publishes into a block-policy channel as the stream scenarios'
 * producer does; the parent takes the messages as one member of a group
 * (shmq_group_recv, copy out, shmq_ack each; or shmq_group_poll batches
 * of 256 acked with one shmq_ackv), or as two members, the
 * second a thread of the parent with its own connection. The rate is
 * messages acked per second by all members together, to compare with the
 * stream rows of the same run. Each member checks that the sequence
 * numbers it takes only grow (with one member: that they are 0, 1, 2...).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"
#include "shmq.h"

#define GR_WAIT_NS 10000000 /* a member's wait slice: it looks at the shared count */

#define GR_BATCH 256 /* shmq_group_poll batches, acked with one shmq_ackv */

struct gr {
	struct proc_sync *sync;
	const struct bench_cfg *cfg;
	struct bench_out *out;
	char chan[64];
	unsigned members;
	int poll; /* take with shmq_group_poll and ack each batch with shmq_ackv */
	int err;  /* the last shmq error, for the reason */
	/* the parent's members, shared by its threads */
	_Atomic uint64_t taken;
	uint64_t t0;
};

struct gr_member {
	struct gr *g;
	struct shmq_client *c;
	struct shmq_member *m;
	void *buf;
	int err;
	pthread_t th;
	uint64_t next;		 /* poll: the sequence number expected next */
	uint64_t acks[GR_BATCH]; /* poll: the batch's offsets */
	unsigned nacks;
};

static int gr_fail(struct gr *g, int err)
{
	g->err = err;
	return -EIO;
}

/* The producer: publish warmup + iters messages stamped 0, 1, 2, ... */
static int gr_child(void *arg, unsigned idx)
{
	struct gr *g = arg;
	uint64_t n = g->cfg->warmup + g->cfg->iters;
	struct shmq_client *c = NULL;
	struct shmq_pub *p = NULL;
	void *buf = calloc(1, g->cfg->size_bytes < 8 ? 8 : g->cfg->size_bytes);
	int err = buf ? shmq_connect(g->cfg->socket_path, &c) : -SHMQ_ENOMEM;

	(void)idx;
	if (!err)
		err = shmq_pub_open(c, g->chan, NULL, &p);
	if (!err)
		proc_child_ready(g->sync);
	for (uint64_t i = 0; !err && i < n; i++) {
		drive_stamp(buf, i);
		err = shmq_publish(p, buf, g->cfg->size_bytes, -1, NULL);
	}
	if (err)
		fprintf(stderr, "shmq-bench: group producer: %s\n", shmq_strerror(err));
	shmq_pub_close(p);
	shmq_disconnect(c);
	free(buf);
	return err ? -EIO : 0;
}

static int gr_join(struct gr *g, struct gr_member *mb)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_LATEST};
	int err = shmq_connect(g->cfg->socket_path, &mb->c);

	mb->g = g;
	mb->buf = calloc(1, g->cfg->size_bytes < 8 ? 8 : g->cfg->size_bytes);
	if (!err)
		err = mb->buf ? shmq_group_open(mb->c, g->chan, "bench", &o, &mb->m) : -SHMQ_ENOMEM;
	return err ? gr_fail(g, err) : 0;
}

static void gr_leave(struct gr_member *mb)
{
	shmq_group_close(mb->m);
	shmq_disconnect(mb->c);
	free(mb->buf);
}

/* Count one message taken; the first past the warm-up starts the clock. */
static void gr_taken(struct gr *g)
{
	if (atomic_fetch_add_explicit(&g->taken, 1, memory_order_relaxed) + 1 == g->cfg->warmup)
		g->t0 = now_ns();
}

/* shmq_group_poll() callback: copy out, check the sequence, keep the offset to ack. */
static int gr_poll_cb(void *arg, const struct shmq_msg *m)
{
	struct gr_member *mb = arg;
	uint64_t seq;

	if (m->len != mb->g->cfg->size_bytes || m->lost || m->deliveries != 1) {
		mb->err = -EBADMSG;
		return 1;
	}
	memcpy(mb->buf, m->data, m->len);
	memcpy(&seq, mb->buf, sizeof(seq));
	if (seq < mb->next || (mb->g->members == 1 && seq != mb->next))
		mb->err = -EBADMSG;
	mb->next = seq + 1;
	mb->acks[mb->nacks++] = m->offset;
	gr_taken(mb->g);
	return mb->err != 0;
}

/* Take batches with shmq_group_poll, ack each with one shmq_ackv. */
static void *gr_member_poll(void *arg)
{
	struct gr_member *mb = arg;
	struct gr *g = mb->g;
	uint64_t n = g->cfg->warmup + g->cfg->iters;

	while (!mb->err && atomic_load_explicit(&g->taken, memory_order_relaxed) < n) {
		int got = shmq_group_poll(mb->m, gr_poll_cb, mb, GR_BATCH, GR_WAIT_NS);

		if (got < 0 && got != -SHMQ_ETIMEDOUT)
			mb->err = gr_fail(g, got);
		if (mb->nacks)
			shmq_ackv(mb->m, mb->acks, mb->nacks);
		mb->nacks = 0;
	}
	return NULL;
}

/* Take, copy out, check, ack each, until all messages are taken. */
static void *gr_member_run(void *arg)
{
	struct gr_member *mb = arg;
	struct gr *g = mb->g;
	uint64_t n = g->cfg->warmup + g->cfg->iters, next = 0, seq;
	struct shmq_msg m;

	while (atomic_load_explicit(&g->taken, memory_order_relaxed) < n) {
		int err = shmq_group_recv(mb->m, &m, GR_WAIT_NS);

		if (err == -SHMQ_ETIMEDOUT)
			continue;
		if (!err && (m.len != g->cfg->size_bytes || m.lost || m.deliveries != 1))
			err = -SHMQ_ECORRUPT;
		if (err) {
			mb->err = gr_fail(g, err);
			break;
		}
		memcpy(mb->buf, m.data, m.len);
		memcpy(&seq, mb->buf, sizeof(seq));
		if (seq < next || (g->members == 1 && seq != next)) {
			mb->err = -EBADMSG;
			break;
		}
		next = seq + 1;
		shmq_ack(mb->m, m.offset);
		gr_taken(g);
	}
	return NULL;
}

static int gr_parent(void *arg)
{
	struct gr *g = arg;
	struct gr_member mb[2] = {{0}};
	unsigned k;
	int err = 0;

	for (k = 0; k < g->members && !err; k++)
		err = gr_join(g, &mb[k]);
	if (!err) {
		void *(*run)(void *) = g->poll ? gr_member_poll : gr_member_run;

		proc_parent_go(g->sync, 1);
		for (k = 1; k < g->members; k++)
			pthread_create(&mb[k].th, NULL, run, &mb[k]);
		run(&mb[0]);
		for (k = 1; k < g->members; k++)
			pthread_join(mb[k].th, NULL);
		for (k = 0; k < g->members && !err; k++)
			err = mb[k].err;
	}
	if (!err)
		g->out->msgs_per_s = (double)g->cfg->iters * 1e9 / (double)(now_ns() - g->t0);
	for (k = 0; k < g->members; k++)
		gr_leave(&mb[k]);
	return err;
}

static int gr_run(const struct bench_cfg *cfg, struct bench_out *out, unsigned members, int poll)
{
	static unsigned run;
	struct shmq_channel_opts o = {.policy = SHMQ_POLICY_BLOCK};
	struct shmq_client *c = NULL;
	struct gr *g;
	int err;

	if (!cfg->socket_path)
		return bench_fail(out->reason, BENCH_SKIP, "no shmqd");
	g = shm_anon(round_up64(sizeof(*g)) + round_up64(sizeof(*g->sync)));
	if (!g)
		return bench_fail(out->reason, -ENOMEM, "out of memory");
	*g = (struct gr){.cfg = cfg, .out = out, .members = members, .poll = poll};
	g->sync = (struct proc_sync *)((char *)g + round_up64(sizeof(*g)));
	snprintf(g->chan, sizeof(g->chan), "bench.gr.%u.%u", (unsigned)getpid(), ++run);
	o.max_message_bytes = cfg->size_bytes < 64 ? 64 : cfg->size_bytes;
	err = shmq_connect(cfg->socket_path, &c);
	if (!err)
		err = shmq_channel_create(c, g->chan, &o);
	if (err)
		err = bench_fail(out->reason, -EIO, "create channel: %s", shmq_strerror(err));
	else
		err = proc_run(cfg, 1, gr_child, gr_parent, g, out->reason);
	if (err && g->err && !out->reason[0])
		bench_fail(out->reason, err, "group: %s", shmq_strerror(g->err));
	else if (err && !out->reason[0])
		bench_fail(out->reason, err, "group: %s", strerror(-err));
	if (c)
		shmq_channel_delete(c, g->chan);
	shmq_disconnect(c);
	shm_anon_free(g, round_up64(sizeof(*g)) + round_up64(sizeof(*g->sync)));
	return err;
}

int scen_shmq_group_1(const struct bench_cfg *cfg, struct bench_out *out)
{
	return gr_run(cfg, out, 1, 0);
}

int scen_shmq_group_2(const struct bench_cfg *cfg, struct bench_out *out)
{
	return gr_run(cfg, out, 2, 0);
}

int scen_shmq_group_poll_1(const struct bench_cfg *cfg, struct bench_out *out)
{
	return gr_run(cfg, out, 1, 1);
}

int scen_shmq_group_poll_2(const struct bench_cfg *cfg, struct bench_out *out)
{
	return gr_run(cfg, out, 2, 1);
}
