/*
 * registry.h - the daemon's channels: their shared-memory segments (sealed
 * memfds, handed out as descriptors, never named, split by writer: data,
 * control, wake, and one entry segment per open handle), reader and
 * publisher slot assignment, per-reader event fds, deletion, and the
 * periodic repair of claims abandoned by dead publishers; its tick runs
 * the watchdog (watchdog.h). Main thread only.
 */
#ifndef DAEMON_REGISTRY_H
#define DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "logmsg.h"
#include "tsccal.h"

/* The watchdog's memory of one reader: where its cursor stood, for how long. */
struct reader_watch {
	uint64_t bytes;
	uint32_t still_ticks;
	uint32_t pad;
};

/*
 * The watchdog's memory of one reader's cursor, for bad records: where it
 * stood still since when, and whether it was found at a bad record there.
 */
struct reader_bad {
	uint64_t bytes;
	uint64_t since_ns;
	bool found;
};

struct group_table;

struct channel {
	char name[NAME_BYTES];
	uint64_t id;
	uint32_t owner_uid;
	uint32_t max_handles_per_uid; /* its own limit, 0: the daemon's */
	bool deleted;		      /* not findable; kept while handles are open */
	uint32_t handles;	      /* open publisher and subscriber handles */
	struct acl publish;
	struct acl subscribe;
	struct log_geometry g;
	int32_t numa_wire; /* SHMQ_NUMA_* as the creator asked */
	int numa_node;	   /* the node both segments are bound to, -1 none */
	void *data;
	void *ctl; /* ours read-write; clients map it read-only */
	void *wake;
	int data_fd;
	int ctl_fd;
	int data_ro_fd; /* read-only descriptors, for whoever may not write */
	int ctl_ro_fd;
	int wake_fd;
	int wake_ro_fd;
	struct log_view v;
	struct log_peers peers; /* every entry segment, mapped read-write */
	struct log_repair rep;
	uint64_t reader_client[MAX_READERS]; /* owning client id, 0 = free */
	uint64_t pub_client[MAX_PUBS];	     /* owning client id, 0 = free */
	uint32_t pub_pid[MAX_PUBS];	     /* its pid, for repair; 0 = free */
	uint64_t pub_start[MAX_PUBS];	     /* its process's start mark (procid.h); 0 = unknown */
	uint64_t reader_start[MAX_READERS];  /* likewise for each reader's process */
	uint32_t stall_killed[MAX_PUBS];     /* pid we stopped, logged once */
	int reader_fd[MAX_READERS];	     /* entry segments, -1 = none */
	int pub_fd[MAX_PUBS];
	int efds[MAX_READERS];	 /* waker ends of event-fd readers' wake sockets, -1 = none */
	int efd_rd[MAX_READERS]; /* their reader ends, until the OPEN reply hands them over */
	bool have_efds;
	uint64_t repairs; /* claims given up (dead, stalled, closed) */
	struct reader_watch watch[MAX_READERS];
	struct reader_bad bad[MAX_READERS];
	struct log_rate bad_rate; /* "reader at a bad record" lines */
	int *kfd;		  /* the registry's keeper connection */
	bool adopted;		  /* served by an earlier daemon: monitors may resume it */
	uint64_t kept_readers;	  /* adoption: reader slots whose entry the keeper sent */
	uint64_t kept_pubs;	  /* ... publisher slots */
	/* its consumer groups (groups.h), NULL: none yet */
	struct group_table *groups;
	uint64_t inbox_client; /* an inbox (inbox.h): the client that made it; 0 none or unknown */
	int dd_fd;	       /* the duplicate table (dedupe_seg.h), -1 none */
	void *dd;
	uint64_t dd_bytes;
	uint32_t durability; /* enum shmq_sync: 0 not durable */
	uint64_t base_pos;   /* the first message's offset when it was made */
};

/* The control segment, which only the daemon writes; clients map it read-only. */
static inline struct ctl_hdr *channel_ctl_rw(const struct channel *ch)
{
	return ch->ctl;
}

static inline struct ctl_slot *channel_reader_slot(const struct channel *ch, unsigned i)
{
	return (struct ctl_slot *)((uint8_t *)ch->ctl + CTL_READERS_OFF) + i;
}

static inline struct ctl_slot *channel_pub_slot(const struct channel *ch, unsigned i)
{
	return (struct ctl_slot *)((uint8_t *)ch->ctl + CTL_PUBS_OFF) + i;
}

/*
 * reader_client[]/pub_client[] of a slot adopted after a restart, not yet
 * resumed: it waits for its client as long as the process lives (a
 * publisher that makes no control call never resumes, yet publishes)
 */
#define CLIENT_PENDING UINT64_MAX
/*
 * pub_client[] of a slot whose publisher is gone with a claim still open
 * (log_repair_open_orphan()): kept, with its entry and the keeper's copy,
 * until the claim can be settled, so that a daemon restarted meanwhile
 * finds it too (adopt_expire() retries it each tick); apart from every
 * other id here, though it names a publisher slot
 */
#define CLIENT_ORPHAN (UINT64_MAX - 2 - MAX_GROUPS)
/* reader_client[0] of a durable channel: the journal (journal.h); groups.c uses UINT64_MAX - 1 - i
 */
#define CLIENT_JOURNAL (UINT64_MAX - 1 - MAX_GROUPS)

struct registry {
	struct channel **ch;
	uint32_t n;
	uint32_t cap;
	uint32_t max_channels;
	uint64_t next_id;
	uint64_t stuck_ns;
	uint64_t repairs_freed; /* repairs of channels since freed */
	struct tsc_cal cal;
	int kfd;		 /* the keeper (keeper.h), or -1: no restart survives */
	struct journal *journal; /* durable channels' writer, NULL: no data_dir */
};

/* After adoption: durable channels' journals go on where their slot's cursor is. */
void registry_journal_adopted(struct registry *r);

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

/* The same, logging who asked (by: "uid=... pid=... comm=..."). */
int registry_create_by(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		       const char *by, struct channel **out);

/* Channels uid owns, deleted ones still open included. */
uint32_t registry_owned_by(const struct registry *r, uint32_t uid);

/*
 * Make a channel unfindable; it lives on until its last handle closes.
 * Its handles find it deleted (SHMQ_EDELETED once they read all of it).
 */
void registry_delete(struct registry *r, struct channel *ch, const char *by);

/* Who asks for a slot. */
struct slot_owner {
	uint64_t client_id;
	uint32_t pid;
	uint32_t uid;
	uint64_t start;	    /* the process's start mark (procid.h), 0 = unknown */
	uint32_t max_slots; /* of the role on the channel that uid may hold; 0: no limit */
};

/*
 * Assign a reader slot and its entry segment; start is enum shmq_start;
 * -SHMQ_EHANDLEQUOTA if who's uid holds who->max_slots reader slots.
 * *cur is where it starts (a record boundary), *skip_below the first offset
 * it delivers (0: all). The slot's entry fd and event fd (-1 unless
 * wait_mode is event fd) stay the channel's: reader_fd[*idx], efds[*idx].
 */
int registry_reader_add(struct channel *ch, const struct slot_owner *who, uint32_t start,
			uint64_t offset, uint32_t wait_mode, uint32_t *idx, struct log_cursor *cur,
			uint64_t *skip_below);

/*
 * Assign a publisher slot and its entry segment (pub_fd[*idx]); -SHMQ_EBUSY
 * if the channel's one publisher is taken, -SHMQ_EHANDLEQUOTA if who's uid
 * holds who->max_slots publisher slots.
 */
int registry_pub_add(struct channel *ch, const struct slot_owner *who, uint32_t *idx);

/*
 * Free a publisher entry, giving up a claim it left open. False if the
 * claim cannot be settled yet: the slot is kept (CLIENT_ORPHAN) and holds
 * its channel reference until a later call frees it.
 */
bool registry_pub_remove(struct channel *ch, uint32_t idx);

uint32_t channel_publishers(const struct channel *ch);

/* Free a reader slot and wake whoever waits on it. */
void registry_reader_remove(struct channel *ch, uint32_t idx);

/* A handle opened (or resumed): the channel stays until registry_handle_put(). */
void registry_handle_get(struct channel *ch);

/*
 * The descriptors a handle of role (enum proto_role) gets on open, slot
 * idx: data, control, wake (read-write only what the role may write), then
 * the slot's entry and, for an event-fd reader, its end of the wake socket,
 * which the channel gives up: *handed_fd, for the caller to close once
 * sent. fds holds PROTO_MAX_FDS; returns how many were stored.
 */
unsigned channel_open_fds(struct channel *ch, uint32_t role, uint32_t idx, int *fds,
			  int *handed_fd);

/* A handle closed: drop the count, free the channel if deleted and unused. */
void registry_handle_put(struct registry *r, struct channel *ch);

/* A clean stop: every channel ends (its handles get SHMQ_ECLOSED once drained). */
void registry_close_all(struct registry *r);

/* A clean stop: tell the keeper to drop everything and go. */
void registry_keeper_quit(struct registry *r);

/*
 * Stopped for another daemon (KEEP_STOP): tell the keeper, as the last
 * message, once no request is served any more and the socket is gone, so
 * that it hands everything sent before to the next daemon.
 */
void registry_keeper_stopped(struct registry *r);

/* Periodic work: repair abandoned claims, wake readers left asleep. */
void registry_tick(struct registry *r, uint64_t now_ns);

uint32_t channel_readers(const struct channel *ch);

/* Wake the channel's publishers waiting for space. */
void channel_wake_publishers(struct channel *ch);

/* Wake every reader and publisher of the channel that may sleep. */
void channel_wake_all(struct channel *ch);

/* A monitor handle opened or closed: the count in the control segment. */
void registry_monitor_add(struct channel *ch);
void registry_monitor_remove(struct channel *ch);

/* Claims given up by repair since the daemon started, in every channel. */
uint64_t registry_repairs(const struct registry *r);

/* For the registry's own modules (adopt.c): */

/* Room for one more channel in r->ch. */
int registry_grow(struct registry *r);

/* A channel with nothing yet: every descriptor -1, its keeper the registry's. */
struct channel *channel_alloc(struct registry *r);
/* The read-only descriptors of ch's data, control and wake segments. */
int channel_open_ro(struct channel *ch);

/* Unmap and close whatever ch holds, and free it. */
void channel_free(struct channel *ch);

/*
 * Slots the control segment calls active but no client owns (an adopted
 * channel's slots no kept entry named): free them, and wake everyone.
 */
void channel_settle_slots(struct channel *ch);

#endif
