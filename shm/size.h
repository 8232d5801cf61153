/*
 * size.h - byte sizes as people write them, for the daemon's configuration
 * and the command-line tools alike: "4096", "64K", "4M", "4MB", "4MiB",
 * "1T". Pure functions, any thread.
 */
#ifndef SHM_SIZE_H
#define SHM_SIZE_H

#include <stdint.h>

/*
 * Parse s, a decimal integer followed by an optional unit K, M, G or T
 * (binary multiples: K = 1024, either case) and then an optional "B" or,
 * after a unit, "iB" ("4M", "4MB", "4MiB", "512B"). No sign, no space, no
 * fraction, nothing after the unit. 0 is a valid size; callers check their
 * own limits. Returns 0 and *out, -SHMQ_EINVAL when s is not a size (NULL,
 * empty, a sign, an unknown unit, trailing characters), or -SHMQ_ELIMIT
 * when the size does not fit in 64 bits. *out is left alone on error.
 */
int size_parse(const char *s, uint64_t *out);

#endif
