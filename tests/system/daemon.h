/*
 * daemon.h - the system tests' fixture: a real shmqd (from $SHMQD) in a
 * fresh temporary directory, the shmq command (from $SHMQ_TOOL) run with
 * its output captured, and bounded waits for child processes. Every wait
 * gives up after FX_HANG_S seconds, so that a bug fails a test instead of
 * hanging it; none of them asserts how fast anything is. A test process
 * without $SHMQD exits 77 (skip). Test processes only, one thread.
 */
#ifndef TEST_SYSTEM_DAEMON_H
#define TEST_SYSTEM_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FX_HANG_S 30
#define FX_HANG_NS ((int64_t)FX_HANG_S * 1000000000)

struct daemon {
	char dir[80];	/* the temporary directory */
	char sock[108]; /* dir/s, the control socket */
	char log[120];	/* dir/shmqd.log, the daemon's stderr */
	char conf[120]; /* dir/shmqd.conf, if a configuration was given */
	bool has_conf;
	pid_t pid; /* 0 when not running */
};

/*
 * Make a temporary directory, write config (if not NULL) there, start
 * shmqd --socket DIR/s [--config DIR/shmqd.conf] and wait until the socket
 * accepts. Returns 0, or -1 after printing why. Exits 77 without $SHMQD.
 */
int daemon_start(struct daemon *d, const char *config);

/* Start shmqd again in the same directory and on the same socket. */
int daemon_restart(struct daemon *d);

/*
 * SIGTERM; check that shmqd exits 0 (LeakSanitizer makes leaks fail
 * here), logged no sanitizer report, removed its socket and left no
 * shared-memory segment behind. Returns 0 or -1 (and prints its log).
 */
int daemon_stop(struct daemon *d);

/*
 * Start shmqd --replace on d's socket, logging into d's log; its pid (the
 * caller reaps it, or makes it d->pid once it serves).
 */
pid_t daemon_spawn_replace(const struct daemon *d);

/* SIGKILL and reap. */
void daemon_kill(struct daemon *d);

/* True while shmqd has not exited (reaps it if it has). */
bool daemon_running(struct daemon *d);

/* Stop it if running and remove its directory. */
void daemon_remove(struct daemon *d);

/* Descriptors shmqd has open now (/proc/PID/fd), or -1. */
int daemon_fd_count(const struct daemon *d);

void daemon_print_log(const struct daemon *d);

/* Lines shmqd has written to its log so far. */
int daemon_log_lines(const struct daemon *d);

/* cmocka setup/teardown that start and stop a daemon in *state. */
int daemon_setup(void **state);
int daemon_teardown(void **state);

/* ---- the shmq command ---- */

struct tool_proc {
	pid_t pid;
	int in_fd;
	int out_fd;
	int err_fd;
};

struct tool_result {
	int status; /* exit status; 128 + signal; -1 when it hung and was killed */
	char *out;  /* NUL-terminated stdout */
	size_t out_len;
	char *err; /* NUL-terminated stderr */
	size_t err_len;
};

#define TOOL_ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Start $SHMQ_TOOL with argv (without the program name), pipes on 0, 1, 2. */
#define TOOL_ARGV_MAX 64

/* args = $SHMQ_TOOL, then argv (NULL-terminated); exits 77 if SHMQ_TOOL is unset. */
void tool_argv(const char *args[TOOL_ARGV_MAX], const char *const argv[]);

int tool_spawn(struct tool_proc *p, const char *const argv[]);

/* Feed input (NULL: none) to stdin, close it, collect output and status. */
int tool_finish(struct tool_proc *p, const char *input, struct tool_result *r);

/* tool_spawn + tool_finish. */
int tool_run(struct tool_result *r, const char *input, const char *const argv[]);

void tool_result_free(struct tool_result *r);

/* ---- child processes ---- */

/*
 * fork(); the child runs fn(arg) and _exits with what it returns (no
 * cmocka there). daemon_teardown() kills children a failed test left.
 */
pid_t child_start(int (*fn)(void *arg), void *arg);

/* Wait for pid: its exit status, 128 + signal, or -1 (then it was killed) after timeout_s. */
int child_wait(pid_t pid, int timeout_s);

/* SIGKILL pid and reap it. */
void child_kill(pid_t pid);

/*
 * Read one line ("claimed\n") from a child's pipe, waiting at most
 * FX_HANG_S; 0 if it equals want, -1 on timeout, EOF or another line.
 */
int pipe_expect(int fd, const char *want);

/* In a child: block until one line arrives on fd (reads it byte by byte). */
int pipe_wait_line(int fd);

/* Write one line into a pipe (in a child: errors make it _exit). */
void pipe_say(int fd, const char *line);

/* Monotonic clock in ns. */
int64_t fx_now_ns(void);

/* Sleep about ms milliseconds (between polls of a bounded wait). */
void fx_nap_ms(unsigned ms);

#endif
