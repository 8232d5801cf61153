/*
 * layout.h - the shared-memory formats of a channel. ABI: every offset a peer
 * relies on is asserted below; change LAYOUT_VERSION with any change here and
 * update docs/ARCHITECTURE.md in the same commit.
 *
 * A channel is two POSIX shm objects:
 *  - the data segment: struct data_hdr, then nslots fixed-size slots. The
 *    daemon and publishers map it read-write, pure subscribers read-only.
 *  - the control segment: struct ctl_hdr (wait words, durable position),
 *    then max_readers struct reader_entry (cursors), then the reserved group
 *    table. Everyone attached maps it read-write.
 * Positions ("pos") count messages from 0, are 64-bit and never wrap; a
 * message's pos is its offset. idx = pos & (nslots - 1).
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
#define CTL_MAGIC 0x5348514d4354524cull  /* "SHQMCTRL" */
#define LAYOUT_VERSION 2u

#define CACHE_LINE 64u
#define SLOT_HDR_BYTES 64u
#define DATA_HDR_BYTES 1024u
#define CTL_HDR_BYTES 1024u
#define MAX_READERS 64u
#define MAX_GROUPS 16u
#define GROUP_ENTRY_BYTES 256u
#define MIN_SLOTS 4u
#define MAX_SLOTS (1ull << 30)
#define MAX_MESSAGE_BYTES (16u << 20)

/*
 * Slot state word: ((pos + 1) << 2) | state. 0 means "never written", which
 * stands for a finished lap before position 0. A slot at idx serves pos idx,
 * idx + nslots, ...; publishers move it from "done for pos - nslots" to
 * CLAIMED for pos, then to COMMITTED or ABANDONED for pos.
 */
enum slot_state {
	SLOT_CLAIMED = 1,
	SLOT_COMMITTED = 2,
	SLOT_ABANDONED = 3,
};

static inline uint64_t slot_word(uint64_t pos, unsigned state)
{
	return ((pos + 1) << 2) | state;
}

static inline uint64_t slot_word_pos1(uint64_t word) /* pos + 1; 0 for never written */
{
	return word >> 2;
}

static inline unsigned slot_word_state(uint64_t word)
{
	return (unsigned)(word & 3);
}

/* Record flags (slot_hdr.flags). */
#define REC_F_NONE 0u

/* One slot: this header, then max_message_bytes of payload, padded to 64. */
struct slot_hdr {
	_Atomic uint64_t state; /* slot_word(); publishers and daemon CAS it */
	uint32_t len;           /* payload bytes, written before COMMITTED */
	uint32_t flags;         /* REC_F_* */
	uint64_t timestamp_ns;  /* CLOCK_REALTIME at commit */
	uint32_t claimer_pid;   /* pid of the claiming process, for the daemon */
	uint32_t delivery;      /* delivery count (consumer groups) */
	uint64_t msg_id;        /* duplicate detection, 0 = none */
	uint64_t corr_id;       /* request/reply correlation, 0 = none */
	uint16_t key_bytes;     /* leading payload bytes that are the key */
	uint16_t hdr_bytes;     /* leading payload bytes that are user headers */
	uint16_t content_type;
	uint16_t pad0;
	uint32_t pad1[2];
};
static_assert(sizeof(struct slot_hdr) == SLOT_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct slot_hdr, len) == 8, "shm ABI");
static_assert(offsetof(struct slot_hdr, timestamp_ns) == 16, "shm ABI");

/* Offset 0 of the data segment. Geometry is written once, before magic. */
struct data_hdr {
	_Atomic uint64_t magic; /* DATA_MAGIC, stored last, release */
	uint32_t version;       /* LAYOUT_VERSION */
	uint32_t hdr_bytes;     /* DATA_HDR_BYTES: slots start here */
	uint64_t seg_bytes;     /* whole segment */
	uint64_t nslots;        /* power of two */
	uint32_t slot_bytes;    /* SLOT_HDR_BYTES + max_message_bytes, rounded to 64 */
	uint32_t max_message_bytes;
	uint32_t policy;        /* enum shmq_policy */
	uint32_t flags;         /* reserved, 0 */
	uint64_t channel_id;    /* daemon-unique, ties data and control together */
	uint8_t pad0[8];
	alignas(64) _Atomic uint64_t tail_pos; /* next pos to claim; publishers CAS */
	uint8_t pad1[56];
	alignas(64) char name[256];            /* NUL-terminated channel name */
	uint8_t pad2[DATA_HDR_BYTES - 384];
};
static_assert(sizeof(struct data_hdr) == DATA_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct data_hdr, nslots) == 24, "shm ABI");
static_assert(offsetof(struct data_hdr, channel_id) == 48, "shm ABI");
static_assert(offsetof(struct data_hdr, tail_pos) == 64, "shm ABI");
static_assert(offsetof(struct data_hdr, name) == 128, "shm ABI");

/* Reader entry states (reader_entry.state). */
enum reader_state {
	READER_FREE = 0,
	READER_ACTIVE = 1,
};

/* Why a reader is counted in ctl->sleepers (reader_entry.armed). */
enum reader_mark {
	MARK_NONE = 0,
	MARK_EFD = 1,   /* armed its event fd; a publisher clears it and signals */
	MARK_FUTEX = 2, /* asleep on wake_seq; the reader clears it on waking */
};

/*
 * One subscriber cursor. The daemon assigns it (state, owner_pid, gen, the
 * starting pos); afterwards only the owning subscriber writes pos and the
 * counters. `armed` marks a reader counted in ctl->sleepers, so that the
 * daemon can fix the count when a sleeping reader dies; whoever clears the
 * mark (CAS) decrements the count.
 */
struct reader_entry {
	_Atomic uint64_t pos;       /* next pos to read; subscriber stores */
	_Atomic uint64_t received;  /* subscriber's counters, for stats */
	_Atomic uint64_t lost;
	uint8_t pad0[40];
	alignas(64) _Atomic uint32_t state; /* enum reader_state; daemon writes */
	_Atomic uint32_t owner_pid;         /* daemon writes */
	_Atomic uint32_t gen;               /* bumped by the daemon on each assignment */
	_Atomic uint32_t armed;             /* enum reader_mark: counted in ctl->sleepers */
	uint32_t wait_mode;                 /* enum shmq_wait, informative */
	uint8_t pad1[44];
};
static_assert(sizeof(struct reader_entry) == 128, "shm ABI");
static_assert(offsetof(struct reader_entry, state) == 64, "shm ABI");

/* Offset 0 of the control segment. */
struct ctl_hdr {
	_Atomic uint64_t magic; /* CTL_MAGIC, stored last, release */
	uint32_t version;
	uint32_t hdr_bytes;     /* CTL_HDR_BYTES: reader table starts here */
	uint64_t seg_bytes;
	uint64_t channel_id;    /* equals data_hdr.channel_id */
	uint32_t max_readers;   /* MAX_READERS */
	uint32_t max_groups;    /* MAX_GROUPS: reserved group table after readers */
	uint64_t groups_off;    /* byte offset of the group table */
	uint8_t pad0[16];
	alignas(64) _Atomic uint32_t sleepers;    /* readers asleep on wake_seq or armed */
	uint8_t pad1[60];
	alignas(64) _Atomic uint32_t wake_seq;    /* futex word readers sleep on */
	uint8_t pad2[60];
	alignas(64) _Atomic uint32_t space_wanted; /* 1: a publisher waits for space */
	uint8_t pad3[60];
	alignas(64) _Atomic uint32_t space_seq;   /* futex word those publishers sleep on */
	uint8_t pad4[60];
	alignas(64) _Atomic uint64_t durable_pos; /* journal: all below are on disk (daemon) */
	uint8_t pad5[56];
	alignas(64) _Atomic uint64_t abandoned;   /* slots the daemon gave up (daemon) */
	_Atomic uint64_t readers_gen;             /* bumped on reader table changes (daemon) */
	_Atomic uint32_t readers_hi;              /* 1 + highest assigned reader index (daemon) */
	uint8_t pad6[44];
	alignas(64) _Atomic uint32_t wake_needed; /* 1: a reader went to sleep since the last wake */
	uint8_t pad7[60];
	uint8_t pad8[CTL_HDR_BYTES - 512];
};
static_assert(sizeof(struct ctl_hdr) == CTL_HDR_BYTES, "shm ABI");
static_assert(offsetof(struct ctl_hdr, sleepers) == 64, "shm ABI");
static_assert(offsetof(struct ctl_hdr, wake_seq) == 128, "shm ABI");
static_assert(offsetof(struct ctl_hdr, space_wanted) == 192, "shm ABI");
static_assert(offsetof(struct ctl_hdr, space_seq) == 256, "shm ABI");
static_assert(offsetof(struct ctl_hdr, durable_pos) == 320, "shm ABI");
static_assert(offsetof(struct ctl_hdr, abandoned) == 384, "shm ABI");
static_assert(offsetof(struct ctl_hdr, readers_hi) == 400, "shm ABI");
static_assert(offsetof(struct ctl_hdr, wake_needed) == 448, "shm ABI");

#define CTL_SEG_BYTES                                                                               \
	(CTL_HDR_BYTES + MAX_READERS * sizeof(struct reader_entry) + MAX_GROUPS * GROUP_ENTRY_BYTES)

#endif
