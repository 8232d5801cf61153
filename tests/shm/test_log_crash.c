/*
 * test_log_crash.c - publishers that die (SIGKILL) or stall (SIGSTOP)
 * between claim and commit, with the daemon played by the test process:
 * log_repair_step() with the owner pids and a liveness check, then freeing
 * the entry as registry_pub_remove() does. Children are fork()ed, share the
 * fixture's MAP_SHARED memory and stop at a named pause point; the public
 * API only (test_log_steps.c cuts inside the calls). Suites: unit, tsan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sys/mman.h>

#include "fixture.h"
#include "testutil.h"

#define DROP 0u
#define BLOCK 1u
#define HELPER_PID 4242u
#define NEVER_STUCK_NS (3600ull * 1000000000ull) /* only the pid check gives claims up */
#define STUCK_NS 1000000ull
#define VICTIM_LEN 700u

/* Shared with the children. */
struct crash_shm {
	_Atomic uint32_t claimed; /* pause point "claimed": claim below is valid */
	struct log_claim claim;
	_Atomic int32_t late; /* stalled victim: its commit's result + 1000, when done */
};

struct child {
	struct fx *f;
	struct crash_shm *sh;
	bool stall; /* SIGSTOP itself at the pause point instead of waiting to be killed */
	unsigned n; /* records claimed (a batch if > 1) */
};

static uint8_t pattern(uint64_t pos, uint32_t i)
{
	return (uint8_t)(pos * 131 + i * 7 + 1);
}

static uint32_t len_of(uint64_t pos)
{
	return (uint32_t)(pos * 97 % 1001);
}

static void fill(struct fx *f, uint64_t bytes, uint64_t pos, uint32_t len)
{
	uint8_t *d = log_payload(&f->v, bytes, 0);

	for (uint32_t i = 0; i < len; i++)
		d[i] = pattern(pos, i);
}

/* Victim: claim on entry 0, write half, pause ("claimed"); if it stalls, resume later,
 * write everything and try to commit. */
static int victim_main(void *arg)
{
	struct child *c = arg;
	struct log_view *v = &c->f->v;
	uint32_t lens[8];
	struct log_claim cl;
	struct log_pub p;
	int err;

	log_pub_init(v, &p, 0, c->f->peers->pubs[0], c->f->peers, false);
	for (unsigned i = 0; i < c->n; i++)
		lens[i] = VICTIM_LEN;
	err = c->n == 1 ? log_claim(v, &p, VICTIM_LEN, 0, &cl)
			: log_claimv(v, &p, lens, NULL, c->n, &cl);
	if (err)
		return 1;
	for (unsigned i = 0; i < c->n; i++)
		memset(log_payload(v, log_claim_rec_bytes(&cl, lens, NULL, i), 0), 0xee,
		       VICTIM_LEN / 2);
	c->sh->claim = cl;
	/* release: the claim before the flag; the parent acquires the flag. */
	atomic_store_explicit(&c->sh->claimed, 1, memory_order_release);
	if (!c->stall)
		for (;;)
			pause();
	raise(SIGSTOP);
	/* resumed: write the whole payload of every record, then commit */
	for (unsigned i = 0; i < c->n; i++)
		memset(log_payload(v, log_claim_rec_bytes(&cl, lens, NULL, i), 0), 0xee,
		       VICTIM_LEN);
	err = c->n == 1 ? log_commit(v, &p, &cl, VICTIM_LEN, 0, 0)
			: log_commitv(v, &p, &cl, lens, NULL, 0);
	atomic_store(&c->sh->late, 1000 + err);
	return 0;
}

static struct crash_shm *crash_shm_new(void)
{
	struct crash_shm *sh =
	    mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return sh;
}

static void wait_claimed(struct crash_shm *sh)
{
	uint64_t start = wait_now_ns();

	/* acquire; pairs with the release in victim_main(). */
	while (!atomic_load_explicit(&sh->claimed, memory_order_acquire)) {
		if (wait_now_ns() - start > HANG_NS)
			fail_msg("victim never reached its pause point");
		nap_us(100);
	}
}

/* One message of len_of(pos) from the helper: 0, or the claim's error. */
static int helper_publish(struct fx *f, struct log_pub *p, struct log_claim *out)
{
	uint64_t pos = log_tail(&f->v);
	struct log_claim c;
	int err = log_claim(&f->v, p, len_of(pos), 0, &c);

	if (err)
		return err;
	assert_int_equal(c.at.pos, pos); /* one publisher runs at a time here */
	fill(f, c.at.bytes, pos, len_of(pos));
	assert_true(log_commit(&f->v, p, &c, len_of(pos), 0, pos) >= 0);
	if (out)
		*out = c;
	return 0;
}

/* A record a reader accepted, to check again later. */
struct seen {
	uint64_t pos, bytes;
};

struct reader {
	struct log_cursor cur;
	uint64_t received, lost, abandoned;
	struct seen *seen;
	size_t nseen, cap;
};

static void check_bytes(struct fx *f, uint64_t bytes, uint64_t pos)
{
	const uint8_t *d = log_payload(&f->v, bytes, 0);

	for (uint32_t i = 0; i < len_of(pos); i++)
		if (d[i] != pattern(pos, i))
			fail_msg("message %llu byte %u changed", (unsigned long long)pos, i);
}

static void read_all(struct fx *f, struct reader *r)
{
	struct log_rec rec;
	int n;

	while ((n = log_read(&f->v, &r->cur, &rec)) == 1) {
		r->lost += rec.lost;
		r->abandoned += rec.abandoned;
		assert_int_equal(rec.len, len_of(rec.pos));
		assert_int_equal(rec.timestamp_ns, rec.pos);
		check_bytes(f, rec.bytes, rec.pos);
		assert_true(log_verify(&f->v, &rec));
		if (r->nseen == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 1024;
			r->seen = realloc(r->seen, r->cap * sizeof(*r->seen));
			assert_non_null(r->seen);
		}
		r->seen[r->nseen++] = (struct seen){rec.pos, rec.bytes};
		log_advance(&r->cur, &rec);
		r->received++;
	}
	assert_int_equal(n, 0);
	r->lost += rec.lost;
	r->abandoned += rec.abandoned;
	if (f->v.policy == BLOCK)
		fx_reader_set(f, 0, &r->cur);
}

/* Every accepted record the ring still holds is as the reader saw it. */
static void check_seen(struct fx *f, const struct reader *r)
{
	uint64_t lo = atomic_load(&f->v.data->tail_bytes) - f->v.ring_bytes;

	for (size_t i = 0; i < r->nseen; i++)
		if (r->seen[i].bytes >= lo)
			check_bytes(f, r->seen[i].bytes, r->seen[i].pos);
}

/*
 * The victim dies holding a claim (half written) while a reader waits at it
 * and the helper publishes behind it. Alive, it is left alone; once its pid
 * is dead, one repair step gives it up: the reader counts its records lost
 * and catches up; the helper goes on past a ring.
 */
static void killed_claimer(uint32_t policy, unsigned n)
{
	struct crash_shm *sh = crash_shm_new();
	uint32_t pids[MAX_PUBS] = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct reader r = {0};
	struct log_pub helper;
	struct child c;
	struct fx f;
	pid_t victim;

	assert_int_equal(fx_make(&f, 0, 1000, policy), 0);
	fx_pub_add(&f, 0, 1);
	fx_pub_init(&f, &helper, 1, HELPER_PID, false);
	fx_reader_add(&f, 0, &r.cur);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(helper_publish(&f, &helper, NULL), 0);
	c = (struct child){.f = &f, .sh = sh, .n = n};
	victim = spawn(victim_main, &c);
	assert_true(victim > 0);
	wait_claimed(sh);
	pids[0] = (uint32_t)victim;
	pids[1] = HELPER_PID;
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(helper_publish(&f, &helper, NULL), 0);
	read_all(&f, &r);
	assert_int_equal(r.received, 3);
	assert_int_equal(r.cur.pos, 3);

	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 0);
	read_all(&f, &r);
	assert_int_equal(r.received, 3);

	assert_true(WIFSIGNALED(kill_reap(victim)));
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 2, NEVER_STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), n);
	fx_pub_remove(&f, 0);
	log_repair_forget(&rep, 0);
	pids[0] = 0;
	read_all(&f, &r);
	assert_int_equal(r.received, 8);
	assert_int_equal(r.lost, n);
	assert_int_equal(r.abandoned, n);
	while (atomic_load(&f.v.data->tail_bytes) < 3 * f.v.ring_bytes) {
		assert_int_equal(helper_publish(&f, &helper, NULL), 0);
		read_all(&f, &r);
	}
	assert_int_equal(r.lost, n);
	assert_int_equal(r.received + r.lost, log_tail(&f.v));
	free(r.seen);
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

static void test_killed_claimer_is_given_up_and_readers_continue(void **state)
{
	(void)state;
	killed_claimer(BLOCK, 1);
	killed_claimer(DROP, 1);
	killed_claimer(BLOCK, 4);
	killed_claimer(DROP, 3);
}

/*
 * The victim claims, then SIGSTOPs itself. After stuck_ns, repair gives its
 * claim up: readers go on. The helper publishes until it is a ring past the
 * stalled claim, where log_claim() says -SHMQ_EFULL, and repair reports the
 * victim (stall_pid) from a quarter ring before that. SIGCONT: the victim
 * writes its whole payload and commits, which fails with -SHMQ_EABANDONED;
 * no record a reader accepted has changed, and the helper goes on.
 */
static void stalled_claimer(uint32_t policy, unsigned n)
{
	struct crash_shm *sh = crash_shm_new();
	uint32_t pids[MAX_PUBS] = {0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct reader r = {0};
	struct log_pub helper;
	struct log_claim vc;
	bool reported = false;
	struct child c;
	struct fx f;
	pid_t victim;
	int status, err;

	assert_int_equal(fx_make(&f, 0, 1000, policy), 0);
	fx_pub_add(&f, 0, 1);
	fx_pub_init(&f, &helper, 1, HELPER_PID, true);
	fx_reader_add(&f, 0, &r.cur);
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(helper_publish(&f, &helper, NULL), 0);
	c = (struct child){.f = &f, .sh = sh, .stall = true, .n = n};
	victim = spawn(victim_main, &c);
	assert_true(victim > 0);
	assert_int_equal(waitpid(victim, &status, WUNTRACED), victim);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(atomic_load(&sh->claimed), 1);
	vc = sh->claim;
	pids[0] = (uint32_t)victim;
	pids[1] = HELPER_PID;

	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000, STUCK_NS, pid_alive, NULL,
			&out);
	assert_int_equal(out.abandoned, 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000 + STUCK_NS, STUCK_NS, pid_alive,
			NULL, &out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), n);

	for (;;) {
		uint64_t t = atomic_load(&f.v.data->tail_bytes);

		log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 2000 + STUCK_NS, STUCK_NS,
				pid_alive, NULL, &out);
		assert_int_equal(out.abandoned, 0);
		if (t + f.v.ring_bytes / 4 >= vc.start + f.v.ring_bytes) {
			assert_int_equal(out.nstall, 1);
			assert_int_equal(out.stall_pid[0], (uint32_t)victim);
			reported = true;
		} else {
			assert_int_equal(out.nstall, 0);
		}
		err = helper_publish(&f, &helper, NULL);
		read_all(&f, &r);
		if (err) {
			uint64_t need = rec_bytes_for(len_of(log_tail(&f.v)), 0);
			uint64_t end = (t & f.v.mask) + need > f.v.ring_bytes
					   ? (t | f.v.mask) + 1 + need
					   : t + need;

			assert_int_equal(err, -SHMQ_EFULL);
			assert_true(end > vc.start + f.v.ring_bytes);
			assert_int_equal(atomic_load(&f.v.data->tail_bytes), t);
			break;
		}
		assert_true(atomic_load(&f.v.data->tail_bytes) <= vc.start + f.v.ring_bytes);
	}
	assert_true(reported);
	assert_int_equal(r.lost, n);
	assert_int_equal(r.abandoned, n);

	assert_int_equal(kill(victim, SIGCONT), 0);
	assert_int_equal(status_of(victim), 0);
	assert_int_equal(atomic_load(&sh->late), 1000 - SHMQ_EABANDONED);
	check_seen(&f, &r);
	read_all(&f, &r);
	assert_int_equal(r.lost, n);

	/* the victim's entry is idle again: the helper passes the old bound */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 3000 + STUCK_NS, STUCK_NS, pid_alive,
			NULL, &out);
	assert_int_equal(out.nstall, 0);
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(helper_publish(&f, &helper, NULL), 0);
		read_all(&f, &r);
	}
	assert_true(atomic_load(&f.v.data->tail_bytes) > vc.start + f.v.ring_bytes);
	assert_int_equal(r.lost, n);
	assert_int_equal(r.received + r.lost, log_tail(&f.v));
	free(r.seen);
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

static void test_stalled_claimer_is_given_up_then_holds_others_a_ring_later(void **state)
{
	(void)state;
	stalled_claimer(DROP, 1);
	stalled_claimer(BLOCK, 1);
}

static void test_stalled_batch_is_given_up_whole_and_its_late_commit_fails(void **state)
{
	(void)state;
	stalled_claimer(DROP, 4);
	stalled_claimer(BLOCK, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_killed_claimer_is_given_up_and_readers_continue),
	    cmocka_unit_test(test_stalled_claimer_is_given_up_then_holds_others_a_ring_later),
	    cmocka_unit_test(test_stalled_batch_is_given_up_whole_and_its_late_commit_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
