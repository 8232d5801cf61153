/*
 * test_restart.c - restarts against a real shmqd: the daemon is SIGKILLed
 * and restarted (or replaced, or stopped cleanly) under real publisher and
 * subscriber processes, and a fake keeper feeds a new daemon bad records.
 * Each test asserts what must survive (channels, handles, every message
 * once and in order, counted losses) and what must be cleaned up (dead
 * publishers' claims, dead readers), and prints what it measured: the
 * longest pause of message flow a subscriber saw and how long clients took
 * to reconnect. Bounds are stated where they are asserted; they are loose,
 * since no test may fail because the machine is slow.
 *
 * The flow tests restart the daemon SHMQ_RESTART_CYCLES times (default 5,
 * at most 64); SHMQ_STRESS_SECONDS=N raises that to N cycles. Tests that
 * drop to uid nobody, or run a fake keeper, need root (else they skip).
 * Test process: one thread; children report through MAP_SHARED memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "keeper.h"
#include "log.h"

#define CYCLES_MAX 64
#define FLOWS_MAX 4
#define MS 1000000ll

/* Asserted bounds (see each test for why they are this loose). */
#define PAUSE_BOUND_MS 2000	/* longest gap between two messages a subscriber saw */
#define RECONNECT_BOUND_MS 3000 /* daemon listening again -> a client connected again */
#define REPAIR_BOUND_MS 3000	/* daemon back -> a dead peer's hold on the channel gone */
#define CLOSED_BOUND_MS 3000	/* SIGTERM -> a subscriber's -SHMQ_ECLOSED (not the 30 s grace) */

static void nap_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static unsigned restart_cycles(void)
{
	const char *c = getenv("SHMQ_RESTART_CYCLES"), *s = getenv("SHMQ_STRESS_SECONDS");
	long n = c && *c ? atol(c) : 5;

	if (s && *s && atol(s) > n)
		n = atol(s);
	return n < 1 ? 1 : n > CYCLES_MAX ? CYCLES_MAX : (unsigned)n;
}

/* Lines of shmqd's log that contain text. */
static int log_count(const struct daemon *d, const char *text)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(d->log, "r");

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* `shmq ls`'s line for name, into line; 0, or -1 if none. */
static int ls_line(const struct daemon *d, const char *name, char *line, size_t len)
{
	struct tool_result r;
	char *p, *end;
	int rc = -1;

	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "ls"));
	assert_int_equal(r.status, 0);
	for (p = r.out; p && *p; p = end ? end + 1 : NULL) {
		end = strchr(p, '\n');
		if (end)
			*end = 0;
		if (!strncmp(p, name, strlen(name)) && p[strlen(name)] == ' ') {
			snprintf(line, len, "%s", p);
			rc = 0;
			break;
		}
	}
	tool_result_free(&r);
	return rc;
}

static void create_chan(struct shmq_client *c, const char *name, uint32_t policy)
{
	struct shmq_channel_opts o = {
	    .capacity_bytes = 32 << 10, .max_message_bytes = 64, .policy = policy};

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
}

/* ---- flows: a publisher and a subscriber child per channel ---- */

/* A child's view of its connection: each change, when. */
struct conn_seen {
	_Atomic uint32_t downs, ups;
	_Atomic int64_t up_ns[CYCLES_MAX];
};

struct flow {
	char chan[48];
	uint32_t policy, wait;
	struct conn_seen pub_seen, sub_seen;
	_Atomic uint64_t published; /* the last value published (values 1, 2, ...) */
	_Atomic int pub_done;	    /* published is final */
	_Atomic uint64_t received, lost, last;
	_Atomic int64_t max_gap_ns;
	char why[160]; /* a child's failure */
};

struct flows {
	const char *sock;
	_Atomic int stop;
	unsigned n;
	struct flow f[FLOWS_MAX];
};

struct flow_job {
	struct flows *fs;
	unsigned i;
	int say_fd;
};

static int flow_fail(struct flow *f, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return code;
}

/* Note a change of shmq_client_connected(); returns it. */
static int conn_track(struct conn_seen *cs, struct shmq_client *c, int *was)
{
	int up = shmq_client_connected(c);
	uint32_t n;

	if (up == *was)
		return up;
	if (up) {
		n = atomic_load(&cs->ups);
		atomic_store(&cs->up_ns[n % CYCLES_MAX], fx_now_ns());
		atomic_store(&cs->ups, n + 1);
	} else {
		atomic_fetch_add(&cs->downs, 1);
	}
	*was = up;
	return up;
}

/* Drop flows: 2000 messages at once now and then, more than the ring holds. */
static int flow_burst(struct shmq_pub *p, struct flow *f, uint64_t *v)
{
	for (unsigned i = 0; i < 2000; i++, (*v)++) {
		if (shmq_publish(p, v, sizeof(*v), 0, NULL))
			return -1;
		atomic_store(&f->published, *v);
	}
	return 0;
}

/*
 * Publish 1, 2, ... about every 100 us until told to stop. It checks its
 * connection every 16 messages and, while the daemon is away, makes a
 * control call there (what brings a client back: a publisher's data path
 * never asks the daemon anything).
 */
static int flow_pub(void *arg)
{
	struct flow_job *j = arg;
	struct flow *f = &j->fs->f[j->i];
	struct shmq_channel_info ci;
	struct shmq_client *c;
	struct shmq_pub *p;
	uint64_t v = 1;
	int was = 1;

	if (shmq_connect(j->fs->sock, &c) || shmq_pub_open(c, f->chan, NULL, &p))
		return flow_fail(f, 10, "publisher cannot open %s", f->chan);
	pipe_say(j->say_fd, "ready");
	for (unsigned k = 0; !atomic_load(&j->fs->stop); k++) {
		int err = shmq_publish(p, &v, sizeof(v), f->policy ? 20 * MS : 0, NULL);

		if (err == -SHMQ_ETIMEDOUT)
			continue;
		if (err)
			return flow_fail(f, 12, "publish %s at %llu", shmq_errname(err),
					 (unsigned long long)v);
		atomic_store(&f->published, v++);
		if (f->policy == SHMQ_POLICY_DROP && (k & 1023) == 1023 && flow_burst(p, f, &v))
			return flow_fail(f, 12, "burst publish failed at %llu",
					 (unsigned long long)v);
		if (!(k & 15) && !conn_track(&f->pub_seen, c, &was)) {
			shmq_channel_info(c, f->chan, &ci);
			conn_track(&f->pub_seen, c, &was);
		}
		nap_us(100);
	}
	atomic_store(&f->pub_done, 1);
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/* One message: in order, exactly once (block), losses counted exactly (drop). */
static int flow_check(struct flow *f, uint64_t prev, uint64_t v, const struct shmq_msg *m)
{
	if (m->len != sizeof(v))
		return flow_fail(f, 13, "a message of %u bytes", m->len);
	if (f->policy == SHMQ_POLICY_BLOCK && (v != prev + 1 || m->lost))
		return flow_fail(f, 14, "block: got %llu (lost %llu) after %llu",
				 (unsigned long long)v, (unsigned long long)m->lost,
				 (unsigned long long)prev);
	if (f->policy == SHMQ_POLICY_DROP && (v <= prev || v - prev - 1 != m->lost))
		return flow_fail(f, 15, "drop: got %llu (lost %llu) after %llu",
				 (unsigned long long)v, (unsigned long long)m->lost,
				 (unsigned long long)prev);
	return 0;
}

/* Receive until the publisher is done and its last message is in. */
static int flow_sub(void *arg)
{
	struct flow_job *j = arg;
	struct flow *f = &j->fs->f[j->i];
	struct shmq_sub_opts so = {.wait = f->wait};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t prev = 0, v;
	int64_t t_prev = 0;
	int was = 1, rc;

	if (shmq_connect(j->fs->sock, &c) || shmq_sub_open(c, f->chan, &so, &s))
		return flow_fail(f, 10, "subscriber cannot open %s", f->chan);
	pipe_say(j->say_fd, "ready");
	for (;;) {
		int err = shmq_recv_copy(s, &v, sizeof(v), &m, 20 * MS);
		int64_t now = fx_now_ns();

		conn_track(&f->sub_seen, c, &was);
		if (err == -SHMQ_ETIMEDOUT) {
			if (atomic_load(&f->pub_done) && prev == atomic_load(&f->published))
				break;
			continue;
		}
		if (err)
			return flow_fail(f, 11, "recv %s after %llu", shmq_errname(err),
					 (unsigned long long)prev);
		rc = flow_check(f, prev, v, &m);
		if (rc)
			return rc;
		if (t_prev && now - t_prev > atomic_load(&f->max_gap_ns))
			atomic_store(&f->max_gap_ns, now - t_prev);
		t_prev = now;
		prev = v;
		atomic_fetch_add(&f->lost, m.lost);
		atomic_store(&f->last, v);
		atomic_fetch_add(&f->received, 1);
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

struct flow_run {
	struct flows *fs;
	pid_t pid[2 * FLOWS_MAX];
	struct flow_job job[2 * FLOWS_MAX];
};

/* Create each flow's channel and start its subscriber, then its publisher. */
static void flows_start(struct daemon *d, struct flow_run *fr, const uint32_t *policy,
			const uint32_t *wait, unsigned n)
{
	static const char *const wname[] = {"spin_sleep", "spin", "sleep", "eventfd"};
	struct shmq_client *c = fx_connect(d);

	fr->fs = fx_shared_alloc(sizeof(*fr->fs));
	assert_non_null(fr->fs);
	fr->fs->sock = d->sock;
	fr->fs->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct flow *f = &fr->fs->f[i];

		f->policy = policy[i];
		f->wait = wait[i];
		snprintf(f->chan, sizeof(f->chan), "r.%s.%s", policy[i] ? "block" : "drop",
			 wname[wait[i]]);
		create_chan(c, f->chan, policy[i]);
	}
	shmq_disconnect(c);
	for (unsigned i = 0; i < 2 * n; i++) {
		fr->job[i] = (struct flow_job){.fs = fr->fs, .i = i % n, .say_fd = -1};
		fr->pid[i] =
		    fx_child_ready(i < n ? flow_sub : flow_pub, &fr->job[i], &fr->job[i].say_fd);
	}
}

/* Every child saw the daemon go (downs) or come back (ups) at least want times? */
static bool flows_seen(const struct flows *fs, uint32_t want, bool ups)
{
	for (unsigned i = 0; i < fs->n; i++) {
		const struct conn_seen *a = &fs->f[i].pub_seen, *b = &fs->f[i].sub_seen;

		if ((ups ? atomic_load(&a->ups) : atomic_load(&a->downs)) < want ||
		    (ups ? atomic_load(&b->ups) : atomic_load(&b->downs)) < want)
			return false;
	}
	return true;
}

/* Every subscriber received at least more messages than in since[]? */
static bool flows_moved(const struct flows *fs, const uint64_t *since, uint64_t more)
{
	for (unsigned i = 0; i < fs->n; i++)
		if (atomic_load(&fs->f[i].received) < since[i] + more)
			return false;
	return true;
}

/* Stop the publishers, wait for every child and check what each saw. */
static void flows_finish(struct daemon *d, struct flow_run *fr)
{
	struct flows *fs = fr->fs;
	char line[512], tail[40];

	atomic_store(&fs->stop, 1);
	for (unsigned i = 0; i < 2 * fs->n; i++) {
		int st = child_wait(fr->pid[i], FX_HANG_S);

		if (st)
			fprintf(stderr, "%s %s: exit %d: %s\n",
				i < fs->n ? "subscriber" : "publisher", fs->f[i % fs->n].chan, st,
				fs->f[i % fs->n].why);
		assert_int_equal(st, 0);
	}
	for (unsigned i = 0; i < fs->n; i++) {
		struct flow *f = &fs->f[i];
		uint64_t pub = atomic_load(&f->published);

		print_message(
		    "%-20s published=%llu received=%llu lost=%llu longest_pause=%.1f ms\n", f->chan,
		    (unsigned long long)pub, (unsigned long long)atomic_load(&f->received),
		    (unsigned long long)atomic_load(&f->lost),
		    (double)atomic_load(&f->max_gap_ns) / MS);
		assert_int_equal(atomic_load(&f->last), pub);
		assert_int_equal(atomic_load(&f->received) + atomic_load(&f->lost), pub);
		if (f->policy == SHMQ_POLICY_BLOCK)
			assert_int_equal(atomic_load(&f->lost), 0);
		assert_true(atomic_load(&f->max_gap_ns) < PAUSE_BOUND_MS * MS);
		assert_int_equal(ls_line(d, f->chan, line, sizeof(line)), 0);
		snprintf(tail, sizeof(tail), " tail=%llu", (unsigned long long)pub);
		assert_non_null(strstr(line, tail));
	}
}

/* Longest time from t_up to a child's reconnection number cycle (0-based). */
static int64_t flows_reconnect_ns(const struct flows *fs, uint32_t cycle, int64_t t_up)
{
	int64_t worst = 0;

	for (unsigned i = 0; i < fs->n; i++) {
		const struct conn_seen *cs[2] = {&fs->f[i].pub_seen, &fs->f[i].sub_seen};

		for (unsigned k = 0; k < 2; k++) {
			int64_t t = atomic_load(&cs[k]->up_ns[cycle % CYCLES_MAX]) - t_up;

			worst = t > worst ? t : worst;
		}
	}
	return worst;
}

/* Wait (bounded) for cond; false on timeout. */
#define WAIT_FOR(cond)                                                                             \
	({                                                                                         \
		int64_t dl_ = fx_now_ns() + FX_HANG_NS;                                            \
		while (!(cond) && fx_now_ns() < dl_)                                               \
			fx_nap_ms(1);                                                              \
		(cond);                                                                            \
	})

/*
 * One kill/restart cycle: kill shmqd, wait until every child noticed and
 * every subscriber got 50 more messages with the daemon down (the flow
 * goes on during the outage; it lasts 200 ms at least), start it again and wait until every child
 * is connected again. Prints the outage and the reconnection times.
 */
static void flows_restart_once(struct daemon *d, struct flows *fs, struct shmq_client *c,
			       uint32_t cycle)
{
	uint64_t since[FLOWS_MAX];
	int64_t t_kill, t_up, ctl_ns, worst;

	for (unsigned i = 0; i < fs->n; i++)
		since[i] = atomic_load(&fs->f[i].received);
	t_kill = fx_now_ns();
	daemon_kill(d);
	assert_true(WAIT_FOR(flows_seen(fs, cycle + 1, false) && flows_moved(fs, since, 50)));
	fx_nap_ms(200);
	for (unsigned i = 0; i < fs->n; i++) /* and 50 more after 200 ms down */
		since[i] = atomic_load(&fs->f[i].received);
	assert_true(WAIT_FOR(flows_moved(fs, since, 50)));
	assert_int_equal(shmq_channel_list(c, NULL, 0), -SHMQ_ENODAEMON);
	assert_int_equal(daemon_restart(d), 0);
	t_up = fx_now_ns();
	while (shmq_channel_list(c, NULL, 0) < 0 && fx_now_ns() - t_up < FX_HANG_NS)
		fx_nap_ms(1);
	ctl_ns = fx_now_ns() - t_up;
	assert_true(WAIT_FOR(flows_seen(fs, cycle + 1, true)));
	worst = flows_reconnect_ns(fs, cycle, t_up);
	print_message("restart %u: down %.0f ms; a control call answered after %.1f ms; "
		      "the last child reconnected after %.1f ms\n",
		      cycle + 1, (double)(t_up - t_kill) / MS, (double)ctl_ns / MS,
		      (double)worst / MS);
	assert_true(ctl_ns < RECONNECT_BOUND_MS * MS);
	assert_true(worst < RECONNECT_BOUND_MS * MS);
}

/*
 * Four wait modes on one policy, the daemon SIGKILLed and
 * restarted restart_cycles() times. Bounds: the longest pause a subscriber
 * sees < PAUSE_BOUND_MS (each outage lasts longer than the flow needs for
 * 50 messages, and a flow that stopped for the outage would fail the wait
 * for them first); a child reconnected < RECONNECT_BOUND_MS after the
 * daemon listens (the library's backoff is capped at 1 s, a subscriber
 * looks every 100 ms).
 */
static void flow_across_restarts(struct daemon *d, uint32_t policy)
{
	const uint32_t pol[4] = {policy, policy, policy, policy};
	const uint32_t wait[4] = {SHMQ_WAIT_SPIN, SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_SLEEP,
				  SHMQ_WAIT_EVENTFD};
	unsigned cycles = restart_cycles();
	struct shmq_client *c;
	struct flow_run fr;
	char tail[128];

	flows_start(d, &fr, pol, wait, 4);
	c = fx_connect(d);
	for (uint32_t k = 0; k < cycles; k++) {
		fx_nap_ms(100);
		flows_restart_once(d, fr.fs, c, k);
		snprintf(tail, sizeof(tail), "adopted channel=%s handles=2", fr.fs->f[0].chan);
		assert_int_equal(log_count(d, tail), (int)k + 1);
	}
	fx_nap_ms(100);
	flows_finish(d, &fr);
	/* every handle resumed: none was refused or freed as unresumed */
	assert_int_equal(log_count(d, "not adopting"), 0);
	assert_int_equal(log_count(d, "freed unresumed"), 0);
	shmq_disconnect(c);
	fx_shared_free(fr.fs, sizeof(*fr.fs));
}

static void test_restart_flow_block_every_wait_mode(void **state)
{
	flow_across_restarts(*state, SHMQ_POLICY_BLOCK);
}

static void test_restart_flow_drop_every_wait_mode(void **state)
{
	flow_across_restarts(*state, SHMQ_POLICY_DROP);
}

/* ---- dead peers while the daemon is down ---- */

struct peer_job {
	const char *sock;
	const char *chan;
	int say_fd;
};

/* Publish 1, claim the next message, say ready and wait to be killed. */
static int claim_and_hang(void *arg)
{
	struct peer_job *j = arg;
	struct shmq_client *c;
	struct shmq_claim cl;
	struct shmq_pub *p;
	uint64_t v = 1;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p) ||
	    shmq_publish(p, &v, sizeof(v), 0, NULL) || shmq_pub_claim(p, 8, &cl, 0))
		return 10;
	v = 2;
	memcpy(cl.data, &v, sizeof(v));
	pipe_say(j->say_fd, "ready");
	pause();
	return 0;
}

/*
 * Test 2: a publisher killed mid-claim while the daemon is down. After the
 * restart its slot is freed (its pid is gone), the claim given up, and the
 * subscriber gets the next message with that one counted lost, within
 * REPAIR_BOUND_MS (the daemon checks adopted slots' pids every 10 ms tick).
 */
static void test_restart_repairs_a_claim_of_a_publisher_killed_meanwhile(void **state)
{
	struct daemon *d = *state;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct peer_job j = {.sock = d->sock, .chan = "r.claim", .say_fd = -1};
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_stats st;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	int64_t t_up;
	pid_t pid;
	int err;

	create_chan(c, "r.claim", SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "r.claim", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "r.claim", NULL, &p), 0);
	pid = fx_child_ready(claim_and_hang, &j, &j.say_fd);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	daemon_kill(d);
	child_kill(pid);
	fx_publish_u64(p, 3, 0); /* offset 2, behind the dead claim at 1 */
	err = shmq_recv(s, &m, 300 * MS);
	print_message("daemon down, the claim's publisher dead: recv says %s\n",
		      err ? shmq_errname(err) : "a message");
	assert_int_equal(daemon_restart(d), 0);
	t_up = fx_now_ns();
	assert_int_equal(fx_recv_u64(s, &m), 3);
	print_message("the channel moved on %.1f ms after the restart\n",
		      (double)(fx_now_ns() - t_up) / MS);
	assert_true(fx_now_ns() - t_up < REPAIR_BOUND_MS * MS);
	assert_int_equal(m.offset, 2);
	assert_int_equal(m.lost, 1);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_abandoned, 1);
	assert_int_equal(fx_wait_log(d, "freed unresumed publisher channel=r.claim"), 0);
	fx_publish_u64(p, 4, 0);
	assert_int_equal(fx_recv_u64(s, &m), 4);
	assert_int_equal(m.lost, 0);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* Subscribe, say ready and never read. */
static int subscribe_and_hang(void *arg)
{
	struct peer_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, j->chan, NULL, &s))
		return 10;
	pipe_say(j->say_fd, "ready");
	pause();
	return 0;
}

/*
 * Test 3: on a full block channel, the subscriber that holds it is killed
 * while the daemon is down. After the restart the publisher's blocked
 * publish completes within REPAIR_BOUND_MS (the dead reader's slot goes at
 * the first tick that finds its pid gone).
 */
static void test_restart_frees_a_block_channel_of_a_reader_killed_meanwhile(void **state)
{
	struct daemon *d = *state;
	struct peer_job j = {.sock = d->sock, .chan = "r.full", .say_fd = -1};
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	uint64_t v = 0;
	int64_t t_up;
	pid_t pid;
	int err;

	create_chan(c, "r.full", SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_pub_open(c, "r.full", NULL, &p), 0);
	pid = fx_child_ready(subscribe_and_hang, &j, &j.say_fd);
	while ((err = shmq_publish(p, &v, sizeof(v), 0, NULL)) == 0)
		v++;
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(v > 0);
	daemon_kill(d);
	child_kill(pid);
	err = shmq_publish(p, &v, sizeof(v), 300 * MS, NULL);
	print_message("ring full after %llu messages; daemon down, reader dead: publish says %s\n",
		      (unsigned long long)v, err ? shmq_errname(err) : "ok");
	if (!err)
		v++;
	assert_int_equal(daemon_restart(d), 0);
	t_up = fx_now_ns();
	assert_int_equal(shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL), 0);
	print_message("the publisher resumed %.1f ms after the restart\n",
		      (double)(fx_now_ns() - t_up) / MS);
	assert_true(fx_now_ns() - t_up < REPAIR_BOUND_MS * MS);
	assert_int_equal(fx_wait_log(d, "freed unresumed reader channel=r.full"), 0);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* Publish 1, 2, ... every 500 us and nothing else: no control call ever. */
static int publish_only(void *arg)
{
	struct peer_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (uint64_t v = 1;; v++) {
		if (shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL))
			return 12;
		nap_us(500);
	}
}

/*
 * A publisher process that only publishes (as many do) is a client of its
 * own too: after a restart it must still hold its slot once the resume
 * grace (5 s) has passed, its messages go on arriving in order, and on a
 * publishers=one channel a second publisher is still refused.
 */
static void test_restart_keeps_a_publisher_that_makes_no_control_call(void **state)
{
	struct daemon *d = *state;
	struct peer_job j = {.sock = d->sock, .chan = "r.quiet", .say_fd = -1};
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t prev;
	pid_t pid;

	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_BLOCK,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_pub *p2 = NULL;
	int second;

	assert_int_equal(shmq_channel_create(c, "r.quiet", &o), 0);
	assert_int_equal(shmq_sub_open(c, "r.quiet", &so, &s), 0);
	pid = fx_child_ready(publish_only, &j, &j.say_fd);
	prev = fx_recv_u64(s, &m);
	daemon_kill(d);
	fx_nap_ms(100);
	assert_int_equal(daemon_restart(d), 0);
	for (int64_t end = fx_now_ns() + 6000 * MS; fx_now_ns() < end; prev++) {
		uint64_t v = fx_recv_u64(s, &m);

		assert_int_equal(v, prev + 1);
		assert_int_equal(m.lost, 0);
	}
	assert_int_equal(shmq_channel_info(c, "r.quiet", &ci), 0);
	second = shmq_pub_open(c, "r.quiet", NULL, &p2);
	print_message("6 s after the restart: publishers_open=%u; log: %d freed publisher(s); "
		      "a second publisher on this publishers=one channel: %s\n",
		      ci.publishers_open, log_count(d, "freed unresumed publisher channel=r.quiet"),
		      second ? shmq_errname(second) : "admitted");
	if (!second)
		shmq_pub_close(p2);
	if (second != -SHMQ_EBUSY || ci.publishers_open != 1)
		daemon_print_log(d);
	assert_int_equal(second, -SHMQ_EBUSY);
	assert_int_equal(log_count(d, "freed unresumed publisher channel=r.quiet"), 0);
	assert_int_equal(ci.publishers_open, 1);
	child_kill(pid);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- a hostile subscriber before a restart ---- */

#define CONF_HOSTILE                                                                               \
	"[channel t.block]\ncapacity = 32K\nmax_message = 64\npolicy = block\npublish = 1000\n"    \
	"subscribe = 65534\n"

struct hostile_job {
	const char *sock;
	_Atomic int *done;
	int say_fd;
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void scribble(void *base, size_t bytes, uint64_t *seed)
{
	uint64_t *w = base;

	for (size_t i = 0; i < bytes / 8; i++)
		w[i] = rnd(seed);
}

/* As nobody: subscribe by hand, scribble over the wake segment and our entry for 200 ms. */
static int scribble_as_nobody(void *arg)
{
	struct hostile_job *j = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct raw_chan rc;
	struct raw r;
	int64_t end;

	if (fx_become_nobody())
		return 77;
	if (raw_connect(&r, j->sock) || raw_hello(&r) || raw_open(&r, "t.block", ROLE_SUB, &rc))
		return 10;
	pipe_say(j->say_fd, "ready");
	for (end = fx_now_ns() + 200 * MS; fx_now_ns() < end;) {
		scribble(rc.wake, WAKE_SEG_BYTES, &seed);
		scribble(rc.entry, ENTRY_SEG_BYTES, &seed);
	}
	atomic_store(j->done, 1);
	pause();
	return 0;
}

/* As nobody: 0 if subscribing is allowed and publishing refused, as configured. */
static int nobody_rights(void *arg)
{
	struct hostile_job *j = arg;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_pub *p;

	if (fx_become_nobody() || shmq_connect(j->sock, &c))
		return 10;
	if (shmq_sub_open(c, "t.block", NULL, &s))
		return 11;
	if (shmq_pub_open(c, "t.block", NULL, &p) != -SHMQ_EPERM)
		return 12;
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

/*
 * Test 4: a subscriber of uid nobody scribbles random bytes over everything
 * it can write (the wake segment, its entry); the daemon is killed and
 * restarted. The channel is adopted with the same settings, tail and
 * access rules; honest handles resume and exchange messages; the hostile's
 * slot is freed once it dies.
 */
static void test_restart_adopts_a_channel_a_hostile_subscriber_scribbled_on(void **state)
{
	struct daemon *d = *state;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct hostile_job j = {.sock = d->sock, .say_fd = -1};
	struct shmq_channel_info before, after;
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t pid;

	j.done = fx_shared_alloc(sizeof(*j.done));
	assert_int_equal(shmq_sub_open(c, "t.block", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "t.block", NULL, &p), 0);
	for (uint64_t v = 1; v <= 10; v++)
		fx_publish_u64(p, v, FX_HANG_NS);
	pid = fx_child_ready(scribble_as_nobody, &j, &j.say_fd);
	assert_true(WAIT_FOR(atomic_load(j.done)));
	assert_int_equal(shmq_channel_info(c, "t.block", &before), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=t.block handles=3 tail=10"), 0);
	assert_int_equal(log_count(d, "not adopting"), 0);
	assert_int_equal(shmq_channel_info(c, "t.block", &after), 0);
	assert_string_equal(after.name, before.name);
	assert_int_equal(after.policy, before.policy);
	assert_int_equal(after.capacity_bytes, before.capacity_bytes);
	assert_int_equal(after.max_message_bytes, before.max_message_bytes);
	assert_int_equal(after.tail, before.tail);
	assert_int_equal(after.oldest, before.oldest);
	for (uint64_t v = 1; v <= 20; v++) {
		if (v > 10)
			fx_publish_u64(p, v, FX_HANG_NS);
		assert_int_equal(fx_recv_u64(s, &m), v);
		assert_int_equal(m.lost, 0);
	}
	child_kill(pid);
	assert_int_equal(fx_wait_log(d, "freed unresumed reader channel=t.block"), 0);
	assert_int_equal(shmq_channel_info(c, "t.block", &after), 0);
	assert_int_equal(after.readers, 1); /* the honest ones resumed, the hostile is gone */
	assert_int_equal(after.publishers_open, 1);
	assert_int_equal(child_wait(child_start(nobody_rights, &j), FX_HANG_S), 0);
	fx_publish_u64(p, 21, FX_HANG_NS);
	assert_int_equal(fx_recv_u64(s, &m), 21);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
	fx_shared_free(j.done, sizeof(*j.done));
}

/* ---- a fake keeper: what a new daemon is handed ---- */

static int fake_lfd = -1, fake_cfd = -1;

/* Send len bytes with up to 3 descriptors as one datagram (keeper_send()). */
static int ksend(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)] = {0};
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Receive a message and up to 3 descriptors; its length or -1. */
static ssize_t krecv(int fd, void *buf, size_t len, int *fds, unsigned *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	*nfds = 0;
	cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_type == SCM_RIGHTS) {
		*nfds = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(cm), *nfds * sizeof(int));
	}
	return n;
}

/*
 * A keeper message of version: a channel record (ch), or KEEP_END's body,
 * followed by extra bytes of fields a later version would add.
 */
static int kmsg_ext(uint32_t op, uint32_t version, const struct keep_channel *ch, uint32_t extra,
		    const int *fds, unsigned nfds)
{
	struct keep_msg m = {.h = {KEEP_MAGIC, version, op, 0}};

	if (ch)
		m.u.ch = *ch;
	m.h.body_bytes = (ch ? sizeof(*ch) : sizeof(struct keep_end)) + extra;
	return ksend(fake_cfd, &m, sizeof(m.h) + m.h.body_bytes, fds, nfds);
}

static int kmsg(uint32_t op, uint32_t version, const struct keep_channel *ch, const int *fds,
		unsigned nfds)
{
	return kmsg_ext(op, version, ch, 0, fds, nfds);
}

/* A memfd as the daemon's segment_create() makes one: 0600, bytes long, sealed. */
static int seg_make(uint64_t bytes)
{
	int fd = memfd_create("shmq.fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || fchmod(fd, 0600) || ftruncate(fd, (off_t)bytes) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct fake_chan {
	struct keep_channel k;
	int fds[3];
};

/* A channel made by hand as the daemon makes one (block, 32 KiB, 64-byte messages); 0 or -1. */
static int fake_chan_make(struct fake_chan *fc, const char *name, uint64_t id)
{
	struct log_geometry g;
	void *data, *ctl;
	int err;

	memset(fc, 0, sizeof(*fc));
	if (log_geometry_make(32 << 10, 64, SHMQ_POLICY_BLOCK, SHMQ_PUBLISHERS_MANY, 0, &g))
		return -1;
	fc->fds[0] = seg_make(g.data_bytes);
	fc->fds[1] = seg_make(g.ctl_bytes);
	fc->fds[2] = seg_make(WAKE_SEG_BYTES);
	if (fc->fds[0] < 0 || fc->fds[1] < 0 || fc->fds[2] < 0)
		return -1;
	data = mmap(NULL, g.data_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fc->fds[0], 0);
	ctl = mmap(NULL, g.ctl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fc->fds[1], 0);
	if (data == MAP_FAILED || ctl == MAP_FAILED)
		return -1;
	err = log_format(data, ctl, &g, name, id, 0, 0x6a09e667f3bcc908ull);
	munmap(data, g.data_bytes);
	munmap(ctl, g.ctl_bytes);
	snprintf(fc->k.name, sizeof(fc->k.name), "%s", name);
	fc->k.id = id;
	fc->k.owner_uid = (uint32_t)geteuid();
	fc->k.numa_wire = SHMQ_NUMA_NONE;
	fc->k.numa_node = -1;
	fc->k.g = g;
	return err ? -1 : 0;
}

static void fake_chan_close(struct fake_chan *fc)
{
	for (unsigned i = 0; i < 3; i++)
		if (fc->fds[i] >= 0)
			close(fc->fds[i]);
}

static void fake_chan(struct fake_chan *fc, const char *name, uint64_t id)
{
	assert_int_equal(fake_chan_make(fc, name, id), 0);
}

/*
 * cmocka setup: a daemon directory made by hand, a fake keeper listening
 * on <socket>.keep (0600) before shmqd starts, its connection accepted and
 * its KEEP_TAKE read. The test then sends records and KEEP_END.
 */
static int fake_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct daemon *d = calloc(1, sizeof(*d));
	char kp[sizeof(d->sock) + 8];
	struct pollfd pf;
	struct keep_msg m;
	unsigned nfds;
	int fds[3];

	if (!getenv("SHMQD") || !getenv("SHMQD")[0])
		exit(77);
	if (geteuid() != 0)
		exit(77);
	if (!tmp || !tmp[0] || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/shmq-test.XXXXXX", tmp);
	if (!mkdtemp(d->dir))
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/s", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/shmqd.log", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/shmqd.conf", d->dir);
	snprintf(kp, sizeof(kp), "%s.keep", d->sock);
	if (strlen(kp) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, kp);
	fake_lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fake_lfd < 0 || bind(fake_lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(sa.sun_path, 0600) || listen(fake_lfd, 4) || daemon_restart(d))
		goto fail;
	pf = (struct pollfd){.fd = fake_lfd, .events = POLLIN};
	if (poll(&pf, 1, FX_HANG_S * 1000) != 1)
		goto fail;
	fake_cfd = accept4(fake_lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fake_cfd < 0 ||
	    krecv(fake_cfd, &m, sizeof(m), fds, &nfds) != sizeof(m.h) + sizeof(struct keep_take) ||
	    m.h.magic != KEEP_MAGIC || m.h.op != KEEP_TAKE || nfds)
		goto fail;
	*state = d;
	return 0;
fail:
	fprintf(stderr, "fake keeper setup failed: %s\n", strerror(errno));
	daemon_remove(d);
	free(d);
	return -1;
}

static int fake_teardown(void **state)
{
	int rc = daemon_teardown(state);

	if (fake_cfd >= 0)
		close(fake_cfd);
	close(fake_lfd);
	fake_cfd = fake_lfd = -1;
	return rc;
}

/* KEEP_END, then the daemon logs that it listens: adoption is over. */
static void fake_end(struct daemon *d)
{
	assert_int_equal(kmsg(KEEP_END, KEEP_VERSION, NULL, NULL, 0), 0);
	assert_int_equal(fx_wait_log(d, "listening socket="), 0);
}

/* name is served: listed, and a publisher and a subscriber exchange a message on it. */
static void assert_channel_serves(struct daemon *d, const char *name)
{
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	char line[512];

	assert_int_equal(ls_line(d, name, line, sizeof(line)), 0);
	assert_int_equal(shmq_sub_open(c, name, NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
	fx_publish_u64(p, 42, 0);
	assert_int_equal(fx_recv_u64(s, &m), 42);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void assert_not_listed(struct daemon *d, const char *name)
{
	char line[512];

	assert_int_equal(ls_line(d, name, line, sizeof(line)), -1);
}

/*
 * Test 5a: garbage datagrams and a record of version 1 (a header without
 * body_bytes) are each skipped with one log line; the good record after
 * them is adopted, and so is a record of a later version with a longer
 * body (fields this daemon does not know).
 */
static void test_restart_skips_garbage_and_old_versions_reads_newer_ones(void **state)
{
	struct daemon *d = *state;
	uint8_t junk[sizeof(struct keep_msg) + 100];
	uint64_t seed = 12345;
	struct fake_chan v2, good, later;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd(&seed);
	fake_chan(&v2, "fake.v2", 0x7e57000000000001ull);
	fake_chan(&good, "fake.good", 0x7e57000000000002ull);
	fake_chan(&later, "fake.later", 0x7e57000000000003ull);
	assert_int_equal(ksend(fake_cfd, junk, 7, NULL, 0), 0);
	assert_int_equal(ksend(fake_cfd, junk, sizeof(struct keep_msg), good.fds, 3), 0);
	assert_int_equal(ksend(fake_cfd, junk, sizeof(junk), NULL, 0), 0);
	assert_int_equal(kmsg(KEEP_CHANNEL, 1, &v2.k, v2.fds, 3), 0);
	assert_int_equal(kmsg(KEEP_CHANNEL, KEEP_VERSION, &good.k, good.fds, 3), 0);
	assert_int_equal(kmsg_ext(KEEP_CHANNEL, KEEP_VERSION + 1, &later.k, 64, later.fds, 3), 0);
	fake_end(d);
	assert_int_equal(log_count(d, "skipping a malformed record from the keeper"), 4);
	assert_int_equal(fx_wait_log(d, "adopted channel=fake.good handles=0 tail=0"), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=fake.later handles=0 tail=0"), 0);
	assert_not_listed(d, "fake.v2");
	assert_channel_serves(d, "fake.good");
	assert_channel_serves(d, "fake.later");
	fx_assert_daemon_serves(d);
	fake_chan_close(&v2);
	fake_chan_close(&good);
	fake_chan_close(&later);
}

/*
 * A keeper that hangs up instead of answering (as one of the first keeper
 * format does on a KEEP_TAKE it cannot read): the daemon says so and
 * serves without it.
 */
static void test_restart_serves_when_the_keeper_hangs_up(void **state)
{
	struct daemon *d = *state;

	close(fake_cfd);
	fake_cfd = -1;
	assert_int_equal(fx_wait_log(d, "the keeper hung up"), 0);
	assert_int_equal(fx_wait_log(d, "listening socket="), 0);
	fx_assert_daemon_serves(d);
}

/* As nobody: make a channel's segments and pass them (with the record) on fd. */
static int make_foreign_segments(void *arg)
{
	int fd = *(int *)arg;
	struct fake_chan fc;

	if (fx_become_nobody() || fake_chan_make(&fc, "fake.foreign", 0x7e57000000000003ull))
		return 10;
	return ksend(fd, &fc.k, sizeof(fc.k), fc.fds, 3) ? 11 : 0;
}

/* Test 5b: segments another uid made are refused (segment_not_ours). */
static void test_restart_refuses_segments_of_a_foreign_uid(void **state)
{
	struct daemon *d = *state;
	struct fake_chan fc = {.fds = {-1, -1, -1}};
	unsigned nfds;
	struct stat st;
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(child_wait(child_start(make_foreign_segments, &sp[1]), FX_HANG_S), 0);
	assert_int_equal(krecv(sp[0], &fc.k, sizeof(fc.k), fc.fds, &nfds), sizeof(fc.k));
	assert_int_equal(nfds, 3);
	assert_int_equal(fstat(fc.fds[0], &st), 0);
	assert_int_equal(st.st_uid, FX_NOBODY);
	assert_int_equal(kmsg(KEEP_CHANNEL, KEEP_VERSION, &fc.k, fc.fds, 3), 0);
	fake_end(d);
	assert_int_equal(fx_wait_log(d, "not adopting channel id=9103745171752747011 "
					"reason=segment_not_ours"),
			 0);
	assert_not_listed(d, "fake.foreign");
	fx_assert_daemon_serves(d);
	fake_chan_close(&fc);
	close(sp[0]);
	close(sp[1]);
}

/* Test 5c: bad names, bad geometry, missing descriptors, bad headers, an unknown format. */
static void test_restart_refuses_bad_records_from_the_keeper(void **state)
{
	struct daemon *d = *state;
	struct fake_chan fc[7];
	const char *const want[] = {
	    "not adopting channel id=9103745171752747024 reason=bad_name",
	    "not adopting channel id=9103745171752747025 reason=bad_name",
	    "not adopting channel id=9103745171752747026 reason=bad_geometry",
	    "not adopting channel id=9103745171752747027 reason=bad_geometry",
	    "not adopting channel id=9103745171752747028 reason=descriptors_missing",
	    "not adopting channel=fake.hdr reason=bad_header",
	    "not adopting channel=fake.newer reason=unknown_format",
	};
	const char *const names[] = {"fake.n1",	 "fake.n2",  "fake.g1",	  "fake.g2",
				     "fake.fds", "fake.hdr", "fake.newer"};
	struct data_hdr *data;

	for (unsigned i = 0; i < 7; i++)
		fake_chan(&fc[i], names[i], 0x7e57000000000010ull + i);
	strcpy(fc[0].k.name, "bad name!");
	memset(fc[1].k.name, 'x', sizeof(fc[1].k.name)); /* no NUL */
	fc[2].k.g.ctl_bytes += 4096;
	fc[3].k.g.ring_bytes *= 2; /* data_bytes no longer adds up */
	/* fake.hdr: the record's id differs from the one its headers carry */
	fc[5].k.id = 0x7e57000000000100ull;
	data =
	    mmap(NULL, fc[6].k.g.data_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fc[6].fds[0], 0);
	assert_true(data != MAP_FAILED);
	data->version = LAYOUT_VERSION + 1;
	munmap(data, fc[6].k.g.data_bytes);
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(
		    kmsg(KEEP_CHANNEL, KEEP_VERSION, &fc[i].k, fc[i].fds, i == 4 ? 2 : 3), 0);
	fake_end(d);
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(fx_wait_log(d, want[i]), 0);
		assert_not_listed(d, names[i]);
		fake_chan_close(&fc[i]);
	}
	assert_int_equal(log_count(d, "adopted channel="), 0);
	fx_assert_daemon_serves(d);
}

/* Test 5d: one good channel among bad ones is adopted and serves. */
static void test_restart_adopts_a_good_channel_among_bad_ones(void **state)
{
	struct daemon *d = *state;
	struct fake_chan bad, good, dup;

	fake_chan(&bad, "fake.bad", 0x7e57000000000020ull);
	fake_chan(&good, "fake.good", 0x7e57000000000021ull);
	fake_chan(&dup, "fake.good", 0x7e57000000000022ull);
	bad.k.g.ctl_bytes = 0;
	assert_int_equal(kmsg(KEEP_CHANNEL, KEEP_VERSION, &bad.k, bad.fds, 3), 0);
	assert_int_equal(kmsg(KEEP_CHANNEL, KEEP_VERSION, &good.k, good.fds, 3), 0);
	assert_int_equal(kmsg(KEEP_CHANNEL, KEEP_VERSION, &dup.k, dup.fds, 3), 0);
	fake_end(d);
	assert_int_equal(fx_wait_log(d, "adopted channel=fake.good handles=0 tail=0"), 0);
	assert_int_equal(fx_wait_log(d, "reason=bad_geometry"), 0);
	assert_int_equal(fx_wait_log(d, "reason=duplicate"), 0);
	assert_not_listed(d, "fake.bad");
	assert_channel_serves(d, "fake.good");
	fx_assert_daemon_serves(d);
	fake_chan_close(&bad);
	fake_chan_close(&good);
	fake_chan_close(&dup);
}

/* ---- clean stop, --replace ---- */

struct stop_seen {
	_Atomic int err;
	_Atomic int64_t at_ns;
};

struct stop_job {
	const char *sock;
	struct stop_seen *seen; /* shared */
	int say_fd;
};

/* Wait for messages until an error ends the handle; report it and when. */
static int sub_until_error(void *arg)
{
	struct stop_job *j = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;
	int err;

	if (shmq_connect(j->sock, &c) || shmq_sub_open(c, "r.stop", &so, &s))
		return 10;
	pipe_say(j->say_fd, "ready");
	while ((err = shmq_recv(s, &m, -1)) == 0)
		;
	atomic_store(&j->seen->at_ns, fx_now_ns());
	atomic_store(&j->seen->err, err);
	return 0;
}

/*
 * Test 6: SIGTERM ends the channels: a waiting subscriber gets
 * -SHMQ_ECLOSED within CLOSED_BOUND_MS (not after the 30 s grace), the
 * keeper goes, and a daemon started afterwards lists no channel.
 */
static void test_clean_stop_ends_channels(void **state)
{
	struct daemon *d = *state;
	struct stop_seen *seen = fx_shared_alloc(sizeof(*seen));
	struct stop_job j = {.sock = d->sock, .seen = seen, .say_fd = -1};
	struct shmq_client *c = fx_connect(d);
	char keep[sizeof(d->sock) + 8];
	struct tool_result r;
	int64_t t0;
	pid_t pid;

	assert_non_null(seen);
	create_chan(c, "r.stop", SHMQ_POLICY_BLOCK);
	shmq_disconnect(c);
	pid = fx_child_ready(sub_until_error, &j, &j.say_fd);
	fx_nap_ms(50);
	t0 = fx_now_ns();
	assert_int_equal(daemon_stop(d), 0);
	assert_int_equal(child_wait(pid, FX_HANG_S + 10), 0);
	print_message("clean stop: the subscriber got %s %.1f ms after SIGTERM\n",
		      shmq_errname(atomic_load(&seen->err)),
		      (double)(atomic_load(&seen->at_ns) - t0) / MS);
	assert_int_equal(atomic_load(&seen->err), -SHMQ_ECLOSED);
	assert_true(atomic_load(&seen->at_ns) - t0 < CLOSED_BOUND_MS * MS);
	snprintf(keep, sizeof(keep), "%s.keep", d->sock);
	assert_true(WAIT_FOR(access(keep, F_OK) != 0));
	assert_int_equal(daemon_restart(d), 0);
	c = fx_connect(d);
	assert_int_equal(shmq_channel_list(c, NULL, 0), 0);
	assert_int_equal(shmq_channel_info(c, "r.stop", &(struct shmq_channel_info){0}),
			 -SHMQ_ENOENT);
	shmq_disconnect(c);
	tool_run(&r, NULL, TOOL_ARGS("--socket", d->sock, "ls"));
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.out, "r.stop"));
	tool_result_free(&r);
	fx_shared_free(seen, sizeof(*seen));
}

static pid_t spare_pid; /* a second daemon, until it becomes d->pid */

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

/*
 * Test 7: `shmqd --replace` with a block and a drop flow running: the first
 * daemon exits 0, the second adopts both channels with their handles, and
 * the flow never stops (longest pause < PAUSE_BOUND_MS, every message once
 * and in order on block, losses counted on drop).
 */
static void test_replace_takes_over_without_stopping_the_flow(void **state)
{
	struct daemon *d = *state;
	const uint32_t pol[2] = {SHMQ_POLICY_BLOCK, SHMQ_POLICY_DROP};
	const uint32_t wait[2] = {SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_EVENTFD};
	struct flow_run fr;
	int64_t t0, t_gone;
	pid_t old = d->pid;
	bool reaped = false;
	int st = -1;

	flows_start(d, &fr, pol, wait, 2);
	fx_nap_ms(200);
	t0 = fx_now_ns();
	spare_pid = daemon_spawn_replace(d);
	assert_true(spare_pid > 0);
	assert_true(WAIT_FOR(reaped || (reaped = waitpid(old, &st, WNOHANG) == old)));
	t_gone = fx_now_ns();
	d->pid = spare_pid;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(fx_wait_log(d, "another shmqd takes over the channels: stopping"), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=r.block.spin_sleep handles=2"), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=r.drop.eventfd handles=2"), 0);
	assert_true(WAIT_FOR(flows_seen(fr.fs, 1, true)));
	print_message("--replace: the old daemon gone after %.1f ms; the last child reconnected "
		      "%.1f ms after that\n",
		      (double)(t_gone - t0) / MS,
		      (double)flows_reconnect_ns(fr.fs, 0, t_gone) / MS);
	fx_nap_ms(300);
	flows_finish(d, &fr);
	assert_int_equal(log_count(d, "not adopting"), 0);
	fx_shared_free(fr.fs, sizeof(*fr.fs));
}

/*
 * A daemon that dies inside its adoption, after it re-sent a channel's
 * record to the keeper and before that channel's entries: the keeper must
 * still hold the entries, so the next daemon adopts the publisher's slot
 * (a second exclusive publisher is refused; the first goes on). The dying
 * daemon is played by the test: it takes the keeper's records as a new
 * daemon does, sends back the channel's record alone, and hangs up.
 */
static void test_a_daemon_dying_inside_its_adoption_loses_no_handle(void **state)
{
	struct daemon *d = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct keep_take take = {0};
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_BLOCK,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct keep_msg m, rec;
	int fds[3], recfds[3] = {-1, -1, -1};
	unsigned nfds, entries = 0;
	struct shmq_pub *p, *p2 = NULL;
	int kfd, second;

	assert_int_equal(shmq_channel_create(c, "k.adopting", &o), 0);
	assert_int_equal(shmq_pub_open(c, "k.adopting", NULL, &p), 0);
	fx_publish_u64(p, 1, FX_HANG_NS);
	daemon_kill(d);
	assert_true(strlen(d->sock) + 5 < sizeof(sa.sun_path));
	memcpy(sa.sun_path, d->sock, strlen(d->sock));
	strcat(sa.sun_path, ".keep");
	kfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(kfd >= 0);
	assert_int_equal(connect(kfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	m = (struct keep_msg){.h = {KEEP_MAGIC, KEEP_VERSION, KEEP_TAKE, sizeof(take)}};
	m.u.take = take;
	assert_int_equal(ksend(kfd, &m, sizeof(m.h) + sizeof(take), NULL, 0), 0);
	for (;;) {
		assert_true(krecv(kfd, &m, sizeof(m), fds, &nfds) >= (ssize_t)sizeof(m.h));
		if (m.h.op == KEEP_END)
			break;
		if (m.h.op == KEEP_CHANNEL && nfds == 3) {
			rec = m;
			memcpy(recfds, fds, sizeof(recfds));
			continue;
		}
		entries += m.h.op == KEEP_ENTRY;
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
	}
	assert_int_equal(m.u.end.status, KEEP_END_OK);
	assert_int_equal(entries, 1);
	assert_true(recfds[0] >= 0);
	/* the record again, as adopt_all() ends; then death */
	assert_int_equal(ksend(kfd, &rec, sizeof(rec.h) + rec.h.body_bytes, recfds, 3), 0);
	for (unsigned i = 0; i < 3; i++)
		close(recfds[i]);
	close(kfd);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(fx_wait_log(d, "adopted channel=k.adopting handles=1"), 0);
	second = shmq_pub_open(c, "k.adopting", NULL, &p2);
	if (!second)
		shmq_pub_close(p2);
	assert_int_equal(second, -SHMQ_EBUSY);
	fx_publish_u64(p, 2, FX_HANG_NS);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A reader joins a block channel, and shmqd dies before a publisher has
 * mapped the reader's entry. The publisher cannot learn where that reader
 * is until a daemon answers: it must wait for space, not publish past the
 * reader's unread messages. After the restart every message reaches the
 * reader once and in order, none lost.
 */
static void test_a_reader_the_publisher_has_not_mapped_holds_it_while_shmqd_is_away(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c1 = fx_connect(d), *c2 = fx_connect(d);
	struct shmq_channel_opts o = {
	    .capacity_bytes = 32 << 10, .max_message_bytes = 64, .policy = SHMQ_POLICY_BLOCK};
	uint64_t sent = 0, refused = 0;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_channel_create(c1, "k.unmapped", &o), 0);
	assert_int_equal(shmq_pub_open(c1, "k.unmapped", NULL, &p), 0);
	fx_publish_u64(p, sent++, FX_HANG_NS);
	assert_int_equal(shmq_sub_open(c2, "k.unmapped", NULL, &s), 0);
	daemon_kill(d);
	/* four rings' worth: a publisher that ignored the reader laps it */
	for (unsigned i = 0; i < 4 * (32 << 10) / 32 && refused < 50; i++) {
		int err = shmq_publish(p, &sent, sizeof(sent), 1000000, NULL);

		if (err == 0)
			sent++;
		else if (err == -SHMQ_EFULL || err == -SHMQ_ETIMEDOUT)
			refused++;
		else
			fail_msg("publish while shmqd is away: %s", shmq_errname(err));
	}
	print_message("while shmqd was away: %llu published, then refused\n",
		      (unsigned long long)sent);
	assert_true(refused > 0);
	assert_int_equal(daemon_restart(d), 0);
	for (uint64_t i = 0; i < 100; i++)
		fx_publish_u64(p, sent++, FX_HANG_NS);
	for (uint64_t v = 1; v < sent; v++) {
		int err = shmq_recv(s, &m, FX_HANG_NS);

		if (err)
			fail_msg("message %llu of %llu: %s", (unsigned long long)v,
				 (unsigned long long)sent, shmq_errname(err));
		assert_int_equal(m.lost, 0);
		assert_int_equal(fx_msg_u64(&m), v);
	}
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c2);
	shmq_disconnect(c1);
}

/* Does the daemon count exactly these readers and open publishers on name? */
static bool counts_are(struct shmq_client *c, const char *name, uint32_t readers, uint32_t pubs)
{
	struct shmq_channel_info ci;

	return shmq_channel_info(c, name, &ci) == 0 && ci.readers == readers &&
	       ci.publishers_open == pubs;
}

/*
 * Handles closed after a restart, before their client made any other
 * control call (so before they were resumed): the new daemon must close
 * them, not keep their slots for as long as the process lives. On a
 * publishers=one channel a new publisher is admitted, and the reader
 * count goes back to the one reader still open.
 */
static void test_handles_closed_right_after_a_restart_are_closed_at_the_new_daemon(void **state)
{
	struct daemon *d = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
				      .max_message_bytes = 64,
				      .policy = SHMQ_POLICY_BLOCK,
				      .publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_client *c = fx_connect(d), *c2;
	struct shmq_sub *s, *keep;
	struct shmq_pub *p, *p2;
	struct shmq_msg m;
	int64_t deadline;
	int err;

	assert_int_equal(shmq_channel_create(c, "r.closing", &o), 0);
	assert_int_equal(shmq_sub_open(c, "r.closing", NULL, &s), 0);
	assert_int_equal(shmq_sub_open(c, "r.closing", NULL, &keep), 0);
	assert_int_equal(shmq_pub_open(c, "r.closing", NULL, &p), 0);
	fx_publish_u64(p, 1, FX_HANG_NS);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	/* the first control calls of c since the restart */
	shmq_sub_close(s);
	shmq_pub_close(p);
	c2 = fx_connect(d);
	deadline = fx_now_ns() + REPAIR_BOUND_MS * MS;
	while (!counts_are(c2, "r.closing", 1, 0) && fx_now_ns() < deadline)
		nap_us(2000);
	assert_true(counts_are(c2, "r.closing", 1, 0));
	err = shmq_pub_open(c2, "r.closing", NULL, &p2);
	assert_int_equal(err, 0);
	fx_publish_u64(p2, 2, FX_HANG_NS);
	/* the handle left open was resumed and reads on */
	assert_int_equal(fx_recv_u64(keep, &m), 1);
	assert_int_equal(fx_recv_u64(keep, &m), 2);
	shmq_pub_close(p2);
	shmq_sub_close(keep);
	assert_true(counts_are(c2, "r.closing", 0, 0));
	shmq_disconnect(c2);
	shmq_disconnect(c);
}

/* ---- a claim left open when its daemon died ---- */

#define CONF_PATIENT "[daemon]\nstuck_ms = 60000\n" /* no stall timer acts in these tests */

struct orphan_job {
	const char *sock;
	int say_fd;
	bool move_tail;	      /* the claimant that won the tail move */
	_Atomic int *go_idle; /* the other: its entry goes idle once this is set */
};

/*
 * A publisher's claim written by hand into its own entry: the intent
 * (CLAIMING, one 8-byte message at the tail), then, for the winner, the
 * tail move; no record is ever written. The loser's entry names the same
 * start, as one stopped between a failed tail move and its next intent.
 */
static int claim_by_hand(void *arg)
{
	struct orphan_job *j = arg;
	struct raw r;
	struct raw_chan rc;
	struct pub_entry *e;
	unsigned __int128 *tail, was;
	uint64_t pos, bytes, rec = rec_bytes_for(8, 0);

	if (raw_connect(&r, j->sock) || raw_hello(&r) || raw_open(&r, "r.orphan", ROLE_PUB, &rc))
		return 10;
	e = rc.entry;
	tail = (unsigned __int128 *)(void *)&rc.data->tail_pos;
	pos = atomic_load(&rc.data->tail_pos);
	bytes = atomic_load(&rc.data->tail_bytes);
	atomic_store(&e->claim_bytes, bytes);
	atomic_store(&e->claim_end, bytes + rec);
	atomic_store(&e->claim_pos, pos);
	atomic_store(&e->claim_count, 1);
	atomic_store(&e->claim_state, PUB_CLAIMING);
	was = (unsigned __int128)bytes << 64 | pos;
	if (j->move_tail && !__sync_bool_compare_and_swap(
				tail, was, (unsigned __int128)(bytes + rec) << 64 | (pos + 1)))
		return 11;
	pipe_say(j->say_fd, "ready");
	while (!j->move_tail && !atomic_load(j->go_idle))
		nap_us(1000);
	if (!j->move_tail) /* the winner stays inside its claim until killed */
		atomic_store(&e->claim_state, PUB_IDLE);
	for (;;)
		pause();
}

/* Is a process of this pid a client of the daemon? */
static bool daemon_client(struct shmq_client *c, pid_t pid)
{
	struct shmq_daemon_client rows[64];
	struct shmq_daemon_stats st;
	int n = shmq_daemon_stats(c, &st, rows, 64);

	for (int i = 0; i < n && i < 64; i++)
		if (rows[i].pid == (uint32_t)pid)
			return true;
	return n < 0; /* no answer: do not conclude */
}

/*
 * Two publishers name the same start: the one that moved the tail is
 * SIGKILLed inside its claim, and while the other still names that start
 * (so which of the two moved the tail is not known) shmqd is SIGKILLed.
 * After the restart the other goes on: the claim must be given up by the
 * new daemon, so that a block reader waiting at it reads on, with the
 * claim's one message counted lost once, and the kept slot is freed.
 */
static void test_restart_settles_a_claim_left_open_when_its_daemon_died(void **state)
{
	struct daemon *d = *state;
	_Atomic int *go_idle = fx_shared_alloc(sizeof(*go_idle));
	struct orphan_job win = {.sock = d->sock, .say_fd = -1, .move_tail = true};
	struct orphan_job lose = {.sock = d->sock, .say_fd = -1, .go_idle = go_idle};
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c = fx_connect(d);
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_channel_info ci;
	struct shmq_mon *mon;
	struct shmq_sub *s;
	struct shmq_pub *p;
	struct shmq_msg m;
	pid_t wpid, lpid;
	int64_t deadline;
	int err;

	assert_non_null(go_idle);
	assert_non_null(st);
	create_chan(c, "r.orphan", SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "r.orphan", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "r.orphan", NULL, &p), 0);
	fx_publish_u64(p, 0, FX_HANG_NS);
	assert_int_equal(fx_recv_u64(s, &m), 0);
	lpid = fx_child_ready(claim_by_hand, &lose, &lose.say_fd);
	wpid = fx_child_ready(claim_by_hand, &win, &win.say_fd);
	child_kill(wpid);
	deadline = fx_now_ns() + FX_HANG_NS;
	while (daemon_client(c, wpid) && fx_now_ns() < deadline)
		nap_us(2000);
	assert_false(daemon_client(c, wpid));
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	atomic_store(go_idle, 1);
	fx_publish_u64(p, 2, FX_HANG_NS);
	err = shmq_recv(s, &m, 10000 * MS);
	if (err) {
		daemon_print_log(d);
		fail_msg("the reader waits at the claim left open: %s", shmq_errname(err));
	}
	assert_int_equal(fx_msg_u64(&m), 2);
	assert_int_equal(m.offset, 2);
	assert_int_equal(m.lost, 1);
	/* counted once, and the kept slot goes: the test's publisher and the loser remain */
	assert_int_equal(shmq_mon_open(c, "r.orphan", &mon), 0);
	assert_int_equal(shmq_mon_read(mon, st), 0);
	assert_int_equal(st->abandoned, 1);
	deadline = fx_now_ns() + REPAIR_BOUND_MS * MS;
	while (shmq_channel_info(c, "r.orphan", &ci) == 0 && ci.publishers_open != 2 &&
	       fx_now_ns() < deadline)
		nap_us(2000);
	assert_int_equal(ci.publishers_open, 2);
	shmq_mon_close(mon);
	child_kill(lpid);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
	free(st);
	fx_shared_free(go_idle, sizeof(*go_idle));
}

/*
 * The first control call after a restart that the client has not noticed
 * yet goes to the dead connection, fails, and is sent again to the new
 * daemon: an open sent again must still take the descriptors its answer
 * carries (it got -SHMQ_EPROTO: none were taken, and the slot was given
 * back), for subscribers (with an event fd too), publishers and monitors.
 */
static void test_open_right_after_a_restart_takes_its_descriptors(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_sub *s, *s2;
	struct shmq_pub *p;
	struct shmq_mon *mon;
	struct shmq_msg m;

	create_chan(c, "r.reopen", SHMQ_POLICY_BLOCK);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(shmq_sub_open(c, "r.reopen", NULL, &s), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(shmq_pub_open(c, "r.reopen", NULL, &p), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(shmq_sub_open(c, "r.reopen", &so, &s2), 0);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	assert_int_equal(shmq_mon_open(c, "r.reopen", &mon), 0);
	fx_publish_u64(p, 7, FX_HANG_NS);
	assert_int_equal(fx_recv_u64(s, &m), 7);
	assert_int_equal(fx_recv_u64(s2, &m), 7);
	shmq_mon_close(mon);
	shmq_sub_close(s2);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/* ---- a call that gets no answer ---- */

#define OWN_FDS 24

struct quiet_job {
	const char *sock;
	int say_fd;
	_Atomic int *step; /* 1: the daemon is stopped, 2: the child checked */
	_Atomic int *lost; /* descriptors of the child's own that were closed */
};

/* Leave our descriptor numbers where the next calls' locals will be. */
static __attribute__((noinline)) int stack_prime(const int *own)
{
	volatile int area[4096];

	for (unsigned i = 0; i < 4096; i++)
		area[i] = own[i % OWN_FDS];
	return area[4095];
}

/*
 * A monitor whose client gives up on an answer after 300 ms: its peers
 * call times out while the daemon is stopped. Every descriptor the
 * process had must still be open afterwards.
 */
static int monitor_quiet_daemon(void *arg)
{
	struct quiet_job *j = arg;
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_client *c;
	struct shmq_mon *mon;
	int own[OWN_FDS], lost = 0;

	for (unsigned i = 0; i < OWN_FDS; i += 2)
		if (pipe(&own[i]))
			return 10;
	if (!st || shmq_connect_timeout(j->sock, 300 * MS, &c) ||
	    shmq_mon_open(c, "r.quiet.mon", &mon))
		return 11;
	shmq_mon_read(mon, st);
	pipe_say(j->say_fd, "ready");
	while (atomic_load(j->step) < 1)
		nap_us(1000);
	if (stack_prime(own) < 0)
		return 12;
	shmq_mon_read(mon, st); /* a reader came: the peers call, unanswered */
	for (unsigned i = 0; i < OWN_FDS; i++)
		lost += fcntl(own[i], F_GETFD) < 0;
	for (int fd = 0; fd <= 2; fd++)
		lost += fcntl(fd, F_GETFD) < 0;
	atomic_store(j->lost, lost);
	atomic_store(j->step, 2);
	for (;;)
		pause();
}

/*
 * A control call that gets no answer in time (the daemon is stopped: a
 * busy machine does the same) must close no descriptor of its process:
 * before, the peers call closed whatever its uninitialized array held,
 * stdout among them (shmq-stat then failed with exit 1 and no output).
 */
static void test_a_call_that_times_out_closes_no_descriptor_of_its_process(void **state)
{
	struct daemon *d = *state;
	_Atomic int *sh = fx_shared_alloc(2 * sizeof(*sh));
	struct quiet_job j = {.sock = d->sock, .say_fd = -1, .step = &sh[0], .lost = &sh[1]};
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub *s;
	int64_t deadline;
	pid_t pid;

	assert_non_null(sh);
	create_chan(c, "r.quiet.mon", SHMQ_POLICY_DROP);
	pid = fx_child_ready(monitor_quiet_daemon, &j, &j.say_fd);
	assert_int_equal(shmq_sub_open(c, "r.quiet.mon", NULL, &s), 0);
	assert_int_equal(kill(d->pid, SIGSTOP), 0);
	atomic_store(j.step, 1);
	deadline = fx_now_ns() + FX_HANG_NS;
	while (atomic_load(j.step) < 2 && fx_now_ns() < deadline)
		nap_us(2000);
	kill(d->pid, SIGCONT);
	child_kill(pid);
	assert_int_equal(atomic_load(j.step), 2);
	print_message("descriptors of its own a timed-out call closed: %d\n", atomic_load(j.lost));
	assert_int_equal(atomic_load(j.lost), 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
	fx_shared_free(sh, 2 * sizeof(*sh));
}

/*
 * A handle closed while no daemon ran, and its client disconnected once a
 * daemon is back but before any other call: the disconnect closes it at
 * that daemon, rather than leave its slot to the end of the process.
 */
static void test_handles_closed_while_the_daemon_was_away_are_closed_at_disconnect(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d), *c2;
	struct shmq_sub *s;
	struct shmq_pub *p;
	int64_t deadline;

	create_chan(c, "r.away", SHMQ_POLICY_BLOCK);
	assert_int_equal(shmq_sub_open(c, "r.away", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "r.away", NULL, &p), 0);
	daemon_kill(d);
	shmq_sub_close(s);
	shmq_pub_close(p);
	assert_int_equal(daemon_restart(d), 0);
	shmq_disconnect(c);
	c2 = fx_connect(d);
	deadline = fx_now_ns() + REPAIR_BOUND_MS * MS;
	while (!counts_are(c2, "r.away", 0, 0) && fx_now_ns() < deadline)
		nap_us(2000);
	assert_true(counts_are(c2, "r.away", 0, 0));
	shmq_disconnect(c2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
#define T_FAKE(f) cmocka_unit_test_setup_teardown(f, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_restart_flow_block_every_wait_mode),
	    T(test_restart_flow_drop_every_wait_mode),
	    T(test_restart_repairs_a_claim_of_a_publisher_killed_meanwhile),
	    T(test_restart_frees_a_block_channel_of_a_reader_killed_meanwhile),
	    T(test_restart_keeps_a_publisher_that_makes_no_control_call),
	    cmocka_unit_test_prestate_setup_teardown(
		test_restart_adopts_a_channel_a_hostile_subscriber_scribbled_on,
		fx_daemon_setup_conf, daemon_teardown, (void *)CONF_HOSTILE),
	    T_FAKE(test_restart_skips_garbage_and_old_versions_reads_newer_ones),
	    T_FAKE(test_restart_serves_when_the_keeper_hangs_up),
	    T_FAKE(test_restart_refuses_segments_of_a_foreign_uid),
	    T_FAKE(test_restart_refuses_bad_records_from_the_keeper),
	    T_FAKE(test_restart_adopts_a_good_channel_among_bad_ones),
	    T(test_a_daemon_dying_inside_its_adoption_loses_no_handle),
	    T(test_a_reader_the_publisher_has_not_mapped_holds_it_while_shmqd_is_away),
	    T(test_handles_closed_right_after_a_restart_are_closed_at_the_new_daemon),
	    T(test_open_right_after_a_restart_takes_its_descriptors),
	    T(test_handles_closed_while_the_daemon_was_away_are_closed_at_disconnect),
	    T(test_a_call_that_times_out_closes_no_descriptor_of_its_process),
	    cmocka_unit_test_prestate_setup_teardown(
		test_restart_settles_a_claim_left_open_when_its_daemon_died, fx_daemon_setup_conf,
		daemon_teardown, (void *)CONF_PATIENT),
	    T(test_clean_stop_ends_channels),
	    cmocka_unit_test_setup_teardown(test_replace_takes_over_without_stopping_the_flow,
					    daemon_setup, replace_teardown),
	};

	if (getenv("SHMQ_TEST_FILTER")) /* one test by name (a pattern with * and ?) */
		cmocka_set_test_filter(getenv("SHMQ_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
