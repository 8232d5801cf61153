/*
 * watchdog.c - the daemon's watch over readers (see watchdog.h): it wakes
 * readers left asleep with messages waiting, finds readers stuck at a
 * record they cannot parse, and cuts them forward when an operator asks.
 * A reader's cursor is its own word, bounded here by the tail and the
 * oldest record: a hostile reader can only earn itself wake-ups. Main
 * thread only, from registry_tick() and the control socket.
 */
#include "watchdog.h"

#include "logmsg.h"
#include "shmq_types.h"
#include "wait.h"

/*
 * The watchdog: a reader whose cursor stands still below the tail for a
 * tick may be asleep with messages waiting, because its waker died
 * between taking the wake and giving it, or because a client scribbled on
 * the wake segment. Wake it then, and again every WATCH_REPEAT_TICKS while
 * it stays so. A reader that is merely busy gets a spurious wake-up at
 * most that often. The cursor is the reader's own word, bounded here by
 * the tail: a hostile reader can only earn itself wake-ups.
 */
#define WATCH_REPEAT_TICKS 10u

void watchdog_wake_readers(struct channel *ch)
{
	/* acquire; pairs with the tail moves. */
	uint64_t tail = atomic_load_explicit(&ch->v.data->tail_bytes, memory_order_acquire);
	unsigned nudged = 0;
	bool futex = false;

	for (unsigned i = 0; i < MAX_READERS; i++) {
		struct reader_watch *w = &ch->watch[i];
		uint64_t b;

		if (!ch->reader_client[i] || !ch->peers.readers[i])
			continue;
		/* relaxed: a hint; whatever it says costs one wake-up at most. */
		b = atomic_load_explicit(&ch->peers.readers[i]->bytes, memory_order_relaxed);
		if (b >= tail || b != w->bytes) {
			*w = (struct reader_watch){b, 0, 0};
			continue;
		}
		if (w->still_ticks++ % WATCH_REPEAT_TICKS)
			continue;
		nudged++;
		if (ch->efds[i] >= 0)
			wait_fd_signal(ch->efds[i]); /* never blocks, whoever set the flags */
		else
			futex = true;
	}
	if (futex) {
		/* release, as in log_wake(). */
		atomic_fetch_add_explicit(&ch->v.wake->wake_seq, 1, memory_order_release);
		wait_wake(&ch->v.wake->wake_seq, INT32_MAX);
	}
	if (nudged)
		/* relaxed: a statistic. */
		atomic_fetch_add_explicit(&channel_ctl_rw(ch)->wakeups, nudged,
					  memory_order_relaxed);
}

/*
 * Bad records. A publisher may forge a record (publishers are trusted with
 * content, not with liveness): a PAD or given-up span that lands a reader
 * inside another record, where no commit word will ever appear, or words
 * no honest peer writes. A reader whose cursor stood still below the tail
 * for BAD_STILL_NS (and twice stuck_ms: a stalled claim is given up by
 * then) where the log cannot be read on, and no claim younger than that
 * covers it, is at a bad record: say so once in the log, count it in
 * ctl->bad_readers, and mark its entry so that it gets -SHMQ_ECORRUPT
 * (libshmq reads the mark only when it finds nothing to read).
 */
#define BAD_STILL_NS 1000000000ull

/* Does a claim in progress, seen for less than young_ns, cover byte b? */
static bool claim_covers(const struct channel *ch, uint64_t b, uint64_t now_ns, uint64_t young_ns)
{
	for (unsigned j = 0; j < MAX_PUBS; j++) {
		const struct pub_entry *p = ch->peers.pubs[j];
		const struct log_pub_watch *w = &ch->rep.pubs[j];
		uint64_t cb, ce;

		if (!ch->pub_pid[j] || !p ||
		    /* acquire; pairs with the publisher's release of its intent. */
		    atomic_load_explicit(&p->claim_state, memory_order_acquire) == PUB_IDLE)
			continue;
		/* relaxed: ordered by the acquire above; a hint bounded below. */
		cb = atomic_load_explicit(&p->claim_bytes, memory_order_relaxed);
		ce = atomic_load_explicit(&p->claim_end, memory_order_relaxed);
		if (cb <= b && b < ce && (w->claim_bytes != cb || now_ns - w->since_ns < young_ns))
			return true;
	}
	return false;
}

/* Is reader i at a bad record now? *at: its cursor. */
static bool reader_at_bad(const struct channel *ch, unsigned i, uint64_t now_ns, uint64_t young_ns,
			  struct log_cursor *at)
{
	struct log_cursor cur, t;
	struct log_rec rec;
	int r;

	if (!log_cursor_load(ch->peers.readers[i], at))
		return false;
	log_tail_cursor(&ch->v, &t);
	if (at->bytes > t.bytes) /* the tail moved back: a publisher did it */
		return true;
	if (at->bytes == t.bytes)
		return false;
	cur = *at;
	r = log_read(&ch->v, &cur, &rec); /* on a copy: reads, never writes */
	if (r < 0)
		return true;
	return r == 0 && cur.bytes < t.bytes && !claim_covers(ch, cur.bytes, now_ns, young_ns);
}

static void bad_found(struct channel *ch, unsigned i, const struct log_cursor *at)
{
	const struct ctl_slot *sl = &ch->v.rslots[i];
	unsigned suppressed;

	/* relaxed: the reader compares it with its own cursor, a hint. */
	atomic_store_explicit(&ch->peers.readers[i]->bad_bytes, at->bytes + 1,
			      memory_order_relaxed);
	if (log_rate_allow(&ch->bad_rate, &suppressed))
		log_msg(LOG_WARN, "registry",
			"reader at a bad record channel=%s slot=%u pid=%u offset=%llu bytes=%llu "
			"(it gets SHMQ_ECORRUPT; shmq repair cuts it forward) suppressed=%u",
			ch->name, i,
			/* relaxed: the daemon's own word */
			atomic_load_explicit(&sl->owner_pid, memory_order_relaxed),
			(unsigned long long)at->pos, (unsigned long long)at->bytes, suppressed);
}

/* ctl->bad_readers: the readers found at a bad record now. */
static void bad_count_store(struct channel *ch)
{
	uint32_t found = 0;

	for (unsigned i = 0; i < MAX_READERS; i++)
		found += ch->bad[i].found;
	/* relaxed: a statistic for monitors, one writer. */
	if (atomic_load_explicit(&ch->v.ctl->bad_readers, memory_order_relaxed) != found)
		atomic_store_explicit(&channel_ctl_rw(ch)->bad_readers, found,
				      memory_order_relaxed);
}

void watchdog_find_bad(struct channel *ch, uint64_t now_ns, uint64_t stuck_ns)
{
	uint64_t young = 2 * stuck_ns > BAD_STILL_NS ? 2 * stuck_ns : BAD_STILL_NS;

	for (unsigned i = 0; i < MAX_READERS; i++) {
		struct reader_bad *b = &ch->bad[i];
		struct log_cursor at;
		uint64_t bytes;

		if (!ch->reader_client[i] || !ch->peers.readers[i]) {
			*b = (struct reader_bad){0};
			continue;
		}
		/* relaxed: a hint; reader_at_bad() loads the pair properly. */
		bytes = atomic_load_explicit(&ch->peers.readers[i]->bytes, memory_order_relaxed);
		if (bytes != b->bytes || !b->since_ns)
			*b = (struct reader_bad){.bytes = bytes, .since_ns = now_ns};
		if (!b->found && now_ns - b->since_ns >= young &&
		    reader_at_bad(ch, i, now_ns, young, &at) && at.bytes == bytes) {
			b->found = true;
			bad_found(ch, i, &at);
			channel_wake_all(ch); /* so that a sleeping reader learns it now */
		}
	}
	bad_count_store(ch);
}

/* Move reader i, found at a bad record, forward; the messages it passes. */
static uint64_t reader_cut(struct channel *ch, unsigned i)
{
	struct reader_entry *e = ch->peers.readers[i];
	struct log_cursor at, to;

	if (!log_cursor_load(e, &at) || at.bytes != ch->bad[i].bytes)
		return UINT64_MAX;
	if (log_skip(&ch->v, &at, &to))
		log_tail_cursor(&ch->v, &to);
	if (to.bytes == at.bytes || to.bytes % REC_ALIGN)
		return UINT64_MAX; /* a tail no honest publisher left: nothing to trust */
	/* seq_cst, as a block reader's own store: publishers bound their
	 * claims by it (pairs with the acquire in log_reader_limit()). The
	 * reader stores its cursor again only once it moved, which it does
	 * by taking this one. */
	log_cursor_store(e, &to, true);
	/* relaxed: the reader compares it with its cursor. */
	atomic_store_explicit(&e->bad_bytes, 0, memory_order_relaxed);
	/* release; pairs with the acquire in daemon_marks() (libclient/sub.c):
	 * a reader that sees the new seq sees the cursor above. */
	atomic_fetch_add_explicit(&e->cut_seq, 1, memory_order_release);
	ch->bad[i] = (struct reader_bad){.bytes = to.bytes};
	return to.pos > at.pos ? to.pos - at.pos : 0;
}

uint32_t watchdog_repair(struct channel *ch, const char *by, uint64_t *skipped)
{
	uint32_t n = 0;

	*skipped = 0;
	for (unsigned i = 0; i < MAX_READERS; i++) {
		uint64_t lost;

		if (!ch->reader_client[i] || !ch->peers.readers[i] || !ch->bad[i].found)
			continue;
		lost = reader_cut(ch, i);
		if (lost == UINT64_MAX)
			continue;
		n++;
		*skipped += lost;
	}
	log_msg(LOG_WARN, "registry", "repair channel=%s readers_cut=%u messages_skipped=%llu %s",
		ch->name, n, (unsigned long long)*skipped, by);
	bad_count_store(ch);
	if (n) {
		channel_wake_publishers(ch);
		channel_wake_all(ch);
	}
	return n;
}
