/*
 * duration.h - durations on the command lines of shmq and shmq-stat: a
 * decimal number with an optional unit (ns, us, ms, s, m, h); a plain
 * number is seconds. Pure parsing, no output.
 */
#ifndef TOOLS_DURATION_H
#define TOOLS_DURATION_H

/* What a duration looks like, for error messages. */
#define DURATION_SYNTAX "seconds, or a number with a unit: 500ms, 1.5s, 2m, 1h (also ns, us)"

/*
 * "1.5s", "500ms", "2m", "10" (seconds) into seconds: 0, or -1 for
 * anything else (a sign, hex, inf, a space, an unknown unit, or more
 * than 1e9 seconds).
 */
int duration_parse(const char *s, double *seconds);

#endif
