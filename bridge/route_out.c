/*
 * route_out.c - one channel to one NATS subject, at least once. The thread
 * reads a batch of up to b->batch messages into copies of its own,
 * publishes them to JetStream asynchronously and waits for every ack;
 * only then does it record the offset past the batch (state.c). A batch
 * that is not wholly acked (an error, a timeout, a lost connection) is
 * sent again whole after a backoff: each message carries the same
 * Nats-Msg-Id every time, so JetStream drops the copies it already
 * stored (counted in duplicates) as long as its duplicate window covers
 * them. A restarted bridge resumes at the recorded offset, so it sends at
 * most the batch in flight at the crash again. It stops at SIGTERM or
 * SIGINT between batches, or, with the batch unacked, without recording
 * it; it fails when its channel goes away (-SHMQ_ECLOSED).
 */
#include "bridge.h"
#include "natshdr.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIRST_WAIT_NS 200000000 /* look at the stop flag this often while idle */
#define ACK_WAIT_MS 10000	/* a message not acked by then is sent again */

/* A message of the batch: its bytes lie in out.data. */
struct rec {
	uint64_t offset;
	size_t data_off;
	size_t hdr_off;
	uint32_t len;
	uint32_t npairs;
};

struct out {
	struct bridge *b;
	struct route *r;
	struct shmq_sub *sub;
	jsCtx *js;
	struct buf data;
	struct rec *recs;
	unsigned n;
	_Atomic unsigned acked;	 /* acks of the batch: set by the ack handler */
	_Atomic unsigned failed; /* errors of the batch: set by the ack handler */
};

/* libnats' thread: one ack or error per message sent. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct out *o = closure;

	(void)js;
	/* relaxed: out_send() reads them after js_PublishAsyncComplete(), which
	 * returns only once this callback has run for each message */
	if (pa) {
		atomic_fetch_add_explicit(&o->acked, 1, memory_order_relaxed);
		if (pa->Duplicate)
			atomic_fetch_add_explicit(&o->r->st.duplicates, 1, memory_order_relaxed);
	} else {
		if (atomic_fetch_add_explicit(&o->failed, 1, memory_order_relaxed) == 0 && pae)
			blog("warn", "out", "subject=%s publish failed: %s", o->r->subject,
			     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
	}
	natsMsg_Destroy(msg);
}

static uint64_t sub_start(struct out *o, struct shmq_sub_opts *so)
{
	uint64_t next = 0;
	int rc = state_load(o->b->state_dir, o->r->channel, &next);

	if (rc < 0)
		return UINT64_MAX;
	if (rc == 0) {
		so->start = SHMQ_START_OFFSET;
		so->offset = next;
	} else {
		so->start = strcmp(o->b->start, "latest") ? SHMQ_START_EARLIEST : SHMQ_START_LATEST;
	}
	return next;
}

/* Open the subscriber where the state file says; note what was lost meanwhile. */
static int out_open(struct out *o)
{
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	uint64_t next = sub_start(o, &so), pos;
	int err;

	if (next == UINT64_MAX)
		return -SHMQ_EINVAL;
	err = shmq_sub_open(o->b->client, o->r->channel, &so, &o->sub);
	if (err == -SHMQ_EINVAL && so.start == SHMQ_START_OFFSET) {
		blog("warn", "out",
		     "channel=%s recorded offset %" PRIu64
		     " is past the channel's tail (was it created anew?): from the earliest",
		     o->r->channel, next);
		so.start = SHMQ_START_EARLIEST;
		err = shmq_sub_open(o->b->client, o->r->channel, &so, &o->sub);
	}
	if (err)
		return err;
	pos = shmq_sub_position(o->sub);
	if (so.start == SHMQ_START_OFFSET && pos > next) {
		blog("warn", "out",
		     "channel=%s lost=%" PRIu64 " messages %" PRIu64 "..%" PRIu64
		     " left the ring before the bridge read them",
		     o->r->channel, pos - next, next, pos - 1);
		atomic_fetch_add_explicit(&o->r->st.lost, pos - next, memory_order_relaxed);
	}
	atomic_store_explicit(&o->r->st.next, pos, memory_order_relaxed);
	blog("info", "out", "channel=%s subject=%s from offset %" PRIu64, o->r->channel,
	     o->r->subject, pos);
	return 0;
}

/* Copy msg (payload and headers) into the batch. */
static int out_copy(struct out *o, const struct shmq_msg *m)
{
	struct rec *rec = &o->recs[o->n];
	uint32_t skipped;
	int err;

	*rec = (struct rec){.offset = m->offset, .len = m->len, .data_off = o->data.len};
	err = buf_put(&o->data, m->data, m->len);
	rec->hdr_off = o->data.len;
	err = err ? err : hdr_from_shmq(m, o->r->channel, &o->data, &rec->npairs, &skipped);
	if (err)
		return err;
	if (skipped)
		blog("warn", "out", "channel=%s offset=%" PRIu64 " %u header(s) not text: left out",
		     o->r->channel, m->offset, skipped);
	/* a drop channel's publisher may have lapped us while we copied */
	if (shmq_msg_verify(o->sub, m)) {
		atomic_fetch_add_explicit(&o->r->st.lost, 1, memory_order_relaxed);
		return 0;
	}
	o->n++;
	return 0;
}

static void out_note_lost(struct out *o, uint64_t lost)
{
	blog("warn", "out", "channel=%s lost=%" PRIu64 " (overrun, or a publisher died)",
	     o->r->channel, lost);
	atomic_fetch_add_explicit(&o->r->st.lost, lost, memory_order_relaxed);
}

/* Fill the batch: wait a while for the first message, then take what is ready. */
static int out_fill(struct out *o)
{
	struct shmq_msg m;
	uint64_t lost;
	int err = 0;

	o->n = 0;
	o->data.len = 0;
	while (o->n < o->b->batch && !bridge_stopping()) {
		err = shmq_recv(o->sub, &m, o->n ? 0 : FIRST_WAIT_NS);
		if (err == -SHMQ_ECORRUPT && shmq_sub_skip(o->sub, &lost) == 0) {
			out_note_lost(o, lost);
			continue;
		}
		if (err)
			break;
		if (m.lost)
			out_note_lost(o, m.lost);
		err = out_copy(o, &m);
		if (err)
			break;
	}
	return err == -SHMQ_EAGAIN || err == -SHMQ_ETIMEDOUT ? 0 : err;
}

static natsStatus out_send_one(struct out *o, const struct rec *rec, jsPubOptions *po)
{
	const char *h = o->data.p + rec->hdr_off;
	natsMsg *m = NULL;
	natsStatus s;

	s = natsMsg_Create(&m, o->r->subject, NULL, o->data.p + rec->data_off, (int)rec->len);
	for (uint32_t i = 0; s == NATS_OK && i < rec->npairs; i++) {
		const char *v = h + strlen(h) + 1;

		s = natsMsgHeader_Add(m, h, v);
		h = v + strlen(v) + 1;
	}
	if (s == NATS_OK)
		s = js_PublishMsgAsync(o->js, &m, po);
	natsMsg_Destroy(m); /* NULL once libnats took it */
	return s;
}

/* Give up on whatever of the batch is still unacked (its acks, if late, are dropped). */
static void out_forget_pending(struct out *o)
{
	natsMsgList pending = {0};

	if (js_PublishAsyncGetPendingList(&pending, o->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
}

/* Publish the batch once; true if JetStream acked every message. */
static bool out_send(struct out *o)
{
	jsPubOptions po;
	natsStatus s = NATS_OK;

	jsPubOptions_Init(&po);
	po.MaxWait = ACK_WAIT_MS;
	atomic_store_explicit(&o->acked, 0, memory_order_relaxed);
	atomic_store_explicit(&o->failed, 0, memory_order_relaxed);
	for (unsigned i = 0; i < o->n && s == NATS_OK; i++)
		s = out_send_one(o, &o->recs[i], &po);
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(o->js, &po);
	if (s != NATS_OK) {
		blog("warn", "out", "subject=%s batch not acked: %s", o->r->subject,
		     natsStatus_GetText(s));
		out_forget_pending(o);
		return false;
	}
	return atomic_load_explicit(&o->failed, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&o->acked, memory_order_relaxed) == o->n;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Send until acked, then record the offset past it; 1 when stopped first. */
static int out_deliver(struct out *o)
{
	uint64_t next = o->recs[o->n - 1].offset + 1;
	int attempts = 0;

	while (!out_send(o)) {
		if (bridge_stopping())
			return 1;
		atomic_fetch_add_explicit(&o->r->st.resent, o->n, memory_order_relaxed);
		sleep_ms(backoff_ms(++attempts));
	}
	if (state_store(o->b->state_dir, o->r->channel, next))
		return -SHMQ_ESYS;
	atomic_fetch_add_explicit(&o->r->st.messages, o->n, memory_order_relaxed);
	atomic_store_explicit(&o->r->st.next, next, memory_order_relaxed);
	return 0;
}

static int out_loop(struct out *o)
{
	int err = 0, rc;

	while (!bridge_stopping() && !err) {
		err = out_fill(o);
		if (o->n && (rc = out_deliver(o)) != 0)
			return rc < 0 ? rc : 0;
	}
	return err;
}

void *route_out_run(void *arg)
{
	struct route_arg *a = arg;
	struct out o = {.b = a->b, .r = a->r};
	jsOptions jo;
	natsStatus s;

	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = &o;
	jo.PublishAsync.MaxPending = o.b->batch;
	o.recs = calloc(o.b->batch, sizeof(*o.recs));
	s = o.recs ? natsConnection_JetStream(&o.js, o.b->nc, &jo) : NATS_NO_MEMORY;
	if (s != NATS_OK) {
		blog("error", "out", "subject=%s: no JetStream context: %s", o.r->subject,
		     natsStatus_GetText(s));
		o.r->err = -SHMQ_ENOMEM;
		goto out_free;
	}
	o.r->err = out_open(&o);
	if (!o.r->err)
		o.r->err = out_loop(&o);
	if (o.r->err)
		blog("error", "out", "channel=%s: %s (%s)", o.r->channel, shmq_strerror(o.r->err),
		     shmq_errname(o.r->err));
	shmq_sub_close(o.sub);
	jsCtx_Destroy(o.js);
out_free:
	buf_free(&o.data);
	free(o.recs);
	return NULL;
}
