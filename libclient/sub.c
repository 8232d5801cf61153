/*
 * sub.c - subscriber handles: a cursor in an entry segment of its own
 * (only this handle and the daemon write it), receive (view, copy, batch),
 * and the four wait strategies. A handle is used by one thread at a time.
 * No system call while messages are ready; a reader only sleeps after
 * announcing itself in wake->sleepers
 * and calling membarrier() (log_sleep_fence()), which stands in for the
 * fence publishers no longer make after a commit. The cursor (message
 * number and byte position) in shared memory trails the private one: it is
 * stored once per eighth of the ring or 256 messages, and always before the
 * reader waits, so a blocked publisher always sees what a waiting reader
 * has released, with the counters monitors read; one message in
 * LAT_SAMPLE_EVERY is timed into the latency buckets of our entry (its own
 * line, which publishers never read). The wake segment is
 * shared with every client of the channel, so nothing in it is believed:
 * a run of wake-ups that bring nothing is paced, and a sleep wakes every
 * DAEMON_CHECK_NS to see whether the channel was deleted or the daemon
 * went away (the daemon's watchdog wakes readers left asleep behind the
 * tail). A handle opened by shmq_sub_open_pattern() holds no channel
 * itself: every public call hands it to pattern_sub.c (s->pat), which drives
 * one plain handle per matched channel through sub_recv_member(). A filter
 * (filter.c) is one call in read_one(): what it rejects advances the cursor
 * and is counted, never delivered.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expiry.h"
#include "filter.h"
#include "internal.h"
#include "pattern_sub.h"
#include "wait.h"

#define DEFAULT_SPIN_NS 20000u
#define MAX_CURSOR_BATCH 256u	    /* ... or this many messages */
#define UNFENCED_SLEEP_NS 1000000   /* longest sleep where membarrier is refused */
#define DAEMON_CHECK_NS 100000000   /* longest sleep before a look at the channel and daemon */
#define EMPTY_WAKES_MAX 16u	    /* wake-ups in a row that brought nothing ... */
#define EMPTY_WAKE_PAUSE_NS 1000000 /* ... then pause this long before the next sleep */

struct shmq_sub {
	struct shmq_client *client;
	struct client_handle h; /* resumed after a daemon restart */
	struct chan_map m;
	struct reader_entry *me;
	struct log_cursor cur;	     /* next record to look at (the held one while held) */
	struct log_cursor published; /* last cursor stored in me */
	uint64_t skip_below;	     /* deliver nothing below this offset (start at an offset) */
	uint64_t lost_pending;	     /* lost since the last delivered message */
	bool holding;		     /* a view from shmq_recv is out at cur */
	bool armed;	      /* event fd mode: we set me->armed (a publisher may clear it) */
	bool fenced;	      /* membarrier works here: sleeps need no bound */
	uint32_t empty_wakes; /* wake-ups in a row that brought no message */
	uint32_t cut_seq;     /* me->cut_seq when we last took a cut */
	uint32_t idx;
	uint32_t wait_mode;
	uint64_t spin_ns;
	uint64_t cursor_bytes;	  /* publish the cursor after this many bytes ... */
	uint64_t sleeps, wakeups; /* counted for monitors */
	uint64_t checked_ns;	  /* when channel_gone() last asked about the daemon */
	int efd;
	struct log_rec last;
	struct shmq_sub_stats st;
	uint64_t filtered;     /* messages the filter passed over */
	struct filter *filter; /* NULL: deliver everything */
	struct pattern *pat;   /* a pattern handle: everything is pattern.c's */
	struct expiry exp;     /* messages past their expiry: skipped, counted */
};

SHMQ_EXPORT int shmq_sub_open(struct shmq_client *c, const char *name,
			      const struct shmq_sub_opts *opts, struct shmq_sub **out)
{
	struct shmq_sub_opts o = {0};
	struct proto_open req;
	struct proto_opened resp;
	struct shmq_sub *s;
	int err;

	if (opts)
		o = *opts;
	err = chan_open_req(c, name, out, ROLE_SUB, o.create, &o.channel, &req);
	if (err)
		return err;
	if (o.start > SHMQ_START_OFFSET || o.wait > SHMQ_WAIT_EVENTFD)
		return -SHMQ_EINVAL;
	req.start = o.start;
	req.wait_mode = o.wait;
	req.offset = o.offset;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -SHMQ_ENOMEM;
	err = chan_open(c, &req, &resp, &s->m, &s->efd);
	if (err)
		goto out_free;
	err = -SHMQ_EPROTO;
	if (resp.reader_idx >= MAX_READERS || (o.wait == SHMQ_WAIT_EVENTFD && s->efd < 0))
		goto out_close;
	s->client = c;
	s->idx = resp.reader_idx;
	s->h = (struct client_handle){.channel_id = resp.channel_id,
				      .role = ROLE_SUB,
				      .slot = resp.reader_idx,
				      .gen = resp.reader_gen};
	client_handle_add(c, &s->h);
	s->me = s->m.entry;
	/* relaxed: the daemon wrote the entry before the slot turned active. */
	s->cut_seq = atomic_load_explicit(&s->me->cut_seq, memory_order_relaxed);
	s->cur = s->published = (struct log_cursor){resp.start_pos, resp.start_bytes};
	s->skip_below = resp.skip_below;
	s->wait_mode = o.wait;
	s->spin_ns = o.spin_ns ? o.spin_ns : DEFAULT_SPIN_NS;
	s->cursor_bytes = s->m.v.ring_bytes / 8;
	*out = s;
	return 0;

out_close:
	chan_close_notify(c, resp.channel_id, ROLE_SUB, resp.reader_idx);
	chan_unmap(&s->m);
	if (s->efd >= 0)
		close(s->efd);
out_free:
	free(s);
	return err;
}

static void sub_disarm(struct shmq_sub *s)
{
	if (!s->armed)
		return;
	s->armed = false;
	/* relaxed: only we set MARK_EFD; log_reader_unmark() decides. */
	if (atomic_load_explicit(&s->m.v.wake->marks[s->idx].armed, memory_order_relaxed) ==
	    MARK_EFD)
		log_reader_unmark(&s->m.v, s->idx, MARK_EFD);
	wait_fd_drain(s->efd); /* a publisher may have signalled us */
}

SHMQ_EXPORT void shmq_sub_close(struct shmq_sub *s)
{
	if (!s)
		return;
	if (s->pat) {
		pattern_close(s->pat);
		free(s);
		return;
	}
	sub_disarm(s);
	client_handle_close(s->client, &s->h);
	chan_unmap(&s->m);
	if (s->efd >= 0)
		close(s->efd);
	filter_free(s->filter);
	free(s);
}

/* relaxed: counters in our own entry, one writer; monitors sum loosely. */
static void counter_store(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Store the cursor; on block channels wake publishers waiting for space. */
static void publish_cursor(struct shmq_sub *s)
{
	struct wake_hdr *w = s->m.v.wake;

	if (s->cur.bytes == s->published.bytes)
		return;
	s->published = s->cur;
	if (SHMQ_COUNTERS) {
		counter_store(&s->me->received, s->st.received);
		counter_store(&s->me->lost, s->st.lost_overrun);
		counter_store(&s->me->lost_abandoned, s->st.lost_abandoned);
		counter_store(&s->me->expired, s->exp.count);
	}
	if (s->m.v.policy != SHMQ_POLICY_BLOCK) {
		/* release; pairs with the acquire in log_reader_limit(). */
		log_cursor_store(s->me, &s->cur, false);
		return;
	}
	/* seq_cst: release for log_reader_limit(), and ordered before the
	 * space_wanted load (pairs with wait_space() in pub.c). */
	log_cursor_store(s->me, &s->cur, true);
	/* seq_cst load first, so the common case (nobody waits) writes no
	 * shared line; whoever exchanges 1 -> 0 wakes every waiter, and those
	 * still short of space set the flag again before sleeping. */
	if (atomic_load_explicit(&w->space_wanted, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&w->space_wanted, 0, memory_order_seq_cst)) {
		/* release: publish the new sequence before the wake. */
		atomic_fetch_add_explicit(&w->space_seq, 1, memory_order_release);
		wait_wake(&w->space_seq, INT32_MAX);
	}
}

/* Count rec's losses, those at or above skip_below only. */
static void count_lost(struct shmq_sub *s, const struct log_rec *rec, uint64_t upto)
{
	uint64_t lo = upto - rec->lost, n, ab;

	if (lo < s->skip_below)
		lo = s->skip_below;
	n = upto > lo ? upto - lo : 0;
	ab = rec->abandoned < n ? rec->abandoned : n;
	s->st.lost_overrun += n - ab;
	s->st.lost_abandoned += ab;
	s->lost_pending += n;
}

static int read_next(struct shmq_sub *s, struct log_rec *rec)
{
	for (;;) {
		int r = log_read(&s->m.v, &s->cur, rec);

		if (r < 0)
			return r;
		count_lost(s, rec, r ? rec->pos : s->cur.pos);
		if (r && expiry_skip(&s->exp, &s->m.v, rec, s->skip_below)) {
			log_advance(&s->cur, rec); /* expired: counted, not lost */
			continue;
		}
		if (!s->skip_below)
			return r;
		if (r == 0 || rec->pos >= s->skip_below) {
			if (s->cur.pos >= s->skip_below)
				s->skip_below = 0;
			return r;
		}
		log_advance(&s->cur, rec); /* below the asked offset: not delivered */
	}
}

/* rec is ready and s has a filter: rec, or the next message that passes it. */
static __attribute__((noinline)) int read_filtered(struct shmq_sub *s, struct log_rec *rec)
{
	int r = 1;

	while (r == 1 && !filter_pass(s->filter, rec->ext, rec->ext_bytes)) {
		s->filtered++;
		log_advance(&s->cur, rec);
		r = read_next(s, rec);
	}
	return r;
}

/* The next message that passes the filter (what read_next() says, with none). */
static inline int read_one(struct shmq_sub *s, struct log_rec *rec)
{
	int r = read_next(s, rec);

	if (__builtin_expect(s->filter != NULL, 0) && r == 1)
		return read_filtered(s, rec);
	return r;
}

/* Move the cursor forward to `to`, counting the messages it passes as lost. */
static void skip_to(struct shmq_sub *s, const struct log_cursor *to)
{
	struct log_rec gap = {.lost = to->pos > s->cur.pos ? to->pos - s->cur.pos : 0};

	count_lost(s, &gap, to->pos);
	s->cur = *to;
}

/* Does the tail stand below our cursor? It only grows: a publisher moved it back. */
static bool tail_behind(const struct shmq_sub *s)
{
	/* acquire: as in log_pending() */
	return atomic_load_explicit(&s->m.v.data->tail_bytes, memory_order_acquire) < s->cur.bytes;
}

/*
 * Nothing to read: look at what the daemon leaves in our entry's own
 * line. A cut (an operator's `shmq repair`) stored a cursor past ours (or
 * at a tail that moved back below us): take it, counting what it skipped
 * as lost: 1. The watchdog found us standing at a record it cannot parse:
 * -SHMQ_ECORRUPT until we skip or are cut. With look_tail, also a tail
 * below our cursor (we would wait for ever): a load of the publishers'
 * line, so only where we are about to spin on or sleep; pollers (timeout
 * 0) learn it from the watchdog. Else 0. Never per message.
 */
static __attribute__((noinline)) int daemon_marks(struct shmq_sub *s, bool look_tail)
{
	/* acquire; pairs with the release in reader_cut() (daemon/watchdog.c): the
	 * cursor it stored is visible. */
	uint32_t seq = atomic_load_explicit(&s->me->cut_seq, memory_order_acquire);
	struct log_cursor to;

	if (seq != s->cut_seq) {
		s->cut_seq = seq;
		/* back only to a tail that moved back: never over messages
		 * delivered since a skip of our own */
		if (log_cursor_load(s->me, &to) && !(to.bytes % REC_ALIGN) &&
		    (to.bytes > s->cur.bytes || tail_behind(s))) {
			skip_to(s, &to);
			s->published = to;
			return 1;
		}
	}
	/* relaxed: compared with our own cursor; a stale value costs one look. */
	if (atomic_load_explicit(&s->me->bad_bytes, memory_order_relaxed) == s->cur.bytes + 1 ||
	    (look_tail && tail_behind(s)))
		return -SHMQ_ECORRUPT;
	return 0;
}

/*
 * Announce a reader going to sleep with mark (MARK_FUTEX or MARK_EFD),
 * before its last re-check: the one handshake both wait paths share.
 * Returns the wake_seq a futex sleeper waits on.
 */
static uint32_t sleep_announce(struct shmq_sub *s, uint32_t mark)
{
	struct wake_hdr *w = s->m.v.wake;
	uint32_t seq;

	counter_store(&s->me->sleeps, ++s->sleeps);
	/* seq_cst: the mark comes before the count, so a publisher (or the
	 * daemon, if we die asleep) that counts us finds it. */
	atomic_store_explicit(&w->marks[s->idx].armed, mark, memory_order_seq_cst);
	/* seq_cst: counted for the daemon's bookkeeping; the flag below is
	 * what publishers read. */
	atomic_fetch_add_explicit(&w->sleepers, 1, memory_order_seq_cst);
	seq = atomic_load_explicit(&w->wake_seq, memory_order_seq_cst);
	/* seq_cst, after the wake_seq load: pairs with the load and exchange
	 * in finish() (log.c), Dekker: either a publisher sees the flag or our
	 * re-check sees its record. A publisher that takes the flag bumps
	 * wake_seq after we read it, so a FUTEX_WAIT on seq cannot miss its
	 * wake, and it finds our mark when it signals event fds. */
	atomic_store_explicit(&w->wake_needed, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	/* publishers commit with a plain release store and no fence: this
	 * orders each one's commit store before its wake_needed load, as if
	 * it had fenced (membarrier). Refused here: our sleeps are bounded. */
	s->fenced = log_sleep_fence();
	return seq;
}

/*
 * How long a sleep may last: bounded where a commit may go unseen, and so
 * that a deleted channel or a lost daemon is noticed.
 */
static int64_t sleep_bound(const struct shmq_sub *s, int64_t left)
{
	int64_t cap = s->fenced ? DAEMON_CHECK_NS : UNFENCED_SLEEP_NS;

	return left >= 0 && left <= cap ? left : cap;
}

/* Futex sleep: announce, re-check, sleep. Returns 1 ready, 0 woken, <0. */
static int sleep_futex(struct shmq_sub *s, struct log_rec *rec, int64_t left)
{
	uint32_t seq = sleep_announce(s, MARK_FUTEX);
	int r = read_one(s, rec);

	if (r == 0)
		r = wait_futex(&s->m.v.wake->wake_seq, seq, sleep_bound(s, left));
	log_reader_unmark(&s->m.v, s->idx, MARK_FUTEX);
	return r == -SHMQ_ETIMEDOUT ? 0 : r;
}

/*
 * Event fd mode: drain, arm (again, if a publisher took the mark when it
 * signalled), re-check, poll the fd. Draining before the re-check keeps
 * the fd from staying readable after a wake-up that brought no message
 * (an aborted or abandoned one), and a fresh mark makes the next message
 * signal it again, which edge-triggered epoll needs. The drain comes
 * before the look at the mark: a signal drained after it might belong to
 * a publisher that cleared the mark in between, and then nobody would
 * signal the message we are still waiting for.
 */
static int sleep_efd(struct shmq_sub *s, struct log_rec *rec, int64_t left)
{
	struct pollfd pfd = {.fd = s->efd, .events = POLLIN};
	int r;

	wait_fd_drain(s->efd);
	/* acquire; pairs with the CAS in log_wake(): a publisher that took
	 * the mark signalled before or after the drain above; either we arm
	 * again here or its signal is still pending for poll(). */
	if (!s->armed || atomic_load_explicit(&s->m.v.wake->marks[s->idx].armed,
					      memory_order_acquire) != MARK_EFD) {
		s->armed = true;
		sleep_announce(s, MARK_EFD);
	}
	r = read_one(s, rec);
	if (r != 0 || left == 0)
		return r;
	left = sleep_bound(s, left);
	if (left > (int64_t)INT32_MAX * 1000000)
		left =
		    (int64_t)INT32_MAX * 1000000; /* poll() takes int ms: ~24 days, then re-check */
	poll(&pfd, 1, left < 0 ? -1 : (int)((left + 999999) / 1000000));
	return 0;
}

/*
 * Nothing to read: was the channel deleted, or ended by a daemon's clean
 * stop (everything published before is read by now)? Every
 * DAEMON_CHECK_NS: is the daemon there, or back after a restart (then the
 * handle is resumed)? A daemon away longer than DAEMON_GRACE_NS, or back
 * without our channel, ends the handle.
 */
static __attribute__((noinline)) int channel_gone(struct shmq_sub *s, uint64_t now)
{
	/* acquire; pairs with the daemon's release stores in registry_delete()
	 * and registry_close_all(). */
	uint32_t state = atomic_load_explicit(&s->m.v.ctl->state, memory_order_acquire);

	if (state == CHAN_DELETED)
		return -SHMQ_EDELETED;
	if (state == CHAN_CLOSED)
		return -SHMQ_ECLOSED;
	if (now - s->checked_ns < DAEMON_CHECK_NS)
		return 0;
	s->checked_ns = now;
	return client_check(s->client, &s->h);
}

/* The tail: a hint for pacing only. */
static uint64_t tail_hint(const struct shmq_sub *s)
{
	/* relaxed: compared for change only; a stale value costs one pause
	 * or spares one, never a message. */
	return atomic_load_explicit(&s->m.v.data->tail_bytes, memory_order_relaxed);
}

/*
 * A sleep that began at t0, with the tail at tail0, ended with r (after
 * the look at the record a wake-up is for). An honest wake-up follows a
 * tail move: it brings a message, or one still being written behind a
 * moved tail. Wake-ups in a row that bring nothing while the tail stood
 * still, well before the sleep's bound, are no honest peer's doing (a
 * client bumping the wake word): pace them, so that such a client costs
 * this reader latency, not a core.
 */
static void sleep_done(struct shmq_sub *s, int r, uint64_t t0, uint64_t tail0)
{
	struct timespec pause = {0, EMPTY_WAKE_PAUSE_NS};

	if (r > 0) {
		s->empty_wakes = 0;
		counter_store(&s->me->wakeups, ++s->wakeups);
		return;
	}
	if (r < 0 || tail_hint(s) != tail0 || wait_now_ns() - t0 >= EMPTY_WAKE_PAUSE_NS) {
		s->empty_wakes = 0;
		return;
	}
	if (++s->empty_wakes >= EMPTY_WAKES_MAX) {
		s->empty_wakes = 0;
		nanosleep(&pause, NULL);
	}
}

static int wait_next(struct shmq_sub *s, struct log_rec *rec, int64_t timeout_ns)
{
	uint64_t start = 0, now;
	unsigned spins = 0;
	int r;

	for (;;) {
		r = read_one(s, rec);
		if (r)
			break;
		/* about to wait: publishers see every slot we are done with */
		publish_cursor(s);
		r = channel_gone(s, s->checked_ns); /* the deleted mark only */
		if (r)
			break;
		if (timeout_ns == 0) {
			r = daemon_marks(s, false);
			if (r > 0)
				continue;
			if (r < 0)
				break;
			if (s->wait_mode == SHMQ_WAIT_EVENTFD)
				r = sleep_efd(s, rec, 0);
			if (r == 0)
				return -SHMQ_EAGAIN; /* stay armed: the fd tells */
			break;
		}
		if (s->wait_mode != SHMQ_WAIT_SLEEP && ++spins & 63) {
			wait_cpu_relax();
			continue;
		}
		now = wait_now_ns();
		if (!start)
			start = now;
		r = channel_gone(s, now);
		if (!r)
			r = daemon_marks(s, true);
		if (r > 0)
			continue;
		if (r)
			break;
		if (timeout_ns > 0 && now - start >= (uint64_t)timeout_ns)
			return -SHMQ_ETIMEDOUT;
		if (s->wait_mode == SHMQ_WAIT_SPIN ||
		    (s->wait_mode == SHMQ_WAIT_SPIN_SLEEP && now - start < s->spin_ns))
			continue;
		{
			int64_t left = timeout_ns < 0 ? -1 : timeout_ns - (int64_t)(now - start);
			uint64_t tail0 = tail_hint(s);

			r = s->wait_mode == SHMQ_WAIT_EVENTFD ? sleep_efd(s, rec, left)
							      : sleep_futex(s, rec, left);
			if (r == 0)
				r = read_one(s, rec); /* what the wake-up was for */
			sleep_done(s, r, now, tail0);
		}
		if (r)
			break;
	}
	sub_disarm(s);
	return r < 0 ? r : 0;
}

/*
 * Time one message in LAT_SAMPLE_EVERY (by offset, so every reader times
 * the same ones): publish timestamp to now, from the same calibrated
 * time-stamp counter the publisher used, into our entry's histogram.
 */
static __attribute__((noinline, cold)) void lat_sample(struct shmq_sub *s,
						       const struct log_rec *rec)
{
	struct reader_entry *e = s->me;
	uint64_t now, ns;
	unsigned b;

	now = log_timestamp(&s->m.v);
	ns = now > rec->timestamp_ns ? now - rec->timestamp_ns : 0;
	b = lat_bucket(ns);
	/* relaxed: counters in our own entry, one writer; monitors sum loosely. */
	counter_store(&e->lat_samples,
		      atomic_load_explicit(&e->lat_samples, memory_order_relaxed) + 1);
	counter_store(&e->lat_sum_ns,
		      atomic_load_explicit(&e->lat_sum_ns, memory_order_relaxed) + ns);
	counter_store(&e->lat[b], atomic_load_explicit(&e->lat[b], memory_order_relaxed) + 1);
}

static inline __attribute__((always_inline)) void
fill_msg(struct shmq_sub *s, const struct log_rec *rec, struct shmq_msg *msg)
{
	if (SHMQ_COUNTERS &&
	    __builtin_expect(!(rec->pos & (LAT_SAMPLE_EVERY - 1)) && rec->timestamp_ns, 0))
		lat_sample(s, rec);
	*msg = (struct shmq_msg){
	    .data = rec->data,
	    .len = rec->len,
	    .flags = rec->flags,
	    .offset = rec->pos,
	    .timestamp_ns = rec->timestamp_ns,
	    .lost = s->lost_pending,
	    .seal = rec->bytes,
	    .ext = rec->ext,
	    .ext_bytes = rec->ext_bytes,
	};
	s->lost_pending = 0;
	s->st.received++;
}

/* Release the held view: move past it. */
static void release_held(struct shmq_sub *s)
{
	if (s->holding) {
		s->holding = false;
		log_advance(&s->cur, &s->last);
	}
}

static bool cursor_due(const struct shmq_sub *s)
{
	return s->cur.bytes - s->published.bytes >= s->cursor_bytes ||
	       s->cur.pos - s->published.pos >= MAX_CURSOR_BATCH;
}

SHMQ_EXPORT int shmq_recv(struct shmq_sub *s, struct shmq_msg *msg, int64_t timeout_ns)
{
	struct log_rec rec;
	int err;

	if (!s || !msg)
		return -SHMQ_EINVAL;
	if (__builtin_expect(s->pat != NULL, 0))
		return pattern_recv(s->pat, msg, NULL, 0, false, timeout_ns);
	release_held(s);
	err = wait_next(s, &rec, timeout_ns);
	/* while messages stream, move the cursor once per batch: its cache
	 * line then crosses to publishers once per batch, not per message */
	if (cursor_due(s))
		publish_cursor(s);
	if (err)
		return err;
	fill_msg(s, &rec, msg);
	s->last = rec;
	s->holding = true;
	return 0;
}

SHMQ_EXPORT int shmq_msg_verify(const struct shmq_sub *s, const struct shmq_msg *msg)
{
	struct log_rec rec;

	if (s && s->pat)
		return msg ? pattern_verify(s->pat, msg) : -SHMQ_EINVAL;
	if (!s || !msg || msg->seal % REC_ALIGN ||
	    msg->seal >= atomic_load_explicit(&s->m.v.data->tail_bytes, memory_order_acquire))
		return -SHMQ_EINVAL;
	rec = (struct log_rec){.pos = msg->offset, .bytes = msg->seal};
	/* the view's record says its offset: a seal or offset changed by the
	 * caller is refused (and, lapped since, it is overrun either way) */
	if (log_rec_at(&s->m.v, msg->seal)->pos != msg->offset)
		return log_verify(&s->m.v, &rec) ? -SHMQ_EINVAL : -SHMQ_EOVERRUN;
	return log_verify(&s->m.v, &rec) ? 0 : -SHMQ_EOVERRUN;
}

SHMQ_EXPORT int shmq_recv_copy(struct shmq_sub *s, void *buf, size_t len, struct shmq_msg *msg,
			       int64_t timeout_ns)
{
	int err;

	if (!buf && len)
		return -SHMQ_EINVAL;
	if (s && s->pat)
		return msg ? pattern_recv(s->pat, msg, buf, len, true, timeout_ns) : -SHMQ_EINVAL;
	for (;;) {
		err = shmq_recv(s, msg, timeout_ns);
		if (err)
			return err;
		if (msg->len > len) {
			/* not consumed: read it (and its loss) again next time */
			s->holding = false;
			s->lost_pending += msg->lost;
			s->st.received--;
			return -SHMQ_EINVAL;
		}
		memcpy(buf, msg->data, msg->len);
		if (log_verify(&s->m.v, &s->last))
			break;
		/* overwritten while copying: count it lost, read on */
		s->lost_pending += msg->lost + 1;
		s->st.lost_overrun++;
		s->st.received--;
	}
	msg->data = buf;
	return 0;
}

SHMQ_EXPORT int shmq_poll(struct shmq_sub *s, shmq_msg_cb cb, void *arg, unsigned max,
			  int64_t timeout_ns)
{
	struct shmq_msg msg;
	struct log_rec rec;
	unsigned n = 0;
	int err;

	if (!s || !cb || !max)
		return -SHMQ_EINVAL;
	if (s->pat)
		return pattern_poll(s->pat, cb, arg, max, timeout_ns);
	release_held(s);
	err = wait_next(s, &rec, timeout_ns);
	while (!err) {
		fill_msg(s, &rec, &msg);
		n++;
		log_advance(&s->cur, &rec);
		if (cb(arg, &msg) || n == max)
			break;
		/* a long batch still frees space for blocked publishers */
		if (cursor_due(s))
			publish_cursor(s);
		err = read_one(s, &rec);
		err = err == 1 ? 0 : -SHMQ_EAGAIN;
	}
	publish_cursor(s);
	if (n)
		return (int)n;
	return err;
}

SHMQ_EXPORT int shmq_sub_skip(struct shmq_sub *s, uint64_t *lost)
{
	struct log_cursor to;
	uint64_t from;
	int err;

	if (!s)
		return -SHMQ_EINVAL;
	if (s->pat)
		return pattern_skip(s->pat, lost);
	release_held(s);
	from = s->cur.pos;
	err = log_skip(&s->m.v, &s->cur, &to);
	if (err)
		return err;
	skip_to(s, &to);
	publish_cursor(s);
	if (lost)
		*lost = to.pos > from ? to.pos - from : 0;
	return 0;
}

SHMQ_EXPORT int shmq_sub_fd(const struct shmq_sub *s)
{
	if (!s)
		return -SHMQ_EINVAL;
	if (s->pat)
		return pattern_fd(s->pat);
	return s->wait_mode == SHMQ_WAIT_EVENTFD && s->efd >= 0 ? s->efd : -SHMQ_ESTATE;
}

SHMQ_EXPORT void shmq_sub_stats(const struct shmq_sub *s, struct shmq_sub_stats *out)
{
	struct shmq_sub_counts all;

	if (s && out && s->pat) {
		pattern_counts(s->pat, &all);
		*out = (struct shmq_sub_stats){all.received, all.lost_overrun, all.lost_abandoned,
					       all.expired};
	} else if (s && out) {
		*out = s->st;
		out->expired = s->exp.count;
	}
}

SHMQ_EXPORT void shmq_sub_counts(const struct shmq_sub *s, struct shmq_sub_counts *out)
{
	if (s && out && s->pat)
		pattern_counts(s->pat, out);
	else if (s && out)
		*out = (struct shmq_sub_counts){.received = s->st.received,
						.lost_overrun = s->st.lost_overrun,
						.lost_abandoned = s->st.lost_abandoned,
						.filtered = s->filtered,
						.expired = s->exp.count};
}

SHMQ_EXPORT int shmq_sub_deliver_expired(struct shmq_sub *s, int on)
{
	if (!s)
		return -SHMQ_EINVAL;
	if (s->pat)
		pattern_deliver_expired(s->pat, on != 0);
	else
		s->exp.deliver = on != 0;
	return 0;
}

SHMQ_EXPORT uint64_t shmq_sub_position(const struct shmq_sub *s)
{
	if (!s || s->pat)
		return 0;
	return s->holding ? s->last.pos + 1 : s->cur.pos;
}

SHMQ_EXPORT int shmq_sub_set_filter(struct shmq_sub *s, const struct shmq_filter *filter)
{
	struct filter *f = NULL;
	int err;

	if (!s)
		return -SHMQ_EINVAL;
	if (filter) {
		err = filter_build(filter, &f);
		if (err)
			return err;
	}
	if (s->pat)
		return pattern_set_filter(s->pat, f);
	filter_free(s->filter);
	s->filter = f;
	return 0;
}

struct shmq_sub *sub_wrap_pattern(struct pattern *p)
{
	struct shmq_sub *s = calloc(1, sizeof(*s));

	if (s) {
		s->pat = p;
		s->efd = -1;
	}
	return s;
}

struct pattern *sub_pattern(const struct shmq_sub *s)
{
	return s ? s->pat : NULL;
}

void sub_take_filter(struct shmq_sub *s, struct filter *f)
{
	filter_free(s->filter);
	s->filter = f;
}

int sub_wake_fd(const struct shmq_sub *s)
{
	return s->efd;
}

int sub_recv_member(struct shmq_sub *s, struct shmq_msg *msg, void *buf, size_t len, bool copy,
		    bool arm)
{
	uint32_t mode = s->wait_mode;
	int err;

	/* timeout 0 in spin mode looks and returns; in event fd mode it also
	 * arms the wake socket, which costs a membarrier(): only before a sleep */
	if (!arm)
		s->wait_mode = SHMQ_WAIT_SPIN;
	err = copy ? shmq_recv_copy(s, buf, len, msg, 0) : shmq_recv(s, msg, 0);
	s->wait_mode = mode;
	return err;
}
