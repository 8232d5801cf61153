/*
 * logmsg.c - stderr logging and rate limits for shmqd (see logmsg.h).
 */
#include "logmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	if (level < log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s ", stamp, ts.tv_nsec / 1000000, level_names[level],
		component);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool log_rate_allow(struct log_rate *r, unsigned *suppressed)
{
	struct timespec ts;
	unsigned long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
	if (now - r->window_start_ns >= LOG_RATE_WINDOW_NS) {
		r->window_start_ns = now;
		r->lines = 0;
	}
	if (r->lines < LOG_RATE_BURST) {
		r->lines++;
		*suppressed = r->suppressed;
		r->suppressed = 0;
		return true;
	}
	r->suppressed++;
	return false;
}
