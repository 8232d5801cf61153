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

struct shmq_client {
	pthread_mutex_t lock; /* serialises requests on fd */
	int fd;
	uint32_t seq;
	uint32_t daemon_pid;
	uint32_t daemon_minor; /* PROTO_MINOR of the daemon's hello */
	uint32_t late;         /* requests that timed out, their answers still due */
	int64_t timeout_ns;    /* bound on each answer; < 0 none */
	char path[108];
};

/* A channel's segments, mapped as the role may: see shm/proto.h OP_OPEN. */
struct chan_map {
	void *data;
	uint64_t data_bytes;
	void *ctl;
	uint64_t ctl_bytes;
	void *wake;
	uint64_t wake_bytes;
	void *entry; /* our own entry segment, read-write; NULL for monitors */
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

/* Open a channel through the daemon and map it as req->role may. */
int chan_open(struct shmq_client *c, const struct proto_open *req, struct proto_opened *resp,
	      struct chan_map *m, int *efd);

/* Is the daemon connection still up? (poll without waiting) */
bool client_alive(struct shmq_client *c);

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

void chan_unmap(struct chan_map *m);

/* Tell the daemon a handle closed; errors are ignored (it cleans up on exit). */
void chan_close_notify(struct shmq_client *c, uint64_t channel_id, uint32_t role,
		       uint32_t reader_idx);

#endif
