/*
 * log.h - the channel log (format v3): a byte ring of variable-length
 * records shared by many publishers (or one exclusive publisher) and many
 * readers. See docs/ARCHITECTURE.md "Records" and "Publishing".
 *
 * Publishers: log_claim()/log_claimv() reserve records by moving the tail
 * (one 16-byte CAS among many publishers, plain stores for an exclusive
 * one); the caller writes payloads in place and log_commit()/log_commitv()
 * make them visible with one release store each (a batch: the first record
 * last, so it appears whole or not at all), or log_abort() gives them up.
 * Readers: log_read() looks at a cursor and reports a record, nothing yet,
 * the messages lost before the next readable one (overrun, abandoned), or
 * a record no honest publisher writes; log_skip() goes past that.
 * The daemon: log_repair_step() gives up claims of dead or stalled
 * publishers. Any thread may call these on its own cursor or publisher
 * state; a log_view is immutable after log_attach(). Nothing here sleeps;
 * the only system call is membarrier() (wait.c) in log_sleep_fence().
 */
#ifndef SHM_LOG_H
#define SHM_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"
#include "shmq_err.h"
#include "shmq_types.h"
#include "wait.h"

/*
 * SHMQ_COUNTERS 0 (meson -Dcounters=false) compiles the counter stores of
 * the message path out: publishers' messages, bytes and largest message,
 * readers' received and lost counts in the entry and their latency
 * samples. The layout stays the same; monitors then read zeros.
 */
#ifndef SHMQ_COUNTERS
#define SHMQ_COUNTERS 1
#endif

/* Geometry of a channel, computed from the user's settings. */
struct log_geometry {
	uint64_t ring_bytes;
	uint32_t max_message_bytes;
	uint32_t max_record_bytes;
	uint32_t policy;
	uint32_t pub_mode;
	uint32_t flags;	       /* DATA_F_* */
	uint32_t dedupe_slots; /* its duplicate table's slots (dedupe.h), 0: none */
	uint64_t data_bytes;   /* size of the data segment */
	uint64_t ctl_bytes;    /* size of the control segment */
};

/* A process-local, validated picture of an attached channel. */
struct log_view {
	struct data_hdr *data;	       /* read-only mapping for all but publishers */
	const struct ctl_hdr *ctl;     /* the daemon's; read-only for clients */
	const struct ctl_slot *rslots; /* reader slots, in ctl */
	const struct ctl_slot *pslots; /* publisher slots, in ctl */
	struct wake_hdr *wake;	       /* read-only mapping for monitors */
	uint8_t *ring;
	uint64_t ring_bytes;
	uint64_t mask;
	uint64_t key;
	uint64_t chunk_bytes;
	uint64_t channel_id;
	uint64_t base_pos;
	uint32_t ring_shift;
	uint32_t max_message_bytes;
	uint32_t max_record_bytes;
	uint32_t policy;
	uint32_t pub_mode;
	uint32_t flags;
	/* reader slots [0, held_readers) hold publishers back: all of them on
	 * a block channel, the journal's (slot 0) alone on a journaled drop
	 * channel, none otherwise */
	uint32_t held_readers;
	uint32_t journal; /* FEAT_INCOMPAT_JOURNAL: a durable channel */
};

/* A durable channel whose journal failed for good: its claims get -SHMQ_EIO. */
static inline bool log_journal_failed(const struct log_view *v)
{
	/* relaxed: a state word of the daemon's; a claim that passes it just
	 * before the failure is one the journal never confirms */
	return v->journal &&
	       atomic_load_explicit(&v->ctl->journal_state, memory_order_relaxed) == JOURNAL_FAILED;
}

/*
 * The entry segments of a channel's readers and publishers that this
 * process has mapped, each with the slot generation it was mapped at; NULL
 * where none. The daemon maps them all; a publisher what its bounds need.
 */
struct log_peers {
	struct reader_entry *readers[MAX_READERS];
	struct pub_entry *pubs[MAX_PUBS];
	uint32_t rgen[MAX_READERS];
	uint32_t pgen[MAX_PUBS];
};

/* A reader's place: the next record's message number and byte position. */
struct log_cursor {
	uint64_t pos;
	uint64_t bytes;
};

/* What log_read() found. */
struct log_rec {
	const uint8_t *data; /* payload */
	const uint8_t *ext;  /* extension area (shm/ext.h), or NULL */
	uint32_t len;
	uint32_t ext_bytes;
	uint32_t rec_bytes; /* the record's size in the ring */
	uint32_t flags;	    /* REC_F_* */
	uint64_t pos;
	uint64_t bytes; /* the record's byte position */
	uint64_t timestamp_ns;
	uint64_t lost;	    /* messages skipped before this record */
	uint64_t abandoned; /* of those, abandoned by their publisher */
};

/* A publisher's private state. Zero it, then log_pub_init(). */
struct log_pub {
	struct pub_entry *me; /* the daemon-assigned entry, or NULL (repair by timeout only) */
	const struct ctl_slot *slot;   /* its slot in ctl (cut_bytes), or NULL */
	const struct log_peers *peers; /* others' entries, for the bounds */
	uint32_t idx;		       /* our slot */
	uint32_t max_len;	       /* largest payload stored in me->max_len */
	uint64_t published;	       /* what me->published holds (we are its one writer) */
	uint64_t published_bytes;      /* what me->published_bytes holds */
	uint64_t limit;		       /* block policy: cached bound on the claim end */
	uint64_t claims_limit;	       /* cached: a ring past the oldest claim in progress */
	uint64_t readers_gen;	       /* ctl->readers_gen when limit was cached */
	struct log_cursor tail;	       /* exclusive mode: the tail it owns */
	bool exclusive;
	bool fence;    /* no membarrier: a full fence after each commit */
	bool stale_ok; /* claims bound by the publishers mapped, though the daemon lists more */
};

/* What log_claim()/log_claimv() reserved. */
struct log_claim {
	struct log_cursor at; /* the first record */
	uint64_t end;	      /* byte position after the last record */
	uint64_t start;	      /* where the claim starts (a PAD before at.bytes, if any) */
	uint32_t count;	      /* records */
	uint32_t pad;
};

int log_geometry_make(uint64_t capacity_bytes, uint32_t max_message_bytes, uint32_t policy,
		      uint32_t pub_mode, uint32_t flags, struct log_geometry *out);

/* Format fresh (zeroed) data and control segments. key: random, non-zero. */
int log_format(void *data, void *ctl, const struct log_geometry *g, const char *name,
	       uint64_t channel_id, uint64_t base_pos, uint64_t key);

/* The three mapped segments of a channel and their sizes. */
struct log_segs {
	void *data;
	uint64_t data_bytes;
	const void *ctl;
	uint64_t ctl_bytes;
	void *wake;
	uint64_t wake_bytes;
};

/*
 * Validate the headers and fill v. Geometry is read once, here.
 * -SHMQ_EVERSION (another layout, or an incompatible feature we do not
 * know: *unknown_incompat, if not NULL, gets its bits), -SHMQ_ECORRUPT.
 */
/*
 * Look at the headers of an attached view again (a publisher may have
 * scribbled on the data header since): 0, -SHMQ_ECORRUPT, -SHMQ_EVERSION.
 */
int log_recheck(const struct log_view *v, uint64_t data_bytes, uint64_t ctl_bytes);

int log_attach(struct log_view *v, const struct log_segs *segs, uint32_t *unknown_incompat);

/* Largest batch span: a quarter ring, and what a commit word's units hold. */
static inline uint64_t log_max_span(const struct log_view *v)
{
	uint64_t cap = (uint64_t)1 << 28;

	return v->ring_bytes / 4 < cap ? v->ring_bytes / 4 : cap;
}

static inline struct rec_hdr *log_rec_at(const struct log_view *v, uint64_t bytes)
{
	return (struct rec_hdr *)(v->ring + (bytes & v->mask));
}

/* ---- publishing ---- */

/*
 * Prepare p for slot idx with its entry me (NULL: no entry, repair by
 * timeout only) and the peers its bounds read: exclusive mode loads the
 * tail it will own.
 */
void log_pub_init(const struct log_view *v, struct log_pub *p, uint32_t idx, struct pub_entry *me,
		  const struct log_peers *peers, bool have_membarrier);

/*
 * Reserve one record of len payload and ext extension bytes. Returns 0 and
 * c, -SHMQ_ETOOBIG, -SHMQ_EFULL (block policy: no space; or a stalled
 * claim a ring ago holds the space), -SHMQ_ESTATE (a reader or publisher
 * slot is active whose entry p->peers lacks: map it, then retry),
 * -SHMQ_ECORRUPT.
 */
int log_claim(const struct log_view *v, struct log_pub *p, uint32_t len, uint32_t ext,
	      struct log_claim *c);

/*
 * Reserve n records (lens[i] payload bytes, exts[i] extension bytes, exts
 * may be NULL) contiguously with one tail move. -SHMQ_EINVAL if n is 0 or
 * above MAX_BATCH, -SHMQ_ETOOBIG if a record or the batch (ring / 4) is too
 * large; else as log_claim().
 */
int log_claimv(const struct log_view *v, struct log_pub *p, const uint32_t *lens,
	       const uint32_t *exts, unsigned n, struct log_claim *c);

/* Byte position of record i of a claim made with these sizes. */
uint64_t log_claim_rec_bytes(const struct log_claim *c, const uint32_t *lens, const uint32_t *exts,
			     unsigned i);

/* Where the payload (after ext extension bytes) of the record at bytes goes. */
static inline uint8_t *log_payload(const struct log_view *v, uint64_t bytes, uint32_t ext)
{
	return v->ring + (bytes & v->mask) + REC_HDR_BYTES + ext;
}

/*
 * Publish a one-record claim with len payload bytes (<= claimed) and ext
 * extension bytes (as claimed; the caller wrote them). Returns 1 if a reader
 * went to sleep since the last wake and the caller must now call log_wake(),
 * 0 if not, -SHMQ_EABANDONED if the daemon gave the claim up first (it
 * then stores ABANDONED there itself: readers count the claim lost).
 */
int log_commit(const struct log_view *v, struct log_pub *p, const struct log_claim *c, uint32_t len,
	       uint32_t ext, uint64_t timestamp_ns);

/* Publish a batch claim: all records appear at once. Returns as log_commit(). */
int log_commitv(const struct log_view *v, struct log_pub *p, const struct log_claim *c,
		const uint32_t *lens, const uint32_t *exts, uint64_t timestamp_ns);

/* Give a claim up: readers count its records as lost. Returns as log_commit(). */
int log_abort(const struct log_view *v, struct log_pub *p, const struct log_claim *c);

/*
 * *limit = the oldest claim in progress of another publisher (or
 * tail_bytes) + ring_bytes. -SHMQ_ESTATE if an active publisher's entry
 * is not in peers at its generation; *limit then counts those that are.
 */
int log_claims_limit(const struct log_view *v, const struct log_peers *peers, uint32_t self,
		     uint64_t tail_bytes, uint64_t *limit);

/*
 * *limit = the lowest byte position of the active readers that hold
 * publishers (v->held_readers) + ring_bytes; as above.
 */
int log_reader_limit(const struct log_view *v, const struct log_peers *peers, uint64_t tail_bytes,
		     uint64_t *limit);

/* Is slot s active with a generation other than gen (a stale or missing mapping)? */
bool log_slot_stale(const struct ctl_slot *s, uint32_t gen, bool mapped);

/* Callback that fills efds[MAX_READERS] on first need (may leave -1s). */
typedef void (*log_efds_fn)(void *arg);

/*
 * Wake every sleeping reader: bump wake_seq and FUTEX_WAKE it, then signal
 * the event fd of each reader below ctl->readers_hi that armed one (efds[i],
 * fetched through need_efds the first time one is armed; *have_efds
 * remembers that).
 */
void log_wake(const struct log_view *v, int *efds, bool *have_efds, log_efds_fn need_efds,
	      void *arg);

/* Clear reader slot idx's armed/asleep mark, fixing the sleeper count. */
void log_reader_unmark(const struct log_view *v, uint32_t idx, uint32_t mark);

/*
 * A reader about to sleep, after it set wake_needed and before its last
 * look: make every publisher's commit store ordered with its wake_needed
 * load (membarrier). Returns false if that is not possible here: the caller
 * then bounds its sleep.
 */
bool log_sleep_fence(void);

/* Register this process as a publisher for log_sleep_fence(). */
bool log_pub_register(void);

/*
 * A publish timestamp: CLOCK_REALTIME ns from the time-stamp counter and
 * the calibration the daemon keeps in the data header (one counter read,
 * no system call, the same in every process), or from the clock itself
 * where the daemon found no usable counter.
 */
static inline uint64_t log_timestamp(const struct log_view *v)
{
	const struct data_hdr *d = v->data;

	for (unsigned i = 0; i < 4; i++) {
		/* acquire; pairs with the release in log_cal_store(). */
		uint32_t s1 = atomic_load_explicit(&d->cal_seq, memory_order_acquire);
		/* relaxed: validated by the seq re-read after the fence. */
		uint64_t tb = atomic_load_explicit(&d->cal_tsc_base, memory_order_relaxed);
		uint64_t nb = atomic_load_explicit(&d->cal_ns_base, memory_order_relaxed);
		uint64_t mult = atomic_load_explicit(&d->cal_mult, memory_order_relaxed);
		uint64_t tsc;

		atomic_thread_fence(memory_order_acquire);
		if ((s1 & 1) || atomic_load_explicit(&d->cal_seq, memory_order_relaxed) != s1)
			continue;
		if (!mult)
			break;
		tsc = wait_tsc();
		if (tsc < tb) /* another CPU's counter a hair behind the base */
			return nb;
		return nb + (uint64_t)((unsigned __int128)(tsc - tb) * mult >> 32);
	}
	return wait_realtime_ns();
}

/* The daemon: publish a calibration (mult 0: publishers use the clock). */
void log_cal_store(const struct log_view *v, uint64_t tsc_base, uint64_t ns_base, uint64_t mult);

/* ---- reading ---- */

/*
 * Look at cur. Returns 1 with rec filled (cur unchanged: log_advance()
 * after use), 0 if nothing is ready, -SHMQ_ECORRUPT if the record at cur
 * (or a PAD or given-up record before it) is none an honest publisher
 * writes: cur stays at it, log_skip() goes past. Lost messages
 * (overrun, abandoned) and padding are skipped: cur moves past them and
 * rec->lost counts the messages, also when 0 is returned.
 */
int log_read(const struct log_view *v, struct log_cursor *cur, struct log_rec *rec);

static inline void log_advance(struct log_cursor *cur, const struct log_rec *rec)
{
	cur->pos = rec->pos + 1;
	cur->bytes = rec->bytes + rec->rec_bytes;
}

/*
 * Skip to the next record boundary a reader can trust, past a record at
 * cur it cannot parse: the first chunk start after cur.bytes that the
 * tail has passed, whose chunk index entry lies between cur and the tail
 * and points at a record of its lap (a message carrying the entry's
 * number); if the tail passed chunk starts but none of their entries is
 * to be trusted, or stands below cur (a publisher moved it back), the
 * tail. The messages skipped are out->pos - cur->pos (none if the tail's
 * number moved back too). 0 and *out; -SHMQ_EAGAIN if the tail has not
 * passed a chunk start past cur yet (on a block channel publishers may go
 * a ring past the reader, so they pass one as they publish);
 * -SHMQ_ECORRUPT if the tail is no record boundary.
 */
int log_skip(const struct log_view *v, const struct log_cursor *cur, struct log_cursor *out);

/* True if the record read by log_read() was not overwritten since. */
bool log_verify(const struct log_view *v, const struct log_rec *rec);

/* True if a record is (or will soon be) ready at cur: claimed bytes. */
static inline bool log_pending(const struct log_view *v, const struct log_cursor *cur)
{
	/* acquire; pairs with the tail move in log_claim(): a hint only */
	return cur->bytes < atomic_load_explicit(&v->data->tail_bytes, memory_order_acquire);
}

/* The tail as one consistent (pos, bytes) pair. */
void log_tail_cursor(const struct log_view *v, struct log_cursor *out);

/* The message number the next record gets (may run ahead of the pair). */
uint64_t log_tail(const struct log_view *v);

/*
 * The oldest record boundary still intact that the chunk index knows, at or
 * after the tail minus the ring; the tail if none.
 */
void log_oldest(const struct log_view *v, struct log_cursor *out);

/* ---- reader cursor in shared memory ---- */

/*
 * Store the pair under cur_seq; order as given. The owning reader, and the
 * daemon when it cuts a reader that stands still at a bad record (the
 * reader stores again only after it moved).
 */
void log_cursor_store(struct reader_entry *r, const struct log_cursor *cur, bool seq_cst);

/* Load a consistent pair; false if the writer kept changing it. */
bool log_cursor_load(const struct reader_entry *r, struct log_cursor *out);

/* ---- daemon (repair.c) ---- */

/* The daemon's private memory of one publisher entry. */
struct log_pub_watch {
	uint64_t claim_bytes; /* claim seen */
	uint32_t claim_state;
	uint32_t cut;  /* 1: given up or marked (its slot's cut_bytes, which survives a restart) */
	uint32_t stop; /* 1: inside its commit past stuck_ns, or not safely cut: report it */
	uint32_t pad;
	uint64_t since_ns; /* when this claim, in this state, was first seen */
};

/* A claim whose publisher is gone while another entry named the same start. */
struct log_orphan {
	uint64_t bytes, end, pos;
	uint32_t count;
	uint32_t state; /* its claim_state; 0: slot free */
};

struct log_repair {
	struct ctl_hdr *ctl;	     /* the daemon's writable mapping of ctl */
	struct ctl_slot *ctl_pslots; /* its publisher slots (cut_bytes) */
	struct log_pub_watch pubs[MAX_PUBS];
	struct log_orphan orphans[MAX_PUBS];
};

/* What a repair step did. */
struct log_repair_out {
	unsigned abandoned;	      /* claims given up */
	uint32_t stall_pid[MAX_PUBS]; /* live publishers whose abandoned claim nears the wrap */
	unsigned nstall;
};

typedef bool (*log_pid_alive_fn)(uint32_t pid, void *arg);

/*
 * Give up claims whose publisher died between claim and commit, or that
 * stayed claimed longer than stuck_ns. Publishers never claim a ring past
 * a claim in progress, so an abandoned claim whose publisher still lives
 * holds them back a ring later: its publisher is reported (stall_pid) when
 * the tail comes within a quarter ring of that, and the caller stops it. pids[i] is the owner the
 * daemon assigned to entry i, 0 for a free entry. Call periodically, and at once when a publisher
 * exits (alive() then says false for it).
 */
void log_repair_step(const struct log_view *v, const struct log_peers *peers,
		     struct log_repair *rep, const uint32_t *pids, uint64_t now_ns,
		     uint64_t stuck_ns, log_pid_alive_fn alive, void *arg,
		     struct log_repair_out *out);

/*
 * Entry idx's publisher is gone (closed its handle or died): give up the
 * claim it left open now, or, while another entry names the same start
 * (one of the two lost the tail move, and which is not known yet), keep
 * it to settle in later steps; the caller may free the entry. True if a
 * claim was given up now.
 */
bool log_repair_gone(const struct log_view *v, const struct log_peers *peers,
		     struct log_repair *rep, const uint32_t *pids, unsigned idx);

/*
 * Would entry idx's claim be left open if its publisher went now? True
 * for a claim the tail has passed whose entry says CLAIMING while another
 * live entry (pids) names the same start. The daemon then keeps the entry
 * and its slot until this is false, so that the claim is settled from
 * shared memory, also by a daemon restarted meanwhile.
 */
bool log_repair_open_orphan(const struct log_view *v, const struct log_peers *peers,
			    const uint32_t *pids, unsigned idx);

/* Forget a publisher entry's watch (the daemon freed or assigned it). */
void log_repair_forget(struct log_repair *rep, unsigned idx);

#endif
