/*
 * daemon.c - the system tests' fixture (see daemon.h): start and stop a
 * real shmqd in a temporary directory, run the shmq command with pipes,
 * and wait for children with a bound. Failures print why to stderr and
 * return -1; the caller asserts.
 */
#include "daemon.h"

#include <dirent.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t fx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fx_nap_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	rc = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) || rc ? -1 : 0;
}

void daemon_print_log(const struct daemon *d)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- shmqd log (%s) ----\n", d->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of shmqd log ----\n");
	fclose(f);
}

int daemon_log_lines(const struct daemon *d)
{
	FILE *f = fopen(d->log, "r");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static bool socket_accepts(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void exec_daemon(const struct daemon *d, const char *bin)
{
	int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	if (d->has_conf)
		execl(bin, bin, "--socket", d->sock, "--config", d->conf, (char *)NULL);
	else
		execl(bin, bin, "--socket", d->sock, (char *)NULL);
	_exit(127);
}

pid_t daemon_spawn_replace(const struct daemon *d)
{
	const char *bin = getenv("SHMQD");
	pid_t pid;
	int fd;

	fflush(NULL);
	pid = fork();
	if (pid)
		return pid;
	fd = open(d->log, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	execl(bin, bin, "--socket", d->sock, "--replace", (char *)NULL);
	_exit(127);
}

int daemon_restart(struct daemon *d)
{
	const char *bin = getenv("SHMQD");
	int64_t deadline = fx_now_ns() + FX_HANG_NS;

	if (!bin || !bin[0])
		exit(77);
	d->pid = fork();
	if (d->pid < 0) {
		d->pid = 0;
		return -1;
	}
	if (d->pid == 0)
		exec_daemon(d, bin);
	while (fx_now_ns() < deadline) {
		if (!daemon_running(d)) {
			fprintf(stderr, "shmqd exited during start\n");
			daemon_print_log(d);
			return -1;
		}
		if (socket_accepts(d->sock))
			return 0;
		fx_nap_ms(2);
	}
	fprintf(stderr, "shmqd did not accept on %s within %d s\n", d->sock, FX_HANG_S);
	daemon_kill(d);
	daemon_print_log(d);
	return -1;
}

int daemon_start(struct daemon *d, const char *config)
{
	const char *bin = getenv("SHMQD"), *tmp = getenv("TMPDIR");

	if (!bin || !bin[0]) {
		fprintf(stderr, "SHMQD is not set: skipping\n");
		exit(77);
	}
	memset(d, 0, sizeof(*d));
	if (!tmp || !tmp[0] || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/shmq-test.XXXXXX", tmp);
	if (!mkdtemp(d->dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/s", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/shmqd.log", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/shmqd.conf", d->dir);
	if (config) {
		d->has_conf = true;
		if (write_file(d->conf, config)) {
			perror(d->conf);
			return -1;
		}
	}
	return daemon_restart(d);
}

/* The namespace registry.c derives from the socket path (FNV-1a, top 32 bits). */
bool daemon_running(struct daemon *d)
{
	int st;

	if (!d->pid)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		d->pid = 0;
		return false;
	}
	return true;
}

void daemon_kill(struct daemon *d)
{
	if (!d->pid)
		return;
	child_kill(d->pid);
	d->pid = 0;
}

/* True if the log holds needle (a sanitizer's report, say). */
static bool log_has(const struct daemon *d, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int daemon_stop(struct daemon *d)
{
	int st;

	if (!d->pid) {
		fprintf(stderr, "shmqd is not running at stop\n");
		daemon_print_log(d);
		return -1;
	}
	kill(d->pid, SIGTERM);
	st = child_wait(d->pid, FX_HANG_S);
	d->pid = 0;
	if (st != 0) {
		fprintf(stderr, "shmqd stopped with status %d (expected 0)\n", st);
		daemon_print_log(d);
		return -1;
	}
	if (log_has(d, "runtime error") || log_has(d, "Sanitizer")) {
		fprintf(stderr, "shmqd's log has a sanitizer report\n");
		daemon_print_log(d);
		return -1;
	}
	if (access(d->sock, F_OK) == 0 || errno != ENOENT) {
		fprintf(stderr, "shmqd left its socket %s behind\n", d->sock);
		return -1;
	}
	return 0;
}

void daemon_remove(struct daemon *d)
{
	if (!d->dir[0])
		return;
	char keep[sizeof(d->sock) + 8];

	daemon_kill(d);
	unlink(d->sock);
	/* a killed daemon's keeper goes once its socket is gone */
	snprintf(keep, sizeof(keep), "%s.keep", d->sock);
	unlink(keep);
	unlink(d->log);
	if (d->has_conf)
		unlink(d->conf);
	if (rmdir(d->dir))
		fprintf(stderr, "cannot remove %s: %s\n", d->dir, strerror(errno));
	d->dir[0] = 0;
}

int daemon_fd_count(const struct daemon *d)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void children_kill(void);

int daemon_setup(void **state)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d || daemon_start(d, NULL)) {
		if (d)
			daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

int daemon_teardown(void **state)
{
	struct daemon *d = *state;
	int rc;

	children_kill();
	rc = daemon_stop(d);

	daemon_remove(d);
	free(d);
	return rc;
}

/* ---- child processes ---- */

/* Children started and not yet reaped, killed at teardown if a test failed. */
static pid_t children[64];

static void child_forget(pid_t pid)
{
	for (unsigned i = 0; i < 64; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static void children_kill(void)
{
	for (unsigned i = 0; i < 64; i++) {
		if (children[i] > 0) {
			fprintf(stderr, "killing child %d left running\n", (int)children[i]);
			child_kill(children[i]);
		}
	}
}

pid_t child_start(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	for (unsigned i = 0; pid > 0 && i < 64; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			break;
		}
	}
	return pid;
}

int pipe_wait_line(int fd)
{
	char c;

	while (read(fd, &c, 1) == 1)
		if (c == '\n')
			return 0;
	return -1;
}

int child_wait(pid_t pid, int timeout_s)
{
	int64_t deadline = fx_now_ns() + (int64_t)timeout_s * 1000000000;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			child_forget(pid);
			break;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (fx_now_ns() >= deadline) {
			fprintf(stderr, "child %d still running after %d s: killed\n", (int)pid,
				timeout_s);
			child_kill(pid);
			return -1;
		}
		fx_nap_ms(1);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

void child_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	child_forget(pid);
}

int pipe_expect(int fd, const char *want)
{
	char line[64];
	size_t n = 0;
	int64_t deadline = fx_now_ns() + FX_HANG_NS;

	while (n < sizeof(line) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = (deadline - fx_now_ns()) / 1000000;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			fprintf(stderr, "no \"%s\" from the child within %d s\n", want, FX_HANG_S);
			return -1;
		}
		if (read(fd, &line[n], 1) != 1)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	if (strcmp(line, want)) {
		fprintf(stderr, "child said \"%s\", expected \"%s\"\n", line, want);
		return -1;
	}
	return 0;
}

void pipe_say(int fd, const char *line)
{
	size_t n = strlen(line);
	char buf[64];

	snprintf(buf, sizeof(buf), "%s\n", line);
	if (write(fd, buf, n + 1) != (ssize_t)(n + 1))
		_exit(120);
}

/* ---- the shmq command ---- */

void tool_argv(const char *args[TOOL_ARGV_MAX], const char *const argv[])
{
	const char *bin = getenv("SHMQ_TOOL");
	size_t n = 0;

	if (!bin || !bin[0]) {
		fprintf(stderr, "SHMQ_TOOL is not set: skipping\n");
		exit(77);
	}
	args[n++] = bin;
	while (argv[n - 1] && n < TOOL_ARGV_MAX - 1) {
		args[n] = argv[n - 1];
		n++;
	}
	args[n] = NULL;
}

int tool_spawn(struct tool_proc *p, const char *const argv[])
{
	const char *args[TOOL_ARGV_MAX];
	int in[2], out[2], err[2];

	tool_argv(args, argv);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(126);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	return 0;
}

static int drain(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *b;

	if (n <= 0)
		return n == 0 || errno != EINTR ? 1 : 0;
	b = realloc(*buf, *len + (size_t)n + 1);
	if (!b)
		return 1;
	memcpy(b + *len, chunk, (size_t)n);
	*len += (size_t)n;
	b[*len] = 0;
	*buf = b;
	return 0;
}

/* Pump stdin, stdout and stderr until both outputs end or the deadline. */
static int pump(struct tool_proc *p, const char *input, struct tool_result *r)
{
	size_t in_len = input ? strlen(input) : 0, in_off = 0;
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	bool out_open = true, err_open = true;

	if (!in_len) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	while (out_open || err_open) {
		struct pollfd pf[3] = {{.fd = out_open ? p->out_fd : -1, .events = POLLIN},
				       {.fd = err_open ? p->err_fd : -1, .events = POLLIN},
				       {.fd = p->in_fd, .events = POLLOUT}};
		int64_t left = (deadline - fx_now_ns()) / 1000000;

		if (left <= 0)
			return -1;
		if (poll(pf, 3, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pf[0].revents && drain(p->out_fd, &r->out, &r->out_len))
			out_open = false;
		if (pf[1].revents && drain(p->err_fd, &r->err, &r->err_len))
			err_open = false;
		if (pf[2].revents) {
			ssize_t n = write(p->in_fd, input + in_off, in_len - in_off);

			if (n > 0)
				in_off += (size_t)n;
			if (n < 0 || in_off == in_len) {
				close(p->in_fd);
				p->in_fd = -1;
			}
		}
	}
	return 0;
}

int tool_finish(struct tool_proc *p, const char *input, struct tool_result *r)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int hung;

	memset(r, 0, sizeof(*r));
	hung = pump(p, input, r);
	signal(SIGPIPE, old);
	if (p->in_fd >= 0)
		close(p->in_fd);
	close(p->out_fd);
	close(p->err_fd);
	if (!r->out)
		r->out = calloc(1, 1);
	if (!r->err)
		r->err = calloc(1, 1);
	if (hung) {
		fprintf(stderr, "shmq did not finish within %d s: killed\n", FX_HANG_S);
		child_kill(p->pid);
		r->status = -1;
		return -1;
	}
	r->status = child_wait(p->pid, FX_HANG_S);
	return r->status < 0 ? -1 : 0;
}

int tool_run(struct tool_result *r, const char *input, const char *const argv[])
{
	struct tool_proc p;

	if (tool_spawn(&p, argv)) {
		memset(r, 0, sizeof(*r));
		r->status = -1;
		return -1;
	}
	return tool_finish(&p, input, r);
}

void tool_result_free(struct tool_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
