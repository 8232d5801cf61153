/*
 * activation.c - take the listening socket a service manager passed (see
 * activation.h). Checked before it is trusted: a socket (fstat), of the
 * AF_UNIX family and SOCK_SEQPACKET type, listening (getsockopt). Main
 * thread, at start.
 */
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shmq_err.h"

/* A decimal environment variable, or -1 when unset or not a number. */
static long env_number(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !s[0])
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < 0 ? -1 : v;
}

static int sockopt(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, opt, &v, &len) ? -1 : v;
}

static const char *unfit_why(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return "it is not an open descriptor";
	if (!S_ISSOCK(st.st_mode))
		return "it is not a socket";
	if (sockopt(fd, SO_DOMAIN) != AF_UNIX)
		return "it is not an AF_UNIX socket";
	if (sockopt(fd, SO_TYPE) != SOCK_SEQPACKET)
		return "it is not a SOCK_SEQPACKET socket (ListenSequentialPacket=)";
	if (sockopt(fd, SO_ACCEPTCONN) != 1)
		return "it is not listening";
	return NULL;
}

static void bound_path(int fd, char *path, size_t path_len)
{
	struct sockaddr_un sa = {0};
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0])
		snprintf(path, path_len, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
	else /* unnamed or abstract: say where it came from */
		snprintf(path, path_len, "(descriptor %d)", fd);
}

int activation_take(char *path, size_t path_len, char *err, size_t err_len)
{
	long pid = env_number("LISTEN_PID"), nfds = env_number("LISTEN_FDS");
	const char *why;

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid != (long)getpid() || nfds < 1)
		return 0;
	why = unfit_why(ACTIVATION_FD);
	if (why) {
		snprintf(err, err_len, "refusing the socket passed as descriptor %d: %s",
			 ACTIVATION_FD, why);
		return -SHMQ_EINVAL;
	}
	fcntl(ACTIVATION_FD, F_SETFD, FD_CLOEXEC);
	bound_path(ACTIVATION_FD, path, path_len);
	return 1;
}
