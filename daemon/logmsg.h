/*
 * logmsg.h - the daemon's log: one line per event on stderr, "level
 * component message key=value". What a client can trigger goes through a
 * struct log_rate. Main thread only.
 */
#ifndef DAEMON_LOGMSG_H
#define DAEMON_LOGMSG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_threshold;

__attribute__((format(printf, 3, 4))) void log_msg(enum log_level level, const char *component,
						   const char *fmt, ...);

/*
 * A rate limit for one kind of line: at most LOG_RATE_BURST lines per
 * LOG_RATE_WINDOW_NS; the first line after a quiet window reports how many
 * were suppressed. Zero-initialise.
 */
#define LOG_RATE_BURST 5u
#define LOG_RATE_WINDOW_NS 10000000000ull

struct log_rate {
	unsigned long long window_start_ns;
	unsigned lines;
	unsigned suppressed;
};

/*
 * True if a line may be written now; then *suppressed gets the number of
 * lines refused since the last one allowed (worth a key=value).
 */
bool log_rate_allow(struct log_rate *r, unsigned *suppressed);

#endif
