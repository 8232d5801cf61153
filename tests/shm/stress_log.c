/*
 * stress_log.c - many publishers and many readers on one channel log (format
 * v3), as threads or as fork()ed processes, for SHMQ_STRESS_SECONDS
 * (default 2). Usage: stress_log SCENARIO (see scenarios[]). Prints its
 * seed; set SHMQ_SEED to replay one.
 *
 * Payload lengths are random from 0 to the channel's maximum. Every record
 * says who wrote it: its header's timestamp carries the publisher id, the
 * publisher's sequence number and its place in a batch; a payload of 24
 * bytes or more starts with id, length, sequence and a checksum of the
 * rest, a shorter one is a function of (id, seq). Invariants, exactly:
 *  - every record a reader accepts is whole (content, and log_verify()
 *    under drop, where a copy that fails it counts as lost);
 *  - per publisher, sequence numbers grow by one (block) or only grow (drop);
 *  - for each reader, received + lost == the tail; block: nothing is lost
 *    but aborted and killed claims (abandoned), every committed message is
 *    received once; drop: a reader lapped for sure reports a loss, and a
 *    record held across a lap fails log_verify();
 *  - batches: a batch is received whole and contiguous, or (drop) cut only
 *    by an overrun; a resync never lands inside one;
 *  - kill scenarios: publishers SIGKILLed at a pause point holding a claim
 *    cost exactly its records (the repair gives them up) and never stall
 *    the others for good;
 *  - cut scenarios: the daemon gives up live claims as soon as it sees
 *    them (stuck_ns 0), racing their commits: a message whose commit
 *    returned 0 reaches every reader, one whose commit returned
 *    -SHMQ_EABANDONED none (block: each reader's received is exactly the
 *    committed count, its losses exactly the aborted and cut records).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "fixture.h"
#include "testutil.h"

#define NPUB_MAX 48u /* publisher ids over a run (entries of the pub table) */
#define NRDR_MAX 4u
#define MSG_HDR 24u /* id, len, seq, checksum */
#define BATCH_MAX 32u
#define POLICY_DROP 0u
#define POLICY_BLOCK 1u

enum pub_run_state { RUN_IDLE, RUN_RUNNING, RUN_FINISHED, RUN_PAUSED, RUN_KILLED };

struct scenario {
	const char *name;
	uint32_t policy;
	bool procs;
	bool kills;
	bool exclusive; /* one publisher, pub_mode 1 */
	bool batches;	/* publishers mix single messages and log_claimv() batches */
	unsigned npubs; /* publishers running at once */
	unsigned nrdrs;
	uint32_t max_msg;
	bool cuts; /* the monitor cuts live claims at once (stuck_ns 0) */
};

static const struct scenario scenarios[] = {
    {"threads-block", POLICY_BLOCK, false, false, false, false, 3, 3, 1000},
    {"threads-drop", POLICY_DROP, false, false, false, false, 3, 3, 1000},
    {"procs-block", POLICY_BLOCK, true, false, false, false, 3, 3, 1000},
    {"procs-drop", POLICY_DROP, true, false, false, false, 3, 3, 1000},
    {"procs-kill-block", POLICY_BLOCK, true, true, false, true, 3, 2, 600},
    {"procs-kill-drop", POLICY_DROP, true, true, false, true, 3, 2, 600},
    {"exclusive-block", POLICY_BLOCK, false, false, true, false, 1, 3, 1000},
    {"exclusive-drop", POLICY_DROP, false, false, true, false, 1, 3, 1000},
    {"batch-block", POLICY_BLOCK, false, false, false, true, 3, 3, 1000},
    {"batch-drop", POLICY_DROP, false, false, false, true, 3, 3, 1000},
    {"cuts-threads-block", POLICY_BLOCK, false, false, false, true, 3, 3, 600, true},
    {"cuts-procs-block", POLICY_BLOCK, true, false, false, true, 3, 3, 600, true},
};

struct pub_res {
	_Atomic uint64_t committed; /* records committed = next sequence number */
	_Atomic uint64_t aborted;   /* records aborted */
	_Atomic uint64_t cut;	    /* records whose commit the daemon's cut refused */
	_Atomic uint64_t batches;
	_Atomic uint32_t killed_count; /* records of the claim it was killed holding */
	_Atomic uint32_t state;	       /* enum pub_run_state */
	_Atomic int32_t pid;
};

struct rdr_res {
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t abandoned;
	_Atomic uint64_t torn;	  /* copies that log_verify() rejected (counted in lost) */
	_Atomic uint64_t laps;	  /* times it made sure it was lapped */
	_Atomic uint64_t batches; /* batches received whole */
	_Atomic uint64_t pos;
	_Atomic uint32_t done;
	uint64_t from[NPUB_MAX]; /* per publisher: last seq received + 1 */
};

/* Everything workers share, in MAP_SHARED memory. */
struct run {
	_Atomic uint32_t stop;	     /* publishers: start no new claim */
	_Atomic uint32_t live_pubs;  /* publishers not finished (or reaped) */
	_Atomic uint32_t kills_left; /* tokens the monitor hands out over the run */
	_Atomic uint32_t failed;
	_Atomic uint64_t progress;
	char why[512];
	struct pub_res pub[NPUB_MAX];
	struct rdr_res rdr[NRDR_MAX];
};

struct ctx {
	const struct scenario *sc;
	struct fx f;
	struct run *run;
	uint64_t seed;
	unsigned id;
};

/* Record the first failure and stop the run; returns false for callers. */
static bool run_fail(struct run *run, const char *fmt, ...)
{
	uint32_t zero = 0;
	va_list ap;

	if (atomic_compare_exchange_strong(&run->failed, &zero, 1)) {
		va_start(ap, fmt);
		vsnprintf(run->why, sizeof(run->why), fmt, ap);
		va_end(ap);
	}
	atomic_store(&run->stop, 1);
	return false;
}

static bool run_failed(struct run *run)
{
	return atomic_load_explicit(&run->failed, memory_order_relaxed) != 0;
}

/* ---- messages ---- */

/*
 * The timestamp of every record of a claim (log_commitv() stamps a batch's
 * records alike): publisher id (6 bits), records in the claim - 1 (5 bits),
 * the first record's pos mod 2^17, the first record's sequence number (36
 * bits). A record's place in its batch is its pos minus the first's.
 */
static uint64_t ts_make(uint32_t id, unsigned bcount, uint64_t first_pos, uint64_t seq)
{
	return (uint64_t)id << 58 | (uint64_t)(bcount - 1) << 53 | (first_pos & 0x1ffff) << 36 |
	       seq;
}

struct msg_id {
	uint32_t id;
	unsigned bidx, bcount;
	uint64_t seq;
};

static struct msg_id ts_parse(uint64_t ts, uint64_t pos)
{
	unsigned bidx = (unsigned)((pos - (ts >> 36)) & 0x1ffff);

	return (struct msg_id){(uint32_t)(ts >> 58), bidx, ((unsigned)(ts >> 53) & 31) + 1,
			       (ts & ((1ull << 36) - 1)) + bidx};
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t msg_sum(const uint8_t *m, uint32_t len)
{
	return fnv1a(fnv1a(0xcbf29ce484222325ull, m, 16), m + MSG_HDR, len - MSG_HDR);
}

static uint8_t short_byte(uint32_t id, uint64_t seq, uint32_t i)
{
	return (uint8_t)((seq * 131 + id * 31 + i * 7) ^ (seq >> 8));
}

static void msg_build(uint8_t *m, uint32_t id, uint32_t len, uint64_t seq, uint64_t *rng)
{
	uint64_t sum;

	if (len < MSG_HDR) {
		for (uint32_t i = 0; i < len; i++)
			m[i] = short_byte(id, seq, i);
		return;
	}
	memcpy(m, &id, 4);
	memcpy(m + 4, &len, 4);
	memcpy(m + 8, &seq, 8);
	for (uint32_t i = MSG_HDR; i < len; i++)
		m[i] = (uint8_t)rng_next(rng);
	sum = msg_sum(m, len);
	memcpy(m + 16, &sum, 8);
}

/* Does m (len bytes) say what its header's timestamp says? */
static bool msg_ok(const uint8_t *m, uint32_t len, const struct msg_id *w)
{
	uint32_t id, mlen;
	uint64_t seq, sum;

	if (len < MSG_HDR) {
		for (uint32_t i = 0; i < len; i++)
			if (m[i] != short_byte(w->id, w->seq, i))
				return false;
		return true;
	}
	memcpy(&id, m, 4);
	memcpy(&mlen, m + 4, 4);
	memcpy(&seq, m + 8, 8);
	memcpy(&sum, m + 16, 8);
	return id == w->id && mlen == len && seq == w->seq && sum == msg_sum(m, len);
}

/*
 * Drop policy: a lapping publisher may rewrite a record while a reader
 * copies it, a seqlock; log_verify() decides whether the copy is whole.
 * Relaxed atomic accesses make that overlap well defined (and TSan-clean).
 */
static void payload_put(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	uint32_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		atomic_store_explicit((_Atomic uint64_t *)(void *)(dst + i), w,
				      memory_order_relaxed);
	}
	for (; i < len; i++)
		atomic_store_explicit((_Atomic uint8_t *)(dst + i), src[i], memory_order_relaxed);
}

static void payload_get(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	uint32_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = atomic_load_explicit((_Atomic uint64_t *)(void *)(src + i),
						  memory_order_relaxed);

		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = atomic_load_explicit((_Atomic uint8_t *)(src + i), memory_order_relaxed);
}

static void progress(struct run *run)
{
	/* relaxed: a heartbeat for the hang detector */
	atomic_fetch_add_explicit(&run->progress, 1, memory_order_relaxed);
}

/* ---- publishers ---- */

struct pub_state {
	struct ctx *x;
	struct pub_res *me;
	struct log_pub p;
	uint64_t rng, seq;
	uint32_t lens[BATCH_MAX];
	uint8_t m[4096];
};

/* Kill scenarios: stop at a pause point holding claim c until SIGKILLed. */
static void maybe_die(struct pub_state *s, const struct log_claim *c, unsigned point)
{
	struct run *run = s->x->run;
	uint32_t left = atomic_load(&run->kills_left);

	if (!s->x->sc->kills || rng_below(&s->rng, 2000) || atomic_load(&run->stop))
		return;
	do
		if (left == 0)
			return;
	while (!atomic_compare_exchange_weak(&run->kills_left, &left, left - 1));
	(void)point; /* 0: claimed, 1: half the payloads written, 2: all written */
	atomic_store(&s->me->killed_count, c->count);
	atomic_store(&s->me->state, RUN_PAUSED);
	for (;;)
		pause();
}

/* n lengths for the next claim: one message, or (batches) a batch within ring / 4. */
static unsigned pick_lens(struct pub_state *s)
{
	const struct log_view *v = &s->x->f.v;
	uint32_t max = v->max_message_bytes;
	unsigned n = 1;
	uint64_t span = 0;

	if (s->x->sc->batches && rng_below(&s->rng, 3) == 0)
		n = 1 + (unsigned)rng_below(&s->rng, BATCH_MAX);
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = (uint32_t)rng_below(&s->rng, rng_below(&s->rng, 4) ? 100 : max + 1);

		if (span + rec_bytes_for(len, 0) > v->ring_bytes / 4)
			return i ? i : 1;
		span += rec_bytes_for(len, 0);
		s->lens[i] = len;
	}
	return n;
}

static void write_one(struct pub_state *s, uint64_t bytes, uint32_t len, uint64_t seq,
		      uint32_t upto)
{
	const struct log_view *v = &s->x->f.v;

	msg_build(s->m, s->x->id, len, seq, &s->rng);
	if (s->x->sc->policy == POLICY_BLOCK)
		memcpy(log_payload(v, bytes, 0), s->m, upto);
	else
		payload_put(log_payload(v, bytes, 0), s->m, upto);
}

/* One claim: 1 done, 0 no space (retry), -1 failed. */
static int pub_one(struct pub_state *s)
{
	const struct log_view *v = &s->x->f.v;
	unsigned n = pick_lens(s);
	struct log_claim c;
	uint64_t ts;
	int err;

	err = n == 1 ? log_claim(v, &s->p, s->lens[0], 0, &c)
		     : log_claimv(v, &s->p, s->lens, NULL, n, &c);
	if (err == -SHMQ_EFULL)
		return 0;
	if (err)
		return run_fail(s->x->run, "pub %u: claim of %u: %d", s->x->id, n, err), -1;
	maybe_die(s, &c, 0);
	if (rng_below(&s->rng, 256) == 0) {
		err = log_abort(v, &s->p, &c);
		if (err < 0 && !(err == -SHMQ_EABANDONED && s->x->sc->cuts))
			return run_fail(s->x->run, "pub %u: abort: %d", s->x->id, err), -1;
		atomic_fetch_add(&s->me->aborted, n);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		write_one(s, log_claim_rec_bytes(&c, s->lens, NULL, i), s->lens[i], s->seq + i,
			  s->lens[i] / 2);
	maybe_die(s, &c, 1);
	for (unsigned i = 0; i < n; i++)
		write_one(s, log_claim_rec_bytes(&c, s->lens, NULL, i), s->lens[i], s->seq + i,
			  s->lens[i]);
	maybe_die(s, &c, 2);
	ts = ts_make(s->x->id, n, c.at.pos, s->seq);
	if (n == 1) {
		err = log_commit(v, &s->p, &c, s->lens[0], 0, ts);
	} else {
		err = log_commitv(v, &s->p, &c, s->lens, NULL, ts);
		if (err >= 0)
			atomic_fetch_add(&s->me->batches, 1);
	}
	if (err == -SHMQ_EABANDONED && s->x->sc->cuts) {
		atomic_fetch_add(&s->me->cut, n);
		return 1;
	}
	if (err < 0)
		return run_fail(s->x->run, "pub %u: commit pos %llu: %d", s->x->id,
				(unsigned long long)c.at.pos, err),
		       -1;
	s->seq += n;
	/* release: whoever sees the count may check the messages */
	atomic_store_explicit(&s->me->committed, s->seq, memory_order_release);
	return 1;
}

static void pub_main(struct ctx *x)
{
	struct pub_state *s = calloc(1, sizeof(*s));
	struct log_view *v = &x->f.v;

	if (!s) {
		run_fail(x->run, "pub %u: out of memory", x->id);
		return;
	}
	s->x = x;
	s->me = &x->run->pub[x->id];
	s->rng = x->seed ^ (0x51ull << 32) ^ x->id;
	log_pub_init(v, &s->p, x->id, x->f.peers->pubs[x->id], x->f.peers,
		     x->id & 1 ? log_pub_register() : false);
	atomic_store(&s->me->state, RUN_RUNNING);
	while (!atomic_load_explicit(&x->run->stop, memory_order_relaxed)) {
		int r = pub_one(s);

		if (r < 0)
			break;
		if (r == 0)
			sched_yield();
		else if ((s->seq & 63) == 0)
			progress(x->run);
	}
	atomic_store(&s->me->state, RUN_FINISHED);
	/* release: our last commit precedes it; pairs with the readers' acquire */
	atomic_fetch_sub_explicit(&x->run->live_pubs, 1, memory_order_release);
	free(s);
}

/* ---- readers ---- */

struct rdr_state {
	uint64_t next_seq[NPUB_MAX];
	uint64_t received, lost, abandoned, torn, laps, batches;
	struct msg_id in; /* the batch being received (in.bcount > in.bidx + 1) */
	bool in_batch;
	bool cut;    /* an overrun or torn copy since the last accepted record */
	bool lapped; /* the next read must report a loss */
	uint8_t m[4096];
};

/*
 * Wait until bytes was lapped for sure; false if publishers stopped. The
 * tail passing bytes + ring is not enough: the claim over it may not have
 * been announced (nor written) yet. Each publisher holds one claim at a
 * time, so past one more claim of the largest span than there are
 * publishers, one claim beyond bytes + ring is announced.
 */
static bool wait_lapped(struct ctx *x, uint64_t bytes)
{
	const struct log_view *v = &x->f.v;
	uint64_t span = x->sc->batches ? v->ring_bytes / 4 : 2 * v->max_record_bytes;
	uint64_t claimers = x->sc->kills ? NPUB_MAX : x->sc->npubs;

	while (atomic_load(&v->data->tail_bytes) <= bytes + v->ring_bytes + (claimers + 1) * span) {
		if (atomic_load(&x->run->stop) || run_failed(x->run))
			return false;
		sched_yield();
	}
	return true;
}

static bool check_order(struct ctx *x, struct rdr_state *st, const struct log_rec *rec,
			const struct msg_id *w)
{
	bool block = x->sc->policy == POLICY_BLOCK;

	if (w->id >= NPUB_MAX || w->bidx >= w->bcount)
		return run_fail(x->run, "rdr %u pos %llu: bad stamp %#llx", x->id,
				(unsigned long long)rec->pos,
				(unsigned long long)rec->timestamp_ns);
	if (w->seq < st->next_seq[w->id] || (block && w->seq != st->next_seq[w->id]))
		return run_fail(x->run, "rdr %u pos %llu: pub %u seq %llu, expected %s%llu", x->id,
				(unsigned long long)rec->pos, w->id, (unsigned long long)w->seq,
				block ? "" : ">= ", (unsigned long long)st->next_seq[w->id]);
	if ((rec->flags & REC_F_BATCH) != (w->bidx == 0 && w->bcount > 1 ? REC_F_BATCH : 0u))
		return run_fail(x->run, "rdr %u pos %llu: batch flag %#x at %u of %u", x->id,
				(unsigned long long)rec->pos, rec->flags, w->bidx, w->bcount);
	/* a batch is contiguous: a record inside one follows its predecessor */
	if (st->in_batch &&
	    !(w->id == st->in.id && w->seq == st->in.seq + 1 && w->bidx == st->in.bidx + 1)) {
		if (block || !st->cut)
			return run_fail(x->run, "rdr %u pos %llu: batch of pub %u cut at %u of %u",
					x->id, (unsigned long long)rec->pos, st->in.id,
					st->in.bidx + 1, st->in.bcount);
		st->in_batch = false;
	}
	if (!st->in_batch && w->bidx != 0 && (block || !st->cut))
		return run_fail(x->run, "rdr %u pos %llu: entered a batch at %u of %u", x->id,
				(unsigned long long)rec->pos, w->bidx, w->bcount);
	st->in_batch = w->bidx + 1 < w->bcount;
	st->in = *w;
	if (w->bcount > 1 && w->bidx + 1 == w->bcount)
		st->batches++;
	st->next_seq[w->id] = w->seq + 1;
	st->cut = false;
	return true;
}

/* One record: check it; false on failure. */
static bool rdr_take(struct ctx *x, struct rdr_state *st, struct log_rec *rec, uint64_t *rng)
{
	const uint8_t *data = rec->data;
	struct msg_id w = ts_parse(rec->timestamp_ns, rec->pos);

	if (x->sc->policy == POLICY_DROP) {
		payload_get(st->m, rec->data, rec->len);
		data = st->m;
		if (rng_below(rng, 4096) == 0 && wait_lapped(x, rec->bytes)) {
			st->laps++;
			if (log_verify(&x->f.v, rec))
				return run_fail(x->run,
						"rdr %u: verify passed on lapped record %llu",
						x->id, (unsigned long long)rec->pos);
		}
		if (!log_verify(&x->f.v, rec)) {
			st->torn++;
			st->lost++;
			st->cut = true;
			return true;
		}
	} else if (!log_verify(&x->f.v, rec)) {
		return run_fail(x->run, "rdr %u: block record %llu overwritten", x->id,
				(unsigned long long)rec->pos);
	}
	if (!msg_ok(data, rec->len, &w))
		return run_fail(
		    x->run, "rdr %u pos %llu: bad payload of %u bytes from pub %u seq %llu", x->id,
		    (unsigned long long)rec->pos, rec->len, w.id, (unsigned long long)w.seq);
	if (!check_order(x, st, rec, &w))
		return false;
	st->received++;
	return true;
}

/* Returns 1 to go on, 0 when the run is over, -1 on failure. */
static int rdr_idle(struct ctx *x, const struct log_cursor *cur, uint64_t *idle_since)
{
	uint64_t now;

	/* acquire; pairs with the release in pub_main(): no claim is left */
	if (atomic_load_explicit(&x->run->live_pubs, memory_order_acquire) == 0 &&
	    cur->pos >= log_tail(&x->f.v))
		return 0;
	if (run_failed(x->run))
		return -1;
	now = wait_now_ns();
	if (!*idle_since)
		*idle_since = now;
	else if (now - *idle_since > HANG_NS)
		return run_fail(x->run, "rdr %u stuck at pos %llu bytes %llu, tail %llu", x->id,
				(unsigned long long)cur->pos, (unsigned long long)cur->bytes,
				(unsigned long long)log_tail(&x->f.v)),
		       -1;
	sched_yield();
	return 1;
}

/* Account for one log_read(): false on failure. */
static bool rdr_count(struct ctx *x, struct rdr_state *st, const struct log_rec *rec, int r,
		      uint64_t pos)
{
	if (r < 0)
		return run_fail(x->run, "rdr %u: read pos %llu: %d", x->id, (unsigned long long)pos,
				r);
	st->lost += rec->lost;
	st->abandoned += rec->abandoned;
	if (x->sc->policy == POLICY_BLOCK && rec->lost != rec->abandoned)
		return run_fail(x->run, "rdr %u: block lost %llu to overrun", x->id,
				(unsigned long long)(rec->lost - rec->abandoned));
	if (rec->lost > rec->abandoned) {
		st->cut = true;
		/* the chunk index never points inside a batch */
		if (r == 1 && ts_parse(rec->timestamp_ns, rec->pos).bidx != 0)
			return run_fail(x->run, "rdr %u: resynced into a batch at pos %llu", x->id,
					(unsigned long long)rec->pos);
	}
	if (st->lapped && rec->lost == 0)
		return run_fail(x->run, "rdr %u: lapped at pos %llu but no loss reported", x->id,
				(unsigned long long)pos);
	st->lapped = false;
	return true;
}

static void rdr_finish(struct ctx *x, struct rdr_state *st, const struct log_cursor *cur)
{
	struct rdr_res *res = &x->run->rdr[x->id];

	atomic_store(&res->received, st->received);
	atomic_store(&res->lost, st->lost);
	atomic_store(&res->abandoned, st->abandoned);
	atomic_store(&res->torn, st->torn);
	atomic_store(&res->laps, st->laps);
	atomic_store(&res->batches, st->batches);
	atomic_store(&res->pos, cur->pos);
	for (unsigned i = 0; i < NPUB_MAX; i++)
		res->from[i] = st->next_seq[i];
	/* release: the results above before done */
	atomic_store_explicit(&res->done, 1, memory_order_release);
}

static void rdr_main(struct ctx *x)
{
	struct rdr_state *st = calloc(1, sizeof(*st));
	uint64_t rng = x->seed ^ (0x52ull << 32) ^ x->id, idle_since = 0;
	bool block = x->sc->policy == POLICY_BLOCK;
	struct log_cursor cur = {0, 0};
	struct log_rec rec;
	int r;

	if (!st) {
		run_fail(x->run, "rdr %u: out of memory", x->id);
		return;
	}
	for (;;) {
		uint64_t pos = cur.pos;

		r = log_read(&x->f.v, &cur, &rec);
		if (!rdr_count(x, st, &rec, r, pos))
			break;
		if (r == 0) {
			if (block)
				fx_reader_set(&x->f, x->id, &cur);
			r = rdr_idle(x, &cur, &idle_since);
			if (r <= 0)
				break;
			continue;
		}
		idle_since = 0;
		if (!rdr_take(x, st, &rec, &rng))
			break;
		log_advance(&cur, &rec);
		if (block)
			fx_reader_set(&x->f, x->id, &cur); /* done with the record */
		if ((st->received & 255) == 0)
			progress(x->run);
		if (block && rng_below(&rng, 512) == 0)
			nap_us(300); /* let publishers hit EFULL */
		if (!block && rng_below(&rng, 1024) == 0 && wait_lapped(x, cur.bytes)) {
			st->laps++;
			st->lapped = true;
		}
	}
	if (block)
		fx_reader_set(&x->f, x->id, &cur);
	rdr_finish(x, st, &cur);
	free(st);
}

/* ---- running workers ---- */

struct worker {
	struct ctx x;
	bool reader;
	pthread_t th;
	pid_t pid;
	bool reaped;
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	if (w->reader)
		rdr_main(&w->x);
	else
		pub_main(&w->x);
	return NULL;
}

static int worker_proc(void *arg)
{
	struct worker *w = arg;

	worker_thread(w);
	return run_failed(w->x.run) ? 1 : 0;
}

static uint64_t stress_seconds(void)
{
	const char *s = getenv("SHMQ_STRESS_SECONDS");
	uint64_t n = s ? strtoull(s, NULL, 10) : 2;

	return n ? n : 1;
}

static uint64_t stress_seed(void)
{
	const char *s = getenv("SHMQ_SEED");

	return s ? strtoull(s, NULL, 0) : wait_realtime_ns() ^ (uint64_t)getpid();
}

struct monitor {
	struct run *run;
	const struct scenario *sc;
	struct fx *f;
	struct worker *w;
	unsigned nw;
	unsigned next_id; /* next publisher id (= pub entry) to hand out */
	uint64_t kills, killed_records;
	uint64_t cuts;		 /* claims the cut scenarios' repair gave up */
	unsigned tokens;	 /* kill tokens handed out */
	uint32_t pids[MAX_PUBS]; /* the daemon's: owner of each pub entry */
	struct log_repair rep;
	uint64_t end_ns, token_every_ns, next_token_ns;
	uint64_t last_progress, last_change_ns;
};

static void worker_start(struct monitor *m, struct worker *w)
{
	if (!w->reader)
		fx_pub_add(m->f, w->x.id, 0);
	if (w->x.sc->procs) {
		w->pid = spawn(worker_proc, w);
		assert_true(w->pid > 0);
		if (!w->reader) {
			atomic_store(&w->x.run->pub[w->x.id].pid, w->pid);
			m->pids[w->x.id] = (uint32_t)w->pid;
		}
	} else {
		assert_int_equal(pthread_create(&w->th, NULL, worker_thread, w), 0);
	}
}

static void dump_state(struct monitor *m)
{
	struct log_cursor t;

	log_tail_cursor(&m->f->v, &t);
	fprintf(stderr, "tail pos %llu bytes %llu live_pubs=%u\n", (unsigned long long)t.pos,
		(unsigned long long)t.bytes, atomic_load(&m->run->live_pubs));
	for (unsigned i = 0; i < m->sc->nrdrs; i++) {
		struct log_cursor c = {0, 0};

		log_cursor_load(fx_reader(m->f, i), &c);
		fprintf(stderr, "reader %u: pos %llu bytes %llu word %#llx\n", i,
			(unsigned long long)c.pos, (unsigned long long)c.bytes,
			(unsigned long long)atomic_load(&log_rec_at(&m->f->v, c.bytes)->word));
	}
	for (unsigned i = 0; i < m->next_id; i++)
		fprintf(stderr, "pub %u: pid %d state %u committed %llu claim %u [%llu, %llu)\n", i,
			atomic_load(&m->run->pub[i].pid), atomic_load(&m->run->pub[i].state),
			(unsigned long long)atomic_load(&m->run->pub[i].committed),
			atomic_load(&fx_pub(m->f, i)->claim_state),
			(unsigned long long)atomic_load(&fx_pub(m->f, i)->claim_bytes),
			(unsigned long long)atomic_load(&fx_pub(m->f, i)->claim_end));
}

/* Kill a publisher that stopped at its pause point, give its claim up, start a new one. */
static void replace_paused(struct monitor *m, struct worker *w)
{
	struct pub_res *p = &m->run->pub[w->x.id];
	struct log_repair_out out;

	assert_true(WIFSIGNALED(kill_reap(w->pid)));
	w->reaped = true;
	atomic_store(&p->state, RUN_KILLED);
	m->kills++;
	m->killed_records += atomic_load(&p->killed_count);
	/* the daemon: the pid is dead, repair gives its claim up (or keeps it
	 * as an orphan while another entry names its start); then free the entry */
	log_repair_step(&m->f->v, m->f->peers, fx_rep(m->f, &m->rep), m->pids, wait_now_ns(),
			UINT64_MAX / 2, pid_alive, NULL, &out);
	log_repair_gone(&m->f->v, m->f->peers, fx_rep(m->f, &m->rep), m->pids, w->x.id);
	fx_pub_remove(m->f, w->x.id);
	log_repair_forget(&m->rep, w->x.id);
	m->pids[w->x.id] = 0;
	if (!atomic_load(&m->run->stop) && m->next_id < NPUB_MAX) {
		struct worker *nw = &m->w[m->nw++];

		*nw = (struct worker){.x = w->x};
		nw->x.id = m->next_id++;
		atomic_fetch_add(&m->run->live_pubs, 1);
		worker_start(m, nw);
	}
	/* release: as a finishing publisher's (pub_main()) */
	atomic_fetch_sub_explicit(&m->run->live_pubs, 1, memory_order_release);
}

/* Processes: reap, kill paused publishers, repair. True when all are done. */
static bool monitor_procs(struct monitor *m)
{
	struct log_repair_out out;
	bool all = true;

	for (unsigned i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];
		int status;

		if (w->reaped)
			continue;
		if (!w->reader && atomic_load(&m->run->pub[w->x.id].state) == RUN_PAUSED) {
			replace_paused(m, w);
			continue;
		}
		all = false;
		if (waitpid(w->pid, &status, WNOHANG) != w->pid)
			continue;
		w->reaped = true;
		if (!w->reader)
			m->pids[w->x.id] = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			run_fail(m->run, "%s %u exited with status %#x",
				 w->reader ? "reader" : "publisher", w->x.id, status);
	}
	if (m->sc->kills)
		log_repair_step(&m->f->v, m->f->peers, fx_rep(m->f, &m->rep), m->pids,
				wait_now_ns(), UINT64_MAX / 2, pid_alive, NULL, &out);
	return all;
}

static bool monitor_threads(struct monitor *m)
{
	for (unsigned i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];

		if (w->reader &&
		    !atomic_load_explicit(&m->run->rdr[w->x.id].done, memory_order_acquire))
			return false;
		if (!w->reader && atomic_load(&m->run->pub[w->x.id].state) != RUN_FINISHED)
			return false;
	}
	return true;
}

/* Cut scenarios: the daemon's repair, giving up every claim it sees. */
static void monitor_cut(struct monitor *m)
{
	struct log_repair_out out;

	if (!m->sc->procs)
		for (unsigned i = 0; i < m->next_id; i++)
			m->pids[i] = atomic_load(&m->run->pub[i].state) == RUN_FINISHED ? 0 : 1;
	log_repair_step(&m->f->v, m->f->peers, fx_rep(m->f, &m->rep), m->pids, wait_now_ns(), 0,
			m->sc->procs ? pid_alive : NULL, NULL, &out);
	m->cuts += out.abandoned;
}

/*
 * Stop publishers on time; fail if nothing moves for HANG_NS. A failed run
 * still waits (HANG_NS more at most) for its workers to stop: threads must
 * not outlive test_stress(), whose stack holds their contexts.
 */
static void monitor_run(struct monitor *m)
{
	uint64_t failed_ns = 0;

	for (;;) {
		uint64_t now = wait_now_ns(), prog;

		if (now >= m->end_ns)
			atomic_store(&m->run->stop, 1);
		if (m->sc->kills && now >= m->next_token_ns &&
		    m->tokens < NPUB_MAX - m->sc->npubs) {
			m->tokens++;
			atomic_fetch_add(&m->run->kills_left, 1);
			m->next_token_ns = now + m->token_every_ns;
		}
		if (m->sc->procs ? monitor_procs(m) : monitor_threads(m))
			return;
		if (m->sc->cuts) {
			monitor_cut(m);
			nap_us(10);
			continue;
		}
		prog = atomic_load(&m->run->progress) + log_tail(&m->f->v);
		if (prog != m->last_progress) {
			m->last_progress = prog;
			m->last_change_ns = now;
		} else if (now - m->last_change_ns > HANG_NS && !run_failed(m->run)) {
			run_fail(m->run, "no progress for %llu s",
				 (unsigned long long)(HANG_NS / 1000000000ull));
		}
		if (run_failed(m->run) && !failed_ns)
			failed_ns = now;
		if (failed_ns && now - failed_ns > HANG_NS) {
			dump_state(m);
			fail_msg("%s; workers still running %llu s later (seed %llu)", m->run->why,
				 (unsigned long long)(HANG_NS / 1000000000ull),
				 (unsigned long long)m->w[0].x.seed);
		}
		nap_us(m->sc->procs ? 500 : 2000);
	}
}

static void check_results(struct monitor *m)
{
	const struct scenario *sc = m->sc;
	struct run *run = m->run;
	uint64_t tail = log_tail(&m->f->v), committed = 0, aborted = 0, batches = 0, cut = 0;
	bool block = sc->policy == POLICY_BLOCK;

	for (unsigned i = 0; i < m->next_id; i++) {
		committed += atomic_load(&run->pub[i].committed);
		aborted += atomic_load(&run->pub[i].aborted);
		batches += atomic_load(&run->pub[i].batches);
		cut += atomic_load(&run->pub[i].cut);
	}
	printf("%s: tail %llu committed %llu (batches %llu) aborted %llu killed %llu (%llu "
	       "records) cut %llu records (%llu claims by the daemon)\n",
	       sc->name, (unsigned long long)tail, (unsigned long long)committed,
	       (unsigned long long)batches, (unsigned long long)aborted,
	       (unsigned long long)m->kills, (unsigned long long)m->killed_records,
	       (unsigned long long)cut, (unsigned long long)m->cuts);
	/* a cut its publisher saw first it stores itself (the daemon may not
	 * count it); one it saw in log_abort() it counts as aborted */
	aborted += cut;
	assert_int_equal(tail, committed + aborted + m->killed_records);
	if (!sc->cuts)
		assert_int_equal(atomic_load(&m->f->v.ctl->abandoned), m->killed_records);
	for (unsigned r = 0; r < sc->nrdrs; r++) {
		struct rdr_res *res = &run->rdr[r];
		uint64_t received = atomic_load(&res->received), lost = atomic_load(&res->lost);
		uint64_t abandoned = atomic_load(&res->abandoned), laps = atomic_load(&res->laps);

		printf("  reader %u: received %llu (batches %llu) lost %llu (abandoned %llu, torn "
		       "%llu) laps %llu\n",
		       r, (unsigned long long)received,
		       (unsigned long long)atomic_load(&res->batches), (unsigned long long)lost,
		       (unsigned long long)abandoned, (unsigned long long)atomic_load(&res->torn),
		       (unsigned long long)laps);
		assert_int_equal(atomic_load(&res->pos), tail);
		assert_int_equal(received + lost, tail);
		assert_true(abandoned <= aborted + m->killed_records);
		if (laps)
			assert_true(lost > abandoned);
		for (unsigned i = 0; i < m->next_id; i++)
			assert_true(res->from[i] <= atomic_load(&run->pub[i].committed));
		if (!block)
			continue;
		assert_int_equal(lost, abandoned);
		assert_int_equal(abandoned, aborted + m->killed_records);
		assert_int_equal(received, committed);
		assert_int_equal(atomic_load(&res->batches), batches);
		for (unsigned i = 0; i < m->next_id; i++)
			assert_int_equal(res->from[i], atomic_load(&run->pub[i].committed));
	}
}

static void test_stress(void **state)
{
	const struct scenario *sc = *state;
	struct run *run =
	    mmap(NULL, sizeof(*run), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct worker w[NPUB_MAX + NRDR_MAX];
	struct monitor *m = calloc(1, sizeof(*m));
	struct ctx base = {.sc = sc, .run = run, .seed = stress_seed()};
	uint64_t secs = stress_seconds();

	assert_true(run != MAP_FAILED);
	assert_non_null(m);
	*m = (struct monitor){.run = run, .sc = sc, .w = w};
	printf("stress_log %s: seed=%llu seconds=%llu (SHMQ_SEED=%llu replays it)\n", sc->name,
	       (unsigned long long)base.seed, (unsigned long long)secs,
	       (unsigned long long)base.seed);
	fflush(stdout);
	memset(run, 0, sizeof(*run));
	assert_int_equal(fx_make_ex(&base.f, 0, sc->max_msg, sc->policy, sc->exclusive ? 1 : 0, 0),
			 0);
	atomic_store(&run->live_pubs, sc->npubs);
	m->f = &base.f;
	for (unsigned i = 0; i < sc->nrdrs; i++)
		fx_reader_add(&base.f, i, &(struct log_cursor){0, 0});
	for (unsigned i = 0; i < sc->nrdrs; i++) {
		w[m->nw] = (struct worker){.x = base, .reader = true};
		w[m->nw].x.id = i;
		m->nw++;
	}
	for (unsigned i = 0; i < sc->npubs; i++) {
		w[m->nw] = (struct worker){.x = base};
		w[m->nw].x.id = m->next_id++;
		m->nw++;
	}
	for (unsigned i = 0; i < m->nw; i++)
		worker_start(m, &w[i]);
	m->end_ns = wait_now_ns() + secs * 1000000000ull;
	m->token_every_ns = secs * 1000000000ull / (NPUB_MAX - sc->npubs + 1);
	m->last_change_ns = wait_now_ns();
	monitor_run(m);
	if (!sc->procs)
		for (unsigned i = 0; i < m->nw; i++)
			assert_int_equal(pthread_join(w[i].th, NULL), 0);
	if (atomic_load(&run->failed)) {
		dump_state(m);
		fail_msg("%s (seed %llu)", run->why, (unsigned long long)base.seed);
	}
	check_results(m);
	fx_free(&base.f);
	munmap(run, sizeof(*run));
	free(m);
}

int main(int argc, char **argv)
{
	for (unsigned i = 0; argc == 2 && i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct CMUnitTest tests[] = {
		    {scenarios[i].name, test_stress, NULL, NULL, (void *)&scenarios[i]},
		};

		if (strcmp(argv[1], scenarios[i].name) == 0)
			return cmocka_run_group_tests_name(scenarios[i].name, tests, NULL, NULL);
	}
	fprintf(stderr, "usage: %s SCENARIO, one of:", argv[0]);
	for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fprintf(stderr, "\n");
	return 2;
}
