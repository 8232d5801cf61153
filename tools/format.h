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
	const char *format; /* OUT_FORMAT */
	bool escape;	    /* escape non-printable bytes (stdout is a terminal) */
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

/* True if the len bytes at p are valid UTF-8 (no overlong forms, no surrogates). */
bool utf8_valid(const unsigned char *p, size_t len);

#endif
