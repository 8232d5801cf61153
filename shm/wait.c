/*
 * wait.c - futex, event fd and clock helpers (see wait.h). One of the two
 * files of shm/ that make system calls; the other is map.c.
 */
#include "wait.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shmq_err.h"

uint64_t wait_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wait_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int wait_futex(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	long rc;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0);
	if (rc == 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case EINTR:
		return 0;
	case ETIMEDOUT:
		return -SHMQ_ETIMEDOUT;
	default:
		return -SHMQ_ESYS;
	}
}

void wait_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void wait_yield(void)
{
	sched_yield();
}

void wait_efd_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so it is readable anyway */
	}
}

void wait_efd_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
}

/*
 * Whether the kernel offers both commands; 0 unknown, 1 yes, 2 no. Asked
 * once per process: relaxed, a cache of an idempotent system call's answer.
 */
static bool membarrier_usable(void)
{
	static _Atomic int usable;
	int st = atomic_load_explicit(&usable, memory_order_relaxed);

	if (st == 0) {
		long mask = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
		int want = MEMBARRIER_CMD_GLOBAL_EXPEDITED |
			   MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;

		st = mask >= 0 && (mask & want) == want ? 1 : 2;
		atomic_store_explicit(&usable, st, memory_order_relaxed);
	}
	return st == 1;
}

bool wait_membarrier_register(void)
{
	/* registering again is harmless: no cache of our own */
	return membarrier_usable() &&
	       !syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0);
}

bool wait_membarrier(void)
{
	return membarrier_usable() &&
	       syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0;
}

void wait_tsc_sample(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	/* the pair whose clock read sat between the closest counter reads */
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = wait_tsc(), n = wait_realtime_ns(), t1 = wait_tsc();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}
