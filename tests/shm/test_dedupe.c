/*
 * test_dedupe.c - tests of the duplicate table (shm/dedupe.c): a committed
 * id is refused with its original's offset for the window and taken again
 * after it; a live claim's reservation makes others wait, a dead one's is
 * taken over, a released one is free; a full probe run is -SHMQ_ELIMIT;
 * attach refuses headers an honest daemon does not write; a table full of
 * garbage costs no crash; and two threads publishing the same ids each
 * get every id accepted exactly once. Heap memory stands for the segment.
 * Suite: unit.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dedupe.h"
#include "shmq_err.h"

#define WINDOW_NS 1000000000ull
#define CHAN_ID 42u

struct table {
	void *base;
	uint64_t bytes;
	struct dedupe_view v;
};

static void table_make(struct table *t, uint32_t nslots)
{
	t->bytes = dedupe_seg_bytes(nslots);
	assert_int_equal(posix_memalign(&t->base, 64, t->bytes), 0);
	memset(t->base, 0, t->bytes);
	assert_int_equal(dedupe_format(t->base, t->bytes, CHAN_ID, nslots, WINDOW_NS), 0);
	assert_int_equal(dedupe_attach(&t->v, t->base, t->bytes, CHAN_ID), 0);
}

/* live(): publisher slots whose bit is set in *arg are alive, at generation 1 only. */
static bool live_mask(void *arg, struct dedupe_owner who)
{
	const uint64_t *mask = arg;

	return who.slot < 64 && (*mask >> who.slot & 1) && who.gen == 1;
}

static const struct dedupe_owner P1 = {1, 1}, P2 = {2, 1};

static void test_dedupe_refuses_a_committed_id_within_the_window(void **state)
{
	struct table t;
	uint64_t alive = 0x6, pos = 0;
	uint32_t at, at2;

	(void)state;
	table_make(&t, 1024);
	assert_int_equal(dedupe_reserve(&t.v, 7, P1, 1000, live_mask, &alive, &at, &pos), 0);
	dedupe_commit(&t.v, at, 7, P1, 55, 1000);
	assert_int_equal(dedupe_reserve(&t.v, 7, P2, 2000, live_mask, &alive, &at2, &pos),
			 -SHMQ_EDUPLICATE);
	assert_int_equal(pos, 55);
	/* a duplicate does not extend the window: it runs from the first */
	assert_int_equal(
	    dedupe_reserve(&t.v, 7, P2, 1000 + WINDOW_NS - 1, live_mask, &alive, &at2, &pos),
	    -SHMQ_EDUPLICATE);
	assert_int_equal(
	    dedupe_reserve(&t.v, 7, P2, 1000 + WINDOW_NS, live_mask, &alive, &at2, &pos), 0);
	assert_int_equal(at2, at); /* its own expired slot, taken again */
	assert_int_equal(dedupe_reserve(&t.v, 8, P2, 2000, live_mask, &alive, &at2, &pos), 0);
	free(t.base);
}

static void test_dedupe_live_claim_waits_dead_one_is_taken_over(void **state)
{
	struct table t;
	uint64_t alive = 0x6, pos;
	uint32_t at, at2;

	(void)state;
	table_make(&t, 1024);
	assert_int_equal(dedupe_reserve(&t.v, 9, P1, 10, live_mask, &alive, &at, &pos), 0);
	assert_int_equal(dedupe_reserve(&t.v, 9, P2, 20, live_mask, &alive, &at2, &pos),
			 -SHMQ_EAGAIN);
	alive = 0x4; /* P1 died between reservation and commit */
	assert_int_equal(dedupe_reserve(&t.v, 9, P2, 30, live_mask, &alive, &at2, &pos), 0);
	assert_int_equal(at2, at);
	/* the dead one's late commit does not land on P2's reservation */
	dedupe_commit(&t.v, at, 9, P1, 1, 40);
	alive = 0x6;
	assert_int_equal(dedupe_reserve(&t.v, 9, P1, 50, live_mask, &alive, &at, &pos),
			 -SHMQ_EAGAIN);
	dedupe_release(&t.v, at2, 9, P2); /* P2 aborted its claim */
	assert_int_equal(dedupe_reserve(&t.v, 9, P1, 60, live_mask, &alive, &at, &pos), 0);
	free(t.base);
}

static void test_dedupe_full_probe_run_is_elimit(void **state)
{
	struct table t;
	uint64_t alive = 0x6, pos;
	uint32_t at;

	(void)state;
	table_make(&t, DEDUPE_SLOTS_MIN); /* one run covers the whole table */
	for (uint64_t id = 1; id <= DEDUPE_SLOTS_MIN; id++) {
		assert_int_equal(dedupe_reserve(&t.v, id, P1, 100, live_mask, &alive, &at, &pos),
				 0);
		dedupe_commit(&t.v, at, id, P1, id, 100);
	}
	assert_int_equal(dedupe_reserve(&t.v, 1000, P1, 200, live_mask, &alive, &at, &pos),
			 -SHMQ_ELIMIT);
	assert_int_equal(atomic_load(&t.v.hdr->full), 1);
	/* once the window passed, the slots are reused */
	assert_int_equal(
	    dedupe_reserve(&t.v, 1000, P1, 100 + WINDOW_NS, live_mask, &alive, &at, &pos), 0);
	free(t.base);
}

static void test_dedupe_attach_refuses_bad_headers(void **state)
{
	struct table t;
	struct dedupe_view v;
	struct dedupe_hdr *h;

	(void)state;
	table_make(&t, 64);
	h = t.base;
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID + 1), -SHMQ_ECORRUPT);
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes - 32, CHAN_ID), -SHMQ_ECORRUPT);
	assert_int_equal(dedupe_attach(&v, t.base, 64, CHAN_ID), -SHMQ_ECORRUPT);
	h->nslots = 48;
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID), -SHMQ_ECORRUPT);
	h->nslots = 128; /* more than the segment holds */
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID), -SHMQ_ECORRUPT);
	h->nslots = 64;
	h->window_ns = 0;
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID), -SHMQ_ECORRUPT);
	h->window_ns = WINDOW_NS;
	h->version = 2;
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID), -SHMQ_EVERSION);
	h->version = DEDUPE_VERSION;
	atomic_store(&h->magic, 0);
	assert_int_equal(dedupe_attach(&v, t.base, t.bytes, CHAN_ID), -SHMQ_ECORRUPT);
	assert_int_equal(dedupe_format(t.base, t.bytes, CHAN_ID, 48, WINDOW_NS), -SHMQ_EINVAL);
	free(t.base);
}

/* A publisher scribbled the slots: every call returns one of its codes, nothing crashes. */
static void test_dedupe_garbage_slots_cost_no_crash(void **state)
{
	struct table t;
	uint64_t alive = ~0ull, pos, x = 0x9e3779b97f4a7c15ull;
	uint32_t at;
	uint8_t *slots;

	(void)state;
	table_make(&t, 64);
	slots = (uint8_t *)t.base + DEDUPE_HDR_BYTES;
	for (unsigned round = 0; round < 200; round++) {
		for (size_t i = 0; i < 64 * sizeof(struct dedupe_slot); i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (round % 2 || x % 4 == 0)
				slots[i] = (uint8_t)x;
		}
		for (uint64_t id = 0; id < 64; id++) {
			int err = dedupe_reserve(&t.v, id, P1, x % (3 * WINDOW_NS), live_mask,
						 &alive, &at, &pos);

			assert_true(err == 0 || err == -SHMQ_EDUPLICATE || err == -SHMQ_EAGAIN ||
				    err == -SHMQ_ELIMIT);
			if (!err) {
				assert_true(at <= t.v.mask);
				dedupe_commit(&t.v, at, id, P1, id, x % WINDOW_NS);
			}
		}
	}
	free(t.base);
}

/* ---- two publishers, the same ids ---- */

#define IDS 20000u
#define ATTEMPTS 60000u /* 30 % or more repeats of each thread's own, and the other's */

struct race {
	struct table t;
	_Atomic uint64_t next_pos;
	_Atomic uint32_t accepted[IDS];
	_Atomic uint64_t dups;
};

struct racer {
	struct race *r;
	struct dedupe_owner who;
	uint64_t seed;
};

static bool live_all(void *arg, struct dedupe_owner who)
{
	(void)arg;
	(void)who;
	return true;
}

static void *race_run(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	uint64_t x = me->seed, pos;
	uint32_t at;

	for (unsigned i = 0; i < ATTEMPTS; i++) {
		uint64_t id;
		int err;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		id = x % IDS;
		do
			err =
			    dedupe_reserve(&r->t.v, id + 1, me->who, 5, live_all, NULL, &at, &pos);
		while (err == -SHMQ_EAGAIN);
		if (err == -SHMQ_EDUPLICATE) {
			atomic_fetch_add(&r->dups, 1);
			continue;
		}
		if (err)
			return (void *)1;
		atomic_fetch_add(&r->accepted[id], 1);
		dedupe_commit(&r->t.v, at, id + 1, me->who, atomic_fetch_add(&r->next_pos, 1), 5);
	}
	return NULL;
}

static void test_dedupe_two_threads_accept_each_id_once(void **state)
{
	struct race *r = calloc(1, sizeof(*r));
	struct racer a = {r, P1, 0x1234567ull}, b = {r, P2, 0x7654321ull};
	pthread_t ta, tb;
	void *ra, *rb;
	uint64_t seen = 0;

	(void)state;
	table_make(&r->t, 1u << 16);
	assert_int_equal(pthread_create(&ta, NULL, race_run, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, race_run, &b), 0);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	assert_null(ra);
	assert_null(rb);
	for (unsigned i = 0; i < IDS; i++) {
		assert_true(atomic_load(&r->accepted[i]) <= 1);
		seen += atomic_load(&r->accepted[i]);
	}
	print_message("%llu ids accepted once, %llu duplicates refused\n", (unsigned long long)seen,
		      (unsigned long long)atomic_load(&r->dups));
	assert_int_equal(seen + atomic_load(&r->dups), 2 * ATTEMPTS);
	free(r->t.base);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dedupe_refuses_a_committed_id_within_the_window),
	    cmocka_unit_test(test_dedupe_live_claim_waits_dead_one_is_taken_over),
	    cmocka_unit_test(test_dedupe_full_probe_run_is_elimit),
	    cmocka_unit_test(test_dedupe_attach_refuses_bad_headers),
	    cmocka_unit_test(test_dedupe_garbage_slots_cost_no_crash),
	    cmocka_unit_test(test_dedupe_two_threads_accept_each_id_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
