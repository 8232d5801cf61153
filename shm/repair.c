/*
 * repair.c - the daemon's side of the channel log: giving up the claims of
 * publishers that died or stalled between claim and commit, from the claim
 * intents in their entries, and settling the claims of publishers gone
 * while another entry named the same start (see docs/ARCHITECTURE.md
 * "Dead and stalled publishers"). Daemon main thread only; the entries it
 * is told about (pids[]) come from the daemon's own records, never from
 * shared memory, and every value read from shared memory is bounded.
 */
#include <string.h>

#include "log.h"

void log_repair_forget(struct log_repair *rep, unsigned idx)
{
	if (idx < MAX_PUBS)
		rep->pubs[idx] = (struct log_pub_watch){0};
}

/* What a publisher entry says, each field loaded once. */
struct claim_seen {
	uint64_t bytes, end, pos;
	uint32_t state, count;
};

static void claim_load(const struct pub_entry *e, struct claim_seen *c)
{
	/* acquire; pairs with the release in intent_store(): the fields are
	 * this state's (or a later claim's, which the watch then sees anew). */
	c->state = atomic_load_explicit(&e->claim_state, memory_order_acquire);
	/* relaxed: bounded by claim_plausible() before use. */
	c->bytes = atomic_load_explicit(&e->claim_bytes, memory_order_relaxed);
	c->end = atomic_load_explicit(&e->claim_end, memory_order_relaxed);
	c->pos = atomic_load_explicit(&e->claim_pos, memory_order_relaxed);
	c->count = atomic_load_explicit(&e->claim_count, memory_order_relaxed);
}

/* A claim that the tail has moved over, of a size an honest claim has. */
static bool claim_plausible(const struct log_view *v, const struct claim_seen *c, uint64_t tail)
{
	return c->bytes < tail && c->end <= tail && c->end > c->bytes &&
	       c->end - c->bytes <= v->ring_bytes && c->count >= 1 && c->count <= MAX_BATCH &&
	       !(c->bytes % REC_ALIGN) && !(c->end % REC_ALIGN) && c->bytes + v->ring_bytes >= tail;
}

/* Another live entry names the same start: the claim may be that one's. */
static bool claim_shared(const struct log_peers *peers, const uint32_t *pids, unsigned self,
			 uint64_t bytes)
{
	for (unsigned i = 0; i < MAX_PUBS; i++) {
		const struct pub_entry *e = peers->pubs[i];

		if (i == self || !pids[i] || !e)
			continue;
		/* relaxed: a hint; the stuck timer decides later. */
		if (atomic_load_explicit(&e->claim_state, memory_order_relaxed) != PUB_IDLE &&
		    atomic_load_explicit(&e->claim_bytes, memory_order_relaxed) == bytes)
			return true;
	}
	return false;
}

/*
 * CAS the word at bytes from what it holds to want, unless it is already a
 * record of this lap (the publisher committed after all, the start was
 * someone else's, or we gave it up before). True if we changed it.
 */
static bool word_take(const struct log_view *v, uint64_t bytes, uint64_t want)
{
	struct rec_hdr *h = log_rec_at(v, bytes);
	/* acquire; pairs with the publishers' commit stores. */
	uint64_t w = atomic_load_explicit(&h->word, memory_order_acquire);

	if (rec_word_type(rec_word_decode(w, v->key, bytes, v->ring_shift)))
		return false;
	/* seq_cst: like a commit, a release for readers, and the daemon wakes
	 * sleepers after a repair. Fails if the publisher stored meanwhile. */
	return atomic_compare_exchange_strong_explicit(&h->word, &w, want, memory_order_seq_cst,
						       memory_order_relaxed);
}

/*
 * Give [c->bytes, c->end) up: a PAD to the ring's end if the claim wrapped
 * and its publisher did not write it, the guard word at the end (it may
 * have died before its own), the mark in its entry (the publisher's commit
 * checks it), then one ABANDONED record over the rest. Stops, giving up
 * nothing, where a record of this lap is already there: the publisher
 * committed, or the start was someone else's and so is what follows.
 */
static bool claim_abandon(const struct log_view *v, const struct log_peers *peers,
			  const struct log_repair *rep, unsigned self, const struct claim_seen *c)
{
	uint64_t idx = c->bytes & v->mask, b = c->bytes, claims, readers = 0;

	if (idx + (c->end - c->bytes) > v->ring_bytes) {
		uint64_t pad = v->ring_bytes - idx;
		uint64_t want = rec_word_make(v->key, b, v->ring_shift, pad, 0, REC_T_PAD);

		/* acquire; pairs with the publisher's PAD store. */
		if (atomic_load_explicit(&log_rec_at(v, b)->word, memory_order_acquire) != want &&
		    !word_take(v, b, want))
			return false;
		b += pad;
	}
	if (b >= c->end || c->end - b > log_max_span(v))
		return false;
	/* acquire; as in word_take(). */
	if (rec_word_type(
		rec_word_decode(atomic_load_explicit(&log_rec_at(v, b)->word, memory_order_acquire),
				v->key, b, v->ring_shift)))
		return false;
	/* its guard, where the publisher's own would have been allowed: not
	 * over the word of a record a reader or a claim still holds */
	log_claims_limit(v, peers, self, c->end, &claims);
	if (v->policy == SHMQ_POLICY_BLOCK)
		log_reader_limit(v, peers, c->end, &readers);
	if (c->end + REC_ALIGN <= claims &&
	    (v->policy != SHMQ_POLICY_BLOCK || c->end + REC_ALIGN <= readers))
		word_take(v, c->end, 0);
	/* release, then a full fence before the word's CAS: a commit that
	 * misses the mark (abandoned_under_us()) stored before the CAS. */
	if (self < MAX_PUBS)
		atomic_store_explicit(&rep->ctl_pslots[self].cut_bytes, c->bytes + 1,
				      memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	return word_take(v, b,
			 rec_word_make(v->key, b, v->ring_shift, c->end - b, 0, REC_T_ABANDONED));
}

/* Exclusive mode: a publisher that died inside tail_store() left the pair
 * half-written; its intent says what the tail became. */
static void tail_settle(const struct log_view *v, const struct claim_seen *c)
{
	struct data_hdr *d = v->data;
	/* relaxed: the publisher is dead; we are the only writer now. */
	uint32_t s = atomic_load_explicit(&d->tail_seq, memory_order_relaxed);

	if (!(s & 1))
		return;
	atomic_store_explicit(&d->tail_pos, c->pos + c->count, memory_order_relaxed);
	atomic_store_explicit(&d->tail_bytes, c->end, memory_order_relaxed);
	/* release; pairs with the acquire in tail_read_seq(). */
	atomic_store_explicit(&d->tail_seq, s + 1, memory_order_release);
}

/* One entry: returns true if its claim was given up just now. */
static bool repair_pub(const struct log_view *v, const struct log_peers *peers,
		       struct log_repair *rep, const uint32_t *pids, unsigned i, uint64_t now_ns,
		       uint64_t stuck_ns, bool dead, uint64_t tail)
{
	struct log_pub_watch *w = &rep->pubs[i];
	struct claim_seen c;

	if (!peers->pubs[i])
		return false;
	claim_load(peers->pubs[i], &c);
	if (dead && v->pub_mode == SHMQ_PUBLISHERS_ONE && c.state != PUB_IDLE) {
		tail_settle(v, &c);
		/* acquire: as in log_repair_step(). */
		tail = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	}
	if (c.state == PUB_IDLE || c.state > PUB_CLAIMED) {
		*w = (struct log_pub_watch){0};
		return false;
	}
	if (w->claim_bytes != c.bytes || w->claim_state != c.state || !w->since_ns)
		*w = (struct log_pub_watch){c.bytes, c.state, 0, now_ns};
	if (w->cut || (!dead && now_ns - w->since_ns < stuck_ns))
		return false;
	if (!claim_plausible(v, &c, tail))
		return false;
	if (c.state == PUB_CLAIMING && claim_shared(peers, pids, i, c.bytes))
		return false;
	if (!claim_abandon(v, peers, rep, i, &c))
		return false;
	/* relaxed: a statistic. */
	atomic_fetch_add_explicit(&rep->ctl->abandoned, c.count, memory_order_relaxed);
	w->cut = !dead;
	return true;
}

/*
 * One orphaned claim: 1 given up now, 0 settled otherwise (never claimed,
 * or a record is there: its publisher committed, or the start was someone
 * else's), -1 still open (another live entry names its start).
 */
static int orphan_settle(const struct log_view *v, const struct log_peers *peers,
			 struct log_repair *rep, const uint32_t *pids, unsigned self,
			 struct log_orphan *o)
{
	/* acquire; as in log_repair_step(). */
	uint64_t tail = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	struct claim_seen c = {o->bytes, o->end, o->pos, o->state, o->count};

	if (c.state == PUB_CLAIMING && claim_plausible(v, &c, tail) &&
	    claim_shared(peers, pids, self, c.bytes))
		return -1;
	o->state = 0;
	if (!claim_plausible(v, &c, tail) || !claim_abandon(v, peers, rep, MAX_PUBS, &c))
		return 0;
	/* relaxed: a statistic. */
	atomic_fetch_add_explicit(&rep->ctl->abandoned, c.count, memory_order_relaxed);
	return 1;
}

void log_repair_step(const struct log_view *v, const struct log_peers *peers,
		     struct log_repair *rep, const uint32_t *pids, uint64_t now_ns,
		     uint64_t stuck_ns, log_pid_alive_fn alive, void *arg,
		     struct log_repair_out *out)
{
	/* acquire; pairs with the tail moves: claims below it are real. */
	uint64_t tail = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (rep->orphans[i].state &&
		    orphan_settle(v, peers, rep, pids, MAX_PUBS, &rep->orphans[i]) == 1)
			out->abandoned++;
	for (unsigned i = 0; i < MAX_PUBS; i++) {
		bool dead;

		if (!pids[i]) {
			rep->pubs[i] = (struct log_pub_watch){0};
			continue;
		}
		dead = alive && !alive(pids[i], arg);
		out->abandoned += repair_pub(v, peers, rep, pids, i, now_ns, stuck_ns, dead, tail);
		if (!rep->pubs[i].cut || dead)
			continue;
		/* a live publisher still holds [claim, ...): publishers stop a
		 * ring later (log_claims_limit()); stop it before they must */
		if (tail + v->ring_bytes / 4 >= rep->pubs[i].claim_bytes + v->ring_bytes)
			out->stall_pid[out->nstall++] = pids[i];
	}
}

bool log_repair_gone(const struct log_view *v, const struct log_peers *peers,
		     struct log_repair *rep, const uint32_t *pids, unsigned idx)
{
	struct log_orphan *o = NULL;
	struct claim_seen c;

	if (idx >= MAX_PUBS || !peers->pubs[idx])
		return false;
	claim_load(peers->pubs[idx], &c);
	if (c.state == PUB_IDLE || c.state > PUB_CLAIMED || rep->pubs[idx].cut)
		return false;
	if (v->pub_mode == SHMQ_PUBLISHERS_ONE)
		tail_settle(v, &c);
	for (unsigned i = 0; i < MAX_PUBS && !o; i++)
		if (!rep->orphans[i].state)
			o = &rep->orphans[i];
	if (!o) /* more orphans than entries: no honest set of publishers */
		return false;
	*o = (struct log_orphan){c.bytes, c.end, c.pos, c.count, c.state};
	return orphan_settle(v, peers, rep, pids, idx, o) == 1;
}
