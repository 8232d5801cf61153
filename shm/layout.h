/*
 * layout.h - the shared-memory formats of a channel (format v3). ABI: every
 * offset a peer relies on is asserted below; change LAYOUT_VERSION (or add a
 * feature bit) with any change here and update docs/ARCHITECTURE.md in the
 * same commit.
 *
 * A channel's memory is split by who writes it (docs/ARCHITECTURE.md
 * "Trust"), each part a sealed memfd of the daemon's:
 *  - the data segment: struct data_hdr, then a byte ring of ring_bytes (a
 *    power of two) holding variable-length records. The daemon and
 *    publishers map it read-write, everyone else read-only.
 *  - the control segment (daemon writes, clients read): struct ctl_hdr,
 *    MAX_READERS and MAX_PUBS struct ctl_slot, the reserved group table.
 *  - the wake segment (publishers and subscribers write): struct wake_hdr.
 *  - one entry segment per open handle (its owner writes): a struct
 *    reader_entry (cursor, counters) or a struct pub_entry (claim intent,
 *    counters).
 * A record's "pos" is its message number (its offset, dense, never reused);
 * its "bytes" is its byte position in the ring, 64-bit, never wrapping; its
 * ring index is bytes & (ring_bytes - 1). Both only grow.
 */
#ifndef SHM_LAYOUT_H
#define SHM_LAYOUT_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define DATA_MAGIC 0x5348514d44415441ull /* "SHQMDATA" */
#define CTL_MAGIC 0x5348514d4354524cull	 /* "SHQMCTRL" */
#define LAYOUT_VERSION 3u		 /* the data segment */
#define CTL_LAYOUT_VERSION 4u		 /* the control segment (split by writer) */

/*
 * Feature masks (data_hdr.compat, .incompat). A peer ignores compat bits it
 * does not know; it refuses a channel with an incompat bit it does not know
 * (-SHMQ_EVERSION). v3 defines none of either yet.
 */
#define FEAT_COMPAT_STATS                                                                          \
	0x1u /* entries carry the statistics lines below,                                          \
	      * ctl_hdr.monitors is kept (docs/STATS.md) */
#define FEAT_COMPAT_KNOWN FEAT_COMPAT_STATS
/*
 * Channel settings every publisher must obey (docs/ARCHITECTURE.md, "Header
 * fields that act"): a duplicate table checked before the tail moves, and a
 * schedule ring for messages due later. A library refuses a channel with
 * a bit it does not know (-SHMQ_EVERSION); this one knows the table.
 */
#define FEAT_INCOMPAT_DEDUPE 0x1u
#define FEAT_INCOMPAT_SCHED 0x2u
/*
 * A durable channel: reader slot 0 is the daemon's journal writer, which
 * publishers honour on every policy (docs/ARCHITECTURE.md "Durability").
 */
#define FEAT_INCOMPAT_JOURNAL 0x4u
#define JOURNAL_READER_SLOT 0u
#define FEAT_INCOMPAT_KNOWN (FEAT_INCOMPAT_DEDUPE | FEAT_INCOMPAT_JOURNAL)

#define CACHE_LINE 64u
#define REC_ALIGN 32u /* records start and end on 32-byte boundaries */
#define REC_HDR_BYTES 32u
#define REC_EXT_MAX 4096u /* largest extension area (shm/ext.h) */
#define DATA_HDR_BYTES 1024u
#define CTL_HDR_BYTES 1024u
#define WAKE_HDR_BYTES 512u
#define MAX_READERS 64u
#define MAX_PUBS 64u
#define MAX_GROUPS 16u
#define GROUP_ENTRY_BYTES 256u
#define CHUNKS 16u /* chunk index entries: ring_bytes / CHUNKS each */
#define MIN_RING_BYTES 4096u
#define MAX_RING_BYTES (1ull << 40)
#define MAX_MESSAGE_BYTES (16u << 20)
#define MAX_BATCH 1024u /* records in one atomic batch */

/*
 * The commit word, the first 8 bytes of every record, stored last with one
 * release store:
 *
 *   bits 63..32  lap tag: mix32(lap ^ key_hi), lap = (bytes >> ring_shift)
 *                mod 2^32, key_hi the high half of data_hdr.rec_key
 *   bits 31..0   key_lo XOR (units << 8 | flags | type), where
 *     units  (24 bits) the record's length in REC_ALIGN units (a PAD or
 *            ABANDONED record may span a whole batch)
 *     flags  (6 bits, 7..2) REC_F_*
 *     type   (2 bits) REC_T_*; 0 is never a valid record
 *
 * mix32() is a bijection whose every output bit depends on every input
 * bit, so the tags of two laps share no structure: a commit word left by an
 * older lap, even with some of its bytes overwritten by later payload, does
 * not pass for this lap's by accident (see docs/ARCHITECTURE.md "Records").
 * Publishers also zero the word where the next record will start before
 * they commit (the guard), so a reader that follows the records never
 * meets stale bytes at all.
 */
enum rec_type {
	REC_T_MSG = 1,	     /* a message */
	REC_T_PAD = 2,	     /* filler to the ring's end; no message */
	REC_T_ABANDONED = 3, /* a claim given up; the next record's pos says how many */
};

#define REC_F_EXT 0x04u	  /* an extension area follows the header (shm/ext.h) */
#define REC_F_BATCH 0x08u /* first record of an atomic batch: the rest follow it */

static inline uint32_t rec_mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static inline uint32_t rec_lap_tag(uint64_t key, uint64_t bytes, uint32_t shift)
{
	return rec_mix32((uint32_t)(bytes >> shift) ^ (uint32_t)(key >> 32));
}

static inline uint64_t rec_word_make(uint64_t key, uint64_t bytes, uint32_t shift, uint64_t len,
				     unsigned flags, unsigned type)
{
	uint32_t low = (uint32_t)((len / REC_ALIGN) << 8 | flags | type);

	return (uint64_t)rec_lap_tag(key, bytes, shift) << 32 | (low ^ (uint32_t)key);
}

/* The low half of the word at bytes, decoded; 0 (type 0) if it is not of this lap. */
static inline uint32_t rec_word_decode(uint64_t word, uint64_t key, uint64_t bytes, uint32_t shift)
{
	if ((uint32_t)(word >> 32) != rec_lap_tag(key, bytes, shift))
		return 0;
	return (uint32_t)word ^ (uint32_t)key;
}

static inline uint64_t rec_word_len(uint32_t low)
{
	return (uint64_t)(low >> 8) * REC_ALIGN;
}

static inline unsigned rec_word_flags(uint32_t low)
{
	return low & 0xfc;
}

static inline unsigned rec_word_type(uint32_t low)
{
	return low & 3;
}

/* Record header, at the start of every record (REC_ALIGN aligned). */
struct rec_hdr {
	_Atomic uint64_t word; /* rec_word_make() ^ key; stored last, release */
	uint64_t pos;	       /* message number; PAD: the next message's number */
	uint64_t timestamp_ns; /* CLOCK_REALTIME at commit, 0 on no-timestamp channels */
	uint32_t len;	       /* payload bytes (after the extension area) */
	uint32_t crc;	       /* 0 in memory; the journal fills its copy's checksum */
};
static_assert(sizeof(struct rec_hdr) == REC_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct rec_hdr, pos) == 8, "shm ABI");
static_assert(offsetof(struct rec_hdr, timestamp_ns) == 16, "shm ABI");
static_assert(offsetof(struct rec_hdr, len) == 24, "shm ABI");
static_assert(offsetof(struct rec_hdr, word) == 0, "shm ABI");
static_assert(offsetof(struct rec_hdr, crc) == 28, "shm ABI");

/* Bytes a record of len payload and ext extension bytes takes in the ring. */
static inline uint64_t rec_bytes_for(uint64_t len, uint64_t ext)
{
	return (REC_HDR_BYTES + ext + len + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1);
}

/*
 * One chunk index entry. The claim that moves the tail across the start of
 * chunk k (k * chunk bytes) writes entry k % CHUNKS: the first record
 * boundary at or after that start and its message number. Readers that
 * were overrun, and the daemon placing new readers, start from it. `bytes`
 * is written last with release and read first and again last (a seqlock
 * whose sequence is the never-repeating byte position).
 */
struct chunk_entry {
	_Atomic uint64_t bytes;
	_Atomic uint64_t pos;
};
static_assert(sizeof(struct chunk_entry) == 16, "shm ABI");
static_assert(offsetof(struct chunk_entry, bytes) == 0, "shm ABI");
static_assert(offsetof(struct chunk_entry, pos) == 8, "shm ABI");

/* Data segment flags (data_hdr.flags), from SHMQ_CHAN_*. */
#define DATA_F_NO_TIMESTAMP 0x1u

/* Offset 0 of the data segment. Geometry is written once, before magic. */
struct data_hdr {
	_Atomic uint64_t magic; /* DATA_MAGIC, stored last, release */
	uint32_t version;	/* LAYOUT_VERSION */
	uint32_t hdr_bytes;	/* DATA_HDR_BYTES: the ring starts here */
	uint64_t seg_bytes;	/* whole segment */
	uint64_t ring_bytes;	/* power of two */
	uint32_t max_message_bytes;
	uint32_t policy;	   /* enum shmq_policy */
	uint32_t compat;	   /* FEAT_COMPAT_* bits */
	uint32_t incompat;	   /* FEAT_INCOMPAT_* bits */
	uint64_t channel_id;	   /* daemon-unique, ties data and control together */
	uint64_t base_pos;	   /* the first message number of the channel */
	uint64_t rec_key;	   /* XOR key of commit words, random, never 0 */
	uint32_t pub_mode;	   /* enum shmq_publishers */
	uint32_t ring_shift;	   /* log2(ring_bytes) */
	uint32_t max_record_bytes; /* largest MSG record: header, extensions, payload */
	uint32_t flags;		   /* DATA_F_* */
	uint8_t pad0[40];
	/* tail: the next record's (pos, bytes). Many publishers move both with
	 * one 16-byte CAS; an exclusive publisher stores them under tail_seq. */
	alignas(64) _Atomic uint64_t tail_pos;
	_Atomic uint64_t tail_bytes;
	_Atomic uint32_t tail_seq; /* exclusive mode: odd while the pair changes */
	uint8_t pad1[44];
	/* highest chunk any claim has reached; set before the claim's bytes are
	 * written, so a reader that sees it low knows its record is intact */
	alignas(64) _Atomic uint64_t frontier;
	uint8_t pad2[56];
	alignas(64) struct chunk_entry chunks[CHUNKS];
	alignas(64) char name[256]; /* NUL-terminated channel name */
	/* daemon: how publishers turn the CPU's time-stamp counter into
	 * CLOCK_REALTIME ns, so that every process stamps alike without a
	 * clock_gettime() per message: ns = ns_base + ((tsc - tsc_base) *
	 * mult >> 32); mult 0: no usable counter, publishers call the clock */
	alignas(64) _Atomic uint32_t cal_seq; /* odd while it changes */
	uint32_t pad3;
	_Atomic uint64_t cal_tsc_base;
	_Atomic uint64_t cal_ns_base;
	_Atomic uint64_t cal_mult;
	uint8_t pad4[DATA_HDR_BYTES - 800];
};
static_assert(sizeof(struct data_hdr) == DATA_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct data_hdr, ring_bytes) == 24, "shm ABI");
static_assert(offsetof(struct data_hdr, compat) == 40, "shm ABI");
static_assert(offsetof(struct data_hdr, channel_id) == 48, "shm ABI");
static_assert(offsetof(struct data_hdr, rec_key) == 64, "shm ABI");
static_assert(offsetof(struct data_hdr, tail_pos) == 128, "shm ABI");
static_assert(offsetof(struct data_hdr, tail_bytes) == 136, "shm ABI");
static_assert(offsetof(struct data_hdr, frontier) == 192, "shm ABI");
static_assert(offsetof(struct data_hdr, chunks) == 256, "shm ABI");
static_assert(offsetof(struct data_hdr, name) == 512, "shm ABI");
static_assert(offsetof(struct data_hdr, cal_seq) == 768, "shm ABI");
static_assert(offsetof(struct data_hdr, cal_mult) == 792, "shm ABI");
static_assert(offsetof(struct data_hdr, magic) == 0, "shm ABI");
static_assert(offsetof(struct data_hdr, version) == 8, "shm ABI");
static_assert(offsetof(struct data_hdr, hdr_bytes) == 12, "shm ABI");
static_assert(offsetof(struct data_hdr, seg_bytes) == 16, "shm ABI");
static_assert(offsetof(struct data_hdr, max_message_bytes) == 32, "shm ABI");
static_assert(offsetof(struct data_hdr, policy) == 36, "shm ABI");
static_assert(offsetof(struct data_hdr, incompat) == 44, "shm ABI");
static_assert(offsetof(struct data_hdr, base_pos) == 56, "shm ABI");
static_assert(offsetof(struct data_hdr, pub_mode) == 72, "shm ABI");
static_assert(offsetof(struct data_hdr, ring_shift) == 76, "shm ABI");
static_assert(offsetof(struct data_hdr, max_record_bytes) == 80, "shm ABI");
static_assert(offsetof(struct data_hdr, flags) == 84, "shm ABI");
static_assert(offsetof(struct data_hdr, tail_seq) == 144, "shm ABI");
static_assert(offsetof(struct data_hdr, cal_tsc_base) == 776, "shm ABI");
static_assert(offsetof(struct data_hdr, cal_ns_base) == 784, "shm ABI");

/* Slot states (ctl_slot.state), written by the daemon only. */
enum slot_state {
	SLOT_FREE = 0,
	SLOT_ACTIVE = 1,
};

/* Why a reader is counted in wake->sleepers (wake_hdr.marks[i].armed). */
enum reader_mark {
	MARK_NONE = 0,
	MARK_EFD = 1,	/* armed its event fd; a publisher clears it and signals */
	MARK_FUTEX = 2, /* asleep on wake_seq; the reader clears it on waking */
};

/* Channel states (ctl_hdr.state), written by the daemon only. */
enum chan_state {
	CHAN_LIVE = 1,
	CHAN_DELETED = 2, /* deleted: handles drain what is left, then get SHMQ_EDELETED */
	CHAN_CLOSED = 3,  /* the daemon stopped cleanly: handles drain, then get SHMQ_ECLOSED */
};

/*
 * One reader or publisher as the daemon assigned it, in the control
 * segment: only the daemon writes it. gen changes with every assignment,
 * so a client that mapped the slot's entry segment knows whether that
 * mapping is still the slot's.
 */
struct ctl_slot {
	_Atomic uint32_t state; /* enum slot_state */
	_Atomic uint32_t gen;
	_Atomic uint32_t owner_pid;
	_Atomic uint32_t owner_uid;
	_Atomic uint32_t wait_mode; /* readers: enum shmq_wait */
	uint32_t pad;
	_Atomic uint64_t cut_bytes; /* publishers: the claim the daemon gave up (its start + 1) */
};
static_assert(sizeof(struct ctl_slot) == 32, "shm ABI");
static_assert(offsetof(struct ctl_slot, cut_bytes) == 24, "shm ABI");
static_assert(offsetof(struct ctl_slot, state) == 0, "shm ABI");
static_assert(offsetof(struct ctl_slot, gen) == 4, "shm ABI");
static_assert(offsetof(struct ctl_slot, owner_pid) == 8, "shm ABI");
static_assert(offsetof(struct ctl_slot, owner_uid) == 12, "shm ABI");
static_assert(offsetof(struct ctl_slot, wait_mode) == 16, "shm ABI");

/*
 * The control segment, offset 0: what the daemon alone decides. Clients map
 * it read-only; nothing a client can write changes what the daemon or
 * another client believes about the channel's readers and publishers.
 */
struct ctl_hdr {
	_Atomic uint64_t magic; /* CTL_MAGIC, stored last, release */
	uint32_t version;	/* CTL_LAYOUT_VERSION */
	uint32_t hdr_bytes;	/* CTL_HDR_BYTES */
	uint64_t seg_bytes;
	uint64_t channel_id;  /* equals data_hdr.channel_id */
	uint32_t max_readers; /* MAX_READERS */
	uint32_t max_pubs;    /* MAX_PUBS */
	uint32_t max_groups;  /* MAX_GROUPS */
	uint32_t readers_off; /* byte offset of the reader slots */
	uint32_t pubs_off;    /* ... of the publisher slots */
	uint32_t groups_off;  /* ... of the reserved group table */
	uint32_t pad0;
	alignas(64) _Atomic uint32_t state; /* enum chan_state */
	_Atomic uint32_t daemon_pid;
	_Atomic uint64_t readers_gen; /* bumped on reader slot changes */
	_Atomic uint64_t pubs_gen;    /* bumped on publisher slot changes */
	_Atomic uint32_t readers_hi;  /* 1 + highest active reader slot */
	_Atomic uint32_t pubs_hi;     /* 1 + highest active publisher slot */
	_Atomic uint64_t abandoned;   /* claims the daemon gave up */
	_Atomic uint64_t durable_pos; /* journal: all below are on disk */
	_Atomic uint64_t wakeups;     /* readers the daemon woke (watchdog) */
	_Atomic uint32_t monitors;    /* monitor handles open now */
	_Atomic uint32_t bad_readers; /* readers the watchdog finds at a bad record now */
	/* 1 + the start of the oldest claim the daemon is giving up (or has
	 * yet to settle), 0 for none: publishers treat it as a claim in
	 * progress (log_claims_limit()), so no lap reaches the words the
	 * daemon writes. 0 in segments of older daemons: no hold. */
	alignas(64) _Atomic uint64_t hold_bytes;
	uint8_t pad2[56];
	/* FEAT_INCOMPAT_JOURNAL: the journal thread's line (0 elsewhere) */
	alignas(64) _Atomic uint64_t written_pos; /* offsets below are written to the files */
	_Atomic uint32_t journal_state;		  /* enum journal_state */
	_Atomic uint32_t journal_errno;		  /* errno of the failure, 0 none */
	_Atomic uint64_t journal_seg_base;	  /* the segment being written: its first offset */
	_Atomic uint64_t journal_segs;		  /* segments the journal started since it began */
	uint8_t pad3[CTL_HDR_BYTES - 224];
};
static_assert(sizeof(struct ctl_hdr) == CTL_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct ctl_hdr, channel_id) == 24, "shm ABI");
static_assert(offsetof(struct ctl_hdr, readers_off) == 44, "shm ABI");
static_assert(offsetof(struct ctl_hdr, state) == 64, "shm ABI");
static_assert(offsetof(struct ctl_hdr, readers_gen) == 72, "shm ABI");
static_assert(offsetof(struct ctl_hdr, readers_hi) == 88, "shm ABI");
static_assert(offsetof(struct ctl_hdr, abandoned) == 96, "shm ABI");
static_assert(offsetof(struct ctl_hdr, monitors) == 120, "shm ABI");
static_assert(offsetof(struct ctl_hdr, bad_readers) == 124, "shm ABI");
static_assert(offsetof(struct ctl_hdr, magic) == 0, "shm ABI");
static_assert(offsetof(struct ctl_hdr, version) == 8, "shm ABI");
static_assert(offsetof(struct ctl_hdr, hdr_bytes) == 12, "shm ABI");
static_assert(offsetof(struct ctl_hdr, seg_bytes) == 16, "shm ABI");
static_assert(offsetof(struct ctl_hdr, max_readers) == 32, "shm ABI");
static_assert(offsetof(struct ctl_hdr, max_pubs) == 36, "shm ABI");
static_assert(offsetof(struct ctl_hdr, max_groups) == 40, "shm ABI");
static_assert(offsetof(struct ctl_hdr, pubs_off) == 48, "shm ABI");
static_assert(offsetof(struct ctl_hdr, groups_off) == 52, "shm ABI");
static_assert(offsetof(struct ctl_hdr, daemon_pid) == 68, "shm ABI");
static_assert(offsetof(struct ctl_hdr, pubs_gen) == 80, "shm ABI");
static_assert(offsetof(struct ctl_hdr, pubs_hi) == 92, "shm ABI");
static_assert(offsetof(struct ctl_hdr, durable_pos) == 104, "shm ABI");
static_assert(offsetof(struct ctl_hdr, wakeups) == 112, "shm ABI");
static_assert(offsetof(struct ctl_hdr, hold_bytes) == 128, "shm ABI");
static_assert(offsetof(struct ctl_hdr, written_pos) == 192, "shm ABI");
static_assert(offsetof(struct ctl_hdr, journal_state) == 200, "shm ABI");
static_assert(offsetof(struct ctl_hdr, journal_errno) == 204, "shm ABI");
static_assert(offsetof(struct ctl_hdr, journal_seg_base) == 208, "shm ABI");
static_assert(offsetof(struct ctl_hdr, journal_segs) == 216, "shm ABI");

/* ctl_hdr.journal_state, written by the daemon's journal thread. */
enum journal_state {
	JOURNAL_NONE = 0,    /* not a durable channel */
	JOURNAL_OK = 1,	     /* writing */
	JOURNAL_FAILED = 2,  /* a write or fsync failed: final, claims get SHMQ_EIO */
	JOURNAL_NOSPACE = 3, /* out of disk space: retried, publishers wait */
};

#define CTL_READERS_OFF CTL_HDR_BYTES
#define CTL_PUBS_OFF (CTL_READERS_OFF + MAX_READERS * sizeof(struct ctl_slot))
#define CTL_GROUPS_OFF (CTL_PUBS_OFF + MAX_PUBS * sizeof(struct ctl_slot))
#define CTL_SEG_BYTES (CTL_GROUPS_OFF + MAX_GROUPS * GROUP_ENTRY_BYTES)

/* A reader's sleep mark, on a line of its own. */
struct wake_mark {
	_Atomic uint32_t armed; /* enum reader_mark: counted in sleepers */
	uint8_t pad[60];
};
static_assert(sizeof(struct wake_mark) == 64, "shm ABI");
static_assert(offsetof(struct wake_mark, armed) == 0, "shm ABI");

/*
 * The wake segment: the words readers and publishers both write to hand
 * each other sleeps and wake-ups. Publishers and subscribers map it
 * read-write, monitors read-only; it holds nothing the daemon trusts, so a
 * client that scribbles on it costs the channel latency, never liveness:
 * publishers wait for space in bounded sleeps, and the daemon wakes any
 * reader whose cursor stands still below the tail (docs/ARCHITECTURE.md
 * "Trust").
 */
struct wake_hdr {
	alignas(64) _Atomic uint32_t sleepers; /* readers asleep on wake_seq or armed */
	uint8_t pad1[60];
	alignas(64) _Atomic uint32_t wake_seq; /* futex word readers sleep on */
	uint8_t pad2[60];
	alignas(64) _Atomic uint32_t space_wanted; /* 1: a publisher waits for space */
	uint8_t pad3[60];
	alignas(64) _Atomic uint32_t space_seq; /* futex word those publishers sleep on */
	uint8_t pad4[60];
	alignas(64) _Atomic uint32_t
	    wake_needed; /* 1: a reader went to sleep since the last wake */
	uint8_t pad5[60];
	/* durable channels: confirm waiters sleep on durable_seq after
	 * setting durable_waiters; the journal bumps and wakes (only if set) */
	alignas(64) _Atomic uint32_t durable_seq;
	uint8_t pad6[60];
	alignas(64) _Atomic uint32_t durable_waiters; /* 1: a confirm waiter may sleep */
	uint8_t pad7[60];
	uint8_t pad8[WAKE_HDR_BYTES - 448];
	struct wake_mark marks[MAX_READERS];
};
static_assert(sizeof(struct wake_hdr) == WAKE_HDR_BYTES + MAX_READERS * 64, "shm ABI");
static_assert(offsetof(struct wake_hdr, wake_seq) == 64, "shm ABI");
static_assert(offsetof(struct wake_hdr, wake_needed) == 256, "shm ABI");
static_assert(offsetof(struct wake_hdr, marks) == WAKE_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct wake_hdr, durable_seq) == 320, "shm ABI");
static_assert(offsetof(struct wake_hdr, durable_waiters) == 384, "shm ABI");

#define WAKE_SEG_BYTES 8192u
static_assert(sizeof(struct wake_hdr) <= WAKE_SEG_BYTES, "shm ABI");
static_assert(offsetof(struct wake_hdr, sleepers) == 0, "shm ABI");
static_assert(offsetof(struct wake_hdr, space_wanted) == 128, "shm ABI");
static_assert(offsetof(struct wake_hdr, space_seq) == 192, "shm ABI");

/*
 * A subscriber's entry: a segment of its own (ENTRY_SEG_BYTES) that only
 * it and the daemon map read-write; publishers of block channels and
 * monitors map it read-only. The daemon writes the starting cursor before
 * the slot turns ACTIVE; afterwards only the subscriber writes. The cursor
 * is a (pos, bytes) pair stored under cur_seq (odd while it changes);
 * publishers need only `bytes`. The counters go out with the cursor.
 */
struct reader_entry {
	_Atomic uint64_t bytes;	  /* next record's byte position */
	_Atomic uint64_t pos;	  /* its message number */
	_Atomic uint32_t cur_seq; /* seqlock of the pair */
	uint32_t pad0;
	_Atomic uint64_t received;	 /* messages delivered */
	_Atomic uint64_t lost;		 /* overrun (drop policy) */
	_Atomic uint64_t lost_abandoned; /* their publisher died or stalled */
	_Atomic uint64_t sleeps;	 /* times it went to sleep */
	_Atomic uint64_t wakeups;	 /* sleeps that ended with a message ready */
	/* the daemon's line (it writes, the reader reads when it finds
	 * nothing to read): the watchdog's finding and the operator's cuts */
	alignas(64) _Atomic uint64_t bad_bytes; /* 1 + a cursor stuck at a record it cannot parse */
	_Atomic uint32_t cut_seq;		/* bumped after each cut stored into the cursor */
	uint32_t pad2;
	/* FEAT_COMPAT_STATS: end-to-end latency of sampled messages (those
	 * whose offset is a multiple of LAT_SAMPLE_EVERY), publish timestamp
	 * to delivery, in LAT_BUCKETS log2-spaced buckets: bucket 0 counts
	 * < 2^LAT_BUCKET0_SHIFT ns, bucket k [2^(k+7), 2^(k+8)) ns, the last
	 * one everything above. Only the reader writes them, from offset 128:
	 * not in the 128-byte pair of lines of the cursor, which publishers
	 * read (the CPU's adjacent-line prefetch would pull them in too). */
	uint8_t pad1[48];
	alignas(64) _Atomic uint64_t lat_samples;
	_Atomic uint64_t lat_sum_ns;
	_Atomic uint64_t lat[30]; /* LAT_BUCKETS */
	/* FEAT_COMPAT_STATS: messages skipped because their expiry passed;
	 * stored with the cursor's other counters */
	alignas(64) _Atomic uint64_t expired;
	uint8_t pad3[56];
};
#define LAT_BUCKETS 30u
#define LAT_BUCKET0_SHIFT 8u /* bucket k's upper bound: 2^(k + 8) ns */
#define LAT_SAMPLE_EVERY 64u /* one message in 64 is timed */
static_assert(sizeof(struct reader_entry) == 448, "shm ABI");
static_assert(offsetof(struct reader_entry, pos) == 8, "shm ABI");
static_assert(offsetof(struct reader_entry, received) == 24, "shm ABI");
static_assert(offsetof(struct reader_entry, bad_bytes) == 64, "shm ABI");
static_assert(offsetof(struct reader_entry, cut_seq) == 72, "shm ABI");
static_assert(offsetof(struct reader_entry, lat_samples) == 128, "shm ABI");
static_assert(offsetof(struct reader_entry, lat) == 144, "shm ABI");
static_assert(offsetof(struct reader_entry, expired) == 384, "shm ABI");

/* The bucket of a latency of ns nanoseconds. */
static inline unsigned lat_bucket(uint64_t ns)
{
	unsigned bits = 64u - (unsigned)__builtin_clzll(ns | 1);

	if (bits <= LAT_BUCKET0_SHIFT)
		return 0;
	bits -= LAT_BUCKET0_SHIFT;
	return bits < LAT_BUCKETS ? bits : LAT_BUCKETS - 1;
}

/* Publisher claim states (pub_entry.claim_state). */
enum pub_claim_state {
	PUB_IDLE = 0,
	PUB_CLAIMING = 1,   /* the intent is written, the tail move may or may not have happened */
	PUB_CLAIMED = 2,    /* the tail moved: [claim_bytes, claim_end) is this publisher's */
	PUB_COMMITTING = 3, /* about to look for the daemon's cut mark, then store the commit */
};

/*
 * A publisher's entry: a segment of its own that only it and the daemon
 * map read-write; other publishers (for the claims-in-progress bound) and
 * monitors map it read-only. The publisher writes its claim intent before
 * it moves the tail, so that the daemon can give up the claim of a
 * publisher that dies or stalls between claim and commit, knowing where
 * the claim ends; and its counters after each commit.
 */
struct pub_entry {
	_Atomic uint64_t claim_bytes;	  /* start of the claim (a PAD first, if any) */
	_Atomic uint64_t claim_end;	  /* byte position after it */
	_Atomic uint64_t claim_pos;	  /* message number of its first record */
	_Atomic uint32_t claim_state;	  /* enum pub_claim_state */
	_Atomic uint32_t claim_count;	  /* records in the claim */
	_Atomic uint64_t published;	  /* messages */
	_Atomic uint64_t published_bytes; /* payload bytes */
	_Atomic uint64_t abandoned;	  /* its claims given up (aborted, or cut by the daemon) */
	_Atomic uint64_t space_waits;	  /* times it slept for space */
	/* FEAT_COMPAT_STATS: largest payload it committed, on a line of its
	 * own (stored only when it grows) */
	alignas(64) _Atomic uint32_t max_len;
	uint8_t pad1[60];
};
static_assert(sizeof(struct pub_entry) == 128, "shm ABI");
static_assert(offsetof(struct pub_entry, max_len) == 64, "shm ABI");
static_assert(offsetof(struct pub_entry, claim_state) == 24, "shm ABI");

#define ENTRY_SEG_BYTES 4096u
static_assert(sizeof(struct reader_entry) <= ENTRY_SEG_BYTES, "shm ABI");
static_assert(offsetof(struct reader_entry, bytes) == 0, "shm ABI");
static_assert(offsetof(struct reader_entry, cur_seq) == 16, "shm ABI");
static_assert(offsetof(struct reader_entry, lost) == 32, "shm ABI");
static_assert(offsetof(struct reader_entry, lost_abandoned) == 40, "shm ABI");
static_assert(offsetof(struct reader_entry, sleeps) == 48, "shm ABI");
static_assert(offsetof(struct reader_entry, wakeups) == 56, "shm ABI");
static_assert(offsetof(struct reader_entry, lat_sum_ns) == 136, "shm ABI");
static_assert(sizeof(struct pub_entry) <= ENTRY_SEG_BYTES, "shm ABI");
static_assert(offsetof(struct pub_entry, claim_bytes) == 0, "shm ABI");
static_assert(offsetof(struct pub_entry, claim_end) == 8, "shm ABI");
static_assert(offsetof(struct pub_entry, claim_pos) == 16, "shm ABI");
static_assert(offsetof(struct pub_entry, claim_count) == 28, "shm ABI");
static_assert(offsetof(struct pub_entry, published) == 32, "shm ABI");
static_assert(offsetof(struct pub_entry, published_bytes) == 40, "shm ABI");
static_assert(offsetof(struct pub_entry, abandoned) == 48, "shm ABI");
static_assert(offsetof(struct pub_entry, space_waits) == 56, "shm ABI");

/*
 * The dedupe table segment of a channel with FEAT_INCOMPAT_DEDUPE (decided
 * in docs/ARCHITECTURE.md, not built yet): a header, then nslots slots.
 * Publishers map it read-write, monitors read-only, readers never.
 */
#define DEDUPE_MAGIC 0x5348514d44454455ull /* "SHQMDEDU" */
#define DEDUPE_HDR_BYTES 128u

struct dedupe_hdr {
	_Atomic uint64_t magic; /* DEDUPE_MAGIC, stored last, release (daemon) */
	uint32_t version;
	uint32_t hdr_bytes;
	uint64_t seg_bytes;
	uint64_t channel_id;
	uint32_t nslots; /* power of two */
	uint32_t probe;	 /* slots a publish looks at, 16 */
	uint64_t window_ns;
	uint8_t pad0[16];
	alignas(64) _Atomic uint64_t full; /* publishes refused for want of a slot (publishers) */
	uint8_t pad1[56];
};
static_assert(sizeof(struct dedupe_hdr) == DEDUPE_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct dedupe_hdr, nslots) == 32, "shm ABI");
static_assert(offsetof(struct dedupe_hdr, window_ns) == 40, "shm ABI");
static_assert(offsetof(struct dedupe_hdr, full) == 64, "shm ABI");

/* One slot: msg_id and word move together by a 16-byte CAS. */
struct dedupe_slot {
	alignas(16) uint64_t msg_id;
	uint64_t word;	  /* bits 1-0 state; RESERVED: 15-8 publisher slot, 63-32 generation */
	uint64_t pos;	  /* COMMITTED: the original's offset */
	uint64_t time_ns; /* COMMITTED: its commit time, the window's start */
};
static_assert(sizeof(struct dedupe_slot) == 32, "shm ABI");
static_assert(offsetof(struct dedupe_slot, word) == 8, "shm ABI");
static_assert(offsetof(struct dedupe_slot, pos) == 16, "shm ABI");
static_assert(offsetof(struct dedupe_slot, time_ns) == 24, "shm ABI");

#endif
