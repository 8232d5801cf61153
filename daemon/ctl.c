/*
 * ctl.c - the control socket (see ctl.h). Every datagram is checked before
 * it is believed: size, magic, version, op, body size, NUL-terminated
 * names. A client that sends garbage gets -SHMQ_EPROTO and, after a few,
 * is disconnected; descriptors it sends are closed. The daemon never waits
 * for a client: one whose socket refuses a reply is dropped. Admission: a
 * uid at max_connections_per_uid is refused as it connects, before its
 * connection costs a pidfd, and a connection without HELLO within
 * hello_timeout_ms is closed (ctl_tick()); each gets a refusal answer
 * first. Logging of what a client can trigger is rate-limited. Main
 * thread only.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "logmsg.h"
#include "name.h"
#include "numa_place.h"
#include "procid.h"
#include "proto.h"
#include "segment.h"
#include "shmq_types.h"
#include "wait.h"
#include "watchdog.h"

#define MAX_BAD_REQUESTS 8u
#define MAX_LOGGED_BAD 3u

struct handle {
	uint64_t channel_id;
	uint32_t role;
	uint32_t reader_idx;
};

struct client {
	uint64_t id;
	int fd;
	int pidfd;
	uint32_t pid;
	uint32_t uid;
	uint64_t start;	      /* its process's start mark (procid.h), 0 = unknown */
	char comm[16];	      /* its command name, for the log */
	uint64_t since_ns;    /* CLOCK_REALTIME when it connected */
	uint64_t hello_by_ns; /* CLOCK_MONOTONIC: HELLO is due before this */
	bool hello;
	uint32_t minor; /* the protocol minor its OP_HELLO announced */
	unsigned bad;
	uint32_t nh;
	uint32_t caph;
	struct handle *h;
};

struct ctl {
	int lfd;
	int epfd;
	uint32_t uid; /* the daemon's own uid: an administrator */
	struct registry *reg;
	const struct config *cfg;
	struct client **cl;
	uint32_t n;
	uint32_t cap;
	uint64_t next_id;
	struct log_rate reply_rate; /* "reply failed" lines */
	struct log_rate deny_rate;  /* "denied" lines */
	struct log_rate shed_rate;  /* "out of descriptors" lines */
	struct log_rate late_rate;  /* "no hello" lines */
	uint32_t unhello;	    /* clients that have not said HELLO yet */
	unsigned shed;		    /* connections refused since the last line */
	int reserve_fd;		    /* /dev/null, given up to shed a connection */
	uint64_t started_ns;	    /* CLOCK_REALTIME at ctl_open() */
	uint64_t denials;	    /* requests refused: access control, quotas */
	uint64_t proto_errors;	    /* malformed requests */
	uint64_t connections;	    /* clients accepted */
	char path[108];
};

/* What a handler answers: a body and descriptors. */
struct reply {
	uint8_t body[PROTO_MAX_BYTES - sizeof(struct proto_hdr)];
	uint32_t len;
	uint32_t nfds;
	int fds[PROTO_MAX_FDS];
	bool close_fds; /* the fds were opened for this reply: close them after it */
	int handed_fd;	/* one fd the daemon gives away with this reply: closed after it, -1 none */
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool is_admin(const struct ctl *c, uint32_t uid)
{
	return uid == 0 || uid == c->uid;
}

/* "uid=U pid=P comm=C": who did something, for the log. */
static const char *who(const struct client *cl)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "uid=%u pid=%u comm=%s", cl->uid, cl->pid, cl->comm);
	return buf;
}

/* Refuse with err, logging who was refused what (rate-limited). */
static int deny(struct ctl *c, const struct client *cl, const char *op, const char *name,
		const char *why, int err)
{
	unsigned suppressed;

	c->denials++;
	if (log_rate_allow(&c->deny_rate, &suppressed))
		log_msg(LOG_WARN, "ctl", "denied op=%s channel=%s reason=%s %s suppressed=%u", op,
			name, why, who(cl), suppressed);
	return err;
}

static bool may(const struct ctl *c, const struct client *cl, const struct channel *ch,
		uint32_t role)
{
	if (is_admin(c, cl->uid) || cl->uid == ch->owner_uid)
		return true;
	/* monitors need what subscribers need: they see the counters, and
	 * with the data segment the messages too */
	return acl_allows(role == ROLE_PUB ? &ch->publish : &ch->subscribe, cl->uid);
}

static struct client *client_find(struct ctl *c, uint64_t id, uint32_t *at)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->cl[i]->id == id) {
			if (at)
				*at = i;
			return c->cl[i];
		}
	}
	return NULL;
}

/* Send one response without waiting: 0, or -errno (full socket: -EAGAIN). */
static int send_reply(struct client *cl, const struct proto_hdr *req, int32_t status,
		      const struct reply *rep)
{
	uint8_t buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct proto_hdr h = {
	    .magic = PROTO_MAGIC,
	    .version = PROTO_VERSION,
	    .op = req->op,
	    .seq = req->seq,
	    .status = status,
	    .body_bytes = status ? 0 : rep->len,
	};
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(h) + h.body_bytes};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memcpy(buf, &h, sizeof(h));
	if (h.body_bytes)
		memcpy(buf + sizeof(h), rep->body, h.body_bytes);
	if (!status && rep->nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * rep->nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * rep->nfds);
		memcpy(CMSG_DATA(cm), rep->fds, sizeof(int) * rep->nfds);
	}
	return sendmsg(cl->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
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

static void slot_give_back(struct channel *ch, uint32_t role, uint32_t idx);

/* Release one handle of a client: its slot and channel reference. */
static void handle_release(struct ctl *c, struct client *cl, uint32_t at)
{
	struct handle h = cl->h[at];
	struct channel *ch = registry_by_id(c->reg, h.channel_id);

	cl->h[at] = cl->h[--cl->nh];
	if (!ch)
		return;
	slot_give_back(ch, h.role, h.reader_idx);
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

	if (o->flags & ~SHMQ_CHAN_NO_TIMESTAMP)
		return -SHMQ_EINVAL; /* a flag this daemon does not know would be ignored */
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
	spec->flags = o->flags;
	spec->publish.n = spec->subscribe.n = 1;
	spec->publish.uids[0] = spec->subscribe.uids[0] = owner;
	return 0;
}

static int create_for(struct ctl *c, struct client *cl, const char *name,
		      const struct proto_chan_opts *o, struct channel **out)
{
	struct channel_spec spec;
	int err;

	if (!is_admin(c, cl->uid) && !acl_allows(&c->cfg->create, cl->uid))
		return deny(c, cl, "create", name, "not_allowed_to_create", -SHMQ_EPERM);
	if (!is_admin(c, cl->uid) &&
	    registry_owned_by(c->reg, cl->uid) >= c->cfg->max_channels_per_uid)
		return deny(c, cl, "create", name, "max_channels_per_uid", -SHMQ_ECHANQUOTA);
	err = spec_from_wire(&spec, name, o, cl->uid);
	if (!err)
		err = numa_spec_resolve(&spec, cl->pid); /* LOCAL: the creator's node */
	if (err)
		return err;
	return registry_create_by(c->reg, &spec, cl->uid, who(cl), out);
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
		return deny(c, cl, "info", ch->name, "no_access", -SHMQ_EPERM);
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
	if (!is_admin(c, cl->uid) && cl->uid != ch->owner_uid)
		return deny(c, cl, "delete", ch->name, "not_owner", -SHMQ_EPERM);
	info_fill((struct proto_info *)rep->body, ch);
	rep->len = sizeof(struct proto_info);
	registry_delete(c->reg, ch, who(cl));
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
	if (!is_admin(c, cl->uid) && cl->uid != ch->owner_uid)
		return deny(c, cl, "repair", ch->name, "not_owner", -SHMQ_EPERM);
	memset(out, 0, sizeof(*out));
	out->readers = watchdog_repair(ch, who(cl), &out->skipped);
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

		if (ch->deleted || !visible(c, cl, ch))
			continue;
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
	    ((o->flags & SHMQ_CHAN_NO_TIMESTAMP) && !(ch->v.flags & DATA_F_NO_TIMESTAMP)))
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
	return deny(c, cl, req->role == ROLE_PUB ? "publish" : "subscribe", name, "no_access",
		    -SHMQ_EPERM);
}

/*
 * Slots of a role on ch that the client's uid may hold; 0: no limit. The
 * limit leaves room for the others who may use the channel: its owner,
 * who decides who they are, is not held to it.
 */
static uint32_t slot_share(const struct ctl *c, const struct client *cl, const struct channel *ch)
{
	if (is_admin(c, cl->uid) || cl->uid == ch->owner_uid)
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

static void slot_give_back(struct channel *ch, uint32_t role, uint32_t idx)
{
	if (role == ROLE_SUB)
		registry_reader_remove(ch, idx);
	else if (role == ROLE_PUB)
		registry_pub_remove(ch, idx);
	else if (role == ROLE_MON)
		registry_monitor_remove(ch);
}

/* The descriptors of an open: what the role may write, read-write; the rest read-only. */
static void open_fds(struct channel *ch, uint32_t role, uint32_t idx, struct reply *rep)
{
	rep->fds[0] = role == ROLE_PUB ? ch->data_fd : ch->data_ro_fd;
	rep->fds[1] = ch->ctl_ro_fd;
	rep->fds[2] = role == ROLE_MON ? ch->wake_ro_fd : ch->wake_fd;
	rep->nfds = 3;
	if (role == ROLE_PUB)
		rep->fds[rep->nfds++] = ch->pub_fd[idx];
	if (role == ROLE_SUB)
		rep->fds[rep->nfds++] = ch->reader_fd[idx];
	if (role == ROLE_SUB && ch->efd_rd[idx] >= 0) {
		/* the reader's end of its wake socket is its alone: ours goes */
		rep->fds[rep->nfds++] = rep->handed_fd = ch->efd_rd[idx];
		ch->efd_rd[idx] = -1;
	}
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
		return deny(c, cl, req->role == ROLE_PUB ? "publish" : "subscribe", ch->name,
			    "max_handles_per_uid", err);
	if (err)
		return err;
	err = handle_add(cl, ch->id, req->role, out->reader_idx);
	if (err) {
		slot_give_back(ch, req->role, out->reader_idx);
		return err;
	}
	ch->handles++;
	open_fds(ch, req->role, out->reader_idx, rep);
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
	handle_release(c, cl, (uint32_t)at);
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
		return mon || (pub && ch->v.policy == SHMQ_POLICY_BLOCK);
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
	if (req->role != ROLE_MON && req->role != ROLE_PUB && req->role != ROLE_SUB)
		return -SHMQ_EINVAL;
	if (!may(c, cl, ch, req->role == ROLE_PUB ? ROLE_PUB : ROLE_SUB))
		return deny(c, cl, "resume", ch->name, "no_access", -SHMQ_EPERM);
	if (req->role == ROLE_MON && ch->deleted)
		return -SHMQ_EDELETED;
	if (req->role == ROLE_MON && !ch->adopted)
		return -SHMQ_ESTATE; /* no earlier daemon served it: nothing to resume */
	if (req->role != ROLE_MON) {
		err = adopt_resume(ch, req->role, req->slot, req->gen, &who);
		if (err)
			return err;
	}
	err = handle_add(cl, ch->id, req->role, req->role == ROLE_MON ? 0 : req->slot);
	if (err && req->role != ROLE_MON) {
		slot_give_back(ch, req->role, req->slot); /* as if it closed */
		registry_handle_put(c->reg, ch);
	}
	if (err)
		return err;
	if (req->role == ROLE_MON) {
		ch->handles++;
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
	bool admin = is_admin(c, cl->uid);
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
	out->now_ns = realtime_ns();
	out->repairs = registry_repairs(c->reg);
	out->denials = c->denials;
	out->proto_errors = c->proto_errors;
	out->connections = c->connections;
	out->channels = visible_channels(c, cl);
	rep->len = sizeof(*out);
	return 0;
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
};

/* Check a request; 0 if it may be dispatched. */
static int request_check(const struct client *cl, const struct proto_hdr *h, size_t n)
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

static void close_passed_fds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
			close(((int *)CMSG_DATA(cm))[i]);
	}
}

static void client_drop(struct ctl *c, struct client *cl);

static void note_bad(struct client *cl, int err, size_t n)
{
	if (cl->bad++ < MAX_LOGGED_BAD)
		log_msg(LOG_WARN, "ctl", "bad request pid=%u uid=%u bytes=%zu err=%s", cl->pid,
			cl->uid, n, err == -SHMQ_EVERSION ? "version" : "malformed");
}

static void client_request(struct ctl *c, struct client *cl)
{
	static _Alignas(16) uint8_t buf[PROTO_MAX_BYTES + 1];
	static struct reply rep;
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct proto_hdr h = {0};
	ssize_t n = recvmsg(cl->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	unsigned lost;
	int err;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* descriptors a client sends are never kept, also those riding on a
	 * zero-length datagram, which reads like the end of the connection */
	if (n >= 0)
		close_passed_fds(&mh);
	if (n <= 0) {
		client_drop(c, cl);
		return;
	}
	memcpy(&h, buf, (size_t)n < sizeof(h) ? (size_t)n : sizeof(h));
	err = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -SHMQ_EPROTO
							: request_check(cl, &h, (size_t)n);
	memset(&rep, 0, sizeof(rep));
	rep.handed_fd = -1;
	if (!err)
		err = ops[h.op].fn(c, cl, buf + sizeof(h), &rep);
	else {
		c->proto_errors++;
		note_bad(cl, err, (size_t)n);
	}
	err = send_reply(cl, &h, err, &rep);
	if (rep.close_fds)
		for (uint32_t i = 0; i < rep.nfds; i++)
			close(rep.fds[i]);
	if (rep.handed_fd >= 0)
		close(rep.handed_fd);
	if (err) {
		/* it would wait forever for the reply we could not send */
		if (log_rate_allow(&c->reply_rate, &lost))
			log_msg(LOG_WARN, "ctl",
				"reply failed, dropping client pid=%u err=%s "
				"suppressed=%u",
				cl->pid, strerror(-err), lost);
		client_drop(c, cl);
	} else if (cl->bad >= MAX_BAD_REQUESTS) {
		log_msg(LOG_WARN, "ctl", "disconnecting client pid=%u after %u bad requests",
			cl->pid, cl->bad);
		client_drop(c, cl);
	}
}

static void client_drop(struct ctl *c, struct client *cl)
{
	uint32_t at;

	while (cl->nh)
		handle_release(c, cl, cl->nh - 1);
	if (!cl->hello)
		c->unhello--;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	if (cl->pidfd >= 0) {
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->pidfd, NULL);
		close(cl->pidfd);
	}
	log_msg(LOG_DEBUG, "ctl", "client gone pid=%u", cl->pid);
	if (client_find(c, cl->id, &at))
		c->cl[at] = c->cl[--c->n];
	free(cl->h);
	free(cl);
}

/*
 * The client's process: a pidfd of the very peer (SO_PEERPIDFD; pidfd_open
 * of its pid on kernels before 6.5) and, while that pidfd says the process
 * lives, its start mark (procid.h): with the pid, a name no later process takes.
 */
static void client_identify(struct client *cl)
{
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
	socklen_t len = sizeof(cl->pidfd);

	if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERPIDFD, &cl->pidfd, &len) || cl->pidfd < 0)
		cl->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)cl->pid, 0);
	if (cl->pidfd < 0)
		return;
	cl->start = procid_mark_fd(cl->pidfd, cl->pid);
	if (syscall(SYS_pidfd_send_signal, cl->pidfd, 0, NULL, 0))
		cl->start = 0; /* gone already: the pid may be another's now */
}

static int watch(struct ctl *c, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int client_register(struct ctl *c, struct client *cl)
{
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 16;
		struct client **n = realloc(c->cl, cap * sizeof(*n));

		if (!n)
			return -1;
		c->cl = n;
		c->cap = cap;
	}
	if (watch(c, cl->fd, CTL_TAG_CLIENT | cl->id))
		return -1;
	client_identify(cl);
	if (cl->pidfd >= 0 && watch(c, cl->pidfd, CTL_TAG_PIDFD | cl->id)) {
		close(cl->pidfd);
		cl->pidfd = -1;
	}
	c->cl[c->n++] = cl;
	c->unhello++;
	return 0;
}

/*
 * Out of descriptors (EMFILE/ENFILE): the pending connection keeps the
 * level-triggered listening socket readable, and retrying would spin.
 * Give up the reserve descriptor, accept the connection and close it at
 * once (the client sees the end: SHMQ_ECLOSED), then take the reserve back.
 */
static void shed_connection(struct ctl *c)
{
	unsigned lines_skipped; /* c->shed already counts their clients */
	int fd;

	if (c->reserve_fd >= 0)
		close(c->reserve_fd);
	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		c->shed++;
	}
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (log_rate_allow(&c->shed_rate, &lines_skipped)) {
		log_msg(LOG_WARN, "ctl", "out of descriptors, closed new clients=%u reserve=%s",
			c->shed, c->reserve_fd >= 0 ? "ok" : "lost");
		c->shed = 0;
	}
}

/* The client's command name, from /proc; "?" if it cannot be read. */
static void read_comm(struct client *cl)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/comm", cl->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cl->comm, sizeof(cl->comm) - 1);
		close(fd);
	}
	if (n <= 0)
		n = snprintf(cl->comm, sizeof(cl->comm), "?");
	cl->comm[n] = 0;
	for (char *p = cl->comm; *p; p++)
		if (*p == '\n' || *p == ' ' || (unsigned char)*p < 0x20)
			*p = *p == '\n' ? 0 : '_';
}

/* Connections uid holds now. */
static uint32_t connections_of(const struct ctl *c, uint32_t uid)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->n; i++)
		n += c->cl[i]->uid == uid;
	return n;
}

/*
 * Turn a connection away before its first request: an answer to the HELLO
 * it will send (op OP_HELLO, seq PROTO_SEQ_REFUSAL, status err) that
 * waits in its socket after we close ours. Never waits: a full socket
 * gets no answer, only the close.
 */
static void refuse(struct client *cl, int err)
{
	struct proto_hdr req = {.op = OP_HELLO, .seq = PROTO_SEQ_REFUSAL};

	send_reply(cl, &req, err, NULL);
}

/*
 * A uid at its max_connections_per_uid is refused at once, before the
 * connection costs a pidfd or a place in the client table: connections it
 * keeps open without a word cost the daemon nothing else.
 */
static bool over_quota(struct ctl *c, struct client *cl)
{
	if (is_admin(c, cl->uid) || connections_of(c, cl->uid) < c->cfg->max_connections_per_uid)
		return false;
	deny(c, cl, "connect", "-", "max_connections_per_uid", -SHMQ_ECONNQUOTA);
	refuse(cl, -SHMQ_ECONNQUOTA);
	return true;
}

static void client_accept(struct ctl *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *cl;
	int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			shed_connection(c);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		goto out_warn;
	*cl = (struct client){.id = ++c->next_id,
			      .fd = fd,
			      .pidfd = -1,
			      .pid = (uint32_t)cred.pid,
			      .uid = cred.uid,
			      .since_ns = realtime_ns()};
	cl->hello_by_ns = wait_now_ns() + (uint64_t)c->cfg->hello_timeout_ms * 1000000u;
	c->connections++;
	read_comm(cl);
	if (over_quota(c, cl))
		goto out_close;
	if (client_register(c, cl))
		goto out_warn;
	log_msg(LOG_DEBUG, "ctl", "client pid=%u uid=%u", cl->pid, cl->uid);
	return;

out_warn:
	log_msg(LOG_WARN, "ctl", "cannot accept client: %s", strerror(errno));
out_close:
	free(cl);
	close(fd);
}

/*
 * A request waits in the client's socket: the daemon was late (stopped,
 * or busy), not the client; the event loop reads it next.
 */
static bool request_waiting(const struct client *cl)
{
	char byte;

	return recv(cl->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void ctl_tick(struct ctl *c, uint64_t now_ns)
{
	uint32_t i = 0;
	unsigned lost;

	while (i < c->n && c->unhello) {
		struct client *cl = c->cl[i];

		if (cl->hello || now_ns < cl->hello_by_ns || request_waiting(cl)) {
			i++;
			continue;
		}
		if (log_rate_allow(&c->late_rate, &lost))
			log_msg(LOG_WARN, "ctl", "no hello within ms=%u, closing %s suppressed=%u",
				c->cfg->hello_timeout_ms, who(cl), lost);
		refuse(cl, -SHMQ_ETIMEDOUT);
		client_drop(c, cl); /* the last client takes place i */
	}
}

/*
 * The process that connected exited. Its connection is gone with it,
 * unless a process it forked holds it still and may use its handles:
 * then the client lasts until the connection closes.
 */
static void client_exited(struct ctl *c, struct client *cl)
{
	struct pollfd p = {.fd = cl->fd, .events = POLLRDHUP};

	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		client_drop(c, cl);
		return;
	}
	log_msg(LOG_INFO, "ctl", "client pid=%u exited; its connection lives on in another process",
		cl->pid);
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->pidfd, NULL);
	close(cl->pidfd);
	cl->pidfd = -1;
}

void ctl_event(struct ctl *c, uint64_t tag, uint32_t events)
{
	struct client *cl;

	if ((tag & CTL_TAG_MASK) == CTL_TAG_LISTEN) {
		client_accept(c);
		return;
	}
	cl = client_find(c, tag & ~CTL_TAG_MASK, NULL);
	if (!cl)
		return;
	if ((tag & CTL_TAG_MASK) == CTL_TAG_PIDFD)
		client_exited(c, cl);
	else if (events & EPOLLIN)
		client_request(c, cl);
	else if (events & (EPOLLHUP | EPOLLERR))
		client_drop(c, cl);
}

static int make_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Refuse to steal the socket of a live daemon; remove a stale one. Anything
 * else at the path (a regular file, such as a config file named by mistake,
 * or a directory) is refused and left alone.
 */
static int claim_path(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, live;

	if (lstat(sa->sun_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERROR, "ctl",
			"refusing socket path=%s: it is a %s, not a socket "
			"(left as it is)",
			sa->sun_path, S_ISDIR(st.st_mode) ? "directory" : "file");
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENOTSOCK;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	if (live) {
		errno = EADDRINUSE;
		return -1;
	}
	unlink(sa->sun_path);
	return 0;
}

int ctl_open(struct ctl **out, const char *path, int epfd, struct registry *reg,
	     const struct config *cfg)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl *c;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	*c = (struct ctl){.epfd = epfd, .reg = reg, .cfg = cfg, .uid = (uint32_t)geteuid()};
	c->started_ns = realtime_ns();
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->reserve_fd < 0)
		goto out_free;
	strcpy(c->path, path);
	if (make_parent(path) || claim_path(&sa))
		goto out_free;
	c->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0)
		goto out_free;
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0666) ||
	    listen(c->lfd, 128) || watch(c, c->lfd, CTL_TAG_LISTEN))
		goto out_close;
	*out = c;
	return 0;

out_close:
	close(c->lfd);
out_free:
	if (c->reserve_fd >= 0)
		close(c->reserve_fd);
	free(c);
	return -1;
}

int ctl_open_fd(struct ctl **out, int lfd, int epfd, struct registry *reg, const struct config *cfg)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int fl = fcntl(lfd, F_GETFL);

	if (!c)
		return -1;
	*c = (struct ctl){.epfd = epfd, .reg = reg, .cfg = cfg, .uid = (uint32_t)geteuid()};
	c->lfd = lfd;
	c->started_ns = realtime_ns();
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->reserve_fd < 0 || fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    watch(c, lfd, CTL_TAG_LISTEN)) {
		if (c->reserve_fd >= 0)
			close(c->reserve_fd);
		free(c);
		return -1;
	}
	*out = c; /* c->path stays empty: ctl_close() unlinks nothing */
	return 0;
}

void ctl_close(struct ctl *c, bool keep_handles)
{
	/* handing over to another daemon: the clients' slots stay as they are,
	 * for them to resume there */
	if (keep_handles)
		for (uint32_t i = 0; i < c->n; i++)
			c->cl[i]->nh = 0;
	while (c->n)
		client_drop(c, c->cl[c->n - 1]);
	free(c->cl);
	close(c->lfd);
	if (c->reserve_fd >= 0)
		close(c->reserve_fd);
	if (c->path[0])
		unlink(c->path);
	free(c);
}
