/*
 * watchdog.h - the daemon's watch over a channel's readers: it wakes
 * readers left asleep with messages waiting (their waker died between
 * taking the wake and giving it, or a client scribbled on the wake
 * segment), finds readers stuck at a record they cannot parse and marks
 * them so that they get SHMQ_ECORRUPT, and, when an operator asks, cuts
 * them forward. State lives in the channel (watch[], bad[]). Main thread
 * only.
 */
#ifndef DAEMON_WATCHDOG_H
#define DAEMON_WATCHDOG_H

#include <stdint.h>

#include "registry.h"

/* Once a tick: wake readers whose cursor stood still below the tail. */
void watchdog_wake_readers(struct channel *ch);

/*
 * Once a tick: find readers standing at a bad record, log each once, mark
 * its entry and count them in ctl->bad_readers. stuck_ns is the daemon's
 * stuck_ms: a stalled claim is given up by twice that.
 */
void watchdog_find_bad(struct channel *ch, uint64_t now_ns, uint64_t stuck_ns);

/*
 * An operator's cut: every reader the watchdog found standing at a record
 * it cannot parse, and still there, gets its cursor moved to the next
 * boundary it can trust (log_skip(), else the tail); waiting publishers
 * are woken, and so is the reader. by names who asked, for the log.
 * Returns the readers cut; *skipped the messages they passed.
 */
uint32_t watchdog_repair(struct channel *ch, const char *by, uint64_t *skipped);

#endif
