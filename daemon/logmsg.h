/*
 * logmsg.h - the daemon's log: one line per event on stderr, in one of
 * three formats (--log-format): text, "time level component message
 * key=value"; json, one object a line with the same four fields; journal,
 * for systemd's journal, which stamps the time itself: "<N>component
 * message", N the syslog priority. What a client can trigger goes through
 * a struct log_rate. Main thread only.
 */
#ifndef DAEMON_LOGMSG_H
#define DAEMON_LOGMSG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_output { LOG_TEXT, LOG_JSON, LOG_JOURNAL };

extern enum log_level log_threshold;
extern enum log_output log_output;

/* "text", "json" or "journal" (any case) into *out: 0, or -SHMQ_EINVAL. */
int log_output_parse(const char *s, enum log_output *out);

/*
 * The format when none is asked: journal when stderr is the stream that
 * $JOURNAL_STREAM names (systemd sets it for a service whose output goes
 * to the journal), else text.
 */
enum log_output log_output_default(void);

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
