/*
 * pattern.h - subject patterns over channel names, NATS rules: dot-separated
 * tokens where `*` matches exactly one token and `>`, only as the last token,
 * one or more. Channel names never contain `*` or `>` (name.h), so a
 * pattern's wildcards are never literal. Pure functions, no allocation, any
 * thread; used by the daemon (MATCH, WATCH) and the library alike.
 */
#ifndef SHM_PATTERN_H
#define SHM_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* 0 if pattern is valid (see above, at most NAME_BYTES - 1 bytes), else -SHMQ_EPATTERN. */
int pattern_check(const char *pattern);

/* Why pattern_check() refused pattern: a short phrase for messages ("ok" if valid). */
const char *pattern_why(const char *pattern);

/* Does the valid pattern match the valid channel name? */
bool pattern_match(const char *pattern, const char *name);

/* Copy a pattern from a fixed wire array (as name_from_wire()); -SHMQ_EPATTERN if bad. */
int pattern_from_wire(const char *wire, size_t len, char *out, size_t out_len);

#endif
