/*
 * test_log_crash.c - publishers SIGKILLed between claim and commit, with the
 * daemon's repair played by the test process: log_repair_step() with a pid
 * check, as registry_tick() runs it. Children are fork()ed and share the
 * fixture's MAP_SHARED memory; each stops at a named pause point. Suite: unit.
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
#define NEVER_STUCK_NS (3600ull * 1000000000ull) /* only the pid check abandons */
#define STUCK_NS 500000000ull

/* Shared with the children. */
struct crash_shm {
	_Atomic uint32_t claimed;    /* pause point "claimed": the victim holds claim_pos */
	_Atomic uint64_t claim_pos;
	_Atomic uint64_t committed;  /* messages a helper publisher committed */
	_Atomic int32_t error;       /* first error a child met */
	_Atomic uint32_t go;         /* stalled victim: commit now */
	_Atomic int32_t late_commit; /* what that commit returned, + 1000 when done */
};

struct child {
	struct fx *f;
	struct crash_shm *sh;
	uint64_t count; /* helper: messages to publish */
	bool stall;     /* victim: wait for go and commit late instead of dying */
};

static uint8_t pattern(uint64_t pos, uint32_t i)
{
	return (uint8_t)(pos * 131 + i * 7 + 1);
}

static uint32_t len_at(uint64_t pos)
{
	return (uint32_t)(pos % 17);
}

/* Victim: claim, write half the payload, announce, wait to be killed. */
static int victim_main(void *arg)
{
	struct child *c = arg;
	uint64_t limit = 0, pos;
	int err;

	do
		err = log_claim(&c->f->v, &limit, 16, (uint32_t)getpid(), &pos);
	while (err == -SHMQ_EFULL);
	if (err)
		return 1;
	memset(log_payload(&c->f->v, pos), 0xee, 8);
	atomic_store_explicit(&c->sh->claim_pos, pos, memory_order_relaxed);
	/* release: claim_pos before the flag; the parent acquires the flag. */
	atomic_store_explicit(&c->sh->claimed, 1, memory_order_release);
	while (!c->stall)
		pause();
	while (!atomic_load(&c->sh->go))
		nap_us(500);
	atomic_store(&c->sh->late_commit, 1000 + log_commit(&c->f->v, pos, 16, 0));
	return 0;
}

static int publish_pattern(struct fx *f, uint64_t *limit, uint32_t pid, uint64_t *pos_out)
{
	uint64_t pos;
	uint8_t *p;
	int err;

	/* the length follows the pos, so the claim asks for the maximum; a
	 * claim the repair took is published again */
	do {
		err = log_claim(&f->v, limit, 16, pid, &pos);
		if (err == -SHMQ_EABANDONED || err == -SHMQ_EFULL)
			continue;
		if (err)
			return err;
		p = log_payload(&f->v, pos);
		for (uint32_t i = 0; i < len_at(pos); i++)
			p[i] = pattern(pos, i);
		err = log_commit(&f->v, pos, len_at(pos), pos);
	} while (err == -SHMQ_EABANDONED || err == -SHMQ_EFULL);
	if (pos_out)
		*pos_out = pos;
	return err < 0 ? err : 0;
}

/* Helper publisher: count messages, counting commits in shared memory. */
static int helper_main(void *arg)
{
	struct child *c = arg;
	uint64_t limit = 0;

	for (uint64_t i = 0; i < c->count; i++) {
		int err = publish_pattern(c->f, &limit, (uint32_t)getpid(), NULL);

		if (err) {
			atomic_store(&c->sh->error, err);
			return 1;
		}
		atomic_fetch_add(&c->sh->committed, 1);
	}
	return 0;
}

static struct crash_shm *crash_shm_new(void)
{
	struct crash_shm *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return sh;
}

static uint64_t wait_victim_claimed(struct crash_shm *sh)
{
	uint64_t start = wait_now_ns();

	/* acquire; pairs with the release in victim_main(). */
	while (!atomic_load_explicit(&sh->claimed, memory_order_acquire)) {
		if (wait_now_ns() - start > HANG_NS)
			fail_msg("victim never reached its pause point");
		nap_us(200);
	}
	return atomic_load_explicit(&sh->claim_pos, memory_order_relaxed);
}

static void wait_tail(struct fx *f, uint64_t tail)
{
	uint64_t start = wait_now_ns();

	while (log_tail(&f->v) < tail) {
		if (wait_now_ns() - start > HANG_NS)
			fail_msg("tail stuck at %llu, want %llu",
				 (unsigned long long)log_tail(&f->v), (unsigned long long)tail);
		nap_us(200);
	}
}

static int status_of(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Run repair steps as the daemon's tick would, until the helpers committed
 * want messages. The repair clock stands still at now_ns: a claim it first
 * sees now is never older than stuck_ns.
 */
static int repair_until(struct fx *f, struct log_repair *rep, uint64_t now_ns,
			uint64_t stuck_ns, struct crash_shm *sh, uint64_t want)
{
	uint64_t start = wait_now_ns();
	int total = 0;

	while (atomic_load(&sh->committed) < want) {
		int n = log_repair_step(&f->v, rep, now_ns, stuck_ns, 64, pid_alive, NULL);

		assert_true(n >= 0);
		total += n;
		if (atomic_load(&sh->error))
			fail_msg("a publisher failed: %d", atomic_load(&sh->error));
		if (wait_now_ns() - start > HANG_NS)
			fail_msg("publishers stuck: committed %llu of %llu, tail %llu",
				 (unsigned long long)atomic_load(&sh->committed),
				 (unsigned long long)want, (unsigned long long)log_tail(&f->v));
		nap_us(500);
	}
	return total;
}

/* Read from *pos to tail: every record checked; returns received. */
static uint64_t read_all(struct fx *f, uint64_t *pos, uint64_t *lost, uint64_t *abandoned)
{
	struct log_rec rec;
	uint64_t received = 0;
	int r;

	while ((r = log_read(&f->v, pos, &rec)) == 1) {
		*lost += rec.lost;
		*abandoned += rec.abandoned;
		assert_int_equal(rec.len, len_at(rec.pos));
		for (uint32_t i = 0; i < rec.len; i++)
			assert_int_equal(rec.data[i], pattern(rec.pos, i));
		assert_true(log_verify(&f->v, &rec));
		received++;
		(*pos)++;
	}
	assert_int_equal(r, 0);
	*lost += rec.lost;
	*abandoned += rec.abandoned;
	return received;
}

/*
 * Block policy: the victim dies holding pos 2 while a reader waits there and
 * publishers fill the ring behind it. The pid check abandons the claim; the
 * reader counts one abandoned message and catches up, publishers go on.
 */
static void test_killed_claimer_is_abandoned_and_readers_continue(void **state)
{
	struct crash_shm *sh = crash_shm_new();
	struct child c;
	struct log_repair rep = {0};
	struct fx f;
	uint64_t limit = 0, rpos = 0, lost = 0, abandoned = 0, pos, got;
	pid_t victim;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 16, BLOCK), 0);
	assert_int_equal(f.v.nslots, 4);
	fx_reader_add(&f, 0, 0);
	c = (struct child){.f = &f, .sh = sh};
	assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	victim = spawn(victim_main, &c);
	assert_true(victim > 0);
	assert_int_equal(wait_victim_claimed(sh), 2);
	assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	assert_int_equal(read_all(&f, &rpos, &lost, &abandoned), 2);
	assert_int_equal(rpos, 2);
	fx_reader_set(&f, 0, rpos);
	assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	assert_int_equal(log_claim(&f.v, &limit, 1, 1, &pos), -SHMQ_EFULL);

	/* alive: left alone */
	assert_int_equal(
		log_repair_step(&f.v, &rep, wait_now_ns(), NEVER_STUCK_NS, 64, pid_alive, NULL), 0);
	assert_int_equal(read_all(&f, &rpos, &lost, &abandoned), 0);
	assert_int_equal(rpos, 2);

	assert_true(WIFSIGNALED(kill_reap(victim)));
	assert_int_equal(
		log_repair_step(&f.v, &rep, wait_now_ns(), NEVER_STUCK_NS, 64, pid_alive, NULL), 1);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	got = read_all(&f, &rpos, &lost, &abandoned);
	assert_int_equal(got, 3);
	assert_int_equal(lost, 1);
	assert_int_equal(abandoned, 1);
	assert_int_equal(rpos, 6);
	fx_reader_set(&f, 0, rpos);
	for (int i = 0; i < 4; i++)
		assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);
	assert_int_equal(read_all(&f, &rpos, &lost, &abandoned), 4);
	assert_int_equal(lost, 1);
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

/*
 * Drop policy, the ring wraps onto the victim's slot: helper B takes pos 4
 * and waits for slot 0; helper C then publishes 5, 6, 7 and waits for slot 0
 * with pos 8, two laps on. Repair must free the slot for B, then C, in
 * order: both finish, none sees an error. The victim is SIGKILLed (the pid
 * check frees it at once) or stalls alive (freed after stuck_ns, and its
 * late commit fails).
 */
static void wrapped_onto_victim(bool stall)
{
	struct crash_shm *sh = crash_shm_new();
	struct child c, b, cc;
	struct log_repair rep = {0};
	struct fx f;
	uint64_t limit = 0, rpos = 0, lost = 0, abandoned = 0, got;
	pid_t victim, pb, pc;
	int repaired;

	assert_int_equal(fx_make(&f, 0, 16, DROP), 0);
	assert_int_equal(f.v.nslots, 4);
	c = (struct child){.f = &f, .sh = sh, .stall = stall};
	victim = spawn(victim_main, &c);
	assert_int_equal(wait_victim_claimed(sh), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(publish_pattern(&f, &limit, 1, NULL), 0);

	b = (struct child){.f = &f, .sh = sh, .count = 1};
	pb = spawn(helper_main, &b);
	wait_tail(&f, 5);
	cc = (struct child){.f = &f, .sh = sh, .count = 4};
	pc = spawn(helper_main, &cc);
	wait_tail(&f, 9);
	/* C committed 5..7; neither can have committed into slot 0 */
	assert_int_equal(atomic_load(&sh->committed), 3);
	assert_int_equal(atomic_load_explicit(&log_slot(&f.v, 0)->state, memory_order_relaxed),
			 slot_word(0, SLOT_CLAIMED));

	if (stall) {
		/* the victim's claim is seen stuck at t=1, and found too old at
		 * t=1+STUCK_NS, when every later claim is seen first */
		assert_int_equal(log_repair_step(&f.v, &rep, 1, STUCK_NS, 64, pid_alive, NULL), 0);
		repaired = repair_until(&f, &rep, 1 + STUCK_NS, STUCK_NS, sh, 5);
		atomic_store(&sh->go, 1);
		assert_int_equal(status_of(victim), 0);
		assert_int_equal(atomic_load(&sh->late_commit), 1000 - SHMQ_EABANDONED);
	} else {
		assert_true(WIFSIGNALED(kill_reap(victim)));
		repaired = repair_until(&f, &rep, wait_now_ns(), NEVER_STUCK_NS, sh, 5);
	}
	assert_int_equal(repaired, 1);
	assert_int_equal(log_tail(&f.v), 9);
	assert_int_equal(status_of(pb), 0);
	assert_int_equal(status_of(pc), 0);
	assert_int_equal(atomic_load(&sh->error), 0);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), (uint64_t)repaired);

	/* a reader from pos 0 lost 0..4 to the wrap (the victim's pos
	 * included); records whole, also after the victim's late commit */
	got = read_all(&f, &rpos, &lost, &abandoned);
	assert_int_equal(rpos, 9);
	assert_int_equal(got, 4);
	assert_int_equal(lost, 5);
	fx_free(&f);
	munmap(sh, sizeof(*sh));
}

static void test_killed_claimer_releases_publishers_wrapped_onto_its_slot(void **state)
{
	(void)state;
	wrapped_onto_victim(false);
}

static void test_stalled_claimer_releases_publishers_after_stuck_timeout(void **state)
{
	(void)state;
	wrapped_onto_victim(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_claimer_is_abandoned_and_readers_continue),
		cmocka_unit_test(test_killed_claimer_releases_publishers_wrapped_onto_its_slot),
		cmocka_unit_test(test_stalled_claimer_releases_publishers_after_stuck_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
