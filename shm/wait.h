/*
 * wait.h - the system calls the shared-memory algorithms need to sleep and
 * wake: futex wait/wake on a 32-bit shared word, event fd signal/drain, and
 * a CPU pause. Callable from any thread; futex words must be 4-byte aligned
 * inside a MAP_SHARED mapping (the futexes are shared, not private).
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

/* Make an event fd readable (write 1). Errors are ignored: it is a hint. */
void wait_efd_signal(int fd);

/* Reset a non-blocking event fd. */
void wait_efd_drain(int fd);

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
