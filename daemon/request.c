/*
 * request.c - the control socket's requests (see request.h): each op's
 * handler, checked against the client's rights (owner, ACLs, the daemon's
 * uid and root are administrators) and quotas before it touches the
 * registry, and the handles a client holds. A request reaches a handler
 * only after request_check(): its body has at least the size the op
 * needs. Main thread only, called from ctl.c.
 */
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adopt.h"
#include "dedupe_seg.h"
#include "groups.h"
#include "inbox.h"
#include "logmsg.h"
#include "name.h"
#include "numa_place.h"
#include "proto.h"
#include "segment.h"
#include "shmq_types.h"
#include "wait.h"
#include "watch.h"
#include "watchdog.h"

static bool may(const struct ctl *c, const struct client *cl, const struct channel *ch,
		uint32_t role)
{
	if (ctl_is_admin(c, cl->uid) || cl->uid == ch->owner_uid)
		return true;
	/* monitors need what subscribers need: they see the counters, and
	 * with the data segment the messages too */
	return acl_allows(role == ROLE_PUB ? &ch->publish : &ch->subscribe, cl->uid);
}

static void info_fill(struct proto_info *o, const struct channel *ch)
{
	memset(o, 0, sizeof(*o));
	strcpy(o->name, ch->name);
	struct log_cursor oldest;

	log_oldest(&ch->v, &oldest);
	o->capacity_bytes = ch->v.ring_bytes;
	o->oldest = oldest.pos;
	o->tail = log_tail(&ch->v);
	o->publishers = ch->v.pub_mode;
	o->publishers_open = channel_publishers(ch);
	o->flags = ch->v.flags & DATA_F_NO_TIMESTAMP ? SHMQ_CHAN_NO_TIMESTAMP : 0;
	o->flags |= inbox_name_reserved(ch->name) ? SHMQ_CHAN_INBOX : 0;
	o->flags |= SHMQ_CHAN_DURABLE(ch->durability);
	o->max_message_bytes = ch->v.max_message_bytes;
	o->policy = ch->v.policy;
	o->readers = channel_readers(ch);
	o->numa_node = ch->numa_wire;
	o->numa_pages_node = numa_pages_node(ch->data, ch->g.data_bytes);
}

static int handle_add(struct client *cl, uint64_t channel_id, uint32_t role, uint32_t idx)
{
	if (cl->nh == cl->caph) {
		uint32_t cap = cl->caph ? cl->caph * 2 : 8;
		struct handle *h = realloc(cl->h, cap * sizeof(*h));

		if (!h)
			return -SHMQ_ENOMEM;
		cl->h = h;
		cl->caph = cap;
	}
	cl->h[cl->nh++] = (struct handle){channel_id, role, idx};
	return 0;
}

static bool slot_give_back(struct channel *ch, uint32_t role, uint32_t idx);

/* Release one handle of a client: its slot and channel reference. */
void request_release_handle(struct ctl *c, struct client *cl, uint32_t at)
{
	struct handle h = cl->h[at];
	struct channel *ch = registry_by_id(c->reg, h.channel_id);

	cl->h[at] = cl->h[--cl->nh];
	if (!ch)
		return;
	if (!slot_give_back(ch, h.role, h.reader_idx))
		return;
	if (h.role == ROLE_SUB)
		inbox_reader_gone(c->reg, ch); /* an inbox goes with its requester */
	registry_handle_put(c->reg, ch);
}

static int spec_from_wire(struct channel_spec *spec, const char *name,
			  const struct proto_chan_opts *wire, uint32_t owner)
{
	struct proto_chan_opts d = *wire, *o = &d;
	struct log_geometry g;

	/* zero: the default (shmq_channel_opts_default() says the same) */
	if (!d.capacity_bytes)
		d.capacity_bytes = 4u << 20;
	if (!d.max_message_bytes)
		d.max_message_bytes = 4096;

	if (o->flags & ~(SHMQ_CHAN_NO_TIMESTAMP | SHMQ_CHAN_SYNC_MASK))
		return -SHMQ_EINVAL; /* a flag this daemon does not know would be ignored */
	if (dedupe_slots_check(o->dedupe_slots))
		return -SHMQ_EINVAL;
	if (log_geometry_make(o->capacity_bytes, o->max_message_bytes, o->policy, o->publishers,
			      o->flags & SHMQ_CHAN_NO_TIMESTAMP ? DATA_F_NO_TIMESTAMP : 0, &g))
		return -SHMQ_EINVAL;
	memset(spec, 0, sizeof(*spec));
	strcpy(spec->name, name);
	spec->capacity_bytes = o->capacity_bytes;
	spec->max_message_bytes = o->max_message_bytes;
	spec->policy = o->policy;
	spec->publishers = o->publishers;
	spec->numa_node = o->numa_node;
	spec->flags = o->flags & ~SHMQ_CHAN_SYNC_MASK;
	spec->durability = SHMQ_CHAN_DURABILITY(o->flags);
	spec->dedupe_slots = o->dedupe_slots;
	spec->publish.n = spec->subscribe.n = 1;
	spec->publish.uids[0] = spec->subscribe.uids[0] = owner;
	return 0;
}

static int create_for(struct ctl *c, struct client *cl, const char *name,
		      const struct proto_chan_opts *o, struct channel **out)
{
	struct channel_spec spec;
	int err;

	if (inbox_name_reserved(name)) /* the daemon makes inboxes (OP_INBOX), nobody else */
		return ctl_deny(c, cl, "create", name, "reserved_name", -SHMQ_EPERM);
	if (!ctl_is_admin(c, cl->uid) && !acl_allows(&c->cfg->create, cl->uid))
		return ctl_deny(c, cl, "create", name, "not_allowed_to_create", -SHMQ_EPERM);
	if (!ctl_is_admin(c, cl->uid) &&
	    registry_owned_by(c->reg, cl->uid) >= c->cfg->max_channels_per_uid)
		return ctl_deny(c, cl, "create", name, "max_channels_per_uid", -SHMQ_ECHANQUOTA);
	err = spec_from_wire(&spec, name, o, cl->uid);
	if (!err)
		err = numa_spec_resolve(&spec, cl->pid); /* LOCAL: the creator's node */
	if (err)
		return err;
	err = registry_create_by(c->reg, &spec, cl->uid, ctl_who(cl), out);
	if (!err)
		watch_channel_changed(c, *out);
	return err;
}

static int op_create(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_name *req = body;
	struct proto_info *info = (struct proto_info *)rep->body;
	struct channel *ch;
	char name[NAME_BYTES];
	int err = name_from_wire(req->name, sizeof(req->name), name, sizeof(name));

	if (err)
		return err;
	err = create_for(c, cl, name, &req->opts, &ch);
	if (err)
		return err;
	info_fill(info, ch);
	rep->len = sizeof(*info);
	return 0;
}

static int op_lookup(struct ctl *c, const void *body, struct channel **ch)
{
	const struct proto_name *req = body;
	char name[NAME_BYTES];
	int err = name_from_wire(req->name, sizeof(req->name), name, sizeof(name));

	if (err)
		return err;
	*ch = registry_find(c->reg, name);
	return *ch ? 0 : -SHMQ_ENOENT;
}

/* May the client see the channel at all (list, info)? If it may use it. */
static bool visible(const struct ctl *c, const struct client *cl, const struct channel *ch)
{
	return may(c, cl, ch, ROLE_PUB) || may(c, cl, ch, ROLE_SUB);
}

static int op_info(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	struct channel *ch;
	int err = op_lookup(c, body, &ch);

	if (err)
		return err;
	if (!visible(c, cl, ch))
		return ctl_deny(c, cl, "info", ch->name, "no_access", -SHMQ_EPERM);
	info_fill((struct proto_info *)rep->body, ch);
	rep->len = sizeof(struct proto_info);
	return 0;
}

static int op_delete(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	struct channel *ch;
	int err = op_lookup(c, body, &ch);

	if (err)
		return err;
	if (!ctl_is_admin(c, cl->uid) && cl->uid != ch->owner_uid)
		return ctl_deny(c, cl, "delete", ch->name, "not_owner", -SHMQ_EPERM);
	info_fill((struct proto_info *)rep->body, ch);
	rep->len = sizeof(struct proto_info);
	watch_channel_changed(c, ch);
	registry_delete(c->reg, ch, ctl_who(cl));
	return 0;
}

/* Cut readers stuck at a bad record forward: the right to administer (as delete). */
static int op_repair(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	struct proto_repair *out = (struct proto_repair *)rep->body;
	struct channel *ch;
	int err = op_lookup(c, body, &ch);

	if (err)
		return err;
	if (!ctl_is_admin(c, cl->uid) && cl->uid != ch->owner_uid)
		return ctl_deny(c, cl, "repair", ch->name, "not_owner", -SHMQ_EPERM);
	memset(out, 0, sizeof(*out));
	out->readers = watchdog_repair(ch, ctl_who(cl), &out->skipped);
	rep->len = sizeof(*out);
	return 0;
}

static int op_list(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_list_req *req = body;
	struct proto_list *out = (struct proto_list *)rep->body;
	uint32_t live = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < c->reg->n; i++) {
		struct channel *ch = c->reg->ch[i];

		if (ch->deleted)
			continue;
		if (!visible(c, cl, ch)) {
			out->hidden++;
			continue;
		}
		if (live >= req->start && out->count < PROTO_LIST_ROWS)
			info_fill(&out->rows[out->count++], ch);
		live++;
	}
	out->total = live;
	rep->len = sizeof(*out);
	return 0;
}

/*
 * OP_OPEN with create on an existing channel: -SHMQ_EMISMATCH if a setting
 * the request gives (non-zero) differs from the channel's. A capacity
 * matches when it would have made the channel's ring.
 */
static int open_settings_check(const struct channel *ch, const struct proto_chan_opts *o)
{
	uint32_t max_msg = o->max_message_bytes ? o->max_message_bytes : ch->v.max_message_bytes;
	struct log_geometry g;

	if (o->capacity_bytes && (log_geometry_make(o->capacity_bytes, max_msg, 0, 0, 0, &g) ||
				  g.ring_bytes != ch->v.ring_bytes))
		return -SHMQ_EMISMATCH;
	if ((o->max_message_bytes && o->max_message_bytes != ch->v.max_message_bytes) ||
	    (o->policy && o->policy != ch->v.policy) ||
	    (o->publishers && o->publishers != ch->v.pub_mode) ||
	    (o->numa_node && o->numa_node != ch->numa_wire) ||
	    ((o->flags & SHMQ_CHAN_NO_TIMESTAMP) && !(ch->v.flags & DATA_F_NO_TIMESTAMP)) ||
	    (o->dedupe_slots && o->dedupe_slots != ch->g.dedupe_slots))
		return -SHMQ_EMISMATCH;
	return 0;
}

static int open_channel(struct ctl *c, struct client *cl, const struct proto_open *req,
			struct channel **out)
{
	char name[NAME_BYTES];
	int err = name_from_wire(req->name, sizeof(req->name), name, sizeof(name));

	if (err)
		return err;
	if (req->role != ROLE_PUB && req->role != ROLE_SUB && req->role != ROLE_MON)
		return -SHMQ_EINVAL;
	if (req->role == ROLE_MON && req->create)
		return -SHMQ_EINVAL;
	*out = registry_find(c->reg, name);
	if (!*out && !req->create)
		return -SHMQ_ENOENT;
	if (*out && req->create && open_settings_check(*out, &req->opts))
		return -SHMQ_EMISMATCH;
	if (!*out) {
		err = create_for(c, cl, name, &req->opts, out);
		if (err)
			return err;
	}
	if (may(c, cl, *out, req->role))
		return 0;
	return ctl_deny(c, cl, req->role == ROLE_PUB ? "publish" : "subscribe", name, "no_access",
			-SHMQ_EPERM);
}

/*
 * Slots of a role on ch that the client's uid may hold; 0: no limit. The
 * limit leaves room for the others who may use the channel: its owner,
 * who decides who they are, is not held to it.
 */
static uint32_t slot_share(const struct ctl *c, const struct client *cl, const struct channel *ch)
{
	if (ctl_is_admin(c, cl->uid) || cl->uid == ch->owner_uid)
		return 0;
	return ch->max_handles_per_uid ? ch->max_handles_per_uid : c->cfg->max_handles_per_uid;
}

/* Assign the slot a role takes: a reader, a publisher, or none (monitor). */
static int slot_take(struct ctl *c, struct channel *ch, const struct client *cl,
		     const struct proto_open *req, struct proto_opened *out)
{
	struct slot_owner who = {cl->id, cl->pid, cl->uid, cl->start, slot_share(c, cl, ch)};
	struct log_cursor cur;
	int err;

	if (req->role == ROLE_MON) {
		registry_monitor_add(ch);
		return 0;
	}
	if (req->role == ROLE_PUB) {
		err = registry_pub_add(ch, &who, &out->reader_idx);
		if (!err)
			out->reader_gen = ch->peers.pgen[out->reader_idx];
		return err;
	}
	if (req->wait_mode > SHMQ_WAIT_EVENTFD)
		return -SHMQ_EINVAL;
	err = registry_reader_add(ch, &who, req->start, req->offset, req->wait_mode,
				  &out->reader_idx, &cur, &out->skip_below);
	if (err)
		return err;
	out->start_pos = cur.pos;
	out->start_bytes = cur.bytes;
	out->reader_gen = ch->peers.rgen[out->reader_idx];
	return 0;
}

/* False if the slot stays (a publisher's claim to settle: it keeps the channel's reference). */
static bool slot_give_back(struct channel *ch, uint32_t role, uint32_t idx)
{
	if (role == ROLE_SUB)
		registry_reader_remove(ch, idx);
	else if (role == ROLE_PUB)
		return registry_pub_remove(ch, idx);
	else if (role == ROLE_MON)
		registry_monitor_remove(ch);
	else if (role == ROLE_MEMBER)
		group_leave(ch, idx);
	return true;
}

static int op_open(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_open *req = body;
	struct proto_opened *out = (struct proto_opened *)rep->body;
	struct channel *ch;
	int err = open_channel(c, cl, req, &ch);

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->channel_id = ch->id;
	err = slot_take(c, ch, cl, req, out);
	if (err == -SHMQ_EHANDLEQUOTA)
		return ctl_deny(c, cl, req->role == ROLE_PUB ? "publish" : "subscribe", ch->name,
				"max_handles_per_uid", err);
	if (err)
		return err;
	err = handle_add(cl, ch->id, req->role, out->reader_idx);
	if (err) {
		slot_give_back(ch, req->role, out->reader_idx);
		return err;
	}
	registry_handle_get(ch);
	rep->nfds = channel_open_fds(ch, req->role, out->reader_idx, rep->fds, &rep->handed_fd);
	out->nfds = rep->nfds;
	rep->len = sizeof(*out);
	return 0;
}

static int find_handle(const struct client *cl, uint64_t channel_id, uint32_t role, uint32_t idx)
{
	for (uint32_t i = 0; i < cl->nh; i++)
		if (cl->h[i].channel_id == channel_id && cl->h[i].role == role &&
		    (idx == UINT32_MAX || cl->h[i].reader_idx == idx))
			return (int)i;
	return -1;
}

static int op_close(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_close *req = body;
	int at = find_handle(cl, req->channel_id, req->role, req->reader_idx);

	if (at < 0)
		return -SHMQ_ESTATE;
	request_release_handle(c, cl, (uint32_t)at);
	memcpy(rep->body, req, sizeof(*req));
	rep->len = sizeof(*req);
	return 0;
}

/* May this client have the peers of kind? It must hold a handle that needs them. */
static bool peers_allowed(const struct client *cl, const struct channel *ch, uint32_t kind)
{
	bool pub = find_handle(cl, ch->id, ROLE_PUB, UINT32_MAX) >= 0;
	bool mon = find_handle(cl, ch->id, ROLE_MON, UINT32_MAX) >= 0;

	switch (kind) {
	case PEER_READERS:
		return mon || (pub && ch->v.held_readers);
	case PEER_PUBS:
		return mon || pub;
	case PEER_EFDS:
		return pub;
	default:
		return false;
	}
}

/* Add slot i's descriptor for kind to the reply, if it has one. */
static int peer_add(const struct channel *ch, uint32_t kind, unsigned i, struct proto_peers *out,
		    struct reply *rep)
{
	int fd;

	if (kind == PEER_EFDS) {
		if (!ch->reader_client[i] || ch->efds[i] < 0)
			return 0;
		/* the waker end, shared with the daemon and the other
		 * publishers: whatever flags one sets, every wait_fd_signal()
		 * says MSG_DONTWAIT */
		fd = dup(ch->efds[i]);
	} else if (kind == PEER_READERS) {
		if (!ch->reader_client[i])
			return 0;
		fd = segment_fd_ro(ch->reader_fd[i]);
	} else {
		if (!ch->pub_client[i])
			return 0;
		fd = segment_fd_ro(ch->pub_fd[i]);
	}
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE ? -SHMQ_ELIMIT : -SHMQ_ESYS;
	out->idx[out->count] = i;
	out->gen[out->count] = kind == PEER_PUBS ? ch->peers.pgen[i] : ch->peers.rgen[i];
	rep->fds[out->count++] = fd;
	return 0;
}

/*
 * The entry segments (read-only) or event fds of a channel's readers or
 * publishers, for a client whose handle needs them: publishers to bound
 * their claims and wake event-fd readers, monitors to read counters.
 */
static int op_peers(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_peers_req *req = body;
	struct proto_peers *out = (struct proto_peers *)rep->body;
	struct channel *ch = registry_by_id(c->reg, req->channel_id);
	int err = 0;

	if (!ch || !peers_allowed(cl, ch, req->kind))
		return -SHMQ_ESTATE;
	memset(out, 0, sizeof(*out));
	out->channel_id = ch->id;
	out->kind = req->kind;
	rep->close_fds = true;
	for (unsigned i = 0; i < MAX_READERS && !err; i++)
		err = peer_add(ch, req->kind, i, out, rep);
	rep->nfds = out->count;
	if (err) {
		for (uint32_t i = 0; i < rep->nfds; i++)
			close(rep->fds[i]);
		rep->nfds = 0;
		return err;
	}
	rep->len = sizeof(*out);
	return 0;
}

/*
 * A handle of a client of the daemon before us: the client still has the
 * rights its role needs, and its slot waits for it (adopt_resume()
 * checks the generation and the process: pid, uid, start mark), or, for a
 * monitor, the channel was served before this daemon and is not deleted.
 */
static int op_resume(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_resume *req = body;
	struct channel *ch = registry_by_id(c->reg, req->channel_id);

	struct slot_owner who = {cl->id, cl->pid, cl->uid, cl->start};
	int err;

	if (!ch)
		return -SHMQ_ENOENT;
	if (req->role != ROLE_MON && req->role != ROLE_PUB && req->role != ROLE_SUB &&
	    req->role != ROLE_MEMBER)
		return -SHMQ_EINVAL;
	if (!may(c, cl, ch, req->role == ROLE_PUB ? ROLE_PUB : ROLE_SUB))
		return ctl_deny(c, cl, "resume", ch->name, "no_access", -SHMQ_EPERM);
	if (req->role == ROLE_MON && ch->deleted)
		return -SHMQ_EDELETED;
	if (req->role == ROLE_MON && !ch->adopted)
		return -SHMQ_ESTATE; /* no earlier daemon served it: nothing to resume */
	if (req->role == ROLE_MEMBER) {
		err = group_resume(ch, req->slot, req->gen, &who);
		if (err)
			return err;
	} else if (req->role != ROLE_MON) {
		err = adopt_resume(ch, req->role, req->slot, req->gen, &who);
		if (err)
			return err;
	}
	err = handle_add(cl, ch->id, req->role, req->role == ROLE_MON ? 0 : req->slot);
	if (err && req->role != ROLE_MON) {
		if (slot_give_back(ch, req->role, req->slot)) /* as if it closed */
			registry_handle_put(c->reg, ch);
	}
	if (err)
		return err;
	if (req->role == ROLE_MON) {
		registry_handle_get(ch);
		registry_monitor_add(ch);
	}
	memcpy(rep->body, req, sizeof(*req));
	rep->len = sizeof(*req);
	return 0;
}

static int op_hello(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_hello *req = body;
	struct proto_hello *out = (struct proto_hello *)rep->body;

	if (req->major != PROTO_VERSION)
		return -SHMQ_EVERSION;
	if (!cl->hello)
		c->unhello--;
	cl->hello = true;
	cl->minor = req->minor;
	*out = (struct proto_hello){
	    .major = PROTO_VERSION, .minor = PROTO_MINOR, .pid = (uint32_t)getpid()};
	rep->len = sizeof(*out);
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Distinct channels among a client's handles (sorted ids: a client may hold many). */
static uint32_t client_channels(const struct client *cl)
{
	uint64_t *ids;
	uint32_t n = 0;

	if (!cl->nh)
		return 0;
	ids = malloc(cl->nh * sizeof(*ids));
	if (!ids)
		return 0;
	for (uint32_t i = 0; i < cl->nh; i++)
		ids[i] = cl->h[i].channel_id;
	qsort(ids, cl->nh, sizeof(*ids), id_cmp);
	for (uint32_t i = 0; i < cl->nh; i++)
		n += !i || ids[i] != ids[i - 1];
	free(ids);
	return n;
}

static uint32_t visible_channels(const struct ctl *c, const struct client *cl)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->reg->n; i++)
		n += !c->reg->ch[i]->deleted && visible(c, cl, c->reg->ch[i]);
	return n;
}

static void client_row(struct proto_client_row *row, const struct client *o)
{
	*row = (struct proto_client_row){.pid = o->pid,
					 .uid = o->uid,
					 .since_ns = o->since_ns,
					 .channels = client_channels(o),
					 .handles = o->nh};
	memcpy(row->comm, o->comm, sizeof(row->comm));
	row->comm[sizeof(row->comm) - 1] = 0;
}

/* The daemon's counters and the clients the caller may see (its uid's, or all). */
static int op_stats(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_stats_req *req = body;
	struct proto_stats *out = (struct proto_stats *)rep->body;
	bool admin = ctl_is_admin(c, cl->uid);
	uint32_t seen = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < c->n; i++) {
		const struct client *o = c->cl[i];

		if (!admin && o->uid != cl->uid)
			continue;
		if (seen >= req->start && out->count < PROTO_STATS_ROWS)
			client_row(&out->rows[out->count++], o);
		seen++;
	}
	out->total = seen;
	out->started_ns = c->started_ns;
	out->now_ns = ctl_realtime_ns();
	out->repairs = registry_repairs(c->reg);
	out->denials = c->denials;
	out->proto_errors = c->proto_errors;
	out->connections = c->connections;
	out->channels = visible_channels(c, cl);
	rep->len = sizeof(*out);
	return 0;
}

/*
 * SHMQ_GROUP_DLQ: make <channel>.dlq if it is not there, owned as the
 * channel is, its members (the channel's subscribers) may publish and
 * subscribe to it. A drop channel of the same size: dead letters nobody
 * reads never hold the members that write them.
 */
static int dlq_make(struct ctl *c, struct channel *ch)
{
	struct channel_spec spec = {0};
	struct channel *out;
	int n = snprintf(spec.name, sizeof(spec.name), "%s.dlq", ch->name);

	if (n < 0 || (size_t)n >= sizeof(spec.name))
		return -SHMQ_ENAME;
	if (registry_find(c->reg, spec.name))
		return 0;
	spec.capacity_bytes = ch->g.ring_bytes;
	spec.max_message_bytes = ch->g.max_message_bytes;
	spec.policy = SHMQ_POLICY_DROP;
	spec.publishers = SHMQ_PUBLISHERS_MANY;
	spec.numa_node = SHMQ_NUMA_NONE;
	spec.numa_resolved = -1;
	spec.publish = ch->subscribe;
	spec.subscribe = ch->subscribe;
	return registry_create_by(c->reg, &spec, ch->owner_uid, "group_dlq", &out);
}

/* A group member joins: the right to subscribe; the answer carries its segments. */
static int group_join_for(struct ctl *c, struct client *cl, struct channel *ch,
			  const struct proto_group *req, struct reply *rep)
{
	struct proto_group_joined *out = (struct proto_group_joined *)rep->body;
	struct slot_owner who = {cl->id, cl->pid, cl->uid, cl->start, slot_share(c, cl, ch)};
	int err;

	if (!may(c, cl, ch, ROLE_SUB))
		return ctl_deny(c, cl, "group", ch->name, "no_access", -SHMQ_EPERM);
	if (req->flags & SHMQ_GROUP_DLQ && (err = dlq_make(c, ch)) != 0)
		return err;
	err = group_join(ch, &who, req, out, rep->fds);
	if (err)
		return err;
	err = handle_add(cl, ch->id, ROLE_MEMBER, out->group * GROUP_MAX_MEMBERS + out->member);
	if (err) {
		group_leave(ch, out->group * GROUP_MAX_MEMBERS + out->member);
		return err;
	}
	registry_handle_get(ch);
	rep->nfds = out->nfds;
	rep->len = sizeof(*out);
	return 0;
}

/* OP_GROUP: join (members subscribe), info (as INFO), delete (as DELETE). */
static int op_group(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_group *req = body;
	char name[NAME_BYTES], group[GROUP_NAME_BYTES] = "";
	struct channel *ch;
	int err = name_from_wire(req->channel, sizeof(req->channel), name, sizeof(name));

	if (err)
		return err;
	if ((req->what != GROUP_INFO || req->group[0]) && group_name_check(req->group, group))
		return -SHMQ_ENAME;
	ch = registry_find(c->reg, name);
	if (!ch)
		return -SHMQ_ENOENT;
	switch (req->what) {
	case GROUP_JOIN:
		return group_join_for(c, cl, ch, req, rep);
	case GROUP_INFO:
		if (!visible(c, cl, ch))
			return ctl_deny(c, cl, "group info", ch->name, "no_access", -SHMQ_EPERM);
		group_info(ch, group, (struct proto_group_info *)rep->body);
		rep->len = sizeof(struct proto_group_info);
		return 0;
	case GROUP_DELETE:
		if (!ctl_is_admin(c, cl->uid) && cl->uid != ch->owner_uid)
			return ctl_deny(c, cl, "group delete", ch->name, "not_owner", -SHMQ_EPERM);
		err = group_delete(ch, group);
		if (!err) {
			memcpy(rep->body, req, sizeof(*req));
			rep->len = sizeof(*req);
		}
		return err;
	default:
		return -SHMQ_EINVAL;
	}
}

typedef int (*op_fn)(struct ctl *, struct client *, const void *, struct reply *);

static const struct {
	op_fn fn;
	uint32_t body;
} ops[OP_MAX] = {
    [OP_HELLO] = {op_hello, sizeof(struct proto_hello)},
    [OP_CREATE] = {op_create, sizeof(struct proto_name)},
    [OP_DELETE] = {op_delete, sizeof(struct proto_name)},
    [OP_LIST] = {op_list, sizeof(struct proto_list_req)},
    [OP_INFO] = {op_info, sizeof(struct proto_name)},
    [OP_OPEN] = {op_open, sizeof(struct proto_open)},
    [OP_CLOSE] = {op_close, sizeof(struct proto_close)},
    [OP_PEERS] = {op_peers, sizeof(struct proto_peers_req)},
    [OP_STATS] = {op_stats, sizeof(struct proto_stats_req)},
    [OP_RESUME] = {op_resume, sizeof(struct proto_resume)},
    [OP_REPAIR] = {op_repair, sizeof(struct proto_name)},
    [OP_GROUP] = {op_group, sizeof(struct proto_group)},
    [OP_INBOX] = {inbox_op, sizeof(struct proto_name)},
    [OP_MATCH] = {watch_op_match, sizeof(struct proto_match_req)},
    [OP_WATCH] = {watch_op_watch, sizeof(struct proto_watch_req)},
    [OP_UNWATCH] = {watch_op_unwatch, sizeof(struct proto_watch)},
    [OP_WATCHES] = {watch_op_list, sizeof(struct proto_list_req)},
};

int request_check(const struct client *cl, const struct proto_hdr *h, size_t n)
{
	if (n < sizeof(*h) || h->magic != PROTO_MAGIC)
		return -SHMQ_EPROTO;
	if (h->version != PROTO_VERSION)
		return -SHMQ_EVERSION;
	if (h->op == 0 || h->op >= OP_MAX || !ops[h->op].fn || h->body_bytes != n - sizeof(*h))
		return -SHMQ_EPROTO;
	/* a longer body only from a later minor (proto.h): fields we do not know */
	if (h->body_bytes != ops[h->op].body &&
	    (h->body_bytes < ops[h->op].body || (h->op != OP_HELLO && cl->minor <= PROTO_MINOR)))
		return -SHMQ_EPROTO;
	if (!cl->hello && h->op != OP_HELLO)
		return -SHMQ_EPROTO;
	return 0;
}

int request_run(struct ctl *c, struct client *cl, uint32_t op, const void *body, struct reply *rep)
{
	return ops[op].fn(c, cl, body, rep);
}

bool request_may_subscribe(const struct ctl *c, const struct client *cl, const struct channel *ch)
{
	return may(c, cl, ch, ROLE_SUB);
}

bool request_visible(const struct ctl *c, const struct client *cl, const struct channel *ch)
{
	return visible(c, cl, ch);
}

void request_info_fill(struct proto_info *o, const struct channel *ch)
{
	info_fill(o, ch);
}
