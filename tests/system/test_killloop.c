/*
 * test_killloop.c - a kill loop against a real shmqd: publishers (shared
 * and exclusive) and subscribers (every wait mode) on block and drop
 * channels are SIGKILLed at random moments and started again, shmqd is
 * SIGKILLed and restarted, and replaced with `shmqd --replace`, for
 * SHMQ_KILLLOOP_SECONDS (default 10) seconds; SHMQ_SEED repeats a run.
 *
 * Publishers number their messages (id, seq); id is unique per process
 * started. After each publish that returns 0 a publisher stores the count
 * it has acknowledged in MAP_SHARED memory, so it survives SIGKILL. At
 * most one message per publisher is in flight when it dies. Invariants,
 * checked exactly:
 *  - every reader: offset == previous offset + 1 + lost (offsets are
 *    dense; lost counts exactly what was passed), and per publisher the
 *    seqs strictly increase;
 *  - block, per publisher: consecutive seqs; the checkers (readers that
 *    live through the whole run, from offset 0) get every acknowledged
 *    message and at most the one in flight, and count as lost no more
 *    messages than publishers died with one in flight not delivered;
 *  - drop: a checker gets no message beyond the one in flight;
 *  - never two exclusive publishers admitted at once: the holder before
 *    an admitted one was killed by the test before that one's open
 *    returned, or was found dead otherwise;
 *  - at the end, with every victim dead: the reader and publisher counts
 *    of each channel come back to the checkers alone, a new exclusive
 *    publisher is admitted, and the end marker's offset is the tail.
 * It prints the seed, the cycles of each kind it ran and what each checker
 * received and counted lost; the test's steps go into shmqd's log, which a
 * failure prints. Nothing is timed but the bounded waits (FX_HANG_S).
 * Test process: one thread; children report through MAP_SHARED memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "helpers.h"

#define MS 1000000ll
#define NCHAN 4u
#define MAX_IDS (1u << 16)  /* publisher processes per run */
#define END_ID UINT64_MAX   /* the test's last message on each channel */
#define VICTIMS 16u	    /* per channel: 2 publishers, 2 subscribers */
#define CHECKERS 8u	    /* per channel: 2 subscribers that live through the run */
#define KILLED_SLOTS 65536u /* kill times, by pid */

struct kl_msg {
	uint64_t id;
	uint64_t seq;
};

static const char *const wait_name[] = {"spin_sleep", "spin", "sleep", "eventfd"};

static const struct {
	const char *name;
	uint32_t policy;
	uint32_t publishers;
	uint32_t wait[2]; /* of its two checkers */
} chans[NCHAN] = {
    {"kl.block", SHMQ_POLICY_BLOCK, SHMQ_PUBLISHERS_MANY, {SHMQ_WAIT_SPIN, SHMQ_WAIT_SLEEP}},
    {"kl.block.one",
     SHMQ_POLICY_BLOCK,
     SHMQ_PUBLISHERS_ONE,
     {SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_EVENTFD}},
    {"kl.drop", SHMQ_POLICY_DROP, SHMQ_PUBLISHERS_MANY, {SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_EVENTFD}},
    {"kl.drop.one", SHMQ_POLICY_DROP, SHMQ_PUBLISHERS_ONE, {SHMQ_WAIT_SPIN, SHMQ_WAIT_SLEEP}},
};

/* What a reader found, written by that reader. */
struct reader_result {
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t end_offset;
	_Atomic int done;
	char why[200];
};

struct kl_killed {
	_Atomic int32_t pid;
	_Atomic int64_t ns;
};

/* Everything shared by the test and its children. */
struct kl_shared {
	const char *sock;
	const char *log; /* shmqd's log, where the test notes its steps */
	_Atomic uint64_t next_id;
	_Atomic uint64_t acked[MAX_IDS];   /* messages publisher id saw acknowledged */
	_Atomic uint32_t id_chan[MAX_IDS]; /* its channel + 1, 0 before it says */
	_Atomic int32_t id_pid[MAX_IDS];
	_Atomic uint64_t id_start[MAX_IDS];    /* its start time, /proc/PID/stat */
	_Atomic int64_t id_adm_ns[MAX_IDS];    /* exclusive: when its open returned */
	struct kl_killed killed[KILLED_SLOTS]; /* by pid: when the test sent SIGKILL */
	_Atomic uint64_t owner[NCHAN];	       /* exclusive channels: admitted id + 1 */
	_Atomic uint64_t admissions[NCHAN];
	_Atomic uint64_t abandoned; /* publishes that returned -SHMQ_EABANDONED */
	_Atomic int victim_fault;
	char victim_why[200];
	struct reader_result chk[CHECKERS];
};

struct victim_job {
	struct kl_shared *ks;
	unsigned chan;
	bool publisher;
	uint32_t wait;
	uint64_t seed;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && s[0] ? strtoull(s, NULL, 0) : dflt;
}

/* Append a line to shmqd's log, so that the test's steps and the daemon's line up. */
static void note(const struct kl_shared *ks, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd, n;

	n = snprintf(line, sizeof(line), "killloop: pid=%d ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(ks->log, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0)
			n = 0;
		close(fd);
	}
}

/* A victim's fault: the first one is kept; the exit code says so too. */
static int victim_fail(struct kl_shared *ks, const char *fmt, ...)
{
	va_list ap;
	int was = 0;

	if (atomic_compare_exchange_strong(&ks->victim_fault, &was, 1)) {
		va_start(ap, fmt);
		vsnprintf(ks->victim_why, sizeof(ks->victim_why), fmt, ap);
		va_end(ap);
	}
	return 20;
}

static int reader_fail(struct reader_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return 20;
}

/* Start time (clock ticks since boot) and state of pid; 0 if it is gone or a zombie. */
static uint64_t proc_start(pid_t pid)
{
	char path[64], buf[512], *p, state;
	unsigned long long start = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* fields 3.. after the command: state, then 18 more up to starttime (22) */
	if (!p || sscanf(p + 2,
			 "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
			 "%*s %*s %*s %llu",
			 &state, &start) != 2)
		return 0;
	return state == 'Z' || state == 'X' ? 0 : (uint64_t)start;
}

/* Connect, retrying while no daemon listens (killed, or being replaced). */
static struct shmq_client *connect_retry(const char *sock)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	struct shmq_client *c;
	int err;

	while ((err = shmq_connect(sock, &c)) == -SHMQ_ENODAEMON || err == -SHMQ_ECLOSED) {
		if (fx_now_ns() > deadline)
			break;
		fx_nap_ms(2);
	}
	return err ? NULL : c;
}

/* Retry a control call while the daemon is away. */
static bool daemon_away(int err)
{
	return err == -SHMQ_ENODAEMON || err == -SHMQ_ECLOSED;
}

/*
 * An exclusive publisher is admitted (its open returned at adm_ns) and
 * becomes the holder. The holder before it must have been dead by then:
 * killed by the test before adm_ns (the test notes the time before it
 * sends SIGKILL), or found dead otherwise (shmqd stops stalled ones). One
 * that the test killed after adm_ns, or that lives on unkilled, was
 * admitted at the same time.
 */
struct excl_check {
	uint64_t prev; /* the holder before, id + 1; 0 once settled */
	int64_t adm_ns;
};

static void excl_admit(struct kl_shared *ks, const struct victim_job *j, uint64_t id,
		       struct excl_check *x)
{
	x->adm_ns = fx_now_ns();
	atomic_store(&ks->id_pid[id], (int32_t)getpid());
	atomic_store(&ks->id_start[id], proc_start(getpid()));
	atomic_store(&ks->id_adm_ns[id], x->adm_ns);
	x->prev = atomic_exchange(&ks->owner[j->chan], id + 1);
	if (x->prev > MAX_IDS)
		x->prev = 0;
	atomic_fetch_add(&ks->admissions[j->chan], 1);
	note(ks, "admitted exclusive id=%" PRIu64 " channel=%s after id=%" PRIu64, id,
	     chans[j->chan].name, x->prev ? x->prev - 1 : UINT64_MAX);
}

/* 0 while it is not known, else -1 after saying why. */
static int excl_settle(struct kl_shared *ks, const struct victim_job *j, uint64_t id,
		       struct excl_check *x)
{
	uint64_t a = x->prev - 1;
	int32_t pid = atomic_load(&ks->id_pid[a]);
	struct kl_killed *k = &ks->killed[(uint32_t)pid % KILLED_SLOTS];
	int64_t kns = atomic_load(&k->ns);

	if (!x->prev)
		return 0;
	if (atomic_load(&k->pid) == pid && kns >= atomic_load(&ks->id_adm_ns[a])) {
		x->prev = 0;
		if (kns <= x->adm_ns)
			return 0;
		return victim_fail(ks,
				   "%s: publisher %" PRIu64 " admitted %.3f ms before the test "
				   "killed the holder %" PRIu64 " (pid %d)",
				   chans[j->chan].name, id, (double)(kns - x->adm_ns) / MS, a,
				   (int)pid),
		       -1;
	}
	if (proc_start(pid) != atomic_load(&ks->id_start[a])) {
		x->prev = 0; /* died otherwise (stopped by shmqd as stalled) */
		return 0;
	}
	if (fx_now_ns() - x->adm_ns < FX_HANG_NS)
		return 0;
	return victim_fail(ks,
			   "%s: publisher %" PRIu64 " admitted while %" PRIu64 " (pid %d) lives",
			   chans[j->chan].name, id, a, (int)pid),
	       -1;
}

static int open_pub(struct kl_shared *ks, const struct victim_job *j, struct shmq_client *c,
		    struct shmq_pub **p)
{
	int err;

	while ((err = shmq_pub_open(c, chans[j->chan].name, NULL, p)) == -SHMQ_EBUSY ||
	       daemon_away(err))
		fx_nap_ms(2);
	if (err)
		return victim_fail(ks, "%s: pub_open %s", chans[j->chan].name, shmq_errname(err));
	return 0;
}

/*
 * One message: a copy in (shmq_publish), or, one time in four, a claim
 * held for some microseconds before its commit, so that more kills land
 * between claim and commit.
 */
static int publish_one(struct shmq_pub *p, const struct kl_msg *m, uint64_t *seed)
{
	struct shmq_claim cl;
	int err;

	if (rnd(seed) % 4)
		return shmq_publish(p, m, sizeof(*m), 100 * MS, NULL);
	err = shmq_pub_claim(p, sizeof(*m), &cl, 100 * MS);
	if (err)
		return err;
	memcpy(cl.data, m, sizeof(*m));
	for (int64_t until = fx_now_ns() + 20000; fx_now_ns() < until;)
		;
	return shmq_pub_commit(p, &cl, sizeof(*m));
}

/* Publish (id, 0), (id, 1), ... in bursts until killed. */
static int victim_publish(void *arg)
{
	const struct victim_job *j = arg;
	struct kl_shared *ks = j->ks;
	uint64_t seed = j->seed | 1, id = atomic_fetch_add(&ks->next_id, 1);
	struct kl_msg m = {.id = id};
	struct excl_check x = {0};
	struct shmq_client *c;
	struct shmq_pub *p;
	int err;

	if (id >= MAX_IDS)
		pause(); /* ids used up: idle until killed */
	atomic_store(&ks->id_chan[id], j->chan + 1);
	c = connect_retry(ks->sock);
	if (!c)
		return victim_fail(ks, "publisher cannot connect");
	if (open_pub(ks, j, c, &p))
		return 20;
	if (chans[j->chan].publishers == SHMQ_PUBLISHERS_ONE)
		excl_admit(ks, j, id, &x);
	for (unsigned n = 0;; n++) {
		if (x.prev && !(n & 31) && excl_settle(ks, j, id, &x))
			return 20;
		err = publish_one(p, &m, &seed);
		if (err == -SHMQ_ETIMEDOUT)
			continue;
		if (err == -SHMQ_EABANDONED) { /* stalled past stuck_ms: as if it died */
			atomic_fetch_add(&ks->abandoned, 1);
			pause();
		}
		if (err)
			return victim_fail(ks, "%s: publish %s", chans[j->chan].name,
					   shmq_errname(err));
		atomic_store(&ks->acked[id], ++m.seq);
		if (rnd(&seed) % 16 == 0)
			fx_nap_ms(1 + (unsigned)(rnd(&seed) % 3));
	}
}

/* ---- readers ---- */

struct reader {
	struct kl_shared *ks;
	unsigned chan;
	bool checker;	   /* from offset 0, through the whole run */
	bool have_off;	   /* next_off is known */
	uint64_t next_off; /* offset the next message should have, lost included */
	uint64_t received, lost;
	uint64_t *next_seq; /* per id: last seq seen + 1, 0 if none */
};

/* One message: 1 at the end marker, 0 if it is sound, else a fault into why. */
static int reader_check(struct reader *r, const struct shmq_msg *m, const struct kl_msg *k,
			char *why, size_t len)
{
	bool block = chans[r->chan].policy == SHMQ_POLICY_BLOCK;
	uint64_t exp;

	if (m->len != sizeof(*k))
		return snprintf(why, len, "a message of %u bytes", m->len), -1;
	if (r->have_off && m->offset != r->next_off + m->lost)
		return snprintf(why, len, "offset %" PRIu64 " (lost %" PRIu64 ") after %" PRIu64,
				m->offset, m->lost, r->next_off),
		       -1;
	r->have_off = true;
	r->next_off = m->offset + 1;
	r->received++;
	r->lost += m->lost;
	if (k->id == END_ID)
		return 1;
	if (k->id >= MAX_IDS || atomic_load(&r->ks->id_chan[k->id]) != r->chan + 1)
		return snprintf(why, len, "publisher %" PRIu64 " is not of this channel", k->id),
		       -1;
	exp = r->next_seq[k->id];
	if (block && (r->checker || exp) && k->seq != exp)
		return snprintf(why, len, "publisher %" PRIu64 ": seq %" PRIu64 " after %" PRIu64,
				k->id, k->seq, exp),
		       -1;
	if (k->seq < exp)
		return snprintf(why, len, "publisher %" PRIu64 ": seq %" PRIu64 " again or back",
				k->id, k->seq),
		       -1;
	r->next_seq[k->id] = k->seq + 1;
	return 0;
}

/*
 * Receive until the end marker (checkers) or until killed (victims).
 * SPIN readers wait 2 ms at a time and nap 1 ms between, so that two of
 * them do not take both CPUs of a small machine from the rest.
 */
static int reader_loop(struct reader *r, struct shmq_sub *s, uint32_t wait, char *why, size_t len)
{
	int64_t timeout = wait == SHMQ_WAIT_SPIN ? 2 * MS : 100 * MS;
	struct shmq_msg m;
	struct kl_msg k;
	int err, rc;

	for (;;) {
		err = shmq_recv_copy(s, &k, sizeof(k), &m, timeout);
		if (err == -SHMQ_ETIMEDOUT) {
			if (wait == SHMQ_WAIT_SPIN)
				fx_nap_ms(1);
			continue;
		}
		if (err)
			return snprintf(why, len, "recv %s after offset %" PRIu64,
					shmq_errname(err), r->next_off),
			       -1;
		rc = reader_check(r, &m, &k, why, len);
		if (rc)
			return rc;
	}
}

/*
 * A checker got the end marker: every publisher of its channel is dead
 * and its acknowledged count final. Block: each one's messages up to the
 * acknowledged count, at most one more; no more lost than publishers that
 * died with one in flight not delivered. Drop: none beyond the one in flight.
 */
static int checker_final(const struct reader *r, char *why, size_t len)
{
	uint64_t n = atomic_load(&r->ks->next_id), missing = 0;
	bool block = chans[r->chan].policy == SHMQ_POLICY_BLOCK;

	for (uint64_t id = 0; id < n && id < MAX_IDS; id++) {
		uint64_t acked = atomic_load(&r->ks->acked[id]), got = r->next_seq[id];

		if (atomic_load(&r->ks->id_chan[id]) != r->chan + 1)
			continue;
		if ((block && got < acked) || got > acked + 1)
			return snprintf(why, len,
					"publisher %" PRIu64 ": %" PRIu64 " delivered, %" PRIu64
					" acknowledged",
					id, got, acked),
			       -1;
		missing += got == acked;
	}
	if (block && r->lost > missing)
		return snprintf(why, len,
				"%" PRIu64 " lost, but only %" PRIu64 " publishers died with a "
				"message in flight",
				r->lost, missing),
		       -1;
	return 0;
}

struct checker_job {
	struct kl_shared *ks;
	unsigned i; /* chk[i]: channel i / 2, wait mode i % 2 */
	int say_fd;
};

static int checker_main(void *arg)
{
	struct checker_job *j = arg;
	struct reader_result *res = &j->ks->chk[j->i];
	struct reader r = {.ks = j->ks, .chan = j->i / 2, .checker = true, .have_off = true};
	uint32_t wait = chans[r.chan].wait[j->i % 2];
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST, .wait = wait};
	struct shmq_client *c;
	struct shmq_sub *s;
	int rc;

	r.next_seq = calloc(MAX_IDS, sizeof(*r.next_seq));
	if (!r.next_seq || shmq_connect(j->ks->sock, &c) ||
	    shmq_sub_open(c, chans[r.chan].name, &so, &s))
		return reader_fail(res, "cannot subscribe");
	pipe_say(j->say_fd, "ready");
	rc = reader_loop(&r, s, wait, res->why, sizeof(res->why));
	atomic_store(&res->received, r.received);
	atomic_store(&res->lost, r.lost);
	atomic_store(&res->end_offset, r.next_off - 1);
	if (rc < 0 || checker_final(&r, res->why, sizeof(res->why)))
		return 20;
	atomic_store(&res->done, 1);
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

/* A subscriber that checks what it gets until it is killed. */
static int victim_subscribe(void *arg)
{
	const struct victim_job *j = arg;
	struct reader r = {.ks = j->ks, .chan = j->chan};
	struct shmq_sub_opts so = {.wait = j->wait};
	struct shmq_client *c;
	struct shmq_sub *s;
	char why[160];
	int err;

	r.next_seq = calloc(MAX_IDS, sizeof(*r.next_seq));
	c = connect_retry(j->ks->sock);
	if (!r.next_seq || !c)
		return victim_fail(j->ks, "subscriber cannot connect");
	while (daemon_away(err = shmq_sub_open(c, chans[j->chan].name, &so, &s)))
		fx_nap_ms(2);
	if (err)
		return victim_fail(j->ks, "%s: sub_open %s", chans[j->chan].name,
				   shmq_errname(err));
	reader_loop(&r, s, j->wait, why, sizeof(why));
	return victim_fail(j->ks, "%s: subscriber (wait %u): %s", chans[j->chan].name, j->wait,
			   why);
}

/* ---- the loop ---- */

struct victim {
	struct victim_job j;
	pid_t pid;
	unsigned starts;
};

struct kl_counts {
	uint64_t pub_kills, excl_kills, sub_kills, daemon_kills, replaces;
};

static void victim_start(struct victim *v, uint64_t *seed)
{
	static const uint32_t modes[] = {SHMQ_WAIT_SPIN, SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_SLEEP,
					 SHMQ_WAIT_EVENTFD};

	v->j.wait = modes[(v->starts++ + v->j.chan) % 4];
	v->j.seed = rnd(seed);
	v->pid = child_start(v->j.publisher ? victim_publish : victim_subscribe, &v->j);
	assert_true(v->pid > 0);
}

/* SIGKILL, noting when first (ns before pid: excl_settle() matches the pid, then reads ns). */
static void victim_kill(struct kl_shared *ks, struct victim *v)
{
	struct kl_killed *k = &ks->killed[(uint32_t)v->pid % KILLED_SLOTS];

	atomic_store(&k->pid, 0);
	atomic_store(&k->ns, fx_now_ns());
	atomic_store(&k->pid, v->pid);
	child_kill(v->pid);
}

/* A victim that exited by itself found a fault: fail with what it said. */
/* Has pid exited (without reaping it)? */
static bool exited(pid_t pid)
{
	siginfo_t si = {0};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/*
 * A victim that exited by itself, or a checker before the end, found a
 * fault: fail with what it said.
 */
static void children_check(struct daemon *d, struct kl_shared *ks, const struct victim *v,
			   const pid_t *cpid, uint64_t seed)
{
	for (unsigned i = 0; i < VICTIMS; i++) {
		if (!exited(v[i].pid))
			continue;
		daemon_print_log(d);
		fail_msg("victim %u (%s on %s) exited with %d; the first fault a victim saw: %s "
			 "(seed %" PRIu64 ")",
			 i, v[i].j.publisher ? "publisher" : "subscriber", chans[v[i].j.chan].name,
			 child_wait(v[i].pid, 1), ks->victim_why, seed);
	}
	for (unsigned i = 0; i < CHECKERS; i++) {
		if (!exited(cpid[i]))
			continue;
		daemon_print_log(d);
		fail_msg("checker %u (%s, %s) exited with %d before the end: %s (seed %" PRIu64 ")",
			 i, chans[i / 2].name, wait_name[chans[i / 2].wait[i % 2]],
			 child_wait(cpid[i], 1), ks->chk[i].why, seed);
	}
}

/* Wait (bounded) for cond; false on timeout. */
#define WAIT_FOR(cond)                                                                             \
	({                                                                                         \
		int64_t dl_ = fx_now_ns() + FX_HANG_NS;                                            \
		while (!(cond) && fx_now_ns() < dl_)                                               \
			fx_nap_ms(2);                                                              \
		(cond);                                                                            \
	})

/* Control calls answer again (the daemon serves). */
static bool serves(struct shmq_client *c)
{
	return shmq_channel_list(c, NULL, 0) >= 0;
}

/* `shmqd --replace`: the old daemon exits 0 and the new one serves. */
static void daemon_replace(struct daemon *d, struct shmq_client *c)
{
	pid_t old = d->pid, pid = daemon_spawn_replace(d);
	bool reaped = false;
	int st = -1;

	assert_true(pid > 0);
	if (!WAIT_FOR(reaped || (reaped = waitpid(old, &st, WNOHANG) == old))) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		daemon_print_log(d);
		fail_msg("the replaced shmqd (pid %d) did not exit", (int)old);
	}
	d->pid = pid;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !WAIT_FOR(serves(c))) {
		daemon_print_log(d);
		fail_msg("--replace: old status %d, new daemon %s", st,
			 daemon_running(d) ? "running" : "gone");
	}
}

static void daemon_cycle(struct daemon *d, const struct kl_shared *c, uint64_t *seed)
{
	const struct kl_shared *ks = c;

	note(ks, "SIGKILL shmqd pid=%d", (int)d->pid);
	daemon_kill(d);
	fx_nap_ms((unsigned)(rnd(seed) % 50));
	assert_int_equal(daemon_restart(d), 0);
	note(ks, "restarted shmqd pid=%d", (int)d->pid);
}

/* One step: kill a victim (and start it again), or shmqd, or replace shmqd. */
static void loop_step(struct daemon *d, struct shmq_client *c, struct kl_shared *ks,
		      struct victim *v, uint64_t *seed, struct kl_counts *n)
{
	unsigned x = (unsigned)(rnd(seed) % 200), i;

	fx_nap_ms(2 + (unsigned)(rnd(seed) % 20));
	if (x < 3) {
		daemon_cycle(d, ks, seed);
		n->daemon_kills++;
		return;
	}
	if (x < 5) {
		note(ks, "shmqd --replace of pid=%d", (int)d->pid);
		daemon_replace(d, c);
		note(ks, "replaced: shmqd pid=%d", (int)d->pid);
		n->replaces++;
		return;
	}
	i = (unsigned)(rnd(seed) % VICTIMS);
	note(ks, "SIGKILL victim %u pid=%d", i, (int)v[i].pid);
	victim_kill(ks, &v[i]);
	if (!v[i].j.publisher)
		n->sub_kills++;
	else if (chans[v[i].j.chan].publishers == SHMQ_PUBLISHERS_ONE)
		n->excl_kills++;
	else
		n->pub_kills++;
	victim_start(&v[i], seed);
}

/* On a failure: the handles a monitor sees, with their processes. */
static void print_handles(struct shmq_client *c, unsigned ch)
{
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_mon *m;

	if (!st || shmq_mon_open(c, chans[ch].name, &m)) {
		free(st);
		return;
	}
	if (shmq_mon_read(m, st) == 0) {
		fprintf(stderr,
			"%s: tail %" PRIu64 " tail_bytes %" PRIu64 " oldest %" PRIu64
			" abandoned %" PRIu64 " sleepers %u\n",
			chans[ch].name, st->tail, st->tail_bytes, st->oldest, st->abandoned,
			st->sleepers);
		for (unsigned i = 0; i < st->nreaders; i++)
			fprintf(stderr,
				"%s: reader slot %u pid %u%s offset %" PRIu64 " lag %" PRIu64
				" (%" PRIu64 " bytes) received %" PRIu64 " sleeps %" PRIu64 "\n",
				chans[ch].name, st->readers[i].slot, st->readers[i].pid,
				proc_start((pid_t)st->readers[i].pid) ? "" : " (dead)",
				st->readers[i].offset, st->readers[i].lag_messages,
				st->readers[i].lag_bytes, st->readers[i].received,
				st->readers[i].sleeps);
		for (unsigned i = 0; i < st->npubs; i++)
			fprintf(stderr, "%s: publisher slot %u pid %u%s\n", chans[ch].name,
				st->pubs[i].slot, st->pubs[i].pid,
				proc_start((pid_t)st->pubs[i].pid) ? "" : " (dead)");
	}
	shmq_mon_close(m);
	free(st);
}

/* Channel info, waiting while the daemon is away. */
static void info(struct shmq_client *c, unsigned ch, struct shmq_channel_info *ci)
{
	int err;

	assert_true(WAIT_FOR(!daemon_away(err = shmq_channel_info(c, chans[ch].name, ci))));
	assert_int_equal(err, 0);
}

static bool counts_settled(struct shmq_client *c, unsigned ch, uint32_t pubs)
{
	struct shmq_channel_info ci;

	info(c, ch, &ci);
	return ci.readers == 2 && ci.publishers_open == pubs;
}

/* Open a publisher, retrying (bounded) while a slot is taken or the daemon away. */
static int pub_open_bounded(struct shmq_client *c, unsigned ch, struct shmq_pub **p)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	int err;

	while ((err = shmq_pub_open(c, chans[ch].name, NULL, p)) == -SHMQ_EBUSY ||
	       daemon_away(err)) {
		if (fx_now_ns() > deadline)
			return err;
		fx_nap_ms(2);
	}
	assert_int_equal(err, 0);
	return 0;
}

/*
 * Every victim is dead: the counts come back to the two checkers, the
 * exclusive channel admits a new publisher, and the end marker goes out.
 * Returns its offset.
 */
static uint64_t channel_end(struct daemon *d, struct shmq_client *c, unsigned ch)
{
	struct kl_msg k = {.id = END_ID};
	int err;
	struct shmq_channel_info ci;
	struct shmq_pub *p;
	uint64_t off;

	if (!WAIT_FOR(counts_settled(c, ch, 0))) {
		info(c, ch, &ci);
		fail_msg("%s: %u readers, %u publishers open with only the 2 checkers alive",
			 chans[ch].name, ci.readers, ci.publishers_open);
	}
	if (pub_open_bounded(c, ch, &p))
		fail_msg("%s: no exclusive publisher admitted within %d s after the last died",
			 chans[ch].name, FX_HANG_S);
	if (!WAIT_FOR(counts_settled(c, ch, 1))) {
		info(c, ch, &ci);
		print_handles(c, ch);
		fprintf(stderr, "the test is pid %d\n", (int)getpid());
		fail_msg("%s: %u readers, %u publishers open with the 2 checkers and 1 publisher",
			 chans[ch].name, ci.readers, ci.publishers_open);
	}
	err = shmq_publish(p, &k, sizeof(k), FX_HANG_NS, &off);
	if (err) {
		print_handles(c, ch);
		daemon_print_log(d);
		fail_msg("%s: the end marker: %s", chans[ch].name, shmq_errname(err));
	}
	shmq_pub_close(p);
	return off;
}

static void run_loop(struct daemon *d, struct kl_shared *ks, const pid_t *cpid, uint64_t seconds,
		     uint64_t seed, uint64_t *off)
{
	struct shmq_client *c = fx_connect(d);
	int64_t end = fx_now_ns() + (int64_t)seconds * 1000000000;
	struct kl_counts n = {0};
	struct victim v[VICTIMS];
	uint64_t s = seed;

	for (unsigned i = 0; i < VICTIMS; i++) {
		v[i] = (struct victim){.j = {.ks = ks, .chan = i / 4, .publisher = i % 4 < 2}};
		victim_start(&v[i], &s);
	}
	while (fx_now_ns() < end) {
		loop_step(d, c, ks, v, &s, &n);
		children_check(d, ks, v, cpid, seed);
	}
	children_check(d, ks, v, cpid, seed);
	for (unsigned i = 0; i < VICTIMS; i++)
		victim_kill(ks, &v[i]);
	assert_true(WAIT_FOR(serves(c)));
	children_check(d, ks, v, cpid, seed); /* the checkers: victims are reaped */
	for (unsigned ch = 0; ch < NCHAN; ch++)
		off[ch] = channel_end(d, c, ch);
	print_message("kill loop: %" PRIu64 " publisher kills (shared), %" PRIu64
		      " (exclusive), %" PRIu64 " subscriber kills, %" PRIu64
		      " shmqd SIGKILL+restart, %" PRIu64 " --replace; %" PRIu64
		      " publisher processes, exclusive admissions %" PRIu64 " + %" PRIu64
		      ", %" PRIu64 " publishes abandoned\n",
		      n.pub_kills, n.excl_kills, n.sub_kills, n.daemon_kills, n.replaces,
		      atomic_load(&ks->next_id), atomic_load(&ks->admissions[1]),
		      atomic_load(&ks->admissions[3]), atomic_load(&ks->abandoned));
	shmq_disconnect(c);
}

/*
 * Two checkers per channel (every wait mode on block and on drop), then
 * the kill loop, then the end: each checker got the end marker at the
 * offset its publish returned, and found every invariant held.
 */
static void test_kill_loop_keeps_acknowledged_messages_and_frees_dead_slots(void **state)
{
	struct daemon *d = *state;
	uint64_t seconds = env_u64("SHMQ_KILLLOOP_SECONDS", 10);
	uint64_t seed = env_u64("SHMQ_SEED", (uint64_t)fx_now_ns() ^ (uint64_t)getpid()) | 1;
	struct kl_shared *ks = fx_shared_alloc(sizeof(*ks));
	struct checker_job cj[CHECKERS];
	struct shmq_client *c = fx_connect(d);
	pid_t cpid[CHECKERS];
	uint64_t off[NCHAN];

	print_message("kill loop: %" PRIu64 " s, seed %" PRIu64 " (SHMQ_SEED repeats it)\n",
		      seconds, seed);
	assert_non_null(ks);
	ks->sock = d->sock;
	ks->log = d->log;
	for (unsigned ch = 0; ch < NCHAN; ch++) {
		struct shmq_channel_opts o = {.capacity_bytes = 32 << 10,
					      .max_message_bytes = 64,
					      .policy = chans[ch].policy,
					      .publishers = chans[ch].publishers};

		assert_int_equal(shmq_channel_create(c, chans[ch].name, &o), 0);
	}
	shmq_disconnect(c);
	for (unsigned i = 0; i < CHECKERS; i++) {
		cj[i] = (struct checker_job){.ks = ks, .i = i, .say_fd = -1};
		cpid[i] = fx_child_ready(checker_main, &cj[i], &cj[i].say_fd);
	}
	run_loop(d, ks, cpid, seconds, seed, off);
	for (unsigned i = 0; i < CHECKERS; i++) {
		struct reader_result *r = &ks->chk[i];
		unsigned ch = i / 2;
		int st = child_wait(cpid[i], FX_HANG_S);

		print_message("checker %-13s %-10s: %" PRIu64 " received, %" PRIu64
			      " lost, end at %" PRIu64 "%s%s\n",
			      chans[ch].name, wait_name[chans[ch].wait[i % 2]],
			      atomic_load(&r->received), atomic_load(&r->lost),
			      atomic_load(&r->end_offset), st ? ": " : "", r->why);
		if (st || !atomic_load(&r->done))
			fail_msg("checker %u on %s: exit %d: %s (seed %" PRIu64 ")", i,
				 chans[ch].name, st, r->why, seed);
		assert_int_equal(atomic_load(&r->end_offset), off[ch]);
		assert_int_equal(atomic_load(&r->received) + atomic_load(&r->lost), off[ch] + 1);
	}
	c = fx_connect(d);
	for (unsigned ch = 0; ch < NCHAN; ch++) {
		struct shmq_channel_info ci;

		info(c, ch, &ci);
		assert_int_equal(ci.tail, off[ch] + 1);
		assert_int_equal(ci.publishers_open, 0);
		assert_true(
		    WAIT_FOR(shmq_channel_info(c, chans[ch].name, &ci) == 0 && ci.readers == 0));
	}
	shmq_disconnect(c);
	fx_shared_free(ks, sizeof(*ks));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_kill_loop_keeps_acknowledged_messages_and_frees_dead_slots, daemon_setup,
		daemon_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
