/*
 * test_crash.c - processes killed at named pause points against a real
 * shmqd: a publisher between claim and commit, a subscriber on a
 * block-policy channel, readers asleep, and shmqd itself. A child reports
 * reaching its pause point ("claimed", "opened", "asleep") through a pipe
 * and then waits to be killed. Everything the survivors wait for is
 * bounded by FX_HANG_S: a bug fails the test instead of hanging it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include "raw.h"
#include "shmq.h"

struct child {
	const char *sock;
	const char *chan;
	uint32_t wait;
	int say_fd;
};

/* Publish 1000, claim the next, say "claimed", wait for SIGUSR1, commit. */
static void on_usr1(int sig)
{
	(void)sig;
}

static int run_claimer(void *arg)
{
	const struct child *j = arg;
	struct shmq_client *c;
	struct shmq_claim cl;
	struct shmq_pub *p;
	sigset_t block, old;
	uint64_t v = 1000;
	int err;

	signal(SIGUSR1, on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	if (shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL))
		return 11;
	if (shmq_pub_claim(p, sizeof(v), &cl, FX_HANG_NS))
		return 12;
	v = 1001;
	memcpy(cl.data, &v, sizeof(v));
	pipe_say(j->say_fd, "claimed");
	sigsuspend(&old); /* the pause point: SIGKILL here, or SIGUSR1 to go on */
	err = shmq_pub_commit(p, &cl, sizeof(v));
	fprintf(stderr, "claimer: late commit returned %s\n", shmq_errname(err));
	return err == -SHMQ_EABANDONED ? 0 : 13;
}

static pid_t start_claimer(struct child *j, const struct daemon *d, const char *chan, int *fds)
{
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	*j = (struct child){.sock = d->sock, .chan = chan, .say_fd = fds[1]};
	pid = child_start(run_claimer, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(fds[0], "claimed"), 0);
	return pid;
}

static void test_publisher_killed_after_claim_is_counted_lost_and_others_go_on(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	int fds[2];
	pid_t pid;

	fx_channel_create(c, "crash.drop", 64, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "crash.drop", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "crash.drop", NULL, &p), 0);
	pid = start_claimer(&j, d, "crash.drop", fds);
	/* another publisher appends behind the open claim */
	for (uint64_t i = 0; i < 10; i++)
		fx_publish_u64(p, i, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1000);
	child_kill(pid);
	/* the dead claim becomes a counted loss; what followed it arrives */
	assert_int_equal(fx_recv_u64(s, &m), 0);
	assert_int_equal(m.offset, 2);
	assert_int_equal(m.lost, 1);
	for (uint64_t i = 1; i < 10; i++) {
		assert_int_equal(fx_recv_u64(s, &m), i);
		assert_int_equal(m.lost, 0);
	}
	fx_publish_u64(p, 10, 0);
	assert_int_equal(fx_recv_u64(s, &m), 10);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 1);
	assert_int_equal(st.lost_overrun, 0);
	close(fds[0]);
	close(fds[1]);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_publisher_killed_after_claim_does_not_block_a_block_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct pub_job pj = {
	    .sock = d->sock, .chan = "crash.block", .go_fd = -1, .timeout_ns = FX_HANG_NS};
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	int fds[2];
	pid_t pid, other;

	fx_channel_create(c, "crash.block", 4, SHMQ_POLICY_BLOCK);
	pj.last = 2 * fx_ring_msgs(c, "crash.block", 8);
	assert_int_equal(shmq_sub_open(c, "crash.block", NULL, &s), 0);
	pid = start_claimer(&j, d, "crash.block", fds);
	/* this publisher fills the ring behind the claim, then has to wait */
	other = child_start(fx_run_publisher, &pj);
	assert_true(other > 0);
	assert_int_equal(fx_recv_u64(s, &m), 1000);
	child_kill(pid);
	assert_int_equal(fx_recv_u64(s, &m), 0);
	assert_int_equal(m.lost, 1);
	for (uint64_t i = 1; i < pj.last; i++) {
		assert_int_equal(fx_recv_u64(s, &m), i);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(child_wait(other, FX_HANG_S), 0);
	close(fds[0]);
	close(fds[1]);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static int stalled_setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d || daemon_start(d, "[daemon]\nstuck_ms = 100\n")) {
		if (d)
			daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static void test_stalled_claim_is_abandoned_and_its_late_commit_fails(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	int fds[2];
	pid_t pid;

	fx_channel_create(c, "stall", 64, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "stall", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "stall", NULL, &p), 0);
	pid = start_claimer(&j, d, "stall", fds);
	fx_publish_u64(p, 7, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1000);
	/* the claimer lives but holds its claim past stuck_ms */
	assert_int_equal(fx_recv_u64(s, &m), 7);
	assert_int_equal(m.lost, 1);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 1);
	kill(pid, SIGUSR1);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	/* its commit did not resurrect the message */
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	close(fds[0]);
	close(fds[1]);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * A claim cut while its publisher lives, then shmqd is killed and
 * restarted: the new daemon learns the cut from the control segment and
 * still stops the stalled publisher before the others must wait for its
 * space, instead of leaving the channel full for good.
 */
static void test_claim_cut_before_a_restart_still_stops_its_publisher(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	int64_t deadline;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	uint64_t v = 0;
	int fds[2], err;
	pid_t pid;

	fx_channel_create(c, "cut.restart", 64, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "cut.restart", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "cut.restart", NULL, &p), 0);
	pid = start_claimer(&j, d, "cut.restart", fds);
	fx_publish_u64(p, 7, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1000);
	assert_int_equal(fx_recv_u64(s, &m), 7); /* the claim was cut */
	assert_int_equal(m.lost, 1);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=cut.restart"), 0);
	/* a ring and more: the new daemon must stop the claimer on the way */
	deadline = fx_now_ns() + FX_HANG_NS;
	while (waitpid(pid, NULL, WNOHANG) == 0 && fx_now_ns() < deadline) {
		err = shmq_publish(p, &v, sizeof(v), 0, NULL);
		if (err == -SHMQ_EFULL)
			fx_nap_ms(1);
		else
			assert_int_equal(err, 0);
		v += err == 0;
	}
	assert_true(fx_now_ns() < deadline);
	assert_int_equal(fx_wait_log(d, "stopping stalled publisher channel=cut.restart"), 0);
	/* the channel works on */
	assert_int_equal(shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL), 0);
	close(fds[0]);
	close(fds[1]);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * A live publisher that wrote its claim intent for offset 0 and moved the
 * tail over it, but has not committed, is stalled for at most stuck_ms (500
 * ms here), not abandoned at the daemon's first repair tick; once stuck_ms
 * passed, the claim is given up. Simulated by hand on the publisher entry
 * the daemon assigned to a raw publisher (this process, which lives).
 */
static void test_claim_at_position_zero_is_not_abandoned_at_once(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	int64_t deadline;
	struct pub_entry *e;
	struct rec_hdr *rec0;
	struct raw_chan rc;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct raw r;

	fx_channel_create(c, "zero", 64, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "zero", NULL, &s), 0);
	fx_raw_open(&r, d, "zero", ROLE_PUB, &rc);
	assert_true(rc.o.reader_idx < MAX_PUBS);
	e = rc.entry;
	rec0 = (struct rec_hdr *)((uint8_t *)rc.data + DATA_HDR_BYTES);
	assert_int_equal(atomic_load(&raw_pslot(&rc, rc.o.reader_idx)->state), SLOT_ACTIVE);
	/* what log_claim() does for one 8-byte record at 0: intent, tail */
	atomic_store(&e->claim_bytes, 0);
	atomic_store(&e->claim_end, SHMQ_RECORD_BYTES(8));
	atomic_store(&e->claim_pos, 0);
	atomic_store(&e->claim_count, 1);
	atomic_store(&e->claim_state, PUB_CLAIMING);
	atomic_store(&rc.data->tail_bytes, SHMQ_RECORD_BYTES(8));
	atomic_store(&rc.data->tail_pos, 1);
	atomic_store(&e->claim_state, PUB_CLAIMED);
	rec0->pos = 0;
	fx_nap_ms(60); /* six repair ticks, far below stuck_ms */
	assert_int_equal(atomic_load(&rec0->word), 0);
	assert_int_equal(atomic_load(&rc.ctl->abandoned), 0);
	/* past stuck_ms it is given up, and readers count it */
	deadline = fx_now_ns() + FX_HANG_NS;
	while (atomic_load(&rc.ctl->abandoned) == 0 && fx_now_ns() < deadline)
		fx_nap_ms(5);
	assert_int_equal(atomic_load(&rc.ctl->abandoned), 1);
	assert_int_equal(fx_wait_log(d, "abandoned stuck claims channel=zero count=1"), 0);
	assert_int_equal(shmq_pub_open(c, "zero", NULL, &p), 0);
	fx_publish_u64(p, 1, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	assert_int_equal(m.offset, 1);
	assert_int_equal(m.lost, 1);
	shmq_pub_close(p);
	shmq_sub_close(s);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
}

/* Open a subscriber, say "opened", never read. */
static int run_idle_subscriber(void *arg)
{
	const struct child *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, j->chan, NULL, &s))
		return 10;
	pipe_say(j->say_fd, "opened");
	pause();
	return 11;
}

static void test_killed_subscriber_releases_a_block_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	struct shmq_pub *p;
	struct child j;
	uint64_t n;
	int fds[2];
	pid_t pid;

	fx_channel_create(c, "slowpoke", 4, SHMQ_POLICY_BLOCK);
	n = fx_ring_msgs(c, "slowpoke", 8);
	assert_int_equal(shmq_pub_open(c, "slowpoke", NULL, &p), 0);
	assert_int_equal(pipe(fds), 0);
	j = (struct child){.sock = d->sock, .chan = "slowpoke", .say_fd = fds[1]};
	pid = child_start(run_idle_subscriber, &j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(fds[0], "opened"), 0);
	for (uint64_t i = 0; i < n; i++)
		fx_publish_u64(p, i, 0);
	assert_int_equal(shmq_publish(p, "x", 1, 0, NULL), -SHMQ_EFULL);
	child_kill(pid);
	/* the daemon sees the death (pidfd) and frees the cursor */
	for (uint64_t i = n; i < 3 * n; i++)
		fx_publish_u64(p, i, FX_HANG_NS);
	assert_int_equal(shmq_channel_info(c, "slowpoke", &ci), 0);
	assert_int_equal(ci.readers, 0);
	close(fds[0]);
	close(fds[1]);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Open a publisher, say "opened", then publish one message waiting for space. */
static int run_waiting_publisher(void *arg)
{
	const struct child *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	pipe_say(j->say_fd, "opened");
	shmq_publish(p, "w", 1, FX_HANG_NS, NULL); /* the pause point: waits for space */
	return 11;
}

static uint32_t space_wanted(const struct raw_chan *rc)
{
	return atomic_load_explicit(&rc->wake->space_wanted, memory_order_acquire);
}

static void test_publisher_killed_waiting_for_space_leaves_no_wake_flag(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	struct raw_chan rc;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	struct raw r;
	uint64_t n;
	int fds[2];
	pid_t pid;

	fx_channel_create(c, "jammed", 4, SHMQ_POLICY_BLOCK);
	n = fx_ring_msgs(c, "jammed", 8);
	assert_int_equal(shmq_sub_open(c, "jammed", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "jammed", NULL, &p), 0);
	for (uint64_t i = 0; i < n; i++)
		fx_publish_u64(p, i, 0);
	fx_raw_open(&r, d, "jammed", ROLE_PUB, &rc);
	assert_int_equal(pipe(fds), 0);
	j = (struct child){.sock = d->sock, .chan = "jammed", .say_fd = fds[1]};
	pid = child_start(run_waiting_publisher, &j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(fds[0], "opened"), 0);
	while (space_wanted(&rc) != 1 && fx_now_ns() < deadline)
		fx_nap_ms(1);
	assert_int_equal(space_wanted(&rc), 1);
	child_kill(pid);
	assert_int_equal(space_wanted(&rc), 1); /* nobody can clear it for the dead */
	/* the reader's next cursor store (at the latest before it waits)
	 * clears it: one spurious wake, then none */
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(fx_recv_u64(s, &m), i);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(space_wanted(&rc), 0);
	fx_publish_u64(p, n, 0);
	assert_int_equal(fx_recv_u64(s, &m), n);
	assert_int_equal(space_wanted(&rc), 0);
	close(fds[0]);
	close(fds[1]);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Open a subscriber in j->wait mode, say "asleep" and wait in shmq_recv. */
static int run_sleeper(void *arg)
{
	const struct child *j = arg;
	struct shmq_sub_opts so = {.wait = j->wait};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, j->chan, &so, &s))
		return 10;
	if (j->wait == SHMQ_WAIT_EVENTFD) {
		if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
			return 11;
		pipe_say(j->say_fd, "asleep");
		pause();
		return 12;
	}
	pipe_say(j->say_fd, "asleep");
	shmq_recv(s, &m, -1);
	return 13;
}

static uint32_t sleepers(const struct raw_chan *rc)
{
	return atomic_load_explicit(&rc->wake->sleepers, memory_order_acquire);
}

/* Wait (bounded) until the control segment counts want sleepers. */
static int wait_sleepers(const struct raw_chan *rc, uint32_t want)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;

	while (sleepers(rc) != want) {
		if (fx_now_ns() >= deadline) {
			fprintf(stderr, "sleepers is %u, expected %u\n", sleepers(rc), want);
			return -1;
		}
		fx_nap_ms(1);
	}
	return 0;
}

static void reader_killed_asleep(void **state, uint32_t wait)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct raw_chan rc;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct child j;
	struct raw r;
	int fds[2];
	pid_t pid;

	fx_channel_create(c, "sleepy", 64, SHMQ_POLICY_DROP);
	fx_raw_open(&r, d, "sleepy", ROLE_SUB, &rc);
	assert_int_equal(shmq_pub_open(c, "sleepy", NULL, &p), 0);
	assert_int_equal(pipe(fds), 0);
	j = (struct child){.sock = d->sock, .chan = "sleepy", .wait = wait, .say_fd = fds[1]};
	pid = child_start(run_sleeper, &j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(fds[0], "asleep"), 0);
	assert_int_equal(wait_sleepers(&rc, 1), 0);
	child_kill(pid);
	/* the daemon clears the dead reader's mark and fixes the count */
	assert_int_equal(wait_sleepers(&rc, 0), 0);
	/* and sleeping readers are still woken */
	assert_int_equal(shmq_sub_open(c, "sleepy", &so, &s), 0);
	assert_int_equal(shmq_publish(p, "a", 1, 0, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(sleepers(&rc), 0);
	close(fds[0]);
	close(fds[1]);
	shmq_sub_close(s);
	shmq_pub_close(p);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
}

static void test_reader_killed_asleep_on_the_futex_leaves_no_sleeper_counted(void **state)
{
	reader_killed_asleep(state, SHMQ_WAIT_SLEEP);
}

static void test_reader_killed_with_its_event_fd_armed_leaves_no_sleeper_counted(void **state)
{
	reader_killed_asleep(state, SHMQ_WAIT_EVENTFD);
}

/*
 * shmqd killed with SIGKILL: handles already open keep exchanging
 * messages while it is down, control calls answer SHMQ_ENODAEMON; a new
 * shmqd on the same socket adopts the channel from the keeper (same name,
 * identity and offsets), the old connection reconnects by itself and its
 * handles resume their slots, and new handles join the same channel.
 */
static void test_daemon_killed_keeps_the_data_path_and_restarts(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d), *c2;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_channel_info ci;
	struct shmq_pub *p, *p2;
	struct shmq_sub *s, *s2;
	struct shmq_msg m;

	fx_channel_create(c, "survivor", 64, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_pub_open(c, "survivor", NULL, &p), 0);
	assert_int_equal(shmq_sub_open(c, "survivor", &so, &s), 0);
	daemon_kill(d);
	fx_publish_u64(p, 1, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	assert_int_equal(shmq_channel_list(c, NULL, 0), -SHMQ_ENODAEMON);
	assert_int_equal(shmq_client_connected(c), 0);
	assert_int_equal(shmq_connect(d->sock, &c2), -SHMQ_ENODAEMON);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=survivor handles=2 tail=1"), 0);
	/* the old connection comes back on its next call, and resumes both handles */
	assert_int_equal(shmq_channel_info(c, "survivor", &ci), 0);
	assert_int_equal(shmq_client_connected(c), 1);
	assert_int_equal(ci.tail, 1);
	assert_int_equal(ci.readers, 1);
	assert_int_equal(ci.publishers_open, 1);
	fx_publish_u64(p, 2, 0);
	assert_int_equal(fx_recv_u64(s, &m), 2);
	assert_int_equal(m.offset, 1);
	/* a new client finds the same channel */
	c2 = fx_connect(d);
	assert_int_equal(shmq_channel_create(c2, "survivor", NULL), -SHMQ_EEXIST);
	assert_int_equal(shmq_sub_open(c2, "survivor", &so, &s2), 0);
	assert_int_equal(shmq_pub_open(c2, "survivor", NULL, &p2), 0);
	fx_publish_u64(p2, 100, 0);
	assert_int_equal(fx_recv_u64(s2, &m), 100);
	assert_int_equal(m.offset, 2);
	assert_int_equal(fx_recv_u64(s, &m), 100);
	fx_publish_u64(p, 3, 0);
	assert_int_equal(fx_recv_u64(s2, &m), 3);
	assert_int_equal(m.offset, 3);
	shmq_pub_close(p2);
	shmq_sub_close(s2);
	shmq_disconnect(c2);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
	/* closed handles left no slot behind: the channel has none open */
	c = fx_connect(d);
	assert_int_equal(shmq_channel_info(c, "survivor", &ci), 0);
	assert_int_equal(ci.readers, 0);
	assert_int_equal(ci.publishers_open, 0);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_publisher_killed_after_claim_is_counted_lost_and_others_go_on),
	    T(test_publisher_killed_after_claim_does_not_block_a_block_channel),
	    cmocka_unit_test_setup_teardown(
		test_stalled_claim_is_abandoned_and_its_late_commit_fails, stalled_setup,
		daemon_teardown),
	    cmocka_unit_test_setup_teardown(
		test_claim_cut_before_a_restart_still_stops_its_publisher, stalled_setup,
		daemon_teardown),
	    T(test_claim_at_position_zero_is_not_abandoned_at_once),
	    T(test_killed_subscriber_releases_a_block_channel),
	    T(test_publisher_killed_waiting_for_space_leaves_no_wake_flag),
	    T(test_reader_killed_asleep_on_the_futex_leaves_no_sleeper_counted),
	    T(test_reader_killed_with_its_event_fd_armed_leaves_no_sleeper_counted),
	    T(test_daemon_killed_keeps_the_data_path_and_restarts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
