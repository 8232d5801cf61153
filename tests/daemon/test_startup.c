/*
 * test_startup.c - how shmqd starts and says it is ready, run against the
 * real binary ($SHMQD) in a fresh temporary directory: --ready-fd,
 * --background, --check-config's exit status, and socket activation done
 * exactly as systemd does it (a listening socket at descriptor 3,
 * LISTEN_FDS=1, LISTEN_PID=the child's pid, and a NOTIFY_SOCKET datagram
 * socket that must receive READY=1 and STOPPING=1). Exits 77 without
 * $SHMQD. Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmq.h"

#define HANG_MS 30000

static const char *shmqd;
static char dir[64];

static void path_in_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq-startup.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* In a child: fd at number to, inherited across exec. */
static int move_fd(int fd, int to)
{
	if (fd == to)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, to) == to ? 0 : -1;
}

/* Exit status of pid (128 + signal if killed), SIGKILL after HANG_MS. */
static int wait_exit(pid_t pid)
{
	int st;

	for (int ms = 0; ms < HANG_MS; ms += 5) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Read what arrives on fd until EOF or HANG_MS, into buf (NUL-terminated). */
static size_t read_all(int fd, char *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t n = 1;

	while (n > 0 && got < len - 1 && poll(&pfd, 1, HANG_MS) == 1) {
		n = read(fd, buf + got, len - 1 - got);
		got += n > 0 ? (size_t)n : 0;
	}
	buf[got] = 0;
	return got;
}

/* One datagram from fd within HANG_MS, as a string. */
static void recv_state(int fd, char *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t n = -1;

	if (poll(&pfd, 1, HANG_MS) == 1)
		n = recv(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = 0;
}

static int unix_socket(int type, const char *path, int abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (!path)
		return fd;
	snprintf(sa.sun_path + (abstract ? 1 : 0), sizeof(sa.sun_path) - 1, "%s", path);
	if (abstract)
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

/* A client connects to path and moves one message through a new channel. */
static void client_round_trip(const char *path)
{
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_connect(path, &c), 0);
	assert_int_equal(shmq_channel_create(c, "startup.check", NULL), 0);
	assert_int_equal(shmq_sub_open(c, "startup.check", NULL, &s), 0);
	assert_int_equal(shmq_pub_open(c, "startup.check", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, "hello", 5, -1, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, (int64_t)HANG_MS * 1000000), 0);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * Start shmqd as systemd would: sock at descriptor 3, LISTEN_PID the
 * child's own pid (pid_env 0) or pid_env, NOTIFY_SOCKET notify (or unset).
 * stderr goes to dir/log.
 */
static pid_t spawn_activated(int sock, const char *notify, pid_t pid_env, char *const argv[])
{
	pid_t pid = fork();
	char log[96], num[24];
	int fd;

	assert_true(pid >= 0);
	if (pid)
		return pid;
	if (sock >= 0 && (sock = fcntl(sock, F_DUPFD_CLOEXEC, 10)) < 0)
		_exit(126);
	path_in_dir(log, sizeof(log), "log");
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || move_fd(fd, 2) || (sock >= 0 && move_fd(sock, 3)))
		_exit(126);
	snprintf(num, sizeof(num), "%d", (int)(pid_env ? pid_env : getpid()));
	setenv("LISTEN_PID", num, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "shmqd.socket", 1);
	if (notify)
		setenv("NOTIFY_SOCKET", notify, 1);
	execv(shmqd, argv);
	_exit(127);
}

/* The daemon's log so far, up to len - 1 bytes, as a string. */
static void log_read(char *buf, size_t len)
{
	char path[96];
	ssize_t n = -1;
	int fd;

	path_in_dir(path, sizeof(path), "log");
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
}

static bool log_has(const char *needle)
{
	char buf[8192];

	log_read(buf, sizeof(buf));
	if (!strstr(buf, needle))
		fprintf(stderr, "log lacks \"%s\":\n%s\n", needle, buf);
	return strstr(buf, needle) != NULL;
}

static void activated_serves(const char *notify_name, int abstract)
{
	char sock_path[96], notify_path[96], notify_env[100], state[64];
	char *argv[] = {"shmqd", NULL};
	int lfd, nfd;
	pid_t pid;
	struct stat st;

	path_in_dir(sock_path, sizeof(sock_path), "shmqd.sock");
	path_in_dir(notify_path, sizeof(notify_path), notify_name);
	lfd = unix_socket(SOCK_SEQPACKET, sock_path, 0);
	assert_int_equal(listen(lfd, 16), 0);
	nfd = unix_socket(SOCK_DGRAM, abstract ? notify_path + 1 : notify_path, abstract);
	snprintf(notify_env, sizeof(notify_env), "%s%s", abstract ? "@" : "",
		 abstract ? notify_path + 1 : notify_path);
	pid = spawn_activated(lfd, notify_env, 0, argv);
	close(lfd);
	recv_state(nfd, state, sizeof(state));
	assert_string_equal(state, "READY=1");
	client_round_trip(sock_path);
	kill(pid, SIGTERM);
	recv_state(nfd, state, sizeof(state));
	assert_string_equal(state, "STOPPING=1");
	assert_int_equal(wait_exit(pid), 0);
	close(nfd);
	/* the socket belongs to the service manager: still there */
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_true(log_has("activated=1"));
}

static void test_activated_socket_serves_and_notify_path_socket(void **state)
{
	(void)state;
	activated_serves("notify", 0);
}

static void test_activated_socket_serves_and_notify_abstract_socket(void **state)
{
	char name[64];

	(void)state;
	snprintf(name, sizeof(name), "shmq-test-notify-%d", (int)getpid());
	activated_serves(name, 1);
}

static void refused(int sock, const char *why)
{
	char *argv[] = {"shmqd", "--socket", "/nonexistent/never-bound", NULL};
	pid_t pid = spawn_activated(sock, NULL, 0, argv);

	close(sock);
	assert_int_equal(wait_exit(pid), 1);
	assert_true(log_has("refusing the socket passed as descriptor 3"));
	assert_true(log_has(why));
}

static void test_activation_refuses_a_stream_socket(void **state)
{
	char path[96];
	int fd;

	(void)state;
	path_in_dir(path, sizeof(path), "stream.sock");
	fd = unix_socket(SOCK_STREAM, path, 0);
	assert_int_equal(listen(fd, 1), 0);
	refused(fd, "not a SOCK_SEQPACKET socket");
}

static void test_activation_refuses_a_socket_that_does_not_listen(void **state)
{
	(void)state;
	refused(unix_socket(SOCK_SEQPACKET, NULL, 0), "not listening");
}

static void test_activation_refuses_a_file(void **state)
{
	char path[96];

	(void)state;
	path_in_dir(path, sizeof(path), "file");
	refused(open(path, O_RDWR | O_CREAT, 0600), "not a socket");
}

static void test_activation_for_another_pid_is_ignored(void **state)
{
	char sock_path[96], log_want[140], buf[8192];
	char *argv[] = {"shmqd", "--socket", sock_path, NULL};
	pid_t pid;

	(void)state;
	path_in_dir(sock_path, sizeof(sock_path), "own.sock");
	pid = spawn_activated(-1, NULL, 1, argv); /* LISTEN_PID=1: not for shmqd */
	/* the path exists from bind(); the line comes after listen() */
	snprintf(log_want, sizeof(log_want), "listening socket=%s pid", sock_path);
	for (int ms = 0; ms < HANG_MS; ms += 5) {
		log_read(buf, sizeof(buf));
		if (strstr(buf, log_want))
			break;
		usleep(5000);
	}
	client_round_trip(sock_path);
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid), 0);
	assert_true(log_has(log_want));
	assert_int_equal(access(sock_path, F_OK), -1); /* its own socket: removed */
}

static void test_ready_fd_gets_one_line_once_listening(void **state)
{
	char sock_path[96], buf[256];
	int p[2];
	pid_t pid;

	(void)state;
	path_in_dir(sock_path, sizeof(sock_path), "ready.sock");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (move_fd(p[1], 5))
			_exit(126);
		execl(shmqd, "shmqd", "--quiet", "--socket", sock_path, "--ready-fd", "5",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* EOF follows the line: shmqd closed the descriptor */
	read_all(p[0], buf, sizeof(buf));
	close(p[0]);
	assert_true(strncmp(buf, "ready pid=", 10) == 0);
	assert_non_null(strstr(buf, sock_path));
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	client_round_trip(sock_path); /* no wait: it listens already */
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid), 0);
}

/* Run shmqd with args; its stdout into out; returns its exit status. */
static int run_shmqd(char *out, size_t len, const char *const args[])
{
	const char *argv[16] = {"shmqd"};
	int p[2], st;
	pid_t pid;

	for (int i = 0; args[i]; i++)
		argv[i + 1] = args[i];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (move_fd(p[1], 1))
			_exit(126);
		execv(shmqd, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	read_all(p[0], out, len);
	close(p[0]);
	st = wait_exit(pid);
	return st;
}

static void test_background_returns_once_listening_and_prints_pid(void **state)
{
	char sock_path[96], out[64];
	pid_t pid;

	(void)state;
	path_in_dir(sock_path, sizeof(sock_path), "bg.sock");
	assert_int_equal(run_shmqd(out, sizeof(out),
				   (const char *const[]){"--quiet", "--socket", sock_path,
							 "--background", NULL}),
			 0);
	pid = (pid_t)atoi(out);
	assert_true(pid > 1);
	client_round_trip(sock_path);
	assert_int_equal(kill(pid, SIGTERM), 0);
	for (int ms = 0; ms < HANG_MS && kill(pid, 0) == 0; ms += 5)
		usleep(5000);
	assert_int_equal(kill(pid, 0), -1);
}

static void test_background_fails_when_the_daemon_cannot_start(void **state)
{
	char file[96], out[64];

	(void)state;
	path_in_dir(file, sizeof(file), "not-a-socket");
	close(open(file, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    run_shmqd(out, sizeof(out),
		      (const char *const[]){"--quiet", "--socket", file, "--background", NULL}),
	    1);
	assert_string_equal(out, "");
}

static void test_check_config_exit_status(void **state)
{
	char conf[96], out[256];
	FILE *f;

	(void)state;
	path_in_dir(conf, sizeof(conf), "c.conf");
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs("[channel a]   # one channel\ncapacity = 1T\n", f);
	fclose(f);
	assert_int_equal(run_shmqd(out, sizeof(out),
				   (const char *const[]){"--check-config", "--config", conf, NULL}),
			 0);
	assert_non_null(strstr(out, "ok: 1 channel(s)"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
	f = fopen(conf, "a");
	fputs("[channel a]\n", f);
	fclose(f);
	assert_int_equal(run_shmqd(out, sizeof(out),
				   (const char *const[]){"--check-config", "--config", conf, NULL}),
			 2);
	assert_int_equal(run_shmqd(out, sizeof(out),
				   (const char *const[]){"--check-config", "--config",
							 "/nonexistent.conf", NULL}),
			 2);
}

static void test_version(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(run_shmqd(out, sizeof(out), (const char *const[]){"--version", NULL}), 0);
	assert_true(strncmp(out, "shmqd ", 6) == 0);
}

/*
 * In a child running as nobody without XDG_RUNTIME_DIR: shmqd makes
 * /tmp/shmq-UID 0700 and listens there, a client finds it by default, and
 * both refuse the directory once others may enter it. Returns the step
 * that failed, 0 if none.
 */
static int default_socket_as_user(void)
{
	struct shmq_client *c;
	struct stat st;
	char tmp_dir[64], path[108], line[256];
	int p[2], err, rc;
	pid_t pid;

	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("SHMQ_SOCKET");
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/shmq-%u", (unsigned)geteuid());
	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		if (move_fd(p[1], 5) == 0)
			execl(shmqd, "shmqd", "--quiet", "--ready-fd", "5", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	read_all(p[0], line, sizeof(line));
	snprintf(path, sizeof(path), "%s/shmqd.sock", tmp_dir);
	if (!strstr(line, path))
		return 2;
	if (lstat(tmp_dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 0777) != 0700)
		return 3;
	if (shmq_connect(NULL, &c))
		return 4;
	shmq_disconnect(c);
	kill(pid, SIGTERM);
	if (wait_exit(pid) != 0)
		return 5;
	chmod(tmp_dir, 0755);
	err = shmq_socket_path(NULL, path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		execl(shmqd, "shmqd", "--quiet", (char *)NULL);
		_exit(127);
	}
	rc = wait_exit(pid);
	chmod(tmp_dir, 0700);
	rmdir(tmp_dir); /* fails, harmlessly, if a real daemon of nobody uses it */
	return err != -SHMQ_EPERM ? 6 : rc != 1 ? 7 : 0;
}

/* Copy the file src to dst, made with mode; 0 or -1. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out, err = 0;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while (!err && (n = read(in, buf, sizeof(buf))) > 0)
		err = write(out, buf, (size_t)n) != n;
	if (n < 0 || fchmod(out, mode))
		err = 1;
	close(in);
	return close(out) || err ? -1 : 0;
}

/*
 * The build tree may sit where nobody cannot enter (a clone in a 0700
 * folder), so the child runs a copy of shmqd in the fresh directory, made
 * reachable by all. A /tmp mounted noexec skips the test.
 */
static void test_default_socket_without_runtime_dir_is_private_in_tmp(void **state)
{
	static char bin[96];
	pid_t pid;
	int rc;

	(void)state;
	if (geteuid() != 0)
		skip(); /* as a user it would be that user's real /tmp/shmq-UID */
	path_in_dir(bin, sizeof(bin), "shmqd");
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(copy_file(shmqd, bin, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(100);
		if (access(bin, X_OK))
			_exit(77);
		shmqd = bin;
		_exit(default_socket_as_user());
	}
	rc = wait_exit(pid);
	if (rc == 77) {
		fprintf(stderr, "uid 65534 cannot execute %s (noexec?): skipping\n", bin);
		skip();
	}
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_activated_socket_serves_and_notify_path_socket,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activated_socket_serves_and_notify_abstract_socket,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activation_refuses_a_stream_socket, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_activation_refuses_a_socket_that_does_not_listen,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activation_refuses_a_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activation_for_another_pid_is_ignored, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ready_fd_gets_one_line_once_listening, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_background_returns_once_listening_and_prints_pid,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_background_fails_when_the_daemon_cannot_start,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_config_exit_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_default_socket_without_runtime_dir_is_private_in_tmp, setup, teardown),
	};

	shmqd = getenv("SHMQD");
	if (!shmqd || !shmqd[0]) {
		fprintf(stderr, "SHMQD is not set: skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
