/*
 * registry.c - channel lifecycle in the daemon (see registry.h): create,
 * find, delete and free channels, assign and free reader and publisher
 * slots, and the periodic tick that repairs abandoned claims and runs the
 * watchdog (watchdog.c). Each change is mirrored to the keeper (keep.c),
 * from which adopt.c takes channels back after a restart. Segments come
 * from segment.c, sealed memfds handed to clients as descriptors,
 * read-only ones for what they may not write. Main thread.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "dedupe_seg.h"
#include "groups.h"
#include "journal.h"
#include "keep.h"
#include "keeper.h"
#include "logmsg.h"
#include "map.h"
#include "name.h"
#include "numa_place.h"
#include "procid.h"
#include "proto.h"
#include "segment.h"
#include "shmq_types.h"
#include "wait.h"
#include "watchdog.h"

int registry_init(struct registry *r, const struct config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->max_channels = cfg->max_channels;
	r->stuck_ns = cfg->stuck_ms * 1000000ull;
	r->next_id = 1;
	r->kfd = -1;
	tsccal_init(&r->cal);
	return 0;
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Unmap and close slot idx's entry segment (reader or publisher). */
static void entry_release(int *fd, void **map)
{
	map_release(*map, ENTRY_SEG_BYTES);
	*map = NULL;
	fd_close(fd);
}

void channel_free(struct channel *ch)
{
	group_table_free(ch);
	for (unsigned i = 0; i < MAX_READERS; i++) {
		fd_close(&ch->efds[i]);
		fd_close(&ch->efd_rd[i]);
		entry_release(&ch->reader_fd[i], (void **)&ch->peers.readers[i]);
	}
	for (unsigned i = 0; i < MAX_PUBS; i++)
		entry_release(&ch->pub_fd[i], (void **)&ch->peers.pubs[i]);
	map_release(ch->data, ch->g.data_bytes);
	map_release(ch->ctl, ch->g.ctl_bytes);
	map_release(ch->wake, WAKE_SEG_BYTES);
	fd_close(&ch->data_fd);
	fd_close(&ch->data_ro_fd);
	fd_close(&ch->ctl_fd);
	fd_close(&ch->ctl_ro_fd);
	fd_close(&ch->wake_fd);
	fd_close(&ch->wake_ro_fd);
	dedupe_seg_free(ch);
	free(ch);
}

/* The channel's NUMA node for its segments, -1 for none. */
int channel_open_ro(struct channel *ch)
{
	int err = segment_open_ro(ch->data_fd, &ch->data_ro_fd);

	if (!err)
		err = segment_open_ro(ch->ctl_fd, &ch->ctl_ro_fd);
	if (!err)
		err = segment_open_ro(ch->wake_fd, &ch->wake_ro_fd);
	return err;
}

static int channel_node(const struct channel *ch)
{
	/* a channel that asked for none is never bound, whatever numa_node holds */
	return ch->numa_wire == SHMQ_NUMA_NONE ? -1 : ch->numa_node;
}

/* A fresh, zeroed entry segment for a slot, mapped read-write here. */
static int entry_create(struct channel *ch, char kind, unsigned idx, int *fd, void **map)
{
	char name[256];
	uint64_t bytes;
	int err;

	snprintf(name, sizeof(name), "shmq.%s.%c%u", ch->name, kind, idx);
	err = segment_create(name, ENTRY_SEG_BYTES, channel_node(ch), fd, map, &bytes);
	if (!err && bytes != ENTRY_SEG_BYTES)
		err = -SHMQ_ESYS;
	if (err)
		entry_release(fd, map);
	return err;
}

void registry_close_all(struct registry *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		/* release; pairs with the subscribers' acquire, as for a delete */
		atomic_store_explicit(&channel_ctl_rw(r->ch[i])->state, CHAN_CLOSED,
				      memory_order_release);
		channel_wake_all(r->ch[i]);
	}
}

void registry_keeper_quit(struct registry *r)
{
	if (r->kfd >= 0)
		keeper_send(r->kfd, KEEP_QUIT, NULL, 0, NULL, 0);
}

void registry_keeper_stopped(struct registry *r)
{
	if (r->kfd >= 0)
		keeper_send(r->kfd, KEEP_STOPPED, NULL, 0, NULL, 0);
}

/* A random commit-word key; the clock if the kernel has no entropy call. */
static uint64_t channel_key(void)
{
	uint64_t k = 0;

	if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
		k = wait_now_ns() * 0x9e3779b97f4a7c15ull;
	return k;
}

/*
 * Create, map, format and attach both segments. Each resource is stored in
 * ch as soon as it exists; on error nothing is undone here: the caller's
 * channel_free() releases whatever ch holds, once.
 */
static int channel_map(struct channel *ch)
{
	char name[256];
	int node = channel_node(ch);
	uint64_t wake_bytes;
	struct log_segs segs;
	int err;

	snprintf(name, sizeof(name), "shmq.%s.d", ch->name);
	err = segment_create(name, ch->g.data_bytes, node, &ch->data_fd, &ch->data,
			     &ch->g.data_bytes);
	if (err)
		return err;
	snprintf(name, sizeof(name), "shmq.%s.c", ch->name);
	err = segment_create(name, ch->g.ctl_bytes, node, &ch->ctl_fd, &ch->ctl, &ch->g.ctl_bytes);
	if (err)
		return err;
	snprintf(name, sizeof(name), "shmq.%s.w", ch->name);
	err = segment_create(name, WAKE_SEG_BYTES, node, &ch->wake_fd, &ch->wake, &wake_bytes);
	if (!err)
		err = channel_open_ro(ch);
	if (!err)
		err = log_format(ch->data, ch->ctl, &ch->g, ch->name, ch->id, ch->base_pos,
				 channel_key());
	if (err)
		return err;
	segs = (struct log_segs){ch->data,	  ch->g.data_bytes, ch->ctl,
				 ch->g.ctl_bytes, ch->wake,	    wake_bytes};
	err = log_attach(&ch->v, &segs, NULL);
	ch->rep.ctl = channel_ctl_rw(ch);
	ch->rep.ctl_pslots = channel_pub_slot(ch, 0);
	/* relaxed: nobody has the segment yet */
	atomic_store_explicit(&channel_ctl_rw(ch)->daemon_pid, (uint32_t)getpid(),
			      memory_order_relaxed);
	return err;
}

int registry_grow(struct registry *r)
{
	struct channel **n;
	uint32_t cap = r->cap ? r->cap * 2 : 16;

	if (r->n < r->cap)
		return 0;
	n = realloc(r->ch, cap * sizeof(*n));
	if (!n)
		return -SHMQ_ENOMEM;
	r->ch = n;
	r->cap = cap;
	return 0;
}

struct channel *channel_alloc(struct registry *r)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	for (unsigned i = 0; i < MAX_READERS; i++)
		ch->efds[i] = ch->efd_rd[i] = ch->reader_fd[i] = -1;
	for (unsigned i = 0; i < MAX_PUBS; i++)
		ch->pub_fd[i] = -1;
	ch->data_fd = ch->data_ro_fd = ch->ctl_fd = ch->ctl_ro_fd = -1;
	ch->wake_fd = ch->wake_ro_fd = -1;
	ch->dd_fd = -1;
	ch->kfd = &r->kfd;
	return ch;
}

/*
 * A durable channel: mark it FEAT_INCOMPAT_JOURNAL (no client maps it
 * yet), give reader slot 0 to the journal at the tail, and hand the
 * channel to the journal thread.
 */
static int journal_slot(struct registry *r, struct channel *ch, const struct channel_spec *spec)
{
	struct slot_owner who = {CLIENT_JOURNAL, (uint32_t)getpid(), (uint32_t)geteuid(), 0, 0};
	struct log_cursor cur;
	uint64_t skip;
	uint32_t idx;
	const char *why = NULL;
	int err = journal_spec_check(r->journal, spec, &why);

	if (err) {
		log_msg(LOG_WARN, "registry", "not creating durable channel=%s: %s", spec->name,
			why);
		return err;
	}
	((struct data_hdr *)ch->data)->incompat |= FEAT_INCOMPAT_JOURNAL;
	ch->v.held_readers = ch->v.policy == SHMQ_POLICY_BLOCK ? MAX_READERS : 1;
	err =
	    registry_reader_add(ch, &who, SHMQ_START_LATEST, 0, SHMQ_WAIT_SPIN, &idx, &cur, &skip);
	if (err)
		return err;
	if (idx != JOURNAL_READER_SLOT)
		return -SHMQ_ESTATE;
	ch->durability = spec->durability;
	return journal_add(r->journal, ch, spec);
}

static void registry_drop(struct registry *r, struct channel *ch);

static int channel_new(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		       struct channel **out)
{
	struct channel *ch;
	int err;

	if (registry_find(r, spec->name))
		return -SHMQ_EEXIST;
	/* deleted channels still open hold memory too: they count */
	if (r->n >= r->max_channels)
		return -SHMQ_ELIMIT;
	err = registry_grow(r);
	if (err)
		return err;
	ch = channel_alloc(r);
	if (!ch)
		return -SHMQ_ENOMEM;
	strcpy(ch->name, spec->name);
	ch->owner_uid = owner_uid;
	ch->max_handles_per_uid = spec->max_handles_per_uid;
	ch->publish = spec->publish;
	ch->subscribe = spec->subscribe;
	ch->numa_wire = spec->numa_node;
	ch->numa_node = spec->numa_resolved;
	ch->id = spec->id;
	while (!ch->id || registry_by_id(r, ch->id)) /* a recovered channel's id is taken */
		ch->id = r->next_id++ | ((uint64_t)getpid() << 32);
	err = log_geometry_make(
	    spec->capacity_bytes, spec->max_message_bytes, spec->policy, spec->publishers,
	    spec->flags & SHMQ_CHAN_NO_TIMESTAMP ? DATA_F_NO_TIMESTAMP : 0, &ch->g);
	ch->g.dedupe_slots = spec->dedupe_slots;
	ch->base_pos = spec->base_pos;
	if (!err)
		err = channel_map(ch);
	if (!err && ch->g.dedupe_slots)
		err = dedupe_seg_create(ch, spec->dedupe_window_s);
	if (err) {
		channel_free(ch);
		return err;
	}
	tsccal_publish(&r->cal, &ch->v);
	r->ch[r->n++] = ch;
	keep_channel(ch);
	err = spec->durability ? journal_slot(r, ch, spec) : 0;
	if (err) {
		registry_drop(r, ch);
		return err;
	}
	*out = ch;
	return 0;
}

int registry_create_by(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		       const char *by, struct channel **out)
{
	int err = channel_new(r, spec, owner_uid, out);

	if (!err)
		log_msg(LOG_INFO, "registry",
			"created channel=%s ring_bytes=%llu max_message=%u policy=%s publishers=%s "
			"owner_uid=%u by=%s",
			spec->name, (unsigned long long)(*out)->v.ring_bytes,
			(*out)->v.max_message_bytes,
			(*out)->v.policy == SHMQ_POLICY_BLOCK ? "block" : "drop",
			(*out)->v.pub_mode == SHMQ_PUBLISHERS_ONE ? "one" : "many", owner_uid, by);
	return err;
}

int registry_create(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		    struct channel **out)
{
	return registry_create_by(r, spec, owner_uid, "config", out);
}

uint32_t registry_owned_by(const struct registry *r, uint32_t uid)
{
	uint32_t n = 0;

	/* deleted channels still open hold memory too: they count */
	for (uint32_t i = 0; i < r->n; i++)
		n += r->ch[i]->owner_uid == uid;
	return n;
}

struct channel *registry_find(struct registry *r, const char *name)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (!r->ch[i]->deleted && !strcmp(r->ch[i]->name, name))
			return r->ch[i];
	return NULL;
}

struct channel *registry_by_id(struct registry *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->ch[i]->id == id)
			return r->ch[i];
	return NULL;
}

static void registry_drop(struct registry *r, struct channel *ch)
{
	keep_drop(ch);
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->ch[i] == ch) {
			r->ch[i] = r->ch[--r->n];
			break;
		}
	}
	r->repairs_freed += ch->repairs;
	if (ch->durability)
		journal_remove(r->journal, ch->id, true);
	channel_free(ch);
}

void registry_delete(struct registry *r, struct channel *ch, const char *by)
{
	ch->deleted = true;
	/* release; pairs with the subscribers' acquire when they find no
	 * message: everything published before the delete is still read. */
	atomic_store_explicit(&channel_ctl_rw(ch)->state, CHAN_DELETED, memory_order_release);
	channel_wake_all(ch);
	if (ch->handles)
		keep_channel(ch); /* kept as deleted while handles remain */
	log_msg(LOG_INFO, "registry", "deleted channel=%s handles=%u by=%s", ch->name, ch->handles,
		by);
	if (!ch->handles)
		registry_drop(r, ch);
}

void registry_handle_get(struct channel *ch)
{
	ch->handles++;
}

unsigned channel_open_fds(struct channel *ch, uint32_t role, uint32_t idx, int *fds, int *handed_fd)
{
	unsigned n;

	fds[0] = role == ROLE_PUB ? ch->data_fd : ch->data_ro_fd;
	fds[1] = ch->ctl_ro_fd;
	fds[2] = role == ROLE_MON ? ch->wake_ro_fd : ch->wake_fd;
	n = 3;
	if (role == ROLE_PUB)
		fds[n++] = ch->pub_fd[idx];
	if (role == ROLE_PUB && ch->dd_fd >= 0)
		fds[n++] = ch->dd_fd; /* the duplicate table, read-write */
	if (role == ROLE_SUB)
		fds[n++] = ch->reader_fd[idx];
	if (role == ROLE_SUB && ch->efd_rd[idx] >= 0) {
		/* the reader's end of its wake socket is its alone: ours goes */
		fds[n++] = *handed_fd = ch->efd_rd[idx];
		ch->efd_rd[idx] = -1;
	}
	return n;
}

void registry_handle_put(struct registry *r, struct channel *ch)
{
	if (ch->handles)
		ch->handles--;
	if (ch->deleted && !ch->handles)
		registry_drop(r, ch);
}

/*
 * Where a reader asked to start: a record boundary and, for an offset past
 * it, the first offset to deliver (the reader skips up to it).
 */
static int start_cursor(const struct channel *ch, uint32_t start, uint64_t offset,
			struct log_cursor *cur, uint64_t *skip_below)
{
	struct log_cursor tail;

	*skip_below = 0;
	log_tail_cursor(&ch->v, &tail);
	switch (start) {
	case SHMQ_START_LATEST:
		*cur = tail;
		return 0;
	case SHMQ_START_EARLIEST:
		log_oldest(&ch->v, cur);
		return 0;
	case SHMQ_START_OFFSET:
		if (offset > tail.pos)
			return -SHMQ_EINVAL;
		log_oldest(&ch->v, cur);
		if (offset > cur->pos)
			*skip_below = offset;
		return 0;
	default:
		return -SHMQ_EINVAL;
	}
}

/* Keep ctl->readers_hi at 1 + the highest assigned entry: log_wake() scans no further. */
static void set_readers_hi(struct channel *ch)
{
	uint32_t hi = MAX_READERS;

	while (hi > 0 && !ch->reader_client[hi - 1])
		hi--;
	/* release; pairs with the acquire in log_wake(). */
	atomic_store_explicit(&channel_ctl_rw(ch)->readers_hi, hi, memory_order_release);
}

/*
 * The cursor of the slowest active reader, each read once from shared
 * memory and kept only if it lies between the oldest record and the tail;
 * false if there is no such reader.
 */
static bool slowest_reader(const struct channel *ch, struct log_cursor *low)
{
	struct log_cursor tail, oldest, c;
	bool any = false;

	log_tail_cursor(&ch->v, &tail);
	log_oldest(&ch->v, &oldest);
	*low = tail;
	for (unsigned i = 0; i < MAX_READERS; i++) {
		if (!ch->reader_client[i] || !ch->peers.readers[i] ||
		    !log_cursor_load(ch->peers.readers[i], &c))
			continue;
		if (c.bytes < oldest.bytes || c.bytes > tail.bytes || c.pos > tail.pos ||
		    c.bytes % REC_ALIGN)
			continue; /* not a cursor an honest reader holds */
		if (c.bytes < low->bytes)
			*low = c;
		any = true;
	}
	return any;
}

/*
 * Where a new reader starts. On a block channel publishers cache a limit
 * from the slowest reader (its bytes + ring): a new reader below it would
 * be overwritten, so it starts no lower than the slowest active reader.
 */
static int reader_start(const struct channel *ch, uint32_t start, uint64_t offset,
			struct log_cursor *cur, uint64_t *skip_below)
{
	struct log_cursor low;
	int err = start_cursor(ch, start, offset, cur, skip_below);

	if (!err && ch->v.policy == SHMQ_POLICY_BLOCK && slowest_reader(ch, &low) &&
	    cur->bytes < low.bytes)
		*cur = low;
	if (*skip_below <= cur->pos)
		*skip_below = 0;
	return err;
}

/* Bump a slot table's generation word: clients rescan their peers. */
static void gen_bump(_Atomic uint64_t *gen)
{
	/* release, after the slot's state store: a client that sees the new
	 * generation (acquire) and rescans sees the slot as it is now. */
	atomic_fetch_add_explicit(gen, 1, memory_order_release);
}

/* Fill a free slot: owner, a new generation, then ACTIVE (release). */
static uint32_t slot_fill(struct ctl_slot *sl, const struct slot_owner *who, uint32_t wait_mode)
{
	/* relaxed: the release store of state below publishes them. */
	uint32_t gen = atomic_load_explicit(&sl->gen, memory_order_relaxed) + 1;

	atomic_store_explicit(&sl->owner_pid, who->pid, memory_order_relaxed);
	atomic_store_explicit(&sl->owner_uid, who->uid, memory_order_relaxed);
	atomic_store_explicit(&sl->wait_mode, wait_mode, memory_order_relaxed);
	atomic_store_explicit(&sl->cut_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->gen, gen, memory_order_relaxed);
	/* release: owner, generation and the entry's first contents are
	 * visible to whoever sees ACTIVE (log_slot_stale()). */
	atomic_store_explicit(&sl->state, SLOT_ACTIVE, memory_order_release);
	return gen;
}

static void slot_clear(struct ctl_slot *sl)
{
	/* release: a publisher that sees the slot free stops reading its entry. */
	atomic_store_explicit(&sl->state, SLOT_FREE, memory_order_release);
}

/*
 * Would who exceed its uid's share of the slots (readers or publishers)?
 * The owner uid of a slot in use is read back from the control segment,
 * which only the daemon writes (slot_fill()); slots adopted after a
 * restart, still waiting for their client, count too.
 */
static bool over_share(const struct channel *ch, const struct slot_owner *who, bool readers)
{
	const uint64_t *client = readers ? ch->reader_client : ch->pub_client;
	unsigned nslots = readers ? MAX_READERS : MAX_PUBS;
	uint32_t held = 0;

	if (!who->max_slots)
		return false;
	for (unsigned i = 0; i < nslots; i++) {
		const struct ctl_slot *sl =
		    readers ? channel_reader_slot(ch, i) : channel_pub_slot(ch, i);

		/* relaxed: our own store, in this thread */
		held += client[i] &&
			atomic_load_explicit(&sl->owner_uid, memory_order_relaxed) == who->uid;
	}
	return held >= who->max_slots;
}

int registry_reader_add(struct channel *ch, const struct slot_owner *who, uint32_t start,
			uint64_t offset, uint32_t wait_mode, uint32_t *idx, struct log_cursor *cur,
			uint64_t *skip_below)
{
	void *map = NULL;
	unsigned i;
	int err = reader_start(ch, start, offset, cur, skip_below);

	if (err)
		return err;
	if (over_share(ch, who, true))
		return -SHMQ_EHANDLEQUOTA;
	for (i = 0; i < MAX_READERS && ch->reader_client[i]; i++)
		;
	if (i == MAX_READERS)
		return -SHMQ_ELIMIT;
	if (wait_mode == SHMQ_WAIT_EVENTFD && wait_fd_create(&ch->efd_rd[i], &ch->efds[i]) < 0)
		return segment_err_from_errno(errno);
	err = entry_create(ch, 'r', i, &ch->reader_fd[i], &map);
	if (err) {
		fd_close(&ch->efds[i]);
		fd_close(&ch->efd_rd[i]);
		return err;
	}
	ch->peers.readers[i] = map;
	/* the entry is new: the release store of ACTIVE publishes the cursor */
	log_cursor_store(ch->peers.readers[i], cur, false);
	log_reader_unmark(&ch->v, i, MARK_EFD); /* a mark left by someone else */
	log_reader_unmark(&ch->v, i, MARK_FUTEX);
	ch->peers.rgen[i] = slot_fill(channel_reader_slot(ch, i), who, wait_mode);
	gen_bump(&channel_ctl_rw(ch)->readers_gen);
	ch->reader_client[i] = who->client_id;
	ch->reader_start[i] = who->start;
	ch->watch[i] = (struct reader_watch){cur->bytes, 0, 0};
	ch->bad[i] = (struct reader_bad){0};
	set_readers_hi(ch);
	keep_entry(ch, 'r', i);
	*idx = i;
	return 0;
}

void channel_wake_publishers(struct channel *ch)
{
	/* release: publish the new sequence before the wake (pairs with
	 * wait_space() in libclient/pub.c). */
	atomic_fetch_add_explicit(&ch->v.wake->space_seq, 1, memory_order_release);
	wait_wake(&ch->v.wake->space_seq, INT32_MAX);
}

void registry_reader_remove(struct channel *ch, uint32_t idx)
{
	if (idx >= MAX_READERS || !ch->reader_client[idx])
		return;
	ch->reader_client[idx] = 0;
	keep_drop_entry(ch, 'r', idx);
	set_readers_hi(ch);
	/* a publisher that no longer sees the reader may overwrite what it
	 * was reading; it closed or died, so nobody reads it now */
	slot_clear(channel_reader_slot(ch, idx));
	log_reader_unmark(&ch->v, idx, MARK_EFD);
	log_reader_unmark(&ch->v, idx, MARK_FUTEX);
	gen_bump(&channel_ctl_rw(ch)->readers_gen);
	entry_release(&ch->reader_fd[idx], (void **)&ch->peers.readers[idx]);
	fd_close(&ch->efds[idx]);
	fd_close(&ch->efd_rd[idx]);
	channel_wake_publishers(ch);
}

uint32_t channel_readers(const struct channel *ch)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < MAX_READERS; i++)
		n += ch->reader_client[i] != 0 && ch->reader_client[i] != CLIENT_JOURNAL;
	return n;
}

uint32_t channel_publishers(const struct channel *ch)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < MAX_PUBS; i++)
		n += ch->pub_client[i] != 0;
	return n;
}

static void set_pubs_hi(struct channel *ch)
{
	uint32_t hi = MAX_PUBS;

	while (hi > 0 && !ch->pub_client[hi - 1])
		hi--;
	/* relaxed: informative (monitors); the slots' states decide */
	atomic_store_explicit(&channel_ctl_rw(ch)->pubs_hi, hi, memory_order_relaxed);
}

int registry_pub_add(struct channel *ch, const struct slot_owner *who, uint32_t *idx)
{
	void *map = NULL;
	unsigned i;
	int err;

	if (ch->v.pub_mode == SHMQ_PUBLISHERS_ONE && channel_publishers(ch))
		return -SHMQ_EBUSY;
	if (over_share(ch, who, false))
		return -SHMQ_EHANDLEQUOTA;
	for (i = 0; i < MAX_PUBS && ch->pub_client[i]; i++)
		;
	if (i == MAX_PUBS)
		return -SHMQ_ELIMIT;
	err = entry_create(ch, 'p', i, &ch->pub_fd[i], &map);
	if (err)
		return err;
	ch->peers.pubs[i] = map; /* zeroed: PUB_IDLE, no counts */
	ch->peers.pgen[i] = slot_fill(channel_pub_slot(ch, i), who, 0);
	gen_bump(&channel_ctl_rw(ch)->pubs_gen);
	ch->pub_client[i] = who->client_id;
	ch->pub_pid[i] = who->pid;
	ch->pub_start[i] = who->start;
	ch->stall_killed[i] = 0;
	set_pubs_hi(ch);
	log_repair_forget(&ch->rep, i);
	keep_entry(ch, 'p', i);
	*idx = i;
	return 0;
}

/* Does the publisher process pid of channel arg live (the one of that start mark)? */
static bool pid_alive(uint32_t pid, void *arg)
{
	const struct channel *ch = arg;

	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (ch->pub_pid[i] == pid)
			return procid_alive(pid, ch->pub_start[i]);
	return procid_alive(pid, 0);
}

void channel_wake_all(struct channel *ch)
{
	log_wake(&ch->v, ch->efds, &ch->have_efds, NULL, NULL);
	channel_wake_publishers(ch);
}

/* ch->pub_pid[] without the slots kept for a claim: two of those naming one start settle in turn */
static void live_pids(const struct channel *ch, uint32_t *pids)
{
	for (unsigned i = 0; i < MAX_PUBS; i++)
		pids[i] = ch->pub_client[i] == CLIENT_ORPHAN ? 0 : ch->pub_pid[i];
}

bool registry_pub_remove(struct channel *ch, uint32_t idx)
{
	uint32_t pid, pids[MAX_PUBS];
	bool gave_up;

	if (idx >= MAX_PUBS || !ch->pub_client[idx])
		return true;
	pid = ch->pub_pid[idx];
	live_pids(ch, pids);
	if (log_repair_open_orphan(&ch->v, &ch->peers, pids, idx)) {
		if (ch->pub_client[idx] != CLIENT_ORPHAN)
			log_msg(LOG_INFO, "registry",
				"keeping the slot of a gone publisher until its claim settles "
				"channel=%s slot=%u pid=%u",
				ch->name, idx, pid);
		ch->pub_client[idx] = CLIENT_ORPHAN;
		return false;
	}
	/* a claim it left open is given up now, as if it had died: the
	 * library never closes with one, so only a dead or rogue one does */
	gave_up = log_repair_gone(&ch->v, &ch->peers, &ch->rep, pids, idx);
	slot_clear(channel_pub_slot(ch, idx));
	gen_bump(&channel_ctl_rw(ch)->pubs_gen);
	entry_release(&ch->pub_fd[idx], (void **)&ch->peers.pubs[idx]);
	ch->pub_client[idx] = 0;
	ch->pub_pid[idx] = 0;
	keep_drop_entry(ch, 'p', idx);
	set_pubs_hi(ch);
	log_repair_forget(&ch->rep, idx);
	ch->repairs += gave_up;
	if (gave_up)
		log_msg(LOG_WARN, "registry",
			"gave up the claim of a closed publisher channel=%s pid=%u", ch->name, pid);
	/* it may have died between taking a sleeper's wake and giving it */
	channel_wake_all(ch);
	return true;
}

/* A live publisher whose abandoned claim will soon hold the others back:
 * stop it, the only way to keep it from writing into space reused later. */
static void stall_stop(struct channel *ch, uint32_t pid)
{
	for (unsigned i = 0; i < MAX_PUBS; i++) {
		if (ch->pub_pid[i] != pid || ch->stall_killed[i] == pid)
			continue;
		ch->stall_killed[i] = pid;
		log_msg(LOG_WARN, "registry",
			"stopping stalled publisher channel=%s pid=%u (SIGKILL): its claim blocks "
			"the ring",
			ch->name, pid);
		procid_signal(pid, ch->pub_start[i], SIGKILL); /* never one that took its pid */
	}
}

void registry_tick(struct registry *r, uint64_t now_ns)
{
	struct log_repair_out out;
	bool cal = tsccal_update(&r->cal, false);

	for (uint32_t i = 0; i < r->n; i++) {
		struct channel *ch = r->ch[i];

		if (adopt_expire(r, ch))
			break; /* the table changed under us: the next tick goes on */
		if (cal)
			tsccal_publish(&r->cal, &ch->v);
		watchdog_wake_readers(ch);
		log_repair_step(&ch->v, &ch->peers, &ch->rep, ch->pub_pid, now_ns, r->stuck_ns,
				pid_alive, ch, &out);
		for (unsigned k = 0; k < out.nstall; k++)
			stall_stop(ch, out.stall_pid[k]);
		watchdog_find_bad(ch, now_ns, r->stuck_ns);
		if (!out.abandoned)
			continue;
		ch->repairs += out.abandoned;
		log_msg(LOG_WARN, "registry", "abandoned stuck claims channel=%s count=%u",
			ch->name, out.abandoned);
		channel_wake_all(ch);
	}
}

/* An adopted durable channel: its reader slot 0 is the journal's, whatever pid it names. */
static void journal_adopt(struct registry *r, struct channel *ch)
{
	struct ctl_slot *sl = channel_reader_slot(ch, JOURNAL_READER_SLOT);
	struct channel_spec spec;
	int err = -SHMQ_EINVAL;

	if (ch->reader_client[JOURNAL_READER_SLOT] == CLIENT_PENDING) {
		ch->reader_client[JOURNAL_READER_SLOT] = CLIENT_JOURNAL;
		ch->handles--; /* adopt_entry() counted it as a client's */
		/* relaxed: the daemon's own word; the slot stays ACTIVE */
		atomic_store_explicit(&sl->owner_pid, (uint32_t)getpid(), memory_order_relaxed);
		keep_entry(ch, 'r', JOURNAL_READER_SLOT);
		err = r->journal ? journal_meta_load(r->journal, ch->name, ch->id, &spec)
				 : -SHMQ_EINVAL;
	}
	if (!err) {
		ch->durability = spec.durability;
		err = journal_add(r->journal, ch, &spec);
	}
	if (err)
		log_msg(LOG_ERROR, "registry",
			"durable channel=%s adopted without its journal (%s): publishers stop a "
			"ring ahead of what was written",
			ch->name,
			!r->journal ? "no data_dir"
			: ch->reader_client[JOURNAL_READER_SLOT] != CLIENT_JOURNAL
			    ? "its slot was not kept"
			    : "no meta");
}

void registry_journal_adopted(struct registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (((struct data_hdr *)r->ch[i]->data)->incompat & FEAT_INCOMPAT_JOURNAL)
			journal_adopt(r, r->ch[i]);
}

void channel_settle_slots(struct channel *ch)
{
	/* relaxed loads below: the daemon's own words (an earlier daemon's,
	 * in a segment no client can write), read by the one thread that
	 * writes them now */
	for (unsigned i = 0; i < MAX_READERS; i++) {
		if (!ch->reader_client[i] &&
		    atomic_load_explicit(&channel_reader_slot(ch, i)->state,
					 memory_order_relaxed)) {
			slot_clear(channel_reader_slot(ch, i));
			gen_bump(&channel_ctl_rw(ch)->readers_gen);
		}
	}
	for (unsigned i = 0; i < MAX_PUBS; i++) {
		if (!ch->pub_client[i] &&
		    atomic_load_explicit(&channel_pub_slot(ch, i)->state, memory_order_relaxed)) {
			slot_clear(channel_pub_slot(ch, i));
			gen_bump(&channel_ctl_rw(ch)->pubs_gen);
		}
	}
	set_readers_hi(ch);
	set_pubs_hi(ch);
	channel_wake_all(ch);
}

void registry_monitor_add(struct channel *ch)
{
	/* relaxed: a statistic, only the daemon writes it. */
	atomic_fetch_add_explicit(&channel_ctl_rw(ch)->monitors, 1, memory_order_relaxed);
}

void registry_monitor_remove(struct channel *ch)
{
	struct ctl_hdr *c = channel_ctl_rw(ch);

	/* relaxed: as in registry_monitor_add(). */
	if (atomic_load_explicit(&c->monitors, memory_order_relaxed))
		atomic_fetch_sub_explicit(&c->monitors, 1, memory_order_relaxed);
}

uint64_t registry_repairs(const struct registry *r)
{
	uint64_t n = r->repairs_freed;

	for (uint32_t i = 0; i < r->n; i++)
		n += r->ch[i]->repairs;
	return n;
}

void registry_fini(struct registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		channel_free(r->ch[i]);
	free(r->ch);
	r->ch = NULL;
	r->n = r->cap = 0;
}
