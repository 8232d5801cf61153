/*
 * map.h - map and unmap a shared-memory object given as a file descriptor.
 * The caller owns the fd; a mapping outlives it. Any thread.
 */
#ifndef SHM_MAP_H
#define SHM_MAP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Map the whole object behind fd; *bytes gets its size. Objects up to
 * MAP_POPULATE_MAX_BYTES are pre-faulted, so that the first lap of a ring
 * takes no page fault on the data path; larger ones fault on first touch.
 */
#define MAP_POPULATE_MAX_BYTES (256ull << 20)

int map_fd(int fd, bool writable, void **base, uint64_t *bytes);

void map_release(void *base, uint64_t bytes);

#endif
