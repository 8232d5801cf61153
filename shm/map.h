/*
 * map.h - map and unmap a shared-memory object given as a file descriptor.
 * The caller owns the fd; a mapping outlives it. Any thread.
 */
#ifndef SHM_MAP_H
#define SHM_MAP_H

#include <stdbool.h>
#include <stdint.h>

/* Map the whole object behind fd; *bytes gets its size. */
int map_fd(int fd, bool writable, void **base, uint64_t *bytes);

void map_release(void *base, uint64_t bytes);

#endif
