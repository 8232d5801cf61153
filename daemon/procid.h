/*
 * procid.h - a process named so that another one cannot take its place:
 * its pid and its start mark. The mark is the inode number of a pidfd of
 * it where pidfds live in pidfs (Linux 6.9 on: one number per process,
 * never reused until reboot), else its start time (clock ticks after boot,
 * field 22 of /proc/PID/stat: two processes started within one tick may
 * share it). A pid alone is reused once its process is reaped; the pair is
 * not, and it survives a daemon restart in the keeper's records. Any
 * thread; no state.
 */
#ifndef DAEMON_PROCID_H
#define DAEMON_PROCID_H

#include <stdbool.h>
#include <stdint.h>

/* The start mark of process pid; 0 if there is none. */
uint64_t procid_start(uint32_t pid);

/* The start mark of the process pidfd names (its pid is pid). */
uint64_t procid_mark_fd(int pidfd, uint32_t pid);

/*
 * Is pid still the process that started at start? With start 0 (a record
 * of a daemon that did not keep it): only whether some process has pid.
 */
bool procid_alive(uint32_t pid, uint64_t start);

/*
 * Send sig to pid only if it is still the process that started at start
 * (through a pidfd opened first, so that the pid cannot change hands
 * between the check and the signal). 0, or -SHMQ_ESYS (gone, or another
 * process; -SHMQ_EINVAL for pid 0).
 */
int procid_signal(uint32_t pid, uint64_t start, int sig);

#endif
