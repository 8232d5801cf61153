/*
 * repair.c - the daemon's side of the channel log: giving up the claims of
 * publishers that died or stalled between claim and commit, from the claim
 * intents in their entries, and settling the claims of publishers gone
 * while another entry named the same start (see docs/ARCHITECTURE.md
 * "Dead and stalled publishers"). A live publisher's claim is cut only
 * through the mark and membarrier() handshake with its commit (cut_mark()),
 * so that no reader delivers a message another counted lost. Daemon main
 * thread only; the entries it is told about (pids[]) come from the
 * daemon's own records, never from shared memory, and every value read
 * from shared memory is bounded.
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
 * Before the daemon writes any word of a claim (its PAD, guard or
 * ABANDONED word), frontier must cover the claim's last byte, as
 * announce() does for its publisher: one that died or stalled between its
 * tail move and its announce did not raise it, and a drop reader trusts a
 * low frontier to mean that its bytes a ring back are intact.
 */
static void frontier_raise(const struct log_view *v, uint64_t end)
{
	uint64_t want = end / v->chunk_bytes;
	/* acquire; pairs with the release of whoever raised it last. */
	uint64_t f = atomic_load_explicit(&v->data->frontier, memory_order_acquire);

	/* release: pairs with the acquire fence of a drop reader
	 * (overwritten()). Only raises: an exclusive publisher's plain store
	 * never goes below a claim it made, and ours is below the tail. */
	while (f < want &&
	       !atomic_compare_exchange_weak_explicit(&v->data->frontier, &f, want,
						      memory_order_release, memory_order_acquire))
		;
	/* release fence: the word stores that follow stay after frontier. */
	atomic_thread_fence(memory_order_release);
}

/* What claim_abandon() did. */
enum cut_result {
	CUT_NONE = 0,  /* nothing to give up: a record of this lap is there */
	CUT_DONE = 1,  /* given up now */
	CUT_BUSY = 2,  /* its live publisher is inside its commit: the mark is
			* set; the word is the publisher's to store (MSG, or
			* ABANDONED if it saw the mark), or ours once it is gone */
	CUT_BLIND = 3, /* the same, because membarrier() is refused here: we
			* cannot tell, so its publisher must be stopped first */
};

/* The byte position of the first record of c: after its PAD, if it wrapped. */
static uint64_t claim_first(const struct log_view *v, const struct claim_seen *c)
{
	uint64_t idx = c->bytes & v->mask;

	return idx + (c->end - c->bytes) > v->ring_bytes ? c->bytes + v->ring_bytes - idx
							 : c->bytes;
}

/* Is the word at b a record of its lap? */
static bool word_is_record(const struct log_view *v, uint64_t b)
{
	/* acquire; pairs with the publishers' commit stores and our CAS. */
	uint64_t w = atomic_load_explicit(&log_rec_at(v, b)->word, memory_order_acquire);

	return rec_word_type(rec_word_decode(w, v->key, b, v->ring_shift)) != 0;
}

/*
 * The mark, then the publisher's state: an asymmetric Dekker with
 * commit_cut() in log.c. After membarrier() (a full barrier on every CPU
 * that runs a registered publisher), either the publisher's commit will
 * see the mark and store no MSG, or its COMMITTING (or a later state)
 * is visible here. True if the word may be CASed now.
 */
static enum cut_result cut_mark(const struct log_repair *rep, const struct log_peers *peers,
				unsigned self, const struct claim_seen *c, bool live)
{
	if (self >= MAX_PUBS)
		return CUT_DONE;
	/* seq_cst: the Dekker's store; pairs with the acquire in commit_cut(). */
	atomic_store_explicit(&rep->ctl_pslots[self].cut_bytes, c->bytes + 1, memory_order_seq_cst);
	if (!live)
		return CUT_DONE;
	if (!wait_membarrier())
		return CUT_BLIND;
	/* seq_cst: the Dekker's load, after membarrier(); acquire for the
	 * word: a publisher seen past COMMITTING stored its commit first. */
	if (atomic_load_explicit(&peers->pubs[self]->claim_state, memory_order_seq_cst) ==
	    PUB_COMMITTING)
		return CUT_BUSY;
	return CUT_DONE;
}

/*
 * Give [c->bytes, c->end) up: frontier, a PAD to the ring's end if the
 * claim wrapped and its publisher did not write it, the guard word at the
 * end (it may have died before its own), the mark in its slot (the
 * publisher's commit checks it), then one ABANDONED record over the rest.
 * Stops, giving up nothing, where a record of this lap is already there:
 * the publisher committed, or the start was someone else's and so is what
 * follows. live: its publisher may still store (self < MAX_PUBS only).
 */
static enum cut_result claim_abandon(const struct log_view *v, const struct log_peers *peers,
				     const struct log_repair *rep, unsigned self,
				     const struct claim_seen *c, bool live)
{
	uint64_t b = claim_first(v, c), claims, readers = 0;
	enum cut_result r;

	frontier_raise(v, c->end);
	if (b != c->bytes) {
		uint64_t want =
		    rec_word_make(v->key, c->bytes, v->ring_shift, b - c->bytes, 0, REC_T_PAD);

		/* acquire; pairs with the publisher's PAD store. */
		if (atomic_load_explicit(&log_rec_at(v, c->bytes)->word, memory_order_acquire) !=
			want &&
		    !word_take(v, c->bytes, want))
			return CUT_NONE;
	}
	if (b >= c->end || c->end - b > log_max_span(v) || word_is_record(v, b))
		return CUT_NONE;
	/* its guard, where the publisher's own would have been allowed: not
	 * over the word of a record a reader or a claim still holds */
	log_claims_limit(v, peers, self, c->end, &claims);
	if (v->held_readers)
		log_reader_limit(v, peers, c->end, &readers);
	if (c->end + REC_ALIGN <= claims && (!v->held_readers || c->end + REC_ALIGN <= readers))
		word_take(v, c->end, 0);
	r = cut_mark(rep, peers, self, c, live);
	if (r != CUT_DONE)
		return r;
	return word_take(v, b,
			 rec_word_make(v->key, b, v->ring_shift, c->end - b, 0, REC_T_ABANDONED))
		   ? CUT_DONE
		   : CUT_NONE;
}

/*
 * Publish the hold (ctl->hold_bytes): 1 + the oldest start among the
 * orphans still to settle and extra (a claim being given up now;
 * UINT64_MAX: none), or 0. Publishers take it for a claim in progress, so
 * no lap reaches the words of a claim while we may still write them, also
 * after its publisher went idle or its slot was freed.
 */
static void hold_publish(const struct log_repair *rep, uint64_t extra)
{
	uint64_t low = extra, want;

	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (rep->orphans[i].state && rep->orphans[i].bytes < low)
			low = rep->orphans[i].bytes;
	want = low == UINT64_MAX ? 0 : low + 1;
	/* relaxed: our own word. */
	if (atomic_load_explicit(&rep->ctl->hold_bytes, memory_order_relaxed) != want)
		/* seq_cst; pairs with the load in log_claims_limit(): a
		 * publisher that rescans after this sees it, and one that
		 * rescanned before saw the claim in progress (claim_held()). */
		atomic_store_explicit(&rep->ctl->hold_bytes, want, memory_order_seq_cst);
}

/*
 * Hold c, then check that entry self still shows it in progress. A
 * publisher's cached bound was computed either while c was in progress
 * (a ring past it at most) or after it went idle; in the latter case it
 * rescans only after our check saw it idle (seq_cst on both sides), or
 * sees the hold. False (hold dropped): c is settled or was never its.
 */
static bool claim_held(const struct log_repair *rep, const struct log_peers *peers, unsigned self,
		       const struct claim_seen *c)
{
	const struct pub_entry *e = peers->pubs[self];

	hold_publish(rep, c->bytes);
	/* seq_cst: after the hold's store (a Dekker with log_claims_limit()). */
	if (atomic_load_explicit(&e->claim_state, memory_order_seq_cst) != PUB_IDLE &&
	    /* relaxed: ordered by the seq_cst load above. */
	    atomic_load_explicit(&e->claim_bytes, memory_order_relaxed) == c->bytes)
		return true;
	hold_publish(rep, UINT64_MAX);
	return false;
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

/*
 * Was the claim c of entry i given up while its publisher lives? The mark
 * claim_abandon() left in the entry's slot says so: the control segment is
 * the daemon's and survives a restart, so a restarted daemon knows it too.
 */
static bool claim_cut(const struct log_repair *rep, unsigned i, const struct claim_seen *c)
{
	/* relaxed: the daemon's own word, written by this thread. */
	return atomic_load_explicit(&rep->ctl_pslots[i].cut_bytes, memory_order_relaxed) ==
	       c->bytes + 1;
}

/*
 * One entry: returns true if its claim was given up just now. Sets the
 * watch's cut (the claim was given up, or marked, while its publisher
 * lives: report it when the ring comes round) and stop (report it now: it
 * sits inside its commit past stuck_ns, or we cannot cut it safely).
 */
static bool repair_pub(const struct log_view *v, const struct log_peers *peers,
		       struct log_repair *rep, const uint32_t *pids, unsigned i, uint64_t now_ns,
		       uint64_t stuck_ns, bool dead, uint64_t tail)
{
	struct log_pub_watch *w = &rep->pubs[i];
	enum cut_result r;
	struct claim_seen c;

	if (!peers->pubs[i])
		return false;
	claim_load(peers->pubs[i], &c);
	if (dead && v->pub_mode == SHMQ_PUBLISHERS_ONE && c.state != PUB_IDLE) {
		tail_settle(v, &c);
		/* acquire: as in log_repair_step(). */
		tail = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	}
	if (c.state == PUB_IDLE || c.state > PUB_COMMITTING) {
		*w = (struct log_pub_watch){0};
		return false;
	}
	if (w->claim_bytes != c.bytes || w->claim_state != c.state || !w->since_ns)
		*w = (struct log_pub_watch){
		    .claim_bytes = c.bytes, .claim_state = c.state, .since_ns = now_ns};
	w->cut = claim_cut(rep, i, &c);
	if (!w->cut && !dead && now_ns - w->since_ns < stuck_ns)
		return false;
	if (!claim_plausible(v, &c, tail))
		return false;
	if (c.state == PUB_CLAIMING && claim_shared(peers, pids, i, c.bytes))
		return false;
	/* every word of the claim is read and written under the hold */
	if (!claim_held(rep, peers, i, &c))
		return false;
	/* a marked claim is settled once its word is: retry until it is */
	if (w->cut && word_is_record(v, claim_first(v, &c)))
		r = CUT_NONE;
	else
		r = claim_abandon(v, peers, rep, i, &c, !dead);
	hold_publish(rep, UINT64_MAX);
	w->cut = claim_cut(rep, i, &c);
	/* inside its commit for stuck_ns (the watch restarts with each
	 * state), or no way to cut it safely: readers wait for it */
	w->stop = r == CUT_BLIND ||
		  (r == CUT_BUSY && c.state == PUB_COMMITTING && now_ns - w->since_ns >= stuck_ns);
	if (r != CUT_DONE)
		return false;
	/* relaxed: a statistic. */
	atomic_fetch_add_explicit(&rep->ctl->abandoned, c.count, memory_order_relaxed);
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
	enum cut_result r;

	if (c.state == PUB_CLAIMING && claim_plausible(v, &c, tail) &&
	    claim_shared(peers, pids, self, c.bytes))
		return -1;
	/* the hold kept every lap off it since it became an orphan: the tail
	 * is at most a ring past it, and stays so until we are done */
	o->state = 0;
	hold_publish(rep, c.bytes);
	r = claim_plausible(v, &c, tail) ? claim_abandon(v, peers, rep, MAX_PUBS, &c, false)
					 : CUT_NONE;
	hold_publish(rep, UINT64_MAX);
	if (r != CUT_DONE)
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
	/* also drops a hold a daemon before us left (it died in a repair) */
	hold_publish(rep, UINT64_MAX);
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
		if (dead || !rep->pubs[i].cut)
			continue;
		/* a live publisher still holds [claim, ...): publishers stop a
		 * ring later (log_claims_limit()); stop it before they must,
		 * or now if it sits inside its commit (readers wait for it) */
		if (rep->pubs[i].stop ||
		    tail + v->ring_bytes / 4 >= rep->pubs[i].claim_bytes + v->ring_bytes)
			out->stall_pid[out->nstall++] = pids[i];
	}
}

bool log_repair_open_orphan(const struct log_view *v, const struct log_peers *peers,
			    const uint32_t *pids, unsigned idx)
{
	struct claim_seen c;
	uint64_t tail;

	if (idx >= MAX_PUBS || !peers->pubs[idx])
		return false;
	claim_load(peers->pubs[idx], &c);
	/* acquire; as in log_repair_step(). */
	tail = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	return c.state == PUB_CLAIMING && claim_plausible(v, &c, tail) &&
	       claim_shared(peers, pids, idx, c.bytes);
}

bool log_repair_gone(const struct log_view *v, const struct log_peers *peers,
		     struct log_repair *rep, const uint32_t *pids, unsigned idx)
{
	struct log_orphan *o = NULL;
	struct claim_seen c;

	if (idx >= MAX_PUBS || !peers->pubs[idx])
		return false;
	claim_load(peers->pubs[idx], &c);
	/* also a claim we cut while it lived: one marked inside its commit
	 * (CUT_BUSY, CUT_BLIND) waited for this death, and nobody else will
	 * store its word; one already given up settles as a record below */
	if (c.state == PUB_IDLE || c.state > PUB_COMMITTING)
		return false;
	if (v->pub_mode == SHMQ_PUBLISHERS_ONE)
		tail_settle(v, &c);
	for (unsigned i = 0; i < MAX_PUBS && !o; i++)
		if (!rep->orphans[i].state)
			o = &rep->orphans[i];
	if (!o) /* more orphans than entries: no honest set of publishers */
		return false;
	*o = (struct log_orphan){c.bytes, c.end, c.pos, c.count, c.state};
	/* before the caller frees the slot, whose claim bound goes with it */
	hold_publish(rep, UINT64_MAX);
	return orphan_settle(v, peers, rep, pids, idx, o) == 1;
}
