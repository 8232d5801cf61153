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
	uint64_t client[GROUP_MAX_MEMBERS]; /* the member's client id, 0 = free, CLIENT_PENDING */
	uint32_t gen[GROUP_MAX_MEMBERS];
	struct slot_owner who[GROUP_MAX_MEMBERS]; /* the member's process: pid, uid, start */
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

struct keep_group;

/*
 * After a restart: take back group k->idx of an adopted channel from the
 * keeper's record and the segment fd (taken on success): its reader slot
 * (adopted already, waiting for the earlier daemon) becomes the group's,
 * its members wait (CLIENT_PENDING) until they resume or their process is
 * gone. NULL, or why it was refused (a log word).
 */
const char *group_adopt(struct channel *ch, const struct keep_group *k, int *fd);

/* A member resumes handle idx (group * 32 + member) with generation gen: 0 or -SHMQ_ESTATE. */
int group_resume(struct channel *ch, uint32_t handle_idx, uint32_t gen,
		 const struct slot_owner *who);

/* A member adopted, not resumed, whose process is gone: freed (its handle is the caller's
 * to put). True if one was. */
bool group_expire_one(struct channel *ch);

/* A group name: 1..63 channel-name characters. 0 or -SHMQ_ENAME. */
int group_name_check(const char *wire, char *out);

#endif
