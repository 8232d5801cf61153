/*
 * logmsg.c - stderr logging and rate limits for shmqd (see logmsg.h).
 * JSON lines are written by jansson; a message that is not valid UTF-8
 * (a client's command name, say) has its bytes above 0x7f replaced by '?'
 * first, so that every line parses.
 */
#include "logmsg.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmq_err.h"

#define LOG_LINE_BYTES 2048

enum log_level log_threshold = LOG_INFO;
enum log_output log_output = LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3 */
static const int level_priority[] = {7, 6, 4, 3};

int log_output_parse(const char *s, enum log_output *out)
{
	static const char *const names[] = {"text", "json", "journal"};

	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(s, names[i])) {
			*out = (enum log_output)i;
			return 0;
		}
	}
	return -SHMQ_EINVAL;
}

enum log_output log_output_default(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return LOG_TEXT;
	return st.st_dev == dev && st.st_ino == ino ? LOG_JOURNAL : LOG_TEXT;
}

/* One JSON object: time, level, component, message. */
static void log_json(const char *stamp, enum log_level level, const char *component, char *msg)
{
	json_t *o, *m = json_string(msg);
	char *line;

	if (!m) { /* not valid UTF-8 */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p > 0x7f)
				*p = '?';
		m = json_string(msg);
	}
	o = json_pack("{s:s, s:s, s:s, s:o*}", "time", stamp, "level", level_names[level],
		      "component", component, "message", m);
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (line)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(o);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	char stamp[40], msg[LOG_LINE_BYTES];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;

	if (level < log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_output == LOG_JOURNAL) { /* journald stamps the time */
		fprintf(stderr, "<%d>%s %s\n", level_priority[level], component, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (log_output == LOG_JSON)
		log_json(stamp, level, component, msg);
	else
		fprintf(stderr, "%s %s %s %s\n", stamp, level_names[level], component, msg);
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
