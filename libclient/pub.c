/*
 * pub.c - publisher handles: claim/commit/abort in place (one record or an
 * atomic batch), copying publish, waiting for space, and waking sleeping
 * readers. A handle is used by one thread at a time; many handles publish
 * to a channel concurrently (one, on an exclusive channel). The hot path
 * (claim, write, commit) touches only shared memory; the only system calls
 * are wake-ups when wake->wake_needed says a reader fell asleep, and futex
 * waits of a publisher that found no space. The slow path asks the daemon
 * for what the bounds need: the entry segments of readers (block policy)
 * and of other publishers, read-only, and the event fds of event-fd
 * readers; each is fetched again when the daemon's generation moves.
 */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedupe_pub.h"
#include "ext.h"
#include "internal.h"
#include "name.h"
#include "wait.h"

struct shmq_pub {
	struct shmq_client *client;
	struct client_handle h; /* resumed after a daemon restart */
	struct chan_map m;
	struct peer_maps peers;
	struct log_pub lp;
	struct log_claim claim;
	uint32_t idx;	   /* our publisher entry */
	uint32_t nclaimed; /* records in the open claim, 0 if none */
	uint32_t ext;	   /* extension bytes of the open one-record claim */
	bool have_efds;
	uint64_t efds_gen; /* ctl->readers_gen when efds were fetched */
	int efds[MAX_READERS];
	uint32_t lens[MAX_BATCH]; /* the open claim's payload sizes */
	uint32_t claims;	  /* claims tried, to look at the daemon every PUB_LOOK_EVERY */
	uint64_t looked_ns;	  /* when it last looked (wait_now_ns()) */
	bool gone;		  /* the channel is gone: every claim is -SHMQ_ECLOSED */
	struct dedupe_pub dd;	  /* a dedupe channel's table and our reservation */
};

static void peers_update(struct shmq_pub *p);

SHMQ_EXPORT int shmq_pub_open(struct shmq_client *c, const char *name,
			      const struct shmq_pub_opts *opts, struct shmq_pub **out)
{
	struct proto_open req;
	struct proto_opened resp;
	struct shmq_pub *p;
	int err = chan_open_req(c, name, out, ROLE_PUB, opts && opts->create,
				opts ? &opts->channel : NULL, &req);

	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -SHMQ_ENOMEM;
	err = chan_open(c, &req, &resp, &p->m, NULL);
	if (err) {
		free(p);
		return err;
	}
	err = resp.reader_idx >= MAX_PUBS ? -SHMQ_EPROTO
					  : dedupe_pub_init(&p->dd, &p->m.v, p->m.dd, p->m.dd_bytes,
							    resp.reader_idx, resp.reader_gen);
	if (err) {
		chan_close_notify(c, resp.channel_id, ROLE_PUB, resp.reader_idx);
		chan_unmap(&p->m);
		free(p);
		return err;
	}
	p->client = c;
	p->idx = resp.reader_idx;
	p->h = (struct client_handle){.channel_id = resp.channel_id,
				      .role = ROLE_PUB,
				      .slot = resp.reader_idx,
				      .gen = resp.reader_gen};
	client_handle_add(c, &p->h);
	for (unsigned i = 0; i < MAX_READERS; i++)
		p->efds[i] = -1;
	log_pub_init(&p->m.v, &p->lp, p->idx, p->m.entry, &p->peers.p, log_pub_register());
	/* map the peers now, while a daemon answers: one that is away later
	 * cannot, and a block claim waits for a reader it cannot see */
	peers_update(p);
	*out = p;
	return 0;
}

static void fetch_efds(void *arg)
{
	struct shmq_pub *p = arg;
	/* acquire; pairs with the daemon's release bump after a reader change */
	uint64_t gen = atomic_load_explicit(&p->m.v.ctl->readers_gen, memory_order_acquire);

	/* daemon away or no descriptors left: log_wake() leaves the armed
	 * readers' marks for a publisher that can signal them (and the
	 * daemon's watchdog), and the next wake asks again */
	if (peers_fetch_efds(p->client, &p->m, p->efds))
		p->have_efds = false;
	else
		p->efds_gen = gen;
}

static int wake_if(struct shmq_pub *p, int rc)
{
	if (rc == 1) {
		/* relaxed: a hint to fetch again; a reader missed meanwhile is
		 * left armed for the next wake or the daemon's watchdog */
		if (p->have_efds && atomic_load_explicit(&p->m.v.ctl->readers_gen,
							 memory_order_relaxed) != p->efds_gen)
			p->have_efds = false;
		log_wake(&p->m.v, p->efds, &p->have_efds, fetch_efds, p);
		rc = 0;
	}
	return rc;
}

SHMQ_EXPORT void shmq_pub_close(struct shmq_pub *p)
{
	if (!p)
		return;
	if (p->nclaimed)
		wake_if(p, log_abort(&p->m.v, &p->lp, &p->claim)); /* readers may wait on it */
	dedupe_pub_release(&p->dd);
	client_handle_close(p->client, &p->h);
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (p->efds[i] >= 0)
			close(p->efds[i]);
	peers_release(&p->peers);
	chan_unmap(&p->m);
	free(p);
}

const struct log_view *pub_view(const struct shmq_pub *p)
{
	return &p->m.v;
}

SHMQ_EXPORT uint32_t shmq_pub_max_message(const struct shmq_pub *p)
{
	return p ? p->m.v.max_message_bytes : 0;
}

#define SPACE_SPIN_NS 20000u /* how long a publisher spins for space before it sleeps */

static int64_t left_ns(uint64_t deadline)
{
	uint64_t now = wait_now_ns();

	return now >= deadline ? 0 : (int64_t)(deadline - now);
}

/*
 * One claim attempt of n records (n == 0: one record of len). On block
 * channels the cached reader limit is dropped when the daemon changed the
 * reader table: a reader that joined below it would otherwise be overwritten
 * until the cache ran out.
 */
static inline int claim_try(struct shmq_pub *p, const uint32_t *lens, unsigned n)
{
	if (n == 1)
		return log_claim(&p->m.v, &p->lp, lens[0], p->ext, &p->claim);
	return log_claimv(&p->m.v, &p->lp, lens, NULL, n, &p->claim);
}

/*
 * A slot is active whose entry we have not mapped (-SHMQ_ESTATE from the
 * claim): map the current ones. If the daemon cannot say (away, or out of
 * descriptors): a block channel's claim waits for space until it can (a
 * reader we cannot see may sit anywhere below; passing it would overwrite
 * what it has not read); the claims of other publishers bound ours by
 * those we see, as before the newcomer came (a claim of its that we pass
 * is given up by the daemon or fails its commit; nothing a reader accepts).
 */
static void peers_update(struct shmq_pub *p)
{
	int err = 0;

	if (p->m.v.held_readers)
		err = peers_refresh(p->client, &p->m, &p->peers, PEER_READERS, MAX_READERS);
	if (!err && !p->lp.exclusive)
		err = peers_refresh(p->client, &p->m, &p->peers, PEER_PUBS, p->idx);
	p->lp.stale_ok = err != 0;
}

/* The claim met a slot we have not mapped: map the peers, try once more. */
static __attribute__((noinline, cold)) int claim_after_peers(struct shmq_pub *p,
							     const uint32_t *lens, unsigned n)
{
	int err;

	peers_update(p);
	err = claim_try(p, lens, n);
	return err == -SHMQ_ESTATE ? -SHMQ_EFULL : err; /* a slot changing under us: wait */
}

/* The readers changed: the cached bound may be too high, and stale_ok too old. */
static __attribute__((noinline, cold)) void readers_changed(struct shmq_pub *p, uint64_t gen)
{
	p->lp.readers_gen = gen;
	p->lp.limit = 0;
	p->lp.stale_ok = false;
}

static int claim_once(struct shmq_pub *p, const uint32_t *lens, unsigned n)
{
	if (p->m.v.held_readers) {
		/* acquire; pairs with the daemon's release increment after it
		 * activated or freed a slot: the rescan sees that slot. */
		uint64_t gen = atomic_load_explicit(&p->m.v.ctl->readers_gen, memory_order_acquire);

		if (gen != p->lp.readers_gen)
			readers_changed(p, gen);
	}
	return claim_try(p, lens, n); /* a tail call: the caller sees -SHMQ_ESTATE */
}

/* claim_once(), mapping newcomers first if the claim met one. */
static int claim_mapped(struct shmq_pub *p, const uint32_t *lens, unsigned n)
{
	int err = claim_once(p, lens, n);

	return err == -SHMQ_ESTATE ? claim_after_peers(p, lens, n) : err;
}

/*
 * No space yet: spin a while before sleeping, as readers do. A reader that
 * keeps up stores its cursor every eighth of a ring, so space comes back
 * within microseconds, and a futex sleep would cost a wake-up (about 22 us
 * here) and the reader a system call per batch. The cached bounds are
 * dropped every 64 pauses so that the claim looks at the readers again.
 */
static int claim_spin(struct shmq_pub *p, const uint32_t *lens, unsigned n, uint64_t deadline)
{
	uint64_t start = wait_now_ns(), now;
	int err;

	for (unsigned i = 1;; i++) {
		wait_cpu_relax();
		if (i % 64)
			continue;
		p->lp.limit = 0;
		p->lp.claims_limit = 0;
		err = claim_mapped(p, lens, n);
		if (err != -SHMQ_EFULL)
			return err;
		now = wait_now_ns();
		if (now - start >= SPACE_SPIN_NS || (deadline && now >= deadline))
			return -SHMQ_EFULL;
	}
}

/*
 * No space: announce it, look once more, then sleep until a reader moves
 * (block policy), the daemon frees a stalled claim, or the deadline
 * passes. Re-checks at least every ms: a reader or publisher may die
 * without anyone waking us. Returns 1 when the second look claimed, 0
 * after a sleep, or an error.
 */
static int wait_space(struct shmq_pub *p, const uint32_t *lens, unsigned n, int64_t timeout_ns,
		      uint64_t deadline)
{
	struct wake_hdr *w = p->m.v.wake;
	uint32_t seq;
	int64_t left = timeout_ns < 0 ? 1000000 : left_ns(deadline);
	int err;

	if (left == 0)
		return -SHMQ_ETIMEDOUT;
	if (left > 1000000)
		left = 1000000;
	/* seq_cst; pairs with the seq_cst cursor store + space_wanted
	 * exchange of a reader in sub.c (Dekker): either it sees the flag and
	 * wakes us, or the look below sees its move. A flag rather than a
	 * count: a publisher killed asleep leaves it set only until the next
	 * reader move clears it, at the cost of one spurious wake. */
	atomic_store_explicit(&w->space_wanted, 1, memory_order_seq_cst);
	seq = atomic_load_explicit(&w->space_seq, memory_order_seq_cst);
	/* seq_cst: the claim's cursor loads are acquire, and may not pass
	 * the flag store above (the other half of the Dekker pair). */
	atomic_thread_fence(memory_order_seq_cst);
	p->lp.limit = 0;
	p->lp.claims_limit = 0;
	err = claim_mapped(p, lens, n);
	if (err != -SHMQ_EFULL)
		return err ? err : 1;
	/* relaxed: our own counter */
	atomic_store_explicit(&p->lp.me->space_waits,
			      atomic_load_explicit(&p->lp.me->space_waits, memory_order_relaxed) +
				  1,
			      memory_order_relaxed);
	err = wait_futex(&w->space_seq, seq, left);
	return err == -SHMQ_ETIMEDOUT ? 0 : err;
}

static int claim_wait(struct shmq_pub *p, const uint32_t *lens, unsigned n, int64_t timeout_ns)
{
	uint64_t deadline = timeout_ns > 0 ? wait_now_ns() + (uint64_t)timeout_ns : 0;
	bool spun = false;
	int err;

	/* a publisher may make no control call at all: it learns that its
	 * channel is gone (a new daemon did not know it) here */
	if (!p->gone && ++p->claims % PUB_LOOK_EVERY == 0) {
		uint64_t now = wait_now_ns(); /* the vDSO: no system call */

		if (now - p->looked_ns >= PUB_LOOK_NS) {
			p->looked_ns = now;
			p->gone = client_pub_check(p->client, &p->h) != 0;
		}
	}
	if (p->gone)
		return -SHMQ_ECLOSED;
	if (log_journal_failed(&p->m.v))
		return -SHMQ_EIO;
	for (;;) {
		err = claim_once(p, lens, n);
		if (err == -SHMQ_ESTATE)
			err = claim_after_peers(p, lens, n);
		if (err == -SHMQ_EFULL && log_journal_failed(&p->m.v))
			return -SHMQ_EIO;
		if (err != -SHMQ_EFULL || timeout_ns == 0)
			return err;
		if (!spun) {
			spun = true;
			err = claim_spin(p, lens, n, deadline);
			if (err != -SHMQ_EFULL)
				return err;
		}
		err = wait_space(p, lens, n, timeout_ns, deadline);
		if (err)
			return err > 0 ? 0 : err;
		if (timeout_ns > 0 && left_ns(deadline) == 0) {
			err = claim_mapped(p, lens, n);
			return err == -SHMQ_EFULL ? -SHMQ_ETIMEDOUT : err;
		}
	}
}

static void claim_fill(struct shmq_pub *p, struct shmq_claim *claim, unsigned i, uint64_t bytes)
{
	*claim = (struct shmq_claim){
	    .data = log_payload(&p->m.v, bytes, p->ext),
	    .capacity = p->lens[i],
	    .offset = p->claim.at.pos + i,
	};
}

static_assert(sizeof(struct shmq_header) == sizeof(struct ext_kv) &&
		  offsetof(struct shmq_header, name_len) == offsetof(struct ext_kv, name_len) &&
		  offsetof(struct shmq_header, value) == offsetof(struct ext_kv, value) &&
		  offsetof(struct shmq_header, value_len) == offsetof(struct ext_kv, value_len),
	      "shmq_header is ext_kv");
static_assert(SHMQ_F_HEADERS == EXT_HEADERS && SHMQ_F_KEY == EXT_KEY &&
		  SHMQ_F_MSG_ID == EXT_MSG_ID && SHMQ_F_REPLY_TO == EXT_REPLY_TO &&
		  SHMQ_F_CONTENT_TYPE == EXT_CONTENT_TYPE,
	      "SHMQ_F_* are EXT_*");
static_assert(EXT_MAX_BYTES == REC_EXT_MAX, "one limit");
/* each public limit is its internal twin */
static_assert(SHMQ_BATCH_MAX == MAX_BATCH && SHMQ_FIELDS_MAX == REC_EXT_MAX, "one limit");
static_assert(SHMQ_MAX_READERS == MAX_READERS && SHMQ_MAX_PUBLISHERS == MAX_PUBS, "one limit");
static_assert(SHMQ_NAME_MAX + 1 == NAME_BYTES && EXT_REPLY_TO_MAX == SHMQ_NAME_MAX, "one limit");
static_assert(SHMQ_CAPACITY_MIN == MIN_RING_BYTES && SHMQ_CAPACITY_MAX == MAX_RING_BYTES &&
		  SHMQ_MESSAGE_MAX == MAX_MESSAGE_BYTES,
	      "one limit");

/* The options (some fields set) as an extension area description; its size into *bytes. */
static int opts_to_ext(const struct shmq_msg_opts *o, struct ext_in *in, uint32_t *bytes)
{
	if (o->fields & ~(uint32_t)EXT_KNOWN_MASK ||
	    ((o->fields & SHMQ_F_REPLY_TO) && name_check(o->reply_to)) ||
	    ((o->fields & SHMQ_F_CONTENT_TYPE) && !o->content_type) ||
	    ((o->fields & SHMQ_F_EXPIRY) && (o->fields & SHMQ_F_DELIVER_AT) &&
	     o->expiry_ns <= o->deliver_at_ns)) /* it would expire before it is due */
		return -SHMQ_EINVAL;
	*in = (struct ext_in){
	    .present = o->fields,
	    .msg_id = o->msg_id,
	    .corr_id = o->corr_id,
	    .deliver_at_ns = o->deliver_at_ns,
	    .expiry_ns = o->expiry_ns,
	    .key = o->key,
	    .key_len = o->key_len,
	    .reply_to = o->reply_to,
	    .reply_to_len = o->fields & SHMQ_F_REPLY_TO ? (uint32_t)strlen(o->reply_to) : 0,
	    .content_type = o->content_type,
	    .content_type_len = o->fields & SHMQ_F_CONTENT_TYPE
				    ? (uint32_t)strnlen(o->content_type, EXT_CONTENT_TYPE_MAX + 1)
				    : 0,
	    .headers = (const struct ext_kv *)o->headers,
	    .nheaders = o->nheaders,
	};
	return ext_size(in, bytes);
}

SHMQ_EXPORT int shmq_pub_claim_opts(struct shmq_pub *p, uint32_t len,
				    const struct shmq_msg_opts *opts, struct shmq_claim *claim,
				    int64_t timeout_ns)
{
	struct ext_in in;
	uint32_t ext = 0;
	int err;

	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (p->nclaimed)
		return -SHMQ_ESTATE;
	if (len > p->m.v.max_message_bytes)
		return -SHMQ_ETOOBIG;
	/* no fields: nothing to describe (and no struct to clear per message) */
	if (opts && opts->fields) {
		err = opts_to_ext(opts, &in, &ext);
		if (err)
			return err;
	}
	/* a dedupe channel: the id is checked before the tail moves */
	if (p->dd.on && opts && (opts->fields & SHMQ_F_MSG_ID)) {
		err = dedupe_pub_reserve(&p->dd, &p->m.v, opts->msg_id, timeout_ns, &claim->offset);
		if (err)
			return err;
	}
	p->lens[0] = len;
	p->ext = ext;
	err = claim_wait(p, p->lens, 1, timeout_ns);
	if (err) {
		dedupe_pub_release(&p->dd);
		return err;
	}
	p->nclaimed = 1;
	if (ext)
		ext_write(log_payload(&p->m.v, p->claim.at.bytes, 0), &in, ext);
	claim_fill(p, claim, 0, p->claim.at.bytes);
	return 0;
}

SHMQ_EXPORT int shmq_pub_claim(struct shmq_pub *p, uint32_t len, struct shmq_claim *claim,
			       int64_t timeout_ns)
{
	return shmq_pub_claim_opts(p, len, NULL, claim, timeout_ns);
}

/* Claim a batch of the n sizes in p->lens; it is then the open claim. */
static int claim_batch(struct shmq_pub *p, unsigned n, int64_t timeout_ns)
{
	int err;

	p->ext = 0;
	err = claim_wait(p, p->lens, n, timeout_ns);
	if (!err)
		p->nclaimed = n;
	return err;
}

SHMQ_EXPORT int shmq_pub_claimv(struct shmq_pub *p, const uint32_t *lens, unsigned n,
				struct shmq_claim *claims, int64_t timeout_ns)
{
	uint64_t b;
	int err;

	if (!p || !lens || !claims || n == 0 || n > SHMQ_BATCH_MAX)
		return -SHMQ_EINVAL;
	if (p->nclaimed)
		return -SHMQ_ESTATE;
	memcpy(p->lens, lens, n * sizeof(*lens));
	err = claim_batch(p, n, timeout_ns);
	if (err)
		return err;
	b = p->claim.at.bytes;
	for (unsigned i = 0; i < n; i++) {
		claim_fill(p, &claims[i], i, b);
		b += rec_bytes_for(p->lens[i], 0);
	}
	return 0;
}

static uint64_t now_stamp(const struct shmq_pub *p)
{
	return p->m.v.flags & DATA_F_NO_TIMESTAMP ? 0 : log_timestamp(&p->m.v);
}

static bool claim_is_ours(const struct shmq_pub *p, const struct shmq_claim *claim)
{
	return p->nclaimed && claim->offset == p->claim.at.pos;
}

SHMQ_EXPORT int shmq_pub_commit(struct shmq_pub *p, struct shmq_claim *claim, uint32_t len)
{
	int rc;

	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (!claim_is_ours(p, claim) || p->nclaimed != 1)
		return -SHMQ_ESTATE;
	if (len > p->lens[0])
		return len > p->m.v.max_message_bytes ? -SHMQ_ETOOBIG : -SHMQ_EINVAL;
	rc = log_commit(&p->m.v, &p->lp, &p->claim, len, p->ext, now_stamp(p));
	if (rc < 0)
		dedupe_pub_release(&p->dd); /* given up: the id may be published again */
	else if (p->dd.held) /* a clock read only for a held dedupe id, not per message */
		dedupe_pub_commit(&p->dd, p->claim.at.pos, log_timestamp(&p->m.v));
	p->nclaimed = 0;
	claim->data = NULL;
	return wake_if(p, rc);
}

static int commit_batch(struct shmq_pub *p)
{
	int rc = log_commitv(&p->m.v, &p->lp, &p->claim, p->lens, NULL, now_stamp(p));

	p->nclaimed = 0;
	return wake_if(p, rc);
}

SHMQ_EXPORT int shmq_pub_commitv(struct shmq_pub *p, struct shmq_claim *claims, unsigned n)
{
	if (!p || !claims)
		return -SHMQ_EINVAL;
	if (!claim_is_ours(p, &claims[0]) || n != p->nclaimed)
		return -SHMQ_ESTATE;
	for (unsigned i = 0; i < n; i++)
		claims[i].data = NULL;
	return commit_batch(p);
}

SHMQ_EXPORT int shmq_pub_abort(struct shmq_pub *p, struct shmq_claim *claim)
{
	int rc;

	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (!claim_is_ours(p, claim))
		return -SHMQ_ESTATE;
	rc = log_abort(&p->m.v, &p->lp, &p->claim);
	dedupe_pub_release(&p->dd);
	p->nclaimed = 0;
	claim->data = NULL;
	return wake_if(p, rc);
}

SHMQ_EXPORT int shmq_publish(struct shmq_pub *p, const void *data, uint32_t len, int64_t timeout_ns,
			     uint64_t *offset)
{
	return shmq_publish_opts(p, data, len, NULL, timeout_ns, offset);
}

SHMQ_EXPORT int shmq_publish_opts(struct shmq_pub *p, const void *data, uint32_t len,
				  const struct shmq_msg_opts *opts, int64_t timeout_ns,
				  uint64_t *offset)
{
	struct shmq_claim c;
	int err;

	if (!p || (len && !data))
		return -SHMQ_EINVAL;
	err = shmq_pub_claim_opts(p, len, opts, &c, timeout_ns);
	if (err == -SHMQ_EDUPLICATE && offset)
		*offset = c.offset; /* the original's */
	if (err)
		return err;
	memcpy(c.data, data, len);
	err = shmq_pub_commit(p, &c, len);
	if (!err && offset)
		*offset = c.offset;
	return err;
}

SHMQ_EXPORT int shmq_publishv(struct shmq_pub *p, const struct shmq_buf *msgs, unsigned n,
			      int64_t timeout_ns, uint64_t *first_offset)
{
	uint64_t b;
	int err;

	if (!p || !msgs || n == 0 || n > SHMQ_BATCH_MAX)
		return -SHMQ_EINVAL;
	if (p->nclaimed)
		return -SHMQ_ESTATE;
	for (unsigned i = 0; i < n; i++) {
		if (msgs[i].len && !msgs[i].data)
			return -SHMQ_EINVAL;
		p->lens[i] = msgs[i].len;
	}
	err = claim_batch(p, n, timeout_ns);
	if (err)
		return err;
	b = p->claim.at.bytes;
	for (unsigned i = 0; i < n; i++) {
		memcpy(log_payload(&p->m.v, b, 0), msgs[i].data, msgs[i].len);
		b += rec_bytes_for(msgs[i].len, 0);
	}
	err = commit_batch(p);
	if (!err && first_offset)
		*first_offset = p->claim.at.pos;
	return err;
}
