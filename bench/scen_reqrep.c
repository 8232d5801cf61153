/*
 * scen_reqrep.c - request/reply through the public API (shmq.h) against the
 * runner's own shmqd: the parent is a requester of channel "rq"
 * (shmq_request_send(), then shmq_reply_recv(): a reply matched by its
 * corr_id) and the child a responder that spins on it (SHMQ_WAIT_SPIN)
 * and answers with shmq_reply() into the parent's inbox, whose reader
 * spins then sleeps (the default). One row of the ping-pong group: half a
 * round trip, as every row there, so that it compares with shmq-spin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"
#include "shmq.h"

struct rr {
	struct proc_sync *sync;
	const struct bench_cfg *cfg;
	struct bench_out *out;
	char chan[64];
	struct shmq_client *c;
	struct shmq_requester *req;
	struct shmq_sub *sub;
	struct shmq_msg last; /* the request being answered (responder) */
	void *buf;
	int err;
};

static int rr_fail(struct rr *q, int err)
{
	q->err = err;
	return -EIO;
}

static int rr_copy(const struct shmq_msg *m, void *buf, uint32_t len)
{
	if (m->len != len || m->lost)
		return -EBADMSG;
	memcpy(buf, m->data, len);
	return 0;
}

static int rr_request(void *t, void *buf, uint32_t len)
{
	struct rr *q = t;
	uint64_t id;
	int err = shmq_request_send(q->req, buf, len, NULL, &id);

	return err ? rr_fail(q, err) : 0;
}

static int rr_reply_recv(void *t, void *buf, uint32_t len)
{
	struct rr *q = t;
	struct shmq_msg m;
	int err = shmq_reply_recv(q->req, &m, -1);

	return err ? rr_fail(q, err) : rr_copy(&m, buf, len);
}

static int rr_serve_recv(void *t, void *buf, uint32_t len)
{
	struct rr *q = t;
	int err = shmq_recv(q->sub, &q->last, -1);

	return err ? rr_fail(q, err) : rr_copy(&q->last, buf, len);
}

static int rr_reply(void *t, void *buf, uint32_t len)
{
	struct rr *q = t;
	int err = shmq_reply(q->c, &q->last, buf, len, NULL);

	return err ? rr_fail(q, err) : 0;
}

static int rr_child(void *arg, unsigned idx)
{
	struct rr *q = arg;
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST, .wait = SHMQ_WAIT_SPIN};
	int err;

	(void)idx;
	err = shmq_connect(q->cfg->socket_path, &q->c);
	if (!err)
		err = shmq_sub_open(q->c, q->chan, &so, &q->sub);
	if (!err) {
		proc_child_ready(q->sync);
		err = pp_server(q, q->cfg, q->buf, rr_serve_recv, rr_reply);
	} else {
		err = rr_fail(q, err);
	}
	if (err && q->err)
		fprintf(stderr, "shmq-bench: responder: %s\n", shmq_strerror(q->err));
	shmq_sub_close(q->sub);
	shmq_disconnect(q->c);
	return err;
}

static int rr_parent(void *arg)
{
	struct rr *q = arg;
	struct shmq_client *c;
	int err = shmq_connect(q->cfg->socket_path, &c);

	if (!err)
		err = shmq_requester_open(c, q->chan, NULL, &q->req);
	if (err)
		return rr_fail(q, err);
	proc_parent_go(q->sync, 1);
	err = pp_client(q, q->cfg, q->out->lat, q->buf, rr_request, rr_reply_recv);
	shmq_requester_close(q->req);
	shmq_disconnect(c);
	return err;
}

int scen_shmq_reqrep(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct shmq_channel_opts o = {.max_message_bytes =
					  cfg->size_bytes < 64 ? 64 : cfg->size_bytes};
	struct rr q = {.cfg = cfg, .out = out};
	int err;

	if (!cfg->socket_path)
		return bench_fail(out->reason, BENCH_SKIP, "no shmqd");
	q.sync = shm_anon(round_up64(sizeof(*q.sync)));
	q.buf = calloc(1, cfg->size_bytes ? cfg->size_bytes : 1);
	snprintf(q.chan, sizeof(q.chan), "bench.rr.%u", (unsigned)getpid());
	err = q.sync && q.buf ? shmq_connect(cfg->socket_path, &q.c) : -SHMQ_ENOMEM;
	if (!err)
		err = shmq_channel_create(q.c, q.chan, &o);
	if (!err)
		err = proc_run(cfg, 1, rr_child, rr_parent, &q, out->reason);
	else
		err = bench_fail(out->reason, -EIO, "setup: %s", shmq_strerror(err));
	if (err && q.err && !out->reason[0])
		bench_fail(out->reason, err, "request/reply: %s", shmq_strerror(q.err));
	if (q.c) {
		shmq_channel_delete(q.c, q.chan);
		shmq_disconnect(q.c);
	}
	free(q.buf);
	if (q.sync)
		shm_anon_free(q.sync, round_up64(sizeof(*q.sync)));
	return err;
}
