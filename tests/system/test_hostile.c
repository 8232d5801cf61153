/*
 * test_hostile.c - least privilege against a real shmqd, with real
 * processes and a second uid: children drop to nobody (65534) and attack
 * what a subscriber maps (the control segment, which they must not be able
 * to write; the wake segment and their own entry, which they may),
 * publishers are killed inside their wake-ups, a monitor watches a block
 * channel, an unprivileged uid meets the access defaults and its limits,
 * and a protocol fuzz runs against the control socket. Beside every attack
 * an honest publisher and subscriber (root) go on; each test asserts that
 * their messages arrive complete, uncorrupted, in order and within the
 * bound it states. Needs root to make the second uid: exits 77 otherwise.
 * Test process: one thread; children report through pipes and MAP_SHARED
 * memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

/*
 * The bounds this file asserts, each far above what the daemon's
 * watchdog (a 10 ms tick) and the subscribers' 100 ms sleep bound give,
 * so that a busy two-core machine does not fail them, and far below what
 * a lost wake-up costs (a reader asleep until its timeout, seconds).
 */
/*
 * Loose, for a loaded machine and the sanitizer builds; that the daemon's
 * watchdog does the waking, not the library's own 100 ms sleep cap, is
 * shown by its wake-up count (a monitor reads it), not by these bounds.
 */
#define WAKE_BOUND_NS (200 * 1000000ll)	 /* a sleeping reader, hostile wake words */
#define LOST_BOUND_NS (200 * 1000000ll)	 /* a reader whose waker died, after SIGCONT */
#define STALL_BOUND_NS (500 * 1000000ll) /* random scribbling; the kill loop */
#define RECV_WAIT_NS (2 * 1000000000ll)	 /* readers' per-message timeout: 10x the bounds */

/* Two channels (declared, so root's) to which uid nobody may subscribe. */
#define CONF_NOBODY_SUBSCRIBES                                                                     \
	"[channel h.block]\ncapacity = 32K\nmax_message = 64\npolicy = block\nsubscribe = 65534\n" \
	"[channel h.drop]\ncapacity = 32K\nmax_message = 64\npolicy = drop\nsubscribe = 65534\n"

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static struct daemon *dmn(void **state)
{
	return *state;
}

/* ---- timestamped messages and the readers that check them ---- */

#define END_ID UINT64_MAX /* the message that ends a reader */

/* The payload: who published it, its number, when (CLOCK_MONOTONIC) and a check word. */
struct tmsg {
	uint64_t id;
	uint64_t seq;
	uint64_t pub_ns;
	uint64_t check;
};

static uint64_t tmsg_check(const struct tmsg *t)
{
	return (t->id * 0x9e3779b97f4a7c15ull) ^ (t->seq * 0xc2b2ae3d27d4eb4full) ^ t->pub_ns ^
	       0x5348514d48535449ull;
}

static struct tmsg tmsg_make(uint64_t id, uint64_t seq)
{
	struct tmsg t = {.id = id, .seq = seq, .pub_ns = (uint64_t)fx_now_ns()};

	t.check = tmsg_check(&t);
	return t;
}

/* A claimed record, stamped at the last moment before its commit. */
static int tmsg_publish(struct shmq_pub *p, uint64_t id, uint64_t seq, int64_t timeout_ns)
{
	struct shmq_claim cl;
	struct tmsg t;
	int err = shmq_pub_claim(p, sizeof(t), &cl, timeout_ns);

	if (err)
		return err;
	t = tmsg_make(id, seq);
	memcpy(cl.data, &t, sizeof(t));
	return shmq_pub_commit(p, &cl, sizeof(t));
}

#define MAX_IDS (1u << 20) /* publisher incarnations a reader tracks */
#define EARLY 64u	   /* arrival times kept for messages 0 .. EARLY-1 of id 0 */

/* What a reader child found, in MAP_SHARED memory. */
struct reader_result {
	_Atomic uint64_t received;
	_Atomic uint64_t lost;
	_Atomic uint64_t max_delay_ns; /* receive time - commit time */
	_Atomic uint64_t worst_seq;
	_Atomic uint64_t recv_ns[EARLY];
	char why[160]; /* the first fault it saw */
};

struct reader_job {
	const char *sock;
	const char *chan;
	uint32_t wait;	     /* enum shmq_wait */
	uint64_t n;	     /* stop after n messages; 0: at the END_ID message */
	bool copy;	     /* drop channels: verified copies (shmq_recv_copy) */
	bool strict;	     /* block: each id's seq is exactly the one before + 1 */
	bool exact_loss;     /* drop, one publisher: seq - expected == msg.lost */
	int64_t deadline_ns; /* 0: none; else give up (exit 0) at this time */
	int ready_fd;	     /* says "ready" once open */
	struct reader_result *res;
};

static int reader_fail(struct reader_result *res, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "reader %d: %s\n", (int)getpid(), res->why);
	if (getenv("SHMQ_TEST_STOP_ON_FAIL"))
		raise(SIGSTOP); /* for a debugger: the state that failed, kept */
	return code;
}

static void note_delay(struct reader_result *res, const struct tmsg *t, uint64_t now)
{
	uint64_t d = now > t->pub_ns ? now - t->pub_ns : 0;

	if (d > atomic_load(&res->max_delay_ns)) {
		atomic_store(&res->max_delay_ns, d);
		atomic_store(&res->worst_seq, t->seq);
	}
	if (t->id == 0 && t->seq < EARLY)
		atomic_store(&res->recv_ns[t->seq], now);
}

/* One received message against what the job expects of it; 0 or an exit code. */
static int reader_check(const struct reader_job *j, uint64_t *next, const struct shmq_msg *m,
			const struct tmsg *t)
{
	struct reader_result *res = j->res;

	if (m->len != sizeof(*t) || t->check != tmsg_check(t))
		return reader_fail(res, 3, "corrupt message at offset %llu (len %u)",
				   (unsigned long long)m->offset, m->len);
	if (t->id >= MAX_IDS)
		return reader_fail(res, 4, "publisher id %llu out of range",
				   (unsigned long long)t->id);
	if (t->seq < next[t->id] || (j->strict && t->seq != next[t->id]))
		return reader_fail(res, 5, "id %llu: seq %llu after %llu",
				   (unsigned long long)t->id, (unsigned long long)t->seq,
				   (unsigned long long)next[t->id]);
	if (j->exact_loss && t->seq - next[t->id] != m->lost)
		return reader_fail(res, 6, "seq %llu after %llu but %llu reported lost",
				   (unsigned long long)t->seq, (unsigned long long)next[t->id],
				   (unsigned long long)m->lost);
	next[t->id] = t->seq + 1;
	return 0;
}

static int reader_recv(const struct reader_job *j, struct shmq_sub *s, struct shmq_msg *m,
		       struct tmsg *t)
{
	int err;

	if (j->copy)
		return shmq_recv_copy(s, t, sizeof(*t), m, RECV_WAIT_NS);
	err = shmq_recv(s, m, RECV_WAIT_NS);
	if (!err && m->len == sizeof(*t))
		memcpy(t, m->data, sizeof(*t));
	return err;
}

/* Child: receive and check timestamped messages (see struct reader_job). */
static int run_reader(void *arg)
{
	const struct reader_job *j = arg;
	struct shmq_sub_opts so = {.wait = j->wait};
	struct reader_result *res = j->res;
	uint64_t *next = calloc(MAX_IDS, sizeof(*next));
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct tmsg t;
	int err;

	if (!next || shmq_connect(j->sock, &c) || shmq_sub_open(c, j->chan, &so, &s))
		return reader_fail(res, 10, "cannot open %s", j->chan);
	if (j->ready_fd >= 0)
		pipe_say(j->ready_fd, "ready");
	for (;;) {
		memset(&t, 0, sizeof(t));
		err = reader_recv(j, s, &m, &t);
		if (err == -SHMQ_ETIMEDOUT && j->deadline_ns && fx_now_ns() < j->deadline_ns)
			continue;
		if (err)
			return reader_fail(res, 2, "%s after %llu messages", shmq_errname(err),
					   (unsigned long long)atomic_load(&res->received));
		if (t.id == END_ID && m.len == sizeof(t))
			break;
		note_delay(res, &t, (uint64_t)fx_now_ns());
		atomic_fetch_add(&res->lost, m.lost);
		err = reader_check(j, next, &m, &t);
		if (err)
			return err;
		if (atomic_fetch_add(&res->received, 1) + 1 == j->n)
			break;
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
	free(next);
	return 0;
}

static pid_t reader_start(struct reader_job *j)
{
	return fx_child_ready(run_reader, j, &j->ready_fd);
}

static void end_publish(struct shmq_pub *p)
{
	assert_int_equal(tmsg_publish(p, END_ID, 0, FX_HANG_NS), 0);
}

/* ---- the hostile subscriber (uid nobody) ---- */

enum attack {
	ATK_NONE,
	ATK_CLEAR_WAKE_NEEDED, /* store 0 into wake_needed, over and over */
	ATK_BUMP_WAKE_SEQ,     /* add 1 to wake_seq and FUTEX_WAKE everyone, over and over */
	ATK_ENTRY_GARBAGE,     /* huge and random cursors and counters into its own entry */
	ATK_SCRIBBLE,	       /* random bytes over the wake segments and its entries */
};

struct hostile_job {
	const char *sock;
	const char *chans[2]; /* subscribe to these (NULL: fewer) */
	enum attack attack;
	int64_t run_ns;	   /* attack this long, then exit 0; 0: until killed */
	bool check_ctl;	   /* first try to write the control segment (faults 1, 4) */
	bool check_peers;  /* first ask for peers a subscriber must not get (fault 2) */
	bool park_at_zero; /* before exit, a cursor at 0: a block reader left behind */
	uint64_t seed;
	int say_fd; /* "ready", or what was not refused */
};

/* The control segment cannot be written by any means a subscriber has; NULL or the means. */
static const char *ctl_write_attempt(const struct raw_chan *rc)
{
	const uint64_t junk = 0;
	char path[64];
	void *p;
	int fd;

	p = mmap(NULL, rc->ctl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rc->ctl_fd, 0);
	if (p != MAP_FAILED)
		return "mmap-shared-rw";
	if (mprotect((void *)rc->ctl, rc->ctl_bytes, PROT_READ | PROT_WRITE) == 0)
		return "mprotect-rw";
	if (write(rc->ctl_fd, &junk, sizeof(junk)) >= 0 || pwrite(rc->ctl_fd, &junk, 8, 0) >= 0)
		return "write";
	if (ftruncate(rc->ctl_fd, 0) == 0 || fallocate(rc->ctl_fd, 0, 0, 1 << 20) == 0)
		return "resize";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rc->ctl_fd);
	fd = open(path, O_RDWR);
	if (fd >= 0)
		return "reopen-rw";
	/* the reopen above was refused for the segment's owner and mode: one
	 * of our own memfds reopens through the same path */
	fd = memfd_create("probe", MFD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fd < 0 || open(path, O_RDWR | O_CLOEXEC) < 0)
		return "reopen-check-vacuous";
	snprintf(path, sizeof(path), "/proc/%u/mem", atomic_load(&rc->ctl->daemon_pid));
	if (open(path, O_RDWR) >= 0)
		return "daemon-mem";
	/* a private writable copy may be had, and changes nobody's view */
	p = mmap(NULL, rc->ctl_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, rc->ctl_fd, 0);
	if (p != MAP_FAILED) {
		memset(p, 0xff, rc->ctl_bytes);
		munmap(p, rc->ctl_bytes);
	}
	if (atomic_load(&rc->ctl->magic) != CTL_MAGIC)
		return "magic-changed";
	return NULL;
}

/* A subscriber must get no peer's descriptors: NULL or the kind it got. */
static const char *peers_attempt(struct raw *r, const struct raw_chan *rc)
{
	static const char *const names[] = {"peers-0", "peers-readers", "peers-pubs", "peers-efds",
					    "peers-4"};
	struct proto_peers_req req = {.channel_id = rc->o.channel_id};
	struct proto_peers resp;
	struct proto_hdr h;
	int fds[PROTO_MAX_FDS], st;
	unsigned nfds;

	for (req.kind = 0; req.kind <= PEER_EFDS + 1; req.kind++) {
		nfds = PROTO_MAX_FDS;
		if (raw_request(r, OP_PEERS, &req, sizeof(req)))
			return "peers-send";
		st = raw_reply(r, &h, &resp, sizeof(resp), fds, &nfds);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (st != -SHMQ_ESTATE || nfds)
			return names[req.kind];
	}
	return NULL;
}

static void scribble(void *base, size_t bytes, uint64_t *seed)
{
	uint64_t *w = base;

	for (size_t i = 0; i < bytes / 8; i++)
		w[i] = rnd(seed);
}

/* One round of the attack on one channel. */
static void attack_once(const struct hostile_job *j, struct raw_chan *rc, uint64_t *seed)
{
	struct reader_entry *e = rc->entry;
	uint64_t x;

	switch (j->attack) {
	case ATK_CLEAR_WAKE_NEEDED:
		atomic_store(&rc->wake->wake_needed, 0);
		break;
	case ATK_BUMP_WAKE_SEQ:
		atomic_fetch_add(&rc->wake->wake_seq, 1);
		syscall(SYS_futex, &rc->wake->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		break;
	case ATK_ENTRY_GARBAGE:
		/* cursors far beyond any tail: if believed, a raise of a
		 * position; never one below the tail, which would be an
		 * honest slow reader's right to hold a block channel */
		x = rnd(seed);
		atomic_store(&e->bytes, x % 3 ? x | 1ull << 63 : UINT64_MAX - (x & 31));
		atomic_store(&e->pos, x % 5 ? rnd(seed) : UINT64_MAX);
		atomic_store(&e->cur_seq, (uint32_t)rnd(seed));
		atomic_store(&e->received, rnd(seed));
		atomic_store(&e->lost, UINT64_MAX);
		break;
	case ATK_SCRIBBLE:
		scribble(rc->wake, WAKE_SEG_BYTES, seed);
		scribble(rc->entry, ENTRY_SEG_BYTES, seed);
		break;
	default:
		break;
	}
}

/* Child: become nobody, subscribe, try what must be refused, then attack. */
static int run_hostile(void *arg)
{
	const struct hostile_job *j = arg;
	struct raw_chan rc[2];
	unsigned n = 0;
	uint64_t seed = j->seed | 1;
	const char *bad = NULL;
	int64_t end = j->run_ns ? fx_now_ns() + j->run_ns : INT64_MAX;
	struct raw r;

	prctl(PR_SET_NAME, "hostile-nobody", 0, 0, 0);
	if (fx_become_nobody()) {
		pipe_say(j->say_fd, "cannot-become-nobody");
		return 77;
	}
	if (raw_connect(&r, j->sock) || raw_hello(&r)) {
		pipe_say(j->say_fd, "cannot-connect");
		return 10;
	}
	for (; n < 2 && j->chans[n]; n++) {
		if (raw_open(&r, j->chans[n], ROLE_SUB, &rc[n])) {
			pipe_say(j->say_fd, "cannot-open");
			return 11;
		}
		if (!bad && j->check_ctl)
			bad = ctl_write_attempt(&rc[n]);
		if (!bad && j->check_peers)
			bad = peers_attempt(&r, &rc[n]);
	}
	pipe_say(j->say_fd, bad ? bad : "ready");
	if (bad)
		return 1;
	while (j->attack != ATK_NONE && fx_now_ns() < end)
		for (unsigned i = 0; i < n; i++)
			attack_once(j, &rc[i], &seed);
	if (j->attack == ATK_NONE && !j->run_ns && !j->park_at_zero)
		pause();
	for (unsigned i = 0; j->park_at_zero && i < n; i++) {
		struct reader_entry *e = rc[i].entry;

		atomic_store(&e->bytes, 0);
		atomic_store(&e->pos, 0);
		atomic_store(&rc[i].wake->marks[rc[i].o.reader_idx].armed, MARK_FUTEX);
	}
	return 0; /* exits holding everything: the daemon cleans up */
}

/* Start a hostile child and wait for its "ready"; its pid. */
static pid_t hostile_start(struct hostile_job *j)
{
	return fx_child_ready(run_hostile, j, &j->say_fd);
}

/* Wait (bounded) until the channel has want subscribers. */
static void wait_readers(struct shmq_client *c, const char *name, uint32_t want)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	struct shmq_channel_info ci;

	do {
		assert_int_equal(shmq_channel_info(c, name, &ci), 0);
		if (ci.readers != want)
			fx_nap_ms(2);
	} while (ci.readers != want && fx_now_ns() < deadline);
	assert_int_equal(ci.readers, want);
}

/* Reader slots the daemon holds ACTIVE, as a monitor's read-only control map shows. */
static unsigned active_readers(struct daemon *d, const char *name)
{
	struct raw_chan mon;
	unsigned n = 0;
	struct raw r;

	fx_raw_open(&r, d, name, ROLE_MON, &mon);
	assert_true(atomic_load(&mon.ctl->magic) == CTL_MAGIC);
	for (unsigned i = 0; i < MAX_READERS; i++)
		n += atomic_load(&raw_rslot(&mon, i)->state) == SLOT_ACTIVE;
	raw_chan_unmap(&mon);
	raw_close(&r);
	return n;
}

/*
 * Fault 1: a subscriber marked a free reader entry ACTIVE at position 0
 * and exited, and a block channel refused every publisher after one ring.
 * Now the control segment cannot be written (mmap, mprotect, write,
 * reopen through /proc, the daemon's memory: all refused to nobody); what
 * it leaves in the memory it may write (a cursor at 0, a sleep mark) is
 * gone with it, and publishers fill three rings while an honest reader
 * reads every message.
 */
static void test_subscriber_cannot_activate_a_reader_slot(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct hostile_job hj = {
	    .sock = d->sock, .chans = {"h.block"}, .check_ctl = true, .park_at_zero = true};
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_stats st;
	struct shmq_sub *s;
	struct shmq_msg m;
	struct pub_job pj;
	uint64_t ring;
	pid_t pid;

	assert_int_equal(shmq_sub_open(c, "h.block", &so, &s), 0);
	pid = hostile_start(&hj);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	wait_readers(c, "h.block", 1);
	assert_int_equal(active_readers(d, "h.block"), 1);
	ring = fx_ring_msgs(c, "h.block", 8);
	pj = (struct pub_job){.sock = d->sock,
			      .chan = "h.block",
			      .first = 0,
			      .last = 3 * ring,
			      .go_fd = -1,
			      .timeout_ns = FX_HANG_NS};
	pid = child_start(fx_run_publisher, &pj);
	for (uint64_t v = 0; v < 3 * ring; v++)
		assert_int_equal(fx_recv_u64(s, &m), v);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.received, 3 * ring);
	assert_int_equal(st.lost_overrun + st.lost_abandoned, 0);
	print_message("3 rings (%llu messages) through h.block, none lost\n",
		      (unsigned long long)(3 * ring));
	shmq_sub_close(s);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* A publisher that fills a block channel behind a held view, until told to stop. */
struct fill_job {
	const char *sock;
	const char *chan;
	_Atomic int stop;
	_Atomic uint64_t published; /* after the first message (1000) */
	_Atomic uint64_t full;	    /* attempts that found no space */
};

static int run_fill_publisher(void *arg)
{
	struct fill_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;
	uint64_t v = 1000;
	int err;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	if (shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL))
		return 11;
	while (!atomic_load(&j->stop)) {
		v = 1001 + atomic_load(&j->published);
		err = shmq_publish(p, &v, sizeof(v), 1000000, NULL);
		if (!err)
			atomic_fetch_add(&j->published, 1);
		else if (err == -SHMQ_ETIMEDOUT || err == -SHMQ_EFULL)
			atomic_fetch_add(&j->full, 1);
		else
			return 12;
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/*
 * Fault 2: a subscriber raised another reader's position, and publishers
 * overwrote a block reader's held view (1000 read back as 2031). Now a
 * subscriber gets no other reader's entry (OP_PEERS refused for every
 * kind) and what it writes into its own (huge and random cursors) holds
 * or frees nobody: an honest reader holds the view of 1000 while a
 * publisher fills the ring up to it; the view reads 1000 throughout, and
 * every message after it arrives in order.
 */
static void test_subscriber_cannot_raise_another_readers_position(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct hostile_job hj = {.sock = d->sock,
				 .chans = {"h.block"},
				 .check_peers = true,
				 .attack = ATK_ENTRY_GARBAGE,
				 .seed = 2};
	struct fill_job *fj = fx_shared_alloc(sizeof(*fj));
	struct shmq_client *c = fx_connect(d);
	uint64_t ring, seen, bad = 0, got, v;
	struct shmq_sub *s;
	struct shmq_msg m;
	pid_t hpid, ppid;
	int64_t end;

	assert_non_null(fj);
	*fj = (struct fill_job){.sock = d->sock, .chan = "h.block"};
	ring = fx_ring_msgs(c, "h.block", 8);
	assert_int_equal(shmq_sub_open(c, "h.block", &so, &s), 0);
	hpid = hostile_start(&hj);
	ppid = child_start(run_fill_publisher, fj);
	assert_int_equal(fx_recv_u64(s, &m), 1000); /* held from here on */
	end = fx_now_ns() + 300 * 1000000ll;
	while (fx_now_ns() < end) {
		memcpy(&seen, m.data, sizeof(seen));
		bad += seen != 1000;
		fx_nap_ms(1);
	}
	atomic_store(&fj->stop, 1);
	assert_int_equal(child_wait(ppid, FX_HANG_S), 0);
	memcpy(&seen, m.data, sizeof(seen));
	got = atomic_load(&fj->published);
	print_message("held view read %llu (bad reads %llu); %llu published behind it, %llu "
		      "attempts found no space (ring %llu)\n",
		      (unsigned long long)seen, (unsigned long long)bad, (unsigned long long)got,
		      (unsigned long long)atomic_load(&fj->full), (unsigned long long)ring);
	assert_int_equal(bad, 0);
	assert_int_equal(seen, 1000);
	assert_int_equal(shmq_msg_verify(s, &m), 0);
	assert_true(got < ring && got >= ring / 2);
	assert_true(atomic_load(&fj->full) > 0);
	child_kill(hpid);
	for (v = 1001; v < 1001 + got; v++)
		assert_int_equal(fx_recv_u64(s, &m), v);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_close(s);
	shmq_disconnect(c);
	fx_shared_free(fj, sizeof(*fj));
	fx_assert_daemon_serves(d);
}

/* The daemon's watchdog wake-ups on name so far, read by a monitor. */
static uint64_t watchdog_wakeups(struct daemon *d, const char *name)
{
	static struct shmq_mon_stats st;
	struct shmq_client *c = fx_connect(d);
	struct shmq_mon *mon;

	assert_int_equal(shmq_mon_open(c, name, &mon), 0);
	assert_int_equal(shmq_mon_read(mon, &st), 0);
	shmq_mon_close(mon);
	shmq_disconnect(c);
	return st.watchdog_wakeups;
}

/* Ten messages 50 ms apart to a SLEEP and an EVENTFD reader beside attack a. */
static void wake_round(struct daemon *d, struct shmq_pub *p, enum attack a, uint64_t *worst)
{
	uint64_t woken = watchdog_wakeups(d, "h.drop");
	static const char *const names[] = {"no attack", "wake_needed cleared", "wake_seq bumped"};
	struct hostile_job hj = {.sock = d->sock, .chans = {"h.drop"}, .attack = a};
	struct reader_result *res = fx_shared_alloc(2 * sizeof(*res));
	struct reader_job rj[2];
	pid_t hpid = 0, rpid[2];

	assert_non_null(res);
	if (a != ATK_NONE)
		hpid = hostile_start(&hj);
	for (unsigned i = 0; i < 2; i++) {
		rj[i] = (struct reader_job){.sock = d->sock,
					    .chan = "h.drop",
					    .n = 10,
					    .wait = i ? SHMQ_WAIT_EVENTFD : SHMQ_WAIT_SLEEP,
					    .copy = true,
					    .exact_loss = true,
					    .res = &res[i]};
		rpid[i] = reader_start(&rj[i]);
	}
	fx_nap_ms(20); /* both asleep */
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(tmsg_publish(p, 0, i, 0), 0);
		fx_nap_ms(50);
	}
	for (unsigned i = 0; i < 2; i++) {
		int st = child_wait(rpid[i], FX_HANG_S);

		print_message(
		    "%s, %s reader: %llu of 10, worst delay %.1f ms (message %llu)%s%s\n", names[a],
		    i ? "eventfd" : "sleep", (unsigned long long)atomic_load(&res[i].received),
		    atomic_load(&res[i].max_delay_ns) / 1e6,
		    (unsigned long long)atomic_load(&res[i].worst_seq), st ? ": " : "", res[i].why);
		if (a != ATK_NONE && atomic_load(&res[i].max_delay_ns) > *worst)
			*worst = atomic_load(&res[i].max_delay_ns);
		assert_int_equal(st, 0);
		assert_int_equal(atomic_load(&res[i].received), 10);
		assert_int_equal(atomic_load(&res[i].lost), 0);
		assert_true(atomic_load(&res[i].max_delay_ns) < (uint64_t)WAKE_BOUND_NS);
	}
	woken = watchdog_wakeups(d, "h.drop") - woken;
	print_message("%s: the daemon's watchdog woke readers %llu times\n", names[a],
		      (unsigned long long)woken);
	/* with wake_needed cleared no publisher wakes anyone: the daemon does */
	if (a == ATK_CLEAR_WAKE_NEEDED)
		assert_true(woken >= 10);
	if (hpid)
		child_kill(hpid);
	fx_shared_free(res, 2 * sizeof(*res));
}

/*
 * Fault 3: a subscriber clearing wake_needed made a sleeping reader miss
 * every wake-up (10 of 10); bumping wake_seq made sleepers spin. Now, with
 * either attack running in a tight loop, a reader in SHMQ_WAIT_SLEEP and
 * one in SHMQ_WAIT_EVENTFD each receive 10 of 10 messages published 50 ms
 * apart, each within WAKE_BOUND_NS (200 ms) of its commit, and with
 * wake_needed cleared it is the daemon's watchdog that wakes them.
 */
static void test_wake_word_attacks_cost_bounded_latency(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	uint64_t worst = 0;

	assert_int_equal(shmq_pub_open(c, "h.drop", NULL, &p), 0);
	wake_round(d, p, ATK_NONE, &worst);
	wake_round(d, p, ATK_CLEAR_WAKE_NEEDED, &worst);
	wake_round(d, p, ATK_BUMP_WAKE_SEQ, &worst);
	print_message("worst delay under attack: %.1f ms (bound %lld ms)\n", worst / 1e6,
		      WAKE_BOUND_NS / 1000000);
	shmq_pub_close(p);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* Publish n uint64 values from a new publisher to a new subscriber of name; both close. */
static void fresh_pair_exchanges(struct daemon *d, const char *name, uint64_t n)
{
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c = fx_connect(d);
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
	for (uint64_t v = 0; v < n; v++) {
		fx_publish_u64(p, v, FX_HANG_NS);
		assert_int_equal(fx_recv_u64(s, &m), v);
	}
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * Fault 4: a subscriber overwrote the control magic and every later open
 * failed with -SHMQ_ECORRUPT until the daemon restarted. Now every way to
 * write the control segment fails (a private copy may be scribbled, and
 * changes nothing), and after the subscriber scribbled random bytes over
 * the wake segment and its entry, new publishers and subscribers open and
 * exchange messages, on both channels.
 */
static void test_control_magic_cannot_be_overwritten(void **state)
{
	struct daemon *d = dmn(state);
	struct hostile_job hj = {.sock = d->sock,
				 .chans = {"h.block", "h.drop"},
				 .check_ctl = true,
				 .attack = ATK_SCRIBBLE,
				 .run_ns = 100 * 1000000ll,
				 .seed = 4};
	pid_t pid = hostile_start(&hj);

	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	hj.run_ns = 0; /* and once more, staying attached while the pairs work */
	hj.check_ctl = false;
	hj.attack = ATK_NONE;
	pid = hostile_start(&hj);
	assert_int_equal(active_readers(d, "h.block"), 1);
	fresh_pair_exchanges(d, "h.block", 100);
	fresh_pair_exchanges(d, "h.drop", 100);
	child_kill(pid);
	fx_assert_daemon_serves(d);
}

/* OP_PEERS as a raw publisher: the slots listed, their descriptors checked to be wake sockets. */
static unsigned peer_efds(struct daemon *d, const char *name, uint32_t *slots)
{
	struct proto_peers_req req = {.kind = PEER_EFDS};
	struct proto_peers resp;
	struct raw_chan pub;
	struct proto_hdr h;
	int fds[PROTO_MAX_FDS];
	unsigned nfds = PROTO_MAX_FDS;
	struct raw r;
	int type;
	socklen_t len;

	fx_raw_open(&r, d, name, ROLE_PUB, &pub);
	req.channel_id = pub.o.channel_id;
	assert_int_equal(raw_request(&r, OP_PEERS, &req, sizeof(req)), 0);
	assert_int_equal(raw_reply(&r, &h, &resp, sizeof(resp), fds, &nfds), 0);
	assert_int_equal(resp.count, nfds);
	for (unsigned i = 0; i < nfds; i++) {
		len = sizeof(type);
		assert_int_equal(getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &len), 0);
		assert_int_equal(type, SOCK_DGRAM);
		slots[i] = resp.idx[i];
		close(fds[i]);
	}
	raw_chan_unmap(&pub);
	raw_close(&r);
	return nfds;
}

/* The reader slots a monitor reports in wait mode wait. */
static unsigned slots_in_mode(struct shmq_client *c, const char *name, uint32_t wait,
			      uint32_t *slots)
{
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_mon *mon;
	unsigned n = 0;

	assert_non_null(st);
	assert_int_equal(shmq_mon_open(c, name, &mon), 0);
	assert_int_equal(shmq_mon_read(mon, st), 0);
	for (unsigned i = 0; i < st->nreaders; i++)
		if (st->readers[i].wait == wait)
			slots[n++] = st->readers[i].slot;
	shmq_mon_close(mon);
	free(st);
	return n;
}

static void assert_efds_are_of(struct daemon *d, struct shmq_client *c, const char *name,
			       unsigned want)
{
	uint32_t got[PROTO_MAX_FDS], expect[MAX_READERS];
	unsigned n = peer_efds(d, name, got);

	print_message("%u event-fd readers: a publisher got %u event fds\n", want, n);
	assert_int_equal(n, want);
	assert_int_equal(slots_in_mode(c, name, SHMQ_WAIT_EVENTFD, expect), want);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(got[i], expect[i]);
}

/*
 * Fault 5: a publisher received all 64 readers' event fds. Now OP_PEERS
 * PEER_EFDS gives exactly the event fds of the readers in event-fd mode,
 * in slot order: none when there are none, whatever other readers exist.
 */
static void test_publisher_gets_only_event_fd_readers_fds(void **state)
{
	static const uint32_t others[] = {SHMQ_WAIT_SLEEP, SHMQ_WAIT_SPIN, SHMQ_WAIT_SPIN_SLEEP,
					  SHMQ_WAIT_SLEEP};
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub *plain[4], *efd[3];
	struct shmq_sub_opts so = {0};

	fx_channel_create(c, "efds", 512, SHMQ_POLICY_DROP);
	assert_efds_are_of(d, c, "efds", 0);
	for (unsigned i = 0; i < 4; i++) {
		so.wait = others[i];
		assert_int_equal(shmq_sub_open(c, "efds", &so, &plain[i]), 0);
	}
	assert_efds_are_of(d, c, "efds", 0);
	so.wait = SHMQ_WAIT_EVENTFD;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(shmq_sub_open(c, "efds", &so, &efd[i]), 0);
	assert_efds_are_of(d, c, "efds", 3);
	shmq_sub_close(efd[1]);
	assert_efds_are_of(d, c, "efds", 2);
	shmq_sub_close(efd[0]);
	shmq_sub_close(efd[2]);
	assert_efds_are_of(d, c, "efds", 0);
	for (unsigned i = 0; i < 4; i++)
		shmq_sub_close(plain[i]);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* A publisher that opens, waits for "go", publishes one message and says "done". */
struct one_pub_job {
	const char *sock;
	const char *chan;
	uint64_t seq;
	int go_fd;
	int say_fd;
};

static int run_one_publisher(void *arg)
{
	const struct one_pub_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	pipe_say(j->say_fd, "open");
	if (pipe_wait_line(j->go_fd))
		return 11;
	if (tmsg_publish(p, 0, j->seq, FX_HANG_NS))
		return 12;
	pipe_say(j->say_fd, "done");
	return 0;
}

/* Did the child say a line within ms? (it says "done" once it published and woke) */
static bool said_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/*
 * One round of fault 6: the daemon stopped, a fresh publisher commits
 * message seq and blocks asking the stopped daemon for event fds; it is
 * killed, the daemon continues. Returns how long after SIGCONT each
 * reader got the message (res[i].recv_ns[seq]).
 */
static void lost_wake_round(struct daemon *d, const char *chan, uint64_t seq,
			    struct reader_result *res, unsigned nres, uint64_t *worst)
{
	struct one_pub_job j = {.sock = d->sock, .chan = chan, .seq = seq};
	int go[2], say[2];
	ssize_t sent;
	bool blocked;
	int64_t cont;
	pid_t pid;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(say, O_CLOEXEC), 0);
	j.go_fd = go[0];
	j.say_fd = say[1];
	pid = child_start(run_one_publisher, &j);
	assert_int_equal(pipe_expect(say[0], "open"), 0);
	fx_nap_ms(20); /* the readers are asleep */
	/* nothing asserts while the daemon is stopped: a failure would leave it so */
	kill(d->pid, SIGSTOP);
	sent = write(go[1], "go\n", 3);
	blocked = !said_within(say[0], 50);
	child_kill(pid);
	cont = fx_now_ns();
	kill(d->pid, SIGCONT);
	assert_int_equal(sent, 3);
	for (unsigned i = 0; i < nres; i++) {
		int64_t deadline = cont + RECV_WAIT_NS, at;

		while (!atomic_load(&res[i].recv_ns[seq]) && fx_now_ns() < deadline)
			fx_nap_ms(1);
		at = (int64_t)atomic_load(&res[i].recv_ns[seq]);
		print_message(
		    "round %llu: publisher %s; reader %u got it %s%.1f ms after SIGCONT\n",
		    (unsigned long long)seq, blocked ? "blocked in the wake" : "finished", i,
		    at ? "" : "NOT within ",
		    (at ? (at > cont ? at - cont : 0) : RECV_WAIT_NS) / 1e6);
		assert_true(at != 0);
		if (at > cont && (uint64_t)(at - cont) > *worst)
			*worst = (uint64_t)(at - cont);
		assert_true(at - cont < LOST_BOUND_NS);
	}
	close(go[0]);
	close(go[1]);
	close(say[0]);
	close(say[1]);
}

/*
 * Fault 6: a publisher that took a sleeper's wake and died before it
 * signalled (here: blocked asking a SIGSTOPped daemon for event fds, then
 * SIGKILLed) left an event-fd reader asleep for good with the message
 * waiting. Now the reader gets it within LOST_BOUND_NS (200 ms) of the
 * daemon's SIGCONT, in four rounds; then two more with a SLEEP reader
 * beside the event-fd one.
 */
static void test_reader_woken_when_its_waker_dies(void **state)
{
	struct daemon *d = dmn(state);
	struct reader_result *res = fx_shared_alloc(2 * sizeof(*res));
	struct shmq_client *c = fx_connect(d);
	struct reader_job rj[2];
	uint64_t worst = 0;
	pid_t rpid[2];

	assert_non_null(res);
	fx_channel_create(c, "lost.wake", 512, SHMQ_POLICY_DROP);
	rj[0] = (struct reader_job){.sock = d->sock,
				    .chan = "lost.wake",
				    .n = 6,
				    .wait = SHMQ_WAIT_EVENTFD,
				    .copy = true,
				    .res = &res[0]};
	rpid[0] = reader_start(&rj[0]);
	for (uint64_t seq = 0; seq < 4; seq++)
		lost_wake_round(d, "lost.wake", seq, res, 1, &worst);
	rj[1] = (struct reader_job){.sock = d->sock,
				    .chan = "lost.wake",
				    .n = 2,
				    .wait = SHMQ_WAIT_SLEEP,
				    .copy = true,
				    .res = &res[1]};
	rpid[1] = reader_start(&rj[1]);
	for (uint64_t seq = 4; seq < 6; seq++)
		lost_wake_round(d, "lost.wake", seq, res, 2, &worst);
	print_message("worst delay after SIGCONT: %.1f ms (bound %lld ms)\n", worst / 1e6,
		      LOST_BOUND_NS / 1000000);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(child_wait(rpid[i], FX_HANG_S), 0);
	fx_shared_free(res, 2 * sizeof(*res));
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* ---- access defaults and per-uid limits (fault 8) ---- */

enum access_probe {
	ACC_DEFAULTS,	/* may not create, sees nothing of root's */
	ACC_CHAN_QUOTA, /* may create 3 channels, not a 4th */
	ACC_CONN_QUOTA, /* may hold 4 connections, not a 5th */
};

struct access_job {
	const char *sock;
	enum access_probe probe;
	int say_fd;
	int go_fd;
};

/* Say why, in a line, and return code. */
static int access_fail(const struct access_job *j, int code, const char *what, int err)
{
	char line[64];

	snprintf(line, sizeof(line), "%s:%s", what, shmq_errname(err));
	pipe_say(j->say_fd, line);
	return code;
}

static int probe_defaults(const struct access_job *j, struct shmq_client *c)
{
	struct shmq_sub_opts so = {.create = 1};
	struct shmq_channel_info rows[16];
	struct shmq_sub *s;
	int err;

	err = shmq_channel_create(c, "nobody.own", NULL);
	if (err != -SHMQ_EPERM)
		return access_fail(j, 1, "create", err);
	err = shmq_sub_open(c, "nobody.own2", &so, &s);
	if (err != -SHMQ_EPERM)
		return access_fail(j, 2, "sub-create", err);
	err = shmq_channel_list(c, rows, 16);
	if (err != 0)
		return access_fail(j, 3, err > 0 ? "list-shows-some" : "list", err);
	return 0;
}

static int probe_chan_quota(const struct access_job *j, struct shmq_client *c)
{
	static const char *const names[] = {"n.1", "n.2", "n.3"};
	struct shmq_channel_info rows[16];
	int err;

	for (unsigned i = 0; i < 3; i++) {
		err = shmq_channel_create(c, names[i], NULL);
		if (err)
			return access_fail(j, 1, names[i], err);
	}
	err = shmq_channel_create(c, "n.4", NULL);
	if (err != -SHMQ_ECHANQUOTA)
		return access_fail(j, 2, "4th", err);
	err = shmq_channel_list(c, rows, 16);
	if (err != 3)
		return access_fail(j, 3, "list-not-3", err);
	for (int i = 0; i < 3; i++)
		if (strncmp(rows[i].name, "n.", 2))
			return access_fail(j, 4, "list-shows-other", 0);
	/* the quota counts live channels: one deleted makes room for one */
	err = shmq_channel_delete(c, "n.1");
	if (err)
		return access_fail(j, 5, "delete", err);
	err = shmq_channel_create(c, "n.4", NULL);
	if (err)
		return access_fail(j, 6, "after-delete", err);
	err = shmq_channel_create(c, "n.5", NULL);
	if (err != -SHMQ_ECHANQUOTA)
		return access_fail(j, 7, "5th", err);
	return 0;
}

/* c and 3 more connections, a 5th refused; after "go", one closed makes room again. */
static int probe_conn_quota(const struct access_job *j, struct shmq_client *c)
{
	struct shmq_client *more[3], *fifth = NULL;
	int64_t deadline;
	int err;

	for (unsigned i = 0; i < 3; i++) {
		err = shmq_connect(j->sock, &more[i]);
		if (err)
			return access_fail(j, 1, "connect", err);
	}
	err = shmq_connect(j->sock, &fifth);
	if (!err) { /* accepted: then its first request is refused */
		err = shmq_channel_list(fifth, NULL, 0);
		shmq_disconnect(fifth);
	}
	if (err != -SHMQ_ECONNQUOTA)
		return access_fail(j, 2, "5th", err);
	pipe_say(j->say_fd, "held");
	if (pipe_wait_line(j->go_fd))
		return 3;
	shmq_disconnect(more[0]);
	deadline = fx_now_ns() + FX_HANG_NS;
	do {
		err = shmq_connect(j->sock, &fifth);
		if (!err)
			err = shmq_channel_list(fifth, NULL, 0) < 0 ? -SHMQ_ECONNQUOTA : 0;
		if (err)
			fx_nap_ms(5);
	} while (err && fx_now_ns() < deadline);
	if (err)
		return access_fail(j, 4, "after-close", err);
	(void)c;
	return 0;
}

/* Child: as nobody, run one probe; says "ok" or what went wrong. */
static int run_access(void *arg)
{
	const struct access_job *j = arg;
	struct shmq_client *c;
	int err;

	prctl(PR_SET_NAME, "hostile-nobody", 0, 0, 0);
	if (fx_become_nobody()) {
		pipe_say(j->say_fd, "cannot-become-nobody");
		return 77;
	}
	err = shmq_connect(j->sock, &c);
	if (err)
		return access_fail(j, 10, "connect", err);
	if (j->probe == ACC_DEFAULTS)
		err = probe_defaults(j, c);
	else if (j->probe == ACC_CHAN_QUOTA)
		err = probe_chan_quota(j, c);
	else
		err = probe_conn_quota(j, c);
	if (!err)
		pipe_say(j->say_fd, "ok");
	return err;
}

struct access_run {
	struct access_job j;
	int say[2], go[2];
	pid_t pid;
};

static void access_start(struct daemon *d, struct access_run *a, enum access_probe probe)
{
	assert_int_equal(pipe2(a->say, O_CLOEXEC), 0);
	assert_int_equal(pipe2(a->go, O_CLOEXEC), 0);
	a->j = (struct access_job){
	    .sock = d->sock, .probe = probe, .say_fd = a->say[1], .go_fd = a->go[0]};
	a->pid = child_start(run_access, &a->j);
	assert_true(a->pid > 0);
}

static void access_finish(struct access_run *a)
{
	assert_int_equal(pipe_expect(a->say[0], "ok"), 0);
	assert_int_equal(child_wait(a->pid, FX_HANG_S), 0);
	for (unsigned i = 0; i < 2; i++) {
		close(a->say[i]);
		close(a->go[i]);
	}
}

/* Is a channel of that name among the first 64 rows root's list shows? */
static bool listed(struct shmq_client *c, const char *name)
{
	struct shmq_channel_info *rows = calloc(64, sizeof(*rows));
	int n = shmq_channel_list(c, rows, 64);
	bool found = false;

	assert_non_null(rows);
	assert_true(n >= 0);
	for (int i = 0; i < n && i < 64 && !found; i++)
		found = !strcmp(rows[i].name, name);
	free(rows);
	return found;
}

/*
 * Fault 8: any uid could create channels and list every channel with its
 * tail. Now, with the default configuration, nobody's create (and
 * subscribe-with-create) is -SHMQ_EPERM, logged as a denial with its uid,
 * pid and command name, and its list is empty though root has a channel.
 */
static void test_nobody_cannot_create_or_see_by_default(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct access_run a;
	char pid[32], line[512];
	const char *needles[] = {"denied", "uid=65534", pid, "hostile-nobody", NULL};

	assert_int_equal(shmq_channel_create(c, "root.secret", NULL), 0);
	access_start(d, &a, ACC_DEFAULTS);
	snprintf(pid, sizeof(pid), "pid=%d", (int)a.pid);
	access_finish(&a);
	assert_int_equal(fx_wait_log_line(d, needles, line, sizeof(line)), 0);
	print_message("denial logged: %s\n", line);
	assert_true(listed(c, "root.secret"));
	assert_int_equal(shmq_channel_create(c, "root.after", NULL), 0);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/*
 * A uid granted creation owns at most max_channels_per_uid (3) live
 * channels: the 4th is -SHMQ_ECHANQUOTA, it lists its own 3, and root
 * goes on creating.
 */
static void test_channel_quota_per_uid(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	struct access_run a;
	char name[16];

	access_start(d, &a, ACC_CHAN_QUOTA);
	access_finish(&a);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "root.%d", i);
		assert_int_equal(shmq_channel_create(c, name, NULL), 0);
	}
	assert_true(listed(c, "n.4") && listed(c, "root.5"));
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/*
 * A uid holds at most max_connections_per_uid (4) connections: the 5th is
 * -SHMQ_ECONNQUOTA while root connects as often as it likes; one closed
 * makes room for one.
 */
static void test_connection_quota_per_uid(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *root[8];
	struct access_run a;

	access_start(d, &a, ACC_CONN_QUOTA);
	assert_int_equal(pipe_expect(a.say[0], "held"), 0);
	for (unsigned i = 0; i < 8; i++) {
		root[i] = fx_connect(d);
		assert_true(shmq_channel_list(root[i], NULL, 0) >= 0);
	}
	for (unsigned i = 0; i < 8; i++)
		shmq_disconnect(root[i]);
	assert_int_equal(write(a.go[1], "go\n", 3), 3);
	access_finish(&a);
	fx_assert_daemon_serves(d);
}

/* ---- random bytes over everything a subscriber may write ---- */

/* A publisher of timestamped messages in bursts and pauses, then END. */
struct paced_job {
	const char *sock;
	const char *chan;
	int64_t run_ns;
	uint64_t seed;
	_Atomic uint64_t published;
	_Atomic uint64_t max_publish_ns;
};

static int run_paced_publisher(void *arg)
{
	struct paced_job *j = arg;
	int64_t end = fx_now_ns() + j->run_ns, t0, dt;
	uint64_t seed = j->seed | 1, seq = 0;
	struct shmq_client *c;
	struct shmq_pub *p;
	int err;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	while (fx_now_ns() < end) {
		for (uint64_t k = 1 + rnd(&seed) % 32; k; k--) {
			t0 = fx_now_ns();
			err = tmsg_publish(p, 0, seq, RECV_WAIT_NS);
			if (err) {
				fprintf(stderr, "paced publisher: %s at %llu\n", shmq_errname(err),
					(unsigned long long)seq);
				return 12;
			}
			dt = fx_now_ns() - t0;
			if ((uint64_t)dt > atomic_load(&j->max_publish_ns))
				atomic_store(&j->max_publish_ns, (uint64_t)dt);
			atomic_store(&j->published, ++seq);
		}
		/* short pauses, and now and then one long enough to fall asleep */
		fx_nap_ms(rnd(&seed) % 16 ? (unsigned)(rnd(&seed) % 2) : 20);
	}
	if (tmsg_publish(p, END_ID, 0, FX_HANG_NS))
		return 13;
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

struct scribble_shared {
	struct paced_job pj[2];
	struct reader_result res[2];
};

/*
 * A subscriber (nobody) writes random bytes over the wake segments and
 * its entries of a block and a drop channel for 3 s, as fast as it can,
 * beside an honest publisher and subscriber on each. Nothing crashes; the
 * block reader gets every message in order, the drop reader verified
 * copies in order with each loss counted exactly; no message waits longer
 * than STALL_BOUND_NS (500 ms) from its commit to its receipt, and no
 * publish longer than that for space.
 */
static void test_random_bytes_in_writable_regions_harm_no_honest_pair(void **state)
{
	static const char *const chans[] = {"h.block", "h.drop"};
	struct daemon *d = dmn(state);
	struct scribble_shared *sh = fx_shared_alloc(sizeof(*sh));
	struct hostile_job hj = {.sock = d->sock,
				 .chans = {"h.block", "h.drop"},
				 .attack = ATK_SCRIBBLE,
				 .run_ns = 3000 * 1000000ll,
				 .seed = 8};
	struct reader_job rj[2];
	pid_t rpid[2], ppid[2], hpid;

	assert_non_null(sh);
	for (unsigned i = 0; i < 2; i++) {
		rj[i] = (struct reader_job){.sock = d->sock,
					    .chan = chans[i],
					    .res = &sh->res[i],
					    .wait = i ? SHMQ_WAIT_EVENTFD : SHMQ_WAIT_SLEEP,
					    .strict = i == 0,
					    .copy = i == 1,
					    .exact_loss = i == 1};
		rpid[i] = reader_start(&rj[i]);
	}
	hpid = hostile_start(&hj);
	for (unsigned i = 0; i < 2; i++) {
		sh->pj[i] = (struct paced_job){
		    .sock = d->sock, .chan = chans[i], .run_ns = hj.run_ns, .seed = 80 + i};
		ppid[i] = child_start(run_paced_publisher, &sh->pj[i]);
	}
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(child_wait(ppid[i], FX_HANG_S), 0);
	assert_int_equal(child_wait(hpid, FX_HANG_S), 0);
	for (unsigned i = 0; i < 2; i++) {
		int st = child_wait(rpid[i], FX_HANG_S);
		uint64_t pub = atomic_load(&sh->pj[i].published);
		uint64_t got = atomic_load(&sh->res[i].received),
			 lost = atomic_load(&sh->res[i].lost);

		print_message("%s: %llu published, %llu received, %llu lost; worst delay %.1f ms, "
			      "longest publish %.1f ms%s%s\n",
			      chans[i], (unsigned long long)pub, (unsigned long long)got,
			      (unsigned long long)lost, atomic_load(&sh->res[i].max_delay_ns) / 1e6,
			      atomic_load(&sh->pj[i].max_publish_ns) / 1e6, st ? ": " : "",
			      sh->res[i].why);
		assert_int_equal(st, 0);
		assert_true(pub > 0);
		assert_int_equal(got + lost, pub);
		if (i == 0)
			assert_int_equal(lost, 0);
		assert_true(atomic_load(&sh->res[i].max_delay_ns) < (uint64_t)STALL_BOUND_NS);
		assert_true(atomic_load(&sh->pj[i].max_publish_ns) < (uint64_t)STALL_BOUND_NS);
	}
	fx_shared_free(sh, sizeof(*sh));
	fx_assert_daemon_serves(d);
}

/* ---- the monitor role ---- */

static struct shmq_mon_stats *mon_snapshot(struct shmq_mon *mon)
{
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	assert_int_equal(shmq_mon_read(mon, st), 0);
	return st;
}

/*
 * A monitor on a block channel without subscribers holds no publisher
 * back (five rings with timeout 0, never -SHMQ_EFULL) and counts the
 * publisher's messages exactly; a subscriber that joins and reads N shows
 * received N and lag 0; one that stops reading holds the publisher after
 * one ring, and the monitor sees that lag.
 */
static void test_monitor_never_holds_a_publisher_back(void **state)
{
	struct daemon *d = dmn(state);
	struct shmq_client *c = fx_connect(d);
	uint64_t ring, total, first, n = 100, held = 0;
	struct shmq_mon_stats *st;
	struct shmq_mon *mon;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	int err;

	fx_channel_create(c, "mon.block", 512, SHMQ_POLICY_BLOCK);
	ring = fx_ring_msgs(c, "mon.block", 8);
	total = 5 * ring;
	assert_int_equal(shmq_mon_open(c, "mon.block", &mon), 0);
	assert_int_equal(shmq_pub_open(c, "mon.block", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, &total, sizeof(total), 0, &first), 0);
	for (uint64_t v = 1; v < total; v++)
		fx_publish_u64(p, v, 0);
	st = mon_snapshot(mon);
	assert_int_equal(st->nreaders, 0);
	assert_int_equal(st->npubs, 1);
	assert_int_equal(st->pubs[0].messages, total);
	assert_int_equal(st->pubs[0].bytes, total * 8);
	assert_int_equal(st->tail, first + total);
	free(st);
	assert_int_equal(shmq_sub_open(c, "mon.block", NULL, &s), 0);
	for (uint64_t v = 0; v < n; v++)
		fx_publish_u64(p, v, 0);
	for (uint64_t v = 0; v < n; v++)
		assert_int_equal(fx_recv_u64(s, &m), v);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN); /* publishes the cursor */
	st = mon_snapshot(mon);
	assert_int_equal(st->nreaders, 1);
	assert_int_equal(st->readers[0].received, n);
	assert_int_equal(st->readers[0].lag_messages, 0);
	assert_int_equal(st->readers[0].offset, st->tail);
	assert_int_equal(st->pubs[0].messages, total + n);
	free(st);
	/* the subscriber, not the monitor, holds the publisher: a ring and no more */
	while ((err = shmq_publish(p, &held, sizeof(held), 0, NULL)) == 0)
		held++;
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(held <= ring && held >= ring / 2);
	st = mon_snapshot(mon);
	assert_int_equal(st->readers[0].lag_messages, held);
	print_message("5 rings with a monitor and no subscriber; then a subscriber held the "
		      "publisher after %llu of %llu\n",
		      (unsigned long long)held, (unsigned long long)ring);
	free(st);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_mon_close(mon);
	shmq_disconnect(c);
	fx_assert_daemon_serves(d);
}

/* ---- the kill loop ---- */

#define VICTIMS 8u  /* per channel: a publisher and a subscriber, twice */
#define CHECKERS 4u /* per channel: a SLEEP and an EVENTFD reader that survive */

struct kill_shared {
	_Atomic uint64_t next_id; /* publisher incarnations */
	_Atomic uint64_t commits;
	_Atomic uint64_t self_kills; /* kills armed inside a publish */
	_Atomic uint64_t timeouts;   /* publishes that found no space for RECV_WAIT_NS */
	struct reader_result chk[CHECKERS];
};

struct victim_job {
	const char *sock;
	const char *chan;
	bool publisher;
	uint32_t wait;
	uint64_t seed;
	struct kill_shared *ks;
};

/* A thread that, once posted, lets a few microseconds pass and SIGKILLs its process. */
struct self_killer {
	sem_t go;
	uint64_t spins;
};

static void *self_kill(void *arg)
{
	struct self_killer *k = arg;

	while (sem_wait(&k->go) && errno == EINTR)
		;
	for (volatile uint64_t i = 0; i < k->spins; i++)
		;
	kill(getpid(), SIGKILL);
	return NULL;
}

/*
 * Publish timestamped messages with pauses that let readers fall asleep,
 * so that most publishes carry a wake-up; now and then post the killer
 * just before a publish, so that SIGKILL lands inside claim, commit or
 * wake.
 */
static int victim_publish(const struct victim_job *j, struct shmq_pub *p, struct self_killer *k)
{
	uint64_t seed = j->seed | 1, seq = 0, x;
	uint64_t id = atomic_fetch_add(&j->ks->next_id, 1);
	bool armed = false;
	int err;

	for (;;) {
		x = rnd(&seed);
		if (x % 4 == 0)
			fx_nap_ms(x % 32 == 0 ? 5 + (unsigned)(x >> 40) % 15 : 1);
		if (!armed && x % 61 == 0) {
			armed = true;
			atomic_fetch_add(&j->ks->self_kills, 1);
			sem_post(&k->go);
		}
		err = tmsg_publish(p, id, seq, RECV_WAIT_NS);
		if (!err) {
			seq++;
			atomic_fetch_add(&j->ks->commits, 1);
		} else if (err == -SHMQ_ETIMEDOUT) {
			atomic_fetch_add(&j->ks->timeouts, 1);
		} else if (err != -SHMQ_EABANDONED) {
			fprintf(stderr, "victim publisher: %s\n", shmq_errname(err));
			return 12;
		}
	}
}

/* Child: a publisher or a subscriber that runs until it is killed. */
static int run_victim(void *arg)
{
	const struct victim_job *j = arg;
	struct shmq_sub_opts so = {.wait = j->wait};
	struct self_killer k = {.spins = j->seed % 20000};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	pthread_t t;
	int err;

	if (shmq_connect(j->sock, &c))
		return 10;
	if (j->publisher) {
		if (shmq_pub_open(c, j->chan, NULL, &p) || sem_init(&k.go, 0, 0) ||
		    pthread_create(&t, NULL, self_kill, &k))
			return 11;
		return victim_publish(j, p, &k);
	}
	if (shmq_sub_open(c, j->chan, &so, &s))
		return 11;
	for (;;) {
		err = shmq_recv(s, &m, 100 * 1000000ll);
		if (err && err != -SHMQ_ETIMEDOUT)
			return 12;
	}
}

struct victim {
	struct victim_job j;
	pid_t pid;
	unsigned starts;
};

static void victim_start(struct victim *v, uint64_t *seed)
{
	static const uint32_t modes[] = {SHMQ_WAIT_SPIN, SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_SLEEP,
					 SHMQ_WAIT_EVENTFD};

	v->j.wait = modes[v->starts++ % 4];
	v->j.seed = rnd(seed);
	v->pid = child_start(run_victim, &v->j);
	assert_true(v->pid > 0);
}

/* Has pid exited (killed itself), without reaping it? */
static bool exited(pid_t pid)
{
	siginfo_t si = {0};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && s[0] ? strtoull(s, NULL, 0) : dflt;
}

/* Kill and restart victims at random moments until end; the number of kills. */
static uint64_t kill_victims_until(struct victim *v, int64_t end, uint64_t *seed)
{
	uint64_t kills = 0;

	while (fx_now_ns() < end) {
		unsigned i = (unsigned)(rnd(seed) % VICTIMS);

		fx_nap_ms(1 + (unsigned)(rnd(seed) % 10));
		child_kill(v[i].pid);
		victim_start(&v[i], seed);
		kills++;
		for (unsigned k = 0; k < VICTIMS; k++) {
			if (exited(v[k].pid)) { /* its own killer fired */
				child_kill(v[k].pid);
				victim_start(&v[k], seed);
			}
		}
	}
	for (unsigned i = 0; i < VICTIMS; i++)
		child_kill(v[i].pid);
	return kills;
}

/*
 * Publishers and subscribers in every wait mode, on a block and a drop
 * channel, SIGKILLed at random moments (by the test, and by a thread of
 * their own posted just before a publish, so that some die inside claim,
 * commit or wake-up) and restarted, for 3 s (SHMQ_STRESS_SECONDS to run
 * longer; SHMQ_SEED to repeat a run). Four checkers survive (SLEEP and
 * EVENTFD on each channel): every message they get is intact and in its
 * publisher's order (on block, none missing), and the longest time one
 * waited with a message committed, STALL_BOUND_NS (500 ms), holds.
 */
static void test_kill_loop_leaves_no_reader_asleep_with_a_message(void **state)
{
	static const char *const chans[] = {"k.block", "k.drop"};
	struct daemon *d = dmn(state);
	uint64_t seconds = env_u64("SHMQ_STRESS_SECONDS", 3);
	uint64_t seed = env_u64("SHMQ_SEED", (uint64_t)fx_now_ns()) | 1, kills;
	struct kill_shared *ks = fx_shared_alloc(sizeof(*ks));
	struct shmq_client *c = fx_connect(d);
	struct reader_job rj[CHECKERS];
	struct victim v[VICTIMS];
	pid_t cpid[CHECKERS];
	struct shmq_pub *p;

	print_message("kill loop: %llu s, seed %llu (SHMQ_SEED to repeat)\n",
		      (unsigned long long)seconds, (unsigned long long)seed);
	assert_non_null(ks);
	fx_channel_create(c, "k.block", 512, SHMQ_POLICY_BLOCK);
	fx_channel_create(c, "k.drop", 512, SHMQ_POLICY_DROP);
	for (unsigned i = 0; i < CHECKERS; i++) {
		rj[i] = (struct reader_job){.sock = d->sock,
					    .chan = chans[i / 2],
					    .res = &ks->chk[i],
					    .wait = i % 2 ? SHMQ_WAIT_EVENTFD : SHMQ_WAIT_SLEEP,
					    .strict = i < 2,
					    .copy = i >= 2};
		cpid[i] = reader_start(&rj[i]);
	}
	for (unsigned i = 0; i < VICTIMS; i++) {
		v[i] = (struct victim){
		    .j = {.sock = d->sock, .chan = chans[i / 4], .publisher = i % 2 == 0, .ks = ks},
		    .starts = i / 2};
		victim_start(&v[i], &seed);
	}
	kills = kill_victims_until(v, fx_now_ns() + (int64_t)seconds * 1000000000, &seed);
	assert_int_equal(shmq_pub_open(c, "k.block", NULL, &p), 0);
	end_publish(p);
	shmq_pub_close(p);
	assert_int_equal(shmq_pub_open(c, "k.drop", NULL, &p), 0);
	end_publish(p);
	shmq_pub_close(p);
	print_message("%llu kills by the test, %llu armed inside publishes, %llu publisher "
		      "incarnations, %llu commits, %llu publishes timed out\n",
		      (unsigned long long)kills, (unsigned long long)atomic_load(&ks->self_kills),
		      (unsigned long long)atomic_load(&ks->next_id),
		      (unsigned long long)atomic_load(&ks->commits),
		      (unsigned long long)atomic_load(&ks->timeouts));
	for (unsigned i = 0; i < CHECKERS; i++) {
		int st = child_wait(cpid[i], FX_HANG_S);

		print_message(
		    "checker %s %s: %llu received, %llu lost, longest wait with a message "
		    "%.1f ms%s%s\n",
		    chans[i / 2], i % 2 ? "eventfd" : "sleep",
		    (unsigned long long)atomic_load(&ks->chk[i].received),
		    (unsigned long long)atomic_load(&ks->chk[i].lost),
		    atomic_load(&ks->chk[i].max_delay_ns) / 1e6, st ? ": " : "", ks->chk[i].why);
		if (st) {
			struct shmq_channel_info ci;

			daemon_print_log(d);
			if (!shmq_channel_info(c, chans[i / 2], &ci))
				print_message(
				    "%s: tail %llu, oldest %llu, %u readers, %u publishers\n",
				    chans[i / 2], (unsigned long long)ci.tail,
				    (unsigned long long)ci.oldest, ci.readers, ci.publishers_open);
		}
		assert_int_equal(st, 0);
		assert_true(atomic_load(&ks->chk[i].received) > 0);
		assert_true(atomic_load(&ks->chk[i].max_delay_ns) < (uint64_t)STALL_BOUND_NS);
	}
	shmq_disconnect(c);
	fx_shared_free(ks, sizeof(*ks));
	fx_assert_daemon_serves(d);
}

/* ---- protocol fuzz ---- */

#define FUZZ_CONNS 16u
#define FUZZ_IDS 16u

struct fuzz_job {
	const char *sock;
	uint64_t seed;
	unsigned steps;
	bool nobody;
};

struct fuzz_state {
	struct raw conn[FUZZ_CONNS];
	uint64_t ids[FUZZ_IDS]; /* channel ids seen in open replies */
	uint64_t seed;
	unsigned conns, answers, ok, opens, hangups; /* what happened, for the log */
};

static void fuzz_close_fds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < n; i++)
				close(fds[i]);
	}
}

/* Read what the daemon answers within ms (then what is queued), closing descriptors. */
static void fuzz_drain(struct fuzz_state *fs, struct raw *r, int ms)
{
	uint8_t buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct pollfd p = {.fd = r->fd, .events = POLLIN};

	while (r->fd >= 0 && poll(&p, 1, ms) == 1) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(r->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		struct proto_hdr h;

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				break;
			raw_close(r); /* the daemon hung up */
			fs->hangups++;
			break;
		}
		fuzz_close_fds(&mh);
		memcpy(&h, buf, sizeof(h));
		fs->answers++;
		fs->ok += (size_t)n >= sizeof(h) && h.status == 0;
		if ((size_t)n >= sizeof(h) + sizeof(struct proto_opened) && h.op == OP_OPEN &&
		    h.status == 0) {
			fs->opens++;
			memcpy(&fs->ids[rnd(&fs->seed) % FUZZ_IDS], buf + sizeof(h), 8);
		}
		ms = 0;
	}
}

/* A datagram of len bytes with n descriptors (copies of stderr) attached. */
static void fuzz_send_fds(struct raw *r, const void *buf, size_t len, unsigned n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = len ? &iov : NULL,
			    .msg_iovlen = len ? 1 : 0,
			    .msg_control = cbuf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *cm;
	int fds[8];

	memset(cbuf, 0, sizeof(cbuf));
	for (unsigned i = 0; i < n; i++)
		fds[i] = dup(2);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	sendmsg(r->fd, &mh, MSG_NOSIGNAL);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

static const char *fuzz_name(uint64_t x)
{
	static const char *const names[] = {"fz.0", "fz.1", "fz.none", "fz.tmp", "a..b", ""};

	return names[x % 6];
}

/* A well-formed request of a random kind with random fields. */
static void fuzz_request(struct fuzz_state *fs, struct raw *r, uint64_t x)
{
	uint64_t y = rnd(&fs->seed), id = fs->ids[y % FUZZ_IDS];
	struct proto_chan_opts opts = {.capacity_bytes = y % (1 << 20),
				       .max_message_bytes = (uint32_t)(y >> 20) % 8192,
				       .policy = (uint32_t)(y >> 40) % 3};
	struct proto_open o = {.role = y % 8 ? 1 + (uint32_t)(y % 3) : (uint32_t)(y >> 59),
			       .opts = opts,
			       .start = (uint32_t)(y >> 8) % 4,
			       .wait_mode = (uint32_t)(y >> 16) % 5,
			       .offset = rnd(&fs->seed)};
	struct proto_peers_req pr = {.channel_id = y % 4 ? id : y, .kind = (uint32_t)(y >> 3) % 5};
	struct proto_close cl = {.channel_id = y % 4 ? id : y,
				 .role = (uint32_t)(y >> 5) % 4,
				 .reader_idx = (uint32_t)(y >> 9) % 70};
	struct proto_name nm = {.opts = opts};
	struct proto_list_req lr = {.start = (uint32_t)(y % 20)};

	switch (x % 6) {
	case 0: /* mostly opens that succeed */
		snprintf(o.name, sizeof(o.name), "%s", fuzz_name(y % 4 ? (y >> 24) % 2 : y >> 24));
		o.create = !strcmp(o.name, "fz.tmp") && y % 2;
		raw_request(r, OP_OPEN, &o, sizeof(o));
		break;
	case 1:
		raw_request(r, OP_PEERS, &pr, sizeof(pr));
		break;
	case 2:
		raw_request(r, OP_CLOSE, &cl, sizeof(cl));
		break;
	case 3: /* deletes spare the declared channels: the baseline counts them */
		snprintf(nm.name, sizeof(nm.name), "%s", fuzz_name(y >> 24));
		if (y % 3 == 0 && !strncmp(nm.name, "fz.", 3) && strcmp(nm.name, "fz.tmp"))
			snprintf(nm.name, sizeof(nm.name), "fz.tmp");
		raw_request(r, y % 3 ? OP_INFO : y % 2 ? OP_CREATE : OP_DELETE, &nm, sizeof(nm));
		break;
	case 4:
		raw_request(r, OP_LIST, &lr, sizeof(lr));
		break;
	default:
		raw_hello(r);
		break;
	}
}

/* One step on a random connection: (re)connect, then garbage or a request. */
static void fuzz_step(struct fuzz_state *fs, const char *sock)
{
	struct raw *r = &fs->conn[rnd(&fs->seed) % FUZZ_CONNS];
	uint64_t x = rnd(&fs->seed);
	uint8_t buf[512];
	struct proto_hdr h = {.magic = PROTO_MAGIC, .version = PROTO_VERSION};
	size_t len;

	if (r->fd < 0) {
		if (raw_connect(r, sock))
			return;
		fs->conns++;
		if (x % 8)
			raw_hello(r);
		return;
	}
	len = (size_t)(x >> 8) % sizeof(buf);
	scribble(buf, sizeof(buf), &fs->seed);
	switch (x % 8) {
	case 0: /* garbage, an empty datagram included */
		raw_send(r, buf, len % 97);
		break;
	case 1: /* a good header over a body of another size (never a real request's) */
		h.op = (uint16_t)(x >> 20) % 12;
		h.body_bytes = (uint32_t)(x % 3 ? len : rnd(&fs->seed));
		h.seq = (uint32_t)x;
		if (len == sizeof(struct proto_name) || len == sizeof(struct proto_open))
			len++;
		memcpy(buf, &h, sizeof(h));
		raw_send(r, buf, sizeof(h) + len % (sizeof(buf) - sizeof(h)));
		break;
	case 2: /* descriptors, on an empty datagram or on a request */
		h.op = OP_LIST;
		h.body_bytes = sizeof(struct proto_list_req);
		memset(buf, 0, sizeof(h) + 8);
		memcpy(buf, &h, sizeof(h));
		fuzz_send_fds(r, buf, x % 3 ? sizeof(h) + 8 : 0, 1 + (unsigned)(x >> 12) % 8);
		break;
	case 3:
		raw_close(r);
		return;
	default:
		fuzz_request(fs, r, x >> 3);
		break;
	}
	fuzz_drain(fs, r, 20);
}

/* Child: run the steps (as nobody if asked), then hang up everything. */
static int run_fuzz(void *arg)
{
	const struct fuzz_job *j = arg;
	struct fuzz_state *fs = calloc(1, sizeof(*fs));

	if (!fs || (j->nobody && fx_become_nobody()))
		return 77;
	fs->seed = j->seed | 1;
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		fs->conn[i].fd = -1;
	for (unsigned i = 0; i < j->steps; i++)
		fuzz_step(fs, j->sock);
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		raw_close(&fs->conn[i]);
	fprintf(stderr,
		"fuzz as %s: %u steps, %u connections, %u answers (%u ok, %u opens), %u "
		"hang-ups by the daemon\n",
		j->nobody ? "nobody" : "root", j->steps, fs->conns, fs->answers, fs->ok, fs->opens,
		fs->hangups);
	free(fs);
	return 0;
}

/* A fuzz run as root and one as nobody; then fz.tmp, if made, is deleted. */
static void fuzz_round(struct daemon *d, uint64_t seed, unsigned steps)
{
	struct fuzz_job j = {.sock = d->sock, .seed = seed, .steps = steps};
	struct shmq_client *c;
	int err;

	assert_int_equal(child_wait(child_start(run_fuzz, &j), FX_HANG_S * 4), 0);
	j.nobody = true;
	j.seed = rnd(&seed);
	assert_int_equal(child_wait(child_start(run_fuzz, &j), FX_HANG_S * 4), 0);
	c = fx_connect(d);
	err = shmq_channel_delete(c, "fz.tmp");
	assert_true(err == 0 || err == -SHMQ_ENOENT);
	shmq_disconnect(c);
}

/* shmqd's descriptor count once it stayed the same for 100 ms. */
static int settled_fd_count(struct daemon *d)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	int n = daemon_fd_count(d), last = -1;

	while (n != last && fx_now_ns() < deadline) {
		last = n;
		fx_nap_ms(100);
		n = daemon_fd_count(d);
	}
	return n;
}

#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_KB 8192l /* ASan's quarantine keeps freed memory for a while */
#else
#define RSS_SLACK_KB 2048l
#endif

/*
 * Garbage datagrams, descriptors on empty and full datagrams, and random
 * well-formed requests (opens of every role with random modes, OP_PEERS
 * with random channel ids and kinds, closes, creates and deletes) over up
 * to 16 connections at a time, as root and as nobody: afterwards shmqd
 * holds exactly the descriptors it held before, and its VmRSS is within
 * RSS_SLACK_KB (2 MiB; 8 MiB under ASan) of what it was after a first,
 * smaller run (which grows the heap to its working size).
 */
static void test_protocol_fuzz_leaves_no_descriptor_or_memory_behind(void **state)
{
	struct daemon *d = dmn(state);
	uint64_t seed = env_u64("SHMQ_SEED", (uint64_t)fx_now_ns()) | 1;
	long rss0, rss1;
	int fd0, fd1;
	int64_t deadline;

	print_message("fuzz seed %llu (SHMQ_SEED to repeat)\n", (unsigned long long)seed);
	fuzz_round(d, rnd(&seed), 1000);
	fd0 = settled_fd_count(d);
	rss0 = fx_daemon_rss_kb(d);
	assert_true(fd0 > 0 && rss0 > 0);
	fuzz_round(d, rnd(&seed), 4000);
	assert_int_equal(fx_wait_fd_count(d, fd0), 0);
	fd1 = daemon_fd_count(d);
	deadline = fx_now_ns() + 5 * 1000000000ll;
	while ((rss1 = fx_daemon_rss_kb(d)) > rss0 + RSS_SLACK_KB && fx_now_ns() < deadline)
		fx_nap_ms(50);
	print_message("shmqd: %d descriptors before, %d after; VmRSS %ld kB before, %ld kB after "
		      "(slack %ld kB)\n",
		      fd0, fd1, rss0, rss1, RSS_SLACK_KB);
	assert_true(rss1 <= rss0 + RSS_SLACK_KB);
	fx_assert_daemon_serves(d);
}

#define CONF_FUZZ                                                                                  \
	"[channel fz.0]\ncapacity = 32K\nmax_message = 64\npublish = *\nsubscribe = *\n"           \
	"[channel fz.1]\ncapacity = 32K\nmax_message = 64\npolicy = block\npublish = *\n"          \
	"subscribe = *\n"
#define CONF_CHAN_QUOTA "[daemon]\ncreate = 65534\nmax_channels_per_uid = 3\n"
#define CONF_CONN_QUOTA "[daemon]\nmax_connections_per_uid = 4\n"

#define H(f, conf)                                                                                 \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)(uintptr_t)(conf))

int main(void)
{
	const struct CMUnitTest tests[] = {
	    H(test_subscriber_cannot_activate_a_reader_slot, CONF_NOBODY_SUBSCRIBES),
	    H(test_subscriber_cannot_raise_another_readers_position, CONF_NOBODY_SUBSCRIBES),
	    H(test_wake_word_attacks_cost_bounded_latency, CONF_NOBODY_SUBSCRIBES),
	    H(test_control_magic_cannot_be_overwritten, CONF_NOBODY_SUBSCRIBES),
	    H(test_publisher_gets_only_event_fd_readers_fds, NULL),
	    H(test_reader_woken_when_its_waker_dies, NULL),
	    H(test_nobody_cannot_create_or_see_by_default, NULL),
	    H(test_channel_quota_per_uid, CONF_CHAN_QUOTA),
	    H(test_connection_quota_per_uid, CONF_CONN_QUOTA),
	    H(test_random_bytes_in_writable_regions_harm_no_honest_pair, CONF_NOBODY_SUBSCRIBES),
	    H(test_monitor_never_holds_a_publisher_back, NULL),
	    H(test_kill_loop_leaves_no_reader_asleep_with_a_message, NULL),
	    H(test_protocol_fuzz_leaves_no_descriptor_or_memory_behind, CONF_FUZZ),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "not root: cannot run children as a second uid; skipping\n");
		return 77;
	}
	if (getenv("SHMQ_TEST_FILTER")) /* one test by name (a pattern with * and ?) */
		cmocka_set_test_filter(getenv("SHMQ_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
