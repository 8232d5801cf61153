/*
 * size.c - shmq_size_parse(): the byte-size syntax of shm/size.c, which
 * shmqd's configuration and the shmq tools share, for applications too.
 * Pure; any thread.
 */
#include "size.h"
#include "internal.h"

SHMQ_EXPORT int shmq_size_parse(const char *s, uint64_t *out)
{
	if (!out)
		return -SHMQ_EINVAL;
	return size_parse(s, out);
}
