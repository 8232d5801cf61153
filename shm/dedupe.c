/*
 * dedupe.c - the duplicate table (see dedupe.h). An id lives in one slot
 * of its probe run (its hash, then DEDUPE_PROBE - 1 triangular steps). A
 * reservation scans the whole run first (the id may sit past a reusable
 * slot), takes the first reusable slot by CAS, then looks at the run once
 * more, both scans ending at the first slot never used (FREE: a slot
 * given back becomes RELEASED, never FREE again, so no id sits past a
 * FREE one): two publishers that reserved the same id in two slots at once
 * each find the other (both CASes are full barriers, so at least one
 * does), and whoever finds another holder gives its slot back and tries
 * again; so an id is never held twice.
 */
#include "dedupe.h"

#include <stddef.h>
#include <string.h>

#include "shmq_err.h"

#define RESERVE_TRIES 8u /* rounds before a reservation race is called "wait" */

typedef unsigned __int128 pair_t;

static_assert(offsetof(struct dedupe_slot, msg_id) == 0 && offsetof(struct dedupe_slot, word) == 8,
	      "the pair a 16-byte CAS moves");

static pair_t pair_make(uint64_t id, uint64_t word)
{
	return (pair_t)word << 64 | id;
}

/* One 16-byte load of {msg_id, word}: a CAS that changes nothing (lock cmpxchg16b, seq_cst). */
static pair_t pair_load(struct dedupe_slot *s)
{
	return __sync_val_compare_and_swap((pair_t *)(void *)s, 0, 0);
}

/*
 * The pair as two loads, word first: cheap, and possibly torn (a word and
 * an id of two moments). Good for choosing a slot (its CAS expects exactly
 * what was seen, so a torn picture only fails the CAS) and for passing
 * other ids; an answer about id itself is confirmed with pair_load().
 * Acquire; pairs with the pair CASes (full barriers).
 */
static pair_t pair_peek(struct dedupe_slot *s)
{
	uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);

	return (pair_t)w << 64 | __atomic_load_n(&s->msg_id, __ATOMIC_RELAXED);
}

/* seq_cst (a full barrier): pairs with every other pair_cas() and pair_load(). */
static bool pair_cas(struct dedupe_slot *s, pair_t expect, pair_t want)
{
	return __sync_bool_compare_and_swap((pair_t *)(void *)s, expect, want);
}

static uint64_t pair_id(pair_t p)
{
	return (uint64_t)p;
}

static uint64_t pair_word(pair_t p)
{
	return (uint64_t)(p >> 64);
}

/* splitmix64's finaliser: ids that count up spread over the table. */
static uint64_t id_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Slot i of the probe run that starts at first: triangular steps (0, 1,
 * 3, 6, ...), which visit distinct slots of a power-of-two table and do
 * not pile runs onto their neighbours as adjacent slots would (measured:
 * adjacent slots refused an id with a third of a table of 2^20 in use).
 */
static uint32_t probe_at(uint32_t first, uint32_t i, uint32_t mask)
{
	return (first + i * (i + 1) / 2) & mask;
}

uint64_t dedupe_seg_bytes(uint32_t nslots)
{
	return DEDUPE_HDR_BYTES + (uint64_t)nslots * sizeof(struct dedupe_slot);
}

static bool geometry_ok(uint32_t nslots, uint64_t window_ns)
{
	return nslots >= DEDUPE_SLOTS_MIN && nslots <= DEDUPE_SLOTS_MAX &&
	       !(nslots & (nslots - 1)) && window_ns > 0;
}

int dedupe_format(void *base, uint64_t bytes, uint64_t channel_id, uint32_t nslots,
		  uint64_t window_ns)
{
	struct dedupe_hdr *h = base;

	if (!geometry_ok(nslots, window_ns) || bytes < dedupe_seg_bytes(nslots))
		return -SHMQ_EINVAL;
	h->version = DEDUPE_VERSION;
	h->hdr_bytes = DEDUPE_HDR_BYTES;
	h->seg_bytes = bytes;
	h->channel_id = channel_id;
	h->nslots = nslots;
	h->probe = DEDUPE_PROBE;
	h->window_ns = window_ns;
	/* release: the geometry before the magic; pairs with dedupe_attach() */
	atomic_store_explicit(&h->magic, DEDUPE_MAGIC, memory_order_release);
	return 0;
}

int dedupe_attach(struct dedupe_view *v, void *base, uint64_t bytes, uint64_t channel_id)
{
	struct dedupe_hdr *h = base;
	uint32_t nslots;
	uint64_t window;

	if (bytes < DEDUPE_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	/* acquire; pairs with the release in dedupe_format() */
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != DEDUPE_MAGIC)
		return -SHMQ_ECORRUPT;
	if (h->version != DEDUPE_VERSION)
		return -SHMQ_EVERSION;
	nslots = h->nslots;
	window = h->window_ns;
	if (h->hdr_bytes != DEDUPE_HDR_BYTES || h->seg_bytes != bytes ||
	    h->channel_id != channel_id || h->probe != DEDUPE_PROBE ||
	    !geometry_ok(nslots, window) || dedupe_seg_bytes(nslots) > bytes)
		return -SHMQ_ECORRUPT;
	*v = (struct dedupe_view){.hdr = h,
				  .slots =
				      (struct dedupe_slot *)((uint8_t *)base + DEDUPE_HDR_BYTES),
				  .mask = nslots - 1,
				  .window_ns = window};
	return 0;
}

/*
 * A COMMITTED slot seen as `seen`: 1 within the window at now_ns (*pos its
 * offset), 0 older, -1 it changed while its pos and time were read.
 */
static int committed_recent(const struct dedupe_view *v, struct dedupe_slot *s, pair_t seen,
			    uint64_t now_ns, uint64_t *pos)
{
	/* relaxed: validated by the pair re-read below (a seqlock whose
	 * sequence is the pair); pairs with the stores in dedupe_commit() */
	uint64_t p = __atomic_load_n(&s->pos, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&s->time_ns, __ATOMIC_RELAXED);

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (pair_peek(s) != seen)
		return -1;
	*pos = p;
	/* a time in the future (a scribbler's) counts as recent: refused, not lost */
	return now_ns < t || now_ns - t < v->window_ns ? 1 : 0;
}

/* What one slot of the probe run says about id. */
enum look { L_OTHER, L_REUSABLE, L_DUP, L_HELD, L_MINE_REUSABLE };

static enum look look_at(const struct dedupe_view *v, struct dedupe_slot *s, pair_t seen,
			 uint64_t id, uint64_t now_ns, dedupe_live_fn live, void *arg,
			 uint64_t *pos)
{
	uint64_t w = pair_word(seen);
	bool same = pair_id(seen) == id;
	uint64_t orig = 0;
	int recent;

	switch (DEDUPE_STATE(w)) {
	case DEDUPE_FREE:
	case DEDUPE_RELEASED:
		return L_REUSABLE;
	case DEDUPE_COMMITTED:
		recent = committed_recent(v, s, seen, now_ns, &orig);
		if (recent < 0) /* changed while read: never accept on it; look again */
			return same ? L_HELD : L_OTHER;
		if (!recent)
			return same ? L_MINE_REUSABLE : L_REUSABLE;
		if (same)
			*pos = orig;
		return same ? L_DUP : L_OTHER;
	case DEDUPE_RESERVED:
		if (live(arg, (struct dedupe_owner){DEDUPE_OWNER_SLOT(w), DEDUPE_OWNER_GEN(w)}))
			return same ? L_HELD : L_OTHER;
		return same ? L_MINE_REUSABLE : L_REUSABLE;
	default:
		return L_REUSABLE;
	}
}

/*
 * One scan of id's run: -SHMQ_EDUPLICATE, -SHMQ_EAGAIN (held), or 0 with
 * the slot to take in *at and what it held in *seen (-SHMQ_ELIMIT: none).
 * An expired or orphaned slot of id itself is taken before any other.
 */
static int scan(const struct dedupe_view *v, uint64_t id, uint64_t now_ns, dedupe_live_fn live,
		void *arg, uint32_t *at, pair_t *seen, uint64_t *pos)
{
	uint32_t first = (uint32_t)id_hash(id), cand = UINT32_MAX, own = UINT32_MAX;
	pair_t cand_seen = 0, own_seen = 0;

	for (uint32_t i = 0; i < DEDUPE_PROBE; i++) {
		uint32_t k = probe_at(first, i, v->mask);
		pair_t p = pair_peek(&v->slots[k]);

		if (pair_id(p) == id) /* about id itself: the exact pair */
			p = pair_load(&v->slots[k]);
		switch (look_at(v, &v->slots[k], p, id, now_ns, live, arg, pos)) {
		case L_DUP:
			return -SHMQ_EDUPLICATE;
		case L_HELD:
			return -SHMQ_EAGAIN;
		case L_MINE_REUSABLE:
			if (own == UINT32_MAX)
				own = k, own_seen = p;
			break;
		case L_REUSABLE:
			if (cand == UINT32_MAX)
				cand = k, cand_seen = p;
			break;
		default:
			break;
		}
		/* never used: no id was ever placed past it (inserts take the
		 * first reusable slot, and a slot never becomes FREE again) */
		if (DEDUPE_STATE(pair_word(p)) == DEDUPE_FREE)
			break;
	}
	if (own != UINT32_MAX)
		cand = own, cand_seen = own_seen;
	if (cand == UINT32_MAX)
		return -SHMQ_ELIMIT;
	*at = cand;
	*seen = cand_seen;
	return 0;
}

/* After taking `at`: does another slot of the run hold id (reserved, or committed in the window)?
 */
static bool held_elsewhere(const struct dedupe_view *v, uint64_t id, uint32_t at, uint64_t now_ns,
			   dedupe_live_fn live, void *arg)
{
	uint32_t first = (uint32_t)id_hash(id);
	uint64_t pos;

	for (uint32_t i = 0; i < DEDUPE_PROBE; i++) {
		uint32_t k = probe_at(first, i, v->mask);
		enum look l;

		pair_t p;

		if (k == at)
			continue;
		p = pair_peek(&v->slots[k]);
		if (DEDUPE_STATE(pair_word(p)) == DEDUPE_FREE)
			break; /* as in scan() */
		if (pair_id(p) != id)
			continue;
		l = look_at(v, &v->slots[k], pair_load(&v->slots[k]), id, now_ns, live, arg, &pos);
		if (l == L_DUP || l == L_HELD)
			return true;
	}
	return false;
}

int dedupe_reserve(const struct dedupe_view *v, uint64_t id, struct dedupe_owner who,
		   uint64_t now_ns, dedupe_live_fn live, void *arg, uint32_t *at, uint64_t *pos)
{
	pair_t mine = pair_make(id, DEDUPE_WORD_RESERVED(who.slot, who.gen)), seen;

	for (unsigned t = 0; t < RESERVE_TRIES; t++) {
		int err = scan(v, id, now_ns, live, arg, at, &seen, pos);

		if (err == -SHMQ_ELIMIT) /* relaxed: a statistic on its own line */
			atomic_fetch_add_explicit(&v->hdr->full, 1, memory_order_relaxed);
		if (err)
			return err;
		if (!pair_cas(&v->slots[*at], seen, mine))
			continue; /* someone took it first: look again */
		if (!held_elsewhere(v, id, *at, now_ns, live, arg))
			return 0;
		pair_cas(&v->slots[*at], mine, pair_make(0, DEDUPE_RELEASED)); /* give it back */
	}
	return -SHMQ_EAGAIN;
}

void dedupe_commit(const struct dedupe_view *v, uint32_t at, uint64_t id, struct dedupe_owner who,
		   uint64_t pos, uint64_t now_ns)
{
	struct dedupe_slot *s = &v->slots[at & v->mask];

	/* relaxed: published by the CAS below (a full barrier); a reader
	 * re-checks the pair after reading them (committed_recent()) */
	__atomic_store_n(&s->pos, pos, __ATOMIC_RELAXED);
	__atomic_store_n(&s->time_ns, now_ns, __ATOMIC_RELAXED);
	/* fails only if a scribbler or a takeover (we were judged gone) moved it */
	pair_cas(s, pair_make(id, DEDUPE_WORD_RESERVED(who.slot, who.gen)),
		 pair_make(id, DEDUPE_COMMITTED));
}

void dedupe_release(const struct dedupe_view *v, uint32_t at, uint64_t id, struct dedupe_owner who)
{
	pair_cas(&v->slots[at & v->mask], pair_make(id, DEDUPE_WORD_RESERVED(who.slot, who.gen)),
		 pair_make(0, DEDUPE_RELEASED));
}
