/*
 * test_wake.c - the wake-up path against a real shmqd, with real
 * processes and a second uid: a hostile event-fd subscriber or publisher
 * (uid nobody) changes the flags of the wake descriptor it holds and
 * writes to it; the daemon must go on answering, honest publishers must
 * finish their publishes, and an honest reader's shmq_recv() with timeout
 * 0 must return at once. Every bound here is seconds for what takes
 * milliseconds; what it catches is a call that blocks for good. And
 * the pacing of wake-ups that bring nothing: honest ping-pong and paced
 * traffic never trigger it, a client bumping the wake word does. The
 * pauses are counted exactly: this file defines nanosleep(), which
 * libshmq then calls, and counts the 1 ms requests of a window. Needs
 * root to make the second uid: exits 77 otherwise. Test process: one
 * thread; children report through pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

#define CHAN "w.chan"
#define CONF                                                                                       \
	"[channel w.chan]\ncapacity = 32K\nmax_message = 64\npolicy = drop\n"                      \
	"subscribe = 65534\npublish = 65534\n"                                                     \
	"[channel w.ping]\ncapacity = 32K\nmax_message = 64\npolicy = block\n"                     \
	"[channel w.pong]\ncapacity = 32K\nmax_message = 64\npolicy = block\n"

#define DONE_S 10 /* for what takes milliseconds: only a call blocked for good misses it */

/* The value that leaves an event fd's counter one below its maximum. */
#define FILL_VALUE 0xfffffffffffffffeull

static struct daemon *dmn(void **state)
{
	return *state;
}

/* ---- counting the library's pauses ---- */

#define PAUSE_NS 1000000 /* libclient/sub.c's EMPTY_WAKE_PAUSE_NS */

static bool counting;	/* in this process, between pauses_start() and pauses_stop() */
static uint64_t pauses; /* 1 ms sleeps asked for meanwhile */

/* Every nanosleep() of this process, libshmq's included, comes here. */
int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (counting && req && req->tv_sec == 0 && req->tv_nsec == PAUSE_NS)
		pauses++;
	return (int)syscall(SYS_clock_nanosleep, CLOCK_REALTIME, 0, req, rem);
}

static void pauses_start(void)
{
	pauses = 0;
	counting = true;
}

static uint64_t pauses_stop(void)
{
	counting = false;
	return pauses;
}

/* Make fd's open file description blocking and write FILL_VALUE to it. */
static int attack_fd(int fd)
{
	uint64_t v = FILL_VALUE;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -1;
	/* on an event fd at count 0 this does not block; on anything else the
	 * attacker has done what it could, whatever the answer */
	if (write(fd, &v, sizeof(v)) < 0) {
		/* not an event fd that takes 8 bytes: the flag is what counts */
	}
	return 0;
}

struct hostile_job {
	const char *sock;
	int say_fd;
	int go_fd;
};

/*
 * A subscriber of uid nobody in event-fd mode: arms (shmq_recv with timeout
 * 0), then attacks its own wake descriptor, says "attacked" and stays until
 * "go" (its reader slot stays, behind the tail, for the watchdog).
 */
static int run_hostile_sub(void *arg)
{
	const struct hostile_job *j = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (fx_become_nobody() || shmq_connect(j->sock, &c) || shmq_sub_open(c, CHAN, &so, &s))
		return 10;
	if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
		return 11;
	if (attack_fd(shmq_sub_fd(s)))
		return 12;
	pipe_say(j->say_fd, "attacked");
	if (pipe_wait_line(j->go_fd))
		return 13;
	return 0;
}

/* A fresh client connects, lists and round-trips a message; in a child, so that a hang is seen. */
static int run_probe(void *arg)
{
	const char *sock = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(sock, &c) || shmq_channel_list(c, NULL, 0) < 0)
		return 10;
	if (shmq_sub_open(c, CHAN, &so, &s) || shmq_pub_open(c, CHAN, NULL, &p))
		return 11;
	if (shmq_publish(p, "ok", 2, 0, NULL) || shmq_recv(s, &m, FX_HANG_NS) || m.len != 2)
		return 12;
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

static void assert_daemon_answers(struct daemon *d, const char *when)
{
	pid_t pid = child_start(run_probe, (void *)d->sock);
	int rc = child_wait(pid, DONE_S);

	print_message("%s: the probe client %s (rc %d)\n", when,
		      rc == 0 ? "was served" : "was not served", rc);
	assert_int_equal(rc, 0);
}

/*
 * An event-fd subscriber of another uid clears O_NONBLOCK on its wake
 * descriptor and fills it (an event fd's counter to 2^64 - 2). An honest
 * publisher's four publishes (each wakes the armed attacker) still finish,
 * an honest event-fd reader gets them, and the daemon, whose watchdog
 * wakes the attacker's slot (behind the tail), still answers: while the
 * attacker lives and after it exits.
 */
static void test_subscriber_cannot_block_anyone_through_its_wake_fd(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct pub_job pj = {.sock = d->sock,
			     .chan = CHAN,
			     .first = 0,
			     .last = 4,
			     .go_fd = -1,
			     .timeout_ns = FX_HANG_NS};
	struct hostile_job hj = {.sock = d->sock};
	int go[2], say[2], rc;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t hpid, ppid;

	assert_int_equal(shmq_sub_open(c, CHAN, &so, &s), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	hj.go_fd = go[0];
	hj.say_fd = say[1];
	hpid = child_start(run_hostile_sub, &hj);
	assert_int_equal(pipe_expect(say[0], "attacked"), 0);

	ppid = child_start(fx_run_publisher, &pj);
	rc = child_wait(ppid, DONE_S);
	print_message("the honest publisher %s (rc %d)\n", rc == 0 ? "finished" : "did not finish",
		      rc);
	assert_int_equal(rc, 0);
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(shmq_recv(s, &m, (int64_t)DONE_S * 1000000000), 0);
		assert_int_equal(fx_msg_u64(&m), i);
	}
	fx_nap_ms(100); /* ten watchdog ticks with the attacker behind the tail */
	assert_daemon_answers(d, "attacker alive");

	assert_int_equal(write(go[1], "go\n", 3), 3);
	assert_int_equal(child_wait(hpid, DONE_S), 0);
	fx_nap_ms(100);
	assert_daemon_answers(d, "attacker gone");
	close(go[0]);
	close(go[1]);
	close(say[0]);
	close(say[1]);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * A publisher of uid nobody fetches the readers' wake descriptors
 * (OP_PEERS, as every publisher may) and clears O_NONBLOCK on each.
 */
static int run_hostile_pub(void *arg)
{
	const struct hostile_job *j = arg;
	struct proto_peers_req req = {.kind = PEER_EFDS};
	struct proto_peers resp;
	int fds[PROTO_MAX_FDS];
	unsigned nfds = PROTO_MAX_FDS;
	struct raw_chan pub;
	struct proto_hdr h;
	struct raw r;

	if (fx_become_nobody() || raw_connect(&r, j->sock) || raw_hello(&r) ||
	    raw_open(&r, CHAN, ROLE_PUB, &pub))
		return 10;
	req.channel_id = pub.o.channel_id;
	if (raw_request(&r, OP_PEERS, &req, sizeof(req)) ||
	    raw_reply(&r, &h, &resp, sizeof(resp), fds, &nfds) || nfds != 1)
		return 11;
	if (attack_fd(fds[0]))
		return 12;
	pipe_say(j->say_fd, "attacked");
	if (pipe_wait_line(j->go_fd))
		return 13;
	return 0;
}

struct reader_job {
	const char *sock;
	int say_fd;
	int go_fd;
};

/*
 * An honest event-fd reader: arms, says "armed", waits for "go", then
 * three shmq_recv(timeout 0) must each say -SHMQ_EAGAIN ("polled"), and
 * the message published after that arrives.
 */
static int run_honest_reader(void *arg)
{
	const struct reader_job *j = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, CHAN, &so, &s))
		return 10;
	if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
		return 11;
	pipe_say(j->say_fd, "armed");
	if (pipe_wait_line(j->go_fd))
		return 12;
	for (int i = 0; i < 3; i++)
		if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
			return 13;
	pipe_say(j->say_fd, "polled");
	if (shmq_recv(s, &m, FX_HANG_NS) || fx_msg_u64(&m) != 7)
		return 14;
	return 0;
}

/* Did a line arrive on fd within s seconds? */
static bool line_within(int fd, int s)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, s * 1000) == 1;
}

/*
 * A publisher of another uid clears O_NONBLOCK on an event-fd reader's
 * wake descriptor. The reader's shmq_recv() with timeout 0 still returns
 * -SHMQ_EAGAIN at once (three times), and the next message still wakes it.
 */
static void test_publisher_cannot_block_a_readers_poll(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct hostile_job hj = {.sock = d->sock};
	struct reader_job rj = {.sock = d->sock};
	int hgo[2], hsay[2], rgo[2], rsay[2];
	struct shmq_pub *p;
	pid_t hpid, rpid;
	bool polled;

	assert_int_equal(pipe2(hgo, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hsay, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rgo, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rsay, O_CLOEXEC), 0);
	rj.go_fd = rgo[0];
	rj.say_fd = rsay[1];
	rpid = child_start(run_honest_reader, &rj);
	assert_int_equal(pipe_expect(rsay[0], "armed"), 0);
	hj.go_fd = hgo[0];
	hj.say_fd = hsay[1];
	hpid = child_start(run_hostile_pub, &hj);
	assert_int_equal(pipe_expect(hsay[0], "attacked"), 0);

	assert_int_equal(write(rgo[1], "go\n", 3), 3);
	polled = line_within(rsay[0], DONE_S);
	print_message("the reader's three polls %s\n",
		      polled ? "returned" : "did not return within 10 s");
	assert_true(polled);
	assert_int_equal(pipe_expect(rsay[0], "polled"), 0);
	assert_int_equal(shmq_pub_open(c, CHAN, NULL, &p), 0);
	fx_publish_u64(p, 7, FX_HANG_NS);
	assert_int_equal(child_wait(rpid, DONE_S), 0);
	assert_int_equal(write(hgo[1], "go\n", 3), 3);
	assert_int_equal(child_wait(hpid, DONE_S), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
	close(hgo[0]);
	close(hgo[1]);
	close(hsay[0]);
	close(hsay[1]);
	close(rgo[0]);
	close(rgo[1]);
	close(rsay[0]);
	close(rsay[1]);
	assert_daemon_answers(d, "after");
}

/* ---- pacing: honest wake-ups are never paced, bumps are ---- */

#define ROUND_TRIPS 2000u
#define PACED_MSGS 1000u
#define PACED_GAP_NS 200000 /* 5,000 messages a second */

struct echo_job {
	const char *sock;
	uint32_t wait;
	uint64_t n;
	uint64_t *child_pauses; /* shared memory */
	int say_fd;
};

/* Open sub on in and pub on out (either may be NULL). 0 or -1. */
static int open_pair(struct shmq_client *c, const char *in, uint32_t wait, struct shmq_sub **s,
		     const char *out, struct shmq_pub **p)
{
	struct shmq_sub_opts so = {.wait = wait};

	if (in && shmq_sub_open(c, in, &so, s))
		return -1;
	if (out && shmq_pub_open(c, out, NULL, p))
		return -1;
	return 0;
}

/* The far end of a ping-pong: receives on w.ping in wait mode j->wait, echoes on w.pong. */
static int run_echo(void *arg)
{
	const struct echo_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg m;
	uint64_t v;

	if (shmq_connect(j->sock, &c) || open_pair(c, "w.ping", j->wait, &s, "w.pong", &p))
		return 10;
	pipe_say(j->say_fd, "open");
	pauses_start();
	for (uint64_t i = 0; i < j->n; i++) {
		if (shmq_recv(s, &m, FX_HANG_NS) || m.len != sizeof(v))
			return 11;
		memcpy(&v, m.data, sizeof(v));
		if (v != i || shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL))
			return 12;
	}
	*j->child_pauses = pauses_stop();
	return 0;
}

/*
 * Ping-pong of ROUND_TRIPS messages with an echo child in wait mode wait,
 * the test process receiving in SHMQ_WAIT_SLEEP: every wake-up is an
 * honest one, so neither side may pause once.
 */
static void ping_pong_unpaced(struct daemon *d, uint32_t wait, const char *name)
{
	uint64_t *child_pauses = fx_shared_alloc(sizeof(uint64_t));
	struct echo_job j = {.sock = d->sock, .wait = wait, .n = ROUND_TRIPS};
	struct shmq_client *c = fx_connect(d);
	uint64_t mine;
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg m;
	int say[2];
	pid_t pid;

	assert_non_null(child_pauses);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	j.child_pauses = child_pauses;
	j.say_fd = say[1];
	assert_int_equal(open_pair(c, "w.pong", SHMQ_WAIT_SLEEP, &s, "w.ping", &p), 0);
	pid = child_start(run_echo, &j);
	assert_int_equal(pipe_expect(say[0], "open"), 0);
	pauses_start();
	for (uint64_t i = 0; i < ROUND_TRIPS; i++) {
		fx_publish_u64(p, i, FX_HANG_NS);
		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		assert_int_equal(fx_msg_u64(&m), i);
	}
	mine = pauses_stop();
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	print_message("%u round trips, echo in %s: %llu pauses there, %llu here (sleep)\n",
		      ROUND_TRIPS, name, (unsigned long long)*child_pauses,
		      (unsigned long long)mine);
	assert_int_equal(*child_pauses, 0);
	assert_int_equal(mine, 0);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
	close(say[0]);
	close(say[1]);
	fx_shared_free(child_pauses, sizeof(uint64_t));
}

/*
 * The defence against wake-ups that bring nothing (16 in a row, then a
 * 1 ms pause) took every honest wake-up for an empty one: a sleeping
 * reader paused after every 16 messages. Ping-pong in each sleeping mode
 * now pauses never.
 */
static void test_honest_ping_pong_is_never_paced(void **state)
{
	ping_pong_unpaced(dmn(state), SHMQ_WAIT_SLEEP, "sleep");
	ping_pong_unpaced(dmn(state), SHMQ_WAIT_SPIN_SLEEP, "spin_sleep");
	ping_pong_unpaced(dmn(state), SHMQ_WAIT_EVENTFD, "eventfd");
}

/* A reader of w.ping in j->wait that receives j->n messages, counting its pauses. */
static int run_counting_reader(void *arg)
{
	const struct echo_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(j->sock, &c) || open_pair(c, "w.ping", j->wait, &s, NULL, NULL))
		return 10;
	pipe_say(j->say_fd, "open");
	pauses_start();
	for (uint64_t i = 0; i < j->n; i++)
		if (shmq_recv(s, &m, FX_HANG_NS) || fx_msg_u64(&m) != i)
			return 11;
	*j->child_pauses = pauses_stop();
	return 0;
}

/*
 * A publisher paced at 5,000 messages a second and a default
 * (spin-then-sleep) reader: each message is one honest wake-up, and the
 * reader pauses never.
 */
static void test_paced_traffic_is_never_paced(void **state)
{
	struct daemon *d = dmn(state);
	uint64_t *child_pauses = fx_shared_alloc(sizeof(uint64_t));
	struct echo_job j = {.sock = d->sock, .wait = SHMQ_WAIT_SPIN_SLEEP, .n = PACED_MSGS};
	struct timespec gap = {0, PACED_GAP_NS};
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	int say[2];
	pid_t pid;

	assert_non_null(child_pauses);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	j.child_pauses = child_pauses;
	j.say_fd = say[1];
	assert_int_equal(shmq_pub_open(c, "w.ping", NULL, &p), 0);
	pid = child_start(run_counting_reader, &j);
	assert_int_equal(pipe_expect(say[0], "open"), 0);
	for (uint64_t i = 0; i < PACED_MSGS; i++) {
		fx_publish_u64(p, i, FX_HANG_NS);
		nanosleep(&gap, NULL);
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	print_message("%u messages at 5,000/s: the reader paused %llu times\n", PACED_MSGS,
		      (unsigned long long)*child_pauses);
	assert_int_equal(*child_pauses, 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
	close(say[0]);
	close(say[1]);
	fx_shared_free(child_pauses, sizeof(uint64_t));
}

/* A sleeping reader of w.ping that waits 500 ms for a message that never comes. */
static int run_bumped_reader(void *arg)
{
	const struct echo_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(j->sock, &c) || open_pair(c, "w.ping", SHMQ_WAIT_SLEEP, &s, NULL, NULL))
		return 10;
	pipe_say(j->say_fd, "open");
	pauses_start();
	if (shmq_recv(s, &m, 500 * 1000000ll) != -SHMQ_ETIMEDOUT)
		return 11;
	*j->child_pauses = pauses_stop();
	return 0;
}

/*
 * The defence still holds: a client that bumps wake_seq and wakes it in a
 * loop, with no message, makes a sleeping reader pause.
 */
static void test_wake_word_bumps_are_still_paced(void **state)
{
	struct daemon *d = dmn(state);
	uint64_t *child_pauses = fx_shared_alloc(sizeof(uint64_t));
	struct echo_job j = {.sock = d->sock};
	struct raw_chan rc;
	struct raw r;
	int say[2];
	pid_t pid;
	int64_t end;

	assert_non_null(child_pauses);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	j.child_pauses = child_pauses;
	j.say_fd = say[1];
	fx_raw_open(&r, d, "w.ping", ROLE_SUB, &rc);
	pid = child_start(run_bumped_reader, &j);
	assert_int_equal(pipe_expect(say[0], "open"), 0);
	end = fx_now_ns() + 400 * 1000000ll;
	while (fx_now_ns() < end) {
		atomic_fetch_add(&rc.wake->wake_seq, 1);
		syscall(SYS_futex, &rc.wake->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	print_message("bumped for 400 ms: the reader paused %llu times\n",
		      (unsigned long long)*child_pauses);
	assert_true(*child_pauses > 0);
	raw_chan_unmap(&rc);
	raw_close(&r);
	close(say[0]);
	close(say[1]);
	fx_shared_free(child_pauses, sizeof(uint64_t));
}

/* ---- a publisher waiting for space ---- */

/*
 * While armed, CLOCK_MONOTONIC runs 1 ms per call (so that a publisher's
 * spin for space ends at its first look at the clock), and at the third
 * call, the one after the spin's last claim, the reader drain_sub frees
 * the whole ring.
 */
static bool clock_armed;
static unsigned clock_calls;
static int64_t clock_skew_ns;
static struct shmq_sub *drain_sub;

static void drain_all(void)
{
	struct shmq_msg m;

	while (shmq_recv(drain_sub, &m, 0) == 0)
		;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int r = (int)syscall(SYS_clock_gettime, clk, ts);

	if (r || !clock_armed || clk != CLOCK_MONOTONIC)
		return r;
	clock_skew_ns += 1000000;
	ts->tv_sec += clock_skew_ns / 1000000000;
	ts->tv_nsec += clock_skew_ns % 1000000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	if (++clock_calls == 3) {
		clock_armed = false; /* the drain reads no clock of ours */
		drain_all();
	}
	return r;
}

static uint64_t space_waits(struct shmq_client *c, const char *name)
{
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_mon *mon;
	uint64_t n;

	assert_non_null(st);
	assert_int_equal(shmq_mon_open(c, name, &mon), 0);
	assert_int_equal(shmq_mon_read(mon, st), 0);
	assert_int_equal(st->npubs, 1);
	n = st->pubs[0].space_waits;
	shmq_mon_close(mon);
	free(st);
	return n;
}

/*
 * wait_space() set space_wanted and slept on space_seq without looking at
 * the readers again: a reader that freed the ring after the publisher's
 * last claim and before the flag saw no flag, woke nobody, and the
 * publisher slept its 1 ms bound with the ring empty. Now it looks again
 * after the flag and does not sleep.
 */
static void test_publisher_sees_space_freed_just_before_it_sleeps(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d), *rc = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN};
	struct shmq_pub *p;
	uint64_t v = 0, waits;
	int err;

	assert_int_equal(shmq_sub_open(rc, "w.ping", &so, &drain_sub), 0);
	assert_int_equal(shmq_pub_open(c, "w.ping", NULL, &p), 0);
	while ((err = shmq_publish(p, &v, sizeof(v), 0, NULL)) == 0)
		v++;
	assert_int_equal(err, -SHMQ_EFULL);
	clock_calls = 0;
	clock_skew_ns = 0;
	clock_armed = true;
	err = shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL);
	clock_armed = false;
	assert_int_equal(err, 0);
	assert_int_equal(clock_calls, 3); /* the drain happened */
	waits = space_waits(c, "w.ping");
	print_message("ring of %llu freed after the last claim: the publisher slept %llu times\n",
		      (unsigned long long)v, (unsigned long long)waits);
	assert_int_equal(waits, 0);
	shmq_pub_close(p);
	shmq_sub_close(drain_sub);
	shmq_disconnect(rc);
	shmq_disconnect(c);
}

#define W(f)                                                                                       \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(uintptr_t)(CONF))

int main(void)
{
	const struct CMUnitTest tests[] = {
	    W(test_subscriber_cannot_block_anyone_through_its_wake_fd),
	    W(test_publisher_cannot_block_a_readers_poll),
	    W(test_honest_ping_pong_is_never_paced),
	    W(test_paced_traffic_is_never_paced),
	    W(test_wake_word_bumps_are_still_paced),
	    W(test_publisher_sees_space_freed_just_before_it_sleeps),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "not root: cannot run children as a second uid; skipping\n");
		return 77;
	}
	if (getenv("SHMQ_TEST_FILTER")) /* one test by name (a pattern with * and ?) */
		cmocka_set_test_filter(getenv("SHMQ_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
