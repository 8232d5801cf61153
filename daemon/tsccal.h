/*
 * tsccal.h - the daemon's calibration of the time-stamp counter, which
 * publishers read for timestamps (see log_timestamp()): ns per tick from
 * a long baseline, stored in every channel's control segment. Main thread
 * only.
 */
#ifndef DAEMON_TSCCAL_H
#define DAEMON_TSCCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* The daemon's calibration of the time-stamp counter (see log_timestamp()). */
struct tsc_cal {
	bool usable;
	uint64_t t0, n0;	 /* the first sample: the long baseline for mult */
	uint64_t t_base, n_base; /* the latest sample */
	uint64_t mult;		 /* ns per tick << 32; 0: not usable (yet) */
};

/* The first calibration: a 5 ms baseline, refined every second after. */
void tsccal_init(struct tsc_cal *c);

/*
 * A new calibration from the baseline to now, when a second has passed
 * (or force); true if there is one to publish.
 */
bool tsccal_update(struct tsc_cal *c, bool force);

/* Store the calibration in a channel's segments for its publishers. */
void tsccal_publish(const struct tsc_cal *c, const struct log_view *v);

#endif
