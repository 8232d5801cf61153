/*
 * ctl.c - the control socket (see ctl.h). Every datagram is checked before
 * it is believed: size, magic, version, op, body size, NUL-terminated
 * names. A client that sends garbage gets -SHMQ_EPROTO and, after a few,
 * is disconnected; descriptors it sends are closed. The daemon never waits
 * for a client: one whose socket refuses a reply is dropped. Admission: a
 * uid at max_connections_per_uid is refused as it connects, before its
 * connection costs a pidfd, and a connection without HELLO within
 * hello_timeout_ms is closed (ctl_tick()); each gets a refusal answer
 * first. Logging of what a client can trigger is rate-limited. The ops
 * themselves are request.c's; this file accepts, reads, answers and drops
 * connections. Main thread only.
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

#include "inbox.h"
#include "logmsg.h"
#include "procid.h"
#include "proto.h"
#include "request.h"
#include "shmq_types.h"
#include "wait.h"
#include "watch.h"

#define MAX_BAD_REQUESTS 8u
#define MAX_LOGGED_BAD 3u

uint64_t ctl_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool ctl_is_admin(const struct ctl *c, uint32_t uid)
{
	return uid == 0 || uid == c->uid;
}

/* "uid=U pid=P comm=C": who did something, for the log. */
const char *ctl_who(const struct client *cl)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "uid=%u pid=%u comm=%s", cl->uid, cl->pid, cl->comm);
	return buf;
}

/* Refuse with err, logging who was refused what (rate-limited). */
int ctl_deny(struct ctl *c, const struct client *cl, const char *op, const char *name,
	     const char *why, int err)
{
	unsigned suppressed;

	c->denials++;
	if (log_rate_allow(&c->deny_rate, &suppressed))
		log_msg(LOG_WARN, "ctl", "denied op=%s channel=%s reason=%s %s suppressed=%u", op,
			name, why, ctl_who(cl), suppressed);
	return err;
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

/*
 * Send one response without waiting: 0, -SHMQ_EFULL (the client's socket
 * is full: it does not read) or -SHMQ_ECLOSED (it is gone, or the send failed).
 */
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
	if (sendmsg(cl->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
		return 0;
	return errno == EAGAIN ? -SHMQ_EFULL : -SHMQ_ECLOSED;
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
		err = request_run(c, cl, h.op, buf + sizeof(h), &rep);
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
				cl->pid, err == -SHMQ_EFULL ? "socket_full" : "closed", lost);
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
		request_release_handle(c, cl, cl->nh - 1);
	watch_drop_all(cl);
	inbox_client_gone(c, cl);
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
			return -SHMQ_ENOMEM;
		c->cl = n;
		c->cap = cap;
	}
	if (watch(c, cl->fd, CTL_TAG_CLIENT | cl->id))
		return -SHMQ_ESYS;
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
	if (ctl_is_admin(c, cl->uid) ||
	    connections_of(c, cl->uid) < c->cfg->max_connections_per_uid)
		return false;
	ctl_deny(c, cl, "connect", "-", "max_connections_per_uid", -SHMQ_ECONNQUOTA);
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
			      .since_ns = ctl_realtime_ns()};
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
				c->cfg->hello_timeout_ms, ctl_who(cl), lost);
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
		return -SHMQ_ESYS;
	return 0;
}

/*
 * A live socket at path: say who listens there (SO_PEERCRED of our
 * connection names the process that called listen(); 0 when it is in
 * another pid namespace) and how to take over.
 */
static void say_holder(int fd, const char *path)
{
	struct ucred cr = {0};
	socklen_t len = sizeof(cr);
	char proc[64], comm[32] = "?";
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) || cr.pid <= 0) {
		log_msg(LOG_ERROR, "ctl",
			"socket path=%s is in use by a process of another pid namespace; "
			"shmqd --replace takes over from a running shmqd",
			path);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)cr.pid);
	f = fopen(proc, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	log_msg(LOG_ERROR, "ctl",
		"socket path=%s is in use by pid=%d comm=%s uid=%u; stop it, or start with "
		"--replace to take over its channels",
		path, (int)cr.pid, comm, (unsigned)cr.uid);
}

/*
 * Refuse to steal the socket of a live daemon (saying whose it is);
 * remove a stale one. Anything else at the path (a regular file, such as a
 * config file named by mistake, or a directory) is refused and left alone.
 */
/* The address of path: 0, or -SHMQ_EINVAL (errno ENAMETOOLONG) if it does not fit. */
static int path_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -SHMQ_EINVAL;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* A connection to whoever listens at sa, or -1: nobody (or no socket). */
static int path_connect(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool ctl_path_served(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (path_addr(path, &sa))
		return false;
	fd = path_connect(&sa);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int claim_path(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd;

	if (lstat(sa->sun_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERROR, "ctl",
			"refusing socket path=%s: it is a %s, not a socket "
			"(left as it is)",
			sa->sun_path, S_ISDIR(st.st_mode) ? "directory" : "file");
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENOTSOCK;
		return -SHMQ_EEXIST;
	}
	fd = path_connect(sa);
	if (fd >= 0) {
		say_holder(fd, sa->sun_path);
		close(fd);
		errno = EADDRINUSE;
		return -SHMQ_EEXIST;
	}
	unlink(sa->sun_path);
	return 0;
}

int ctl_open(struct ctl **out, const char *path, int epfd, struct registry *reg,
	     const struct config *cfg)
{
	struct sockaddr_un sa;
	struct ctl *c;
	int err = path_addr(path, &sa);

	if (err)
		return err;
	err = -SHMQ_ESYS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -SHMQ_ENOMEM;
	*c = (struct ctl){.epfd = epfd, .reg = reg, .cfg = cfg, .uid = (uint32_t)geteuid()};
	c->started_ns = ctl_realtime_ns();
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->reserve_fd < 0)
		goto out_free;
	strcpy(c->path, path);
	err = make_parent(path);
	if (!err)
		err = claim_path(&sa);
	if (err)
		goto out_free;
	err = -SHMQ_ESYS;
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
	return err;
}

int ctl_open_fd(struct ctl **out, int lfd, int epfd, struct registry *reg, const struct config *cfg)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int fl = fcntl(lfd, F_GETFL);

	if (!c)
		return -SHMQ_ENOMEM;
	*c = (struct ctl){.epfd = epfd, .reg = reg, .cfg = cfg, .uid = (uint32_t)geteuid()};
	c->lfd = lfd;
	c->started_ns = ctl_realtime_ns();
	c->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->reserve_fd < 0 || fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    watch(c, lfd, CTL_TAG_LISTEN)) {
		if (c->reserve_fd >= 0)
			close(c->reserve_fd);
		free(c);
		return -SHMQ_ESYS;
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
