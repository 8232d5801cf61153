/*
 * server.c - the third-party servers that durability baselines run
 * privately (redis-server, nats-server): each is exec'd from PATH in a
 * directory of the scenario's own, on any CPU (shmqd, which it stands in
 * for, is not pinned either), with its output
 * in a log file there, and killed by the kernel if the benchmark dies
 * (PR_SET_PDEATHSIG). A server missing from PATH makes its scenario
 * "skipped" with the package to install; one that exits or never answers
 * fails it, quoting the last line of its log. Called by the runner's
 * (single-threaded) process only.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER_START_POLLS 2000 /* x 10 ms */
#define SERVER_STOP_POLLS 1000	/* x 10 ms, then SIGKILL */
#define SERVER_NOT_FOUND 127	/* the child's exit when exec fails */

int bench_mkdir(char *out, size_t len, const char *dir, const char *name, char *reason)
{
	int n = snprintf(out, len, "%s/%s.%d", dir, name, (int)getpid());

	if (n < 0 || (size_t)n >= len)
		return bench_fail(reason, -ENAMETOOLONG, "path too long: %s/%s", dir, name);
	if (mkdir(out, 0700) && errno != EEXIST)
		return bench_fail(reason, -errno, "mkdir %s: %s", out, strerror(errno));
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bench_rmtree(const char *path)
{
	nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int unix_accepts(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd, ok;

	if (strlen(path) >= sizeof(a.sun_path))
		return 0;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = !connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ok;
}

/* The last non-empty line of the log, for a failure's reason. */
static const char *log_tail(const char *log, char *buf, size_t len)
{
	char line[96];
	FILE *f = fopen(log, "r");

	snprintf(buf, len, "no output");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	if (f)
		fclose(f);
	return buf;
}

/* In the child: free of the parent's CPU pinning, as shmqd is. */
static void server_exec(char *const argv[], const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cpu_set_t all;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execvp(argv[0], argv);
	_exit(SERVER_NOT_FOUND);
}

/* The child has exited: why, as the scenario's result. */
static int server_exited(struct server *s, const char *name, int status, const char *hint,
			 char *reason)
{
	char tail[96];

	s->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == SERVER_NOT_FOUND)
		return bench_fail(reason, BENCH_SKIP, "%s not found on PATH (install %s)", name,
				  hint);
	return bench_fail(reason, -EIO, "%s exited at start: %s", name,
			  log_tail(s->log, tail, sizeof(tail)));
}

int server_start(struct server *s, char *const argv[], const char *log, const char *install_hint,
		 server_ready_fn ready, void *arg, char *reason)
{
	char tail[96];
	int status, i;

	snprintf(s->log, sizeof(s->log), "%s", log);
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		s->pid = 0;
		return bench_fail(reason, -errno, "fork: %s", strerror(errno));
	}
	if (s->pid == 0)
		server_exec(argv, log);
	for (i = 0; i < SERVER_START_POLLS; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			return server_exited(s, argv[0], status, install_hint, reason);
		if (ready(arg))
			return 0;
		usleep(10000);
	}
	server_stop(s);
	return bench_fail(reason, -ETIMEDOUT, "%s did not answer in %d s: %s", argv[0],
			  SERVER_START_POLLS / 100, log_tail(log, tail, sizeof(tail)));
}

void server_stop(struct server *s)
{
	int status, i;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (i = 0; i < SERVER_STOP_POLLS; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			break;
		usleep(10000);
	}
	if (i == SERVER_STOP_POLLS) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = 0;
}
