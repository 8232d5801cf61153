/*
 * route_in.c - one NATS subject (a JetStream stream's subjects) to one
 * channel, at least once. A durable pull consumer, named for the subject,
 * keeps the position in JetStream; the thread fetches up to b->batch
 * messages, publishes each to the channel and acks it only after
 * shmq_publish_opts() returned. A bridge killed between the two leaves the
 * message unacked: JetStream delivers it again after the consumer's
 * AckWait, and the channel gets it twice. While a full block channel makes
 * the publish wait, the thread tells JetStream every second that it is in
 * progress, so that it is not redelivered meanwhile. A message the channel
 * cannot take (too big) is terminated and counted, and its header fields are
 * dropped (with a warning) if the channel refuses them. Stops at SIGTERM
 * or SIGINT between messages; fails when its channel goes away.
 */
#include "bridge.h"
#include "natshdr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_WAIT_MS 500	    /* look at the stop flag this often while idle */
#define PUBLISH_SLICE_NS 1000000000 /* tell JetStream "in progress" this often */

struct in {
	struct bridge *b;
	struct route *r;
	struct shmq_pub *pub;
	jsCtx *js;
	natsSubscription *sub;
	struct hdr_in h;
	int attempts; /* fetches failed in a row */
};

/* A durable name from the prefix and the subject: "." "*" ">" are not allowed in one. */
static void durable_name(char *out, size_t len, const char *prefix, const char *subject)
{
	int n = snprintf(out, len, "%s-%s", prefix, subject);

	for (int i = (int)strlen(prefix) + 1; i < n && (size_t)i < len; i++)
		if (out[i] == '.' || out[i] == '*' || out[i] == '>')
			out[i] = '_';
}

static int in_subscribe(struct in *o)
{
	char durable[BRIDGE_SUBJECT_MAX + 64];
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	durable_name(durable, sizeof(durable), o->b->durable_prefix, o->r->subject);
	jsSubOptions_Init(&so);
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.AckWait = (int64_t)o->b->ack_wait_s * 1000000000;
	so.Config.MaxAckPending = (int64_t)o->b->batch * 2;
	s = js_PullSubscribe(&o->sub, o->js, o->r->subject, durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		blog("error", "in", "subject=%s durable=%s: cannot subscribe: %s (%s, code %d)",
		     o->r->subject, durable, natsStatus_GetText(s), nats_GetLastError(NULL),
		     (int)jerr);
		return -SHMQ_ENOENT;
	}
	blog("info", "in", "subject=%s durable=%s channel=%s", o->r->subject, durable,
	     o->r->channel);
	return 0;
}

/* Publish m to the channel, waiting in slices; 0, 1 (stopped), or -SHMQ_E... */
static int in_publish(struct in *o, natsMsg *m, const struct shmq_msg_opts *opts)
{
	const void *data = natsMsg_GetData(m) ? natsMsg_GetData(m) : ""; /* NULL when empty */
	uint32_t len = (uint32_t)natsMsg_GetDataLength(m);
	int err;

	for (;;) {
		err = shmq_publish_opts(o->pub, data, len, opts, PUBLISH_SLICE_NS, NULL);
		if (err != -SHMQ_ETIMEDOUT)
			return err;
		if (bridge_stopping())
			return 1;
		natsMsg_InProgress(m, NULL);
	}
}

/* One message in, then its ack; 0, 1 (stopped: not acked), or -SHMQ_E... */
static int in_one(struct in *o, natsMsg *m)
{
	int err;

	hdr_to_shmq(m, &o->h);
	err = in_publish(o, m, &o->h.o);
	if (err == -SHMQ_EINVAL || (err == -SHMQ_ETOOBIG && o->h.o.fields)) {
		blog("warn", "in",
		     "subject=%s the channel refuses its header fields (%s): "
		     "published without them",
		     natsMsg_GetSubject(m), shmq_errname(err));
		err = in_publish(o, m, NULL);
	}
	if (err == -SHMQ_ETOOBIG) {
		blog("error", "in",
		     "subject=%s a message of %d bytes exceeds channel=%s's largest:"
		     " terminated",
		     natsMsg_GetSubject(m), natsMsg_GetDataLength(m), o->r->channel);
		natsMsg_Term(m, NULL);
		atomic_fetch_add_explicit(&o->r->st.rejected, 1, memory_order_relaxed);
		return 0;
	}
	if (err)
		return err;
	natsMsg_Ack(m, NULL);
	atomic_fetch_add_explicit(&o->r->st.messages, 1, memory_order_relaxed);
	return 0;
}

static void in_note_pending(struct in *o, natsMsg *m)
{
	jsMsgMetaData *meta = NULL;

	if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
		return;
	atomic_store_explicit(&o->r->st.pending, meta->NumPending, memory_order_relaxed);
	jsMsgMetaData_Destroy(meta);
}

static void in_fetch_failed(struct in *o, natsStatus s)
{
	int64_t ms = backoff_ms(++o->attempts);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	if (o->attempts == 1 || o->attempts % 10 == 0)
		blog("warn", "in", "subject=%s fetch failed %d time(s): %s", o->r->subject,
		     o->attempts, natsStatus_GetText(s));
	nanosleep(&ts, NULL);
}

static int in_loop(struct in *o)
{
	natsMsgList list;
	natsStatus s;
	int err = 0;

	while (!bridge_stopping() && err == 0) {
		s = natsSubscription_Fetch(&list, o->sub, (int)o->b->batch, FETCH_WAIT_MS, NULL);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK) {
			in_fetch_failed(o, s);
			continue;
		}
		o->attempts = 0;
		for (int i = 0; i < list.Count && err == 0; i++)
			err = in_one(o, list.Msgs[i]);
		if (list.Count)
			in_note_pending(o, list.Msgs[list.Count - 1]);
		natsMsgList_Destroy(&list);
	}
	return err < 0 ? err : 0;
}

void *route_in_run(void *arg)
{
	struct route_arg *a = arg;
	struct in o = {.b = a->b, .r = a->r};
	natsStatus s = natsConnection_JetStream(&o.js, o.b->nc, NULL);

	if (s != NATS_OK) {
		blog("error", "in", "subject=%s: no JetStream context: %s", o.r->subject,
		     natsStatus_GetText(s));
		o.r->err = -SHMQ_ENOMEM;
		return NULL;
	}
	o.r->err = shmq_pub_open(o.b->client, o.r->channel, NULL, &o.pub);
	if (!o.r->err)
		o.r->err = in_subscribe(&o);
	if (!o.r->err)
		o.r->err = in_loop(&o);
	if (o.r->err)
		blog("error", "in", "subject=%s channel=%s: %s (%s)", o.r->subject, o.r->channel,
		     shmq_strerror(o.r->err), shmq_errname(o.r->err));
	/* Destroy without Unsubscribe: libnats (3.4) deletes a consumer it
	 * created on Unsubscribe, and the durable must stay */
	natsSubscription_Destroy(o.sub);
	shmq_pub_close(o.pub);
	jsCtx_Destroy(o.js);
	return NULL;
}
