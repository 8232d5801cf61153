/*
 * registry.h - the daemon's channels: their shared-memory segments (sealed
 * memfds, handed out as descriptors, never named), reader slot assignment,
 * per-reader event fds, deletion, and the periodic repair of claims
 * abandoned by dead publishers. Main thread only.
 */
#ifndef DAEMON_REGISTRY_H
#define DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"

struct channel {
	char name[201];
	uint64_t id;
	uint32_t owner_uid;
	bool deleted;          /* not findable; kept while handles are open */
	uint32_t handles;      /* open publisher and subscriber handles */
	struct acl publish;
	struct acl subscribe;
	struct log_geometry g;
	int32_t numa_wire; /* SHMQ_NUMA_* as the creator asked */
	int numa_node;	   /* the node both segments are bound to, -1 none */
	void *data;
	void *ctl;
	int data_fd;
	int data_ro_fd; /* read-only descriptor for pure subscribers */
	int ctl_fd;
	struct log_view v;
	struct log_repair rep;
	uint64_t reader_client[MAX_READERS]; /* owning client id, 0 = free */
	uint64_t pub_client[MAX_PUBS];       /* owning client id, 0 = free */
	uint32_t pub_pid[MAX_PUBS];          /* its pid, for repair; 0 = free */
	uint32_t stall_killed[MAX_PUBS];     /* pid we stopped, logged once */
	int efds[MAX_READERS];
	bool have_efds;
};

/* The daemon's calibration of the time-stamp counter (see log_timestamp()). */
struct tsc_cal {
	bool usable;
	uint64_t t0, n0;        /* the first sample: the long baseline for mult */
	uint64_t t_base, n_base; /* the latest sample */
	uint64_t mult;          /* ns per tick << 32; 0: not usable (yet) */
};

struct registry {
	struct channel **ch;
	uint32_t n;
	uint32_t cap;
	uint32_t max_channels;
	uint64_t next_id;
	uint64_t stuck_ns;
	struct tsc_cal cal;
};

int registry_init(struct registry *r, const struct config *cfg);

/* Unmap and close everything; the memory goes with the last client mapping. */
void registry_fini(struct registry *r);

/* A live (not deleted) channel by name, or NULL. */
struct channel *registry_find(struct registry *r, const char *name);

/* Any channel, deleted or not, by id. */
struct channel *registry_by_id(struct registry *r, uint64_t id);

/* Create a channel from a spec; -SHMQ_EEXIST, -SHMQ_ELIMIT, ... */
int registry_create(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		    struct channel **out);

/* Make a channel unfindable; it lives on until its last handle closes. */
void registry_delete(struct registry *r, struct channel *ch);

/*
 * Assign a reader slot; start is enum shmq_start. *cur is where it starts
 * (a record boundary), *skip_below the first offset it delivers (0: all).
 */
int registry_reader_add(struct channel *ch, uint64_t client_id, uint32_t pid, uint32_t start,
			uint64_t offset, uint32_t wait_mode, uint32_t *idx, struct log_cursor *cur,
			uint64_t *skip_below);

/* Assign a publisher entry; -SHMQ_EBUSY if the channel's one publisher is taken. */
int registry_pub_add(struct channel *ch, uint64_t client_id, uint32_t pid, uint32_t *idx);

/* Free a publisher entry, giving up a claim it left open. */
void registry_pub_remove(struct channel *ch, uint32_t idx);

uint32_t channel_publishers(const struct channel *ch);

/* Free a reader slot and wake whoever waits on it. */
void registry_reader_remove(struct channel *ch, uint32_t idx);

/* A handle closed: drop the count, free the channel if deleted and unused. */
void registry_handle_put(struct registry *r, struct channel *ch);

/* Periodic work: repair abandoned claims. */
void registry_tick(struct registry *r, uint64_t now_ns);

uint32_t channel_readers(const struct channel *ch);

#endif
