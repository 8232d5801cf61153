/*
 * client.c - the connection to shmqd: socket path resolution, connect and
 * version handshake, the request/response helper, and the channel
 * administration calls. A client is shared by threads: every request holds
 * c->lock from send to receive.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "map.h"
#include "name.h"

/*
 * Without $XDG_RUNTIME_DIR a non-root user's default socket is in
 * /tmp/shmq-UID, which shmqd makes 0700. Anyone may create that name in
 * /tmp first: trust it only while it is our own private directory.
 */
static int private_dir_check(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 0 : -SHMQ_ESYS; /* no daemon yet: connect says so */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -SHMQ_EPERM;
	return 0;
}

SHMQ_EXPORT int shmq_socket_path(const char *socket_path, char *buf, size_t len)
{
	const char *env = getenv("SHMQ_SOCKET"), *rt = getenv("XDG_RUNTIME_DIR");
	char dir[32];
	int n;

	if (!buf || !len)
		return -SHMQ_EINVAL;
	if (socket_path && socket_path[0])
		n = snprintf(buf, len, "%s", socket_path);
	else if (env && env[0])
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/shmq/shmqd.sock");
	else if (rt && rt[0])
		n = snprintf(buf, len, "%s/shmq/shmqd.sock", rt);
	else {
		snprintf(dir, sizeof(dir), "/tmp/shmq-%u", (unsigned)geteuid());
		n = snprintf(buf, len, "%s/shmqd.sock", dir);
		if (n >= 0 && (size_t)n < len)
			return private_dir_check(dir);
	}
	return n < 0 || (size_t)n >= len ? -SHMQ_EINVAL : 0;
}

int client_send(struct shmq_client *c, uint16_t op, const void *req, uint32_t req_len)
{
	uint8_t buf[PROTO_MAX_BYTES];
	struct proto_hdr h = {
	    .magic = PROTO_MAGIC,
	    .version = PROTO_VERSION,
	    .op = op,
	    .seq = ++c->seq,
	    .body_bytes = req_len,
	};
	ssize_t n;

	if (sizeof(h) + req_len > sizeof(buf))
		return -SHMQ_EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (req_len)
		memcpy(buf + sizeof(h), req, req_len);
	do
		n = send(c->fd, buf, sizeof(h) + req_len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(h) + req_len) ? 0 : -SHMQ_ECLOSED;
}

static unsigned take_fds(struct msghdr *mh, int *fds, unsigned max)
{
	unsigned got = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int *p = (int *)CMSG_DATA(cm);
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (fds && got < max)
				fds[got++] = p[i];
			else
				close(p[i]);
		}
	}
	return got;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait until an answer can be read, at most until deadline_ns (< 0: forever). */
static int wait_answer(const struct shmq_client *c, int64_t deadline_ns)
{
	struct pollfd pf = {.fd = c->fd, .events = POLLIN};
	int64_t left;
	int r;

	if (deadline_ns < 0)
		return 0;
	for (;;) {
		left = deadline_ns - mono_ns();
		if (left <= 0)
			return -SHMQ_ETIMEDOUT;
		r = poll(&pf, 1, (int)((left + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -SHMQ_ESYS;
	}
}

/*
 * Read and drop the answers to requests that timed out, if they are there
 * now; -SHMQ_ETIMEDOUT while one is still due (the daemon has not answered
 * an earlier request: asking more would only wait again).
 */
int client_drop_late(struct shmq_client *c)
{
	char buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

	while (c->late) {
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return -SHMQ_ETIMEDOUT;
		if (n <= 0)
			return -SHMQ_ECLOSED;
		take_fds(&mh, NULL, 0); /* closes them */
		c->late--;
	}
	return 0;
}

int client_recv(struct shmq_client *c, uint16_t op, void *resp, uint32_t resp_len, int *fds,
		unsigned *nfds)
{
	uint8_t buf[PROTO_MAX_BYTES];
	char cbuf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct proto_hdr h;
	int64_t deadline = c->timeout_ns < 0 ? -1 : mono_ns() + c->timeout_ns;
	unsigned got, resets = 0, room = nfds ? *nfds : 0;
	ssize_t n;
	int err;

	/* none taken yet: a caller closes *nfds of fds[] after an error, and
	 * fds[] may hold anything until take_fds() fills it */
	if (nfds)
		*nfds = 0;
	err = wait_answer(c, deadline);
	if (err) {
		c->late += err == -SHMQ_ETIMEDOUT;
		return err;
	}
	/* a daemon that closed with our request unread (turning us away)
	 * makes the first read fail with ECONNRESET; its answer comes next */
	do
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !resets++)));
	if (n <= 0)
		return -SHMQ_ECLOSED;
	got = take_fds(&mh, fds, room);
	if (nfds)
		*nfds = got;
	if ((size_t)n < sizeof(h))
		goto bad;
	memcpy(&h, buf, sizeof(h));
	/* a connection turned away is answered before its HELLO is read */
	if (op == OP_HELLO && h.op == OP_HELLO && h.seq == PROTO_SEQ_REFUSAL && h.status < 0)
		h.seq = c->seq;
	if (h.magic != PROTO_MAGIC || h.seq != c->seq || h.body_bytes != n - sizeof(h))
		goto bad;
	if (h.version != PROTO_VERSION)
		return -SHMQ_EVERSION;
	if (h.status)
		return h.status < 0 && h.status > -SHMQ_ERR_COUNT ? h.status : -SHMQ_EPROTO;
	/* a longer body only from a later minor (proto.h): fields we do not know */
	if (h.op != op || h.body_bytes < resp_len ||
	    (h.body_bytes > resp_len && op != OP_HELLO && c->daemon_minor <= PROTO_MINOR))
		goto bad;
	memcpy(resp, buf + sizeof(h), resp_len);
	return 0;
bad:
	for (unsigned i = 0; i < got; i++)
		close(fds[i]);
	if (nfds)
		*nfds = 0;
	return -SHMQ_EPROTO;
}

int client_wire_name(char wire[PROTO_NAME_BYTES], const char *name)
{
	int err = name ? name_check(name) : -SHMQ_EINVAL;

	if (err)
		return err;
	memset(wire, 0, PROTO_NAME_BYTES);
	strcpy(wire, name);
	return 0;
}

SHMQ_EXPORT void shmq_channel_opts_default(struct shmq_channel_opts *o)
{
	if (!o)
		return;
	if (!o->capacity_bytes)
		o->capacity_bytes = 4u << 20;
	if (!o->max_message_bytes)
		o->max_message_bytes = 4096;
}

/*
 * Settings as the caller gave them: a zero field means "the default", which
 * the daemon fills in when it creates the channel, and which an open of an
 * existing channel does not compare (-SHMQ_EMISMATCH is for settings given).
 */
void client_wire_opts(struct proto_chan_opts *w, const struct shmq_channel_opts *o)
{
	struct shmq_channel_opts d = {0};

	if (o)
		d = *o;
	*w = (struct proto_chan_opts){
	    .capacity_bytes = d.capacity_bytes,
	    .max_message_bytes = d.max_message_bytes,
	    .policy = d.policy,
	    .publishers = d.publishers,
	    .numa_node = d.numa_node,
	    .flags = d.flags,
	    .dedupe_slots = d.dedupe_slots,
	};
}

SHMQ_EXPORT int shmq_channel_create(struct shmq_client *c, const char *name,
				    const struct shmq_channel_opts *opts)
{
	struct proto_name req;
	struct proto_info resp;
	int err;

	if (!c)
		return -SHMQ_EINVAL;
	err = client_wire_name(req.name, name);
	if (err)
		return err;
	client_wire_opts(&req.opts, opts);
	if (req.opts.dedupe_slots && c->daemon_minor < PROTO_MINOR_DEDUPE)
		return -SHMQ_EVERSION; /* an older daemon would make no table */
	if ((req.opts.flags & SHMQ_CHAN_SYNC_MASK) && c->daemon_minor < PROTO_MINOR_JOURNAL)
		return -SHMQ_EVERSION; /* an older daemon has no journal */
	return client_call(c, OP_CREATE, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
}

/*
 * A request that names one channel (DELETE, REPAIR, INFO): the name is
 * checked first, then whether the daemon knows op (min_minor, 0: always).
 */
static int name_call(struct shmq_client *c, uint16_t op, uint32_t min_minor, const char *name,
		     void *resp, uint32_t resp_len)
{
	struct proto_name req = {0};
	int err;

	if (!c)
		return -SHMQ_EINVAL;
	err = client_wire_name(req.name, name);
	if (err)
		return err;
	if (c->daemon_minor < min_minor)
		return -SHMQ_EVERSION;
	return client_call(c, op, &req, sizeof(req), resp, resp_len, NULL, NULL);
}

SHMQ_EXPORT int shmq_channel_delete(struct shmq_client *c, const char *name)
{
	struct proto_info resp;

	return name_call(c, OP_DELETE, 0, name, &resp, sizeof(resp));
}

SHMQ_EXPORT int shmq_channel_repair(struct shmq_client *c, const char *name, uint32_t *cut)
{
	struct proto_repair resp;
	int err = name_call(c, OP_REPAIR, PROTO_MINOR_REPAIR, name, &resp, sizeof(resp));

	if (!err && cut)
		*cut = resp.readers;
	return err;
}

void client_info_from_wire(struct shmq_channel_info *o, const struct proto_info *w)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->name, w->name, sizeof(o->name) - 1);
	o->policy = w->policy;
	o->capacity_bytes = w->capacity_bytes;
	o->max_message_bytes = w->max_message_bytes;
	o->readers = w->readers;
	o->oldest = w->oldest;
	o->tail = w->tail;
	o->publishers = w->publishers;
	o->publishers_open = w->publishers_open;
	o->numa_node = w->numa_node;
	o->numa_pages_node = w->numa_pages_node;
	o->flags = w->flags;
}

SHMQ_EXPORT int shmq_channel_info(struct shmq_client *c, const char *name,
				  struct shmq_channel_info *out)
{
	struct proto_info resp;
	int err;

	if (!out)
		return -SHMQ_EINVAL;
	err = name_call(c, OP_INFO, 0, name, &resp, sizeof(resp));
	if (!err)
		client_info_from_wire(out, &resp);
	return err;
}

/* One OP_LIST call; a daemon before minor 5 answers without .hidden (then 0). */
static int list_call(struct shmq_client *c, const struct proto_list_req *req,
		     struct proto_list *resp)
{
	uint32_t len = c->daemon_minor < PROTO_MINOR_HIDDEN
			   ? (uint32_t)offsetof(struct proto_list, hidden)
			   : (uint32_t)sizeof(*resp);

	memset(resp, 0, sizeof(*resp));
	return client_call(c, OP_LIST, req, sizeof(*req), resp, len, NULL, NULL);
}

SHMQ_EXPORT int shmq_channel_list(struct shmq_client *c, struct shmq_channel_info *out, size_t max)
{
	struct proto_list_req req = {0};
	struct proto_list resp;
	size_t filled = 0;
	int err;

	if (!c || (max && !out))
		return -SHMQ_EINVAL;
	do {
		err = list_call(c, &req, &resp);
		if (err)
			return err;
		if (resp.count > PROTO_LIST_ROWS)
			return -SHMQ_EPROTO;
		for (uint32_t i = 0; i < resp.count && filled < max; i++)
			client_info_from_wire(&out[filled++], &resp.rows[i]);
		req.start += resp.count;
	} while (resp.count && filled < max && req.start < resp.total);
	return resp.total > (uint32_t)INT32_MAX ? -SHMQ_EPROTO : (int)resp.total;
}

SHMQ_EXPORT int shmq_channel_hidden(struct shmq_client *c)
{
	struct proto_list_req req = {.start = UINT32_MAX}; /* no rows: only the counts */
	struct proto_list resp;
	int err;

	if (!c)
		return -SHMQ_EINVAL;
	if (c->daemon_minor < PROTO_MINOR_HIDDEN)
		return -SHMQ_EVERSION;
	err = list_call(c, &req, &resp);
	if (err)
		return err;
	return resp.hidden > (uint32_t)INT32_MAX ? -SHMQ_EPROTO : (int)resp.hidden;
}

int chan_open_req(struct shmq_client *c, const char *name, const void *out, uint32_t role,
		  int create, const struct shmq_channel_opts *opts, struct proto_open *req)
{
	memset(req, 0, sizeof(*req));
	req->role = role;
	req->create = (uint32_t) !!create;
	if (!c || !out)
		return -SHMQ_EINVAL;
	client_wire_opts(&req->opts, opts);
	if (create && req->opts.dedupe_slots && c->daemon_minor < PROTO_MINOR_DEDUPE)
		return -SHMQ_EVERSION; /* an older daemon would make no table */
	if (create && (req->opts.flags & SHMQ_CHAN_SYNC_MASK) &&
	    c->daemon_minor < PROTO_MINOR_JOURNAL)
		return -SHMQ_EVERSION; /* an older daemon has no journal */
	return client_wire_name(req->name, name);
}

static void daemon_client_from_wire(struct shmq_daemon_client *o, const struct proto_client_row *w)
{
	*o = (struct shmq_daemon_client){.pid = w->pid,
					 .uid = w->uid,
					 .since_ns = w->since_ns,
					 .channels = w->channels,
					 .handles = w->handles};
	memcpy(o->comm, w->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = 0;
}

SHMQ_EXPORT int shmq_daemon_stats(struct shmq_client *c, struct shmq_daemon_stats *out,
				  struct shmq_daemon_client *rows, size_t max)
{
	struct proto_stats_req req = {0};
	struct proto_stats resp;
	size_t filled = 0;
	int err;

	if (!c || !out || (max && !rows))
		return -SHMQ_EINVAL;
	if (c->daemon_minor < PROTO_MINOR_STATS)
		return -SHMQ_EVERSION;
	do {
		err = client_call(c, OP_STATS, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
		if (err)
			return err;
		if (resp.count > PROTO_STATS_ROWS || resp.total > (uint32_t)INT32_MAX)
			return -SHMQ_EPROTO;
		for (uint32_t i = 0; i < resp.count && filled < max; i++)
			daemon_client_from_wire(&rows[filled++], &resp.rows[i]);
		req.start += resp.count;
	} while (resp.count && filled < max && req.start < resp.total);
	*out = (struct shmq_daemon_stats){
	    .started_ns = resp.started_ns,
	    .now_ns = resp.now_ns,
	    .repairs = resp.repairs,
	    .denials = resp.denials,
	    .proto_errors = resp.proto_errors,
	    .connections = resp.connections,
	    .channels = resp.channels,
	    .clients = resp.total,
	};
	return (int)resp.total;
}

/* Map fd as the role's copy of a segment; bytes must be exactly want, if set. */
static int map_seg(int fd, bool writable, uint64_t want, void **base, uint64_t *bytes)
{
	int err = map_fd(fd, writable, base, bytes);

	if (!err && want && *bytes != want) {
		map_release(*base, *bytes);
		*base = NULL;
		err = -SHMQ_ECORRUPT;
	}
	return err;
}

int chan_map_fds(const int *fds, unsigned nfds, uint32_t role, struct chan_map *m)
{
	struct log_segs segs;
	uint64_t entry_bytes;
	unsigned want = role == ROLE_MON ? 3 : 4;
	int err;

	if (nfds < want)
		return -SHMQ_EPROTO;
	err = map_seg(fds[0], role == ROLE_PUB, 0, &m->data, &m->data_bytes);
	if (!err)
		err = map_seg(fds[1], false, 0, &m->ctl, &m->ctl_bytes);
	if (!err)
		err = map_seg(fds[2], role != ROLE_MON, WAKE_SEG_BYTES, &m->wake, &m->wake_bytes);
	if (!err && role != ROLE_MON)
		err = map_seg(fds[3], true, ENTRY_SEG_BYTES, &m->entry, &entry_bytes);
	/* a publisher of a dedupe channel: the daemon sends the table fifth */
	if (!err && role == ROLE_PUB && nfds > 4)
		err = map_seg(fds[4], true, 0, &m->dd, &m->dd_bytes);
	if (err)
		return err;
	segs =
	    (struct log_segs){m->data, m->data_bytes, m->ctl, m->ctl_bytes, m->wake, m->wake_bytes};
	return log_attach(&m->v, &segs, NULL);
}

int chan_open(struct shmq_client *c, const struct proto_open *req, struct proto_opened *resp,
	      struct chan_map *m, int *efd)
{
	int fds[5] = {-1, -1, -1, -1, -1}, err;
	unsigned nfds = 5, nseg = req->role == ROLE_MON ? 3 : 4;

	memset(m, 0, sizeof(*m));
	if (efd)
		*efd = -1;
	err = client_call(c, OP_OPEN, req, sizeof(*req), resp, sizeof(*resp), fds, &nfds);
	if (err)
		return err;
	err = nfds != resp->nfds ? -SHMQ_EPROTO : chan_map_fds(fds, nfds, req->role, m);
	if (!err && m->v.channel_id != resp->channel_id)
		err = -SHMQ_ECORRUPT;
	for (unsigned i = 0; i < nfds; i++) {
		if (!err && efd && i == nseg)
			*efd = fds[i]; /* the event fd follows the segments */
		else
			close(fds[i]);
	}
	if (err) {
		chan_unmap(m);
		/* the daemon holds a reader or publisher entry for us: give it back */
		chan_close_notify(c, resp->channel_id, req->role, resp->reader_idx);
		return err;
	}
	m->channel_id = resp->channel_id;
	return 0;
}

void chan_unmap(struct chan_map *m)
{
	map_release(m->data, m->data_bytes);
	map_release(m->ctl, m->ctl_bytes);
	map_release(m->wake, m->wake_bytes);
	map_release(m->entry, ENTRY_SEG_BYTES);
	map_release(m->dd, m->dd_bytes);
	m->data = m->ctl = m->wake = m->entry = m->dd = NULL;
}

void chan_close_notify(struct shmq_client *c, uint64_t channel_id, uint32_t role,
		       uint32_t reader_idx)
{
	struct proto_close req = {.channel_id = channel_id, .role = role, .reader_idx = reader_idx};
	struct proto_close resp;

	client_call(c, OP_CLOSE, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
}
