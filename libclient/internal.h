/*
 * internal.h - libshmq's private structures, shared by its files: the
 * client connection, a mapped channel, and the request helper. Not
 * installed.
 */
#ifndef SHMQ_INTERNAL_H
#define SHMQ_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "proto.h"
#include "shmq.h"

#define SHMQ_EXPORT __attribute__((visibility("default")))

/* An open handle, to re-register with a daemon started after ours died. */
struct client_handle {
	struct client_handle *next;
	uint64_t channel_id;
	uint32_t role; /* enum proto_role */
	uint32_t slot; /* proto_opened.reader_idx; 0 for monitors */
	uint32_t gen;  /* proto_opened.reader_gen */
	bool lost;     /* a new daemon did not know it: the channel ended */
	bool closing;  /* closed while the daemon was away: close it once one is back */
};

struct shmq_client {
	pthread_mutex_t lock; /* serialises requests on fd, guards everything below */
	int fd;		      /* -1 while the daemon is away */
	uint32_t seq;
	uint32_t daemon_pid;
	uint32_t daemon_minor; /* PROTO_MINOR of the daemon's hello */
	uint32_t late;	       /* requests that timed out, their answers still due */
	int64_t timeout_ns;    /* bound on each answer; < 0 none */
	char path[108];
	struct client_handle *handles;
	uint64_t down_since_ns; /* when the daemon went away; 0 while connected */
	uint64_t next_try_ns;	/* no reconnect attempt before */
	uint32_t backoff_ms;
	struct reply_cache *replies; /* shmq_reply()'s publishers (reqrep.c); NULL until used */
};

/* How long a daemon may stay away before subscribers give up (-SHMQ_ECLOSED). */
#define DAEMON_GRACE_NS (30ull * 1000000000ull)

/* A channel's segments, mapped as the role may: see shm/proto.h OP_OPEN. */
struct chan_map {
	void *data;
	uint64_t data_bytes;
	void *ctl;
	uint64_t ctl_bytes;
	void *wake;
	uint64_t wake_bytes;
	void *entry; /* our own entry segment, read-write; NULL for monitors */
	void *dd;    /* publishers of a dedupe channel: the duplicate table, read-write */
	uint64_t dd_bytes;
	struct log_view v;
	uint64_t channel_id;
};

/* Entry segments of other handles, mapped read-only (peers.c). */
struct peer_maps {
	struct log_peers p;
	uint64_t readers_gen; /* ctl->readers_gen when readers were fetched */
	uint64_t pubs_gen;    /* ctl->pubs_gen when publishers were fetched */
};

/*
 * Send one request and wait for its response. resp_len must match the
 * response body exactly on success. fds, if not NULL, receives up to
 * *nfds descriptors (in/out); unexpected descriptors are closed.
 * Returns the daemon's status (0 or -SHMQ_E...) or a transport error.
 */
int client_call(struct shmq_client *c, uint16_t op, const void *req, uint32_t req_len, void *resp,
		uint32_t resp_len, int *fds, unsigned *nfds);

/* Fill a wire name; -SHMQ_ENAME if invalid. */
int client_wire_name(char wire[PROTO_NAME_BYTES], const char *name);

void client_wire_opts(struct proto_chan_opts *w, const struct shmq_channel_opts *o);

/* A channel info row as the daemon sent it, for the caller. */
void client_info_from_wire(struct shmq_channel_info *o, const struct proto_info *w);

/*
 * Begin an OP_OPEN request of role for name, with create and the channel
 * settings (NULL: none given). -SHMQ_EINVAL without a client or an out
 * pointer, -SHMQ_ENAME.
 */
int chan_open_req(struct shmq_client *c, const char *name, const void *out, uint32_t role,
		  int create, const struct shmq_channel_opts *opts, struct proto_open *req);

/* Open a channel through the daemon and map it as req->role may. */
int chan_open(struct shmq_client *c, const struct proto_open *req, struct proto_opened *resp,
	      struct chan_map *m, int *efd);

/*
 * Framing (client.c): one request, one response; the caller holds c->lock.
 * client_drop_late() first: answers to requests that timed out are read
 * and dropped, -SHMQ_ETIMEDOUT while one is still due.
 */
int client_drop_late(struct shmq_client *c);
int client_send(struct shmq_client *c, uint16_t op, const void *req, uint32_t req_len);
int client_recv(struct shmq_client *c, uint16_t op, void *resp, uint32_t resp_len, int *fds,
		unsigned *nfds);

/* Re-register h (conn.c) after each reconnect. */
void client_handle_add(struct shmq_client *c, struct client_handle *h);

/*
 * The handle closes: tell the daemon, or, while it is away, keep a copy to
 * close with the next one (else its slot would wait for our process).
 */
void client_handle_close(struct shmq_client *c, struct client_handle *h);

/*
 * For a subscriber with nothing to read: is its daemon there, or back?
 * Reconnects (with backoff) if it went away. 0 while the channel goes on,
 * -SHMQ_ECLOSED if the handle was lost or the daemon stayed away longer
 * than DAEMON_GRACE_NS.
 */
int client_check(struct shmq_client *c, const struct client_handle *h);

/*
 * For a pattern subscription with nothing to read: is the daemon there
 * (reconnecting, with backoff, if it went away)? 0 and the pid of the one
 * connected now, -SHMQ_ENODAEMON while it is away, -SHMQ_ECLOSED once it
 * stayed away longer than DAEMON_GRACE_NS.
 */
int client_daemon(struct shmq_client *c, uint32_t *pid);

/*
 * For a publisher, every PUB_LOOK_EVERY claims once PUB_LOOK_NS passed
 * since its last look (one poll() and, with the daemon away, a reconnect
 * as the backoff allows; at most ten system calls a second on the publish
 * path, whatever the rate): -SHMQ_ECLOSED if the handle was lost (a daemon
 * that came back did not know its channel), else 0. A daemon away for long
 * does not end a publisher: its channel lives on.
 */
#define PUB_LOOK_EVERY 256u
#define PUB_LOOK_NS (100u * 1000000ull)
int client_pub_check(struct shmq_client *c, const struct client_handle *h);

/*
 * Map the entry segments of kind (PEER_READERS or PEER_PUBS) that the
 * daemon lists now, skipping slot self, and unmap those it no longer
 * lists. On error the maps stay as they were.
 */
int peers_refresh(struct shmq_client *c, const struct chan_map *m, struct peer_maps *pm,
		  uint32_t kind, uint32_t self);

/* Unmap every peer entry. */
void peers_release(struct peer_maps *pm);

/*
 * Fetch the event fds of the channel's event-fd readers into efds
 * (MAX_READERS, -1 where none), closing those it held.
 */
int peers_fetch_efds(struct shmq_client *c, const struct chan_map *m, int *efds);

/* Map the segments of an OP_OPEN (or OP_GROUP join) answer as role may, and attach. */
int chan_map_fds(const int *fds, unsigned nfds, uint32_t role, struct chan_map *m);

void chan_unmap(struct chan_map *m);

/* The channel a publisher handle maps (reqrep.c looks at its readers and state). */
const struct log_view *pub_view(const struct shmq_pub *p);
const struct log_view *mon_view(const struct shmq_mon *m);

/* Close shmq_reply()'s cached publishers (shmq_disconnect()). */
void reply_cache_free(struct shmq_client *c);

/* Tell the daemon a handle closed; errors are ignored (it cleans up on exit). */
void chan_close_notify(struct shmq_client *c, uint64_t channel_id, uint32_t role,
		       uint32_t reader_idx);

#endif
