/*
 * proto.h - the control protocol between libshmq and shmqd: message formats
 * only, no I/O. Transport: a SOCK_SEQPACKET Unix socket; one datagram per
 * request and per response, at most PROTO_MAX_BYTES, file descriptors (shm
 * segments, wake sockets) in SCM_RIGHTS of the response. Every datagram starts
 * with struct proto_hdr; the body's size must equal the op's struct size.
 * The first request on a connection is OP_HELLO; a different major
 * version is answered -SHMQ_EVERSION. All integers are host order (the
 * peers share a host). Strings are NUL-terminated within their array.
 */
#ifndef SHM_PROTO_H
#define SHM_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x50514853u /* "SHQP" */
#define PROTO_VERSION 4u	/* 4: event-fd readers wake through a socket pair, not an eventfd */
#define PROTO_MAX_BYTES 4096u
#define PROTO_NAME_BYTES 256u
#define PROTO_LIST_ROWS 12u
#define PROTO_MAX_FDS 64u
#define PROTO_STATS_ROWS 80u
/*
 * The minor version each side announces in OP_HELLO. 2 added OP_STATS, 3
 * OP_RESUME, 4 OP_REPAIR, 5 proto_list.hidden, 6 OP_GROUP, 7 OP_INBOX and
 * proto_chan_opts.dedupe_slots, 8 OP_MATCH, OP_WATCH, OP_UNWATCH and OP_WATCHES; a client asks a
 * daemon of a lower minor nothing it does not know (a daemon counts unknown ops as malformed
 * requests). A later minor may also append fields to a body (0 meaning what the earlier minor did):
 * each side takes a longer body from a peer of a higher minor and reads the fields it knows; from a
 * peer of its own minor or lower, a body must have exactly its size. OP_HELLO's bodies may be
 * longer from anyone.
 */
#define PROTO_MINOR 9u
#define PROTO_MINOR_STATS 2u
#define PROTO_MINOR_RESUME 3u
#define PROTO_MINOR_REPAIR 4u
#define PROTO_MINOR_HIDDEN 5u
#define PROTO_MINOR_GROUP 6u
#define PROTO_MINOR_INBOX 7u
#define PROTO_MINOR_DEDUPE 7u
#define PROTO_MINOR_ROUTING 8u
#define PROTO_MINOR_JOURNAL 9u /* durable channels: SHMQ_CHAN_SYNC_* in OP_CREATE/OP_OPEN flags */

/*
 * The seq of the answer with which shmqd turns a connection away before
 * its first request: op OP_HELLO, status -SHMQ_ECONNQUOTA (the uid holds
 * max_connections_per_uid) or -SHMQ_ETIMEDOUT (no HELLO in time); then it
 * closes. Clients number their requests from 1.
 */
#define PROTO_SEQ_REFUSAL 0u

enum proto_op {
	OP_HELLO = 1,
	OP_CREATE = 2,
	OP_DELETE = 3,
	OP_LIST = 4,
	OP_INFO = 5,
	OP_OPEN = 6,
	OP_CLOSE = 7,
	OP_PEERS = 8,
	OP_STATS = 9,	 /* minor 2: the daemon's counters and clients */
	OP_RESUME = 10,	 /* minor 3: re-register a handle opened with an earlier daemon */
	OP_REPAIR = 11,	 /* minor 4: cut readers stuck at a bad record forward */
	OP_GROUP = 12,	 /* minor 6: consumer groups: join, info, delete */
	OP_INBOX = 13,	 /* minor 7: a reply inbox for the caller (request is a proto_name) */
	OP_MATCH = 14,	 /* minor 8: the channels a subject pattern matches */
	OP_WATCH = 15,	 /* minor 8: be told when matching channels come and go */
	OP_UNWATCH = 16, /* minor 8: end a watch */
	OP_WATCHES = 17, /* minor 8: the pattern subscribers the caller may see */
	OP_MAX
};

enum proto_role {
	ROLE_PUB = 1,
	ROLE_SUB = 2,
	ROLE_MON = 3,	 /* observe: read-only mappings, no entry, holds nobody back */
	ROLE_MEMBER = 4, /* a consumer group member (OP_GROUP join); slot: group * 32 + member */
};

struct proto_hdr {
	uint32_t magic;	  /* PROTO_MAGIC */
	uint16_t version; /* PROTO_VERSION */
	uint16_t op;	  /* enum proto_op; a response echoes it */
	uint32_t seq;	  /* chosen by the client, echoed */
	int32_t status;	  /* responses: 0 or -enum shmq_err */
	uint32_t body_bytes;
	uint32_t pad;
};
static_assert(sizeof(struct proto_hdr) == 24, "proto ABI");

struct proto_chan_opts {
	uint64_t capacity_bytes;
	uint32_t max_message_bytes;
	uint32_t policy;       /* enum shmq_policy */
	uint32_t publishers;   /* enum shmq_publishers */
	int32_t numa_node;     /* SHMQ_NUMA_NONE, SHMQ_NUMA_LOCAL or SHMQ_NUMA_NODE(n) */
	uint32_t flags;	       /* SHMQ_CHAN_* */
	uint32_t dedupe_slots; /* minor 7: the duplicate table's slots, 0: none */
};
static_assert(sizeof(struct proto_chan_opts) == 32, "proto ABI");

struct proto_hello {
	uint32_t major;
	uint32_t minor;
	uint32_t pid; /* response: the daemon's pid */
	uint32_t pad;
};

/* OP_CREATE, OP_DELETE, OP_INFO request. */
struct proto_name {
	char name[PROTO_NAME_BYTES];
	struct proto_chan_opts opts;
};

struct proto_open {
	char name[PROTO_NAME_BYTES];
	uint32_t role;	 /* enum proto_role */
	uint32_t create; /* 1: create with opts if missing */
	struct proto_chan_opts opts;
	uint32_t start;	    /* enum shmq_start */
	uint32_t wait_mode; /* enum shmq_wait */
	uint64_t offset;
};

/*
 * OP_OPEN response. fds, in this order: the data segment (read-write for
 * publishers), the control segment (read-only), the wake segment
 * (read-only for monitors), then publishers and subscribers their own
 * entry segment (read-write), subscribers in event-fd mode the reader end
 * of their wake socket (wait_fd_create()), which the daemon then closes.
 */
struct proto_opened {
	uint64_t channel_id;
	uint64_t start_pos;   /* subscribers: the first record's offset ... */
	uint64_t start_bytes; /* ... and byte position: a record boundary */
	uint64_t skip_below;  /* subscribers: deliver nothing below this offset */
	uint32_t reader_idx;  /* subscribers: reader entry; publishers: publisher entry */
	uint32_t reader_gen;
	uint32_t nfds;
	uint32_t pad;
};

struct proto_close {
	uint64_t channel_id;
	uint32_t role;
	uint32_t reader_idx;
};

struct proto_info {
	char name[PROTO_NAME_BYTES];
	uint64_t capacity_bytes; /* the ring's bytes */
	uint64_t oldest;	 /* offset of the oldest retained message */
	uint64_t tail;
	uint32_t max_message_bytes;
	uint32_t policy;
	uint32_t readers;
	uint32_t publishers;	 /* enum shmq_publishers */
	int32_t numa_node;	 /* as asked: SHMQ_NUMA_* */
	int32_t numa_pages_node; /* node the ring's pages are on; -1 unknown or mixed */
	uint32_t publishers_open;
	uint32_t flags;
};

struct proto_list_req {
	uint32_t start;
	uint32_t pad;
};

struct proto_list {
	uint32_t total;
	uint32_t count;
	struct proto_info rows[PROTO_LIST_ROWS];
	/* minor 5: channels the caller may neither publish to nor subscribe to */
	uint32_t hidden;
	uint32_t pad;
};

/* What OP_PEERS asks for. */
enum proto_peer_kind {
	PEER_READERS = 1, /* readers' entry segments, read-only: block publishers, monitors */
	PEER_PUBS = 2,	  /* other publishers' entry segments, read-only: publishers, monitors */
	PEER_EFDS = 3,	  /* waker ends of event-fd readers' wake sockets: publishers */
};

/* OP_PEERS request. */
struct proto_peers_req {
	uint64_t channel_id;
	uint32_t kind; /* enum proto_peer_kind */
	uint32_t pad;
};

/* OP_PEERS response: count slots, one fd each, in order. */
struct proto_peers {
	uint64_t channel_id;
	uint32_t kind;
	uint32_t count;
	uint32_t idx[PROTO_MAX_FDS]; /* slot */
	uint32_t gen[PROTO_MAX_FDS]; /* its generation when the fd was taken */
};

/* OP_STATS request: client rows from start on (pagination as OP_LIST). */
struct proto_stats_req {
	uint32_t start;
	uint32_t pad;
};

/* One client of the daemon, as OP_STATS shows it. */
struct proto_client_row {
	uint32_t pid;
	uint32_t uid;
	uint64_t since_ns; /* CLOCK_REALTIME when it connected */
	uint32_t channels; /* distinct channels it holds handles on */
	uint32_t handles;  /* publisher, subscriber and monitor handles */
	char comm[16];	   /* its command name (/proc/PID/comm), NUL-terminated */
};
static_assert(sizeof(struct proto_client_row) == 40, "proto ABI");

/*
 * OP_STATS response. Counters are the daemon's since it started; channels
 * and clients count what the caller may see: an administrator (root, the
 * daemon's uid) every channel and client, anyone else the channels it may
 * use and the clients of its own uid.
 */
struct proto_stats {
	uint64_t started_ns;   /* CLOCK_REALTIME when the daemon started */
	uint64_t now_ns;       /* CLOCK_REALTIME of this answer */
	uint64_t repairs;      /* claims of dead or stalled publishers given up */
	uint64_t denials;      /* requests refused by access control or quota */
	uint64_t proto_errors; /* malformed requests */
	uint64_t connections;  /* clients accepted since start */
	uint32_t channels;     /* live channels the caller may see */
	uint32_t total;	       /* clients the caller may see */
	uint32_t count;	       /* rows filled */
	uint32_t pad;
	struct proto_client_row rows[PROTO_STATS_ROWS];
};

/*
 * OP_RESUME request, echoed by the response: a handle opened with a daemon
 * that has since been replaced by this one (same channel, same slot).
 */
struct proto_resume {
	uint64_t channel_id;
	uint32_t role; /* enum proto_role */
	uint32_t slot; /* proto_opened.reader_idx; 0 for monitors */
	uint32_t gen;  /* proto_opened.reader_gen */
	uint32_t pad;
};

/* OP_REPAIR response (the request is a struct proto_name; its opts are not read). */
struct proto_repair {
	uint32_t readers; /* readers cut forward */
	uint32_t pad;
	uint64_t skipped; /* messages they passed, added up */
};
static_assert(sizeof(struct proto_repair) == 16, "proto ABI");

/* What an OP_GROUP request asks. */
enum proto_group_what {
	GROUP_JOIN = 1,	  /* join (with SHMQ_GROUP_CREATE: make the group first) */
	GROUP_INFO = 2,	  /* the channel's groups and their counters */
	GROUP_DELETE = 3, /* delete a group no member is in */
};

#define PROTO_GROUP_NAME_BYTES 64u
#define PROTO_GROUP_ROWS 16u

/* OP_GROUP request (minor 6). Settings 0: the default (join: or the group's). */
struct proto_group {
	char channel[PROTO_NAME_BYTES];
	char group[PROTO_GROUP_NAME_BYTES]; /* GROUP_INFO: "" for every group */
	uint32_t what;			    /* enum proto_group_what */
	uint32_t flags;			    /* SHMQ_GROUP_* */
	uint64_t ack_wait_ns;
	uint64_t offset; /* start SHMQ_START_OFFSET */
	uint32_t max_pending;
	uint32_t max_deliver;
	uint32_t start; /* enum shmq_start, for a new group */
	uint32_t pad;
};
static_assert(sizeof(struct proto_group) == 360, "proto ABI");

/*
 * OP_GROUP join response. fds, in this order: the data segment
 * (read-only), the control segment (read-only), the wake segment, the
 * group's reader entry and the group segment (both read-write).
 */
struct proto_group_joined {
	uint64_t channel_id;
	uint64_t seg_bytes; /* the group segment's */
	uint32_t group;	    /* its index on the channel */
	uint32_t member;    /* our row in the member table */
	uint32_t member_gen;
	uint32_t reader_slot;
	uint32_t reader_gen;
	uint32_t nfds;
};
static_assert(sizeof(struct proto_group_joined) == 40, "proto ABI");

/* One group in the OP_GROUP info response: counters as its members keep them. */
struct proto_group_row {
	char name[PROTO_GROUP_NAME_BYTES];
	uint32_t members; /* live now */
	uint32_t max_pending;
	uint64_t floor; /* every message below is acked or dead */
	uint64_t dispatch;
	uint64_t delivered;
	uint64_t redelivered;
	uint64_t acked;
	uint64_t dead;
	uint64_t lost;
};
static_assert(sizeof(struct proto_group_row) == 128, "proto ABI");

struct proto_group_info {
	uint32_t count;
	uint32_t pad;
	struct proto_group_row rows[PROTO_GROUP_ROWS];
};

static_assert(sizeof(struct proto_hdr) + sizeof(struct proto_group_info) <= PROTO_MAX_BYTES,
	      "group info fits a datagram");

/* OP_MATCH request; the response is a struct proto_list (its hidden is 0). */
struct proto_match_req {
	char pattern[PROTO_NAME_BYTES]; /* pattern.h */
	uint32_t start;			/* first row, as OP_LIST */
	uint32_t flags;			/* MATCH_SUBSCRIBE */
};
#define MATCH_SUBSCRIBE 1u /* only channels the caller may subscribe to (else: may see) */

/*
 * OP_WATCH request. The response is a struct proto_watch and one fd: the
 * reader end of a datagram socket pair on which the daemon sends a byte
 * when a channel matching the pattern that the caller may subscribe to is
 * created or deleted. The watch ends with OP_UNWATCH or the connection.
 */
struct proto_watch_req {
	char pattern[PROTO_NAME_BYTES];
};
/* OP_WATCH response, OP_UNWATCH request and response. */
struct proto_watch {
	uint64_t watch_id;
};
static_assert(sizeof(struct proto_match_req) == 264, "proto ABI");

/* One watch as OP_WATCHES shows it. */
struct proto_watch_row {
	uint32_t pid;
	uint32_t uid;
	uint32_t channels; /* matching channels its connection holds a subscriber on */
	uint32_t pad;
	char pattern[PROTO_NAME_BYTES];
};
#define PROTO_WATCH_ROWS 12u
/* OP_WATCHES response (the request is a struct proto_list_req): rows from start. */
struct proto_watches {
	uint32_t total;
	uint32_t count;
	struct proto_watch_row rows[PROTO_WATCH_ROWS];
};
static_assert(sizeof(struct proto_hdr) + sizeof(struct proto_watches) <= PROTO_MAX_BYTES,
	      "watches fit a datagram");

/*
 * OP_INBOX response: the channel the daemon made for the caller's replies
 * (policy drop, flag SHMQ_CHAN_INBOX); it goes when the caller's
 * connection closes or its reader of it goes.
 */
struct proto_inbox {
	char name[PROTO_NAME_BYTES];
	uint64_t channel_id;
};
static_assert(sizeof(struct proto_inbox) == 264, "proto ABI");
static_assert(offsetof(struct proto_inbox, channel_id) == 256, "proto ABI");

static_assert(sizeof(struct proto_hdr) + sizeof(struct proto_list) <= PROTO_MAX_BYTES,
	      "list fits a datagram");
static_assert(sizeof(struct proto_hdr) + sizeof(struct proto_stats) <= PROTO_MAX_BYTES,
	      "stats fit a datagram");

#endif
