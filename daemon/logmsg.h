/*
 * logmsg.h - the daemon's log: one line per event on stderr, "level
 * component message key=value". Main thread only.
 */
#ifndef DAEMON_LOGMSG_H
#define DAEMON_LOGMSG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_threshold;

__attribute__((format(printf, 3, 4))) void log_msg(enum log_level level, const char *component,
						    const char *fmt, ...);

#endif
