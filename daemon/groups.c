/*
 * groups.c - consumer groups in the daemon (groups.h): make a group (a
 * reader slot owned by the daemon, a group segment formatted here with
 * the floor and dispatch at the asked start), admit members into the
 * member table, free the row of a member that leaves or dies and wake the
 * rest so that they take its messages, report counters, delete. The
 * segment's counters and cursors are written by members: they are only
 * reported, never believed. Main thread.
 */
#include "groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keep.h"
#include "keeper.h"
#include "logmsg.h"
#include "map.h"
#include "name.h"
#include "procid.h"
#include "segment.h"
#include "shmq_types.h"
#include "wait.h"

#define DEFAULT_ACK_WAIT_NS (30ull * 1000000000ull)
#define DEFAULT_MAX_PENDING 4096u
#define DEFAULT_MAX_DELIVER 5u

/* A group's reader slot belongs to no client: a client id none can have. */
#define GROUP_CLIENT(i) (UINT64_MAX - 1 - (i))

int group_name_check(const char *wire, char *out)
{
	size_t n = strnlen(wire, PROTO_GROUP_NAME_BYTES);

	if (n == 0 || n >= GROUP_NAME_BYTES)
		return -SHMQ_ENAME;
	memcpy(out, wire, n);
	out[n] = 0;
	return name_check(out);
}

static struct group_table *table_of(struct channel *ch)
{
	if (!ch->groups) {
		ch->groups = calloc(1, sizeof(*ch->groups));
		if (ch->groups)
			for (unsigned i = 0; i < MAX_GROUPS; i++)
				ch->groups->g[i].seg_fd = -1;
	}
	return ch->groups;
}

static struct dgroup *find(struct group_table *t, const char *name, unsigned *at)
{
	for (unsigned i = 0; t && i < MAX_GROUPS; i++)
		if (t->g[i].name[0] && !strcmp(t->g[i].name, name)) {
			*at = i;
			return &t->g[i];
		}
	return NULL;
}

/* The request's settings, defaults filled: -SHMQ_EINVAL if out of range. */
static int settings_from(const struct proto_group *req, struct group_settings *s)
{
	*s = (struct group_settings){
	    .ack_wait_ns = req->ack_wait_ns ? req->ack_wait_ns : DEFAULT_ACK_WAIT_NS,
	    .max_pending = req->max_pending ? req->max_pending : DEFAULT_MAX_PENDING,
	    .max_deliver = req->max_deliver ? req->max_deliver : DEFAULT_MAX_DELIVER,
	    /* SHMQ_GROUP_NOACK is each member's own choice */
	    .flags = req->flags & SHMQ_GROUP_DLQ ? GROUP_F_DLQ : 0,
	};
	if (req->flags & ~(SHMQ_GROUP_CREATE | SHMQ_GROUP_NOACK | SHMQ_GROUP_DLQ) ||
	    req->start > SHMQ_START_OFFSET)
		return -SHMQ_EINVAL;
	return group_settings_valid(s) ? 0 : -SHMQ_EINVAL;
}

/* Settings the request gives (non-zero) that differ from the group's. */
static bool mismatch(const struct dgroup *g, const struct proto_group *req)
{
	return (req->ack_wait_ns && req->ack_wait_ns != g->s.ack_wait_ns) ||
	       (req->max_pending && req->max_pending != g->s.max_pending) ||
	       (req->max_deliver && req->max_deliver != g->s.max_deliver) ||
	       ((req->flags & SHMQ_GROUP_DLQ) && !(g->s.flags & GROUP_F_DLQ));
}

static void dgroup_release(struct dgroup *g)
{
	if (g->seg)
		map_release(g->seg, g->seg_bytes);
	if (g->seg_fd >= 0)
		close(g->seg_fd);
	memset(g, 0, sizeof(*g));
	g->seg_fd = -1;
}

/*
 * For a start at an offset: the reader's place is a record boundary at or
 * below it; walk to the first message at or past skip_below.
 */
static void start_walk(const struct channel *ch, struct log_cursor *cur, uint64_t skip_below)
{
	struct log_rec rec;

	for (unsigned n = 0; skip_below && cur->pos < skip_below && n < 1u << 20; n++) {
		if (log_read(&ch->v, cur, &rec) != 1 || rec.pos >= skip_below)
			return;
		log_advance(cur, &rec);
	}
}

/* Make group i: its reader slot, its segment, floor and dispatch at the start. */
static int group_make(struct channel *ch, struct dgroup *g, unsigned i, const char *name,
		      const struct slot_owner *who, const struct proto_group *req)
{
	struct slot_owner owner = {GROUP_CLIENT(i), (uint32_t)getpid(), who->uid, 0, 0};
	struct log_cursor cur;
	uint64_t skip_below;
	char seg_name[256];
	int err = settings_from(req, &g->s);

	if (err)
		return err;
	err = registry_reader_add(ch, &owner, req->start, req->offset, SHMQ_WAIT_SLEEP,
				  &g->reader_slot, &cur, &skip_below);
	if (err)
		return err;
	start_walk(ch, &cur, skip_below);
	log_cursor_store(ch->peers.readers[g->reader_slot], &cur, true);
	g->s.reader_slot = g->reader_slot;
	g->seg_bytes = group_seg_bytes(g->s.max_pending);
	snprintf(seg_name, sizeof(seg_name), "shmq.%s.g%u", ch->name, i);
	err = segment_create(seg_name, g->seg_bytes,
			     ch->numa_wire == SHMQ_NUMA_NONE ? -1 : ch->numa_node, &g->seg_fd,
			     &g->seg, &g->seg_bytes);
	if (!err)
		err = group_format(g->seg, g->seg_bytes, &g->s, name, ch->id, wait_now_ns(), &cur);
	if (err) {
		registry_reader_remove(ch, g->reader_slot);
		dgroup_release(g);
		return err;
	}
	strcpy(g->name, name);
	log_msg(LOG_INFO, "group", "created channel=%s group=%s slot=%u offset=%llu", ch->name,
		name, g->reader_slot, (unsigned long long)cur.pos);
	return 0;
}

/* The daemon's picture of row m into the segment's member table. */
static void member_publish(struct dgroup *g, unsigned m)
{
	struct group_hdr *h = g->seg;

	/* relaxed: published by the release store of the state. */
	atomic_store_explicit(&h->members[m].gen, g->gen[m], memory_order_relaxed);
	/* release; pairs with the acquire in holder_live() (shm/group.c). */
	atomic_store_explicit(&h->members[m].state, g->client[m] ? GM_LIVE : GM_FREE,
			      memory_order_release);
}

/* Admit a member: a free row, a new generation, LIVE. */
static int member_add(struct dgroup *g, const struct slot_owner *who, uint32_t *row)
{
	unsigned m;

	for (m = 0; m < GROUP_MAX_MEMBERS && g->client[m]; m++)
		;
	if (m == GROUP_MAX_MEMBERS)
		return -SHMQ_ELIMIT;
	g->client[m] = who->client_id;
	g->who[m] = *who;
	g->gen[m]++;
	member_publish(g, m);
	*row = m;
	return 0;
}

int group_join(struct channel *ch, const struct slot_owner *who, const struct proto_group *req,
	       struct proto_group_joined *out, int *fds)
{
	struct group_table *t = table_of(ch);
	char name[GROUP_NAME_BYTES];
	struct dgroup *g;
	unsigned i = 0;
	int err = group_name_check(req->group, name);

	if (err)
		return err;
	if (!t)
		return -SHMQ_ENOMEM;
	g = find(t, name, &i);
	if (g && mismatch(g, req))
		return -SHMQ_EMISMATCH;
	if (!g && !(req->flags & SHMQ_GROUP_CREATE))
		return -SHMQ_ENOENT;
	if (!g) {
		for (i = 0; i < MAX_GROUPS && t->g[i].name[0]; i++)
			;
		if (i == MAX_GROUPS)
			return -SHMQ_ELIMIT;
		g = &t->g[i];
		err = group_make(ch, g, i, name, who, req);
		if (err)
			return err;
	}
	memset(out, 0, sizeof(*out));
	err = member_add(g, who, &out->member);
	if (err)
		return err;
	keep_group(ch, i);
	out->channel_id = ch->id;
	out->seg_bytes = g->seg_bytes;
	out->group = i;
	out->member_gen = g->gen[out->member];
	out->reader_slot = g->reader_slot;
	out->reader_gen = ch->peers.rgen[g->reader_slot];
	fds[0] = ch->data_ro_fd;
	fds[1] = ch->ctl_ro_fd;
	fds[2] = ch->wake_fd;
	fds[3] = ch->reader_fd[g->reader_slot];
	fds[4] = g->seg_fd;
	out->nfds = 5;
	return 0;
}

/* Wake the group's members: those waiting for an ack, and those asleep on the channel. */
static void group_wake(struct channel *ch, struct dgroup *g)
{
	struct group_hdr *h = g->seg;

	/* release: publish the new sequence before the wake. */
	atomic_fetch_add_explicit(&h->wake_seq, 1, memory_order_release);
	wait_wake(&h->wake_seq, INT32_MAX);
	channel_wake_all(ch);
}

void group_leave(struct channel *ch, uint32_t handle_idx)
{
	uint32_t i = handle_idx / GROUP_MAX_MEMBERS, m = handle_idx % GROUP_MAX_MEMBERS;
	struct dgroup *g;

	if (!ch->groups || i >= MAX_GROUPS)
		return;
	g = &ch->groups->g[i];
	if (!g->name[0] || !g->client[m])
		return;
	g->client[m] = 0;
	member_publish(g, m); /* FREE: its entries may be taken */
	keep_group(ch, i);
	group_wake(ch, g);
}

static uint32_t live_members(const struct dgroup *g)
{
	uint32_t n = 0;

	for (unsigned m = 0; m < GROUP_MAX_MEMBERS; m++)
		n += g->client[m] != 0;
	return n;
}

/* relaxed: counters members keep; reported as they are. */
static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static void row_fill(const struct channel *ch, const struct dgroup *g, struct proto_group_row *r)
{
	const struct group_hdr *h = g->seg;

	memset(r, 0, sizeof(*r));
	strcpy(r->name, g->name);
	r->members = live_members(g);
	r->max_pending = g->s.max_pending;
	r->floor = ld(&ch->peers.readers[g->reader_slot]->pos);
	r->dispatch = ld(&h->dispatch_pos);
	r->delivered = ld(&h->delivered);
	r->redelivered = ld(&h->redelivered);
	r->acked = ld(&h->acked);
	r->dead = ld(&h->dead);
	r->lost = ld(&h->lost);
}

void group_info(const struct channel *ch, const char *name, struct proto_group_info *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; ch->groups && i < MAX_GROUPS; i++) {
		const struct dgroup *g = &ch->groups->g[i];

		if (g->name[0] && (!name[0] || !strcmp(name, g->name)))
			row_fill(ch, g, &out->rows[out->count++]);
	}
}

int group_delete(struct channel *ch, const char *name)
{
	unsigned i;
	struct dgroup *g = find(ch->groups, name, &i);

	if (!g)
		return -SHMQ_ENOENT;
	if (live_members(g))
		return -SHMQ_EBUSY;
	registry_reader_remove(ch, g->reader_slot);
	keep_drop_group(ch, i);
	log_msg(LOG_INFO, "group", "deleted channel=%s group=%s", ch->name, g->name);
	dgroup_release(g);
	return 0;
}

void group_table_free(struct channel *ch)
{
	if (!ch->groups)
		return;
	for (unsigned i = 0; i < MAX_GROUPS; i++)
		dgroup_release(&ch->groups->g[i]);
	free(ch->groups);
	ch->groups = NULL;
}

/* A kept record, checked as far as it can be before mapping its segment. */
static const char *record_refusal(const struct channel *ch, const struct keep_group *k, int fd,
				  char *name)
{
	const struct group_settings s = {k->ack_wait_ns, k->max_pending, k->max_deliver, k->flags,
					 k->reader_slot};

	if (k->idx >= MAX_GROUPS || (ch->groups && ch->groups->g[k->idx].name[0]))
		return "duplicate";
	if (!memchr(k->name, 0, sizeof(k->name)) || group_name_check(k->name, name))
		return "bad_name";
	if (!group_settings_valid(&s) || k->seg_bytes != group_seg_bytes(k->max_pending))
		return "bad_settings";
	/* the slot must be one the keeper kept for the earlier daemon, unclaimed */
	if (k->reader_slot >= MAX_READERS || ch->reader_client[k->reader_slot] != CLIENT_PENDING)
		return "no_reader_slot";
	if (!segment_is_ours(fd, k->seg_bytes))
		return "segment_not_ours";
	return NULL;
}

const char *group_adopt(struct channel *ch, const struct keep_group *k, int *fd)
{
	struct group_table *t = table_of(ch);
	char name[GROUP_NAME_BYTES];
	const char *why = t ? record_refusal(ch, k, *fd, name) : "no_memory";
	struct dgroup *g;
	struct group_hdr *h;

	if (why)
		return why;
	g = &t->g[k->idx];
	if (map_fd(*fd, true, &g->seg, &g->seg_bytes))
		return "no_memory";
	h = g->seg;
	/* acquire; pairs with the release in group_format(). The rest of the
	 * header is the members' to damage: only the record is believed. */
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != GROUP_MAGIC ||
	    h->channel_id != ch->id) {
		dgroup_release(g);
		return "bad_header";
	}
	g->seg_fd = *fd;
	*fd = -1;
	strcpy(g->name, name);
	g->s = (struct group_settings){k->ack_wait_ns, k->max_pending, k->max_deliver, k->flags,
				       k->reader_slot};
	g->reader_slot = k->reader_slot;
	/* the slot waited for the earlier daemon: it is this one's now, no client's */
	ch->reader_client[g->reader_slot] = GROUP_CLIENT(k->idx);
	ch->reader_start[g->reader_slot] = 0;
	/* relaxed: the daemon's own word in the control segment */
	atomic_store_explicit(&channel_reader_slot(ch, g->reader_slot)->owner_pid,
			      (uint32_t)getpid(), memory_order_relaxed);
	ch->handles--; /* adopt_entry() counted it; a group's slot holds no handle */
	for (unsigned m = 0; m < GROUP_MAX_MEMBERS; m++) {
		const struct keep_member *km = &k->members[m];

		g->gen[m] = km->gen;
		if (km->live == 1) {
			g->client[m] = CLIENT_PENDING;
			g->who[m] =
			    (struct slot_owner){CLIENT_PENDING, km->pid, km->uid, km->start, 0};
			ch->handles++; /* each member holds one, as an adopted reader does */
		}
		member_publish(g, m);
	}
	log_msg(LOG_INFO, "group", "adopted channel=%s group=%s slot=%u", ch->name, g->name,
		g->reader_slot);
	return NULL;
}

int group_resume(struct channel *ch, uint32_t handle_idx, uint32_t gen,
		 const struct slot_owner *who)
{
	uint32_t i = handle_idx / GROUP_MAX_MEMBERS, m = handle_idx % GROUP_MAX_MEMBERS;
	struct dgroup *g;

	if (!ch->groups || i >= MAX_GROUPS)
		return -SHMQ_ESTATE;
	g = &ch->groups->g[i];
	if (!g->name[0] || g->client[m] != CLIENT_PENDING || g->gen[m] != gen ||
	    g->who[m].pid != who->pid || g->who[m].uid != who->uid ||
	    (g->who[m].start && g->who[m].start != who->start))
		return -SHMQ_ESTATE;
	g->client[m] = who->client_id;
	g->who[m].client_id = who->client_id;
	return 0;
}

bool group_expire_one(struct channel *ch)
{
	for (unsigned i = 0; ch->groups && i < MAX_GROUPS; i++) {
		struct dgroup *g = &ch->groups->g[i];

		for (unsigned m = 0; g->name[0] && m < GROUP_MAX_MEMBERS; m++) {
			if (g->client[m] != CLIENT_PENDING ||
			    procid_alive(g->who[m].pid, g->who[m].start))
				continue;
			log_msg(LOG_INFO, "group",
				"freed unresumed member channel=%s group=%s member=%u pid=%u",
				ch->name, g->name, m, g->who[m].pid);
			group_leave(ch, i * GROUP_MAX_MEMBERS + m);
			return true;
		}
	}
	return false;
}
