/*
 * utf8.h - UTF-8 checks shared by the tools: whether bytes from a message,
 * a header or another process are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), and a lossy copy for text that is
 * only shown. Pure functions; any thread.
 */
#ifndef TOOLS_UTF8_H
#define TOOLS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if none starts there; len >= 1. */
size_t utf8_seq(const unsigned char *p, size_t len);

/* True if the len bytes at p are valid UTF-8. */
bool utf8_valid(const void *p, size_t len);

/*
 * The NUL-terminated string in as valid UTF-8 into out (outlen bytes):
 * each byte that starts no valid sequence becomes U+FFFD, and the copy is
 * cut at a whole sequence if out is too small. Returns out.
 */
char *utf8_lossy(const char *in, char *out, size_t outlen);

#endif
