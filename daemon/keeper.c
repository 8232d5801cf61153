/*
 * keeper.c - the keeper process and the daemon's side of its socket (see
 * keeper.h). The keeper is a child of the first daemon in a session of its
 * own, so that it outlives it; it keeps what the daemon sends in a table
 * and hands all of it to the next daemon that asks. It believes only
 * daemons of its own uid (SO_PEERCRED), and holds one at a time: a second
 * one is refused unless it asks to replace the first, which is then told
 * to stop. Single-threaded; the keeper blocks in poll() with a 1 s timeout
 * to notice that its socket path went away.
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

#define KEEP_ENTRIES (MAX_READERS + MAX_PUBS)
#define KEEP_STOP_WAIT_MS 5000 /* how long a replaced daemon may take to go */
#define KEEP_SEND_WAIT_MS 200  /* how long a full keeper socket may hold a sender */

int keeper_path(const char *socket_path, char *out, unsigned len)
{
	int n = snprintf(out, len, "%s.keep", socket_path);

	return n < 0 || (unsigned)n >= len || (unsigned)n >= sizeof(((struct sockaddr_un *)0)->sun_path)
		       ? -1
		       : 0;
}

int keeper_send(int kfd, const struct keep_msg *m, const int *fds, unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)];
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (kfd < 0 || nfds > 3)
		return -1;
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

		if (sendmsg(kfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*m))
			return 0;
		if (errno != EAGAIN || poll(&p, 1, KEEP_SEND_WAIT_MS) <= 0)
			return -1;
	}
	return -1;
}

int keeper_recv(int kfd, struct keep_msg *m, int *fds, unsigned *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	unsigned got = 0;
	ssize_t n;

	do
		n = recvmsg(kfd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int *p = (int *)CMSG_DATA(cm);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			if (got < 3)
				fds[got++] = p[i];
			else
				close(p[i]);
		}
	}
	*nfds = got;
	if (n == (ssize_t)sizeof(*m) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    m->magic == KEEP_MAGIC && m->version == KEEP_VERSION)
		return 0;
	for (unsigned i = 0; i < got; i++)
		close(fds[i]);
	*nfds = 0;
	return n > 0 ? -2 : -1;
}

/* ---- the keeper process ---- */

struct kept_entry {
	struct keep_entry e;
	int fd, efd; /* -1: slot not kept */
};

struct kept_channel {
	struct keep_channel ch;
	int fds[3];
	struct kept_entry entries[KEEP_ENTRIES];
};

struct keeper {
	struct kept_channel **ch;
	unsigned n, cap;
	int lfd, dfd;
	char path[108];
	struct stat path_st;
	time_t orphan_since;
};

static void fd_drop(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static struct kept_channel *kept_find(struct keeper *k, uint64_t id, unsigned *at)
{
	for (unsigned i = 0; i < k->n; i++) {
		if (k->ch[i]->ch.id == id) {
			if (at)
				*at = i;
			return k->ch[i];
		}
	}
	return NULL;
}

static void kept_free(struct kept_channel *c)
{
	for (unsigned i = 0; i < 3; i++)
		fd_drop(&c->fds[i]);
	for (unsigned i = 0; i < KEEP_ENTRIES; i++) {
		fd_drop(&c->entries[i].fd);
		fd_drop(&c->entries[i].efd);
	}
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

/* A channel's record and its three segments; replaces one of the same id. */
static void kept_channel_put(struct keeper *k, const struct keep_channel *ch, int *fds,
			     unsigned nfds)
{
	struct kept_channel *c;

	if (nfds != 3)
		return;
	kept_drop(k, ch->id);
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
	c->ch = *ch;
	for (unsigned i = 0; i < 3; i++) {
		c->fds[i] = fds[i];
		fds[i] = -1;
	}
	for (unsigned i = 0; i < KEEP_ENTRIES; i++)
		c->entries[i].fd = c->entries[i].efd = -1;
	k->ch[k->n++] = c;
}

static struct kept_entry *kept_entry_at(struct keeper *k, const struct keep_entry *e)
{
	struct kept_channel *c = kept_find(k, e->channel_id, NULL);
	unsigned slot = e->kind == 'p' ? MAX_READERS + e->idx : e->idx;

	if (!c || e->idx >= MAX_READERS || (e->kind != 'p' && e->kind != 'r'))
		return NULL;
	return &c->entries[slot];
}

static void kept_entry_put(struct keeper *k, const struct keep_entry *e, int *fds, unsigned nfds)
{
	struct kept_entry *ke = kept_entry_at(k, e);

	if (!ke || nfds < 1 || nfds != 1 + (e->has_efd != 0))
		return;
	fd_drop(&ke->fd);
	fd_drop(&ke->efd);
	ke->e = *e;
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

/* Everything kept to the daemon at dfd, then KEEP_END; -1 if it went. */
static int kept_send_all(struct keeper *k, int dfd)
{
	struct keep_msg m = {.magic = KEEP_MAGIC, .version = KEEP_VERSION};

	for (unsigned i = 0; i < k->n; i++) {
		struct kept_channel *c = k->ch[i];

		m.op = KEEP_CHANNEL;
		m.u.ch = c->ch;
		if (keeper_send(dfd, &m, c->fds, 3))
			return -1;
		for (unsigned j = 0; j < KEEP_ENTRIES; j++) {
			struct kept_entry *ke = &c->entries[j];
			int fds[2] = {ke->fd, ke->efd};

			if (ke->fd < 0)
				continue;
			m.op = KEEP_ENTRY;
			m.u.e = ke->e;
			if (keeper_send(dfd, &m, fds, ke->efd >= 0 ? 2 : 1))
				return -1;
		}
	}
	m.op = KEEP_END;
	m.pad = 0;
	return keeper_send(dfd, &m, NULL, 0);
}

static void keeper_quit(struct keeper *k)
{
	unlink(k->path);
	exit(0);
}

/* One message from the daemon; -1 when it is gone. */
static int keeper_serve(struct keeper *k)
{
	struct keep_msg m;
	int fds[3];
	unsigned nfds = 0;

	if (keeper_recv(k->dfd, &m, fds, &nfds))
		return -1;
	switch (m.op) {
	case KEEP_CHANNEL:
		kept_channel_put(k, &m.u.ch, fds, nfds);
		break;
	case KEEP_ENTRY:
		kept_entry_put(k, &m.u.e, fds, nfds);
		break;
	case KEEP_DROP_ENTRY:
		kept_entry_drop(k, &m.u.e);
		break;
	case KEEP_DROP:
		kept_drop(k, m.u.channel_id);
		break;
	case KEEP_TAKE:
		if (kept_send_all(k, k->dfd))
			return -1;
		break;
	case KEEP_QUIT:
		keeper_quit(k);
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* Wait (bounded) for the daemon at fd to hang up. */
static void wait_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;

	while (poll(&p, 1, KEEP_STOP_WAIT_MS) > 0 && recv(fd, &b, 1, 0) > 0)
		;
}

/*
 * A daemon connects. The first message must be KEEP_TAKE; pad = 1 asks to
 * replace the daemon being served, which is told to stop. Without it, a
 * second daemon is refused (KEEP_END with pad = 1) and the first one keeps
 * serving.
 */
static void keeper_accept(struct keeper *k)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct keep_msg m, stop = {.magic = KEEP_MAGIC, .version = KEEP_VERSION, .op = KEEP_STOP};
	int fds[3];
	unsigned nfds = 0;
	int c = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != geteuid() ||
	    keeper_recv(c, &m, fds, &nfds) || m.op != KEEP_TAKE) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		close(c);
		return;
	}
	if (k->dfd >= 0 && !m.pad) {
		m = (struct keep_msg){.magic = KEEP_MAGIC, .version = KEEP_VERSION, .op = KEEP_END,
				      .pad = 1};
		keeper_send(c, &m, NULL, 0);
		close(c);
		return;
	}
	if (k->dfd >= 0) {
		keeper_send(k->dfd, &stop, NULL, 0);
		wait_gone(k->dfd);
		close(k->dfd);
	}
	k->dfd = c;
	if (kept_send_all(k, c)) {
		close(c);
		k->dfd = -1;
		k->orphan_since = time(NULL);
	}
}

/* The socket path is ours no longer (removed, or another file there): go. */
static bool path_gone(const struct keeper *k)
{
	struct stat st;

	return lstat(k->path, &st) || st.st_ino != k->path_st.st_ino ||
	       st.st_dev != k->path_st.st_dev;
}

static __attribute__((noreturn)) void keeper_run(struct keeper *k)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = k->lfd, .events = POLLIN},
				      {.fd = k->dfd, .events = POLLIN}};
		int n = poll(p, k->dfd >= 0 ? 2 : 1, 1000);

		if (path_gone(k))
			exit(0);
		if (k->dfd < 0 && time(NULL) - k->orphan_since > KEEP_ORPHAN_S)
			keeper_quit(k);
		if (n <= 0)
			continue;
		if (k->dfd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && keeper_serve(k)) {
			close(k->dfd);
			k->dfd = -1;
			k->orphan_since = time(NULL);
		}
		if (p[0].revents & POLLIN)
			keeper_accept(k);
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
	k = (struct keeper){.lfd = KEEPER_FD, .dfd = -1, .orphan_since = time(NULL)};
	snprintf(k.path, sizeof(k.path), "%s", path);
	if (fcntl(KEEPER_FD, F_SETFD, FD_CLOEXEC) || lstat(path, &k.path_st))
		return 1;
	keeper_run(&k);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
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
		return -1;
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -1;
	unlink(path); /* nobody answered there: a dead keeper's socket, if anything */
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    listen(lfd, 4)) {
		close(lfd);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		keeper_child(lfd, path);
	close(lfd);
	if (pid < 0)
		return -1;
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
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != geteuid()) {
		close(fd);
		return -1;
	}
	return fd;
}

int keeper_open(const char *path, bool replace, int *out, bool *found)
{
	struct keep_msg take = {.magic = KEEP_MAGIC, .version = KEEP_VERSION, .op = KEEP_TAKE,
				.pad = replace};
	int fd = keeper_connect(path);

	*found = fd >= 0;
	if (fd < 0 && (keeper_spawn(path) || (fd = keeper_connect(path)) < 0)) {
		*out = -1;
		return -1;
	}
	if (keeper_send(fd, &take, NULL, 0)) {
		close(fd);
		*out = -1;
		return -1;
	}
	*out = fd;
	return 0;
}
