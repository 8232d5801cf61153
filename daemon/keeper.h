/*
 * keeper.h - the process that keeps a daemon's channels across its
 * restarts. The daemon hands it, for each channel, a metadata record of
 * its own making and the data, control and wake memfds, and for each open
 * handle its entry memfd (and event fd); a daemon started after the last
 * one died takes them back and serves the channels again (adopt.c
 * adopts them, checking each descriptor). The keeper talks only to a
 * daemon of its own uid over a SOCK_SEQPACKET socket next to the control
 * socket (`<socket>.keep`, mode 0600), never to clients, and reads nothing
 * a client wrote. It exits when told to (a clean stop), when its socket
 * path is gone, or after KEEP_ORPHAN_S without a daemon. Daemon side:
 * main thread only.
 */
#ifndef DAEMON_KEEPER_H
#define DAEMON_KEEPER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"

#define KEEP_MAGIC 0x4b51484bu	 /* "KHQK" */
#define KEEP_VERSION 2u		 /* this format; the header below never changes */
#define KEEP_VERSION_MIN 2u	 /* the oldest format read: version 1 had no body_bytes */
#define KEEP_BODY_MAX 1024u	 /* bytes of a body, any version */
#define KEEP_ENTRY_BODY_MAX 128u /* bytes of a KEEP_ENTRY body the keeper keeps */
#define KEEP_ORPHAN_S 60u	 /* a keeper without a daemon this long exits */
#define KEEP_STOP_WAIT_MS 5000u	 /* how long a replaced daemon may take to stop */
#define KEEP_TAKE_WAIT_S 15u	 /* how long a daemon waits for the keeper's answer */

/*
 * Every message is a header and a body of body_bytes. A later version only
 * appends fields to a body and adds ops: a reader takes any version from
 * KEEP_VERSION_MIN on, reads the fields it knows (those it does not get read
 * as 0) and ignores an op it does not know. The keeper replays the bodies
 * it was sent byte for byte, so it passes on fields newer than itself.
 */
enum keep_op {
	KEEP_CHANNEL = 1,     /* both ways: keep (or replace) a channel; one kept */
	KEEP_ENTRY = 2,	      /* likewise, one handle's entry (and event fd) */
	KEEP_DROP_ENTRY = 3,  /* daemon -> keeper */
	KEEP_DROP = 4,	      /* daemon -> keeper: the channel is gone */
	KEEP_TAKE = 5,	      /* daemon -> keeper: send me everything; answered by ... */
	KEEP_END = 6,	      /* keeper -> daemon: ... channels and entries, then this */
	KEEP_QUIT = 7,	      /* daemon -> keeper: a clean stop, drop everything and exit */
	KEEP_STOP = 8,	      /* keeper -> daemon: another daemon takes over (--replace) */
	KEEP_STOPPED = 9,     /* daemon -> keeper: stopped for it; the last message it sends */
	KEEP_STAY = 10,	      /* keeper -> daemon: forget KEEP_STOP, its sender gave up waiting */
	KEEP_GROUP = 11,      /* both ways: keep (or replace) a consumer group; one kept */
	KEEP_DROP_GROUP = 12, /* daemon -> keeper: the group is deleted */
};

struct keep_hdr {
	uint32_t magic;	     /* KEEP_MAGIC */
	uint32_t version;    /* the sender's KEEP_VERSION */
	uint32_t op;	     /* enum keep_op */
	uint32_t body_bytes; /* what follows, <= KEEP_BODY_MAX */
};

/* What the daemon keeps about a channel besides its segments: its own record. */
struct keep_channel {
	char name[NAME_BYTES];
	uint8_t deleted;
	uint8_t pad0[2];
	uint64_t id;
	uint32_t owner_uid;
	int32_t numa_wire;
	int32_t numa_node;
	uint32_t pad1;
	struct acl publish;
	struct acl subscribe;
	struct log_geometry g;
};

#define KEEP_ENTRY_EFD 1u /* an event fd follows the entry's memfd */
#define KEEP_FDS_MAX 4u	  /* a channel's: data, control, wake [, duplicate table] */

/* One open handle's slot. */
struct keep_entry {
	uint64_t channel_id;
	uint32_t kind; /* 'r' reader, 'p' publisher */
	uint32_t idx;
	uint32_t gen;
	uint32_t pid;
	uint32_t uid;
	uint32_t wait_mode;
	uint32_t flags; /* KEEP_ENTRY_* */
	uint32_t pad;
	uint64_t start; /* its process's start mark (procid.h); 0 = unknown */
};

/* One member row of a kept group: who may resume it; a free row keeps its last gen. */
struct keep_member {
	uint32_t gen;
	uint32_t pid;
	uint32_t uid;
	uint32_t live;	/* 1: a member is in the row */
	uint64_t start; /* its process's start mark (procid.h); 0 = unknown */
};

/*
 * A consumer group of a channel (groups.h): its definition and members,
 * with its segment's memfd. Its reader slot is kept as a KEEP_ENTRY.
 * KEEP_DROP_GROUP reads channel_id and idx only.
 */
struct keep_group {
	uint64_t channel_id;
	uint32_t idx; /* < MAX_GROUPS: the segment is shmq.<channel>.g<idx> */
	uint32_t reader_slot;
	char name[64];
	uint64_t ack_wait_ns;
	uint32_t max_pending;
	uint32_t max_deliver;
	uint32_t flags;
	uint32_t pad;
	uint64_t seg_bytes;
	struct keep_member members[32];
};

#define KEEP_GROUP_HEAD 16u /* the bytes KEEP_DROP_GROUP needs: channel_id, idx */

#define KEEP_TAKE_REPLACE 1u /* stop the daemon being served and take over */

struct keep_take {
	uint32_t flags; /* KEEP_TAKE_* */
	uint32_t pad;
};

enum keep_end_status {
	KEEP_END_OK = 0,
	KEEP_END_BUSY = 1,  /* another daemon is served (no KEEP_TAKE_REPLACE) */
	KEEP_END_STUCK = 2, /* the daemon told to stop did not within KEEP_STOP_WAIT_MS */
};

struct keep_end {
	uint32_t status; /* enum keep_end_status */
	uint32_t pad;
};

struct keep_msg {
	struct keep_hdr h;
	union {
		struct keep_channel ch; /* KEEP_CHANNEL: fds data, ctl, wake [, dedupe table] */
		struct keep_entry e;	/* KEEP_ENTRY: fd entry [, event fd]; KEEP_DROP_ENTRY */
		struct keep_group gr;	/* KEEP_GROUP: fd segment; KEEP_DROP_GROUP */
		uint64_t channel_id;	/* KEEP_DROP */
		struct keep_take take;	/* KEEP_TAKE */
		struct keep_end end;	/* KEEP_END */
		uint8_t raw[KEEP_BODY_MAX];
	} u;
};

_Static_assert(sizeof(struct keep_hdr) == 16, "keeper format");
_Static_assert(sizeof(struct keep_channel) <= KEEP_BODY_MAX, "keeper format");
_Static_assert(sizeof(struct keep_entry) <= KEEP_ENTRY_BODY_MAX, "keeper format");
_Static_assert(sizeof(struct keep_group) <= KEEP_BODY_MAX, "keeper format");

/* The keeper runs as "shmqd-keeper --keeper PATH" with its socket on this descriptor. */
#define KEEPER_FD 3

/* The keeper process's main; does not return unless it cannot start (1). */
int keeper_main(const char *path);

/* The keeper's socket path for a control socket path: "<path>.keep"; 0 or -SHMQ_EINVAL. */
int keeper_path(const char *socket_path, char *out, unsigned len);

/*
 * Connect to the keeper at path, or start one there. *out is the
 * connection (-1 if neither worked: the daemon runs without restarts then).
 * *found says whether a keeper was already there (it may hold channels).
 * With replace, a keeper serving another daemon stops that one first.
 * 0, or -SHMQ_ESYS when neither worked.
 */
int keeper_open(const char *path, bool replace, int *out, bool *found);

/*
 * Send op with body_bytes of body and up to 3 descriptors, waiting at most
 * 2 x 1 s for room; 0, -SHMQ_ECLOSED if the peer is gone or stopped
 * reading, -SHMQ_EINVAL for no descriptor or too much to send.
 */
int keeper_send(int kfd, uint32_t op, const void *body, uint32_t body_bytes, const int *fds,
		unsigned nfds);

/*
 * Receive one message (MSG_DONTWAIT in flags: without waiting); *nfds gets
 * the descriptors (up to 3, the rest closed); the body past body_bytes
 * reads as 0. 0; -SHMQ_EAGAIN (nothing there with MSG_DONTWAIT, or no
 * answer within SO_RCVTIMEO); -SHMQ_ECLOSED (gone; errno says how);
 * -SHMQ_EPROTO (malformed: a version before KEEP_VERSION_MIN, a body
 * shorter than its op's first version had, garbage; its descriptors closed).
 */
int keeper_recv(int kfd, struct keep_msg *m, int *fds, unsigned *nfds, int flags);

#endif
