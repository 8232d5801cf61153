/*
 * keeper.h - the process that keeps a daemon's channels across its
 * restarts. The daemon hands it, for each channel, a metadata record of
 * its own making and the data, control and wake memfds, and for each open
 * handle its entry memfd (and event fd); a daemon started after the last
 * one died takes them back and serves the channels again (registry.c
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

#define KEEP_MAGIC 0x4b51484bu /* "KHQK" */
#define KEEP_VERSION 1u
#define KEEP_ORPHAN_S 60u      /* a keeper without a daemon this long exits */

enum keep_op {
	KEEP_CHANNEL = 1,    /* daemon -> keeper: keep (or replace) a channel; keeper -> daemon: one kept */
	KEEP_ENTRY = 2,      /* likewise, one handle's entry (and event fd) */
	KEEP_DROP_ENTRY = 3, /* daemon -> keeper */
	KEEP_DROP = 4,       /* daemon -> keeper: the channel is gone */
	KEEP_TAKE = 5,       /* daemon -> keeper: send me everything; answered by ... */
	KEEP_END = 6,        /* keeper -> daemon: ... channels and entries, then this */
	KEEP_QUIT = 7,       /* daemon -> keeper: a clean stop, drop everything and exit */
	KEEP_STOP = 8,       /* keeper -> daemon: another daemon takes over (--replace) */
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

/* One open handle's slot. */
struct keep_entry {
	uint64_t channel_id;
	uint32_t kind; /* 'r' reader, 'p' publisher */
	uint32_t idx;
	uint32_t gen;
	uint32_t pid;
	uint32_t uid;
	uint32_t wait_mode;
	uint32_t has_efd;
	uint32_t pad;
};

struct keep_msg {
	uint32_t magic;   /* KEEP_MAGIC */
	uint32_t version; /* KEEP_VERSION */
	uint32_t op;      /* enum keep_op */
	uint32_t pad;
	union {
		struct keep_channel ch; /* KEEP_CHANNEL: fds data, ctl, wake */
		struct keep_entry e;    /* KEEP_ENTRY: fd entry [, event fd]; KEEP_DROP_ENTRY */
		uint64_t channel_id;    /* KEEP_DROP */
	} u;
};

/* The keeper runs as "shmqd-keeper --keeper PATH" with its socket on this descriptor. */
#define KEEPER_FD 3

/* The keeper process's main; does not return unless it cannot start (1). */
int keeper_main(const char *path);

/* The keeper's socket path for a control socket path: "<path>.keep". */
int keeper_path(const char *socket_path, char *out, unsigned len);

/*
 * Connect to the keeper at path, or start one there. *out is the
 * connection (-1 if neither worked: the daemon runs without restarts then).
 * *found says whether a keeper was already there (it may hold channels).
 * With replace, a keeper serving another daemon stops that one first.
 */
int keeper_open(const char *path, bool replace, int *out, bool *found);

/* Send one message with up to 3 descriptors; -1 if the keeper is gone. */
int keeper_send(int kfd, const struct keep_msg *m, const int *fds, unsigned nfds);

/*
 * Receive one message; *nfds gets the descriptors (up to 3, the rest
 * closed). 0, -1 (gone), or -2 (a malformed message, its descriptors
 * closed: another version, or garbage).
 */
int keeper_recv(int kfd, struct keep_msg *m, int *fds, unsigned *nfds);

#endif
