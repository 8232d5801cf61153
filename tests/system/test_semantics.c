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
#include <stdbool.h>
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

/* Lines of shmq-stat --prometheus that start with prefix and end with " value"; -1 without it. */
static int stat_prom_count(const struct daemon *d, const char *prefix, const char *value)
{
	const char *tool = getenv("SHMQ_STAT");
	char cmd[512], line[512];
	size_t vl = strlen(value);
	int n = 0;
	FILE *p;

	if (!tool)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --socket %s --prometheus", tool, d->sock);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		size_t l = strcspn(line, "\n");

		line[l] = 0;
		n += !strncmp(line, prefix, strlen(prefix)) && l > vl + 1 &&
		     !strcmp(line + l - vl, value) && line[l - vl - 1] == ' ';
	}
	pclose(p);
	return n;
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
	/* shmq-stat: two readers with 3, one with 0 */
	if (getenv("SHMQ_STAT")) {
		assert_int_equal(
		    stat_prom_count(dmn(state), "shmq_reader_expired_total{channel=\"exp\"", "3"),
		    2);
		assert_int_equal(
		    stat_prom_count(dmn(state), "shmq_reader_expired_total{channel=\"exp\"", "0"),
		    1);
	}
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

/* ---- dedupe ---- */

#define DD_CHAN "dd"
#define DD_SLOTS 4096u

static void create_dedupe(struct shmq_client *c, const char *name, uint32_t slots)
{
	struct shmq_channel_opts o = {.dedupe_slots = slots, .max_message_bytes = 64};

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
}

static int publish_id(struct shmq_pub *p, uint64_t id, int64_t timeout_ns, uint64_t *off)
{
	struct shmq_msg_opts o = {.fields = SHMQ_F_MSG_ID, .msg_id = id};

	return shmq_publish_opts(p, &id, sizeof(id), &o, timeout_ns, off);
}

/*
 * A second publish of a msg_id is -SHMQ_EDUPLICATE with the original's
 * offset and reaches no reader; other ids and messages without one pass;
 * on a channel without a table, ids are stored, not checked; a bad table
 * size is -SHMQ_EINVAL; a full probe run is -SHMQ_ELIMIT.
 */
static void test_dedupe_refuses_a_repeated_msg_id_with_the_original_offset(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_channel_opts bad = {.dedupe_slots = 1000};
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_pub *p, *q;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t off = 99, v = 0;

	create_dedupe(c, DD_CHAN, DD_SLOTS);
	assert_int_equal(shmq_channel_create(c, "dd.bad", &bad), -SHMQ_EINVAL);
	assert_int_equal(shmq_pub_open(c, DD_CHAN, NULL, &p), 0);
	assert_int_equal(shmq_pub_open(c, DD_CHAN, NULL, &q), 0);
	assert_int_equal(publish_id(p, 5, 0, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(publish_id(p, 6, 0, &off), 0);
	assert_int_equal(shmq_publish(p, &v, sizeof(v), 0, &off), 0); /* no id */
	assert_int_equal(off, 2);
	off = 99;
	assert_int_equal(publish_id(q, 5, 0, &off), -SHMQ_EDUPLICATE);
	assert_int_equal(off, 0);
	assert_int_equal(publish_id(p, 6, 0, &off), -SHMQ_EDUPLICATE);
	assert_int_equal(off, 1);
	assert_int_equal(shmq_sub_open(c, DD_CHAN, &so, &s), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_close(s);
	shmq_pub_close(q);
	shmq_pub_close(p);

	assert_int_equal(shmq_channel_create(c, "plain", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "plain", NULL, &p), 0);
	assert_int_equal(publish_id(p, 5, 0, NULL), 0);
	assert_int_equal(publish_id(p, 5, 0, NULL), 0);
	shmq_pub_close(p);

	create_dedupe(c, "dd.small", 16);
	assert_int_equal(shmq_pub_open(c, "dd.small", NULL, &p), 0);
	for (uint64_t id = 1; id <= 16; id++)
		assert_int_equal(publish_id(p, id, 0, NULL), 0);
	assert_int_equal(publish_id(p, 17, 0, NULL), -SHMQ_ELIMIT);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define DD_IDS 10000u

struct dd_job {
	const struct daemon *d;
	unsigned who;
	uint64_t *dup_off; /* shared: the offset each duplicate was told, per id */
};

/* Child: publish DD_IDS ids, 30 % of them twice; the other child publishes the same ids. */
static int run_dd_publisher(void *arg)
{
	struct dd_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->d->sock, &c) || shmq_pub_open(c, DD_CHAN, NULL, &p))
		return 21;
	for (uint64_t i = 0; i < DD_IDS; i++) {
		uint64_t id = j->who ? DD_IDS - 1 - i : i, off = 0;

		for (unsigned k = 0; k < (id % 10 < 3 ? 2u : 1u); k++) {
			int err = publish_id(p, id + 1, FX_HANG_NS, &off);

			if (err == -SHMQ_EDUPLICATE)
				j->dup_off[id * 2 + j->who] = off + 1;
			else if (err)
				return 22;
		}
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/*
 * Two publisher processes publish the same 10,000 ids (30 % twice each):
 * every id reaches the reader exactly once, and every duplicate was told
 * the offset of the one that did.
 */
static void test_dedupe_two_publisher_processes_publish_each_id_once(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {.dedupe_slots = 1u << 16, .capacity_bytes = 8u << 20};
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	size_t bytes = DD_IDS * 2 * sizeof(uint64_t);
	uint64_t *dup_off = fx_shared_alloc(bytes), *at = calloc(DD_IDS, sizeof(uint64_t));
	struct dd_job a = {d, 0, dup_off}, b = {d, 1, dup_off};
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pa, pb;

	assert_int_equal(shmq_channel_create(c, DD_CHAN, &o), 0);
	pa = child_start(run_dd_publisher, &a);
	pb = child_start(run_dd_publisher, &b);
	assert_int_equal(child_wait(pa, FX_HANG_S), 0);
	assert_int_equal(child_wait(pb, FX_HANG_S), 0);
	assert_int_equal(shmq_sub_open(c, DD_CHAN, &so, &s), 0);
	for (unsigned i = 0; i < DD_IDS; i++) {
		uint64_t id;

		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(m.lost, 0);
		id = fx_msg_u64(&m) - 1;
		assert_true(id < DD_IDS);
		assert_int_equal(at[id], 0); /* once */
		at[id] = m.offset + 1;
	}
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	for (unsigned i = 0; i < 2 * DD_IDS; i++)
		if (dup_off[i])
			assert_int_equal(dup_off[i], at[i / 2]);
	shmq_sub_close(s);
	free(at);
	fx_shared_free(dup_off, bytes);
	shmq_disconnect(c);
}

/* Child: reserve msg_id 77 in a claim, say so, and wait to be killed. */
static int run_dd_claimer(void *arg)
{
	struct dd_job *j = arg;
	struct shmq_msg_opts o = {.fields = SHMQ_F_MSG_ID, .msg_id = 77};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_claim cl;

	if (shmq_connect(j->d->sock, &c) || shmq_pub_open(c, DD_CHAN, NULL, &p))
		return 21;
	if (shmq_pub_claim_opts(p, 8, &o, &cl, 0))
		return 22;
	pipe_say((int)j->who, "claimed");
	for (;;)
		pause();
}

/*
 * A publisher killed between its reservation and its commit: a second
 * publisher of the same id waits for it (-SHMQ_EFULL without a timeout)
 * and, once the daemon freed the dead one's slot, publishes it. The
 * table survives a daemon restart: the id is still a duplicate after.
 */
static void test_dedupe_killed_claimer_and_daemon_restart(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct dd_job j = {.d = d};
	struct shmq_pub *p;
	uint64_t off = 0, first;
	int fds[2];
	pid_t pid;

	create_dedupe(c, DD_CHAN, DD_SLOTS);
	assert_int_equal(pipe(fds), 0);
	j.who = (unsigned)fds[1];
	pid = child_start(run_dd_claimer, &j);
	close(fds[1]);
	assert_int_equal(pipe_expect(fds[0], "claimed"), 0);
	close(fds[0]);
	assert_int_equal(shmq_pub_open(c, DD_CHAN, NULL, &p), 0);
	assert_int_equal(publish_id(p, 77, 0, NULL), -SHMQ_EFULL);
	child_kill(pid);
	assert_int_equal(publish_id(p, 77, FX_HANG_NS, &first), 0);
	assert_int_equal(publish_id(p, 77, 0, &off), -SHMQ_EDUPLICATE);
	assert_int_equal(off, first);
	shmq_pub_close(p);
	shmq_disconnect(c);

	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_pub_open(c, DD_CHAN, NULL, &p), 0);
	off = 0;
	assert_int_equal(publish_id(p, 77, 0, &off), -SHMQ_EDUPLICATE);
	assert_int_equal(off, first);
	assert_int_equal(publish_id(p, 78, 0, NULL), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- request/reply ---- */

#define REQ_CHAN "rq"
#define REPLY_TAG 0x5250u /* the responder replies with the request's value + this */

struct responder_job {
	const struct daemon *d;
	int say_fd;
	unsigned replies_each; /* replies per request */
	unsigned requests;     /* answer this many, then exit */
	bool nobody;
};

/* Child: answer requests on REQ_CHAN with value + REPLY_TAG, replies_each times. */
static int run_responder(void *arg)
{
	struct responder_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	prctl(PR_SET_NAME, "responder", 0, 0, 0);
	if (j->nobody && fx_become_nobody())
		return 20;
	if (shmq_connect(j->d->sock, &c) || shmq_sub_open(c, REQ_CHAN, NULL, &s))
		return 21;
	pipe_say(j->say_fd, "ready");
	for (unsigned i = 0; i < j->requests; i++) {
		uint64_t v;

		if (shmq_recv(s, &m, FX_HANG_NS))
			return 22;
		v = fx_msg_u64(&m) + REPLY_TAG;
		for (unsigned k = 0; k < j->replies_each; k++)
			if (shmq_reply(c, &m, &v, sizeof(v), NULL))
				return 23;
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

static pid_t responder_start(struct responder_job *j)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	j->say_fd = fds[1];
	pid = child_start(run_responder, j);
	close(fds[1]);
	assert_int_equal(pipe_expect(fds[0], "ready"), 0);
	close(fds[0]);
	return pid;
}

static uint64_t reply_corr(const struct shmq_msg *m)
{
	struct shmq_msg_fields f;

	assert_int_equal(shmq_msg_fields(m, &f), 0);
	assert_true(f.fields & SHMQ_F_CORR_ID);
	return f.corr_id;
}

/*
 * A responder in another process answers: shmq_request() gets its own
 * reply; three shmq_request_send() get theirs, in any order, matched by
 * corr_id; the inbox is an inbox (flag) the test's uid sees.
 */
static void test_requests_get_their_replies_from_a_responder_process(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct responder_job j = {.d = d, .replies_each = 1, .requests = 4};
	struct shmq_channel_info info;
	struct shmq_requester *r;
	struct shmq_msg m;
	uint64_t v = 7, got = 0, ids[3];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	pid = responder_start(&j);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	assert_int_equal(shmq_channel_info(c, shmq_requester_inbox(r), &info), 0);
	assert_true(info.flags & SHMQ_CHAN_INBOX);
	assert_int_equal(info.policy, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_request(r, &v, sizeof(v), NULL, &got, sizeof(got), &m, FX_HANG_NS),
			 0);
	assert_int_equal(got, 7 + REPLY_TAG);
	assert_int_equal(m.len, sizeof(got));
	assert_ptr_equal(m.data, &got);
	for (v = 0; v < 3; v++)
		assert_int_equal(shmq_request_send(r, &v, sizeof(v), NULL, &ids[v]), 0);
	assert_true(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t id;

		assert_int_equal(shmq_reply_recv(r, &m, FX_HANG_NS), 0);
		id = reply_corr(&m);
		v = fx_msg_u64(&m) - REPLY_TAG;
		assert_true(v < 3);
		assert_int_equal(id, ids[v]);
	}
	assert_int_equal(shmq_requester_dropped(r), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_requester_close(r);
	shmq_disconnect(c);
}

/* Nobody reads the request channel: -SHMQ_ENOREADER at once, for both calls. */
static void test_request_to_a_channel_nobody_reads_is_enoreader(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_requester *r;
	struct shmq_msg m;
	uint64_t v = 1, id, buf;
	int64_t t0 = fx_now_ns();

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	assert_int_equal(shmq_request(r, &v, sizeof(v), NULL, &buf, sizeof(buf), &m, FX_HANG_NS),
			 -SHMQ_ENOREADER);
	assert_int_equal(shmq_request_send(r, &v, sizeof(v), NULL, &id), -SHMQ_ENOREADER);
	assert_true(fx_now_ns() - t0 < 5000000000ll); /* at once, not after the timeout */
	shmq_requester_close(r);
	shmq_disconnect(c);
}

/*
 * A responder that answers every request twice: shmq_request() returns the
 * first; the second matches a request already answered and is dropped
 * (counted) by the next call; a reply with a made-up corr_id, published
 * into the inbox by another client, is dropped and counted too.
 */
static void test_unmatched_replies_are_dropped_and_counted(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct responder_job j = {.d = d, .replies_each = 2, .requests = 2};
	struct shmq_msg_opts fo = {.fields = SHMQ_F_CORR_ID, .corr_id = 0x1234567890abcdefull};
	struct shmq_requester *r;
	struct shmq_pub *forger;
	struct shmq_msg m;
	uint64_t v = 1, got;
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	pid = responder_start(&j);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	assert_int_equal(shmq_request(r, &v, sizeof(v), NULL, &got, sizeof(got), &m, FX_HANG_NS),
			 0);
	assert_int_equal(got, 1 + REPLY_TAG);
	assert_int_equal(shmq_pub_open(c, shmq_requester_inbox(r), NULL, &forger), 0);
	assert_int_equal(shmq_publish_opts(forger, &v, sizeof(v), &fo, 0, NULL), 0);
	assert_int_equal(shmq_publish(forger, &v, sizeof(v), 0, NULL), 0); /* no corr_id at all */
	v = 2;
	assert_int_equal(shmq_request(r, &v, sizeof(v), NULL, &got, sizeof(got), &m, FX_HANG_NS),
			 0);
	assert_int_equal(got, 2 + REPLY_TAG);
	/* the second reply to request 1, the forged one, the one without an id */
	assert_int_equal(shmq_requester_dropped(r), 3);
	assert_int_equal(shmq_reply_recv(r, &m, 200000000), -SHMQ_ETIMEDOUT);
	assert_int_equal(shmq_requester_dropped(r), 4); /* the second reply to request 2 */
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_pub_close(forger);
	shmq_requester_close(r);
	shmq_disconnect(c);
}

/*
 * A reply read through shmq_reply_recv() is a view into the inbox, a drop
 * ring: shmq_reply_verify() says 0 while it is whole and -SHMQ_EOVERRUN
 * once later replies (here 160 KB into a 64 KiB inbox) overwrote it.
 */
static void test_reply_verify_tells_a_reply_overwritten_in_the_inbox(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	static char big[4000];
	struct shmq_requester *r;
	struct shmq_sub *sub;
	struct shmq_msg req, m;
	uint64_t v = 5, id;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	assert_int_equal(shmq_sub_open(c, REQ_CHAN, NULL, &sub), 0);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	assert_int_equal(shmq_request_send(r, &v, sizeof(v), NULL, &id), 0);
	assert_int_equal(shmq_recv(sub, &req, FX_HANG_NS), 0);
	assert_int_equal(shmq_reply(c, &req, &v, sizeof(v), NULL), 0);
	assert_int_equal(shmq_reply_recv(r, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 5);
	assert_int_equal(shmq_reply_verify(r, &m), 0);
	assert_int_equal(shmq_request_send(r, &v, sizeof(v), NULL, &id), 0);
	assert_int_equal(shmq_recv(sub, &req, FX_HANG_NS), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(shmq_reply(c, &req, big, sizeof(big), NULL), 0);
	assert_int_equal(shmq_reply_verify(r, &m), -SHMQ_EOVERRUN);
	assert_int_equal(shmq_reply_verify(NULL, &m), -SHMQ_EINVAL);
	assert_int_equal(shmq_reply_verify(r, NULL), -SHMQ_EINVAL);
	shmq_sub_close(sub);
	shmq_requester_close(r);
	shmq_disconnect(c);
}

/* ---- many requesters, many responders ---- */

#define N_REQUESTERS 4u
#define N_RESPONDERS 3u
#define N_REQUESTS 1000u
#define STOP_VALUE UINT64_MAX

static void assert_channel_goes(struct shmq_client *c, const char *name);

/* Child: answer every request until STOP_VALUE; a gone inbox is counted, never waited for. */
static int run_busy_responder(void *arg)
{
	struct responder_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(j->d->sock, &c) || shmq_sub_open(c, REQ_CHAN, NULL, &s))
		return 21;
	pipe_say(j->say_fd, "ready");
	for (;;) {
		uint64_t v;
		int err;

		if (shmq_recv(s, &m, FX_HANG_NS))
			return 22;
		v = fx_msg_u64(&m);
		if (v == STOP_VALUE)
			break;
		v += REPLY_TAG;
		err = shmq_reply(c, &m, &v, sizeof(v), NULL);
		if (err && err != -SHMQ_ENOENT) /* its requester was killed */
			return 23;
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

struct busy_requester {
	const struct daemon *d;
	unsigned id;
	int say_fd; /* says "half" after N_REQUESTS / 2, if >= 0 */
};

/* Child: N_REQUESTS requests, each answered with its own value + REPLY_TAG. */
static int run_busy_requester(void *arg)
{
	struct busy_requester *j = arg;
	struct shmq_client *c;
	struct shmq_requester *r;
	struct shmq_msg m;

	if (shmq_connect(j->d->sock, &c) || shmq_requester_open(c, REQ_CHAN, NULL, &r))
		return 21;
	for (uint64_t i = 0; i < N_REQUESTS; i++) {
		uint64_t v = (uint64_t)j->id << 32 | i, got = 0;

		int err = shmq_request(r, &v, sizeof(v), NULL, &got, sizeof(got), &m, FX_HANG_NS);

		if (err) {
			fprintf(stderr, "requester %u: request %llu: %s\n", j->id,
				(unsigned long long)i, shmq_errname(err));
			return 22;
		}
		if (got != v + REPLY_TAG)
			return 23;
		if (j->say_fd >= 0 && i == N_REQUESTS / 2)
			pipe_say(j->say_fd, "half");
	}
	shmq_requester_close(r);
	shmq_disconnect(c);
	return 0;
}

/*
 * 4 requester processes x 1,000 requests to 3 responder processes: every
 * request gets its own reply (the first of three; the others are dropped
 * as answered). A fifth requester is killed half-way: its inbox goes, and
 * the responders, which go on replying to its last requests, never wait.
 */
static void test_requesters_and_responders_in_many_processes(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct responder_job rj = {.d = d};
	struct busy_requester bj[N_REQUESTERS + 1];
	struct shmq_channel_info info;
	struct shmq_pub *p;
	pid_t resp[N_RESPONDERS], req[N_REQUESTERS + 1];
	int fds[2];
	uint64_t stop = STOP_VALUE;
	char inbox[SHMQ_NAME_MAX + 1] = "";
	struct shmq_channel_info rows[16];
	int n;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	for (unsigned i = 0; i < N_RESPONDERS; i++) {
		assert_int_equal(pipe(fds), 0);
		rj.say_fd = fds[1];
		resp[i] = child_start(run_busy_responder, &rj);
		close(fds[1]);
		assert_int_equal(pipe_expect(fds[0], "ready"), 0);
		close(fds[0]);
	}
	assert_int_equal(pipe(fds), 0);
	for (unsigned i = 0; i <= N_REQUESTERS; i++) {
		bj[i] = (struct busy_requester){.d = d, .id = i, .say_fd = -1};
		if (i == N_REQUESTERS)
			bj[i].say_fd = fds[1];
		req[i] = child_start(run_busy_requester, &bj[i]);
	}
	close(fds[1]);
	assert_int_equal(pipe_expect(fds[0], "half"), 0);
	close(fds[0]);
	/* the inboxes now, the victim's among them */
	n = shmq_channel_list(c, rows, 16);
	assert_true(n >= 2);
	child_kill(req[N_REQUESTERS]);
	for (unsigned i = 0; i < N_REQUESTERS; i++)
		assert_int_equal(child_wait(req[i], FX_HANG_S), 0);
	/* every inbox is gone: the finished requesters closed theirs, the victim died */
	for (int i = 0; i < n && i < 16; i++) {
		if (!(rows[i].flags & SHMQ_CHAN_INBOX))
			continue;
		strcpy(inbox, rows[i].name);
		assert_channel_goes(c, inbox);
	}
	assert_true(inbox[0]);
	assert_int_equal(shmq_pub_open(c, REQ_CHAN, NULL, &p), 0);
	assert_int_equal(shmq_publish(p, &stop, sizeof(stop), 0, NULL), 0);
	for (unsigned i = 0; i < N_RESPONDERS; i++)
		assert_int_equal(child_wait(resp[i], FX_HANG_S), 0);
	assert_int_equal(shmq_channel_info(c, REQ_CHAN, &info), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Wait until name is gone (-SHMQ_ENOENT), at most FX_HANG_S. */
static void assert_channel_goes(struct shmq_client *c, const char *name)
{
	struct shmq_channel_info info;
	int64_t until = fx_now_ns() + (int64_t)FX_HANG_S * 1000000000ll;

	while (shmq_channel_info(c, name, &info) == 0 && fx_now_ns() < until)
		fx_nap_ms(10);
	assert_int_equal(shmq_channel_info(c, name, &info), -SHMQ_ENOENT);
}

struct requester_job {
	const struct daemon *d;
	int say_fd;
	bool nobody;
	unsigned forge; /* publish this many replies with made-up corr_ids into name */
	char name[SHMQ_NAME_MAX + 1];
};

/* Child: open a requester, say its inbox's name, send one request, then sleep for ever. */
static int run_idle_requester(void *arg)
{
	struct requester_job *j = arg;
	struct shmq_client *c;
	struct shmq_requester *r;
	uint64_t v = 9, id;

	prctl(PR_SET_NAME, "requester", 0, 0, 0);
	if (j->nobody && fx_become_nobody())
		return 20;
	if (shmq_connect(j->d->sock, &c) || shmq_requester_open(c, REQ_CHAN, NULL, &r))
		return 21;
	if (write(j->say_fd, shmq_requester_inbox(r), strlen(shmq_requester_inbox(r)) + 1) < 0)
		return 22;
	if (shmq_request_send(r, &v, sizeof(v), NULL, &id))
		return 23;
	for (;;)
		pause();
}

static pid_t idle_requester_start(struct requester_job *j)
{
	int fds[2];
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	j->say_fd = fds[1];
	pid = child_start(run_idle_requester, j);
	close(fds[1]);
	n = read(fds[0], j->name, sizeof(j->name) - 1);
	close(fds[0]);
	assert_true(n > 1);
	j->name[n - 1] = 0;
	return pid;
}

/*
 * The inbox goes with its requester: closed (at once), or killed with
 * SIGKILL (the daemon sees the process go); a responder that replies to
 * a request of a requester that went gets -SHMQ_ENOENT.
 */
static void test_inbox_goes_with_its_requester(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct requester_job j = {.d = d};
	struct shmq_requester *r;
	struct shmq_sub *s;
	struct shmq_msg m;
	char name[SHMQ_NAME_MAX + 1];
	uint64_t v = 3;
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	assert_int_equal(shmq_sub_open(c, REQ_CHAN, NULL, &s), 0);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	strcpy(name, shmq_requester_inbox(r));
	shmq_requester_close(r);
	assert_channel_goes(c, name);

	pid = idle_requester_start(&j);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), 0);
	child_kill(pid);
	assert_channel_goes(c, j.name);
	/* the cached publisher finds its inbox deleted */
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), -SHMQ_ENOENT);
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), -SHMQ_ENOENT);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * After a daemon restart the new daemon knows the inbox (the keeper kept
 * it) and still deletes it when its requester, which never spoke to the
 * new daemon, is killed.
 */
static void test_inbox_goes_with_a_requester_killed_after_a_restart(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct requester_job j = {.d = d};
	struct shmq_channel_info info;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	assert_int_equal(shmq_sub_open(c, REQ_CHAN, NULL, &s), 0);
	pid = idle_requester_start(&j);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0); /* its request: it is idle now */
	shmq_sub_close(s);
	shmq_disconnect(c);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_channel_info(c, j.name, &info), 0);
	assert_true(info.flags & SHMQ_CHAN_INBOX);
	child_kill(pid);
	assert_channel_goes(c, j.name);
	shmq_disconnect(c);
}

/* Inbox names are the daemon's; a create may not ask for the inbox flag. */
static void test_inbox_names_and_flag_are_reserved(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_channel_opts o = {.flags = SHMQ_CHAN_INBOX};
	struct shmq_pub_opts po = {.create = 1};
	struct shmq_pub *p;

	assert_int_equal(shmq_channel_create(c, "_inbox.0.123", NULL), -SHMQ_EPERM);
	assert_int_equal(shmq_channel_create(c, "_inbox", NULL), -SHMQ_EPERM);
	assert_int_equal(shmq_pub_open(c, "_inbox.x", &po, &p), -SHMQ_EPERM);
	assert_int_equal(shmq_channel_create(c, "_inboxes.ok", NULL), 0);
	assert_int_equal(shmq_channel_create(c, "flagged", &o), -SHMQ_EINVAL);
	shmq_disconnect(c);
}

/*
 * shmq_reply() refuses: a request without reply_to (EINVAL), one whose
 * reply_to is an ordinary channel (EPERM: replies go to inboxes only), or
 * an inbox that does not exist (ENOENT).
 */
static void test_reply_refuses_requests_it_cannot_answer(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_msg_opts o = {.fields = SHMQ_F_REPLY_TO | SHMQ_F_CORR_ID, .corr_id = 5};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t v = 1;

	assert_int_equal(shmq_channel_create(c, "plain", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "plain", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "plain", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, &v, sizeof(v), 0, NULL), 0);
	o.reply_to = "plain";
	assert_int_equal(shmq_publish_opts(p, &v, sizeof(v), &o, 0, NULL), 0);
	o.reply_to = "_inbox.0.gone";
	assert_int_equal(shmq_publish_opts(p, &v, sizeof(v), &o, 0, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), -SHMQ_EINVAL);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), -SHMQ_EPERM);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), -SHMQ_ENOENT);
	assert_int_equal(shmq_reply(NULL, &m, &v, sizeof(v), NULL), -SHMQ_EINVAL);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- the command line ---- */

/* Wait until name has n readers. */
static void wait_readers(struct shmq_client *c, const char *name, uint32_t n)
{
	struct shmq_channel_info info = {0};
	int64_t until = fx_now_ns() + (int64_t)FX_HANG_S * 1000000000ll;

	while ((shmq_channel_info(c, name, &info) || info.readers != n) && fx_now_ns() < until)
		fx_nap_ms(10);
	assert_int_equal(info.readers, n);
}

/*
 * shmq request without a reader: exit 1, SHMQ_ENOREADER; shmq reply --echo
 * and --exec answer shmq request, which prints the reply; a request
 * nobody answers exits 3 at its --timeout.
 */
static void test_cli_request_and_reply(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct tool_proc rp;
	struct tool_result r, rr;

	assert_int_equal(shmq_channel_create(c, REQ_CHAN, NULL), 0);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "request", REQ_CHAN, "x"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "SHMQ_ENOREADER"));
	tool_result_free(&r);

	assert_int_equal(tool_spawn(&rp, TOOL_ARGS("--socket", d->sock, "reply", REQ_CHAN, "--echo",
						   "--count", "1")),
			 0);
	wait_readers(c, REQ_CHAN, 1);
	tool_run(&r, NULL,
		 TOOL_ARGS("--socket", d->sock, "request", REQ_CHAN, "hello", "-t", "20"));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "hello\n");
	tool_result_free(&r);
	tool_finish(&rp, NULL, &rr);
	assert_int_equal(rr.status, 0);
	tool_result_free(&rr);

	assert_int_equal(tool_spawn(&rp, TOOL_ARGS("--socket", d->sock, "reply", REQ_CHAN, "--exec",
						   "tr a-z A-Z", "-n", "1")),
			 0);
	wait_readers(c, REQ_CHAN, 1);
	tool_run(&r, NULL,
		 TOOL_ARGS("--socket", d->sock, "request", REQ_CHAN, "shout", "-t", "20"));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "SHOUT\n");
	tool_result_free(&r);
	tool_finish(&rp, NULL, &rr);
	assert_int_equal(rr.status, 0);
	tool_result_free(&rr);

	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "reply", REQ_CHAN));
	assert_int_equal(r.status, 2); /* neither --echo nor --exec */
	tool_result_free(&r);
	shmq_disconnect(c);
}

/* shmq pub --ttl: sub skips the message once it expired; sub --expired prints it. */
static void test_cli_ttl_and_expired(void **state)
{
	struct daemon *d = dmn(state);
	struct tool_result r;

	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "create", "t"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "pub", "t", "--ttl", "1ms", "gone"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "pub", "t", "--ttl", "1h", "kept"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	fx_nap_ms(5);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "sub", "t", "--exit-at-end"));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "kept\n");
	tool_result_free(&r);
	tool_run(&r, NULL,
		 TOOL_ARGS("--socket", d->sock, "sub", "t", "--exit-at-end", "--expired"));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "gone\nkept\n");
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "pub", "t", "--ttl", "0", "x"));
	assert_int_equal(r.status, 2);
	tool_result_free(&r);
}

/* shmq create --dedupe-slots; pub --msg-id of an id published before: exit 1, its offset. */
static void test_cli_dedupe(void **state)
{
	struct daemon *d = dmn(state);
	struct tool_result r;

	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "create", "dd", "--dedupe-slots", "100"));
	assert_int_equal(r.status, 2);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "create", "dd", "--dedupe-slots", "64"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "pub", "dd", "--msg-id", "5", "a", "b"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "pub", "dd", "--msg-id", "6", "c"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "msg id 6: duplicate of offset 1"));
	assert_non_null(strstr(r.err, "SHMQ_EDUPLICATE"));
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "sub", "dd", "--exit-at-end"));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "a\nb\n");
	tool_result_free(&r);
}

/* ---- hostile: a second uid (nobody) ---- */

/* Nobody may publish requests and read them: as requester, responder or forger. */
#define CONF_NOBODY_RQ "[channel rq]\npublish = 65534\nsubscribe = 65534\n"
#define FLOOD_REPLIES 20000u /* several rings of the inbox's 64 KiB */

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("not root: no second uid; skipping\n");
		skip();
	}
}

/*
 * A requester of another uid that never reads its inbox: the responder
 * replies FLOOD_REPLIES times to its request, every reply succeeds and
 * none waits (the inbox is a drop channel); the requester's reader is
 * lapped, not the responder.
 */
static void test_a_requester_that_never_reads_does_not_stall_the_responder(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c;
	struct requester_job j = {.d = d, .nobody = true};
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t v = 0;
	int64_t t0;
	pid_t pid;

	skip_unless_root();
	c = fx_connect(d);
	assert_int_equal(shmq_sub_open(c, REQ_CHAN, NULL, &s), 0);
	pid = idle_requester_start(&j);
	assert_true(!strncmp(j.name, "_inbox.65534.", 13));
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	t0 = fx_now_ns();
	for (unsigned i = 0; i < FLOOD_REPLIES; i++)
		assert_int_equal(shmq_reply(c, &m, &v, sizeof(v), NULL), 0);
	print_message("%u replies in %lld ms\n", FLOOD_REPLIES,
		      (long long)((fx_now_ns() - t0) / 1000000));
	child_kill(pid);
	assert_channel_goes(c, j.name);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* Child, as nobody (a reader of rq, so a publisher of inboxes): forge replies into j->name. */
static int run_forger(void *arg)
{
	struct requester_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_msg_opts o = {.fields = SHMQ_F_CORR_ID};
	uint64_t v = 0xbad;

	prctl(PR_SET_NAME, "forger", 0, 0, 0);
	if (fx_become_nobody())
		return 20;
	if (shmq_connect(j->d->sock, &c))
		return 21;
	if (shmq_pub_open(c, j->name, NULL, &p))
		return 22;
	for (unsigned i = 0; i < j->forge; i++) {
		o.corr_id = 0x9e3779b97f4a7c15ull * (i + 1);
		if (shmq_publish_opts(p, &v, sizeof(v), &o, 0, NULL))
			return 23;
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/*
 * A client of another uid that may publish to the requester's inbox (it
 * reads the request channel) forges 100 replies with made-up corr_ids:
 * the requester drops and counts every one and still gets its own reply.
 * It may not read the inbox (-SHMQ_EPERM).
 */
static void test_forged_corr_ids_are_dropped_and_counted(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c;
	struct requester_job j = {.d = d, .forge = 100};
	struct responder_job rj = {.d = d, .replies_each = 1, .requests = 1, .nobody = true};
	struct shmq_requester *r;
	struct shmq_msg m;
	uint64_t v = 4, got;
	pid_t pid, rpid;

	skip_unless_root();
	c = fx_connect(d);
	assert_int_equal(shmq_requester_open(c, REQ_CHAN, NULL, &r), 0);
	strcpy(j.name, shmq_requester_inbox(r));
	pid = child_start(run_forger, &j);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	rpid = responder_start(&rj);
	assert_int_equal(shmq_request(r, &v, sizeof(v), NULL, &got, sizeof(got), &m, FX_HANG_NS),
			 0);
	assert_int_equal(got, 4 + REPLY_TAG);
	assert_int_equal(shmq_requester_dropped(r), 100);
	assert_int_equal(child_wait(rpid, FX_HANG_S), 0);
	shmq_requester_close(r);
	shmq_disconnect(c);
}

/* A dedupe channel nobody may publish to, and one only root may. */
#define CONF_NOBODY_DD                                                                             \
	"[channel dd]\ndedupe_slots = 1024\nmax_message = 64\npublish = 65534\n"                   \
	"[channel dd2]\ndedupe_slots = 1024\nmax_message = 64\n"

static bool documented(int err)
{
	return err == 0 || err == -SHMQ_EDUPLICATE || err == -SHMQ_EFULL || err == -SHMQ_ELIMIT;
}

/* Child, as nobody: publish to dd, then fill its duplicate table (our own mapping) with garbage. */
static int run_table_scribbler(void *arg)
{
	const struct daemon *d = arg;
	struct shmq_client *c;
	struct shmq_pub *p;
	char line[512];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int found = 0;
	FILE *f;

	if (fx_become_nobody())
		return 20;
	if (shmq_connect(d->sock, &c) || shmq_pub_open(c, "dd", NULL, &p))
		return 21;
	if (publish_id(p, 1, 0, NULL))
		return 22;
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (!strstr(line, "shmq.dd.u") || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		for (uint64_t *w = (uint64_t *)lo; w < (uint64_t *)hi; w++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			*w = w - (uint64_t *)lo < 16 ? *w
						     : x; /* the header stays, every slot goes */
		}
		found = 1;
	}
	if (f)
		fclose(f);
	if (!found)
		return 23;
	for (uint64_t id = 1; id < 500; id++)
		if (!documented(publish_id(p, id, 0, NULL)))
			return 24;
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/*
 * A publisher of another uid scribbles on a dedupe channel's table: its
 * own and other publishers' publishes with ids get only documented
 * answers, messages without ids and the channel's readers are not
 * affected, and another dedupe channel still refuses its duplicates.
 */
static void test_a_scribbled_dedupe_table_harms_only_dedupe_on_its_channel(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST};
	struct shmq_client *c;
	struct shmq_pub *p, *q;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t v = 7, off;
	pid_t pid;

	skip_unless_root();
	c = fx_connect(d);
	assert_int_equal(shmq_sub_open(c, "dd", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "dd", NULL, &p), 0);
	assert_int_equal(shmq_pub_open(c, "dd2", NULL, &q), 0);
	assert_int_equal(publish_id(q, 1, 0, &off), 0);
	pid = child_start(run_table_scribbler, d);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0); /* the scribbler's first */
	while (shmq_recv(s, &m, 0) == 0)
		; /* and whatever it published after */
	for (uint64_t id = 1; id < 500; id++)
		assert_true(documented(publish_id(p, id, 0, NULL)));
	while (shmq_recv(s, &m, 0) == 0)
		;
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(shmq_publish(p, &v, sizeof(v), 0, NULL), 0);
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(fx_msg_u64(&m), 7);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(publish_id(q, 1, 0, NULL), -SHMQ_EDUPLICATE);
	assert_int_equal(publish_id(q, 2, 0, NULL), 0);
	shmq_pub_close(q);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

#define CONF_WINDOW "[channel dw]\ndedupe_slots = 64\ndedupe_window = 1\n"

/*
 * A window of 1 s (the configuration's dedupe_window): an id is a
 * duplicate within it, from its first publish on (a duplicate does not
 * extend it), and publishes again after it.
 */
static void test_dedupe_window_runs_from_the_first_publish(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_pub *p;
	uint64_t off;

	assert_int_equal(shmq_pub_open(c, "dw", NULL, &p), 0);
	assert_int_equal(publish_id(p, 1, 0, NULL), 0);
	fx_nap_ms(600);
	assert_int_equal(publish_id(p, 1, 0, &off), -SHMQ_EDUPLICATE);
	assert_int_equal(off, 0);
	fx_nap_ms(600);
	assert_int_equal(publish_id(p, 1, 0, &off), 0);
	assert_int_equal(off, 1);
	assert_int_equal(publish_id(p, 1, 0, NULL), -SHMQ_EDUPLICATE);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define H(f, conf)                                                                                 \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(uintptr_t)(conf))

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_expired_messages_are_skipped_and_counted_not_lost),
	    T(test_publish_refuses_expiry_at_or_before_deliver_at),
	    T(test_dedupe_refuses_a_repeated_msg_id_with_the_original_offset),
	    T(test_dedupe_two_publisher_processes_publish_each_id_once),
	    T(test_dedupe_killed_claimer_and_daemon_restart),
	    H(test_dedupe_window_runs_from_the_first_publish, CONF_WINDOW),
	    T(test_requests_get_their_replies_from_a_responder_process),
	    T(test_request_to_a_channel_nobody_reads_is_enoreader),
	    T(test_unmatched_replies_are_dropped_and_counted),
	    T(test_inbox_goes_with_its_requester),
	    T(test_reply_verify_tells_a_reply_overwritten_in_the_inbox),
	    T(test_requesters_and_responders_in_many_processes),
	    T(test_inbox_goes_with_a_requester_killed_after_a_restart),
	    T(test_inbox_names_and_flag_are_reserved),
	    T(test_reply_refuses_requests_it_cannot_answer),
	    T(test_cli_request_and_reply),
	    T(test_cli_ttl_and_expired),
	    T(test_cli_dedupe),
	    H(test_a_requester_that_never_reads_does_not_stall_the_responder, CONF_NOBODY_RQ),
	    H(test_forged_corr_ids_are_dropped_and_counted, CONF_NOBODY_RQ),
	    H(test_a_scribbled_dedupe_table_harms_only_dedupe_on_its_channel, CONF_NOBODY_DD),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
