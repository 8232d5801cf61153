/*
 * test_daemon_limits.c - shmqd at its limits: out of descriptors (its
 * RLIMIT_NOFILE lowered from outside with prlimit(2)), at max_channels,
 * the start position of late joiners on a full block-policy channel, and
 * admission: a second uid (nobody, in children; needs root) at its
 * connection quota and connections that never say HELLO. Every resource
 * the daemon runs out of gives the client a clear error, and the daemon
 * serves again once it is back. Test process, one thread.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

/* The n-th (from 0) descriptor number shmqd does not use now. */
static int free_fd_nth(const struct daemon *d, int n)
{
	char path[64];
	static bool used[4096];
	struct dirent *e;
	DIR *dir;

	memset(used, 0, sizeof(used));
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
			used[fd] = true;
	}
	closedir(dir);
	for (int fd = 0; fd < 4096; fd++)
		if (!used[fd] && n-- == 0)
			return fd;
	fail_msg("shmqd uses 4096 descriptors");
	return -1;
}

/*
 * Let shmqd open exactly n more descriptors: its soft RLIMIT_NOFILE. The
 * hard limit stays, so that a later call may raise it again.
 */
static void daemon_fd_allow(const struct daemon *d, int n)
{
	struct rlimit rl;

	assert_int_equal(prlimit(d->pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = (rlim_t)free_fd_nth(d, n);
	if (prlimit(d->pid, RLIMIT_NOFILE, &rl, NULL))
		fail_msg("prlimit(%d, NOFILE, %d): %s", (int)d->pid, (int)rl.rlim_cur,
			 strerror(errno));
}

/*
 * Creating a channel fails at every step that needs a descriptor (data,
 * control and wake segments, a read-only view of each): each time with
 * -SHMQ_ELIMIT, nothing leaks and nothing is released twice (ASan).
 */
static void test_create_out_of_descriptors_fails_cleanly_at_every_step(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 4096, .max_message_bytes = 64};
	struct shmq_client *c;
	int base;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_int_equal(fx_wait_fd_count(d, daemon_fd_count(d)), 0);
	base = daemon_fd_count(d);
	for (int n = 0; n < 6; n++) {
		daemon_fd_allow(d, n);
		assert_int_equal(shmq_channel_create(c, "starved", &o), -SHMQ_ELIMIT);
		assert_int_equal(daemon_fd_count(d), base);
	}
	daemon_fd_allow(d, 1000);
	assert_int_equal(shmq_channel_create(c, "starved", &o), 0);
	assert_int_equal(shmq_channel_delete(c, "starved"), 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* CPU time shmqd has used, in clock ticks. */
static long daemon_cpu_ticks(const struct daemon *d)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold spaces */
	assert_non_null(p);
	assert_int_equal(
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime),
	    2);
	return (long)(utime + stime);
}

/*
 * Out of descriptors, shmqd cannot accept a client. It closes the pending
 * connection (the client gets a clear error, not a hang) instead of
 * spinning on the still readable listening socket, logs a bounded number
 * of lines, and serves again once descriptors are free.
 */
static void test_out_of_descriptors_new_clients_are_closed_not_left_hanging(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c, *c2;
	int lines = daemon_log_lines(d), err;
	long ticks;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	daemon_fd_allow(d, 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(raw_connect(&r, d->sock), 0);
		assert_int_equal(raw_hello(&r), RAW_CLOSED);
		raw_close(&r);
	}
	err = shmq_connect(d->sock, &c2);
	assert_true(err == -SHMQ_ECLOSED || err == -SHMQ_ENODAEMON);
	/* a client that connects and says nothing: no busy loop meanwhile */
	assert_int_equal(raw_connect(&r, d->sock), 0);
	ticks = daemon_cpu_ticks(d);
	fx_nap_ms(300);
	ticks = daemon_cpu_ticks(d) - ticks;
	print_message("shmqd used %ld ticks in 300 ms\n", ticks);
	assert_true(ticks < 10);
	raw_close(&r);
	lines = daemon_log_lines(d) - lines;
	print_message("shmqd logged %d lines\n", lines);
	assert_true(lines <= 10);
	/* the client connected before still works; new ones do once fds are back */
	assert_true(shmq_channel_list(c, NULL, 0) >= 0);
	daemon_fd_allow(d, 1000);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/*
 * Shedding a connection (out of descriptors) leaves the daemon's start
 * time as it was: OP_STATS' started_ns is when shmqd started, so that
 * uptime (now_ns - started_ns) only grows.
 */
static void test_shedding_connections_keeps_the_start_time(void **state)
{
	struct daemon *d = *state;
	struct shmq_daemon_stats before, after;
	struct shmq_client *c;
	struct raw r;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_true(shmq_daemon_stats(c, &before, NULL, 0) >= 0);
	fx_nap_ms(20); /* a later clock reading differs from started_ns */
	daemon_fd_allow(d, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(raw_connect(&r, d->sock), 0);
		assert_int_equal(raw_hello(&r), RAW_CLOSED);
		raw_close(&r);
	}
	daemon_fd_allow(d, 1000);
	assert_true(shmq_daemon_stats(c, &after, NULL, 0) >= 0);
	assert_int_equal(after.started_ns, before.started_ns);
	assert_true(after.now_ns - after.started_ns >= before.now_ns - before.started_ns);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/*
 * A channel larger than the memory there is fails with -SHMQ_ENOMEM at
 * creation (memory is allocated up front), instead of SIGBUS on the first
 * touch or an OOM kill. A ring of 2^40 bytes: 1 TiB.
 */
static void test_channel_larger_than_memory_fails_with_enomem(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 1ull << 40, .max_message_bytes = 64};
	struct shmq_channel_info ci;
	struct shmq_client *c;
	int base;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	base = daemon_fd_count(d);
	assert_int_equal(shmq_channel_create(c, "huge", &o), -SHMQ_ENOMEM);
	assert_int_equal(shmq_channel_info(c, "huge", &ci), -SHMQ_ENOENT);
	assert_int_equal(daemon_fd_count(d), base);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

static int two_channels_setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d || daemon_start(d, "[daemon]\nmax_channels = 2\n")) {
		if (d)
			daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

/*
 * A deleted channel lives (and holds its memory) while handles are open,
 * so it counts toward max_channels: a client looping create, open, delete
 * runs into -SHMQ_ELIMIT instead of growing the daemon without bound.
 */
static void test_deleted_channels_still_open_count_toward_max_channels(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c;
	struct shmq_pub *p[8];
	char name[16];
	int i, err = 0;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "churn%d", i);
		err = shmq_channel_create(c, name, NULL);
		if (err)
			break;
		assert_int_equal(shmq_pub_open(c, name, NULL, &p[i]), 0);
		assert_int_equal(shmq_channel_delete(c, name), 0);
	}
	assert_int_equal(err, -SHMQ_ELIMIT);
	assert_int_equal(i, 2);
	/* the last handle gone, the deleted channel is freed and its place too */
	shmq_pub_close(p[0]);
	assert_int_equal(shmq_channel_create(c, "again", NULL), 0);
	assert_int_equal(shmq_channel_create(c, "more", NULL), -SHMQ_ELIMIT);
	shmq_pub_close(p[1]);
	assert_int_equal(shmq_channel_delete(c, "again"), 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* The next uint64, none lost before it, equal to its offset. */
static uint64_t recv_u64_lossless(struct shmq_sub *s, struct shmq_msg *m)
{
	uint64_t v;

	v = fx_recv_u64(s, m);
	assert_int_equal(m->lost, 0);
	assert_int_equal(v, m->offset);
	return v;
}

static struct shmq_sub *sub_from(struct shmq_client *c, const char *name, uint32_t start,
				 uint64_t offset)
{
	struct shmq_sub_opts so = {.start = start, .offset = offset};
	struct shmq_sub *s;

	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	return s;
}

/* The cursor reader A has published: the only active entry's pos. */
static uint64_t published_pos(struct daemon *d, const char *name)
{
	static struct shmq_mon_stats st;
	struct shmq_client *c = fx_connect(d);
	struct shmq_mon *mon;

	assert_int_equal(shmq_mon_open(c, name, &mon), 0);
	assert_int_equal(shmq_mon_read(mon, &st), 0);
	assert_int_equal(st.nreaders, 1);
	shmq_mon_close(mon);
	shmq_disconnect(c);
	return st.readers[0].offset;
}

/*
 * Block policy: publishers may run a ring ahead of the slowest reader,
 * so a late joiner asking for the earliest message (or an offset below
 * that reader) starts at the slowest active reader's offset, not at the
 * oldest message kept, and then loses nothing while a publisher fills the
 * ring. The ring holds n uint64 messages; reader A has read h + 2 of
 * n + n/4 (h = n/2), so the oldest kept is about n/4.
 */
static void test_block_late_joiner_starts_at_the_slowest_reader(void **state)
{
	struct daemon *d = *state;
	struct pub_job pj = {
	    .sock = d->sock, .chan = "late", .go_fd = -1, .timeout_ns = FX_HANG_NS};
	struct shmq_sub *a, *b, *e;
	struct shmq_client *c;
	struct shmq_msg m;
	uint64_t n, h, slow, oldest, v;
	pid_t pub;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	fx_channel_create(c, "late", 16, SHMQ_POLICY_BLOCK);
	n = fx_ring_msgs(c, "late", 8);
	h = n / 2;
	/* no active reader: EARLIEST is the oldest retained, as asked */
	pj.last = h;
	assert_int_equal(child_wait(child_start(fx_run_publisher, &pj), FX_HANG_S), 0);
	e = sub_from(c, "late", SHMQ_START_EARLIEST, 0);
	assert_int_equal(recv_u64_lossless(e, &m), 0);
	shmq_sub_close(e);
	a = sub_from(c, "late", SHMQ_START_OFFSET, h);
	pj.first = h, pj.last = n;
	assert_int_equal(child_wait(child_start(fx_run_publisher, &pj), FX_HANG_S), 0);
	for (v = h; v < h + 2; v++)
		assert_int_equal(recv_u64_lossless(a, &m), v);
	pj.first = n, pj.last = n + n / 4;
	assert_int_equal(child_wait(child_start(fx_run_publisher, &pj), FX_HANG_S), 0);
	slow = published_pos(d, "late");
	oldest = fx_oldest(c, "late");
	print_message("A read %llu of %llu, published pos %llu, oldest %llu\n",
		      (unsigned long long)(h + 2), (unsigned long long)pj.last,
		      (unsigned long long)slow, (unsigned long long)oldest);
	assert_true(oldest >= pj.last - n);
	assert_true(slow > oldest + 1 && slow <= h + 2);
	/* an offset below the slowest reader is raised as well */
	e = sub_from(c, "late", SHMQ_START_OFFSET, oldest + 1);
	assert_int_equal(recv_u64_lossless(e, &m), slow);
	shmq_sub_close(e);
	b = sub_from(c, "late", SHMQ_START_EARLIEST, 0);
	assert_int_equal(recv_u64_lossless(b, &m), slow);
	for (v = slow + 1; v < h + 2; v++)
		assert_int_equal(recv_u64_lossless(b, &m), v);
	/* a publisher fills the ring again and again; both lose nothing */
	pj.first = pj.last, pj.last = 4 * n;
	pub = child_start(fx_run_publisher, &pj);
	assert_true(pub > 0);
	for (v = h + 2; v < pj.last; v++) {
		assert_int_equal(recv_u64_lossless(a, &m), v);
		assert_int_equal(recv_u64_lossless(b, &m), v);
	}
	assert_int_equal(child_wait(pub, FX_HANG_S), 0);
	shmq_sub_close(a);
	shmq_sub_close(b);
	assert_int_equal(shmq_channel_delete(c, "late"), 0);
	shmq_disconnect(c);
}

/* ---- admission: connections of a second uid (nobody) ---- */

#define QUOTA_CONNS 4
#define IDLE_CONNS 56

/* A child of another uid that holds connections; lines on say_fd, "go" on go_fd. */
struct conn_job {
	const char *sock;
	int say_fd;
	int go_fd;
	struct raw conns[QUOTA_CONNS + IDLE_CONNS];
};

/* Say what went wrong ("step:SHMQ_E..."), return code. */
static int conn_fail(const struct conn_job *j, int code, const char *step, int err)
{
	char line[80];

	snprintf(line, sizeof(line), "%s:%s", step, err < 0 ? shmq_errname(err) : "other");
	pipe_say(j->say_fd, line);
	return code;
}

static void conns_close(struct conn_job *j, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		raw_close(&j->conns[i]);
}

/*
 * As nobody: QUOTA_CONNS connections that said HELLO, then IDLE_CONNS
 * that say nothing; "held"; once told "go", check what the idle ones and a
 * libshmq client were answered.
 */
static int run_idle_conns(void *arg)
{
	struct conn_job *j = arg;
	struct shmq_client *c;
	struct proto_hdr h;
	int err;

	if (fx_become_nobody())
		return conn_fail(j, 77, "become-nobody", 0);
	for (unsigned i = 0; i < QUOTA_CONNS + IDLE_CONNS; i++) {
		if (raw_connect(&j->conns[i], j->sock))
			return conn_fail(j, 1, "connect", 0);
		err = i < QUOTA_CONNS ? raw_hello(&j->conns[i]) : 0;
		if (err)
			return conn_fail(j, 2, "hello", err);
	}
	pipe_say(j->say_fd, "held");
	if (pipe_wait_line(j->go_fd))
		return 3;
	/* each idle one over the quota was refused in words, then closed */
	for (unsigned i = QUOTA_CONNS; i < QUOTA_CONNS + IDLE_CONNS; i++) {
		err = raw_reply(&j->conns[i], &h, NULL, 0, NULL, NULL);
		if (err != -SHMQ_ECONNQUOTA)
			return conn_fail(j, 4, "idle-answer", err);
		err = raw_reply(&j->conns[i], &h, NULL, 0, NULL, NULL);
		if (err != RAW_CLOSED)
			return conn_fail(j, 5, "idle-not-closed", err);
	}
	/* libshmq reports the quota, not a closed connection */
	err = shmq_connect(j->sock, &c);
	if (!err)
		shmq_disconnect(c);
	if (err != -SHMQ_ECONNQUOTA || !strstr(shmq_strerror(err), "connections"))
		return conn_fail(j, 6, "libshmq-connect", err);
	conns_close(j, QUOTA_CONNS + IDLE_CONNS);
	pipe_say(j->say_fd, "ok");
	return 0;
}

/*
 * shmqd's descriptor count once it serves: connected to the socket, it
 * may still be starting (the keeper's connection comes later), but it
 * answers the first request only when it is done. *c stays connected.
 */
static int served_fd_count(struct daemon *d, struct shmq_client **c)
{
	*c = fx_connect(d);
	assert_true(shmq_channel_list(*c, NULL, 0) >= 0);
	return daemon_fd_count(d);
}

/* Let shmqd hold at most n descriptors (its soft RLIMIT_NOFILE). */
static void daemon_fd_limit(const struct daemon *d, rlim_t n)
{
	struct rlimit rl;

	assert_int_equal(prlimit(d->pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = n;
	assert_int_equal(prlimit(d->pid, RLIMIT_NOFILE, &rl, NULL), 0);
}

/*
 * One uid at its max_connections_per_uid (4) opens 56 more connections
 * and says nothing on them, with shmqd limited to 64 descriptors. Each
 * one over the quota is refused at once (an answer -SHMQ_ECONNQUOTA, then
 * closed), so that it costs shmqd no descriptor: root still connects and
 * lists. They used to be kept until their first request, two descriptors
 * each, and root's connection was shed (-SHMQ_ECLOSED).
 */
static void test_idle_connections_over_quota_are_refused_at_accept(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c, *first;
	struct conn_job *j;
	int say[2], go[2], base;
	pid_t pid;

	if (geteuid())
		skip(); /* a second uid needs root */
	j = fx_shared_alloc(sizeof(*j));
	assert_non_null(j);
	base = served_fd_count(d, &first);
	assert_true(base > 0 && base < 32);
	daemon_fd_limit(d, 64);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	*j = (struct conn_job){.sock = d->sock, .say_fd = say[1], .go_fd = go[0]};
	pid = child_start(run_idle_conns, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(say[0], "held"), 0);
	/* root's connection waits behind nobody's in the listen queue */
	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_true(shmq_channel_list(c, NULL, 0) >= 0);
	/* nobody's four and root's: a socket and a pidfd each */
	assert_int_equal(fx_wait_fd_count_at_most(d, base + 2 * (QUOTA_CONNS + 1)), 0);
	assert_int_equal(write(go[1], "go\n", 3), 3);
	assert_int_equal(pipe_expect(say[0], "ok"), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_disconnect(c);
	shmq_disconnect(first);
	for (int i = 0; i < 2; i++) {
		close(say[i]);
		close(go[i]);
	}
	fx_shared_free(j, sizeof(*j));
	daemon_fd_limit(d, 1024);
	fx_assert_daemon_serves(d);
}

/*
 * As nobody: QUOTA_CONNS connections that never say HELLO; each is
 * answered -SHMQ_ETIMEDOUT and closed once HELLO is overdue, which gives
 * the uid its quota back.
 */
static int run_silent_conns(void *arg)
{
	struct conn_job *j = arg;
	struct shmq_client *c;
	struct proto_hdr h;
	int err;

	if (fx_become_nobody())
		return conn_fail(j, 77, "become-nobody", 0);
	for (unsigned i = 0; i < QUOTA_CONNS; i++)
		if (raw_connect(&j->conns[i], j->sock))
			return conn_fail(j, 1, "connect", 0);
	for (unsigned i = 0; i < QUOTA_CONNS; i++) {
		err = raw_reply(&j->conns[i], &h, NULL, 0, NULL, NULL);
		if (err != -SHMQ_ETIMEDOUT || h.op != OP_HELLO)
			return conn_fail(j, 2, "silent-answer", err);
		err = raw_reply(&j->conns[i], &h, NULL, 0, NULL, NULL);
		if (err != RAW_CLOSED)
			return conn_fail(j, 3, "silent-not-closed", err);
	}
	conns_close(j, QUOTA_CONNS);
	err = shmq_connect(j->sock, &c);
	if (err)
		return conn_fail(j, 4, "connect-after", err);
	err = shmq_channel_list(c, NULL, 0);
	shmq_disconnect(c);
	if (err < 0)
		return conn_fail(j, 5, "list-after", err);
	pipe_say(j->say_fd, "ok");
	return 0;
}

/*
 * A connection that never says HELLO is answered -SHMQ_ETIMEDOUT and
 * closed after hello_timeout_ms (default 5 s): silent connections hold no
 * quota and no descriptors for ever. They used to stay until the client
 * went.
 */
static void test_connections_without_hello_are_closed_at_the_deadline(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *first;
	struct conn_job *j;
	int say[2], base;
	pid_t pid;

	if (geteuid())
		skip(); /* a second uid needs root */
	j = fx_shared_alloc(sizeof(*j));
	assert_non_null(j);
	base = served_fd_count(d, &first);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	*j = (struct conn_job){.sock = d->sock, .say_fd = say[1], .go_fd = -1};
	pid = child_start(run_silent_conns, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(say[0], "ok"), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	assert_int_equal(fx_wait_fd_count_at_most(d, base), 0);
	shmq_disconnect(first);
	close(say[0]);
	close(say[1]);
	fx_shared_free(j, sizeof(*j));
	fx_assert_daemon_serves(d);
}

/* ---- admission: handles of a second uid on one channel ---- */

#define HANDLES_MAX (MAX_READERS + 1) /* one more than a channel has slots */

/* Publishers and subscribers a child of another uid holds on chan. */
struct handle_job {
	const char *sock;
	const char *chan;
	int say_fd;
	int go_fd;
	struct shmq_client *c[2];
	struct shmq_sub *subs[HANDLES_MAX];
	struct shmq_pub *pubs[HANDLES_MAX];
	unsigned nsubs, npubs;
	int sub_err, pub_err; /* what the one more of each got */
	bool create;	      /* create chan first (as its owner) */
};

/* Open subscribers, then publishers, on two connections in turn until one is refused. */
static void handles_fill(struct handle_job *j)
{
	do
		j->sub_err = shmq_sub_open(j->c[j->nsubs % 2], j->chan, NULL, &j->subs[j->nsubs]);
	while (!j->sub_err && ++j->nsubs < HANDLES_MAX);
	do
		j->pub_err = shmq_pub_open(j->c[j->npubs % 2], j->chan, NULL, &j->pubs[j->npubs]);
	while (!j->pub_err && ++j->npubs < HANDLES_MAX);
}

/*
 * As nobody: fill chan with handles and say "filled"; once told "go",
 * close one of each and open one of each again.
 */
static int run_handle_hog(void *arg)
{
	struct handle_job *j = arg;

	if (fx_become_nobody())
		return 77;
	if (shmq_connect(j->sock, &j->c[0]) || shmq_connect(j->sock, &j->c[1]))
		return 1;
	if (j->create && shmq_channel_create(j->c[0], j->chan, NULL))
		return 5;
	handles_fill(j);
	pipe_say(j->say_fd, "filled");
	if (pipe_wait_line(j->go_fd))
		return 2;
	/* a closed handle gives its place back */
	shmq_sub_close(j->subs[--j->nsubs]);
	shmq_pub_close(j->pubs[--j->npubs]);
	if (shmq_sub_open(j->c[0], j->chan, NULL, &j->subs[j->nsubs++]) ||
	    shmq_pub_open(j->c[0], j->chan, NULL, &j->pubs[j->npubs++]))
		return 3;
	pipe_say(j->say_fd, "ok");
	if (pipe_wait_line(j->go_fd))
		return 4;
	shmq_disconnect(j->c[0]);
	shmq_disconnect(j->c[1]);
	return 0;
}

/*
 * nobody opens subscribers and publishers of chan until refused, with
 * want of each allowed: the next is -SHMQ_EHANDLEQUOTA; root still opens
 * both, and a closed handle of nobody's makes room for one.
 */
static void handles_check(struct daemon *d, const char *chan, unsigned want)
{
	struct handle_job *j;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_pub *p;
	int say[2], go[2];
	pid_t pid;

	if (geteuid())
		skip(); /* a second uid needs root */
	j = fx_shared_alloc(sizeof(*j));
	assert_non_null(j);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	*j = (struct handle_job){.sock = d->sock, .chan = chan, .say_fd = say[1], .go_fd = go[0]};
	pid = child_start(run_handle_hog, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(say[0], "filled"), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_sub_open(c, chan, NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, chan, NULL, &p), 0);
	print_message("nobody: %u subscribers, then %s; %u publishers, then %s\n", j->nsubs,
		      shmq_errname(j->sub_err), j->npubs, shmq_errname(j->pub_err));
	assert_int_equal(j->nsubs, want);
	assert_int_equal(j->npubs, want);
	assert_int_equal(j->sub_err, -SHMQ_EHANDLEQUOTA);
	assert_int_equal(j->pub_err, -SHMQ_EHANDLEQUOTA);
	assert_int_equal(write(go[1], "go\n", 3), 3);
	assert_int_equal(pipe_expect(say[0], "ok"), 0);
	assert_int_equal(write(go[1], "go\n", 3), 3);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
	for (int i = 0; i < 2; i++) {
		close(say[i]);
		close(go[i]);
	}
	fx_shared_free(j, sizeof(*j));
	fx_assert_daemon_serves(d);
}

/*
 * One uid may hold max_handles_per_uid (default 16) of a channel's 64
 * subscriber slots and as many of its 64 publisher slots: one more is
 * -SHMQ_EHANDLEQUOTA, and root (any other uid) still finds a slot. A uid
 * used to take every slot, and root then got -SHMQ_ELIMIT.
 */
static void test_one_uid_takes_at_most_its_share_of_a_channels_slots(void **state)
{
	handles_check(*state, "shared", 16);
}

/* [channel] max_handles_per_uid overrides the daemon's for that channel. */
static void test_a_channel_sets_its_own_handle_limit(void **state)
{
	handles_check(*state, "narrow", 3);
}

/*
 * The limit protects the others who may use a channel: a channel's owner
 * (here one that nobody created, which only nobody and root may use) may
 * take every slot of it.
 */
static void test_a_channels_owner_may_take_all_its_slots(void **state)
{
	struct daemon *d = *state;
	struct handle_job *j;
	int say[2], go[2];
	pid_t pid;

	if (geteuid())
		skip(); /* a second uid needs root */
	j = fx_shared_alloc(sizeof(*j));
	assert_non_null(j);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	*j = (struct handle_job){
	    .sock = d->sock, .chan = "mine", .say_fd = say[1], .go_fd = go[0], .create = true};
	pid = child_start(run_handle_hog, j);
	assert_true(pid > 0);
	assert_int_equal(pipe_expect(say[0], "filled"), 0);
	assert_int_equal(j->nsubs, MAX_READERS);
	assert_int_equal(j->npubs, MAX_PUBS);
	assert_int_equal(j->sub_err, -SHMQ_ELIMIT);
	assert_int_equal(j->pub_err, -SHMQ_ELIMIT);
	child_kill(pid);
	for (int i = 0; i < 2; i++) {
		close(say[i]);
		close(go[i]);
	}
	fx_shared_free(j, sizeof(*j));
	fx_assert_daemon_serves(d);
}

/*
 * The HELLO deadline is the client's, not the daemon's: a connection whose
 * HELLO waits in its socket while shmqd is stopped past the deadline
 * (here 100 ms; SIGSTOP stands for a busy or descheduled daemon) is
 * answered, not closed, even when the deadline's timer comes first.
 */
static void test_a_hello_that_waits_for_a_stopped_daemon_is_answered(void **state)
{
	struct daemon *d = *state;
	struct proto_hello hello = {.major = PROTO_VERSION}, out;
	struct shmq_client *first;
	int base = served_fd_count(d, &first);
	struct proto_hdr h;
	struct raw r;

	assert_int_equal(raw_connect(&r, d->sock), 0);
	/* accepted: its socket and pidfd */
	assert_int_equal(fx_wait_fd_count(d, base + 2), 0);
	assert_int_equal(kill(d->pid, SIGSTOP), 0);
	fx_nap_ms(50); /* the 10 ms timer is due before the HELLO arrives */
	assert_int_equal(raw_request(&r, OP_HELLO, &hello, sizeof(hello)), 0);
	fx_nap_ms(300);
	assert_int_equal(kill(d->pid, SIGCONT), 0);
	assert_int_equal(raw_reply(&r, &h, &out, sizeof(out), NULL, NULL), 0);
	assert_int_equal(h.op, OP_HELLO);
	assert_int_equal(h.seq, r.seq);
	/* and it stays: a request after the deadline is answered too */
	fx_nap_ms(300);
	assert_int_equal(raw_call(&r, OP_LIST, &(struct proto_list_req){0},
				  sizeof(struct proto_list_req), NULL, 0),
			 0);
	raw_close(&r);
	shmq_disconnect(first);
	fx_assert_daemon_serves(d);
}

#define CONF_CONN_QUOTA "[daemon]\nmax_connections_per_uid = 4\n"
#define CONF_FAST_HELLO "[daemon]\nhello_timeout_ms = 100\n"
#define CONF_OWN "[daemon]\ncreate = 65534\nmax_handles_per_uid = 2\n"
#define CONF_SHARED "[channel shared]\npublish = *\nsubscribe = *\n"
#define CONF_NARROW                                                                                \
	"[daemon]\nmax_handles_per_uid = 32\n"                                                     \
	"[channel narrow]\nmax_handles_per_uid = 3\npublish = *\nsubscribe = *\n"
#define C(f, conf)                                                                                 \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(conf))

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

/* Run shmqd --socket path; its exit status (-1 if it ran past 5 s). */
static int shmqd_on(const char *path)
{
	const char *bin = getenv("SHMQD");
	int st = 0;
	pid_t pid;

	assert_non_null(bin);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execl(bin, "shmqd", "--socket", path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/*
 * --socket naming a regular file or a directory (swapped options, a typo):
 * shmqd refuses to start and leaves the file as it was; it used to delete
 * a regular file there.
 */
static void test_a_non_socket_at_the_socket_path_is_refused_and_kept(void **state)
{
	char dir[] = "/tmp/shmq-path.XXXXXX", file[64], sub[64], buf[16] = "";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/shmqd.conf", dir);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("keep me\n", f);
	fclose(f);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(shmqd_on(file) > 0);
	f = fopen(file, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep me\n");
	assert_true(shmqd_on(sub) > 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_out_of_descriptors_fails_cleanly_at_every_step),
	    T(test_out_of_descriptors_new_clients_are_closed_not_left_hanging),
	    T(test_shedding_connections_keeps_the_start_time),
	    T(test_channel_larger_than_memory_fails_with_enomem),
	    T(test_block_late_joiner_starts_at_the_slowest_reader),
	    cmocka_unit_test(test_a_non_socket_at_the_socket_path_is_refused_and_kept),
	    cmocka_unit_test_setup_teardown(
		test_deleted_channels_still_open_count_toward_max_channels, two_channels_setup,
		daemon_teardown),
	    C(test_idle_connections_over_quota_are_refused_at_accept, CONF_CONN_QUOTA),
	    C(test_connections_without_hello_are_closed_at_the_deadline, CONF_CONN_QUOTA),
	    C(test_one_uid_takes_at_most_its_share_of_a_channels_slots, CONF_SHARED),
	    C(test_a_channel_sets_its_own_handle_limit, CONF_NARROW),
	    C(test_a_channels_owner_may_take_all_its_slots, CONF_OWN),
	    C(test_a_hello_that_waits_for_a_stopped_daemon_is_answered, CONF_FAST_HELLO),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
