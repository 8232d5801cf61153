/*
 * log.h - the channel log: a ring of fixed-size slots, each holding one
 * variable-length message, shared by many publishers and many readers.
 *
 * Publishers: log_claim() reserves the next pos with a CAS on tail_pos and
 * moves the slot to CLAIMED; the caller writes the payload in place and
 * log_commit() makes it visible (or log_abort() gives it up). Claims are
 * lock-free; a claim waits only for the same slot's previous lap, which the
 * daemon's log_repair_step() bounds.
 * Readers: log_read() looks at one pos and reports a record, nothing yet,
 * or the messages lost before the next readable one (overrun, abandoned).
 * Any thread may call these on its own struct log_view; a view is immutable
 * after log_attach(). Nothing here sleeps or makes a system call.
 */
#ifndef SHM_LOG_H
#define SHM_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"
#include "shmq_err.h"

/* Geometry of a channel, computed from the user's settings. */
struct log_geometry {
	uint64_t nslots;
	uint32_t slot_bytes;
	uint32_t max_message_bytes;
	uint32_t policy;
	uint64_t data_bytes; /* size of the data segment */
	uint64_t ctl_bytes;  /* size of the control segment */
};

/* A process-local, validated picture of an attached channel. */
struct log_view {
	struct data_hdr *data; /* read-only mapping for pure subscribers */
	struct ctl_hdr *ctl;
	struct reader_entry *readers;
	uint8_t *slots;
	uint64_t nslots;
	uint64_t mask;
	uint32_t slot_bytes;
	uint32_t max_message_bytes;
	uint32_t policy;
	uint32_t pad;
	uint64_t channel_id;
};

/* What log_read() found. */
struct log_rec {
	const uint8_t *data;
	uint32_t len;
	uint32_t flags;
	uint64_t pos;
	uint64_t timestamp_ns;
	uint64_t word;      /* slot state seen; log_verify() compares it */
	uint64_t lost;      /* messages skipped before pos */
	uint64_t abandoned; /* of those, abandoned by their publisher */
};

/* The daemon's repair state for one channel. */
struct log_repair {
	uint64_t scan_pos;
	uint64_t stuck_pos;
	uint64_t stuck_word;
	uint64_t stuck_since_ns;
};

int log_geometry_make(uint64_t capacity_bytes, uint32_t max_message_bytes, uint32_t policy,
		      struct log_geometry *out);

/* Format fresh (zeroed) segments. The caller owns both mappings. */
int log_format(void *data, void *ctl, const struct log_geometry *g, const char *name,
	       uint64_t channel_id);

/* Validate the headers and fill v. Geometry is read once, here. */
int log_attach(struct log_view *v, void *data, uint64_t data_bytes, void *ctl,
	       uint64_t ctl_bytes);

static inline struct slot_hdr *log_slot(const struct log_view *v, uint64_t pos)
{
	return (struct slot_hdr *)(v->slots + (pos & v->mask) * (uint64_t)v->slot_bytes);
}

static inline uint8_t *log_payload(const struct log_view *v, uint64_t pos)
{
	return (uint8_t *)log_slot(v, pos) + SLOT_HDR_BYTES;
}

/* ---- publishing ---- */

/*
 * Reserve one pos for a message of len bytes. *limit caches, per publisher,
 * the pos the slowest reader lets us reach (block policy); start it at 0.
 * Returns 0 and *pos, -SHMQ_ETOOBIG, -SHMQ_EFULL (block policy, no space),
 * -SHMQ_EABANDONED (the daemon gave the slot up before we took it: claim
 * again), -SHMQ_ECORRUPT.
 */
int log_claim(const struct log_view *v, uint64_t *limit, uint32_t len, uint32_t pid,
	      uint64_t *pos);

/*
 * Publish the claimed pos with len payload bytes. Returns 1 if a reader went
 * to sleep since the last wake and the caller must now call log_wake() (one
 * caller per sleep gets 1), 0 if not, -SHMQ_EABANDONED if the daemon took
 * the claim.
 */
int log_commit(const struct log_view *v, uint64_t pos, uint32_t len, uint64_t timestamp_ns);

/* Give a claim up; same return values as log_commit(). */
int log_abort(const struct log_view *v, uint64_t pos);

/* Lowest active reader pos + nslots, the block-policy bound for tail. */
uint64_t log_reader_limit(const struct log_view *v, uint64_t tail);

/* Callback that fills efds[MAX_READERS] on first need (may leave -1s). */
typedef void (*log_efds_fn)(void *arg);

/*
 * Wake every sleeping reader: bump wake_seq and FUTEX_WAKE it, then signal
 * the event fd of each reader below ctl->readers_hi that armed one (efds[i], fetched through
 * need_efds the first time one is armed; *have_efds remembers that).
 */
void log_wake(const struct log_view *v, int *efds, bool *have_efds, log_efds_fn need_efds,
	      void *arg);

/* Clear a reader entry's armed/asleep mark, fixing the sleeper count. */
void log_reader_unmark(const struct log_view *v, struct reader_entry *r, uint32_t mark);

/* ---- reading ---- */

/*
 * Look at *pos. Returns 1 with rec filled and *pos left at the record (call
 * log_advance after use), 0 if nothing is ready at *pos, -SHMQ_ECORRUPT.
 * Lost messages (overrun, abandoned) are skipped: *pos moves past them and
 * rec->lost counts them, also when 0 is returned.
 */
int log_read(const struct log_view *v, uint64_t *pos, struct log_rec *rec);

/* True if the record read by log_read() was not overwritten since. */
bool log_verify(const struct log_view *v, const struct log_rec *rec);

/* True if a message is (or will soon be) ready at pos: pos < tail. */
static inline bool log_pending(const struct log_view *v, uint64_t pos)
{
	/* acquire; pairs with the CAS in log_claim(): an ordering hint only */
	return pos < atomic_load_explicit(&v->data->tail_pos, memory_order_acquire);
}

/* Oldest pos that may still hold a message, and the next pos to be claimed. */
uint64_t log_oldest(const struct log_view *v);
uint64_t log_tail(const struct log_view *v);

/* ---- daemon ---- */

typedef bool (*log_pid_alive_fn)(uint32_t pid, void *arg);

/*
 * Abandon slots whose publisher died between claim and commit, or that
 * stayed claimed longer than stuck_ns. Call periodically; examines at most
 * budget slots. Returns the number of slots abandoned.
 */
int log_repair_step(const struct log_view *v, struct log_repair *rep, uint64_t now_ns,
		    uint64_t stuck_ns, unsigned budget, log_pid_alive_fn alive, void *arg);

#endif
