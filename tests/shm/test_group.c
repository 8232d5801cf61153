/*
 * test_group.c - one-process tests of consumer-group dispatch (shm/group.c)
 * on the fixture of fixture.h: dispatch in order and the floor after acks,
 * a member stopped between its claim and the dispatch advance (the next
 * member helps it on, and takes the message again once the member is
 * gone), settling only what one holds, nack delays, dead messages, the
 * max_pending bound, and random bytes in a group segment (errors, never a
 * fault: the fixture's guard pages catch a stray access). Suites: unit, tsan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "group.h"
#include "testutil.h"

#define MS 1000000ull

struct gfx {
	struct fx f;
	struct log_pub p;
	void *seg;
	uint64_t seg_bytes;
	struct group_view m[2]; /* two members */
	uint64_t now;		/* the clock the tests pass in */
};

static void gfx_make(struct gfx *g, uint32_t max_pending, uint32_t max_deliver)
{
	struct group_settings s = {
	    .ack_wait_ns = 1000 * MS, .max_pending = max_pending, .max_deliver = max_deliver};
	struct log_cursor start = {0, 0};
	struct group_hdr *h;

	memset(g, 0, sizeof(*g));
	assert_int_equal(fx_make(&g->f, 65536, 64, SHMQ_POLICY_BLOCK), 0);
	fx_reader_add(&g->f, 0, &start);
	fx_pub_add(&g->f, 0, 1);
	log_pub_init(&g->f.v, &g->p, 0, g->f.peers->pubs[0], g->f.peers, false);
	g->seg_bytes = group_seg_bytes(max_pending);
	g->seg = fx_map(g->seg_bytes);
	assert_non_null(g->seg);
	g->now = 1000 * MS;
	assert_int_equal(group_format(g->seg, g->seg_bytes, &s, "g", 42, 0, &start), 0);
	h = g->seg;
	for (unsigned i = 0; i < 2; i++) {
		atomic_store(&h->members[i].gen, 1);
		atomic_store(&h->members[i].state, GM_LIVE);
		assert_int_equal(
		    group_attach(&g->m[i], g->seg, g->seg_bytes, fx_reader(&g->f, 0), 42, i, 1), 0);
	}
}

static void gfx_free(struct gfx *g)
{
	fx_unmap(g->seg, g->seg_bytes);
	fx_free(&g->f);
}

static void publish(struct gfx *g, uint64_t n)
{
	struct log_claim c;

	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(log_claim(&g->f.v, &g->p, 8, 0, &c), 0);
		memcpy(log_payload(&g->f.v, c.at.bytes, 0), &c.at.pos, 8);
		assert_true(log_commit(&g->f.v, &g->p, &c, 8, 0, 0) >= 0);
	}
}

/* Member i takes one: its offset, or -1 if nothing; deliveries into *d. */
static int64_t take(struct gfx *g, unsigned i, bool scan, uint32_t *d)
{
	struct group_take t;
	int r = group_take(&g->f.v, &g->m[i], scan, g->now, &t);

	assert_true(r >= 0 || r == -SHMQ_EFULL);
	if (r != 1)
		return -1;
	if (d)
		*d = t.deliveries;
	return (int64_t)t.rec.pos;
}

static uint64_t floor_pos(struct gfx *g)
{
	struct log_cursor c;

	group_floor_load(&g->m[0], &c);
	return c.pos;
}

static void test_group_dispatches_in_order_and_the_floor_follows_acks(void **state)
{
	struct gfx g;

	(void)state;
	gfx_make(&g, 16, 5);
	publish(&g, 4);
	for (int64_t v = 0; v < 4; v++)
		assert_int_equal(take(&g, (unsigned)v & 1, false, NULL), v);
	assert_int_equal(take(&g, 0, true, NULL), -1);
	assert_int_equal(group_settle(&g.m[1], 1, GSET_ACK, g.now, 0), 0);
	group_floor_advance(&g.f.v, &g.m[1], 64);
	assert_int_equal(floor_pos(&g), 0); /* 0 is still held */
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), 0);
	group_floor_advance(&g.f.v, &g.m[0], 64);
	assert_int_equal(floor_pos(&g), 2);
	/* the floor is the group's reader cursor: publishers see it */
	assert_int_equal(atomic_load(&fx_reader(&g.f, 0)->pos), 2);
	gfx_free(&g);
}

/*
 * Member 1 stops after its claim CAS, before it moves dispatch: member 0
 * finds the message claimed, moves dispatch past it and takes the next;
 * once the daemon marks member 1 gone, member 0's scan takes it again.
 */
static void test_group_claim_without_advance_is_helped_then_redelivered(void **state)
{
	struct group_hdr *h;
	struct gfx g;
	uint32_t d = 0;

	(void)state;
	gfx_make(&g, 16, 5);
	h = g.seg;
	publish(&g, 2);
	/* member 1's claim of message 0, and nothing after it */
	atomic_store(&g.m[1].pend[0].pos, 0);
	atomic_store(&g.m[1].pend[0].word, group_word(GS_HELD, 1, 1, 1, 5000));
	assert_int_equal(take(&g, 0, false, &d), 1);
	assert_int_equal(d, 1);
	assert_int_equal(atomic_load(&h->dispatch_pos), 2);
	assert_int_equal(take(&g, 0, true, NULL), -1); /* member 1 lives: its claim stands */
	atomic_store(&h->members[1].state, GM_FREE);   /* the daemon: member 1 is gone */
	assert_int_equal(take(&g, 0, true, &d), 0);
	assert_int_equal(d, 2);
	assert_int_equal(group_settle(&g.m[1], 0, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), 0);
	gfx_free(&g);
}

static void test_group_settles_only_what_a_member_holds(void **state)
{
	struct gfx g;

	(void)state;
	gfx_make(&g, 16, 5);
	publish(&g, 1);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	assert_int_equal(take(&g, 0, false, NULL), 0);
	assert_int_equal(group_settle(&g.m[1], 0, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	assert_int_equal(group_settle(&g.m[0], 7, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_TOUCH, g.now, 0), 0);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), 0);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	gfx_free(&g);
}

/* A nack's delay, ack_wait running out, then max_deliver: dead, counted, floor past it. */
static void test_group_nack_delay_expiry_and_max_deliver(void **state)
{
	struct group_hdr *h;
	struct gfx g;
	uint32_t d = 0;

	(void)state;
	gfx_make(&g, 16, 3);
	h = g.seg;
	publish(&g, 1);
	assert_int_equal(take(&g, 0, false, &d), 0);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_NACK, g.now, 50 * MS), 0);
	assert_int_equal(take(&g, 1, true, NULL), -1); /* not before the delay */
	g.now += 50 * MS;
	assert_int_equal(take(&g, 1, true, &d), 0);
	assert_int_equal(d, 2);
	g.now += 999 * MS;
	assert_int_equal(take(&g, 0, true, NULL), -1); /* ack_wait not over */
	g.now += 2 * MS;
	assert_int_equal(take(&g, 0, true, &d), 0); /* member 1 held it too long */
	assert_int_equal(d, 3);
	assert_int_equal(group_settle(&g.m[1], 0, GSET_ACK, g.now, 0), -SHMQ_ENOTHELD);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_NACK, g.now, 0), 0);
	assert_int_equal(take(&g, 1, true, NULL), -1); /* the third delivery was the last */
	assert_int_equal(atomic_load(&h->dead), 1);
	group_floor_advance(&g.f.v, &g.m[0], 64);
	assert_int_equal(floor_pos(&g), 1);
	gfx_free(&g);
}

static void test_group_max_pending_stops_dispatch_until_the_oldest_is_acked(void **state)
{
	struct gfx g;

	(void)state;
	gfx_make(&g, 4, 5);
	publish(&g, 6);
	for (int64_t v = 0; v < 4; v++)
		assert_int_equal(take(&g, 0, false, NULL), v);
	assert_int_equal(group_take(&g.f.v, &g.m[0], false, g.now, &(struct group_take){0}),
			 -SHMQ_EFULL);
	assert_int_equal(group_settle(&g.m[0], 3, GSET_ACK, g.now, 0), 0);
	group_floor_advance(&g.f.v, &g.m[0], 64);
	assert_int_equal(group_take(&g.f.v, &g.m[0], false, g.now, &(struct group_take){0}),
			 -SHMQ_EFULL);
	assert_int_equal(group_settle(&g.m[0], 0, GSET_ACK, g.now, 0), 0);
	group_floor_advance(&g.f.v, &g.m[0], 64);
	assert_int_equal(take(&g, 0, false, NULL), 4);
	gfx_free(&g);
}

/* Random bytes in the segment and the floor: every call returns, none faults. */
static void test_group_random_bytes_in_the_segment_never_fault(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dull;
	struct group_take t;
	struct gfx g;

	(void)state;
	gfx_make(&g, 64, 5);
	publish(&g, 100);
	for (unsigned round = 0; round < 2000; round++) {
		uint64_t *w = (uint64_t *)g.seg;
		unsigned n = (unsigned)(g.seg_bytes / 8);

		for (unsigned k = 0; k < 8; k++)
			w[rng_below(&x, n)] = rng_next(&x) >> rng_below(&x, 64);
		if (round % 7 == 0)
			atomic_store(&fx_reader(&g.f, 0)->bytes, rng_next(&x) >> rng_below(&x, 64));
		if (round % 11 == 0)
			atomic_store(&g.m[0].g->dispatch_bytes, rng_next(&x) & 0xffe0);
		group_take(&g.f.v, &g.m[round & 1], round & 2, g.now, &t);
		group_scan(&g.f.v, &g.m[round & 1], g.now, &t);
		group_settle(&g.m[0], rng_below(&x, 128), rng_below(&x, 5), g.now, 0);
		group_floor_advance(&g.f.v, &g.m[1], 64);
		group_give_back(&g.f.v, &g.m[0], g.now);
	}
	gfx_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_dispatches_in_order_and_the_floor_follows_acks),
	    cmocka_unit_test(test_group_claim_without_advance_is_helped_then_redelivered),
	    cmocka_unit_test(test_group_settles_only_what_a_member_holds),
	    cmocka_unit_test(test_group_nack_delay_expiry_and_max_deliver),
	    cmocka_unit_test(test_group_max_pending_stops_dispatch_until_the_oldest_is_acked),
	    cmocka_unit_test(test_group_random_bytes_in_the_segment_never_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
