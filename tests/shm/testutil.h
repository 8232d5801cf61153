/*
 * testutil.h - helpers shared by the tests of shm/: a seeded generator,
 * monotonic deadlines for hang detectors, child processes that die with
 * their parent, reaping, and the daemon's pid liveness check. Test code only.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wait.h"

/* A generous bound: only ever hit when something hangs. */
#define HANG_NS (30ull * 1000000000ull)

static inline uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* Sleep about us microseconds; the tests never depend on how long. */
static inline void nap_us(unsigned us)
{
	usleep(us);
}

/*
 * fork() a child that is SIGKILLed if the test process dies. The child runs
 * fn(arg) and _exit()s with its return value; it never returns into cmocka.
 */
static inline pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(99);
	_exit(fn(arg));
}

/* SIGKILL and reap a child; returns its wait status. */
static inline int kill_reap(pid_t pid)
{
	int status = 0;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* Reap a child; its exit code, or 128 + the signal that ended it. */
static inline int status_of(pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* log_pid_alive_fn as the daemon's: a reaped pid no longer exists. */
static inline bool pid_alive(uint32_t pid, void *arg)
{
	(void)arg;
	if (pid == 0)
		return true;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

#endif
