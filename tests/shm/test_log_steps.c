/*
 * test_log_steps.c - interleavings of the channel log that need a claim
 * cut in two: it includes shm/log.c to call claim_pos() and take_slot()
 * separately, as a publisher that stalls between taking a position and
 * taking its slot would. One process, one thread. Suite: unit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../shm/log.c"
#include "fixture.h"

#define STUCK_NS 1000u

/* The daemon gives the stalled pos up: two repair passes past the stuck timeout. */
static void repair_twice(struct fx *f, struct log_repair *rep)
{
	log_repair_step(&f->v, rep, 1000000, STUCK_NS, 64, NULL, NULL);
	assert_int_equal(log_repair_step(&f->v, rep, 1000000 + 2 * STUCK_NS, STUCK_NS, 64, NULL,
					 NULL),
			 1);
}

/* A fresh 4-slot channel with one claim stalled after claim_pos() and given up. */
static uint64_t make_abandoned_claim(struct fx *f, uint64_t *limit)
{
	struct log_repair rep = {.stuck_pos = UINT64_MAX};
	uint64_t pos = UINT64_MAX; /* claim_pos() sets it */

	assert_int_equal(fx_make(f, 4 * 128, 64, 0), 0);
	assert_int_equal(claim_pos(&f->v, limit, &pos), 0);
	repair_twice(f, &rep);
	return pos;
}

static void publish_n(struct fx *f, uint64_t *limit, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(fx_publish(f, limit, "b", 1, NULL), 0);
}

static void test_stalled_claim_sees_its_pos_abandoned(void **state)
{
	uint64_t limit = 0, pos;
	struct fx f;

	(void)state;
	pos = make_abandoned_claim(&f, &limit);
	assert_int_equal(take_slot(&f.v, log_slot(&f.v, pos), pos, 1), -SHMQ_EABANDONED);
	fx_free(&f);
}

/* Others lapped the abandoned slot meanwhile: still abandoned, not corrupt. */
static void test_stalled_claim_lapped_by_others_is_abandoned_not_corrupt(void **state)
{
	uint64_t limit = 0, pos;
	struct fx f;

	(void)state;
	pos = make_abandoned_claim(&f, &limit);
	publish_n(&f, &limit, 2 * (unsigned)f.v.nslots);
	assert_int_equal(take_slot(&f.v, log_slot(&f.v, pos), pos, 1), -SHMQ_EABANDONED);
	/* a lap ahead of tail is still no honest word */
	atomic_store(&log_slot(&f.v, pos)->state, slot_word(pos + 8 * f.v.nslots, SLOT_COMMITTED));
	assert_int_equal(take_slot(&f.v, log_slot(&f.v, pos), pos, 1), -SHMQ_ECORRUPT);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_claim_sees_its_pos_abandoned),
		cmocka_unit_test(test_stalled_claim_lapped_by_others_is_abandoned_not_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
