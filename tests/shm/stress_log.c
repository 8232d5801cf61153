/*
 * stress_log.c - many publishers and many readers on one channel log, as
 * threads or as fork()ed processes, for SHMQ_STRESS_SECONDS (default 2).
 * Usage: stress_log SCENARIO (see scenarios[]). Prints its seed; set
 * SHMQ_SEED to replay one.
 *
 * A message carries its publisher id, that publisher's sequence number, and
 * a checksum of the whole payload. Invariants checked exactly:
 *  - every record a reader accepts is whole (checksum) and per-publisher
 *    sequence numbers only grow (drop) or grow by one (block);
 *  - for each reader, received + lost == tail;
 *  - block: nothing is lost but abandoned claims, each reader receives
 *    every committed message once;
 *  - drop: a reader lapped for sure (tail ran far past it) reports a loss,
 *    and a record copied before such a lap fails log_verify();
 *  - kill scenarios: publishers SIGKILLed at a pause point holding a claim
 *    cost exactly one abandoned message each, and never stall the others.
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

#define MAX_PUBS 48u
#define MAX_RDRS 4u
#define MSG_MIN 24u /* id, len, seq, checksum */
#define POLICY_DROP 0u
#define POLICY_BLOCK 1u

enum pub_state { PUB_IDLE, PUB_RUNNING, PUB_FINISHED, PUB_PAUSED, PUB_KILLED };

struct scenario {
	const char *name;
	uint32_t policy;
	bool procs;
	bool kills;
	unsigned npubs; /* publishers running at once */
	unsigned nrdrs;
	uint64_t nslots;
	uint32_t max_msg;
};

static const struct scenario scenarios[] = {
	{"threads-block", POLICY_BLOCK, false, false, 3, 3, 16, 200},
	{"threads-drop", POLICY_DROP, false, false, 3, 3, 16, 200},
	{"procs-block", POLICY_BLOCK, true, false, 3, 3, 16, 200},
	{"procs-drop", POLICY_DROP, true, false, 3, 3, 16, 200},
	{"procs-kill-block", POLICY_BLOCK, true, true, 3, 2, 8, 100},
	{"procs-kill-drop", POLICY_DROP, true, true, 3, 2, 8, 100},
};

struct pub_res {
	_Atomic uint64_t committed;
	_Atomic uint64_t aborted;
	_Atomic uint32_t state; /* enum pub_state */
	_Atomic int32_t pid;
};

struct rdr_res {
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t abandoned;
	_Atomic uint64_t torn;  /* copies that log_verify() rejected (counted in lost) */
	_Atomic uint64_t laps;  /* times it made sure it was lapped */
	_Atomic uint64_t pos;
	_Atomic uint32_t done;
	uint64_t from[MAX_PUBS]; /* messages received per publisher */
};

/* Everything workers share, in MAP_SHARED memory. */
struct run {
	_Atomic uint32_t stop;      /* publishers: start no new message */
	_Atomic uint32_t live_pubs; /* publishers not finished (or reaped) */
	_Atomic uint32_t kills_left; /* tokens the monitor hands out over the run */
	_Atomic uint32_t failed;
	_Atomic uint64_t progress;
	char why[512];
	struct pub_res pub[MAX_PUBS];
	struct rdr_res rdr[MAX_RDRS];
};

struct ctx {
	const struct scenario *sc;
	struct fx f;
	struct run *run;
	uint64_t seed;
	uint64_t max_claimers; /* bound on claims held at once, over the run */
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

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t msg_sum(const uint8_t *m, uint32_t len)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ull, m, 16);

	return fnv1a(h, m + 24, len - 24);
}

static void msg_build(uint8_t *m, uint32_t id, uint32_t len, uint64_t seq, uint64_t *rng)
{
	uint64_t sum;

	memcpy(m, &id, 4);
	memcpy(m + 4, &len, 4);
	memcpy(m + 8, &seq, 8);
	for (uint32_t i = 24; i < len; i++)
		m[i] = (uint8_t)rng_next(rng);
	sum = msg_sum(m, len);
	memcpy(m + 16, &sum, 8);
}

/*
 * Drop policy: a lapping publisher may rewrite a slot while a reader copies
 * it, a seqlock; log_verify() decides whether the copy is whole. Relaxed
 * atomic accesses make that overlap well defined (and visible to TSan).
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

/* Kill scenarios: hold a claim with half a payload until SIGKILLed. */
static void maybe_die(struct ctx *x, struct pub_res *me, uint64_t *rng, uint64_t pos,
		      const uint8_t *m, uint32_t len)
{
	uint32_t left = atomic_load(&x->run->kills_left);

	if (!x->sc->kills || rng_below(rng, 3000) || atomic_load(&x->run->stop))
		return;
	do
		if (left == 0)
			return;
	while (!atomic_compare_exchange_weak(&x->run->kills_left, &left, left - 1));
	memcpy(log_payload(&x->f.v, pos), m, len / 2);
	atomic_store(&me->state, PUB_PAUSED); /* pause point "claimed" */
	for (;;)
		pause();
}

static void pub_main(struct ctx *x)
{
	struct pub_res *me = &x->run->pub[x->id];
	struct log_view *v = &x->f.v;
	uint64_t rng = x->seed ^ (0x51ull << 32) ^ x->id, limit = 0, seq = 0, pos;
	uint32_t pid = x->sc->procs ? (uint32_t)getpid() : 1 + x->id;
	uint8_t m[1024];

	atomic_store(&me->state, PUB_RUNNING);
	while (!atomic_load_explicit(&x->run->stop, memory_order_relaxed)) {
		uint32_t len = MSG_MIN + (uint32_t)rng_below(&rng, x->sc->max_msg - MSG_MIN + 1);
		int err = log_claim(v, &limit, len, pid, &pos);

		if (err == -SHMQ_EFULL) {
			sched_yield();
			continue;
		}
		if (err) {
			run_fail(x->run, "pub %u: claim: %d", x->id, err);
			break;
		}
		msg_build(m, x->id, len, seq, &rng);
		maybe_die(x, me, &rng, pos, m, len);
		if (rng_below(&rng, 256) == 0) {
			err = log_abort(v, pos);
			if (err < 0) {
				run_fail(x->run, "pub %u: abort pos %llu: %d", x->id,
					 (unsigned long long)pos, err);
				break;
			}
			atomic_fetch_add(&me->aborted, 1);
			continue;
		}
		if (x->sc->policy == POLICY_BLOCK)
			memcpy(log_payload(v, pos), m, len);
		else
			payload_put(log_payload(v, pos), m, len);
		err = log_commit(v, pos, len, seq);
		if (err < 0) {
			run_fail(x->run, "pub %u: commit pos %llu: %d", x->id,
				 (unsigned long long)pos, err);
			break;
		}
		/* release: whoever sees the count may check the messages */
		atomic_store_explicit(&me->committed, ++seq, memory_order_release);
		if ((seq & 63) == 0)
			progress(x->run);
	}
	atomic_store(&me->state, PUB_FINISHED);
	/* release: our last claim precedes it; pairs with the readers' acquire */
	atomic_fetch_sub_explicit(&x->run->live_pubs, 1, memory_order_release);
}

/* Wait until the ring lapped pos for sure; false if publishers stopped. */
static bool wait_lapped(struct ctx *x, uint64_t pos)
{
	/* each publisher holds at most one claim, so once max_claimers + 1
	 * positions of pos's slot past pos are taken, one publisher finished
	 * one of them: the slot's word is past pos. */
	uint64_t need = pos + (x->max_claimers + 1) * x->f.v.nslots + 1;

	while (log_tail(&x->f.v) < need) {
		if (atomic_load(&x->run->stop) || run_failed(x->run))
			return false;
		sched_yield();
	}
	return true;
}

struct rdr_state {
	uint64_t next_seq[MAX_PUBS];
	uint64_t received, lost, abandoned, torn, laps;
	bool lapped; /* the next read must report a loss */
};

static bool check_msg(struct ctx *x, struct rdr_state *st, const uint8_t *m, uint32_t len,
		      uint64_t pos)
{
	uint32_t id, mlen;
	uint64_t seq, sum;

	if (len < MSG_MIN)
		return run_fail(x->run, "rdr %u pos %llu: len %u", x->id, (unsigned long long)pos,
				len);
	memcpy(&id, m, 4);
	memcpy(&mlen, m + 4, 4);
	memcpy(&seq, m + 8, 8);
	memcpy(&sum, m + 16, 8);
	if (id >= MAX_PUBS || mlen != len || sum != msg_sum(m, len))
		return run_fail(x->run, "rdr %u pos %llu: bad message id %u len %u/%u", x->id,
				(unsigned long long)pos, id, mlen, len);
	if (seq < st->next_seq[id] || (x->sc->policy == POLICY_BLOCK && seq != st->next_seq[id]))
		return run_fail(x->run, "rdr %u pos %llu: pub %u seq %llu, expected %s%llu", x->id,
				(unsigned long long)pos, id, (unsigned long long)seq,
				x->sc->policy == POLICY_BLOCK ? "" : ">= ",
				(unsigned long long)st->next_seq[id]);
	st->next_seq[id] = seq + 1;
	return true;
}

/* Returns 1 to go on, 0 when the run is over, -1 on failure. */
static int rdr_idle(struct ctx *x, uint64_t pos, uint64_t *idle_since)
{
	uint64_t now;

	/* acquire; pairs with the release in pub_main(): no claim is left */
	if (atomic_load_explicit(&x->run->live_pubs, memory_order_acquire) == 0 &&
	    pos >= log_tail(&x->f.v))
		return 0;
	if (run_failed(x->run))
		return -1;
	now = wait_now_ns();
	if (!*idle_since)
		*idle_since = now;
	else if (now - *idle_since > HANG_NS) {
		run_fail(x->run, "rdr %u stuck at pos %llu, tail %llu", x->id,
			 (unsigned long long)pos, (unsigned long long)log_tail(&x->f.v));
		return -1;
	}
	sched_yield();
	return 1;
}

/* One record: check it; false on failure. */
static bool rdr_take(struct ctx *x, struct rdr_state *st, struct log_rec *rec, uint64_t *rng)
{
	uint8_t m[1024];
	bool block = x->sc->policy == POLICY_BLOCK;

	if (block) {
		/* block: nobody rewrites it before our cursor passes it */
		if (!check_msg(x, st, rec->data, rec->len, rec->pos))
			return false;
		if (!log_verify(&x->f.v, rec))
			return run_fail(x->run, "rdr %u: block record %llu overwritten", x->id,
					(unsigned long long)rec->pos);
		st->received++;
		return true;
	}
	payload_get(m, rec->data, rec->len);
	if (rng_below(rng, 4096) == 0 && wait_lapped(x, rec->pos)) {
		st->laps++;
		if (log_verify(&x->f.v, rec))
			return run_fail(x->run, "rdr %u: verify passed on lapped record %llu",
					x->id, (unsigned long long)rec->pos);
	}
	if (!log_verify(&x->f.v, rec)) {
		st->torn++;
		st->lost++;
		return true;
	}
	if (!check_msg(x, st, m, rec->len, rec->pos))
		return false;
	st->received++;
	return true;
}

static void rdr_main(struct ctx *x)
{
	struct rdr_res *res = &x->run->rdr[x->id];
	struct rdr_state *st = calloc(1, sizeof(*st));
	uint64_t rng = x->seed ^ (0x52ull << 32) ^ x->id, pos = 0, idle_since = 0;
	bool block = x->sc->policy == POLICY_BLOCK;
	struct log_rec rec;
	int r;

	if (!st) {
		run_fail(x->run, "rdr %u: out of memory", x->id);
		return;
	}
	for (;;) {
		r = log_read(&x->f.v, &pos, &rec);
		if (r < 0) {
			run_fail(x->run, "rdr %u: read pos %llu: %d", x->id,
				 (unsigned long long)pos, r);
			break;
		}
		st->lost += rec.lost;
		st->abandoned += rec.abandoned;
		if (block && rec.lost != rec.abandoned) {
			run_fail(x->run, "rdr %u: block lost %llu to overrun", x->id,
				 (unsigned long long)(rec.lost - rec.abandoned));
			break;
		}
		if (st->lapped && rec.lost == 0) {
			run_fail(x->run, "rdr %u: lapped at pos %llu but no loss reported", x->id,
				 (unsigned long long)pos);
			break;
		}
		st->lapped = false;
		if (r == 0) {
			fx_reader_set(&x->f, x->id, pos);
			r = rdr_idle(x, pos, &idle_since);
			if (r <= 0)
				break;
			continue;
		}
		idle_since = 0;
		if (!rdr_take(x, st, &rec, &rng))
			break;
		pos++;
		if (block)
			fx_reader_set(&x->f, x->id, pos); /* release: done with the slot */
		if ((st->received & 255) == 0)
			progress(x->run);
		if (block && rng_below(&rng, 512) == 0)
			nap_us(300); /* let publishers hit EFULL */
		if (!block && rng_below(&rng, 1024) == 0 && wait_lapped(x, pos)) {
			st->laps++;
			st->lapped = true;
		}
	}
	fx_reader_set(&x->f, x->id, pos);
	atomic_store(&res->received, st->received);
	atomic_store(&res->lost, st->lost);
	atomic_store(&res->abandoned, st->abandoned);
	atomic_store(&res->torn, st->torn);
	atomic_store(&res->laps, st->laps);
	atomic_store(&res->pos, pos);
	for (unsigned i = 0; i < MAX_PUBS; i++)
		res->from[i] = st->next_seq[i]; /* per publisher: last seq + 1 */
	/* release: the results above before done */
	atomic_store_explicit(&res->done, 1, memory_order_release);
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

static void worker_start(struct worker *w)
{
	if (w->x.sc->procs) {
		w->pid = spawn(worker_proc, w);
		assert_true(w->pid > 0);
		if (!w->reader)
			atomic_store(&w->x.run->pub[w->x.id].pid, w->pid);
	} else {
		assert_int_equal(pthread_create(&w->th, NULL, worker_thread, w), 0);
	}
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
	unsigned next_id; /* next publisher id to hand out */
	uint64_t kills;
	unsigned tokens; /* kill tokens handed out */
	struct log_repair rep;
	uint64_t end_ns, token_every_ns, next_token_ns;
	uint64_t last_progress, last_change_ns;
};

static void dump_state(struct monitor *m)
{
	fprintf(stderr, "tail=%llu live_pubs=%u\n", (unsigned long long)log_tail(&m->f->v),
		atomic_load(&m->run->live_pubs));
	for (unsigned i = 0; i < m->sc->nrdrs; i++) {
		uint64_t p = atomic_load(&m->f->v.readers[i].pos);

		fprintf(stderr, "reader %u: pos %llu word %#llx\n", i, (unsigned long long)p,
			(unsigned long long)atomic_load(&log_slot(&m->f->v, p)->state));
	}
	for (unsigned i = 0; i < m->next_id; i++)
		fprintf(stderr, "pub %u: pid %d state %u committed %llu\n", i,
			atomic_load(&m->run->pub[i].pid), atomic_load(&m->run->pub[i].state),
			(unsigned long long)atomic_load(&m->run->pub[i].committed));
}

/* Kill a publisher that stopped at its pause point; start a new one. */
static void replace_paused(struct monitor *m, struct worker *w)
{
	struct pub_res *p = &m->run->pub[w->x.id];

	assert_true(WIFSIGNALED(kill_reap(w->pid)));
	w->reaped = true;
	atomic_store(&p->state, PUB_KILLED);
	m->kills++;
	if (!atomic_load(&m->run->stop) && m->next_id < MAX_PUBS) {
		struct worker *nw = &m->w[m->nw++];

		*nw = (struct worker){.x = w->x};
		nw->x.id = m->next_id++;
		atomic_fetch_add(&m->run->live_pubs, 1);
		worker_start(nw);
	}
	/* release: as a finishing publisher's (pub_main()) */
	atomic_fetch_sub_explicit(&m->run->live_pubs, 1, memory_order_release);
}

/* Processes: reap, kill paused publishers, repair. True when all are done. */
static bool monitor_procs(struct monitor *m)
{
	bool all = true;

	for (unsigned i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];
		int status;

		if (w->reaped)
			continue;
		if (!w->reader && atomic_load(&m->run->pub[w->x.id].state) == PUB_PAUSED) {
			replace_paused(m, w);
			continue;
		}
		all = false;
		if (waitpid(w->pid, &status, WNOHANG) != w->pid)
			continue;
		w->reaped = true;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			run_fail(m->run, "%s %u exited with status %#x",
				 w->reader ? "reader" : "publisher", w->x.id, status);
	}
	if (m->sc->kills)
		log_repair_step(&m->f->v, &m->rep, wait_now_ns(), UINT64_MAX / 2, 256, pid_alive,
				NULL);
	return all;
}

static bool monitor_threads(struct monitor *m)
{
	for (unsigned i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];

		if (w->reader && !atomic_load_explicit(&m->run->rdr[w->x.id].done,
						       memory_order_acquire))
			return false;
		if (!w->reader && atomic_load(&m->run->pub[w->x.id].state) != PUB_FINISHED)
			return false;
	}
	return true;
}

/* Stop publishers on time; fail if nothing moves for HANG_NS. */
static void monitor_run(struct monitor *m)
{
	for (;;) {
		uint64_t now = wait_now_ns(), prog;

		if (now >= m->end_ns)
			atomic_store(&m->run->stop, 1);
		if (m->sc->kills && now >= m->next_token_ns &&
		    m->tokens < MAX_PUBS - m->sc->npubs) {
			m->tokens++;
			atomic_fetch_add(&m->run->kills_left, 1);
			m->next_token_ns = now + m->token_every_ns;
		}
		if (m->sc->procs ? monitor_procs(m) : monitor_threads(m))
			return;
		prog = atomic_load(&m->run->progress) + log_tail(&m->f->v);
		if (prog != m->last_progress) {
			m->last_progress = prog;
			m->last_change_ns = now;
		} else if (now - m->last_change_ns > HANG_NS) {
			dump_state(m);
			fail_msg("no progress for %llu s (seed %llu)",
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
	uint64_t tail = log_tail(&m->f->v), committed = 0, aborted = 0;
	bool block = sc->policy == POLICY_BLOCK;

	for (unsigned i = 0; i < m->next_id; i++) {
		committed += atomic_load(&run->pub[i].committed);
		aborted += atomic_load(&run->pub[i].aborted);
	}
	printf("%s: tail %llu committed %llu aborted %llu killed %llu\n", sc->name,
	       (unsigned long long)tail, (unsigned long long)committed,
	       (unsigned long long)aborted, (unsigned long long)m->kills);
	assert_int_equal(tail, committed + aborted + m->kills);
	assert_int_equal(atomic_load(&m->f->v.ctl->abandoned), sc->kills ? m->kills : 0);
	for (unsigned r = 0; r < sc->nrdrs; r++) {
		struct rdr_res *res = &run->rdr[r];
		uint64_t received = atomic_load(&res->received), lost = atomic_load(&res->lost);
		uint64_t abandoned = atomic_load(&res->abandoned), laps = atomic_load(&res->laps);

		printf("  reader %u: received %llu lost %llu (abandoned %llu, torn %llu) "
		       "laps %llu\n",
		       r, (unsigned long long)received, (unsigned long long)lost,
		       (unsigned long long)abandoned, (unsigned long long)atomic_load(&res->torn),
		       (unsigned long long)laps);
		assert_int_equal(atomic_load(&res->pos), tail);
		assert_int_equal(received + lost, tail);
		assert_true(abandoned <= aborted + m->kills);
		if (laps)
			assert_true(lost > abandoned);
		for (unsigned i = 0; i < m->next_id; i++)
			assert_true(res->from[i] <= atomic_load(&run->pub[i].committed));
		if (!block)
			continue;
		assert_int_equal(lost, abandoned);
		assert_int_equal(abandoned, aborted + m->kills);
		assert_int_equal(received, committed);
		for (unsigned i = 0; i < m->next_id; i++)
			assert_int_equal(res->from[i], atomic_load(&run->pub[i].committed));
	}
}

static void test_stress(void **state)
{
	const struct scenario *sc = *state;
	struct run *run = mmap(NULL, sizeof(*run), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct worker w[MAX_PUBS + MAX_RDRS];
	struct monitor m = {.run = run, .sc = sc, .w = w};
	struct ctx base = {.sc = sc, .run = run, .seed = stress_seed()};
	uint64_t secs = stress_seconds();

	assert_true(run != MAP_FAILED);
	printf("stress_log %s: seed=%llu seconds=%llu (SHMQ_SEED=%llu replays it)\n", sc->name,
	       (unsigned long long)base.seed, (unsigned long long)secs,
	       (unsigned long long)base.seed);
	fflush(stdout);
	memset(run, 0, sizeof(*run));
	assert_int_equal(fx_make(&base.f,
				 sc->nslots * ((SLOT_HDR_BYTES + sc->max_msg + 63) & ~63ull),
				 sc->max_msg, sc->policy),
			 0);
	assert_int_equal(base.f.v.nslots, sc->nslots);
	base.max_claimers = sc->kills ? MAX_PUBS : sc->npubs;
	atomic_store(&run->live_pubs, sc->npubs);
	m.f = &base.f;
	for (unsigned i = 0; i < sc->nrdrs; i++)
		fx_reader_add(&base.f, i, 0);
	for (unsigned i = 0; i < sc->nrdrs; i++) {
		w[m.nw] = (struct worker){.x = base, .reader = true};
		w[m.nw].x.id = i;
		m.nw++;
	}
	for (unsigned i = 0; i < sc->npubs; i++) {
		w[m.nw] = (struct worker){.x = base};
		w[m.nw].x.id = m.next_id++;
		m.nw++;
	}
	for (unsigned i = 0; i < m.nw; i++)
		worker_start(&w[i]);
	m.end_ns = wait_now_ns() + secs * 1000000000ull;
	m.token_every_ns = secs * 1000000000ull / (MAX_PUBS - sc->npubs + 1);
	m.last_change_ns = wait_now_ns();
	monitor_run(&m);
	if (!sc->procs)
		for (unsigned i = 0; i < m.nw; i++)
			assert_int_equal(pthread_join(w[i].th, NULL), 0);
	if (atomic_load(&run->failed))
		fail_msg("%s (seed %llu)", run->why, (unsigned long long)base.seed);
	check_results(&m);
	fx_free(&base.f);
	munmap(run, sizeof(*run));
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
