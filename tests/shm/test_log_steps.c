/*
 * test_log_steps.c - publishers stopped between the steps of a claim or a
 * commit. It includes shm/log.c to call intent_store(), tail_cas(),
 * tail_store() and rec_commit() one at a time, as a publisher that dies
 * between them would leave the channel. Victims are fork()ed children that
 * stop at a named kill point and are SIGKILLed there; the test process then
 * plays the daemon (log_repair_step() with the dead pid, then frees the
 * entry as registry_pub_remove() does) and a reader checks that it moves
 * on, counts exactly what was lost, and sees a batch whole or not at all.
 * Suites: unit, tsan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cmocka.h>

/* A publisher that stops at a named pause point of log.c, until told to go on. */
static _Atomic uint32_t *pause_at;    /* 1: stop at COMMIT_CHECKED (shared) */
static _Atomic uint32_t *pause_state; /* 1 stopped, 2 go on (shared) */
static pid_t pause_pid;		      /* the committer child: the only one that pauses */
static void log_pause(const char *point);
#define LOG_PAUSE(point) log_pause(#point)

#include "../../shm/log.c"
#include "fixture.h"
#include "testutil.h"

#define DROP 0u
#define BLOCK 1u
#define HELPER_PID 4242u
#define NEVER_STUCK_NS (3600ull * 1000000000ull) /* only the pid check gives claims up */

/* Where the victim stops. */
enum kill_point {
	KP_INTENT,	/* intent written (CLAIMING), the tail not moved */
	KP_TAIL,	/* the tail moved, nothing announced, no PAD written */
	KP_CLAIMED,	/* the claim returned: PAD written, nothing else */
	KP_HALF,	/* half of every payload written */
	KP_FULL,	/* every payload written, nothing committed */
	KP_SOME,	/* a batch: its later half committed (between commits) */
	KP_ALL_BUT_ONE, /* a batch: all committed but its first record */
	KP_COMMITTED,	/* every commit store done, the entry not idled yet */
	KP_COUNT
};

static const char *const kp_name[KP_COUNT] = {
    "after the intent",
    "after the tail move",
    "after the claim",
    "after half the payload",
    "after the payload",
    "between commits of a batch",
    "before the first record's commit",
    "after the commit stores",
};

/* Shared with the victim. */
struct victim_shm {
	_Atomic uint32_t at_point;
	_Atomic int32_t error;
	struct log_claim claim;
};

struct victim {
	struct fx *f;
	struct victim_shm *sh;
	enum kill_point kp;
	unsigned n; /* records */
	uint32_t lens[8];
};

static uint8_t pattern(uint64_t pos, uint32_t i)
{
	return (uint8_t)(pos * 131 + i * 7 + 1);
}

static void write_payloads(struct fx *f, const struct log_claim *c, const uint32_t *lens,
			   unsigned n, bool half)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *d = log_payload(&f->v, log_claim_rec_bytes(c, lens, NULL, i), 0);

		for (uint32_t j = 0; j < (half ? lens[i] / 2 : lens[i]); j++)
			d[j] = pattern(c->at.pos + i, j);
	}
}

static _Noreturn void stop_here(struct victim *w, const struct log_claim *c)
{
	if (c)
		w->sh->claim = *c;
	/* release: the claim above before the flag; the parent acquires it. */
	atomic_store_explicit(&w->sh->at_point, 1, memory_order_release);
	for (;;)
		pause();
}

/* The first steps of claim_span(), by hand: intent, then the tail move. */
static int victim_claim_steps(struct victim *w, struct log_pub *p)
{
	const struct log_view *v = &w->f->v;
	uint64_t span = 0, pad, end;
	struct log_cursor t, next;
	bool guard;

	for (unsigned i = 0; i < w->n; i++)
		span += rec_bytes_for(w->lens[i], 0);
	log_tail_cursor(v, &t);
	pad = (t.bytes & v->mask) + span > v->ring_bytes ? v->ring_bytes - (t.bytes & v->mask) : 0;
	end = t.bytes + pad + span;
	if (check_space(v, p, t.bytes, end, &guard))
		return 1;
	intent_store(p, &t, end, w->n, PUB_CLAIMING);
	if (w->kp == KP_INTENT)
		stop_here(w, NULL);
	next = (struct log_cursor){t.pos + w->n, end};
	if (p->exclusive)
		tail_store(v->data, &next);
	else if (!tail_cas(v->data, &t, &next))
		return 2;
	stop_here(w, NULL);
}

static int victim_main(void *arg)
{
	struct victim *w = arg;
	const struct log_view *v = &w->f->v;
	struct log_claim c;
	struct log_pub p;
	uint64_t b;

	log_pub_init(v, &p, 0, w->f->peers->pubs[0], w->f->peers, false);
	if (w->kp <= KP_TAIL)
		return victim_claim_steps(w, &p);
	if (log_claimv(v, &p, w->lens, NULL, w->n, &c))
		return 3;
	if (w->kp == KP_CLAIMED)
		stop_here(w, &c);
	write_payloads(w->f, &c, w->lens, w->n, w->kp == KP_HALF);
	if (w->kp == KP_HALF || w->kp == KP_FULL)
		stop_here(w, &c);
	/* log_commitv() by hand: the last record first */
	b = c.end;
	for (unsigned i = w->n; i-- > 0;) {
		uint64_t rb = rec_bytes_for(w->lens[i], 0);

		if ((w->kp == KP_SOME && i < w->n / 2) || (w->kp == KP_ALL_BUT_ONE && i == 0))
			stop_here(w, &c);
		b -= rb;
		rec_commit(v, b, c.at.pos + i, rb, w->lens[i], 0, 1000 + c.at.pos + i,
			   i == 0 && w->n > 1 ? REC_F_BATCH : 0);
	}
	stop_here(w, &c);
}

static struct victim_shm *victim_shm_new(void)
{
	struct victim_shm *sh =
	    mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return sh;
}

/* Start the victim, wait for its kill point, SIGKILL and reap it; its pid. */
static uint32_t victim_run_and_kill(struct victim *w)
{
	uint64_t start = wait_now_ns();
	pid_t pid = spawn(victim_main, w);

	assert_true(pid > 0);
	/* acquire; pairs with the release in stop_here(). */
	while (!atomic_load_explicit(&w->sh->at_point, memory_order_acquire)) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("victim exited with %#x before %s", status, kp_name[w->kp]);
		if (wait_now_ns() - start > HANG_NS)
			fail_msg("victim never reached %s", kp_name[w->kp]);
		nap_us(100);
	}
	assert_true(WIFSIGNALED(kill_reap(pid)));
	return (uint32_t)pid;
}

/* Publish one message of len bytes from the helper; its pos. */
static uint64_t helper_publish(struct fx *f, struct log_pub *p, uint32_t len)
{
	struct log_claim c = {0};

	assert_int_equal(log_claim(&f->v, p, len, 0, &c), 0);
	for (uint32_t j = 0; j < len; j++)
		log_payload(&f->v, c.at.bytes, 0)[j] = pattern(c.at.pos, j);
	assert_true(log_commit(&f->v, p, &c, len, 0, 1000 + c.at.pos) >= 0);
	return c.at.pos;
}

/* Publish from the helper until the tail is at target (no PAD on the way). */
static void helper_fill_to(struct fx *f, struct log_pub *p, uint64_t target)
{
	for (;;) {
		uint64_t t = atomic_load(&f->v.data->tail_bytes), piece = target - t;
		uint64_t lap_left = f->v.ring_bytes - (t & f->v.mask);

		if (t == target)
			return;
		if (piece > lap_left)
			piece = lap_left;
		if (piece > 32 + 96)
			piece = 32 + 96;
		helper_publish(f, p, (uint32_t)(piece - 32));
	}
}

struct read_result {
	uint64_t received, lost, abandoned;
	uint64_t victim_records; /* records of the victim's claim received */
};

/* Read all from *cur; every record checked byte by byte. */
static void read_all(struct fx *f, struct log_cursor *cur, const struct log_claim *vc,
		     struct read_result *res)
{
	struct log_rec rec;
	int r;

	while ((r = log_read(&f->v, cur, &rec)) == 1) {
		res->lost += rec.lost;
		res->abandoned += rec.abandoned;
		assert_int_equal(rec.timestamp_ns, 1000 + rec.pos);
		for (uint32_t j = 0; j < rec.len; j++)
			if (rec.data[j] != pattern(rec.pos, j))
				fail_msg("pos %llu byte %u", (unsigned long long)rec.pos, j);
		assert_true(log_verify(&f->v, &rec));
		if (vc && rec.pos >= vc->at.pos && rec.pos < vc->at.pos + vc->count)
			res->victim_records++;
		log_advance(cur, &rec);
		res->received++;
	}
	assert_int_equal(r, 0);
	res->lost += rec.lost;
	res->abandoned += rec.abandoned;
}

/*
 * One kill point: the victim's claim (n records, wrapping the ring's end if
 * wrap) dies at kp. Repair with its pid dead gives the claim up (unless
 * it never moved the tail or every commit is done), the entry is freed,
 * the helper goes on for more than a ring; a reader from the start counts
 * exactly n lost (or 0) and sees the batch whole or not at all.
 */
static void kill_at(enum kill_point kp, unsigned n, bool wrap, uint32_t policy, uint32_t mode)
{
	struct victim_shm *sh = victim_shm_new();
	uint32_t pids[MAX_PUBS] = {0};
	struct log_cursor cur = {0, 0}, t;
	struct read_result res = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct victim w;
	struct log_pub helper;
	bool gives_up = kp != KP_INTENT && kp != KP_COMMITTED;
	uint64_t target;
	struct fx f;

	assert_int_equal(fx_make_ex(&f, 0, 100, policy, mode, 0), 0);
	w = (struct victim){.f = &f, .sh = sh, .kp = kp, .n = n};
	for (unsigned i = 0; i < n; i++)
		w.lens[i] = 10 + 37 * i % 90;
	fx_pub_add(&f, 0, 1);
	fx_pub_init(&f, &helper, 1, HELPER_PID, false);
	for (unsigned i = 0; i < 3; i++)
		helper_publish(&f, &helper, 5 + i);
	if (wrap) /* the victim's claim starts with a PAD of 32 */
		helper_fill_to(&f, &helper, f.v.ring_bytes - 32);
	read_all(&f, &cur, NULL, &res);
	if (policy == BLOCK) /* the reader keeps up; it bounds nobody */
		fx_reader_add(&f, 0, &cur);
	if (mode == 1) /* an exclusive publisher: the helper is gone while the victim runs */
		fx_pub_remove(&f, 1);
	log_tail_cursor(&f.v, &t);
	pids[0] = victim_run_and_kill(&w);
	pids[1] = HELPER_PID;
	if (kp <= KP_TAIL) /* the victim could not say it: what claim_span() would have given */
		sh->claim = (struct log_claim){.at = t, .count = kp == KP_INTENT ? 0 : n};

	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	if (out.abandoned != (gives_up ? 1u : 0u))
		fail_msg("%s, %u records%s: repair gave up %u claims", kp_name[kp], n,
			 wrap ? " across the ring end" : "", out.abandoned);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), gives_up ? n : 0);
	if (mode == 1) {
		assert_int_equal(atomic_load(&f.v.data->tail_seq) & 1, 0);
		log_tail_cursor(&f.v, &t);
		assert_int_equal(t.bytes, kp == KP_INTENT ? atomic_load(&fx_pub(&f, 0)->claim_bytes)
							  : atomic_load(&fx_pub(&f, 0)->claim_end));
	}
	/* the daemon frees the entry (registry_pub_remove()) */
	fx_pub_remove(&f, 0);
	log_repair_forget(&rep, 0);
	pids[0] = 0;
	if (mode == 1)
		fx_pub_init(&f, &helper, 1, HELPER_PID, false);
	/* more than a ring past the claim; a drop reader is not lapped */
	target = atomic_load(&f.v.data->tail_bytes) + 2 * f.v.ring_bytes;
	while (atomic_load(&f.v.data->tail_bytes) < target) {
		if (policy == DROP &&
		    atomic_load(&f.v.data->tail_bytes) + 512 > cur.bytes + f.v.ring_bytes)
			break;
		helper_publish(&f, &helper, 60);
		if (policy == BLOCK) {
			read_all(&f, &cur, &sh->claim, &res);
			fx_reader_set(&f, 0, &cur);
		}
	}
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 2, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 0);
	read_all(&f, &cur, &sh->claim, &res);
	if (res.lost != (gives_up ? n : 0) || res.abandoned != res.lost)
		fail_msg("%s, %u records%s: lost %llu (abandoned %llu), want %u", kp_name[kp], n,
			 wrap ? " across the ring end" : "", (unsigned long long)res.lost,
			 (unsigned long long)res.abandoned, gives_up ? n : 0);
	assert_int_equal(res.victim_records, gives_up || kp == KP_INTENT ? 0 : n);
	assert_int_equal(res.received + res.lost, log_tail(&f.v));
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

static void test_killed_single_publisher_is_settled_at_every_kill_point(void **state)
{
	(void)state;
	for (unsigned kp = 0; kp < KP_COUNT; kp++) {
		if (kp == KP_SOME || kp == KP_ALL_BUT_ONE)
			continue;
		kill_at(kp, 1, false, BLOCK, 0);
		kill_at(kp, 1, true, DROP, 0);
	}
}

static void test_killed_batch_is_all_or_nothing_at_every_kill_point(void **state)
{
	(void)state;
	for (unsigned kp = 0; kp < KP_COUNT; kp++) {
		kill_at(kp, 5, false, DROP, 0);
		kill_at(kp, 4, false, BLOCK, 0);
	}
}

static void test_killed_batch_after_a_pad_is_all_or_nothing_at_every_kill_point(void **state)
{
	(void)state;
	for (unsigned kp = 0; kp < KP_COUNT; kp++) {
		kill_at(kp, 5, true, DROP, 0);
		kill_at(kp, 3, true, BLOCK, 0);
	}
}

/* Exclusive mode: kill points of its one publisher, the tail store included below. */
static void test_killed_exclusive_publisher_is_settled_at_every_kill_point(void **state)
{
	(void)state;
	for (unsigned kp = 0; kp < KP_COUNT; kp++) {
		kill_at(kp, 3, kp & 1, DROP, 1);
		kill_at(kp, 3, !(kp & 1), BLOCK, 1);
	}
}

/* Exclusive: dies inside tail_store(), tail_seq odd, the pair half-written. */
static int half_tail_store_main(void *arg)
{
	struct victim *w = arg;
	const struct log_view *v = &w->f->v;
	struct log_cursor t;
	struct log_pub p;
	uint32_t s;

	log_pub_init(v, &p, 0, w->f->peers->pubs[0], w->f->peers, false);
	t = p.tail;
	intent_store(&p, &t, t.bytes + rec_bytes_for(w->lens[0], 0), 1, PUB_CLAIMING);
	/* tail_store()'s first steps: the seq odd, tail_pos only */
	s = atomic_load_explicit(&v->data->tail_seq, memory_order_relaxed);
	atomic_store_explicit(&v->data->tail_seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&v->data->tail_pos, t.pos + 1, memory_order_relaxed);
	stop_here(w, NULL);
}

static void test_dead_exclusive_publisher_inside_its_tail_store_is_settled(void **state)
{
	struct victim_shm *sh = victim_shm_new();
	uint32_t pids[MAX_PUBS] = {0};
	struct log_cursor cur = {0, 0}, t;
	struct read_result res = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub p;
	struct victim w;
	uint64_t end;
	pid_t pid;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make_ex(&f, 0, 100, DROP, 1, 0), 0);
	fx_pub_init(&f, &p, 0, 7, false);
	for (unsigned i = 0; i < 4; i++)
		helper_publish(&f, &p, 20);
	w = (struct victim){.f = &f, .sh = sh, .n = 1, .lens = {50}};
	end = atomic_load(&f.v.data->tail_bytes) + rec_bytes_for(50, 0);
	pid = spawn(half_tail_store_main, &w);
	while (!atomic_load_explicit(&sh->at_point, memory_order_acquire))
		nap_us(100);
	assert_true(WIFSIGNALED(kill_reap(pid)));
	assert_int_equal(atomic_load(&f.v.data->tail_seq) & 1, 1);
	pids[0] = (uint32_t)pid;
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(atomic_load(&f.v.data->tail_seq) & 1, 0);
	log_tail_cursor(&f.v, &t);
	assert_int_equal(t.pos, 5);
	assert_int_equal(t.bytes, end);
	fx_pub_remove(&f, 0);
	log_repair_forget(&rep, 0);
	fx_pub_init(&f, &p, 0, 8, false); /* the next exclusive publisher starts at the tail */
	assert_int_equal(p.tail.bytes, end);
	helper_publish(&f, &p, 30);
	read_all(&f, &cur, NULL, &res);
	assert_int_equal(res.received, 5);
	assert_int_equal(res.lost, 1);
	assert_int_equal(res.abandoned, 1);
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

/* Records 1..n-1 of a batch committed, record 0 not: a reader sees nothing yet. */
static void test_batch_with_first_record_uncommitted_is_invisible(void **state)
{
	uint32_t lens[4] = {10, 20, 30, 40};
	struct log_cursor cur = {0, 0};
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	uint64_t b;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 100, DROP), 0);
	fx_pub_init(&f, &p, 0, 1, false);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 4, &c), 0);
	write_payloads(&f, &c, lens, 4, false);
	b = c.end;
	for (unsigned i = 4; i-- > 1;) {
		b -= rec_bytes_for(lens[i], 0);
		rec_commit(&f.v, b, c.at.pos + i, rec_bytes_for(lens[i], 0), lens[i], 0, 1000 + i,
			   0);
		assert_int_equal(log_read(&f.v, &cur, &rec), 0);
		assert_int_equal(rec.lost, 0);
		assert_int_equal(cur.bytes, 0);
	}
	rec_commit(&f.v, 0, c.at.pos, rec_bytes_for(lens[0], 0), lens[0], 0, 1000, REC_F_BATCH);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		assert_int_equal(rec.pos, i);
		assert_int_equal(rec.len, lens[i]);
		log_advance(&cur, &rec);
	}
	fx_free(&f);
}

/*
 * A publisher died after writing its intent for a claim across the ring's
 * end, its tail move never made (a stale tail, or killed first). Others
 * then took those bytes: one committed a short record at the intent's start
 * (no PAD), another holds a claim at the next lap's start, in progress. The
 * dead intent is no claim of anyone's: repair must leave the live claim
 * alone, whose commit then succeeds, and readers lose nothing.
 */
static void test_dead_intent_across_the_ring_end_leaves_others_claims_alone(void **state)
{
	/* h and q are alive (this process); the intent's owner is not */
	uint32_t pids[MAX_PUBS] = {
	    [0] = 999999999u, [1] = (uint32_t)getpid(), [2] = (uint32_t)getpid()};
	struct log_cursor cur = {0, 0}, t;
	struct read_result res = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub dead, h, q;
	struct log_claim c;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 100, DROP), 0);
	fx_pub_init(&f, &dead, 0, pids[0], false);
	fx_pub_init(&f, &h, 1, pids[1], false);
	fx_pub_init(&f, &q, 2, pids[2], false);
	helper_fill_to(&f, &h, f.v.ring_bytes - 96);
	/* the dead one's intent: 96 bytes of PAD, then a 128-byte record */
	log_tail_cursor(&f.v, &t);
	intent_store(&dead, &t, t.bytes + 96 + 128, 1, PUB_CLAIMING);
	/* h: a 64-byte record at the intent's start, committed */
	helper_publish(&f, &h, 32);
	/* q: 64 bytes wrap: a PAD of 32, then 96 at the next lap, in progress */
	assert_int_equal(log_claim(&f.v, &q, 64, 0, &c), 0);
	assert_int_equal(c.at.bytes, f.v.ring_bytes);
	helper_publish(&f, &h, 60); /* the tail past the intent's end */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 0);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 0);
	for (uint32_t j = 0; j < 64; j++)
		log_payload(&f.v, c.at.bytes, 0)[j] = pattern(c.at.pos, j);
	assert_int_equal(log_commit(&f.v, &q, &c, 64, 0, 1000 + c.at.pos), 0);
	fx_pub_remove(&f, 0);
	/* the tail is past a ring now: a reader from 0 was lapped, and loses
	 * exactly what it skips, but nothing was given up */
	read_all(&f, &cur, NULL, &res);
	assert_int_equal(res.abandoned, 0);
	assert_int_equal(res.received + res.lost, log_tail(&f.v));
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 0);
	fx_free(&f);
}

/*
 * A publisher died after its tail move and before it raised frontier; its
 * claim ends exactly where a reader's record of the lap before starts, in
 * a chunk above frontier. Giving the claim up writes its guard over that
 * record's word: a reader holding a view of the record must learn that it
 * was overwritten, and one about to read it that it was lapped, not that
 * nothing is there yet.
 */
static void test_repair_of_an_unannounced_claim_tells_readers_they_were_lapped(void **state)
{
	uint32_t pids[MAX_PUBS] = {[0] = 999999999u, [1] = (uint32_t)getpid()};
	struct log_cursor cur = {0, 0}, held, t, next;
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub dead, h;
	struct log_rec rec, seen;
	uint64_t x, ring, chunk;
	int r;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 100, DROP), 0);
	ring = f.v.ring_bytes;
	chunk = f.v.chunk_bytes;
	fx_pub_init(&f, &dead, 0, pids[0], false);
	fx_pub_init(&f, &h, 1, pids[1], false);
	/* record A at x; the dead claim will end at x + ring, a chunk start */
	x = 2 * chunk;
	helper_fill_to(&f, &h, x);
	helper_publish(&f, &h, 32);
	do {
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		if (rec.bytes < x)
			log_advance(&cur, &rec);
	} while (rec.bytes < x);
	seen = rec;
	held = cur;
	helper_fill_to(&f, &h, x + ring - 64);
	assert_true(log_verify(&f.v, &seen));
	/* the dead publisher: intent and tail move, nothing announced */
	log_tail_cursor(&f.v, &t);
	intent_store(&dead, &t, t.bytes + 64, 1, PUB_CLAIMING);
	next = (struct log_cursor){t.pos + 1, t.bytes + 64};
	assert_true(tail_cas(f.v.data, &t, &next));
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 1);
	/* A's word is the guard now: the view is no longer intact */
	assert_false(log_verify(&f.v, &seen));
	/* and a reader at A was lapped: it moves on and counts what it lost */
	r = log_read(&f.v, &held, &rec);
	assert_true(r >= 0);
	assert_true(held.bytes > x);
	assert_true(rec.lost >= 1);
	fx_free(&f);
}

static void log_pause(const char *point)
{
	if (getpid() != pause_pid || !pause_at || strcmp(point, "COMMIT_CHECKED") ||
	    !atomic_load_explicit(pause_at, memory_order_acquire))
		return;
	/* release: everything before the pause is visible to the parent. */
	atomic_store_explicit(pause_state, 1, memory_order_release);
	while (atomic_load_explicit(pause_state, memory_order_acquire) != 2)
		nap_us(100);
}

struct committer {
	struct fx *f;
	bool pause_in_commit; /* else pause before log_commit() */
};

/* Claim one record, write it, commit; exit 0 if committed, 1 if abandoned. */
static int committer_main(void *arg)
{
	struct committer *k = arg;
	struct log_claim c;
	struct log_pub p;
	int err;

	pause_pid = getpid(); /* only this child pauses, whatever its parent's asserts did */
	log_pub_init(&k->f->v, &p, 0, k->f->peers->pubs[0], k->f->peers, !log_pub_register());
	p.fence = true; /* registered or not: the daemon's membarrier() or our fence */
	if (log_claim(&k->f->v, &p, 40, 0, &c))
		return 3;
	for (uint32_t j = 0; j < 40; j++)
		log_payload(&k->f->v, c.at.bytes, 0)[j] = pattern(c.at.pos, j);
	if (!k->pause_in_commit) {
		atomic_store_explicit(pause_state, 1, memory_order_release);
		while (atomic_load_explicit(pause_state, memory_order_acquire) != 2)
			nap_us(100);
	}
	atomic_store_explicit(pause_at, k->pause_in_commit, memory_order_release);
	err = log_commit(&k->f->v, &p, &c, 40, 0, 1000 + c.at.pos);
	return err == -SHMQ_EABANDONED ? 1 : err < 0 ? 4 : 0;
}

/*
 * The daemon cuts a live publisher's claim while the publisher is between
 * its look for the cut mark and its commit store (pause_in_commit), or
 * before its commit began. Either the message exists for every reader or
 * for none: a reader that looked while the daemon acted and one that
 * looks after the publisher went on agree, and the publisher's return
 * says the same. One inside its commit past stuck_ns is reported to stop.
 */
/*
 * A channel of policy in f with one publisher, entry 0, a child process
 * (its pid returned) that claims and stops at its pause point (inside its
 * commit, or before it), the pause words in *sh, shared with it.
 */
static pid_t committer_paused(struct fx *f, uint32_t policy, bool pause_in_commit,
			      _Atomic uint32_t **sh)
{
	struct committer k;
	uint64_t since;
	pid_t pid;

	*sh = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(*sh != MAP_FAILED);
	pause_at = &(*sh)[0];
	pause_state = &(*sh)[8];
	assert_int_equal(fx_make(f, 0, 100, policy), 0);
	fx_pub_add(f, 0, 1);
	k = (struct committer){.f = f, .pause_in_commit = pause_in_commit};
	pid = spawn(committer_main, &k);
	assert_true(pid > 0);
	since = wait_now_ns();
	while (!atomic_load_explicit(pause_state, memory_order_acquire)) {
		assert_true(wait_now_ns() - since < HANG_NS);
		nap_us(100);
	}
	return pid;
}

static void committer_done(struct fx *f, _Atomic uint32_t *sh)
{
	fx_free(f);
	munmap(sh, 64);
	pause_at = NULL;
	pause_state = NULL;
}

static void cut_while_committing(bool pause_in_commit)
{
	struct read_result a = {0}, b = {0};
	struct log_cursor ca = {0, 0}, cb = {0, 0};
	uint32_t pids[MAX_PUBS] = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	_Atomic uint32_t *sh;
	pid_t pid;
	int st;
	struct fx f;

	pid = committer_paused(&f, DROP, pause_in_commit, &sh);
	pids[0] = (uint32_t)pid;
	/* the daemon: first look, then past stuck_ns */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000, 100, pid_alive, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1100, 100, pid_alive, NULL, &out);
	assert_int_equal(out.abandoned, pause_in_commit ? 0 : 1);
	/* inside its commit, it holds every reader: stop it now */
	assert_int_equal(out.nstall, pause_in_commit ? 1 : 0);
	if (pause_in_commit)
		assert_int_equal(out.stall_pid[0], pids[0]);
	read_all(&f, &ca, NULL, &a);
	atomic_store_explicit(pause_state, 2, memory_order_release);
	st = status_of(pid);
	assert_int_equal(st, pause_in_commit ? 0 : 1);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1200, 100, pid_alive, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	read_all(&f, &ca, NULL, &a);
	read_all(&f, &cb, NULL, &b);
	if (a.received != b.received || a.lost != b.lost)
		fail_msg("readers disagree: one received %llu lost %llu, the other %llu and %llu",
			 (unsigned long long)a.received, (unsigned long long)a.lost,
			 (unsigned long long)b.received, (unsigned long long)b.lost);
	assert_int_equal(b.received, pause_in_commit ? 1 : 0);
	assert_int_equal(b.lost, pause_in_commit ? 0 : 1);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), pause_in_commit ? 0 : 1);
	committer_done(&f, sh);
}

static void test_cut_racing_a_commit_gives_every_reader_the_same_answer(void **state)
{
	(void)state;
	cut_while_committing(true);
	cut_while_committing(false);
}

/*
 * The daemon marked a live publisher's claim while it sat inside its
 * commit and asked for it to be stopped; the stop lands before its word
 * store. Its claim must then be given up, whether the daemon learns of the
 * death from its closed connection (log_repair_gone(), before the slot is
 * freed) or from its next look (log_repair_step()): nobody else will ever
 * store that word, and readers wait at it.
 */
static void cut_then_killed_inside_its_commit(bool via_gone)
{
	struct read_result a = {0};
	struct log_cursor ca = {0, 0};
	uint32_t pids[MAX_PUBS] = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	_Atomic uint32_t *sh;
	pid_t pid;
	struct fx f;

	pid = committer_paused(&f, BLOCK, true, &sh);
	pids[0] = (uint32_t)pid;
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000, 100, pid_alive, NULL, &out);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1100, 100, pid_alive, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	assert_int_equal(out.nstall, 1);
	kill(pid, SIGKILL);
	assert_int_equal(status_of(pid), 128 + SIGKILL);
	if (via_gone) {
		assert_true(log_repair_gone(&f.v, f.peers, fx_rep(&f, &rep), pids, 0));
		fx_pub_remove(&f, 0);
		log_repair_forget(&rep, 0);
		pids[0] = 0;
	} else {
		log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1200, 100, pid_alive, NULL,
				&out);
		assert_int_equal(out.abandoned, 1);
	}
	read_all(&f, &ca, NULL, &a);
	assert_int_equal(a.received, 0);
	assert_int_equal(a.lost, 1);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	committer_done(&f, sh);
}

static void test_a_cut_publisher_killed_inside_its_commit_is_given_up(void **state)
{
	(void)state;
	cut_then_killed_inside_its_commit(true);
	cut_then_killed_inside_its_commit(false);
}

/*
 * A publisher went away holding a claim whose start another entry also
 * named (it lost the tail move): the daemon keeps the claim as an orphan
 * to settle later. Once the other moves on, no entry bounds the orphan's
 * space any more: publishers must still stop a ring past it until the
 * daemon has settled it, or a lap would reach the words it is about to
 * write (its plausibility check and its CAS are not one step).
 */
static void test_an_orphaned_claim_holds_publishers_until_it_is_settled(void **state)
{
	uint32_t pids[MAX_PUBS] = {
	    [0] = 999999999u, [1] = (uint32_t)getpid(), [2] = (uint32_t)getpid()};
	struct log_cursor t, next;
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub a, b, h;
	struct log_claim c;
	uint64_t x;
	int err;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 100, DROP), 0);
	fx_pub_init(&f, &a, 0, pids[0], false);
	fx_pub_init(&f, &b, 1, pids[1], false);
	fx_pub_init(&f, &h, 2, pids[2], false);
	for (unsigned i = 0; i < 3; i++)
		helper_publish(&f, &h, 20);
	/* a moves the tail over [x, x + 64); b's intent names x too (lost) */
	log_tail_cursor(&f.v, &t);
	x = t.bytes;
	intent_store(&a, &t, x + 64, 1, PUB_CLAIMING);
	intent_store(&b, &t, x + 64, 1, PUB_CLAIMING);
	next = (struct log_cursor){t.pos + 1, x + 64};
	assert_true(tail_cas(f.v.data, &t, &next));
	/* a is gone: kept as an orphan, its slot freed; then b moves on */
	assert_false(log_repair_gone(&f.v, f.peers, fx_rep(&f, &rep), pids, 0));
	fx_pub_remove(&f, 0);
	log_repair_forget(&rep, 0);
	pids[0] = 0;
	state_store(&b, PUB_IDLE);
	while ((err = log_claim(&f.v, &h, 60, 0, &c)) == 0) {
		assert_int_equal(log_commit(&f.v, &h, &c, 0, 0, 1000 + c.at.pos), 0);
		if (c.end > x + f.v.ring_bytes)
			fail_msg("a claim reached %llu, past the orphan at %llu + a ring",
				 (unsigned long long)c.end, (unsigned long long)x);
	}
	assert_int_equal(err, -SHMQ_EFULL);
	/* settled: given up, and publishers go on */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(atomic_load(&f.v.ctl->hold_bytes), 0);
	assert_int_equal(log_claim(&f.v, &h, 60, 0, &c), 0);
	assert_int_equal(log_commit(&f.v, &h, &c, 0, 0, 1000 + c.at.pos), 0);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_killed_single_publisher_is_settled_at_every_kill_point),
	    cmocka_unit_test(test_killed_batch_is_all_or_nothing_at_every_kill_point),
	    cmocka_unit_test(test_killed_batch_after_a_pad_is_all_or_nothing_at_every_kill_point),
	    cmocka_unit_test(test_killed_exclusive_publisher_is_settled_at_every_kill_point),
	    cmocka_unit_test(test_dead_exclusive_publisher_inside_its_tail_store_is_settled),
	    cmocka_unit_test(test_batch_with_first_record_uncommitted_is_invisible),
	    cmocka_unit_test(test_dead_intent_across_the_ring_end_leaves_others_claims_alone),
	    cmocka_unit_test(test_repair_of_an_unannounced_claim_tells_readers_they_were_lapped),
	    cmocka_unit_test(test_cut_racing_a_commit_gives_every_reader_the_same_answer),
	    cmocka_unit_test(test_a_cut_publisher_killed_inside_its_commit_is_given_up),
	    cmocka_unit_test(test_an_orphaned_claim_holds_publishers_until_it_is_settled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
