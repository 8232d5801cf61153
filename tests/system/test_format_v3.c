/*
 * test_format_v3.c - what channel format v3 (variable-length records in a
 * byte ring) promises, through libshmq against a real shmqd: every length
 * round-trips, mixed sizes from several processes keep each publisher's
 * order, one-publisher channels, atomic batches (publishv, claimv/commitv)
 * that appear or are lost whole, a stopped publisher holding a claim
 * (abandoned after stuck_ms, stopped by shmqd a ring later, or refused its
 * late commit), timestamps on and off, publisher counts in the channel
 * info, and starting at an offset inside the retained range. Payloads
 * check themselves: a tag (publisher, sequence, index, count, length) and
 * bytes derived from it. Children publish or hold claims and report on a
 * pipe; every wait is bounded by FX_HANG_S, and no assertion depends on
 * how fast the machine is beyond the stuck timeout and a wide margin.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "shmq.h"

/* stuck_ms of the stall tests' daemon, and how late past it a reader may go on. */
#define STUCK_MS 200
#define STUCK_MARGIN_MS 10000

/* ---- self-checking payloads ---- */

struct tag {
	uint32_t pub;
	uint32_t len;	/* the whole payload's */
	uint64_t seq;	/* message, or batch, number of this publisher */
	uint32_t idx;	/* index in its batch */
	uint32_t count; /* messages in its batch (1 if none) */
};

#define TAG_BYTES ((uint32_t)sizeof(struct tag))

static uint8_t fill_byte(const struct tag *t, uint32_t i)
{
	return (uint8_t)(t->pub * 131u + t->seq * 7u + t->idx * 17u + i);
}

static void tag_write(void *buf, const struct tag *t)
{
	uint8_t *b = buf;

	memcpy(b, t, TAG_BYTES);
	for (uint32_t i = TAG_BYTES; i < t->len; i++)
		b[i] = fill_byte(t, i);
}

/* 0 and *t if data/len is an intact tagged payload, else -1. */
static int tag_read(const void *data, uint32_t len, struct tag *t)
{
	const uint8_t *b = data;

	if (len < TAG_BYTES)
		return -1;
	memcpy(t, b, TAG_BYTES);
	if (t->len != len || t->idx >= t->count)
		return -1;
	for (uint32_t i = TAG_BYTES; i < len; i++)
		if (b[i] != fill_byte(t, i))
			return -1;
	return 0;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Publish a tagged message of len bytes (>= TAG_BYTES). */
static int publish_tagged(struct shmq_pub *p, uint32_t pub, uint64_t seq, uint32_t len,
			  int64_t timeout_ns)
{
	uint8_t buf[4096];
	struct tag t = {.pub = pub, .len = len, .seq = seq, .count = 1};

	if (len > sizeof(buf) || len < TAG_BYTES)
		return -SHMQ_EINVAL;
	tag_write(buf, &t);
	return shmq_publish(p, buf, len, timeout_ns, NULL);
}

/* Receive one message and check its tag (cmocka: test process). */
static struct tag recv_tagged(struct shmq_sub *s, struct shmq_msg *m)
{
	struct tag t = {0};

	assert_int_equal(shmq_recv(s, m, FX_HANG_NS), 0);
	assert_int_equal(tag_read(m->data, m->len, &t), 0);
	return t;
}

static int stall_setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char conf[64];

	snprintf(conf, sizeof(conf), "[daemon]\nstuck_ms = %d\n", STUCK_MS);
	if (!d || daemon_start(d, conf)) {
		if (d)
			daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

/* ---- every length ---- */

static uint8_t len_byte(uint32_t len, uint32_t i)
{
	return (uint8_t)(len * 13u + i * 5u + 1u);
}

static void assert_len_payload(const struct shmq_msg *m, uint32_t len)
{
	const uint8_t *b = m->data;

	assert_int_equal(m->len, len);
	for (uint32_t i = 0; i < len; i++)
		if (b[i] != len_byte(len, i))
			fail_msg("length %u: byte %u is %u", len, i, b[i]);
}

struct one_msg {
	struct shmq_msg m;
	uint8_t copy[256];
	unsigned n;
};

static int keep_one(void *arg, const struct shmq_msg *m)
{
	struct one_msg *o = arg;

	o->m = *m;
	if (m->len <= sizeof(o->copy))
		memcpy(o->copy, m->data, m->len);
	o->m.data = o->copy;
	o->n++;
	return 0;
}

/*
 * Lengths 0 .. max_message, five rounds (the ring wraps, with padding at
 * its end): each arrives intact, at the next offset, through a view, a
 * copy and a poll callback.
 */
static void test_every_length_round_trips_through_recv_copy_and_poll(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 1, .max_message_bytes = 200, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_sub *sv, *sc, *sp;
	uint8_t buf[256], out[256];
	struct one_msg om;
	struct shmq_pub *p;
	struct shmq_msg m;
	uint64_t off, want = 0, ring, bytes = 0;

	assert_int_equal(shmq_channel_create(c, "lengths", &o), 0);
	ring = fx_ring_bytes(c, "lengths");
	assert_int_equal(ring, 32 << 10);
	assert_int_equal(shmq_sub_open(c, "lengths", NULL, &sv), 0);
	assert_int_equal(shmq_sub_open(c, "lengths", NULL, &sc), 0);
	assert_int_equal(shmq_sub_open(c, "lengths", NULL, &sp), 0);
	assert_int_equal(shmq_pub_open(c, "lengths", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, buf, 201, 0, NULL), -SHMQ_ETOOBIG);
	for (unsigned round = 0; round < 5; round++) {
		for (uint32_t len = 0; len <= 200; len++, want++) {
			for (uint32_t i = 0; i < len; i++)
				buf[i] = len_byte(len, i);
			assert_int_equal(shmq_publish(p, buf, len, 0, &off), 0);
			assert_int_equal(off, want);
			bytes += SHMQ_RECORD_BYTES(len);
			assert_int_equal(shmq_recv(sv, &m, FX_HANG_NS), 0);
			assert_int_equal(m.offset, want);
			assert_int_equal(m.lost, 0);
			assert_len_payload(&m, len);
			assert_int_equal(shmq_msg_verify(sv, &m), 0);
			memset(out, 0xee, sizeof(out));
			assert_int_equal(shmq_recv_copy(sc, out, len, &m, FX_HANG_NS), 0);
			assert_ptr_equal(m.data, out);
			assert_int_equal(m.offset, want);
			assert_len_payload(&m, len);
			assert_int_equal(out[len], 0xee); /* nothing past the length */
			om.n = 0;
			assert_int_equal(shmq_poll(sp, keep_one, &om, 16, FX_HANG_NS), 1);
			assert_int_equal(om.n, 1);
			assert_int_equal(om.m.offset, want);
			assert_int_equal(om.m.lost, 0);
			assert_len_payload(&om.m, len);
		}
	}
	/* records take their own size: five rounds wrap the ring four times */
	assert_true(bytes > 4 * ring);
	print_message("%llu messages, %llu record bytes, a ring of %llu\n",
		      (unsigned long long)want, (unsigned long long)bytes,
		      (unsigned long long)ring);
	assert_int_equal(shmq_recv(sv, &m, 0), -SHMQ_EAGAIN);
	shmq_pub_close(p);
	shmq_sub_close(sv);
	shmq_sub_close(sc);
	shmq_sub_close(sp);
	shmq_disconnect(c);
}

/* The ring holds capacity / SHMQ_RECORD_BYTES(len) messages of len bytes, exactly. */
static void test_block_ring_holds_capacity_over_record_bytes_messages(void **state)
{
	static const uint32_t lens[] = {0, 1, 8, 24, 33, 64, 100, 200};
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 1, .max_message_bytes = 200, .policy = SHMQ_POLICY_BLOCK};
	uint8_t buf[200] = {0};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	char name[32];

	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint64_t n;

		snprintf(name, sizeof(name), "fit%u", lens[k]);
		assert_int_equal(shmq_channel_create(c, name, &o), 0);
		n = fx_ring_msgs(c, name, lens[k]);
		assert_int_equal(shmq_sub_open(c, name, NULL, &s), 0);
		assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
		for (uint64_t i = 0; i < n; i++) {
			int err = shmq_publish(p, buf, lens[k], 0, NULL);

			if (err)
				fail_msg("%u bytes: %s at message %llu of %llu", lens[k],
					 shmq_errname(err), (unsigned long long)i,
					 (unsigned long long)n);
		}
		assert_int_equal(shmq_publish(p, buf, lens[k], 0, NULL), -SHMQ_EFULL);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
			assert_int_equal(m.offset, i);
			assert_int_equal(m.len, lens[k]);
		}
		print_message("%llu messages of %u bytes\n", (unsigned long long)n, lens[k]);
		shmq_pub_close(p);
		shmq_sub_close(s);
	}
	shmq_disconnect(c);
}

/* ---- mixed sizes from several processes ---- */

struct mixed_job {
	const char *sock;
	const char *chan;
	uint32_t id;
	uint64_t count;
	uint32_t max_len;
	int go_fd;
};

/* Child: count tagged messages of random lengths, by copy and in place. */
static int run_mixed_publisher(void *arg)
{
	const struct mixed_job *j = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (j->id + 1);
	struct shmq_client *c;
	struct shmq_claim cl;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	if (pipe_wait_line(j->go_fd))
		return 11;
	for (uint64_t i = 0; i < j->count; i++) {
		uint32_t len = TAG_BYTES + (uint32_t)(rnd(&seed) % (j->max_len - TAG_BYTES + 1));
		struct tag t = {.pub = j->id, .len = len, .seq = i, .count = 1};
		int err;

		if (i % 2) {
			err = publish_tagged(p, j->id, i, len, FX_HANG_NS);
		} else {
			err = shmq_pub_claim(p, len, &cl, FX_HANG_NS);
			if (!err && cl.capacity != len)
				err = -SHMQ_ECORRUPT;
			if (!err) {
				tag_write(cl.data, &t);
				err = shmq_pub_commit(p, &cl, len);
			}
		}
		if (err) {
			fprintf(stderr, "publisher %u: %s at %llu\n", j->id, shmq_errname(err),
				(unsigned long long)i);
			return 12;
		}
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

static void test_mixed_sizes_from_several_processes_keep_each_publishers_order(void **state)
{
	enum { PUBS = 3, COUNT = 6000 };
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 64 << 10, .max_message_bytes = 1000, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_sub_opts so[2] = {{.wait = SHMQ_WAIT_SLEEP}, {.wait = SHMQ_WAIT_SPIN_SLEEP}};
	struct mixed_job j[PUBS];
	uint64_t next[2][PUBS] = {{0}}, sizes = 0;
	struct shmq_sub *s[2];
	struct shmq_msg m;
	pid_t pid[PUBS];
	int go[2];

	assert_int_equal(shmq_channel_create(c, "mixed", &o), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(shmq_sub_open(c, "mixed", &so[k], &s[k]), 0);
	assert_int_equal(pipe(go), 0);
	for (uint32_t i = 0; i < PUBS; i++) {
		j[i] = (struct mixed_job){.sock = d->sock,
					  .chan = "mixed",
					  .id = i,
					  .count = COUNT,
					  .max_len = 1000,
					  .go_fd = go[0]};
		pid[i] = child_start(run_mixed_publisher, &j[i]);
		assert_true(pid[i] > 0);
	}
	for (uint32_t i = 0; i < PUBS; i++)
		pipe_say(go[1], "go");
	/* two readers in turns: each offset once, each publisher in order */
	for (uint64_t off = 0; off < (uint64_t)PUBS * COUNT; off++) {
		for (int k = 0; k < 2; k++) {
			struct tag t = recv_tagged(s[k], &m);

			assert_int_equal(m.offset, off);
			assert_int_equal(m.lost, 0);
			assert_true(t.pub < PUBS);
			assert_int_equal(t.seq, next[k][t.pub]);
			next[k][t.pub]++;
			sizes += k ? 0 : m.len;
		}
	}
	for (uint32_t i = 0; i < PUBS; i++)
		assert_int_equal(child_wait(pid[i], 2 * FX_HANG_S), 0);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(shmq_recv(s[k], &m, 0), -SHMQ_EAGAIN);
		shmq_sub_close(s[k]);
	}
	print_message("%llu payload bytes through a 64 KiB ring\n", (unsigned long long)sizes);
	close(go[0]);
	close(go[1]);
	shmq_disconnect(c);
}

/* ---- one publisher at a time ---- */

struct hold_job {
	const char *sock;
	const char *chan;
	int say_fd;
	uint32_t id;
	uint64_t before; /* tagged messages to publish first */
	unsigned batch;	 /* then: 0 hold the handle, 1 hold a claim, n > 1 a claimv of n */
};

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * Child: open a publisher on chan, publish `before` tagged messages, then
 * (batch 0) just hold the handle, or hold a claim of one message or of a
 * batch, written fully; say "held" and wait for SIGUSR1 (the pause point:
 * SIGKILL or SIGSTOP here). On SIGUSR1 commit: exit 0 if the commit says
 * -SHMQ_EABANDONED and a publish right after works, else 13 or 14.
 */
static int run_holder(void *arg)
{
	const struct hold_job *j = arg;
	struct shmq_claim cl[64];
	uint32_t lens[64];
	struct shmq_client *c;
	struct shmq_pub *p;
	sigset_t block, old;
	unsigned n = j->batch ? j->batch : 1;
	int err;

	signal(SIGUSR1, on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (n > 64 || shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	for (uint64_t i = 0; i < j->before; i++)
		if (publish_tagged(p, j->id, i, TAG_BYTES + (uint32_t)(i % 40), FX_HANG_NS))
			return 11;
	for (unsigned i = 0; i < n; i++)
		lens[i] = TAG_BYTES + 8 * i;
	if (j->batch == 1)
		err = shmq_pub_claim(p, lens[0], &cl[0], FX_HANG_NS);
	else if (j->batch > 1)
		err = shmq_pub_claimv(p, lens, n, cl, FX_HANG_NS);
	else
		err = 0;
	if (err)
		return 12;
	for (unsigned i = 0; j->batch && i < n; i++)
		tag_write(
		    cl[i].data,
		    &(struct tag){
			.pub = j->id, .len = lens[i], .seq = j->before, .idx = i, .count = n});
	pipe_say(j->say_fd, "held");
	sigsuspend(&old);
	if (!j->batch)
		return 0;
	/* resumed: a slow writer finishing its payload, then committing */
	for (unsigned i = 0; i < n; i++)
		tag_write(
		    cl[i].data,
		    &(struct tag){
			.pub = j->id, .len = lens[i], .seq = j->before, .idx = i, .count = n});
	err = n == 1 ? shmq_pub_commit(p, &cl[0], lens[0]) : shmq_pub_commitv(p, cl, n);
	fprintf(stderr, "holder: late commit returned %s\n", shmq_errname(err));
	if (err != -SHMQ_EABANDONED)
		return 13;
	if (publish_tagged(p, j->id, j->before + 1, TAG_BYTES, FX_HANG_NS))
		return 14;
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

static pid_t start_holder(struct hold_job *j, const struct daemon *d, const char *chan, uint32_t id,
			  uint64_t before, unsigned batch, int *fds)
{
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	*j = (struct hold_job){.sock = d->sock,
			       .chan = chan,
			       .say_fd = fds[1],
			       .id = id,
			       .before = before,
			       .batch = batch};
	pid = child_start(run_holder, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(fds[0], "held"), 0);
	return pid;
}

static void close_pipe(int *fds)
{
	close(fds[0]);
	close(fds[1]);
}

static void assert_publishers(struct shmq_client *c, const char *name, uint32_t mode, uint32_t open)
{
	struct shmq_channel_info ci;

	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	assert_int_equal(ci.publishers, mode);
	assert_int_equal(ci.publishers_open, open);
}

/* Open a publisher, retrying (bounded) while shmqd still counts a dead holder. */
static struct shmq_pub *open_when_free(struct shmq_client *c, const char *name)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	struct shmq_pub *p = NULL;
	int err;

	while ((err = shmq_pub_open(c, name, NULL, &p)) == -SHMQ_EBUSY && fx_now_ns() < deadline)
		fx_nap_ms(2);
	assert_int_equal(err, 0);
	return p;
}

static void test_one_publisher_channel_refuses_a_second_until_the_first_closes(void **state)
{
	struct shmq_client *c = fx_connect(*state), *c2 = fx_connect(*state);
	struct shmq_channel_opts o = {.publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_pub *p, *q = NULL;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c, "solo", &o), 0);
	assert_publishers(c, "solo", SHMQ_PUBLISHERS_ONE, 0);
	assert_int_equal(shmq_sub_open(c, "solo", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "solo", NULL, &p), 0);
	assert_publishers(c, "solo", SHMQ_PUBLISHERS_ONE, 1);
	/* neither on the same connection nor on another */
	assert_int_equal(shmq_pub_open(c, "solo", NULL, &q), -SHMQ_EBUSY);
	assert_int_equal(shmq_pub_open(c2, "solo", NULL, &q), -SHMQ_EBUSY);
	assert_null(q);
	assert_publishers(c, "solo", SHMQ_PUBLISHERS_ONE, 1);
	assert_int_equal(publish_tagged(p, 0, 0, TAG_BYTES, 0), 0);
	shmq_pub_close(p);
	assert_publishers(c, "solo", SHMQ_PUBLISHERS_ONE, 0);
	assert_int_equal(shmq_pub_open(c2, "solo", NULL, &q), 0);
	assert_int_equal(shmq_pub_open(c, "solo", NULL, &p), -SHMQ_EBUSY);
	assert_int_equal(publish_tagged(q, 1, 0, TAG_BYTES + 5, 0), 0);
	/* the new holder goes on where the last one stopped */
	assert_int_equal(recv_tagged(s, &m).pub, 0);
	assert_int_equal(m.offset, 0);
	assert_int_equal(recv_tagged(s, &m).pub, 1);
	assert_int_equal(m.offset, 1);
	assert_int_equal(m.lost, 0);
	shmq_pub_close(q);
	shmq_sub_close(s);
	shmq_disconnect(c2);
	shmq_disconnect(c);
}

static void test_one_publisher_channel_is_freed_when_its_holder_is_killed(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {.publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct hold_job j;
	struct shmq_msg m;
	struct tag t;
	int fds[2];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "solo.kill", &o), 0);
	/* a holder that published 5 and holds only its handle */
	pid = start_holder(&j, d, "solo.kill", 7, 5, 0, fds);
	assert_publishers(c, "solo.kill", SHMQ_PUBLISHERS_ONE, 1);
	assert_int_equal(shmq_pub_open(c, "solo.kill", NULL, &p), -SHMQ_EBUSY);
	child_kill(pid);
	close_pipe(fds);
	p = open_when_free(c, "solo.kill");
	assert_publishers(c, "solo.kill", SHMQ_PUBLISHERS_ONE, 1);
	assert_int_equal(publish_tagged(p, 1, 0, TAG_BYTES, 0), 0);
	shmq_pub_close(p);
	/* a holder killed in the middle of a claim: the claim is lost, counted */
	pid = start_holder(&j, d, "solo.kill", 8, 3, 1, fds);
	assert_int_equal(shmq_pub_open(c, "solo.kill", NULL, &p), -SHMQ_EBUSY);
	child_kill(pid);
	close_pipe(fds);
	p = open_when_free(c, "solo.kill");
	assert_int_equal(publish_tagged(p, 1, 1, TAG_BYTES + 3, 0), 0);
	assert_int_equal(shmq_sub_open(c, "solo.kill", &so, &s), 0);
	for (uint64_t i = 0; i < 5; i++) {
		t = recv_tagged(s, &m);
		assert_true(t.pub == 7 && t.seq == i && m.offset == i && m.lost == 0);
	}
	t = recv_tagged(s, &m);
	assert_true(t.pub == 1 && t.seq == 0 && m.offset == 5);
	for (uint64_t i = 0; i < 3; i++) {
		t = recv_tagged(s, &m);
		assert_true(t.pub == 8 && t.seq == i && m.offset == 6 + i && m.lost == 0);
	}
	t = recv_tagged(s, &m);
	assert_int_equal(t.pub, 1);
	assert_int_equal(t.seq, 1);
	assert_int_equal(m.offset, 10);
	assert_int_equal(m.lost, 1);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_info_counts_open_publishers(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *a, *b;
	struct hold_job j;
	int fds[2];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "crowd", NULL), 0);
	assert_publishers(c, "crowd", SHMQ_PUBLISHERS_MANY, 0);
	assert_int_equal(shmq_pub_open(c, "crowd", NULL, &a), 0);
	assert_int_equal(shmq_pub_open(c, "crowd", NULL, &b), 0);
	pid = start_holder(&j, d, "crowd", 1, 0, 0, fds);
	assert_publishers(c, "crowd", SHMQ_PUBLISHERS_MANY, 3);
	shmq_pub_close(a);
	assert_publishers(c, "crowd", SHMQ_PUBLISHERS_MANY, 2);
	child_kill(pid);
	close_pipe(fds);
	{
		int64_t deadline = fx_now_ns() + FX_HANG_NS;
		struct shmq_channel_info ci;

		do {
			assert_int_equal(shmq_channel_info(c, "crowd", &ci), 0);
			if (ci.publishers_open != 1)
				fx_nap_ms(2);
		} while (ci.publishers_open != 1 && fx_now_ns() < deadline);
		assert_int_equal(ci.publishers_open, 1);
	}
	shmq_pub_close(b);
	assert_publishers(c, "crowd", SHMQ_PUBLISHERS_MANY, 0);
	shmq_disconnect(c);
}

/* ---- atomic batches ---- */

struct batch_job {
	const char *sock;
	const char *chan;
	uint32_t id;
	uint64_t batches;
	uint32_t max_len;
	int go_fd;
};

/* Child: `batches` batches of 1..64 random-size tagged messages, publishv and claimv in turns. */
static int run_batcher(void *arg)
{
	const struct batch_job *j = arg;
	uint64_t seed = 0x2545f4914f6cdd1dull + j->id;
	static uint8_t bufs[64][1024];
	struct shmq_claim cl[64];
	struct shmq_buf msgs[64];
	uint32_t lens[64];
	struct shmq_client *c;
	struct shmq_pub *p;

	if (j->max_len > sizeof(bufs[0]) || shmq_connect(j->sock, &c) ||
	    shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	if (pipe_wait_line(j->go_fd))
		return 11;
	for (uint64_t b = 0; b < j->batches; b++) {
		unsigned n = 1 + (unsigned)(rnd(&seed) % 64);
		uint64_t first = 0;
		int err;

		for (unsigned i = 0; i < n; i++) {
			lens[i] = TAG_BYTES + (uint32_t)(rnd(&seed) % (j->max_len - TAG_BYTES + 1));
			msgs[i] = (struct shmq_buf){.data = bufs[i], .len = lens[i]};
			tag_write(
			    bufs[i],
			    &(struct tag){
				.pub = j->id, .len = lens[i], .seq = b, .idx = i, .count = n});
		}
		if (b % 2) {
			err = shmq_publishv(p, msgs, n, FX_HANG_NS, &first);
		} else {
			err = shmq_pub_claimv(p, lens, n, cl, FX_HANG_NS);
			for (unsigned i = 0; !err && i < n; i++) {
				if (cl[i].offset != cl[0].offset + i || cl[i].capacity != lens[i])
					err = -SHMQ_ECORRUPT;
				else
					memcpy(cl[i].data, bufs[i], lens[i]);
			}
			if (!err)
				err = shmq_pub_commitv(p, cl, n);
		}
		if (err) {
			fprintf(stderr, "batcher %u: %s at batch %llu\n", j->id, shmq_errname(err),
				(unsigned long long)b);
			return 12;
		}
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/* What a reader knows about the batches it is in the middle of. */
struct batch_seen {
	uint64_t next_batch[2]; /* per publisher */
	uint32_t idx[2];	/* next index expected in the current batch */
	uint32_t count[2];	/* its size, 0 between batches */
	uint64_t next_offset;
	uint64_t msgs;
	int bad;
};

static int batch_note(struct batch_seen *b, const struct shmq_msg *m)
{
	struct tag t;

	if (m->lost || m->offset != b->next_offset || tag_read(m->data, m->len, &t) || t.pub > 1)
		return -1;
	if (b->count[t.pub] == 0) {
		/* a batch starts: its first message, the next batch number */
		if (t.idx != 0 || t.seq != b->next_batch[t.pub])
			return -1;
		b->count[t.pub] = t.count;
	} else if (t.seq != b->next_batch[t.pub] || t.idx != b->idx[t.pub] ||
		   t.count != b->count[t.pub]) {
		return -1;
	}
	/* the batches of one publisher are contiguous: another's never cuts in */
	if (b->count[!t.pub] && b->idx[!t.pub])
		return -1;
	b->idx[t.pub] = t.idx + 1;
	if (b->idx[t.pub] == t.count) {
		b->idx[t.pub] = 0;
		b->count[t.pub] = 0;
		b->next_batch[t.pub]++;
	}
	b->next_offset++;
	b->msgs++;
	return 0;
}

static bool batch_between(const struct batch_seen *b)
{
	return b->count[0] == 0 && b->count[1] == 0;
}

static int batch_cb(void *arg, const struct shmq_msg *m)
{
	struct batch_seen *b = arg;

	if (batch_note(b, m))
		b->bad = 1;
	return b->bad;
}

/*
 * Two publishers send batches of random size and message lengths; a reader
 * that never waits (recv and poll with timeout 0) finds nothing more to
 * read only between batches, never inside one.
 */
static void test_batches_appear_whole_to_a_concurrent_reader(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 256 << 10, .max_message_bytes = 600, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN};
	struct batch_seen seen = {0};
	struct batch_job j[2];
	uint64_t empty = 0, total = 0;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pid[2];
	int go[2], err;

	assert_int_equal(shmq_channel_create(c, "batches", &o), 0);
	assert_int_equal(shmq_sub_open(c, "batches", &so, &s), 0);
	assert_int_equal(pipe(go), 0);
	for (uint32_t i = 0; i < 2; i++) {
		j[i] = (struct batch_job){.sock = d->sock,
					  .chan = "batches",
					  .id = i,
					  .batches = 1500,
					  .max_len = 600,
					  .go_fd = go[0]};
		pid[i] = child_start(run_batcher, &j[i]);
		assert_true(pid[i] > 0);
	}
	pipe_say(go[1], "go");
	pipe_say(go[1], "go");
	for (uint64_t turn = 0; seen.next_batch[0] + seen.next_batch[1] < 3000; turn++) {
		if (turn % 2) {
			err = shmq_recv(s, &m, 0);
			if (!err && batch_note(&seen, &m))
				fail_msg("message at offset %llu breaks its batch",
					 (unsigned long long)m.offset);
		} else {
			err = shmq_poll(s, batch_cb, &seen, 1024, 0);
			assert_int_equal(seen.bad, 0);
			if (err > 0 && err < 1024 && !batch_between(&seen))
				fail_msg("poll stopped inside a batch at %llu",
					 (unsigned long long)seen.next_offset);
			err = err > 0 ? 0 : err;
		}
		if (err == -SHMQ_EAGAIN) {
			empty++;
			if (!batch_between(&seen))
				fail_msg("nothing to read inside a batch at offset %llu",
					 (unsigned long long)seen.next_offset);
			if (empty % 64 == 0)
				assert_int_equal(
				    shmq_recv(s, &m, 0) == 0 ? batch_note(&seen, &m) : 0, 0);
			continue;
		}
		assert_int_equal(err, 0);
	}
	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(child_wait(pid[i], 2 * FX_HANG_S), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	total = seen.msgs;
	print_message("%llu messages in 3000 batches; %llu looks found nothing\n",
		      (unsigned long long)total, (unsigned long long)empty);
	close(go[0]);
	close(go[1]);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_aborted_batch_is_lost_whole_and_counted(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	uint32_t lens[5] = {TAG_BYTES, TAG_BYTES + 1, TAG_BYTES + 100, TAG_BYTES, TAG_BYTES + 7};
	struct shmq_sub_stats st;
	struct shmq_claim cl[5];
	struct shmq_buf bufs[3];
	uint8_t raw[3][64];
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t first;
	struct tag t;

	assert_int_equal(shmq_channel_create(c, "abort.batch", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "abort.batch", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "abort.batch", NULL, &p), 0);
	assert_int_equal(publish_tagged(p, 0, 0, TAG_BYTES, 0), 0);
	assert_int_equal(shmq_pub_claimv(p, lens, 5, cl, 0), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(cl[i].offset, 1 + i);
		assert_int_equal(cl[i].capacity, lens[i]);
		tag_write(cl[i].data,
			  &(struct tag){.pub = 1, .len = lens[i], .idx = i, .count = 5});
	}
	assert_int_equal(shmq_pub_claim(p, 8, &cl[0], 0) == -SHMQ_ESTATE, 1);
	assert_int_equal(shmq_pub_abort(p, &cl[1]), -SHMQ_ESTATE); /* the batch's first only */
	assert_int_equal(shmq_pub_abort(p, &cl[0]), 0);
	assert_int_equal(shmq_pub_commitv(p, cl, 5), -SHMQ_ESTATE);
	/* the next batch gets the next offsets, after the 5 given up */
	for (unsigned i = 0; i < 3; i++) {
		tag_write(raw[i], &(struct tag){.pub = 2, .len = 30 + i, .idx = i, .count = 3});
		bufs[i] = (struct shmq_buf){.data = raw[i], .len = 30 + i};
	}
	assert_int_equal(shmq_publishv(p, bufs, 3, 0, &first), 0);
	assert_int_equal(first, 6);
	t = recv_tagged(s, &m);
	assert_int_equal(t.pub, 0);
	t = recv_tagged(s, &m);
	assert_int_equal(t.pub, 2);
	assert_int_equal(m.offset, 6);
	assert_int_equal(m.lost, 5);
	for (unsigned i = 1; i < 3; i++) {
		t = recv_tagged(s, &m);
		assert_true(t.pub == 2 && t.idx == i && m.offset == 6 + i && m.lost == 0);
	}
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 5);
	assert_int_equal(st.received, 4);
	/* bad batches: none, too many, more than a quarter ring */
	assert_int_equal(shmq_pub_claimv(p, lens, 0, cl, 0), -SHMQ_EINVAL);
	assert_int_equal(shmq_publishv(p, bufs, SHMQ_BATCH_MAX + 1, 0, NULL), -SHMQ_EINVAL);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_batch_larger_than_a_quarter_ring_fails_with_etoobig(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {.capacity_bytes = 1, .max_message_bytes = 64};
	static uint32_t lens[SHMQ_BATCH_MAX];
	static struct shmq_claim cl[SHMQ_BATCH_MAX];
	uint64_t quarter;
	struct shmq_pub *p;
	unsigned fit;

	assert_int_equal(shmq_channel_create(c, "quarter", &o), 0);
	quarter = fx_ring_bytes(c, "quarter") / 4;
	fit = (unsigned)(quarter / SHMQ_RECORD_BYTES(8));
	for (unsigned i = 0; i < SHMQ_BATCH_MAX; i++)
		lens[i] = 8;
	assert_int_equal(shmq_pub_open(c, "quarter", NULL, &p), 0);
	assert_int_equal(shmq_pub_claimv(p, lens, fit + 1, cl, 0), -SHMQ_ETOOBIG);
	assert_int_equal(shmq_pub_claimv(p, lens, fit, cl, 0), 0);
	assert_int_equal(shmq_pub_commitv(p, cl, fit), 0);
	lens[3] = 65;
	assert_int_equal(shmq_pub_claimv(p, lens, 4, cl, 0), -SHMQ_ETOOBIG);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

static void test_batch_of_a_publisher_killed_before_commitv_is_lost_whole(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct hold_job j;
	struct shmq_msg m;
	struct tag t;
	int fds[2];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "kill.batch", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "kill.batch", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "kill.batch", NULL, &p), 0);
	pid = start_holder(&j, d, "kill.batch", 3, 2, 7, fds);	    /* 2 sent, a batch of 7 held */
	assert_int_equal(publish_tagged(p, 0, 0, TAG_BYTES, 0), 0); /* behind the batch */
	for (uint64_t i = 0; i < 2; i++) {
		t = recv_tagged(s, &m);
		assert_true(t.pub == 3 && t.seq == i && m.offset == i);
	}
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN); /* the batch is not there yet */
	child_kill(pid);
	t = recv_tagged(s, &m);
	assert_int_equal(t.pub, 0);
	assert_int_equal(m.offset, 9);
	assert_int_equal(m.lost, 7);
	assert_int_equal(publish_tagged(p, 0, 1, TAG_BYTES, 0), 0);
	t = recv_tagged(s, &m);
	assert_true(t.pub == 0 && t.seq == 1 && m.offset == 10 && m.lost == 0);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 7);
	close_pipe(fds);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- a stopped publisher holding a claim ---- */

/* Child: publish the tagged messages first .. last-1 as publisher id (lengths vary). */
struct flow_job {
	const char *sock;
	const char *chan;
	uint32_t id;
	uint64_t first, last;
	uint32_t max_len;
};

static int run_flow(void *arg)
{
	const struct flow_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	for (uint64_t i = j->first; i < j->last; i++) {
		int err = publish_tagged(p, j->id, i,
					 TAG_BYTES + (uint32_t)(i % (j->max_len - TAG_BYTES + 1)),
					 FX_HANG_NS);

		if (err) {
			fprintf(stderr, "flow %u: %s at %llu\n", j->id, shmq_errname(err),
				(unsigned long long)i);
			return 12;
		}
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/*
 * Receive publisher id's messages first .. last-1, each intact and in
 * order, starting at offset *off, where `lost` messages (a stalled claim)
 * are given up first. On a drop channel (drop) the reader may be lapped
 * too: every seq it skips must be counted in m.lost, exactly. With timed,
 * the first message must come within stuck_ms and the margin.
 */
static void recv_flow(struct shmq_sub *s, uint32_t id, uint64_t first, uint64_t last, uint64_t lost,
		      bool drop, bool timed, uint64_t *off)
{
	int64_t t0 = fx_now_ns(), ms;
	uint64_t skipped = 0;
	struct shmq_msg m;
	uint8_t buf[4096];

	for (uint64_t i = first; i < last; i++) {
		uint64_t gap, want_lost;
		struct tag t = {0};

		/* drop: a publisher that laps us may rewrite a view while we read
		 * it (more so on a loaded machine); a checked copy counts that */
		if (drop) {
			assert_int_equal(shmq_recv_copy(s, buf, sizeof(buf), &m, FX_HANG_NS), 0);
			assert_int_equal(tag_read(m.data, m.len, &t), 0);
		} else {
			t = recv_tagged(s, &m);
		}
		gap = t.seq - i;
		want_lost = (i == first ? lost : 0) + gap;

		if (timed && i == first) {
			ms = (fx_now_ns() - t0) / 1000000;
			print_message("the reader went on after %lld ms (stuck_ms %d)\n",
				      (long long)ms, STUCK_MS);
			assert_true(ms < STUCK_MS + STUCK_MARGIN_MS);
		}
		if (t.pub != id || t.seq < i || (gap && !drop) || m.lost != want_lost ||
		    m.offset != *off + m.lost)
			fail_msg("got publisher %u seq %llu lost %llu at offset %llu, wanted %u "
				 "%llu at %llu",
				 t.pub, (unsigned long long)t.seq, (unsigned long long)m.lost,
				 (unsigned long long)m.offset, id, (unsigned long long)i,
				 (unsigned long long)*off);
		skipped += gap;
		i = t.seq;
		*off = m.offset + 1;
	}
	if (skipped)
		print_message("lapped: %llu messages lost, counted\n", (unsigned long long)skipped);
}

/*
 * A stopped publisher holds a claim: after stuck_ms the reader goes on
 * (the claim counted lost), another publisher goes on, and when that one
 * comes near a ring past the claim, shmqd kills the stopped process.
 */
static void stopped_publisher_is_killed_a_ring_later(void **state, uint32_t policy)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 1, .max_message_bytes = 100, .policy = policy};
	struct flow_job f = {.sock = d->sock, .chan = "stopped", .id = 2, .max_len = 100};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct hold_job j;
	char line[96];
	bool drop = policy == SHMQ_POLICY_DROP;
	uint64_t ring_msgs, off = 0;
	int fds[2];
	pid_t pid, flow;

	assert_int_equal(shmq_channel_create(c, "stopped", &o), 0);
	ring_msgs = fx_ring_msgs(c, "stopped", 100);
	assert_int_equal(shmq_sub_open(c, "stopped", NULL, &s), 0);
	pid = start_holder(&j, d, "stopped", 1, 3, 1, fds); /* offsets 0-2, claim at 3 */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	recv_flow(s, 1, 0, 3, 0, false, false, &off);
	/* another process publishes past the claim: many rings' worth */
	f.first = 0;
	f.last = 4 * fx_ring_msgs(c, "stopped", TAG_BYTES);
	flow = child_start(run_flow, &f);
	assert_true(flow > 0);
	recv_flow(s, 2, 0, f.last, 1, drop, true, &off);
	assert_int_equal(child_wait(flow, FX_HANG_S), 0);
	/* shmqd stopped the stalled process before the flow had to wait for it */
	assert_int_equal(child_wait(pid, FX_HANG_S), 128 + SIGKILL);
	snprintf(line, sizeof(line), "stopping stalled publisher channel=stopped pid=%d", pid);
	assert_int_equal(fx_wait_log(d, line), 0);
	/* and the channel works on */
	assert_int_equal(shmq_pub_open(c, "stopped", NULL, &p), 0);
	assert_int_equal(publish_tagged(p, 3, 0, TAG_BYTES, FX_HANG_NS), 0);
	recv_flow(s, 3, 0, 1, 0, false, false, &off);
	print_message("ring of %llu largest messages\n", (unsigned long long)ring_msgs);
	close_pipe(fds);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_stopped_publisher_on_a_drop_channel_is_killed_a_ring_later(void **state)
{
	stopped_publisher_is_killed_a_ring_later(state, SHMQ_POLICY_DROP);
}

static void test_stopped_publisher_on_a_block_channel_is_killed_a_ring_later(void **state)
{
	stopped_publisher_is_killed_a_ring_later(state, SHMQ_POLICY_BLOCK);
}

/*
 * Resumed before shmqd had to stop it, a publisher whose claim was
 * abandoned gets -SHMQ_EABANDONED from its late commit (of one message, or
 * of a batch), and whatever it wrote meanwhile corrupts no message that a
 * reader receives; it may publish again afterwards.
 */
static void resumed_publisher_late_commit_fails(void **state, unsigned batch)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {.capacity_bytes = 1, .max_message_bytes = 100};
	struct flow_job f = {.sock = d->sock, .chan = "resumed", .id = 2, .max_len = 100};
	struct shmq_channel_info ci;
	struct shmq_sub_stats st;
	struct shmq_sub *s;
	struct hold_job j;
	struct shmq_msg m;
	uint64_t mark = 0;
	struct tag t;
	int fds[2];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "resumed", &o), 0);
	assert_int_equal(shmq_sub_open(c, "resumed", NULL, &s), 0);
	pid = start_holder(&j, d, "resumed", 1, 2, batch, fds);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	recv_flow(s, 1, 0, 2, 0, false, false, &mark);
	/* half a ring of others' messages: below where shmqd would stop it */
	f.last = fx_ring_msgs(c, "resumed", 100) / 2;
	assert_int_equal(child_wait(child_start(run_flow, &f), FX_HANG_S), 0);
	recv_flow(s, 2, 0, f.last, batch, false, true, &mark);
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0); /* EABANDONED, then a publish */
	t = recv_tagged(s, &m);
	assert_int_equal(t.pub, 1);
	assert_int_equal(t.seq, 3); /* its message after the failed commit */
	assert_int_equal(m.offset, mark);
	assert_int_equal(m.lost, 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, batch);
	assert_int_equal(st.lost_overrun, 0);
	assert_int_equal(shmq_channel_info(c, "resumed", &ci), 0);
	assert_int_equal(ci.tail, mark + 1);
	close_pipe(fds);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_resumed_publisher_late_commit_fails_with_eabandoned(void **state)
{
	resumed_publisher_late_commit_fails(state, 1);
}

static void test_resumed_publisher_late_commitv_fails_with_eabandoned(void **state)
{
	resumed_publisher_late_commit_fails(state, 5);
}

/* ---- timestamps ---- */

static uint64_t stamp_of(struct shmq_client *c, const char *name, uint32_t flags)
{
	struct shmq_channel_opts o = {.flags = flags};
	struct shmq_channel_info ci;
	struct shmq_buf b[2] = {{.data = "ab", .len = 2}, {.data = "c", .len = 1}};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t ts;

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	assert_int_equal(ci.flags, flags);
	assert_int_equal(shmq_sub_open(c, name, NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), 0);
	assert_int_equal(shmq_publishv(p, b, 2, 0, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	ts = m.timestamp_ns;
	for (int i = 0; i < 2; i++) { /* the batch's messages carry a stamp alike */
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_true(flags ? m.timestamp_ns == 0 : m.timestamp_ns >= ts);
	}
	shmq_pub_close(p);
	shmq_sub_close(s);
	return ts;
}

static void test_no_timestamp_channel_stamps_zero_and_others_the_time(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	uint64_t before = realtime_ns(), ts, after;

	ts = stamp_of(c, "stamped", 0);
	after = realtime_ns();
	print_message("stamp %llu, %lld ns after the call began\n", (unsigned long long)ts,
		      (long long)(ts - before));
	assert_true(ts + 1000000000ull >= before && ts <= after + 1000000000ull);
	assert_int_equal(stamp_of(c, "unstamped", SHMQ_CHAN_NO_TIMESTAMP), 0);
	shmq_disconnect(c);
}

/* ---- starting at an offset ---- */

static void test_subscriber_at_an_offset_inside_the_retained_range_starts_there(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts o = {.capacity_bytes = 1, .max_message_bytes = 300};
	struct shmq_sub_opts so = {.start = SHMQ_START_OFFSET};
	uint64_t oldest, mid, total = 2000;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct tag t;

	assert_int_equal(shmq_channel_create(c, "middle", &o), 0);
	assert_int_equal(shmq_pub_open(c, "middle", NULL, &p), 0);
	/* lengths 24 .. 300: records of varying size, the ring wraps often */
	for (uint64_t i = 0; i < total; i++)
		assert_int_equal(publish_tagged(p, 0, i, TAG_BYTES + (uint32_t)(i * 37 % 277), 0),
				 0);
	oldest = fx_oldest(c, "middle");
	assert_true(oldest > 0 && oldest < total);
	for (int k = 0; k < 3; k++) {
		mid = k == 0 ? oldest : k == 1 ? oldest + (total - oldest) / 2 : total - 1;
		so.offset = mid;
		assert_int_equal(shmq_sub_open(c, "middle", &so, &s), 0);
		for (uint64_t i = mid; i < total; i++) {
			t = recv_tagged(s, &m);
			assert_int_equal(m.offset, i);
			assert_int_equal(t.seq, i);
			assert_int_equal(m.lost, 0);
		}
		assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
		assert_int_equal(publish_tagged(p, 0, total, TAG_BYTES, 0), 0);
		t = recv_tagged(s, &m);
		assert_int_equal(t.seq, total);
		total++;
		shmq_sub_close(s);
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
#define S(f) cmocka_unit_test_setup_teardown(f, stall_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_every_length_round_trips_through_recv_copy_and_poll),
	    T(test_block_ring_holds_capacity_over_record_bytes_messages),
	    T(test_mixed_sizes_from_several_processes_keep_each_publishers_order),
	    T(test_one_publisher_channel_refuses_a_second_until_the_first_closes),
	    T(test_one_publisher_channel_is_freed_when_its_holder_is_killed),
	    T(test_info_counts_open_publishers),
	    T(test_batches_appear_whole_to_a_concurrent_reader),
	    T(test_aborted_batch_is_lost_whole_and_counted),
	    T(test_batch_larger_than_a_quarter_ring_fails_with_etoobig),
	    T(test_batch_of_a_publisher_killed_before_commitv_is_lost_whole),
	    S(test_stopped_publisher_on_a_drop_channel_is_killed_a_ring_later),
	    S(test_stopped_publisher_on_a_block_channel_is_killed_a_ring_later),
	    S(test_resumed_publisher_late_commit_fails_with_eabandoned),
	    S(test_resumed_publisher_late_commitv_fails_with_eabandoned),
	    T(test_no_timestamp_channel_stamps_zero_and_others_the_time),
	    T(test_subscriber_at_an_offset_inside_the_retained_range_starts_there),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
