/*
 * group.c - consumer-group dispatch (group.h, docs/ARCHITECTURE.md
 * "Consumer groups"): claim a message's pending entry, then advance the
 * shared dispatch cursor; redeliver by scanning [floor, dispatch); settle
 * (ack, nack, term, touch); move the floor. Every pair another member
 * writes is changed by a 16-byte CAS and read as one state; every value
 * read from the segment is bounded by the channel's tail before use.
 * Called by any thread of a member; no system call, no sleep.
 */
#include "group.h"

#include <string.h>

#include "wait.h"

/*
 * seq_cst (lock cmpxchg16b, a full barrier): every store before it is
 * visible to whoever sees the new pair, and no later access moves above
 * it. Written in assembly as tail_cas() in log.c is: ThreadSanitizer
 * turns the 16-byte builtin into a lock private to one process. On
 * failure *lo, *hi get the pair as it is.
 */
static bool cas16(void *p, uint64_t *lo, uint64_t *hi, uint64_t nlo, uint64_t nhi)
{
	unsigned __int128 *q = p;
#if defined(__x86_64__)
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*q), "+a"(*lo), "+d"(*hi)
			 : "b"(nlo), "c"(nhi)
			 : "memory");
	return ok;
#else
	unsigned __int128 o = (unsigned __int128)*hi << 64 | *lo;
	unsigned __int128 n = (unsigned __int128)nhi << 64 | nlo;
	unsigned __int128 seen = __sync_val_compare_and_swap(q, o, n);

	*lo = (uint64_t)seen;
	*hi = (uint64_t)(seen >> 64);
	return seen == o;
#endif
}

/*
 * A (bytes, pos) pair moved by CAS, whose bytes only grows: an unchanged
 * bytes around the pos load means both are of one state.
 */
static void pair_load(const _Atomic uint64_t *bytes, const _Atomic uint64_t *pos,
		      struct log_cursor *out)
{
	for (unsigned i = 0; i < 1024; i++) {
		/* acquire (all three); pairs with the CAS that moved the pair. */
		uint64_t b1 = atomic_load_explicit(bytes, memory_order_acquire);

		out->pos = atomic_load_explicit(pos, memory_order_acquire);
		out->bytes = atomic_load_explicit(bytes, memory_order_acquire);
		if (out->bytes == b1)
			return;
	}
}

void group_floor_load(const struct group_view *gv, struct log_cursor *out)
{
	pair_load(&gv->floor->bytes, &gv->floor->pos, out);
}

void group_dispatch_load(const struct group_view *gv, struct log_cursor *out)
{
	pair_load(&gv->g->dispatch_bytes, &gv->g->dispatch_pos, out);
}

static bool pair_cas(_Atomic uint64_t *bytes, const struct log_cursor *from,
		     const struct log_cursor *to)
{
	uint64_t lo = from->bytes, hi = from->pos;

	return cas16((void *)bytes, &lo, &hi, to->bytes, to->pos);
}

/* An entry as one state: pos, word, pos again (pos only grows). */
static void entry_load(const struct group_pending *e, uint64_t *pos, uint64_t *word)
{
	for (unsigned i = 0; i < 1024; i++) {
		/* acquire (all three); pairs with the CAS in entry_cas(). */
		uint64_t p1 = atomic_load_explicit(&e->pos, memory_order_acquire);

		*word = atomic_load_explicit(&e->word, memory_order_acquire);
		*pos = atomic_load_explicit(&e->pos, memory_order_acquire);
		if (*pos == p1)
			return;
	}
}

static bool entry_cas(struct group_pending *e, uint64_t pos, uint64_t word, uint64_t npos,
		      uint64_t nword)
{
	return cas16((void *)e, &pos, &word, npos, nword);
}

static struct group_pending *entry_of(const struct group_view *gv, uint64_t pos)
{
	return &gv->pend[pos & gv->mask];
}

/* relaxed: statistics, summed loosely by monitors. */
static void count(_Atomic uint64_t *c, uint64_t n)
{
	if (n)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t ms_since_epoch(const struct group_view *gv, uint64_t now_ns)
{
	return now_ns > gv->epoch_ns ? (now_ns - gv->epoch_ns) / 1000000 : 0;
}

uint64_t group_seg_bytes(uint32_t max_pending)
{
	uint64_t b = GROUP_HDR_BYTES + (uint64_t)max_pending * sizeof(struct group_pending);

	return (b + 4095) & ~(uint64_t)4095;
}

bool group_settings_valid(const struct group_settings *s)
{
	return s->max_pending && !(s->max_pending & (s->max_pending - 1)) &&
	       s->max_pending <= GROUP_MAX_PENDING && s->ack_wait_ns && s->max_deliver &&
	       s->reader_slot < MAX_READERS && !(s->flags & ~GROUP_F_DLQ);
}

int group_format(void *seg, uint64_t seg_bytes, const struct group_settings *s, const char *name,
		 uint64_t channel_id, uint64_t epoch_ns, const struct log_cursor *start)
{
	struct group_hdr *g = seg;

	if (!group_settings_valid(s) || seg_bytes < group_seg_bytes(s->max_pending) ||
	    strlen(name) >= GROUP_NAME_BYTES)
		return -SHMQ_EINVAL;
	g->version = GROUP_LAYOUT_VERSION;
	g->hdr_bytes = GROUP_HDR_BYTES;
	g->seg_bytes = seg_bytes;
	g->channel_id = channel_id;
	g->ack_wait_ns = s->ack_wait_ns;
	g->max_pending = s->max_pending;
	g->max_deliver = s->max_deliver;
	g->flags = s->flags;
	g->reader_slot = s->reader_slot;
	g->epoch_ns = epoch_ns;
	strcpy(g->name, name);
	/* relaxed: published by the release store of the magic below. */
	atomic_store_explicit(&g->dispatch_bytes, start->bytes, memory_order_relaxed);
	atomic_store_explicit(&g->dispatch_pos, start->pos, memory_order_relaxed);
	/* release; pairs with the acquire in group_attach(). */
	atomic_store_explicit(&g->magic, GROUP_MAGIC, memory_order_release);
	return 0;
}

int group_attach(struct group_view *gv, void *seg, uint64_t seg_bytes, struct reader_entry *floor,
		 uint64_t channel_id, uint32_t member, uint32_t mgen)
{
	struct group_hdr *g = seg;
	uint32_t mp;

	if (seg_bytes < GROUP_HDR_BYTES || member >= GROUP_MAX_MEMBERS)
		return -SHMQ_ECORRUPT;
	/* acquire; pairs with the release in group_format(). */
	if (atomic_load_explicit(&g->magic, memory_order_acquire) != GROUP_MAGIC)
		return -SHMQ_ECORRUPT;
	if (g->version != GROUP_LAYOUT_VERSION)
		return -SHMQ_EVERSION;
	mp = g->max_pending;
	if (g->hdr_bytes != GROUP_HDR_BYTES || !mp || (mp & (mp - 1)) || mp > GROUP_MAX_PENDING ||
	    group_seg_bytes(mp) > seg_bytes || g->channel_id != channel_id || !g->ack_wait_ns)
		return -SHMQ_ECORRUPT;
	*gv = (struct group_view){
	    .g = g,
	    .pend = (struct group_pending *)((uint8_t *)seg + GROUP_HDR_BYTES),
	    .floor = floor,
	    .ack_wait_ms = (g->ack_wait_ns + 999999) / 1000000,
	    .epoch_ns = g->epoch_ns,
	    .mask = mp - 1,
	    .max_pending = mp,
	    .max_deliver = g->max_deliver ? g->max_deliver : 1,
	    .member = member,
	    .mgen = mgen & 0xff,
	    .flags = g->flags & GROUP_F_DLQ,
	};
	return 0;
}

/*
 * Floor, then dispatch (the floor never passes dispatch, so read in this
 * order floor <= dispatch), both within what the channel ever published.
 */
static int span_load(const struct log_view *v, const struct group_view *gv,
		     struct log_cursor *floor, struct log_cursor *disp)
{
	struct log_cursor tail;

	group_floor_load(gv, floor);
	group_dispatch_load(gv, disp);
	log_tail_cursor(v, &tail);
	if (disp->bytes < floor->bytes || disp->pos < floor->pos || disp->bytes > tail.bytes ||
	    disp->pos > tail.pos || (floor->bytes | disp->bytes) % REC_ALIGN)
		return -SHMQ_ECORRUPT; /* a member wrote garbage into its group */
	return 0;
}

/*
 * log_read() at a cursor loaded from a shared pair, which other members
 * may have moved on since: once the floor passes a record, a block
 * publisher may rewrite it while we read it (a torn read, as a lapped drop
 * reader's). Returns as log_read(), and 2 if the record was not intact
 * (also when log_read() found garbage there): on block, the floor passed
 * it (loaded after an acquire fence that keeps the record's loads before
 * it: the floor only grows, so a floor still at or below it was so all
 * along); on drop, log_verify() says so.
 */
static int read_at(const struct log_view *v, const struct group_view *gv, struct log_cursor *cur,
		   struct log_rec *rec)
{
	struct log_cursor floor;
	uint64_t at = cur->bytes;
	int r = log_read(v, cur, rec);

	if (r == 0 || (r == 1 && v->policy != SHMQ_POLICY_BLOCK))
		return r == 0 || log_verify(v, rec) ? r : 2;
	atomic_thread_fence(memory_order_acquire);
	group_floor_load(gv, &floor);
	if (floor.bytes > (r == 1 ? rec->bytes : at))
		return 2;
	return r;
}

/* Is the member that holds word still the one the daemon lists? */
static bool holder_live(const struct group_view *gv, uint64_t word)
{
	const struct group_member *m = &gv->g->members[group_word_member(word)];

	/* acquire; pairs with the daemon's release store of the state: a
	 * member seen gone has stopped being admitted at that generation. */
	return atomic_load_explicit(&m->state, memory_order_acquire) == GM_LIVE &&
	       (atomic_load_explicit(&m->gen, memory_order_relaxed) & 0xff) ==
		   group_word_mgen(word);
}

/* May a scan take this entry (of message pos) now? */
static bool takeable(const struct group_view *gv, uint64_t word, uint64_t now_ms)
{
	unsigned st = group_word_state(word);

	if (st == GS_DELAYED)
		return group_word_deadline(word) <= now_ms;
	if (st != GS_HELD)
		return false;
	return group_word_deadline(word) <= now_ms || !holder_live(gv, word);
}

/*
 * Take entry (pos, word) for us, or declare it dead: 1 taken, 0 not. With
 * GROUP_F_DLQ a message past max_deliver is taken as a dead letter (held,
 * its deliveries unchanged): the taker copies it to the dead-letter
 * channel and then marks it dead; if the taker dies in between, the next
 * scan takes it as a dead letter again (a duplicate copy, same offset).
 */
static int take_entry(const struct group_view *gv, uint64_t pos, uint64_t word, uint64_t now_ms,
		      struct group_take *t)
{
	struct group_pending *e = entry_of(gv, pos);
	unsigned d = group_word_deliveries(word);
	uint64_t nw;

	if (gv->max_deliver != UINT32_MAX && d >= gv->max_deliver && (gv->flags & GROUP_F_DLQ)) {
		nw = group_word(GS_HELD, gv->member, gv->mgen, d, now_ms + gv->ack_wait_ms);
		if (!entry_cas(e, pos, word, pos, nw))
			return 0;
		t->deliveries = d;
		t->dead_letter = 1;
		return 1;
	}
	if (gv->max_deliver != UINT32_MAX && d >= gv->max_deliver) {
		nw = group_word(GS_DEAD, gv->member, gv->mgen, d, 0);
		if (entry_cas(e, pos, word, pos, nw))
			count(&gv->g->dead, 1);
		return 0;
	}
	nw = group_word(GS_HELD, gv->member, gv->mgen, d + 1, now_ms + gv->ack_wait_ms);
	if (!entry_cas(e, pos, word, pos, nw))
		return 0;
	t->deliveries = d + 1 > GROUP_DELIVERIES_MAX ? GROUP_DELIVERIES_MAX : d + 1;
	count(&gv->g->delivered, 1);
	count(&gv->g->redelivered, 1);
	return 1;
}

int group_scan(const struct log_view *v, const struct group_view *gv, uint64_t now_ns,
	       struct group_take *t)
{
	uint64_t now_ms = ms_since_epoch(gv, now_ns), pos, word;
	struct log_cursor floor, disp, cur;
	int r = span_load(v, gv, &floor, &disp);

	t->dead_letter = 0;
	if (r)
		return r;
	cur = floor;
	for (uint32_t n = 0; n < gv->max_pending && cur.bytes < disp.bytes; n++) {
		r = read_at(v, gv, &cur, &t->rec);
		if (r != 1 || t->rec.pos >= disp.pos)
			return r < 0 ? r : 0; /* 2: the floor moved past: look again later */
		entry_load(entry_of(gv, t->rec.pos), &pos, &word);
		if (pos == t->rec.pos && takeable(gv, word, now_ms) &&
		    take_entry(gv, pos, word, now_ms, t)) {
			t->lost = 0;
			return 1;
		}
		log_advance(&cur, &t->rec);
	}
	return 0;
}

int group_find(const struct log_view *v, const struct group_view *gv, uint64_t pos,
	       struct log_rec *rec, uint32_t *deliveries)
{
	struct log_cursor floor, disp, cur;
	uint64_t epos, word;
	int r = span_load(v, gv, &floor, &disp);

	if (r)
		return r;
	if (pos < floor.pos || pos >= disp.pos)
		return 0;
	cur = floor;
	for (uint32_t n = 0; n < gv->max_pending && cur.bytes < disp.bytes; n++) {
		r = read_at(v, gv, &cur, rec);
		if (r != 1 || rec->pos > pos)
			return r < 0 ? r : 0;
		if (rec->pos == pos) {
			entry_load(entry_of(gv, pos), &epos, &word);
			*deliveries = group_word_deliveries(word);
			return epos == pos;
		}
		log_advance(&cur, rec);
	}
	return 0;
}

/* Was message pos claimed already (the entry speaks of it, or of a later one)? */
static bool claimed(uint64_t entry_pos, uint64_t word, uint64_t pos)
{
	return entry_pos > pos || (entry_pos == pos && group_word_state(word) != GS_FREE);
}

/* Move dispatch from d past what t->rec ends at; count losses if we moved it. */
static void dispatch_move(const struct group_view *gv, const struct log_cursor *d,
			  const struct log_cursor *to, uint64_t lost)
{
	if (pair_cas(&gv->g->dispatch_bytes, d, to))
		count(&gv->g->lost, lost);
}

/*
 * One attempt at dispatching the record at d: 1 ours, 0 nothing there,
 * 2 raced (try again), -SHMQ_EFULL, <0.
 */
static int dispatch_once(const struct log_view *v, const struct group_view *gv,
			 const struct log_cursor *floor, const struct log_cursor *d,
			 uint64_t now_ms, struct group_take *t)
{
	struct log_cursor cur = *d, next;
	uint64_t pos, word, q;
	int r = read_at(v, gv, &cur, &t->rec);

	if (r < 0 || r == 2)
		return r;
	if (r == 0) { /* padding or lost messages passed, nothing ready yet */
		if (cur.bytes != d->bytes)
			dispatch_move(gv, d, &cur, t->rec.lost);
		return 0;
	}
	q = t->rec.pos;
	if (q - floor->pos >= gv->max_pending)
		return -SHMQ_EFULL;
	next = (struct log_cursor){q + 1, t->rec.bytes + t->rec.rec_bytes};
	entry_load(entry_of(gv, q), &pos, &word);
	if (claimed(pos, word, q)) { /* its claimant has not moved dispatch yet: help */
		dispatch_move(gv, d, &next, t->rec.lost);
		return 2;
	}
	if (group_word_state(word) == GS_HELD || group_word_state(word) == GS_DELAYED)
		return -SHMQ_EFULL; /* an older message still pending there */
	/* claim first ... */
	if (!entry_cas(entry_of(gv, q), pos, word, q,
		       group_word(GS_HELD, gv->member, gv->mgen, 1, now_ms + gv->ack_wait_ms)))
		return 2;
	/* ... then advance: a failure means another member advanced for us */
	t->lost = t->rec.lost;
	dispatch_move(gv, d, &next, t->rec.lost);
	t->deliveries = 1;
	count(&gv->g->delivered, 1);
	return 1;
}

int group_take(const struct log_view *v, const struct group_view *gv, bool scan, uint64_t now_ns,
	       struct group_take *t)
{
	uint64_t now_ms = ms_since_epoch(gv, now_ns);
	struct log_cursor floor, disp;
	int r;

	t->dead_letter = 0;
	if (scan) {
		r = group_scan(v, gv, now_ns, t);
		if (r)
			return r;
	}
	for (unsigned tries = 0; tries < 64; tries++) {
		r = span_load(v, gv, &floor, &disp);
		if (r)
			return r;
		if (disp.pos - floor.pos >= gv->max_pending)
			return -SHMQ_EFULL;
		r = dispatch_once(v, gv, &floor, &disp, now_ms, t);
		if (r != 2)
			return r;
	}
	return 0; /* contended: the caller comes back */
}

int group_settle(const struct group_view *gv, uint64_t pos, unsigned how, uint64_t now_ns,
		 uint64_t delay_ns)
{
	struct group_pending *e = entry_of(gv, pos);
	uint64_t now_ms = ms_since_epoch(gv, now_ns), epos, word, nw;
	unsigned d;

	entry_load(e, &epos, &word);
	if (epos != pos || group_word_state(word) != GS_HELD ||
	    group_word_member(word) != gv->member || group_word_mgen(word) != gv->mgen)
		return -SHMQ_ENOTHELD;
	d = group_word_deliveries(word);
	switch (how) {
	case GSET_ACK:
		nw = group_word(GS_ACKED, gv->member, gv->mgen, d, 0);
		break;
	case GSET_NACK:
		nw = group_word(GS_DELAYED, gv->member, gv->mgen, d,
				now_ms + (delay_ns + 999999) / 1000000);
		break;
	case GSET_TERM:
		nw = group_word(GS_DEAD, gv->member, gv->mgen, d, 0);
		break;
	case GSET_TOUCH:
		nw = group_word(GS_HELD, gv->member, gv->mgen, d, now_ms + gv->ack_wait_ms);
		break;
	default:
		nw = group_word(GS_DELAYED, gv->member, gv->mgen, d, 0);
		break;
	}
	/* only a scan that found our deadline passed changes a HELD entry of
	 * ours: then it is no longer ours */
	if (!entry_cas(e, epos, word, epos, nw))
		return -SHMQ_ENOTHELD;
	if (how == GSET_ACK)
		count(&gv->g->acked, 1);
	else if (how == GSET_TERM)
		count(&gv->g->dead, 1);
	return 0;
}

uint64_t group_floor_advance(const struct log_view *v, const struct group_view *gv, unsigned max)
{
	struct log_cursor floor, disp, cur;
	struct log_rec rec;
	uint64_t passed = 0, pos, word;
	unsigned st;
	int r;

	for (unsigned i = 0; i < max; i++) {
		if (span_load(v, gv, &floor, &disp) || floor.bytes >= disp.bytes)
			break;
		cur = floor;
		r = read_at(v, gv, &cur, &rec);
		if (r == 2)
			continue; /* another member moved the floor past it */
		if (r != 1 || rec.pos >= disp.pos) {
			/* padding or overwritten messages (drop) before dispatch */
			if (cur.bytes == floor.bytes || cur.bytes > disp.bytes ||
			    !pair_cas(&gv->floor->bytes, &floor, &cur))
				break;
			count(&gv->g->lost, rec.lost);
			continue;
		}
		entry_load(entry_of(gv, rec.pos), &pos, &word);
		st = group_word_state(word);
		if (pos != rec.pos || (st != GS_ACKED && st != GS_DEAD))
			break;
		log_advance(&cur, &rec);
		if (pair_cas(&gv->floor->bytes, &floor, &cur)) {
			count(&gv->g->lost, rec.lost);
			passed += cur.pos - floor.pos;
		}
	}
	return passed;
}

uint64_t group_give_back(const struct log_view *v, const struct group_view *gv, uint64_t now_ns)
{
	struct log_cursor floor, disp, cur;
	struct log_rec rec;
	uint64_t n = 0, pos, word;

	if (span_load(v, gv, &floor, &disp))
		return 0;
	cur = floor;
	for (uint32_t i = 0; i < gv->max_pending && cur.bytes < disp.bytes; i++) {
		if (read_at(v, gv, &cur, &rec) != 1 || rec.pos >= disp.pos)
			break;
		entry_load(entry_of(gv, rec.pos), &pos, &word);
		if (pos == rec.pos && group_word_state(word) == GS_HELD &&
		    group_word_member(word) == gv->member && group_word_mgen(word) == gv->mgen)
			n += !group_settle(gv, rec.pos, GSET_GIVE, now_ns, 0);
		log_advance(&cur, &rec);
	}
	return n;
}
