/*
 * tsccal.c - the daemon's calibration of the time-stamp counter (see
 * tsccal.h): a first 5 ms baseline at start, refined every second from
 * the first sample, restarted when the wall clock steps back. Used only
 * when the kernel's clocksource is the TSC. Main thread only.
 */
#include "tsccal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "logmsg.h"
#include "wait.h"

bool tsccal_update(struct tsc_cal *c, bool force)
{
	uint64_t t, n;

	if (!c->usable)
		return false;
	wait_tsc_sample(&t, &n);
	if (!force && n - c->n_base < 1000000000ull)
		return false;
	c->t_base = t;
	c->n_base = n;
	if (t <= c->t0 || n <= c->n0) {
		/* the wall clock stepped back: start the baseline again, and let
		 * publishers read the clock until the next second's estimate */
		c->t0 = t;
		c->n0 = n;
		c->mult = 0;
		return true;
	}
	c->mult = (uint64_t)(((unsigned __int128)(n - c->n0) << 32) / (t - c->t0));
	return true;
}

/* The counter is the kernel's clocksource: invariant, synchronised across CPUs. */
static bool tsc_usable(void)
{
	char cs[32] = "";
	FILE *f;

	if (!wait_tsc())
		return false;
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	if (!f)
		return false;
	if (!fgets(cs, sizeof(cs), f))
		cs[0] = 0;
	fclose(f);
	return !strcmp(cs, "tsc\n");
}

void tsccal_init(struct tsc_cal *c)
{
	struct timespec ts = {0, 5000000};

	*c = (struct tsc_cal){.usable = tsc_usable()};
	if (!c->usable)
		return;
	wait_tsc_sample(&c->t0, &c->n0);
	nanosleep(&ts, NULL);
	tsccal_update(c, true);
	log_msg(LOG_INFO, "registry", "timestamps from the TSC mult=%llu",
		(unsigned long long)c->mult);
}

void tsccal_publish(const struct tsc_cal *c, const struct log_view *v)
{
	log_cal_store(v, c->t_base, c->n_base, c->mult);
}
