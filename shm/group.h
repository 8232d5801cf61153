/*
 * group.h - a consumer group's shared state and its lock-free dispatch
 * (docs/ARCHITECTURE.md "Consumer groups"). A group is one reader slot of
 * its channel, whose cursor pair is the group's floor (all below it is
 * acked or dead), and a group segment: the header below, then max_pending
 * 16-byte pending entries. The daemon formats the segment and writes the
 * settings and the member table; members write the rest, each word with
 * a 16-byte CAS or an atomic add. Members trust each other: a member may
 * corrupt its own group only, and everything read here is bounded.
 * Any thread of a member may call these; nothing here sleeps or makes a
 * system call.
 */
#ifndef SHM_GROUP_H
#define SHM_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"
#include "log.h"

#define GROUP_MAGIC 0x5348514d47525550ull /* "SHQMGRUP" */
#define GROUP_LAYOUT_VERSION 1u
#define GROUP_HDR_BYTES 1024u
#define GROUP_MAX_MEMBERS 32u
#define GROUP_NAME_BYTES 64u
#define GROUP_MAX_PENDING (1u << 20)
#define GROUP_DELIVERIES_MAX 4095u /* the entry's field saturates here */
#define GROUP_SCAN_EVERY 64u	   /* dispatches between two redelivery scans */
#define GROUP_F_DLQ 1u		   /* group_hdr.flags: dead messages are copied to <channel>.dlq */

/* Pending entry states (word bits 63..61). */
enum group_state {
	GS_FREE = 0,	/* never used since the segment was formatted */
	GS_HELD = 1,	/* a member holds it until its deadline */
	GS_DELAYED = 2, /* nacked: anyone may take it after the deadline */
	GS_ACKED = 3,
	GS_DEAD = 4, /* delivered max_deliver times, or given up (shmq_term) */
};

/* Member table states (group_member.state), written by the daemon only. */
enum group_member_state {
	GM_FREE = 0,
	GM_LIVE = 1,
};

/*
 * One message's dispatch state: a pair changed only by 16-byte CAS.
 * word: state (3 bits) | member (5) | mgen (8) | deliveries (12) |
 * deadline (36: ms since group_hdr.epoch_ns).
 */
struct group_pending {
	_Atomic uint64_t pos; /* the message it speaks of; only grows */
	_Atomic uint64_t word;
};
static_assert(sizeof(struct group_pending) == 16, "shm ABI");
static_assert(offsetof(struct group_pending, word) == 8, "shm ABI");

static inline uint64_t group_word(unsigned state, unsigned member, unsigned mgen,
				  unsigned deliveries, uint64_t deadline_ms)
{
	if (deliveries > GROUP_DELIVERIES_MAX)
		deliveries = GROUP_DELIVERIES_MAX;
	return (uint64_t)(state & 7) << 61 | (uint64_t)(member & 31) << 56 |
	       (uint64_t)(mgen & 0xff) << 48 | (uint64_t)deliveries << 36 |
	       (deadline_ms & ((1ull << 36) - 1));
}

static inline unsigned group_word_state(uint64_t w)
{
	return (unsigned)(w >> 61);
}

static inline unsigned group_word_member(uint64_t w)
{
	return (unsigned)(w >> 56) & 31;
}

static inline unsigned group_word_mgen(uint64_t w)
{
	return (unsigned)(w >> 48) & 0xff;
}

static inline unsigned group_word_deliveries(uint64_t w)
{
	return (unsigned)(w >> 36) & 0xfff;
}

static inline uint64_t group_word_deadline(uint64_t w)
{
	return w & ((1ull << 36) - 1);
}

/* A member as the daemon admitted it. */
struct group_member {
	_Atomic uint32_t state; /* enum group_member_state, release */
	_Atomic uint32_t gen;	/* bumped on every admission to this row */
};
static_assert(sizeof(struct group_member) == 8, "shm ABI");

/* Offset 0 of a group segment. */
struct group_hdr {
	_Atomic uint64_t magic; /* GROUP_MAGIC, stored last, release */
	uint32_t version;	/* GROUP_LAYOUT_VERSION */
	uint32_t hdr_bytes;	/* GROUP_HDR_BYTES: the pending table starts here */
	uint64_t seg_bytes;
	uint64_t channel_id;
	uint64_t ack_wait_ns;
	uint32_t max_pending; /* power of two, <= GROUP_MAX_PENDING */
	uint32_t max_deliver; /* UINT32_MAX: never dead */
	uint32_t flags;	      /* SHMQ_GROUP_* */
	uint32_t reader_slot; /* the group's reader slot: its cursor is the floor */
	uint64_t epoch_ns;    /* CLOCK_MONOTONIC at creation; deadlines count ms from it */
	/* the next record to hand out: members move (bytes, pos) by 16-byte CAS */
	alignas(64) _Atomic uint64_t dispatch_bytes;
	_Atomic uint64_t dispatch_pos;
	uint8_t pad1[48];
	alignas(64) _Atomic uint32_t wake_seq; /* members waiting for an ack sleep on it */
	_Atomic uint32_t waiters;	       /* members asleep on wake_seq */
	/* the idle member asleep on the channel: row + 1 | lease end ms << 32; 0 none */
	_Atomic uint64_t watcher;
	_Atomic uint32_t idle_seq;     /* the other idle members sleep on it */
	_Atomic uint32_t idle_waiters; /* members asleep on idle_seq */
	uint8_t pad2[40];
	alignas(64) _Atomic uint64_t delivered; /* deliveries, first and again */
	_Atomic uint64_t redelivered;		/* deliveries after the first */
	_Atomic uint64_t acked;
	_Atomic uint64_t dead;
	_Atomic uint64_t lost; /* overwritten before dispatch or ack (drop) */
	uint8_t pad3[24];
	alignas(64) struct group_member members[GROUP_MAX_MEMBERS]; /* the daemon's */
	alignas(64) char name[GROUP_NAME_BYTES];
	uint8_t pad4[GROUP_HDR_BYTES - 576];
};
static_assert(sizeof(struct group_hdr) == GROUP_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct group_hdr, magic) == 0, "shm ABI");
static_assert(offsetof(struct group_hdr, version) == 8, "shm ABI");
static_assert(offsetof(struct group_hdr, hdr_bytes) == 12, "shm ABI");
static_assert(offsetof(struct group_hdr, seg_bytes) == 16, "shm ABI");
static_assert(offsetof(struct group_hdr, channel_id) == 24, "shm ABI");
static_assert(offsetof(struct group_hdr, ack_wait_ns) == 32, "shm ABI");
static_assert(offsetof(struct group_hdr, max_pending) == 40, "shm ABI");
static_assert(offsetof(struct group_hdr, max_deliver) == 44, "shm ABI");
static_assert(offsetof(struct group_hdr, flags) == 48, "shm ABI");
static_assert(offsetof(struct group_hdr, reader_slot) == 52, "shm ABI");
static_assert(offsetof(struct group_hdr, epoch_ns) == 56, "shm ABI");
static_assert(offsetof(struct group_hdr, dispatch_bytes) == 64, "shm ABI");
static_assert(offsetof(struct group_hdr, dispatch_pos) == 72, "shm ABI");
static_assert(offsetof(struct group_hdr, wake_seq) == 128, "shm ABI");
static_assert(offsetof(struct group_hdr, watcher) == 136, "shm ABI");
static_assert(offsetof(struct group_hdr, idle_seq) == 144, "shm ABI");
static_assert(offsetof(struct group_hdr, idle_waiters) == 148, "shm ABI");
static_assert(offsetof(struct group_hdr, delivered) == 192, "shm ABI");
static_assert(offsetof(struct group_hdr, redelivered) == 200, "shm ABI");
static_assert(offsetof(struct group_hdr, acked) == 208, "shm ABI");
static_assert(offsetof(struct group_hdr, dead) == 216, "shm ABI");
static_assert(offsetof(struct group_hdr, lost) == 224, "shm ABI");
static_assert(offsetof(struct group_hdr, members) == 256, "shm ABI");
static_assert(offsetof(struct group_hdr, name) == 512, "shm ABI");
/* the floor's pair in the group's reader entry, CASed as one */
static_assert(offsetof(struct reader_entry, bytes) == 0 && offsetof(struct reader_entry, pos) == 8,
	      "shm ABI");

/* The settings a group is made with. */
struct group_settings {
	uint64_t ack_wait_ns;
	uint32_t max_pending;
	uint32_t max_deliver;
	uint32_t flags;
	uint32_t reader_slot;
};

/* A member's validated picture of its group. */
struct group_view {
	struct group_hdr *g;
	struct group_pending *pend;
	struct reader_entry *floor; /* the group's reader entry */
	uint64_t ack_wait_ms;
	uint64_t epoch_ns;
	uint32_t mask; /* max_pending - 1 */
	uint32_t max_pending;
	uint32_t max_deliver;
	uint32_t member; /* ours: the row and generation the daemon gave us */
	uint32_t mgen;
	uint32_t flags; /* GROUP_F_* */
};

/* What a take found: the record, and how often it was delivered now. */
struct group_take {
	struct log_rec rec;
	uint32_t deliveries;
	uint32_t dead_letter; /* 1: past max_deliver (GROUP_F_DLQ): copy it, then GSET_TERM */
	uint64_t lost;	      /* messages the dispatch passed as lost on the way */
};

/* Bytes of a group segment of max_pending entries, whole pages. */
uint64_t group_seg_bytes(uint32_t max_pending);

/* Is s acceptable: max_pending a power of two <= GROUP_MAX_PENDING, ack_wait > 0? */
bool group_settings_valid(const struct group_settings *s);

/*
 * The daemon: format a fresh (zeroed) segment of seg_bytes with floor and
 * dispatch at start; the caller stores start into the reader entry too.
 */
int group_format(void *seg, uint64_t seg_bytes, const struct group_settings *s, const char *name,
		 uint64_t channel_id, uint64_t epoch_ns, const struct log_cursor *start);

/*
 * A member: check the header and fill gv. -SHMQ_EVERSION, -SHMQ_ECORRUPT
 * (a header that does not add up, another channel, member out of range).
 */
int group_attach(struct group_view *gv, void *seg, uint64_t seg_bytes, struct reader_entry *floor,
		 uint64_t channel_id, uint32_t member, uint32_t mgen);

/*
 * Take the next message: dispatch it (claim its entry, then advance the
 * dispatch cursor), or with scan first look for one to deliver again
 * (held by a member that is gone, held past its deadline, nacked past its
 * delay). Returns 1 and t; 0 nothing to take; -SHMQ_EFULL: max_pending
 * messages are out (wait for an ack); -SHMQ_ECORRUPT.
 */
int group_take(const struct log_view *v, const struct group_view *gv, bool scan, uint64_t now_ns,
	       struct group_take *t);

/* Look for a message to deliver again only; as group_take(). */
int group_scan(const struct log_view *v, const struct group_view *gv, uint64_t now_ns,
	       struct group_take *t);

/* What a member does with a message it holds. */
enum group_settle {
	GSET_ACK = 0,
	GSET_NACK = 1,	/* DELAYED until now + delay */
	GSET_TERM = 2,	/* DEAD now */
	GSET_TOUCH = 3, /* HELD until now + ack_wait again */
	GSET_GIVE = 4,	/* DELAYED until now: anyone may take it (closing) */
};

/*
 * Settle message pos, which this member must hold: 0, or -SHMQ_ENOTHELD
 * (never held, settled already, or taken by another member since its
 * deadline passed).
 */
int group_settle(const struct group_view *gv, uint64_t pos, unsigned how, uint64_t now_ns,
		 uint64_t delay_ns);

/*
 * Move the floor past the messages acked or dead at its front (at most
 * max steps). Returns how many messages it passed; *moved_to the new floor.
 */
uint64_t group_floor_advance(const struct log_view *v, const struct group_view *gv, unsigned max);

/*
 * The record of message pos, between the floor and dispatch, and the
 * deliveries its entry counts: 1, 0 not there, -SHMQ_ECORRUPT.
 */
int group_find(const struct log_view *v, const struct group_view *gv, uint64_t pos,
	       struct log_rec *rec, uint32_t *deliveries);

/* The floor and dispatch pairs, each read consistently. */
void group_floor_load(const struct group_view *gv, struct log_cursor *out);
void group_dispatch_load(const struct group_view *gv, struct log_cursor *out);

/* Give back everything this member holds (closing). Returns how many. */
uint64_t group_give_back(const struct log_view *v, const struct group_view *gv, uint64_t now_ns);

#endif
