/*
 * test_groups.c - consumer groups against a real shmqd: each message to
 * exactly one live member, redelivery of what a SIGKILLed member held,
 * nack with a delay, dead messages after max_deliver, the max_pending
 * bound, groups beside each other and beside a subscriber, a block
 * publisher held by a group's floor, bad input. Members run in child
 * processes where the test is about processes; counts go through shared
 * memory (fx_shared_alloc) and are checked exactly.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "shmq.h"

#define SEC_NS 1000000000ll
#define MS_NS 1000000ll

static struct daemon *dmn(void **state)
{
	return *state;
}

static struct shmq_member *join(struct shmq_client *c, const char *chan, const char *group,
				const struct shmq_group_opts *o)
{
	struct shmq_group_opts d = {.flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_EARLIEST};
	struct shmq_member *m = NULL;

	assert_int_equal(shmq_group_open(c, chan, group, o ? o : &d, &m), 0);
	assert_non_null(m);
	return m;
}

static struct shmq_pub *pub_open(struct shmq_client *c, const char *chan)
{
	struct shmq_pub *p = NULL;

	assert_int_equal(shmq_pub_open(c, chan, NULL, &p), 0);
	return p;
}

static void publish_range(struct shmq_pub *p, uint64_t first, uint64_t last)
{
	for (uint64_t v = first; v < last; v++)
		fx_publish_u64(p, v, 10 * SEC_NS);
}

static struct shmq_group_info group_info(struct shmq_client *c, const char *chan, const char *group)
{
	struct shmq_group_info gi;

	assert_int_equal(shmq_group_info(c, chan, group, &gi, 1), 1);
	return gi;
}

/* ---- a member in a child process ---- */

struct member_job {
	const char *sock;
	const char *chan;
	const char *group;
	uint64_t n;	       /* messages 0 .. n-1 are published */
	uint32_t *acked;       /* shared: acks per message */
	uint32_t *seen;	       /* shared: deliveries per message */
	uint64_t *done;	       /* shared: messages acked by all members together */
	uint32_t hold;	       /* take this many without acking, then say "held" and wait */
	int say_fd;	       /* fx_child_ready's pipe */
	uint64_t ack_wait_ns;  /* the group's */
	uint32_t max_deliver;  /* the group's */
	uint32_t max_pending;  /* the group's */
	uint32_t wait;	       /* enum shmq_wait */
	uint32_t slow_every;   /* if > 0: sleep 1 ms every this many messages */
	uint32_t deliveries2;  /* shared counter: messages received with deliveries >= 2 */
	uint32_t *redelivered; /* shared, if not NULL: count of those */
};

static int member_open(const struct member_job *j, struct shmq_client **c, struct shmq_member **m)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE,
				    .start = SHMQ_START_EARLIEST,
				    .ack_wait_ns = j->ack_wait_ns,
				    .max_deliver = j->max_deliver,
				    .max_pending = j->max_pending,
				    .wait = j->wait};

	if (shmq_connect(j->sock, c))
		return -1;
	return shmq_group_open(*c, j->chan, j->group, &o, m) ? -1 : 0;
}

/* Has the group's floor passed every message (a killed member may not have counted its ack)? */
static bool all_acked(struct shmq_client *c, const struct member_job *j)
{
	struct shmq_group_info gi;

	return shmq_group_info(c, j->chan, j->group, &gi, 1) == 1 && gi.floor >= j->n;
}

/* Take messages and ack them until all n are acked by someone. */
static int member_run(void *arg)
{
	struct member_job *j = arg;
	struct shmq_client *c;
	struct shmq_member *m;
	struct shmq_msg msg;
	uint64_t got = 0;

	if (member_open(j, &c, &m))
		return 10;
	pipe_say(j->say_fd, "ready");
	while (__atomic_load_n(j->done, __ATOMIC_SEQ_CST) < j->n) {
		int err = shmq_group_recv(m, &msg, 50 * MS_NS);
		uint64_t v;

		if (err == -SHMQ_ETIMEDOUT && all_acked(c, j))
			break;
		if (err == -SHMQ_ETIMEDOUT)
			continue;
		if (err || msg.len != 8)
			return 11;
		memcpy(&v, msg.data, 8);
		if (v != msg.offset || v >= j->n)
			return 12;
		__atomic_add_fetch(&j->seen[v], 1, __ATOMIC_SEQ_CST);
		if (msg.deliveries >= 2 && j->redelivered)
			__atomic_add_fetch(j->redelivered, 1, __ATOMIC_SEQ_CST);
		if (j->hold && ++got <= j->hold) {
			if (got == j->hold)
				pipe_say(j->say_fd, "held");
			continue;
		}
		if (j->hold)
			pause(); /* holding: the test kills us */
		if (j->slow_every && v % j->slow_every == 0)
			fx_nap_ms(1);
		if (shmq_ack(m, msg.offset) == 0) {
			__atomic_add_fetch(&j->acked[v], 1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(j->done, 1, __ATOMIC_SEQ_CST);
		}
	}
	shmq_group_close(m);
	shmq_disconnect(c);
	return 0;
}

struct shared {
	uint32_t *acked;
	uint32_t *seen;
	uint64_t *done;
	uint32_t *redelivered;
	size_t bytes;
};

static struct shared shared_alloc(uint64_t n)
{
	struct shared s;

	s.bytes = 2 * n * sizeof(uint32_t) + 64;
	s.acked = fx_shared_alloc(s.bytes);
	assert_non_null(s.acked);
	s.seen = s.acked + n;
	s.done = (uint64_t *)(s.seen + n + (n & 1));
	s.redelivered = (uint32_t *)(s.done + 1);
	return s;
}

static void job_init(struct member_job *j, void **state, const char *chan, uint64_t n,
		     const struct shared *s)
{
	*j = (struct member_job){.sock = dmn(state)->sock,
				 .chan = chan,
				 .group = "workers",
				 .n = n,
				 .acked = s->acked,
				 .seen = s->seen,
				 .done = s->done,
				 .redelivered = s->redelivered,
				 .say_fd = -1};
}

/* Every message acked exactly once and delivered once (no redelivery without a fault). */
static void test_each_message_goes_to_exactly_one_member(void **state)
{
	enum { N = 20000, MEMBERS = 3 };
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared s = shared_alloc(N);
	struct member_job j;
	pid_t pids[MEMBERS];
	struct shmq_pub *p;

	fx_channel_create(c, "g.one", 1024, SHMQ_POLICY_BLOCK);
	job_init(&j, state, "g.one", N, &s);
	for (int i = 0; i < MEMBERS; i++)
		pids[i] = fx_child_ready(member_run, &j, &j.say_fd);
	p = pub_open(c, "g.one");
	publish_range(p, 0, N);
	for (int i = 0; i < MEMBERS; i++)
		assert_int_equal(child_wait(pids[i], 60), 0);
	for (uint64_t v = 0; v < N; v++) {
		if (s.acked[v] != 1 || s.seen[v] != 1)
			fail_msg("message %llu acked %u times, delivered %u times",
				 (unsigned long long)v, s.acked[v], s.seen[v]);
	}
	struct shmq_group_info gi = group_info(c, "g.one", "workers");
	if (gi.acked != N || gi.delivered != N || gi.redelivered)
		fail_msg("acked %llu delivered %llu redelivered %llu floor %llu dispatch %llu",
			 (unsigned long long)gi.acked, (unsigned long long)gi.delivered,
			 (unsigned long long)gi.redelivered, (unsigned long long)gi.floor,
			 (unsigned long long)gi.dispatch);
	assert_int_equal(gi.acked, N);
	assert_int_equal(gi.delivered, N);
	assert_int_equal(gi.redelivered, 0);
	assert_int_equal(gi.floor, N);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(s.acked, s.bytes);
}

/*
 * A member SIGKILLed while it holds messages: the others get each of them
 * again (deliveries 2), and in the end every message is acked, once.
 */
static void test_killed_member_messages_are_redelivered(void **state)
{
	enum { N = 2000, HOLD = 10 };
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared s = shared_alloc(N);
	struct member_job j, holder;
	struct shmq_pub *p;
	pid_t h, w;
	int fd[2];

	fx_channel_create(c, "g.kill", 4096, SHMQ_POLICY_BLOCK);
	job_init(&j, state, "g.kill", N, &s);
	holder = j;
	holder.hold = HOLD;
	assert_int_equal(pipe(fd), 0);
	holder.say_fd = fd[1];
	h = child_start(member_run, &holder);
	close(fd[1]);
	assert_int_equal(pipe_expect(fd[0], "ready"), 0);
	p = pub_open(c, "g.kill");
	publish_range(p, 0, HOLD);
	assert_int_equal(pipe_expect(fd[0], "held"), 0);
	close(fd[0]);
	child_kill(h);
	w = fx_child_ready(member_run, &j, &j.say_fd);
	publish_range(p, HOLD, N);
	assert_int_equal(child_wait(w, 60), 0);
	for (uint64_t v = 0; v < N; v++)
		if (s.acked[v] != 1)
			fail_msg("message %llu acked %u times", (unsigned long long)v, s.acked[v]);
	for (uint64_t v = 0; v < HOLD; v++)
		assert_int_equal(s.seen[v], 2);
	assert_int_equal(*s.redelivered, HOLD);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(s.acked, s.bytes);
}

/*
 * Members SIGKILLed at random moments while three others work: nothing is
 * lost (every message acked at least once; a member killed between its
 * ack and the count may make it look unacked, never lost: the group's own
 * counter says N acks and the floor passed everything).
 */
static void test_members_killed_at_random_moments_lose_nothing(void **state)
{
	enum { N = 30000, KILLS = 8 };
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared s = shared_alloc(N);
	struct member_job j;
	struct shmq_pub *p;
	pid_t keep[2], victim;
	uint64_t seed = (uint64_t)fx_now_ns();

	printf("seed %llu\n", (unsigned long long)seed);
	srand((unsigned)seed);
	fx_channel_create(c, "g.rand", 1024, SHMQ_POLICY_BLOCK);
	job_init(&j, state, "g.rand", N, &s);
	j.slow_every = 7;
	j.ack_wait_ns = 5 * SEC_NS;
	for (int i = 0; i < 2; i++)
		keep[i] = fx_child_ready(member_run, &j, &j.say_fd);
	p = pub_open(c, "g.rand");
	for (int k = 0; k < KILLS; k++) {
		victim = fx_child_ready(member_run, &j, &j.say_fd);
		publish_range(p, (uint64_t)k * N / KILLS, (uint64_t)(k + 1) * N / KILLS);
		fx_nap_ms((unsigned)(rand() % 20));
		child_kill(victim);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(child_wait(keep[i], 120), 0);
	struct shmq_group_info gi = group_info(c, "g.rand", "workers");
	assert_int_equal(gi.floor, N);
	assert_int_equal(gi.acked, N);
	assert_int_equal(gi.dead, 0);
	for (uint64_t v = 0; v < N; v++)
		assert_true(s.seen[v] >= 1);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(s.acked, s.bytes);
}

/* shmq_nack with a delay: not before the delay, then again with deliveries 2. */
static void test_nack_delays_redelivery(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;
	int64_t t0;

	fx_channel_create(c, "g.nack", 64, SHMQ_POLICY_BLOCK);
	m = join(c, "g.nack", "g", NULL);
	p = pub_open(c, "g.nack");
	publish_range(p, 0, 1);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.deliveries, 1);
	t0 = fx_now_ns();
	assert_int_equal(shmq_nack(m, msg.offset, 300 * MS_NS), 0);
	assert_int_equal(shmq_nack(m, msg.offset, 0), -SHMQ_ENOTHELD);
	assert_int_equal(shmq_group_recv(m, &msg, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_true(fx_now_ns() - t0 >= 290 * MS_NS);
	assert_int_equal(msg.offset, 0);
	assert_int_equal(msg.deliveries, 2);
	assert_int_equal(shmq_ack(m, 0), 0);
	assert_int_equal(shmq_ack(m, 0), -SHMQ_ENOTHELD);
	assert_int_equal(group_info(c, "g.nack", "g").redelivered, 1);
	shmq_group_close(m);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A member that holds a message past ack_wait loses it: another member
 * takes it (deliveries 2) and the late ack is -SHMQ_ENOTHELD; shmq_touch
 * keeps it.
 */
static void test_ack_wait_expiry_hands_the_message_to_another_member(void **state)
{
	struct shmq_group_opts o = {
	    .flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_EARLIEST, .ack_wait_ns = 300 * MS_NS};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *a, *b;
	struct shmq_pub *p;
	struct shmq_msg msg;
	int64_t t0;

	fx_channel_create(c, "g.wait", 64, SHMQ_POLICY_BLOCK);
	a = join(c, "g.wait", "g", &o);
	b = join(c, "g.wait", "g", &o);
	p = pub_open(c, "g.wait");
	publish_range(p, 0, 1);
	assert_int_equal(shmq_group_recv(a, &msg, FX_HANG_NS), 0);
	t0 = fx_now_ns();
	fx_nap_ms(200);
	assert_int_equal(shmq_touch(a, 0), 0); /* 300 ms again from here */
	assert_int_equal(shmq_group_recv(b, &msg, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_group_recv(b, &msg, FX_HANG_NS), 0);
	assert_true(fx_now_ns() - t0 >= 480 * MS_NS);
	assert_int_equal(msg.offset, 0);
	assert_int_equal(msg.deliveries, 2);
	assert_int_equal(shmq_ack(a, 0), -SHMQ_ENOTHELD);
	assert_int_equal(shmq_ack(b, 0), 0);
	shmq_group_close(a);
	shmq_group_close(b);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* After max_deliver deliveries without an ack a message is dead: counted, not seen again. */
static void test_message_dies_after_max_deliver(void **state)
{
	struct shmq_group_opts o = {
	    .flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_EARLIEST, .max_deliver = 2};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;

	fx_channel_create(c, "g.dead", 64, SHMQ_POLICY_BLOCK);
	m = join(c, "g.dead", "g", &o);
	p = pub_open(c, "g.dead");
	publish_range(p, 0, 1);
	for (unsigned d = 1; d <= 2; d++) {
		assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
		assert_int_equal(msg.offset, 0);
		assert_int_equal(msg.deliveries, d);
		assert_int_equal(shmq_nack(m, 0, 0), 0);
	}
	assert_int_equal(shmq_group_recv(m, &msg, 200 * MS_NS), -SHMQ_ETIMEDOUT); /* 0 is dead */
	publish_range(p, 1, 2);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 1);
	assert_int_equal(shmq_ack(m, 1), 0);
	assert_int_equal(shmq_group_recv(m, &msg, 200 * MS_NS), -SHMQ_ETIMEDOUT);
	struct shmq_group_info gi = group_info(c, "g.dead", "g");
	assert_int_equal(gi.dead, 1);
	assert_int_equal(gi.acked, 1);
	assert_int_equal(gi.floor, 2);
	/* term: dead at once */
	publish_range(p, 2, 3);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(shmq_term(m, msg.offset), 0);
	assert_int_equal(group_info(c, "g.dead", "g").dead, 2);
	assert_int_equal(group_info(c, "g.dead", "g").floor, 3);
	shmq_group_close(m);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* SHMQ_GROUP_NOACK: each view is acked at the member's next call, so it stays whole till then. */
static void test_noack_member_acks_at_its_next_call(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE | SHMQ_GROUP_NOACK,
				    .start = SHMQ_START_EARLIEST};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;

	fx_channel_create(c, "g.noack", 64, SHMQ_POLICY_BLOCK);
	m = join(c, "g.noack", "g", &o);
	p = pub_open(c, "g.noack");
	publish_range(p, 0, 2);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 0);
	assert_int_equal(group_info(c, "g.noack", "g").floor, 0);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 1);
	assert_int_equal(group_info(c, "g.noack", "g").floor, 1);
	shmq_group_close(m);
	assert_int_equal(group_info(c, "g.noack", "g").floor, 2);
	assert_int_equal(group_info(c, "g.noack", "g").acked, 2);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* max_pending messages out and unacked: no more until one is acked. */
static void test_max_pending_bounds_unacked_messages(void **state)
{
	struct shmq_group_opts o = {
	    .flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_EARLIEST, .max_pending = 4};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;

	fx_channel_create(c, "g.pend", 64, SHMQ_POLICY_BLOCK);
	m = join(c, "g.pend", "g", &o);
	p = pub_open(c, "g.pend");
	publish_range(p, 0, 10);
	for (uint64_t v = 0; v < 4; v++) {
		assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
		assert_int_equal(msg.offset, v);
	}
	assert_int_equal(shmq_group_recv(m, &msg, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_group_recv(m, &msg, 50 * MS_NS), -SHMQ_ETIMEDOUT);
	assert_int_equal(shmq_ack(m, 2), 0); /* not the oldest: the floor stays */
	assert_int_equal(shmq_group_recv(m, &msg, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_ack(m, 0), 0);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 4);
	shmq_group_close(m);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

static uint64_t drain_group(struct shmq_member *m, uint8_t *seen, uint64_t n)
{
	struct shmq_msg msg;
	uint64_t got = 0;

	while (got < n && shmq_group_recv(m, &msg, 2 * SEC_NS) == 0) {
		assert_true(msg.offset < n && !seen[msg.offset]);
		seen[msg.offset] = 1;
		assert_int_equal(shmq_ack(m, msg.offset), 0);
		got++;
	}
	return got;
}

/* Does a line of shmq-stat --once contain want? -1 without $SHMQ_STAT (meson sets it). */
static int stat_has(const struct daemon *d, const char *want)
{
	const char *tool = getenv("SHMQ_STAT");
	char cmd[512], line[512];
	int found = 0;
	FILE *p;

	if (!tool)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s --socket %s --once", tool, d->sock);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		found |= strstr(line, want) != NULL;
	pclose(p);
	return found;
}

/* Two groups and a plain subscriber on one channel: each gets every message. */
static void test_two_groups_and_a_subscriber_each_get_everything(void **state)
{
	enum { N = 3000 };
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_client *c = fx_connect(dmn(state));
	static uint8_t seen_a[N], seen_b[N];
	struct shmq_member *a, *b;
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg msg;

	fx_channel_create(c, "g.two", 4096, SHMQ_POLICY_BLOCK);
	a = join(c, "g.two", "a", NULL);
	b = join(c, "g.two", "b", NULL);
	assert_int_equal(shmq_sub_open(c, "g.two", &so, &s), 0);
	p = pub_open(c, "g.two");
	publish_range(p, 0, N);
	assert_int_equal(drain_group(a, seen_a, N), N);
	assert_int_equal(drain_group(b, seen_b, N), N);
	for (uint64_t v = 0; v < N; v++)
		assert_int_equal(fx_recv_u64(s, &msg), v);
	assert_int_equal(group_info(c, "g.two", "a").floor, N);
	assert_int_equal(group_info(c, "g.two", "b").floor, N);
	assert_int_not_equal(stat_has(dmn(state),
				      "GROUP g.two/a: members=1 pending=0 delivered=3000 "
				      "redelivered=0 acked=3000 dead=0 lost=0"),
			     0);
	shmq_group_close(a);
	shmq_group_close(b);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* On a block channel the group's floor holds publishers like a slow reader; acks free them. */
static void test_block_publisher_is_held_by_the_group_floor(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;
	uint64_t v = 0, ring;
	int err;

	fx_channel_create(c, "g.block", 512, SHMQ_POLICY_BLOCK);
	ring = fx_ring_msgs(c, "g.block", 8);
	m = join(c, "g.block", "g", NULL);
	p = pub_open(c, "g.block");
	while ((err = shmq_publish(p, &v, 8, 0, NULL)) == 0)
		v++;
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(v >= ring - 1 && v <= ring + 1);
	/* taken but not acked: still held */
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(shmq_publish(p, &v, 8, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(shmq_ack(m, msg.offset), 0);
	assert_int_equal(shmq_publish(p, &v, 8, FX_HANG_NS, NULL), 0);
	shmq_group_close(m);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * One held message keeps the floor while another member acks the rest of
 * the ring; its ack moves the floor past all of them, so block publishers
 * have the whole ring again without any further ack.
 */
static void test_one_ack_releases_every_acked_message_behind_it(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *a, *b;
	struct shmq_pub *p;
	struct shmq_msg msg;
	uint64_t v = 0, ring;

	fx_channel_create(c, "g.lag", 512, SHMQ_POLICY_BLOCK);
	a = join(c, "g.lag", "g", NULL);
	b = join(c, "g.lag", "g", NULL);
	p = pub_open(c, "g.lag");
	while (shmq_publish(p, &v, 8, 0, NULL) == 0)
		v++;
	ring = v;
	assert_int_equal(shmq_group_recv(a, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 0);
	for (uint64_t i = 1; i < ring; i++) {
		assert_int_equal(shmq_group_recv(b, &msg, FX_HANG_NS), 0);
		assert_int_equal(shmq_ack(b, msg.offset), 0);
	}
	assert_int_equal(shmq_publish(p, &v, 8, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(shmq_ack(a, 0), 0);
	assert_int_equal(group_info(c, "g.lag", "g").floor, ring);
	for (uint64_t i = 0; i + 1 < ring; i++, v++)
		assert_int_equal(shmq_publish(p, &v, 8, 0, NULL), 0);
	shmq_group_close(a);
	shmq_group_close(b);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Bad input: each its own code, nothing joined. */
static void test_bad_group_input_gets_distinct_errors(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m = NULL, *ms[33];
	char name[80];

	fx_channel_create(c, "g.bad", 64, SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_group_open(c, "g.bad", "nope", NULL, &m), -SHMQ_ENOENT);
	assert_int_equal(shmq_group_open(c, "g.none", "g", &o, &m), -SHMQ_ENOENT);
	assert_int_equal(shmq_group_open(c, "g.bad", "", &o, &m), -SHMQ_ENAME);
	assert_int_equal(shmq_group_open(c, "g.bad", "a b", &o, &m), -SHMQ_ENAME);
	memset(name, 'x', 64);
	name[64] = 0;
	assert_int_equal(shmq_group_open(c, "g.bad", name, &o, &m), -SHMQ_ENAME);
	o.max_pending = 3;
	assert_int_equal(shmq_group_open(c, "g.bad", "g", &o, &m), -SHMQ_EINVAL);
	o.max_pending = 1u << 21;
	assert_int_equal(shmq_group_open(c, "g.bad", "g", &o, &m), -SHMQ_EINVAL);
	o.max_pending = 0;
	assert_int_equal(shmq_group_open(c, "g.bad", "g", &o, NULL), -SHMQ_EINVAL);
	assert_null(m);
	ms[0] = join(c, "g.bad", "g", &o);
	o.max_deliver = 9;
	assert_int_equal(shmq_group_open(c, "g.bad", "g", &o, &m), -SHMQ_EMISMATCH);
	o.max_deliver = 0;
	assert_int_equal(shmq_ack(ms[0], 0), -SHMQ_ENOTHELD);
	assert_int_equal(shmq_nack(ms[0], 0, -1), -SHMQ_EINVAL);
	for (int i = 1; i < 32; i++)
		ms[i] = join(c, "g.bad", "g", &o);
	assert_int_equal(shmq_group_open(c, "g.bad", "g", &o, &m), -SHMQ_ELIMIT);
	assert_int_equal(shmq_group_delete(c, "g.bad", "g"), -SHMQ_EBUSY);
	for (int i = 0; i < 32; i++)
		shmq_group_close(ms[i]);
	for (int i = 0; i < 15; i++) { /* with "g": 16 groups */
		snprintf(name, sizeof(name), "g%d", i);
		ms[i] = join(c, "g.bad", name, &o);
	}
	assert_int_equal(shmq_group_open(c, "g.bad", "g15", &o, &m), -SHMQ_ELIMIT);
	for (int i = 0; i < 15; i++)
		shmq_group_close(ms[i]);
	assert_int_equal(shmq_group_info(c, "g.bad", NULL, NULL, 0), 16);
	assert_int_equal(shmq_group_delete(c, "g.bad", "g"), 0);
	assert_int_equal(shmq_group_delete(c, "g.bad", "g"), -SHMQ_ENOENT);
	assert_int_equal(shmq_group_info(c, "g.bad", NULL, NULL, 0), 15);
	shmq_disconnect(c);
}

/* ---- shmq sub --group ---- */

static char *numbers(uint64_t first, uint64_t last)
{
	char *s = calloc(1, (size_t)(last - first) * 24 + 1), *p = s;

	assert_non_null(s);
	for (uint64_t v = first; v < last; v++)
		p += sprintf(p, "%llu\n", (unsigned long long)v);
	return s;
}

/* Members of one group share the messages; another group gets them all again. */
static void test_cli_sub_group_shares_the_messages(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct tool_result r;
	struct shmq_pub *p;
	char buf[24], *want;

	setenv("SHMQ_SOCKET", dmn(state)->sock, 1);
	fx_channel_create(c, "g.cli", 256, SHMQ_POLICY_BLOCK);
	/* made before the other drains it: a new group of a block channel
	 * starts no lower than the slowest reader (group "w" at the end) */
	shmq_group_close(join(c, "g.cli", "other", NULL));
	p = pub_open(c, "g.cli");
	for (uint64_t v = 0; v < 100; v++) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
		assert_int_equal(shmq_publish(p, buf, strlen(buf), FX_HANG_NS, NULL), 0);
	}
	tool_run(&r, NULL, TOOL_ARGS("sub", "g.cli", "--group", "w", "-n", "10"));
	want = numbers(0, 10);
	if (r.status)
		fail_msg("shmq sub --group: %d: %s", r.status, r.err);
	assert_string_equal(r.out, want);
	free(want);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("sub", "g.cli", "--group", "w", "-e"));
	want = numbers(10, 100);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, want);
	free(want);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("sub", "g.cli", "--group", "other", "--ack", "none", "-e"));
	want = numbers(0, 100);
	if (r.status)
		fail_msg("%d: %s", r.status, r.err);
	assert_string_equal(r.out, want);
	free(want);
	tool_result_free(&r);
	assert_int_equal(group_info(c, "g.cli", "w").acked, 100);
	assert_int_equal(group_info(c, "g.cli", "other").floor, 100);
	tool_run(&r, NULL, TOOL_ARGS("groups", "g.cli"));
	assert_int_equal(r.status, 0);
	assert_non_null(
	    strstr(r.out, "\nother                      0          100          100         0  "
			  "        100            0         0         0\n"));
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("group", "rm", "g.cli", "other"));
	assert_int_equal(r.status, 0);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("group", "rm", "g.cli", "other"));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no such group (SHMQ_ENOENT)"));
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("group", "drop", "g.cli", "w"));
	assert_int_equal(r.status, 2);
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("sub", "g.cli", "--group", "w", "--ack", "later"));
	assert_int_equal(r.status, 2);
	tool_result_free(&r);
	unsetenv("SHMQ_SOCKET");
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- a hostile member (uid nobody) ---- */

#define CONF_NOBODY_SUBSCRIBES                                                                     \
	"[channel h.drop]\ncapacity = 256K\nmax_message = 64\npolicy = drop\nsubscribe = 65534\n"  \
	"[channel h.block]\ncapacity = 32K\nmax_message = 64\npolicy = block\n"                    \
	"subscribe = 65534\n"

struct hostile_job {
	const char *sock;
	const char *chan;
	int say_fd;
	uint64_t seed;
};

/* Fill every writable mapping of our group (its segment, its reader entry) with random bytes. */
static unsigned scribble(const char *chan, uint64_t *x)
{
	char line[512], seg[128], ent[128];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	snprintf(seg, sizeof(seg), "shmq.%s.g", chan);
	snprintf(ent, sizeof(ent), "shmq.%s.r", chan);
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[1] != 'w' ||
		    (!strstr(line, seg) && !strstr(line, ent)))
			continue;
		for (uint64_t *p = (uint64_t *)lo; p < (uint64_t *)hi; p++) {
			*x ^= *x << 13;
			*x ^= *x >> 7;
			*x ^= *x << 17;
			*p = *x;
		}
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

/* Child: become nobody, join group "victim", scribble on it while using it. */
static int run_hostile(void *arg)
{
	const struct hostile_job *j = arg;
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE};
	uint64_t x = j->seed | 1;
	struct shmq_client *c;
	struct shmq_member *m;
	struct shmq_msg msg;
	unsigned maps = 0;

	if (fx_become_nobody())
		return 77;
	if (shmq_connect(j->sock, &c) || shmq_group_open(c, j->chan, "victim", &o, &m))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (int64_t end = fx_now_ns() + 300 * MS_NS; fx_now_ns() < end;) {
		maps += scribble(j->chan, &x);
		for (int i = 0; i < 16; i++) /* our own library on garbage: errors, no crash */
			if (shmq_group_recv(m, &msg, 0) == 0)
				shmq_ack(m, msg.offset);
	}
	shmq_group_close(m);
	shmq_disconnect(c);
	return maps ? 0 : 11;
}

/*
 * A member of another uid writes random bytes over its group's segment and
 * reader entry: another group and a subscriber of the channel still get
 * every message once, and shmqd still serves. On a block channel its
 * floor can hold publishers back, as a slow reader's can, until an
 * administrator deletes the group.
 */
static void test_hostile_member_harms_only_its_group(void **state)
{
	enum { N = 2000 };
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct hostile_job j = {.sock = dmn(state)->sock, .chan = "h.drop", .seed = 0x9e3779b9};
	struct shmq_client *c = fx_connect(dmn(state));
	static uint8_t seen[N];
	struct shmq_member *other;
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg msg;
	pid_t pid;

	if (geteuid() != 0)
		skip(); /* a second uid needs root */
	pid = fx_child_ready(run_hostile, &j, &j.say_fd);
	other = join(c, "h.drop", "other", NULL);
	assert_int_equal(shmq_sub_open(c, "h.drop", &so, &s), 0);
	p = pub_open(c, "h.drop");
	publish_range(p, 0, N);
	assert_int_equal(drain_group(other, seen, N), N);
	for (uint64_t v = 0; v < N; v++)
		assert_int_equal(fx_recv_u64(s, &msg), v);
	assert_int_equal(child_wait(pid, 30), 0);
	assert_int_equal(group_info(c, "h.drop", "other").acked, N);
	fx_assert_daemon_serves(dmn(state));

	/* block: the scribbled floor holds publishers; deleting the group frees them */
	j.chan = "h.block";
	pid = fx_child_ready(run_hostile, &j, &j.say_fd);
	assert_int_equal(child_wait(pid, 30), 0);
	shmq_pub_close(p);
	p = pub_open(c, "h.block");
	assert_int_equal(shmq_group_delete(c, "h.block", "victim"), 0);
	publish_range(p, 0, 4 * fx_ring_msgs(c, "h.block", 8));
	fx_assert_daemon_serves(dmn(state));
	shmq_group_close(other);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- across a daemon restart: SIGKILL and restart, or shmqd --replace ---- */

/* Wait (bounded) for cond; false on timeout. */
#define WAIT_FOR(cond)                                                                             \
	({                                                                                         \
		int64_t dl_ = fx_now_ns() + FX_HANG_NS;                                            \
		while (!(cond) && fx_now_ns() < dl_)                                               \
			fx_nap_ms(1);                                                              \
		(cond);                                                                            \
	})

static pid_t spare_pid; /* a replacing daemon, until it becomes d->pid */

static int replace_teardown(void **state)
{
	struct daemon *d = *state;

	if (spare_pid > 0 && spare_pid != d->pid) {
		kill(spare_pid, SIGKILL);
		waitpid(spare_pid, NULL, 0);
	}
	spare_pid = 0;
	return daemon_teardown(state);
}

/* Has pid exited (*done latches it: waitpid() answers once)? */
static bool reaped(pid_t pid, int *st, bool *done)
{
	return *done || (*done = waitpid(pid, st, WNOHANG) == pid);
}

/* SIGKILL shmqd and start another, or replace it (shmqd --replace); wait until it adopted chan. */
static void daemon_bounce(struct daemon *d, bool replace, const char *chan)
{
	char want[128];
	pid_t old = d->pid;
	bool done = false;
	int st = -1;

	snprintf(want, sizeof(want), "adopted channel=%s handles=", chan);
	if (!replace) {
		daemon_kill(d);
		assert_int_equal(daemon_restart(d), 0);
	} else {
		spare_pid = daemon_spawn_replace(d);
		assert_true(spare_pid > 0);
		assert_true(WAIT_FOR(reaped(old, &st, &done)));
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		d->pid = spare_pid;
	}
	assert_int_equal(fx_wait_log(d, want), 0);
}

/* The daemon answers this client again (its handles resumed on the way). */
static bool daemon_back(struct shmq_client *c, const char *chan)
{
	struct shmq_channel_info ci;

	return shmq_channel_info(c, chan, &ci) == 0;
}

/*
 * A member in the test's process holds a full block channel; the daemon
 * restarts: the floor still holds the publisher, the member (resumed) acks
 * and frees it, receives what comes next, and leaves so that the group
 * can be deleted (an unresumed member would keep it busy).
 */
static void group_floor_across(void **state, bool replace)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	const char *chan = replace ? "g.rp.floor" : "g.rs.floor";
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_msg msg;
	uint64_t v = 0, got;
	int err;

	fx_channel_create(c, chan, 512, SHMQ_POLICY_BLOCK);
	m = join(c, chan, "g", NULL);
	p = pub_open(c, chan);
	while ((err = shmq_publish(p, &v, 8, 0, NULL)) == 0)
		v++;
	assert_int_equal(err, -SHMQ_EFULL);
	daemon_bounce(d, replace, chan);
	assert_true(WAIT_FOR(daemon_back(c, chan)));
	assert_int_equal(shmq_publish(p, &v, 8, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	memcpy(&got, msg.data, 8);
	assert_int_equal(got, 0);
	assert_int_equal(shmq_publish(p, &v, 8, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(shmq_ack(m, msg.offset), 0);
	assert_int_equal(shmq_publish(p, &v, 8, FX_HANG_NS, NULL), 0);
	assert_int_equal(group_info(c, chan, "g").members, 1);
	shmq_group_close(m);
	assert_int_equal(group_info(c, chan, "g").members, 0);
	assert_int_equal(shmq_group_delete(c, chan, "g"), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

static void test_group_floor_holds_across_restart(void **state)
{
	group_floor_across(state, false);
}

static void test_group_floor_holds_across_replace(void **state)
{
	group_floor_across(state, true);
}

/* Take hold messages, say "held" and wait to be killed (no control call meanwhile). */
static int member_hold(void *arg)
{
	struct member_job *j = arg;
	struct shmq_client *c;
	struct shmq_member *m;
	struct shmq_msg msg;

	if (member_open(j, &c, &m))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (uint32_t i = 0; i < j->hold; i++) {
		if (shmq_group_recv(m, &msg, FX_HANG_NS))
			return 11;
		__atomic_add_fetch(&j->seen[msg.offset], 1, __ATOMIC_SEQ_CST);
	}
	pipe_say(j->say_fd, "held");
	for (;;)
		pause();
}

static int log_count(const struct daemon *d, const char *text)
{
	char line[512];
	FILE *f = fopen(d->log, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return n;
}

/*
 * A member holding HOLD messages and a working member in child processes;
 * the daemon restarts. The floor still holds the block publisher; the
 * holder is SIGKILLed after the restart (it never spoke to the new
 * daemon): its messages reach the worker again (deliveries 2), everything
 * is acked once, and the worker, resumed, was not taken for dead.
 */
static void group_members_across(void **state, bool replace)
{
	enum { HOLD = 10 };
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	const char *chan = replace ? "g.rp.members" : "g.rs.members";
	struct member_job j, holder;
	struct shmq_pub *p;
	struct shared s;
	uint64_t ring, v, N;
	pid_t h, w;
	int err, fd[2];

	fx_channel_create(c, chan, 4096, SHMQ_POLICY_BLOCK);
	ring = fx_ring_msgs(c, chan, 8);
	assert_true(ring > 4 * HOLD);
	N = 4 * ring;
	s = shared_alloc(N);
	job_init(&j, state, chan, N, &s);
	holder = j;
	holder.hold = HOLD;
	assert_int_equal(pipe(fd), 0);
	holder.say_fd = fd[1];
	h = child_start(member_hold, &holder);
	close(fd[1]);
	assert_int_equal(pipe_expect(fd[0], "ready"), 0);
	p = pub_open(c, chan);
	publish_range(p, 0, HOLD);
	assert_int_equal(pipe_expect(fd[0], "held"), 0);
	close(fd[0]);
	w = fx_child_ready(member_run, &j, &j.say_fd);
	publish_range(p, HOLD, ring / 2);
	assert_true(WAIT_FOR(__atomic_load_n(s.done, __ATOMIC_SEQ_CST) == ring / 2 - HOLD));
	daemon_bounce(d, replace, chan);
	/* the holder's messages keep the floor: the publisher fills the ring and waits */
	for (v = ring / 2; (err = shmq_publish(p, &v, 8, 0, NULL)) == 0; v++)
		;
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(v <= ring + 1);
	/* the worker, idle now, resumes its membership (it asks every 100 ms) */
	assert_true(WAIT_FOR(__atomic_load_n(s.done, __ATOMIC_SEQ_CST) == v - HOLD));
	fx_nap_ms(500);
	child_kill(h);
	publish_range(p, v, N);
	assert_int_equal(child_wait(w, 60), 0);
	for (v = 0; v < N; v++)
		if (s.acked[v] != 1)
			fail_msg("message %llu acked %u times", (unsigned long long)v, s.acked[v]);
	for (v = 0; v < HOLD; v++)
		assert_int_equal(s.seen[v], 2);
	assert_int_equal(*s.redelivered, HOLD);
	assert_true(WAIT_FOR(group_info(c, chan, "workers").members == 0));
	assert_int_equal(group_info(c, chan, "workers").floor, N);
	/* only the holder was freed unresumed: the worker resumed its membership */
	if (log_count(d, "freed unresumed member") != 1)
		daemon_print_log(d);
	assert_int_equal(log_count(d, "freed unresumed member"), 1);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(s.acked, s.bytes);
}

static void test_group_members_across_restart(void **state)
{
	group_members_across(state, false);
}

static void test_group_members_across_replace(void **state)
{
	group_members_across(state, true);
}

/*
 * max_pending 1 and two members: nearly every take finds the group full
 * and waits for the other's ack. A message taken by the look a waiting
 * member makes before it sleeps is handed out, never left held (it would
 * come back only after the 30 s ack_wait, as a redelivery).
 */
static void test_full_group_hands_out_what_its_last_look_took(void **state)
{
	enum { N = 4000, MEMBERS = 2 };
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared s = shared_alloc(N);
	struct member_job j;
	pid_t pids[MEMBERS];
	struct shmq_pub *p;

	fx_channel_create(c, "g.full1", 4096, SHMQ_POLICY_BLOCK);
	job_init(&j, state, "g.full1", N, &s);
	j.max_pending = 1;
	j.wait = SHMQ_WAIT_SLEEP; /* no spinning: a full group is waited for at once */
	for (int i = 0; i < MEMBERS; i++)
		pids[i] = fx_child_ready(member_run, &j, &j.say_fd);
	p = pub_open(c, "g.full1");
	publish_range(p, 0, N);
	for (int i = 0; i < MEMBERS; i++)
		assert_int_equal(child_wait(pids[i], 60), 0);
	struct shmq_group_info gi = group_info(c, "g.full1", "workers");
	assert_int_equal(gi.acked, N);
	assert_int_equal(gi.redelivered, 0);
	assert_int_equal(gi.floor, N);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(s.acked, s.bytes);
}

/* ---- dead letters (SHMQ_GROUP_DLQ) ---- */

/* Header name of msg is want. */
static void assert_header(const struct shmq_msg *msg, const char *name, const char *want)
{
	struct shmq_header h;

	assert_int_equal(shmq_msg_header_find(msg, name, &h), 0);
	if (h.value_len != strlen(want) || memcmp(h.value, want, h.value_len))
		fail_msg("header %s is \"%.*s\", not \"%s\"", name, (int)h.value_len,
			 (const char *)h.value, want);
}

/* The dead-letter copy of message value v: payload and headers. */
static void assert_dead_letter(struct shmq_sub *s, uint64_t v, const char *deliveries,
			       const char *reason)
{
	struct shmq_msg msg;
	char off[24];
	uint64_t got;

	assert_int_equal(shmq_recv(s, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.len, 8);
	memcpy(&got, msg.data, 8);
	assert_int_equal(got, v);
	snprintf(off, sizeof(off), "%llu", (unsigned long long)v);
	assert_header(&msg, "shmq-reason", reason);
	assert_header(&msg, "shmq-group", "w");
	assert_header(&msg, "shmq-deliveries", deliveries);
	assert_header(&msg, "shmq-offset", off);
}

static struct shmq_sub *dlq_sub(struct shmq_client *c, const char *name)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s = NULL;

	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	return s;
}

/*
 * max_deliver 2 with SHMQ_GROUP_DLQ: a message nacked twice goes to
 * <channel>.dlq (made by shmqd at the group's creation) with headers
 * naming the group, the offset and the deliveries; it counts dead, the
 * floor passes it, and no member gets it a third time.
 */
static void test_dead_letters_go_to_the_dlq_with_headers(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE | SHMQ_GROUP_DLQ,
				    .start = SHMQ_START_EARLIEST,
				    .max_deliver = 2};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg msg;
	unsigned nacks = 0, acks = 0;
	int err;

	fx_channel_create(c, "g.dl", 4096, SHMQ_POLICY_BLOCK);
	m = join(c, "g.dl", "w", &o);
	s = dlq_sub(c, "g.dl.dlq");
	p = pub_open(c, "g.dl");
	publish_range(p, 0, 2);
	while ((err = shmq_group_recv(m, &msg, 300 * MS_NS)) == 0) {
		if (msg.offset == 0) {
			assert_int_equal(msg.deliveries, ++nacks);
			assert_int_equal(shmq_nack(m, 0, 0), 0);
		} else {
			assert_int_equal(shmq_ack(m, msg.offset), 0);
			acks++;
		}
	}
	assert_int_equal(err, -SHMQ_ETIMEDOUT);
	assert_int_equal(nacks, 2);
	assert_int_equal(acks, 1);
	assert_dead_letter(s, 0, "2", "max_deliver");
	assert_int_equal(shmq_recv(s, &msg, 0), -SHMQ_EAGAIN);
	struct shmq_group_info gi = group_info(c, "g.dl", "w");
	assert_int_equal(gi.dead, 1);
	assert_int_equal(gi.floor, 2);
	/* a group made without dead letters does not take them on at a join */
	struct shmq_member *plain = join(c, "g.dl", "plain", NULL), *bad = NULL;
	assert_int_equal(shmq_group_open(c, "g.dl", "plain", &o, &bad), -SHMQ_EMISMATCH);
	assert_null(bad);
	shmq_group_close(plain);
	shmq_group_close(m);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * max_deliver 1: a member SIGKILLed holding a message has used its one
 * delivery; the member that finds it copies it to the dead-letter channel
 * instead of taking it.
 */
static void test_dead_letter_of_a_killed_member(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE | SHMQ_GROUP_DLQ,
				    .start = SHMQ_START_EARLIEST,
				    .max_deliver = 1};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared sh = shared_alloc(4);
	struct member_job holder;
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg msg;
	int fd[2];
	pid_t h;

	fx_channel_create(c, "g.dlk", 4096, SHMQ_POLICY_BLOCK);
	m = join(c, "g.dlk", "w", &o);
	s = dlq_sub(c, "g.dlk.dlq");
	job_init(&holder, state, "g.dlk", 4, &sh);
	holder.group = "w";
	holder.hold = 1;
	assert_int_equal(pipe(fd), 0);
	holder.say_fd = fd[1];
	h = child_start(member_hold, &holder);
	close(fd[1]);
	assert_int_equal(pipe_expect(fd[0], "ready"), 0);
	p = pub_open(c, "g.dlk");
	publish_range(p, 0, 1);
	assert_int_equal(pipe_expect(fd[0], "held"), 0);
	close(fd[0]);
	child_kill(h);
	publish_range(p, 1, 2);
	assert_int_equal(shmq_group_recv(m, &msg, FX_HANG_NS), 0);
	assert_int_equal(msg.offset, 1);
	assert_int_equal(shmq_ack(m, 1), 0);
	assert_int_equal(shmq_group_recv(m, &msg, 300 * MS_NS), -SHMQ_ETIMEDOUT);
	assert_dead_letter(s, 0, "1", "max_deliver");
	assert_true(WAIT_FOR(group_info(c, "g.dlk", "w").floor == 2));
	assert_int_equal(group_info(c, "g.dlk", "w").dead, 1);
	shmq_group_close(m);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(sh.acked, sh.bytes);
}

/*
 * shmq_term() with dead letters: the message is copied (reason "term")
 * whether it is the one just received or an older one still held; a term
 * of an offset not held copies nothing and answers -SHMQ_ENOTHELD.
 */
static void test_term_copies_to_the_dlq(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE | SHMQ_GROUP_DLQ,
				    .start = SHMQ_START_EARLIEST};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_member *m;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg a, b;

	fx_channel_create(c, "g.term", 4096, SHMQ_POLICY_BLOCK);
	m = join(c, "g.term", "w", &o);
	s = dlq_sub(c, "g.term.dlq");
	p = pub_open(c, "g.term");
	publish_range(p, 0, 3);
	assert_int_equal(shmq_group_recv(m, &a, FX_HANG_NS), 0);
	assert_int_equal(shmq_group_recv(m, &b, FX_HANG_NS), 0);
	assert_int_equal(a.offset, 0);
	assert_int_equal(b.offset, 1);
	assert_int_equal(shmq_term(m, 1), 0);
	assert_dead_letter(s, 1, "1", "term");
	assert_int_equal(shmq_term(m, 0), 0);
	assert_dead_letter(s, 0, "1", "term");
	assert_int_equal(shmq_term(m, 0), -SHMQ_ENOTHELD);
	assert_int_equal(shmq_term(m, 2), -SHMQ_ENOTHELD);
	assert_int_equal(shmq_recv(s, &a, 0), -SHMQ_EAGAIN);
	assert_int_equal(group_info(c, "g.term", "w").dead, 2);
	shmq_group_close(m);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Take from the group until told to stop (killed): the dead letters it finds it copies. */
static int member_spin(void *arg)
{
	struct member_job *j = arg;
	struct shmq_client *c;
	struct shmq_member *m;
	struct shmq_msg msg;

	if (member_open(j, &c, &m))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (;;)
		if (shmq_group_recv(m, &msg, 10 * MS_NS) == 0)
			shmq_ack(m, msg.offset);
}

/*
 * A dead-letter channel made beforehand as a full block channel: a dead
 * letter waits for room instead of being lost, through the SIGKILL of a
 * member that was copying it (it retries every 10 ms), and is copied,
 * once there is room, by the member left.
 */
static void test_dead_letter_waits_for_room_across_a_killed_member(void **state)
{
	struct shmq_group_opts o = {.flags = SHMQ_GROUP_CREATE | SHMQ_GROUP_DLQ,
				    .start = SHMQ_START_EARLIEST,
				    .max_deliver = 1};
	struct shmq_client *c = fx_connect(dmn(state));
	struct shared sh = shared_alloc(4);
	struct member_job holder, spinner;
	struct shmq_member *m;
	struct shmq_pub *p, *fill;
	struct shmq_sub *s;
	struct shmq_msg msg;
	uint64_t v = 1000, got;
	int fd[2], err;
	pid_t h, k;

	fx_channel_create(c, "g.dlf", 4096, SHMQ_POLICY_BLOCK);
	fx_channel_create(c, "g.dlf.dlq", 512, SHMQ_POLICY_BLOCK);
	s = dlq_sub(c, "g.dlf.dlq");
	fill = pub_open(c, "g.dlf.dlq");
	while ((err = shmq_publish(fill, &v, 8, 0, NULL)) == 0)
		v++;
	assert_int_equal(err, -SHMQ_EFULL);
	m = join(c, "g.dlf", "w", &o);
	job_init(&holder, state, "g.dlf", 4, &sh);
	holder.group = "w";
	holder.hold = 1;
	spinner = holder;
	assert_int_equal(pipe(fd), 0);
	holder.say_fd = fd[1];
	h = child_start(member_hold, &holder);
	close(fd[1]);
	assert_int_equal(pipe_expect(fd[0], "ready"), 0);
	p = pub_open(c, "g.dlf");
	publish_range(p, 0, 1);
	assert_int_equal(pipe_expect(fd[0], "held"), 0);
	close(fd[0]);
	child_kill(h);
	/* the message is a dead letter now: a member tries to copy it, and is killed */
	k = fx_child_ready(member_spin, &spinner, &spinner.say_fd);
	fx_nap_ms(200);
	child_kill(k);
	err = shmq_group_recv(m, &msg, 100 * MS_NS);
	if (err == 0)
		fail_msg("got offset %llu deliveries %u", (unsigned long long)msg.offset,
			 msg.deliveries);
	assert_int_equal(err, -SHMQ_ETIMEDOUT);
	assert_int_equal(group_info(c, "g.dlf", "w").dead, 0);
	for (uint64_t f = 1000; f < v; f++) {
		assert_int_equal(shmq_recv(s, &msg, FX_HANG_NS), 0);
		memcpy(&got, msg.data, 8);
		assert_int_equal(got, f);
	}
	assert_int_equal(shmq_group_recv(m, &msg, 100 * MS_NS), -SHMQ_ETIMEDOUT);
	assert_dead_letter(s, 0, "1", "max_deliver");
	assert_true(WAIT_FOR(group_info(c, "g.dlf", "w").floor == 1));
	assert_int_equal(group_info(c, "g.dlf", "w").dead, 1);
	shmq_group_close(m);
	shmq_sub_close(s);
	shmq_pub_close(fill);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_shared_free(sh.acked, sh.bytes);
}

/*
 * Idle members asleep: a message wakes one or two of them (the one that
 * watches the channel, and the next to watch), not every member. Counted
 * by the voluntary context switches of eight member threads: over a
 * stretch of messages 10 ms apart against a stretch of the same length
 * with none (the members' own 10 ms looks), the extra switches per
 * message stay below four; with every member woken they are eight or
 * more. Generous for a loaded machine: a member that misses the message
 * only adds to the count.
 */
enum { IDLE_MEMBERS = 8, IDLE_MSGS = 60 };

struct idle_member {
	struct shmq_member *m;
	pid_t tid;
	_Atomic int *stop;
	_Atomic unsigned got;
};

static void *idle_member_run(void *arg)
{
	struct idle_member *im = arg;
	struct shmq_msg msg;

	im->tid = gettid();
	while (!atomic_load(im->stop)) {
		int r = shmq_group_recv(im->m, &msg, 50 * MS_NS);
		if (r == 0) {
			assert_int_equal(shmq_ack(im->m, msg.offset), 0);
			atomic_fetch_add(&im->got, 1);
		} else if (r != -SHMQ_ETIMEDOUT) {
			fail_msg("recv: %s", shmq_strerror(r));
		}
	}
	return NULL;
}

static unsigned long switches(pid_t tid)
{
	char path[64], line[128];
	unsigned long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "voluntary_ctxt_switches: %lu", &n);
	fclose(f);
	return n;
}

static unsigned long all_switches(const struct idle_member *im)
{
	unsigned long n = 0;

	for (int i = 0; i < IDLE_MEMBERS; i++)
		n += switches(im[i].tid);
	return n;
}

/* Switches of all members over IDLE_MSGS stretches of 10 ms, a message at each start if pub. */
static unsigned long stretch(const struct idle_member *im, struct shmq_pub *pub, uint64_t *v)
{
	unsigned long before = all_switches(im);

	for (int i = 0; i < IDLE_MSGS; i++) {
		if (pub)
			fx_publish_u64(pub, (*v)++, 10 * SEC_NS);
		usleep(10000);
	}
	return all_switches(im) - before;
}

static void test_a_message_wakes_one_idle_member_not_all(void **state)
{
	struct shmq_client *c = fx_connect(dmn(state));
	struct shmq_group_opts o = {
	    .flags = SHMQ_GROUP_CREATE, .start = SHMQ_START_EARLIEST, .wait = SHMQ_WAIT_SLEEP};
	struct idle_member im[IDLE_MEMBERS] = {0};
	pthread_t th[IDLE_MEMBERS];
	_Atomic int stop = 0;
	unsigned long quiet, busy;
	unsigned got = 0;
	uint64_t v = 0;
	struct shmq_pub *p;

	fx_channel_create(c, "g.idle", 1024, SHMQ_POLICY_BLOCK);
	for (int i = 0; i < IDLE_MEMBERS; i++) {
		im[i].m = join(c, "g.idle", "workers", &o);
		im[i].stop = &stop;
		assert_int_equal(pthread_create(&th[i], NULL, idle_member_run, &im[i]), 0);
	}
	p = pub_open(c, "g.idle");
	usleep(100000); /* all asleep, each tid known */
	quiet = stretch(im, NULL, &v);
	busy = stretch(im, p, &v);
	atomic_store(&stop, 1);
	for (int i = 0; i < IDLE_MEMBERS; i++) {
		pthread_join(th[i], NULL);
		got += atomic_load(&im[i].got);
		shmq_group_close(im[i].m);
	}
	assert_int_equal(got, IDLE_MSGS);
	print_message("member switches: %lu without messages, %lu with %d messages\n", quiet, busy,
		      IDLE_MSGS);
	if (busy > quiet + 4 * IDLE_MSGS)
		fail_msg("%.1f extra wake-ups per message for %d idle members",
			 (double)(busy - quiet) / IDLE_MSGS, IDLE_MEMBERS);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
#define R(f) cmocka_unit_test_setup_teardown(f, daemon_setup, replace_teardown)
#define H(f, conf)                                                                                 \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(uintptr_t)(conf))

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_each_message_goes_to_exactly_one_member),
	    T(test_killed_member_messages_are_redelivered),
	    T(test_members_killed_at_random_moments_lose_nothing),
	    T(test_nack_delays_redelivery),
	    T(test_ack_wait_expiry_hands_the_message_to_another_member),
	    T(test_message_dies_after_max_deliver),
	    T(test_max_pending_bounds_unacked_messages),
	    T(test_noack_member_acks_at_its_next_call),
	    T(test_two_groups_and_a_subscriber_each_get_everything),
	    T(test_block_publisher_is_held_by_the_group_floor),
	    T(test_one_ack_releases_every_acked_message_behind_it),
	    T(test_bad_group_input_gets_distinct_errors),
	    T(test_cli_sub_group_shares_the_messages),
	    H(test_hostile_member_harms_only_its_group, CONF_NOBODY_SUBSCRIBES),
	    T(test_group_floor_holds_across_restart),
	    R(test_group_floor_holds_across_replace),
	    T(test_group_members_across_restart),
	    R(test_group_members_across_replace),
	    T(test_full_group_hands_out_what_its_last_look_took),
	    T(test_dead_letters_go_to_the_dlq_with_headers),
	    T(test_dead_letter_of_a_killed_member),
	    T(test_term_copies_to_the_dlq),
	    T(test_dead_letter_waits_for_room_across_a_killed_member),
	    T(test_a_message_wakes_one_idle_member_not_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
