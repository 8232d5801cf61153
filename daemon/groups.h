/*
 * groups.h - the daemon's consumer groups (docs/ARCHITECTURE.md "Consumer
 * groups"): per channel, up to MAX_GROUPS groups, each a reader slot of
 * the daemon's and a group segment it formats; members admitted into a
 * table that the daemon alone writes and keeps in its own memory, so that
 * it never believes ownership read back from shared memory. Main thread.
 */
#ifndef DAEMON_GROUPS_H
#define DAEMON_GROUPS_H

#include <stdint.h>

#include "group.h"
#include "proto.h"
#include "registry.h"

/* One group as the daemon keeps it. */
struct dgroup {
	char name[GROUP_NAME_BYTES]; /* "" = free */
	struct group_settings s;
	uint32_t reader_slot;
	int seg_fd;
	void *seg;
	uint64_t seg_bytes;
	uint64_t client[GROUP_MAX_MEMBERS]; /* the member's client id, 0 = free */
	uint32_t gen[GROUP_MAX_MEMBERS];
};

struct group_table {
	struct dgroup g[MAX_GROUPS];
};

/* Who joins: the slot owner (uid, pid) and the request. */
int group_join(struct channel *ch, const struct slot_owner *who, const struct proto_group *req,
	       struct proto_group_joined *out, int *fds);

/* A member's handle went (closed, or its process died): free its row, wake the group. */
void group_leave(struct channel *ch, uint32_t handle_idx);

/* The groups of ch (one by name, or all if name is ""). */
void group_info(const struct channel *ch, const char *name, struct proto_group_info *out);

/* Delete a group: -SHMQ_ENOENT, -SHMQ_EBUSY while members are in it. */
int group_delete(struct channel *ch, const char *name);

/* The channel goes: unmap and close every group's segment. */
void group_table_free(struct channel *ch);

/* A group name: 1..63 channel-name characters. 0 or -SHMQ_ENAME. */
int group_name_check(const char *wire, char *out);

#endif
