/*
 * wait.h - the system calls the shared-memory algorithms need to sleep and
 * wake: futex wait/wake on a 32-bit shared word, the wake socket of an
 * event-fd reader (create, signal, drain), and a CPU pause. Callable from
 * any thread; futex words must be 4-byte aligned inside a MAP_SHARED
 * mapping (the futexes are shared, not private). No call here blocks on a
 * descriptor: other processes, of other uids, share the open file
 * descriptions and may change their flags.
 */
#ifndef SHM_WAIT_H
#define SHM_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

static inline void wait_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* The CPU's time-stamp counter, unordered (cheap); 0 where there is none. */
static inline uint64_t wait_tsc(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return 0;
#endif
}

/*
 * One (tsc, ns) pair for a calibration of wait_tsc() against
 * CLOCK_REALTIME (ns = ns_base + ((tsc - tsc_base) * mult >> 32)): the
 * counter read on both sides of the clock, the closest of five.
 */
void wait_tsc_sample(uint64_t *tsc, uint64_t *ns);

/* Monotonic clock in ns (vDSO, no system call). */
uint64_t wait_now_ns(void);

/* Wall clock in ns (vDSO), for message timestamps. */
uint64_t wait_realtime_ns(void);

/*
 * Sleep while *word == expected, at most timeout_ns (< 0: forever).
 * Returns 0 when woken or the word differs, -SHMQ_ETIMEDOUT, -SHMQ_ESYS.
 * Spurious wake-ups are possible: callers re-check their condition.
 */
int wait_futex(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* Wake up to n sleepers on word. */
void wait_wake(_Atomic uint32_t *word, int n);

/* Give the CPU away once (sched_yield). */
void wait_yield(void);

/*
 * An event-fd reader's wake socket: a connected pair of AF_UNIX datagram
 * sockets. The reader polls *reader_fd (readable while a datagram is
 * queued) and holds it alone; the daemon keeps *waker_fd and gives
 * publishers copies. 0, or -1 with errno set (as socketpair()).
 */
int wait_fd_create(int *reader_fd, int *waker_fd);

/* Whether fd is a socket such as wait_fd_create() makes (for adoption). */
bool wait_fd_is_wake(int fd);

/*
 * Make the reader's end readable: send one byte on a waker end, with
 * MSG_DONTWAIT whatever the description's flags say. Errors are ignored:
 * a full queue means a wake-up is pending already, and a waker end that a
 * holder shut down or disconnected cannot be helped here.
 */
void wait_fd_signal(int waker_fd);

/*
 * Empty the reader's end without blocking (MSG_DONTWAIT), at most a
 * bounded number of datagrams per call: more keeps it readable.
 */
void wait_fd_drain(int reader_fd);

/*
 * Asymmetric fences (membarrier GLOBAL_EXPEDITED). A process that commits
 * records registers once (wait_membarrier_register(), idempotent, thread
 * safe); a reader going to sleep calls wait_membarrier(), which acts as a
 * full fence on every CPU running a registered process. Both return false
 * where the kernel (or a seccomp filter) refuses: publishers then fence
 * themselves, readers bound their sleep.
 */
bool wait_membarrier_register(void);
bool wait_membarrier(void);

#endif
