/*
 * stress_group.c - consumer-group dispatch (shm/group.c) under contention:
 * one publisher thread streams messages into a block channel while group
 * members, as threads or as fork()ed processes, take, ack (and some nack)
 * them for SHMQ_STRESS_SECONDS (default 2) or 2^20 messages. Prints its
 * seed; SHMQ_SEED replays one. Invariants, exactly: every published message is acked once (the ack
 * CAS succeeds once), a message is held by one member at a time (a delivery count that never goes
 * back), the floor ends at the tail, and the group counters agree. (Members SIGKILLed at random
 * moments, with the daemon marking them gone: tests/system/test_groups.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fixture.h"
#include "group.h"
#include "testutil.h"

#define MEMBERS 4u
#define MAX_MSGS (1u << 20)

struct run {
	struct fx f;
	void *seg;
	uint64_t seg_bytes;
	uint64_t seed;
	uint64_t seconds;
	_Atomic uint64_t published; /* messages committed */
	_Atomic uint32_t stop;	    /* publisher done: members drain, then leave */
	_Atomic uint32_t failed;
	_Atomic uint32_t acked[MAX_MSGS];
	_Atomic uint32_t held_by[MAX_MSGS]; /* 1 + member holding it now, 0 none */
	char why[256];
};

struct member_arg {
	struct run *r;
	uint32_t member;
	uint64_t rng;
};

static void fail_run(struct run *r, const char *what, uint64_t pos, long v)
{
	if (!atomic_exchange(&r->failed, 1))
		snprintf(r->why, sizeof(r->why), "%s at %llu (%ld)", what, (unsigned long long)pos,
			 v);
}

static void member_view(struct run *r, uint32_t member, struct group_view *gv)
{
	struct group_hdr *g = r->seg;

	assert_int_equal(group_attach(gv, r->seg, r->seg_bytes, fx_reader(&r->f, 0), 42, member,
				      atomic_load(&g->members[member].gen)),
			 0);
}

/* Handle one taken message: sometimes nack it, else ack it exactly once. */
static void member_handle(struct member_arg *a, const struct group_view *gv,
			  const struct group_take *t)
{
	struct run *r = a->r;
	uint64_t pos = t->rec.pos;
	uint32_t prev;

	if (pos >= MAX_MSGS)
		return fail_run(r, "position past the run", pos, 0);
	prev = atomic_exchange(&r->held_by[pos], a->member + 1);
	if (prev && prev != a->member + 1 && t->deliveries < 2)
		return fail_run(r, "first delivery of a held message", pos, (long)prev);
	if (atomic_load(&r->acked[pos]))
		return fail_run(r, "delivery of an acked message", pos, t->deliveries);
	if (rng_below(&a->rng, 64) == 0) {
		atomic_store(&r->held_by[pos], 0);
		if (group_settle(gv, pos, GSET_NACK, wait_now_ns(), 0))
			fail_run(r, "nack of a held message", pos, 0);
		return;
	}
	atomic_store(&r->held_by[pos], 0);
	if (group_settle(gv, pos, GSET_ACK, wait_now_ns(), 0))
		return fail_run(r, "ack of a held message", pos, 0);
	if (atomic_fetch_add(&r->acked[pos], 1))
		fail_run(r, "second ack", pos, 0);
	group_floor_advance(&r->f.v, gv, 64);
}

static int member_main(void *arg)
{
	struct member_arg *a = arg;
	struct run *r = a->r;
	struct group_view gv;
	struct group_take t;
	unsigned n = 0;

	member_view(r, a->member, &gv);
	for (;;) {
		int res = group_take(&r->f.v, &gv, ++n % GROUP_SCAN_EVERY == 0, wait_now_ns(), &t);
		struct log_cursor floor;

		if (res == 1) {
			member_handle(a, &gv, &t);
			continue;
		}
		if (res == -SHMQ_EFULL) {
			group_floor_advance(&r->f.v, &gv, 64);
			res = group_scan(&r->f.v, &gv, wait_now_ns(), &t);
			if (res == 1)
				member_handle(a, &gv, &t);
			continue;
		}
		if (res < 0) {
			fail_run(r, "take", 0, res);
			return 1;
		}
		if (group_scan(&r->f.v, &gv, wait_now_ns(), &t) == 1) {
			member_handle(a, &gv, &t);
			continue;
		}
		group_floor_advance(&r->f.v, &gv, gv.max_pending);
		group_floor_load(&gv, &floor);
		if ((atomic_load(&r->stop) && floor.pos >= atomic_load(&r->published)) ||
		    atomic_load(&r->failed))
			return 0;
		sched_yield();
	}
}

static void *member_thread(void *arg)
{
	member_main(arg);
	return NULL;
}

static void publish_all(struct run *r, uint64_t deadline_ns)
{
	struct log_pub p = {0};
	struct log_claim c;
	uint64_t v = 0;

	fx_pub_add(&r->f, 0, (uint32_t)getpid());
	log_pub_init(&r->f.v, &p, 0, r->f.peers->pubs[0], r->f.peers, false);
	while (v < MAX_MSGS && wait_now_ns() < deadline_ns && !atomic_load(&r->failed)) {
		int err = log_claim(&r->f.v, &p, 8, 0, &c);

		if (err == -SHMQ_EFULL) {
			sched_yield();
			continue;
		}
		assert_int_equal(err, 0);
		memcpy(log_payload(&r->f.v, c.at.bytes, 0), &v, 8);
		assert_true(log_commit(&r->f.v, &p, &c, 8, 0, 0) >= 0);
		atomic_store(&r->published, ++v);
	}
	atomic_store(&r->stop, 1);
}

static struct run *run_make(uint32_t max_pending)
{
	struct group_settings s = {.ack_wait_ns = 60000000000ull, /* never, here */
				   .max_pending = max_pending,
				   .max_deliver = UINT32_MAX};
	struct log_cursor start = {0, 0};
	struct run *r =
	    mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct group_hdr *g;
	const char *e;

	assert_true(r != MAP_FAILED);
	e = getenv("SHMQ_SEED");
	r->seed = e ? strtoull(e, NULL, 0) : (uint64_t)wait_now_ns();
	e = getenv("SHMQ_STRESS_SECONDS");
	r->seconds = e && atoi(e) > 0 ? (uint64_t)atoi(e) : 2;
	printf("seed %llu\n", (unsigned long long)r->seed);
	fflush(stdout); /* before the children are forked */
	assert_int_equal(fx_make(&r->f, 16384, 64, SHMQ_POLICY_BLOCK), 0);
	fx_reader_add(&r->f, 0, &start);
	r->seg_bytes = group_seg_bytes(max_pending);
	r->seg = fx_map(r->seg_bytes);
	assert_non_null(r->seg);
	assert_int_equal(group_format(r->seg, r->seg_bytes, &s, "g", 42, wait_now_ns(), &start), 0);
	g = r->seg;
	for (unsigned m = 0; m < MEMBERS; m++) {
		atomic_store(&g->members[m].gen, 1);
		atomic_store(&g->members[m].state, GM_LIVE);
	}
	return r;
}

static void run_check(struct run *r)
{
	struct group_hdr *g = r->seg;
	uint64_t n = atomic_load(&r->published);
	struct group_view gv;
	struct log_cursor floor;

	if (atomic_load(&r->failed))
		fail_msg("%s (seed %llu)", r->why, (unsigned long long)r->seed);
	for (uint64_t v = 0; v < n; v++)
		if (atomic_load(&r->acked[v]) != 1)
			fail_msg("message %llu acked %u times (seed %llu)", (unsigned long long)v,
				 atomic_load(&r->acked[v]), (unsigned long long)r->seed);
	member_view(r, 0, &gv);
	group_floor_load(&gv, &floor);
	assert_int_equal(floor.pos, n);
	assert_int_equal(atomic_load(&g->acked), n);
	assert_int_equal(atomic_load(&g->dead), 0);
	assert_int_equal(atomic_load(&g->lost), 0);
	printf("%llu messages, %llu deliveries, %llu again\n", (unsigned long long)n,
	       (unsigned long long)atomic_load(&g->delivered),
	       (unsigned long long)atomic_load(&g->redelivered));
}

static void run_free(struct run *r)
{
	fx_unmap(r->seg, r->seg_bytes);
	fx_free(&r->f);
	munmap(r, sizeof(*r));
}

static void test_group_dispatch_threads(void **state)
{
	struct run *r = run_make(256);
	struct member_arg a[MEMBERS];
	pthread_t th[MEMBERS];

	(void)state;
	for (unsigned m = 0; m < MEMBERS; m++) {
		a[m] = (struct member_arg){r, m, r->seed ^ m};
		assert_int_equal(pthread_create(&th[m], NULL, member_thread, &a[m]), 0);
	}
	publish_all(r, wait_now_ns() + r->seconds * 1000000000ull);
	for (unsigned m = 0; m < MEMBERS; m++)
		pthread_join(th[m], NULL);
	run_check(r);
	run_free(r);
}

/* Two members as processes, two as threads of this one. */
static void test_group_dispatch_procs(void **state)
{
	struct run *r = run_make(64);
	struct member_arg a[MEMBERS];
	pthread_t th[2];
	pid_t pids[2];

	(void)state;
	for (unsigned m = 0; m < MEMBERS; m++)
		a[m] = (struct member_arg){r, m, r->seed ^ m};
	for (unsigned m = 0; m < 2; m++)
		pids[m] = spawn(member_main, &a[m]);
	for (unsigned m = 0; m < 2; m++)
		assert_int_equal(pthread_create(&th[m], NULL, member_thread, &a[2 + m]), 0);
	publish_all(r, wait_now_ns() + r->seconds * 1000000000ull);
	for (unsigned m = 0; m < 2; m++) {
		pthread_join(th[m], NULL);
		assert_int_equal(status_of(pids[m]), 0);
	}
	run_check(r);
	run_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_dispatch_threads),
	    cmocka_unit_test(test_group_dispatch_procs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
