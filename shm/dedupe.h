/*
 * dedupe.h - the duplicate table of a channel with FEAT_INCOMPAT_DEDUPE
 * (docs/ARCHITECTURE.md, "Dedupe"): which message ids were published
 * within the window, checked by a publisher before its tail move.
 * Publishers map the table read-write, so every one of them may scribble
 * on it: each pair is loaded once, a slot index and the original's
 * offset are bounded by the caller, and a forged slot can only make an id
 * pass again or be refused on that channel. A slot's {msg_id, word} move
 * together by one 16-byte CAS; pos and time_ns are written by the
 * reservation's owner before its CAS to COMMITTED (release) and re-checked
 * against the pair after they are read. Any thread of any process; no
 * system calls, no locks. The daemon formats a channel's table
 * (daemon/dedupe_seg.c); publishers use it (libclient/dedupe_pub.c).
 */
#ifndef SHM_DEDUPE_H
#define SHM_DEDUPE_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define DEDUPE_VERSION 1u
#define DEDUPE_PROBE 16u     /* slots one id may take: its hash and 15 triangular steps on */
#define DEDUPE_SLOTS_MIN 16u /* a table holds at least one probe run */
#define DEDUPE_SLOTS_MAX (1u << 24u) /* 512 MiB of slots */

/* dedupe_slot.word */
#define DEDUPE_FREE 0u
#define DEDUPE_RESERVED 1u
#define DEDUPE_COMMITTED 2u
#define DEDUPE_RELEASED                                                                            \
	3u /* given back: reusable, but not FREE (never used), which ends a scan                   \
	    */
#define DEDUPE_STATE(w) ((uint32_t)(w)&3u)
#define DEDUPE_OWNER_SLOT(w) ((uint32_t)((w) >> 8) & 0xffu)
#define DEDUPE_OWNER_GEN(w) ((uint32_t)((w) >> 32))
#define DEDUPE_WORD_RESERVED(slot, gen)                                                            \
	((uint64_t)(gen) << 32 | (uint64_t)((slot)&0xffu) << 8 | DEDUPE_RESERVED)

/* A publisher's name in the table: its publisher slot and that slot's generation. */
struct dedupe_owner {
	uint32_t slot;
	uint32_t gen;
};

/* Is the publisher slot's owner still the one of that generation (the control segment says)? */
typedef bool (*dedupe_live_fn)(void *arg, struct dedupe_owner who);

/* A table as one process sees it: geometry copied and checked once. */
struct dedupe_view {
	struct dedupe_hdr *hdr;
	struct dedupe_slot *slots;
	uint32_t mask;
	uint64_t window_ns;
};

/* Bytes of a table of nslots slots. */
uint64_t dedupe_seg_bytes(uint32_t nslots);

/*
 * Format a zeroed segment of bytes (dedupe_seg_bytes(nslots)): nslots a
 * power of two in [DEDUPE_SLOTS_MIN, DEDUPE_SLOTS_MAX], window_ns > 0. The
 * magic is stored last. -SHMQ_EINVAL.
 */
int dedupe_format(void *base, uint64_t bytes, uint64_t channel_id, uint32_t nslots,
		  uint64_t window_ns);

/*
 * Check a mapped table of bytes against channel_id and copy its geometry:
 * 0, -SHMQ_EVERSION (another version), -SHMQ_ECORRUPT (anything else).
 */
int dedupe_attach(struct dedupe_view *v, void *base, uint64_t bytes, uint64_t channel_id);

/*
 * Before the tail moves: reserve id for who, at now_ns. Returns
 *  0: reserved, *at is the slot to pass to dedupe_commit() or _release();
 *  -SHMQ_EDUPLICATE: id was committed less than the window ago: *pos is
 *   the original's offset (the caller bounds it by the tail);
 *  -SHMQ_EAGAIN: a live claim holds id (wait as for space, then again);
 *  -SHMQ_ELIMIT: no slot of id's probe run can be reused ("table full").
 * A reservation of a publisher that live() says is gone, or a commit
 * older than the window, is taken over.
 */
int dedupe_reserve(const struct dedupe_view *v, uint64_t id, struct dedupe_owner who,
		   uint64_t now_ns, dedupe_live_fn live, void *arg, uint32_t *at, uint64_t *pos);

/* The message of the reservation at `at` is committed at offset pos: it counts from now_ns. */
void dedupe_commit(const struct dedupe_view *v, uint32_t at, uint64_t id, struct dedupe_owner who,
		   uint64_t pos, uint64_t now_ns);

/* The claim was given up: free the reservation (if it is still ours). */
void dedupe_release(const struct dedupe_view *v, uint32_t at, uint64_t id, struct dedupe_owner who);

#endif
