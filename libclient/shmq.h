/*
 * shmq.h - the public API of libshmq, the client library of the shmq
 * shared-memory message broker. This is the only header an application
 * includes; link with `pkg-config --libs shmq`.
 *
 * Thread safety:
 *  - struct shmq_client is safe to share between threads: control requests are
 *    serialised by an internal mutex. Close every channel handle before
 *    shmq_disconnect().
 *  - struct shmq_pub and struct shmq_sub are used by one thread at a time.
 *    Any number of publisher handles, in any threads or processes, may publish
 *    to one channel concurrently without locks; open one handle per thread.
 *  - Nothing in this library prints, exits or aborts: every failure is a
 *    negative enum shmq_err value, and shmq_strerror() explains it.
 */
#ifndef SHMQ_H
#define SHMQ_H

#include <stddef.h>
#include <stdint.h>

#include "shmq_err.h"
#include "shmq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHMQ_VERSION_MAJOR 0
#define SHMQ_VERSION_MINOR 1

/* Longest channel name, without the terminating NUL. */
#define SHMQ_NAME_MAX 200

struct shmq_client;
struct shmq_pub;
struct shmq_sub;

/* Bounds of a channel's settings: a smaller capacity is rounded up, more than a MAX is
 * -SHMQ_EINVAL; and of a message's header fields (-SHMQ_ETOOBIG). */
#define SHMQ_CAPACITY_MIN 4096ull      /* ring bytes */
#define SHMQ_CAPACITY_MAX (1ull << 40) /* ring bytes */
#define SHMQ_MESSAGE_MAX (16u << 20)   /* max_message_bytes */
#define SHMQ_FIELDS_MAX 4096u	       /* ring bytes of one message's header fields */

/* Settings of a channel. Zero fields take the defaults shown. */
struct shmq_channel_opts {
	uint64_t capacity_bytes;    /* ring bytes at least, default 4 MiB (rounded up to 2^n,
				     * and to 4 records of the largest message) */
	uint32_t max_message_bytes; /* largest payload, default 4096, at most 16 MiB */
	uint32_t policy;	    /* enum shmq_policy, default DROP */
	uint32_t publishers;	    /* enum shmq_publishers, default MANY */
	int32_t numa_node;	    /* SHMQ_NUMA_*, default NONE */
	uint32_t flags;		    /* SHMQ_CHAN_*, default 0 */
	uint32_t dedupe_slots;	    /* duplicate detection by msg_id: the table's slots, a power
				     * of two 16..2^24 (65536 is 2 MiB), window 2 min; 0: off */
};

/* One row of shmq_channel_list(). */
struct shmq_channel_info {
	char name[SHMQ_NAME_MAX + 1];
	uint32_t policy;
	uint64_t capacity_bytes; /* bytes of the ring */
	uint32_t max_message_bytes;
	uint32_t readers;	  /* subscribers attached now */
	uint64_t oldest;	  /* offset of the oldest message still retained */
	uint64_t tail;		  /* offset the next message gets */
	uint32_t publishers;	  /* enum shmq_publishers */
	uint32_t publishers_open; /* publisher handles open now */
	int32_t numa_node;	  /* as asked, SHMQ_NUMA_* */
	int32_t numa_pages_node;  /* node the ring's memory is on, -1 if unknown or mixed */
	uint32_t flags;		  /* SHMQ_CHAN_* */
};

struct shmq_pub_opts {
	/* Create the channel with .channel settings if it does not exist. */
	int create;
	struct shmq_channel_opts channel;
};

struct shmq_sub_opts {
	uint32_t start;	  /* enum shmq_start */
	uint32_t wait;	  /* enum shmq_wait */
	uint64_t offset;  /* with SHMQ_START_OFFSET */
	uint64_t spin_ns; /* SPIN_SLEEP spin window, default 20000 */
	int create;	  /* create the channel with .channel if missing */
	struct shmq_channel_opts channel;
};

/* A received message: a read-only view into shared memory. */
struct shmq_msg {
	const void *data;
	uint32_t len;
	uint32_t flags;	       /* SHMQ_MSG_* */
	uint64_t offset;       /* position in the channel, dense, never reused */
	uint64_t timestamp_ns; /* CLOCK_REALTIME at commit; 0 on SHMQ_CHAN_NO_TIMESTAMP channels */
	uint64_t lost;	       /* messages lost just before this one (overrun or dead publisher) */
	uint64_t seal;	       /* the record's place, for shmq_msg_verify(); do not change */
	const void *ext;       /* the header fields, encoded: read them with shmq_msg_fields() */
	uint32_t ext_bytes;    /* 0: the message has none */
	uint32_t deliveries;   /* group members: 1 the first time, more when redelivered; else 0 */
	uint32_t channel;      /* pattern subscriptions: its channel's index (shmq_sub_channel()) */
	uint32_t reserved;     /* 0 */
};

/* shmq_msg.flags */
#define SHMQ_MSG_FIELDS 0x04u /* it carries header fields (shmq_msg_fields()) */
#define SHMQ_MSG_BATCH 0x08u  /* the first message of an atomic batch */

/* Which optional header fields a message carries (shmq_msg_opts.fields). */
#define SHMQ_F_MSG_ID 0x01u	  /* msg_id: for duplicate detection */
#define SHMQ_F_CORR_ID 0x02u	  /* corr_id: request/reply correlation */
#define SHMQ_F_DELIVER_AT 0x04u	  /* deliver_at_ns: CLOCK_REALTIME, not before */
#define SHMQ_F_EXPIRY 0x08u	  /* expiry_ns: CLOCK_REALTIME, not after */
#define SHMQ_F_KEY 0x10u	  /* key (1..1024 bytes), with a stored 32-bit hash */
#define SHMQ_F_REPLY_TO 0x20u	  /* reply_to: a channel name */
#define SHMQ_F_CONTENT_TYPE 0x40u /* content_type (1..255 bytes) */
#define SHMQ_F_HEADERS 0x80u	  /* 1..16 user headers: name 1..255, value 0..1024 bytes */

/* A user header. */
struct shmq_header {
	const char *name;
	uint32_t name_len;
	const void *value;
	uint32_t value_len;
};

/*
 * Header fields of a message to publish. Set the SHMQ_F_* bits of the fields
 * given; a message without any pays nothing for them. All of them take at
 * most 4096 bytes of ring space (-SHMQ_ETOOBIG).
 */
struct shmq_msg_opts {
	uint32_t fields;
	uint32_t reserved;
	uint64_t msg_id;
	uint64_t corr_id;
	uint64_t deliver_at_ns;
	uint64_t expiry_ns;
	const void *key;
	uint32_t key_len;
	uint32_t nheaders;
	const char *reply_to;	  /* NUL-terminated */
	const char *content_type; /* NUL-terminated */
	const struct shmq_header *headers;
};

/* The header fields of a received message: pointers into its record. */
struct shmq_msg_fields {
	uint32_t fields;   /* SHMQ_F_* present */
	uint32_t key_hash; /* of key; what partitioning uses */
	uint64_t msg_id;
	uint64_t corr_id;
	uint64_t deliver_at_ns;
	uint64_t expiry_ns;
	const void *key;
	uint32_t key_len;
	uint32_t reply_to_len;
	const char *reply_to;	  /* not NUL-terminated: reply_to_len bytes */
	const char *content_type; /* not NUL-terminated */
	uint32_t content_type_len;
	uint32_t nheaders;
};

/* Space claimed in the ring by shmq_pub_claim(), written in place. */
struct shmq_claim {
	void *data;
	uint32_t capacity; /* bytes that may be written at data: the length claimed */
	uint32_t reserved;
	uint64_t offset; /* the message's offset once committed */
};

/* One message of a batch for shmq_publishv(). */
struct shmq_buf {
	const void *data;
	uint32_t len;
	uint32_t reserved;
};

/* Most messages in one atomic batch. */
#define SHMQ_BATCH_MAX 1024

/*
 * Ring bytes one message of len payload bytes takes: a 32-byte header and
 * the payload, rounded up to 32 (header extensions add their own size).
 * A block-policy channel holds capacity_bytes / SHMQ_RECORD_BYTES(len) such
 * messages before publishers wait; a drop-policy channel keeps the newest
 * capacity_bytes - 32 bytes of them (one word stays clear for the next).
 */
#define SHMQ_RECORD_BYTES(len) ((32u + (uint64_t)(len) + 31u) & ~(uint64_t)31u)

/* Counters of a subscriber, since it opened. */
struct shmq_sub_stats {
	uint64_t received;
	uint64_t lost_overrun;	 /* overwritten before they were read (drop policy) */
	uint64_t lost_abandoned; /* their publisher died or stalled between claim and commit */
	uint64_t expired;	 /* skipped: their expiry_ns had passed (never counted lost) */
};

/* shmq_sub_stats() and the counters added since (shmq_sub_counts()). */
struct shmq_sub_counts {
	uint64_t received;
	uint64_t lost_overrun;
	uint64_t lost_abandoned;
	uint64_t filtered; /* passed over by the subscriber's filter (shmq_sub_set_filter()) */
	uint64_t unopened; /* pattern handles: matching channels it could not open */
	uint64_t expired;  /* skipped: their expiry_ns had passed (never counted lost) */
	uint64_t reserved[2];
};

/* ---- connection ------------------------------------------------------- */

/*
 * Connect to shmqd. socket_path NULL means $SHMQ_SOCKET, else the default
 * ($XDG_RUNTIME_DIR/shmq/shmqd.sock, or /run/shmq/shmqd.sock for root, or
 * /tmp/shmq-UID/shmqd.sock without XDG_RUNTIME_DIR: -SHMQ_EPERM unless that
 * directory is the caller's own with mode 0700).
 * Errors: -SHMQ_ENODAEMON (nobody listens there), -SHMQ_EPERM (the socket
 * refuses us), -SHMQ_EVERSION, -SHMQ_EPROTO (the peer is no shmqd),
 * -SHMQ_ECLOSED (it hung up), -SHMQ_ELIMIT (no descriptors left),
 * -SHMQ_ECONNQUOTA (the caller's uid holds as many connections as the
 * daemon allows), -SHMQ_EINVAL (path too long), -SHMQ_ENOMEM, -SHMQ_ESYS.
 */
int shmq_connect(const char *socket_path, struct shmq_client **out);

/*
 * shmq_connect() with a bound on every answer of the daemon, this
 * connection's first included: a request not answered within timeout_ns
 * (> 0; < 0 waits forever, as shmq_connect()) fails with -SHMQ_ETIMEDOUT,
 * and so does every later request while that answer is still due (it is
 * dropped when it comes). For observers such as shmq-stat that must not
 * hang on a stopped or overloaded daemon; what the late request did
 * (opened a handle, for instance) stands until the connection closes.
 */
int shmq_connect_timeout(const char *socket_path, int64_t timeout_ns, struct shmq_client **out);

/* Close the connection. NULL is ignored. */
void shmq_disconnect(struct shmq_client *client);

/*
 * 1 while the daemon is connected, 0 while it is away (it died or is
 * restarting: open handles go on exchanging messages, control calls answer
 * -SHMQ_ENODAEMON and reconnect by themselves, re-registering every open
 * handle once a daemon is back; a subscriber whose daemon stays away for
 * 30 s gets -SHMQ_ECLOSED). -SHMQ_EINVAL for NULL.
 */
int shmq_client_connected(struct shmq_client *client);

/* The socket path the client connects (or would connect) to; into buf. */
int shmq_socket_path(const char *socket_path, char *buf, size_t len);

/* ---- channels --------------------------------------------------------- */

/* Create a channel. -SHMQ_EEXIST, -SHMQ_ENAME, -SHMQ_EINVAL, -SHMQ_EPERM, -SHMQ_ELIMIT. */
int shmq_channel_create(struct shmq_client *client, const char *name,
			const struct shmq_channel_opts *opts);

/* Delete a channel; handles already open keep their mapping. -SHMQ_ENOENT, -SHMQ_EPERM. */
int shmq_channel_delete(struct shmq_client *client, const char *name);

/*
 * Cut a channel forward: every reader that the daemon's watchdog finds
 * standing still at a record it cannot parse (a publisher forged it) is
 * moved to the next record boundary it can trust (as shmq_sub_skip()
 * would, else the tail); block publishers waiting for it go on at once,
 * and the reader counts the messages it passed as lost when it next looks.
 * For administrators: root, the daemon's uid and the channel's owner.
 * *cut (if not NULL) gets the number of readers moved (0: none stuck).
 * -SHMQ_ENOENT, -SHMQ_EPERM, -SHMQ_EVERSION (a daemon before minor 4).
 */
int shmq_channel_repair(struct shmq_client *client, const char *name, uint32_t *cut);

/*
 * Fill up to max rows of out; return the number of channels the daemon has
 * (which may exceed max), or a negative error.
 */
int shmq_channel_list(struct shmq_client *client, struct shmq_channel_info *out, size_t max);

/*
 * The number of channels the daemon has that the caller may neither
 * publish to nor subscribe to, which shmq_channel_list() and
 * shmq_channel_info() do not show (0 for root and the daemon's uid); or
 * a negative error: -SHMQ_EVERSION from a daemon before protocol minor 5.
 */
int shmq_channel_hidden(struct shmq_client *client);

/* Describe one channel. -SHMQ_ENOENT. */
int shmq_channel_info(struct shmq_client *client, const char *name, struct shmq_channel_info *out);

/* Return the default channel settings with every zero field filled in. */
void shmq_channel_opts_default(struct shmq_channel_opts *opts);

/* ---- publishing ------------------------------------------------------- */

/* Open a channel for publishing. opts may be NULL. */
int shmq_pub_open(struct shmq_client *client, const char *name, const struct shmq_pub_opts *opts,
		  struct shmq_pub **out);

/* Close a publisher handle. NULL is ignored. An open claim is abandoned. */
void shmq_pub_close(struct shmq_pub *pub);

/* Largest payload this channel accepts. */
uint32_t shmq_pub_max_message(const struct shmq_pub *pub);

/*
 * Durable channels (created with SHMQ_CHAN_DURABLE(SHMQ_SYNC_*) in their
 * flags; docs/ARCHITECTURE.md "Durability"). A message is durable once the
 * daemon's journal wrote it to its files and, except for SHMQ_SYNC_OS,
 * completed an fdatasync after that: it then survives a crash of the host.
 *
 * shmq_pub_durable: *below = the offset below which every message is
 * durable now. 0; -SHMQ_ESTATE on a channel that is not durable;
 * -SHMQ_EIO if its journal failed (what was durable stays so, nothing
 * more becomes so); -SHMQ_EINVAL for NULL arguments.
 *
 * shmq_wait_durable: wait until the message at offset (as a claim or
 * publish returned it) is durable: 0; -SHMQ_ETIMEDOUT after timeout_ns
 * (0: look once; negative: no limit); -SHMQ_EIO, -SHMQ_ESTATE,
 * -SHMQ_EINVAL as above. Any number of publishers may wait at once; one
 * fdatasync confirms them all.
 */
int shmq_pub_durable(const struct shmq_pub *pub, uint64_t *below);
int shmq_wait_durable(struct shmq_pub *pub, uint64_t offset, int64_t timeout_ns);

/*
 * Claim space for one message of up to len bytes and write it in place at
 * claim->data; then shmq_pub_commit() or shmq_pub_abort(). The message
 * takes the ring space len needs (a 32-byte header, the payload, rounded up
 * to 32 bytes), not the channel's maximum. One open claim per handle.
 * timeout_ns says how to wait for space: 0 returns -SHMQ_EFULL at once, < 0
 * waits forever, > 0 waits that long and then returns -SHMQ_ETIMEDOUT.
 * Space is missing when the slowest reader of a block-policy channel is a
 * ring behind, or (any policy) while a publisher that stalled a ring ago
 * still holds its claim, until shmqd stops it (see docs/ARCHITECTURE.md).
 * -SHMQ_ETOOBIG when len exceeds the channel's maximum. -SHMQ_ECLOSED once
 * the channel is gone: a daemon that came back after a restart did not know
 * it (its keeper died meanwhile). Claims look for that at a 256th claim at
 * least 100 ms after the last look, with one poll() and a reconnect as the
 * backoff allows (at most every second), and so does any control call of
 * the client.
 */
int shmq_pub_claim(struct shmq_pub *pub, uint32_t len, struct shmq_claim *claim,
		   int64_t timeout_ns);

/*
 * Make the claimed message visible with len bytes (<= the claimed size).
 * -SHMQ_EABANDONED if the claim was held so long that the daemon gave it up;
 * the message was then not published.
 */
int shmq_pub_commit(struct shmq_pub *pub, struct shmq_claim *claim, uint32_t len);

/*
 * shmq_pub_claim() with header fields (opts may be NULL). The fields are
 * written into the record now; the payload goes to claim->data.
 * -SHMQ_EINVAL for a field out of its range, -SHMQ_ETOOBIG if they exceed
 * 4096 bytes.
 */
int shmq_pub_claim_opts(struct shmq_pub *pub, uint32_t len, const struct shmq_msg_opts *opts,
			struct shmq_claim *claim, int64_t timeout_ns);

/*
 * shmq_publish() with header fields (opts may be NULL). On a channel
 * created with dedupe_slots, a message with SHMQ_F_MSG_ID whose id was
 * published less than the window (2 min, from the first publish: a
 * duplicate does not extend it) ago is not published: -SHMQ_EDUPLICATE,
 * and *offset is the original's (UINT64_MAX if the table names none
 * below the tail). A claim of another publisher holding the same id is
 * waited for as for space (-SHMQ_EFULL with timeout 0); one whose
 * publisher died is taken over. -SHMQ_ELIMIT: the table has no slot for
 * the id ("dedupe table full"). Without a table, ids are stored, not
 * checked. shmq_pub_claim_opts() checks the same way (claim->offset gets
 * the original's), before its claim moves the tail.
 */
int shmq_publish_opts(struct shmq_pub *pub, const void *data, uint32_t len,
		      const struct shmq_msg_opts *opts, int64_t timeout_ns, uint64_t *offset);

/*
 * Give a claim up (a whole batch, given its first claim); readers skip it
 * and count its messages as lost.
 */
int shmq_pub_abort(struct shmq_pub *pub, struct shmq_claim *claim);

/*
 * Claim n messages (n <= SHMQ_BATCH_MAX) of lens[i] bytes at once, with one
 * tail move: claims[i] gets message i's space and offset (consecutive).
 * The batch is atomic: after shmq_pub_commitv() readers see all of it,
 * and if the publisher aborts, dies or stalls first, none of it. Atomic is
 * about what appears, not about what an overrun reader gets: on a `drop`
 * channel a subscriber lapped while it reads a batch has received the
 * batch's first messages and gets the rest counted in shmq_msg.lost, as
 * for any overrun. A batch
 * takes at most a quarter of the ring (-SHMQ_ETOOBIG). Waits as
 * shmq_pub_claim().
 */
int shmq_pub_claimv(struct shmq_pub *pub, const uint32_t *lens, unsigned n,
		    struct shmq_claim *claims, int64_t timeout_ns);

/* Publish a batch claimed by shmq_pub_claimv(): every message, full length. */
int shmq_pub_commitv(struct shmq_pub *pub, struct shmq_claim *claims, unsigned n);

/* Copy n messages in and publish them as one atomic batch; claimv + commitv. */
int shmq_publishv(struct shmq_pub *pub, const struct shmq_buf *msgs, unsigned n, int64_t timeout_ns,
		  uint64_t *first_offset);

/*
 * Copy len bytes into the channel as one message; claim + memcpy + commit.
 * On success returns 0 and, if offset is not NULL, the message's offset.
 */
int shmq_publish(struct shmq_pub *pub, const void *data, uint32_t len, int64_t timeout_ns,
		 uint64_t *offset);

/* ---- subscribing ------------------------------------------------------ */

/* Open a subscriber with its own cursor. opts may be NULL (latest, spin-then-sleep). */
int shmq_sub_open(struct shmq_client *client, const char *name, const struct shmq_sub_opts *opts,
		  struct shmq_sub **out);

/* Close a subscriber handle and release its cursor. NULL is ignored. */
void shmq_sub_close(struct shmq_sub *sub);

/*
 * Receive the next message as a view into shared memory, valid until the
 * next shmq_recv()/shmq_poll() on this handle. On block-policy channels
 * publishers cannot overwrite it meanwhile; on drop-policy channels they
 * can, and shmq_msg_verify() says whether the view was still intact.
 * timeout_ns: 0 never waits (-SHMQ_EAGAIN), < 0 waits forever, > 0 waits that
 * long (-SHMQ_ETIMEDOUT). With SHMQ_WAIT_EVENTFD, a call with timeout 0
 * never blocks and, when it returns -SHMQ_EAGAIN, shmq_sub_fd() becomes
 * readable once a message arrives (for the application's own epoll or
 * io_uring loop); a non-zero timeout waits in poll() on that fd.
 * -SHMQ_ECORRUPT: the record at the cursor is none an honest publisher
 * writes (a publisher forged it; publishers are trusted with content, not
 * with liveness), or the daemon's watchdog found this reader standing
 * still below the tail at bytes that are no record, or the tail stands
 * below the reader's cursor (a publisher moved it back). Every later call says
 * so again until shmq_sub_skip() moves past it or an administrator cuts
 * the reader forward (shmq_channel_repair()); the next message then
 * counts the skipped ones in msg->lost. shmq_poll() returns it the same way.
 */
int shmq_recv(struct shmq_sub *sub, struct shmq_msg *msg, int64_t timeout_ns);

/*
 * 0 if the view msg (from shmq_recv(), or given to a shmq_poll() callback)
 * was not overwritten since it was received, else -SHMQ_EOVERRUN. Check it
 * after reading a view on a drop-policy channel: a publisher that laps the
 * reader may rewrite the slot while it is read. Always 0 on block channels
 * while the view is valid.
 */
int shmq_msg_verify(const struct shmq_sub *sub, const struct shmq_msg *msg);

/*
 * Receive into buf, checking the copy is intact (drop policy safe).
 * -SHMQ_EINVAL if buf is shorter than the message (msg->len tells its size;
 * the message is not consumed). msg->data points to buf.
 */
int shmq_recv_copy(struct shmq_sub *sub, void *buf, size_t len, struct shmq_msg *msg,
		   int64_t timeout_ns);

/*
 * Deliver up to max ready messages to cb, waiting up to timeout_ns for the
 * first. Returns the number delivered or a negative error. The cursor is
 * published once for the batch. cb returning non-zero stops the batch
 * after that message. Each view is valid during its callback; on drop
 * channels the callback checks it with shmq_msg_verify() after reading.
 */
typedef int (*shmq_msg_cb)(void *arg, const struct shmq_msg *msg);
int shmq_poll(struct shmq_sub *sub, shmq_msg_cb cb, void *arg, unsigned max, int64_t timeout_ns);

/*
 * The header fields of msg (from shmq_recv() or a poll callback), without
 * copying anything: out points into the record. 0 (out->fields 0 if it has
 * none) or -SHMQ_ECORRUPT. On drop channels, shmq_msg_verify() afterwards.
 */
int shmq_msg_fields(const struct shmq_msg *msg, struct shmq_msg_fields *out);

/* User header i of msg (i < out->nheaders of shmq_msg_fields()). -SHMQ_EINVAL, -SHMQ_ECORRUPT. */
int shmq_msg_header(const struct shmq_msg *msg, uint32_t i, struct shmq_header *out);

/* The first user header of msg named name. -SHMQ_ENOENT if none. */
int shmq_msg_header_find(const struct shmq_msg *msg, const char *name, struct shmq_header *out);

/* The 32-bit hash of a key, as stored in a message (partitions use it). */
uint32_t shmq_key_hash(const void *key, uint32_t len);

/*
 * The descriptor to watch for a SHMQ_WAIT_EVENTFD subscriber (else
 * -SHMQ_ESTATE): it becomes readable (POLLIN) once a message arrives
 * after a shmq_recv()/shmq_poll() with timeout 0 said -SHMQ_EAGAIN. It
 * is the subscriber's end of an AF_UNIX datagram socket pair, not an
 * eventfd: poll it, never read or write it (shmq_recv() empties it), and
 * do not close it (shmq_sub_close() does). It is non-blocking, and the
 * library never blocks on it whatever flags are set on it.
 */
int shmq_sub_fd(const struct shmq_sub *sub);

/* Counters of this subscriber. */
void shmq_sub_stats(const struct shmq_sub *sub, struct shmq_sub_stats *out);

/* Counters of this subscriber, with filtered and (pattern handles) unopened. */
void shmq_sub_counts(const struct shmq_sub *sub, struct shmq_sub_counts *out);

/*
 * Expiry: shmq_recv(), shmq_recv_copy() and shmq_poll() skip a message whose
 * expiry_ns (SHMQ_F_EXPIRY, CLOCK_REALTIME) is at or before now, counting it
 * in shmq_sub_stats.expired, not as lost. on = 1 delivers such messages
 * too (for this handle; a pattern handle: every channel, now and later), 0
 * skips them again. -SHMQ_EINVAL for NULL. Expiry frees no ring space
 * early, and readers of a library that knows no expiry deliver expired
 * messages.
 */
int shmq_sub_deliver_expired(struct shmq_sub *sub, int on);

/* The offset the next shmq_recv() will look at; 0 for a pattern handle (offsets are per channel).
 */
uint64_t shmq_sub_position(const struct shmq_sub *sub);

/*
 * Skip to the next chunk: after -SHMQ_ECORRUPT (or at any time), move the
 * cursor past what it stands on to the first record boundary a reader can
 * trust, the first start of a chunk (a sixteenth of the ring) past the
 * cursor that publishers have passed, where the channel's chunk index
 * names a record of that lap carrying the message number it lists; or the
 * tail, if none of the entries it passed can be trusted or it stands
 * below the cursor. The messages passed (*lost, if not NULL) count as
 * lost: in the next message's lost and in lost_overrun. A view from
 * shmq_recv() is released first. -SHMQ_EAGAIN if publishers have not
 * passed a chunk start past the cursor yet (retry after more is
 * published: on block channels they may go a ring past this reader, so
 * they will), -SHMQ_ECORRUPT if the tail itself is no record boundary,
 * -SHMQ_EINVAL.
 */
int shmq_sub_skip(struct shmq_sub *sub, uint64_t *lost);

/* ---- routing: pattern subscriptions and filters ---------------------------- */

/*
 * Subscribe to every channel whose name matches pattern (NATS rules: `*`
 * is one token, `>` one or more trailing tokens, as in "orders.*.created"
 * or "orders.>") and that the caller may subscribe to: those that exist now
 * (from opts->start) and those created while the handle is open (from their
 * first message). opts as for shmq_sub_open() (NULL: latest, spin then
 * sleep); create is not allowed (-SHMQ_EINVAL). shmq_recv(), shmq_poll(),
 * shmq_recv_copy(), shmq_msg_verify(), shmq_sub_fd(), shmq_sub_stats(),
 * shmq_sub_counts() and
 * shmq_sub_close() take the handle; msg->channel names the message's
 * channel, msg->offset is its offset there, order and loss are per channel.
 * A matched channel that is deleted ends for itself only, after its last
 * message. shmq_sub_fd() is always available: an epoll descriptor that
 * becomes readable when any matched channel has a message or a new one
 * matches (after a receive with timeout 0 said -SHMQ_EAGAIN). Needs a
 * daemon of protocol minor 8 (-SHMQ_EVERSION). -SHMQ_EPATTERN for a
 * malformed pattern.
 */
int shmq_sub_open_pattern(struct shmq_client *client, const char *pattern,
			  const struct shmq_sub_opts *opts, struct shmq_sub **out);

/* One channel of a pattern subscription, by its index (msg->channel). */
struct shmq_sub_channel {
	const char *name; /* valid until the handle is closed */
	uint32_t ended;	  /* 1: the channel was deleted and its messages are all read */
	uint32_t reserved;
	struct shmq_sub_counts st; /* this channel's counters */
};

/*
 * The channel of index (0 .. shmq_sub_channels() - 1). Indices are never
 * reused while the handle is open. -SHMQ_EINVAL, -SHMQ_ENOENT past the end,
 * -SHMQ_ESTATE for a plain subscriber.
 */
int shmq_sub_channel(const struct shmq_sub *sub, uint32_t index, struct shmq_sub_channel *out);
uint32_t shmq_sub_channels(const struct shmq_sub *sub);

/*
 * The channels matching pattern that the caller may see, as
 * shmq_channel_list() lists them: fills up to max, returns how many match.
 */
int shmq_channel_match(struct shmq_client *client, const char *pattern,
		       struct shmq_channel_info *out, size_t max);

/* 0 if pattern is a valid subject pattern, else -SHMQ_EPATTERN. */
int shmq_pattern_check(const char *pattern);

/* Kinds of filter terms. */
enum shmq_filter_kind {
	SHMQ_FILTER_KEY_EQ = 1,	      /* the key equals value */
	SHMQ_FILTER_KEY_PREFIX = 2,   /* the key starts with value */
	SHMQ_FILTER_KEY_HASH = 3,     /* shmq_key_hash(key) % buckets is in [lo, hi] */
	SHMQ_FILTER_HEADER_EQ = 4,    /* a user header named name has the value value */
	SHMQ_FILTER_HEADER_HAS = 5,   /* a user header named name is present */
	SHMQ_FILTER_CONTENT_TYPE = 6, /* the content type equals value */
};

/* One term; value and name are copied by shmq_sub_set_filter(). */
struct shmq_filter_term {
	uint32_t kind; /* enum shmq_filter_kind */
	uint32_t value_len;
	const void *value; /* KEY_EQ, KEY_PREFIX (1..1024), HEADER_EQ (0..1024), CONTENT_TYPE */
	const char *name;  /* HEADER_EQ, HEADER_HAS: NUL-terminated, 1..255 bytes */
	uint32_t buckets;  /* KEY_HASH: 1 .. 2^31 */
	uint32_t lo, hi;   /* KEY_HASH: lo <= hi < buckets */
	uint32_t reserved;
};

#define SHMQ_FILTER_ALL 0u /* every term must hold */
#define SHMQ_FILTER_ANY 1u /* one term holding is enough */
#define SHMQ_FILTER_MAX_TERMS 16u

struct shmq_filter {
	const struct shmq_filter_term *terms;
	uint32_t nterms; /* 1 .. SHMQ_FILTER_MAX_TERMS */
	uint32_t match;	 /* SHMQ_FILTER_ALL or SHMQ_FILTER_ANY */
};

/*
 * Deliver only the messages that pass filter; the others advance the
 * cursor and are counted in shmq_sub_counts().filtered, never as lost. The
 * terms are evaluated on the record in place, before anything is copied.
 * A message without the field a term reads fails that term. filter is
 * copied; NULL removes the filter. For a pattern handle it applies to every
 * channel, now and later. -SHMQ_EFILTER: no terms, too many, an unknown
 * kind or match, a value or name out of range.
 */
int shmq_sub_set_filter(struct shmq_sub *sub, const struct shmq_filter *filter);

/* ---- request/reply ---------------------------------------------------- */

/*
 * A requester publishes requests to a channel and receives their replies in
 * an inbox of its own: a channel shmqd makes for it (_inbox.<uid>.<id>,
 * policy drop, flag SHMQ_CHAN_INBOX) that only its uid may read and the
 * request channel's readers may write, and deletes when the requester
 * closes, disconnects or dies. Each request carries reply_to (the inbox)
 * and a random 64-bit corr_id; a reply whose corr_id is none of the
 * requester's last 1024 requests is dropped and counted. Used by one
 * thread at a time.
 */
struct shmq_requester;

/*
 * Open a requester of channel (opts as shmq_pub_open(): it may create the
 * channel). Needs the right to publish to it. -SHMQ_EVERSION from a daemon
 * before protocol minor 7, -SHMQ_ECHANQUOTA when the caller's uid owns as
 * many channels as it may (an inbox counts), and shmq_pub_open()'s errors.
 */
int shmq_requester_open(struct shmq_client *client, const char *channel,
			const struct shmq_pub_opts *opts, struct shmq_requester **out);

/* Close a requester; its inbox goes with it. NULL is ignored. */
void shmq_requester_close(struct shmq_requester *r);

/*
 * Publish a request (opts may be NULL; its corr_id and reply_to are set
 * here) and wait up to timeout_ns (as shmq_recv()) for its first reply,
 * copied into buf: msg->data points to buf, msg->len is its length.
 * Publishing waits for space as long as the reply may. Replies to other
 * requests of this requester that arrive meanwhile are dropped and
 * counted: do not mix it with shmq_request_send() on one requester.
 * -SHMQ_ENOREADER at once if nobody reads the channel, -SHMQ_ETIMEDOUT,
 * -SHMQ_ETOOBIG if the reply exceeds buf_len (msg->len says its size;
 * the reply is consumed). A reply the inbox overwrote while it was copied
 * (the inbox is a drop ring) is lost and counted as dropped; the call
 * waits on for another reply to the same request until timeout_ns.
 */
int shmq_request(struct shmq_requester *r, const void *data, uint32_t len,
		 const struct shmq_msg_opts *opts, void *buf, size_t buf_len, struct shmq_msg *msg,
		 int64_t timeout_ns);

/*
 * Publish a request without waiting (for space either: -SHMQ_EFULL) and
 * return its corr_id; its replies come from shmq_reply_recv().
 * -SHMQ_ENOREADER at once if nobody reads the channel.
 */
int shmq_request_send(struct shmq_requester *r, const void *data, uint32_t len,
		      const struct shmq_msg_opts *opts, uint64_t *corr_id);

/*
 * The next reply to one of this requester's last 1024 requests, as a view
 * into the inbox (as shmq_recv(): valid until the next call; check it with
 * shmq_msg_verify() after reading, the inbox being a drop channel); its
 * corr_id is in shmq_msg_fields(). Several replies to one request are all
 * delivered. Other replies are dropped and counted.
 */
int shmq_reply_recv(struct shmq_requester *r, struct shmq_msg *msg, int64_t timeout_ns);

/*
 * shmq_msg_verify() for a view from shmq_reply_recv(): 0 if the reply is
 * still whole, -SHMQ_EOVERRUN if the inbox (a drop ring) overwrote it
 * since it was received; call it after reading. -SHMQ_EINVAL for NULL or
 * a view it can tell is not of the inbox.
 */
int shmq_reply_verify(const struct shmq_requester *r, const struct shmq_msg *msg);

/* Replies dropped because their corr_id matched no request of r. */
uint64_t shmq_requester_dropped(const struct shmq_requester *r);

/* The name of r's inbox. */
const char *shmq_requester_inbox(const struct shmq_requester *r);

/*
 * Reply to request (a message received from any channel) with its corr_id
 * copied (opts may be NULL; any corr_id in it is replaced), into the inbox
 * its reply_to names, through a publisher this client keeps (up to 16
 * inboxes, the least recently used closed first). Never waits for the
 * requester: an inbox has policy drop, so a requester that stopped reading
 * loses its oldest replies; waits at most 20 ms for a claim in progress or
 * a publisher joining the inbox (-SHMQ_ETIMEDOUT after). Any thread. -SHMQ_EINVAL if request has no
 * reply_to, -SHMQ_ENOENT if that channel does not exist (its requester went), -SHMQ_EPERM if it is
 * no inbox or the caller may not publish to it, -SHMQ_ECORRUPT if the request's fields are
 * malformed.
 */
int shmq_reply(struct shmq_client *client, const struct shmq_msg *request, const void *data,
	       uint32_t len, const struct shmq_msg_opts *opts);

/* ---- monitoring ------------------------------------------------------- */

/*
 * A monitor observes a channel: read-only mappings, no reader entry, so it
 * never holds a publisher back. It needs the right to subscribe. Counters
 * come from the entries their writers keep (readers publish theirs with
 * their cursor, at least once per eighth of the ring or 256 messages, and
 * before they wait), so a snapshot is as fresh as that.
 */
struct shmq_mon;

#define SHMQ_MAX_READERS 64
#define SHMQ_MAX_PUBLISHERS 64

struct shmq_mon_reader {
	uint32_t slot;
	uint32_t pid;
	uint32_t uid;
	uint32_t wait;	       /* enum shmq_wait */
	uint64_t offset;       /* the next message it will read, as it last published */
	uint64_t lag_messages; /* tail - offset */
	uint64_t lag_bytes;    /* ring bytes between its cursor and the tail */
	uint64_t received;
	uint64_t lost_overrun;
	uint64_t lost_abandoned;
	uint64_t sleeps;  /* times it went to sleep */
	uint64_t wakeups; /* sleeps that ended with a message */
};

struct shmq_mon_pub {
	uint32_t slot;
	uint32_t pid;
	uint32_t uid;
	uint32_t reserved;
	uint64_t messages;
	uint64_t bytes;	      /* payload bytes */
	uint64_t abandoned;   /* its claims aborted or given up by the daemon */
	uint64_t space_waits; /* times it slept for space */
};

struct shmq_mon_stats {
	uint64_t tail;	     /* offset the next message gets */
	uint64_t tail_bytes; /* ring bytes used since the channel was created */
	uint64_t oldest;     /* offset of the oldest retained message */
	uint64_t capacity_bytes;
	uint64_t abandoned;	   /* claims the daemon gave up */
	uint64_t watchdog_wakeups; /* readers the daemon woke, found asleep behind the tail */
	uint32_t policy;
	uint32_t deleted;  /* 1: the channel was deleted */
	uint32_t sleepers; /* readers asleep now (as they announce it) */
	uint32_t nreaders; /* rows filled in readers[] */
	uint32_t npubs;	   /* rows filled in pubs[] */
	uint32_t stale;	   /* 1: the daemon could not list new handles; rows may miss some */
	struct shmq_mon_reader readers[SHMQ_MAX_READERS];
	struct shmq_mon_pub pubs[SHMQ_MAX_PUBLISHERS];
};

/* Open a monitor. -SHMQ_ENOENT, -SHMQ_EPERM, ... */
int shmq_mon_open(struct shmq_client *client, const char *name, struct shmq_mon **out);

/* Close a monitor. NULL is ignored. */
void shmq_mon_close(struct shmq_mon *mon);

/*
 * Take a snapshot of the channel's counters. -SHMQ_ECORRUPT if the
 * channel's headers no longer hold what an honest daemon wrote (a
 * publisher may scribble on them), -SHMQ_EVERSION if they announce a
 * format this library does not know.
 */
int shmq_mon_read(struct shmq_mon *mon, struct shmq_mon_stats *out);

/*
 * End-to-end latency: readers time one message in SHMQ_LAT_SAMPLE_EVERY
 * (those whose offset is a multiple of it), from the publish timestamp to
 * delivery, into SHMQ_LAT_BUCKETS log2-spaced buckets: bucket 0 counts
 * latencies below 256 ns, bucket k (0 < k < last) those in
 * [2^(k+7), 2^(k+8)) ns, the last one everything from 2^(k+7) ns on.
 * Channels created with SHMQ_CHAN_NO_TIMESTAMP have no samples.
 */
#define SHMQ_LAT_BUCKETS 30
#define SHMQ_LAT_SAMPLE_EVERY 64

/* Upper bound of latency bucket k in ns (UINT64_MAX for the last). */
#define SHMQ_LAT_BUCKET_NS(k) ((k) + 1 >= SHMQ_LAT_BUCKETS ? UINT64_MAX : (uint64_t)1 << ((k) + 8))

/* Features of the channel's statistics (shmq_mon_ext.features). */
#define SHMQ_MON_F_STATS 0x1u /* latency and largest message are kept */

struct shmq_mon_latency {
	uint64_t samples; /* messages timed */
	uint64_t sum_ns;  /* their latencies added up */
	uint64_t buckets[SHMQ_LAT_BUCKETS];
};

/*
 * What shmq_mon_read_ext() adds to struct shmq_mon_stats. Row i of
 * readers[] and pub_max_bytes[] belongs to row i of the stats' readers[]
 * and pubs[]. Counters of a handle go with it when it closes.
 */
struct shmq_mon_ext {
	uint32_t features;	    /* SHMQ_MON_F_* the channel's daemon announces */
	uint32_t monitors;	    /* monitor handles open now, this one included */
	uint32_t max_message_bytes; /* largest payload committed by a publisher open now */
	uint32_t bad_readers;	    /* readers the daemon's watchdog finds stuck at a record they
				     * cannot parse (a publisher forged it): shmq_channel_repair() */
	struct shmq_mon_latency latency; /* every reader's, summed */
	struct shmq_mon_latency readers[SHMQ_MAX_READERS];
	uint32_t pub_max_bytes[SHMQ_MAX_PUBLISHERS]; /* largest payload of each publisher */
	uint64_t expired; /* messages readers skipped because their expiry passed, summed */
	uint64_t reader_expired[SHMQ_MAX_READERS]; /* each reader's */
};

/* shmq_mon_read() and, in ext, the counters above; one snapshot. */
int shmq_mon_read_ext(struct shmq_mon *mon, struct shmq_mon_stats *out, struct shmq_mon_ext *ext);

/* A durable channel's journal (shmq_mon_journal()). */
#define SHMQ_JOURNAL_OK 1u	/* writing */
#define SHMQ_JOURNAL_FAILED 2u	/* a write or sync failed: final, claims get SHMQ_EIO */
#define SHMQ_JOURNAL_NOSPACE 3u /* out of disk space: retried, publishers wait */

struct shmq_journal_info {
	uint32_t state;	   /* SHMQ_JOURNAL_*, 0 before the journal took the channel up */
	int32_t error;	   /* the errno of a failure, 0 none */
	uint64_t written;  /* offsets below are written to the files */
	uint64_t durable;  /* offsets below are durable */
	uint64_t seg_base; /* the segment being written: its first offset */
	uint64_t segments; /* segments the journal started since shmqd started it */
};

/* The journal of the monitor's channel: 0; -SHMQ_ESTATE if it is not durable. */
int shmq_mon_journal(struct shmq_mon *mon, struct shmq_journal_info *out);

/* ---- the daemon ------------------------------------------------------- */

/* One client connected to shmqd (shmq_daemon_stats()). */
struct shmq_daemon_client {
	uint32_t pid;
	uint32_t uid;
	uint64_t since_ns; /* CLOCK_REALTIME when it connected */
	uint32_t channels; /* distinct channels it holds handles on */
	uint32_t handles;  /* publisher, subscriber and monitor handles */
	char comm[16];	   /* its command name */
};

/* The daemon's own counters, since it started. */
struct shmq_daemon_stats {
	uint64_t started_ns;   /* CLOCK_REALTIME when it started */
	uint64_t now_ns;       /* CLOCK_REALTIME of the answer */
	uint64_t repairs;      /* claims of dead or stalled publishers it gave up */
	uint64_t denials;      /* requests refused by access control or quotas */
	uint64_t proto_errors; /* malformed requests */
	uint64_t connections;  /* clients accepted */
	uint32_t channels;     /* live channels the caller may see */
	uint32_t clients;      /* clients the caller may see */
};

/*
 * The daemon's counters, and up to max of the clients the caller may see
 * into rows (root and the daemon's uid see every client, anyone else
 * those of its own uid). Returns the number of such clients (which may
 * exceed max) or a negative error; -SHMQ_EVERSION from a daemon too old
 * to answer.
 */
int shmq_daemon_stats(struct shmq_client *client, struct shmq_daemon_stats *out,
		      struct shmq_daemon_client *rows, size_t max);

/* ---- consumer groups -------------------------------------------------- */

/*
 * A consumer group shares a channel among competing members: each message
 * goes to one live member, which acks it, nacks it (to be delivered again,
 * after a delay) or terminates it. A message a member holds when it dies,
 * or holds longer than ack_wait_ns, is delivered again to a member, with
 * shmq_msg.deliveries raised; after max_deliver deliveries without an ack
 * it is dead (counted, never delivered again). Several groups on one
 * channel each get every message, beside plain subscribers. On a block
 * channel a group holds publishers back like a reader until its members
 * ack (at least once); on a drop channel messages overwritten before their
 * ack are counted lost. docs/ARCHITECTURE.md "Consumer groups".
 */
struct shmq_member;

struct shmq_group_opts {
	uint64_t ack_wait_ns; /* 0: 30 s */
	uint64_t offset;      /* start SHMQ_START_OFFSET (new group) */
	uint32_t max_deliver; /* 0: 5; UINT32_MAX: never dead */
	uint32_t max_pending; /* messages out and not acked, a power of two <= 2^20; 0: 4096 */
	uint32_t start;	      /* enum shmq_start, where a new group begins */
	uint32_t wait;	      /* enum shmq_wait: SHMQ_WAIT_SPIN, else spin then sleep */
	uint32_t flags;	      /* SHMQ_GROUP_CREATE; SHMQ_GROUP_NOACK (this member only);
				 SHMQ_GROUP_DLQ (new group: dead messages to <channel>.dlq) */
	uint32_t reserved;    /* 0 */
};

/*
 * Join group of channel as a new member (with SHMQ_GROUP_CREATE, make the
 * group first). Needs the right to subscribe. -SHMQ_ENOENT (no channel; no
 * group without CREATE), -SHMQ_ENAME (group: 1..63 channel-name
 * characters), -SHMQ_EMISMATCH (the group exists with other non-zero
 * settings), -SHMQ_ELIMIT (a 17th group, a 33rd member, no reader slot
 * left), -SHMQ_EINVAL (settings out of range), -SHMQ_EVERSION (a daemon
 * without groups).
 */
int shmq_group_open(struct shmq_client *client, const char *channel, const char *group,
		    const struct shmq_group_opts *opts, struct shmq_member **out);

/* Leave: what this member holds is given back for delivery to the others now. */
void shmq_group_close(struct shmq_member *m);

/*
 * Take the next message for this member: a new one, or one to deliver
 * again. The view stays valid until the message is acked (and, on a drop
 * channel, see shmq_msg_verify()). With SHMQ_GROUP_NOACK it is acked at
 * the member's next call (recv, poll, close; in shmq_group_poll() after
 * its callback). 0, -SHMQ_EAGAIN (timeout 0), -SHMQ_ETIMEDOUT,
 * -SHMQ_EDELETED, -SHMQ_ECORRUPT (a member wrote garbage into the group).
 */
int shmq_group_recv(struct shmq_member *m, struct shmq_msg *msg, int64_t timeout_ns);

/* Up to max messages to cb, waiting up to timeout_ns for the first; the count. */
int shmq_group_poll(struct shmq_member *m, shmq_msg_cb cb, void *arg, unsigned max,
		    int64_t timeout_ns);

/*
 * Settle a message this member holds, by offset: ack (done), nack (deliver
 * again, to any member, after delay_ns), term (dead now), touch (restart
 * its ack_wait). -SHMQ_ENOTHELD if this member does not hold it (never
 * delivered to it, settled already, or taken by another member after its
 * ack_wait ran out). shmq_ackv() acks n offsets: the number acked. In a
 * group with SHMQ_GROUP_DLQ, term copies the message to <channel>.dlq first
 * (header shmq-reason: term; -SHMQ_EFULL, still held, if it has no room),
 * as a message past max_deliver is copied (shmq-reason: max_deliver) by
 * the member that finds it.
 */
int shmq_ack(struct shmq_member *m, uint64_t offset);
int shmq_ackv(struct shmq_member *m, const uint64_t *offsets, unsigned n);
int shmq_nack(struct shmq_member *m, uint64_t offset, int64_t delay_ns);
int shmq_term(struct shmq_member *m, uint64_t offset);
int shmq_touch(struct shmq_member *m, uint64_t offset);

/* A group's state, as its members keep it. */
struct shmq_group_info {
	char name[64];
	uint32_t members; /* live now */
	uint32_t max_pending;
	uint64_t floor;	      /* every message below is acked or dead */
	uint64_t dispatch;    /* the next message to hand out */
	uint64_t delivered;   /* deliveries, first ones and again */
	uint64_t redelivered; /* deliveries after the first */
	uint64_t acked;
	uint64_t dead; /* past max_deliver, or terminated */
	uint64_t lost; /* overwritten before dispatch or ack (drop channels) */
};

/*
 * The groups of channel (group NULL: all, else that one) into rows, up to
 * max. Returns how many there are (at most 16), or a negative error.
 */
int shmq_group_info(struct shmq_client *client, const char *channel, const char *group,
		    struct shmq_group_info *rows, unsigned max);

/* Delete a group no member is in (-SHMQ_EBUSY otherwise): the channel's administrators. */
int shmq_group_delete(struct shmq_client *client, const char *channel, const char *group);

/* One pattern subscription open on shmqd (shmq_daemon_patterns()). */
struct shmq_daemon_pattern {
	uint32_t pid;
	uint32_t uid;
	uint32_t channels; /* matching channels its connection holds a subscriber on */
	uint32_t reserved;
	char pattern[SHMQ_NAME_MAX + 1];
};

/*
 * The pattern subscriptions the caller may see (all for root and the
 * daemon's uid, its own uid's otherwise), up to max into rows. Returns
 * how many there are (which may exceed max) or a negative error;
 * -SHMQ_EVERSION from a daemon before protocol minor 8.
 */
int shmq_daemon_patterns(struct shmq_client *client, struct shmq_daemon_pattern *rows, size_t max);

/* ---- errors ----------------------------------------------------------- */

/* A sentence for err (negative or positive enum shmq_err value). */
const char *shmq_strerror(int err);

/* The name of the code, such as "SHMQ_ENOENT". */
const char *shmq_errname(int err);

/* ---- sizes ------------------------------------------------------------ */

/*
 * Parse a byte size as shmqd's configuration and the shmq tools write it:
 * a decimal integer, then an optional unit K, M, G or T (binary: K = 1024,
 * either case), then an optional "B", or "iB" after a unit ("4096", "64K",
 * "4MB", "4MiB", "1T"). No sign, space, fraction or trailing characters.
 * Returns 0 and *out; -SHMQ_EINVAL if s (or out) is not valid (NULL, empty,
 * malformed), -SHMQ_ELIMIT if the value does not fit in 64 bits. Limits
 * of a particular setting (ring size, largest message) are the caller's.
 */
int shmq_size_parse(const char *s, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif
