/*
 * keep.c - what the keeper holds of this daemon's channels (see keep.h,
 * keeper.h): each channel's record and segments, each open handle's
 * entry, sent as they change. A keeper that fails a send is gone: the
 * channels go on, only a restart loses them. Main thread only.
 */
#include "keep.h"

#include <stdio.h>
#include <unistd.h>

#include "groups.h"
#include "keeper.h"
#include "logmsg.h"

static void keep_send(const struct channel *ch, uint32_t op, const void *body, uint32_t bytes,
		      const int *fds, unsigned n)
{
	if (*ch->kfd < 0)
		return;
	if (keeper_send(*ch->kfd, op, body, bytes, fds, n) == 0)
		return;
	log_msg(LOG_ERROR, "keeper", "the keeper is gone: channels will not survive a restart");
	close(*ch->kfd);
	*ch->kfd = -1;
}

void keep_entry(const struct channel *ch, char kind, unsigned idx)
{
	const struct ctl_slot *sl =
	    kind == 'r' ? channel_reader_slot(ch, idx) : channel_pub_slot(ch, idx);
	int fds[2] = {kind == 'r' ? ch->reader_fd[idx] : ch->pub_fd[idx],
		      kind == 'r' ? ch->efds[idx] : -1};
	/* relaxed: the daemon wrote the slot itself */
	struct keep_entry e = {
	    .channel_id = ch->id,
	    .kind = (uint32_t)kind,
	    .idx = idx,
	    .gen = atomic_load_explicit(&sl->gen, memory_order_relaxed),
	    .pid = atomic_load_explicit(&sl->owner_pid, memory_order_relaxed),
	    .uid = atomic_load_explicit(&sl->owner_uid, memory_order_relaxed),
	    .wait_mode = atomic_load_explicit(&sl->wait_mode, memory_order_relaxed),
	    .flags = fds[1] >= 0 ? KEEP_ENTRY_EFD : 0,
	    .start = kind == 'r' ? ch->reader_start[idx] : ch->pub_start[idx],
	};

	keep_send(ch, KEEP_ENTRY, &e, sizeof(e), fds, fds[1] >= 0 ? 2 : 1);
}

void keep_drop_entry(const struct channel *ch, char kind, unsigned idx)
{
	struct keep_entry e = {.channel_id = ch->id, .kind = (uint32_t)kind, .idx = idx};

	keep_send(ch, KEEP_DROP_ENTRY, &e, sizeof(e), NULL, 0);
}

void keep_channel(const struct channel *ch)
{
	struct keep_channel k = {0};
	int fds[KEEP_FDS_MAX] = {ch->data_fd, ch->ctl_fd, ch->wake_fd, ch->dd_fd};

	snprintf(k.name, sizeof(k.name), "%s", ch->name);
	k.deleted = ch->deleted;
	k.id = ch->id;
	k.owner_uid = ch->owner_uid;
	k.numa_wire = ch->numa_wire;
	k.numa_node = ch->numa_node;
	k.publish = ch->publish;
	k.subscribe = ch->subscribe;
	k.g = ch->g;
	keep_send(ch, KEEP_CHANNEL, &k, sizeof(k), fds, ch->dd_fd >= 0 ? 4 : 3);
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (ch->reader_client[i])
			keep_entry(ch, 'r', i);
	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (ch->pub_client[i])
			keep_entry(ch, 'p', i);
	for (unsigned i = 0; ch->groups && i < MAX_GROUPS; i++)
		if (ch->groups->g[i].name[0])
			keep_group(ch, i);
}

void keep_channel_adopted(const struct channel *ch)
{
	keep_channel(ch);
	/* the keeper keeps entries across a record's update: drop those it
	 * sent that we did not adopt (refused, or freed as their process is
	 * gone), and only those: a drop for every free slot would be a burst
	 * of 128 messages a channel, more than a slow keeper's socket holds */
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (!ch->reader_client[i] && (ch->kept_readers >> i & 1))
			keep_drop_entry(ch, 'r', i);
	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (!ch->pub_client[i] && (ch->kept_pubs >> i & 1))
			keep_drop_entry(ch, 'p', i);
}

void keep_drop(const struct channel *ch)
{
	uint64_t id = ch->id;

	keep_send(ch, KEEP_DROP, &id, sizeof(id), NULL, 0);
}

void keep_group(const struct channel *ch, unsigned idx)
{
	const struct dgroup *g = &ch->groups->g[idx];
	struct keep_group k = {
	    .channel_id = ch->id,
	    .idx = idx,
	    .reader_slot = g->reader_slot,
	    .ack_wait_ns = g->s.ack_wait_ns,
	    .max_pending = g->s.max_pending,
	    .max_deliver = g->s.max_deliver,
	    .flags = g->s.flags,
	    .seg_bytes = g->seg_bytes,
	};

	static_assert(GROUP_MAX_MEMBERS == 32 && GROUP_NAME_BYTES == 64, "struct keep_group");
	snprintf(k.name, sizeof(k.name), "%s", g->name);
	for (unsigned m = 0; m < GROUP_MAX_MEMBERS; m++)
		k.members[m] = (struct keep_member){g->gen[m], g->who[m].pid, g->who[m].uid,
						    g->client[m] != 0, g->who[m].start};
	keep_send(ch, KEEP_GROUP, &k, sizeof(k), &g->seg_fd, 1);
}

void keep_drop_group(const struct channel *ch, unsigned idx)
{
	struct keep_group k = {.channel_id = ch->id, .idx = idx};

	keep_send(ch, KEEP_DROP_GROUP, &k, KEEP_GROUP_HEAD, NULL, 0);
}
