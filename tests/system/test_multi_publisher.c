/*
 * test_multi_publisher.c - several publisher processes, each with its own
 * connection, append to one block-policy channel at once while subscriber
 * processes read it: every message arrives exactly once at every
 * subscriber, in each publisher's order. With stalling publishers (a pause
 * between claim and commit) and sleeping readers, no reader may sleep
 * through a message: each receive that takes longer than a tenth of the
 * hang limit is a wake-up lost and recovered only by the timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "shmq.h"

#define MAX_PROCS 8

struct rec {
	uint32_t pub;
	uint32_t pad;
	uint64_t seq;
};

struct job {
	const char *sock;
	uint32_t id;
	uint32_t pubs;
	uint64_t count; /* per publisher */
	int say_fd;	/* subscriber: "ready" */
	int go_fd;	/* publisher: wait for a line */
	bool zero_copy;
	bool stall;    /* publisher: sometimes pause between claim and commit */
	uint32_t wait; /* subscriber: enum shmq_wait, or UINT32_MAX to alternate */
};

static int publish_one(struct shmq_pub *p, const struct job *j, uint64_t seq)
{
	struct rec r = {.pub = j->id, .seq = seq};
	struct shmq_claim cl;
	int err;

	if (!j->zero_copy)
		return shmq_publish(p, &r, sizeof(r), FX_HANG_NS, NULL);
	err = shmq_pub_claim(p, sizeof(r), &cl, FX_HANG_NS);
	if (err)
		return err;
	memcpy(cl.data, &r, sizeof(r));
	if (j->stall && (seq * 2654435761u + j->id) % 13 == 0)
		usleep(50 + (unsigned)(seq % 7) * 50); /* later claims commit first */
	return shmq_pub_commit(p, &cl, sizeof(r));
}

static int run_publisher(void *arg)
{
	const struct job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, "many", NULL, &p))
		return 10;
	if (pipe_wait_line(j->go_fd))
		return 11;
	for (uint64_t i = 0; i < j->count; i++) {
		int err = publish_one(p, j, i);

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

static int check_one(const struct shmq_msg *m, uint64_t *next, uint32_t pubs)
{
	struct rec r;

	if (m->len != sizeof(r) || m->lost) {
		fprintf(stderr, "subscriber: len %u lost %llu at %llu\n", m->len,
			(unsigned long long)m->lost, (unsigned long long)m->offset);
		return -1;
	}
	memcpy(&r, m->data, sizeof(r));
	if (r.pub >= pubs || r.seq != next[r.pub]) {
		fprintf(stderr, "subscriber: publisher %u sent %llu, expected %llu\n", r.pub,
			(unsigned long long)r.seq,
			r.pub < pubs ? (unsigned long long)next[r.pub] : 0ull);
		return -1;
	}
	next[r.pub]++;
	return 0;
}

static int run_subscriber(void *arg)
{
	const struct job *j = arg;
	struct shmq_sub_opts so = {.wait = j->wait != UINT32_MAX ? j->wait
					   : j->id % 2		 ? SHMQ_WAIT_SLEEP
								 : SHMQ_WAIT_SPIN_SLEEP};
	uint64_t next[MAX_PROCS] = {0}, t0;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;
	int err;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, "many", &so, &s))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (uint64_t i = 0; i < j->count * j->pubs; i++) {
		t0 = fx_now_ns();
		err = shmq_recv(s, &m, FX_HANG_NS);
		if (!err && fx_now_ns() - t0 > FX_HANG_NS / 10) {
			fprintf(stderr, "subscriber: slept through offset %llu\n",
				(unsigned long long)m.offset);
			return 15;
		}
		if (err) {
			fprintf(stderr, "subscriber: %s after %llu\n", shmq_errname(err),
				(unsigned long long)i);
			return 12;
		}
		if (m.offset != i || check_one(&m, next, j->pubs))
			return 13;
	}
	if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
		return 14; /* nothing more than was sent */
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

struct run_opts {
	bool zero_copy;
	bool stall;
	uint32_t wait; /* subscribers' enum shmq_wait, UINT32_MAX to alternate */
};

static void run(void **state, uint32_t pubs, uint32_t subs, uint64_t count,
		const struct run_opts *ro)
{
	struct daemon *d = *state;
	struct job pj[MAX_PROCS], sj[MAX_PROCS];
	pid_t ppid[MAX_PROCS], spid[MAX_PROCS];
	struct shmq_client *c;
	int ready[2], go[2];

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	fx_channel_create(c, "many", 64, SHMQ_POLICY_BLOCK);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	for (uint32_t i = 0; i < subs; i++) {
		sj[i] = (struct job){.sock = d->sock,
				     .id = i,
				     .pubs = pubs,
				     .count = count,
				     .say_fd = ready[1],
				     .wait = ro->wait};
		spid[i] = child_start(run_subscriber, &sj[i]);
		assert_true(spid[i] > 0);
	}
	/* every subscriber holds a cursor before anything is published */
	for (uint32_t i = 0; i < subs; i++)
		assert_int_equal(pipe_expect(ready[0], "ready"), 0);
	for (uint32_t i = 0; i < pubs; i++) {
		pj[i] = (struct job){.sock = d->sock,
				     .id = i,
				     .count = count,
				     .go_fd = go[0],
				     .zero_copy = ro->zero_copy || ro->stall,
				     .stall = ro->stall};
		ppid[i] = child_start(run_publisher, &pj[i]);
		assert_true(ppid[i] > 0);
	}
	for (uint32_t i = 0; i < pubs; i++)
		pipe_say(go[1], "go");
	for (uint32_t i = 0; i < pubs; i++)
		assert_int_equal(child_wait(ppid[i], 2 * FX_HANG_S), 0);
	for (uint32_t i = 0; i < subs; i++)
		assert_int_equal(child_wait(spid[i], 2 * FX_HANG_S), 0);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	shmq_disconnect(c);
}

static void test_two_publisher_processes_deliver_each_message_once_in_order(void **state)
{
	run(state, 2, 1, 50000, &(struct run_opts){.wait = UINT32_MAX});
}

static void test_four_zero_copy_publishers_reach_two_subscribers_in_order(void **state)
{
	run(state, 4, 2, 20000, &(struct run_opts){.zero_copy = true, .wait = UINT32_MAX});
}

static void test_sleeping_readers_miss_no_wake_up_from_stalling_publishers(void **state)
{
	run(state, 3, 3, 4000, &(struct run_opts){.stall = true, .wait = SHMQ_WAIT_SLEEP});
}

static void test_event_fd_readers_miss_no_wake_up_from_stalling_publishers(void **state)
{
	run(state, 3, 2, 4000, &(struct run_opts){.stall = true, .wait = SHMQ_WAIT_EVENTFD});
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_two_publisher_processes_deliver_each_message_once_in_order),
	    T(test_four_zero_copy_publishers_reach_two_subscribers_in_order),
	    T(test_sleeping_readers_miss_no_wake_up_from_stalling_publishers),
	    T(test_event_fd_readers_miss_no_wake_up_from_stalling_publishers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
