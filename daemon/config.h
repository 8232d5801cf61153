/*
 * config.h - shmqd's configuration: daemon settings and declared channels,
 * from a small INI-style text (see docs/CONFIG.md). Main thread only.
 * Errors are strings meant for a person: file, line, reason, the line.
 */
#ifndef DAEMON_CONFIG_H
#define DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "name.h"
#include "shmq_types.h"

#define CONFIG_MAX_CHANNELS 256
#define CONFIG_MAX_UIDS 16

/* Who may do something: everyone, or a list of uids (root and the owner always may). */
struct acl {
	bool everyone;
	uint32_t n;
	uint32_t uids[CONFIG_MAX_UIDS];
};

#define CONFIG_MAX_NUMA_NODE 1024 /* numa_node = 0 .. 1023 */

struct channel_spec {
	char name[NAME_BYTES];
	uint64_t capacity_bytes;
	uint32_t max_message_bytes;
	uint32_t policy;
	uint32_t publishers;	      /* enum shmq_publishers */
	int32_t numa_node;	      /* SHMQ_NUMA_* as given; LOCAL is resolved by the daemon */
	uint32_t flags;		      /* SHMQ_CHAN_* */
	uint32_t max_handles_per_uid; /* 0: the daemon's (struct config) */
	uint32_t dedupe_slots;	      /* its duplicate table's slots, 0: none (dedupe_seg.h) */
	uint32_t dedupe_window_s;     /* how long an id is refused again; 0: 120 */
	uint32_t durability;	      /* enum shmq_sync; 0: not durable (needs data_dir) */
	uint32_t sync_interval_us;    /* batch: sync this long after the first unsynced write */
	uint64_t sync_bytes;	      /* batch: sync once this much is unsynced */
	uint64_t segment_bytes;	      /* each journal segment file's size */
	uint64_t base_pos;	      /* recovery: the first message's offset */
	uint64_t id;		      /* recovery: the channel's id as before; 0: a new one */
	/* the node to bind to, -1 none: set by numa_spec_resolve() */
	int32_t numa_resolved;
	struct acl publish;
	struct acl subscribe;
};

struct config {
	uint64_t stuck_ms; /* abandon a claim held this long */
	uint32_t max_channels;
	uint32_t
	    max_channels_per_uid; /* channels one uid may own (root and the daemon's: no limit) */
	uint32_t max_connections_per_uid; /* connections one uid may hold (likewise) */
	uint32_t hello_timeout_ms;	  /* a connection says HELLO within this, or is closed */
	uint32_t max_handles_per_uid;	  /* publishers, and subscribers, one uid may hold on one
					   * channel (root, the daemon's, the owner: no limit) */
	struct acl create;   /* who besides root and the daemon's uid may create channels */
	char data_dir[4096]; /* durable channels' files; empty: none may be made */
	uint32_t nchannels;
	struct channel_spec channels[CONFIG_MAX_CHANNELS];
};

/*
 * Defaults: no channels, stuck_ms 500, max_channels 1024, 64 channels and
 * 64 connections per uid, 16 publishers and 16 subscribers per uid on a
 * channel, hello_timeout_ms 5000, creation by root and the daemon's uid
 * only.
 */
void config_defaults(struct config *cfg);

/*
 * Parse text into cfg (on top of what it holds); origin names the text in
 * messages (a file name). On error returns -SHMQ_EINVAL (-SHMQ_ENOMEM
 * when memory runs out) and writes into err "ORIGIN:LINE: why" and, on a
 * second line, the line as written.
 */
int config_parse(struct config *cfg, const char *text, const char *origin, char *err,
		 unsigned err_len);

/* Read and parse a file: config_parse() with the path as origin; a file
 * that cannot be opened or read is -SHMQ_ESYS, with the reason in err. */
int config_load(struct config *cfg, const char *path, char *err, unsigned err_len);

bool acl_allows(const struct acl *acl, uint32_t uid);

#endif
