/*
 * adopt.c - taking back, after a restart, the channels the keeper kept
 * from an earlier daemon (see adopt.h). Nothing the keeper hands over is
 * believed unchecked: each descriptor must be a segment of ours
 * (segment_is_ours()), each header attach with the record's id and name,
 * each slot match the control segment, which no client can write. Slots
 * adopted wait for their client (CLIENT_PENDING) until it resumes or its
 * process is gone. Main thread only.
 */
#include "adopt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dedupe_seg.h"
#include "groups.h"
#include "inbox.h"
#include "keep.h"
#include "keeper.h"
#include "logmsg.h"
#include "map.h"
#include "name.h"
#include "procid.h"
#include "proto.h"
#include "segment.h"
#include "shmq_types.h"
#include "wait.h"

/* Map a kept channel's segments and check its headers against its record. */
static int adopt_map(struct channel *ch, uint32_t *unknown)
{
	uint64_t bytes[3];
	struct log_segs segs;
	int err = map_fd(ch->data_fd, true, &ch->data, &bytes[0]);

	if (!err)
		err = map_fd(ch->ctl_fd, true, &ch->ctl, &bytes[1]);
	if (!err)
		err = map_fd(ch->wake_fd, true, &ch->wake, &bytes[2]);
	if (!err)
		err = channel_open_ro(ch);
	if (err)
		return err;
	segs = (struct log_segs){ch->data, bytes[0], ch->ctl, bytes[1], ch->wake, bytes[2]};
	err = log_attach(&ch->v, &segs, unknown);
	if (!err && (ch->v.channel_id != ch->id || strcmp(ch->v.data->name, ch->name)))
		err = -SHMQ_ECORRUPT;
	ch->rep.ctl = channel_ctl_rw(ch);
	ch->rep.ctl_pslots = channel_pub_slot(ch, 0);
	return err;
}

/* A record from the keeper, checked as far as it can be before mapping. */
static const char *record_refusal(struct registry *r, const struct keep_channel *k, int *fds,
				  unsigned nfds)
{
	if (nfds != 3u + (k->g.dedupe_slots != 0)) /* a dedupe channel's table is the fourth */
		return "descriptors_missing";
	if (!memchr(k->name, 0, sizeof(k->name)) || name_check(k->name))
		return "bad_name";
	if (registry_by_id(r, k->id) || (!k->deleted && registry_find(r, k->name)))
		return "duplicate";
	if (k->g.ctl_bytes != CTL_SEG_BYTES || k->g.data_bytes != DATA_HDR_BYTES + k->g.ring_bytes)
		return "bad_geometry";
	if (!segment_is_ours(fds[0], k->g.data_bytes) || !segment_is_ours(fds[1], k->g.ctl_bytes) ||
	    !segment_is_ours(fds[2], WAKE_SEG_BYTES))
		return "segment_not_ours";
	return NULL;
}

static void adopt_channel(struct registry *r, const struct keep_channel *k, int *fds, unsigned nfds)
{
	const char *why = record_refusal(r, k, fds, nfds);
	uint32_t unknown = 0;
	struct channel *ch;
	int err;

	if (why || registry_grow(r) || !(ch = channel_alloc(r))) {
		log_msg(LOG_WARN, "registry", "not adopting channel id=%llu reason=%s",
			(unsigned long long)k->id, why ? why : "no_memory");
		return;
	}
	snprintf(ch->name, sizeof(ch->name), "%s", k->name);
	ch->id = k->id;
	ch->deleted = k->deleted;
	ch->owner_uid = k->owner_uid;
	ch->publish = k->publish;
	ch->subscribe = k->subscribe;
	ch->numa_wire = k->numa_wire;
	ch->numa_node = k->numa_node;
	ch->g = k->g;
	ch->data_fd = fds[0];
	ch->ctl_fd = fds[1];
	ch->wake_fd = fds[2];
	fds[0] = fds[1] = fds[2] = -1;
	err = adopt_map(ch, &unknown);
	if (!err && nfds > 3) {
		err = dedupe_seg_adopt(ch, fds[3]);
		fds[3] = -1;
	}
	if (err) {
		log_msg(LOG_WARN, "registry", "not adopting channel=%s reason=%s incompat=%#x",
			ch->name, err == -SHMQ_EVERSION ? "unknown_format" : "bad_header", unknown);
		channel_free(ch);
		return;
	}
	/* relaxed: an epoch word; clients compare it with the pid they met */
	atomic_store_explicit(&channel_ctl_rw(ch)->daemon_pid, (uint32_t)getpid(),
			      memory_order_relaxed);
	/* relaxed: monitors have no slot the keeper keeps; those that resume count again */
	atomic_store_explicit(&channel_ctl_rw(ch)->monitors, 0, memory_order_relaxed);
	tsccal_publish(&r->cal, &ch->v);
	ch->adopted = true;
	r->ch[r->n++] = ch;
}

/* The slot a kept entry names, if the control segment says it is exactly that one. */
static struct ctl_slot *entry_slot(const struct channel *ch, const struct keep_entry *e)
{
	struct ctl_slot *sl;

	if (e->idx >= MAX_READERS || (e->kind != 'r' && e->kind != 'p'))
		return NULL;
	sl = e->kind == 'r' ? channel_reader_slot(ch, e->idx) : channel_pub_slot(ch, e->idx);
	/* relaxed: the daemon's own words, written by the daemon before */
	if (atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_ACTIVE ||
	    atomic_load_explicit(&sl->gen, memory_order_relaxed) != e->gen ||
	    atomic_load_explicit(&sl->owner_pid, memory_order_relaxed) != e->pid)
		return NULL;
	return sl;
}

static_assert(MAX_READERS <= 64 && MAX_PUBS <= 64, "kept_readers, kept_pubs");

static void adopt_entry(struct registry *r, const struct keep_entry *e, int *fds, unsigned nfds)
{
	struct channel *ch = registry_by_id(r, e->channel_id);
	unsigned i = e->idx;
	void *map = NULL;
	uint64_t bytes;

	if (ch && entry_slot(ch, e)) /* the keeper has it: dropped later if not adopted */
		*(e->kind == 'r' ? &ch->kept_readers : &ch->kept_pubs) |= 1ull << i;
	if (!ch || !entry_slot(ch, e) || nfds != 1 + ((e->flags & KEEP_ENTRY_EFD) != 0) ||
	    !segment_is_ours(fds[0], ENTRY_SEG_BYTES) || (nfds > 1 && !wait_fd_is_wake(fds[1])) ||
	    (e->kind == 'r' ? ch->reader_client[i] : ch->pub_client[i]) ||
	    map_fd(fds[0], true, &map, &bytes)) {
		log_msg(LOG_WARN, "registry", "not adopting a handle of channel id=%llu slot=%c%u",
			(unsigned long long)e->channel_id, (char)e->kind, i);
		return;
	}
	if (e->kind == 'r') {
		ch->reader_fd[i] = fds[0];
		ch->efds[i] = nfds > 1 ? fds[1] : -1;
		ch->peers.readers[i] = map;
		ch->peers.rgen[i] = e->gen;
		ch->reader_client[i] = CLIENT_PENDING;
		ch->reader_start[i] = e->start;
		ch->watch[i] = (struct reader_watch){0, 0, 0};
	} else {
		ch->pub_fd[i] = fds[0];
		ch->peers.pubs[i] = map;
		ch->peers.pgen[i] = e->gen;
		ch->pub_client[i] = CLIENT_PENDING;
		ch->pub_pid[i] = e->pid;
		ch->pub_start[i] = e->start;
	}
	fds[0] = -1;
	if (nfds > 1)
		fds[1] = -1;
	ch->handles++;
}

/* A consumer group of an adopted channel (sent after the channel's entries). */
static void adopt_group(struct registry *r, const struct keep_group *k, int *fds, unsigned nfds)
{
	struct channel *ch = registry_by_id(r, k->channel_id);
	const char *why = !ch ? "no_channel" : nfds != 1 ? "descriptors_missing" : NULL;

	if (!why)
		why = group_adopt(ch, k, &fds[0]);
	if (!why)
		return;
	log_msg(LOG_WARN, "group", "not adopting group %u of channel id=%llu reason=%s", k->idx,
		(unsigned long long)k->channel_id, why);
	/* the keeper forgets it; a slot of the same index adopted already stays */
	if (ch && k->idx < MAX_GROUPS && strcmp(why, "duplicate"))
		keep_drop_group(ch, k->idx);
}

/*
 * The keeper's answer did not end in KEEP_END_OK: say why and go on
 * without it (errno is keeper_recv()'s when no KEEP_END came).
 */
static void adopt_refused(struct registry *r, const struct keep_msg *m)
{
	const char *why;

	if (r->kfd < 0 || (m->h.op == KEEP_END && m->u.end.status == KEEP_END_OK))
		return;
	if (m->h.op != KEEP_END)
		why = errno == EAGAIN ? "the keeper did not answer within 15 s"
				      : "the keeper hung up (a keeper of an older format?)";
	else if (m->u.end.status == KEEP_END_STUCK)
		why = "the running shmqd did not stop within 5 s";
	else
		why = "another shmqd serves these channels (--replace takes over)";
	log_msg(LOG_ERROR, "keeper", "%s: channels will not survive a restart", why);
	close(r->kfd);
	r->kfd = -1;
}

static_assert(KEEP_TAKE_WAIT_S == 15 && KEEP_STOP_WAIT_MS == 5000, "the log lines above");

unsigned adopt_all(struct registry *r)
{
	struct keep_msg m = {0};
	unsigned before = r->n, nfds;
	int fds[KEEP_FDS_MAX];

	for (;;) {
		int got = r->kfd >= 0 ? keeper_recv(r->kfd, &m, fds, &nfds, 0) : -SHMQ_ECLOSED;

		if (got == -SHMQ_EPROTO) {
			log_msg(LOG_WARN, "registry",
				"skipping a malformed record from the keeper");
			continue;
		}
		if (got || m.h.op == KEEP_END)
			break;
		if (m.h.op == KEEP_CHANNEL)
			adopt_channel(r, &m.u.ch, fds, nfds);
		else if (m.h.op == KEEP_ENTRY)
			adopt_entry(r, &m.u.e, fds, nfds);
		else if (m.h.op == KEEP_GROUP)
			adopt_group(r, &m.u.gr, fds, nfds);
		for (unsigned i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	adopt_refused(r, &m);
	for (unsigned i = before; i < r->n; i++) {
		struct channel *ch = r->ch[i];

		channel_settle_slots(ch);
		keep_channel_adopted(ch); /* the keeper's copy, minus what was refused */
		log_msg(LOG_INFO, "registry", "adopted channel=%s%s handles=%u tail=%llu", ch->name,
			ch->deleted ? " (deleted)" : "", ch->handles,
			(unsigned long long)log_tail(&ch->v));
	}
	return r->n - before;
}

int adopt_resume(struct channel *ch, uint32_t role, uint32_t idx, uint32_t gen,
		 const struct slot_owner *who)
{
	bool sub = role == ROLE_SUB;
	struct ctl_slot *sl;
	uint64_t start;

	if (idx >= MAX_READERS)
		return -SHMQ_ESTATE;
	sl = sub ? channel_reader_slot(ch, idx) : channel_pub_slot(ch, idx);
	start = sub ? ch->reader_start[idx] : ch->pub_start[idx];
	/* relaxed: the daemon's own words, written by the daemon before */
	if ((sub ? ch->reader_client[idx] : ch->pub_client[idx]) != CLIENT_PENDING ||
	    atomic_load_explicit(&sl->gen, memory_order_relaxed) != gen ||
	    atomic_load_explicit(&sl->owner_pid, memory_order_relaxed) != who->pid ||
	    atomic_load_explicit(&sl->owner_uid, memory_order_relaxed) != who->uid ||
	    (start && start != who->start))
		return -SHMQ_ESTATE;
	if (sub)
		ch->reader_client[idx] = who->client_id;
	else
		ch->pub_client[idx] = who->client_id;
	return 0;
}

/*
 * Slot i of the readers (sub) or publishers, if it was adopted, not resumed,
 * and its process is gone, or a publisher's kept for its claim
 * (CLIENT_ORPHAN): freed as if its client had died (a publisher's claim
 * is given up, or the slot kept until it can be). True if the channel
 * went with it.
 */
static bool expire_one(struct registry *r, struct channel *ch, bool sub, unsigned i)
{
	/* relaxed: the daemon's own word, written by the daemon before */
	uint32_t pid =
	    sub ? atomic_load_explicit(&channel_reader_slot(ch, i)->owner_pid, memory_order_relaxed)
		: ch->pub_pid[i];
	bool orphan = !sub && ch->pub_client[i] == CLIENT_ORPHAN;
	bool gone;

	if (!orphan && ((sub ? ch->reader_client[i] : ch->pub_client[i]) != CLIENT_PENDING ||
			procid_alive(pid, sub ? ch->reader_start[i] : ch->pub_start[i])))
		return false;
	if (sub)
		registry_reader_remove(ch, i);
	else if (!registry_pub_remove(ch, i))
		return false; /* its claim is still open: kept */
	log_msg(LOG_INFO, "registry", "freed %s %s channel=%s slot=%u pid=%u",
		orphan ? "the kept slot of a gone" : "unresumed", sub ? "reader" : "publisher",
		ch->name, i, pid);
	if (sub)
		inbox_reader_gone(r, ch); /* its requester is gone: so is the inbox */
	gone = ch->deleted && ch->handles == 1;
	registry_handle_put(r, ch);
	return gone;
}

bool adopt_expire(struct registry *r, struct channel *ch)
{
	static_assert(MAX_READERS == MAX_PUBS, "one loop over both slot tables");

	/* members first: a group's reader slot is no client's and never expires */
	while (group_expire_one(ch)) {
		bool gone = ch->deleted && ch->handles == 1;

		registry_handle_put(r, ch);
		if (gone)
			return true;
	}
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (expire_one(r, ch, true, i) || expire_one(r, ch, false, i))
			return true;
	return false;
}
