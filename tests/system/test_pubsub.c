/*
 * test_pubsub.c - publishing and subscribing through libshmq against a real
 * shmqd: round trips, where a subscriber starts, batches, the four wait
 * modes with a publisher in another process, zero-copy claims, and the
 * block and drop policies. Children publish; the test process reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

/*
 * The smallest channel of 64-byte messages: a 32 KiB ring (4 records of
 * 64 bytes plus 4096 of extensions, rounded up), which holds 512 uint64
 * messages of 64 ring bytes each. Returns that count.
 */
static uint64_t create_small(struct shmq_client *c, const char *name, uint32_t policy)
{
	struct shmq_channel_opts o = {
	    .capacity_bytes = 1, .max_message_bytes = 64, .policy = policy};

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
	assert_int_equal(fx_ring_msgs(c, name, 8), 512);
	return 512;
}

/*
 * After a wrap, the oldest message kept (log_oldest(), where an overrun
 * reader resyncs) is the chunk index entry two chunk starts above the
 * tail less a ring (chunk = a sixteenth of the ring, n/16 messages of one
 * size): the record that starts there, or the one after the claim that
 * crossed it. In messages: tail - n <= oldest <= tail - n + n/8 + 1.
 */
static uint64_t assert_oldest_after_wrap(struct shmq_client *c, const char *name, uint64_t tail,
					 uint64_t n)
{
	uint64_t oldest = fx_oldest(c, name);

	print_message("tail %llu, ring of %llu, oldest %llu\n", (unsigned long long)tail,
		      (unsigned long long)n, (unsigned long long)oldest);
	assert_true(oldest >= tail - n);
	assert_true(oldest <= tail - n + n / 8 + 1);
	return oldest;
}

/* ---- round trips ---- */

static void test_publish_then_recv_round_trips_payload_and_offset(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct shmq_sub_stats st;
	char buf[300];
	uint64_t off;

	assert_int_equal(shmq_channel_create(c, "rt", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "rt", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "rt", NULL, &p), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_publish(p, "hello", 5, 0, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	assert_int_equal(m.offset, 0);
	assert_int_equal(m.lost, 0);
	assert_true(m.timestamp_ns > 0);
	assert_int_equal(shmq_msg_verify(s, &m), 0);
	assert_int_equal(shmq_sub_position(s), 1);
	/* sizes 0 .. 299, each filled with its own byte */
	for (unsigned i = 0; i < 300; i++) {
		memset(buf, (int)i, i);
		assert_int_equal(shmq_publish(p, buf, i, 0, &off), 0);
		assert_int_equal(off, i + 1);
	}
	for (unsigned i = 0; i < 300; i++) {
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(m.offset, i + 1);
		assert_int_equal(m.len, i);
		memset(buf, (int)i, i);
		assert_memory_equal(m.data, buf, i);
	}
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.received, 301);
	assert_int_equal(st.lost_overrun + st.lost_abandoned, 0);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_recv_copy_with_a_short_buffer_leaves_the_message(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	char big[100], small[10], out[200];
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	memset(big, 'x', sizeof(big));
	assert_int_equal(shmq_channel_create(c, "copy", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "copy", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "copy", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, big, sizeof(big), 0, NULL), 0);
	assert_int_equal(shmq_recv_copy(s, small, sizeof(small), &m, 0), -SHMQ_EINVAL);
	assert_int_equal(m.len, sizeof(big));
	assert_int_equal(shmq_recv_copy(s, out, sizeof(out), &m, 0), 0);
	assert_ptr_equal(m.data, out);
	assert_int_equal(m.len, sizeof(big));
	assert_int_equal(m.offset, 0);
	assert_memory_equal(out, big, sizeof(big));
	assert_int_equal(shmq_recv_copy(s, out, sizeof(out), &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.received, 1);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- where a subscriber starts ---- */

static uint64_t first_offset(struct shmq_client *c, const char *name, uint32_t start,
			     uint64_t offset)
{
	struct shmq_sub_opts so = {.start = start, .offset = offset};
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t v;

	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.lost, 0);
	v = fx_msg_u64(&m);
	assert_int_equal(v, m.offset);
	shmq_sub_close(s);
	return v;
}

static void test_subscriber_starts_at_latest_earliest_or_offset(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST};
	struct shmq_pub *p;
	struct shmq_sub *latest;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c, "start", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "start", NULL, &p), 0);
	for (uint64_t i = 0; i < 10; i++)
		fx_publish_u64(p, i, 0);
	assert_int_equal(shmq_sub_open(c, "start", &so, &latest), 0);
	assert_int_equal(shmq_recv(latest, &m, 0), -SHMQ_EAGAIN);
	fx_publish_u64(p, 10, 0);
	assert_int_equal(shmq_recv(latest, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 10);
	assert_int_equal(first_offset(c, "start", SHMQ_START_EARLIEST, 0), 0);
	assert_int_equal(first_offset(c, "start", SHMQ_START_OFFSET, 5), 5);
	assert_int_equal(first_offset(c, "start", SHMQ_START_OFFSET, 10), 10);
	/* the next offset to be written is a valid start; one past it is not */
	so = (struct shmq_sub_opts){.start = SHMQ_START_OFFSET, .offset = 11};
	shmq_sub_close(latest);
	assert_int_equal(shmq_sub_open(c, "start", &so, &latest), 0);
	assert_int_equal(shmq_recv(latest, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_close(latest);
	so.offset = 12;
	assert_int_equal(shmq_sub_open(c, "start", &so, &latest), -SHMQ_EINVAL);
	so = (struct shmq_sub_opts){.start = 7};
	assert_int_equal(shmq_sub_open(c, "start", &so, &latest), -SHMQ_EINVAL);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

static void test_offset_before_the_oldest_retained_starts_at_the_oldest(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub *p;

	uint64_t n = create_small(c, "wrapped", SHMQ_POLICY_DROP), oldest;

	assert_int_equal(shmq_pub_open(c, "wrapped", NULL, &p), 0);
	for (uint64_t i = 0; i < n + 6; i++)
		fx_publish_u64(p, i, 0);
	oldest = assert_oldest_after_wrap(c, "wrapped", n + 6, n);
	assert_int_equal(first_offset(c, "wrapped", SHMQ_START_OFFSET, 2), oldest);
	assert_int_equal(first_offset(c, "wrapped", SHMQ_START_EARLIEST, 0), oldest);
	/* an offset inside what is kept is honoured */
	assert_int_equal(first_offset(c, "wrapped", SHMQ_START_OFFSET, oldest + 1), oldest + 1);
	assert_int_equal(first_offset(c, "wrapped", SHMQ_START_OFFSET, n + 5), n + 5);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- batches ---- */

struct batch {
	uint64_t offsets[64];
	unsigned n;
	unsigned stop_after; /* return non-zero at this count */
};

static int batch_cb(void *arg, const struct shmq_msg *m)
{
	struct batch *b = arg;

	if (m->len != sizeof(uint64_t) || b->n == 64)
		return 1;
	memcpy(&b->offsets[b->n], m->data, sizeof(uint64_t));
	if (b->offsets[b->n] != m->offset)
		b->offsets[b->n] = UINT64_MAX;
	b->n++;
	return b->n == b->stop_after;
}

static void test_poll_delivers_a_batch_to_the_callback(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct batch b = {0};
	struct shmq_pub *p;
	struct shmq_sub *s;

	assert_int_equal(shmq_channel_create(c, "batch", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "batch", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "batch", NULL, &p), 0);
	assert_int_equal(shmq_poll(s, batch_cb, &b, 8, 0), -SHMQ_EAGAIN);
	assert_int_equal(b.n, 0);
	for (uint64_t i = 0; i < 20; i++)
		fx_publish_u64(p, i, 0);
	assert_int_equal(shmq_poll(s, batch_cb, &b, 4, FX_HANG_NS), 4);
	assert_int_equal(b.n, 4);
	/* the callback stops the batch after the message it returned 1 for */
	b.stop_after = 7;
	assert_int_equal(shmq_poll(s, batch_cb, &b, 100, FX_HANG_NS), 3);
	b.stop_after = 0;
	assert_int_equal(shmq_poll(s, batch_cb, &b, 100, FX_HANG_NS), 13);
	assert_int_equal(b.n, 20);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(b.offsets[i], i);
	assert_int_equal(shmq_sub_position(s), 20);
	assert_int_equal(shmq_poll(s, batch_cb, &b, 100, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_poll(s, batch_cb, &b, 0, 0), -SHMQ_EINVAL);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- wait modes, publisher in another process ---- */

static void read_from_child_publisher(void **state, uint32_t wait)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = wait};
	struct pub_job j = {
	    .sock = d->sock, .chan = "wait", .last = 20000, .go_fd = -1, .timeout_ns = FX_HANG_NS};
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pid;

	fx_channel_create(c, "wait", 16, SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "wait", &so, &s), 0);
	assert_int_equal(shmq_sub_fd(s), -SHMQ_ESTATE);
	pid = child_start(fx_run_publisher, &j);
	assert_true(pid > 0);
	for (uint64_t i = 0; i < j.last; i++) {
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(m.lost, 0);
		assert_int_equal(m.offset, i);
		assert_int_equal(fx_msg_u64(&m), i);
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_sleep_reader_gets_messages_from_another_process(void **state)
{
	read_from_child_publisher(state, SHMQ_WAIT_SLEEP);
}

static void test_spin_reader_gets_messages_from_another_process(void **state)
{
	read_from_child_publisher(state, SHMQ_WAIT_SPIN);
}

static void test_spin_sleep_reader_gets_messages_from_another_process(void **state)
{
	read_from_child_publisher(state, SHMQ_WAIT_SPIN_SLEEP);
}

static int epoll_on(int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	assert_true(ep >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	return ep;
}

static int epoll_ready(int ep)
{
	struct epoll_event ev;

	return epoll_wait(ep, &ev, 1, FX_HANG_S * 1000);
}

static void test_eventfd_reader_is_woken_through_epoll(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct pub_job j = {.sock = d->sock, .chan = "efd", .last = 1, .timeout_ns = 0};
	struct shmq_sub *s;
	struct shmq_msg m;
	int go[2], ep;
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "efd", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "efd", &so, &s), 0);
	assert_true(shmq_sub_fd(s) >= 0);
	ep = epoll_on(shmq_sub_fd(s), EPOLLIN);
	assert_int_equal(pipe(go), 0);
	j.go_fd = go[0];
	pid = child_start(fx_run_publisher, &j);
	assert_true(pid > 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	pipe_say(go[1], "go");
	assert_int_equal(epoll_ready(ep), 1);
	assert_int_equal(shmq_recv(s, &m, 0), 0);
	assert_int_equal(fx_msg_u64(&m), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	close(go[0]);
	close(go[1]);
	close(ep);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_eventfd_reader_is_rearmed_after_a_wake_without_message(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_claim cl;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	int ep;

	assert_int_equal(shmq_channel_create(c, "efd.abort", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "efd.abort", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "efd.abort", NULL, &p), 0);
	/* edge-triggered: a reader must get a new edge for each message */
	ep = epoll_on(shmq_sub_fd(s), EPOLLIN | EPOLLET);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_pub_claim(p, 8, &cl, 0), 0);
	assert_int_equal(shmq_pub_abort(p, &cl), 0);
	assert_int_equal(epoll_ready(ep), 1);
	/* woken, but the message was given up: nothing to read */
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	fx_publish_u64(p, 1, 0);
	assert_int_equal(epoll_ready(ep), 1);
	assert_int_equal(shmq_recv(s, &m, 0), 0);
	assert_int_equal(fx_msg_u64(&m), 1);
	assert_int_equal(m.lost, 1);
	close(ep);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_eventfd_nonblocking_recv_returns_only_a_message_or_eagain(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct pub_job j = {.sock = d->sock,
			    .chan = "efd.race",
			    .last = 100000,
			    .go_fd = -1,
			    .timeout_ns = FX_HANG_NS};
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t next = 0, eagain = 0;
	int ep;
	pid_t pid;

	fx_channel_create(c, "efd.race", 64, SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "efd.race", &so, &s), 0);
	ep = epoll_on(shmq_sub_fd(s), EPOLLIN);
	pid = child_start(fx_run_publisher, &j);
	assert_true(pid > 0);
	while (next < j.last) {
		int r = shmq_recv(s, &m, 0);

		if (r == -SHMQ_EAGAIN) {
			eagain++;
			assert_int_equal(epoll_ready(ep), 1);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(m.lost, 0);
		assert_int_equal(fx_msg_u64(&m), next);
		next++;
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	print_message("%llu of %llu non-blocking receives found nothing\n",
		      (unsigned long long)eagain, (unsigned long long)(eagain + next));
	close(ep);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- zero copy ---- */

static void test_claim_then_commit_publishes_in_place(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_stats st;
	struct shmq_claim cl, other;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c, "zc", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "zc", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "zc", NULL, &p), 0);
	assert_int_equal(shmq_pub_claim(p, 100, &cl, 0), 0);
	assert_non_null(cl.data);
	assert_int_equal(cl.capacity, 100); /* exactly what was claimed */
	assert_int_equal(cl.offset, 0);
	/* one open claim per handle */
	assert_int_equal(shmq_pub_claim(p, 10, &other, 0), -SHMQ_ESTATE);
	/* not visible before commit */
	memcpy(cl.data, "in place", 8);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_pub_commit(p, &cl, shmq_pub_max_message(p) + 1), -SHMQ_ETOOBIG);
	assert_int_equal(shmq_pub_commit(p, &cl, 101), -SHMQ_EINVAL); /* more than claimed */
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(shmq_pub_commit(p, &cl, 8), 0);
	assert_int_equal(shmq_pub_commit(p, &cl, 8), -SHMQ_ESTATE);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, 0);
	assert_int_equal(m.len, 8);
	assert_memory_equal(m.data, "in place", 8);
	/* an aborted claim is skipped and counted */
	assert_int_equal(shmq_pub_claim(p, 8, &cl, 0), 0);
	assert_int_equal(cl.offset, 1);
	assert_int_equal(shmq_pub_abort(p, &cl), 0);
	assert_int_equal(shmq_pub_abort(p, &cl), -SHMQ_ESTATE);
	assert_int_equal(shmq_pub_claim(p, shmq_pub_max_message(p) + 1, &cl, 0), -SHMQ_ETOOBIG);
	assert_int_equal(shmq_pub_claim(p, 1, &cl, 0), 0);
	memcpy(cl.data, "z", 1);
	assert_int_equal(shmq_pub_commit(p, &cl, 1), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, 2);
	assert_int_equal(m.lost, 1);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 1);
	assert_int_equal(st.lost_overrun, 0);
	assert_int_equal(st.received, 2);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_lost_count_survives_a_recv_that_found_nothing(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_claim cl;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c, "lost.kept", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "lost.kept", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "lost.kept", NULL, &p), 0);
	assert_int_equal(shmq_pub_claim(p, 8, &cl, 0), 0);
	assert_int_equal(shmq_pub_abort(p, &cl), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	fx_publish_u64(p, 1, 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, 1);
	assert_int_equal(m.lost, 1);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- block policy ---- */

static void test_block_policy_refuses_then_waits_for_the_slowest_reader(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct pub_job j = {
	    .sock = d->sock, .chan = "blk", .last = 3, .go_fd = -1, .timeout_ns = FX_HANG_NS};
	struct shmq_claim cl;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t n;
	pid_t pid;

	n = create_small(c, "blk", SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "blk", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "blk", NULL, &p), 0);
	/* n messages of 64 ring bytes fill the ring exactly */
	for (uint64_t i = 0; i < n; i++)
		fx_publish_u64(p, 100 + i, 0);
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(shmq_pub_claim(p, 1, &cl, 0), -SHMQ_EFULL);
	assert_int_equal(shmq_publish(p, "x", 1, 20 * 1000000, NULL), -SHMQ_ETIMEDOUT);
	/* a view handed out by shmq_recv is not overwritten while held */
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 100);
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), -SHMQ_EFULL);
	assert_int_equal(fx_msg_u64(&m), 100);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(fx_msg_u64(&m), 101);
	/*
	 * The reader stores its cursor once per batch while it reads, and
	 * always before it waits: a publisher in another process waits, and
	 * proceeds as we read.
	 */
	pid = child_start(fx_run_publisher, &j);
	assert_true(pid > 0);
	for (uint64_t want = 102; want < 100 + n; want++) {
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(fx_msg_u64(&m), want);
	}
	for (uint64_t want = 0; want < 3; want++) {
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(fx_msg_u64(&m), want);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * The reader stores its cursor once per batch while messages stream, but
 * always before it waits: a drained reader holds no publisher back.
 */
static void test_block_policy_reader_releases_every_record_before_it_waits(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t n;

	fx_channel_create(c, "batch", 64, SHMQ_POLICY_BLOCK);
	n = fx_ring_msgs(c, "batch", 8);
	assert_int_equal(shmq_sub_open(c, "batch", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "batch", NULL, &p), 0);
	for (uint64_t round = 0; round < 3; round++) {
		for (uint64_t i = 0; i < n; i++)
			fx_publish_u64(p, round * n + i, 0);
		assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), -SHMQ_EFULL);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
			assert_int_equal(fx_msg_u64(&m), round * n + i);
		}
		assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	}
	/* a reader closed midway through a batch holds nothing back */
	for (uint64_t i = 0; i < n; i++)
		fx_publish_u64(p, i, 0);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	shmq_sub_close(s);
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A publisher's cached limit dates from before a reader joined: the
 * reader table's generation makes it look again, so the newcomer loses
 * nothing of what it was promised.
 */
static void test_block_policy_late_joiner_holds_publishers_back_at_once(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t n, oldest, room, end;

	fx_channel_create(c, "late", 16, SHMQ_POLICY_BLOCK);
	n = fx_ring_msgs(c, "late", 8);
	assert_int_equal(shmq_pub_open(c, "late", NULL, &p), 0);
	for (uint64_t i = 0; i < n + 4; i++) /* no reader: the limit is cached a ring ahead */
		fx_publish_u64(p, i, 0);
	assert_int_equal(shmq_sub_open(c, "late", &so, &s), 0);
	/* the newcomer starts at the oldest kept; a ring past it, and no
	 * further, publishers may go (every record is 64 bytes) */
	oldest = assert_oldest_after_wrap(c, "late", n + 4, n);
	room = oldest + n - (n + 4);
	for (uint64_t i = 0; i < room; i++)
		fx_publish_u64(p, n + 4 + i, 0);
	end = n + 4 + room;
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), -SHMQ_EFULL);
	for (uint64_t i = oldest; i < end; i++) {
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(m.lost, 0);
		assert_int_equal(m.offset, i);
		assert_int_equal(fx_msg_u64(&m), i);
	}
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Child: a sleeping reader that reports the first message it gets, then exits. */
static int run_sleeping_reader(void *arg)
{
	const struct pub_job *j = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;
	char line[64];

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, j->chan, &so, &s))
		return 10;
	pipe_say(j->go_fd, "opened");
	if (shmq_recv(s, &m, -1)) /* forever: only a wake-up ends it */
		return 11;
	snprintf(line, sizeof(line), "offset %llu lost %llu", (unsigned long long)m.offset,
		 (unsigned long long)m.lost);
	pipe_say(j->go_fd, line);
	return 0;
}

static void test_closing_a_publisher_with_an_open_claim_wakes_sleeping_readers(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct pub_job j = {.sock = d->sock, .chan = "openclaim"};
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	struct shmq_pub *a, *b;
	struct shmq_claim cl;
	struct raw_chan rc;
	struct raw r;
	int say[2];
	pid_t pid;

	assert_int_equal(shmq_channel_create(c, "openclaim", NULL), 0);
	assert_int_equal(shmq_pub_open(c, "openclaim", NULL, &a), 0);
	assert_int_equal(shmq_pub_open(c, "openclaim", NULL, &b), 0);
	fx_raw_open(&r, d, "openclaim", ROLE_PUB, &rc);
	assert_int_equal(pipe(say), 0);
	j.go_fd = say[1];
	pid = child_start(run_sleeping_reader, &j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(say[0], "opened"), 0);
	assert_int_equal(shmq_pub_claim(a, 8, &cl, 0), 0); /* offset 0, held open */
	fx_publish_u64(b, 1, 0);			   /* offset 1 wakes the reader */
	/* it finds offset 0 still claimed and goes back to sleep */
	while (atomic_load(&rc.wake->sleepers) != 1 && fx_now_ns() < deadline)
		fx_nap_ms(1);
	fx_nap_ms(20);
	assert_int_equal(atomic_load(&rc.wake->sleepers), 1);
	shmq_pub_close(a); /* abandons offset 0: the reader may go on, so wake it */
	assert_int_equal(pipe_expect(say[0], "offset 1 lost 1"), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	close(say[0]);
	close(say[1]);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_pub_close(b);
	shmq_disconnect(c);
}

static void test_block_policy_without_readers_never_blocks(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub *p;

	uint64_t n = create_small(c, "blk.alone", SHMQ_POLICY_BLOCK), oldest;

	assert_int_equal(shmq_pub_open(c, "blk.alone", NULL, &p), 0);
	for (uint64_t i = 0; i < 2 * n + 40; i++)
		fx_publish_u64(p, i, 0);
	oldest = assert_oldest_after_wrap(c, "blk.alone", 2 * n + 40, n);
	assert_int_equal(first_offset(c, "blk.alone", SHMQ_START_EARLIEST, 0), oldest);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- drop policy ---- */

/*
 * Every claim zeroes the commit word where the next record will start (its
 * guard word), so a drop channel keeps a ring less that word: n - 1
 * messages of one size. Two readers wait at offset 0: after n - 1
 * messages one of them reads offset 0 intact; the n-th message's guard
 * overruns the other, still at 0, which resumes at the oldest kept and
 * counts exactly the offsets it skipped. The first, at 1, loses nothing.
 */
static void test_drop_policy_tells_an_overrun_reader_its_exact_loss(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *early, *late;
	struct shmq_msg m, first;
	uint64_t n = create_small(c, "drop", SHMQ_POLICY_DROP), oldest, at;

	assert_int_equal(shmq_sub_open(c, "drop", NULL, &early), 0);
	assert_int_equal(shmq_sub_open(c, "drop", NULL, &late), 0);
	assert_int_equal(shmq_pub_open(c, "drop", NULL, &p), 0);
	/* a ring's worth less the guard: nothing is lost yet */
	for (uint64_t i = 0; i < n - 1; i++)
		fx_publish_u64(p, i, 0);
	assert_int_equal(fx_oldest(c, "drop"), 0);
	assert_int_equal(fx_recv_u64(early, &first), 0);
	assert_int_equal(first.offset, 0);
	assert_int_equal(first.lost, 0);
	assert_int_equal(shmq_msg_verify(early, &first), 0);
	/* one more: its guard is offset 0's commit word */
	fx_publish_u64(p, n - 1, 0);
	assert_int_equal(shmq_msg_verify(early, &first), -SHMQ_EOVERRUN);
	oldest = assert_oldest_after_wrap(c, "drop", n, n);
	assert_true(oldest > 0);
	/* late was overrun at its position, 0: it resumes at the oldest kept */
	at = shmq_sub_position(late);
	assert_int_equal(at, 0);
	assert_int_equal(shmq_recv(late, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, oldest);
	assert_int_equal(m.lost, oldest - at);
	assert_int_equal(fx_msg_u64(&m), oldest);
	for (uint64_t i = oldest + 1; i < n; i++) {
		assert_int_equal(fx_recv_u64(late, &m), i);
		assert_int_equal(m.offset, i);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(shmq_recv(late, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(late, &st);
	assert_int_equal(st.received, n - oldest);
	assert_int_equal(st.lost_overrun, oldest);
	assert_int_equal(st.lost_abandoned, 0);
	/* early, at 1, had a ring less the guard unread: all of it is there */
	for (uint64_t i = 1; i < n; i++) {
		assert_int_equal(fx_recv_u64(early, &m), i);
		assert_int_equal(m.offset, i);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(shmq_recv(early, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_stats(early, &st);
	assert_int_equal(st.received, n);
	assert_int_equal(st.lost_overrun, 0);
	shmq_pub_close(p);
	shmq_sub_close(late);
	shmq_sub_close(early);
	shmq_disconnect(c);
}

/*
 * A publisher process floods the smallest drop channel; every offset is
 * either received intact (payload == offset) or counted lost, exactly once.
 */
static void drop_flood(void **state, bool copy)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(*state);
	struct pub_job j = {.sock = d->sock, .chan = "flood", .last = 200000, .go_fd = -1};
	uint64_t next = 0, got = 0, lost = 0, v;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN};
	struct shmq_sub_stats st;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pid;

	fx_channel_create(c, "flood", 16, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "flood", &so, &s), 0);
	pid = child_start(fx_run_publisher, &j);
	assert_true(pid > 0);
	while (next < j.last) {
		if (copy) {
			assert_int_equal(shmq_recv_copy(s, &v, sizeof(v), &m, FX_HANG_NS), 0);
		} else {
			assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
			memcpy(&v, m.data, sizeof(v));
			if (shmq_msg_verify(s, &m))
				v = m.offset; /* overwritten meanwhile: only the offset counts */
		}
		assert_int_equal(m.offset, next + m.lost);
		assert_int_equal(v, m.offset);
		lost += m.lost;
		got++;
		next = m.offset + 1;
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_sub_stats(s, &st);
	assert_int_equal(got + lost, j.last);
	assert_int_equal(st.received, got);
	assert_int_equal(st.lost_overrun, lost);
	assert_int_equal(st.lost_abandoned, 0);
	print_message("received %llu, lost %llu\n", (unsigned long long)got,
		      (unsigned long long)lost);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_drop_policy_loss_is_exact_under_a_flood(void **state)
{
	drop_flood(state, false);
}

static void test_drop_policy_loss_is_exact_under_a_flood_with_recv_copy(void **state)
{
	drop_flood(state, true);
}

/* A poll callback that laps its own reader before verifying the view. */
struct lap_job {
	struct shmq_sub *s;
	struct shmq_pub *p;
	uint64_t n;	 /* messages the ring holds (it keeps n - 1: the guard) */
	int verified[2]; /* shmq_msg_verify() before and after the lap */
	uint64_t seen;
};

static int lap_in_callback(void *arg, const struct shmq_msg *m)
{
	struct lap_job *j = arg;

	j->verified[0] = shmq_msg_verify(j->s, m);
	/* with m, a ring's worth: the last one's guard is m's commit word */
	for (uint64_t i = 0; i < j->n - 1; i++)
		fx_publish_u64(j->p, 100 + i, 0);
	j->verified[1] = shmq_msg_verify(j->s, m);
	j->seen = m->offset;
	return 1;
}

static void test_poll_view_verify_detects_an_overwrite_on_drop(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct lap_job j = {0};
	struct shmq_msg m;
	uint64_t oldest, at;

	j.n = create_small(c, "lap", SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "lap", NULL, &j.s), 0);
	assert_int_equal(shmq_pub_open(c, "lap", NULL, &j.p), 0);
	fx_publish_u64(j.p, 7, 0);
	assert_int_equal(shmq_poll(j.s, lap_in_callback, &j, 8, FX_HANG_NS), 1);
	assert_int_equal(j.seen, 0);
	assert_int_equal(j.verified[0], 0);
	assert_int_equal(j.verified[1], -SHMQ_EOVERRUN);
	/* the lap reached offset 0's record only: the reader, at 1 with a
	 * ring less the guard unread, goes on at 1 */
	assert_int_equal(shmq_recv(j.s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, 1);
	assert_int_equal(m.lost, 0);
	assert_int_equal(fx_msg_u64(&m), 100);
	assert_int_equal(shmq_msg_verify(j.s, &m), 0);
	/* one more record's guard laps offset 1 too */
	fx_publish_u64(j.p, 100 + j.n - 1, 0);
	assert_int_equal(shmq_msg_verify(j.s, &m), -SHMQ_EOVERRUN);
	/* and one more overruns the reader at 2, the oldest it has not read:
	 * it goes on at the oldest kept, counting exactly what it skipped */
	fx_publish_u64(j.p, 100 + j.n, 0);
	oldest = assert_oldest_after_wrap(c, "lap", j.n + 2, j.n);
	at = shmq_sub_position(j.s);
	assert_int_equal(at, 2);
	assert_true(oldest > at);
	assert_int_equal(shmq_recv(j.s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.offset, oldest);
	assert_int_equal(m.lost, oldest - at);
	assert_int_equal(fx_msg_u64(&m), 100 + oldest - 1);
	shmq_pub_close(j.p);
	shmq_sub_close(j.s);
	shmq_disconnect(c);
}

/* A view whose seal or offset was changed is no record's: -SHMQ_EINVAL, not "intact". */
static void test_verify_refuses_a_view_whose_seal_was_changed(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m, bad;

	create_small(c, "seal", SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "seal", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "seal", NULL, &p), 0);
	fx_publish_u64(p, 1, 0);
	fx_publish_u64(p, 2, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	assert_int_equal(shmq_msg_verify(s, &m), 0);
	bad = m;
	bad.seal ^= 4; /* not even on a record boundary */
	assert_int_equal(shmq_msg_verify(s, &bad), -SHMQ_EINVAL);
	bad = m;
	bad.offset += 1; /* the seal is offset 0's record, not offset 1's */
	assert_int_equal(shmq_msg_verify(s, &bad), -SHMQ_EINVAL);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_publish_then_recv_round_trips_payload_and_offset),
	    T(test_recv_copy_with_a_short_buffer_leaves_the_message),
	    T(test_subscriber_starts_at_latest_earliest_or_offset),
	    T(test_offset_before_the_oldest_retained_starts_at_the_oldest),
	    T(test_poll_delivers_a_batch_to_the_callback),
	    T(test_sleep_reader_gets_messages_from_another_process),
	    T(test_spin_reader_gets_messages_from_another_process),
	    T(test_spin_sleep_reader_gets_messages_from_another_process),
	    T(test_eventfd_reader_is_woken_through_epoll),
	    T(test_eventfd_reader_is_rearmed_after_a_wake_without_message),
	    T(test_eventfd_nonblocking_recv_returns_only_a_message_or_eagain),
	    T(test_claim_then_commit_publishes_in_place),
	    T(test_lost_count_survives_a_recv_that_found_nothing),
	    T(test_block_policy_refuses_then_waits_for_the_slowest_reader),
	    T(test_block_policy_reader_releases_every_record_before_it_waits),
	    T(test_block_policy_late_joiner_holds_publishers_back_at_once),
	    T(test_closing_a_publisher_with_an_open_claim_wakes_sleeping_readers),
	    T(test_block_policy_without_readers_never_blocks),
	    T(test_drop_policy_tells_an_overrun_reader_its_exact_loss),
	    T(test_drop_policy_loss_is_exact_under_a_flood),
	    T(test_drop_policy_loss_is_exact_under_a_flood_with_recv_copy),
	    T(test_poll_view_verify_detects_an_overwrite_on_drop),
	    T(test_verify_refuses_a_view_whose_seal_was_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
