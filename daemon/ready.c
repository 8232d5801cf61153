/*
 * ready.c - readiness and stop notices (see ready.h). The notification
 * socket is a datagram socket: one sendto() per state, from a socket that
 * lives only for that call. Main thread only.
 */
#include "ready.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "logmsg.h"
#include "shmq_err.h"

int ready_fd_check(int fd)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
		return -SHMQ_EINVAL;
	/* the descriptor is for whoever started us, never for a child */
	return fcntl(fd, F_SETFD, FD_CLOEXEC) ? -SHMQ_ESYS : 0;
}

/* $NOTIFY_SOCKET into sa: returns the address length, 0 if unset, -1 if unusable. */
static socklen_t notify_addr(struct sockaddr_un *sa)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;

	if (!name || !name[0])
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa->sun_path)) {
		errno = EINVAL;
		return (socklen_t)-1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, len);
	if (name[0] == '@') /* abstract: a leading NUL, and no terminating one */
		sa->sun_path[0] = 0;
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

int ready_notify(const char *state)
{
	struct sockaddr_un sa;
	socklen_t sa_len = notify_addr(&sa);
	ssize_t n;
	int fd, e;

	if (sa_len == 0)
		return 1;
	if (sa_len == (socklen_t)-1)
		return -SHMQ_EINVAL;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -SHMQ_ESYS;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(state) ? 0 : -SHMQ_ESYS;
}

void ready_announce(int fd, const char *socket_path)
{
	char line[200];
	int n;

	if (fd >= 0) {
		n = snprintf(line, sizeof(line), "ready pid=%d socket=%s\n", (int)getpid(),
			     socket_path);
		if (n < 0 || n >= (int)sizeof(line) || write(fd, line, (size_t)n) != n)
			log_msg(LOG_WARN, "daemon", "cannot write to ready fd=%d: %s", fd,
				strerror(errno));
		close(fd);
	}
	if (ready_notify("READY=1") < 0)
		log_msg(LOG_WARN, "daemon", "cannot notify socket=%s err=%s",
			getenv("NOTIFY_SOCKET"), strerror(errno));
}

void ready_stopping(void)
{
	if (ready_notify("STOPPING=1") < 0)
		log_msg(LOG_WARN, "daemon", "cannot notify socket=%s err=%s",
			getenv("NOTIFY_SOCKET"), strerror(errno));
}
