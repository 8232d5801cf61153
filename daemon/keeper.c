/*
 * keeper.c - the keeper process and the daemon's side of its socket (see
 * keeper.h). The keeper is a child of the first daemon in a session of its
 * own, so that it outlives it; it keeps what the daemon sends in a table
 * and hands all of it to the next daemon that asks. It believes only
 * daemons of its own uid (SO_PEERCRED), and holds one at a time: a second
 * one is refused unless it asks to replace the first, which is then told
 * to stop; the second gets the channels once the first said it stopped
 * (or hung up), with every record the first sent applied. Single-threaded
 * and never blocked by a peer: every socket is read without waiting, a
 * connection that does not ask within KEEP_HELLO_WAIT_MS is closed, and
 * poll() wakes at least every second to notice that the socket path went.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "logmsg.h"
#include "shmq_err.h"

#define KEEP_ENTRIES (MAX_READERS + MAX_PUBS)
/* How long a full socket may hold a sender, twice: a keeper or a daemon not
 * scheduled for a while on a loaded machine is not gone */
#define KEEP_SEND_WAIT_MS 1000
#define KEEP_HELLO_WAIT_MS 2000 /* how long a connection may take to send KEEP_TAKE */
#define KEEP_PENDING 4		/* connections that have not sent it yet */

int keeper_path(const char *socket_path, char *out, unsigned len)
{
	int n = snprintf(out, len, "%s.keep", socket_path);

	return n < 0 || (unsigned)n >= len ||
		       (unsigned)n >= sizeof(((struct sockaddr_un *)0)->sun_path)
		   ? -SHMQ_EINVAL
		   : 0;
}

int keeper_send(int kfd, uint32_t op, const void *body, uint32_t body_bytes, const int *fds,
		unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)];
	struct keep_hdr h = {KEEP_MAGIC, KEEP_VERSION, op, body_bytes};
	struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)},
			       {.iov_base = (void *)body, .iov_len = body_bytes}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = body_bytes ? 2 : 1};
	struct cmsghdr *cm;

	if (kfd < 0 || nfds > KEEP_FDS_MAX || body_bytes > KEEP_BODY_MAX)
		return -SHMQ_EINVAL;
	if (nfds) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	/* never block for long: a keeper that stopped reading (SIGSTOP) must
	 * not stop the daemon; past KEEP_SEND_WAIT_MS the caller gives up on it */
	for (int tries = 0; tries < 2; tries++) {
		struct pollfd p = {.fd = kfd, .events = POLLOUT};

		if (sendmsg(kfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) ==
		    (ssize_t)(sizeof(h) + body_bytes))
			return 0;
		if (errno != EAGAIN || poll(&p, 1, KEEP_SEND_WAIT_MS) <= 0)
			return -SHMQ_ECLOSED;
	}
	return -SHMQ_ECLOSED;
}

/* The body the first version of op had: shorter is malformed. 0 for ops without one. */
static uint32_t keep_body_min(uint32_t op)
{
	switch (op) {
	case KEEP_CHANNEL:
		return sizeof(struct keep_channel);
	case KEEP_ENTRY:
	case KEEP_DROP_ENTRY:
		return sizeof(struct keep_entry);
	case KEEP_DROP:
		return sizeof(uint64_t);
	case KEEP_GROUP:
		return sizeof(struct keep_group);
	case KEEP_DROP_GROUP:
		return KEEP_GROUP_HEAD;
	case KEEP_TAKE:
		return sizeof(struct keep_take);
	case KEEP_END:
		return sizeof(struct keep_end);
	default:
		return 0;
	}
}

/* Keep up to KEEP_FDS_MAX of the descriptors mh carries in fds, closing the rest; how many. */
static unsigned take_fds(struct msghdr *mh, int *fds)
{
	unsigned got = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int *p = (int *)CMSG_DATA(cm);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			if (got < KEEP_FDS_MAX)
				fds[got++] = p[i];
			else
				close(p[i]);
		}
	}
	return got;
}

int keeper_recv(int kfd, struct keep_msg *m, int *fds, unsigned *nfds, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	memset(m, 0, sizeof(*m));
	do
		n = recvmsg(kfd, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	*nfds = n >= 0 ? take_fds(&mh, fds) : 0;
	if (n >= (ssize_t)sizeof(m->h) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    m->h.magic == KEEP_MAGIC && m->h.version >= KEEP_VERSION_MIN &&
	    m->h.body_bytes == (size_t)n - sizeof(m->h) &&
	    m->h.body_bytes >= keep_body_min(m->h.op))
		return 0;
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	if (n == 0)
		errno = ECONNRESET;
	if (n > 0)
		return -SHMQ_EPROTO;
	return errno == EAGAIN ? -SHMQ_EAGAIN : -SHMQ_ECLOSED;
}

/* ---- the keeper process ---- */

/* A record as it came, replayed byte for byte (fields newer than the keeper included). */
struct kept_entry {
	union {
		struct keep_entry e;
		uint8_t raw[KEEP_ENTRY_BODY_MAX];
	} u;
	uint32_t body_bytes;
	int fd, efd; /* -1: slot not kept */
};

/* A group's record and segment, replayed as it came. */
struct kept_group {
	union {
		struct keep_group gr;
		uint8_t raw[KEEP_BODY_MAX];
	} u;
	uint32_t body_bytes;
	int fd; /* -1: not kept */
};

struct kept_channel {
	union {
		struct keep_channel ch;
		uint8_t raw[KEEP_BODY_MAX];
	} u;
	uint32_t body_bytes;
	int fds[KEEP_FDS_MAX];
	unsigned nfds;
	struct kept_entry entries[KEEP_ENTRIES];
	struct kept_group groups[MAX_GROUPS];
};

/* A connection that has not sent its KEEP_TAKE yet. */
struct pending {
	int fd; /* -1: none */
	int64_t deadline_ms;
};

struct keeper {
	struct kept_channel **ch;
	unsigned n, cap;
	int lfd;
	int dfd;  /* the daemon served, -1: none */
	int next; /* a daemon taking over from dfd once dfd stopped, -1: none */
	int64_t next_deadline_ms;
	struct pending pend[KEEP_PENDING];
	char path[108];
	struct stat path_st;
	time_t orphan_since;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fd_drop(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static struct kept_channel *kept_find(struct keeper *k, uint64_t id, unsigned *at)
{
	for (unsigned i = 0; i < k->n; i++) {
		if (k->ch[i]->u.ch.id == id) {
			if (at)
				*at = i;
			return k->ch[i];
		}
	}
	return NULL;
}

static void kept_free(struct kept_channel *c)
{
	for (unsigned i = 0; i < KEEP_FDS_MAX; i++)
		fd_drop(&c->fds[i]);
	for (unsigned i = 0; i < KEEP_ENTRIES; i++) {
		fd_drop(&c->entries[i].fd);
		fd_drop(&c->entries[i].efd);
	}
	for (unsigned i = 0; i < MAX_GROUPS; i++)
		fd_drop(&c->groups[i].fd);
	free(c);
}

static void kept_drop(struct keeper *k, uint64_t id)
{
	unsigned at;
	struct kept_channel *c = kept_find(k, id, &at);

	if (!c)
		return;
	kept_free(c);
	k->ch[at] = k->ch[--k->n];
}

/*
 * A channel's record and its three segments. One of the same id is
 * updated in place and keeps its entries: a daemon re-sends its record
 * (after adoption, when the channel is deleted) before or without its
 * entries, and one that dies in between must not take them with it.
 */
static void kept_channel_put(struct keeper *k, const struct keep_msg *m, int *fds, unsigned nfds)
{
	struct kept_channel *c;

	if (nfds != 3 && nfds != 4) /* the fourth: a dedupe channel's table */
		return;
	c = kept_find(k, m->u.ch.id, NULL);
	if (!c) {
		if (k->n == k->cap) {
			unsigned cap = k->cap ? k->cap * 2 : 16;
			struct kept_channel **n = realloc(k->ch, cap * sizeof(*n));

			if (!n)
				return;
			k->ch = n;
			k->cap = cap;
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			return;
		for (unsigned i = 0; i < KEEP_FDS_MAX; i++)
			c->fds[i] = -1;
		for (unsigned i = 0; i < KEEP_ENTRIES; i++)
			c->entries[i].fd = c->entries[i].efd = -1;
		for (unsigned i = 0; i < MAX_GROUPS; i++)
			c->groups[i].fd = -1;
		k->ch[k->n++] = c;
	}
	memcpy(c->u.raw, m->u.raw, m->h.body_bytes);
	c->body_bytes = m->h.body_bytes;
	for (unsigned i = 0; i < KEEP_FDS_MAX; i++) {
		fd_drop(&c->fds[i]);
		c->fds[i] = i < nfds ? fds[i] : -1;
		if (i < nfds)
			fds[i] = -1;
	}
	c->nfds = nfds;
}

static struct kept_entry *kept_entry_at(struct keeper *k, const struct keep_entry *e)
{
	struct kept_channel *c = kept_find(k, e->channel_id, NULL);
	unsigned slot = e->kind == 'p' ? MAX_READERS + e->idx : e->idx;

	if (!c || e->idx >= MAX_READERS || (e->kind != 'p' && e->kind != 'r'))
		return NULL;
	return &c->entries[slot];
}

static void kept_entry_put(struct keeper *k, const struct keep_msg *m, int *fds, unsigned nfds)
{
	struct kept_entry *ke = kept_entry_at(k, &m->u.e);

	if (!ke || nfds < 1 || nfds != 1 + ((m->u.e.flags & KEEP_ENTRY_EFD) != 0))
		return;
	fd_drop(&ke->fd);
	fd_drop(&ke->efd);
	ke->body_bytes =
	    m->h.body_bytes < KEEP_ENTRY_BODY_MAX ? m->h.body_bytes : KEEP_ENTRY_BODY_MAX;
	memcpy(ke->u.raw, m->u.raw, ke->body_bytes);
	ke->fd = fds[0];
	fds[0] = -1;
	if (nfds > 1) {
		ke->efd = fds[1];
		fds[1] = -1;
	}
}

static void kept_entry_drop(struct keeper *k, const struct keep_entry *e)
{
	struct kept_entry *ke = kept_entry_at(k, e);

	if (ke) {
		fd_drop(&ke->fd);
		fd_drop(&ke->efd);
	}
}

static struct kept_group *kept_group_at(struct keeper *k, const struct keep_group *g)
{
	struct kept_channel *c = kept_find(k, g->channel_id, NULL);

	return c && g->idx < MAX_GROUPS ? &c->groups[g->idx] : NULL;
}

static void kept_group_put(struct keeper *k, const struct keep_msg *m, int *fds, unsigned nfds)
{
	struct kept_group *kg = kept_group_at(k, &m->u.gr);

	if (!kg || nfds != 1)
		return;
	fd_drop(&kg->fd);
	kg->body_bytes = m->h.body_bytes;
	memcpy(kg->u.raw, m->u.raw, kg->body_bytes);
	kg->fd = fds[0];
	fds[0] = -1;
}

static void kept_group_drop(struct keeper *k, const struct keep_group *g)
{
	struct kept_group *kg = kept_group_at(k, g);

	if (kg)
		fd_drop(&kg->fd);
}

static int end_send(int fd, uint32_t status)
{
	struct keep_end end = {.status = status};

	return keeper_send(fd, KEEP_END, &end, sizeof(end), NULL, 0);
}

/* Everything kept to the daemon at dfd, then KEEP_END; -SHMQ_ECLOSED if it went. */
static int kept_send_all(struct keeper *k, int dfd)
{
	for (unsigned i = 0; i < k->n; i++) {
		struct kept_channel *c = k->ch[i];

		if (keeper_send(dfd, KEEP_CHANNEL, c->u.raw, c->body_bytes, c->fds, c->nfds))
			return -SHMQ_ECLOSED;
		for (unsigned j = 0; j < KEEP_ENTRIES; j++) {
			struct kept_entry *ke = &c->entries[j];
			int fds[2] = {ke->fd, ke->efd};

			if (ke->fd < 0)
				continue;
			if (keeper_send(dfd, KEEP_ENTRY, ke->u.raw, ke->body_bytes, fds,
					ke->efd >= 0 ? 2 : 1))
				return -SHMQ_ECLOSED;
		}
		/* after the entries: a group's reader slot is adopted first */
		for (unsigned j = 0; j < MAX_GROUPS; j++) {
			struct kept_group *kg = &c->groups[j];

			if (kg->fd >= 0 &&
			    keeper_send(dfd, KEEP_GROUP, kg->u.raw, kg->body_bytes, &kg->fd, 1))
				return -SHMQ_ECLOSED;
		}
	}
	return end_send(dfd, KEEP_END_OK);
}

static void keeper_quit(struct keeper *k)
{
	unlink(k->path);
	exit(0);
}

/*
 * One message from the daemon, applied; -SHMQ_ECLOSED when it is gone or
 * said it stopped (KEEP_STOPPED), -SHMQ_EAGAIN when nothing is left to read.
 */
static int keeper_serve_one(struct keeper *k)
{
	struct keep_msg m;
	int fds[KEEP_FDS_MAX];
	unsigned nfds = 0;
	int got = keeper_recv(k->dfd, &m, fds, &nfds, MSG_DONTWAIT);

	if (got == -SHMQ_EPROTO)
		return 0; /* not ours: skipped */
	if (got)
		return got;
	switch (m.h.op) {
	case KEEP_CHANNEL:
		kept_channel_put(k, &m, fds, nfds);
		break;
	case KEEP_ENTRY:
		kept_entry_put(k, &m, fds, nfds);
		break;
	case KEEP_DROP_ENTRY:
		kept_entry_drop(k, &m.u.e);
		break;
	case KEEP_DROP:
		kept_drop(k, m.u.channel_id);
		break;
	case KEEP_GROUP:
		kept_group_put(k, &m, fds, nfds);
		break;
	case KEEP_DROP_GROUP:
		kept_group_drop(k, &m.u.gr);
		break;
	case KEEP_TAKE: /* again: the same daemon (version 1 did so) */
		if (kept_send_all(k, k->dfd))
			got = -SHMQ_ECLOSED;
		break;
	case KEEP_QUIT:
		keeper_quit(k);
		break;
	case KEEP_STOPPED:
		got = -SHMQ_ECLOSED;
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return got;
}

/* The daemon served is gone: the one waiting to take over gets everything. */
static void daemon_gone(struct keeper *k)
{
	fd_drop(&k->dfd);
	k->orphan_since = time(NULL);
	if (k->next < 0)
		return;
	k->dfd = k->next;
	k->next = -1;
	if (kept_send_all(k, k->dfd))
		fd_drop(&k->dfd);
}

/*
 * Apply everything the daemon sent, in order, up to what its socket holds
 * now; notice it if it is gone. Records it sent before it died or stopped
 * are all read before anyone else is answered.
 */
static void keeper_serve(struct keeper *k)
{
	int got = 0;

	while (k->dfd >= 0 && got == 0)
		got = keeper_serve_one(k);
	if (k->dfd >= 0 && got == -SHMQ_ECLOSED)
		daemon_gone(k);
}

/*
 * A daemon asks for the channels. With nobody served, it gets them. With
 * one served (after what it sent is read, and it is still there), it is
 * refused, unless it asks to replace that one: then that one is told to
 * stop, and this one gets everything once the other has said it stopped
 * or hung up, or is refused (KEEP_END_STUCK) if that takes longer than
 * KEEP_STOP_WAIT_MS. One replacement at a time.
 */
static void keeper_take(struct keeper *k, int c, const struct keep_take *t)
{
	keeper_serve(k);
	if (k->dfd < 0) {
		k->dfd = c;
		if (kept_send_all(k, c))
			daemon_gone(k);
		return;
	}
	if (!(t->flags & KEEP_TAKE_REPLACE) || k->next >= 0) {
		end_send(c, KEEP_END_BUSY);
		close(c);
		return;
	}
	k->next = c;
	k->next_deadline_ms = now_ms() + KEEP_STOP_WAIT_MS;
	if (keeper_send(k->dfd, KEEP_STOP, NULL, 0, NULL, 0))
		daemon_gone(k);
}

/* A pending connection is readable: its first message must be KEEP_TAKE. */
static void pending_read(struct keeper *k, struct pending *p)
{
	struct keep_msg m;
	int fds[KEEP_FDS_MAX], c = p->fd;
	unsigned nfds = 0;
	int got = keeper_recv(c, &m, fds, &nfds, MSG_DONTWAIT);

	if (got == -SHMQ_EAGAIN)
		return;
	p->fd = -1;
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (got || m.h.op != KEEP_TAKE) {
		close(c);
		return;
	}
	keeper_take(k, c, &m.u.take);
}

/*
 * A connection: only from our own uid, and it waits among the pending
 * ones (the oldest is dropped to make room) until it sends KEEP_TAKE or
 * KEEP_HELLO_WAIT_MS pass. The keeper never waits for one.
 */
static void keeper_accept(struct keeper *k)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct pending *slot = &k->pend[0];
	int c = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != geteuid()) {
		close(c);
		return;
	}
	for (unsigned i = 0; i < KEEP_PENDING; i++) {
		if (k->pend[i].fd < 0 || k->pend[i].deadline_ms < slot->deadline_ms)
			slot = &k->pend[i];
		if (k->pend[i].fd < 0)
			break;
	}
	fd_drop(&slot->fd);
	*slot = (struct pending){c, now_ms() + KEEP_HELLO_WAIT_MS};
}

/* Deadlines: pending connections that said nothing, a daemon that did not stop. */
static void keeper_expire(struct keeper *k)
{
	int64_t now = now_ms();

	for (unsigned i = 0; i < KEEP_PENDING; i++)
		if (k->pend[i].fd >= 0 && now >= k->pend[i].deadline_ms)
			fd_drop(&k->pend[i].fd);
	if (k->next >= 0 && now >= k->next_deadline_ms) {
		/* a daemon that reads its KEEP_STOP only now serves on: it finds
		 * KEEP_STAY after it, sent before the other learns it gave up */
		if (keeper_send(k->dfd, KEEP_STAY, NULL, 0, NULL, 0)) {
			daemon_gone(k); /* gone after all: the other takes over */
			return;
		}
		end_send(k->next, KEEP_END_STUCK);
		fd_drop(&k->next);
	}
}

/* The socket path is ours no longer (removed, or another file there): go. */
static bool path_gone(const struct keeper *k)
{
	struct stat st;

	return lstat(k->path, &st) || st.st_ino != k->path_st.st_ino ||
	       st.st_dev != k->path_st.st_dev;
}

/* The poll timeout: 1 s (to look at the path), or the nearest deadline. */
static int keeper_timeout_ms(const struct keeper *k)
{
	int64_t t = 1000, now = now_ms();

	for (unsigned i = 0; i < KEEP_PENDING; i++)
		if (k->pend[i].fd >= 0 && k->pend[i].deadline_ms - now < t)
			t = k->pend[i].deadline_ms - now;
	if (k->next >= 0 && k->next_deadline_ms - now < t)
		t = k->next_deadline_ms - now;
	return t < 0 ? 0 : (int)t;
}

/*
 * Each round: the daemon's records first (all of them), then connections
 * that sent their KEEP_TAKE, then new connections, then deadlines.
 */
static __attribute__((noreturn)) void keeper_run(struct keeper *k)
{
	struct pollfd p[2 + KEEP_PENDING];

	for (;;) {
		int n;

		p[0] = (struct pollfd){.fd = k->lfd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = k->dfd, .events = POLLIN};
		for (unsigned i = 0; i < KEEP_PENDING; i++)
			p[2 + i] = (struct pollfd){.fd = k->pend[i].fd, .events = POLLIN};
		n = poll(p, 2 + KEEP_PENDING, keeper_timeout_ms(k));
		if (path_gone(k))
			exit(0);
		if (k->dfd < 0 && time(NULL) - k->orphan_since > KEEP_ORPHAN_S)
			keeper_quit(k);
		if (n > 0 && k->dfd >= 0 && p[1].revents)
			keeper_serve(k);
		for (unsigned i = 0; n > 0 && i < KEEP_PENDING; i++)
			if (k->pend[i].fd >= 0 && k->pend[i].fd == p[2 + i].fd && p[2 + i].revents)
				pending_read(k, &k->pend[i]);
		if (n > 0 && (p[0].revents & POLLIN))
			keeper_accept(k);
		keeper_expire(k);
	}
}

/*
 * The child: a session of its own, no descriptor but its socket (stdin,
 * stdout and stderr on /dev/null: a pipe someone reads to its end, such as
 * a shell's $(shmqd --background), must not wait for the keeper).
 */
static __attribute__((noreturn)) void keeper_child(int lfd, const char *path)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	/* the daemon blocks the signals it reads from a signalfd; exec keeps a
	 * mask, so the keeper clears it (the daemon's stays as it was) */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
	    dup2(lfd, KEEPER_FD) < 0)
		_exit(1);
	/* a program of its own name, so that "pkill -f 'shmqd --socket'" and
	 * the like stop the daemon and leave its keeper */
	execl("/proc/self/exe", "shmqd-keeper", "--keeper", path, (char *)NULL);
	_exit(1);
}

int keeper_main(const char *path)
{
	static struct keeper k;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	for (int fd = KEEPER_FD + 1; fd < 1024; fd++)
		close(fd);
	k = (struct keeper){.lfd = KEEPER_FD, .dfd = -1, .next = -1, .orphan_since = time(NULL)};
	for (unsigned i = 0; i < KEEP_PENDING; i++)
		k.pend[i].fd = -1;
	snprintf(k.path, sizeof(k.path), "%s", path);
	if (fcntl(KEEPER_FD, F_SETFD, FD_CLOEXEC) || lstat(path, &k.path_st))
		return 1;
	keeper_run(&k);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa->sun_path))
		return -SHMQ_EINVAL;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Bind a keeper socket at path (replacing a dead one's) and fork the keeper. */
static int keeper_spawn(const char *path)
{
	struct sockaddr_un sa;
	pid_t pid;
	int lfd;

	if (unix_addr(path, &sa))
		return -SHMQ_EINVAL;
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -SHMQ_ESYS;
	unlink(path); /* nobody answered there: a dead keeper's socket, if anything */
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(lfd, 4)) {
		close(lfd);
		return -SHMQ_ESYS;
	}
	pid = fork();
	if (pid == 0)
		keeper_child(lfd, path);
	close(lfd);
	if (pid < 0)
		return -SHMQ_ESYS;
	log_msg(LOG_INFO, "keeper", "started keeper pid=%d socket=%s", (int)pid, path);
	return 0;
}

static int keeper_connect(const char *path)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	if (unix_addr(path, &sa))
		return -SHMQ_EINVAL;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -SHMQ_ESYS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != geteuid()) {
		close(fd);
		return -SHMQ_ESYS;
	}
	return fd;
}

int keeper_open(const char *path, bool replace, int *out, bool *found)
{
	struct keep_take take = {.flags = replace ? KEEP_TAKE_REPLACE : 0};
	struct timeval tv = {.tv_sec = KEEP_TAKE_WAIT_S};
	int fd = keeper_connect(path);

	*found = fd >= 0;
	if (fd < 0 && (keeper_spawn(path) || (fd = keeper_connect(path)) < 0)) {
		*out = -1;
		return -SHMQ_ESYS;
	}
	/* the answer may take a replaced daemon's KEEP_STOP_WAIT_MS, never more */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    keeper_send(fd, KEEP_TAKE, &take, sizeof(take), NULL, 0)) {
		close(fd);
		*out = -1;
		return -SHMQ_ESYS;
	}
	*out = fd;
	return 0;
}
