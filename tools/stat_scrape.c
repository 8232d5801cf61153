/*
 * stat_scrape.c - one Prometheus snapshot for shmq-stat --listen, taken in
 * a child process: as the peer's uid when the peer is another user (the
 * daemon then shows it what `shmq ls` shows it), with a fresh connection
 * and monitors, so that nothing a channel's memory holds can stop the
 * exporter and no scrape waits for another. A channel that cannot be read
 * is a labelled error in the output, the others are served. The child
 * writes the exposition into a pipe and exits; the caller waits for it
 * SCRAPE_DEADLINE_MS at most, then kills it. Callable from any thread:
 * between fork() and exit the child runs only this file's code.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stat.h"

#define SCRAPE_DEADLINE_MS 10000
#define SCRAPE_FD 3 /* the pipe, in the child */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: become the peer, take the snapshot, print it to SCRAPE_FD. */
static void scrape_child(int wfd, const char *socket_path, const char *pattern,
			 const struct stat_uid *as)
{
	struct stat_state s;
	FILE *f;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(wfd, SCRAPE_FD) != SCRAPE_FD)
		_exit(3);
	close_range(SCRAPE_FD + 1, ~0u, 0); /* the exporter's connections are not ours */
	if (as && (setgroups(0, NULL) || setgid(as->gid) || setuid(as->uid)))
		_exit(3);
	f = fdopen(SCRAPE_FD, "w");
	if (!f || stat_init(&s, socket_path, pattern))
		_exit(3);
	stat_refresh(&s);
	stat_sort(&s, SORT_NAME);
	stat_print_prometheus(f, &s);
	_exit(fclose(f) ? 3 : 0);
}

/* Read the child's output until it closes the pipe or the deadline passes. */
static int read_body(int fd, char **body, size_t *len, int64_t deadline)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *grown;

	while (buf) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t got;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		if (got == 0) {
			*body = buf;
			*len = n;
			return 0;
		}
		n += (size_t)got;
		if (n < cap)
			continue;
		grown = realloc(buf, cap * 2);
		if (!grown)
			break;
		buf = grown;
		cap *= 2;
	}
	free(buf);
	return -1;
}

int scrape_run(const char *socket_path, const char *pattern, const struct stat_uid *as, char **body,
	       size_t *len)
{
	int p[2], status, err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0)
		scrape_child(p[1], socket_path, pattern, as);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	err = read_body(p[0], body, len, mono_ms() + SCRAPE_DEADLINE_MS);
	close(p[0]);
	if (err)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		free(*body);
		err = -1;
	}
	return err;
}
