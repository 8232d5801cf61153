/*
 * wait.c - futex, event fd and clock helpers (see wait.h). One of the two
 * files of shm/ that make system calls; the other is map.c.
 */
#include "wait.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
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

#define DRAIN_BATCH 16 /* datagrams one recvmmsg() takes */
#define DRAIN_CALLS 4  /* recvmmsg() calls per drain: honest wakers queue a few */

int wait_fd_create(int *reader_fd, int *waker_fd)
{
	int sv[2];

	/* non-blocking too, though every call here says MSG_DONTWAIT: a
	 * library that read() the descriptor must not block either */
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*reader_fd = sv[0];
	*waker_fd = sv[1];
	return 0;
}

bool wait_fd_is_wake(int fd)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX)
		return false;
	len = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
}

void wait_fd_signal(int waker_fd)
{
	char one = 1;

	/* MSG_NOSIGNAL: a waker end shut down by a holder says EPIPE, no signal */
	if (send(waker_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* EAGAIN: the queue is full, so the reader's end is readable */
	}
}

void wait_fd_drain(int reader_fd)
{
	struct mmsghdr msgs[DRAIN_BATCH];
	char sink[DRAIN_BATCH];
	struct iovec iov[DRAIN_BATCH];

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < DRAIN_BATCH; i++) {
		iov[i] = (struct iovec){.iov_base = &sink[i], .iov_len = 1};
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* bounded: a peer that sends as fast as we drain costs us a few
	 * calls, then it stays readable and the caller's pacing takes over */
	for (int n = 0; n < DRAIN_CALLS; n++)
		if (recvmmsg(reader_fd, msgs, DRAIN_BATCH, MSG_DONTWAIT, NULL) < DRAIN_BATCH)
			break;
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
		int want =
		    MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;

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
