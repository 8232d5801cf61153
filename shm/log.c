/*
 * log.c - claim, commit, read and repair on the channel log, format v3 (see
 * log.h and docs/ARCHITECTURE.md "Records", "Publishing", "Reading").
 *
 * Invariants: the tail pair (pos, bytes) only grows, and claims tile the
 * byte space in tail order; a record's bytes are written only by the
 * publisher whose tail move covered them, before its commit store; the
 * commit word at a claim's start is zeroed by the claim before it (the
 * guard), then stored once by its publisher, MSG or ABANDONED (or CASed
 * once by the daemon to ABANDONED, never over a MSG: commit_cut()); frontier and the chunk index
 * are set before the bytes they announce are written; no claim reaches a ring past a claim in
 * progress. Every value loaded from shared memory is bounded before use: a peer may be hostile or
 * dead mid-write. Callers: any thread, on its own cursor or publisher state; log_repair_*() the
 * daemon's main thread only.
 */
#include "log.h"

#include <string.h>

#include "wait.h"

/* Named pause points: a test that includes this file may define LOG_PAUSE
 * to stop a publisher between two steps (tests/shm/test_log_steps.c). */
#ifndef LOG_PAUSE
#define LOG_PAUSE(point) ((void)0)
#endif

#define CHUNK_BITS 4u /* log2(CHUNKS) */
static_assert(1u << CHUNK_BITS == CHUNKS, "chunk index");

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int log_geometry_make(uint64_t capacity_bytes, uint32_t max_message_bytes, uint32_t policy,
		      uint32_t pub_mode, uint32_t flags, struct log_geometry *out)
{
	uint64_t ring = MIN_RING_BYTES, max_record;

	if (max_message_bytes == 0 || max_message_bytes > MAX_MESSAGE_BYTES ||
	    policy > SHMQ_POLICY_BLOCK || pub_mode > SHMQ_PUBLISHERS_ONE ||
	    (flags & ~DATA_F_NO_TIMESTAMP) || capacity_bytes > MAX_RING_BYTES)
		return -SHMQ_EINVAL;
	max_record = rec_bytes_for(max_message_bytes, REC_EXT_MAX);
	while (ring < capacity_bytes || ring < 4 * max_record)
		ring *= 2;
	*out = (struct log_geometry){
	    .ring_bytes = ring,
	    .max_message_bytes = max_message_bytes,
	    .max_record_bytes = (uint32_t)max_record,
	    .policy = policy,
	    .pub_mode = pub_mode,
	    .flags = flags,
	    .data_bytes = DATA_HDR_BYTES + ring,
	    .ctl_bytes = CTL_SEG_BYTES,
	};
	return 0;
}

int log_format(void *data, void *ctl, const struct log_geometry *g, const char *name,
	       uint64_t channel_id, uint64_t base_pos, uint64_t key)
{
	struct data_hdr *d = data;
	struct ctl_hdr *c = ctl;

	if (strlen(name) >= sizeof(d->name))
		return -SHMQ_ENAME;
	/* the low two bits clear: a zeroed word decodes to type 0, never a record */
	key &= ~(uint64_t)3;
	d->version = LAYOUT_VERSION;
	d->hdr_bytes = DATA_HDR_BYTES;
	d->seg_bytes = g->data_bytes;
	d->ring_bytes = g->ring_bytes;
	d->max_message_bytes = g->max_message_bytes;
	d->policy = g->policy;
	d->channel_id = channel_id;
	d->base_pos = base_pos;
	d->rec_key = key ? key : 0x5bd1e9955bd1e994ull;
	d->pub_mode = g->pub_mode;
	d->ring_shift = (uint32_t)__builtin_ctzll(g->ring_bytes);
	d->max_record_bytes = g->max_record_bytes;
	d->flags = g->flags;
	d->compat = FEAT_COMPAT_STATS;
	strcpy(d->name, name);
	/* relaxed: nobody maps the segment before the magic below */
	atomic_store_explicit(&d->tail_pos, base_pos, memory_order_relaxed);
	atomic_store_explicit(&d->chunks[0].pos, base_pos, memory_order_relaxed);
	atomic_store_explicit(&d->chunks[0].bytes, 1, memory_order_relaxed); /* bytes 0, + 1 */
	c->version = CTL_LAYOUT_VERSION;
	c->hdr_bytes = CTL_HDR_BYTES;
	c->seg_bytes = g->ctl_bytes;
	c->channel_id = channel_id;
	c->max_readers = MAX_READERS;
	c->max_pubs = MAX_PUBS;
	c->max_groups = MAX_GROUPS;
	c->readers_off = CTL_READERS_OFF;
	c->pubs_off = CTL_PUBS_OFF;
	c->groups_off = CTL_GROUPS_OFF;
	/* relaxed: nobody maps the segment before the magic below */
	atomic_store_explicit(&c->state, CHAN_LIVE, memory_order_relaxed);
	/* release: geometry above is visible before the magic; pairs with the
	 * acquire in log_attach(). */
	atomic_store_explicit(&c->magic, CTL_MAGIC, memory_order_release);
	atomic_store_explicit(&d->magic, DATA_MAGIC, memory_order_release);
	return 0;
}

static int attach_check_data(const struct data_hdr *d, uint64_t data_bytes)
{
	uint64_t ring = d->ring_bytes, max_msg = d->max_message_bytes;

	if (d->hdr_bytes != DATA_HDR_BYTES || !is_pow2(ring) || ring < MIN_RING_BYTES ||
	    ring > MAX_RING_BYTES || d->ring_shift != (uint32_t)__builtin_ctzll(ring))
		return -SHMQ_ECORRUPT;
	if (d->seg_bytes != data_bytes || DATA_HDR_BYTES + ring != data_bytes)
		return -SHMQ_ECORRUPT;
	if (max_msg == 0 || max_msg > MAX_MESSAGE_BYTES ||
	    d->max_record_bytes != rec_bytes_for(max_msg, REC_EXT_MAX) ||
	    4 * (uint64_t)d->max_record_bytes > ring)
		return -SHMQ_ECORRUPT;
	if (d->policy > SHMQ_POLICY_BLOCK || d->pub_mode > SHMQ_PUBLISHERS_ONE ||
	    (d->flags & ~DATA_F_NO_TIMESTAMP) || d->rec_key == 0 || (d->rec_key & 3))
		return -SHMQ_ECORRUPT;
	return 0;
}

static int attach_check_ctl(const struct ctl_hdr *c, uint64_t ctl_bytes, uint64_t channel_id)
{
	if (c->version != CTL_LAYOUT_VERSION)
		return -SHMQ_EVERSION;
	if (c->hdr_bytes != CTL_HDR_BYTES || c->seg_bytes != ctl_bytes ||
	    ctl_bytes < CTL_SEG_BYTES || c->max_readers != MAX_READERS || c->max_pubs != MAX_PUBS ||
	    c->readers_off != CTL_READERS_OFF || c->pubs_off != CTL_PUBS_OFF ||
	    c->max_groups != MAX_GROUPS || c->groups_off != CTL_GROUPS_OFF ||
	    c->channel_id != channel_id)
		return -SHMQ_ECORRUPT;
	return 0;
}

int log_recheck(const struct log_view *v, uint64_t data_bytes, uint64_t ctl_bytes)
{
	const struct data_hdr *d = v->data;
	int err;

	/* relaxed: the geometry was published before we attached; this looks
	 * again only for a peer that scribbled on it since */
	if (atomic_load_explicit(&d->magic, memory_order_relaxed) != DATA_MAGIC ||
	    atomic_load_explicit(&v->ctl->magic, memory_order_relaxed) != CTL_MAGIC)
		return -SHMQ_ECORRUPT;
	if (d->version != LAYOUT_VERSION || (d->incompat & ~FEAT_INCOMPAT_KNOWN))
		return -SHMQ_EVERSION;
	err = attach_check_data(d, data_bytes);
	if (!err)
		err = attach_check_ctl(v->ctl, ctl_bytes, d->channel_id);
	if (!err && (d->ring_bytes != v->ring_bytes || d->rec_key != v->key ||
		     d->channel_id != v->channel_id))
		err = -SHMQ_ECORRUPT;
	return err;
}

int log_attach(struct log_view *v, const struct log_segs *segs, uint32_t *unknown_incompat)
{
	struct data_hdr *d = segs->data;
	const struct ctl_hdr *c = segs->ctl;
	uint64_t data_bytes = segs->data_bytes;
	uint32_t unknown;
	int err;

	if (data_bytes < DATA_HDR_BYTES || segs->ctl_bytes < CTL_HDR_BYTES ||
	    segs->wake_bytes < WAKE_SEG_BYTES)
		return -SHMQ_ECORRUPT;
	/* acquire; pairs with the release in log_format(): geometry is complete. */
	if (atomic_load_explicit(&d->magic, memory_order_acquire) != DATA_MAGIC ||
	    atomic_load_explicit(&c->magic, memory_order_acquire) != CTL_MAGIC)
		return -SHMQ_ECORRUPT;
	if (d->version != LAYOUT_VERSION)
		return -SHMQ_EVERSION;
	unknown = d->incompat & ~FEAT_INCOMPAT_KNOWN;
	if (unknown_incompat)
		*unknown_incompat = unknown;
	if (unknown)
		return -SHMQ_EVERSION;
	err = attach_check_data(d, data_bytes);
	if (!err)
		err = attach_check_ctl(c, segs->ctl_bytes, d->channel_id);
	if (err)
		return err;
	*v = (struct log_view){
	    .data = d,
	    .ctl = c,
	    .rslots = (const struct ctl_slot *)((const uint8_t *)c + CTL_READERS_OFF),
	    .pslots = (const struct ctl_slot *)((const uint8_t *)c + CTL_PUBS_OFF),
	    .wake = segs->wake,
	    .ring = (uint8_t *)d + DATA_HDR_BYTES,
	    .ring_bytes = d->ring_bytes,
	    .mask = d->ring_bytes - 1,
	    .key = d->rec_key,
	    .chunk_bytes = d->ring_bytes / CHUNKS,
	    .channel_id = d->channel_id,
	    .base_pos = d->base_pos,
	    .ring_shift = d->ring_shift,
	    .max_message_bytes = d->max_message_bytes,
	    .max_record_bytes = d->max_record_bytes,
	    .policy = d->policy,
	    .pub_mode = d->pub_mode,
	    .flags = d->flags,
	    .held_readers = d->policy == SHMQ_POLICY_BLOCK	  ? MAX_READERS
			    : d->incompat & FEAT_INCOMPAT_JOURNAL ? JOURNAL_READER_SLOT + 1
								  : 0,
	    .journal = (d->incompat & FEAT_INCOMPAT_JOURNAL) != 0,
	};
	return 0;
}

/* ---- the tail ---- */

uint64_t log_tail(const struct log_view *v)
{
	/* acquire; pairs with the tail move in a claim: a figure for display. */
	return atomic_load_explicit(&v->data->tail_pos, memory_order_acquire);
}

/*
 * A (pos, bytes) pair under a seqlock whose one writer makes seq odd while
 * it stores them. False if it never settled (a writer that died halfway,
 * or a hostile one).
 */
static bool pair_read_seq(const _Atomic uint32_t *seq, const _Atomic uint64_t *pos,
			  const _Atomic uint64_t *bytes, struct log_cursor *out)
{
	for (unsigned i = 0; i < 1024; i++) {
		/* acquire; pairs with the writer's release store of the even seq:
		 * the pair below is at least that new. */
		uint32_t s1 = atomic_load_explicit(seq, memory_order_acquire);

		if (s1 & 1) {
			wait_cpu_relax();
			continue;
		}
		/* relaxed: validated by the seq re-read after the fence. */
		out->pos = atomic_load_explicit(pos, memory_order_relaxed);
		out->bytes = atomic_load_explicit(bytes, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(seq, memory_order_relaxed) == s1)
			return true;
	}
	return false;
}

/* Exclusive mode: the pair under tail_seq (tail_store(), tail_settle()). */
static bool tail_read_seq(const struct data_hdr *d, struct log_cursor *out)
{
	return pair_read_seq(&d->tail_seq, &d->tail_pos, &d->tail_bytes, out);
}

/* Many publishers: both halves move in one CAS, and bytes always grows, so
 * an unchanged bytes around the pos load means the pair is one state. */
static bool tail_read_cas(const struct data_hdr *d, struct log_cursor *out)
{
	for (unsigned i = 0; i < 1024; i++) {
		/* acquire (all three): ordered loads of one CAS-updated pair. */
		uint64_t b1 = atomic_load_explicit(&d->tail_bytes, memory_order_acquire);

		out->pos = atomic_load_explicit(&d->tail_pos, memory_order_acquire);
		out->bytes = atomic_load_explicit(&d->tail_bytes, memory_order_acquire);
		if (out->bytes == b1)
			return true;
	}
	return false;
}

void log_tail_cursor(const struct log_view *v, struct log_cursor *out)
{
	bool ok = v->pub_mode == SHMQ_PUBLISHERS_ONE ? tail_read_seq(v->data, out)
						     : tail_read_cas(v->data, out);

	if (!ok) { /* a writer that never settles: take the halves as they are */
		out->pos = log_tail(v);
		/* acquire: as in log_pending(). */
		out->bytes = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	}
}

/*
 * seq_cst (lock cmpxchg16b, a full barrier): the claim. Every store of the
 * claimant before it (its intent) is visible to whoever sees the new tail,
 * and none of its ring writes moves above it. On failure, *expect gets the
 * current pair. On x86-64 it is spelled in assembly: the compiler's 16-byte
 * builtin is the same instruction, but ThreadSanitizer replaces it with a
 * lock private to the process, which other processes do not take.
 */
static bool tail_cas(struct data_hdr *d, struct log_cursor *expect, const struct log_cursor *want)
{
	unsigned __int128 *p = (unsigned __int128 *)(void *)&d->tail_pos;
#if defined(__x86_64__)
	uint64_t lo = expect->pos, hi = expect->bytes;
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*p), "+a"(lo), "+d"(hi)
			 : "b"(want->pos), "c"(want->bytes)
			 : "memory");
	expect->pos = lo;
	expect->bytes = hi;
	return ok;
#else
	unsigned __int128 o = (unsigned __int128)expect->bytes << 64 | expect->pos;
	unsigned __int128 n = (unsigned __int128)want->bytes << 64 | want->pos;
	unsigned __int128 seen = __sync_val_compare_and_swap(p, o, n);

	if (seen == o)
		return true;
	expect->pos = (uint64_t)seen;
	expect->bytes = (uint64_t)(seen >> 64);
	return false;
#endif
}

/* Exclusive mode: plain stores under tail_seq; then a release fence so the
 * ring writes that follow stay below the new tail for readers. */
static void tail_store(struct data_hdr *d, const struct log_cursor *t)
{
	/* relaxed: only we write the seq. */
	uint32_t s = atomic_load_explicit(&d->tail_seq, memory_order_relaxed);

	atomic_store_explicit(&d->tail_seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&d->tail_pos, t->pos, memory_order_relaxed);
	atomic_store_explicit(&d->tail_bytes, t->bytes, memory_order_relaxed);
	/* release; pairs with the acquire in tail_read_seq(). */
	atomic_store_explicit(&d->tail_seq, s + 2, memory_order_release);
	/* release fence: a drop reader that sees any byte we write next also
	 * sees the tail above (pairs with the acquire fence in log_read()). */
	atomic_thread_fence(memory_order_release);
}

/* ---- chunk index ---- */

static bool chunk_load(const struct log_view *v, uint64_t k, struct log_cursor *out)
{
	const struct chunk_entry *e = &v->data->chunks[k % CHUNKS];
	/* acquire; pairs with the release store in chunk_store(). */
	uint64_t b1 = atomic_load_explicit(&e->bytes, memory_order_acquire);

	/* relaxed: validated by re-reading bytes after the fence. */
	out->pos = atomic_load_explicit(&e->pos, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (b1 == 0 || atomic_load_explicit(&e->bytes, memory_order_relaxed) != b1)
		return false;
	out->bytes = b1 - 1;
	return out->bytes >= (k << (v->ring_shift - CHUNK_BITS)) && !(out->bytes % REC_ALIGN);
}

static void chunk_store(const struct log_view *v, uint64_t k, const struct log_cursor *at)
{
	struct chunk_entry *e = &v->data->chunks[k % CHUNKS];

	/* relaxed + release fence: readers see the entry invalid before they
	 * can see the new pos with the old bytes. */
	atomic_store_explicit(&e->bytes, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->pos, at->pos, memory_order_relaxed);
	/* release; pairs with the acquire in chunk_load(). */
	atomic_store_explicit(&e->bytes, at->bytes + 1, memory_order_release);
}

/*
 * After a tail move over [t.bytes, end): raise frontier to the chunk of our
 * last byte (the guard word at end), then index every chunk start we crossed. The entry points at
 * our claim's start if the chunk starts there, else after the claim, never
 * inside it: a batch is entered at its first record only.
 */
static void announce(const struct log_view *v, struct log_pub *p, const struct log_cursor *t,
		     uint64_t end, uint32_t count)
{
	uint32_t shift = v->ring_shift - CHUNK_BITS;
	/* our last byte is the guard word at end */
	uint64_t want = end >> shift, k = (t->bytes + v->chunk_bytes - 1) >> shift;
	/* acquire; pairs with the release of whoever raised it last. */
	uint64_t f = atomic_load_explicit(&v->data->frontier, memory_order_acquire);
	struct log_cursor after = {t->pos + count, end};

	if (p->exclusive && f < want)
		atomic_store_explicit(&v->data->frontier, want, memory_order_release);
	/* release: pairs with the acquire fence of a drop reader (overwritten()). */
	while (!p->exclusive && f < want &&
	       !atomic_compare_exchange_weak_explicit(&v->data->frontier, &f, want,
						      memory_order_release, memory_order_acquire))
		;
	for (; (k << shift) < end; k++)
		chunk_store(v, k, (k << shift) == t->bytes ? t : &after);
	/* release fence: the ring writes that follow stay after frontier. */
	atomic_thread_fence(memory_order_release);
}

/* ---- publishing ---- */

void log_pub_init(const struct log_view *v, struct log_pub *p, uint32_t idx, struct pub_entry *me,
		  const struct log_peers *peers, bool have_membarrier)
{
	*p = (struct log_pub){.me = me,
			      .slot = me && idx < MAX_PUBS ? &v->pslots[idx] : NULL,
			      .peers = peers,
			      .idx = idx,
			      .exclusive = v->pub_mode == SHMQ_PUBLISHERS_ONE,
			      .fence = !have_membarrier};
	if (p->exclusive)
		log_tail_cursor(v, &p->tail);
}

/*
 * Slot s is active: is the entry mapped for it (map at generation gen) the
 * one it has now? Call after an acquire load of s->state saw ACTIVE.
 */
static bool slot_mapped(const struct ctl_slot *s, const void *map, uint32_t gen)
{
	/* relaxed: ordered by the caller's acquire of the state. */
	return map && atomic_load_explicit(&s->gen, memory_order_relaxed) == gen;
}

/* acquire; pairs with the daemon's release of ACTIVE after it wrote the
 * generation and the entry's first contents. */
static bool slot_active(const struct ctl_slot *s)
{
	return atomic_load_explicit(&s->state, memory_order_acquire) == SLOT_ACTIVE;
}

bool log_slot_stale(const struct ctl_slot *s, uint32_t gen, bool mapped)
{
	if (!slot_active(s))
		return false;
	/* relaxed: ordered by the acquire in slot_active(). */
	return !mapped || atomic_load_explicit(&s->gen, memory_order_relaxed) != gen;
}

int log_reader_limit(const struct log_view *v, const struct log_peers *peers, uint64_t tail_bytes,
		     uint64_t *limit)
{
	uint64_t low = tail_bytes,
		 floor = tail_bytes > v->ring_bytes ? tail_bytes - v->ring_bytes : 0;
	int err = 0;

	for (unsigned i = 0; i < v->held_readers; i++) {
		const struct reader_entry *r;
		uint64_t b;

		if (!slot_active(&v->rslots[i]))
			continue;
		r = peers->readers[i];
		if (!slot_mapped(&v->rslots[i], r, peers->rgen[i])) {
			err = -SHMQ_ESTATE; /* a reader we cannot see yet */
			continue;
		}
		/* acquire; pairs with the store in log_cursor_store(): the
		 * reader finished with every byte below. */
		b = atomic_load_explicit(&r->bytes, memory_order_acquire);
		if (b < floor) /* lapped already (late joiner) or hostile */
			b = floor;
		if (b < low)
			low = b;
	}
	*limit = low + v->ring_bytes;
	return err;
}

int log_claims_limit(const struct log_view *v, const struct log_peers *peers, uint32_t self,
		     uint64_t tail_bytes, uint64_t *limit)
{
	uint64_t low = tail_bytes, hold;
	int err = 0;

	for (unsigned i = 0; i < MAX_PUBS; i++) {
		const struct pub_entry *e;
		uint64_t b;

		if (i == self || !slot_active(&v->pslots[i]))
			continue;
		e = peers->pubs[i];
		if (!slot_mapped(&v->pslots[i], e, peers->pgen[i])) {
			err = -SHMQ_ESTATE;
			continue;
		}
		/* seq_cst (a plain load on x86): acquire, pairs with the
		 * release in intent_store(); and ordered before the hold load
		 * below (see hold_publish() in repair.c). */
		if (atomic_load_explicit(&e->claim_state, memory_order_seq_cst) == PUB_IDLE)
			continue;
		/* relaxed: bounded below; a start over a ring old is no
		 * claim this bound ever let live that long (hostile). */
		b = atomic_load_explicit(&e->claim_bytes, memory_order_relaxed);
		if (b < low && b + v->ring_bytes >= tail_bytes)
			low = b;
	}
	/* seq_cst; pairs with the daemon's store in hold_publish(): a claim
	 * it is giving up holds us back like one in progress. */
	hold = atomic_load_explicit(&v->ctl->hold_bytes, memory_order_seq_cst);
	if (hold && hold - 1 < low && hold - 1 + v->ring_bytes >= tail_bytes)
		low = hold - 1;
	*limit = low + v->ring_bytes;
	return err;
}

/*
 * May a claim from start end at end? Never a ring past a claim still in
 * progress (its publisher may write there yet) or one the daemon is giving
 * up (hold_bytes: an exclusive publisher heeds only that), then the block
 * bound. Both
 * bounds are cached: a new claim starts at the tail, so neither can drop.
 * *guard says whether the word at end may be zeroed too (guard_next()):
 * not when a bound is exactly end, for then that word is the header of a
 * record still being read or written, an intact word of its own lap that
 * no reader takes for ours.
 */
/* The cached bounds ran out: compute them again (once a ring or so). */
static __attribute__((noinline, cold)) int
limits_refresh(const struct log_view *v, struct log_pub *p, uint64_t start, uint64_t end)
{
	int err;

	if (end + REC_ALIGN > p->claims_limit) {
		err = log_claims_limit(v, p->peers, p->idx, start, &p->claims_limit);
		if (err && !p->stale_ok) {
			p->claims_limit = 0;
			return err;
		}
		if (end > p->claims_limit)
			return -SHMQ_EFULL;
	}
	if (v->held_readers && end + REC_ALIGN > p->limit) {
		err = log_reader_limit(v, p->peers, start, &p->limit);
		if (err) { /* a reader we cannot see may be anywhere: wait */
			p->limit = 0;
			return err;
		}
		if (end > p->limit)
			return -SHMQ_EFULL;
	}
	return 0;
}

static int check_space(const struct log_view *v, struct log_pub *p, uint64_t start, uint64_t end,
		       bool *guard)
{
	if (end + REC_ALIGN > p->claims_limit || (v->held_readers && end + REC_ALIGN > p->limit)) {
		int err = limits_refresh(v, p, start, end);

		if (err)
			return err;
	}
	*guard =
	    end + REC_ALIGN <= p->claims_limit && (!v->held_readers || end + REC_ALIGN <= p->limit);
	return 0;
}

static void intent_store(struct log_pub *p, const struct log_cursor *t, uint64_t end,
			 uint32_t count, uint32_t state)
{
	if (!p->me)
		return;
	/* relaxed: our own entry; the claim_state store below publishes. */
	atomic_store_explicit(&p->me->claim_bytes, t->bytes, memory_order_relaxed);
	atomic_store_explicit(&p->me->claim_end, end, memory_order_relaxed);
	atomic_store_explicit(&p->me->claim_pos, t->pos, memory_order_relaxed);
	atomic_store_explicit(&p->me->claim_count, count, memory_order_relaxed);
	/* release; pairs with the daemon's acquire in log_repair_step(): the
	 * fields above are this state's. For CLAIMING it also precedes the
	 * tail move (a seq_cst CAS, or stores after it in program order). */
	atomic_store_explicit(&p->me->claim_state, state, memory_order_release);
}

static void state_store(struct log_pub *p, uint32_t state)
{
	if (p->me)
		/* release: as in intent_store(). */
		atomic_store_explicit(&p->me->claim_state, state, memory_order_release);
}

/*
 * Move the tail over span bytes of count records, with a PAD first if they
 * would run past the ring's end. Fills c.
 */
/*
 * Zero the word where the record after a claim ending at end will start,
 * so that whoever reads on after our records meets 0 (nothing yet) or the
 * next commit, never bytes an older lap left there. Called after our tail
 * move: the word is then the next claim's header, which only its claimant
 * writes, and only with atomic stores (its PAD or commit word). An
 * exclusive publisher is that claimant: a plain store. Among many, the next
 * claimant may have committed already: zero only what is not a record of
 * this lap, by CAS, so that a commit landing meanwhile is never undone.
 */
static void guard_next(const struct log_view *v, const struct log_pub *p, uint64_t end)
{
	_Atomic uint64_t *w = &log_rec_at(v, end)->word;
	uint64_t seen;

	if (p->exclusive) {
		/* relaxed: ordered before our commit by its release. */
		atomic_store_explicit(w, 0, memory_order_relaxed);
		return;
	}
	/* relaxed: as above; the CAS re-checks. */
	seen = atomic_load_explicit(w, memory_order_relaxed);
	/* bounded: only a hostile peer keeps changing the word under us */
	for (unsigned n = 0;
	     n < 64 && seen && !rec_word_type(rec_word_decode(seen, v->key, end, v->ring_shift));
	     n++)
		if (atomic_compare_exchange_weak_explicit(w, &seen, 0, memory_order_relaxed,
							  memory_order_relaxed))
			break;
}

static int claim_span(const struct log_view *v, struct log_pub *p, uint64_t span, uint32_t count,
		      struct log_claim *c)
{
	struct log_cursor t = p->tail, next;
	uint64_t pad, end;
	bool guard = false;
	int err;

	if (!p->exclusive) {
		/* relaxed: a first guess; the CAS compares both halves. */
		t.pos = atomic_load_explicit(&v->data->tail_pos, memory_order_relaxed);
		t.bytes = atomic_load_explicit(&v->data->tail_bytes, memory_order_relaxed);
	}
	for (;;) {
		/* a tail off the record grid was scribbled (hostile): a claim
		 * from it could lay a record across the ring's end */
		if (t.bytes % REC_ALIGN) {
			state_store(p, PUB_IDLE);
			return -SHMQ_ECORRUPT;
		}
		pad = (t.bytes & v->mask) + span > v->ring_bytes
			  ? v->ring_bytes - (t.bytes & v->mask)
			  : 0;
		end = t.bytes + pad + span;
		err = check_space(v, p, t.bytes, end, &guard);
		if (err) {
			state_store(p, PUB_IDLE);
			return err;
		}
		intent_store(p, &t, end, count, PUB_CLAIMING);
		next = (struct log_cursor){t.pos + count, end};
		if (p->exclusive) {
			tail_store(v->data, &next);
			p->tail = next;
			break;
		}
		if (tail_cas(v->data, &t, &next))
			break;
	}
	state_store(p, PUB_CLAIMED);
	announce(v, p, &t, end, count);
	if (guard)
		guard_next(v, p, end);
	*c = (struct log_claim){
	    .at = {t.pos, t.bytes + pad}, .end = end, .start = t.bytes, .count = count};
	if (pad) {
		struct rec_hdr *h = log_rec_at(v, t.bytes);

		/* the first record starts at the lap: no earlier claim guarded
		 * that word, so ours does, before the PAD leads readers there */
		atomic_store_explicit(&log_rec_at(v, c->at.bytes)->word, 0, memory_order_relaxed);
		h->pos = t.pos;
		/* release; pairs with the acquire in log_read(). */
		atomic_store_explicit(
		    &h->word, rec_word_make(v->key, t.bytes, v->ring_shift, pad, 0, REC_T_PAD),
		    memory_order_release);
	}
	return 0;
}

int log_claim(const struct log_view *v, struct log_pub *p, uint32_t len, uint32_t ext,
	      struct log_claim *c)
{
	if (len > v->max_message_bytes || ext > REC_EXT_MAX)
		return -SHMQ_ETOOBIG;
	return claim_span(v, p, rec_bytes_for(len, ext), 1, c);
}

uint64_t log_claim_rec_bytes(const struct log_claim *c, const uint32_t *lens, const uint32_t *exts,
			     unsigned i)
{
	uint64_t b = c->at.bytes;

	for (unsigned j = 0; j < i; j++)
		b += rec_bytes_for(lens[j], exts ? exts[j] : 0);
	return b;
}

int log_claimv(const struct log_view *v, struct log_pub *p, const uint32_t *lens,
	       const uint32_t *exts, unsigned n, struct log_claim *c)
{
	uint64_t span = 0;

	if (n == 0 || n > MAX_BATCH || !lens)
		return -SHMQ_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (lens[i] > v->max_message_bytes || (exts && exts[i] > REC_EXT_MAX))
			return -SHMQ_ETOOBIG;
		span += rec_bytes_for(lens[i], exts ? exts[i] : 0);
	}
	if (span > log_max_span(v))
		return -SHMQ_ETOOBIG;
	return claim_span(v, p, span, n, c);
}

/* A claim of ours given up (aborted, or cut by the daemon): count it. */
static void count_abandoned(struct log_pub *p)
{
	if (p->me)
		/* relaxed: a counter in our own entry, one writer. */
		atomic_store_explicit(
		    &p->me->abandoned,
		    atomic_load_explicit(&p->me->abandoned, memory_order_relaxed) + 1,
		    memory_order_relaxed);
}

/* Store ABANDONED over the claim's records (the word of the first). */
static void abandon_store(const struct log_view *v, const struct log_claim *c)
{
	/* release; pairs with the acquire in log_read(). The daemon may CAS
	 * the same value there: either order leaves this one word. */
	atomic_store_explicit(&log_rec_at(v, c->at.bytes)->word,
			      rec_word_make(v->key, c->at.bytes, v->ring_shift,
					    c->end - c->at.bytes, 0, REC_T_ABANDONED),
			      memory_order_release);
}

/* The daemon cut our claim: ABANDONED over it, idle, count. */
static __attribute__((noinline, cold)) bool
commit_refused(const struct log_view *v, struct log_pub *p, const struct log_claim *c)
{
	abandon_store(v, c);
	state_store(p, PUB_IDLE);
	count_abandoned(p);
	return true;
}

/*
 * Enter the commit: COMMITTING in our entry, then look for the daemon's cut
 * mark. True if the daemon gave our claim up (we stalled): we then store
 * ABANDONED ourselves (the daemon, seeing COMMITTING, may have left it to
 * us), idle and count. An asymmetric Dekker with cut_mark() in repair.c:
 * the daemon stores the mark, runs membarrier() and then loads our state,
 * so either we see the mark here, or it sees COMMITTING (or later) and
 * leaves the word to us. A word is thus MSG or ABANDONED, never one then
 * the other. p->slot is set only with p->me.
 */
static inline bool commit_cut(const struct log_view *v, struct log_pub *p,
			      const struct log_claim *c)
{
	if (!p->slot)
		return false;
	/* relaxed: ordered before the mark load below by the daemon's
	 * membarrier() (a compiler barrier here), or by a full fence where
	 * we could not register for it; our commit store follows in order. */
	atomic_store_explicit(&p->me->claim_state, PUB_COMMITTING, memory_order_relaxed);
	if (p->fence)
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
	/* acquire; pairs with the daemon's seq_cst store in cut_mark(). */
	if (atomic_load_explicit(&p->slot->cut_bytes, memory_order_acquire) != c->start + 1)
		return false;
	return commit_refused(v, p, c);
}

/*
 * After the commit store: idle our entry, count, and learn whether a reader
 * sleeps. The wake_needed load must not pass the commit store (Dekker with
 * a reader going to sleep): membarrier() on the reader's side orders it
 * (a compiler barrier here), or, where that is refused, a full fence.
 */
static int finish(const struct log_view *v, struct log_pub *p, uint32_t count, uint64_t bytes,
		  uint32_t max_len)
{
	if (SHMQ_COUNTERS && p->me && max_len > p->max_len) {
		p->max_len = max_len;
		/* relaxed: a counter in our own entry, one writer. */
		atomic_store_explicit(&p->me->max_len, max_len, memory_order_relaxed);
	}
	if (SHMQ_COUNTERS && p->me) {
		/* relaxed: counters in our own entry, one writer; the sums are
		 * kept here, so a commit stores them and loads nothing */
		p->published += count;
		p->published_bytes += bytes;
		atomic_store_explicit(&p->me->published, p->published, memory_order_relaxed);
		atomic_store_explicit(&p->me->published_bytes, p->published_bytes,
				      memory_order_relaxed);
	}
	state_store(p, PUB_IDLE);
	if (p->fence)
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
	/* relaxed; ordered by the fence above or the reader's membarrier:
	 * either we see its flag or its re-check sees our record. The load
	 * keeps the line shared while nobody sleeps; the exchange gives the
	 * wake to exactly one publisher per sleep. */
	if (!atomic_load_explicit(&v->wake->wake_needed, memory_order_relaxed))
		return 0;
	/* acq_rel: one publisher takes each sleep's wake. */
	return atomic_exchange_explicit(&v->wake->wake_needed, 0, memory_order_acq_rel) != 0;
}

static void rec_commit(const struct log_view *v, uint64_t bytes, uint64_t pos, uint64_t rec_bytes,
		       uint32_t len, uint32_t ext, uint64_t ts, unsigned flags)
{
	struct rec_hdr *h = log_rec_at(v, bytes);

	h->pos = pos;
	h->len = len;
	h->crc = 0;
	h->timestamp_ns = ts;
	/* release: header and payload are complete when the word is seen;
	 * pairs with the acquire in log_read(). The one store of the commit. */
	atomic_store_explicit(&h->word,
			      rec_word_make(v->key, bytes, v->ring_shift, rec_bytes,
					    flags | (ext ? REC_F_EXT : 0), REC_T_MSG),
			      memory_order_release);
}

int log_commit(const struct log_view *v, struct log_pub *p, const struct log_claim *c, uint32_t len,
	       uint32_t ext, uint64_t timestamp_ns)
{
	uint64_t span = c->end - c->at.bytes;

	if (c->count != 1 || rec_bytes_for(len, ext) > span)
		return -SHMQ_EINVAL;
	if (commit_cut(v, p, c))
		return -SHMQ_EABANDONED;
	LOG_PAUSE(COMMIT_CHECKED);
	rec_commit(v, c->at.bytes, c->at.pos, span, len, ext, timestamp_ns, 0);
	return finish(v, p, 1, len, len);
}

int log_commitv(const struct log_view *v, struct log_pub *p, const struct log_claim *c,
		const uint32_t *lens, const uint32_t *exts, uint64_t timestamp_ns)
{
	uint64_t b = log_claim_rec_bytes(c, lens, exts, c->count), total = 0;
	uint32_t max_len = 0;

	if (b != c->end)
		return -SHMQ_EINVAL;
	if (commit_cut(v, p, c))
		return -SHMQ_EABANDONED;
	/* the last record first, the first one last: readers reach the batch
	 * through its first record, so they see all of it or none */
	for (unsigned i = c->count; i-- > 0;) {
		uint32_t ext = exts ? exts[i] : 0;
		uint64_t rb = rec_bytes_for(lens[i], ext);

		b -= rb;
		rec_commit(v, b, c->at.pos + i, rb, lens[i], ext, timestamp_ns,
			   i == 0 && c->count > 1 ? REC_F_BATCH : 0);
		total += lens[i];
		max_len = lens[i] > max_len ? lens[i] : max_len;
	}
	return finish(v, p, c->count, total, max_len);
}

int log_abort(const struct log_view *v, struct log_pub *p, const struct log_claim *c)
{
	/* ABANDONED, whoever stores it: no order with the daemon is needed */
	if (commit_cut(v, p, c))
		return -SHMQ_EABANDONED;
	abandon_store(v, c);
	count_abandoned(p);
	return finish(v, p, 0, 0, 0);
}

void log_reader_unmark(const struct log_view *v, uint32_t idx, uint32_t mark)
{
	uint32_t want = mark;

	if (idx >= MAX_READERS)
		return;
	/* acq_rel: exactly one party clears a mark; pairs with the CAS in
	 * log_wake() and in the reader's own wake-up path. */
	if (atomic_compare_exchange_strong_explicit(&v->wake->marks[idx].armed, &want, MARK_NONE,
						    memory_order_acq_rel, memory_order_relaxed))
		/* relaxed: a count; the mark's CAS orders it. */
		atomic_fetch_sub_explicit(&v->wake->sleepers, 1, memory_order_relaxed);
}

void log_wake(const struct log_view *v, int *efds, bool *have_efds, log_efds_fn need_efds,
	      void *arg)
{
	uint32_t hi;

	/* release: the new sequence precedes the wake; a sleeper that loaded
	 * the old one returns from FUTEX_WAIT (pairs with sub.c's load). */
	atomic_fetch_add_explicit(&v->wake->wake_seq, 1, memory_order_release);
	wait_wake(&v->wake->wake_seq, INT32_MAX);
	/* acquire; pairs with the release in the daemon's reader assignment. */
	hi = atomic_load_explicit(&v->ctl->readers_hi, memory_order_acquire);
	if (hi > MAX_READERS)
		hi = MAX_READERS;
	for (unsigned i = 0; i < hi; i++) {
		_Atomic uint32_t *armed = &v->wake->marks[i].armed;
		uint32_t want = MARK_EFD;

		/* relaxed: a cheap filter; the CAS decides. */
		if (atomic_load_explicit(armed, memory_order_relaxed) != MARK_EFD)
			continue;
		if (!*have_efds && need_efds) {
			*have_efds = true;
			need_efds(arg); /* may leave *have_efds false: ask again next time */
		}
		if (!efds || efds[i] < 0) {
			/* cannot signal it: leave the mark, and the wake, to one
			 * who can. seq_cst like a reader's own store. */
			atomic_store_explicit(&v->wake->wake_needed, 1, memory_order_seq_cst);
			continue;
		}
		/* acq_rel; pairs with log_reader_unmark(). */
		if (!atomic_compare_exchange_strong_explicit(
			armed, &want, MARK_NONE, memory_order_acq_rel, memory_order_relaxed))
			continue;
		/* relaxed: a count; the CAS above orders it. */
		atomic_fetch_sub_explicit(&v->wake->sleepers, 1, memory_order_relaxed);
		wait_fd_signal(efds[i]); /* never blocks, whoever set the flags */
	}
}

bool log_sleep_fence(void)
{
	return wait_membarrier();
}

bool log_pub_register(void)
{
	return wait_membarrier_register();
}

void log_cal_store(const struct log_view *v, uint64_t tsc_base, uint64_t ns_base, uint64_t mult)
{
	struct data_hdr *d = v->data;
	/* relaxed: only the daemon writes the calibration. */
	uint32_t s = atomic_load_explicit(&d->cal_seq, memory_order_relaxed);

	atomic_store_explicit(&d->cal_seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&d->cal_tsc_base, tsc_base, memory_order_relaxed);
	atomic_store_explicit(&d->cal_ns_base, ns_base, memory_order_relaxed);
	atomic_store_explicit(&d->cal_mult, mult, memory_order_relaxed);
	/* release; pairs with the acquire in log_timestamp(). */
	atomic_store_explicit(&d->cal_seq, s + 2, memory_order_release);
}

/* ---- reading ---- */

/*
 * Drop policy: may bytes at or after `bytes` have been rewritten by a later
 * lap? Call after an acquire fence that follows the reads to be checked.
 * frontier first (a line that changes once per chunk), the tail (the
 * publishers' hot line) only within a chunk of being lapped.
 */
static bool overwritten(const struct log_view *v, uint64_t bytes)
{
	/* acquire; pairs with the release in announce(). */
	uint64_t f = atomic_load_explicit(&v->data->frontier, memory_order_acquire);

	if ((f + 1) << (v->ring_shift - CHUNK_BITS) <= bytes + v->ring_bytes)
		return false;
	/* acquire; pairs with the tail move (CAS, or tail_store()'s fence).
	 * A claim writes up to its end's guard word: reaching bytes + ring
	 * is enough to have changed the word at bytes. */
	return atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire) >=
	       bytes + v->ring_bytes;
}

void log_oldest(const struct log_view *v, struct log_cursor *out)
{
	uint64_t t = atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
	uint32_t shift = v->ring_shift - CHUNK_BITS;
	uint64_t lo = t > v->ring_bytes ? t - v->ring_bytes : 0;
	/* never wrapped: everything from the start; else the second chunk
	 * start above lo (the word at lo itself is the last claim's guard),
	 * so that a reader placed there is not lapped at once */
	uint64_t k = t < v->ring_bytes ? 0 : (lo >> shift) + 2;

	/* a ring has CHUNKS entries: more steps find nothing new (and a
	 * hostile tail near 2^64 must not make this loop long) */
	for (unsigned n = 0; n <= CHUNKS && k < (UINT64_MAX >> shift) && (k << shift) < t; n++, k++)
		if (chunk_load(v, k, out) && out->bytes <= t && out->bytes >= lo)
			return;
	log_tail_cursor(v, out);
}

/* Overrun: jump to the oldest intact record, counting exactly what we skip. */
static int resync(const struct log_view *v, struct log_cursor *cur, struct log_rec *rec)
{
	struct log_cursor o;

	log_oldest(v, &o);
	if (o.bytes <= cur->bytes || o.pos < cur->pos) /* no honest index says this */
		return -SHMQ_ECORRUPT;
	rec->lost += o.pos - cur->pos;
	*cur = o;
	return 0;
}

/* What a MSG record's header says, bounded. */
static int msg_fill(const struct log_view *v, const struct rec_hdr *h, uint32_t raw, uint64_t size,
		    struct log_rec *rec)
{
	const uint8_t *base = (const uint8_t *)h;
	uint32_t len = h->len, ext = 0;

	if (rec_word_flags(raw) & REC_F_EXT) {
		uint16_t e;

		memcpy(&e, base + REC_HDR_BYTES, sizeof(e));
		ext = e;
		if (ext < 8 || ext > REC_EXT_MAX || ext % 8)
			return -SHMQ_ECORRUPT;
	}
	if (len > v->max_message_bytes || REC_HDR_BYTES + ext + (uint64_t)len > size)
		return -SHMQ_ECORRUPT;
	rec->len = len;
	rec->ext_bytes = ext;
	rec->ext = ext ? base + REC_HDR_BYTES : NULL;
	rec->data = base + REC_HDR_BYTES + ext;
	rec->timestamp_ns = h->timestamp_ns;
	rec->flags = rec_word_flags(raw);
	rec->rec_bytes = (uint32_t)size;
	return 0;
}

/*
 * Given-up records up to b (the caller passed one at least), nothing at b
 * yet: if b is the tail, the messages they held are the tail's number
 * minus cur's, and the reader need not wait for a next record to learn
 * it. 1 moved cur, 0 not, -SHMQ_ECORRUPT if they run past the tail.
 */
static __attribute__((noinline, cold)) int
abandoned_at_tail(const struct log_view *v, struct log_cursor *cur, uint64_t b, struct log_rec *rec)
{
	struct log_cursor t;

	log_tail_cursor(v, &t);
	if (t.bytes < b) /* given-up records past the tail: no claim made them */
		return -SHMQ_ECORRUPT;
	if (t.bytes != b || t.pos < cur->pos || t.pos - cur->pos > MAX_BATCH * MAX_PUBS)
		return 0;
	rec->lost += t.pos - cur->pos;
	rec->abandoned += t.pos - cur->pos;
	*cur = t;
	return 1;
}

/*
 * After ABANDONED records at cur: look ahead over them (and padding) to the
 * next message, whose pos says how many were given up. Returns 1 and moves
 * cur there (or to the tail, when they end there: abandoned_at_tail()), 0
 * if that message is not there yet (cur stays: the count is not known), 3 if a drop reader may have
 * been lapped meanwhile (the caller checks and resyncs), < 0.
 */
static int skip_abandoned(const struct log_view *v, struct log_cursor *cur, struct log_rec *rec)
{
	uint64_t b = cur->bytes;

	/* a chain of given-up claims may be long (a publisher that aborts
	 * many in a row); it is never longer than a ring of minimal records */
	for (uint64_t n = 0; n <= v->ring_bytes / REC_ALIGN; n++) {
		const struct rec_hdr *h = log_rec_at(v, b);
		/* acquire; pairs with the commit stores: the header is complete. */
		uint32_t raw = rec_word_decode(atomic_load_explicit(&h->word, memory_order_acquire),
					       v->key, b, v->ring_shift);
		uint64_t size = rec_word_len(raw), pos;

		if (!rec_word_type(raw))
			return abandoned_at_tail(v, cur, b, rec);
		/* a MSG's header is complete (acquire above); a PAD's or an
		 * ABANDONED record's is not read: the daemon may have stored
		 * that word while its live publisher still writes the header */
		pos = rec_word_type(raw) == REC_T_MSG ? h->pos : 0;
		if (size < REC_ALIGN || size > log_max_span(v))
			return v->policy == SHMQ_POLICY_DROP ? 3 : -SHMQ_ECORRUPT;
		if (rec_word_type(raw) != REC_T_MSG) {
			b += size;
			continue;
		}
		if (v->policy == SHMQ_POLICY_DROP) {
			/* acquire: the reads above before the check; nothing
			 * past an intact cur->bytes was rewritten either */
			atomic_thread_fence(memory_order_acquire);
			if (overwritten(v, cur->bytes))
				return 3;
		}
		if (pos < cur->pos || pos - cur->pos > MAX_BATCH * (n + 1))
			return -SHMQ_ECORRUPT;
		rec->lost += pos - cur->pos;
		rec->abandoned += pos - cur->pos;
		*cur = (struct log_cursor){pos, b};
		return 1;
	}
	return -SHMQ_ECORRUPT;
}

/*
 * Past a PAD of size bytes at cur: 2. Its claim moved the tail past it
 * before the word was stored (a CAS, or a release fence in tail_store()
 * and announce()), so a PAD that ends beyond the tail is forged: trusting
 * it would leave the reader waiting in bytes no record starts at.
 * -SHMQ_ECORRUPT then, with cur still at the PAD. Once per lap: the
 * tail's line is loaded here only.
 */
static int pad_skip(const struct log_view *v, struct log_cursor *cur, uint64_t size)
{
	/* acquire; pairs with the tail move of the claim that wrote the PAD. */
	if (cur->bytes + size > atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire))
		return -SHMQ_ECORRUPT;
	cur->bytes += size;
	return 2;
}

/* One look at cur: 1 a message, 0 not ready, 2 moved (look again), < 0. */
static int read_step(const struct log_view *v, struct log_cursor *cur, struct log_rec *rec)
{
	const struct rec_hdr *h;
	uint32_t raw;

	/* a cursor off the record grid came from a hostile tail or chunk
	 * index (every honest record starts on it): no word to load there */
	if (cur->bytes % REC_ALIGN)
		return -SHMQ_ECORRUPT;
	h = log_rec_at(v, cur->bytes);
	/* acquire; pairs with the release store of the commit word. */
	raw = rec_word_decode(atomic_load_explicit(&h->word, memory_order_acquire), v->key,
			      cur->bytes, v->ring_shift);
	uint64_t size = rec_word_len(raw), pos;
	unsigned type = rec_word_type(raw);
	bool ours = type != 0;

	/* the header only once the word says it is complete (acquire above) */
	pos = type == REC_T_MSG ? h->pos : 0; /* as in skip_abandoned() */
	int err = 0;

	/* bounds first: msg_fill() reads the extension length after the header */
	if (ours && (size < REC_ALIGN || size > log_max_span(v) ||
		     (type == REC_T_MSG && (size > v->max_record_bytes ||
					    (cur->bytes & v->mask) + size > v->ring_bytes))))
		err = -SHMQ_ECORRUPT;
	else if (ours && type == REC_T_MSG)
		err = msg_fill(v, h, raw, size, rec);
	if (v->policy == SHMQ_POLICY_DROP) {
		/* acquire: every read above happened before the check */
		atomic_thread_fence(memory_order_acquire);
		if (overwritten(v, cur->bytes))
			return resync(v, cur, rec) ?: 2;
	}
	if (!ours)
		return 0;
	if (err && type != REC_T_MSG)
		return err;
	if (type == REC_T_PAD)
		return pad_skip(v, cur, size);
	if (type == REC_T_ABANDONED) {
		struct log_cursor at = {cur->pos, cur->bytes + size};
		int r = skip_abandoned(v, &at, rec);

		if (r == 3) {
			/* acquire: as above */
			atomic_thread_fence(memory_order_acquire);
			if (!overwritten(v, cur->bytes))
				return -SHMQ_ECORRUPT;
			return resync(v, cur, rec) ?: 2;
		}
		if (r == 1)
			*cur = at;
		return r == 1 ? 2 : r;
	}
	if (err || pos != cur->pos)
		return -SHMQ_ECORRUPT;
	rec->pos = pos;
	rec->bytes = cur->bytes;
	return 1;
}

int log_read(const struct log_view *v, struct log_cursor *cur, struct log_rec *rec)
{
	rec->lost = 0;
	rec->abandoned = 0;
	if (cur->bytes % REC_ALIGN) /* a start the daemon took from a hostile peer */
		return -SHMQ_ECORRUPT;
	/* each step moves cur forward by a record or more; a ring's worth of
	 * steps without a message is more than honest padding makes */
	for (uint64_t n = 0; n <= v->ring_bytes / REC_ALIGN; n++) {
		int r = read_step(v, cur, rec);

		if (r != 2)
			return r;
	}
	return -SHMQ_ECORRUPT;
}

/*
 * Can a reader start at e, a chunk index entry below the tail t? The word
 * there must be a record of its lap and, for a message, carry the entry's
 * number; the tail itself is trusted as the daemon's starting points are.
 */
static bool skip_target_ok(const struct log_view *v, const struct log_cursor *e,
			   const struct log_cursor *t)
{
	const struct rec_hdr *h = log_rec_at(v, e->bytes);
	uint32_t raw;

	if (e->bytes == t->bytes)
		return e->pos == t->pos;
	/* acquire; pairs with the release store of the commit word: the
	 * header below is complete. */
	raw = rec_word_decode(atomic_load_explicit(&h->word, memory_order_acquire), v->key,
			      e->bytes, v->ring_shift);
	if (rec_word_type(raw) == REC_T_MSG)
		return h->pos == e->pos;
	return rec_word_type(raw) != 0;
}

int log_skip(const struct log_view *v, const struct log_cursor *cur, struct log_cursor *out)
{
	uint32_t shift = v->ring_shift - CHUNK_BITS;
	uint64_t k = (cur->bytes >> shift) + 1;
	struct log_cursor t;

	log_tail_cursor(v, &t);
	if (t.bytes % REC_ALIGN) /* no honest claim leaves the tail there */
		return -SHMQ_ECORRUPT;
	if (k >= (UINT64_MAX >> shift) || cur->bytes == t.bytes)
		return -SHMQ_EAGAIN;
	/* each chunk start past cur that the tail has passed, nearest first;
	 * a ring holds CHUNKS of them (and a hostile cursor near 2^64 must
	 * not make this long) */
	for (unsigned n = 0; n < CHUNKS && k < (UINT64_MAX >> shift) && (k << shift) <= t.bytes;
	     n++, k++) {
		if (!chunk_load(v, k, out) || out->bytes <= cur->bytes || out->bytes > t.bytes ||
		    out->pos < cur->pos || out->pos > t.pos)
			continue;
		if (skip_target_ok(v, out, &t))
			return 0;
	}
	if (cur->bytes < t.bytes && ((cur->bytes >> shift) + 1) << shift > t.bytes)
		return -SHMQ_EAGAIN; /* no chunk start passed yet */
	/* the tail passed a chunk start whose entry cannot be trusted, or it
	 * stands below cur (it moved back): the tail is the one boundary left */
	*out = t;
	return 0;
}

bool log_verify(const struct log_view *v, const struct log_rec *rec)
{
	/* acquire fence: the payload reads before it are ordered before the
	 * frontier/tail loads; pairs with the release fences in announce()
	 * and tail_store() (and the CAS). */
	atomic_thread_fence(memory_order_acquire);
	return v->policy != SHMQ_POLICY_DROP || !overwritten(v, rec->bytes);
}

/* ---- reader cursor ---- */

void log_cursor_store(struct reader_entry *r, const struct log_cursor *cur, bool seq_cst)
{
	/* relaxed: only the owning reader writes the seq. */
	uint32_t s = atomic_load_explicit(&r->cur_seq, memory_order_relaxed);

	atomic_store_explicit(&r->cur_seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&r->pos, cur->pos, memory_order_relaxed);
	/* release (drop) / seq_cst (block: ordered before the reader's
	 * space_wanted load, Dekker with wait_space() in pub.c); pairs with
	 * the acquire in log_reader_limit(): we are done with every byte below. */
	atomic_store_explicit(&r->bytes, cur->bytes,
			      seq_cst ? memory_order_seq_cst : memory_order_release);
	/* release; pairs with the acquire in log_cursor_load(). */
	atomic_store_explicit(&r->cur_seq, s + 2, memory_order_release);
}

bool log_cursor_load(const struct reader_entry *r, struct log_cursor *out)
{
	/* pairs with the release stores in log_cursor_store() */
	return pair_read_seq(&r->cur_seq, &r->pos, &r->bytes, out);
}
