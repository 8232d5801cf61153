/*
 * test_keeper.c - the keeper's handover between daemons, against a real
 * shmqd and its real keeper: records the keeper has not read yet when a
 * daemon is replaced (--replace) or dies, and a peer that connects to the
 * keeper and says nothing. The keeper is held back with SIGSTOP so that
 * records queue in its socket, which is what a busy machine does at
 * random; each test asserts what the next daemon must then hold (the
 * channel, the handle's slot, every acknowledged message), never how fast.
 * Then who owns an adopted slot after a restart: a pid that another
 * process took, the same pid under another uid, a monitor's resume. Those
 * need root (to change uid, to choose a pid through ns_last_pid), else
 * they skip. One thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ll
#define QUEUE_NAP_MS 500 /* time for a starting daemon to queue its TAKE at the keeper */

static pid_t keeper_stopped; /* a keeper this test stopped, continued at teardown */

/* The keeper of d's socket: "shmqd-keeper --keeper DIR/s.keep"; its pid or -1. */
static pid_t keeper_find(const struct daemon *d)
{
	char want[160], path[300], buf[256];
	struct dirent *e;
	pid_t found = -1;
	DIR *dir = opendir("/proc");
	int n = snprintf(want, sizeof(want), "shmqd-keeper%c--keeper%c%s.keep", 0, 0, d->sock);

	while (dir && found < 0 && (e = readdir(dir))) {
		int fd;
		ssize_t got;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		got = read(fd, buf, sizeof(buf));
		close(fd);
		if (got == n + 1 && !memcmp(buf, want, (size_t)n + 1))
			found = (pid_t)atoi(e->d_name);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* The state letter of /proc/PID/stat ('T': stopped), or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : 0;
}

/*
 * keeper_find(), waiting (bounded) for it: the daemon accepts on its
 * socket before it has started the keeper.
 */
static pid_t keeper_pid(const struct daemon *d)
{
	int64_t end = fx_now_ns() + FX_HANG_NS;
	pid_t kp;

	while ((kp = keeper_find(d)) < 0 && fx_now_ns() < end)
		fx_nap_ms(5);
	return kp;
}

/*
 * SIGSTOP the keeper of the first daemon in d once that daemon has adopted
 * (its keeper answered), and wait (bounded) until it is stopped.
 */
static pid_t keeper_stop(const struct daemon *d)
{
	pid_t kp = keeper_pid(d);
	int64_t end = fx_now_ns() + FX_HANG_NS;

	assert_true(kp > 0);
	assert_int_equal(fx_wait_log(d, "listening socket="), 0);
	assert_int_equal(kill(kp, SIGSTOP), 0);
	keeper_stopped = kp;
	while (proc_state(kp) != 'T' && fx_now_ns() < end)
		fx_nap_ms(2);
	assert_int_equal(proc_state(kp), 'T');
	return kp;
}

static void keeper_cont(void)
{
	if (keeper_stopped > 0)
		kill(keeper_stopped, SIGCONT);
	keeper_stopped = 0;
}

static pid_t spare_pid;	       /* a second daemon, until it becomes d->pid */
static _Atomic pid_t *fork_gc; /* a grandchild of the fork test, killed at teardown */

static int keeper_teardown(void **state)
{
	struct daemon *d = *state;

	keeper_cont();
	if (fork_gc && *fork_gc > 0)
		kill(*fork_gc, SIGKILL);
	if (fork_gc)
		fx_shared_free(fork_gc, sizeof(*fork_gc));
	fork_gc = NULL;
	if (spare_pid > 0 && spare_pid != d->pid) {
		kill(spare_pid, SIGKILL);
		waitpid(spare_pid, NULL, 0);
	}
	spare_pid = 0;
	return daemon_teardown(state);
}

/* Lines of d's log that contain text. */
static int log_lines_with(const struct daemon *d, const char *text)
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
 * Wait (bounded) until the n-th daemon started in d listens (the log is
 * shared: each one writes its own "listening" line); 0 or -1.
 */
static int wait_listening(const struct daemon *d, int n)
{
	int64_t end = fx_now_ns() + FX_HANG_NS;

	while (log_lines_with(d, "listening socket=") < n && fx_now_ns() < end)
		fx_nap_ms(5);
	return log_lines_with(d, "listening socket=") >= n ? 0 : -1;
}

/* Wait (bounded) for pid to exit; its wait status, or -1. */
static int reap(pid_t pid)
{
	int64_t end = fx_now_ns() + FX_HANG_NS;
	int st;

	while (fx_now_ns() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		fx_nap_ms(5);
	}
	return -1;
}

/* A publishers=one channel with a publisher holding it, n messages 1..n published. */
static struct shmq_pub *exclusive_with(struct shmq_client *c, const char *name, uint64_t n)
{
	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_DROP,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_pub *p;

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
	assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
	for (uint64_t v = 1; v <= n; v++)
		fx_publish_u64(p, v, FX_HANG_NS);
	return p;
}

/*
 * What the daemon now serving must hold of name: the channel, with its
 * tail at n; its publisher's slot (a second publisher is refused); and the
 * messages 1..n, then n + 1 that the first publisher publishes now.
 */
static void assert_kept(struct daemon *d, const char *name, struct shmq_pub *p, uint64_t n)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	struct shmq_pub *p2 = NULL;
	struct shmq_sub *s;
	struct shmq_msg m;
	int second;

	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	assert_int_equal(ci.tail, n);
	assert_int_equal(ci.publishers_open, 1);
	second = shmq_pub_open(c, name, NULL, &p2);
	if (!second)
		shmq_pub_close(p2);
	assert_int_equal(second, -SHMQ_EBUSY);
	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	fx_publish_u64(p, n + 1, FX_HANG_NS);
	for (uint64_t v = 1; v <= n + 1; v++) {
		assert_int_equal(fx_recv_u64(s, &m), v);
		assert_int_equal(m.lost, 0);
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * --replace while the keeper has not read the old daemon's last records
 * (a channel and its publisher): the keeper must apply every one of them
 * before it hands the channels over, so the new daemon adopts the channel
 * with its publisher's slot and the 11 acknowledged messages.
 */
static void test_replace_hands_over_records_the_keeper_had_not_read(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	pid_t old = d->pid;
	struct shmq_pub *p;
	int st;

	keeper_stop(d);
	p = exclusive_with(c, "k.replace", 11);
	spare_pid = daemon_spawn_replace(d);
	assert_true(spare_pid > 0);
	fx_nap_ms(QUEUE_NAP_MS);
	keeper_cont();
	st = reap(old);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	d->pid = spare_pid;
	assert_int_equal(wait_listening(d, 2), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.replace handles=1 tail=11"), 0);
	assert_kept(d, "k.replace", p, 11);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * --replace while the running daemon cannot stop (SIGSTOP): the new one is
 * refused after the keeper's 5 s and exits 1; the old one, continued, reads
 * the keeper's KEEP_STOP and then KEEP_STAY, and serves on.
 */
static void test_replace_gives_up_on_a_daemon_that_does_not_stop(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	pid_t old = d->pid;
	int64_t end = fx_now_ns() + FX_HANG_NS;
	int st;

	fx_channel_create(c, "k.stay", 16, SHMQ_POLICY_DROP);
	assert_int_equal(kill(old, SIGSTOP), 0);
	while (proc_state(old) != 'T' && fx_now_ns() < end)
		fx_nap_ms(2);
	spare_pid = daemon_spawn_replace(d);
	assert_true(spare_pid > 0);
	st = reap(spare_pid);
	spare_pid = 0;
	kill(old, SIGCONT);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_int_equal(fx_wait_log(d, "the running shmqd did not stop within 5 s"), 0);
	assert_int_equal(fx_wait_log(d, "the shmqd that was to take over gave up"), 0);
	assert_true(daemon_running(d));
	fx_assert_daemon_serves(d);
	assert_int_equal(shmq_channel_info(c, "k.stay", &(struct shmq_channel_info){0}), 0);
	shmq_disconnect(c);
}

/*
 * A daemon killed while the keeper had not read its last records: the
 * keeper must read them and notice the daemon is gone before it answers
 * the next one, instead of refusing it as a second daemon.
 */
static void test_restart_after_a_crash_with_records_the_keeper_had_not_read(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;

	keeper_stop(d);
	p = exclusive_with(c, "k.crash", 5);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	fx_nap_ms(QUEUE_NAP_MS);
	keeper_cont();
	assert_int_equal(fx_wait_log(d, "adopted channel=k.crash handles=1 tail=5"), 0);
	assert_kept(d, "k.crash", p, 5);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A keeper that reads nothing for a second (stopped here; on a loaded
 * machine, not scheduled) while the daemon has more records for it than
 * its socket holds: the daemon waits for room and the keeper, continued
 * by a child after 1 s, gets every record, so the next daemon adopts the
 * handles. Before, the daemon gave up on the keeper after 400 ms ("the
 * keeper is gone") and the restart adopted nothing.
 */
#define SLOW_CYCLES 400u /* an open and a close each: two records */

struct cont_job {
	pid_t pid;
	unsigned ms;
};

/* Child: SIGCONT j->pid after j->ms. */
static int cont_later(void *arg)
{
	const struct cont_job *j = arg;

	fx_nap_ms(j->ms);
	return kill(j->pid, SIGCONT) ? 1 : 0;
}

/* Stop d's keeper and start a child that continues it after ms. */
static pid_t keeper_stop_for(const struct daemon *d, unsigned ms)
{
	struct cont_job j = {keeper_stop(d), ms};
	pid_t helper = child_start(cont_later, &j);

	assert_true(helper > 0);
	return helper;
}

static void test_a_keeper_slow_to_read_is_not_given_up(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	struct shmq_sub *s;
	pid_t helper;

	p = exclusive_with(c, "k.slow", 3);
	helper = keeper_stop_for(d, 1000);
	for (unsigned i = 0; i < SLOW_CYCLES; i++) {
		assert_int_equal(shmq_sub_open(c, "k.slow", NULL, &s), 0);
		shmq_sub_close(s);
	}
	assert_int_equal(child_wait(helper, FX_HANG_S), 0);
	keeper_stopped = 0;
	assert_int_equal(log_lines_with(d, "will not survive a restart"), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.slow handles=1 tail=3"), 0);
	assert_kept(d, "k.slow", p, 3);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A daemon that gave up on its keeper (stopped for 3 s while the daemon
 * had more records than its socket holds) serves on without it; the
 * keeper, serving nobody, would hand that daemon's channels to the next
 * one. `shmqd --replace` then must not adopt them: they are live, and an
 * adoption rewrites their slots (and clears those the keeper never
 * heard of). It refuses and exits 1; the first daemon serves on.
 * Before, the new daemon adopted the live channels, then could not bind.
 */
static void test_replace_does_not_adopt_from_a_daemon_that_lost_its_keeper(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub *s;
	struct shmq_pub *p;
	int st, adopted;
	pid_t helper;

	p = exclusive_with(c, "k.lost", 3);
	helper = keeper_stop_for(d, 3000);
	while (log_lines_with(d, "will not survive a restart") == 0) {
		assert_int_equal(shmq_sub_open(c, "k.lost", NULL, &s), 0);
		shmq_sub_close(s);
	}
	assert_int_equal(child_wait(helper, FX_HANG_S), 0);
	keeper_stopped = 0;
	adopted = log_lines_with(d, "adopted channel=");
	spare_pid = daemon_spawn_replace(d);
	assert_true(spare_pid > 0);
	st = reap(spare_pid);
	spare_pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_int_equal(fx_wait_log(d, "without its keeper: not adopting"), 0);
	assert_int_equal(log_lines_with(d, "adopted channel="), adopted);
	assert_true(daemon_running(d));
	fx_assert_daemon_serves(d);
	fx_publish_u64(p, 4, FX_HANG_NS);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A peer of the keeper's uid that connects to the keeper and says nothing
 * must not keep the next daemon from adopting: the daemon is restarted
 * while that connection is open, and adopts the channel with it still open.
 */
static void test_restart_adopts_while_an_idle_peer_holds_a_keeper_connection(void **state)
{
	struct daemon *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct shmq_client *c = fx_connect(d);
	char path[120];
	struct shmq_pub *p;
	int idle;

	p = exclusive_with(c, "k.idle", 3);
	snprintf(path, sizeof(path), "%s.keep", d->sock);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	idle = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(idle >= 0);
	assert_int_equal(connect(idle, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fx_nap_ms(QUEUE_NAP_MS); /* the keeper accepts it */
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.idle handles=1 tail=3"), 0);
	assert_kept(d, "k.idle", p, 3);
	close(idle);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A keeper that does not answer at all (stopped) must not hold a daemon
 * for ever: it gives up after KEEP_TAKE_WAIT_S (15 s, inside FX_HANG_S),
 * says so, and serves without one.
 */
static void test_restart_serves_when_the_keeper_does_not_answer(void **state)
{
	struct daemon *d = *state;
	pid_t kp = keeper_stop(d);

	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "the keeper did not answer"), 0);
	fx_assert_daemon_serves(d);
	keeper_stopped = 0;
	kill(kp, SIGKILL); /* it serves nobody now; not reaped: the first daemon's child */
}

/* ---- who owns an adopted slot ---- */

/* Open name as a publisher, say "ready" on say_fd (its slot and generation on the pipe), wait. */
struct holder_job {
	const char *sock, *chan;
	int say_fd, go_fd;
	uint32_t role;
};

/*
 * Hold a handle opened by hand; on a "go" line, become nobody (same pid,
 * another uid) and resume the handle with the new daemon: the exit code
 * is 100 + the resume's -status (100: granted), or 10 on a failed step.
 */
static int hold_then_resume_as_nobody(void *arg)
{
	struct holder_job *j = arg;
	struct proto_resume req = {0};
	struct raw_chan rc;
	struct raw r;
	int st;

	if (raw_connect(&r, j->sock) || raw_hello(&r) || raw_open(&r, j->chan, j->role, &rc))
		return 10;
	req = (struct proto_resume){rc.o.channel_id, j->role, rc.o.reader_idx, rc.o.reader_gen, 0};
	pipe_say(j->say_fd, "ready");
	if (pipe_wait_line(j->go_fd) || fx_become_nobody())
		return 10;
	raw_close(&r);
	if (raw_connect(&r, j->sock) || raw_hello(&r))
		return 10;
	st = raw_call(&r, OP_RESUME, &req, sizeof(req), NULL, 0);
	return st > 0 || st < -99 ? 10 : 100 - st;
}

/*
 * A process that opened a handle and then changed its uid resumes it after
 * a restart: the pid matches, but the uid (and its rights: nobody may not
 * publish here) do not, and the resume is refused.
 */
static void test_resume_refused_to_the_same_pid_under_another_uid(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct holder_job j = {.sock = d->sock, .chan = "k.uid", .role = ROLE_PUB, .say_fd = -1};
	int go[2];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(d->dir, 0711), 0);
	fx_channel_create(c, "k.uid", 16, SHMQ_POLICY_DROP);
	assert_int_equal(pipe(go), 0);
	j.go_fd = go[0];
	pid = fx_child_ready(hold_then_resume_as_nobody, &j, &j.say_fd);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.uid handles=1"), 0);
	pipe_say(go[1], "go");
	assert_int_equal(child_wait(pid, FX_HANG_S), 100 + SHMQ_EPERM);
	close(go[0]);
	close(go[1]);
	shmq_disconnect(c);
}

/* A monitor's OP_RESUME for channel_id; its status. */
static int resume_monitor(const struct daemon *d, uint64_t channel_id)
{
	struct proto_resume req = {.channel_id = channel_id, .role = ROLE_MON};
	struct raw r;
	int st;

	fx_raw_hello(&r, d);
	st = raw_call(&r, OP_RESUME, &req, sizeof(req), NULL, 0);
	raw_close(&r);
	return st;
}

/*
 * A monitor resumes only a channel an earlier daemon served and that is
 * not deleted: not one deleted before the restart (its subscriber keeps
 * it), nor one this daemon made (no earlier monitor can have had it).
 */
static void test_resume_of_a_monitor_needs_a_live_adopted_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct raw r, rm;
	struct raw_chan rc, mc;
	uint64_t del_id, kept_id;

	fx_channel_create(c, "k.del", 16, SHMQ_POLICY_DROP);
	fx_channel_create(c, "k.mon", 16, SHMQ_POLICY_DROP);
	fx_raw_open(&r, d, "k.del", ROLE_SUB, &rc);
	del_id = rc.o.channel_id;
	fx_raw_open(&rm, d, "k.mon", ROLE_MON, &mc);
	kept_id = mc.o.channel_id;
	raw_chan_unmap(&mc);
	raw_close(&rm);
	assert_int_equal(shmq_channel_delete(c, "k.del"), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.del (deleted)"), 0);
	assert_int_equal(wait_listening(d, 2), 0);
	fx_channel_create(c, "k.new", 16, SHMQ_POLICY_DROP);
	fx_raw_open(&rm, d, "k.new", ROLE_MON, &mc);
	assert_int_equal(resume_monitor(d, del_id), -SHMQ_EDELETED);
	assert_int_equal(resume_monitor(d, mc.o.channel_id), -SHMQ_ESTATE);
	assert_int_equal(resume_monitor(d, kept_id), 0);
	raw_chan_unmap(&mc);
	raw_close(&rm);
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_disconnect(c);
}

/* Open chan as a publisher and say "ready"; then sleep until killed. */
static int hold_publisher(void *arg)
{
	struct holder_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (;;)
		pause();
}

static int sleep_as_nobody(void *arg)
{
	(void)arg;
	if (fx_become_nobody())
		return 10;
	for (;;)
		pause();
}

/* Start a child as nobody with pid want (through ns_last_pid); its pid, or -1. */
static pid_t child_with_pid(pid_t want)
{
	for (int tries = 0; tries < 20; tries++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		pid_t pid;

		if (!f)
			return -1;
		fprintf(f, "%d", (int)want - 1);
		if (fclose(f))
			return -1;
		pid = child_start(sleep_as_nobody, NULL);
		if (pid == want)
			return pid;
		child_kill(pid);
	}
	return -1;
}

/*
 * A publisher that dies while no daemon runs, its pid taken by an
 * unrelated process of another uid: the new daemon must see that the
 * slot's process is gone (pid and start time), free the slot of the
 * publishers=one channel and admit a new publisher, and leave the other
 * process alone.
 */
static void test_restart_frees_a_slot_whose_pid_another_process_took(void **state)
{
	struct daemon *d = *state;
	struct holder_job j = {.sock = d->sock, .chan = "k.reuse", .say_fd = -1};
	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_DROP,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p = NULL;
	pid_t pid, other;

	if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK))
		skip();
	assert_int_equal(shmq_channel_create(c, "k.reuse", &o), 0);
	pid = fx_child_ready(hold_publisher, &j, &j.say_fd);
	daemon_kill(d);
	child_kill(pid);
	other = child_with_pid(pid);
	assert_int_equal(daemon_restart(d), 0);
	if (other < 0) { /* another process took the pid first, every time */
		shmq_disconnect(c);
		skip();
	}
	assert_int_equal(fx_wait_log(d, "freed unresumed publisher channel=k.reuse"), 0);
	shmq_disconnect(c);
	c = fx_connect(d);
	assert_int_equal(shmq_pub_open(c, "k.reuse", NULL, &p), 0);
	assert_int_equal(kill(other, 0), 0);
	assert_int_equal(waitpid(other, NULL, WNOHANG), 0);
	child_kill(other);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Open chan as a publisher, fork, and exit: the child says "ready" and publishes on. */
struct fork_job {
	const char *sock, *chan;
	int say_fd;
	_Atomic pid_t *grandchild;
};

static int open_fork_exit(void *arg)
{
	struct fork_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;
	pid_t pid;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	pid = fork();
	if (pid < 0)
		return 10;
	if (pid > 0)
		return 0;
	*j->grandchild = getpid();
	pipe_say(j->say_fd, "ready");
	for (uint64_t v = 1;; v++) {
		if (shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL))
			_exit(12);
		fx_nap_ms(1);
	}
}

/* Try to open a second publisher on name: its status (the handle closed again). */
static int second_publisher(struct daemon *d, const char *name)
{
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	int err = shmq_pub_open(c, name, NULL, &p);

	if (!err)
		shmq_pub_close(p);
	shmq_disconnect(c);
	return err;
}

/*
 * A client that opens a publisher, forks and exits leaves the handle to
 * its child, which publishes on with it: the slot of the publishers=one
 * channel stays the child's while it lives, and is freed once it is gone.
 */
static void test_fork_then_exit_keeps_handles_while_the_child_uses_them(void **state)
{
	struct daemon *d = *state;
	_Atomic pid_t *gc = fork_gc = fx_shared_alloc(sizeof(*gc));
	struct fork_job j = {.sock = d->sock, .chan = "k.fork", .say_fd = -1, .grandchild = gc};
	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_DROP,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_client *c = fx_connect(d);
	int64_t end;
	pid_t pid;
	int err;

	assert_non_null(gc);
	assert_int_equal(shmq_channel_create(c, "k.fork", &o), 0);
	pid = fx_child_ready(open_fork_exit, &j, &j.say_fd);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	assert_true(*gc > 0);
	fx_nap_ms(QUEUE_NAP_MS); /* the daemon has seen the parent's exit */
	assert_int_equal(second_publisher(d, "k.fork"), -SHMQ_EBUSY);
	assert_int_equal(kill(*gc, 0), 0);
	kill(*gc, SIGKILL); /* not reaped: init's child */
	end = fx_now_ns() + FX_HANG_NS;
	do
		err = second_publisher(d, "k.fork");
	while (err == -SHMQ_EBUSY && fx_now_ns() < end && (fx_nap_ms(10), true));
	assert_int_equal(err, 0);
	shmq_disconnect(c);
}

/* ---- a channel that did not survive ---- */

/*
 * The keeper and then the daemon die: the restarted daemon knows none of
 * the old channels. A publisher that makes no control call must learn it
 * (-SHMQ_ECLOSED) once the daemon is back: within 256 publishes after its
 * reconnect backoff (at most 1 s) lets it look, well inside FX_HANG_S here;
 * a subscriber of the channel, already did (-SHMQ_ECLOSED).
 */
static void test_publisher_learns_its_channel_is_gone_after_the_keeper_died(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	int64_t end;
	uint64_t v = 0, after = 0;
	pid_t kp;
	int err;

	fx_channel_create(c, "k.lost", 16, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_pub_open(c, "k.lost", NULL, &p), 0);
	fx_publish_u64(p, ++v, FX_HANG_NS);
	kp = keeper_pid(d);
	assert_true(kp > 0);
	assert_int_equal(kill(kp, SIGKILL), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(wait_listening(d, 2), 0);
	end = fx_now_ns() + FX_HANG_NS;
	do {
		v++;
		after++;
		err = shmq_publish(p, &v, sizeof(v), 0, NULL);
		fx_nap_ms(1);
	} while (!err && fx_now_ns() < end);
	print_message("the publisher learnt it after %llu publishes\n", (unsigned long long)after);
	assert_int_equal(err, -SHMQ_ECLOSED);
	assert_int_equal(shmq_publish(p, &v, sizeof(v), 0, NULL), -SHMQ_ECLOSED);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- a protocol that can grow ---- */

/* HELLO announcing minor, with extra bytes after the body; the status. */
static int hello_minor(struct raw *r, const struct daemon *d, uint32_t minor, uint32_t extra)
{
	uint8_t body[sizeof(struct proto_hello) + 64] = {0};
	struct proto_hello h = {.major = PROTO_VERSION, .minor = minor};

	memcpy(body, &h, sizeof(h));
	assert_int_equal(raw_connect(r, d->sock), 0);
	return raw_call(r, OP_HELLO, body, sizeof(h) + extra, NULL, 0);
}

/* OP_INFO of name with extra bytes (fields of a later minor) after the body. */
static int info_longer(struct raw *r, const char *name, uint32_t extra)
{
	uint8_t body[sizeof(struct proto_name) + 64] = {0};

	snprintf((char *)body, PROTO_NAME_BYTES, "%s", name);
	return raw_call(r, OP_INFO, body, sizeof(struct proto_name) + extra, NULL, 0);
}

/*
 * A request body longer than the daemon knows is read (its known fields)
 * from a client that announced a later minor, and refused as malformed
 * from one of the daemon's own minor; a longer HELLO is read from anyone.
 */
static void test_protocol_reads_longer_bodies_from_a_later_minor(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct raw r;

	fx_channel_create(c, "k.grow", 16, SHMQ_POLICY_DROP);
	assert_int_equal(hello_minor(&r, d, PROTO_MINOR + 1, 16), 0);
	assert_int_equal(info_longer(&r, "k.grow", 32), 0);
	assert_int_equal(info_longer(&r, "k.grow", 0), 0);
	raw_close(&r);
	assert_int_equal(hello_minor(&r, d, PROTO_MINOR, 0), 0);
	assert_int_equal(info_longer(&r, "k.grow", 0), 0);
	assert_int_equal(info_longer(&r, "k.grow", 32), -SHMQ_EPROTO);
	raw_close(&r);
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, keeper_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_replace_hands_over_records_the_keeper_had_not_read),
	    T(test_replace_gives_up_on_a_daemon_that_does_not_stop),
	    T(test_restart_after_a_crash_with_records_the_keeper_had_not_read),
	    T(test_a_keeper_slow_to_read_is_not_given_up),
	    T(test_replace_does_not_adopt_from_a_daemon_that_lost_its_keeper),
	    T(test_restart_adopts_while_an_idle_peer_holds_a_keeper_connection),
	    T(test_restart_serves_when_the_keeper_does_not_answer),
	    T(test_resume_refused_to_the_same_pid_under_another_uid),
	    T(test_resume_of_a_monitor_needs_a_live_adopted_channel),
	    T(test_restart_frees_a_slot_whose_pid_another_process_took),
	    T(test_fork_then_exit_keeps_handles_while_the_child_uses_them),
	    T(test_publisher_learns_its_channel_is_gone_after_the_keeper_died),
	    T(test_protocol_reads_longer_bodies_from_a_later_minor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
