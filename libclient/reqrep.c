/*
 * reqrep.c - request/reply over channels (docs/ARCHITECTURE.md,
 * "Request/reply and inboxes"). A requester holds a publisher of the
 * request channel and a subscriber of an inbox the daemon made for it
 * (OP_INBOX); each request carries reply_to (the inbox) and a random
 * 64-bit corr_id, and replies whose corr_id is not one of its last
 * REQ_IDS requests are dropped and counted. A requester is used by one
 * thread at a time. shmq_reply() may be called from any thread: its
 * per-client cache of inbox publishers has a mutex of its own, and it
 * never waits for space (inboxes have policy drop).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"
#include "wait.h"

#define REQ_IDS 1024u	/* corr_ids a requester still accepts replies for */
#define RAND_BATCH 32u	/* corr_ids drawn per getrandom() */
#define REPLY_CACHE 16u /* inbox publishers one client keeps */
#define INBOX_PREFIX "_inbox."

struct shmq_requester {
	struct shmq_client *client;
	struct shmq_pub *pub;
	struct shmq_sub *inbox;
	char inbox_name[PROTO_NAME_BYTES];
	uint64_t ids[REQ_IDS]; /* corr_ids of the last requests, 0: none */
	uint32_t next_id;      /* where the next one goes in ids */
	uint32_t nrand;	       /* unused values left in rand */
	uint64_t rand[RAND_BATCH];
	uint64_t dropped; /* replies that matched no request */
};

/* ---- the requester ---- */

static int inbox_make(struct shmq_client *c, const char *channel, struct proto_inbox *out)
{
	struct proto_name req = {0};
	int err = client_wire_name(req.name, channel);

	if (err)
		return err;
	if (c->daemon_minor < PROTO_MINOR_INBOX)
		return -SHMQ_EVERSION;
	err = client_call(c, OP_INBOX, &req, sizeof(req), out, sizeof(*out), NULL, NULL);
	if (!err && !memchr(out->name, 0, sizeof(out->name)))
		err = -SHMQ_EPROTO;
	return err;
}

SHMQ_EXPORT int shmq_requester_open(struct shmq_client *c, const char *channel,
				    const struct shmq_pub_opts *opts, struct shmq_requester **out)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST};
	struct proto_inbox ib;
	struct shmq_requester *r;
	int err;

	if (!c || !channel || !out)
		return -SHMQ_EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -SHMQ_ENOMEM;
	r->client = c;
	err = shmq_pub_open(c, channel, opts, &r->pub); /* it may create the channel */
	if (err)
		goto out_free;
	err = inbox_make(c, channel, &ib);
	if (err)
		goto out_pub;
	memcpy(r->inbox_name, ib.name, sizeof(r->inbox_name));
	err = shmq_sub_open(c, r->inbox_name, &so, &r->inbox);
	if (err)
		goto out_inbox;
	*out = r;
	return 0;

out_inbox:
	shmq_channel_delete(c, r->inbox_name); /* ours; it also goes when we disconnect */
out_pub:
	shmq_pub_close(r->pub);
out_free:
	free(r);
	return err;
}

/* The inbox goes with its reader: the daemon deletes it when it closes. */
SHMQ_EXPORT void shmq_requester_close(struct shmq_requester *r)
{
	if (!r)
		return;
	shmq_sub_close(r->inbox);
	shmq_pub_close(r->pub);
	free(r);
}

SHMQ_EXPORT uint64_t shmq_requester_dropped(const struct shmq_requester *r)
{
	return r ? r->dropped : 0;
}

SHMQ_EXPORT const char *shmq_requester_inbox(const struct shmq_requester *r)
{
	return r ? r->inbox_name : NULL;
}

/* A fresh corr_id: 64 random bits, never 0 (0 marks a free place in ids). */
static int corr_new(struct shmq_requester *r, uint64_t *id)
{
	do {
		if (!r->nrand) {
			if (getrandom(r->rand, sizeof(r->rand), 0) != (ssize_t)sizeof(r->rand))
				return -SHMQ_ESYS;
			r->nrand = RAND_BATCH;
		}
		*id = r->rand[--r->nrand];
	} while (!*id);
	return 0;
}

/* Does any reader slot of the channel hold a reader now? */
static bool has_reader(const struct log_view *v)
{
	/* acquire; pairs with the daemon's release of readers_hi and of each
	 * slot's state: a reader that opened before our look is seen */
	uint32_t hi = atomic_load_explicit(&v->ctl->readers_hi, memory_order_acquire);
	const struct ctl_slot *sl =
	    (const struct ctl_slot *)((const uint8_t *)v->ctl + CTL_READERS_OFF);

	if (hi > MAX_READERS) /* the daemon's word; bounded all the same */
		hi = MAX_READERS;
	for (uint32_t i = 0; i < hi; i++)
		if (atomic_load_explicit(&sl[i].state, memory_order_acquire) == SLOT_ACTIVE)
			return true;
	return false;
}

static int request_publish(struct shmq_requester *r, const void *data, uint32_t len,
			   const struct shmq_msg_opts *opts, int64_t timeout_ns, uint64_t *corr_id)
{
	struct shmq_msg_opts o = {0};
	int err;

	if (!r || !corr_id)
		return -SHMQ_EINVAL;
	if (opts)
		o = *opts;
	if (!has_reader(pub_view(r->pub)))
		return -SHMQ_ENOREADER;
	err = corr_new(r, corr_id);
	if (err)
		return err;
	o.fields |= SHMQ_F_CORR_ID | SHMQ_F_REPLY_TO;
	o.corr_id = *corr_id;
	o.reply_to = r->inbox_name;
	err = shmq_publish_opts(r->pub, data, len, &o, timeout_ns, NULL);
	if (err)
		return err;
	r->ids[r->next_id++ % REQ_IDS] = *corr_id;
	return 0;
}

SHMQ_EXPORT int shmq_request_send(struct shmq_requester *r, const void *data, uint32_t len,
				  const struct shmq_msg_opts *opts, uint64_t *corr_id)
{
	return request_publish(r, data, len, opts, 0, corr_id);
}

/* Where id sits in r->ids, or -1: a reply to no request of ours. */
static int corr_find(const struct shmq_requester *r, uint64_t id)
{
	if (!id)
		return -1;
	for (uint32_t i = 0; i < REQ_IDS; i++)
		if (r->ids[i] == id)
			return (int)i;
	return -1;
}

/* The corr_id of a reply, 0 if it has none (or its fields are malformed). */
static uint64_t reply_corr(const struct shmq_msg *m)
{
	struct shmq_msg_fields f;

	if (shmq_msg_fields(m, &f) || !(f.fields & SHMQ_F_CORR_ID))
		return 0;
	return f.corr_id;
}

/*
 * The next reply whose corr_id is want (0: any of ours), into msg (a view
 * of the inbox). Others are dropped and counted.
 */
/* When timeout_ns (as shmq_recv() takes it) runs out; 0 for none. */
static uint64_t deadline_of(int64_t timeout_ns)
{
	return timeout_ns > 0 ? wait_now_ns() + (uint64_t)timeout_ns : 0;
}

/* What is left of timeout_ns at deadline: 0 once passed; <= 0 stays as it is. */
static int64_t time_left(int64_t timeout_ns, uint64_t deadline)
{
	uint64_t now;

	if (timeout_ns <= 0)
		return timeout_ns;
	now = wait_now_ns();
	return now >= deadline ? 0 : (int64_t)(deadline - now);
}

static int reply_next(struct shmq_requester *r, uint64_t want, struct shmq_msg *msg,
		      int64_t timeout_ns)
{
	uint64_t deadline = deadline_of(timeout_ns);
	int64_t left = timeout_ns;
	int err;

	for (;;) {
		uint64_t id;

		err = shmq_recv(r->inbox, msg, left);
		if (err)
			return err;
		id = reply_corr(msg);
		if (want ? id == want : corr_find(r, id) >= 0)
			return 0;
		r->dropped++;
		left = time_left(timeout_ns, deadline);
		if (timeout_ns > 0 && !left)
			return -SHMQ_ETIMEDOUT;
	}
}

SHMQ_EXPORT int shmq_reply_recv(struct shmq_requester *r, struct shmq_msg *msg, int64_t timeout_ns)
{
	if (!r || !msg)
		return -SHMQ_EINVAL;
	return reply_next(r, 0, msg, timeout_ns);
}

SHMQ_EXPORT int shmq_reply_verify(const struct shmq_requester *r, const struct shmq_msg *msg)
{
	if (!r)
		return -SHMQ_EINVAL;
	return shmq_msg_verify(r->inbox, msg);
}

SHMQ_EXPORT int shmq_request(struct shmq_requester *r, const void *data, uint32_t len,
			     const struct shmq_msg_opts *opts, void *buf, size_t buf_len,
			     struct shmq_msg *msg, int64_t timeout_ns)
{
	uint64_t id, deadline = deadline_of(timeout_ns);
	int64_t left;
	int err, at;

	if (!r || !msg || (!buf && buf_len))
		return -SHMQ_EINVAL;
	err = request_publish(r, data, len, opts, timeout_ns, &id);
	if (err)
		return err;
	left = time_left(timeout_ns, deadline);
	for (;;) {
		err = reply_next(r, id, msg, left);
		if (err || msg->len > buf_len)
			break;
		memcpy(buf, msg->data, msg->len);
		/* the inbox is a drop channel: the copy counts only if it is
		 * intact; one overwritten meanwhile is lost, and another
		 * responder's reply may still come */
		if (!shmq_msg_verify(r->inbox, msg))
			break;
		r->dropped++;
		left = time_left(timeout_ns, deadline);
	}
	if (err == -SHMQ_EAGAIN)
		err = -SHMQ_ETIMEDOUT;
	at = corr_find(r, id);
	if (at >= 0)
		r->ids[at] = 0; /* answered or given up: later replies to it are dropped */
	if (err)
		return err;
	if (msg->len > buf_len)
		return -SHMQ_ETOOBIG; /* msg->len says how much it needs */
	msg->data = buf;
	msg->ext = NULL;
	msg->ext_bytes = 0;
	return 0;
}

/* ---- replying ---- */

/* How long a reply may wait: an inbox has policy drop, so never for its
 * reader; only for a claim in progress or a publisher joining the inbox. */
#define REPLY_WAIT_NS 20000000

struct reply_slot {
	char name[PROTO_NAME_BYTES]; /* "" free */
	struct shmq_pub *pub;
	uint64_t used; /* tick of the last reply through it */
};

struct reply_cache {
	pthread_mutex_t lock;
	uint64_t tick;
	struct reply_slot s[REPLY_CACHE];
};

void reply_cache_free(struct shmq_client *c)
{
	struct reply_cache *rc = c->replies;

	if (!rc)
		return;
	for (unsigned i = 0; i < REPLY_CACHE; i++)
		shmq_pub_close(rc->s[i].pub);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
	c->replies = NULL;
}

/* The client's cache, made on first use (under the client's own lock). */
static struct reply_cache *cache_get(struct shmq_client *c)
{
	struct reply_cache *rc;

	pthread_mutex_lock(&c->lock);
	rc = c->replies;
	if (!rc) {
		rc = calloc(1, sizeof(*rc));
		if (rc && pthread_mutex_init(&rc->lock, NULL)) {
			free(rc);
			rc = NULL;
		}
		c->replies = rc;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void slot_drop(struct reply_slot *s)
{
	shmq_pub_close(s->pub);
	*s = (struct reply_slot){0};
}

/*
 * A publisher of inbox name from the cache (rc->lock held): the cached one
 * unless its inbox was deleted (its requester went), else a new one in the
 * least recently used place.
 */
static int cache_pub(struct shmq_client *c, struct reply_cache *rc, const char *name,
		     struct shmq_pub **out)
{
	struct reply_slot *lru = &rc->s[0];

	for (unsigned i = 0; i < REPLY_CACHE; i++) {
		struct reply_slot *s = &rc->s[i];

		if (s->pub && !strcmp(s->name, name)) {
			/* acquire; pairs with the daemon's release in registry_delete() */
			if (atomic_load_explicit(&pub_view(s->pub)->ctl->state,
						 memory_order_acquire) != CHAN_LIVE) {
				slot_drop(s);
				return -SHMQ_ENOENT;
			}
			s->used = ++rc->tick;
			*out = s->pub;
			return 0;
		}
		if (!s->pub || s->used < lru->used)
			lru = s;
	}
	if (lru->pub)
		slot_drop(lru);
	int err = shmq_pub_open(c, name, NULL, &lru->pub);

	if (err)
		return err;
	strcpy(lru->name, name);
	lru->used = ++rc->tick;
	*out = lru->pub;
	return 0;
}

SHMQ_EXPORT int shmq_reply(struct shmq_client *c, const struct shmq_msg *request, const void *data,
			   uint32_t len, const struct shmq_msg_opts *opts)
{
	struct shmq_msg_opts o = {0};
	struct shmq_msg_fields f;
	char name[PROTO_NAME_BYTES];
	struct reply_cache *rc;
	struct shmq_pub *p;
	int err;

	if (!c || !request || (len && !data))
		return -SHMQ_EINVAL;
	err = shmq_msg_fields(request, &f);
	if (err)
		return err;
	if (!(f.fields & SHMQ_F_REPLY_TO) || f.reply_to_len >= sizeof(name))
		return -SHMQ_EINVAL;
	memcpy(name, f.reply_to, f.reply_to_len);
	name[f.reply_to_len] = 0;
	/* replies go to inboxes only: a request cannot aim them elsewhere */
	if (strncmp(name, INBOX_PREFIX, strlen(INBOX_PREFIX)))
		return -SHMQ_EPERM;
	if (opts)
		o = *opts;
	o.fields &= ~(uint32_t)SHMQ_F_CORR_ID;
	if (f.fields & SHMQ_F_CORR_ID) {
		o.fields |= SHMQ_F_CORR_ID;
		o.corr_id = f.corr_id;
	}
	rc = cache_get(c);
	if (!rc)
		return -SHMQ_ENOMEM;
	pthread_mutex_lock(&rc->lock);
	err = cache_pub(c, rc, name, &p);
	if (!err)
		err = shmq_publish_opts(p, data, len, &o, REPLY_WAIT_NS, NULL);
	pthread_mutex_unlock(&rc->lock);
	return err;
}
