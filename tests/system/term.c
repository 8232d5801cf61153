/*
 * term.c - the shmq command on a pseudo-terminal (see term.h). openpty()
 * gives both sides; the child makes the terminal its controlling one, so
 * that isatty() holds for its stdout exactly as in a user's shell.
 */
#include "term.h"

#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "daemon.h"

int pty_spawn(struct pty_proc *p, const char *const argv[])
{
	const char *args[TOOL_ARGV_MAX];
	struct termios raw;
	int slave;

	tool_argv(args, argv);
	memset(p, 0, sizeof(*p));
	if (openpty(&p->master, &slave, NULL, NULL, NULL))
		return -1;
	tcgetattr(slave, &raw);
	cfmakeraw(&raw);
	tcsetattr(slave, TCSANOW, &raw);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		close(p->master);
		setsid();
		if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
		    dup2(slave, 2) < 0)
			_exit(126);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(slave);
	p->seen = calloc(1, 1);
	return p->seen ? 0 : -1;
}

/* Read what is there within ms; 0, or -1 once the terminal is closed (EIO). */
static int pty_read(struct pty_proc *p, int ms)
{
	struct pollfd pf = {.fd = p->master, .events = POLLIN};
	char chunk[4096], *b;
	ssize_t n;

	if (poll(&pf, 1, ms) <= 0)
		return 0;
	n = read(p->master, chunk, sizeof(chunk));
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return -1; /* EIO: the last holder of the slave side closed it */
	b = realloc(p->seen, p->len + (size_t)n + 1);
	if (!b)
		return -1;
	memcpy(b + p->len, chunk, (size_t)n);
	p->len += (size_t)n;
	b[p->len] = 0;
	p->seen = b;
	return 0;
}

int pty_expect(struct pty_proc *p, const char *text)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;

	while (!strstr(p->seen, text)) {
		if (fx_now_ns() >= deadline || pty_read(p, 50))
			return -1;
	}
	return 0;
}

void pty_read_for(struct pty_proc *p, unsigned ms)
{
	int64_t end = fx_now_ns() + (int64_t)ms * 1000000;

	while (fx_now_ns() < end && !pty_read(p, 10))
		;
}

int pty_finish(struct pty_proc *p)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;

	while (fx_now_ns() < deadline && !pty_read(p, 50))
		;
	return child_wait(p->pid, FX_HANG_S);
}

void pty_free(struct pty_proc *p)
{
	if (p->master > 0)
		close(p->master);
	free(p->seen);
	p->seen = NULL;
}
