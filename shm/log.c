/*
 * log.c - claim, commit, read and repair on the channel log (see log.h and
 * docs/ARCHITECTURE.md "Channel log").
 *
 * Invariants: tail_pos only grows; a slot's state word only grows (its pos
 * part is monotonic per slot, and for one pos CLAIMED < COMMITTED/ABANDONED);
 * a slot is written only by the publisher that moved it to CLAIMED for pos.
 * Every value loaded from shared memory is bounded before use: a peer may be
 * hostile or dead mid-write.
 */
#include "log.h"

#include <string.h>

#include "wait.h"

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int log_geometry_make(uint64_t capacity_bytes, uint32_t max_message_bytes, uint32_t policy,
		      struct log_geometry *out)
{
	uint64_t slot_bytes, nslots = MIN_SLOTS;

	if (max_message_bytes == 0 || max_message_bytes > MAX_MESSAGE_BYTES || policy > 1)
		return -SHMQ_EINVAL;
	slot_bytes = (SLOT_HDR_BYTES + (uint64_t)max_message_bytes + CACHE_LINE - 1) &
		     ~(uint64_t)(CACHE_LINE - 1);
	while (nslots * slot_bytes < capacity_bytes && nslots * 2 <= MAX_SLOTS)
		nslots *= 2;
	if (nslots * slot_bytes > (1ull << 40))
		return -SHMQ_EINVAL;
	*out = (struct log_geometry){
		.nslots = nslots,
		.slot_bytes = (uint32_t)slot_bytes,
		.max_message_bytes = max_message_bytes,
		.policy = policy,
		.data_bytes = DATA_HDR_BYTES + nslots * slot_bytes,
		.ctl_bytes = CTL_SEG_BYTES,
	};
	return 0;
}

int log_format(void *data, void *ctl, const struct log_geometry *g, const char *name,
	       uint64_t channel_id)
{
	struct data_hdr *d = data;
	struct ctl_hdr *c = ctl;

	if (strlen(name) >= sizeof(d->name))
		return -SHMQ_ENAME;
	d->version = LAYOUT_VERSION;
	d->hdr_bytes = DATA_HDR_BYTES;
	d->seg_bytes = g->data_bytes;
	d->nslots = g->nslots;
	d->slot_bytes = g->slot_bytes;
	d->max_message_bytes = g->max_message_bytes;
	d->policy = g->policy;
	d->channel_id = channel_id;
	strcpy(d->name, name);
	c->version = LAYOUT_VERSION;
	c->hdr_bytes = CTL_HDR_BYTES;
	c->seg_bytes = g->ctl_bytes;
	c->channel_id = channel_id;
	c->max_readers = MAX_READERS;
	c->max_groups = MAX_GROUPS;
	c->groups_off = CTL_HDR_BYTES + MAX_READERS * sizeof(struct reader_entry);
	/* release: geometry above is visible before the magic; pairs with the
	 * acquire in log_attach(). */
	atomic_store_explicit(&c->magic, CTL_MAGIC, memory_order_release);
	atomic_store_explicit(&d->magic, DATA_MAGIC, memory_order_release);
	return 0;
}

static int attach_check(const struct data_hdr *d, uint64_t data_bytes, const struct ctl_hdr *c,
			uint64_t ctl_bytes)
{
	uint64_t nslots = d->nslots, slot_bytes = d->slot_bytes;

	if (d->version != LAYOUT_VERSION || c->version != LAYOUT_VERSION)
		return -SHMQ_EVERSION;
	if (d->hdr_bytes != DATA_HDR_BYTES || c->hdr_bytes != CTL_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	if (!is_pow2(nslots) || nslots < MIN_SLOTS || nslots > MAX_SLOTS)
		return -SHMQ_ECORRUPT;
	if (slot_bytes % CACHE_LINE || d->max_message_bytes == 0 ||
	    d->max_message_bytes > MAX_MESSAGE_BYTES ||
	    SLOT_HDR_BYTES + (uint64_t)d->max_message_bytes > slot_bytes)
		return -SHMQ_ECORRUPT;
	if (d->seg_bytes != data_bytes || DATA_HDR_BYTES + nslots * slot_bytes > data_bytes)
		return -SHMQ_ECORRUPT;
	if (c->seg_bytes != ctl_bytes || ctl_bytes < CTL_SEG_BYTES ||
	    c->max_readers != MAX_READERS || c->channel_id != d->channel_id || d->policy > 1)
		return -SHMQ_ECORRUPT;
	return 0;
}

int log_attach(struct log_view *v, void *data, uint64_t data_bytes, void *ctl, uint64_t ctl_bytes)
{
	struct data_hdr *d = data;
	struct ctl_hdr *c = ctl;
	int err;

	if (data_bytes < DATA_HDR_BYTES || ctl_bytes < CTL_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	/* acquire; pairs with the release in log_format(): geometry is complete. */
	if (atomic_load_explicit(&d->magic, memory_order_acquire) != DATA_MAGIC ||
	    atomic_load_explicit(&c->magic, memory_order_acquire) != CTL_MAGIC)
		return -SHMQ_ECORRUPT;
	err = attach_check(d, data_bytes, c, ctl_bytes);
	if (err)
		return err;
	*v = (struct log_view){
		.data = d,
		.ctl = c,
		.readers = (struct reader_entry *)((uint8_t *)c + CTL_HDR_BYTES),
		.slots = (uint8_t *)d + DATA_HDR_BYTES,
		.nslots = d->nslots,
		.mask = d->nslots - 1,
		.slot_bytes = d->slot_bytes,
		.max_message_bytes = d->max_message_bytes,
		.policy = d->policy,
		.channel_id = d->channel_id,
	};
	return 0;
}

uint64_t log_tail(const struct log_view *v)
{
	/* acquire; pairs with the CAS in log_claim(). */
	return atomic_load_explicit(&v->data->tail_pos, memory_order_acquire);
}

uint64_t log_oldest(const struct log_view *v)
{
	uint64_t tail = log_tail(v);

	return tail > v->nslots ? tail - v->nslots : 0;
}

uint64_t log_reader_limit(const struct log_view *v, uint64_t tail)
{
	uint64_t low = tail, floor = tail > v->nslots ? tail - v->nslots : 0;

	for (unsigned i = 0; i < MAX_READERS; i++) {
		struct reader_entry *r = &v->readers[i];
		uint64_t pos;

		/* acquire; pairs with the daemon's release store of ACTIVE,
		 * after it wrote the entry's starting pos. */
		if (atomic_load_explicit(&r->state, memory_order_acquire) != READER_ACTIVE)
			continue;
		/* acquire; pairs with the store in cursor publication (sub
		 * side): the reader finished with every slot below pos. */
		pos = atomic_load_explicit(&r->pos, memory_order_acquire);
		if (pos < floor) /* lapped already (late joiner) or hostile */
			pos = floor;
		if (pos < low)
			low = pos;
	}
	return low + v->nslots;
}

/* The state a slot shows when its previous lap, before pos, is finished. */
static bool slot_free_for(const struct log_view *v, uint64_t word, uint64_t pos)
{
	unsigned st = slot_word_state(word);

	if (pos < v->nslots)
		return word == 0;
	return slot_word_pos1(word) == pos - v->nslots + 1 &&
	       (st == SLOT_COMMITTED || st == SLOT_ABANDONED);
}

static int claim_pos(const struct log_view *v, uint64_t *limit, uint64_t *pos)
{
	/* relaxed: a first guess, the CAS below validates it. */
	uint64_t t = atomic_load_explicit(&v->data->tail_pos, memory_order_relaxed);

	for (;;) {
		if (v->policy == 1 && t >= *limit) {
			*limit = log_reader_limit(v, t);
			if (t >= *limit)
				return -SHMQ_EFULL;
		}
		/* relaxed: tail only hands out positions; the slot state CAS
		 * in log_claim() orders the slot's contents. */
		if (atomic_compare_exchange_weak_explicit(&v->data->tail_pos, &t, t + 1,
							  memory_order_relaxed, memory_order_relaxed))
			break;
	}
	*pos = t;
	return 0;
}

/*
 * The slot shows our pos or a later lap: the daemon gave our pos up (we
 * stalled between tail and slot), and publishers may since have lapped
 * it. Honest if the lap seen is one of ours, below tail.
 */
static int lapped_claim(const struct log_view *v, uint64_t w, uint64_t pos)
{
	uint64_t seen = slot_word_pos1(w) - 1;

	if ((seen & v->mask) != (pos & v->mask) || seen >= log_tail(v))
		return -SHMQ_ECORRUPT;
	return -SHMQ_EABANDONED;
}

static int take_slot(const struct log_view *v, struct slot_hdr *s, uint64_t pos, uint32_t pid)
{
	unsigned spins = 0;

	for (;;) {
		/* acquire; pairs with the commit/abandon CAS of the previous
		 * lap: its writer is done with the slot. */
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);

		if (slot_free_for(v, w, pos)) {
			s->claimer_pid = pid;
			/* acq_rel: claimer_pid is visible with CLAIMED to the
			 * daemon (release); nothing of ours moves above it. */
			if (atomic_compare_exchange_strong_explicit(&s->state, &w,
								    slot_word(pos, SLOT_CLAIMED),
								    memory_order_acq_rel,
								    memory_order_acquire))
				break;
			continue;
		}
		if (slot_word_pos1(w) > pos)
			return lapped_claim(v, w, pos);
		/* the previous lap's publisher has not committed yet: wait;
		 * the daemon abandons it within its stuck timeout. */
		if (++spins & 1023)
			wait_cpu_relax();
		else
			wait_yield();
	}
	/* release: a seqlock reader that sees any payload byte written after
	 * this fence also sees CLAIMED; pairs with the acquire fence in
	 * log_verify(). */
	atomic_thread_fence(memory_order_release);
	return 0;
}

int log_claim(const struct log_view *v, uint64_t *limit, uint32_t len, uint32_t pid,
	      uint64_t *pos)
{
	int err;

	if (len > v->max_message_bytes)
		return -SHMQ_ETOOBIG;
	err = claim_pos(v, limit, pos);
	if (err)
		return err;
	return take_slot(v, log_slot(v, *pos), *pos, pid);
}

static int finish(const struct log_view *v, uint64_t pos, unsigned state)
{
	struct slot_hdr *s = log_slot(v, pos);
	uint64_t want = slot_word(pos, SLOT_CLAIMED);

	/* seq_cst: release for readers (pairs with the acquire in
	 * log_read()), and ordered before the wake_needed load below (pairs
	 * with the seq_cst store and fence of a reader going to sleep). */
	if (!atomic_compare_exchange_strong_explicit(&s->state, &want, slot_word(pos, state),
						     memory_order_seq_cst, memory_order_relaxed))
		return -SHMQ_EABANDONED;
	/* seq_cst; pairs with the reader's store before its re-check: either
	 * we see its flag or it sees our record. The load keeps the line
	 * shared while nobody sleeps; the exchange gives the wake to exactly
	 * one publisher per sleep, so a burst of commits to sleeping readers
	 * costs one wake-up, not one per commit. */
	if (!atomic_load_explicit(&v->ctl->wake_needed, memory_order_seq_cst))
		return 0;
	return atomic_exchange_explicit(&v->ctl->wake_needed, 0, memory_order_seq_cst) != 0;
}

int log_commit(const struct log_view *v, uint64_t pos, uint32_t len, uint64_t timestamp_ns)
{
	struct slot_hdr *s = log_slot(v, pos);

	if (len > v->max_message_bytes)
		return -SHMQ_ETOOBIG;
	/* relaxed: a filter only, finish()'s CAS decides. If the daemon took
	 * the claim, a later lap may own the slot: leave its header alone. */
	if (atomic_load_explicit(&s->state, memory_order_relaxed) != slot_word(pos, SLOT_CLAIMED))
		return -SHMQ_EABANDONED;
	s->len = len;
	s->flags = REC_F_NONE;
	s->timestamp_ns = timestamp_ns;
	return finish(v, pos, SLOT_COMMITTED);
}

int log_abort(const struct log_view *v, uint64_t pos)
{
	return finish(v, pos, SLOT_ABANDONED);
}

/* A later lap owns the slot at *pos: jump to the oldest retained pos. */
static int read_overrun(const struct log_view *v, uint64_t *pos, uint64_t seen_pos,
			struct log_rec *rec)
{
	uint64_t tail = log_tail(v), oldest;

	if (seen_pos >= tail) /* a slot ahead of tail: no honest publisher */
		return -SHMQ_ECORRUPT;
	oldest = tail > v->nslots ? tail - v->nslots : 0;
	if (oldest <= *pos)
		oldest = *pos + 1;
	rec->lost += oldest - *pos;
	*pos = oldest;
	return 0;
}

int log_read(const struct log_view *v, uint64_t *pos, struct log_rec *rec)
{
	rec->lost = 0;
	rec->abandoned = 0;
	for (;;) {
		struct slot_hdr *s = log_slot(v, *pos);
		/* acquire; pairs with the seq_cst CAS in finish(): the payload
		 * and len are complete when COMMITTED is seen. */
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		uint64_t p1 = slot_word_pos1(w);
		int err;

		if (p1 < *pos + 1)
			return 0; /* older lap: not published yet */
		if (p1 > *pos + 1) {
			err = read_overrun(v, pos, p1 - 1, rec);
			if (err)
				return err;
			continue;
		}
		if (slot_word_state(w) == SLOT_CLAIMED)
			return 0;
		if (slot_word_state(w) == SLOT_ABANDONED) {
			rec->lost++;
			rec->abandoned++;
			(*pos)++;
			continue;
		}
		if (slot_word_state(w) != SLOT_COMMITTED)
			return -SHMQ_ECORRUPT;
		rec->len = s->len;
		if (rec->len > v->max_message_bytes)
			return -SHMQ_ECORRUPT;
		rec->flags = s->flags;
		rec->timestamp_ns = s->timestamp_ns;
		rec->data = (const uint8_t *)s + SLOT_HDR_BYTES;
		rec->pos = *pos;
		rec->word = w;
		return 1;
	}
}

bool log_verify(const struct log_view *v, const struct log_rec *rec)
{
	/* acquire fence: the payload reads before it are ordered before the
	 * state load; pairs with the release fence in take_slot(). */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&log_slot(v, rec->pos)->state, memory_order_relaxed) ==
	       rec->word;
}

/*
 * The pos a repair of the slot at scan_pos gives up: the pos it is CLAIMED
 * for, which may be an earlier lap that holds up the claimer of scan_pos,
 * or else the pos due next in the slot, whose claimer never took it. Never
 * a later lap than that: a publisher waiting for the slot then goes on.
 */
static uint64_t repair_target(const struct log_view *v, uint64_t scan_pos, uint64_t w)
{
	uint64_t target;

	if (slot_word_state(w) == SLOT_CLAIMED)
		target = slot_word_pos1(w) - 1;
	else if (w == 0)
		target = scan_pos & v->mask;
	else
		target = slot_word_pos1(w) - 1 + v->nslots;
	if (target > scan_pos || (target & v->mask) != (scan_pos & v->mask))
		return scan_pos; /* no honest word: give up scan_pos itself */
	return target;
}

static bool repair_stuck(const struct log_view *v, struct log_repair *rep, uint64_t w,
			 uint64_t target, uint64_t now_ns, uint64_t stuck_ns,
			 log_pid_alive_fn alive, void *arg)
{
	struct slot_hdr *s = log_slot(v, rep->scan_pos);
	bool dead = false;

	if (rep->stuck_pos != rep->scan_pos || rep->stuck_word != w) {
		rep->stuck_pos = rep->scan_pos;
		rep->stuck_word = w;
		rep->stuck_since_ns = now_ns;
	}
	if (slot_word_state(w) == SLOT_CLAIMED && slot_word_pos1(w) == target + 1)
		dead = alive && !alive(s->claimer_pid, arg);
	if (!dead && now_ns - rep->stuck_since_ns < stuck_ns)
		return false;
	/* seq_cst: like finish(), the abandon is a release for readers; the
	 * daemon wakes sleepers unconditionally after a repair. */
	return atomic_compare_exchange_strong_explicit(&s->state, &w,
						       slot_word(target, SLOT_ABANDONED),
						       memory_order_seq_cst, memory_order_relaxed);
}

int log_repair_step(const struct log_view *v, struct log_repair *rep, uint64_t now_ns,
		    uint64_t stuck_ns, unsigned budget, log_pid_alive_fn alive, void *arg)
{
	uint64_t tail = log_tail(v);
	int abandoned = 0;

	if (tail - rep->scan_pos > v->nslots || rep->scan_pos > tail)
		rep->scan_pos = tail > v->nslots ? tail - v->nslots : 0;
	while (rep->scan_pos < tail && budget--) {
		/* acquire; pairs with finish(): for the record only. */
		uint64_t w = atomic_load_explicit(&log_slot(v, rep->scan_pos)->state,
						  memory_order_acquire);
		uint64_t p1 = slot_word_pos1(w), target;
		unsigned st = slot_word_state(w);

		if (p1 > rep->scan_pos + 1 ||
		    (p1 == rep->scan_pos + 1 && (st == SLOT_COMMITTED || st == SLOT_ABANDONED))) {
			rep->scan_pos++;
			continue;
		}
		target = repair_target(v, rep->scan_pos, w);
		if (!repair_stuck(v, rep, w, target, now_ns, stuck_ns, alive, arg))
			break;
		/* relaxed: a statistic. */
		atomic_fetch_add_explicit(&v->ctl->abandoned, 1, memory_order_relaxed);
		abandoned++;
		if (target != rep->scan_pos)
			break; /* an earlier lap: scan_pos's claimer may go on now */
		rep->scan_pos++;
	}
	return abandoned;
}

void log_reader_unmark(const struct log_view *v, struct reader_entry *r, uint32_t mark)
{
	uint32_t want = mark;

	/* acq_rel: exactly one party clears a mark; pairs with the CAS in
	 * log_wake() and in the reader's own wake-up path. */
	if (atomic_compare_exchange_strong_explicit(&r->armed, &want, MARK_NONE,
						    memory_order_acq_rel, memory_order_relaxed))
		/* relaxed: a count; the mark's CAS orders it. */
		atomic_fetch_sub_explicit(&v->ctl->sleepers, 1, memory_order_relaxed);
}

void log_wake(const struct log_view *v, int *efds, bool *have_efds, log_efds_fn need_efds,
	      void *arg)
{
	/* release: the new sequence precedes the wake; a sleeper that loaded
	 * the old one returns from FUTEX_WAIT (pairs with sub.c's load). */
	uint32_t hi;

	atomic_fetch_add_explicit(&v->ctl->wake_seq, 1, memory_order_release);
	wait_wake(&v->ctl->wake_seq, INT32_MAX);
	/* acquire; pairs with the release in the daemon's reader assignment.
	 * A reader arms only after it was assigned, and our seq_cst load of
	 * sleepers that brought us here read its increment, so its index is
	 * below the value seen. Bounded: any client may write the word. */
	hi = atomic_load_explicit(&v->ctl->readers_hi, memory_order_acquire);
	if (hi == 0 || hi > MAX_READERS) /* someone sleeps, so 0 is not the truth */
		hi = MAX_READERS;
	for (unsigned i = 0; i < hi; i++) {
		struct reader_entry *r = &v->readers[i];
		uint32_t want = MARK_EFD;

		/* relaxed: a cheap filter; the CAS decides. */
		if (atomic_load_explicit(&r->armed, memory_order_relaxed) != MARK_EFD)
			continue;
		if (!*have_efds && need_efds) {
			*have_efds = true;
			need_efds(arg); /* may leave *have_efds false: ask again next time */
		}
		if (!efds || efds[i] < 0) {
			/* cannot signal it: leave the mark, and the wake, to one
			 * who can. seq_cst like a reader's own store. */
			atomic_store_explicit(&v->ctl->wake_needed, 1, memory_order_seq_cst);
			continue;
		}
		/* acq_rel; pairs with log_reader_unmark(). */
		if (!atomic_compare_exchange_strong_explicit(&r->armed, &want, MARK_NONE,
							     memory_order_acq_rel,
							     memory_order_relaxed))
			continue;
		/* relaxed: a count; the CAS above orders it. */
		atomic_fetch_sub_explicit(&v->ctl->sleepers, 1, memory_order_relaxed);
		wait_efd_signal(efds[i]);
	}
}
