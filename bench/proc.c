/*
 * proc.c - process plumbing for scenarios: anonymous shared mappings and a
 * transport's memory (bench_mem), fork with CPU pinning, a start barrier in
 * shared memory, a watchdog, and full reads and writes on descriptors.
 *
 * Called by the runner's (single-threaded) process only. Children are killed
 * by the kernel if the parent dies (PR_SET_PDEATHSIG) and leave with _exit(),
 * so they never flush the parent's stdio buffers or run its atexit handlers.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t proc_pids[BENCH_MAX_SUBS];
static volatile sig_atomic_t proc_npids;

void *shm_anon(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void shm_anon_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

int bench_fail(char *reason, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, BENCH_REASON_LEN, fmt, ap);
	va_end(ap);
	return err;
}

int proc_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int bench_mem_alloc(struct bench_mem *m, size_t hdr_bytes, size_t data_bytes, uint32_t msg_bytes,
		    char *reason)
{
	m->map_bytes = round_up64(hdr_bytes) + data_bytes;
	m->hdr = shm_anon(m->map_bytes);
	m->data = m->hdr ? (uint8_t *)m->hdr + round_up64(hdr_bytes) : NULL;
	m->buf = calloc(1, msg_bytes);
	if (!m->hdr || !m->buf)
		return bench_fail(reason, -ENOMEM, "out of memory");
	return 0;
}

void bench_mem_free(struct bench_mem *m)
{
	free(m->buf);
	shm_anon_free(m->hdr, m->map_bytes);
	*m = (struct bench_mem){0};
}

/* Spin until *word >= want, yielding now and then: the children may share one CPU. */
static void proc_wait_at_least(_Atomic uint32_t *word, uint32_t want)
{
	unsigned spins = 0;

	/* Acquire; pairs with the release store or fetch_add of word in
	 * proc_child_ready() or proc_parent_go(), so what the other side set up
	 * before it is visible. */
	while (atomic_load_explicit(word, memory_order_acquire) < want) {
		cpu_relax();
		if (++spins % 1024 == 0)
			sched_yield();
	}
}

void proc_child_ready(struct proc_sync *s)
{
	/* Release: whatever the child set up before is visible to the parent.
	 * Pairs with the acquire load of ready in proc_wait_at_least(). */
	atomic_fetch_add_explicit(&s->ready, 1, memory_order_release);
	proc_wait_at_least(&s->go, 1);
}

void proc_parent_go(struct proc_sync *s, unsigned n)
{
	proc_wait_at_least(&s->ready, n);
	/* Release; pairs with the acquire load of go in proc_wait_at_least(). */
	atomic_store_explicit(&s->go, 1, memory_order_release);
}

static volatile sig_atomic_t proc_late_pid; /* the isolated group, killed when late */
static volatile sig_atomic_t proc_late;

static void proc_deadline_fire(int sig)
{
	(void)sig;
	proc_late = 1;
	kill(-(pid_t)proc_late_pid, SIGKILL); /* the waitpid() in proc_isolate() then returns */
}

/* Why pid, a process of its own group, ended with status; 0 if it exited with 0. */
static int proc_why(int status, char *reason)
{
	if (WIFSIGNALED(status))
		return bench_fail(reason, -ECHILD, "killed by signal %d: %s", WTERMSIG(status),
				  strsignal(WTERMSIG(status)));
	if (WEXITSTATUS(status))
		return bench_fail(reason, -ECHILD, "exited with status %d", WEXITSTATUS(status));
	return 0;
}

int proc_isolate(unsigned deadline_s, int (*fn)(void *arg), void *arg, int *ret, char *reason)
{
	struct sigaction sa = {.sa_handler = proc_deadline_fire}, old;
	int status = 0, *shared = shm_anon(sizeof(int)), err;
	pid_t pid, r;

	if (!shared)
		return bench_fail(reason, -ENOMEM, "out of memory");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = bench_fail(reason, -errno, "fork: %s", strerror(errno));
		goto out_free;
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		*shared = fn(arg);
		fflush(NULL);
		_exit(0);
	}
	setpgid(pid, pid); /* also here, before anything may kill the group */
	proc_late_pid = pid;
	proc_late = 0;
	sigaction(SIGALRM, &sa, &old);
	alarm(deadline_s);
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	if (proc_late)
		err = bench_fail(reason, -ETIMEDOUT, "overran its deadline of %u s, killed",
				 deadline_s);
	else if (r != pid)
		err = bench_fail(reason, -ECHILD, "waitpid: %s", strerror(errno));
	else
		err = proc_why(status, reason);
	kill(-pid, SIGKILL); /* whatever it left behind */
	*ret = *shared;
out_free:
	shm_anon_free(shared, sizeof(int));
	return err;
}

static void proc_child_main(const struct bench_cfg *cfg, proc_child_fn child, void *arg,
			    unsigned idx)
{
	int err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	err = proc_pin(cfg->cpu[1]);
	if (err) {
		fprintf(stderr, "shmq-bench: pin to CPU %d: %s\n", cfg->cpu[1], strerror(-err));
		_exit(1);
	}
	err = child(arg, idx);
	fflush(stderr);
	_exit(err ? 1 : 0);
}

/* Wait for every child; 0 if all exited with 0. reason NULL: failures are expected. */
static int proc_reap(char *reason)
{
	int status, err = 0;
	sig_atomic_t i;

	for (i = 0; i < proc_npids; i++) {
		status = 0;
		while (waitpid(proc_pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (err || !reason || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
			continue;
		if (WIFSIGNALED(status))
			err = bench_fail(reason, -ECHILD, "peer process killed by signal %d",
					 WTERMSIG(status));
		else
			err = bench_fail(reason, -ECHILD, "peer process failed (exit %d)",
					 WEXITSTATUS(status));
	}
	proc_npids = 0;
	return err;
}

int proc_run(const struct bench_cfg *cfg, unsigned nchildren, proc_child_fn child,
	     proc_parent_fn parent, void *arg, char *reason)
{
	cpu_set_t saved;
	int err, perr;
	pid_t pid;

	if (nchildren > BENCH_MAX_SUBS)
		return bench_fail(reason, -EINVAL, "too many children (%u)", nchildren);
	if (sched_getaffinity(0, sizeof(saved), &saved))
		return bench_fail(reason, -errno, "sched_getaffinity: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	for (proc_npids = 0; proc_npids < (sig_atomic_t)nchildren; proc_npids++) {
		pid = fork();
		if (pid < 0) {
			perr = bench_fail(reason, -errno, "fork: %s", strerror(errno));
			goto out_kill;
		}
		if (pid == 0)
			proc_child_main(cfg, child, arg, (unsigned)proc_npids);
		proc_pids[proc_npids] = pid;
	}
	err = proc_pin(cfg->cpu[0]);
	if (err) {
		perr = bench_fail(reason, err, "pin to CPU %d: %s", cfg->cpu[0], strerror(-err));
		goto out_kill;
	}
	perr = parent(arg);
	if (perr)
		goto out_kill;
	err = proc_reap(reason);
	sched_setaffinity(0, sizeof(saved), &saved);
	return err;

out_kill:
	for (sig_atomic_t i = 0; i < proc_npids; i++)
		kill(proc_pids[i], SIGKILL);
	proc_reap(NULL);
	sched_setaffinity(0, sizeof(saved), &saved);
	return perr;
}

/* Move all len bytes; writing is a constant at each call, so this folds away. */
static inline __attribute__((always_inline)) int fd_move_all(int fd, char *p, size_t len,
							     int writing)
{
	ssize_t n;

	while (len) {
		n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	return fd_move_all(fd, (char *)buf, len, 1);
}

int fd_read_all(int fd, void *buf, size_t len)
{
	return fd_move_all(fd, buf, len, 0);
}
