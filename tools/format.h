/*
 * format.h - how shmq sub prints a message: plain lines, --format
 * templates, --json objects, --raw bytes and length-prefixed frames.
 * Terminal escaping makes control bytes and invalid UTF-8 visible
 * (\n, \t, \\, \xNN) as redis-cli does. Writes to a FILE; one thread.
 */
#ifndef TOOLS_FORMAT_H
#define TOOLS_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

struct out {
	FILE *f;
	enum out_mode mode;
	const char *format;  /* OUT_FORMAT */
	bool escape;	     /* escape non-printable bytes (stdout is a terminal) */
	const char *channel; /* the message's channel: %n, and "channel" in --json if ... */
	bool json_channel;   /* ... a pattern subscription delivers from several */
};

/*
 * 0 if fmt is a valid --format template, else -1 and *bad points at the
 * unknown placeholder or escape.
 */
int format_check(const char *fmt, const char **bad);

/*
 * Print message m (a verified copy: m->data and m->ext point into the
 * caller's buffer) as o says. 0, or -1 if writing failed (errno says why)
 * or its header fields do not parse.
 */
int format_message(const struct out *o, const struct shmq_msg *m);

/* CLOCK_REALTIME ns as 2026-11-30T22:41:31.123456789Z, or "-" for 0 (no timestamp); buf. */
const char *format_time(uint64_t ns, char *buf, size_t len);

#endif
